//! Resolving merged paths from the root, and walking the merged tree parents-first.

use std::os::fd::AsFd;

use super::lookup::Outcome;
use super::markers::read_markers;
use super::{
    Anomaly, DirStack, Entry, FileKind, LayerDir, Merger, Meta, Resolved, Version, VersionRole,
};
use crate::error::{Error, Result};

/// Splits a merged path into components, resolving `.` and `..` lexically; `..` never climbs
/// above the root.
#[must_use]
pub fn components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}

/// Builds the merged path of components.
#[must_use]
pub fn merged_path(parts: &[Vec<u8>]) -> Vec<u8> {
    if parts.is_empty() {
        return b"/".to_vec();
    }
    parts
        .iter()
        .flat_map(|c| std::iter::once(b'/').chain(c.iter().copied()))
        .collect()
}

impl Merger {
    /// The merged root: every layer's root takes part, whatever markers it carries.
    ///
    /// # Errors
    /// The top layer's root cannot be read.
    pub fn root(&self) -> Result<Entry> {
        let layers: Vec<LayerDir> = self
            .stack
            .tree_layers()
            .map(|layer| LayerDir {
                layer,
                rel: Vec::new(),
            })
            .collect();
        let top = layers[0].layer;
        let root = self.root_of(top);
        let fd = root
            .open_dir(b"")
            .map_err(|e| Error::io("reading directory", root.path(), e))?;
        let stat = crate::fsio::lstat_at(fd.as_fd(), b".")
            .map_err(|e| Error::io("reading", root.path(), e))?;
        let ns = self.stack.options.xattr;
        let top_markers = read_markers(fd.as_fd(), b"", ns).unwrap_or_default();
        // At mount time the kernel checks every lower root but the last for opaque=x.
        let mut xwhiteouts = false;
        for d in &layers {
            if self.is_upper(d.layer) || d.layer == self.bottom {
                continue;
            }
            let marked = self
                .root_of(d.layer)
                .open_dir(b"")
                .and_then(|fd| read_markers(fd.as_fd(), b"", ns))
                .is_ok_and(|m| m.opaque_byte() == Some(b'x'));
            if marked {
                xwhiteouts = true;
                self.mark_xwhiteouts(d.layer);
            }
        }
        let versions = layers
            .iter()
            .enumerate()
            .map(|(i, d)| Version {
                layer: d.layer,
                rel: Vec::new(),
                kind: FileKind::Dir,
                role: if i == 0 {
                    VersionRole::Supplies
                } else {
                    VersionRole::Merged
                },
            })
            .collect();
        Ok(Entry {
            path: b"/".to_vec(),
            kind: FileKind::Dir,
            layer: top,
            rel: Vec::new(),
            meta: Meta {
                size: u64::try_from(stat.st_size).unwrap_or(0),
                mode: stat.st_mode & 0o7777,
                uid: stat.st_uid,
                gid: stat.st_gid,
                mtime: stat.st_mtime,
                mtime_nsec: u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
                rdev: (0, 0),
            },
            target: None,
            data: None,
            opaque: false,
            redirect: None,
            versions,
            dir: Some(DirStack {
                // "Root is always merge -> can have whiteouts" (ovl_get_root).
                merge_dir: true,
                layers,
                cut: Vec::new(),
                xwhiteouts,
                impure: self.is_upper(top) && top_markers.impure,
            }),
        })
    }

