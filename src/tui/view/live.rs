//! The live pane: the watcher's explained events, newest at the bottom; a short note while
//! nothing has arrived (a stack without an upper layer has no watcher).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::fit;
use crate::escape;
use crate::live::Tone;
use crate::tui::app::{App, Focus};

/// Draws the live pane.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = app.theme;
    let live = &app.live;
    let no_upper = app.ex.as_ref().is_some_and(|ex| !ex.stack.has_upper());
    let state = match (&live.status, live.follow) {
        (None, _) if no_upper => "no upper layer".to_string(),
        (None, _) => "not connected".to_string(),
        (Some(s), true) => format!("{} · following", escape::display(s.as_bytes())),
        (Some(s), false) => format!("{} · paused", escape::display(s.as_bytes())),
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Live ", t.title()),
            Span::styled(format!("· {state} "), t.dim()),
        ]))
        .border_style(t.border(app.focus == Focus::Live));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    if live.lines.is_empty() {
        let text = if no_upper {
            "This stack has no upper layer (an image, or a read-only mount): nothing is written to it."
        } else if live.status.is_none() {
            "Changes to the upper layer will stream here once the live watcher is connected."
        } else {
            "No changes yet."
        };
        frame.render_widget(
            Paragraph::new(Line::styled(fit(text, width), t.dim())),
            inner,
        );
        return;
    }
    let h = usize::from(inner.height);
    let end = live.lines.len().saturating_sub(live.back);
    let start = end.saturating_sub(h);
    let lines: Vec<Line<'_>> = live
        .lines
        .range(start..end)
        .map(|l| {
            let symbol = l.symbol;
            let style = match l.tone {
                Tone::Deleted | Tone::Warning => t.deleted(),
                Tone::Copied | Tone::Changed | Tone::Structure => t.modified(),
                Tone::Added | Tone::Info => t.added(),
            };
            let rest = format!(
                " {}  {}",
                escape::display(&l.path),
                escape::display(l.detail.as_bytes())
            );
            let head = format!(
                "{} {symbol} {:<10}",
                escape::display(l.time.as_bytes()),
                escape::display(l.kind.as_bytes())
            );
            let rest = fit(
                &rest,
                width.saturating_sub(unicode_width::UnicodeWidthStr::width(head.as_str())),
            );
            Line::from(vec![Span::styled(head, style), Span::raw(rest)])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
