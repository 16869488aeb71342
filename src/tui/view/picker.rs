//! The stack picker: every stack found on the host, or what to do when there is none.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{fit, pad};
use crate::escape;
use crate::tui::app::{App, PickerState};

/// Draws the picker.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, p: &PickerState) {
    let t = app.theme;
    let block = Block::bordered()
        .title(Span::styled(" layerscope · pick a stack ", t.title()))
        .border_style(t.border(true));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    match &p.candidates {
        None => lines.push(Line::styled(
            "Looking for overlay stacks on this host…",
            t.dim(),
        )),
        Some(c) if c.is_empty() => {
            lines.push(Line::styled(
                "No overlay stack found on this host.",
                t.title(),
            ));
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                "Name one: `layerscope MOUNTPOINT`, or its layers: \
                 `layerscope --lowerdir A:B --upperdir U`.",
            ));
            lines.push(Line::raw(
                "Without a terminal, the same data comes from `layerscope ls`, `which`, \
                 `layers` and `diff`.",
            ));
        }
        Some(c) => {
            for (i, cand) in c.iter().enumerate() {
                let style = if i == p.selected {
                    t.selected(true)
                } else {
                    t.title()
                };
                let title = pad(&fit(&escape::display(cand.title.as_bytes()), width), width);
                lines.push(Line::styled(title, style));
                lines.push(Line::styled(
                    fit(
                        &format!("  {}", escape::display(cand.detail.as_bytes())),
                        width,
                    ),
                    t.dim(),
                ));
            }
        }
    }
    if p.opening {
        lines.push(Line::raw(""));
        lines.push(Line::styled("opening…", t.dim()));
    }
    if let Some(e) = &p.error {
        lines.push(Line::raw(""));
        lines.push(Line::styled(escape::display(e.as_bytes()), t.error()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
