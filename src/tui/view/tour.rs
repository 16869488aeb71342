//! The demo's tour pane: the steps with their status on the left, the shown step on the right
//! (its command, what the kernel did, and the evidence on disk with the checks' results). On a
//! narrow pane the list folds into one line of marks above the text.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::{fit, highlighted};
use crate::escape;
use crate::teach::OpResult;
use crate::tui::app::{App, Focus};
use crate::tui::keymap;
use crate::tui::theme::Theme;
use crate::tui::tour::TourState;

/// Below this width the step list folds into a line of marks.
const LIST_MIN_WIDTH: u16 = 90;

/// How many lines of a step's output (the read's content) are shown.
const OUTPUT_LINES: usize = 6;

/// Terminal-safe text: every string from the tour goes through the CLI's escaping.
fn safe(s: &str) -> String {
    escape::display(s.as_bytes())
}

/// The list's and the text's areas within the pane.
fn split(area: Rect) -> (Option<Rect>, Rect) {
    if area.width < LIST_MIN_WIDTH {
        return (None, area);
    }
    let w = (area.width * 2 / 5).clamp(30, 56);
    let [list, text] = Layout::horizontal([Constraint::Length(w), Constraint::Min(1)]).areas(area);
    (Some(list), text)
}

/// Where the step rows are (one step a row, from the top), for mouse clicks.
#[must_use]
pub fn list_area(area: Rect) -> Option<Rect> {
    split(area).0.map(|r| Block::bordered().inner(r))
}

/// A step's mark and its style.
fn mark(t: Theme, tour: &TourState, i: usize) -> (&'static str, Style) {
    if tour.running == Some(i) {
        return ("…", t.modified());
    }
    match tour.outcome(i) {
        Some(o) if o.all_ok() => ("✓", t.added()),
        Some(_) => ("✗", t.error()),
        None if tour.off.is_none() && tour.next_index() == Some(i) => ("▸", t.title()),
        None => ("·", t.dim()),
    }
}

fn progress(tour: &TourState) -> String {
    if tour.off.is_some() {
        "live tour off".into()
    } else {
        format!("{}/{} run", tour.outcomes.len(), tour.steps.len())
    }
}

