//! inotify inside the jail, through notify: one watch per real directory of a layer, each added
//! through a descriptor [`crate::fsio`] opened (beneath the layer root, no symlink followed, no
//! mount crossed), never by a path that is looked up again.
//!
//! A path handed to inotify is resolved again by the kernel, following whatever symlink or mount
//! sits there by then (notify's recursive mode even follows symlinks on purpose), so a container
//! that writes `ln -s / x` into its upper layer would have the host watched. Here notify's
//! [`INotifyWatcher`] runs in `NonRecursive` mode (it then adds no watch of its own) and is given
//! `/proc/self/fd/N` of a directory already opened safely: the magic link names that very
//! directory. Descriptor N stays open as long as its watch, so the path notify keys the watch by
//! is unique and maps back to the layer-relative directory; it is closed only after `unwatch` and
//! after every event notify delivered for it (a marker queued behind them), so a reused number
//! never inherits old events. A directory is watched once per inode (which cannot be reused while
//! its descriptor is held): one met again (moved, or walked twice) only records where it is now.
//!
//! notify's handler only forwards events to this module's own thread; that thread adds the
//! watches for new directories (created or moved in) before it reports them, so the batcher's walk
//! of them and the watch cover everything between them. It never adds watches inside notify's
//! handler: notify's event loop would wait for itself.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, INotifyWatcher, RecursiveMode, Watcher};

use crate::fsio::{self, LayerRoot};
use crate::merge::{FileKind, join_rel};

/// What the reader thread tells its handler.
#[derive(Debug)]
pub(super) enum Report {
    /// Something changed at `rel` of stack layer `layer` (`created`/`removed` say what the
    /// kernel reported, for lower layers that have no snapshot).
    Changed {
        layer: usize,
        rel: Vec<u8>,
        created: bool,
        removed: bool,
    },
    /// The kernel's event queue overflowed: events were lost.
    Overflow,
    /// A new directory could not be watched: the watch limit is reached (the reason says which).
    Limit(String),
    /// Anything else that went wrong.
    Error(String),
}

/// Why watches could not be added.
#[derive(Debug)]
pub(super) enum WatchError {
    /// The inotify watch limit (or descriptor limit) is reached; the text names the limits.
    Limit(String),
    /// Any other failure.
    Io(io::Error),
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchError::Limit(why) => f.write_str(why),
            WatchError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The inotify watch limits (`fs.inotify.max_user_watches`, `user.max_inotify_watches`), read
/// now; when no descriptor is left to read them, as read when the first watcher was made.
fn watch_limits() -> (String, String) {
    static AT_START: std::sync::OnceLock<(Option<String>, Option<String>)> =
        std::sync::OnceLock::new();
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let read_both = || {
        (
            read("/proc/sys/fs/inotify/max_user_watches"),
            read("/proc/sys/user/max_inotify_watches"),
        )
    };
    let now = read_both();
    let start = AT_START.get_or_init(|| now.clone());
    let pick =
        |a: Option<String>, b: &Option<String>| a.or_else(|| b.clone()).unwrap_or("?".into());
    (pick(now.0, &start.0), pick(now.1, &start.1))
}

/// The limits that ENOSPC/EMFILE refer to, for the message.
fn limit_reason(e: &io::Error) -> String {
    let (system, user_ns) = watch_limits();
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or_else(|| "unlimited".into(), |n| n.to_string());
    format!(
        "{e}; limits: fs.inotify.max_user_watches = {system}, user.max_inotify_watches = {user_ns} in this user namespace, open descriptors (RLIMIT_NOFILE, one per watched directory) = {nofile}"
    )
}

/// Raises the soft descriptor limit to the hard one; false if it already was there.
fn raise_nofile() -> bool {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current == lim.maximum {
        return false;
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    )
    .is_ok()
}

/// The path notify watches directory descriptor `fd` by.
fn proc_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

/// `/proc/self/fd/N[/name]` (as notify reports it) -> (N, name).
fn parse_proc_path(path: &Path) -> Option<(RawFd, Option<&[u8]>)> {
    let rest = path
        .as_os_str()
        .as_bytes()
        .strip_prefix(b"/proc/self/fd/")?;
    let (num, name) = match rest.iter().position(|&b| b == b'/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let fd = std::str::from_utf8(num).ok()?.parse().ok()?;
    Some((fd, name.filter(|n| !n.is_empty())))
}

/// One watched layer.
#[derive(Debug)]
struct Layer {
    /// Its index in the stack.
    index: usize,
    root: LayerRoot,
    /// A subtree never watched (the workdir, when it sits inside the layer).
    skip: Option<Vec<u8>>,
}

/// One watched directory: the descriptor its watch is keyed by, and where it is.
#[derive(Debug)]
struct Dir {
    fd: OwnedFd,
    /// Position in `layers`.
    pos: usize,
    /// Relative to that layer's root.
    rel: Vec<u8>,
    /// (st_dev, st_ino).
    inode: (u64, u64),
}

/// What the reader thread receives.
enum Msg {
    /// From notify's handler.
    Event(notify::Result<Event>),
    /// A directory no longer watched: every event notify delivered for it is ahead of this.
    Close(OwnedFd),
    Stop,
}

/// The watches: notify's watcher and what each watched descriptor stands for.
struct Watches {
    notify: INotifyWatcher,
    /// To queue [`Msg::Close`] behind the events.
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    layers: Vec<Layer>,
    dirs: HashMap<RawFd, Dir>,
    by_inode: HashMap<(u64, u64), RawFd>,
    /// (position in `layers`, rel, descriptor), for forgetting subtrees.
    by_rel: BTreeSet<(usize, Vec<u8>, RawFd)>,
    /// The soft descriptor limit was raised already.
    raised: bool,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches")
            .field("layers", &self.layers)
            .field("dirs", &self.dirs.len())
            .finish_non_exhaustive()
    }
}

impl Watches {
    /// Opens directory `rel` of layer `pos`, raising the descriptor limit once if it is reached.
    fn open_dir(&mut self, pos: usize, rel: &[u8]) -> io::Result<OwnedFd> {
        match self.layers[pos].root.open_dir_fd(rel) {
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && !self.raised => {
                self.raised = true;
                if raise_nofile() {
                    self.layers[pos].root.open_dir_fd(rel)
                } else {
                    Err(e)
                }
            }
            r => r,
        }
    }

