//! The `?` popup: every binding of the key table, grouped by where it applies.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::pad;
use crate::tui::app::App;
use crate::tui::keymap::{BINDINGS, HELP_ORDER};

/// The help text, one line per binding.
fn lines(app: &App) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut out = Vec::new();
    for scope in HELP_ORDER {
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(scope.title().to_string(), t.title()));
        for b in BINDINGS.iter().filter(|b| b.scope == *scope) {
            out.push(Line::from(vec![
                Span::styled(pad(&format!("  {}", b.keys_label()), 22), t.key()),
                Span::raw(b.help.to_string()),
            ]));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "Tree rows: Ln = the layer that supplies the path; added / modified / merged N; \
         hides N = versions it shadows; deleted / hidden = not in the merged view (w, o).",
        t.dim(),
    ));
    out
}

/// Draws the popup over `area`.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, scroll: u16) {
    let t = app.theme;
    let popup = area.centered(Constraint::Percentage(80), Constraint::Percentage(85));
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(Span::styled(" Keys (? or Esc closes) ", t.title()))
        .border_style(t.border(true));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let all = lines(app);
    let max = u16::try_from(all.len().saturating_sub(usize::from(inner.height))).unwrap_or(0);
    frame.render_widget(
        Paragraph::new(all)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .scroll((scroll.min(max), 0)),
        inner,
    );
}
