//! The merged browser: one row per path with the layer that supplies it, its status and size;
//! hidden names drawn crossed out; or, while searching, the matches.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{fit, fit_start, highlighted, pad};
use crate::escape;
use crate::merge::FileKind;
use crate::tui::app::{App, Explorer, Focus, ghost_cause};
use crate::tui::theme::Theme;
use crate::tui::tree::{Children, Item, Node, Sort};

/// The status word of a node: what its supplying layer does relative to the layers below.
#[must_use]
pub fn status_text(node: &Node) -> String {
    match &node.item {
        Item::Root => String::new(),
        Item::Anomaly(_) => "refused (see details)".into(),
        Item::Ghost(g) => {
            let (whiteout, cause) = ghost_cause(g);
            let at = cause.map(|l| format!(" @L{l}")).unwrap_or_default();
            if whiteout {
                format!("deleted{at}")
            } else {
                format!("hidden{at}")
            }
        }
        Item::File(f) => {
            let hides = if f.hides > 0 {
                format!(", hides {}", f.hides)
            } else {
                String::new()
            };
            let meta = if f.metacopy { "metacopy, " } else { "" };
            if f.below_any {
                format!("{meta}modified{hides}")
            } else {
                format!("{meta}added")
            }
        }
        Item::Entry(e) => {
            let hides = e.hidden().count();
            let hides = if hides > 0 {
                format!(", hides {hides}")
            } else {
                String::new()
            };
            if e.kind == FileKind::Dir {
                let merged = e.merged_layers().len();
                if e.opaque {
                    format!("opaque{hides}")
                } else if merged > 1 {
                    format!("merged {merged}{hides}")
                } else if hides.is_empty() {
                    "added".into()
                } else {
                    format!("replaces{hides}")
                }
            } else {
                let below = e.versions.iter().any(|v| v.layer > e.layer);
                let meta = if e.data.is_some() { "metacopy, " } else { "" };
                if below {
                    format!("{meta}modified{hides}")
                } else {
                    format!("{meta}added")
                }
            }
        }
    }
}

fn status_style(t: Theme, node: &Node) -> Style {
    match &node.item {
        Item::Anomaly(_) => t.anomaly(),
        Item::Ghost(_) => t.deleted(),
        Item::Entry(e) => {
            let below = e.versions.iter().any(|v| v.layer > e.layer);
            if below { t.modified() } else { t.added() }
        }
        Item::File(f) => {
            if f.below_any {
                t.modified()
            } else {
                t.added()
            }
        }
        Item::Root => Style::new(),
    }
}

fn row(
    t: Theme,
    node: &Node,
    dir_size: Option<u64>,
    width: usize,
    selected: bool,
    focused: bool,
) -> Line<'static> {
    let indent = "  ".repeat(node.depth);
    let arrow = match (&node.item, node.is_dir(), node.expanded) {
        (Item::Anomaly(_), _, _) => "! ",
        (Item::Ghost(_), false, _) => "✗ ",
        (_, true, true) => "▾ ",
        (_, true, false) => "▸ ",
        _ => "  ",
    };
    let mut name = escape::display(node.name());
    let mut name_style = Style::new();
    match &node.item {
        Item::Entry(e) => match e.kind {
            FileKind::Dir => {
                name.push('/');
                name_style = t.dir();
            }
            FileKind::Symlink => {
                if let Some(target) = &e.target {
                    name.push_str(" -> ");
                    name.push_str(&escape::display(target));
                }
                name_style = t.symlink();
            }
            _ => {}
        },
        Item::File(f) => {
            if let Some(target) = &f.target {
                name.push_str(" -> ");
                name.push_str(&escape::display(target));
                name_style = t.symlink();
            }
        }
        Item::Ghost(g) => {
            if g.kind == FileKind::Dir {
                name.push('/');
            }
            name_style = t.ghost();
        }
        Item::Anomaly(_) => name_style = t.anomaly(),
        Item::Root => {}
    }
    let (layer, layer_style) = match &node.item {
        Item::Entry(e) => (format!("L{:<2}", e.layer), t.layer(e.layer)),
        Item::File(f) => (format!("L{:<2}", f.layer), t.layer(f.layer)),
        Item::Ghost(g) => {
            let l = g
                .versions
                .iter()
                .find(|v| v.role != crate::merge::VersionRole::Whiteout)
                .map_or(0, |v| v.layer);
            (format!("L{l:<2}"), t.ghost())
        }
        Item::Anomaly(a) => (format!("L{:<2}", a.layer), t.anomaly()),
        Item::Root => (String::new(), Style::new()),
    };
    let size = match &node.item {
        Item::Entry(e) if e.kind == FileKind::File => format_size(e.meta.size, BINARY),
        Item::File(f) if f.kind == FileKind::File => format_size(f.size, BINARY),
        // A directory's bytes below it, once a walk of the view counted them.
        _ => dir_size.map_or_else(String::new, |s| format_size(s, BINARY)),
    };
    let status = status_text(node);
    // Right part: layer, status, size; dropped piece by piece when the pane is narrow.
    let (status_w, size_w) = if width >= 70 {
        (22, 10)
    } else if width >= 50 {
        (18, 9)
    } else if width >= 36 {
        (10, 0)
    } else {
        (0, 0)
    };
    let right_w = 4 + status_w + size_w;
    let left_w = width.saturating_sub(right_w + 1);
    let left = format!("{indent}{arrow}");
    let name = fit(&name, left_w.saturating_sub(left.width()));
    let gap = width
        .saturating_sub(left.width() + name.width())
        .saturating_sub(right_w);
    let mut spans = vec![
        Span::raw(left),
        Span::styled(name, name_style),
        Span::raw(" ".repeat(gap)),
        Span::styled(pad(&layer, 4), layer_style),
    ];
    if status_w > 0 {
        spans.push(Span::styled(
            pad(&fit(&status, status_w - 1), status_w),
            status_style(t, node),
        ));
        if size_w > 0 {
            spans.push(Span::raw(format!("{size:>w$}", w = size_w)));
        }
    }
    if selected {
        spans = highlighted(spans, None, t.selected(focused));
    }
    Line::from(spans)
}

