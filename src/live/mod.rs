//! Live copy-on-write view: what the kernel writes into the upper layer, as it happens, explained
//! in overlay's own terms.
//!
//! ```text
//! notify's inotify thread --events--> watch thread --changed paths--> batcher thread --> sink(Batch)
//!   (NonRecursive watches,           (watch new directories,       (coalesce a window, dedupe,
//!    forwards only)                   try_send into a bounded       read the upper entry and what
//!                                     channel)                      lies below it, classify)
//! ```
//!
//! - [`LiveWatcher::spawn`] watches the upperdir (one inotify watch per real directory, new ones
//!   included, never the workdir) and, on request, the lower layers (flagged: the kernel calls
//!   changing them under a live mount undefined). Watches are added through descriptors
//!   [`crate::fsio`] opened (notify is handed `/proc/self/fd/N`), so no symlink is followed and
//!   no mount crossed (`inotify.rs`). It owns the inotify reader thread and the batcher thread; dropping it stops both.
//! - The batcher keeps a snapshot of the upper layer. Each changed path is compared with its
//!   snapshot entry and with what the lower layers hold there ([`facts`], through the merge
//!   engine), and [`classify::classify`] (pure, no I/O) turns that into a [`LiveEvent`] with an
//!   explanation: created, copied up, metadata-only copy-up, data copy-up, modified, deleted (a
//!   whiteout), opaque directory, redirect, rename, attribute change.
//! - Nothing is lost silently: an inotify queue overflow or a full internal channel gives an
//!   [`LiveKind::Overflow`] warning and a rescan of the upper layer, whose differences with the
//!   snapshot are reported like any change; an exhausted inotify watch limit gives a
//!   [`LiveKind::Fallback`] warning and polling. When nothing happens, both threads sleep.
//!
//! The sink is any `FnMut(Batch) + Send`: the TUI forwards batches into its inbox, the CLI prints
//! them (`layerscope watch`).
//!
//! ```no_run
//! use std::sync::mpsc;
//! use layerscope::live::{LiveOptions, LiveWatcher};
//! use layerscope::stack::spec::{StackRequest, resolve};
//!
//! # fn main() -> layerscope::Result<()> {
//! let stack = resolve(&StackRequest {
//!     stack: Some("/var/lib/docker/overlay2/ID/merged".into()),
//!     ..StackRequest::default()
//! })?;
//! let (tx, rx) = mpsc::channel();
//! // The TUI would send `AppEvent::Live(batch)` into its inbox instead.
//! let watcher = LiveWatcher::spawn(&stack, LiveOptions::default(), move |batch| {
//!     let _ = tx.send(batch);
//! })?;
//! for batch in rx.iter().take(3) {
//!     for e in &batch.events {
//!         println!("{} {} {}", e.kind.symbol(), String::from_utf8_lossy(&e.path), e.explanation);
//!     }
//! }
//! drop(watcher); // stops the inotify reader and the batcher thread; the sink is not called again
//! # Ok(())
//! # }
//! ```

pub mod classify;
pub mod facts;
mod inotify;
pub mod json;
mod watcher;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::merge::FileKind;

pub use watcher::LiveWatcher;

/// How the watcher is set up.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// How long a burst is gathered before it is explained and sent (from its first change).
    pub window: Duration,
    /// Capacity of the channel from the inotify reader thread to the batcher; when it is full, events
    /// are dropped and a rescan recovers them (with an [`LiveKind::Overflow`] warning).
    pub channel_capacity: usize,
    /// Also watch the lower layers (changing them under a live mount is undefined behaviour; it
    /// costs one inotify watch per lower directory).
    pub watch_lowers: bool,
    /// Poll instead of using inotify, at this interval.
    pub poll: Option<Duration>,
    /// The polling interval used when inotify cannot watch every directory.
    pub fallback_interval: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            window: Duration::from_millis(100),
            channel_capacity: 65_536,
            watch_lowers: false,
            poll: None,
            fallback_interval: Duration::from_secs(1),
        }
    }
}

/// One batch of explained events, in the order the changes were first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Batches are numbered from 0 in the order they are sent.
    pub seq: u64,
    /// The events; notices (watching, overflow, rescan, fallback) are events too.
    pub events: Vec<LiveEvent>,
}

impl Batch {
    /// The merged paths this batch changed (for refreshing a browser), without notices.
    pub fn changed_paths(&self) -> impl Iterator<Item = &[u8]> {
        self.events
            .iter()
            .filter(|e| !e.kind.is_notice())
            .map(|e| e.path.as_slice())
    }
}

/// One explained change, or a notice about the watch itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// When the change was first seen (for rescans and notices: when they ran).
    pub time: SystemTime,
    /// The merged path, starting with `/`; empty for notices.
    pub path: Vec<u8>,
    /// The layer the explanation is about: the source of a copy-up, the layer a whiteout or
    /// opaque directory hides, a redirect's target; 0 (the upper) for changes made there alone.
    pub layer: Option<usize>,
    /// That layer's label (image instruction, container name), when it has one.
    pub label: Option<String>,
    /// What happened, with the fields of that kind.
    pub kind: LiveKind,
    /// One sentence for people; names in it are already escaped for a terminal.
    pub explanation: String,
    /// Parent directories the kernel copied up for this change (folded into it).
    pub parents: Vec<Vec<u8>>,
    /// Found by a rescan after events were lost, rather than seen as it happened.
    pub from_rescan: bool,
}

