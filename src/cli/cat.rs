//! `layerscope cat`: a file's merged content, read from the layer that holds its data.

use std::io::Write;

use crate::error::Error;
use crate::merge::{FileKind, Merger, VersionRole};

/// Copies the merged content of `path` to `out`, following symlinks inside the merged view.
///
/// # Errors
/// The path is missing, not a regular file, or cannot be read.
pub fn run(merger: &Merger, path: &[u8], out: &mut dyn Write) -> anyhow::Result<()> {
    let entry = merger.follow(path)?;
    if entry.kind != FileKind::File {
        return Err(Error::BadInput(format!(
            "'{}' is a {}, not a regular file: use `layerscope ls` to list it",
            crate::escape::display(&entry.path),
            entry.kind.as_str()
        ))
        .into());
    }
    let mut file = merger.open_content(&entry)?;
    std::io::copy(&mut file, out)?;
    Ok(())
}

/// Copies layer `layer`'s own version of `path` to `out`, even when the merged view hides it
/// (overwritten, whited out, under an opaque directory). Symlinks are not followed: the path
/// names that one layer's entry.
///
/// # Errors
/// The layer has no version there, or its version is not a regular file with data.
pub fn run_layer(
    merger: &Merger,
    path: &[u8],
    layer: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let stack = merger.stack();
    let shown = crate::escape::display(path);
    if layer >= stack.layers.len() {
        return Err(Error::BadInput(format!(
            "there is no layer {layer}: the stack has layers 0 to {}; see `layerscope layers`",
            stack.layers.len().saturating_sub(1)
        ))
        .into());
    }
    let r = merger.resolve(path)?;
    let Some(v) = r.versions.iter().find(|v| v.layer == layer) else {
        let have: Vec<String> = r.versions.iter().map(|v| v.layer.to_string()).collect();
        let hint = if have.is_empty() {
            "no layer has a version of it".to_string()
        } else {
            format!("versions are in layers {}", have.join(", "))
        };
        return Err(Error::BadInput(format!(
            "layer {layer} has no version of '{shown}': {hint} (see `layerscope which`)"
        ))
        .into());
    };
    let root = stack.layers[layer].open()?;
    if v.role == VersionRole::Whiteout {
        return Err(Error::BadInput(format!(
            "layer {layer} holds a whiteout for '{shown}': it deletes the path, and has no content"
        ))
        .into());
    }
    if v.kind != FileKind::File {
        return Err(Error::BadInput(format!(
            "layer {layer}'s version of '{shown}' is a {}, not a regular file",
            v.kind.as_str()
        ))
        .into());
    }
    let mut file = root
        .open_file(&v.rel)
        .map_err(|e| Error::io("opening", root.join(&v.rel), e))?;
    let dir_rel = match v.rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&v.rel[..i], &v.rel[i + 1..]),
        None => (&[][..], &v.rel[..]),
    };
    let is_metacopy = {
        root.open_dir(dir_rel.0)
            .ok()
            .and_then(|fd| {
                crate::merge::markers::read_markers(&fd, dir_rel.1, stack.options.xattr).ok()
            })
            .is_some_and(|m| m.metacopy.is_some())
    };
    if is_metacopy {
        let data = r
            .versions
            .iter()
            .find(|d| d.role == VersionRole::Data)
            .map_or_else(
                || "a lower layer".to_string(),
                |d| format!("layer {}", d.layer),
            );
        return Err(Error::BadInput(format!(
            "layer {layer}'s version of '{shown}' is a metacopy file: its data is in {data} (use --layer there)"
        ))
        .into());
    }
    std::io::copy(&mut file, out)?;
    Ok(())
}
