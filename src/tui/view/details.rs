//! Details of the selected path: what supplies it, every layer's version as `layerscope which`
//! prints them, its metadata, and its content.

use humansize::{BINARY, format_size};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::format_time;
use crate::escape;
use crate::merge::{DataSource, Entry, FileKind};
use crate::tui::app::{App, Explorer, Focus, ghost_cause};
use crate::tui::event::{DetailsData, LiveLine, Preview};
use crate::tui::job::hex_lines;
use crate::tui::theme::Theme;
use crate::tui::tree::{Item, Node};

fn mode_string(kind: FileKind, mode: u32) -> String {
    let t = match kind {
        FileKind::Dir => 'd',
        FileKind::File => '-',
        FileKind::Symlink => 'l',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::Char => 'c',
        FileKind::Block => 'b',
    };
    let mut s = String::from(t);
    for (shift, special, sc) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => sc,
            (true, false) => sc.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn meta_lines(t: Theme, ex: &Explorer, e: &Entry) -> Vec<Line<'static>> {
    let m = &e.meta;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", e.kind.as_str()), t.title()),
        Span::raw(format!(
            "{} {:04o}  uid {} gid {}{}",
            mode_string(e.kind, m.mode),
            m.mode,
            m.uid,
            m.gid,
            if e.kind == FileKind::Dir {
                String::new()
            } else {
                format!("  {}", format_size(m.size, BINARY))
            },
        )),
    ])];
    lines.push(Line::raw(format!("modified {} UTC", format_time(m.mtime))));
    if matches!(e.kind, FileKind::Char | FileKind::Block) {
        lines.push(Line::raw(format!("device {}:{}", m.rdev.0, m.rdev.1)));
    }
    let label = ex.stack.describe(e.layer);
    lines.push(Line::from(vec![
        Span::raw("supplied by "),
        Span::styled(format!("L{}", e.layer), t.layer(e.layer)),
        Span::raw(format!(" ({})", escape::display(label.as_bytes()))),
    ]));
    if e.kind == FileKind::Dir {
        let merged = e
            .merged_layers()
            .iter()
            .map(|l| format!("L{l}"))
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(Line::raw(format!("merged from {merged}")));
    }
    if e.opaque {
        lines.push(Line::raw(
            "opaque: the layers below contribute nothing to this directory",
        ));
    }
    if let Some(r) = &e.redirect {
        lines.push(Line::raw(format!("redirect to {}", escape::display(r))));
    }
    match &e.data {
        Some(DataSource::Found { layer, .. }) => lines.push(Line::raw(format!(
            "metacopy: metadata here, data from L{layer}"
        ))),
        Some(DataSource::Missing) => lines.push(Line::styled(
            "metacopy: its data is in no layer (reads fail with EIO)",
            t.error(),
        )),
        None => {}
    }
    lines
}

fn preview_lines(t: Theme, p: &Preview, width: usize, out: &mut Vec<Line<'static>>) {
    match p {
        Preview::None => {}
        Preview::Error(e) => out.push(Line::styled(
            format!("cannot read: {}", escape::display(e.as_bytes())),
            t.error(),
        )),
        Preview::Text { lines, truncated } => {
            out.push(Line::styled("content (text):", t.title()));
            if lines.is_empty() {
                out.push(Line::styled("(empty)", t.dim()));
            }
            out.extend(lines.iter().map(|l| Line::raw(l.clone())));
            if *truncated {
                out.push(Line::styled("… (only the start is shown)", t.dim()));
            }
        }
        Preview::Hex { bytes, truncated } => {
            out.push(Line::styled("content (binary):", t.title()));
            let per_line = if width >= 78 { 16 } else { 8 };
            out.extend(hex_lines(bytes, per_line).into_iter().map(Line::raw));
            if *truncated {
                out.push(Line::styled("… (only the start is shown)", t.dim()));
            }
        }
        Preview::Link {
            target,
            resolved,
            content,
        } => {
            out.push(Line::raw(format!("link to {}", escape::display(target))));
            match resolved {
                Ok((path, kind, layer)) => out.push(Line::from(vec![
                    Span::raw(format!(
                        "resolves in the merged view to {} ({}, ",
                        escape::display(path),
                        kind.as_str()
                    )),
                    Span::styled(format!("L{layer}"), t.layer(*layer)),
                    Span::raw(")"),
                ])),
                Err(e) => out.push(Line::styled(
                    format!(
                        "does not resolve in the merged view: {}",
                        escape::display(e.as_bytes())
                    ),
                    t.error(),
                )),
            }
            preview_lines(t, content, width, out);
        }
    }
}

fn node_lines(
    t: Theme,
    ex: &Explorer,
    node: &Node,
    data: Option<&DetailsData>,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(escape::display(&node.path), t.title())];
    match &node.item {
        Item::Entry(e) => {
            // The fresh lookup wins over the listing's copy when it is there.
            let e = data.and_then(|d| d.resolved.entry.as_ref()).unwrap_or(e);
            lines.extend(meta_lines(t, ex, e));
        }
        // The tree keeps a compact form of files: their metadata comes with the lookup.
        Item::File(_) => {
            if let Some(e) = data.and_then(|d| d.resolved.entry.as_ref()) {
                lines.extend(meta_lines(t, ex, e));
            }
        }
        Item::Ghost(g) => {
            let (whiteout, cause) = ghost_cause(g);
            let at = cause.map(|l| format!("L{l}")).unwrap_or_else(|| "?".into());
            lines.push(Line::styled(
                if whiteout {
                    format!("not in the merged view: whited out at {at}")
                } else {
                    format!("not in the merged view: cut off at {at}")
                },
                t.deleted(),
            ));
        }
        Item::Anomaly(a) => {
            lines.push(Line::styled(
                format!("L{}: {}", a.layer, escape::display(a.reason.as_bytes())),
                t.anomaly(),
            ));
        }
        Item::Root => {}
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "versions (as `layerscope which` prints them):",
        t.title(),
    ));
    match data {
        None => lines.push(Line::styled("looking up…", t.dim())),
        Some(d) => {
            for w in &d.which {
                lines.push(Line::raw(w.clone()));
            }
            if let Some(err) = &d.resolved.error {
                lines.push(Line::styled(
                    format!("the kernel refuses it: {}", escape::display(err.as_bytes())),
                    t.error(),
                ));
            }
            lines.push(Line::raw(""));
            preview_lines(t, &d.preview, width, &mut lines);
        }
    }
    lines
}

