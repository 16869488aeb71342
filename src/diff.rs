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
    Ok(layer_compare(stack, layer, true)?.out.unwrap_or_default())
}

/// Walks layer `layer`'s changes (see [`changes`], which checks `layer`), keeping the paths
/// only when `keep` says so: the counts come either way.
fn layer_compare(stack: &LayerStack, layer: usize, keep: bool) -> Result<Compare> {
    let with = Merger::open(&stack_from(stack, layer).expect("a normal layer was checked above"))?;
    let without = stack_from(stack, layer + 1)
        .map(|s| Merger::open(&s))
        .transpose()?;
    let old_root = without.as_ref().map(Merger::root).transpose()?;
    let mut cmp = Compare::new(keep.then(Vec::new), None);
    cmp.dir(
        &with,
        without.as_ref(),
        &with.root()?,
        old_root.as_ref(),
        true,
    )?;
    Ok(cmp)
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
    let mut cmp = Compare::new(Some(Vec::new()), Some(Vec::new()));
    cmp.dir(&with, Some(&without), &with.root()?, Some(&old_root), true)?;
    let sizes = cmp.sizes.unwrap_or_default();
    Ok(cmp
        .out
        .unwrap_or_default()
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
        // Counted as they are found: a layer adding a huge directory keeps no path.
        let [added, modified, deleted] = layer_compare(stack, layer, false)?.counts;
        (s.added, s.modified, s.deleted) = (added, modified, deleted);
    }
    Ok(s)
}

/// Counts a layer directory's entries, and the bytes of its regular files: each inode once
/// (hard links are one file), metacopy files 0 (their data is in a lower layer).
fn count_entries(stack: &LayerStack, layer: usize, s: &mut LayerSummary) -> Result<()> {
    let root = stack.layers[layer].open()?;
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
struct Compare {
    /// The changes in order, when they are kept.
    out: Option<Vec<Change>>,
    /// When sizes are wanted: the size change of each change in `out`.
    sizes: Option<Vec<i64>>,
    /// How many A, C and D changes so far.
    counts: [u64; 3],
}

/// A directory being compared: both sides' listings, how far they got, and where its own `C`
/// goes when something under it changed.
struct DirFrame<'m> {
    new_list: Cursor<'m>,
    old_list: Cursor<'m>,
    path: Vec<u8>,
    reported: bool,
    at: u64,
    out_at: usize,
}

/// One side of the lockstep walk: a merged directory read a chunk at a time, so that a huge
/// directory holds one chunk of entries, not all of them (as `ls -R` reads it).
struct Cursor<'m> {
    chunks: Option<crate::merge::Chunks<'m>>,
    chunk: Vec<Entry>,
    at: usize,
}

impl<'m> Cursor<'m> {
    fn open(m: Option<&'m Merger>, dir: Option<&Entry>) -> Result<Self> {
        let chunks = match (m, dir) {
            (Some(m), Some(d)) if d.kind == FileKind::Dir => Some(m.list_chunks(d)?),
            _ => None,
        };
        Ok(Cursor {
            chunks,
            chunk: Vec::new(),
            at: 0,
        })
    }

    /// The current entry, loading the next chunk when this one is used up.
    fn peek(&mut self) -> Option<&Entry> {
        while self.at >= self.chunk.len() {
            let next = self.chunks.as_mut()?.next_chunk();
            let Some(listing) = next else {
                self.chunks = None;
                return None;
            };
            self.chunk = listing.entries;
            self.at = 0;
        }
        self.chunk.get(self.at)
    }
}

impl Compare {
    fn new(out: Option<Vec<Change>>, sizes: Option<Vec<i64>>) -> Self {
        Compare {
            out,
            sizes,
            counts: [0; 3],
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Compares the children of directory `new` (in `with`, with the layer) and `old` (in
    /// `without`, without it). `reported` says whether `new` itself is already `A` or `C`.
    ///
    /// Depth-first with an explicit stack, not recursion: a hostile layer can nest directories
    /// deeper than any thread's stack.
    fn dir<'m>(
        &mut self,
        with: &'m Merger,
        without: Option<&'m Merger>,
        new: &Entry,
        old: Option<&Entry>,
        reported: bool,
    ) -> Result<()> {
        let mut stack = vec![self.frame(with, without, new, old, reported)?];
        while let Some(top) = stack.last_mut() {
            match self.advance(with, without, top)? {
                Some((n, o, reported)) => {
                    let frame = self.frame(with, without, &n, o.as_ref(), reported)?;
                    stack.push(frame);
                }
                None => {
                    let done = stack.pop().expect("the loop saw it");
                    self.finish(&done);
                }
            }
        }
        Ok(())
    }

    /// Starts comparing directory `new` with `old`.
    fn frame<'m>(
        &self,
        with: &'m Merger,
        without: Option<&'m Merger>,
        new: &Entry,
        old: Option<&Entry>,
        reported: bool,
    ) -> Result<DirFrame<'m>> {
        Ok(DirFrame {
            new_list: Cursor::open(Some(with), Some(new))?,
            old_list: Cursor::open(without, old)?,
            path: new.path.clone(),
            reported,
            at: self.total(),
            out_at: self.out.as_ref().map_or(0, Vec::len),
        })
    }