    /// Watches `rel` of layer `pos` and every real directory under it.
    fn watch_tree(&mut self, pos: usize, rel: Vec<u8>) -> Result<(), WatchError> {
        let mut todo = vec![rel];
        while let Some(dir) = todo.pop() {
            if self.layers[pos].skip.as_deref() == Some(dir.as_slice()) {
                continue;
            }
            // Gone, a symlink (ELOOP), a mount point (EXDEV) or not a directory: nothing to watch.
            let dfd = match self.open_dir(pos, &dir) {
                Ok(fd) => fd,
                Err(e) if gone(&e) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    return Err(WatchError::Limit(limit_reason(&e)));
                }
                Err(e) => return Err(WatchError::Io(e)),
            };
            let st = rustix::fs::fstat(&dfd).map_err(|e| WatchError::Io(e.into()))?;
            #[allow(clippy::useless_conversion)]
            let inode = (u64::from(st.st_dev), u64::from(st.st_ino));
            let names = match fsio::read_dir(dfd.as_fd()) {
                Ok(n) => n,
                Err(e) if gone(&e) => Vec::new(),
                Err(e) => return Err(WatchError::Io(e)),
            };
            if let Some(&fd) = self.by_inode.get(&inode) {
                // Watched already (moved, or met twice): record where it is now.
                self.relocate(fd, pos, &dir);
            } else {
                match self
                    .notify
                    .watch(&proc_path(dfd.as_raw_fd()), RecursiveMode::NonRecursive)
                {
                    Ok(()) => {}
                    Err(e) => match e.kind {
                        notify::ErrorKind::MaxFilesWatch => {
                            let e = io::Error::from_raw_os_error(libc::ENOSPC);
                            return Err(WatchError::Limit(limit_reason(&e)));
                        }
                        notify::ErrorKind::PathNotFound => continue,
                        notify::ErrorKind::Io(e) => return Err(WatchError::Io(e)),
                        other => {
                            return Err(WatchError::Io(io::Error::other(format!("{other:?}"))));
                        }
                    },
                }
                let raw = dfd.as_raw_fd();
                self.by_inode.insert(inode, raw);
                self.by_rel.insert((pos, dir.clone(), raw));
                self.dirs.insert(
                    raw,
                    Dir {
                        fd: dfd,
                        pos,
                        rel: dir.clone(),
                        inode,
                    },
                );
            }
            for (name, ty) in names {
                let is_dir = match ty {
                    Some(k) => k == FileKind::Dir,
                    None => self.dirs.get(&self.by_inode[&inode]).is_some_and(|d| {
                        fsio::lstat_at(d.fd.as_fd(), &name)
                            .is_ok_and(|st| FileKind::from_mode(st.st_mode) == FileKind::Dir)
                    }),
                };
                if is_dir {
                    todo.push(join_rel(&dir, &name));
                }
            }
        }
        Ok(())
    }

