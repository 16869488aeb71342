//! Writing one layer's version of a file (a hidden one too) to a new file the user names, by
//! the same code as `layerscope cat --layer`. The file is created with `O_EXCL`, so an
//! existing file (or a symlink in its place) is never overwritten, and a name inside one of
//! the stack's layer directories is refused: the explorer never writes to a layer.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::escape;
use crate::merge::Merger;

/// Writes layer `layer`'s version of `path` to `dest`; a sentence for the status bar either
/// way. A partly written file is removed (it is the one this call created).
///
/// # Errors
/// The destination exists, is inside a layer, cannot be created, or the version cannot be
/// read; the text says which.
pub fn write(merger: &Merger, path: &[u8], layer: usize, dest: &Path) -> Result<String, String> {
    let shown = escape::path(dest);
    if let Some(l) = inside_layer(merger, dest) {
        return Err(format!(
            "not written: the explorer never writes into a layer, and '{shown}' is in layer {l}'s directory"
        ));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("not written: '{shown}' exists (choose a new name)")
            }
            _ => format!("cannot create '{shown}': {e}"),
        })?;
    if let Err(e) = crate::cli::cat::run_layer(merger, path, layer, &mut file) {
        drop(file);
        let _ = std::fs::remove_file(dest);
        return Err(format!("nothing written: {e:#}"));
    }
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "wrote L{layer}'s '{}' to '{shown}' ({bytes} bytes)",
        escape::display(path)
    ))
}

/// The layer whose directory holds `dest`, comparing canonical paths of its parent.
fn inside_layer(merger: &Merger, dest: &Path) -> Option<usize> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent.canonicalize().ok()?;
    merger.stack().layers.iter().position(|l| {
        l.path
            .canonicalize()
            .is_ok_and(|root| parent.starts_with(root))
    })
}
