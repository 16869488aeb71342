//! Where the bytes of a stack go: what each layer stores, what the merged view shows, and the
//! difference, wasted bytes, with the reason each copy is hidden.
//!
//! Two passes, each reading what it is the authority on:
//! 1. the merge engine's walk ([`Merger::walk`]) gives every path of the merged view, the file
//!    that holds each one's data (a metacopy file's data is in a lower layer), and every hidden
//!    version of every path with the reason, as `ls` and the explorer see them;
//! 2. a scan of each layer directory as stored ([`scan`]) gives each regular file's inode and
//!    size, including the subtrees the merged view never enters (a deleted or opaque-replaced
//!    directory).
//!
//! An inode is *visible* when some merged path takes its data from one of its names, else
//! *wasted*; so for a path stored N times and shown once, N-1 copies are wasted and never the
//! one shown, and hard links are one file. The README's "Where the bytes go" has the formulas.

pub mod rules;
pub mod scan;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::Read;

use rayon::prelude::*;

use crate::error::Result;
use crate::fsio::LayerRoot;
use crate::merge::walk::Visit;
use crate::merge::{DataSource, FileKind, HiddenReason, Merger, VersionRole};
use crate::stack::LayerRole;

/// Why a stored copy is not what the merged view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasteReason {
    /// The merge engine's reason (shadowed, whited out, opaque, cut, redirected).
    Hidden(HiddenReason),
    /// No lookup reaches it: the kernel refuses the path, a redirect leads elsewhere, or it is
    /// data in a data-only layer that no metacopy file points to.
    Unreached,
}

impl WasteReason {
    /// The layer that causes the hiding, when one does.
    #[must_use]
    pub fn layer(self) -> Option<usize> {
        match self {
            WasteReason::Hidden(r) => Some(r.layer()),
            WasteReason::Unreached => None,
        }
    }

    /// The JSON name: `shadowed`, `whited-out`, `opaque`, `cut-by-non-dir`, `redirected`,
    /// `not-origin`, `unreached`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WasteReason::Hidden(HiddenReason::Shadowed { .. }) => "shadowed",
            WasteReason::Hidden(HiddenReason::WhitedOut { .. }) => "whited-out",
            WasteReason::Hidden(HiddenReason::Opaque { .. }) => "opaque",
            WasteReason::Hidden(HiddenReason::CutByNonDir { .. }) => "cut-by-non-dir",
            WasteReason::Hidden(HiddenReason::Redirected { .. }) => "redirected",
            WasteReason::Hidden(HiddenReason::NotOrigin { .. }) => "not-origin",
            WasteReason::Unreached => "unreached",
        }
    }

    /// A short phrase: "whited out at layer 0".
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            WasteReason::Hidden(r) => r.describe(),
            WasteReason::Unreached => "reached by no lookup".into(),
        }
    }
}

/// One layer's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerWaste {
    /// Bytes of data the layer's regular files hold, each inode once, metacopy files 0: the
    /// bytes it adds.
    pub stored_bytes: u64,
    /// `st_blocks * 512` over the same inodes.
    pub allocated_bytes: u64,
    /// Regular-file inodes counted (hard links once, metacopy files included).
    pub files: u64,
    /// Of `stored_bytes`, what the merged view shows.
    pub visible_bytes: u64,
    /// Of `stored_bytes`, what later layers (or the merge) hide: `stored - visible`.
    pub hidden_bytes: u64,
    /// Bytes of the layers below that this layer hides (its whiteouts, opaque directories,
    /// overwrites, ...).
    pub hides_below_bytes: u64,
}

/// One hidden copy of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WastedCopy {
    /// The layer that stores it.
    pub layer: usize,
    /// Its size.
    pub bytes: u64,
    /// Why the merged view does not show it.
    pub reason: WasteReason,
}

/// A path with wasted copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WastedPath {
    /// The path, starting with `/` (the copies' path inside their layers).
    pub path: Vec<u8>,
    /// The sum of the copies' sizes.
    pub bytes: u64,
    /// The hidden copies, top-down.
    pub copies: Vec<WastedCopy>,
}

/// A file in the upper layer whose data is the same as the version it hides: a copy-up that
/// changed no byte (a chmod, a chown, a touch, or a write of the same content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoopCopyUp {
    /// The merged path.
    pub path: Vec<u8>,
    /// Its size: the bytes removing the upper copy would reclaim.
    pub bytes: u64,
    /// The layer of the identical version below.
    pub lower: usize,
}