    /// Looks a merged path up from the root, component by component, keeping every version of
    /// the last component even when it does not exist in the merged view.
    ///
    /// # Errors
    /// A layer directory cannot be read.
    pub fn resolve(&self, path: &[u8]) -> Result<Resolved> {
        let parts = components(path);
        let root = self.root()?;
        let mut parent_path = b"/".to_vec();
        let mut parent: DirStack = root.dir.clone().unwrap_or_default();
        let mut current = Resolved {
            path: b"/".to_vec(),
            versions: root.versions.clone(),
            entry: Some(root),
            error: None,
        };
        for (k, comp) in parts.iter().enumerate() {
            let mut ignored: Vec<Anomaly> = Vec::new();
            let fds = self.open_stack(&parent_path, &parent, &mut ignored)?;
            let here = merged_path(&parts[..=k]);
            let last = k + 1 == parts.len();
            match self.lookup_child(&parent_path, &parent, &fds, comp, None) {
                Outcome::Found(entry) => {
                    let dir = entry.dir.clone();
                    current = Resolved {
                        path: here.clone(),
                        versions: entry.versions.clone(),
                        entry: Some(entry),
                        error: None,
                    };
                    match dir {
                        Some(d) => parent = d,
                        None if last => {}
                        None => {
                            return Ok(Resolved {
                                path: merged_path(&parts),
                                entry: None,
                                versions: Vec::new(),
                                error: Some(format!(
                                    "'{}' is not a directory",
                                    crate::escape::display(&here)
                                )),
                            });
                        }
                    }
                }
                Outcome::Absent { versions, ghost } => {
                    current = Resolved {
                        path: here.clone(),
                        entry: None,
                        versions,
                        error: None,
                    };
                    parent = ghost;
                }
                Outcome::Refused { versions, reason } => {
                    current = Resolved {
                        path: here.clone(),
                        entry: None,
                        versions,
                        error: Some(reason),
                    };
                    parent = DirStack::default();
                }
            }
            parent_path = here;
        }
        Ok(current)
    }

    /// Looks up a merged path that must exist.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it does not exist, [`Error::Lookup`] when the kernel would refuse it.
    pub fn entry(&self, path: &[u8]) -> Result<Entry> {
        let r = self.resolve(path)?;
        let shown = crate::escape::display(&r.path);
        match (r.entry, r.error) {
            (Some(e), _) => Ok(e),
            (None, Some(reason)) => Err(Error::Lookup {
                path: shown,
                reason,
            }),
            (None, None) => Err(Error::NotFound(shown)),
        }
    }

    /// Walks the merged tree under `start` (not included), parents before children, siblings
    /// in name order; each directory's anomalies come before its entries.
    ///
    /// # Errors
    /// A layer directory cannot be read, or `visit` fails.
    pub fn walk<E: From<Error>>(
        &self,
        start: &Entry,
        recursive: bool,
        visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let Some(dir) = &start.dir else { return Ok(()) };
        let listing = self.list_dir(&start.path, dir)?;
        for a in &listing.anomalies {
            visit(Visit::Anomaly(a))?;
        }
        for e in &listing.entries {
            visit(Visit::Entry(e))?;
            if recursive && e.kind == FileKind::Dir {
                self.walk(e, true, visit)?;
            }
        }
        Ok(())
    }
}

/// What a walk reports.
#[derive(Debug, Clone, Copy)]
pub enum Visit<'a> {
    /// A path of the merged view.
    Entry(&'a Entry),
    /// A name readdir shows that lookup refuses.
    Anomaly(&'a Anomaly),
}

impl Merger {
    /// Looks a path up following symlinks inside the merged view, as the VFS would on the
    /// mount: an absolute target starts again at the merged root, and `..` never climbs above
    /// it. Nothing is ever resolved on the host.
    ///
    /// # Errors
    /// A component does not exist, is not a directory, or there are more than 40 links.
    pub fn follow(&self, path: &[u8]) -> Result<Entry> {
        let mut todo: std::collections::VecDeque<Vec<u8>> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            match c.as_slice() {
                b"." => continue,
                b".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(c);
            let here = merged_path(&done);
            let e = self.entry(&here)?;
            if e.kind != FileKind::Symlink {
                continue;
            }
            hops += 1;
            if hops > 40 {
                return Err(Error::Lookup {
                    path: crate::escape::display(path),
                    reason: "too many levels of symbolic links".into(),
                });
            }
            done.pop();
            let target = e.target.unwrap_or_default();
            if target.starts_with(b"/") {
                done.clear();
            }
            for part in target.split(|&b| b == b'/').filter(|c| !c.is_empty()).rev() {
                todo.push_front(part.to_vec());
            }
        }
        self.entry(&merged_path(&done))
    }
}
