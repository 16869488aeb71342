//! inotify inside the jail: one watch per real directory of a layer, each added through a
//! descriptor [`crate::fsio`] opened (beneath the layer root, no symlink followed, no mount
//! crossed), never by path.
//!
//! A path handed to inotify is resolved again by the kernel, following whatever symlink or mount
//! sits there by then (notify's recursive mode even follows symlinks on purpose), so a container
//! that writes `ln -s / x` into its upper layer would have the host watched. Here the kernel is
//! given `/proc/self/fd/N` of a directory already opened safely (the magic link names that very
//! directory, nothing is looked up again; `IN_ONLYDIR` refuses anything else), and the watch
//! outlives the descriptor, so no descriptor is kept per directory. Directories appearing later
//! (created, or moved in) are watched the same way by the reader thread, before it reports them.

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

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

/// The limits that ENOSPC/EMFILE from inotify refer to, for the message.
fn limit_reason(e: &io::Error) -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    format!(
        "{e}; limits: fs.inotify.max_user_watches = {}, user.max_inotify_watches = {} in this user namespace",
        read("/proc/sys/fs/inotify/max_user_watches"),
        read("/proc/sys/user/max_inotify_watches")
    )
}

/// The events asked for on every directory: changes only (no opens, no reads).
fn mask() -> WatchFlags {
    WatchFlags::ATTRIB
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::MODIFY
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::ONLYDIR
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

/// The watches: the inotify descriptor and what each watch descriptor stands for.
#[derive(Debug)]
struct Watches {
    fd: OwnedFd,
    layers: Vec<Layer>,
    /// Watch descriptor -> (position in `layers`, directory relative to that layer's root).
    dirs: HashMap<i32, (usize, Vec<u8>)>,
}

impl Watches {
    /// Watches `rel` of layer `pos` and every real directory under it.
    fn watch_tree(&mut self, pos: usize, rel: Vec<u8>) -> Result<(), WatchError> {
        let mut todo = vec![rel];
        while let Some(dir) = todo.pop() {
            let layer = &self.layers[pos];
            if layer.skip.as_deref() == Some(dir.as_slice()) {
                continue;
            }
            // Gone, a symlink (ELOOP), a mount point (EXDEV) or not a directory: nothing to watch.
            let dfd = match layer.root.open_dir(&dir) {
                Ok(fd) => fd,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(WatchError::Io(e)),
            };
            let proc = format!("/proc/self/fd/{}", dfd.as_raw_fd());
            let is_root = dir.is_empty();
            let flags = if is_root {
                mask() | WatchFlags::DELETE_SELF | WatchFlags::MOVE_SELF
            } else {
                mask()
            };
            let wd = match inotify::add_watch(&self.fd, proc.as_str(), flags) {
                Ok(wd) => wd,
                Err(e @ (rustix::io::Errno::NOSPC | rustix::io::Errno::MFILE)) => {
                    return Err(WatchError::Limit(limit_reason(&e.into())));
                }
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => continue,
                Err(e) => return Err(WatchError::Io(e.into())),
            };
            let names = match fsio::read_dir(dfd.as_fd()) {
                Ok(n) => n,
                Err(e) if gone(&e) => Vec::new(),
                Err(e) => return Err(WatchError::Io(e)),
            };
            self.dirs.insert(wd, (pos, dir.clone()));
            for (name, ty) in names {
                let is_dir = match ty {
                    Some(k) => k == FileKind::Dir,
                    None => fsio::lstat_at(dfd.as_fd(), &name)
                        .is_ok_and(|st| FileKind::from_mode(st.st_mode) == FileKind::Dir),
                };
                if is_dir {
                    todo.push(join_rel(&dir, &name));
                }
            }
        }
        Ok(())
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

/// Per-directory inotify watches on some layers of a stack, and the thread that reads them.
/// Dropping it stops the thread (and waits for it) and removes every watch.
#[derive(Debug)]
pub(super) struct DirWatcher {
    /// Until [`DirWatcher::start`]: the watches, then owned by the reader thread.
    watches: Option<Watches>,
    stop: Arc<AtomicBool>,
    /// An eventfd that wakes the reader thread to stop.
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl DirWatcher {
    /// A watcher with no watches yet.
    ///
    /// # Errors
    /// inotify or eventfd cannot be created (the instance limit is a [`WatchError::Limit`]).
    pub(super) fn new() -> Result<Self, WatchError> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(|e| {
            let e = io::Error::from(e);
            if e.raw_os_error() == Some(libc::EMFILE) {
                WatchError::Limit(limit_reason(&e))
            } else {
                WatchError::Io(e)
            }
        })?;
        // SAFETY: eventfd returns a new descriptor that nothing else owns, or -1 (checked).
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(WatchError::Io(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a valid descriptor owned by nobody else.
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(DirWatcher {
            watches: Some(Watches {
                fd,
                layers: Vec::new(),
                dirs: HashMap::new(),
            }),
            stop: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(wake),
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
            let mine: Vec<i32> = w
                .dirs
                .iter()
                .filter(|(_, (p, _))| *p == pos)
                .map(|(wd, _)| *wd)
                .collect();
            for wd in mine {
                let _ = inotify::remove_watch(&w.fd, wd);
                w.dirs.remove(&wd);
            }
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
        let stop = Arc::clone(&self.stop);
        let wake = Arc::clone(&self.wake);
        let t = std::thread::Builder::new()
            .name("layerscope-inotify".into())
            .spawn(move || read_loop(watches, &stop, &wake, handler))?;
        self.thread = Some(t);
        Ok(())
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the eventfd, as eventfd(2) expects.
        let _ = unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reader thread: waits for events (or the wake-up), reports them, watches new directories.
fn read_loop<H: FnMut(Report)>(mut w: Watches, stop: &AtomicBool, wake: &OwnedFd, mut handler: H) {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [
            libc::pollfd {
                fd: w.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the whole call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            handler(Report::Error(format!("waiting for inotify events: {e}")));
            return;
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // Take everything queued, then handle it (new directories need `w` mutably).
        let mut events: Vec<(i32, ReadFlags, Option<Vec<u8>>)> = Vec::new();
        {
            let mut reader = inotify::Reader::new(&w.fd, &mut buf);
            loop {
                match reader.next() {
                    Ok(ev) => events.push((
                        ev.wd(),
                        ev.events(),
                        ev.file_name().map(|n| n.to_bytes().to_vec()),
                    )),
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => break,
                    Err(e) => {
                        handler(Report::Error(format!(
                            "reading inotify events: {}",
                            io::Error::from(e)
                        )));
                        return;
                    }
                }
            }
        }
        for (wd, flags, name) in events {
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                handler(Report::Overflow);
                continue;
            }
            if flags.contains(ReadFlags::IGNORED) {
                w.dirs.remove(&wd);
                continue;
            }
            let Some((pos, dir)) = w.dirs.get(&wd).cloned() else {
                continue;
            };
            let rel = match name.as_deref() {
                Some(n) if !n.is_empty() => join_rel(&dir, n),
                _ => dir,
            };
            let new_dir = flags.contains(ReadFlags::ISDIR)
                && flags.intersects(ReadFlags::CREATE | ReadFlags::MOVED_TO);
            if new_dir {
                // Watched before it is reported, so that the batcher's walk of it and the
                // watch cover everything between them (as notify's recursive mode does). A
                // directory moved within the layer keeps its watches: adding them again only
                // records where they are now.
                match w.watch_tree(pos, rel.clone()) {
                    Ok(()) => {}
                    Err(WatchError::Limit(why)) => handler(Report::Limit(why)),
                    Err(WatchError::Io(e)) => {
                        handler(Report::Error(format!("cannot watch a new directory: {e}")))
                    }
                }
            }
            handler(Report::Changed {
                layer: w.layers[pos].index,
                rel,
                created: flags.contains(ReadFlags::CREATE),
                removed: flags.intersects(ReadFlags::DELETE | ReadFlags::DELETE_SELF),
            });
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
}
