//! `layerscope cat`: a file's merged content, read from the layer that holds its data.

use std::io::Write;

use crate::error::Error;
use crate::merge::{FileKind, Merger};

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
