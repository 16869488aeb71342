//! What one layer changes relative to the layers below it, and per-layer summaries.
//!
//! A layer's changes are the differences between the merged view *with* it and the merged view
//! of the layers below it, by the rules of Docker's naive diff (moby `archive.ChangesDirs`),
//! which is what `docker diff` prints on this kind of host and what `podman diff` prints too:
//! - a path only in the upper view is `A` (a new directory's whole subtree is `A`), a path only
//!   in the lower view is `D` (a deleted directory is one `D`);
//! - a path in both is `C` when its type, mode, owner or device differ, or, for non-directories,
//!   its size or mtime (mtimes equal to the second when one side has no nanoseconds);
//! - a directory holding any change is `C` too, unless it is `A` or `C` already (never `/`).
//!
//! Both views come from the merge engine, so every overlay rule applies; a subtree the layer
//! does not touch (same real directories on both sides) is skipped without being read.
//! Docker also compares `security.capability` xattrs; we do not.

use std::os::fd::AsFd;

use crate::error::{Error, Result};
use crate::fsio::{self, LayerRoot};
use crate::merge::{Entry, FileKind, Merger, join_rel};
use crate::stack::{LayerRole, LayerStack};

/// A change kind, as `docker diff` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ChangeKind {
    /// Added.
    A,
    /// Changed.
    C,
    /// Deleted.
    D,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// A, C or D.
    pub kind: ChangeKind,
    /// The path, starting with `/`.
    pub path: Vec<u8>,
}

/// Counts and sizes of one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerSummary {
    /// Entries in the layer directory (the root excluded).
    pub entries: u64,
    /// Bytes of regular files.
    pub bytes: u64,
    /// Paths added relative to the layers below.
    pub added: u64,
    /// Paths modified.
    pub modified: u64,
    /// Paths deleted.
    pub deleted: u64,
}

/// The stack made of layer `from` and every normal layer below it, plus the data-only layers;
/// `None` when there is no normal layer from there down.
fn stack_from(stack: &LayerStack, from: usize) -> Option<LayerStack> {
    if !stack.tree_layers().any(|l| l >= from) {
        return None;
    }
    let mut sub = stack.clone();
    sub.layers = stack.layers[from..].to_vec();
    for l in &mut sub.layers {
        if l.role == LayerRole::Upper && from > 0 {
            l.role = LayerRole::Lower;
        }
    }
    sub.mountpoint = None;
    Some(sub)
}

/// Computes layer `layer`'s changes relative to the normal layers below it, parents first.
///
/// # Errors
/// The layer index is out of range or names a data-only layer, or a layer cannot be read.
pub fn changes(stack: &LayerStack, layer: usize) -> Result<Vec<Change>> {
    match stack.layers.get(layer) {
        None => {
            return Err(Error::BadInput(format!(
                "there is no layer {layer}: the stack has layers 0 to {}; see `layerscope layers`",
                stack.layers.len().saturating_sub(1)
            )));
        }
        Some(l) if l.role == LayerRole::DataOnly => {
            return Err(Error::BadInput(format!(
                "layer {layer} is a data-only layer: it adds no paths of its own, so it has no changes to show"
            )));
        }
        Some(_) => {}
    }
    let with = Merger::open(&stack_from(stack, layer).expect("a normal layer was checked above"))?;
    let without = stack_from(stack, layer + 1)
        .map(|s| Merger::open(&s))
        .transpose()?;
    let old_root = without.as_ref().map(Merger::root).transpose()?;
    let mut cmp = Compare {
        with: &with,
        without: without.as_ref(),
        out: Vec::new(),
    };
    cmp.dir(&with.root()?, old_root.as_ref(), true)?;
    Ok(cmp.out)
}

/// Summarises layer `layer`: entry count, bytes and A/C/D counts.
///
/// # Errors
/// As [`changes`] (data-only layers get sizes and no changes).
pub fn summary(stack: &LayerStack, layer: usize) -> Result<LayerSummary> {
    let mut s = LayerSummary::default();
    let path = &stack
        .layers
        .get(layer)
        .ok_or_else(|| Error::BadInput(format!("there is no layer {layer}")))?
        .path;
    count_entries(path, &mut s)?;
    if stack.layers[layer].role != LayerRole::DataOnly {
        for c in changes(stack, layer)? {
            match c.kind {
                ChangeKind::A => s.added += 1,
                ChangeKind::C => s.modified += 1,
                ChangeKind::D => s.deleted += 1,
            }
        }
    }
    Ok(s)
}

