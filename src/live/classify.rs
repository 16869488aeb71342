//! Turning an observed change into an explained [`LiveEvent`]: pure, no I/O.
//!
//! The watcher hands over, for one path, the upper entry before (from its snapshot) and after
//! (read now), and what the lower layers show there ([`Below`]); the rules below say what the
//! kernel did (overlayfs-semantics.md §2–4):
//!
//! | upper before → after | lower has it | event |
//! |---|---|---|
//! | nothing → whiteout | yes | deleted (the whiteout hides that layer's version) |
//! | nothing → entry | no | created |
//! | nothing → entry | yes, same type | copied up (bytes copied) |
//! | nothing → metacopy file | yes | metadata-only copy-up |
//! | nothing/whiteout → opaque dir | a directory | opaque directory (what it hides) |
//! | nothing → entry with redirect | through it | renamed with a redirect (from where) |
//! | whiteout → entry | hidden | created over a whiteout |
//! | metacopy → full file | yes | data copy-up |
//! | entry → entry, content | — | modified in place |
//! | entry → entry, mode/owner/xattrs | — | attribute change |
//! | entry → nothing | — | removed (no whiteout needed) |

use std::time::SystemTime;

use super::facts::{Below, RedirectSource, UpperFacts, is_under};
use super::{LiveEvent, LiveKind, LowerChange};
use crate::escape::display;
use crate::merge::FileKind;

/// Everything known about one changed path.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The merged path.
    pub path: &'a [u8],
    /// When the change was first seen.
    pub time: SystemTime,
    /// The upper entry as the watcher last saw it.
    pub before: Option<&'a UpperFacts>,
    /// The upper entry now.
    pub after: Option<&'a UpperFacts>,
    /// What the lower layers show at the path (with the upper's entry taken away).
    pub below: Option<&'a Below>,
    /// Where the upper entry's redirect leads, when it has one.
    pub redirect: Option<&'a RedirectSource>,
    /// The merged path this entry was renamed from within the upper layer (same inode).
    pub renamed_from: Option<&'a [u8]>,
    /// Entries that moved with a renamed directory.
    pub moved_entries: usize,
    /// Found by a rescan.
    pub rescan: bool,
}

/// The upper layer's index: the live view always watches layer 0.
pub const UPPER: usize = 0;

fn event(
    o: &Observed<'_>,
    layer: Option<usize>,
    kind: LiveKind,
    labels: &[Option<String>],
) -> LiveEvent {
    LiveEvent {
        time: o.time,
        path: o.path.to_vec(),
        layer,
        label: layer.and_then(|l| labels.get(l).cloned().flatten()),
        kind,
        explanation: String::new(),
        parents: Vec::new(),
        from_rescan: o.rescan,
    }
}

