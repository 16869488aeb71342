//! The kernel's merge rules, applied to layer directories: which layer supplies each path of
//! the merged view, what it hides, and why.
//!
//! The algorithm follows `ovl_lookup` (fs/overlayfs/namei.c) one name at a time, and readdir
//! (fs/overlayfs/readdir.c) for listings, as the kernel's Documentation/filesystems/overlayfs.rst
//! describes them. A directory of the merged view carries its *stack*: the real
//! directories, top-down, that merge into it. Children are looked up in that stack only.

mod alias;
mod index;
mod listing;
mod lookup;
pub mod markers;
pub mod walk;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::fsio::LayerRoot;
use crate::stack::{LayerRole, LayerStack};

pub use listing::{Chunks, Listing};
// Defined with the layer reader, below the merge; named here too, where the merged view uses them.
pub use crate::fsio::{FileKind, join_rel};

/// Why a deeper layer's version of a path is not what the merged view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum HiddenReason {
    /// A non-directory at layer `by` (or the merged object from there) covers it.
    Shadowed {
        /// The layer whose entry wins.
        by: usize,
    },
    /// A whiteout at layer `at` deletes it.
    WhitedOut {
        /// The whiteout's layer.
        at: usize,
    },
    /// An opaque directory at layer `at` (here or at an ancestor) cuts off everything below.
    Opaque {
        /// The opaque directory's layer.
        at: usize,
    },
    /// A non-directory at layer `at` ends the merge of the directory above it.
    CutByNonDir {
        /// The non-directory's layer.
        at: usize,
    },
    /// Layer `at` redirects lookups of this path elsewhere, so this copy is never consulted.
    Redirected {
        /// The layer holding the redirect.
        at: usize,
    },
    /// With `nfs_export=on` the kernel merges an upper directory only with the lower copy its
    /// `origin` names; the upper directory at layer `at` names another, so this copy and every
    /// one below take no part.
    NotOrigin {
        /// The upper directory's layer.
        at: usize,
    },
}

impl HiddenReason {
    /// The layer that causes the hiding.
    #[must_use]
    pub fn layer(self) -> usize {
        match self {
            HiddenReason::Shadowed { by } => by,
            HiddenReason::WhitedOut { at }
            | HiddenReason::Opaque { at }
            | HiddenReason::CutByNonDir { at }
            | HiddenReason::Redirected { at }
            | HiddenReason::NotOrigin { at } => at,
        }
    }

    /// A short human phrase: "whited out at layer 0".
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            HiddenReason::Shadowed { by } => format!("shadowed by layer {by}"),
            HiddenReason::WhitedOut { at } => format!("whited out at layer {at}"),
            HiddenReason::Opaque { at } => format!("cut off by an opaque directory at layer {at}"),
            HiddenReason::CutByNonDir { at } => format!("cut off by a non-directory at layer {at}"),
            HiddenReason::Redirected { at } => format!("bypassed by a redirect at layer {at}"),
            HiddenReason::NotOrigin { at } => format!(
                "not merged: the directory at layer {at} records another origin (nfs_export=on)"
            ),
        }
    }
}

/// What one layer's version of a path does in the merged view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionRole {
    /// It is the merged object (for a directory: the topmost copy, which gives the metadata).
    Supplies,
    /// A deeper directory merged into the directory's listing.
    Merged,
    /// The file holding the data of a metacopy file above.
    Data,
    /// An intermediate metacopy file passed over on the way to the data.
    MetacopyChain,
    /// A whiteout marker that deletes the lower versions.
    Whiteout,
    /// A version the merged view does not show.
    Hidden(HiddenReason),
}

/// One layer's version of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The layer index.
    pub layer: usize,
    /// The path inside the layer (differs from the merged path after a redirect).
    pub rel: Vec<u8>,
    /// What is on disk there.
    pub kind: FileKind,
    /// What it does.
    pub role: VersionRole,
}

/// A real directory inside one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDir {
    /// The layer index.
    pub layer: usize,
    /// The directory's path inside the layer, no leading slash; empty for the layer root.
    pub rel: Vec<u8>,
}