/// What a lower-layer change was (only with [`LiveOptions::watch_lowers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerChange {
    /// The path appeared.
    Created,
    /// The path changed.
    Modified,
    /// The path went away.
    Removed,
}

impl LowerChange {
    /// `created`, `modified`, `removed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LowerChange::Created => "created",
            LowerChange::Modified => "modified",
            LowerChange::Removed => "removed",
        }
    }
}

/// How the upper layer is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify through notify: no CPU while nothing happens.
    Inotify,
    /// A rescan at a fixed interval (forced, or because inotify ran out of watches).
    Poll(Duration),
}

/// The kinds of live events, with their own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveKind {
    /// A path appeared in the upper layer and no lower layer showed it before.
    Created {
        /// Its type.
        file_kind: FileKind,
        /// Its size.
        size: u64,
        /// It was made where a whiteout stood: this layer's version stays hidden.
        over_whiteout: Option<usize>,
        /// It replaced a lower entry of another type (deleted and recreated in one burst).
        replaces: Option<(usize, FileKind)>,
        /// It carries an overlay origin xattr, yet nothing below has its path: a copied-up
        /// entry moved here.
        moved_copy: bool,
    },
    /// A lower layer's entry was copied into the upper layer (`layer` is the source).
    CopiedUp {
        /// Its type.
        file_kind: FileKind,
        /// Bytes the kernel copied (0 for directories, and for opens with `O_TRUNC`).
        bytes: u64,
        /// Its size now.
        size: u64,
        /// The upper copy is smaller than the lower one: opened with `O_TRUNC`, no data copied.
        truncated: bool,
    },
    /// A metadata-only copy-up (`metacopy=on`): new metadata in the upper, data still below.
    MetacopyUp {
        /// The file's size.
        size: u64,
        /// The layer whose data is still read.
        data_layer: usize,
    },
    /// The data of a metadata-only copy was copied up, on the first write (`layer` is the source).
    DataCopiedUp {
        /// Bytes copied.
        bytes: u64,
        /// Its size now.
        size: u64,
    },
    /// An entry already in the upper layer changed content.
    Modified {
        /// Its type.
        file_kind: FileKind,
        /// Size before.
        size_before: u64,
        /// Size now.
        size: u64,
    },
    /// A whiteout appeared: the path is deleted, and `layer`'s version is hidden.
    Deleted {
        /// The type of the hidden version.
        hidden_kind: FileKind,
        /// For a directory: how many entries it held (in the merged lower view).
        hidden_entries: usize,
        /// The upper layer held its own copy, which went away with it.
        replaced_upper: bool,
        /// The directory was renamed to this path (which redirects here).
        renamed_to: Option<Vec<u8>>,
        /// Changes under it folded into this event.
        folded: usize,
    },
    /// An entry went away from the upper layer without a whiteout (nothing below needed hiding).
    Removed {
        /// Its type.
        file_kind: FileKind,
        /// This lower layer's version shows through again.
        uncovers: Option<usize>,
        /// Changes under it folded into this event.
        folded: usize,
    },
    /// An opaque directory appeared (`rm -rf` then `mkdir`): it hides what the lowers hold there.
    OpaqueDir {
        /// The lower layers whose copies it cuts off.
        hidden_layers: Vec<usize>,
        /// Some of the names it now hides (at most 20).
        hidden: Vec<Vec<u8>>,
        /// How many names it hides.
        hidden_count: usize,
    },
    /// An entry renamed through the mount carries a redirect to its lower original.
    Redirected {
        /// Its type (a directory, or a metacopy file).
        file_kind: FileKind,
        /// The merged path it came from.
        from: Vec<u8>,
        /// The raw redirect xattr value.
        redirect: Vec<u8>,
    },
    /// An upper-only entry was renamed within the upper layer.
    Renamed {
        /// Its type.
        file_kind: FileKind,
        /// The merged path it came from.
        from: Vec<u8>,
        /// Entries under it that moved with it.
        folded: usize,
    },
    /// Mode, owner or extended attributes changed (content did not).
    Attributes {
        /// What changed, e.g. `mode 0644 -> 0600`, `xattr user.x set`.
        changes: Vec<String>,
    },
    /// A lower layer changed under the live mount (undefined behaviour; only when watched).
    LowerChanged {
        /// What happened.
        change: LowerChange,
    },
    /// Notice: the watch is ready.
    Watching {
        /// The upper layer's directory.
        upper: PathBuf,
        /// How many entries it holds now.
        entries: usize,
        /// inotify or polling.
        mode: WatchMode,
        /// The lower layers watched too.
        lowers: Vec<usize>,
    },
    /// Warning: events were lost; a rescan follows.
    Overflow {
        /// Why (kernel queue overflow, internal channel full).
        reason: String,
    },
    /// Notice: a rescan finished.
    Rescanned {
        /// How many changes it found.
        changes: usize,
    },
    /// Warning: inotify cannot cover the tree; polling instead.
    Fallback {
        /// Why.
        reason: String,
        /// The polling interval.
        interval: Duration,
    },
    /// Warning: the watcher hit an error it could not explain away.
    Failure {
        /// What went wrong.
        message: String,
    },
}

