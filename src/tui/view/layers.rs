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
    let summary = waste_summary(ex, usize::from(area.width.saturating_sub(4)));
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Layers ", t.title()),
            Span::styled(format!("· {mode} "), t.dim()),
        ]))
        .title_bottom(Span::styled(format!(" {summary} "), t.dim()))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let hides_w = (0..ex.stack.layers.len())
        .map(|i| hides_text(ex, i).width())
        .max()
        .unwrap_or(0);
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
        // What this layer's whiteouts, opaque directories and overwrites hide below it, in
        // a column as wide as the widest.
        let hides = format!("{:<hides_w$}", hides_text(ex, i));
        let counts = format!("{counts:<12}{hides}");
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

/// " hides 1.2 KiB": the bytes of the layers below that `layer` hides, once the waste job
/// has computed them; empty when it hides none.
fn hides_text(ex: &Explorer, layer: usize) -> String {
    match &ex.waste {
        Some(Ok(r)) => r
            .layers
            .get(layer)
            .filter(|w| w.hides_below_bytes > 0)
            .map(|w| format!(" hides {}", format_size(w.hides_below_bytes, BINARY)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// "stored 1.2 MiB · visible 1 MiB · wasted 200 KiB · 83% efficient", shorter forms when
/// that does not fit in `width`; "sizing…" while the job runs. The percentage is rounded
/// down, so a stack with any waste never reads 100%.
#[must_use]
pub fn waste_summary(ex: &Explorer, width: usize) -> String {
    let r = match &ex.waste {
        None => return "sizing…".into(),
        Some(Err(_)) => return "sizes unreadable".into(),
        Some(Ok(r)) => r,
    };
    let (stored, visible, wasted) = (
        format_size(r.stored_bytes(), BINARY),
        format_size(r.visible_bytes(), BINARY),
        format_size(r.wasted_bytes(), BINARY),
    );
    let pct = (r.efficiency() * 100.0).floor();
    let forms = [
        format!("stored {stored} · visible {visible} · wasted {wasted} · {pct:.0}% efficient"),
        format!("stored {stored} · visible {visible} · wasted {wasted} · {pct:.0}%"),
        format!("{stored} stored · {wasted} wasted · {pct:.0}%"),
    ];
    forms
        .iter()
        .find(|f| f.width() <= width)
        .cloned()
        .unwrap_or_else(|| fit(&format!("{pct:.0}% efficient"), width))
}
