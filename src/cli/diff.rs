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
