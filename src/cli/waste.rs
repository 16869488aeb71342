//! `layerscope waste`: where the bytes of a stack go. A summary, a table per layer, then the
//! paths whose hidden copies waste the most bytes; JSON Lines `summary`, `layer`, `path` and
//! `copy-up` records from the same report.

use std::io::Write;

use humansize::{BINARY, format_size};
use serde_json::{Map, Value, json};

use crate::escape;
use crate::merge::Merger;
use crate::report::put_bytes;
use crate::stack::LayerStack;
use crate::waste::{Report, WasteReason, WastedPath, analyse};

/// Prints the report on `merger`'s stack, with at most `top` paths (and no-op copy-ups).
///
/// # Errors
/// A layer cannot be read, or writing fails.
pub fn run(merger: &Merger, top: usize, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let report = analyse(merger)?;
    let stack = merger.stack();
    if json {
        write_json(&report, stack, top, out)
    } else {
        write_text(&report, stack, top, out)
    }
}

/// `12.0 MiB (12582912 bytes)`.
#[must_use]
pub fn bytes_text(b: u64) -> String {
    format!("{} ({b} bytes)", format_size(b, BINARY))
}

fn why(p: &WastedPath) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for c in &p.copies {
        let d = c.reason.describe();
        if !reasons.contains(&d) {
            reasons.push(d);
        }
    }
    reasons.join("; ")
}

fn write_text(
    r: &Report,
    stack: &LayerStack,
    top: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let files: u64 = r.layers.iter().map(|l| l.files).sum();
    writeln!(
        out,
        "stack:      {}",
        escape::display(stack.name.as_bytes())
    )?;
    writeln!(
        out,
        "stored:     {} in {files} files, {} allocated",
        bytes_text(r.stored_bytes()),
        format_size(r.allocated_bytes(), BINARY)
    )?;
    writeln!(out, "visible:    {}", bytes_text(r.visible_bytes()))?;
    writeln!(
        out,
        "wasted:     {}, {:.2}% of stored, in {} paths",
        bytes_text(r.wasted_bytes()),
        r.wasted_percent(),
        r.paths.len()
    )?;
    writeln!(out, "efficiency: {:.4}", r.efficiency())?;
    if stack.has_upper() {
        writeln!(
            out,
            "no-op copy-ups in the upper layer: {} files, {} reclaimable",
            r.noop_copyups.len(),
            bytes_text(r.noop_copyup_bytes())
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>5}  {:<9} {:>10} {:>10} {:>10} {:>11}  LABEL",
        "LAYER", "ROLE", "STORED", "VISIBLE", "HIDDEN", "HIDES BELOW"
    )?;
    for (i, (l, layer)) in r.layers.iter().zip(&stack.layers).enumerate() {
        let label = layer.label.as_deref().map_or_else(
            || escape::path(&layer.path),
            |s| escape::display(s.as_bytes()),
        );
        writeln!(
            out,
            "{i:>5}  {:<9} {:>10} {:>10} {:>10} {:>11}  {label}",
            layer.role.as_str(),
            format_size(l.stored_bytes, BINARY),
            format_size(l.visible_bytes, BINARY),
            format_size(l.hidden_bytes, BINARY),
            format_size(l.hides_below_bytes, BINARY),
        )?;
    }
    if !r.paths.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:>10} {:>6} {:<8}  PATH  (WHY HIDDEN)",
            "WASTED", "COPIES", "LAYERS"
        )?;
        for p in r.paths.iter().take(top) {
            let layers: Vec<String> = p.copies.iter().map(|c| c.layer.to_string()).collect();
            writeln!(
                out,
                "{:>10} {:>6} {:<8}  {}  ({})",
                format_size(p.bytes, BINARY),
                p.copies.len(),
                layers.join(","),
                escape::display(&p.path),
                why(p)
            )?;
        }
        if r.paths.len() > top {
            writeln!(out, "... {} more paths (--top N)", r.paths.len() - top)?;
        }
    }
    if !r.noop_copyups.is_empty() {
        writeln!(out)?;
        writeln!(out, "{:>10}  PATH  (same bytes as in layer)", "BYTES")?;
        for c in r.noop_copyups.iter().take(top) {
            writeln!(
                out,
                "{:>10}  {}  (layer {})",
                format_size(c.bytes, BINARY),
                escape::display(&c.path),
                c.lower
            )?;
        }
    }
    Ok(())
}

