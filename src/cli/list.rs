//! `layerscope list`: every stack on the host, one line each.

use std::io::Write;

use humansize::{BINARY, format_size};
use serde_json::json;

use crate::escape;
use crate::report::put_bytes;
use crate::stack::discover;
use crate::stack::engine::Roots;

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
            o.insert("stack".into(), json!(f.stack));
            o.insert("name".into(), json!(f.name));
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
                escape::display(f.stack.as_bytes()),
                escape::display(f.image.as_deref().unwrap_or("-").as_bytes()),
                f.layers,
                f.size
                    .map_or_else(|| "-".to_string(), |s| format_size(s, BINARY)),
            )?;
        }
    }
    Ok(())
}