/// Explains one observed change; `None` when nothing visible changed (noise). `labels` holds
/// each layer's label, by index. The explanation is filled in by [`finish`].
#[must_use]
pub fn classify(o: &Observed<'_>, labels: &[Option<String>]) -> Option<LiveEvent> {
    let is_wo = |f: Option<&UpperFacts>| f.is_some_and(|f| f.whiteout);
    let ev = |layer, kind| Some(event(o, layer, kind, labels));
    match (o.before, o.after) {
        (None, None) => None,
        (before, Some(a)) if a.whiteout => {
            if is_wo(before) {
                return None;
            }
            ev(
                o.below.map(|b| b.layer),
                LiveKind::Deleted {
                    hidden_kind: o.below.map_or(FileKind::Char, |b| b.kind),
                    hidden_entries: o.below.map_or(0, |b| b.children_count),
                    replaced_upper: before.is_some(),
                    renamed_to: None,
                    folded: 0,
                },
            )
        }
        (before, Some(a)) if before.is_none() || is_wo(before) => {
            let over_whiteout = is_wo(before);
            if a.redirect.is_some() && (a.kind == FileKind::Dir || a.metacopy) {
                return redirected(o, a, labels);
            }
            if let Some(from) = o.renamed_from {
                return renamed(o, a, from, labels);
            }
            match o.below {
                Some(b) if a.kind == FileKind::Dir && a.opaque && b.kind == FileKind::Dir => {
                    opaque(o, b, labels)
                }
                Some(b) if over_whiteout => ev(
                    Some(UPPER),
                    LiveKind::Created {
                        file_kind: a.kind,
                        size: a.size,
                        over_whiteout: Some(b.layer),
                        replaces: None,
                        moved_copy: false,
                    },
                ),
                Some(b) if a.metacopy => ev(
                    Some(b.layer),
                    LiveKind::MetacopyUp {
                        size: a.size,
                        data_layer: b.data_layer.unwrap_or(b.layer),
                    },
                ),
                Some(b) if b.kind == a.kind => {
                    let truncated = a.kind == FileKind::File && a.size < b.size;
                    let bytes = if a.kind == FileKind::File && !truncated {
                        b.size
                    } else {
                        0
                    };
                    ev(
                        Some(b.layer),
                        LiveKind::CopiedUp {
                            file_kind: a.kind,
                            bytes,
                            size: a.size,
                            truncated,
                        },
                    )
                }
                Some(b) => ev(
                    Some(UPPER),
                    LiveKind::Created {
                        file_kind: a.kind,
                        size: a.size,
                        over_whiteout: None,
                        replaces: Some((b.layer, b.kind)),
                        moved_copy: false,
                    },
                ),
                None => ev(
                    Some(UPPER),
                    LiveKind::Created {
                        file_kind: a.kind,
                        size: a.size,
                        over_whiteout: None,
                        replaces: None,
                        moved_copy: a.origin,
                    },
                ),
            }
        }
        (Some(b4), None) => ev(
            o.below.map_or(Some(UPPER), |b| Some(b.layer)),
            LiveKind::Removed {
                file_kind: b4.kind,
                uncovers: o.below.map(|b| b.layer),
                folded: 0,
            },
        ),
        (Some(b4), Some(a)) => changed(o, b4, a, labels),
        // Taken by the guard above; nothing to say if it ever were not.
        (None, Some(_)) => None,
    }
}

/// An entry that was in the upper layer before and still is.
fn changed(
    o: &Observed<'_>,
    b4: &UpperFacts,
    a: &UpperFacts,
    labels: &[Option<String>],
) -> Option<LiveEvent> {
    let ev = |layer, kind| Some(event(o, layer, kind, labels));
    if a.redirect.is_some() && a.redirect != b4.redirect {
        return redirected(o, a, labels);
    }
    if let Some(from) = o.renamed_from {
        return renamed(o, a, from, labels);
    }
    if a.kind != b4.kind {
        return ev(
            Some(UPPER),
            LiveKind::Created {
                file_kind: a.kind,
                size: a.size,
                over_whiteout: None,
                replaces: Some((UPPER, b4.kind)),
                moved_copy: false,
            },
        );
    }
    if a.kind == FileKind::Dir
        && a.opaque
        && !b4.opaque
        && let Some(b) = o.below.filter(|b| b.kind == FileKind::Dir)
    {
        return opaque(o, b, labels);
    }
    if b4.metacopy && !a.metacopy {
        let source = o.below.and_then(|b| b.data_layer.or(Some(b.layer)));
        let bytes = o.below.map_or(a.size, |b| b.size.min(a.size));
        return ev(
            source,
            LiveKind::DataCopiedUp {
                bytes,
                size: a.size,
            },
        );
    }
    if a.content_differs(b4) {
        return ev(
            Some(UPPER),
            LiveKind::Modified {
                file_kind: a.kind,
                size_before: b4.size,
                size: a.size,
            },
        );
    }
    let changes = attribute_changes(b4, a);
    if changes.is_empty() {
        return None;
    }
    ev(Some(UPPER), LiveKind::Attributes { changes })
}

