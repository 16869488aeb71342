//! The watcher's reads: the upper entry of a changed path (its `lstat` and overlay markers) and
//! what the lower layers show at that path, through the merge engine. Everything here is I/O
//! through [`crate::fsio`] (read-only, never following a symlink inside a layer); the
//! classification that uses it is pure ([`super::classify`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::fsio::{self, LayerRoot};
use crate::merge::{DataSource, FileKind, Merger, VersionRole};
use crate::stack::XattrNamespace;

/// What one upper-layer entry looks like on disk, as far as the live view cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpperFacts {
    /// Its type.
    pub kind: FileKind,
    /// `st_size`.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Inode number (pairs renames).
    pub ino: u64,
    /// A whiteout: char 0/0, or an empty file with the whiteout xattr.
    pub whiteout: bool,
    /// A directory marked `opaque=y`.
    pub opaque: bool,
    /// Its `overlay.redirect` value.
    pub redirect: Option<Vec<u8>>,
    /// A regular file with `overlay.metacopy`: metadata here, data below.
    pub metacopy: bool,
    /// It carries `overlay.origin` (it was copied up from a lower layer).
    pub origin: bool,
    /// Its other xattrs (not overlay's own): name and a hash of the value, sorted by name.
    pub xattrs: Vec<(Vec<u8>, u64)>,
}

impl UpperFacts {
    /// Whether the content differs (size, mtime or inode; directories' own size and mtime only
    /// follow their entries, so they never count).
    #[must_use]
    pub fn content_differs(&self, other: &UpperFacts) -> bool {
        if self.kind == FileKind::Dir && other.kind == FileKind::Dir {
            return false;
        }
        self.size != other.size || self.mtime != other.mtime || self.ino != other.ino
    }
}

/// Gone, or not there to read: a mount point in a layer read without a clone is skipped too
/// (the watcher's start-up warning says so).
fn vanished(e: &io::Error) -> bool {
    fsio::is_mount_point(e)
        || matches!(
            e.raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP | libc::EXDEV)
        )
}

fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// Reads `name` in the open directory `dir` (`dir` itself when `name` is empty); `Ok(None)`
/// when it is not there (any more).
///
/// # Errors
/// The entry exists but cannot be read.
pub fn read_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    ns: XattrNamespace,
) -> io::Result<Option<UpperFacts>> {
    let st = match fsio::lstat_at(dir, if name.is_empty() { b"." } else { name }) {
        Ok(st) => st,
        Err(e) if vanished(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let kind = FileKind::from_mode(st.st_mode);
    let mut f = UpperFacts {
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: (st.st_mtime, i64::try_from(st.st_mtime_nsec).unwrap_or(0)),
        ino: st.st_ino,
        whiteout: kind == FileKind::Char && st.st_rdev == 0,
        opaque: false,
        redirect: None,
        metacopy: false,
        origin: false,
        xattrs: Vec::new(),
    };
    if f.whiteout {
        return Ok(Some(f));
    }
    let names = match fsio::list_xattrs(dir, name) {
        Ok(n) => n,
        Err(e) if vanished(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let prefix = ns.prefix().as_bytes();
    let get = |attr: &[u8]| -> io::Result<Option<Vec<u8>>> {
        let attr = String::from_utf8_lossy(attr);
        match fsio::get_xattr(dir, name, &attr) {
            Err(e) if vanished(&e) => Ok(None),
            other => other,
        }
    };
    let mut whiteout_xattr = false;
    for attr in names {
        match attr.strip_prefix(prefix) {
            Some(b"whiteout") => whiteout_xattr = true,
            Some(b"origin") => f.origin = true,
            Some(b"opaque") => {
                f.opaque = kind == FileKind::Dir && get(&attr)?.as_deref() == Some(b"y")
            }
            Some(b"redirect") => f.redirect = get(&attr)?,
            Some(b"metacopy") => f.metacopy = kind == FileKind::File,
            // Overlay's bookkeeping (impure, nlink, uuid, ...) changes nothing visible.
            Some(_) => {}
            None => {
                let v = get(&attr)?.unwrap_or_default();
                f.xattrs.push((attr, hash_bytes(&v)));
            }
        }
    }
    f.xattrs.sort();
    if kind == FileKind::File && f.size == 0 && whiteout_xattr {
        f.whiteout = true;
    }
    Ok(Some(f))
}

/// Splits a layer-relative path into its parent and last name (`b"a/b"` → `(b"a", b"b")`).
#[must_use]
pub fn split_rel(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], rel),
    }
}

/// Splits a merged path into its parent and last name (`/a/b` → `(/a, b)`, `/a` → `(/, a)`).
#[must_use]
pub fn split_merged(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b"/"[..], path),
    }
}