/// Every figure of a stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Per layer, top-down (the stack's layer indexes).
    pub layers: Vec<LayerWaste>,
    /// Paths with wasted bytes, most bytes first, then by path.
    pub paths: Vec<WastedPath>,
    /// No-op copy-ups in the upper layer, most bytes first (empty without an upper layer).
    pub noop_copyups: Vec<NoopCopyUp>,
}

impl Report {
    /// Stored bytes of every layer.
    #[must_use]
    pub fn stored_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.stored_bytes).sum()
    }

    /// Allocated bytes of every layer.
    #[must_use]
    pub fn allocated_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.allocated_bytes).sum()
    }

    /// Bytes the merged view shows, each data inode once.
    #[must_use]
    pub fn visible_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.visible_bytes).sum()
    }

    /// Stored bytes no merged path shows.
    #[must_use]
    pub fn wasted_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.hidden_bytes).sum()
    }

    /// `visible / stored`; 1.0 for a stack that stores nothing.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn efficiency(&self) -> f64 {
        let stored = self.stored_bytes();
        if stored == 0 {
            1.0
        } else {
            self.visible_bytes() as f64 / stored as f64
        }
    }

    /// `100 * wasted / stored`; 0 for a stack that stores nothing.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn wasted_percent(&self) -> f64 {
        let stored = self.stored_bytes();
        if stored == 0 {
            0.0
        } else {
            100.0 * self.wasted_bytes() as f64 / stored as f64
        }
    }

    /// The bytes removing every no-op copy-up would reclaim.
    #[must_use]
    pub fn noop_copyup_bytes(&self) -> u64 {
        self.noop_copyups.iter().map(|c| c.bytes).sum()
    }
}

/// A 128-bit key for a (layer, path inside the layer): two independent SipHash-1-3 digests,
/// so that hundreds of thousands of paths cost 16 bytes each (a collision, about 2^-100 for a
/// million paths, would count one hidden copy as shown).
#[derive(Clone)]
struct Keys(std::hash::RandomState, std::hash::RandomState);

impl Keys {
    fn new() -> Self {
        Keys(std::hash::RandomState::new(), std::hash::RandomState::new())
    }

    fn key(&self, layer: usize, rel: &[u8]) -> u128 {
        let half = |s: &std::hash::RandomState| {
            let mut h = s.build_hasher();
            h.write_usize(layer);
            h.write(rel);
            h.finish()
        };
        (u128::from(half(&self.0)) << 64) | u128::from(half(&self.1))
    }
}

/// An upper file over a lower regular file: (merged path, upper rel, lower layer, lower rel).
type CopyUpCandidate = (Vec<u8>, Vec<u8>, usize, Vec<u8>);

/// A file with more than one link, as one layer saw it: ((dev, ino), size, allocated, shown
/// through this name, rel, why when hidden).
type LinkedFile = ((u64, u64), u64, u64, bool, Vec<u8>, Why);

/// A file with more than one link, once every layer is read: (topmost layer, size,
/// allocated, shown through some name, rel, why when hidden).
type LinkedInode = (usize, u64, u64, bool, Vec<u8>, Why);

/// A shown file's figures from the merge walk; `blocks == u32::MAX`: unknown, stat it.
#[derive(Debug, Clone, Copy)]
struct Known {
    size: u64,
    blocks: u32,
}

/// What the merged walk learns: which stored copies are shown, and why the others are not.
struct Shown {
    keys: Keys,
    /// (layer, rel) of every file the merged view takes data from, with its size and blocks
    /// when the walk's `stat` can stand in for the scan's (one link, not metacopy).
    data: HashMap<u128, Known>,
    /// (layer, rel) of every real directory merged into a directory of the merged view.
    dirs: HashSet<u128>,
    /// (layer, rel) of every hidden version the walk met, with its reason (for a directory:
    /// its whole subtree).
    hidden: HashMap<u128, HiddenReason>,
    /// Upper files over a lower regular file: (merged path, upper rel, lower layer, lower rel).
    copyups: Vec<CopyUpCandidate>,
}

/// Why a copy is hidden, as far as one layer's scan can tell.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// The walk said.
    Known(WasteReason),
    /// The merged view does not have the name at all: the first `n` bytes of the copy's path
    /// name the topmost such ancestor (or the copy itself). A whiteout in a higher layer
    /// explains it, found once every layer is scanned.
    Absent(usize),
}

