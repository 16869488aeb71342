//! The layer pane: the stack top-down, each layer with its role, size, A/C/D counts and label.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{fit_start, pad};
use crate::escape;
use crate::tui::app::{App, Explorer, Focus, Mode};

/// Draws the layer pane.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, ex: &Explorer) {
    let t = app.theme;
    let focused = app.focus == Focus::Layers;
    let mode = match ex.mode {
        Mode::Aggregated => "aggregated",
        Mode::LayerOnly => "this layer only",
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Layers ", t.title()),
            Span::styled(format!("· {mode} "), t.dim()),
        ]))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (i, layer) in ex
        .stack
        .layers
        .iter()
        .enumerate()
        .skip(ex.layer_offset)
        .take(usize::from(inner.height))
    {
        let counts = match ex.summaries.get(i).and_then(Option::as_ref) {
            None => format!("{:>9} {:>17}", "…", ""),
            Some(Err(_)) => format!("{:>9} {:>17}", "?", "unreadable"),
            Some(Ok(s)) => format!(
                "{:>9} {:>17}",
                format_size(s.bytes, BINARY),
                format!("A{} C{} D{}", s.added, s.modified, s.deleted)
            ),
        };
        let marker = if i == ex.layer_sel { "▶" } else { " " };
        let head = format!("{marker}L{i:<2}");
        let role = format!(" {:<9}", layer.role.as_str());
        let label = match &layer.label {
            Some(l) => escape::display(l.as_bytes()),
            None => escape::path(&layer.path),
        };
        let used = head.width() + role.width() + counts.width() + 2;
        let label = fit_start(&label, width.saturating_sub(used));
        let mut spans = vec![
            Span::styled(head, t.layer(i)),
            Span::styled(role, t.dim()),
            Span::raw(counts),
            Span::raw("  "),
            Span::raw(label),
        ];
        if i == ex.layer_sel {
            let used: usize = spans.iter().map(|s| s.content.width()).sum();
            spans.push(Span::raw(pad("", width.saturating_sub(used))));
            let style = t.selected(focused);
            spans = spans
                .into_iter()
                .map(|s| {
                    let st = s.style.patch(style);
                    s.style(st)
                })
                .collect();
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