/// The upper entry `a` now carries a redirect (a directory or metacopy file renamed).
fn redirected(o: &Observed<'_>, a: &UpperFacts, labels: &[Option<String>]) -> Option<LiveEvent> {
    let r = o.redirect;
    let kind = LiveKind::Redirected {
        file_kind: a.kind,
        from: r.map(|r| r.from.clone()).unwrap_or_default(),
        redirect: a.redirect.clone().unwrap_or_default(),
    };
    Some(event(o, r.and_then(|r| r.layer), kind, labels))
}

/// The upper entry `a` was renamed from `from` within the upper layer.
fn renamed(
    o: &Observed<'_>,
    a: &UpperFacts,
    from: &[u8],
    labels: &[Option<String>],
) -> Option<LiveEvent> {
    let kind = LiveKind::Renamed {
        file_kind: a.kind,
        from: from.to_vec(),
        folded: o.moved_entries,
    };
    Some(event(o, Some(UPPER), kind, labels))
}

/// An opaque upper directory now hides the lower directory `b`.
fn opaque(o: &Observed<'_>, b: &Below, labels: &[Option<String>]) -> Option<LiveEvent> {
    let kind = LiveKind::OpaqueDir {
        hidden_layers: b.layers.clone(),
        hidden: b.children.clone(),
        hidden_count: b.children_count,
    };
    Some(event(o, Some(b.layer), kind, labels))
}

/// The attribute differences between two versions of one entry, in words.
#[must_use]
pub fn attribute_changes(b4: &UpperFacts, a: &UpperFacts) -> Vec<String> {
    let mut out = Vec::new();
    if b4.mode != a.mode {
        out.push(format!("mode {:04o} -> {:04o}", b4.mode, a.mode));
    }
    if (b4.uid, b4.gid) != (a.uid, a.gid) {
        out.push(format!(
            "owner {}:{} -> {}:{}",
            b4.uid, b4.gid, a.uid, a.gid
        ));
    }
    if b4.opaque != a.opaque {
        out.push(
            if a.opaque {
                "made opaque"
            } else {
                "no longer opaque"
            }
            .into(),
        );
    }
    if b4.metacopy != a.metacopy {
        out.push(
            if a.metacopy {
                "metacopy set"
            } else {
                "metacopy cleared"
            }
            .into(),
        );
    }
    if b4.redirect.is_some() && a.redirect.is_none() {
        out.push("redirect removed".into());
    }
    for (name, v) in &a.xattrs {
        match b4.xattrs.iter().find(|(n, _)| n == name) {
            None => out.push(format!("xattr {} set", display(name))),
            Some((_, old)) if old != v => out.push(format!("xattr {} changed", display(name))),
            Some(_) => {}
        }
    }
    for (name, _) in &b4.xattrs {
        if !a.xattrs.iter().any(|(n, _)| n == name) {
            out.push(format!("xattr {} removed", display(name)));
        }
    }
    out
}

/// A change in a lower layer (only reported when lowers are watched).
#[must_use]
pub fn lower_event(
    path: &[u8],
    layer: usize,
    change: LowerChange,
    time: SystemTime,
    labels: &[Option<String>],
) -> LiveEvent {
    let mut e = LiveEvent {
        time,
        path: path.to_vec(),
        layer: Some(layer),
        label: labels.get(layer).cloned().flatten(),
        kind: LiveKind::LowerChanged { change },
        explanation: String::new(),
        parents: Vec::new(),
        from_rescan: false,
    };
    e.explanation = explain(&e);
    e
}

