//! What one layer changes relative to the layers below it, by `docker diff`'s rules
//! (moby's `archive.OverlayChanges`), and per-layer summaries built on it.
//!
//! Docker walks the layer directory: a char 0/0 whiteout is `D`; an opaque directory that some
//! lower layer holds is `D` too (its new children follow as `A`); any other path is `C` when a
//! lower layer holds the same path (a directory identical in size, mode and mtime is skipped),
//! else `A`; the parent of an `A` or `D` is `C` unless already reported. Docker checks the lower
//! layers with `stat`, which follows symlinks on the host; we never do, so a dangling lower
//! symlink counts as present here.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, Result};
use crate::fsio::{self, LayerRoot};
use crate::merge::markers::read_markers;
use crate::merge::{FileKind, join_merged, join_rel};
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

/// One real directory at the same path in a lower layer, with the names it holds.
struct LowerDir {
    fd: OwnedFd,
    names: HashSet<Vec<u8>>,
}

/// Computes layer `layer`'s changes relative to the normal layers below it, in walk order.
///
/// # Errors
/// The layer index is out of range, or a layer cannot be read.
pub fn changes(stack: &LayerStack, layer: usize) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk_layer(stack, layer, &mut |c| out.push(c), &mut |_, _| {})?;
    Ok(out)
}

/// Summarises layer `layer`: entry count, bytes and A/C/D counts.
///
/// # Errors
/// As [`changes`].
pub fn summary(stack: &LayerStack, layer: usize) -> Result<LayerSummary> {
    let mut s = LayerSummary::default();
    let mut on_change = |c: Change| match c.kind {
        ChangeKind::A => s.added += 1,
        ChangeKind::C => s.modified += 1,
        ChangeKind::D => s.deleted += 1,
    };
    let mut entries = 0;
    let mut bytes = 0;
    let mut on_entry = |kind: FileKind, size: u64| {
        entries += 1;
        if kind == FileKind::File {
            bytes += size;
        }
    };
    if stack
        .layers
        .get(layer)
        .is_some_and(|l| l.role == LayerRole::DataOnly)
    {
        walk_plain(stack, layer, &mut on_entry)?;
    } else {
        walk_layer(stack, layer, &mut on_change, &mut on_entry)?;
    }
    s.entries = entries;
    s.bytes = bytes;
    Ok(s)
}

fn walk_plain(
    stack: &LayerStack,
    layer: usize,
    on_entry: &mut dyn FnMut(FileKind, u64),
) -> Result<()> {
    let root = LayerRoot::open(&stack.layers[layer].path)?;
    let mut todo = vec![Vec::new()];
    while let Some(rel) = todo.pop() {
        let fd = root
            .open_dir(&rel)
            .map_err(|e| Error::io("reading directory", root.join(&rel), e))?;
        for (name, _) in fsio::read_dir(fd.as_fd())
            .map_err(|e| Error::io("reading directory", root.join(&rel), e))?
        {
            let Ok(st) = fsio::lstat_at(fd.as_fd(), &name) else {
                continue;
            };
            let kind = FileKind::from_mode(st.st_mode);
            on_entry(kind, u64::try_from(st.st_size).unwrap_or(0));
            if kind == FileKind::Dir {
                todo.push(join_rel(&rel, &name));
            }
        }
    }
    Ok(())
}

fn walk_layer(
    stack: &LayerStack,
    layer: usize,
    on_change: &mut dyn FnMut(Change),
    on_entry: &mut dyn FnMut(FileKind, u64),
) -> Result<()> {
    let Some(this) = stack.layers.get(layer) else {
        return Err(Error::BadInput(format!(
            "there is no layer {layer}: the stack has layers 0 to {}; see `layerscope layers`",
            stack.layers.len().saturating_sub(1)
        )));
    };
    if this.role == LayerRole::DataOnly {
        return Err(Error::BadInput(format!(
            "layer {layer} is a data-only layer: it has no changes to show"
        )));
    }
    let root = LayerRoot::open(&this.path)?;
    let lowers = stack
        .tree_layers()
        .filter(|&l| l > layer)
        .map(|l| LayerRoot::open(&stack.layers[l].path))
        .collect::<Result<Vec<_>>>()?;
    let mut w = Walker {
        stack,
        root: &root,
        lowers: &lowers,
        on_change,
        on_entry,
        changed_dirs: HashSet::new(),
    };
    let lower_dirs = w.open_lowers(b"");
    w.walk_dir(b"", &lower_dirs)
}

