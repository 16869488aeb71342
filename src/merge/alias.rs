//! One lower file under two merged paths. A crafted redirect whose origin is still visible (the
//! kernel never writes one: a rename whites the origin out) lets two merged directories reach
//! the same lower directory, and so every file in it. The kernel hashes a non-directory's
//! overlay inode by its lower inode (`ovl_hash_bylower`): a copy-up's by its origin, a lower
//! file's by itself. When only one of the two paths has been copied up, whichever path is
//! looked up first wins: the other then gives ESTALE (`ovl_verify_inode`: the cached inode's
//! upper is not this one) or shows the first one's copy (a lower alias of a copied-up inode).
//! layerscope cannot know the order of lookups on a mount, so it shows neither path: both are
//! anomalies.
//!
//! Found from the listing of the parent: sibling directories that share a lower copy (a
//! relative redirect, or an absolute one between siblings), and a directory that reaches a
//! copy through a redirect while that copy is visible at its own path. The pair is recorded on
//! both directories' stacks ([`DirStack::aliases`]) when both are siblings, else on the
//! redirecting one only, and passed down to subdirectories of the shared copy. The same
//! directories are refused themselves (the kernel hashes a directory by its first lower copy
//! too), from both sides: the far side of an upper redirect finds it among the upper layer's
//! redirects, read once ([`UpperRedirect`]). A metacopy file whose redirect names a lower file
//! still visible at its own path is the same case for one file.

use std::collections::HashMap;

use super::markers::{Redirect, check_redirect_component, parse_redirect};
use super::{Anomaly, DataSource, DirStack, Entry, FileKind, LayerDir, Listing, Merger};
use super::{join_merged, join_rel};
use crate::fsio::LayerRoot;
use crate::stack::XattrNamespace;

/// Every reason of this module contains this phrase, which says the answer depends on lookup
/// order.
const ORDER_DEPENDENT: &str = "whichever of them is looked up first";

