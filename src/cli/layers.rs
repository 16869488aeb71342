//! `layerscope layers`: each layer, top-down, with its size and change counts.

use std::io::Write;

use humansize::{BINARY, format_size};
use serde_json::json;

use crate::diff::summary;
use crate::escape;
use crate::report::put_bytes;
use crate::stack::LayerStack;

/// Prints one line (or JSON object) per layer.
///
/// # Errors
/// A layer cannot be read, or writing fails.
pub fn run(stack: &LayerStack, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !json {
        writeln!(
            out,
            "{:>5}  {:<9} {:>8} {:>10} {:>7} {:>7} {:>7}  PATH / LABEL",
            "LAYER", "ROLE", "ENTRIES", "SIZE", "ADDED", "CHANGED", "DELETED"
        )?;
    }
    for (i, layer) in stack.layers.iter().enumerate() {
        let s = summary(stack, i)?;
        if json {
            let mut o = serde_json::Map::new();
            o.insert("index".into(), json!(i));
            o.insert("role".into(), json!(layer.role.as_str()));
            put_bytes(&mut o, "path", layer.path.as_os_str().as_bytes());
            o.insert("label".into(), json!(layer.label));
            // The engine's IDs: null where the engine records none (a plain overlay mount).
            let ids = &layer.ids;
            o.insert("layer_id".into(), json!(ids.layer_id));
            o.insert("cache_id".into(), json!(ids.cache_id));
            o.insert("diff_id".into(), json!(ids.diff_id));
            o.insert("created".into(), json!(ids.created));
            o.insert("digest".into(), json!(ids.digest));
            o.insert("blob_bytes".into(), json!(ids.blob_bytes));
            o.insert("entries".into(), json!(s.entries));
            o.insert("bytes".into(), json!(s.bytes));
            o.insert("added".into(), json!(s.added));
            o.insert("modified".into(), json!(s.modified));
            o.insert("deleted".into(), json!(s.deleted));
            crate::report::write_json(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            let mut what = escape::path(&layer.path);
            if let Some(label) = &layer.label {
                what = format!("{}  ({what})", escape::display(label.as_bytes()));
            }
            let ids = id_words(&layer.ids);
            if !ids.is_empty() {
                what = format!("{what}  [{ids}]");
            }
            writeln!(
                out,
                "{i:>5}  {:<9} {:>8} {:>10} {:>7} {:>7} {:>7}  {what}",
                layer.role.as_str(),
                s.entries,
                format_size(s.bytes, BINARY),
                s.added,
                s.modified,
                s.deleted
            )?;
        }
    }
    Ok(())
}

/// The engine's IDs for the text output, short (12 hex digits) as `docker images` prints
/// them; `--json` has them whole.
#[must_use]
pub fn id_words(ids: &crate::stack::LayerIds) -> String {
    use crate::stack::engine::short;
    let mut words = Vec::new();
    if let Some(id) = &ids.layer_id {
        words.push(format!("id {}", escape::display(short(id).as_bytes())));
    }
    if let Some(id) = &ids.cache_id {
        // A container's init layer is `<mount-id>-init`: keep the suffix.
        let mut s = short(id);
        if let Some((_, tail)) = id.split_once('-') {
            s = format!("{s}-{tail}");
        }
        words.push(format!("cache {}", escape::display(s.as_bytes())));
    }
    if let Some(id) = &ids.diff_id {
        words.push(format!("diff {}", escape::display(short(id).as_bytes())));
    }
    if let Some(d) = &ids.digest {
        words.push(format!("digest {}", escape::display(short(d).as_bytes())));
    }
    if let Some(n) = ids.blob_bytes {
        words.push(format!("blob {}", format_size(n, BINARY)));
    }
    if let Some(t) = &ids.created {
        words.push(format!("created {}", escape::display(t.as_bytes())));
    }
    words.join(", ")
}
