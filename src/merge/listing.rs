//! Listing a merged directory as readdir and lookup see it together: the names readdir gives,
//! each resolved by lookup; names lookup refuses become anomalies, never files.

use crate::fsio::DirHandle;

use super::lookup::Outcome;
use super::{Anomaly, DirStack, Entry, FileKind, Merger, VersionRole, join_merged};
use crate::error::{Error, Result};

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
    ) -> Result<Vec<Option<DirHandle>>> {
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
        let mut open = self.open_listing(path, dir)?;
        Ok(self.next_chunk(path, dir, &mut open, usize::MAX))
    }

    /// Lists the merged directory `entry` as [`Merger::list`] does, but a directory of more
    /// than [`CHUNK`](super::walk::CHUNK) names comes that many names at a time, as the walk
    /// reads it: a huge directory then holds one chunk of [`Entry`]s at once, not one per name.
    ///
    /// # Errors
    /// As [`Merger::list`].
    pub fn list_chunks(&self, entry: &Entry) -> Result<Chunks<'_>> {
        let Some(dir) = &entry.dir else {
            return Err(Error::BadInput(format!(
                "'{}' is not a directory",
                crate::escape::display(&entry.path)
            )));
        };
        self.list_dir_chunks(&entry.path, dir)
    }

    /// [`Merger::list_chunks`] for the merged directory at `path` with stack `dir`.
    ///
    /// # Errors
    /// As [`Merger::list`].
    pub fn list_dir_chunks(&self, path: &[u8], dir: &DirStack) -> Result<Chunks<'_>> {
        let open = self.open_listing(path, dir)?;
        let max = if open.len() > super::walk::CHUNK {
            super::walk::CHUNK
        } else {
            usize::MAX
        };
        Ok(Chunks {
            merger: self,
            path: path.to_vec(),
            dir: dir.clone(),
            open,
            max,
            started: false,
        })
    }

    /// Reads the names of every real directory behind `dir` into a compact table, ready to be
    /// looked up a chunk at a time with [`Merger::next_chunk`]: a huge directory then costs a
    /// few dozen bytes per name, not a whole [`Entry`] per name.
    pub(super) fn open_listing(&self, path: &[u8], dir: &DirStack) -> Result<OpenListing> {
        let mut anomalies = Vec::new();
        let fds = self.open_stack(path, dir, &mut anomalies)?;
        let mut names = Names::default();
        for (pos, fd) in fds.iter().enumerate() {
            let Some(fd) = fd else { continue };
            let d = if pos < dir.layers.len() {
                &dir.layers[pos]
            } else {
                &dir.cut[pos - dir.layers.len()].0
            };
            let list = fd.read_dir().map_err(|e| {
                Error::io("reading directory", self.source_path(d.layer, &d.rel), e)
            })?;
            names.extend(pos, list).map_err(|e| {
                Error::io("reading directory", self.source_path(d.layer, &d.rel), e)
            })?;
        }
        names.sort();
        Ok(OpenListing {
            fds,
            names,
            next: 0,
            anomalies,
            unlistable: None,
        })
    }

    /// Looks up the next names of an open listing, at most `max` of them, in name order; the
    /// directory's own anomalies come with the first chunk. An empty listing means the end.
    pub(super) fn next_chunk(
        &self,
        path: &[u8],
        dir: &DirStack,
        open: &mut OpenListing,
        max: usize,
    ) -> Listing {
        let mut out = Listing {
            entries: Vec::new(),
            anomalies: std::mem::take(&mut open.anomalies),
        };
        let npos = open.fds.len();
        // An impure upper directory that is not a merge dir is listed as it is on disk, but
        // readdir first looks up each name (ovl_dir_read_impure) and fails as a whole, with
        // that error, when one lookup fails.
        let lists_by_lookup = !dir.merge_dir && dir.impure && self.same_dev();
        let mut presence: Vec<Option<Option<FileKind>>> = vec![None; npos];
        let mut done = 0;
        let names = &open.names;
        let mut start = open.next;
        while start < names.items.len() && done < max {
            done += 1;
            let mut end = start;
            presence.iter_mut().for_each(|p| *p = None);
            let name = names.name(start);
            while end < names.items.len() && names.name(end) == name {
                let it = names.items[end];
                presence[usize::from(it.pos)] = Some(decode_kind(it.kind));
                end += 1;
            }
            let top = usize::from(names.items[start].pos);
            let top_dtype = decode_kind(names.items[start].kind);
            start = end;
            if top >= dir.layers.len() {
                continue; // only in cut copies: not part of the merged directory at all
            }
            let layer = dir.layers[top].layer;
            let (marker, refused) =
                match self.lookup_child(path, dir, &open.fds, name, Some(&presence)) {
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
                    // The kernel shows this name (as the copy the index names): readdir
                    // neither drops it nor fails on it; layerscope reports it.
                    Outcome::Refused { reason, .. } if super::index::is_index_reason(&reason) => {
                        out.anomalies.push(Anomaly {
                            path: join_merged(path, name),
                            layer,
                            reason,
                        });
                        continue;
                    }
                    Outcome::Refused { reason, .. } => {
                        if lists_by_lookup && open.unlistable.is_none() {
                            open.unlistable = Some((name.to_vec(), reason.clone()));
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
                path: join_merged(path, name),
                layer,
                reason,
            });
        }
        open.next = start;
        if let Some((name, reason)) = open.unlistable.take_if(|_| start >= names.items.len()) {
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
        self.check_aliases(path, dir, &mut out);
        out
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
    ///   whiteouts), every upper name of an impure directory when all layers share one
    ///   filesystem, and every name when `xino` is in effect (`ovl_calc_d_ino`).
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
        xwhiteout_check || impure_check || self.xino
    }
}

impl Listing {
    /// Turns the entries at these indices into anomalies with the reasons given, keeping the
    /// anomalies in path order.
    pub(super) fn refuse(&mut self, mut refused: Vec<(usize, String)>) {
        if refused.is_empty() {
            return;
        }
        refused.sort_unstable_by_key(|(i, _)| *i);
        for (i, reason) in refused.into_iter().rev() {
            let e = self.entries.remove(i);
            self.anomalies.push(Anomaly {
                path: e.path,
                layer: e.layer,
                reason,
            });
        }
        self.anomalies.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// A merged directory being listed a chunk at a time, from [`Merger::list_chunks`].
#[derive(Debug)]
pub struct Chunks<'m> {
    merger: &'m Merger,
    path: Vec<u8>,
    dir: DirStack,
    open: OpenListing,
    max: usize,
    started: bool,
}

impl Chunks<'_> {
    /// The next chunk, in name order (the directory's own anomalies come with the first);
    /// `None` after the last. A directory listed in chunks is checked for shared lower
    /// directories one chunk at a time, as the walk does.
    pub fn next_chunk(&mut self) -> Option<Listing> {
        if self.started && self.open.finished() {
            return None;
        }
        self.started = true;
        Some(
            self.merger
                .next_chunk(&self.path, &self.dir, &mut self.open, self.max),
        )
    }
}

/// A directory being listed: its real directories open, their names read and sorted, and how
/// far the lookups have got.
#[derive(Debug)]
pub(super) struct OpenListing {
    fds: Vec<Option<DirHandle>>,
    names: Names,
    /// The next item of `names` to look up.
    next: usize,
    /// The directory's own anomalies, given with the first chunk.
    anomalies: Vec<Anomaly>,
    /// An impure directory's first failing lookup (the whole readdir fails with it).
    unlistable: Option<(Vec<u8>, String)>,
}

impl OpenListing {
    /// How many (name, copy) pairs readdir gave.
    pub(super) fn len(&self) -> usize {
        self.names.items.len()
    }

    /// Whether every name has been looked up.
    pub(super) fn finished(&self) -> bool {
        self.next >= self.names.items.len()
    }
}

/// Every (name, position, type) readdir gave for one merged directory, the names in one
/// buffer: about a dozen bytes per name besides the name itself.
#[derive(Debug, Default)]
struct Names {
    bytes: Vec<u8>,
    items: Vec<NameItem>,
}

#[derive(Debug, Clone, Copy)]
struct NameItem {
    start: u32,
    len: u16,
    /// Position in the directory's stack (layers, then cut copies).
    pos: u16,
    /// The readdir type, see [`encode_kind`].
    kind: u8,
}

impl Names {
    fn extend(
        &mut self,
        pos: usize,
        list: Vec<(Vec<u8>, Option<FileKind>)>,
    ) -> std::io::Result<()> {
        let too_big = || std::io::Error::other("directory too large to list");
        let pos = u16::try_from(pos).map_err(|_| too_big())?;
        self.items.reserve(list.len());
        for (name, kind) in list {
            let start = u32::try_from(self.bytes.len()).map_err(|_| too_big())?;
            let len = u16::try_from(name.len()).map_err(|_| too_big())?;
            self.bytes.extend_from_slice(&name);
            self.items.push(NameItem {
                start,
                len,
                pos,
                kind: encode_kind(kind),
            });
        }
        Ok(())
    }

    /// Sorts by name, then position, so each name's copies come together, top first.
    fn sort(&mut self) {
        let bytes = &self.bytes;
        let key =
            |it: &NameItem| &bytes[it.start as usize..it.start as usize + usize::from(it.len)];
        self.items
            .sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.pos.cmp(&b.pos)));
        self.items.shrink_to_fit();
    }

    fn name(&self, i: usize) -> &[u8] {
        let it = self.items[i];
        &self.bytes[it.start as usize..it.start as usize + usize::from(it.len)]
    }
}

const KINDS: [FileKind; 7] = [
    FileKind::Dir,
    FileKind::File,
    FileKind::Symlink,
    FileKind::Fifo,
    FileKind::Socket,
    FileKind::Char,
    FileKind::Block,
];

fn encode_kind(k: Option<FileKind>) -> u8 {
    k.and_then(|k| KINDS.iter().position(|&x| x == k))
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn decode_kind(b: u8) -> Option<FileKind> {
    KINDS.get(usize::from(b)).copied()
}