fn name_of(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// A path in a layer as a merged path: `a/b` is `/a/b`.
fn rooted(rel: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(rel.len() + 1);
    path.push(b'/');
    path.extend_from_slice(rel);
    path
}

fn metacopy_reason(metacopy: &[u8], natural: &[u8], layer: usize, rel: &[u8]) -> String {
    format!(
        "{} is a metacopy file whose data is {} ({} of layer {layer}), still visible at its own \
         path: the kernel hashes both by that lower file, shows {ORDER_DEPENDENT}, and for the \
         other gives ESTALE or that one's inode and metadata",
        crate::escape::display(metacopy),
        crate::escape::display(natural),
        crate::escape::display(rel)
    )
}

fn parent_merged(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

impl Merger {
    /// After a listing of `dir` (at `path`): refuses the non-directories that are one lower
    /// file with a path elsewhere, and records on the listed subdirectories which of their lower
    /// copies another directory also reaches.
    pub(super) fn check_aliases(&self, path: &[u8], dir: &DirStack, out: &mut Listing) {
        if !self.stack.tree_layers().any(|l| self.is_upper(l)) {
            return; // no copy-up anywhere: one lower file is one inode, wherever it shows
        }
        self.refuse_shared_lower_dirs(path, dir, out);
        self.refuse_metacopy_aliases(out);
        if !dir.aliases.is_empty() {
            let mut refused = Vec::new();
            for (i, e) in out.entries.iter().enumerate() {
                if e.kind == FileKind::Dir {
                    continue;
                }
                if let Some(reason) = self.aliased_file(dir, e) {
                    refused.push((i, reason));
                }
            }
            out.refuse(refused);
        }
        self.note_aliased_dirs(path, dir, out);
        self.note_order_dependent_listing(path, dir, out);
    }

    /// An impure upper directory that is not a merge dir is read by looking up every name
    /// first, and its readdir fails with the first lookup that fails: when one of its names is
    /// an order-dependent anomaly, whether the kernel can list the directory at all depends on
    /// the same order.
    fn note_order_dependent_listing(&self, path: &[u8], dir: &DirStack, out: &mut Listing) {
        if dir.merge_dir
            || !dir.impure
            || !self.same_dev()
            || out.anomalies.iter().any(|a| a.path == path)
        {
            return;
        }
        let Some(first) = out.anomalies.iter().find(|a| {
            self.is_upper(a.layer)
                && a.reason.contains(ORDER_DEPENDENT)
                && parent_merged(&a.path) == path
        }) else {
            return;
        };
        let anomaly = Anomaly {
            path: path.to_vec(),
            layer: first.layer,
            reason: format!(
                "the kernel may not list this directory: it is impure, so readdir looks up every \
                 name, and the lookup of '{}' depends on order: {}",
                crate::escape::display(name_of(&first.path)),
                first.reason
            ),
        };
        out.anomalies.insert(0, anomaly);
    }

    /// Directories of one listing (of `path`) that share their topmost lower copy with another
    /// merged directory, one of them reaching it through a crafted redirect: the kernel hashes
    /// a directory's inode by that copy, so once one of them is looked up, the lookup of any
    /// other gives ESTALE (`ovl_verify_inode` in inode.c, "lookup of an uncovered redirect
    /// origin"). Which one wins depends on the order of lookups on the mount, so none of them
    /// is shown: each is an anomaly. (A directory listed in chunks is checked one chunk at a
    /// time.)
    fn refuse_shared_lower_dirs(&self, path: &[u8], dir: &DirStack, out: &mut Listing) {
        let mut keys: Vec<((usize, &[u8]), usize)> = out
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| self.first_lower(e).map(|k| (k, i)))
            .collect();
        if keys.is_empty() {
            return;
        }
        keys.sort_unstable();
        let mut shared: Vec<(usize, String)> = Vec::new();
        let reason = |paths: &[&[u8]], layer: usize, rel: &[u8]| {
            let names: Vec<String> = paths.iter().map(|p| crate::escape::display(p)).collect();
            format!(
                "{} share the lower directory {} of layer {layer}: the kernel shows \
                 {ORDER_DEPENDENT}, and gives ESTALE to the others",
                names.join(" and "),
                crate::escape::display(rel)
            )
        };
        // Siblings.
        for group in keys.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            let has_upper = group
                .iter()
                .any(|(_, i)| self.is_upper(out.entries[*i].layer));
            if !has_upper {
                continue;
            }
            let (layer, rel) = group[0].0;
            let names: Vec<&[u8]> = group
                .iter()
                .map(|(_, i)| out.entries[*i].path.as_slice())
                .collect();
            let why = reason(&names, layer, rel);
            shared.extend(group.iter().map(|(_, i)| (*i, why.clone())));
        }
        // Across directories: an upper directory whose absolute redirect leads into another
        // directory, where the lower copy is also visible at its own path. Found from either
        // side: the redirecting directory looks its copy's own path up; a directory listed at
        // that path finds the redirects aimed at it among the upper layer's (read once). And
        // below two directories that share a lower copy, the same subdirectory under both.
        for ((layer, rel), i) in keys.iter().copied() {
            if shared.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let e = &out.entries[i];
            let crafted = self.is_upper(e.layer)
                && e.redirect.as_deref().is_some_and(|r| r.starts_with(b"/"));
            let mut others: Vec<Vec<u8>> = Vec::new();
            // Below a directory that shares a lower copy: the same name under the other one.
            let name = name_of(&e.path);
            for (shared, other) in &dir.aliases {
                if shared.layer == layer && join_rel(&shared.rel, name) == rel {
                    others.push(join_merged(other, name));
                }
            }
            if crafted {
                others.push(rooted(rel));
            }
            others.extend(
                self.upper_redirects_to(rel)
                    .filter(|r| r.is_dir)
                    .map(|r| r.path.clone()),
            );
            for other in others {
                if other == e.path || parent_merged(&other) == path {
                    continue; // itself, or a sibling: the groups above have seen it
                }
                let reaches = self
                    .resolve(&other)
                    .ok()
                    .and_then(|r| r.entry)
                    .is_some_and(|o| {
                        // Two lower-only paths are one inode, and the kernel shows it at both.
                        self.first_lower(&o) == Some((layer, rel))
                            && (self.is_upper(e.layer) || self.is_upper(o.layer))
                    });
                if reaches {
                    shared.push((i, reason(&[&e.path, &other], layer, rel)));
                    break;
                }
            }
        }
        out.refuse(shared);
    }

    /// Files of one listing that are one lower file with a metacopy file elsewhere: an upper
    /// metacopy file whose redirect names a lower file still visible at its own path (the
    /// kernel never leaves such a pair: a rename whites the origin out). The kernel hashes
    /// both by that lower file, so whichever is looked up second gives ESTALE or shows the
    /// first one's inode and metadata. Found from either side: the metacopy file looks its
    /// data's own path up; a file at that path finds the metacopy files aimed at it among the
    /// upper layer's redirects.
    fn refuse_metacopy_aliases(&self, out: &mut Listing) {
        if !self.stack.options.metacopy {
            return;
        }
        let mut refused = Vec::new();
        for (i, e) in out.entries.iter().enumerate() {
            if e.kind == FileKind::Dir {
                continue;
            }
            if let Some(DataSource::Found { layer, rel }) = &e.data
                && self.is_upper(e.layer)
            {
                let natural = rooted(rel);
                if natural != e.path
                    && let Some(c) = self.resolve(&natural).ok().and_then(|r| r.entry)
                    && c.kind != FileKind::Dir
                    && self.hashed_by(&c, *layer, rel)
                {
                    refused.push((i, metacopy_reason(&e.path, &natural, *layer, rel)));
                    continue;
                }
            }
            let natural = e.path.get(1..).unwrap_or_default();
            let aimed = self
                .upper_redirects_to(&e.rel)
                .chain(
                    (natural != e.rel.as_slice())
                        .then(|| self.upper_redirects_to(natural))
                        .into_iter()
                        .flatten(),
                )
                .filter(|r| !r.is_dir && r.path != e.path);
            for r in aimed {
                let data = self
                    .resolve(&r.path)
                    .ok()
                    .and_then(|m| m.entry)
                    .and_then(|m| m.data);
                if let Some(DataSource::Found { layer, rel }) = data
                    && self.hashed_by(e, layer, &rel)
                {
                    refused.push((i, metacopy_reason(&r.path, &e.path, layer, &rel)));
                    break;
                }
            }
        }
        out.refuse(refused);
    }

    /// The topmost lower copy of a directory entry.
    fn first_lower<'e>(&self, e: &'e Entry) -> Option<(usize, &'e [u8])> {
        let d = e
            .dir
            .as_ref()?
            .layers
            .iter()
            .find(|d| !self.is_upper(d.layer))?;
        Some((d.layer, d.rel.as_slice()))
    }

    /// The upper layer's directories with an absolute redirect and metacopy files with a
    /// redirect that aim at `target` (a path in the lower layers). They are read on first use
    /// by walking the upper layer once (a container's upper layer is its own writes, usually
    /// small) and kept by target. None when redirects are not followed: such a directory is
    /// then refused at lookup.
    fn upper_redirects_to(&self, target: &[u8]) -> impl Iterator<Item = &UpperRedirect> {
        self.upper_redirects
            .get_or_init(|| {
                let mut by_target: HashMap<Vec<u8>, Vec<UpperRedirect>> = HashMap::new();
                for r in self.read_upper_redirects() {
                    by_target.entry(r.target.clone()).or_default().push(r);
                }
                by_target
            })
            .get(target)
            .into_iter()
            .flatten()
    }

    fn read_upper_redirects(&self) -> Vec<UpperRedirect> {
        let upper = self.stack.tree_layers().find(|&l| self.is_upper(l));
        match upper {
            Some(upper) if self.stack.options.redirect.follows() => {
                let options = &self.stack.options;
                find_upper_redirects(self.root_of(upper), options.xattr, options.metacopy)
            }
            _ => Vec::new(),
        }
    }

    fn note_aliased_dirs(&self, path: &[u8], parent: &DirStack, out: &mut Listing) {
        // Two directories share a lower copy only through a redirect: a copy whose path in its
        // layer is not the directory's own. Without one here (the usual case) there is nothing
        // to record, and no allocation is made.
        let redirected = out.entries.iter().any(|e| {
            e.dir.as_ref().is_some_and(|d| {
                d.layers
                    .iter()
                    .any(|l| e.path.get(1..) != Some(l.rel.as_slice()))
            })
        });
        if parent.aliases.is_empty() && !redirected {
            return;
        }
        let lowers = |e: &Entry| -> Vec<LayerDir> {
            e.dir.as_ref().map_or_else(Vec::new, |d| {
                d.layers
                    .iter()
                    .filter(|l| !self.is_upper(l.layer))
                    .cloned()
                    .collect()
            })
        };
        let mut found: Vec<(usize, LayerDir, Vec<u8>)> = Vec::new();
        // Passed down: a subdirectory of a shared copy is shared too.
        for (i, e) in out.entries.iter().enumerate() {
            let Some(d) = &e.dir else { continue };
            let name = name_of(&e.path);
            for (shared, other) in &parent.aliases {
                let child = LayerDir {
                    layer: shared.layer,
                    rel: join_rel(&shared.rel, name),
                };
                if d.layers.contains(&child) {
                    found.push((i, child, join_merged(other, name)));
                }
            }
        }
        // Siblings that share a lower copy.
        let mut keys: Vec<(LayerDir, usize)> = out
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| lowers(e).into_iter().map(move |l| (l, i)))
            .collect();
        keys.sort_unstable_by(|a, b| (a.0.layer, &a.0.rel, a.1).cmp(&(b.0.layer, &b.0.rel, b.1)));
        for group in keys.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            for (d, i) in group {
                for (_, j) in group.iter().filter(|(_, j)| j != i) {
                    found.push((*i, d.clone(), out.entries[*j].path.clone()));
                }
            }
        }
        // A copy reached through a redirect from another directory, and visible at its own path.
        for (i, e) in out.entries.iter().enumerate() {
            for d in lowers(e) {
                let natural = rooted(&d.rel);
                if natural == e.path
                    || parent_merged(&natural) == path
                    || found.iter().any(|(j, s, _)| *j == i && *s == d)
                {
                    continue;
                }
                let reaches = self
                    .resolve(&natural)
                    .ok()
                    .and_then(|r| r.entry)
                    .and_then(|o| o.dir)
                    .is_some_and(|o| o.layers.contains(&d));
                if reaches {
                    found.push((i, d, natural));
                }
            }
        }
        for (i, d, other) in found {
            if let Some(stack) = out.entries[i].dir.as_mut()
                && !stack.aliases.iter().any(|(s, o)| *s == d && *o == other)
            {
                stack.aliases.push((d, other));
            }
        }
    }

    /// Why the non-directory `e`, found in `dir`, is refused: it is one kernel inode with the
    /// same name under a directory that shares a lower copy with `dir`, and only one of the two
    /// is a copy-up.
    fn aliased_file(&self, dir: &DirStack, e: &Entry) -> Option<String> {
        let name = name_of(&e.path);
        for (shared, other) in &dir.aliases {
            let rel = join_rel(&shared.rel, name);
            if !self.hashed_by(e, shared.layer, &rel) {
                continue;
            }
            let other_path = join_merged(other, name);
            let Some(c) = self.resolve(&other_path).ok().and_then(|r| r.entry) else {
                continue;
            };
            let same = (c.layer, &c.rel) == (e.layer, &e.rel);
            if c.kind == FileKind::Dir || same || !self.hashed_by(&c, shared.layer, &rel) {
                continue;
            }
            return Some(format!(
                "{} and {} are one lower file ({} of layer {}) and only one of them is a copy-up \
                 of it: the kernel shows {ORDER_DEPENDENT}, and for the other gives ESTALE or \
                 that one's copy",
                crate::escape::display(&e.path),
                crate::escape::display(&other_path),
                crate::escape::display(&rel),
                shared.layer
            ));
        }
        None
    }

    /// Whether the kernel hashes `e`'s inode by the lower file `rel` of `layer`: `e` is that
    /// file (and not a hard link whose link a copy-up would break), or an upper copy whose
    /// origin or data it is.
    fn hashed_by(&self, e: &Entry, layer: usize, rel: &[u8]) -> bool {
        if !self.is_upper(e.layer) {
            let index = self.stack.options.index;
            return e.layer == layer && e.rel == rel && (e.meta.nlink <= 1 || index);
        }
        if matches!(&e.data, Some(DataSource::Found { layer: l, rel: r }) if *l == layer && r == rel)
        {
            return true;
        }
        let origin = self.origin_of(e.layer, &e.rel);
        origin.is_some() && origin == self.handle_at(layer, rel)
    }
}