    /// Records that watched directory `fd` is now at `rel` of layer `pos`.
    fn relocate(&mut self, fd: RawFd, pos: usize, rel: &[u8]) {
        let Some(d) = self.dirs.get_mut(&fd) else {
            return;
        };
        if d.pos != pos || d.rel != rel {
            self.by_rel.remove(&(d.pos, std::mem::take(&mut d.rel), fd));
            d.pos = pos;
            d.rel = rel.to_vec();
            self.by_rel.insert((pos, rel.to_vec(), fd));
        }
    }

    /// Stops watching directory `fd`; the descriptor is closed once the events before are read.
    fn forget(&mut self, fd: RawFd) {
        let Some(d) = self.dirs.remove(&fd) else {
            return;
        };
        self.by_rel.remove(&(d.pos, d.rel, fd));
        if self.by_inode.get(&d.inode) == Some(&fd) {
            self.by_inode.remove(&d.inode);
        }
        // Not found when notify saw the directory deleted already.
        let _ = self.notify.unwatch(&proc_path(fd));
        let _ = self.tx.send(Msg::Close(d.fd));
    }

    /// Stops watching the directories recorded at `rel` of layer `pos` and under it that are no
    /// longer there (removed, or moved away: out of the layer too). What is there now stays
    /// watched: a rename over `rel` (overlayfs exchanges a new directory with the old one) may
    /// have watched the new one already.
    fn forget_gone(&mut self, pos: usize, rel: &[u8]) {
        let mut sub = rel.to_vec();
        sub.push(b'/');
        let exact = self
            .by_rel
            .range((pos, rel.to_vec(), RawFd::MIN)..=(pos, rel.to_vec(), RawFd::MAX))
            .map(|(_, _, fd)| *fd);
        let under = self
            .by_rel
            .range((pos, sub.clone(), RawFd::MIN)..)
            .take_while(|(p, r, _)| *p == pos && r.starts_with(&sub))
            .map(|(_, _, fd)| *fd);
        let fds: Vec<RawFd> = exact.chain(under).collect();
        for fd in fds {
            if !self.still_there(fd) {
                self.forget(fd);
            }
        }
    }

    /// Whether watched directory `fd` is still where it is recorded (when that cannot be told,
    /// it is kept).
    fn still_there(&self, fd: RawFd) -> bool {
        let Some(d) = self.dirs.get(&fd) else {
            return false;
        };
        match self.layers[d.pos].root.open_dir_fd(&d.rel) {
            Ok(now) => rustix::fs::fstat(&now).map_or(true, |st| {
                #[allow(clippy::useless_conversion)]
                let inode = (u64::from(st.st_dev), u64::from(st.st_ino));
                inode == d.inode
            }),
            Err(e) => !gone(&e),
        }
    }

