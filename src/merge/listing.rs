//! Listing a merged directory as readdir and lookup see it together: the names readdir gives,
//! each resolved by lookup; names lookup refuses become anomalies, never files.

use std::os::fd::{AsFd, OwnedFd};

use super::lookup::Outcome;
use super::{Anomaly, DirStack, Entry, FileKind, Merger, VersionRole, join_merged};
use crate::error::{Error, Result};
use crate::fsio;

/// The merged content of one directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// Entries, sorted by name bytes.
    pub entries: Vec<Entry>,
    /// Names readdir shows that lookup refuses or cannot find.
    pub anomalies: Vec<Anomaly>,
}

impl Merger {
    /// Opens the real directories behind `dir`: its stack, then its cut copies.
    ///
    /// A copy that vanished or sits behind a mount point yields `None` and, for the stack, an
    /// anomaly; an unreadable one is an error.
    pub(super) fn open_stack(
        &self,
        path: &[u8],
        dir: &DirStack,
        anomalies: &mut Vec<Anomaly>,
    ) -> Result<Vec<Option<OwnedFd>>> {
        let all = dir
            .layers
            .iter()
            .map(|d| (d, true))
            .chain(dir.cut.iter().map(|(d, _)| (d, false)));
        let mut fds = Vec::new();
        for (d, in_stack) in all {
            match self.root_of(d.layer).open_dir(&d.rel) {
                Ok(fd) => fds.push(Some(fd)),
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    if in_stack {
                        anomalies.push(Anomaly {
                            path: path.to_vec(),
                            layer: d.layer,
                            reason: "a mount point inside the layer: overlay does not see what is mounted there, and neither do we".into(),
                        });
                    }
                    fds.push(None);
                }
                Err(e) if !in_stack && e.raw_os_error() == Some(libc::ENOENT) => fds.push(None),
                Err(e) => {
                    return Err(Error::io(
                        "reading directory",
                        self.source_path(d.layer, &d.rel),
                        e,
                    ));
                }
            }
        }
        Ok(fds)
    }

    /// Lists the merged directory `entry` (which must be a directory).
    ///
    /// # Errors
    /// A layer directory cannot be read (it vanished, or permission is denied).
    pub fn list(&self, entry: &Entry) -> Result<Listing> {
        let Some(dir) = &entry.dir else {
            return Err(Error::BadInput(format!(
                "'{}' is not a directory",
                crate::escape::display(&entry.path)
            )));
        };
        self.list_dir(&entry.path, dir)
    }

    /// Lists the merged directory at `path` with stack `dir`.
    ///
    /// # Errors
    /// As [`Merger::list`].
    pub fn list_dir(&self, path: &[u8], dir: &DirStack) -> Result<Listing> {
        let mut out = Listing::default();
        let fds = self.open_stack(path, dir, &mut out.anomalies)?;
        let npos = fds.len();
        // Every (name, position, type), sorted so each name's positions come together, top first.
        let mut names: Vec<(Vec<u8>, usize, Option<FileKind>)> = Vec::new();
        for (pos, fd) in fds.iter().enumerate() {
            let Some(fd) = fd else { continue };
            let d = if pos < dir.layers.len() {
                &dir.layers[pos]
            } else {
                &dir.cut[pos - dir.layers.len()].0
            };
            let list = fsio::read_dir(fd.as_fd()).map_err(|e| {
                Error::io("reading directory", self.source_path(d.layer, &d.rel), e)
            })?;
            names.extend(list.into_iter().map(|(n, k)| (n, pos, k)));
        }
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        // An impure upper directory that is not a merge dir is listed as it is on disk, but
        // readdir first looks up each name (ovl_dir_read_impure) and fails as a whole, with
        // that error, when one lookup fails.
        let lists_by_lookup = !dir.merge_dir && dir.impure && self.same_fs;
        let mut unlistable: Option<(Vec<u8>, String)> = None;
        let mut presence: Vec<Option<Option<FileKind>>> = vec![None; npos];
        let mut start = 0;
        while start < names.len() {
            let mut end = start;
            presence.iter_mut().for_each(|p| *p = None);
            while end < names.len() && names[end].0 == names[start].0 {
                presence[names[end].1] = Some(names[end].2);
                end += 1;
            }
            let name = names[start].0.clone();
            let top = names[start].1;
            let top_dtype = names[start].2;
            start = end;
            if top >= dir.layers.len() {
                continue; // only in cut copies: not part of the merged directory at all
            }
            let layer = dir.layers[top].layer;
            let (marker, refused) = match self.lookup_child(path, dir, &fds, &name, Some(&presence))
            {
                Outcome::Found(e) => {
                    out.entries.push(e);
                    continue;
                }
                Outcome::Absent { versions, .. } => (
                    versions
                        .iter()
                        .find(|v| v.layer == layer && v.role == VersionRole::Whiteout)
                        .map(|v| v.kind),
                    None,
                ),
                Outcome::Refused { reason, .. } => {
                    if lists_by_lookup && unlistable.is_none() {
                        unlistable = Some((name.clone(), reason.clone()));
                    }
                    (None, Some(reason))
                }
            };
            if self.readdir_hides(dir, layer, top_dtype, marker) {
                continue;
            }
            let reason = match (refused, marker) {
                (Some(reason), _) => reason,
                (None, Some(_)) => "readdir lists this whiteout, but lookup finds nothing (readdir filters whiteouts only in merged directories: char 0/0 ones always, xattr ones in lower layers marked opaque=x and in impure upper directories)".into(),
                (None, None) => "readdir lists it, but lookup finds nothing".into(),
            };
            out.anomalies.push(Anomaly {
                path: join_merged(path, &name),
                layer,
                reason,
            });
        }
        self.refuse_shared_lower_dirs(&mut out);
        if let Some((name, reason)) = unlistable {
            out.anomalies.insert(
                0,
                Anomaly {
                    path: path.to_vec(),
                    layer: dir.layers.first().map_or(0, |d| d.layer),
                    reason: format!(
                        "the kernel cannot list this directory: it is impure, so readdir looks up \
                         every name, and the lookup of '{}' fails: {reason}",
                        crate::escape::display(&name)
                    ),
                },
            );
        }
        Ok(out)
    }

    /// Directories of one listing that share their topmost lower copy (one of them reaches it
    /// through a crafted redirect): the kernel hashes a directory's inode by that copy, so
    /// once one of them is looked up, the lookup of any other gives ESTALE (`ovl_verify_inode`
    /// in inode.c, "lookup of an uncovered redirect origin"). Which one wins depends on the
    /// order of lookups on the mount, so none of them is shown: each is an anomaly. Without an
    /// upper layer no copy can differ and the kernel shows them all.
    fn refuse_shared_lower_dirs(&self, out: &mut Listing) {
        if !self.stack.tree_layers().any(|l| self.is_upper(l)) {
            return;
        }
        fn first_lower<'e>(m: &Merger, e: &'e Entry) -> Option<(usize, &'e [u8])> {
            let d = e
                .dir
                .as_ref()?
                .layers
                .iter()
                .find(|d| !m.is_upper(d.layer))?;
            Some((d.layer, d.rel.as_slice()))
        }
        let mut keys: Vec<((usize, &[u8]), usize)> = out
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| first_lower(self, e).map(|k| (k, i)))
            .collect();
        if keys.len() < 2 {
            return;
        }
        keys.sort_unstable();
        let mut shared: Vec<(usize, String)> = Vec::new();
        for group in keys.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            let has_upper = group
                .iter()
                .any(|(_, i)| self.is_upper(out.entries[*i].layer));
            if !has_upper {
                continue;
            }
            let names: Vec<String> = group
                .iter()
                .map(|(_, i)| crate::escape::display(&out.entries[*i].path))
                .collect();
            let (layer, rel) = group[0].0;
            for (_, i) in group {
                shared.push((
                    *i,
                    format!(
                        "{} share the lower directory {} of layer {layer}: the kernel gives ESTALE \
                         to whichever of them is looked up after the first",
                        names.join(" and "),
                        crate::escape::display(rel)
                    ),
                ));
            }
        }
        if shared.is_empty() {
            return;
        }
        shared.sort_unstable_by_key(|(i, _)| *i);
        for (i, reason) in shared.into_iter().rev() {
            let e = out.entries.remove(i);
            out.anomalies.push(Anomaly {
                path: e.path,
                layer: e.layer,
                reason,
            });
        }
        out.anomalies.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// Whether the kernel's readdir hides a name that lookup does not resolve (absent, or
    /// refused). `layer` holds its topmost copy, of readdir type `dtype`; `marker` is that copy's
    /// kind when it is a whiteout.
    ///
    /// - A directory the kernel does not treat as merged passes readdir straight through.
    /// - In a merge dir, a char 0/0 topmost copy is dropped (`ovl_check_whiteouts`).
    /// - Readdir also *looks up* some names and drops every one lookup does not resolve,
    ///   whatever the reason, even an error (`ovl_iterate_merged`, `ovl_cache_update`): the
    ///   regular files of a layer marked `opaque=x` in a directory marked so (xattr
    ///   whiteouts), and every upper name of an impure directory when all layers share one
    ///   filesystem (`ovl_calc_d_ino`).
    fn readdir_hides(
        &self,
        dir: &DirStack,
        layer: usize,
        dtype: Option<FileKind>,
        marker: Option<FileKind>,
    ) -> bool {
        if !dir.merge_dir {
            return false;
        }
        if marker == Some(FileKind::Char) {
            return true;
        }
        let xwhiteout_check =
            dtype == Some(FileKind::File) && dir.xwhiteouts && self.layer_has_xwhiteouts(layer);
        let impure_check = dir.impure && self.same_fs && self.is_upper(layer);
        xwhiteout_check || impure_check
    }
}