/// The selected layer, whole: its instruction or label wrapped, role, directory, the
/// engine's IDs and creation time where it records them (layer or chain ID, cache ID or
/// snapshot directory, diff ID), size and what it adds, modifies and deletes.
fn layer_lines(t: Theme, ex: &Explorer, i: usize) -> Vec<Line<'static>> {
    let Some(layer) = ex.stack.layers.get(i) else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("L{i} "), t.layer(i)),
        Span::styled(format!("{} layer", layer.role.as_str()), t.title()),
        Span::raw(format!(" of {}", escape::display(ex.stack.name.as_bytes()))),
    ])];
    if let Some(l) = &layer.label {
        lines.push(Line::styled("made by:", t.title()));
        lines.push(Line::raw(escape::display(l.as_bytes())));
    }
    lines.push(Line::styled("directory:", t.title()));
    lines.push(Line::raw(escape::path(&layer.path)));
    let ids = &layer.ids;
    for (what, value) in [
        ("layer ID", &ids.layer_id),
        ("cache ID", &ids.cache_id),
        ("diff ID", &ids.diff_id),
        ("digest", &ids.digest),
        ("created", &ids.created),
    ] {
        if let Some(v) = value {
            lines.push(Line::from(vec![
                Span::styled(format!("{what}: "), t.title()),
                Span::raw(escape::display(v.as_bytes())),
            ]));
        }
    }
    if let Some(n) = ids.blob_bytes {
        lines.push(Line::from(vec![
            Span::styled("blob: ", t.title()),
            Span::raw(format!("{} as it travels", format_size(n, BINARY))),
        ]));
    }
    match ex.summaries.get(i).and_then(Option::as_ref) {
        None => lines.push(Line::styled("counting…", t.dim())),
        Some(Err(e)) => lines.push(Line::styled(
            format!("cannot count: {}", escape::display(e.as_bytes())),
            t.error(),
        )),
        Some(Ok(s)) => {
            lines.push(Line::raw(format!(
                "size {} in {} entries",
                format_size(s.bytes, BINARY),
                s.entries
            )));
            lines.push(Line::from(vec![
                Span::styled(format!("+{} added", s.added), t.added()),
                Span::raw("  "),
                Span::styled(format!("~{} modified", s.modified), t.modified()),
                Span::raw("  "),
                Span::styled(format!("-{} deleted", s.deleted), t.deleted()),
                Span::raw(" (relative to the layers below)"),
            ]));
        }
    }
    lines
}

/// A live event, whole: time, kind, path and the watcher's full explanation.
fn event_lines(t: Theme, l: &LiveLine) -> Vec<Line<'static>> {
    vec![
        Line::styled(escape::display(&l.path), t.title()),
        Line::raw(format!(
            "{} {} at {}",
            l.symbol,
            escape::display(l.kind.as_bytes()),
            escape::display(l.time.as_bytes())
        )),
        Line::raw(""),
        Line::raw(escape::display(l.detail.as_bytes())),
        Line::raw(""),
        Line::styled("h or Esc: back to the merged view", t.dim()),
    ]
}

/// Draws the details pane: the selected layer while the layer pane has the keyboard, a live
/// event after `Enter` on it, else the selected path.
pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, ex: &Explorer) {
    let t = app.theme;
    let focused = app.focus == Focus::Details;
    let (title, lines) = if app.focus == Focus::Layers {
        (
            format!(" Details · layer L{} ", ex.layer_sel),
            layer_lines(t, ex, ex.layer_sel),
        )
    } else if let Some(l) = &app.live_shown {
        (" Details · live event ".to_string(), event_lines(t, l))
    } else {
        (
            " Details ".to_string(),
            path_lines(t, ex, usize::from(area.width.saturating_sub(2))),
        )
    };
    let block = Block::bordered()
        .title(Span::styled(title, t.title()))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((ex.details.scroll, 0)),
        inner,
    );
}

fn path_lines(t: Theme, ex: &Explorer, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(n) = &ex.lost_note {
        lines.push(Line::styled(escape::display(n.as_bytes()), t.error()));
        lines.push(Line::raw(""));
    }
    let Some(node) = ex.tree.selected_node() else {
        lines.push(Line::styled(
            "select a path to see where it comes from",
            t.dim(),
        ));
        return lines;
    };
    let data = match &ex.details.data {
        Some(Ok(d)) if d.path == node.path => Some(d.as_ref()),
        _ => None,
    };
    lines.extend(node_lines(t, ex, node, data, width));
    if let Some(Err(e)) = &ex.details.data {
        lines.push(Line::styled(escape::display(e.as_bytes()), t.error()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::mode_string;
    use crate::merge::FileKind;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(FileKind::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o2644), "-rw-r-Sr--");
    }
}
