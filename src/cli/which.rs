//! `layerscope which`: every version of a path, top-down, and what each does.

use std::io::Write;

use serde_json::json;

use crate::error::Error;
use crate::escape;
use crate::merge::{Merger, VersionRole};
use crate::report::{put_bytes, role_word};

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
        let what = match v.role {
            VersionRole::Supplies
                if r.entry
                    .as_ref()
                    .is_some_and(|e| e.layer == v.layer && e.rel == v.rel) =>
            {
                "supplies the merged entry".to_string()
            }
            VersionRole::Supplies => {
                "would supply it, but the kernel refuses the lookup".to_string()
            }
            VersionRole::Merged => "merged into the directory".to_string(),
            VersionRole::Data => "holds the data of the metacopy file above".to_string(),
            VersionRole::MetacopyChain => {
                "metacopy file passed over on the way to the data".to_string()
            }
            VersionRole::Whiteout => "whiteout: deletes the versions below".to_string(),
            VersionRole::Hidden(reason) => format!("hidden: {}", reason.describe()),
        };
        let source = merger.source_path(v.layer, &v.rel);
        if json {
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
            serde_json::to_writer(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(
                out,
                "L{:<2} {:<8} {:<7} {}  {what}",
                v.layer,
                stack.layers[v.layer].role.as_str(),
                v.kind.as_str(),
                escape::path(&source)
            )?;
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