/// The merged path of an upper-relative path (`a/b` → `/a/b`, `` → `/`).
#[must_use]
pub fn merged_of(rel: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(rel.len() + 1);
    p.push(b'/');
    p.extend_from_slice(rel);
    p
}

/// Reads upper-relative path `rel` of `root`.
///
/// # Errors
/// As [`read_at`].
pub fn read_upper(
    root: &LayerRoot,
    rel: &[u8],
    ns: XattrNamespace,
) -> io::Result<Option<UpperFacts>> {
    let (parent, name) = split_rel(rel);
    let parent = if rel.is_empty() { rel } else { parent };
    let fd = match root.open_dir_fd(parent) {
        Ok(fd) => fd,
        Err(e) if vanished(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    read_at(fd.as_fd(), name, ns)
}

/// Walks the upper layer from `rel` (included), parents before children, never following a
/// symlink or crossing a mount point. Returns every entry read; entries that vanish during the
/// walk are skipped. Stops early (with what it has) when `stop` is set.
///
/// # Errors
/// The starting directory exists but cannot be read.
pub fn walk_upper(
    root: &LayerRoot,
    rel: &[u8],
    ns: XattrNamespace,
    stop: &AtomicBool,
) -> io::Result<BTreeMap<Vec<u8>, UpperFacts>> {
    let mut out = BTreeMap::new();
    let Some(top) = read_upper(root, rel, ns)? else {
        return Ok(out);
    };
    let top_is_dir = top.kind == FileKind::Dir;
    out.insert(rel.to_vec(), top);
    if !top_is_dir {
        return Ok(out);
    }
    let mut todo = vec![rel.to_vec()];
    while let Some(dir) = todo.pop() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let fd = match root.open_dir_fd(&dir) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        let names = match fsio::read_dir(fd.as_fd()) {
            Ok(n) => n,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        for (name, _) in names {
            let child = crate::merge::join_rel(&dir, &name);
            let Some(f) = read_at(fd.as_fd(), &name, ns)? else {
                continue;
            };
            if f.kind == FileKind::Dir {
                todo.push(child.clone());
            }
            out.insert(child, f);
        }
    }
    Ok(out)
}

/// What the lower layers show at a path, with the upper layer's entry there taken away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Below {
    /// The layer that supplies it.
    pub layer: usize,
    /// Its type.
    pub kind: FileKind,
    /// Its size.
    pub size: u64,
    /// Its permission bits.
    pub mode: u32,
    /// For regular files: the layer that holds its data (differs for metacopy files).
    pub data_layer: Option<usize>,
    /// For directories, when asked for: some of its names (at most [`MAX_NAMES`]).
    pub children: Vec<Vec<u8>>,
    /// For directories, when asked for: how many names it holds.
    pub children_count: usize,
    /// For directories: the lower layers merged into it.
    pub layers: Vec<usize>,
}

/// How many hidden names an event lists.
pub const MAX_NAMES: usize = 20;

/// Where a redirect points, in the merged view and in the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSource {
    /// The merged path the redirect names (a relative redirect is resolved against the parent).
    pub from: Vec<u8>,
    /// The topmost lower layer the lookup reaches through it.
    pub layer: Option<usize>,
}