    /// Forgets every watch of layer `pos`.
    fn forget_layer(&mut self, pos: usize) {
        let fds: Vec<RawFd> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.pos == pos)
            .map(|(fd, _)| *fd)
            .collect();
        for fd in fds {
            self.forget(fd);
        }
    }

    /// Handles one event from notify.
    fn handle<H: FnMut(Report)>(&mut self, ev: Event, handler: &mut H) {
        if ev.need_rescan() {
            handler(Report::Overflow);
            return;
        }
        let kind = ev.kind;
        match kind {
            // Changes only (no opens, no reads); the combined rename repeats its two halves.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_)
            | EventKind::Modify(ModifyKind::Name(RenameMode::Both))
            | EventKind::Other
            | EventKind::Any => return,
            _ => {}
        }
        let Some((fd, name)) = ev.paths.first().and_then(|p| parse_proc_path(p)) else {
            return;
        };
        // A directory forgotten since: its events are stale.
        let Some(d) = self.dirs.get(&fd) else {
            return;
        };
        let (pos, dir) = (d.pos, d.rel.clone());
        let rel = name.map_or_else(|| dir.clone(), |n| join_rel(&dir, n));
        let removed = matches!(kind, EventKind::Remove(_));
        let new_dir = match (kind, name) {
            (EventKind::Create(CreateKind::Folder), Some(_)) => true,
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), Some(n)) => {
                fsio::lstat_at(d.fd.as_fd(), n)
                    .is_ok_and(|st| FileKind::from_mode(st.st_mode) == FileKind::Dir)
            }
            _ => false,
        };
        match (kind, name) {
            (EventKind::Modify(ModifyKind::Name(RenameMode::From)), Some(_))
            | (EventKind::Remove(_), Some(_)) => self.forget_gone(pos, &rel),
            (EventKind::Remove(_), None) => self.forget(fd),
            _ => {}
        }
        if new_dir {
            // Watched before it is reported, so that the batcher's walk of it and the watch
            // cover everything between them.
            match self.watch_tree(pos, rel.clone()) {
                Ok(()) => {}
                Err(WatchError::Limit(why)) => handler(Report::Limit(why)),
                Err(WatchError::Io(e)) => {
                    handler(Report::Error(format!("cannot watch a new directory: {e}")))
                }
            }
        }
        // A directory's own events (notify asks for them on every watch) were reported by its
        // parent already; only the layer root's are news.
        if name.is_none() && !dir.is_empty() {
            return;
        }
        handler(Report::Changed {
            layer: self.layers[pos].index,
            rel,
            created: matches!(kind, EventKind::Create(_)),
            removed,
        });
    }
}

/// Errors that mean "nothing (watchable) is there any more".
fn gone(e: &io::Error) -> bool {
    fsio::is_mount_point(e)
        || matches!(
            e.raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG)
        )
}

/// Per-directory inotify watches on some layers of a stack, and the thread that handles their
/// events. Dropping it stops the thread (and waits for it) and removes every watch.
#[derive(Debug)]
pub(super) struct DirWatcher {
    /// Until [`DirWatcher::start`]: the watches, then owned by the reader thread.
    watches: Option<Watches>,
    /// To stop the reader thread.
    stop: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Event(_) => "Event",
            Msg::Close(_) => "Close",
            Msg::Stop => "Stop",
        })
    }
}