struct Walker<'a> {
    stack: &'a LayerStack,
    root: &'a LayerRoot,
    lowers: &'a [LayerRoot],
    on_change: &'a mut dyn FnMut(Change),
    on_entry: &'a mut dyn FnMut(FileKind, u64),
    changed_dirs: HashSet<Vec<u8>>,
}

impl Walker<'_> {
    fn open_lowers(&self, rel: &[u8]) -> Vec<Option<LowerDir>> {
        self.lowers
            .iter()
            .map(|l| {
                let fd = l.open_dir(rel).ok()?;
                let names = fsio::read_dir(fd.as_fd())
                    .ok()?
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                Some(LowerDir { fd, names })
            })
            .collect()
    }

    fn walk_dir(&mut self, rel: &[u8], lower: &[Option<LowerDir>]) -> Result<()> {
        let fd = self
            .root
            .open_dir(rel)
            .map_err(|e| Error::io("reading directory", self.root.join(rel), e))?;
        let mut names = fsio::read_dir(fd.as_fd())
            .map_err(|e| Error::io("reading directory", self.root.join(rel), e))?;
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, _) in names {
            let child = join_rel(rel, &name);
            let path = join_merged(b"/", &child);
            let st = fsio::lstat_at(fd.as_fd(), &name)
                .map_err(|e| Error::io("reading", self.root.join(&child), e))?;
            let kind = FileKind::from_mode(st.st_mode);
            (self.on_entry)(kind, u64::try_from(st.st_size).unwrap_or(0));
            // The first lower layer holding the name, as Docker's loop over the layers finds it.
            let below = lower.iter().flatten().find(|d| d.names.contains(&name));
            let deleted = if kind == FileKind::Char && st.st_rdev == 0 {
                true
            } else if kind == FileKind::Dir {
                let m = read_markers(fd.as_fd(), &name, self.stack.options.xattr)
                    .map_err(|e| Error::io("reading xattrs of", self.root.join(&child), e))?;
                m.opaque_byte() == Some(b'y') && below.is_some()
            } else {
                false
            };
            let change = if deleted {
                Some(ChangeKind::D)
            } else if let Some(b) = below {
                let same_dir = kind == FileKind::Dir
                    && fsio::lstat_at(b.fd.as_fd(), &name).is_ok_and(|ls| {
                        FileKind::from_mode(ls.st_mode) == FileKind::Dir
                            && ls.st_size == st.st_size
                            && ls.st_mode == st.st_mode
                            && same_time(
                                ls.st_mtime,
                                ls.st_mtime_nsec,
                                st.st_mtime,
                                st.st_mtime_nsec,
                            )
                    });
                (!same_dir).then_some(ChangeKind::C)
            } else {
                Some(ChangeKind::A)
            };
            if let Some(k) = change {
                if kind == FileKind::Dir {
                    self.changed_dirs.insert(child.clone());
                }
                if matches!(k, ChangeKind::A | ChangeKind::D)
                    && !rel.is_empty()
                    && self.changed_dirs.insert(rel.to_vec())
                {
                    (self.on_change)(Change {
                        kind: ChangeKind::C,
                        path: join_merged(b"/", rel),
                    });
                }
                (self.on_change)(Change { kind: k, path });
            }
            if kind == FileKind::Dir {
                let sub = self.open_sub(lower, &child, &name);
                self.walk_dir(&child, &sub)?;
            }
        }
        Ok(())
    }

    /// The lower copies of directory `child` (whose name is `name`), where the parent had it.
    fn open_sub(
        &self,
        lower: &[Option<LowerDir>],
        child: &[u8],
        name: &[u8],
    ) -> Vec<Option<LowerDir>> {
        lower
            .iter()
            .zip(self.lowers)
            .map(|(d, root)| {
                if !d.as_ref()?.names.contains(name) {
                    return None;
                }
                let fd = root.open_dir(child).ok()?;
                let names = fsio::read_dir(fd.as_fd())
                    .ok()?
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                Some(LowerDir { fd, names })
            })
            .collect()
    }
}

/// Go's `sameFsTime`: equal, or equal seconds with one side lacking nanoseconds.
fn same_time(a: i64, an: u64, b: i64, bn: u64) -> bool {
    a == b && (an == bn || an == 0 || bn == 0)
}