    /// Compares `f`'s children up to the next pair of directories to compare (returned: the new
    /// one, the old one, and whether the new one is already reported) or the end.
    fn advance(
        &mut self,
        with: &Merger,
        without: Option<&Merger>,
        f: &mut DirFrame<'_>,
    ) -> Result<Option<(Entry, Option<Entry>, bool)>> {
        loop {
            let order = match (f.new_list.peek(), f.old_list.peek()) {
                (Some(n), Some(o)) => n.path.cmp(&o.path),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => return Ok(None),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let n = f.new_list.peek().expect("peeked above");
                    self.push(ChangeKind::A, n, file_size(n));
                    let descend = (n.kind == FileKind::Dir).then(|| n.clone());
                    f.new_list.at += 1;
                    if let Some(n) = descend {
                        return Ok(Some((n, None, true)));
                    }
                }
                std::cmp::Ordering::Greater => {
                    let o = f.old_list.peek().expect("peeked above");
                    let size = if self.sizes.is_some() {
                        -bytes_under(without, o)?
                    } else {
                        0
                    };
                    self.push(ChangeKind::D, o, size);
                    f.old_list.at += 1;
                }
                std::cmp::Ordering::Equal => {
                    let n = f.new_list.peek().expect("peeked above").clone();
                    let o = f.old_list.peek().expect("peeked above");
                    let changed = stat_different(&n, o);
                    if changed {
                        self.push(ChangeKind::C, &n, file_size(&n) - file_size(o));
                    }
                    let descend = n.kind == FileKind::Dir && !same_real_dirs(with, without, &n, o);
                    let o = descend.then(|| o.clone());
                    f.new_list.at += 1;
                    f.old_list.at += 1;
                    if descend {
                        return Ok(Some((n, o, changed)));
                    }
                }
            }
        }
    }

    /// A directory compared: it is `C` when anything under it changed and it is not reported
    /// yet (the root never is), placed before its children's changes.
    fn finish(&mut self, f: &DirFrame<'_>) {
        if self.total() > f.at && !f.reported && f.path != b"/" {
            self.counts[1] += 1;
            if let Some(out) = &mut self.out {
                out.insert(
                    f.out_at,
                    Change {
                        kind: ChangeKind::C,
                        path: f.path.clone(),
                    },
                );
            }
            if let Some(sizes) = &mut self.sizes {
                sizes.insert(f.out_at, 0);
            }
        }
    }

    fn push(&mut self, kind: ChangeKind, e: &Entry, size: i64) {
        self.counts[kind as usize] += 1;
        if let Some(out) = &mut self.out {
            out.push(Change {
                kind,
                path: e.path.clone(),
            });
        }
        if let Some(sizes) = &mut self.sizes {
            sizes.push(size);
        }
    }
}

/// The regular-file bytes the old view shows at and under `o`.
fn bytes_under(without: Option<&Merger>, o: &Entry) -> Result<i64> {
    let mut total = file_size(o);
    if let (Some(m), FileKind::Dir) = (without, o.kind) {
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
fn same_real_dirs(with: &Merger, without: Option<&Merger>, n: &Entry, o: &Entry) -> bool {
    let (Some(nd), Some(od), Some(without)) = (&n.dir, &o.dir, without) else {
        return false;
    };
    nd.layers.len() == od.layers.len()
        && nd
            .layers
            .iter()
            .zip(&od.layers)
            .all(|(a, b)| with.source_path(a.layer, &a.rel) == without.source_path(b.layer, &b.rel))
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::merge::walk::CHUNK;
    use crate::stack::MountOptions;

    /// A directory of more than three chunks of names in both layers: the lockstep walk reads
    /// it a chunk at a time on each side, and must pair the names across chunk boundaries.
    #[test]
    fn a_huge_directory_is_compared_in_chunks_with_the_same_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let n = 3 * CHUNK + 700;
        let (up, low) = (tmp.path().join("up"), tmp.path().join("low"));
        for (l, dir) in [(0usize, &up), (1, &low)] {
            let many = dir.join("many");
            fs::create_dir_all(&many).expect("mkdir");
            for i in 0..n {
                // The upper layer holds every third name, one byte long; the lower every
                // second, empty: names in both are C, names only above are A.
                if i % (3 - l) == 0 {
                    fs::write(many.join(format!("f{i:05}")), vec![b'x'; 1 - l]).expect("write");
                }
            }
            if l == 0 {
                fs::create_dir_all(many.join("f00001x/sub")).expect("mkdir");
            }
        }
        let stack = LayerStack::from_dirs(
            "t".into(),
            None,
            vec![up, low],
            Vec::new(),
            MountOptions::user_redirect_on(),
        );
        let mut want = vec![(ChangeKind::C, "/many".to_string())];
        for i in 0..n {
            let p = format!("/many/f{i:05}");
            match (i % 3 == 0, i % 2 == 0) {
                (true, true) => want.push((ChangeKind::C, p)),
                (true, false) => want.push((ChangeKind::A, p)),
                _ => {}
            }
            if i == 1 {
                want.push((ChangeKind::A, "/many/f00001x".into()));
                want.push((ChangeKind::A, "/many/f00001x/sub".into()));
            }
        }
        let got: Vec<(ChangeKind, String)> = changes(&stack, 0)
            .expect("changes")
            .into_iter()
            .map(|c| (c.kind, String::from_utf8(c.path).expect("utf-8")))
            .collect();
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
        let s = summary(&stack, 0).expect("summary");
        let count = |k| want.iter().filter(|(w, _)| *w == k).count() as u64;
        assert_eq!(
            (s.added, s.modified, s.deleted),
            (count(ChangeKind::A), count(ChangeKind::C), 0)
        );
        // The lower layer on its own: every path it holds is added, counted without a list.
        let s = summary(&stack, 1).expect("summary");
        assert_eq!(
            (s.added, s.modified, s.entries),
            (1 + n as u64 / 2, 0, s.added)
        );
    }
}