/// Reads what lies below the upper layer.
///
/// The lower layers' view of a merged path is found in two lookups: the parent is resolved in
/// the whole stack (so a redirect or an opaque directory in the upper layer counts), which
/// names the parent's topmost lower copy; then the child is resolved under that copy in the
/// stack of the lower layers alone — exactly the search the kernel makes below the upper layer.
/// Parents are cached for one batch.
#[derive(Debug)]
pub struct BelowReader<'m> {
    merger: &'m Merger,
    lowers: Option<&'m Merger>,
    upper: usize,
    parents: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'m> BelowReader<'m> {
    /// A reader over `merger`'s stack, whose layer `upper` (0) is the upper layer; `lowers` is
    /// the same stack without it (layer `i` there is layer `i + 1` here).
    #[must_use]
    pub fn new(merger: &'m Merger, lowers: Option<&'m Merger>, upper: usize) -> Self {
        BelowReader {
            merger,
            lowers,
            upper,
            parents: HashMap::new(),
        }
    }

    /// The lower layers' path of merged directory `parent`: the path of its topmost lower copy.
    fn lower_parent(&mut self, parent: &[u8]) -> Option<Vec<u8>> {
        if let Some(known) = self.parents.get(parent) {
            return known.clone();
        }
        let found = self
            .merger
            .resolve(parent)
            .ok()
            .and_then(|r| r.entry)
            .and_then(|e| e.dir)
            .and_then(|d| d.layers.into_iter().find(|l| l.layer != self.upper))
            .map(|l| merged_of(&l.rel));
        self.parents.insert(parent.to_vec(), found.clone());
        found
    }

    /// What the lower layers show at merged `path`, as the kernel would see it if the upper
    /// layer had nothing there. `children` also counts (and names some of) a directory's
    /// entries.
    pub fn below(&mut self, path: &[u8], children: bool) -> Option<Below> {
        if path == b"/" {
            return None;
        }
        let lowers = self.lowers?;
        let (parent, name) = split_merged(path);
        let lower_parent = self.lower_parent(parent)?;
        let e = lowers
            .resolve(&crate::merge::join_merged(&lower_parent, name))
            .ok()?
            .entry?;
        // Layer i of the lowers-only stack is layer i + 1 of the whole stack.
        let shift = |l: usize| l + 1;
        let data_layer = match (&e.data, e.kind) {
            (Some(DataSource::Found { layer, .. }), _) => Some(shift(*layer)),
            (None, FileKind::File) => Some(shift(e.layer)),
            _ => None,
        };
        let mut b = Below {
            layer: shift(e.layer),
            kind: e.kind,
            size: e.meta.size,
            mode: e.meta.mode,
            data_layer,
            children: Vec::new(),
            children_count: 0,
            layers: e.merged_layers().into_iter().map(shift).collect(),
        };
        if children
            && e.kind == FileKind::Dir
            && let Ok(listing) = lowers.list(&e)
        {
            b.children_count = listing.entries.len();
            b.children = listing
                .entries
                .iter()
                .take(MAX_NAMES)
                .map(|c| split_merged(&c.path).1.to_vec())
                .collect();
        }
        Some(b)
    }

    /// Where the redirect `value` of the upper entry at `path` leads.
    #[must_use]
    pub fn redirect_source(&self, path: &[u8], value: &[u8]) -> RedirectSource {
        let from = if value.starts_with(b"/") {
            value.to_vec()
        } else {
            crate::merge::join_merged(split_merged(path).0, value)
        };
        let layer = self.merger.resolve(path).ok().and_then(|r| {
            r.versions
                .iter()
                .find(|v| {
                    v.layer != self.upper
                        && matches!(
                            v.role,
                            VersionRole::Merged
                                | VersionRole::Data
                                | VersionRole::MetacopyChain
                                | VersionRole::Supplies
                        )
                })
                .map(|v| v.layer)
        });
        RedirectSource { from, layer }
    }
}

/// Whether `path` is `dir` or lies under it (both upper-relative or both merged).
#[must_use]
pub fn is_within(path: &[u8], dir: &[u8]) -> bool {
    if dir.is_empty() || dir == b"/" {
        return true;
    }
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// Whether `path` lies strictly under `dir`.
#[must_use]
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    path.len() != dir.len() && is_within(path, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_nest() {
        assert_eq!(split_merged(b"/a/b"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_merged(b"/a"), (&b"/"[..], &b"a"[..]));
        assert_eq!(split_rel(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_rel(b"a"), (&b""[..], &b"a"[..]));
        assert!(is_under(b"/a/b", b"/a"));
        assert!(!is_under(b"/ab", b"/a"));
        assert!(!is_under(b"/a", b"/a"));
        assert!(is_under(b"/a", b"/"));
        assert!(is_under(b"a/b", b"a"));
        assert_eq!(merged_of(b"a/b"), b"/a/b");
        assert_eq!(merged_of(b""), b"/");
    }
}