/// A colour-free grouping of kinds, for a UI to pick colours from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Something new.
    Added,
    /// Copy-on-write at work.
    Copied,
    /// Content or metadata changed.
    Changed,
    /// Something deleted or removed.
    Deleted,
    /// Directory structure markers: opaque, redirect, rename.
    Structure,
    /// A warning.
    Warning,
    /// A notice.
    Info,
}

impl LiveKind {
    /// The kebab-case name used in JSON and text (`copied-up`, `deleted`, ...).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            LiveKind::Created { .. } => "created",
            LiveKind::CopiedUp { .. } => "copied-up",
            LiveKind::MetacopyUp { .. } => "metacopy-up",
            LiveKind::DataCopiedUp { .. } => "data-copied-up",
            LiveKind::Modified { .. } => "modified",
            LiveKind::Deleted { .. } => "deleted",
            LiveKind::Removed { .. } => "removed",
            LiveKind::OpaqueDir { .. } => "opaque-dir",
            LiveKind::Redirected { .. } => "redirected",
            LiveKind::Renamed { .. } => "renamed",
            LiveKind::Attributes { .. } => "attributes",
            LiveKind::LowerChanged { .. } => "lower-changed",
            LiveKind::Watching { .. } => "watching",
            LiveKind::Overflow { .. } => "overflow",
            LiveKind::Rescanned { .. } => "rescanned",
            LiveKind::Fallback { .. } => "fallback",
            LiveKind::Failure { .. } => "error",
        }
    }

    /// A one-character symbol for terminals.
    #[must_use]
    pub fn symbol(&self) -> char {
        match self {
            LiveKind::Created { .. } => '+',
            LiveKind::CopiedUp { .. } => '↑',
            LiveKind::MetacopyUp { .. } => '⇡',
            LiveKind::DataCopiedUp { .. } => '⇑',
            LiveKind::Modified { .. } => '~',
            LiveKind::Deleted { .. } => '✗',
            LiveKind::Removed { .. } => '-',
            LiveKind::OpaqueDir { .. } => '■',
            LiveKind::Redirected { .. } => '↪',
            LiveKind::Renamed { .. } => '→',
            LiveKind::Attributes { .. } => '*',
            LiveKind::LowerChanged { .. }
            | LiveKind::Overflow { .. }
            | LiveKind::Fallback { .. }
            | LiveKind::Failure { .. } => '!',
            LiveKind::Watching { .. } | LiveKind::Rescanned { .. } => '●',
        }
    }

    /// The colour group of this kind.
    #[must_use]
    pub fn tone(&self) -> Tone {
        match self {
            LiveKind::Created { .. } => Tone::Added,
            LiveKind::CopiedUp { .. }
            | LiveKind::MetacopyUp { .. }
            | LiveKind::DataCopiedUp { .. } => Tone::Copied,
            LiveKind::Modified { .. } | LiveKind::Attributes { .. } => Tone::Changed,
            LiveKind::Deleted { .. } | LiveKind::Removed { .. } => Tone::Deleted,
            LiveKind::OpaqueDir { .. } | LiveKind::Redirected { .. } | LiveKind::Renamed { .. } => {
                Tone::Structure
            }
            LiveKind::LowerChanged { .. }
            | LiveKind::Overflow { .. }
            | LiveKind::Fallback { .. }
            | LiveKind::Failure { .. } => Tone::Warning,
            LiveKind::Watching { .. } | LiveKind::Rescanned { .. } => Tone::Info,
        }
    }

    /// Whether this is a notice about the watch rather than a change to a path.
    #[must_use]
    pub fn is_notice(&self) -> bool {
        matches!(
            self,
            LiveKind::Watching { .. }
                | LiveKind::Overflow { .. }
                | LiveKind::Rescanned { .. }
                | LiveKind::Fallback { .. }
                | LiveKind::Failure { .. }
        )
    }

    /// Whether this is a warning a UI should make visible (overflow, fallback, error, a lower
    /// layer changing under the mount).
    #[must_use]
    pub fn is_warning(&self) -> bool {
        self.tone() == Tone::Warning
    }
}

impl LiveEvent {
    /// A notice (no path, no layer).
    #[must_use]
    pub fn notice(kind: LiveKind, explanation: String) -> Self {
        LiveEvent {
            time: SystemTime::now(),
            path: Vec::new(),
            layer: None,
            label: None,
            kind,
            explanation,
            parents: Vec::new(),
            from_rescan: false,
        }
    }
}
