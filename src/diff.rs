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

use crate::error::{Error, Result};
use crate::fsio::LayerRoot;
use crate::merge::{Entry, FileKind, Merger};
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
    /// Bytes of regular files, each inode once; metacopy files 0.
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
        sizes: None,
    };
    cmp.dir(&with.root()?, old_root.as_ref(), true)?;
    Ok(cmp.out)
}

/// One changed path between two stacks, with its size change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizedChange {
    /// A (only in the new stack), C or D (only in the old one).
    pub kind: ChangeKind,
    /// The path, starting with `/`.
    pub path: Vec<u8>,
    /// New size minus old size of the regular-file data at the path: an added file's size,
    /// minus a deleted file's, minus everything under a deleted directory; 0 for directories
    /// that stay.
    pub size_change: i64,
}

/// Compares the merged views of two whole stacks by [`changes`]' rules: what `new` adds,
/// changes and deletes relative to `old` (two builds, an image and its container, an image and
/// its base). Subtrees made of the very same real directories on both sides are skipped.
///
/// # Errors
/// A layer of either stack cannot be read.
pub fn compare(new: &LayerStack, old: &LayerStack) -> Result<Vec<SizedChange>> {
    let with = Merger::open(new)?;
    let without = Merger::open(old)?;
    let old_root = without.root()?;
    let mut cmp = Compare {
        with: &with,
        without: Some(&without),
        out: Vec::new(),
        sizes: Some(Vec::new()),
    };
    cmp.dir(&with.root()?, Some(&old_root), true)?;
    let sizes = cmp.sizes.unwrap_or_default();
    Ok(cmp
        .out
        .into_iter()
        .zip(sizes)
        .map(|(c, size_change)| SizedChange {
            kind: c.kind,
            path: c.path,
            size_change,
        })
        .collect())
}

/// Summarises layer `layer`: entry count, bytes and A/C/D counts.
///
/// # Errors
/// As [`changes`] (data-only layers get sizes and no changes).
pub fn summary(stack: &LayerStack, layer: usize) -> Result<LayerSummary> {
    let mut s = LayerSummary::default();
    if layer >= stack.layers.len() {
        return Err(Error::BadInput(format!("there is no layer {layer}")));
    }
    count_entries(stack, layer, &mut s)?;
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

/// Counts a layer directory's entries, and the bytes of its regular files: each inode once
/// (hard links are one file), metacopy files 0 (their data is in a lower layer).
fn count_entries(stack: &LayerStack, layer: usize, s: &mut LayerSummary) -> Result<()> {
    let root = LayerRoot::open(&stack.layers[layer].path)?;
    let mut seen: std::collections::HashSet<(u64, u64)> = std::collections::HashSet::new();
    crate::waste::scan::scan(
        &root,
        crate::waste::scan::metacopy_probe(stack),
        (),
        &mut |(), _| (),
        &|(), _| None,
        &mut |(), _, item| {
            s.entries += 1;
            if let crate::waste::scan::Item::File(f) = item
                && (f.nlink < 2 || seen.insert((f.dev, f.ino)))
            {
                s.bytes += f.size;
            }
        },
    )
}

/// A lockstep walk of the merged views with and without the layer.
struct Compare<'a> {
    with: &'a Merger,
    without: Option<&'a Merger>,
    out: Vec<Change>,
    /// When sizes are wanted: the size change of each change in `out`.
    sizes: Option<Vec<i64>>,
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
                    self.push(ChangeKind::A, n, file_size(n));
                    if n.kind == FileKind::Dir {
                        self.dir(n, None, true)?;
                    }
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let o = &old_list[j];
                    let size = if self.sizes.is_some() {
                        -self.bytes_under(o)?
                    } else {
                        0
                    };
                    self.push(ChangeKind::D, o, size);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (n, o) = (&new_list[i], &old_list[j]);
                    let changed = stat_different(n, o);
                    if changed {
                        self.push(ChangeKind::C, n, file_size(n) - file_size(o));
                    }
                    if n.kind == FileKind::Dir && !self.same_real_dirs(n, o) {
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
            if let Some(sizes) = &mut self.sizes {
                sizes.insert(at, 0);
            }
        }
        Ok(())
    }

    fn push(&mut self, kind: ChangeKind, e: &Entry, size: i64) {
        self.out.push(Change {
            kind,
            path: e.path.clone(),
        });
        if let Some(sizes) = &mut self.sizes {
            sizes.push(size);
        }
    }

    /// The regular-file bytes the old view shows at and under `o`.
    fn bytes_under(&self, o: &Entry) -> Result<i64> {
        let mut total = file_size(o);
        if let (Some(m), FileKind::Dir) = (self.without, o.kind) {
            m.walk(o, true, &mut |v| -> Result<()> {
                if let crate::merge::walk::Visit::Entry(e) = v {
                    total += file_size(e);
                }
                Ok(())
            })?;
        }
        Ok(total)
    }

    /// Whether two directories merge the very same real directories (the same directories on
    /// disk, top-down), so that their subtrees are equal and need not be read.
    fn same_real_dirs(&self, n: &Entry, o: &Entry) -> bool {
        let (Some(nd), Some(od), Some(without)) = (&n.dir, &o.dir, self.without) else {
            return false;
        };
        nd.layers.len() == od.layers.len()
            && nd.layers.iter().zip(&od.layers).all(|(a, b)| {
                self.with.source_path(a.layer, &a.rel) == without.source_path(b.layer, &b.rel)
            })
    }
}

/// A regular file's size (a metacopy file's is its data's), 0 for anything else.
fn file_size(e: &Entry) -> i64 {
    if e.kind == FileKind::File {
        i64::try_from(e.meta.size).unwrap_or(i64::MAX)
    } else {
        0
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
