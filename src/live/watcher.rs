//! The watcher: per-directory inotify watches on the upper layer (and, on request, the lowers)
//! added the safe way ([`super::inotify`]), a bounded channel, and the batcher thread that keeps
//! the upper layer's snapshot and explains each burst.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::classify::{self, Observed};
use super::facts::{self, BelowReader, UpperFacts, merged_of};
use super::inotify::{DirWatcher, Report, WatchError};
use super::{Batch, LiveEvent, LiveKind, LiveOptions, LowerChange, WatchMode};
use crate::error::{Error, Result};
use crate::fsio::LayerRoot;
use crate::merge::{FileKind, Merger};
use crate::stack::{LayerRole, LayerStack, XattrNamespace};

/// A running live watch. Dropping it stops the inotify watcher and the batcher thread (and waits
/// for the thread, so the sink is never called afterwards).
#[derive(Debug)]
pub struct LiveWatcher {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
}

/// Flags the inotify reader raises for the batcher.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    overflow: AtomicBool,
    overflow_reason: Mutex<Option<String>>,
    watch_limit: AtomicBool,
    watch_limit_reason: Mutex<Option<String>>,
}

impl Shared {
    fn raise(flag: &AtomicBool, reason: &Mutex<Option<String>>, why: String) {
        if let Ok(mut r) = reason.lock() {
            r.get_or_insert(why);
        }
        flag.store(true, Ordering::SeqCst);
    }

    fn take(flag: &AtomicBool, reason: &Mutex<Option<String>>) -> Option<String> {
        if !flag.swap(false, Ordering::SeqCst) {
            return None;
        }
        Some(
            reason
                .lock()
                .ok()
                .and_then(|mut r| r.take())
                .unwrap_or_else(|| "events were lost".into()),
        )
    }
}

/// What a raw event suggests (only lower-layer events use it; upper ones are compared with the
/// snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hint {
    created: bool,
    removed: bool,
}

#[derive(Debug)]
enum Msg {
    Raw {
        target: Target,
        time: SystemTime,
        at: Instant,
        hint: Hint,
    },
    Wake,
    Rescan,
    Error(String),
    Stop,
}

/// A watched path: upper-relative, or in lower layer N.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Upper(Vec<u8>),
    Lower(usize, Vec<u8>),
}

#[derive(Debug, Default)]
struct Pending {
    order: Vec<(Target, SystemTime, Hint)>,
    seen: HashMap<Target, usize>,
    first: Option<Instant>,
}

impl Pending {
    fn add(&mut self, t: Target, time: SystemTime, hint: Hint) {
        match self.seen.get(&t) {
            Some(&i) => {
                let h = &mut self.order[i].2;
                h.created |= hint.created;
                h.removed |= hint.removed;
            }
            None => {
                self.seen.insert(t.clone(), self.order.len());
                self.order.push((t, time, hint));
            }
        }
        self.first.get_or_insert_with(Instant::now);
    }
}

