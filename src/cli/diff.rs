//! `layerscope diff`: what one layer changes, in `docker diff` format.

use std::io::Write;

use crate::diff::{ChangeKind, changes};
use crate::escape;
use crate::report::put_bytes;
use crate::stack::LayerStack;

/// Prints layer `layer`'s changes (default: the top layer).
///
/// # Errors
/// A bad layer index, an unreadable layer, or a failed write.
pub fn run(
    stack: &LayerStack,
    layer: Option<usize>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let layer = layer.unwrap_or(0);
    for c in changes(stack, layer)? {
        let kind = match c.kind {
            ChangeKind::A => "A",
            ChangeKind::C => "C",
            ChangeKind::D => "D",
        };
        if json {
            let mut o = serde_json::Map::new();
            o.insert("change".into(), kind.into());
            put_bytes(&mut o, "path", &c.path);
            crate::report::write_json(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(out, "{kind} {}", escape::display(&c.path))?;
        }
    }
    Ok(())
}

/// Prints what `new` adds, changes and deletes relative to `old`, with the size change of each
/// path, then the total.
///
/// # Errors
/// An unreadable layer, or a failed write.
pub fn run_against(
    new: &LayerStack,
    old: &LayerStack,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let changes = crate::diff::compare(new, old)?;
    let mut total = 0i64;
    let mut counts = [0u64; 3];
    for c in &changes {
        total += c.size_change;
        let (kind, i) = match c.kind {
            ChangeKind::A => ("A", 0),
            ChangeKind::C => ("C", 1),
            ChangeKind::D => ("D", 2),
        };
        counts[i] += 1;
        if json {
            let mut o = serde_json::Map::new();
            o.insert("change".into(), kind.into());
            put_bytes(&mut o, "path", &c.path);
            o.insert("size_change".into(), c.size_change.into());
            crate::report::write_json(&mut *out, &o)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(
                out,
                "{kind} {:>+12} {}",
                c.size_change,
                escape::display(&c.path)
            )?;
        }
    }
    if json {
        let o = serde_json::json!({
            "kind": "total",
            "added": counts[0],
            "changed": counts[1],
            "deleted": counts[2],
            "size_change": total,
        });
        crate::report::write_json(&mut *out, &o)?;
        out.write_all(b"\n")?;
    } else {
        let sign = if total < 0 { "-" } else { "+" };
        writeln!(
            out,
            "total: {} added, {} changed, {} deleted, {total:+} bytes ({sign}{})",
            counts[0],
            counts[1],
            counts[2],
            humansize::format_size(total.unsigned_abs(), humansize::BINARY)
        )?;
    }
    Ok(())
}
