//! Where the demo lives, and the guarantee that nothing of it outlives the process.
//!
//! The preferred place is a private mount namespace (`unshare(CLONE_NEWNS)` as root,
//! `unshare(CLONE_NEWUSER | CLONE_NEWNS)` with uid/gid maps otherwise) holding a tmpfs mounted
//! over the temp directory: the sample layers and the overlay exist only in that namespace, and
//! the kernel tears the namespace down when the process ends, however it ends (exit, Ctrl-C, a
//! panic, SIGKILL). Nothing is ever written to the host's disk.
//!
//! When a tmpfs cannot hold the overlay xattrs (user xattrs on tmpfs need Linux 6.6) or no
//! namespace can be made, the layers go to `$TMPDIR/layerscope-demo.<pid>` on disk. That
//! directory is removed on return, on SIGINT/SIGTERM/SIGHUP/SIGQUIT (a thread waits for them),
//! and, after a SIGKILL, by the next `layerscope demo`.
//!
//! Namespaces can only be entered while the process has a single thread, so
//! [`enter`] must run before anything starts a thread; it checks the thread count and refuses
//! (with the reason) instead of leaving the other threads in the host's mounts.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

/// How the process is isolated from the host's mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// Root in a private mount namespace: `trusted.*` xattrs and every overlay option.
    PrivateMounts,
    /// Root of a new user namespace with a private mount namespace: the overlay needs
    /// `userxattr`, and the kernel refuses `redirect_dir=on` and `metacopy=on` with it.
    User,
    /// No namespace: nothing can be mounted.
    None {
        /// Why not, in words.
        why: String,
    },
}

/// Where the sample layers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A tmpfs visible only inside the private mount namespace.
    PrivateTmpfs,
    /// A directory on disk, removed on exit, on signals, or by the next demo.
    Disk,
}

/// Prefix of on-disk demo directories; the suffix is the owning process id.
pub const DISK_PREFIX: &str = "layerscope-demo.";

/// The name of the demo directory inside a private tmpfs.
pub const TMPFS_DIR: &str = "layerscope-demo";

/// Enters a private mount namespace, as root or through a user namespace.
///
/// Call it before any thread starts: the kernel refuses `CLONE_NEWNS` and `CLONE_NEWUSER` to a
/// process with several threads.
pub fn enter() -> Namespace {
    // Checked, not only documented: with other threads, unshare(CLONE_NEWNS) succeeds but moves
    // only the calling thread, and the others would go on reading the host's mounts.
    match thread_count() {
        Ok(1) => {}
        Ok(n) => {
            return Namespace::None {
                why: format!(
                    "the process already runs {n} threads, and a namespace can only be entered \
                     by a single-threaded process (enter the demo before starting any thread)"
                ),
            };
        }
        Err(e) => {
            return Namespace::None {
                why: format!(
                    "reading /proc/self/status failed ({e}), so the process cannot be shown to \
                     be single-threaded, which entering a namespace needs"
                ),
            };
        }
    }
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    let mut why_not_root = None;
    if uid.is_root() && crate::fsio::can_read_trusted_xattrs() {
        // SAFETY: CLONE_FILES is not among the flags; a new mount namespace changes no memory or
        // file descriptor the rest of the program relies on.
        match unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) } {
            Ok(()) => match make_private() {
                Ok(()) => return Namespace::PrivateMounts,
                Err(e) => {
                    return Namespace::None {
                        why: format!("making the mount namespace private failed: {e}"),
                    };
                }
            },
            Err(e) => why_not_root = Some(explain_unshare(e.into(), "CLONE_NEWNS")),
        }
    }
    // SAFETY: as above.
    let flags = rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS;
    if let Err(e) = unsafe { rustix::thread::unshare_unsafe(flags) } {
        let mut why = explain_unshare(e.into(), "CLONE_NEWUSER");
        if let Some(first) = why_not_root {
            why = format!("{first}; {why}");
        }
        return Namespace::None { why };
    }
    let maps = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {} 1", uid.as_raw())),
        ("/proc/self/gid_map", format!("0 {} 1", gid.as_raw())),
    ];
    for (file, line) in maps {
        if let Err(e) = std::fs::write(file, line) {
            return Namespace::None {
                why: format!("writing {file} in the new user namespace failed: {e}"),
            };
        }
    }
    match make_private() {
        Ok(()) => Namespace::User,
        Err(e) => Namespace::None {
            why: format!("making the mount namespace private failed: {e}"),
        },
    }
}

/// The process's thread count, from the `Threads:` line of `/proc/self/status`.
fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Threads: line"))
}

fn explain_unshare(e: io::Error, what: &str) -> String {
    match e.raw_os_error() {
        Some(libc::EINVAL) => format!(
            "unshare({what}) refused: the process already runs several threads (enter the demo \
             before starting any)"
        ),
        Some(libc::EPERM | libc::EACCES) if what == "CLONE_NEWUSER" => format!(
            "unshare({what}) refused ({e}): unprivileged user namespaces are disabled here \
             (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, an AppArmor or \
             seccomp policy)"
        ),
        Some(libc::ENOSPC) => format!(
            "unshare({what}) refused: the limit on user namespaces is reached \
             (user.max_user_namespaces)"
        ),
        _ => format!("unshare({what}) refused: {e}"),
    }
}

/// Stops mounts made from now on from propagating to the host (and back).
fn make_private() -> io::Result<()> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(io::Error::from)
}