/// The upper layer's redirects, by their target.
pub(super) type UpperRedirects = HashMap<Vec<u8>, Vec<UpperRedirect>>;

/// An upper directory with an absolute redirect, or (with `metacopy=on`) an upper metacopy
/// file with any redirect: a path that may reach a lower copy another path shows too.
#[derive(Debug)]
pub(super) struct UpperRedirect {
    /// Its merged path (an upper entry is at its own path).
    path: Vec<u8>,
    /// Where it sends lookups in the lower layers, no leading slash (for a relative redirect:
    /// beside it, as when its parent is not redirected).
    target: Vec<u8>,
    /// A directory, or a metacopy file.
    is_dir: bool,
}

/// How many directories of the upper layer are read for redirects at most. Only a redirect set
/// by hand, outside the kernel, can share its origin (a container cannot set overlay xattrs
/// through the mount, and the kernel whites out what it renames), so past this the walk stops
/// rather than make a short listing of a huge container layer slow: about 0.5 s here.
const MAX_UPPER_DIRS: usize = 1 << 16;

/// Walks an upper layer for directories with an absolute redirect and, when `files` is set,
/// files with a redirect. A directory that cannot be read, or sits behind a mount point, is
/// passed over: the listing reports it where it shows.
fn find_upper_redirects(root: &LayerRoot, ns: XattrNamespace, files: bool) -> Vec<UpperRedirect> {
    let attr = format!("{}redirect", ns.prefix());
    let mut found = Vec::new();
    let mut pending: Vec<Vec<u8>> = vec![Vec::new()];
    let mut read = 0;
    while let Some(rel) = pending.pop() {
        read += 1;
        if read > MAX_UPPER_DIRS {
            break;
        }
        let Ok(dir) = root.open_dir(&rel) else {
            continue;
        };
        for (name, kind) in dir.read_dir().unwrap_or_default() {
            let kind = kind.or_else(|| {
                dir.lstat(&name)
                    .ok()
                    .map(|s| FileKind::from_mode(s.st_mode))
            });
            let is_dir = kind == Some(FileKind::Dir);
            let wanted = is_dir || (files && kind == Some(FileKind::File));
            if !wanted {
                continue;
            }
            let child = join_rel(&rel, &name);
            let value = dir.get_xattr(&name, &attr).ok().flatten();
            let target = match value.as_deref().map(parse_redirect) {
                Some(Ok(Redirect::Absolute(parts)))
                    if parts.iter().all(|p| check_redirect_component(p).is_ok()) =>
                {
                    Some(parts.join(&b'/'))
                }
                Some(Ok(Redirect::Relative(name))) if !is_dir => Some(join_rel(&rel, &name)),
                _ => None,
            };
            if let Some(target) = target {
                found.push(UpperRedirect {
                    path: rooted(&child),
                    target,
                    is_dir,
                });
            }
            if is_dir {
                pending.push(child);
            }
        }
    }
    found
}