/// Tidies one batch of classified events (which must be in the order seen) and writes their
/// explanations:
/// - a whiteout left by a directory rename is tied to the redirect that points at it;
/// - removals under a directory deleted, removed or replaced in the same batch fold into it;
/// - a directory copy-up that only made room for a change below it folds into that change
///   (the kernel copies parents up first).
#[must_use]
pub fn finish(mut events: Vec<LiveEvent>) -> Vec<LiveEvent> {
    // Rename whiteouts.
    let redirects: Vec<(Vec<u8>, Vec<u8>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            LiveKind::Redirected { from, .. } => Some((from.clone(), e.path.clone())),
            _ => None,
        })
        .collect();
    for e in &mut events {
        if let LiveKind::Deleted { renamed_to, .. } = &mut e.kind
            && let Some((_, to)) = redirects.iter().find(|(from, _)| *from == e.path)
        {
            *renamed_to = Some(to.clone());
        }
    }
    // Removals under a directory that went away or was replaced.
    let roots: Vec<Vec<u8>> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                LiveKind::Deleted { .. }
                    | LiveKind::Removed { .. }
                    | LiveKind::OpaqueDir { .. }
                    | LiveKind::Created { .. }
                    | LiveKind::Redirected { .. }
                    | LiveKind::Renamed { .. }
            )
        })
        .map(|e| e.path.clone())
        .collect();
    let mut folded_into: Vec<(Vec<u8>, usize)> = Vec::new();
    events.retain(|e| {
        if !matches!(e.kind, LiveKind::Removed { .. } | LiveKind::Deleted { .. }) {
            return true;
        }
        match roots
            .iter()
            .filter(|r| is_under(&e.path, r))
            .min_by_key(|r| r.len())
        {
            Some(r) => {
                match folded_into.iter_mut().find(|(p, _)| p == r) {
                    Some((_, n)) => *n += 1,
                    None => folded_into.push((r.clone(), 1)),
                }
                false
            }
            None => true,
        }
    });
    for e in &mut events {
        let Some((_, n)) = folded_into.iter().find(|(p, _)| *p == e.path) else {
            continue;
        };
        match &mut e.kind {
            LiveKind::Deleted { folded, .. }
            | LiveKind::Removed { folded, .. }
            | LiveKind::Renamed { folded, .. } => *folded += n,
            _ => {}
        }
    }
    // Parent directory copy-ups fold into the first change below them.
    let mut i = 0;
    while i < events.len() {
        let is_dir_copy = matches!(
            events[i].kind,
            LiveKind::CopiedUp {
                file_kind: FileKind::Dir,
                ..
            }
        );
        let child = is_dir_copy
            .then(|| {
                events
                    .iter()
                    .enumerate()
                    .find(|(j, e)| {
                        *j != i && !e.kind.is_notice() && is_under(&e.path, &events[i].path)
                    })
                    .map(|(j, _)| j)
            })
            .flatten();
        match child {
            Some(j) => {
                let parent = events.remove(i);
                let j = if j > i { j - 1 } else { j };
                let mut parents = parent.parents;
                parents.push(parent.path);
                parents.append(&mut events[j].parents);
                parents.sort();
                parents.dedup();
                events[j].parents = parents;
            }
            None => i += 1,
        }
    }
    for e in &mut events {
        e.explanation = explain(e);
    }
    events
}

fn layer_name(layer: Option<usize>, label: Option<&str>) -> String {
    match (layer, label) {
        (Some(l), Some(label)) => format!("layer {l} ({})", display(label.as_bytes())),
        (Some(l), None) => format!("layer {l}"),
        (None, _) => "a lower layer".into(),
    }
}

fn kind_word(k: FileKind) -> &'static str {
    match k {
        FileKind::Dir => "directory",
        FileKind::File => "file",
        FileKind::Symlink => "symlink",
        FileKind::Fifo => "fifo",
        FileKind::Socket => "socket",
        FileKind::Char => "char device",
        FileKind::Block => "block device",
    }
}

fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// The sentence for people that goes with an event (names escaped for a terminal).
#[must_use]
pub fn explain(e: &LiveEvent) -> String {
    let at = layer_name(e.layer, e.label.as_deref());
    let mut s = match &e.kind {
        LiveKind::Created {
            file_kind,
            over_whiteout: Some(l),
            ..
        } => format!(
            "{} created over a whiteout: layer {l}'s version stays hidden",
            kind_word(*file_kind)
        ),
        LiveKind::Created {
            file_kind,
            replaces: Some((l, old)),
            ..
        } if *l == UPPER => format!(
            "replaced in the upper layer: was a {}, now a {}",
            kind_word(*old),
            kind_word(*file_kind)
        ),
        LiveKind::Created {
            file_kind,
            replaces: Some((l, old)),
            ..
        } => format!(
            "{} created where layer {l} has a {}, which stays hidden",
            kind_word(*file_kind),
            kind_word(*old)
        ),
        LiveKind::Created {
            file_kind,
            moved_copy: true,
            ..
        } => format!(
            "{} appeared in the upper layer: a copy-up moved here (it carries an overlay origin), no lower layer shows this path",
            kind_word(*file_kind)
        ),
        LiveKind::Created { file_kind, .. } => format!(
            "{} created in the upper layer: no lower layer shows this path",
            kind_word(*file_kind)
        ),
        LiveKind::CopiedUp {
            file_kind: FileKind::Dir,
            ..
        } => format!(
            "directory copied up from {at}: only the directory itself, its entries stay below"
        ),
        LiveKind::CopiedUp {
            truncated: true,
            size,
            ..
        } => format!(
            "copied up from {at} without its data (opened with O_TRUNC, only metadata copied); now {}",
            bytes(*size)
        ),
        LiveKind::CopiedUp {
            file_kind: FileKind::File,
            bytes: b,
            size,
            ..
        } => {
            let mut s = format!(
                "copied up from {at}: the kernel copied its {} into the upper layer",
                bytes(*b)
            );
            if size != b {
                s.push_str(&format!("; now {}", bytes(*size)));
            }
            s
        }
        LiveKind::CopiedUp { file_kind, .. } => {
            format!("{} copied up from {at}", kind_word(*file_kind))
        }
        LiveKind::MetacopyUp { size, data_layer } => format!(
            "metadata-only copy-up from {at} (metacopy): the upper file holds new metadata and no data; its {} are still read from layer {data_layer}",
            bytes(*size)
        ),
        LiveKind::DataCopiedUp { bytes: b, size } => {
            let mut s = format!(
                "data copied up from {at} on the first write after a metadata-only copy-up: {}",
                bytes(*b)
            );
            if size != b {
                s.push_str(&format!("; now {}", bytes(*size)));
            }
            s
        }
        LiveKind::Modified {
            file_kind: FileKind::File,
            size_before,
            size,
        } => format!(
            "modified in place in the upper layer ({} -> {})",
            bytes(*size_before),
            bytes(*size)
        ),
        LiveKind::Modified { file_kind, .. } => {
            format!(
                "{} modified in place in the upper layer",
                kind_word(*file_kind)
            )
        }
        LiveKind::Deleted {
            hidden_kind,
            hidden_entries,
            replaced_upper,
            renamed_to,
            ..
        } => {
            let mut s = match e.layer {
                Some(_) => format!(
                    "deleted: a whiteout in the upper layer now hides {at}'s {}",
                    kind_word(*hidden_kind)
                ),
                None => "a whiteout appeared, though no lower layer shows this path".into(),
            };
            if *hidden_kind == FileKind::Dir && e.layer.is_some() {
                s.push_str(&format!(" and its {}", entries(*hidden_entries)));
            }
            if *replaced_upper {
                s.push_str("; the upper layer's own copy is gone");
            }
            if let Some(to) = renamed_to {
                s.push_str(&format!(
                    "; it was renamed to {}, which redirects here",
                    display(to)
                ));
            }
            s
        }
        LiveKind::Removed {
            file_kind: FileKind::Char,
            uncovers: Some(_),
            ..
        } => format!("whiteout removed: {at}'s version shows through again"),
        LiveKind::Removed {
            file_kind,
            uncovers: Some(_),
            ..
        } => format!(
            "{} removed from the upper layer without a whiteout: {at}'s version shows through again",
            kind_word(*file_kind)
        ),
        LiveKind::Removed { file_kind, .. } => format!(
            "{} removed from the upper layer; no lower layer shows it, so no whiteout is needed",
            kind_word(*file_kind)
        ),
        LiveKind::OpaqueDir {
            hidden_layers,
            hidden,
            hidden_count,
        } => {
            let layers: Vec<String> = hidden_layers.iter().map(ToString::to_string).collect();
            let mut s = format!(
                "opaque directory made (rm -rf, then mkdir): it hides {} of layer{} {}",
                entries(*hidden_count),
                if layers.len() == 1 { "" } else { "s" },
                layers.join(", ")
            );
            if !hidden.is_empty() {
                let names: Vec<String> = hidden.iter().map(|n| display(n)).collect();
                s.push_str(": ");
                s.push_str(&names.join(", "));
                if *hidden_count > hidden.len() {
                    s.push_str(", …");
                }
            }
            s
        }
        LiveKind::Redirected {
            file_kind: FileKind::Dir,
            from,
            redirect,
        } => format!(
            "directory renamed from {} with a redirect ({}): lookups continue in {at}'s original",
            display(from),
            display(redirect)
        ),
        LiveKind::Redirected {
            file_kind,
            from,
            redirect,
        } => format!(
            "{} renamed from {} with a redirect ({}): a metadata-only copy whose data stays in {at}",
            kind_word(*file_kind),
            display(from),
            display(redirect)
        ),
        LiveKind::Renamed {
            file_kind, from, ..
        } => format!(
            "{} renamed from {} within the upper layer",
            kind_word(*file_kind),
            display(from)
        ),
        LiveKind::Attributes { changes } => format!("attributes changed: {}", changes.join(", ")),
        LiveKind::LowerChanged { change } => format!(
            "{at} {} this path under a live mount: the kernel calls changes to lower layers undefined behaviour",
            match change {
                LowerChange::Created => "gained",
                LowerChange::Modified => "changed",
                LowerChange::Removed => "lost",
            }
        ),
        // Notices carry their explanation from where they are made.
        LiveKind::Watching { .. }
        | LiveKind::Overflow { .. }
        | LiveKind::Rescanned { .. }
        | LiveKind::Fallback { .. }
        | LiveKind::Failure { .. } => return e.explanation.clone(),
    };
    match &e.kind {
        LiveKind::Deleted { folded, .. }
        | LiveKind::Removed { folded, .. }
        | LiveKind::Renamed { folded, .. }
            if *folded > 0 =>
        {
            s.push_str(&format!(" (with {} under it)", entries(*folded)));
        }
        _ => {}
    }
    if !e.parents.is_empty() {
        let names: Vec<String> = e.parents.iter().map(|p| display(p)).collect();
        s.push_str(&format!(
            "; the kernel first copied up the parent director{} {}",
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", ")
        ));
    }
    if e.from_rescan {
        s.push_str(" [found by rescan]");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: FileKind, size: u64) -> UpperFacts {
        UpperFacts {
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: (1, 0),
            ino: 7,
            whiteout: false,
            opaque: false,
            redirect: None,
            metacopy: false,
            origin: false,
            xattrs: Vec::new(),
        }
    }

    fn whiteout() -> UpperFacts {
        UpperFacts {
            whiteout: true,
            ..facts(FileKind::Char, 0)
        }
    }

    fn below(layer: usize, kind: FileKind, size: u64) -> Below {
        Below {
            layer,
            kind,
            size,
            mode: 0o644,
            data_layer: (kind == FileKind::File).then_some(layer),
            children: Vec::new(),
            children_count: 0,
            layers: vec![layer],
        }
    }

    fn obs<'a>(
        path: &'a [u8],
        before: Option<&'a UpperFacts>,
        after: Option<&'a UpperFacts>,
        below: Option<&'a Below>,
    ) -> Observed<'a> {
        Observed {
            path,
            time: SystemTime::UNIX_EPOCH,
            before,
            after,
            below,
            redirect: None,
            renamed_from: None,
            moved_entries: 0,
            rescan: false,
        }
    }

    fn labels() -> Vec<Option<String>> {
        vec![None, None, Some("RUN apt-get install".into())]
    }

    fn one(o: &Observed<'_>) -> LiveEvent {
        let e = classify(o, &labels()).expect("an event");
        finish(vec![e]).remove(0)
    }

    #[test]
    fn a_new_path_with_nothing_below_is_created() {
        let a = facts(FileKind::File, 4);
        let e = one(&obs(b"/new", None, Some(&a), None));
        assert_eq!(e.kind.name(), "created");
        assert_eq!(e.layer, Some(0));
        assert!(
            e.explanation.contains("no lower layer"),
            "{}",
            e.explanation
        );
    }

    #[test]
    fn a_new_path_over_a_lower_file_is_a_copy_up_with_its_bytes() {
        let a = facts(FileKind::File, 10);
        let b = below(2, FileKind::File, 5);
        let e = one(&obs(b"/f", None, Some(&a), Some(&b)));
        assert_eq!(
            e.kind,
            LiveKind::CopiedUp {
                file_kind: FileKind::File,
                bytes: 5,
                size: 10,
                truncated: false
            }
        );
        assert_eq!(e.layer, Some(2));
        assert_eq!(e.label.as_deref(), Some("RUN apt-get install"));
        assert!(
            e.explanation.contains("layer 2 (RUN apt-get install)"),
            "{}",
            e.explanation
        );
        assert!(e.explanation.contains("5 bytes"), "{}", e.explanation);
    }

    #[test]
    fn a_smaller_upper_copy_was_truncated_and_copied_no_data() {
        let a = facts(FileKind::File, 2);
        let b = below(1, FileKind::File, 500);
        let e = one(&obs(b"/f", None, Some(&a), Some(&b)));
        assert!(matches!(
            e.kind,
            LiveKind::CopiedUp {
                truncated: true,
                bytes: 0,
                ..
            }
        ));
    }

    #[test]
    fn a_whiteout_over_a_lower_file_is_a_deletion_naming_the_hidden_layer() {
        let a = whiteout();
        let b = below(1, FileKind::File, 6);
        let e = one(&obs(b"/g", None, Some(&a), Some(&b)));
        assert_eq!(e.kind.name(), "deleted");
        assert_eq!(e.layer, Some(1));
        assert!(
            e.explanation.contains("hides layer 1's file"),
            "{}",
            e.explanation
        );
        // A whiteout that stays a whiteout is noise.
        assert!(classify(&obs(b"/g", Some(&a), Some(&a), Some(&b)), &labels()).is_none());
    }

    #[test]
    fn an_opaque_directory_lists_what_it_hides() {
        let mut a = facts(FileKind::Dir, 4096);
        a.opaque = true;
        let mut b = below(1, FileKind::Dir, 4096);
        b.layers = vec![1, 2];
        b.children = vec![b"a".to_vec(), b"b".to_vec()];
        b.children_count = 2;
        let wo = whiteout();
        for before in [None, Some(&wo)] {
            let e = one(&obs(b"/d", before, Some(&a), Some(&b)));
            assert_eq!(e.kind.name(), "opaque-dir");
            assert!(
                e.explanation
                    .contains("hides 2 entries of layers 1, 2: a, b"),
                "{}",
                e.explanation
            );
        }
    }

    #[test]
    fn a_redirected_directory_names_its_origin() {
        let mut a = facts(FileKind::Dir, 4096);
        a.redirect = Some(b"r".to_vec());
        let r = RedirectSource {
            from: b"/r".to_vec(),
            layer: Some(1),
        };
        let mut o = obs(b"/r2", None, Some(&a), None);
        o.redirect = Some(&r);
        let e = classify(&o, &labels()).expect("event");
        let wo = whiteout();
        let b = below(1, FileKind::Dir, 4096);
        let d = classify(&obs(b"/r", None, Some(&wo), Some(&b)), &labels()).expect("event");
        let out = finish(vec![e, d]);
        assert_eq!(out[0].kind.name(), "redirected");
        assert!(
            out[0].explanation.contains("renamed from /r"),
            "{}",
            out[0].explanation
        );
        assert!(
            out[1].explanation.contains("renamed to /r2"),
            "{}",
            out[1].explanation
        );
    }

    #[test]
    fn metacopy_then_data_copy_up() {
        let mut a = facts(FileKind::File, 3);
        a.metacopy = true;
        a.mode = 0o600;
        let b = below(2, FileKind::File, 3);
        let e = one(&obs(b"/m", None, Some(&a), Some(&b)));
        assert_eq!(
            e.kind,
            LiveKind::MetacopyUp {
                size: 3,
                data_layer: 2
            }
        );
        let mut full = a.clone();
        full.metacopy = false;
        full.size = 8;
        full.mtime = (2, 0);
        let e = one(&obs(b"/m", Some(&a), Some(&full), Some(&b)));
        assert_eq!(e.kind, LiveKind::DataCopiedUp { bytes: 3, size: 8 });
        assert_eq!(e.layer, Some(2));
    }

    #[test]
    fn in_place_changes_are_modifications_or_attributes() {
        let a = facts(FileKind::File, 3);
        let mut b = a.clone();
        b.size = 9;
        assert_eq!(
            one(&obs(b"/x", Some(&a), Some(&b), None)).kind.name(),
            "modified"
        );
        let mut c = a.clone();
        c.mode = 0o600;
        c.xattrs = vec![(b"user.k".to_vec(), 1)];
        let e = one(&obs(b"/x", Some(&a), Some(&c), None));
        assert_eq!(
            e.kind,
            LiveKind::Attributes {
                changes: vec!["mode 0644 -> 0600".into(), "xattr user.k set".into()]
            }
        );
        // Only a directory's own size or mtime changed: noise.
        let d = facts(FileKind::Dir, 4096);
        let mut d2 = d.clone();
        d2.mtime = (9, 9);
        assert!(classify(&obs(b"/d", Some(&d), Some(&d2), None), &labels()).is_none());
    }

    #[test]
    fn parent_copy_ups_and_removals_fold() {
        let dir = facts(FileKind::Dir, 4096);
        let file = facts(FileKind::File, 4);
        let bd = below(1, FileKind::Dir, 4096);
        let bf = below(1, FileKind::File, 2);
        let l = labels();
        let evs = vec![
            classify(&obs(b"/a", None, Some(&dir), Some(&bd)), &l).expect("a"),
            classify(&obs(b"/a/b", None, Some(&dir), Some(&bd)), &l).expect("b"),
            classify(&obs(b"/a/b/f", None, Some(&file), Some(&bf)), &l).expect("f"),
        ];
        let out = finish(evs);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].parents, vec![b"/a".to_vec(), b"/a/b".to_vec()]);
        assert!(
            out[0].explanation.contains("parent directories /a, /a/b"),
            "{}",
            out[0].explanation
        );

        let wo = whiteout();
        let evs = vec![
            classify(&obs(b"/d", Some(&dir), Some(&wo), Some(&bd)), &l).expect("d"),
            classify(&obs(b"/d/x", Some(&wo), None, None), &l).expect("x"),
        ];
        let out = finish(evs);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0].kind, LiveKind::Deleted { folded: 1, .. }));
    }

    #[test]
    fn names_in_explanations_are_escaped() {
        let mut a = facts(FileKind::Dir, 1);
        a.redirect = Some(b"evil\x1b[31m".to_vec());
        let r = RedirectSource {
            from: b"/evil\x1b[31m".to_vec(),
            layer: Some(1),
        };
        let mut o = obs(b"/x", None, Some(&a), None);
        o.redirect = Some(&r);
        let e = one(&o);
        assert!(!e.explanation.contains('\x1b'));
    }
}
