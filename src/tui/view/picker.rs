//! The stack picker: a filter line, what went wrong or what is missing (where it is seen:
//! above the list), then a table of the stacks (engine, kind, name, image, layers, size,
//! unique and shared bytes, created, mounted) that scrolls with the selection, its sort
//! column marked, and a footer with the host's totals and orphans once they are measured.

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
    let bottom = u16::from(footer(p).is_some());
    Rect::new(
        inner.x,
        inner.y.saturating_add(top),
        inner.width,
        inner.height.saturating_sub(top + bottom),
    )
}

/// The last line: the disk usage being measured, or the host's totals and orphans.
fn footer(p: &PickerState) -> Option<String> {
    if p.measuring {
        return Some("measuring the layer stores (as `layerscope du`)…".to_string());
    }
    if let Some(e) = p.host.as_ref().and_then(|h| h.error.as_ref()) {
        return Some(format!(
            "measuring the layer stores failed: {}",
            escape::display(e.as_bytes())
        ));
    }
    let h = p.host.as_ref().filter(|h| h.stores > 0)?;
    let mut line = format!("layer stores: {} · orphans: ", format_size(h.total, BINARY));
    if h.orphans == 0 {
        line.push_str("none");
    } else {
        line.push_str(&format!(
            "{} director{}, {}",
            h.orphans,
            if h.orphans == 1 { "y" } else { "ies" },
            format_size(h.orphan_bytes, BINARY)
        ));
    }
    if h.missing > 0 {
        line.push_str(&format!(
            " · {} reference{} to a missing directory",
            h.missing,
            if h.missing == 1 { "" } else { "s" }
        ));
    }
    if h.orphans > 0 || h.missing > 0 {
        line.push_str(" (`layerscope du` lists them)");
    }
    Some(line)
}

/// Column widths for a table `width` wide: (engine, kind, name, image, layers, size,
/// unique, shared, created, mounted); columns that do not fit are 0, and so are unique and
/// shared when there is no disk usage to show (only overlay mounts: nothing is measured).
fn columns(width: usize, usage: bool) -> [usize; 10] {
    let engine = 11;
    let kind = 10;
    let layers = 7;
    let size = 11;
    let (unique, shared) = if usage && width >= 96 {
        (11, 11)
    } else {
        (0, 0)
    };
    let mounted = if width >= 70 { 8 } else { 0 };
    let created = if width >= 110 { 17 } else { 0 };
    let fixed = engine + kind + layers + size + unique + shared + mounted + created;
    let rest = width.saturating_sub(fixed);
    let (name, image) = if width >= 90 {
        (rest * 3 / 5, rest - rest * 3 / 5)
    } else {
        (rest, 0)
    };
    [
        engine, kind, name, image, layers, size, unique, shared, created, mounted,
    ]
}

fn bytes(b: Option<u64>) -> String {
    b.map_or_else(String::new, |s| format_size(s, BINARY))
}

fn cells(c: &Candidate) -> [String; 10] {
    [
        c.engine.clone(),
        c.kind.clone(),
        c.name.clone(),
        c.image.clone().unwrap_or_default(),
        c.layers.to_string(),
        bytes(c.size),
        bytes(c.unique),
        bytes(c.shared),
        c.created
            .as_deref()
            .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
            .unwrap_or_default(),
        if c.mounted { "mounted" } else { "" }.to_string(),
    ]
}

/// Columns of numbers, right-aligned.
const NUMBERS: [usize; 4] = [4, 5, 6, 7];

fn table_row(values: &[String; 10], widths: &[usize; 10]) -> String {
    let mut out = String::new();
    for (i, (v, &w)) in values.iter().zip(widths).enumerate() {
        if w == 0 {
            continue;
        }
        let cell = fit(v, w.saturating_sub(1));
        if NUMBERS.contains(&i) {
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
    let widths = columns(width, p.measuring || p.host.is_some());
    let mut header = [
        "ENGINE", "KIND", "NAME", "IMAGE", "LAYERS", "SIZE", "UNIQUE", "SHARED", "CREATED",
        "MOUNTED",
    ]
    .map(String::from);
    // The sort column is marked.
    if let Some(col) = p.sort.column() {
        header[col].push('▾');
    }
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
    if let Some(f) = footer(p)
        && inner.height > 0
    {
        let at = Rect::new(inner.x, inner.y + inner.height - 1, inner.width, 1);
        frame.render_widget(Paragraph::new(Line::styled(fit(&f, width), t.dim())), at);
    }
}
