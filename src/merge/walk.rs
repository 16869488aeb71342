//! Resolving merged paths from the root, and walking the merged tree parents-first.

use super::listing::OpenListing;
use super::lookup::Outcome;
use super::markers::read_markers;
use super::{
    Anomaly, DirStack, Entry, FileKind, LayerDir, Listing, Merger, Meta, Resolved, Version,
    VersionRole,
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
        let stat = fd
            .lstat(b".")
            .map_err(|e| Error::io("reading", root.path(), e))?;
        let ns = self.stack.options.xattr;
        let top_markers = read_markers(&fd, b"", ns).unwrap_or_default();
        // At mount time the kernel checks every lower root but the last for opaque=x.
        let mut xwhiteouts = false;
        for d in &layers {
            if self.is_upper(d.layer) || d.layer == self.bottom {
                continue;
            }
            let marked = self
                .root_of(d.layer)
                .open_dir(b"")
                .and_then(|fd| read_markers(&fd, b"", ns))
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
                // `st_nlink` is u32 on some targets.
                #[allow(clippy::useless_conversion)]
                nlink: u64::from(stat.st_nlink),
                blocks: u64::try_from(stat.st_blocks).unwrap_or(0),
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
                aliases: Vec::new(),
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
    /// A recursive walk lists directories on worker threads ahead of `visit`,
    /// which still sees everything in that order on the calling thread; see
    /// [`Merger::walk_with_threads`].
    ///
    /// # Errors
    /// A layer directory cannot be read, or `visit` fails.
    pub fn walk<E: From<Error>>(
        &self,
        start: &Entry,
        recursive: bool,
        visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let threads = if recursive { walk_threads() } else { 1 };
        self.walk_with_threads(start, recursive, threads, visit)
    }

    /// [`Merger::walk`] with `threads` listing threads, the calling thread included (0 or 1: list
    /// on the calling thread only).
    ///
    /// The output is the same for any number of threads: the workers list directories in the
    /// order the walk will print them (a priority queue keyed by position in the tree), at
    /// most about [`LOOK_AHEAD`] entries ahead of `visit`, and the caller lists a directory
    /// itself when it needs one no worker has started.
    ///
    /// # Errors
    /// As [`Merger::walk`]: the first error in walk order.
    pub fn walk_with_threads<E: From<Error>>(
        &self,
        start: &Entry,
        recursive: bool,
        threads: usize,
        visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let Some(dir) = &start.dir else { return Ok(()) };
        if recursive && threads > 1 {
            return parallel::walk(self, &start.path, dir, threads - 1, LOOK_AHEAD, visit);
        }
        // Depth-first with an explicit stack, not recursion: a hostile layer can nest
        // directories deeper than any thread's stack. A huge directory is looked up and visited
        // a chunk at a time: its memory stays a few dozen bytes per name, whatever its size.
        let mut stack = vec![SeqFrame::open(self, start.path.clone(), dir.clone())?];
        while let Some(top) = stack.last_mut() {
            match top.advance(self, recursive, visit)? {
                Some(child) => {
                    let frame = SeqFrame::open(self, child.0, child.1)?;
                    stack.push(frame);
                }
                None => {
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

/// One directory of a sequential walk: its open listing, the chunk being visited and how far.
struct SeqFrame {
    path: Vec<u8>,
    dir: DirStack,
    open: OpenListing,
    chunk: usize,
    listing: Listing,
    next: usize,
    /// Whether `listing` still has to be loaded (and its anomalies visited).
    load: bool,
}

impl SeqFrame {
    fn open(m: &Merger, path: Vec<u8>, dir: DirStack) -> Result<Self> {
        let open = m.open_listing(&path, &dir)?;
        let chunk = if open.len() > CHUNK {
            CHUNK
        } else {
            usize::MAX
        };
        Ok(SeqFrame {
            path,
            dir,
            open,
            chunk,
            listing: Listing::default(),
            next: 0,
            load: true,
        })
    }

    /// Visits entries up to the next subdirectory to descend into (returned) or the end.
    fn advance<E: From<Error>>(
        &mut self,
        m: &Merger,
        recursive: bool,
        visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Option<(Vec<u8>, DirStack)>, E> {
        loop {
            if self.load {
                self.load = false;
                self.listing = m.next_chunk(&self.path, &self.dir, &mut self.open, self.chunk);
                self.next = 0;
                for a in &self.listing.anomalies {
                    visit(Visit::Anomaly(a))?;
                }
            }
            while let Some(e) = self.listing.entries.get(self.next) {
                self.next += 1;
                visit(Visit::Entry(e))?;
                if recursive
                    && e.kind == FileKind::Dir
                    && let Some(dir) = &e.dir
                {
                    return Ok(Some((e.path.clone(), dir.clone())));
                }
            }
            if self.chunk == usize::MAX || self.open.finished() {
                return Ok(None);
            }
            self.load = true;
        }
    }
}

/// A directory with more names than this is listed in chunks of this many names, each looked
/// up just before it is visited, so that one huge directory does not hold an [`Entry`] per name.
pub const CHUNK: usize = 4096;

/// How many entries a parallel walk lists ahead of its visitor, at most (plus the directories
/// being listed at that moment): bounds its memory whatever the tree's size.
pub const LOOK_AHEAD: usize = 8192;

/// Listing threads for a recursive walk: `LAYERSCOPE_THREADS` when set, else one per CPU and at
/// least four (with a cold cache the walk waits on the disk, and more requests in flight help),
/// at most 16.
fn walk_threads() -> usize {
    std::env::var("LAYERSCOPE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .clamp(4, 16)
        })
        .min(64)
}

/// The parallel walk: workers list directories in print order, the caller prints.
mod parallel {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, HashMap};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Condvar, Mutex, MutexGuard};

    use super::super::listing::OpenListing;
    use super::super::{DirStack, FileKind, Listing, Merger};
    use super::{CHUNK, Visit};
    use crate::error::{Error, Result};

    /// A directory to list. `key` is its position in the tree (child indexes from the start),
    /// so that keys in order are the walk's print order.
    struct Task {
        key: Vec<u32>,
        id: u64,
        path: Vec<u8>,
        dir: DirStack,
    }

    impl PartialEq for Task {
        fn eq(&self, other: &Self) -> bool {
            self.key == other.key
        }
    }
    impl Eq for Task {}
    impl PartialOrd for Task {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Task {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.key.cmp(&other.key)
        }
    }

    /// A listed directory and, per entry, the task id of its listing when it is a directory;
    /// or a huge directory whose names are read, left for the printer to look up in chunks.
    enum Done {
        Listed {
            listing: Listing,
            children: Vec<Option<u64>>,
        },
        Chunked {
            open: OpenListing,
            task: Box<Task>,
        },
    }

    impl Done {
        /// Entries held until printed.
        fn buffered(&self) -> usize {
            match self {
                Done::Listed { listing, .. } => listing.entries.len(),
                Done::Chunked { .. } => 0,
            }
        }
    }

    /// A directory being printed: its listing (the current chunk of a huge one), how far the
    /// printer got, and for a huge directory what is left to look up.
    struct Frame {
        listing: Listing,
        children: Vec<Option<u64>>,
        next: usize,
        /// Whether the listing's anomalies are still to be visited.
        fresh: bool,
        chunked: Option<(OpenListing, Task, usize)>,
    }

    impl Frame {
        /// Visits entries up to the next subdirectory to print (its task id) or the end.
        fn advance<E: From<Error>>(
            &mut self,
            shared: &Shared<'_>,
            visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
        ) -> std::result::Result<Option<u64>, E> {
            loop {
                if self.fresh {
                    self.fresh = false;
                    for a in &self.listing.anomalies {
                        visit(Visit::Anomaly(a))?;
                    }
                }
                while let Some(e) = self.listing.entries.get(self.next) {
                    let child = self.children[self.next];
                    self.next += 1;
                    visit(Visit::Entry(e))?;
                    if child.is_some() {
                        return Ok(child);
                    }
                }
                let Some((open, task, base)) = &mut self.chunked else {
                    return Ok(None);
                };
                if open.finished() {
                    return Ok(None);
                }
                let chunk = shared.next_chunk(open, task, base);
                self.listing = chunk.listing;
                self.children = chunk.children;
                self.next = 0;
                self.fresh = true;
            }
        }
    }

    #[derive(Default)]
    struct State {
        pending: BinaryHeap<Reverse<Task>>,
        done: HashMap<u64, Result<Done>>,
        /// Entries listed and not yet taken by the printer.
        buffered: usize,
        /// The most entries listed ahead of the printer, unless the printer waits.
        look_ahead: usize,
        /// The task the printer is blocked on.
        waiting: Option<u64>,
        idle: usize,
        stop: bool,
    }

    struct Shared<'m> {
        merger: &'m Merger,
        state: Mutex<State>,
        /// Signalled when there is work (or the walk ends).
        work: Condvar,
        /// Signalled when the task the printer waits for is done.
        ready: Condvar,
        next_id: AtomicU64,
    }

    impl Shared<'_> {
        fn lock(&self) -> MutexGuard<'_, State> {
            self.state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        /// Tasks for the subdirectories among `listing`'s entries (the first has index `base`
        /// in its directory), and per entry its task id.
        fn child_tasks(
            &self,
            parent: &Task,
            listing: &Listing,
            base: usize,
        ) -> (Vec<Option<u64>>, Vec<Task>) {
            let mut tasks = Vec::new();
            let children = listing
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let dir = e.dir.as_ref().filter(|_| e.kind == FileKind::Dir)?;
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let mut key = Vec::with_capacity(parent.key.len() + 1);
                    key.extend_from_slice(&parent.key);
                    key.push(u32::try_from(base + i).unwrap_or(u32::MAX));
                    tasks.push(Task {
                        key,
                        id,
                        path: e.path.clone(),
                        dir: dir.clone(),
                    });
                    Some(id)
                })
                .collect();
            (children, tasks)
        }

        /// Lists one directory and files the result, with tasks for its subdirectories.
        fn run(&self, task: Task) {
            // A panic must not leave the printer waiting for this task forever.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let m = self.merger;
                let mut open = m.open_listing(&task.path, &task.dir)?;
                if open.len() > CHUNK {
                    return Ok(Err(open));
                }
                let listing = m.next_chunk(&task.path, &task.dir, &mut open, usize::MAX);
                Ok(Ok(listing))
            }))
            .unwrap_or_else(|_| {
                Err(Error::BadInput(format!(
                    "internal error: listing '{}' panicked",
                    crate::escape::display(&task.path)
                )))
            });
            let mut tasks = Vec::new();
            let id = task.id;
            let result = result.map(|listed| match listed {
                Ok(listing) => {
                    let (children, t) = self.child_tasks(&task, &listing, 0);
                    tasks = t;
                    Done::Listed { listing, children }
                }
                Err(open) => Done::Chunked {
                    open,
                    task: Box::new(task),
                },
            });
            self.file(id, result, tasks);
        }

        /// Files a listing (or its error) and queues the tasks of its subdirectories.
        fn file(&self, id: u64, result: Result<Done>, tasks: Vec<Task>) {
            let mut st = self.lock();
            if let Ok(done) = &result {
                st.buffered += done.buffered();
            }
            let wake_workers = self.queue(&mut st, tasks);
            let wake_printer = st.waiting == Some(id);
            st.done.insert(id, result);
            drop(st);
            for _ in 0..wake_workers {
                self.work.notify_one();
            }
            if wake_printer {
                self.ready.notify_one();
            }
        }

        /// Queues tasks; returns how many idle workers to wake: no more than there are new
        /// tasks, and none held back by the look-ahead.
        fn queue(&self, st: &mut State, tasks: Vec<Task>) -> usize {
            let wake = if st.buffered < st.look_ahead {
                tasks.len().min(st.idle)
            } else {
                0
            };
            st.pending.extend(tasks.into_iter().map(Reverse));
            wake
        }

        fn worker(&self) {
            let mut st = self.lock();
            loop {
                if st.stop {
                    return;
                }
                if (st.buffered < st.look_ahead || st.waiting.is_some())
                    && let Some(Reverse(task)) = st.pending.pop()
                {
                    drop(st);
                    self.run(task);
                    st = self.lock();
                    continue;
                }
                st.idle += 1;
                st = self
                    .work
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                st.idle -= 1;
            }
        }

        /// The listing of task `id`. While it is not ready, the printer lists directories
        /// itself: this one when no worker has started it, else the next ones queued.
        fn take(&self, id: u64) -> Result<Done> {
            let mut st = self.lock();
            loop {
                if let Some(result) = st.done.remove(&id) {
                    if let Ok(done) = &result {
                        let before = st.buffered;
                        st.buffered -= done.buffered();
                        // Workers held back by the look-ahead go on once half of it is printed
                        // (not after every directory: that would wake them per directory).
                        let low = st.look_ahead / 2;
                        if st.idle > 0
                            && before >= low
                            && st.buffered < low
                            && !st.pending.is_empty()
                        {
                            self.work.notify_all();
                        }
                    }
                    return result;
                }
                // Every task before this one in print order is printed, so when this one is
                // still queued it comes first. Rather than wait while a worker lists it, list
                // the next one (within the look-ahead): blocking here costs more than it saves.
                let mine = st.pending.peek().is_some_and(|t| t.0.id == id);
                if (mine || st.buffered < st.look_ahead)
                    && let Some(Reverse(task)) = st.pending.pop()
                {
                    drop(st);
                    self.run(task);
                    st = self.lock();
                    continue;
                }
                st.waiting = Some(id);
                if st.idle > 0 && !st.pending.is_empty() {
                    self.work.notify_all();
                }
                st = self
                    .ready
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                st.waiting = None;
            }
        }

        /// Prints directory `id` and everything under it, depth-first with an explicit stack
        /// (a hostile layer can nest deeper than any thread's stack).
        fn print<E: From<Error>>(
            &self,
            id: u64,
            visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
        ) -> std::result::Result<(), E> {
            let mut stack = vec![self.frame(id)?];
            while let Some(top) = stack.last_mut() {
                match top.advance(self, visit)? {
                    Some(child) => {
                        let frame = self.frame(child)?;
                        stack.push(frame);
                    }
                    None => {
                        stack.pop();
                    }
                }
            }
            Ok(())
        }

        /// The printer's frame for directory `id`, once it is listed.
        fn frame(&self, id: u64) -> Result<Frame> {
            Ok(match self.take(id)? {
                Done::Listed { listing, children } => Frame {
                    listing,
                    children,
                    next: 0,
                    fresh: true,
                    chunked: None,
                },
                Done::Chunked { open, task } => Frame {
                    listing: Listing::default(),
                    children: Vec::new(),
                    next: 0,
                    fresh: false,
                    chunked: Some((open, *task, 0)),
                },
            })
        }

        /// Looks up the next chunk of a huge directory and queues its subdirectories, so that
        /// workers list them while the chunk is printed.
        fn next_chunk(&self, open: &mut OpenListing, task: &Task, base: &mut usize) -> Frame {
            let m = self.merger;
            let listing = m.next_chunk(&task.path, &task.dir, open, CHUNK);
            let (children, tasks) = self.child_tasks(task, &listing, *base);
            *base += listing.entries.len();
            let mut st = self.lock();
            let wake = self.queue(&mut st, tasks);
            drop(st);
            for _ in 0..wake {
                self.work.notify_one();
            }
            Frame {
                listing,
                children,
                next: 0,
                fresh: true,
                chunked: None,
            }
        }

        fn finish(&self) {
            let mut st = self.lock();
            st.stop = true;
            st.pending.clear();
            st.done.clear();
            drop(st);
            self.work.notify_all();
        }
    }

    /// Walks `dir` (at merged path `path`) with `threads` workers, at most about `look_ahead`
    /// entries ahead of `visit`.
    pub(super) fn walk<E: From<Error>>(
        merger: &Merger,
        path: &[u8],
        dir: &DirStack,
        threads: usize,
        look_ahead: usize,
        visit: &mut dyn FnMut(Visit<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let shared = Shared {
            merger,
            state: Mutex::new(State {
                look_ahead,
                ..State::default()
            }),
            work: Condvar::new(),
            ready: Condvar::new(),
            next_id: AtomicU64::new(1),
        };
        shared.lock().pending.push(Reverse(Task {
            key: Vec::new(),
            id: 0,
            path: path.to_vec(),
            dir: dir.clone(),
        }));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                // Without workers the printer lists every directory itself.
                let spawned = std::thread::Builder::new()
                    .name("layerscope-walk".into())
                    .spawn_scoped(scope, || shared.worker());
                if spawned.is_err() {
                    break;
                }
            }
            let result = shared.print(0, visit);
            shared.finish();
            result
        })
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
        // The entries resolved so far, root first: each name is looked up once in the last
        // directory, so a path of n components costs n lookups, not n^2.
        let mut chain: Vec<Entry> = vec![self.root()?];
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            match c.as_slice() {
                b"." => continue,
                b".." => {
                    if chain.len() > 1 {
                        chain.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let parent = chain.last().expect("the root stays in the chain");
            let here = super::join_merged(&parent.path, &c);
            let found = match &parent.dir {
                Some(dir) => {
                    let mut ignored = Vec::new();
                    let fds = self.open_stack(&parent.path, dir, &mut ignored)?;
                    match self.lookup_child(&parent.path, dir, &fds, &c, None) {
                        Outcome::Found(e) => Some(e),
                        _ => None,
                    }
                }
                None => None,
            };
            // Missing, refused or under a non-directory: the same error a lookup gives.
            let Some(e) = found else {
                return Err(self
                    .entry(&here)
                    .err()
                    .unwrap_or_else(|| Error::NotFound(crate::escape::display(&here))));
            };
            if e.kind != FileKind::Symlink {
                chain.push(e);
                continue;
            }
            hops += 1;
            if hops > 40 {
                return Err(Error::Lookup {
                    path: crate::escape::display(path),
                    reason: "too many levels of symbolic links".into(),
                });
            }
            let target = e.target.unwrap_or_default();
            if target.starts_with(b"/") {
                chain.truncate(1);
            }
            for part in target.split(|&b| b == b'/').filter(|c| !c.is_empty()).rev() {
                todo.push_front(part.to_vec());
            }
        }
        Ok(chain.pop().expect("the root stays in the chain"))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::stack::{LayerStack, MountOptions};

    /// A three-layer stack of plain files, directories and symlinks (no markers: no root
    /// needed), with type changes between the layers.
    fn stack(root: &Path) -> LayerStack {
        let mut layers = Vec::new();
        for l in 0..3u32 {
            let top = root.join(format!("l{l}"));
            for d in 0..6u32 {
                for s in 0..(d + l) % 4 {
                    let dir = top.join(format!("d{d}/s{s}/deep{}", (d * s) % 3));
                    fs::create_dir_all(&dir).expect("mkdir");
                    for f in 0..(3 + d * s + l) {
                        fs::write(dir.join(format!("f{f}")), vec![b'x'; f as usize])
                            .expect("write");
                    }
                    std::os::unix::fs::symlink("../target", dir.join("link")).expect("symlink");
                }
            }
            // A directory over a file over a directory.
            match l {
                0 | 2 => fs::create_dir_all(top.join("tc/inner")).expect("mkdir"),
                _ => fs::write(top.join("tc"), b"file").expect("write"),
            }
            layers.push(top);
        }
        LayerStack::from_dirs(
            "t".into(),
            None,
            layers,
            Vec::new(),
            MountOptions::user_redirect_on(),
        )
    }

    fn walk_lines(m: &Merger, threads: usize, look_ahead: usize) -> Vec<String> {
        let root = m.root().expect("root");
        let mut lines = Vec::new();
        let mut visit = |v: Visit<'_>| -> Result<()> {
            lines.push(match v {
                Visit::Entry(e) => format!("{:?}", e),
                Visit::Anomaly(a) => format!("{:?}", a),
            });
            Ok(())
        };
        let dir = root.dir.as_ref().expect("root is a dir");
        if threads != 1 {
            parallel::walk(m, &root.path, dir, threads, look_ahead, &mut visit).expect("walk");
        } else {
            m.walk_with_threads(&root, true, 1, &mut visit)
                .expect("walk");
        }
        lines
    }

    #[test]
    fn parallel_walk_prints_what_the_sequential_walk_prints() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = Merger::open(&stack(tmp.path())).expect("open");
        let want = walk_lines(&m, 1, 0);
        assert!(want.len() > 100, "{} entries", want.len());
        // 0 workers: the printer lists everything itself (as when no thread can be spawned).
        for (threads, look_ahead) in [(0, 5), (2, LOOK_AHEAD), (4, 1), (3, 7), (8, 0)] {
            assert_eq!(
                walk_lines(&m, threads, look_ahead),
                want,
                "{threads} threads, look-ahead {look_ahead}"
            );
        }
    }

    #[test]
    fn a_huge_directory_is_walked_in_chunks_with_the_same_output() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut layers = Vec::new();
        for l in 0..2u32 {
            let many = tmp.path().join(format!("l{l}/many"));
            fs::create_dir_all(&many).expect("mkdir");
            for i in 0..(3 * CHUNK as u32 + 700) {
                if i % (l + 2) == 0 {
                    fs::write(many.join(format!("f{i:05}")), vec![b'x'; l as usize])
                        .expect("write");
                }
                if i % 997 == l {
                    fs::create_dir_all(many.join(format!("d{i:05}/sub"))).expect("mkdir");
                }
            }
            layers.push(tmp.path().join(format!("l{l}")));
        }
        let stack = LayerStack::from_dirs(
            "t".into(),
            None,
            layers,
            Vec::new(),
            MountOptions::user_redirect_on(),
        );
        let m = Merger::open(&stack).expect("open");
        let many = m.entry(b"/many").expect("/many");
        let listing = m.list(&many).expect("list");
        assert!(
            listing.entries.len() > 2 * CHUNK,
            "{}",
            listing.entries.len()
        );
        let whole: Vec<Vec<u8>> = listing.entries.iter().map(|e| e.path.clone()).collect();
        let want = walk_lines(&m, 1, 0);
        for (threads, look_ahead) in [(2, LOOK_AHEAD), (4, 1), (0, 5)] {
            assert_eq!(
                walk_lines(&m, threads, look_ahead),
                want,
                "{threads} threads"
            );
        }
        let mut flat = Vec::new();
        m.walk_with_threads(&many, false, 1, &mut |v| -> Result<()> {
            if let Visit::Entry(e) = v {
                flat.push(e.path.clone());
            }
            Ok(())
        })
        .expect("walk");
        assert_eq!(flat, whole);
    }

    #[test]
    fn a_tree_deeper_than_the_stack_allows_recursion_is_walked_whole() {
        // 3,000 levels: a recursive walk overflows a test thread's 2 MiB stack long before.
        const DEPTH: usize = 3000;
        let tmp = tempfile::tempdir().expect("tempdir");
        let (lower, other) = (tmp.path().join("l0"), tmp.path().join("l1"));
        fs::create_dir_all(&other).expect("mkdir");
        fs::create_dir_all(&lower).expect("mkdir");
        // Built a level at a time from descriptors: the path is longer than PATH_MAX.
        let mut dir =
            rustix::fs::open(&lower, rustix::fs::OFlags::DIRECTORY, 0.into()).expect("open");
        for _ in 0..DEPTH {
            rustix::fs::mkdirat(&dir, "d", 0o755.into()).expect("mkdir");
            dir = rustix::fs::openat(&dir, "d", rustix::fs::OFlags::DIRECTORY, 0.into())
                .expect("open");
        }
        let stack = LayerStack::from_dirs(
            "t".into(),
            None,
            vec![lower, other],
            Vec::new(),
            MountOptions::user_redirect_on(),
        );
        let m = Merger::open(&stack).expect("open");
        for threads in [1, 3] {
            assert_eq!(
                walk_lines(&m, threads, LOOK_AHEAD).len(),
                DEPTH,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn parallel_walk_stops_at_the_first_visit_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = Merger::open(&stack(tmp.path())).expect("open");
        let root = m.root().expect("root");
        for threads in [1, 2, 4] {
            let mut seen = 0;
            let r = m.walk_with_threads(&root, true, threads, &mut |_| -> Result<()> {
                seen += 1;
                if seen == 40 {
                    return Err(Error::BadInput("stop".into()));
                }
                Ok(())
            });
            assert!(matches!(r, Err(Error::BadInput(_))), "{threads} threads");
            assert_eq!(seen, 40);
        }
    }

    #[test]
    fn a_layer_directory_that_vanishes_mid_walk_is_an_error_in_walk_order() {
        // Paths only: the copies are made at different times.
        let path_of = |v: Visit<'_>| match v {
            Visit::Entry(e) => e.path.clone(),
            Visit::Anomaly(a) => a.path.clone(),
        };
        let full = {
            let tmp = tempfile::tempdir().expect("tempdir");
            let m = Merger::open(&stack(tmp.path())).expect("open");
            let mut all = Vec::new();
            m.walk_with_threads(&m.root().expect("root"), true, 1, &mut |v| -> Result<()> {
                all.push(path_of(v));
                Ok(())
            })
            .expect("walk");
            all
        };
        for threads in [1, 2, 4] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let m = Merger::open(&stack(tmp.path())).expect("open");
            let root = m.root().expect("root");
            let mut printed = Vec::new();
            // /d5 is removed from every layer once /d3 is printed: a sequential walk has
            // looked /d5 up but not listed it yet; workers ahead may or may not have.
            let r = m.walk_with_threads(&root, true, threads, &mut |v| -> Result<()> {
                let is_d3 = matches!(v, Visit::Entry(e) if e.path == b"/d3");
                printed.push(path_of(v));
                if is_d3 {
                    for l in 0..3 {
                        let _ = fs::remove_dir_all(tmp.path().join(format!("l{l}/d5")));
                    }
                }
                Ok(())
            });
            // Whatever was printed is the start of the full walk, in order.
            assert_eq!(printed[..], full[..printed.len()], "{threads} threads");
            match r {
                Err(Error::Io { .. }) => {}
                Ok(()) => assert!(threads > 1, "the sequential walk must fail"),
                Err(e) => panic!("{e}"),
            }
        }
    }
}
