//! Looking up one name in a merged directory's stack, as `ovl_lookup` does, and recording
//! every version of it on the way.

use crate::fsio::DirHandle;

use super::markers::{
    OnDisk, Redirect, check_metacopy, check_redirect_component, parse_redirect, probe,
};
use super::{
    DataSource, DirStack, Entry, FileKind, HiddenReason, LayerDir, Merger, Meta, Version,
    VersionRole, join_merged, join_rel,
};

/// What a lookup found.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The name exists in the merged view.
    Found(Entry),
    /// It does not; `ghost` holds the deeper copies of a directory there, to explain them.
    Absent {
        versions: Vec<Version>,
        ghost: DirStack,
    },
    /// The kernel would refuse it (EIO, EPERM, EINVAL, ...).
    Refused {
        versions: Vec<Version>,
        reason: String,
    },
}

/// The name being looked up, as redirects rewrite it.
#[derive(Debug, Clone)]
enum Target {
    /// A name inside the parent's directories.
    Rel(Vec<u8>),
    /// A path from the root of each layer (after an absolute redirect).
    Abs(Vec<Vec<u8>>),
}

/// Where one search step looks.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// Position in the parent's stack.
    Pos(usize),
    /// The root of a layer (after an absolute redirect).
    Root(usize),
}

/// The kernel's `ovl_lookup_data`, plus what we record for provenance.
struct State {
    target: Target,
    stop: bool,
    is_dir: bool,
    metacopy: bool,
    absolute_redirect: bool,
    redirected_at: Option<usize>,
    xwhiteouts: bool,
    stop_cause: Option<HiddenReason>,
    consulted: Vec<(OnDisk, VersionRole)>,
    object: Option<usize>,
}

/// Open directories of a parent stack: one per `layers` position, then one per `cut` position.
pub(super) type ParentFds = [Option<DirHandle>];

/// Readdir's view of one name: its type in each parent position (layers then cut), if present.
pub(super) type Presence = [Option<Option<FileKind>>];

