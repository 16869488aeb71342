//! `layerscope ls`: the merged view with provenance.

use std::io::Write;

use crate::escape;
use crate::merge::walk::Visit;
use crate::merge::{Entry, FileKind, Merger};
use crate::report;

/// Prints `path` (and, with `recursive`, everything under it) as text or JSON Lines.
///
/// # Errors
/// The path does not exist, a layer cannot be read, or writing fails.
pub fn run(
    merger: &Merger,
    path: &[u8],
    recursive: bool,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let start = merger.entry(path)?;
    // JSON lines are gathered in chunks of about CHUNK bytes: one write per chunk.
    const CHUNK: usize = 64 * 1024;
    let mut chunk: Vec<u8> = Vec::with_capacity(if json { CHUNK + 4096 } else { 0 });
    let mut visit = |v: Visit<'_>| -> anyhow::Result<()> {
        match (v, json) {
            (Visit::Entry(e), true) => {
                report::write_entry_json(&mut chunk, merger, e);
                chunk.push(b'\n');
            }
            (Visit::Entry(e), false) => writeln!(out, "{}", text_line(e))?,
            (Visit::Anomaly(a), true) => {
                report::write_json(&mut chunk, &report::anomaly_json(a))?;
                chunk.push(b'\n');
            }
            (Visit::Anomaly(a), false) => {
                eprintln!(
                    "layerscope: anomaly: {} (layer {}): {}",
                    escape::display(&a.path),
                    a.layer,
                    a.reason
                );
            }
        }
        if chunk.len() >= CHUNK {
            out.write_all(&chunk)?;
            chunk.clear();
        }
        Ok(())
    };
    // A directory lists its children (like ls); with -R the directory itself comes first.
    let is_dir = start.kind == FileKind::Dir;
    let mut result = Ok(());
    if !is_dir || recursive {
        result = visit(Visit::Entry(&start));
    }
    if is_dir && result.is_ok() {
        result = merger.walk::<anyhow::Error>(&start, recursive, &mut visit);
    }
    // What was printed before an error still goes out, as with unbuffered lines; the walk's
    // error wins over a failure to write it.
    let flushed = out.write_all(&chunk);
    result?;
    Ok(flushed?)
}

/// One line of text: type and mode, size, supplying layer, path, and what it hides.
#[must_use]
pub fn text_line(e: &Entry) -> String {
    let kind = match e.kind {
        FileKind::Dir => 'd',
        FileKind::File => '-',
        FileKind::Symlink => 'l',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::Char => 'c',
        FileKind::Block => 'b',
    };
    let mut line = format!(
        "{kind}{:04o} {:>10} L{:<2} {}",
        e.meta.mode,
        e.meta.size,
        e.layer,
        escape::display(&e.path)
    );
    if let Some(t) = &e.target {
        line.push_str(" -> ");
        line.push_str(&escape::display(t));
    }
    let mut notes = Vec::new();
    if e.opaque {
        notes.push("opaque".to_string());
    }
    if let Some(r) = &e.redirect {
        notes.push(format!("redirect {}", escape::display(r)));
    }
    match &e.data {
        Some(crate::merge::DataSource::Found { layer, .. }) => {
            notes.push(format!("metacopy, data from L{layer}"))
        }
        Some(crate::merge::DataSource::Missing) => notes.push("metacopy, data missing".into()),
        None => {}
    }
    for (v, r) in e.hidden() {
        notes.push(format!("hides L{} ({})", v.layer, r.describe()));
    }
    if !notes.is_empty() {
        line.push_str("  [");
        line.push_str(&notes.join("; "));
        line.push(']');
    }
    line
}
