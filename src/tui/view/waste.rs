//! The `W` list, drawn in the tree's place: every path with stored copies no merged path
//! shows, most wasted bytes first, with the copies, the layers that store them and why they
//! are hidden.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{fit, fit_start, pad};
use crate::escape;
use crate::tui::app::{App, Explorer};
use crate::waste::WastedPath;

/// Draws the list of wasted paths.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, ex: &Explorer) {
    let t = app.theme;
    let (count, rows): (String, &[WastedPath]) = match &ex.waste {
        None => ("sizing…".into(), &[]),
        Some(Err(e)) => (format!("cannot size the stack: {e}"), &[]),
        Some(Ok(r)) => (
            format!(
                "{} paths · {} wasted",
                r.paths.len(),
                format_size(r.wasted_bytes(), BINARY)
            ),
            &r.paths,
        ),
    };
    let block = Block::bordered()
        .title(Span::styled(" Wasted paths ", t.title()))
        .title(Line::from(Span::styled(format!(" {count} "), t.dim())).right_aligned())
        .border_style(t.border(true));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let w = &ex.waste_view;
    let mut lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(w.offset)
        .take(usize::from(inner.height))
        .map(|(i, p)| {
            let copies = p.copies.len();
            let layers: Vec<String> = p.copies.iter().map(|c| format!("L{}", c.layer)).collect();
            let why = p
                .copies
                .first()
                .map(|c| c.reason.describe())
                .unwrap_or_default();
            let head = format!(
                "{:>10}  {copies} {}  {}  ",
                format_size(p.bytes, BINARY),
                if copies == 1 { "copy  " } else { "copies" },
                layers.join(",")
            );
            // The path first (its end says most), then why, in what room is left.
            let path = escape::display(&p.path);
            let room = width.saturating_sub(head.width());
            let path = fit_start(&path, room);
            let why = fit(&format!("  {why}"), room.saturating_sub(path.width()));
            let text = pad(&format!("{head}{path}{why}"), width);
            let style = if i == w.selected {
                t.selected(true)
            } else {
                Style::new()
            };
            Line::styled(text, style)
        })
        .collect();
    if lines.is_empty() && matches!(ex.waste, Some(Ok(_))) {
        lines.push(Line::styled("no stored byte is hidden", t.dim()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