/// The state of a directory being scanned, inherited by its children.
#[derive(Debug, Clone, Copy)]
enum DirState {
    /// Merged into a directory of the merged view: each child is looked at on its own.
    Merged,
    /// Hidden, with everything under it.
    Hidden(Why),
}

/// One layer's scan result.
#[derive(Default)]
struct LayerScan {
    figures: LayerWaste,
    /// Wasted single-link files: (rel, bytes, why).
    wasted: Vec<(Vec<u8>, u64, Why)>,
    /// Files with more than one link, decided once every layer is read:
    /// ((dev, ino), size, allocated, shown, rel, why when hidden).
    linked: Vec<LinkedFile>,
    /// Paths of the layer's character devices: its whiteouts (a real device above a name
    /// would be what the merged view shows).
    whiteouts: Vec<Vec<u8>>,
}

/// Computes every figure of the merger's stack.
///
/// # Errors
/// A layer directory cannot be read.
pub fn analyse(merger: &Merger) -> Result<Report> {
    let shown = walk_merged(merger)?;
    let stack = merger.stack();
    let probe = scan::metacopy_probe(stack);
    let mut scans = stack
        .layers
        .par_iter()
        .enumerate()
        .map(|(layer, l)| scan_layer(merger, &shown, layer, l, probe))
        .collect::<Result<Vec<_>>>()?;
    let mut whiteouts: HashMap<Vec<u8>, usize> = HashMap::new();
    for (layer, s) in scans.iter_mut().enumerate() {
        for w in s.whiteouts.drain(..) {
            // The kernel's lookup stops at the topmost whiteout.
            whiteouts.entry(w).or_insert(layer);
        }
    }
    let mut explain = Explain {
        merger,
        whiteouts,
        resolved: HashMap::new(),
    };
    let mut report = Report {
        layers: Vec::with_capacity(scans.len()),
        ..Report::default()
    };
    let mut by_path: HashMap<Vec<u8>, WastedPath> = HashMap::new();
    let mut add_copy = |rel: Vec<u8>, layer: usize, bytes: u64, reason: WasteReason| {
        let mut path = Vec::with_capacity(rel.len() + 1);
        path.push(b'/');
        path.extend_from_slice(&rel);
        let p = by_path.entry(path.clone()).or_insert_with(|| WastedPath {
            path,
            bytes: 0,
            copies: Vec::new(),
        });
        p.bytes += bytes;
        p.copies.push(WastedCopy {
            layer,
            bytes,
            reason,
        });
    };
    // Per inode: (topmost layer, size, allocated, shown through some name, rel, why).
    let mut linked: HashMap<(u64, u64), LinkedInode> = HashMap::new();
    let mut layers = Vec::with_capacity(scans.len());
    for (layer, s) in scans.into_iter().enumerate() {
        for (rel, bytes, why) in s.wasted {
            let reason = explain.reason(layer, &rel, why);
            add_copy(rel, layer, bytes, reason);
        }
        for (id, size, allocated, is_shown, rel, reason) in s.linked {
            linked
                .entry(id)
                .and_modify(|e| e.3 |= is_shown)
                .or_insert((layer, size, allocated, is_shown, rel, reason));
        }
        layers.push(s.figures);
    }
    for (layer, size, allocated, is_shown, rel, why) in linked.into_values() {
        let f = &mut layers[layer];
        f.files += 1;
        f.stored_bytes += size;
        f.allocated_bytes += allocated;
        if is_shown {
            f.visible_bytes += size;
        } else {
            f.hidden_bytes += size;
            let reason = explain.reason(layer, &rel, why);
            add_copy(rel, layer, size, reason);
        }
    }
    let mut paths: Vec<WastedPath> = by_path.into_values().filter(|p| p.bytes > 0).collect();
    for p in &mut paths {
        p.copies.sort_by_key(|c| c.layer);
        for c in &p.copies {
            if let Some(by) = c.reason.layer()
                && let Some(f) = layers.get_mut(by)
            {
                f.hides_below_bytes += c.bytes;
            }
        }
    }
    paths.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    report.layers = layers;
    report.paths = paths;
    report.noop_copyups = noop_copyups(merger, &shown.copyups)?;
    Ok(report)
}