impl Merger {
    /// Looks up `name` in the directory `parent` (at merged path `parent_path`).
    ///
    /// `presence`, when the caller has read the parent's directories, says which positions
    /// hold the name, so absent layers cost no system call.
    pub(super) fn lookup_child(
        &self,
        parent_path: &[u8],
        parent: &DirStack,
        fds: &ParentFds,
        name: &[u8],
        presence: Option<&Presence>,
    ) -> Outcome {
        let follow = self.stack.options.redirect.follows();
        let has_data_layers = self.stack.data_layers().next().is_some();
        let mut st = State {
            target: Target::Rel(name.to_vec()),
            stop: false,
            is_dir: false,
            metacopy: false,
            absolute_redirect: false,
            redirected_at: None,
            xwhiteouts: false,
            stop_cause: None,
            consulted: Vec::new(),
            object: None,
        };
        let mut items: Vec<Item> = (0..parent.layers.len()).map(Item::Pos).collect();
        let mut lower_found = 0usize;
        let mut last = false;
        let mut error = None;
        let mut i = 0;
        while i < items.len() && !st.stop {
            let item = items[i];
            let layer = match item {
                Item::Pos(p) => parent.layers[p].layer,
                Item::Root(l) => l,
            };
            let is_upper = self.is_upper(layer);
            // The kernel reads no opaque or redirect xattr in the last layer it searches. With
            // data-only layers a non-directory has no last layer: the last normal layer's
            // redirect may lead into them, even with redirect_dir=nofollow.
            if st.is_dir || !has_data_layers {
                last = if follow {
                    layer == self.bottom
                } else {
                    i + 1 == items.len()
                };
            }
            let found = match self
                .lookup_in_layer(&mut st, item, parent, fds, name, presence, last, is_upper)
            {
                Ok(f) => f,
                Err(reason) => {
                    error = Some(reason);
                    break;
                }
            };
            let Some(this) = found else {
                i += 1;
                continue;
            };
            let this_is_metacopy = this.is_metacopy();
            // ovl_check_follow_redirect (6.15+): a metacopy file or a redirect the mount does
            // not allow is refused as soon as the lookup meets it, in the upper as in a lower,
            // whatever lies below. The one exception is a metacopy file in the last normal
            // lower layer whose absolute redirect points into the data-only layers: its data
            // is looked up there lazily, with neither metacopy=on nor redirects followed.
            let data_redirect = this_is_metacopy
                && layer == self.bottom
                && has_data_layers
                && this
                    .markers
                    .redirect
                    .as_deref()
                    .is_some_and(|r| r.starts_with(b"/"));
            let refusal = if this_is_metacopy && !self.stack.options.metacopy && !data_redirect {
                Some(
                    "refusing to follow a metacopy file without metacopy=on (the kernel gives EPERM)",
                )
            } else if st.redirected_at == Some(layer) && !follow && !data_redirect {
                Some(
                    "refusing to follow a redirect with redirect_dir=nofollow (the kernel gives EPERM)",
                )
            } else {
                None
            };
            if let Some(reason) = refusal {
                error = Some(reason.into());
                let role = if st.object.is_none() {
                    VersionRole::Supplies
                } else {
                    VersionRole::MetacopyChain
                };
                st.consulted.push((this, role));
                break;
            }
            // nfs_export=on: an upper directory merges only with the lower copy its origin
            // names (ovl_verify_origin); another first lower copy ends the merge there.
            if let Some(upper) = st.object.map(|o| &st.consulted[o].0)
                && !is_upper
                && lower_found == 0
                && this.kind == FileKind::Dir
                && self.stack.options.nfs_export
                && self.is_upper(upper.layer)
                && upper.markers.origin
                && !self.origin_names(upper, &this)
            {
                st.stop_cause = Some(HiddenReason::NotOrigin { at: upper.layer });
                break;
            }
            if !is_upper {
                lower_found += 1;
            }
            let role = match st.object {
                None => VersionRole::Supplies,
                Some(_) if this.kind == FileKind::Dir => VersionRole::Merged,
                Some(_) if this_is_metacopy => VersionRole::MetacopyChain,
                Some(_) => VersionRole::Data,
            };
            st.consulted.push((this, role));
            if st.object.is_none() {
                st.object = Some(st.consulted.len() - 1);
            }
            // After an absolute redirect, the layers below are searched from their roots.
            if matches!(st.target, Target::Abs(_)) && matches!(item, Item::Pos(_)) {
                items = self
                    .stack
                    .tree_layers()
                    .filter(|&l| l > layer)
                    .map(Item::Root)
                    .collect();
                i = 0;
                continue;
            }
            i += 1;
        }

        let mut versions = self.collect_versions(&st, parent, fds, name, presence);
        if let Some(reason) = error {
            return Outcome::Refused { versions, reason };
        }
        let Some(obj) = st.object else {
            let ghost = DirStack {
                cut: hidden_dirs(&versions),
                ..DirStack::default()
            };
            return Outcome::Absent { versions, ghost };
        };
        let object = &st.consulted[obj].0;
        // ovl_lookup_index: a lower non-directory with other names may be shown as the copy
        // made through one of them.
        if let Some(index) = &self.index
            && !self.is_upper(object.layer)
            && object.kind != FileKind::Dir
            && object.stat.st_nlink > 1
        {
            let (dir, name) = split_parent(&object.rel);
            let covered = match self.root_of(object.layer).open_dir(dir) {
                Ok(fd) => fd.fd().and_then(|fd| index.covers(fd, name)),
                Err(_) => Some(format!(
                    "{}: its inode's index entry cannot be checked",
                    super::index::REASON_PREFIX
                )),
            };
            if let Some(reason) = covered {
                return Outcome::Refused { versions, reason };
            }
        }
        // ovl_lookup_index again: an origin whose index entry does not fit is refused.
        if self.index.is_some() {
            let upper = self.is_upper(object.layer);
            let first_lower = st
                .consulted
                .iter()
                .map(|(d, _)| d)
                .find(|d| !self.is_upper(d.layer));
            let refusal = match object.kind {
                FileKind::Dir => first_lower.and_then(|o| self.index_refuses(object, Some(o))),
                _ if upper && object.markers.origin => self.index_refuses(object, None),
                _ if !upper && (object.stat.st_nlink > 1 || self.stack.options.nfs_export) => {
                    self.index_refuses(object, Some(object))
                }
                _ => None,
            };
            if let Some(reason) = refusal {
                return Outcome::Refused { versions, reason };
            }
        }
        let mut data = None;
        if object.kind == FileKind::File && object.is_metacopy() {
            if st.metacopy {
                // The chain ended without data: only data-only layers can still supply it.
                if lower_found > 0 && has_data_layers && st.absolute_redirect {
                    let Target::Abs(parts) = &st.target else {
                        unreachable!("absolute redirect sets Abs")
                    };
                    data = Some(self.lookup_data_only(parts));
                } else {
                    return Outcome::Refused {
                        versions,
                        reason: "metacopy file with no lower data found (the kernel gives EIO)"
                            .into(),
                    };
                }
            } else if let Some((d, _)) = st
                .consulted
                .iter()
                .rev()
                .find(|(_, r)| *r == VersionRole::Data)
            {
                data = Some(DataSource::Found {
                    layer: d.layer,
                    rel: d.rel.clone(),
                });
            }
        }
        if let Some(DataSource::Found { layer, rel }) = &data
            && !versions.iter().any(|v| v.layer == *layer && v.rel == *rel)
        {
            versions.push(Version {
                layer: *layer,
                rel: rel.clone(),
                kind: FileKind::File,
                role: VersionRole::Data,
            });
        }
        let target = if object.kind == FileKind::Symlink {
            self.read_link_in(parent, fds, object).ok()
        } else {
            None
        };
        let dir = (object.kind == FileKind::Dir).then(|| {
            let layers: Vec<LayerDir> = st
                .consulted
                .iter()
                .filter(|(d, r)| {
                    d.kind == FileKind::Dir
                        && matches!(r, VersionRole::Supplies | VersionRole::Merged)
                })
                .map(|(d, _)| LayerDir {
                    layer: d.layer,
                    rel: d.rel.clone(),
                })
                .collect();
            DirStack {
                merge_dir: layers.len() > 1 || object.markers.origin,
                layers,
                cut: hidden_dirs(&versions),
                xwhiteouts: st.xwhiteouts,
                impure: self.is_upper(object.layer) && object.markers.impure,
                aliases: Vec::new(),
            }
        });
        let s = &object.stat;
        Outcome::Found(Entry {
            path: join_merged(parent_path, name),
            kind: object.kind,
            layer: object.layer,
            rel: object.rel.clone(),
            meta: Meta {
                size: u64::try_from(s.st_size).unwrap_or(0),
                mode: s.st_mode & 0o7777,
                uid: s.st_uid,
                gid: s.st_gid,
                mtime: s.st_mtime,
                mtime_nsec: u32::try_from(s.st_mtime_nsec).unwrap_or(0),
                rdev: (rustix::fs::major(s.st_rdev), rustix::fs::minor(s.st_rdev)),
                // `st_nlink` is u32 on some targets.
                #[allow(clippy::useless_conversion)]
                nlink: u64::from(s.st_nlink),
                blocks: u64::try_from(s.st_blocks).unwrap_or(0),
            },
            target,
            data,
            opaque: object.kind == FileKind::Dir && object.markers.opaque_byte() == Some(b'y'),
            redirect: object.markers.redirect.clone(),
            versions,
            dir,
        })
    }