impl DirWatcher {
    /// A watcher with no watches yet.
    ///
    /// # Errors
    /// inotify cannot be set up (the instance limit is a [`WatchError::Limit`]).
    pub(super) fn new() -> Result<Self, WatchError> {
        // Remembered for a message written when no descriptor is left to read them.
        let _ = watch_limits();
        let (tx, rx) = channel();
        let forward = tx.clone();
        // notify's handler runs on notify's own thread: it only forwards (never blocks, never
        // calls back into notify), dropping opens and reads early.
        let handler = move |ev: notify::Result<Event>| {
            if let Ok(e) = &ev
                && matches!(e.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write))
            {
                return;
            }
            let _ = forward.send(Msg::Event(ev));
        };
        let notify =
            INotifyWatcher::new(handler, notify::Config::default()).map_err(|e| match e.kind {
                notify::ErrorKind::Io(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    WatchError::Limit(limit_reason(&e))
                }
                notify::ErrorKind::Io(e) => WatchError::Io(e),
                other => WatchError::Io(io::Error::other(format!("{other:?}"))),
            })?;
        Ok(DirWatcher {
            watches: Some(Watches {
                notify,
                tx: tx.clone(),
                rx,
                layers: Vec::new(),
                dirs: HashMap::new(),
                by_inode: HashMap::new(),
                by_rel: BTreeSet::new(),
                raised: false,
            }),
            stop: tx,
            thread: None,
        })
    }

    /// Watches every real directory of `root` (stack layer `index`), except the subtree `skip`.
    /// On failure the layer's watches added so far are removed again.
    ///
    /// # Errors
    /// The layer cannot be read, or the watch limit is reached.
    pub(super) fn add_layer(
        &mut self,
        index: usize,
        root: LayerRoot,
        skip: Option<Vec<u8>>,
    ) -> Result<(), WatchError> {
        let w = self
            .watches
            .as_mut()
            .expect("layers are added before the watcher starts");
        w.layers.push(Layer { index, root, skip });
        let pos = w.layers.len() - 1;
        let result = w.watch_tree(pos, Vec::new());
        if result.is_err() {
            w.forget_layer(pos);
            w.layers.pop();
        }
        result
    }

    /// How many directories are watched (before [`DirWatcher::start`]).
    #[cfg(test)]
    pub(super) fn watch_count(&self) -> usize {
        self.watches.as_ref().map_or(0, |w| w.dirs.len())
    }

    /// Starts the reader thread; `handler` gets every report, on that thread.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(super) fn start<H>(&mut self, handler: H) -> io::Result<()>
    where
        H: FnMut(Report) + Send + 'static,
    {
        let Some(watches) = self.watches.take() else {
            return Ok(());
        };
        let t = std::thread::Builder::new()
            .name("layerscope-inotify".into())
            .spawn(move || read_loop(watches, handler))?;
        self.thread = Some(t);
        Ok(())
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reader thread: handles notify's events in order, watches new directories.
fn read_loop<H: FnMut(Report)>(mut w: Watches, mut handler: H) {
    loop {
        let Ok(msg) = w.rx.recv() else {
            return;
        };
        match msg {
            Msg::Stop => return,
            Msg::Close(fd) => drop(fd),
            Msg::Event(Err(e)) => handler(Report::Error(format!("inotify: {e}"))),
            Msg::Event(Ok(ev)) => w.handle(ev, &mut handler),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_watch_per_real_directory_and_none_through_symlinks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let top = tmp.path();
        for d in ["a", "a/b", "c"] {
            std::fs::create_dir(top.join(d)).expect("mkdir");
        }
        std::fs::write(top.join("a/f"), b"x").expect("write");
        // A symlink to a directory outside, and one to a directory inside: neither is watched.
        std::os::unix::fs::symlink("/usr", top.join("host")).expect("symlink");
        std::os::unix::fs::symlink("a", top.join("alias")).expect("symlink");
        let mut w = DirWatcher::new().expect("inotify");
        w.add_layer(0, LayerRoot::open(top).expect("open"), None)
            .expect("watch");
        assert_eq!(w.watch_count(), 4, "root, a, a/b, c");
        let mut skipping = DirWatcher::new().expect("inotify");
        skipping
            .add_layer(0, LayerRoot::open(top).expect("open"), Some(b"a".to_vec()))
            .expect("watch");
        assert_eq!(skipping.watch_count(), 2, "root and c: a is skipped");
    }

    /// The next report, which must be a change, within two seconds.
    fn next_change(rx: &std::sync::mpsc::Receiver<Report>) -> Option<Vec<u8>> {
        match rx.recv_timeout(std::time::Duration::from_secs(2)).ok()? {
            Report::Changed { rel, .. } => Some(rel),
            other => panic!("unexpected report {other:?}"),
        }
    }

    /// Waits until a change to `want` is reported.
    fn wait_for(rx: &std::sync::mpsc::Receiver<Report>, want: &[u8]) {
        while let Some(rel) = next_change(rx) {
            if rel == want {
                return;
            }
        }
        panic!("no change reported for {}", String::from_utf8_lossy(want));
    }

    #[test]
    fn moved_directories_are_followed_inside_the_layer_and_dropped_outside_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (top, away) = (tmp.path().join("layer"), tmp.path().join("away"));
        std::fs::create_dir_all(top.join("a/inner")).expect("mkdir");
        std::fs::create_dir(&away).expect("mkdir");
        let mut w = DirWatcher::new().expect("inotify");
        w.add_layer(0, LayerRoot::open(&top).expect("open"), None)
            .expect("watch");
        assert_eq!(w.watch_count(), 3, "root, a, a/inner");
        let (tx, rx) = std::sync::mpsc::channel();
        w.start(move |r| {
            let _ = tx.send(r);
        })
        .expect("start");
        // Renamed within the layer: events inside are reported where the directory is now.
        std::fs::rename(top.join("a"), top.join("b")).expect("mv");
        wait_for(&rx, b"b");
        std::fs::write(top.join("b/inner/f"), b"x").expect("write");
        wait_for(&rx, b"b/inner/f");
        // Moved out of the layer: nothing inside it is watched or reported any more.
        std::fs::rename(top.join("b"), away.join("b")).expect("mv out");
        wait_for(&rx, b"b");
        std::fs::write(away.join("b/inner/g"), b"x").expect("write outside");
        std::fs::write(top.join("marker"), b"x").expect("write");
        let mut seen = Vec::new();
        while let Some(rel) = next_change(&rx) {
            if rel == b"marker" {
                break;
            }
            seen.push(String::from_utf8_lossy(&rel).into_owned());
        }
        assert!(
            seen.iter().all(|r| !r.contains("inner")),
            "reported from outside the layer: {seen:?}"
        );
    }
}
