//! `layerscope du`: who owns every layer directory of the host's stores, what each image and
//! container would free, the orphans, and `--cleanup-script`.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use humansize::{BINARY, format_size};
use serde_json::{Map, Value, json};

use crate::du::{self, Orphan, Usage};
use crate::escape;
use crate::report::put_bytes;
use crate::stack::engine::Roots;

/// Seconds since the epoch, now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Scans the stores and prints the report (text, JSON Lines, or the cleanup script). Stores
/// that cannot be read and directories that vanish while measured become notes on stderr.
///
/// # Errors
/// Writing fails.
pub fn run(
    roots: &Roots,
    json: bool,
    cleanup_script: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let usage = du::scan(roots);
    for note in &usage.notes {
        eprintln!("layerscope: note: {}", escape::display(note.as_bytes()));
    }
    let now = now();
    if cleanup_script {
        out.write_all(du::cleanup::script(&usage, now).as_bytes())?;
    } else if json {
        print_json(&usage, now, out)?;
    } else {
        print_text(&usage, now, out)?;
    }
    Ok(())
}

fn age_secs(now: i64, mtime: Option<i64>) -> Value {
    mtime.map_or(Value::Null, |m| json!((now - m).max(0)))
}

fn modified(mtime: Option<i64>) -> Value {
    mtime.map_or(Value::Null, |m| json!(crate::timestamp::rfc3339_secs(m)))
}