/// Counts a layer directory's entries and regular-file bytes.
fn count_entries(path: &std::path::Path, s: &mut LayerSummary) -> Result<()> {
    let root = LayerRoot::open(path)?;
    let mut todo = vec![Vec::new()];
    while let Some(rel) = todo.pop() {
        let fd = root
            .open_dir(&rel)
            .map_err(|e| Error::io("reading directory", root.join(&rel), e))?;
        let names = fsio::read_dir(fd.as_fd())
            .map_err(|e| Error::io("reading directory", root.join(&rel), e))?;
        for (name, _) in names {
            let Ok(st) = fsio::lstat_at(fd.as_fd(), &name) else {
                continue;
            };
            let kind = FileKind::from_mode(st.st_mode);
            s.entries += 1;
            if kind == FileKind::File {
                s.bytes += u64::try_from(st.st_size).unwrap_or(0);
            }
            if kind == FileKind::Dir {
                todo.push(join_rel(&rel, &name));
            }
        }
    }
    Ok(())
}

/// A lockstep walk of the merged views with and without the layer.
struct Compare<'a> {
    with: &'a Merger,
    without: Option<&'a Merger>,
    out: Vec<Change>,
}

impl Compare<'_> {
    /// Compares the children of directory `new` (with the layer) and `old` (without it).
    /// `reported` says whether `new` itself is already `A` or `C`.
    fn dir(&mut self, new: &Entry, old: Option<&Entry>, reported: bool) -> Result<()> {
        let at = self.out.len();
        let new_list = self.with.list(new)?.entries;
        let old_list = match (self.without, old) {
            (Some(m), Some(o)) if o.kind == FileKind::Dir => m.list(o)?.entries,
            _ => Vec::new(),
        };
        let (mut i, mut j) = (0, 0);
        while i < new_list.len() || j < old_list.len() {
            let order = match (new_list.get(i), old_list.get(j)) {
                (Some(n), Some(o)) => n.path.cmp(&o.path),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let n = &new_list[i];
                    self.push(ChangeKind::A, n);
                    if n.kind == FileKind::Dir {
                        self.dir(n, None, true)?;
                    }
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    self.push(ChangeKind::D, &old_list[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (n, o) = (&new_list[i], &old_list[j]);
                    let changed = stat_different(n, o);
                    if changed {
                        self.push(ChangeKind::C, n);
                    }
                    if n.kind == FileKind::Dir && !same_real_dirs(n, o) {
                        self.dir(n, Some(o), changed)?;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        if self.out.len() > at && !reported && new.path != b"/" {
            self.out.insert(
                at,
                Change {
                    kind: ChangeKind::C,
                    path: new.path.clone(),
                },
            );
        }
        Ok(())
    }

    fn push(&mut self, kind: ChangeKind, e: &Entry) {
        self.out.push(Change {
            kind,
            path: e.path.clone(),
        });
    }
}

/// Docker's `statDifferent`: type and mode, owner, device; size and mtime for non-directories.
fn stat_different(n: &Entry, o: &Entry) -> bool {
    let (a, b) = (&n.meta, &o.meta);
    n.kind != o.kind
        || a.mode != b.mode
        || a.uid != b.uid
        || a.gid != b.gid
        || a.rdev != b.rdev
        || (n.kind != FileKind::Dir
            && (a.size != b.size
                || a.mtime != b.mtime
                || !(a.mtime_nsec == b.mtime_nsec || a.mtime_nsec == 0 || b.mtime_nsec == 0)))
}

/// Whether two directories merge the very same real directories, so their subtrees are equal.
/// The layer with the change is index 0 in `n`'s stack; `o`'s stack starts one layer lower.
fn same_real_dirs(n: &Entry, o: &Entry) -> bool {
    let (Some(nd), Some(od)) = (&n.dir, &o.dir) else {
        return false;
    };
    nd.layers.len() == od.layers.len()
        && nd
            .layers
            .iter()
            .zip(&od.layers)
            .all(|(a, b)| a.layer == b.layer + 1 && a.rel == b.rel)
}
