//! `layerscope list`: every stack on the host, one line each.

use std::io::Write;

use humansize::{BINARY, format_size};
use serde_json::json;

use crate::escape;
use crate::report::put_bytes;
use crate::stack::discover;
use crate::stack::engine::Roots;

/// The STACK column: the name to give other commands, with the pod's name beside it when the
/// container is a Kubernetes one (itself a name `k8s:` takes).
fn stack_and_pod(f: &crate::stack::engine::Found) -> Vec<u8> {
    let mut shown = f
        .stack_bytes
        .clone()
        .unwrap_or_else(|| f.stack.clone().into_bytes());
    if f.name.starts_with("k8s:") && f.name != f.stack {
        shown.extend_from_slice(format!(" ({})", f.name).as_bytes());
    }
    shown
}

/// Prints every container, image, loose snapshot and overlay mount, as text or JSON Lines.
/// Stores that cannot be read and layers that vanish while being read become notes on stderr.
///
/// # Errors
/// Writing fails.
pub fn run(roots: &Roots, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let (found, notes) = discover::list(roots);
    for note in &notes {
        eprintln!("layerscope: note: {}", escape::display(note.as_bytes()));
    }
    if !json {
        writeln!(
            out,
            "{:<10} {:<9} {:<40} {:<28} {:>6} {:>10}  MOUNTED",
            "ENGINE", "KIND", "STACK", "IMAGE", "LAYERS", "SIZE"
        )?;
    }
    for f in &found {
        if json {
            let mut o = serde_json::Map::new();
            o.insert("engine".into(), json!(f.engine));
            o.insert("kind".into(), json!(f.kind));
            let exact = |raw: &Option<Vec<u8>>, shown: &str| -> Vec<u8> {
                raw.clone().unwrap_or_else(|| shown.as_bytes().to_vec())
            };
            put_bytes(&mut o, "stack", &exact(&f.stack_bytes, &f.stack));
            put_bytes(&mut o, "name", &exact(&f.name_bytes, &f.name));
            o.insert("id".into(), json!(f.id));
            o.insert("image".into(), json!(f.image));
            o.insert("layers".into(), json!(f.layers));
            o.insert("size".into(), json!(f.size));
            o.insert("created".into(), json!(f.created));
            o.insert("mounted".into(), json!(f.mountpoint.is_some()));
            match &f.mountpoint {
                Some(m) => put_bytes(&mut o, "mountpoint", m.as_os_str().as_bytes()),
                None => {
                    o.insert("mountpoint".into(), serde_json::Value::Null);
                }
            }
            put_bytes(&mut o, "root", f.root.as_os_str().as_bytes());
            crate::report::write_json(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            let mounted = f
                .mountpoint
                .as_deref()
                .map_or_else(|| "-".to_string(), escape::path);
            writeln!(
                out,
                "{:<10} {:<9} {:<40} {:<28} {:>6} {:>10}  {mounted}",
                f.engine.as_str(),
                f.kind.as_str(),
                escape::display(&stack_and_pod(f)),
                escape::display(f.image.as_deref().unwrap_or("-").as_bytes()),
                f.layers,
                f.size
                    .map_or_else(|| "-".to_string(), |s| format_size(s, BINARY)),
            )?;
        }
    }
    Ok(())
}