    /// One layer's part of the lookup: `ovl_lookup_layer` and `ovl_lookup_single`.
    #[allow(clippy::too_many_arguments)]
    fn lookup_in_layer(
        &self,
        st: &mut State,
        item: Item,
        parent: &DirStack,
        fds: &ParentFds,
        name: &[u8],
        presence: Option<&Presence>,
        last: bool,
        is_upper: bool,
    ) -> Result<Option<OnDisk>, String> {
        let ns = self.stack.options.xattr;
        let io_err = |e: std::io::Error| format!("cannot read the layer: {e}");
        match (item, st.target.clone()) {
            (Item::Pos(p), Target::Rel(n)) => {
                let dir = &parent.layers[p];
                // A redirected name is checked before it is used (never `..`).
                check_redirect_component(&n)?;
                // Readdir already told us the name is not there: no system call.
                if n == name && presence.is_some_and(|pr| pr[p].is_none()) {
                    return Ok(None);
                }
                let Some(fd) = &fds[p] else { return Ok(None) };
                let e = probe(fd, &n, dir.layer, join_rel(&dir.rel, &n), ns).map_err(io_err)?;
                self.single(st, e, true, last, is_upper, &[], &[])
            }
            (_, Target::Abs(parts)) => {
                let layer = match item {
                    Item::Pos(p) => parent.layers[p].layer,
                    Item::Root(l) => l,
                };
                let root = self.root_of(layer);
                let mut rel: Vec<u8> = Vec::new();
                for (k, comp) in parts.iter().enumerate() {
                    check_redirect_component(comp)?;
                    let Ok(fd) = root.open_dir(&rel) else {
                        return Ok(None);
                    };
                    let child_rel = join_rel(&rel, comp);
                    let e = probe(&fd, comp, layer, child_rel.clone(), ns).map_err(io_err)?;
                    let end = k + 1 == parts.len();
                    let found =
                        self.single(st, e, end, last, is_upper, &parts[..k], &parts[k + 1..])?;
                    match found {
                        Some(f) if end => return Ok(Some(f)),
                        Some(f) if f.kind == FileKind::Dir => rel = child_rel,
                        _ => return Ok(None),
                    }
                }
                Ok(None)
            }
            (Item::Root(_), Target::Rel(_)) => {
                unreachable!("root items only follow absolute redirects")
            }
        }
    }