/// The real directories behind one merged directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirStack {
    /// The copies merged into it, top-down. Children are looked up in these only.
    pub layers: Vec<LayerDir>,
    /// Deeper copies that take no part, and why; read only to explain what is hidden.
    pub cut: Vec<(LayerDir, HiddenReason)>,
    /// The kernel's "merge dir" (`OVL_WHITEOUTS`): readdir filters whiteouts only when set.
    pub merge_dir: bool,
    /// A lower copy is marked `opaque=x`: readdir hides its xattr whiteouts.
    pub xwhiteouts: bool,
    /// The upper copy is marked `impure=y` (the kernel's `OVL_IMPURE`): readdir of a merge dir
    /// then looks up every name whose top copy is in the upper, and drops the ones lookup does
    /// not find (`ovl_calc_d_ino`, `ovl_cache_update` in readdir.c).
    pub impure: bool,
    /// Lower copies in this stack that another merged directory also reaches (a crafted
    /// redirect whose origin is still visible), each with that directory's path: the files
    /// such a copy holds are one kernel inode under two paths (see `alias.rs`).
    pub aliases: Vec<(LayerDir, Vec<u8>)>,
}

/// File metadata, from the entry that supplies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// `st_size` (for metacopy files: the metacopy file's, as the kernel reports).
    pub size: u64,
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: u32,
    /// Device numbers for char and block devices.
    pub rdev: (u32, u32),
    /// Link count (`st_nlink`) of the supplying entry.
    pub nlink: u64,
    /// `st_blocks` (512-byte units) of the supplying entry: with `size` and `nlink`, what
    /// `waste` counts, so it need not stat the file again.
    pub blocks: u64,
}

/// Where a metacopy file's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A regular file in layer `layer` at `rel`.
    Found {
        /// The layer index.
        layer: usize,
        /// The path inside the layer.
        rel: Vec<u8>,
    },
    /// A data-only layer should hold it, but none does: stat works, and the kernel fails the
    /// open with ENOENT (the lazy lookup `ovl_lookup_data_redirect`).
    Missing,
}

/// One path of the merged view, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The merged path, starting with `/`.
    pub path: Vec<u8>,
    /// Its type.
    pub kind: FileKind,
    /// The layer that supplies it.
    pub layer: usize,
    /// The path inside that layer.
    pub rel: Vec<u8>,
    /// Metadata.
    pub meta: Meta,
    /// Symlink target.
    pub target: Option<Vec<u8>>,
    /// For metacopy files: where the data is.
    pub data: Option<DataSource>,
    /// The supplying directory is opaque (`opaque=y`).
    pub opaque: bool,
    /// The supplying entry's redirect, when it has one.
    pub redirect: Option<Vec<u8>>,
    /// Every layer's version of this path, top-down.
    pub versions: Vec<Version>,
    /// For directories: the copies behind it.
    pub dir: Option<DirStack>,
}

impl Entry {
    /// The versions this entry hides, with their reasons.
    pub fn hidden(&self) -> impl Iterator<Item = (&Version, HiddenReason)> {
        self.versions.iter().filter_map(|v| match v.role {
            VersionRole::Hidden(r) => Some((v, r)),
            _ => None,
        })
    }

    /// For directories: the layers merged into it, top-down.
    #[must_use]
    pub fn merged_layers(&self) -> Vec<usize> {
        self.dir
            .as_ref()
            .map(|d| d.layers.iter().map(|l| l.layer).collect())
            .unwrap_or_default()
    }
}

/// A name readdir lists that lookup refuses or cannot find: shown as such, never as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The merged path.
    pub path: Vec<u8>,
    /// The layer whose entry readdir shows.
    pub layer: usize,
    /// Why lookup does not give a file.
    pub reason: String,
}

/// The result of looking a path up, found or not, with every version of it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The merged path (normalised).
    pub path: Vec<u8>,
    /// The entry, when the path exists in the merged view.
    pub entry: Option<Entry>,
    /// Every version of the path, top-down (the entry's own when it exists).
    pub versions: Vec<Version>,
    /// Why the kernel refuses the path, when it does (EIO, EPERM, EINVAL...).
    pub error: Option<String>,
}

