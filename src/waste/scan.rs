//! Reading one layer directory as it is stored: every entry once, with the inode and size of
//! each regular file. Not a merge: what the merged view shows comes from the merge engine.
//!
//! Each directory gets a state from its parent's (`child_state`), so a caller can carry "this
//! subtree is hidden because ..." down the tree without looking anything up twice.

use crate::error::{Error, Result};
use crate::fsio::LayerRoot;
use crate::merge::markers::read_markers;
use crate::merge::{FileKind, join_rel};
use crate::stack::XattrNamespace;

/// What the layer stores for one regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Device and inode: hard links share them.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Link count (1 for a file with one name).
    pub nlink: u64,
    /// `st_size`; 0 for a metacopy file (its data is in a lower layer).
    pub size: u64,
    /// `st_blocks * 512`: what the file takes on disk; 0 for a metacopy file.
    pub allocated: u64,
    /// It carries the metacopy xattr.
    pub metacopy: bool,
    /// The figures came from the caller's `known` (a file the merged view shows), not a stat.
    pub known: bool,
}

/// One entry of a layer directory.
#[derive(Debug)]
pub enum Item<'a> {
    /// A regular file.
    File(&'a Stored),
    /// Anything else: a directory, symlink, whiteout, device.
    Other(FileKind),
}

/// Walks layer `root` depth-first. `state` is the root's; `child_state` gives a directory's
/// state from its parent's and its path; `known` may give a regular file's figures without a
/// `stat` (the merge walk has just read them); `visit` sees every entry (the root excluded)
/// with its parent's state. `metacopy` names the xattr namespace to probe regular files for the
/// metacopy marker: only stacks that can hold metacopy files pay for the probe.
///
/// # Errors
/// A directory of the layer cannot be read.
pub fn scan<S>(
    root: &LayerRoot,
    metacopy: Option<XattrNamespace>,
    state: S,
    child_state: &mut dyn FnMut(&S, &[u8]) -> S,
    known: &dyn Fn(&S, &[u8]) -> Option<Stored>,
    visit: &mut dyn FnMut(&S, &[u8], Item<'_>),
) -> Result<()> {
    let mut todo: Vec<(Vec<u8>, S)> = vec![(Vec::new(), state)];
    while let Some((rel, st)) = todo.pop() {
        let fd = match root.open_dir(&rel) {
            Ok(fd) => fd,
            // A mount point inside a layer: overlay does not see through it, neither do we.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => continue,
            Err(e) => return Err(Error::io("reading directory", root.join(&rel), e)),
        };
        let names = fd
            .read_dir()
            .map_err(|e| Error::io("reading directory", root.join(&rel), e))?;
        for (name, dtype) in names {
            let child = join_rel(&rel, &name);
            if dtype == Some(FileKind::File)
                && let Some(stored) = known(&st, &child)
            {
                visit(&st, &child, Item::File(&stored));
                continue;
            }
            let stat = match dtype {
                Some(FileKind::File) | None => match fd.lstat(&name) {
                    Ok(s) => Some(s),
                    // Removed since readdir: it is not stored any more.
                    Err(_) => continue,
                },
                _ => None,
            };
            let kind = stat.as_ref().map_or(dtype.unwrap_or(FileKind::File), |s| {
                FileKind::from_mode(s.st_mode)
            });
            match (kind, stat) {
                (FileKind::File, Some(s)) => {
                    let is_metacopy = metacopy.is_some_and(|ns| {
                        read_markers(&fd, &name, ns).is_ok_and(|m| m.metacopy.is_some())
                    });
                    let stored = Stored {
                        dev: s.st_dev,
                        ino: s.st_ino,
                        nlink: s.st_nlink,
                        size: if is_metacopy {
                            0
                        } else {
                            u64::try_from(s.st_size).unwrap_or(0)
                        },
                        allocated: if is_metacopy {
                            0
                        } else {
                            u64::try_from(s.st_blocks).unwrap_or(0) * 512
                        },
                        metacopy: is_metacopy,
                        known: false,
                    };
                    visit(&st, &child, Item::File(&stored));
                }
                (FileKind::Dir, _) => {
                    visit(&st, &child, Item::Other(FileKind::Dir));
                    let cs = child_state(&st, &child);
                    todo.push((child, cs));
                }
                (k, _) => visit(&st, &child, Item::Other(k)),
            }
        }
    }
    Ok(())
}

/// The namespace to probe for metacopy files, when the stack can hold any: metacopy=on, or
/// data-only layers (whose metacopy files the kernel follows without it).
#[must_use]
pub fn metacopy_probe(stack: &crate::stack::LayerStack) -> Option<XattrNamespace> {
    (stack.options.metacopy || stack.data_layers().next().is_some()).then_some(stack.options.xattr)
}