/// What the filters and toggles do now, in words ("hiding unchanged · showing whiteouts ·
/// sort: size"); only what differs from the defaults is said, besides the sort.
pub fn flags(ex: &Explorer) -> String {
    let f = &ex.filters;
    let hidden: Vec<&str> = [
        (f.added, "added"),
        (f.modified, "modified"),
        (f.deleted, "deleted"),
        (f.unchanged, "unchanged"),
    ]
    .into_iter()
    .filter(|(on, _)| !on)
    .map(|(_, w)| w)
    .collect();
    let shown: Vec<&str> = [
        (ex.show_whiteouts, "whiteouts"),
        (ex.show_opaque, "opaque-hidden"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, w)| w)
    .collect();
    let mut parts = Vec::new();
    if !hidden.is_empty() {
        parts.push(format!("hiding {}", hidden.join(", ")));
    }
    if !shown.is_empty() {
        parts.push(format!("showing {}", shown.join(", ")));
    }
    parts.push(format!(
        "sort: {}",
        match ex.sort {
            Sort::Name => "name",
            Sort::Size => "size",
        }
    ));
    format!(" {} ", parts.join(" · "))
}

/// Draws the merged browser (or the search results).
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, ex: &Explorer) {
    let t = app.theme;
    let focused = app.focus == Focus::Tree;
    if ex.search.active {
        return render_search(frame, area, app, ex);
    }
    if ex.waste_view.active {
        return super::waste::render(frame, area, app, ex);
    }
    let title = if ex.view_base == 0 {
        " Merged view ".to_string()
    } else {
        format!(" Merged view from L{} down ", ex.view_base)
    };
    let mut block = Block::bordered()
        .title(Span::styled(title, t.title()))
        .border_style(t.border(focused));
    if area.width >= 50 {
        block = block.title(Line::from(Span::styled(flags(ex), t.dim())).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let message = match &ex.view {
        None => Some("opening the view…".to_string()),
        Some(Err(e)) => Some(e.clone()),
        Some(Ok(_)) => match ex.tree.node(crate::tui::tree::ROOT).map(|n| &n.children) {
            Some(Children::NotLoaded | Children::Loading) => Some("listing /…".to_string()),
            Some(Children::Failed(e)) => Some(format!("cannot list /: {e}")),
            _ if ex.tree.rows.is_empty() => Some(if ex.tree.len() > 1 {
                "nothing here matches the filters and mode (a, 1-4, w, o change them)".to_string()
            } else {
                "(empty)".to_string()
            }),
            _ => None,
        },
    };
    if let Some(m) = message {
        let style = if matches!(ex.view, Some(Err(_))) {
            t.error()
        } else {
            t.dim()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(
                fit(&escape::display(m.as_bytes()), width),
                style,
            )),
            inner,
        );
        return;
    }
    let lines: Vec<Line<'_>> = ex
        .tree
        .rows
        .iter()
        .enumerate()
        .skip(ex.tree.offset)
        .take(usize::from(inner.height))
        .filter_map(|(i, &id)| {
            let node = ex.tree.node(id)?;
            // A hidden name weighs the bytes of its copies no merged path shows.
            let dir_size = match &node.item {
                Item::Ghost(_) => ex.wasted_bytes(&node.path),
                _ => ex.tree.dir_size(node),
            };
            let mut line = row(t, node, dir_size, width, i == ex.tree.selected, focused);
            if node.is_dir() && node.expanded && node.children == Children::Loading {
                line.spans.push(Span::styled(" …", t.dim()));
            }
            Some(line)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_search(frame: &mut Frame<'_>, area: Rect, app: &App, ex: &Explorer) {
    let t = app.theme;
    let s = &ex.search;
    let progress = if s.query.is_empty() {
        "type to search every path".to_string()
    } else if s.complete {
        format!("{} matches in {} paths", s.total, s.indexed)
    } else {
        format!("{} matches so far, indexing… {} paths", s.total, s.indexed)
    };
    let block = Block::bordered()
        .title(Span::styled(" Search ", t.title()))
        .title(Line::from(Span::styled(format!(" {progress} "), t.dim())).right_aligned())
        .border_style(t.border(true));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = vec![Line::from(vec![
        Span::styled("/", t.key()),
        Span::raw(fit_start(
            &escape::display(s.query.as_bytes()),
            width.saturating_sub(2),
        )),
        Span::styled("▏", t.key()),
    ])];
    for (i, m) in s
        .matches
        .iter()
        .enumerate()
        .skip(s.offset)
        .take(usize::from(inner.height.saturating_sub(1)))
    {
        let text = pad(&fit_start(&escape::display(m), width), width);
        let style = if i == s.selected {
            t.selected(true)
        } else {
            Style::new()
        };
        lines.push(Line::styled(text, style));
    }
    if s.total > s.matches.len() && usize::from(inner.height) > s.matches.len() + 1 {
        lines.push(Line::styled(
            format!("… {} more: type more to narrow", s.total - s.matches.len()),
            t.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
