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
    let scope = app.scope();
    let prompt = app.ex.as_ref().and_then(|e| e.export.as_ref());
    let (left, left_style) = if let Some(p) = prompt {
        (
            format!(
                "write L{}'s {} to file: {}▏",
                p.layer,
                escape::display(&p.path),
                escape::display(p.input.as_bytes())
            ),
            t.title(),
        )
    } else if let Some(m) = &app.message {
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
    } else if let Some(o) = &app.opening {
        (format!("opening {}…", o.name), t.dim())
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
    // Hints go in table order while they fit whole; the message keeps at least half the bar
    // (all of it when it is short).
    let width = usize::from(area.width);
    let left_min = left.width().min(width / 2) + 1;
    let mut room = width.saturating_sub(left_min);
    let mut hint_spans = Vec::new();
    for (key, word) in hints {
        let text = format!(" {word}  ");
        let w = key.width() + text.width();
        if w > room {
            break;
        }
        room -= w;
        hint_spans.push(Span::styled(key, t.key()));
        hint_spans.push(Span::raw(text));
    }
    let hints_w: usize = hint_spans.iter().map(|s| s.content.width()).sum();
    let left = fit(&left, width.saturating_sub(hints_w + 1));
    let gap = width.saturating_sub(left.width() + hints_w);
    let mut spans = vec![
        Span::styled(left, left_style),
        Span::raw(" ".repeat(gap.max(1))),
    ];
    spans.extend(hint_spans);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
