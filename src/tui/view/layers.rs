//! The layer pane: the stack top-down, each layer with its role, size, A/C/D counts and label.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{fit, fit_start, highlighted};
use crate::escape;
use crate::stack::LayerRole;
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
        let size = match ex.summaries.get(i).and_then(Option::as_ref) {
            None => "…".to_string(),
            Some(Err(_)) => "?".to_string(),
            Some(Ok(s)) => format_size(s.bytes, BINARY),
        };
        let counts = match ex.summaries.get(i).and_then(Option::as_ref) {
            Some(Ok(s)) if layer.role != LayerRole::DataOnly => {
                format!("+{} ~{} -{}", s.added, s.modified, s.deleted)
            }
            Some(Err(_)) => "unreadable".to_string(),
            _ => String::new(),
        };
        let marker = if i == ex.layer_sel { "▶" } else { " " };
        let head = format!("{marker}L{i:<2}");
        let numbers = format!("{size:>9} {counts:<12}");
        // Unlabelled layers show their role and path (the path's end says most).
        let room = width.saturating_sub(head.width() + numbers.width() + 1);
        // A label reads from its start ("RUN apt-get …"), a path from its end.
        let label = match (&layer.label, layer.role) {
            (Some(l), LayerRole::DataOnly) => fit(
                &format!("data-only {}", escape::display(l.as_bytes())),
                room,
            ),
            (Some(l), _) => fit(&escape::display(l.as_bytes()), room),
            (None, role) => fit_start(
                &format!("{} {}", role.as_str(), escape::path(&layer.path)),
                room,
            ),
        };
        let mut spans = vec![
            Span::styled(head, t.layer(i)),
            Span::raw(numbers),
            Span::raw(" "),
            Span::raw(label),
        ];
        if i == ex.layer_sel {
            spans = highlighted(spans, Some(width), t.selected(focused));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
