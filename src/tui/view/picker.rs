//! The stack picker: a filter line, what went wrong or what is missing (where it is seen:
//! above the list), then a table of the stacks (engine, kind, name, image, layers, size,
//! created, mounted) that scrolls with the selection.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{fit, highlighted, pad, wrap};
use crate::escape;
use crate::tui::app::{App, PickerState};
use crate::tui::picker::Candidate;

/// At most this many lines of messages above the list.
const MESSAGE_LINES: usize = 6;

/// The picker's message lines (opening, the error, discovery's notes), wrapped to `width`.
fn messages(p: &PickerState, width: usize) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if p.opening {
        out.push(("opening…".to_string(), false));
    }
    if let Some(e) = &p.error {
        for l in wrap(
            &format!("cannot open it: {}", escape::display(e.as_bytes())),
            width,
        ) {
            out.push((l, true));
        }
    }
    for n in &p.notes {
        for l in wrap(&escape::display(n.as_bytes()), width) {
            out.push((l, false));
        }
    }
    out.truncate(MESSAGE_LINES);
    out
}

/// Where the stack rows go inside the picker's area (below the filter, the messages and the
/// header): shared with the mouse and the scrolling.
#[must_use]
pub fn list_area(area: Rect, p: &PickerState) -> Rect {
    let inner = Block::bordered().inner(area);
    let top = 1 + u16::try_from(messages(p, usize::from(inner.width)).len()).unwrap_or(0) + 1;
    Rect::new(
        inner.x,
        inner.y.saturating_add(top),
        inner.width,
        inner.height.saturating_sub(top),
    )
}

/// Column widths for a table `width` wide: (engine, kind, name, image, layers, size,
/// created, mounted); columns that do not fit are 0.
fn columns(width: usize) -> [usize; 8] {
    let engine = 11;
    let kind = 10;
    let layers = 7;
    let size = 10;
    let mounted = if width >= 70 { 8 } else { 0 };
    let created = if width >= 110 { 17 } else { 0 };
    let fixed = engine + kind + layers + size + mounted + created;
    let rest = width.saturating_sub(fixed);
    let (name, image) = if width >= 90 {
        (rest * 3 / 5, rest - rest * 3 / 5)
    } else {
        (rest, 0)
    };
    [engine, kind, name, image, layers, size, created, mounted]
}

fn cells(c: &Candidate) -> [String; 8] {
    [
        c.engine.clone(),
        c.kind.clone(),
        c.name.clone(),
        c.image.clone().unwrap_or_default(),
        c.layers.to_string(),
        c.size.map_or_else(String::new, |s| format_size(s, BINARY)),
        c.created
            .as_deref()
            .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
            .unwrap_or_default(),
        if c.mounted { "mounted" } else { "" }.to_string(),
    ]
}

fn table_row(values: &[String; 8], widths: &[usize; 8]) -> String {
    let mut out = String::new();
    for (i, (v, &w)) in values.iter().zip(widths).enumerate() {
        if w == 0 {
            continue;
        }
        // Numbers read right-aligned.
        let cell = fit(v, w.saturating_sub(1));
        if i == 4 || i == 5 {
            out.push_str(&format!("{cell:>width$} ", width = w - 1));
        } else {
            out.push_str(&pad(&cell, w));
        }
    }
    out
}

/// Draws the picker.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, p: &PickerState) {
    let t = app.theme;
    let counts = match &p.candidates {
        Some(c) => format!(
            " {} of {} · sort: {} ",
            p.rows.len(),
            c.len(),
            p.sort.label()
        ),
        None => String::new(),
    };
    let block = Block::bordered()
        .title(Span::styled(" layerscope · pick a stack ", t.title()))
        .title(Line::from(Span::styled(counts, t.dim())).right_aligned())
        .border_style(t.border(true));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = vec![Line::from(vec![
        Span::styled("filter: ", t.key()),
        Span::raw(escape::display(p.filter.as_bytes())),
        Span::styled("▏", t.key()),
        Span::styled(
            "  (type to filter, ↑/↓ move, Enter open, Ctrl-s sort)",
            t.dim(),
        ),
    ])];
    for (m, error) in messages(p, width) {
        lines.push(Line::styled(m, if error { t.error() } else { t.dim() }));
    }
    let widths = columns(width);
    let header = [
        "ENGINE", "KIND", "NAME", "IMAGE", "LAYERS", "SIZE", "CREATED", "MOUNTED",
    ]
    .map(String::from);
    if p.candidates.as_ref().is_some_and(|c| !c.is_empty()) {
        lines.push(Line::styled(table_row(&header, &widths), t.title()));
    }
    let list = list_area(area, p);
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
            for l in wrap(
                "Name one: `layerscope MOUNTPOINT`, or its layers: \
                 `layerscope --lowerdir A:B --upperdir U`; `layerscope demo` explores a \
                 sample stack.",
                width,
            ) {
                lines.push(Line::raw(l));
            }
        }
        Some(_) if p.rows.is_empty() => lines.push(Line::styled(
            "nothing matches the filter (Backspace or Esc)",
            t.dim(),
        )),
        Some(c) => {
            for (i, &r) in p
                .rows
                .iter()
                .enumerate()
                .skip(p.offset)
                .take(usize::from(list.height))
            {
                let Some(cand) = c.get(r) else { continue };
                let text = table_row(&cells(cand), &widths);
                let mut spans = vec![Span::raw(text)];
                if i == p.selected {
                    spans = highlighted(spans, Some(width), t.selected(true));
                }
                lines.push(Line::from(spans));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