    /// `ovl_lookup_single`: applies the kernel's rules to one entry found (or not) on disk.
    #[allow(clippy::too_many_arguments)]
    fn single(
        &self,
        st: &mut State,
        e: Option<OnDisk>,
        last_element: bool,
        last: bool,
        is_upper: bool,
        prefix: &[Vec<u8>],
        post: &[Vec<u8>],
    ) -> Result<Option<OnDisk>, String> {
        let Some(e) = e else { return Ok(None) };
        if e.is_whiteout() {
            st.stop = true;
            st.stop_cause = Some(HiddenReason::WhitedOut { at: e.layer });
            if last_element {
                st.consulted.push((e, VersionRole::Whiteout));
            }
            return Ok(None);
        }
        let object_layer = st.object.map(|o| st.consulted[o].0.layer);
        if last_element && st.metacopy && e.kind != FileKind::File {
            st.stop = true;
            let by = object_layer.unwrap_or(e.layer);
            st.stop_cause = Some(HiddenReason::Shadowed { by });
            st.consulted
                .push((e, VersionRole::Hidden(HiddenReason::Shadowed { by })));
            return Ok(None);
        }
        if e.kind != FileKind::Dir {
            if st.is_dir || !last_element {
                st.stop = true;
                if last_element {
                    let by = object_layer.unwrap_or(e.layer);
                    st.stop_cause = Some(HiddenReason::CutByNonDir { at: e.layer });
                    st.consulted
                        .push((e, VersionRole::Hidden(HiddenReason::Shadowed { by })));
                }
                return Ok(None);
            }
            let metacopy = match &e.markers.metacopy {
                Some(v) if e.kind == FileKind::File => {
                    check_metacopy(v)?;
                    true
                }
                _ => false,
            };
            st.metacopy = metacopy;
            st.stop = !metacopy;
            if !metacopy {
                st.stop_cause = Some(HiddenReason::Shadowed {
                    by: object_layer.unwrap_or(e.layer),
                });
            }
            if !metacopy || last {
                return Ok(Some(e));
            }
        } else {
            if last_element {
                st.is_dir = true;
            }
            if last {
                return Ok(Some(e));
            }
            let val = e.markers.opaque_byte();
            if last_element && !is_upper && val == Some(b'x') {
                st.xwhiteouts = true;
                self.mark_xwhiteouts(e.layer);
            } else if val == Some(b'y') {
                st.stop = true;
                st.stop_cause = Some(HiddenReason::Opaque { at: e.layer });
                return Ok(Some(e));
            }
        }
        // ovl_check_redirect: rewrite the name the layers below are searched for.
        st.absolute_redirect = false;
        if let Some(value) = &e.markers.redirect {
            match parse_redirect(value)? {
                Redirect::Absolute(parts) => {
                    st.absolute_redirect = true;
                    st.stop = false;
                    st.target =
                        Target::Abs(parts.into_iter().chain(post.iter().cloned()).collect());
                }
                Redirect::Relative(n) => {
                    st.target = match &st.target {
                        Target::Rel(_) => Target::Rel(n),
                        Target::Abs(_) => Target::Abs(
                            prefix
                                .iter()
                                .cloned()
                                .chain([n])
                                .chain(post.iter().cloned())
                                .collect(),
                        ),
                    };
                }
            }
            st.redirected_at = Some(e.layer);
        }
        Ok(Some(e))
    }