impl LiveWatcher {
    /// Starts watching `stack`'s upper layer; `sink` receives every batch on the batcher thread.
    /// The first batch is a [`LiveKind::Watching`] notice, sent once the upper layer's snapshot
    /// is taken: changes after it are all reported.
    ///
    /// # Errors
    /// The stack has no upperdir, or its layers cannot be opened.
    pub fn spawn<S>(stack: &LayerStack, options: LiveOptions, sink: S) -> Result<LiveWatcher>
    where
        S: FnMut(Batch) + Send + 'static,
    {
        if !stack.has_upper() {
            return Err(Error::BadInput(format!(
                "stack '{}' has no upperdir: nothing writes to it, so there is nothing to watch; \
                 name a mounted overlay that has an upperdir, or pass --upperdir",
                stack.name
            )));
        }
        let merger = Merger::open(stack)?;
        // The same stack without its upper layer: what the kernel searches below it.
        let lowers_merger = {
            let mut below = stack.clone();
            below.layers.remove(0);
            Merger::open(&below).ok()
        };
        // Absolute, as the notices have always shown it.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let upper_path = absolute(&stack.layers[0].path);
        let upper = LayerRoot::open(&upper_path)?;
        let (tx, rx) = sync_channel(options.channel_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let mut notices = Vec::new();
        let mut mode = WatchMode::Inotify;
        let mut lowers = Vec::new();
        let mut watcher = match options.poll {
            Some(iv) => {
                mode = WatchMode::Poll(iv);
                None
            }
            None => match watch_upper(stack, &upper_path) {
                Ok(w) => Some(w),
                Err(WatchError::Limit(reason)) => {
                    mode = WatchMode::Poll(options.fallback_interval);
                    notices.push(fallback_notice(reason, options.fallback_interval));
                    None
                }
                Err(WatchError::Io(e)) => {
                    return Err(Error::BadInput(format!(
                        "cannot watch '{}': {e}",
                        upper_path.display()
                    )));
                }
            },
        };
        if options.watch_lowers
            && let Some(w) = watcher.as_mut()
        {
            for (i, layer) in stack.layers.iter().enumerate() {
                if layer.role != LayerRole::Lower {
                    continue;
                }
                let path = absolute(&layer.path);
                let added = LayerRoot::open(&path)
                    .map_err(|e| WatchError::Io(std::io::Error::other(e.to_string())))
                    .and_then(|root| w.add_layer(i, root, None));
                match added {
                    Ok(()) => lowers.push((i, path)),
                    Err(e) => {
                        notices.push(LiveEvent::notice(
                            LiveKind::Failure {
                                message: e.to_string(),
                            },
                            format!(
                                "cannot watch lower layer {i} ({}): {e}; its changes will not be reported",
                                crate::escape::path(&layer.path)
                            ),
                        ));
                        if matches!(e, WatchError::Limit(_)) {
                            break;
                        }
                    }
                }
            }
        }
        if let Some(w) = watcher.as_mut() {
            w.start(report_handler(&tx, &shared))
                .map_err(|e| Error::io("starting the inotify reader thread", "", e))?;
        }
        if let Some(w) = crate::fsio::jail_warning() {
            notices.push(LiveEvent::notice(
                LiveKind::Failure { message: w.clone() },
                format!("warning: {w}"),
            ));
        }
        let lower_roots = lowers
            .iter()
            .filter_map(|(i, p)| LayerRoot::open(p).ok().map(|r| (*i, p.clone(), r)))
            .collect();
        let batcher = Batcher {
            labels: stack.layers.iter().map(|l| l.label.clone()).collect(),
            ns: stack.options.xattr,
            merger,
            lowers_merger,
            upper,
            upper_path,
            lowers: lower_roots,
            snapshot: BTreeMap::new(),
            pending: Pending::default(),
            shared: Arc::clone(&shared),
            rx,
            watcher,
            mode,
            options,
            sink,
            seq: 0,
            rescan_requested: false,
            last_poll: Instant::now(),
            last_msg: Instant::now(),
            notices,
        };
        let thread = std::thread::Builder::new()
            .name("layerscope-live".into())
            .spawn(move || batcher.run())
            .map_err(|e| Error::io("starting the live watcher thread", "", e))?;
        Ok(LiveWatcher {
            shared,
            tx,
            thread: Some(thread),
        })
    }

    /// Asks for a rescan of the upper layer (its differences from the snapshot are reported).
    pub fn rescan(&self) {
        let _ = self.tx.try_send(Msg::Rescan);
    }

    /// Stops the watch and waits for the batcher thread (the same as dropping it).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for LiveWatcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.tx.try_send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn fallback_notice(reason: String, interval: Duration) -> LiveEvent {
    let text = format!(
        "inotify cannot watch every directory ({reason}): polling the upper layer every {} ms instead",
        interval.as_millis()
    );
    LiveEvent::notice(LiveKind::Fallback { reason, interval }, text)
}

/// Watches every real directory of the upper layer (not the workdir, should it sit inside).
fn watch_upper(stack: &LayerStack, upper: &Path) -> std::result::Result<DirWatcher, WatchError> {
    let mut w = DirWatcher::new()?;
    let root =
        LayerRoot::open(upper).map_err(|e| WatchError::Io(std::io::Error::other(e.to_string())))?;
    let skip = stack
        .workdir
        .as_ref()
        .map(|wd| std::path::absolute(wd).unwrap_or_else(|_| wd.clone()))
        .and_then(|wd| {
            wd.strip_prefix(upper)
                .ok()
                .map(|r| r.as_os_str().as_bytes().to_vec())
        })
        .filter(|r| !r.is_empty());
    w.add_layer(0, root, skip)?;
    Ok(w)
}

/// The inotify reader's handler. It does almost nothing: `try_send` into the bounded channel,
/// raising the overflow flag when it is full.
fn report_handler(
    tx: &SyncSender<Msg>,
    shared: &Arc<Shared>,
) -> impl FnMut(Report) + Send + 'static {
    let tx = tx.clone();
    let shared = Arc::clone(shared);
    move |report| match report {
        Report::Changed {
            layer,
            rel,
            created,
            removed,
        } => {
            let target = if layer == 0 {
                Target::Upper(rel)
            } else {
                Target::Lower(layer, rel)
            };
            match tx.try_send(Msg::Raw {
                target,
                time: SystemTime::now(),
                at: Instant::now(),
                hint: Hint { created, removed },
            }) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => Shared::raise(
                    &shared.overflow,
                    &shared.overflow_reason,
                    "the watcher's event channel was full".into(),
                ),
            }
        }
        Report::Overflow => {
            Shared::raise(
                &shared.overflow,
                &shared.overflow_reason,
                "the kernel's inotify queue overflowed".into(),
            );
            let _ = tx.try_send(Msg::Wake);
        }
        Report::Limit(reason) => {
            Shared::raise(&shared.watch_limit, &shared.watch_limit_reason, reason);
            let _ = tx.try_send(Msg::Wake);
        }
        Report::Error(text) => {
            let _ = tx.try_send(Msg::Error(text));
        }
    }
}