fn render_list(frame: &mut Frame<'_>, area: Rect, app: &App, tour: &TourState) {
    let t = app.theme;
    let focused = app.focus == Focus::Tour;
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Tour ", t.title()),
            Span::styled(format!("· {} ", progress(tour)), t.dim()),
        ]))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (i, step) in tour.steps.iter().enumerate() {
        let (m, style) = mark(t, tour, i);
        let head = format!("{m} {}. ", i + 1);
        let title = fit(&safe(step.title), width.saturating_sub(head.width()));
        let mut spans = vec![Span::styled(head, style), Span::raw(title)];
        if i == tour.shown {
            spans = highlighted(spans, Some(width), t.selected(focused));
        }
        lines.push(Line::from(spans));
    }
    let hint = if let Some(i) = tour.running {
        format!("running step {}…", i + 1)
    } else if tour.off.is_some() {
        "the steps cannot run here".to_string()
    } else if let Some(next) = tour.next_index() {
        let key = keymap::tour_hint().map_or_else(|| "n".to_string(), |(k, _)| k);
        format!("{key}: run step {}", next + 1)
    } else {
        "every step has run".to_string()
    };
    if usize::from(inner.height) > lines.len() + 1 {
        lines.push(Line::raw(""));
        lines.push(Line::styled(fit(&hint, width), t.dim()));
        lines.push(Line::raw(""));
        lines.push(Line::styled(about(tour), t.dim()));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// Where the demo lives and how it is isolated.
fn about(tour: &TourState) -> String {
    let state = if tour.off.is_some() {
        "built, not mounted"
    } else {
        "mounted for real"
    };
    format!(
        "The layers are in {} (lower/, upper/), {state}: {}.",
        safe(tour.root.trim_end_matches('/')),
        safe(&tour.intro)
    )
}

/// The marks of every step on one line, for a narrow pane.
fn marks_line(t: Theme, tour: &TourState) -> Line<'static> {
    let mut spans = vec![Span::styled("Steps ", t.title())];
    for i in 0..tour.steps.len() {
        let (m, style) = mark(t, tour, i);
        let style = if i == tour.shown {
            style.patch(t.selected(true))
        } else {
            style
        };
        spans.push(Span::styled(format!("{m}{}", i + 1), style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

fn result_lines(t: Theme, result: &OpResult, out: &mut Vec<Line<'static>>) {
    match result {
        OpResult::Done { output } if output.is_empty() => {
            out.push(Line::styled("→ done", t.added()));
        }
        OpResult::Done { output } => {
            out.push(Line::styled("→ done; it printed:", t.added()));
            let all: Vec<&str> = output.lines().collect();
            for l in all.iter().take(OUTPUT_LINES) {
                out.push(Line::styled(format!("  {}", safe(l)), t.dim()));
            }
            if all.len() > OUTPUT_LINES {
                out.push(Line::styled(
                    format!("  … ({} more lines)", all.len() - OUTPUT_LINES),
                    t.dim(),
                ));
            }
        }
        OpResult::Failed { .. } => {
            out.push(Line::styled(
                format!("→ {}", safe(&result.summary())),
                t.modified(),
            ));
        }
    }
}

/// The shown step's text.
fn text_lines(t: Theme, tour: &TourState, compact: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if compact {
        out.push(marks_line(t, tour));
    }
    if let Some(why) = &tour.off {
        out.push(Line::styled(
            format!(
                "The live tour is off: {}. The stack was built but not mounted, so the steps \
                 cannot run; the panes show what the image layers hold (w shows the whiteout of \
                 /etc/motd, o what the opaque /var/www/html hides).",
                safe(why)
            ),
            t.error(),
        ));
        out.push(Line::raw(""));
    } else if tour.outcomes.is_empty() && tour.running.is_none() && tour.shown == 0 {
        let key = keymap::tour_hint().map_or_else(|| "n".to_string(), |(k, _)| k);
        let mut intro = format!(
            "{key} runs each step through the merged mount; then the panes re-read the layers \
             and select what changed."
        );
        if compact {
            intro = format!("{} {intro}", about(tour));
        }
        out.push(Line::styled(intro, t.dim()));
        out.push(Line::raw(""));
    }
    let Some(step) = tour.steps.get(tour.shown) else {
        return out;
    };
    out.push(Line::styled(format!("$ {}", safe(&step.command)), t.key()));
    let outcome = tour.outcome(tour.shown);
    if tour.running == Some(tour.shown) {
        out.push(Line::styled("→ running…", t.dim()));
    } else if let Some(o) = outcome {
        result_lines(t, &o.result, &mut out);
        if let Some((what, r)) = &o.contrast {
            out.push(Line::styled(
                format!("  ({}: {})", safe(what), safe(&r.summary())),
                t.dim(),
            ));
        }
    }
    out.push(Line::raw(safe(&step.explanation)));
    out.push(Line::raw(""));
    if let Some(o) = outcome {
        out.push(Line::styled(
            "Evidence, read from the layer directories:",
            t.title(),
        ));
        for c in &o.checks {
            let (m, style) = if c.ok {
                ("✓", t.added())
            } else {
                ("✗ MISSING:", t.error())
            };
            out.push(Line::from(vec![
                Span::styled(format!("{m} "), style),
                Span::raw(safe(&c.evidence.meaning)),
            ]));
            out.push(Line::styled(
                format!("    {}", safe(&tour.relative(&c.claim))),
                t.dim(),
            ));
            if !c.ok {
                out.push(Line::styled(
                    format!("    found instead: {}", safe(&c.found)),
                    t.error(),
                ));
            }
        }
    } else {
        out.push(Line::styled(
            "What to look for on disk afterwards:",
            t.title(),
        ));
        for e in &step.evidence {
            out.push(Line::from(vec![
                Span::styled("· ", t.dim()),
                Span::raw(safe(&e.meaning)),
            ]));
            if let Some(r) = &tour.runner {
                let claim = e.fact.describe(r.demo());
                out.push(Line::styled(
                    format!("    {}", safe(&tour.relative(&claim))),
                    t.dim(),
                ));
            }
        }
    }
    out
}

/// Draws the tour pane.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, tour: &TourState) {
    let t = app.theme;
    let focused = app.focus == Focus::Tour;
    let (list, text) = split(area);
    if let Some(list) = list {
        render_list(frame, list, app, tour);
    }
    let total = tour.steps.len();
    let state = if tour.running == Some(tour.shown) {
        "running"
    } else if tour.outcome(tour.shown).is_some() {
        "done"
    } else if tour.off.is_some() {
        "not run"
    } else if tour.next_index() == Some(tour.shown) {
        "next"
    } else {
        "later"
    };
    let title = tour
        .steps
        .get(tour.shown)
        .map_or_else(String::new, |s| safe(s.title));
    let mut title_spans = vec![Span::styled(
        format!(" Step {}/{total}: ", tour.shown + 1),
        t.title(),
    )];
    let head_w: usize = title_spans.iter().map(|s| s.content.width()).sum();
    let room = usize::from(text.width).saturating_sub(head_w + 4 + state.width() + 3);
    title_spans.push(Span::raw(format!("{} ", fit(&title, room))));
    title_spans.push(Span::styled(format!("· {state} "), t.dim()));
    let block = Block::bordered()
        .title(Line::from(title_spans))
        .border_style(t.border(focused));
    let inner = block.inner(text);
    frame.render_widget(block, text);
    frame.render_widget(
        Paragraph::new(text_lines(t, tour, list.is_none()))
            .wrap(Wrap { trim: false })
            .scroll((tour.scroll, 0)),
        inner,
    );
}
