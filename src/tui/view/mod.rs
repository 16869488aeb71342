//! Drawing: a pure function of the app state. Panes take `&App` and draw; no I/O, no clock,
//! nothing that can fail. [`layout`] is shared with the mouse hit tests in `app`.

mod details;
mod help;
mod layers;
mod live;
mod picker;
mod status;
mod tour;
mod tree;
mod waste;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::tui::app::{App, Focus};

pub use picker::list_area as picker_list_area;
pub use tour::list_area as tour_list_area;
pub use tree::status_text;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The layer list (empty on tiny terminals).
    pub layers: Rect,
    /// The merged tree (or the picker, or search results).
    pub tree: Rect,
    /// Details and preview (empty on tiny terminals).
    pub details: Rect,
    /// The live pane, when there is room for it.
    pub live: Option<Rect>,
    /// The demo's tour pane, a band across the bottom, when a tour runs and there is room.
    pub tour: Option<Rect>,
    /// The status bar.
    pub status: Rect,
}

/// Splits the terminal into panes: two columns when wide, one when narrow, the tree alone
/// when tiny; the demo's tour takes a band across the bottom. Space goes where there is
/// content: the live pane grows with its events when the tree leaves room. A focused pane the
/// layout has no room for takes the details pane's place, and with `z` (zoom) the focused
/// pane takes the whole screen, so every pane is reachable on any terminal.
#[must_use]
pub fn layout(area: Rect, app: &App) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let nothing = Rect::new(main.x, main.y, 0, 0);
    let only = |pane: Rect| Areas {
        layers: nothing,
        tree: pane,
        details: nothing,
        live: None,
        tour: None,
        status,
    };
    if app.picker.is_some() || app.ex.is_none() {
        return only(main);
    }
    let tiny = main.width < 50 || main.height < 14;
    if app.zoomed || tiny {
        let mut a = only(nothing);
        match app.focus {
            Focus::Layers => a.layers = main,
            Focus::Tree => a.tree = main,
            Focus::Details => a.details = main,
            Focus::Live => a.live = Some(main),
            Focus::Tour if app.tour.is_some() => a.tour = Some(main),
            Focus::Tour => a.tree = main,
        }
        return a;
    }
    let mut a = split(main, app);
    // The focused pane always shows: one without room of its own borrows the details pane's.
    match app.focus {
        Focus::Live if a.live.is_none() => {
            a.live = Some(a.details);
            a.details = nothing;
        }
        Focus::Tour if a.tour.is_none() && app.tour.is_some() => {
            a.tour = Some(a.details);
            a.details = nothing;
        }
        _ => {}
    }
    a
}

fn split(main: Rect, app: &App) -> Areas {
    let status = Rect::new(main.x, main.y + main.height, main.width, 1);
    let (layer_rows, tree_rows) = app.ex.as_ref().map_or((3, 0), |e| {
        (
            u16::try_from(e.stack.layers.len()).unwrap_or(u16::MAX),
            u16::try_from(e.tree.rows.len()).unwrap_or(u16::MAX),
        )
    });
    let live_rows = u16::try_from(app.live.lines.len()).unwrap_or(u16::MAX);
    let wide = main.width >= 100 && main.height >= 20;
    let (main, tour) = match &app.tour {
        Some(_) => {
            let h = if wide {
                (main.height / 2).clamp(9, 20)
            } else {
                (main.height / 3).clamp(5, 12)
            };
            if main.height.saturating_sub(h) >= 10 {
                let [top, band] =
                    Layout::vertical([Constraint::Min(1), Constraint::Length(h)]).areas(main);
                (top, Some(band))
            } else {
                (main, None)
            }
        }
        None => (main, None),
    };
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(main);
        let layers_h = (layer_rows.saturating_add(2)).min((left.height / 2).max(5));
        let [layers, details] =
            Layout::vertical([Constraint::Length(layers_h), Constraint::Min(3)]).areas(left);
        let (tree, live) = if right.height >= 26 {
            // The live pane: 7 rows, more when it has the events and the tree leaves room.
            let h = right.height;
            let tree_need = tree_rows.saturating_add(2).max(12);
            let live_h = live_rows
                .saturating_add(2)
                .min(h.saturating_sub(tree_need))
                .clamp(7, h / 2);
            let [t, l] =
                Layout::vertical([Constraint::Min(5), Constraint::Length(live_h)]).areas(right);
            (t, Some(l))
        } else {
            (right, None)
        };
        return Areas {
            layers,
            tree,
            details,
            live,
            tour,
            status,
        };
    }
    let (layers_h, details_h) = if main.height < 20 {
        (
            layer_rows.saturating_add(2).min(main.height * 2 / 5).max(3),
            4,
        )
    } else {
        (
            layer_rows
                .saturating_add(2)
                .min((main.height * 2 / 5).max(6)),
            (main.height / 4).max(4),
        )
    };
    let [layers, tree, details] = Layout::vertical([
        Constraint::Length(layers_h),
        Constraint::Min(3),
        Constraint::Length(details_h),
    ])
    .areas(main);
    Areas {
        layers,
        tree,
        details,
        live: None,
        tour,
        status,
    }
}