/// Pass 1: the merge engine's walk of the whole merged view.
fn walk_merged(merger: &Merger) -> Result<Shown> {
    let keys = Keys::new();
    let mut shown = Shown {
        keys: keys.clone(),
        data: HashMap::new(),
        dirs: HashSet::new(),
        hidden: HashMap::new(),
        copyups: Vec::new(),
    };
    let root = merger.root()?;
    let upper = merger
        .stack()
        .layers
        .first()
        .is_some_and(|l| l.role == LayerRole::Upper);
    let mut note = |e: &crate::merge::Entry| {
        for d in e.dir.iter().flat_map(|d| &d.layers) {
            shown.dirs.insert(keys.key(d.layer, &d.rel));
        }
        if e.kind == FileKind::File {
            let unknown = Known {
                size: 0,
                blocks: u32::MAX,
            };
            match &e.data {
                Some(DataSource::Found { layer, rel }) => {
                    shown.data.insert(keys.key(*layer, rel), unknown);
                }
                Some(DataSource::Missing) => {}
                None => {
                    let known = match u32::try_from(e.meta.blocks) {
                        Ok(blocks) if e.meta.nlink == 1 && blocks != u32::MAX => Known {
                            size: e.meta.size,
                            blocks,
                        },
                        _ => unknown,
                    };
                    shown.data.insert(keys.key(e.layer, &e.rel), known);
                }
            }
        }
        let mut below_upper = None;
        for v in &e.versions {
            if let VersionRole::Hidden(r) = v.role {
                if matches!(v.kind, FileKind::File | FileKind::Dir) {
                    shown.hidden.insert(keys.key(v.layer, &v.rel), r);
                }
                if below_upper.is_none() && v.kind == FileKind::File && v.layer > e.layer {
                    below_upper = Some((v.layer, v.rel.clone()));
                }
            }
        }
        if upper
            && e.layer == 0
            && e.kind == FileKind::File
            && e.data.is_none()
            && let Some((lower, rel)) = below_upper
        {
            shown
                .copyups
                .push((e.path.clone(), e.rel.clone(), lower, rel));
        }
    };
    note(&root);
    merger.walk(&root, true, &mut |v: Visit<'_>| -> Result<()> {
        if let Visit::Entry(e) = v {
            note(e);
        }
        Ok(())
    })?;
    Ok(shown)
}

/// Pass 2 for one layer: every stored regular file, shown or wasted, and why.
fn scan_layer(
    merger: &Merger,
    shown: &Shown,
    layer: usize,
    layer_on_disk: &crate::stack::Layer,
    probe: Option<crate::stack::XattrNamespace>,
) -> Result<LayerScan> {
    let root = layer_on_disk.open()?;
    let keys = &shown.keys;
    let mut out = LayerScan::default();
    let data_only = merger.stack().layers[layer].role == LayerRole::DataOnly;
    let start = if data_only {
        DirState::Hidden(Why::Known(WasteReason::Unreached))
    } else {
        DirState::Merged
    };
    // Why a child of a merged directory, not shown itself, is hidden.
    let why_of = |rel: &[u8]| -> Why {
        match shown.hidden.get(&keys.key(layer, rel)) {
            Some(r) => Why::Known(WasteReason::Hidden(*r)),
            None => Why::Absent(rel.len()),
        }
    };
    let mut child_state = |parent: &DirState, rel: &[u8]| -> DirState {
        match parent {
            DirState::Hidden(r) => DirState::Hidden(*r),
            DirState::Merged if shown.dirs.contains(&keys.key(layer, rel)) => DirState::Merged,
            DirState::Merged => DirState::Hidden(why_of(rel)),
        }
    };
    let f = &mut out.figures;
    let wasted = &mut out.wasted;
    let linked = &mut out.linked;
    let whiteouts = &mut out.whiteouts;
    let mut visit = |parent: &DirState, rel: &[u8], item: scan::Item<'_>| {
        let s = match item {
            scan::Item::File(s) => s,
            scan::Item::Other(FileKind::Char) => {
                whiteouts.push(rel.to_vec());
                return;
            }
            scan::Item::Other(_) => return,
        };
        let is_shown = s.known
            || (matches!(parent, DirState::Merged)
                && (s.metacopy || shown.data.contains_key(&keys.key(layer, rel))));
        let why = || match parent {
            DirState::Hidden(r) => *r,
            DirState::Merged => why_of(rel),
        };
        if s.nlink > 1 {
            let r = if is_shown || s.size == 0 {
                Why::Known(WasteReason::Unreached)
            } else {
                why()
            };
            linked.push((
                (s.dev, s.ino),
                s.size,
                s.allocated,
                is_shown,
                rel.to_vec(),
                r,
            ));
            return;
        }
        f.files += 1;
        f.stored_bytes += s.size;
        f.allocated_bytes += s.allocated;
        if is_shown {
            f.visible_bytes += s.size;
        } else {
            f.hidden_bytes += s.size;
            if s.size > 0 {
                wasted.push((rel.to_vec(), s.size, why()));
            }
        }
    };
    // A file the walk showed, with one link: its stat from the walk, no second one.
    let known = |parent: &DirState, rel: &[u8]| -> Option<scan::Stored> {
        if !matches!(parent, DirState::Merged) {
            return None;
        }
        let k = shown.data.get(&keys.key(layer, rel))?;
        (k.blocks != u32::MAX).then_some(scan::Stored {
            dev: 0,
            ino: 0,
            nlink: 1,
            size: k.size,
            allocated: u64::from(k.blocks) * 512,
            metacopy: false,
            known: true,
        })
    };
    scan::scan(&root, probe, start, &mut child_state, &known, &mut visit)?;
    Ok(out)
}