fn print_json(usage: &Usage, now: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let line = |o: &Map<String, Value>, out: &mut dyn Write| -> anyhow::Result<()> {
        crate::report::write_json(&mut *out, o)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    for d in &usage.dirs {
        let s = &usage.stores[d.store];
        let mut o = Map::new();
        o.insert("kind".into(), json!("layer"));
        o.insert("store".into(), json!(s.store));
        o.insert("engine".into(), json!(s.engine));
        put_bytes(&mut o, "path", d.path.as_os_str().as_bytes());
        o.insert("id".into(), json!(d.id));
        o.insert("owners".into(), json!(d.owners));
        o.insert("bytes".into(), json!(d.bytes));
        o.insert("allocated".into(), json!(d.allocated));
        o.insert("shared_by".into(), json!(d.owners.len()));
        o.insert("orphan".into(), json!(d.orphan.is_some()));
        o.insert("orphan_reason".into(), json!(d.orphan));
        o.insert("record".into(), json!(d.record));
        o.insert("mounted".into(), json!(d.mounted));
        o.insert("modified".into(), modified(d.mtime));
        o.insert("age_seconds".into(), age_secs(now, d.mtime));
        line(&o, out)?;
    }
    for m in &usage.missing {
        let mut o = Map::new();
        o.insert("kind".into(), json!("missing"));
        o.insert("store".into(), json!(usage.stores[m.store].store));
        put_bytes(&mut o, "path", m.path.as_os_str().as_bytes());
        o.insert("referenced_by".into(), json!(m.referenced_by));
        o.insert("record".into(), json!(m.record));
        o.insert("modified".into(), modified(m.mtime));
        o.insert("age_seconds".into(), age_secs(now, m.mtime));
        line(&o, out)?;
    }
    for w in &usage.owners {
        let mut o = Map::new();
        o.insert("kind".into(), json!(w.kind));
        o.insert("name".into(), json!(w.name));
        o.insert("id".into(), json!(w.id));
        o.insert("store".into(), json!(usage.stores[w.store].store));
        o.insert("layers".into(), json!(w.layers));
        o.insert("bytes".into(), json!(w.bytes));
        o.insert("unique_bytes".into(), json!(w.unique_bytes));
        line(&o, out)?;
    }
    for s in &usage.stores {
        let mut o = Map::new();
        o.insert("kind".into(), json!("store"));
        o.insert("store".into(), json!(s.store));
        o.insert("engine".into(), json!(s.engine));
        put_bytes(&mut o, "path", s.base.as_os_str().as_bytes());
        o.insert("dirs".into(), json!(s.dirs));
        o.insert("bytes".into(), json!(s.bytes));
        o.insert("allocated".into(), json!(s.allocated));
        o.insert("shared_bytes".into(), json!(s.shared_bytes));
        o.insert("orphan_bytes".into(), json!(s.orphan_bytes));
        line(&o, out)?;
    }
    let mut o = Map::new();
    o.insert("kind".into(), json!("total"));
    o.insert("stores".into(), json!(usage.stores.len()));
    o.insert(
        "dirs".into(),
        json!(usage.stores.iter().map(|s| s.dirs).sum::<usize>()),
    );
    o.insert("bytes".into(), json!(usage.total_bytes()));
    o.insert(
        "allocated".into(),
        json!(usage.stores.iter().map(|s| s.allocated).sum::<u64>()),
    );
    o.insert(
        "orphans".into(),
        json!(usage.dirs.iter().filter(|d| d.orphan.is_some()).count()),
    );
    o.insert(
        "orphan_bytes".into(),
        json!(usage.stores.iter().map(|s| s.orphan_bytes).sum::<u64>()),
    );
    o.insert("missing".into(), json!(usage.missing.len()));
    line(&o, out)
}

/// A layer directory's name as `docker images` shortens IDs: 12 digits, and `-init` kept.
fn short_id(id: &str) -> String {
    let (body, init) = match id.strip_suffix("-init") {
        Some(b) => (b, "-init"),
        None => (id, ""),
    };
    if body.len() > 12 && body.is_char_boundary(12) {
        format!("{}{init}", &body[..12])
    } else {
        id.to_string()
    }
}

fn size(b: u64) -> String {
    format_size(b, BINARY)
}

fn print_text(usage: &Usage, now: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    if usage.stores.is_empty() {
        writeln!(
            out,
            "no layer store found (name one with --docker-root, --podman-root or --containerd-root)"
        )?;
        return Ok(());
    }
    for (i, s) in usage.stores.iter().enumerate() {
        writeln!(
            out,
            "{}: {} layer directories, {} ({} bytes; {} allocated), {} shared, {} in orphans",
            escape::display(s.store.as_bytes()),
            s.dirs,
            size(s.bytes),
            s.bytes,
            size(s.allocated),
            size(s.shared_bytes),
            size(s.orphan_bytes),
        )?;
        let dirs: Vec<&du::LayerDir> = usage.dirs.iter().filter(|d| d.store == i).collect();
        if !dirs.is_empty() {
            writeln!(
                out,
                "  {:<18} {:>10} {:>6}  OWNERS  (layer directories in {})",
                "ID",
                "BYTES",
                "SHARED",
                escape::path(&s.base)
            )?;
        }
        let mut sorted = dirs.clone();
        sorted.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.id.cmp(&b.id)));
        for d in sorted {
            let owners = match d.orphan {
                None => d
                    .owners
                    .iter()
                    .map(|o| escape::display(o.as_bytes()))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(why) => format!(
                    "ORPHAN: {}{}{}",
                    match why {
                        Orphan::Unrecorded => "no record names it".to_string(),
                        Orphan::Unreferenced => format!(
                            "nothing uses it ({})",
                            escape::display(d.record.as_deref().unwrap_or("").as_bytes())
                        ),
                    },
                    d.mtime.map_or_else(String::new, |m| format!(
                        ", modified {} ago",
                        du::age(now - m)
                    )),
                    if d.mounted { ", MOUNTED" } else { "" }
                ),
            };
            writeln!(
                out,
                "  {:<18} {:>10} {:>6}  {owners}",
                escape::display(short_id(&d.id).as_bytes()),
                size(d.bytes),
                d.owners.len()
            )?;
        }
        let owners: Vec<&du::OwnerUsage> = usage.owners.iter().filter(|o| o.store == i).collect();
        if !owners.is_empty() {
            writeln!(
                out,
                "  {:<10} {:<50} {:>6} {:>10} {:>10}",
                "KIND", "OWNER", "LAYERS", "BYTES", "FREES"
            )?;
        }
        for o in owners {
            writeln!(
                out,
                "  {:<10} {:<50} {:>6} {:>10} {:>10}",
                o.kind.as_str(),
                escape::display(o.name.as_bytes()),
                o.layers,
                size(o.bytes),
                size(o.unique_bytes)
            )?;
        }
        for m in usage.missing.iter().filter(|m| m.store == i) {
            writeln!(
                out,
                "  MISSING {} (referenced by {}{})",
                escape::path(&m.path),
                escape::display(
                    if m.referenced_by.is_empty() {
                        m.record.clone().unwrap_or_default()
                    } else {
                        m.referenced_by.join(", ")
                    }
                    .as_bytes()
                ),
                m.mtime.map_or_else(String::new, |t| format!(
                    "; record modified {} ago",
                    du::age(now - t)
                )),
            )?;
        }
        writeln!(out)?;
    }
    let orphans = usage.dirs.iter().filter(|d| d.orphan.is_some()).count();
    writeln!(
        out,
        "total: {} ({} bytes) in {} layer directories of {} stores; {orphans} orphans ({}); \
         {} missing",
        size(usage.total_bytes()),
        usage.total_bytes(),
        usage.stores.iter().map(|s| s.dirs).sum::<usize>(),
        usage.stores.len(),
        size(usage.stores.iter().map(|s| s.orphan_bytes).sum()),
        usage.missing.len()
    )?;
    Ok(())
}