/// Mounts a tmpfs over `dir` (inside the private namespace only) and checks that it holds
/// overlay xattrs of the namespace `prefix` (`trusted.` or `user.`).
///
/// # Errors
/// The mount is refused, or the tmpfs cannot hold those xattrs (it is unmounted again).
pub fn mount_tmpfs(dir: &Path, prefix: &str) -> io::Result<()> {
    let data = CString::new("mode=0755,size=64m").map_err(io::Error::other)?;
    rustix::mount::mount(
        "layerscope-demo",
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(data.as_c_str()),
    )?;
    let probe = format!("{prefix}layerscope-probe");
    let set = rustix::fs::setxattr(dir, probe.as_str(), b"1", rustix::fs::XattrFlags::empty())
        .and_then(|()| rustix::fs::removexattr(dir, probe.as_str()));
    if let Err(e) = set {
        let _ = unmount(dir);
        return Err(io::Error::other(format!(
            "the tmpfs cannot hold {prefix}* xattrs ({e}); user xattrs on tmpfs need Linux 6.6"
        )));
    }
    Ok(())
}

/// Mounts an overlay. Paths are escaped for the kernel's option parser.
///
/// # Errors
/// As `mount(2)`, with the option string in the message.
pub fn mount_overlay(
    lowers: &[&Path],
    upper: &Path,
    work: &Path,
    target: &Path,
    extra: &str,
) -> io::Result<()> {
    let lowerdir = lowers
        .iter()
        .map(|p| escape_option_path(p))
        .collect::<Vec<_>>()
        .join(":");
    let mut options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        escape_option_path(upper),
        escape_option_path(work)
    );
    if !extra.is_empty() {
        options.push(',');
        options.push_str(extra);
    }
    let data = CString::new(options.clone()).map_err(io::Error::other)?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("mount -o {options}: {e}"),
        )
    })
}

/// Escapes `\`, `,` and `:` with a backslash, as overlay's option parser expects.
fn escape_option_path(p: &Path) -> String {
    let mut s = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Detaches a mount.
///
/// # Errors
/// As `umount2(2)`.
pub fn unmount(target: &Path) -> io::Result<()> {
    rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(io::Error::from)
}

/// Removes `$TMPDIR/layerscope-demo.<pid>` directories left by demos that were killed: only
/// ours (same owner), only when their process is gone. Returns how many were removed.
pub fn remove_stale(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let me = rustix::process::geteuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DISK_PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        // A directory named after this very process is stale too: it was not made by us.
        let ours_now = u32::try_from(pid).is_ok_and(|p| p == std::process::id());
        if !meta.is_dir() || meta.uid() != me || (!ours_now && process_alive(pid)) {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn process_alive(pid: i32) -> bool {
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    if matches!(
        rustix::process::test_kill_process(raw),
        Err(rustix::io::Errno::SRCH)
    ) {
        return false;
    }
    // A zombie (killed, not yet reaped) no longer uses its directory.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    state != Some("Z")
}

/// What to undo when the demo ends: mounts to detach (in order), then a directory to remove.
#[derive(Debug, Default)]
struct Cleanup {
    unmount: Vec<PathBuf>,
    remove: Option<PathBuf>,
}

static CLEANUP: Mutex<Option<Cleanup>> = Mutex::new(None);

/// Registers what [`cleanup`] undoes; replaces any earlier registration.
pub fn register_cleanup(unmount: Vec<PathBuf>, remove: Option<PathBuf>) {
    if let Ok(mut c) = CLEANUP.lock() {
        *c = Some(Cleanup { unmount, remove });
    }
}

/// Detaches the demo's mounts and removes its on-disk directory, once; later calls do nothing.
/// Safe to call from the signal thread and from `Drop` at the same time.
pub fn cleanup() {
    let Ok(mut guard) = CLEANUP.lock() else {
        return;
    };
    if let Some(c) = guard.take() {
        for m in &c.unmount {
            let _ = unmount(m);
        }
        if let Some(dir) = &c.remove {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // The lock is held until the work is done, so an exit racing with a signal waits for it.
    drop(guard);
}

/// Makes SIGINT, SIGTERM, SIGHUP and SIGQUIT run [`cleanup`] and then end the process with the
/// signal's usual status (the default action, so the parent sees "killed by SIGINT").
///
/// # Errors
/// The handlers cannot be installed or the thread cannot start.
pub fn cleanup_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                cleanup();
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_with_several_threads_does_not_enter_a_namespace() {
        // libtest runs this on a thread of its own, so the process has at least two.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        assert!(thread_count().unwrap() >= 2);
        match enter() {
            Namespace::None { why } => {
                assert!(why.contains("threads"), "{why}");
                assert!(why.contains("single-threaded"), "{why}");
            }
            ns => panic!("entered {ns:?} with several threads"),
        }
        drop(tx);
        other.join().unwrap();
    }

    #[test]
    fn option_paths_escape_the_parser_separators() {
        assert_eq!(
            escape_option_path(Path::new("/a:b,c\\d")),
            "/a\\:b\\,c\\\\d"
        );
        assert_eq!(escape_option_path(Path::new("/tmp/x")), "/tmp/x");
    }

    #[test]
    fn stale_directories_of_live_processes_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join(format!("{DISK_PREFIX}1"));
        std::fs::create_dir(&live).unwrap();
        // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
        let dead = tmp.path().join(format!("{DISK_PREFIX}{}", 1 << 23));
        std::fs::create_dir_all(dead.join("lower/1-base")).unwrap();
        let other = tmp.path().join("unrelated");
        std::fs::create_dir(&other).unwrap();
        let mine = tmp
            .path()
            .join(format!("{DISK_PREFIX}{}", std::process::id()));
        std::fs::create_dir(&mine).unwrap();
        assert_eq!(remove_stale(tmp.path()), 2);
        assert!(live.exists() && other.exists() && !dead.exists() && !mine.exists());
    }
}