/// An opened stack, ready to answer lookups and listings.
#[derive(Debug)]
pub struct Merger {
    stack: LayerStack,
    roots: Vec<LayerRoot>,
    /// Index of the bottom normal layer: the kernel reads no opaque or redirect there.
    bottom: usize,
    /// Per layer: it has shown an `opaque=x` directory (the kernel's `has_xwhiteouts`).
    has_xwhiteouts: Vec<AtomicBool>,
    /// Every layer is on one filesystem (the kernel's `ovl_same_fs`): only then does readdir
    /// of an impure directory look its upper entries up (without `xino`, the default).
    same_fs: bool,
    /// `xino` is in effect: the layers span filesystems and `xino=` is not off, so the kernel
    /// computes every merged directory entry's inode number by looking the name up
    /// (`ovl_xino_bits`, `ovl_calc_d_ino`).
    xino: bool,
    /// With `index=on` and an upper layer: the index directory's entries.
    index: Option<index::Index>,
    /// The upper layer's directories with an absolute redirect, read once when first needed.
    upper_redirects: std::sync::OnceLock<alias::UpperRedirects>,
}

impl Merger {
    /// Opens every layer of a stack.
    ///
    /// # Errors
    /// A layer directory is missing or unreadable, or the stack has no normal layer.
    pub fn open(stack: &LayerStack) -> Result<Self> {
        let bottom = stack.tree_layers().last().ok_or_else(|| {
            Error::BadInput(format!(
                "stack '{}' has no lower or upper layer",
                stack.name
            ))
        })?;
        let roots = stack
            .layers
            .iter()
            .map(|l| l.open())
            .collect::<Result<Vec<_>>>()?;
        let has_xwhiteouts = stack
            .layers
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        let devs: Vec<Option<u64>> = roots
            .iter()
            .map(|r| {
                r.open_dir(b"")
                    .and_then(|fd| fd.lstat(b"."))
                    .ok()
                    .map(|s| s.st_dev)
            })
            .collect();
        let same_fs = devs.windows(2).all(|w| w[0] == w[1]);
        Ok(Merger {
            stack: stack.clone(),
            roots,
            bottom,
            has_xwhiteouts,
            same_fs,
            xino: !same_fs && stack.options.xino != crate::stack::Xino::Off,
            index: (stack.options.index && stack.has_upper())
                .then(|| index::Index::read(stack.workdir.as_deref())),
            upper_redirects: std::sync::OnceLock::new(),
        })
    }

    /// The stack this merger reads.
    #[must_use]
    pub fn stack(&self) -> &LayerStack {
        &self.stack
    }

    /// The on-disk path of `rel` in layer `layer`.
    #[must_use]
    pub fn source_path(&self, layer: usize, rel: &[u8]) -> PathBuf {
        self.roots[layer].join(rel)
    }

    fn root_of(&self, layer: usize) -> &LayerRoot {
        &self.roots[layer]
    }

    fn is_upper(&self, layer: usize) -> bool {
        self.stack.layers[layer].role == LayerRole::Upper
    }

    /// The kernel's `ovl_same_dev`: one filesystem, or `xino` in effect. Only then does readdir
    /// of an impure directory look its names up.
    fn same_dev(&self) -> bool {
        self.same_fs || self.xino
    }

    fn mark_xwhiteouts(&self, layer: usize) {
        self.has_xwhiteouts[layer].store(true, Ordering::Relaxed);
    }

    fn layer_has_xwhiteouts(&self, layer: usize) -> bool {
        self.has_xwhiteouts[layer].load(Ordering::Relaxed)
    }

    /// Opens a metacopy file's data, or any regular file's content, read-only.
    ///
    /// # Errors
    /// The entry is not a regular file, its data is missing, or the file cannot be opened.
    pub fn open_content(&self, entry: &Entry) -> Result<crate::fsio::LayerFile> {
        let path = crate::escape::display(&entry.path);
        if entry.kind != FileKind::File {
            return Err(Error::BadInput(format!(
                "'{path}' is a {}, not a regular file",
                entry.kind.as_str()
            )));
        }
        let (layer, rel) = match &entry.data {
            Some(DataSource::Found { layer, rel }) => (*layer, rel.as_slice()),
            Some(DataSource::Missing) => {
                return Err(Error::Lookup {
                    path,
                    reason:
                        "metacopy file whose data is in no data-only layer (opening it gives ENOENT)"
                            .into(),
                });
            }
            None => (entry.layer, entry.rel.as_slice()),
        };
        self.root_of(layer)
            .open_file(rel)
            .map_err(|e| Error::io("opening", self.source_path(layer, rel), e))
    }
}

/// Joins a merged directory path and a child name.
#[must_use]
pub fn join_merged(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}
