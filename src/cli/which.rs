//! `layerscope which`: every version of a path, top-down, and what each does.

use std::io::Write;

use serde_json::json;

use crate::error::Error;
use crate::escape;
use crate::merge::{Merger, VersionRole};
use crate::report::{put_bytes, role_word, which_line};

/// Prints the versions of `path`. Fails with "not found" (exit 1) when the path is not in the
/// merged view, after printing what the layers hold there.
///
/// # Errors
/// Not found, refused by the kernel's rules, or a layer cannot be read.
pub fn run(merger: &Merger, path: &[u8], json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let r = merger.resolve(path)?;
    let stack = merger.stack();
    for v in &r.versions {
        if json {
            let source = merger.source_path(v.layer, &v.rel);
            let mut o = serde_json::Map::new();
            put_bytes(&mut o, "path", &r.path);
            o.insert("layer".into(), json!(v.layer));
            o.insert("role".into(), json!(role_word(v.role)));
            if let VersionRole::Hidden(reason) = v.role {
                o.insert("hidden".into(), serde_json::to_value(reason)?);
            }
            o.insert("type".into(), json!(v.kind.as_str()));
            put_bytes(&mut o, "source", source.as_os_str().as_bytes());
            o.insert("label".into(), json!(stack.layers[v.layer].label));
            o.insert("digest".into(), json!(stack.layers[v.layer].ids.digest));
            crate::report::write_json(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{}", which_line(merger, &r, v, 0))?;
        }
    }
    let shown = escape::display(&r.path);
    if let Some(reason) = r.error {
        return Err(Error::Lookup {
            path: shown,
            reason,
        }
        .into());
    }
    if r.entry.is_none() {
        return Err(Error::NotFound(shown).into());
    }
    Ok(())
}