fn reason_json(r: WasteReason) -> Value {
    match r.layer() {
        Some(at) => json!({"reason": r.as_str(), "at": at}),
        None => json!({"reason": r.as_str()}),
    }
}

fn line(out: &mut dyn Write, o: &Map<String, Value>) -> anyhow::Result<()> {
    crate::report::write_json(&mut *out, o)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn write_json(
    r: &Report,
    stack: &LayerStack,
    top: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let mut o = Map::new();
    o.insert("kind".into(), json!("summary"));
    put_bytes(&mut o, "stack", stack.name.as_bytes());
    o.insert("stored_bytes".into(), json!(r.stored_bytes()));
    o.insert("allocated_bytes".into(), json!(r.allocated_bytes()));
    o.insert("visible_bytes".into(), json!(r.visible_bytes()));
    o.insert("wasted_bytes".into(), json!(r.wasted_bytes()));
    o.insert("wasted_percent".into(), json!(r.wasted_percent()));
    o.insert("efficiency".into(), json!(r.efficiency()));
    o.insert(
        "files".into(),
        json!(r.layers.iter().map(|l| l.files).sum::<u64>()),
    );
    o.insert("wasted_paths".into(), json!(r.paths.len()));
    o.insert("noop_copyups".into(), json!(r.noop_copyups.len()));
    o.insert("noop_copyup_bytes".into(), json!(r.noop_copyup_bytes()));
    line(out, &o)?;
    for (i, (l, layer)) in r.layers.iter().zip(&stack.layers).enumerate() {
        let mut o = Map::new();
        o.insert("kind".into(), json!("layer"));
        o.insert("index".into(), json!(i));
        o.insert("role".into(), json!(layer.role.as_str()));
        put_bytes(&mut o, "source", layer.path.as_os_str().as_bytes());
        o.insert("label".into(), json!(layer.label));
        o.insert("stored_bytes".into(), json!(l.stored_bytes));
        o.insert("allocated_bytes".into(), json!(l.allocated_bytes));
        o.insert("files".into(), json!(l.files));
        o.insert("visible_bytes".into(), json!(l.visible_bytes));
        o.insert("hidden_bytes".into(), json!(l.hidden_bytes));
        o.insert("hides_below_bytes".into(), json!(l.hides_below_bytes));
        line(out, &o)?;
    }
    for p in r.paths.iter().take(top) {
        let mut o = Map::new();
        o.insert("kind".into(), json!("path"));
        put_bytes(&mut o, "path", &p.path);
        o.insert("wasted_bytes".into(), json!(p.bytes));
        o.insert("copies".into(), json!(p.copies.len()));
        o.insert(
            "layers".into(),
            json!(p.copies.iter().map(|c| c.layer).collect::<Vec<_>>()),
        );
        let hidden: Vec<Value> = p
            .copies
            .iter()
            .map(|c| {
                let mut v = reason_json(c.reason);
                v["layer"] = json!(c.layer);
                v["bytes"] = json!(c.bytes);
                v
            })
            .collect();
        o.insert("hidden".into(), Value::Array(hidden));
        line(out, &o)?;
    }
    for c in r.noop_copyups.iter().take(top) {
        let mut o = Map::new();
        o.insert("kind".into(), json!("copy-up"));
        put_bytes(&mut o, "path", &c.path);
        o.insert("bytes".into(), json!(c.bytes));
        o.insert("same_as_layer".into(), json!(c.lower));
        line(out, &o)?;
    }
    Ok(())
}