struct Batcher<S> {
    labels: Vec<Option<String>>,
    ns: XattrNamespace,
    merger: Merger,
    lowers_merger: Option<Merger>,
    upper: LayerRoot,
    upper_path: PathBuf,
    lowers: Vec<(usize, PathBuf, LayerRoot)>,
    snapshot: BTreeMap<Vec<u8>, UpperFacts>,
    pending: Pending,
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    watcher: Option<DirWatcher>,
    mode: WatchMode,
    options: LiveOptions,
    sink: S,
    seq: u64,
    rescan_requested: bool,
    last_poll: Instant,
    last_msg: Instant,
    notices: Vec<LiveEvent>,
}

/// After an overflow, a rescan waits for a quiet window, but at most this many windows.
const OVERFLOW_PATIENCE: u32 = 20;

/// The result of reading one dirty path.
struct Dirty {
    rel: Vec<u8>,
    time: SystemTime,
    rescan: bool,
}

impl<S: FnMut(Batch)> Batcher<S> {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    fn send(&mut self, events: Vec<LiveEvent>) {
        if events.is_empty() || self.stopping() {
            return;
        }
        let batch = Batch {
            seq: self.seq,
            events,
        };
        self.seq += 1;
        (self.sink)(batch);
    }

    fn run(mut self) {
        match facts::walk_upper(&self.upper, b"", self.ns, &self.shared.stop) {
            Ok(s) => self.snapshot = s,
            Err(e) => self.notices.push(LiveEvent::notice(
                LiveKind::Failure {
                    message: e.to_string(),
                },
                format!(
                    "cannot read the upper layer {}: {e}",
                    crate::escape::path(&self.upper_path)
                ),
            )),
        }
        let lowers: Vec<usize> = self.lowers.iter().map(|(i, _, _)| *i).collect();
        let entries = self.snapshot.len().saturating_sub(1);
        let how = match self.mode {
            WatchMode::Inotify => "with inotify".to_string(),
            WatchMode::Poll(iv) => format!("by polling every {} ms", iv.as_millis()),
        };
        let lower_text = if lowers.is_empty() {
            "lower layers are not watched".to_string()
        } else {
            format!(
                "lower layers {lowers:?} are watched too (changing them under a live mount is undefined behaviour)"
            )
        };
        let mut first = std::mem::take(&mut self.notices);
        first.push(LiveEvent::notice(
            LiveKind::Watching {
                upper: self.upper_path.clone(),
                entries,
                mode: self.mode,
                lowers,
            },
            format!(
                "watching the upper layer {} ({entries} entries) {how}; {lower_text}",
                crate::escape::path(&self.upper_path)
            ),
        ));
        self.send(first);
        self.last_poll = Instant::now();
        loop {
            if self.stopping() {
                return;
            }
            let msg = match self.wait() {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Some(m) = msg
                && !self.handle(m)
            {
                return;
            }
            // Take what is queued, without blocking (at most one channel's worth, so a flood
            // cannot hold a batch back for ever).
            for _ in 0..self.options.channel_capacity.max(1) {
                match self.rx.try_recv() {
                    Ok(m) => {
                        if !self.handle(m) {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            if self.due() {
                self.flush();
            }
        }
    }

    /// Blocks until a message arrives or something is due; never spins while idle.
    fn wait(&mut self) -> std::result::Result<Option<Msg>, RecvTimeoutError> {
        match self.deadline() {
            None => self
                .rx
                .recv()
                .map(Some)
                .map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if self.mode == WatchMode::Inotify && self.pending.first.is_some() {
                    // A window is open: let the burst queue up in the channel instead of
                    // waking for every event; the loop drains it when the window closes.
                    // (Dropping the handle unparks us.)
                    if !left.is_zero() {
                        std::thread::park_timeout(left);
                    }
                    return Err(RecvTimeoutError::Timeout);
                }
                self.rx.recv_timeout(left).map(Some)
            }
        }
    }

    /// When the next flush is due; `None` when nothing is pending (sleep until a message).
    fn deadline(&self) -> Option<Instant> {
        if self.rescan_requested {
            return Some(Instant::now());
        }
        match self.mode {
            WatchMode::Poll(iv) => Some(self.last_poll + iv),
            WatchMode::Inotify => self.pending.first.map(|t0| {
                let window = self.options.window;
                if self.shared.overflow.load(Ordering::Relaxed) {
                    // After an overflow, rescan once the burst calms down rather than in the
                    // middle of it (which would only overflow again), but never wait long.
                    (self.last_msg + window)
                        .max(t0 + window)
                        .min(t0 + window * OVERFLOW_PATIENCE)
                } else {
                    t0 + window
                }
            }),
        }
    }

    fn due(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Takes one message; `false` to stop.
    fn handle(&mut self, m: Msg) -> bool {
        match m {
            Msg::Stop => return false,
            Msg::Raw {
                target,
                time,
                at,
                hint,
            } => {
                self.last_msg = self.last_msg.max(at);
                self.pending.add(target, time, hint);
            }
            Msg::Wake => {
                self.pending.first.get_or_insert_with(Instant::now);
            }
            Msg::Rescan => {
                self.rescan_requested = true;
                self.pending.first.get_or_insert_with(Instant::now);
            }
            Msg::Error(text) => {
                let ev = LiveEvent::notice(
                    LiveKind::Failure {
                        message: text.clone(),
                    },
                    format!("the watcher reported an error: {text}; rescanning"),
                );
                self.notices.push(ev);
                self.rescan_requested = true;
                self.pending.first.get_or_insert_with(Instant::now);
            }
        }
        !self.stopping()
    }

    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut events = std::mem::take(&mut self.notices);
        let mut full = std::mem::replace(&mut self.rescan_requested, false);
        let mut notice_rescan = full;
        if let Some(reason) =
            Shared::take(&self.shared.watch_limit, &self.shared.watch_limit_reason)
            && self.mode == WatchMode::Inotify
        {
            self.watcher = None;
            self.mode = WatchMode::Poll(self.options.fallback_interval);
            events.push(fallback_notice(reason, self.options.fallback_interval));
            full = true;
            notice_rescan = true;
        }
        if let Some(reason) = Shared::take(&self.shared.overflow, &self.shared.overflow_reason) {
            events.push(LiveEvent::notice(
                LiveKind::Overflow {
                    reason: reason.clone(),
                },
                format!(
                    "events were lost ({reason}): rescanning the upper layer so that nothing is missed"
                ),
            ));
            full = true;
            notice_rescan = true;
        }
        let polling = matches!(self.mode, WatchMode::Poll(_))
            && self.last_poll.elapsed()
                >= match self.mode {
                    WatchMode::Poll(iv) => iv,
                    WatchMode::Inotify => Duration::MAX,
                };
        if polling {
            self.last_poll = Instant::now();
            full = true;
        }
        let changes = self.process(pending, full, notice_rescan);
        let n = changes.len();
        events.append(&mut self.notices);
        events.extend(changes);
        if notice_rescan {
            events.push(LiveEvent::notice(
                LiveKind::Rescanned { changes: n },
                format!("rescan done: {n} changes found"),
            ));
        }
        self.send(events);
    }

    /// Reads, pairs, classifies and folds one batch; updates the snapshot.
    fn process(&mut self, pending: Pending, full: bool, mark_rescan: bool) -> Vec<LiveEvent> {
        let mut dirty: Vec<Dirty> = Vec::new();
        let mut after: HashMap<Vec<u8>, Option<UpperFacts>> = HashMap::new();
        let mut lower_events = Vec::new();
        for (t, time, hint) in pending.order {
            match t {
                Target::Upper(rel) => {
                    if after.contains_key(&rel) {
                        continue;
                    }
                    after.insert(rel.clone(), self.read(&rel));
                    dirty.push(Dirty {
                        rel,
                        time,
                        rescan: false,
                    });
                }
                Target::Lower(layer, rel) => {
                    lower_events.push(self.lower_change(layer, &rel, time, hint));
                }
            }
        }
        if full {
            let now = SystemTime::now();
            match facts::walk_upper(&self.upper, b"", self.ns, &self.shared.stop) {
                Ok(tree) => {
                    let gone: Vec<Vec<u8>> = self
                        .snapshot
                        .keys()
                        .filter(|k| !tree.contains_key(*k) && !after.contains_key(*k))
                        .cloned()
                        .collect();
                    for (rel, f) in tree {
                        if after.contains_key(&rel) {
                            continue;
                        }
                        if self.snapshot.get(&rel) == Some(&f) {
                            continue;
                        }
                        after.insert(rel.clone(), Some(f));
                        dirty.push(Dirty {
                            rel,
                            time: now,
                            rescan: mark_rescan,
                        });
                    }
                    for rel in gone {
                        after.insert(rel.clone(), None);
                        dirty.push(Dirty {
                            rel,
                            time: now,
                            rescan: mark_rescan,
                        });
                    }
                }
                Err(e) => lower_events.push(LiveEvent::notice(
                    LiveKind::Failure {
                        message: e.to_string(),
                    },
                    format!("rescan failed: {e}"),
                )),
            }
        }
        if self.stopping() {
            return Vec::new();
        }

        // Renames within the upper layer: an entry that vanished here and appeared there with
        // the same inode, type and mtime. A renamed directory takes its snapshot subtree along.
        let mut renamed_from: HashMap<Vec<u8>, (Vec<u8>, usize)> = HashMap::new();
        let mut consumed: HashSet<Vec<u8>> = HashSet::new();
        {
            let mut vanished: HashMap<u64, Vec<(&Vec<u8>, &UpperFacts)>> = HashMap::new();
            for d in &dirty {
                let Some(b) = self.snapshot.get(&d.rel).filter(|b| !b.whiteout) else {
                    continue;
                };
                match after.get(&d.rel).and_then(Option::as_ref) {
                    Some(a) if !a.whiteout && a.ino == b.ino => {}
                    _ => vanished.entry(b.ino).or_default().push((&d.rel, b)),
                }
            }
            let mut pairs = Vec::new();
            for d in &dirty {
                let Some(a) = after.get(&d.rel).and_then(Option::as_ref) else {
                    continue;
                };
                if a.whiteout || self.snapshot.get(&d.rel).is_some_and(|b| b.ino == a.ino) {
                    continue;
                }
                let candidates = vanished.get(&a.ino).map_or(&[][..], Vec::as_slice);
                if let Some((from, _)) = candidates
                    .iter()
                    .find(|(rel, b)| **rel != d.rel && b.kind == a.kind && b.mtime == a.mtime)
                {
                    pairs.push(((*from).clone(), d.rel.clone(), a.kind == FileKind::Dir));
                }
            }
            for (from, to, is_dir) in pairs {
                let moved = if is_dir {
                    self.move_subtree(&from, &to)
                } else {
                    0
                };
                if !after
                    .get(&from)
                    .and_then(Option::as_ref)
                    .is_some_and(|f| f.whiteout)
                {
                    consumed.insert(from.clone());
                    self.snapshot.remove(&from);
                }
                renamed_from.insert(to, (merged_of(&from), moved));
            }
        }

        // New directories bring their subtree (created before the watch reached them); vanished
        // or replaced directories take their snapshot subtree away.
        let mut times: HashMap<Vec<u8>, SystemTime> =
            dirty.iter().map(|d| (d.rel.clone(), d.time)).collect();
        let mut i = 0;
        while i < dirty.len() {
            if self.stopping() {
                return Vec::new();
            }
            let rel = dirty[i].rel.clone();
            let b = self.snapshot.get(&rel);
            let a = after.get(&rel).and_then(Option::as_ref);
            let was_dir = b.is_some_and(|b| b.kind == FileKind::Dir);
            let is_dir = a.is_some_and(|a| a.kind == FileKind::Dir);
            let same = match (b, a) {
                (Some(b), Some(a)) => b.ino == a.ino,
                _ => false,
            };
            if was_dir && !same {
                let old: Vec<Vec<u8>> = subtree_keys(&self.snapshot, &rel)
                    .into_iter()
                    .filter(|k| !after.contains_key(k))
                    .collect();
                for k in old {
                    let f = self.read(&k);
                    after.insert(k.clone(), f);
                    dirty.push(Dirty {
                        rel: k,
                        time: dirty[i].time,
                        rescan: dirty[i].rescan,
                    });
                }
            }
            if is_dir
                && !same
                && !rel.is_empty()
                && let Ok(tree) = facts::walk_upper(&self.upper, &rel, self.ns, &self.shared.stop)
            {
                for (k, f) in tree {
                    if k == rel || after.contains_key(&k) {
                        continue;
                    }
                    // Seen no earlier than its nearest ancestor with an event of its own, so
                    // that a path never comes before its parent.
                    let mut time = dirty[i].time;
                    let mut up = facts::split_rel(&k).0;
                    while up.len() > rel.len() {
                        if let Some(t) = times.get(up) {
                            time = time.max(*t);
                            break;
                        }
                        up = facts::split_rel(up).0;
                    }
                    times.insert(k.clone(), time);
                    after.insert(k.clone(), Some(f));
                    dirty.push(Dirty {
                        rel: k,
                        time,
                        rescan: dirty[i].rescan,
                    });
                }
            }
            i += 1;
        }

        // Classify against the snapshot and what lies below.
        let mut events = Vec::new();
        let mut below = BelowReader::new(&self.merger, self.lowers_merger.as_ref(), 0);
        for d in &dirty {
            if consumed.contains(&d.rel) {
                continue;
            }
            let b4 = self.snapshot.get(&d.rel);
            let a = after.get(&d.rel).and_then(Option::as_ref);
            let path = merged_of(&d.rel);
            let wo = |f: Option<&UpperFacts>| f.is_some_and(|f| f.whiteout);
            let new_here = a.is_some() && (b4.is_none() || wo(b4));
            let needs_below = wo(a)
                || new_here
                || b4.is_some_and(|b| b.metacopy) && a.is_some_and(|a| !a.metacopy)
                || (b4.is_some() && a.is_none())
                || a.is_some_and(|a| a.opaque) && !b4.is_some_and(|b| b.opaque);
            let children = wo(a) || a.is_some_and(|a| a.opaque);
            let under = if needs_below {
                below.below(&path, children)
            } else {
                None
            };
            let redirect = a
                .and_then(|a| a.redirect.as_ref())
                .filter(|r| b4.and_then(|b| b.redirect.as_ref()) != Some(*r))
                .map(|r| below.redirect_source(&path, r));
            let rn = renamed_from.get(&d.rel);
            let o = Observed {
                path: &path,
                time: d.time,
                before: b4,
                after: a,
                below: under.as_ref(),
                redirect: redirect.as_ref(),
                renamed_from: rn.map(|(f, _)| f.as_slice()),
                moved_entries: rn.map_or(0, |(_, n)| *n),
                rescan: d.rescan,
            };
            if let Some(e) = classify::classify(&o, &self.labels) {
                events.push(e);
            }
        }
        drop(below);
        for d in dirty {
            match after.remove(&d.rel).flatten() {
                Some(f) => {
                    self.snapshot.insert(d.rel, f);
                }
                None => {
                    self.snapshot.remove(&d.rel);
                }
            }
        }
        events.sort_by_key(|e| e.time);
        let mut out = classify::finish(events);
        out.extend(lower_events);
        out
    }

    /// Moves the snapshot entries under `from` to under `to`; returns how many moved.
    fn move_subtree(&mut self, from: &[u8], to: &[u8]) -> usize {
        let keys = subtree_keys(&self.snapshot, from);
        for k in &keys {
            if let Some(f) = self.snapshot.remove(k) {
                let mut nk = to.to_vec();
                nk.extend_from_slice(&k[from.len()..]);
                self.snapshot.insert(nk, f);
            }
        }
        keys.len()
    }

    /// Reads an upper entry now. When it exists but cannot be read, it is taken as unchanged
    /// (so no change is invented) and a warning says so.
    fn read(&mut self, rel: &[u8]) -> Option<UpperFacts> {
        match facts::read_upper(&self.upper, rel, self.ns) {
            Ok(f) => f,
            Err(e) => {
                let path = merged_of(rel);
                self.notices.push(LiveEvent::notice(
                    LiveKind::Failure {
                        message: e.to_string(),
                    },
                    format!(
                        "cannot read {} in the upper layer: {e}; its change is not shown",
                        crate::escape::display(&path)
                    ),
                ));
                self.snapshot.get(rel).cloned()
            }
        }
    }

    fn lower_change(&self, layer: usize, rel: &[u8], time: SystemTime, hint: Hint) -> LiveEvent {
        let exists = self
            .lowers
            .iter()
            .find(|(i, _, _)| *i == layer)
            .is_some_and(|(_, _, root)| {
                facts::read_upper(root, rel, self.ns)
                    .ok()
                    .flatten()
                    .is_some()
            });
        let change = match (exists, hint) {
            (false, _) => LowerChange::Removed,
            (true, Hint { created: true, .. }) => LowerChange::Created,
            (true, _) => LowerChange::Modified,
        };
        classify::lower_event(&merged_of(rel), layer, change, time, &self.labels)
    }
}

/// The snapshot keys strictly under `dir` (upper-relative; `""` is the root).
fn subtree_keys(snapshot: &BTreeMap<Vec<u8>, UpperFacts>, dir: &[u8]) -> Vec<Vec<u8>> {
    if dir.is_empty() {
        return snapshot.keys().filter(|k| !k.is_empty()).cloned().collect();
    }
    // Everything under `dir/` sorts between `dir/` and `dir0` ('0' follows '/').
    let mut lo = dir.to_vec();
    lo.push(b'/');
    let mut hi = dir.to_vec();
    hi.push(b'0');
    snapshot.range(lo..hi).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_keys_skip_siblings_that_sort_between() {
        let f = UpperFacts {
            kind: FileKind::File,
            size: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: (0, 0),
            ino: 0,
            whiteout: false,
            opaque: false,
            redirect: None,
            metacopy: false,
            origin: false,
            xattrs: Vec::new(),
        };
        let snap: BTreeMap<Vec<u8>, UpperFacts> =
            ["", "a", "a-x", "a.b", "a/b", "a/b/c", "a0", "b"]
                .iter()
                .map(|k| (k.as_bytes().to_vec(), f.clone()))
                .collect();
        assert_eq!(
            subtree_keys(&snap, b"a"),
            vec![b"a/b".to_vec(), b"a/b/c".to_vec()]
        );
        assert_eq!(subtree_keys(&snap, b"").len(), 7);
    }
}