    /// Every layer's version of the name in the parent's directories, top-down.
    fn collect_versions(
        &self,
        st: &State,
        parent: &DirStack,
        fds: &ParentFds,
        name: &[u8],
        presence: Option<&Presence>,
    ) -> Vec<Version> {
        let mut versions: Vec<Version> = st
            .consulted
            .iter()
            .map(|(d, role)| Version {
                layer: d.layer,
                rel: d.rel.clone(),
                kind: d.kind,
                role: *role,
            })
            .collect();
        let positions = parent
            .layers
            .iter()
            .map(|d| (d, None))
            .chain(parent.cut.iter().map(|(d, r)| (d, Some(*r))));
        for (pos, (dir, cut_reason)) in positions.enumerate() {
            let rel = join_rel(&dir.rel, name);
            if versions
                .iter()
                .any(|v| v.layer == dir.layer && v.rel == rel)
            {
                continue;
            }
            // Readdir's type when it gave one; lstat when it did not, or was not read.
            let kind = match presence.map(|pr| pr[pos]) {
                Some(None) => continue,
                Some(Some(Some(k))) => k,
                Some(Some(None)) | None => {
                    match fds[pos].as_ref().and_then(|fd| fd.lstat(name).ok()) {
                        Some(s) => FileKind::from_mode(s.st_mode),
                        None => continue,
                    }
                }
            };
            let reason = match cut_reason {
                Some(r) => r,
                None => match (st.stop_cause, st.redirected_at) {
                    (Some(cause), _) if cause.layer() <= dir.layer => cause,
                    (_, Some(r)) => HiddenReason::Redirected { at: r },
                    // The search never got here (it was refused above): nothing to explain.
                    _ => continue,
                },
            };
            versions.push(Version {
                layer: dir.layer,
                rel,
                kind,
                role: VersionRole::Hidden(reason),
            });
        }
        versions.sort_by_key(|v| v.layer);
        versions
    }

    /// Finds the data of a metacopy file in the data-only layers: the first regular file at
    /// the redirect's path wins (`ovl_lookup_data_layer`: a path walk beneath the layer root,
    /// no symlinks, no mount crossing; `.` and `..` resolve as they would there, and a `..`
    /// that would leave the layer fails, as `RESOLVE_BENEATH` makes it fail for us too).
    fn lookup_data_only(&self, parts: &[Vec<u8>]) -> DataSource {
        let rel = parts.join(&b'/');
        let (dir, base) = split_parent(&rel);
        for layer in self.stack.data_layers() {
            // `.` or `..` last names a directory, never the regular file the data must be.
            if matches!(base, b"." | b"..") {
                break;
            }
            let Ok(fd) = self.root_of(layer).open_dir(dir) else {
                continue;
            };
            if let Ok(s) = fd.lstat(base)
                && FileKind::from_mode(s.st_mode) == FileKind::File
            {
                return DataSource::Found { layer, rel };
            }
        }
        DataSource::Missing
    }

    /// Reads a symlink's target through the parent directory already open in `fds` when the
    /// link sits directly in one of them (the common case: no redirect), else from its layer.
    fn read_link_in(
        &self,
        parent: &DirStack,
        fds: &ParentFds,
        e: &OnDisk,
    ) -> std::io::Result<Vec<u8>> {
        let (dir, base) = split_parent(&e.rel);
        let open = parent
            .layers
            .iter()
            .zip(fds)
            .find(|(d, _)| d.layer == e.layer && d.rel == dir)
            .and_then(|(_, fd)| fd.as_ref());
        match open {
            Some(fd) => fd.read_link(base),
            None => self.read_link(e),
        }
    }

    /// Reads a symlink's target from its layer.
    pub(super) fn read_link(&self, e: &OnDisk) -> std::io::Result<Vec<u8>> {
        let (dir, base) = split_parent(&e.rel);
        let fd = self.root_of(e.layer).open_dir(dir)?;
        fd.read_link(base)
    }
}

/// The hidden directory versions, as the `cut` of a directory stack: read only to explain them.
fn hidden_dirs(versions: &[Version]) -> Vec<(LayerDir, HiddenReason)> {
    versions
        .iter()
        .filter_map(|v| match v.role {
            VersionRole::Hidden(r) if v.kind == FileKind::Dir => Some((
                LayerDir {
                    layer: v.layer,
                    rel: v.rel.clone(),
                },
                r,
            )),
            _ => None,
        })
        .collect()
}

/// Splits a path inside a layer into its parent directory (`""` for the root) and last name.
pub(super) fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}
