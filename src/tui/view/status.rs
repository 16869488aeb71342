//! The status bar: a message or what the view shows, then key hints from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::fit;
use crate::escape;
use crate::tui::app::{App, Mode};
use crate::tui::keymap::{self, Scope};

/// Draws the status bar.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = app.theme;
    let scope = if app.help.is_some() {
        Scope::Help
    } else if app.picker.is_some() {
        Scope::Picker
    } else if app.ex.as_ref().is_some_and(|e| e.search.active) {
        Scope::Search
    } else {
        app.focus.scope()
    };
    let (left, left_style) = if let Some(m) = &app.message {
        (
            escape::display(m.text.as_bytes()),
            if m.error { t.error() } else { t.title() },
        )
    } else if let Some(w) = app.ex.as_ref().and_then(|e| e.warning.as_ref()) {
        (escape::display(w.as_bytes()), t.error())
    } else if let Some(ex) = &app.ex {
        let mode = match ex.mode {
            Mode::Aggregated => "aggregated",
            Mode::LayerOnly => "layer only",
        };
        (
            format!(
                "{} · L{} {mode}",
                escape::display(ex.stack.name.as_bytes()),
                ex.layer_sel
            ),
            t.dim(),
        )
    } else {
        ("layerscope".to_string(), t.dim())
    };
    let mut hints = keymap::hints(scope);
    // The tour's key works in every pane: its hint comes first wherever the keyboard is.
    if app.tour.is_some()
        && matches!(
            scope,
            Scope::Layers | Scope::Tree | Scope::Details | Scope::Live
        )
        && let Some(h) = keymap::tour_hint()
    {
        hints.insert(0, h);
    }
    let mut hint_spans = Vec::new();
    for (key, word) in hints {
        hint_spans.push(Span::styled(key, t.key()));
        hint_spans.push(Span::raw(format!(" {word}  ")));
    }
    let hints_w: usize = hint_spans.iter().map(|s| s.content.width()).sum();
    let width = usize::from(area.width);
    // The message keeps at least half the bar; hints take the rest from the right.
    let left_w = if hints_w + 20 > width {
        width / 2
    } else {
        width - hints_w
    };
    let left = fit(&left, left_w.saturating_sub(1));
    let gap = width.saturating_sub(left.width() + hints_w);
    let mut spans = vec![
        Span::styled(left, left_style),
        Span::raw(" ".repeat(gap.max(1))),
    ];
    spans.extend(hint_spans);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