/// A stack named on the command line, while it opens: its name, and what indexing its layer
/// tars has done so far (nothing for a stack of directories, which opens at once).
fn opening(frame: &mut Frame<'_>, area: Rect, app: &App, o: &crate::tui::app::Opening) {
    use humansize::{BINARY, format_size};
    use ratatui::text::Line;
    use ratatui::widgets::{Block, Paragraph};
    let t = app.theme;
    let p = o.progress;
    let mut lines = vec![Line::styled(format!("opening {}…", o.name), t.title())];
    if p.entries > 0 || p.layers > 0 {
        lines.push(Line::raw(format!(
            "indexing layer tars: {} entries, {} read, {} layer{} done",
            p.entries,
            format_size(p.bytes, BINARY),
            p.layers,
            if p.layers == 1 { "" } else { "s" }
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" layerscope ")),
        area,
    );
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, app: &App) {
    let areas = layout(frame.area(), app);
    if let Some(p) = &app.picker {
        picker::render(frame, areas.tree, app, p);
    } else if let Some(o) = &app.opening {
        opening(frame, areas.tree, app, o);
    } else if let Some(ex) = &app.ex {
        if areas.layers.area() > 0 {
            layers::render(frame, areas.layers, app, ex);
        }
        if areas.tree.area() > 0 {
            tree::render(frame, areas.tree, app, ex);
        }
        if areas.details.area() > 0 {
            details::render(frame, areas.details, app, ex);
        }
        if let Some(l) = areas.live {
            live::render(frame, l, app);
        }
        if let (Some(r), Some(t)) = (areas.tour, &app.tour) {
            tour::render(frame, r, app, t);
        }
    }
    status::render(frame, areas.status, app);
    if let Some(scroll) = app.help {
        help::render(frame, frame.area(), app, scroll);
    }
    app.theme.strip(frame.buffer_mut());
}

/// Cuts text to `width` columns, ending with `…` when cut; wide characters never straddle
/// the edge.
#[must_use]
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Cuts text to `width` columns from the left, starting with `…` when cut (for paths, whose
/// end says most).
#[must_use]
pub fn fit_start(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        tail.push(c);
        w += cw;
    }
    let mut out = String::from("…");
    out.extend(tail.into_iter().rev());
    out
}

/// A row's spans with `style` (the selection bar) laid over each; with `fill`, first padded
/// with spaces to that many columns so the bar spans the pane.
#[must_use]
pub fn highlighted(mut spans: Vec<Span<'_>>, fill: Option<usize>, style: Style) -> Vec<Span<'_>> {
    if let Some(width) = fill {
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        spans.push(Span::raw(pad("", width.saturating_sub(used))));
    }
    spans
        .into_iter()
        .map(|s| {
            let st = s.style.patch(style);
            s.style(st)
        })
        .collect()
}

/// Wraps text at spaces into lines of at most `width` columns (a word longer than a line is
/// cut with [`fit`]).
#[must_use]
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let sep = usize::from(!line.is_empty());
        if !line.is_empty() && line.width() + sep + word.width() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out.into_iter().map(|l| fit(&l, width)).collect()
}

/// Pads text with spaces to `width` columns.
#[must_use]
pub fn pad(s: &str, width: usize) -> String {
    let w = s.width();
    if w >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - w))
    }
}

/// A UTC date and time from seconds since the epoch (`2024-05-01 12:00:00`).
#[must_use]
pub fn format_time(secs: i64) -> String {
    crate::timestamp::date_time(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_respects_wide_characters() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("日本語テキスト", 6), "日本…");
        assert_eq!(fit("日本語", 6).width(), 6);
        assert!(fit("日本語テキスト", 5).width() <= 5);
        assert_eq!(fit_start("/a/long/path", 6), "…/path");
        assert!(fit_start("ディレクトリ/名前", 7).width() <= 7);
        assert_eq!(fit("", 3), "");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn time_is_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
    }
}