/// Turns what the scans found into reasons.
struct Explain<'a> {
    merger: &'a Merger,
    /// Every whiteout's path, with the topmost layer that has one there.
    whiteouts: HashMap<Vec<u8>, usize>,
    /// Names the merged view lacks that no whiteout explains, looked up once each.
    resolved: HashMap<(usize, Vec<u8>), WasteReason>,
}

impl Explain<'_> {
    /// The reason of layer `layer`'s copy at `rel`.
    fn reason(&mut self, layer: usize, rel: &[u8], why: Why) -> WasteReason {
        let n = match why {
            Why::Known(r) => return r,
            Why::Absent(n) => n,
        };
        let anchor = &rel[..n.min(rel.len())];
        // A name absent from a merged directory: the topmost entry there is a whiteout.
        if let Some(&at) = self.whiteouts.get(anchor)
            && at < layer
        {
            return WasteReason::Hidden(HiddenReason::WhitedOut { at });
        }
        // Otherwise (an xattr whiteout, a lookup the kernel refuses): ask the merge engine.
        if let Some(r) = self.resolved.get(&(layer, anchor.to_vec())) {
            return *r;
        }
        let mut merged = Vec::with_capacity(anchor.len() + 1);
        merged.push(b'/');
        merged.extend_from_slice(anchor);
        let r = self
            .merger
            .resolve(&merged)
            .ok()
            .and_then(|res| {
                res.versions.iter().find_map(|v| match v.role {
                    VersionRole::Hidden(r) if v.layer == layer && v.rel == anchor => {
                        Some(WasteReason::Hidden(r))
                    }
                    _ => None,
                })
            })
            .unwrap_or(WasteReason::Unreached);
        self.resolved.insert((layer, anchor.to_vec()), r);
        r
    }
}

/// Compares each upper file with the version it hides: size first, then content.
fn noop_copyups(merger: &Merger, candidates: &[CopyUpCandidate]) -> Result<Vec<NoopCopyUp>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let stack = merger.stack();
    let roots = stack
        .layers
        .iter()
        .map(|l| l.open())
        .collect::<Result<Vec<_>>>()?;
    let mut out: Vec<NoopCopyUp> = candidates
        .par_iter()
        .filter_map(|(path, upper_rel, lower, lower_rel)| {
            let bytes = same_content(&roots[0], upper_rel, &roots[*lower], lower_rel)
                .ok()
                .flatten()?;
            Some(NoopCopyUp {
                path: path.clone(),
                bytes,
                lower: *lower,
            })
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// `Some(size)` when both files hold the same bytes.
fn same_content(
    a_root: &LayerRoot,
    a: &[u8],
    b_root: &LayerRoot,
    b: &[u8],
) -> std::io::Result<Option<u64>> {
    let mut fa = a_root.open_file(a)?;
    let mut fb = b_root.open_file(b)?;
    let (Some(len), Some(len_b)) = (fa.regular_len()?, fb.regular_len()?) else {
        return Ok(None);
    };
    if len != len_b {
        return Ok(None);
    }
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(None);
        }
        if n == 0 {
            return Ok(Some(len));
        }
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
