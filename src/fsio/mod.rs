//! The only place that touches layer files, and it only reads.
//!
//! Each layer root is opened as a private, detached, non-recursive clone of its mount
//! (`open_tree(OPEN_TREE_CLONE)` without `AT_RECURSIVE`) made read-only and `noatime` with
//! `mount_setattr`: nothing read through it can change an atime (not even `readlink`), and it
//! holds no submounts, so a directory with a mount on it shows what is *under* the mount, which
//! is what overlayfs itself sees (it reads every layer through such a clone). Where the process
//! may not clone mounts (no CAP_SYS_ADMIN over the mount namespace), the layer is opened as a
//! plain directory instead and [`jail_warning`] says what is then not guaranteed.
//!
//! Every path inside a layer is opened relative to that root with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`), so a symlink in a layer is never
//! followed, nothing escapes the layer, and a mount point inside a layer is never crossed.
//! Paths longer than the kernel takes in one call are opened a few components at a time from
//! intermediate descriptors, under the same rules, so depth never stops a walk. Files are
//! opened with `O_NOATIME` where the kernel allows it (which also covers the fallback).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use crate::error::{Error, Result};

mod handle;
pub mod tar;
mod whiteout_files;

pub use handle::{DirHandle, LayerFile};

/// How a layer records whiteouts and opaque directories.
#[derive(Debug, Clone, Default)]
pub enum LayerFormat {
    /// The kernel's: whiteouts are 0/0 character devices, opaque directories and redirects are
    /// `overlay.*` xattrs.
    #[default]
    Kernel,
    /// The OCI image format, on disk: `.wh.NAME` files and `.wh..wh..opq` markers
    /// (fuse-overlayfs layers, unpacked image layers).
    WhiteoutFiles,
    /// An OCI layer tar, indexed in place (an image archive's or layout's layer).
    Tar(Arc<tar::TarLayer>),
}

impl PartialEq for LayerFormat {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LayerFormat::Kernel, LayerFormat::Kernel)
            | (LayerFormat::WhiteoutFiles, LayerFormat::WhiteoutFiles) => true,
            (LayerFormat::Tar(a), LayerFormat::Tar(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for LayerFormat {}

/// An open layer root directory.
#[derive(Debug)]
pub struct LayerRoot {
    /// The directory on disk; `None` for a layer inside an archive.
    fd: Option<Arc<OwnedFd>>,
    path: PathBuf,
    cloned: bool,
    format: LayerFormat,
}

/// The clones made so far, by layer path: closing a detached mount costs the kernel a few
/// milliseconds (it is unmounted then), and the explorer opens the same layers again and again.
static CLONES: Mutex<Option<HashMap<PathBuf, Arc<OwnedFd>>>> = Mutex::new(None);
/// At most this many clones are kept.
const CLONES_KEPT: usize = 4096;

/// A clone of `path` showing the same directory as `plain`: the cached one, or a new one.
fn cached_clone(
    path: &Path,
    plain: &OwnedFd,
) -> std::result::Result<(Arc<OwnedFd>, Option<String>), String> {
    let mut cache = CLONES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = cache.get_or_insert_with(HashMap::new);
    if let Some(fd) = map.get(path).filter(|fd| is_same_dir(fd, plain)) {
        return Ok((Arc::clone(fd), None));
    }
    let (fd, note) = clone_layer(path)?;
    let fd = Arc::new(fd);
    if map.len() < CLONES_KEPT || map.contains_key(path) {
        map.insert(path.to_path_buf(), Arc::clone(&fd));
    }
    Ok((fd, note))
}

/// Why the layers could not be read through private `noatime` clones, the first time it
/// happened (set once per process).
static CLONE_REFUSED: OnceLock<String> = OnceLock::new();
/// Whether [`jail_warning`] has handed out the warning already.
static CLONE_WARNED: AtomicBool = AtomicBool::new(false);
/// Set once any layer is read without a clone: from then on `lstat_at` checks for mount points.
static UNCLONED: AtomicBool = AtomicBool::new(false);

/// Longest path handed to one `openat2` call: well below `PATH_MAX` (4096).
const PATH_CHUNK: usize = 2048;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Clones the mount at `path` (the directory itself, without its submounts) as a detached,
/// private mount and makes it read-only and `noatime`. `Err` says why not.
fn clone_layer(path: &Path) -> std::result::Result<(OwnedFd, Option<String>), String> {
    use rustix::mount::{MountAttrFlags as M, OpenTreeFlags};
    let fd = rustix::mount::open_tree(
        rustix::fs::CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| format!("open_tree(OPEN_TREE_CLONE) refused: {}", io::Error::from(e)))?;
    let attr = MountAttr {
        attr_set: u64::from((M::MOUNT_ATTR_RDONLY | M::MOUNT_ATTR_NOATIME).bits()),
        attr_clr: u64::from(M::MOUNT_ATTR__ATIME.bits()),
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid `struct mount_attr` of the size passed, alive across the call;
    // the empty path with AT_EMPTY_PATH names `fd` itself.
    let r = unsafe {
        use std::os::fd::AsRawFd;
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            std::ptr::from_ref(&attr),
            std::mem::size_of::<MountAttr>(),
        )
    };
    // A clone that keeps its atime flags still hides submounts: use it, and say so.
    let note = (r != 0).then(|| {
        format!(
            "mount_setattr(read-only, noatime) refused: {}",
            io::Error::last_os_error()
        )
    });
    Ok((fd, note))
}

/// Remembers why layers are read without the clone guarantees (the first reason wins).
fn refuse_clone(why: String) {
    let _ = CLONE_REFUSED.set(why);
}

/// Set once a clone could be made but not made `noatime` (locked mount flags in a user
/// namespace): mounts are still hidden, atimes are not guaranteed.
static ATIME_ONLY: AtomicBool = AtomicBool::new(false);

/// Once per process, when some layer could not be read through a private read-only `noatime`
/// clone of its mount: what is then not guaranteed, for the caller to print as a warning.
/// `None` when every layer opened so far is cloned (or the warning was taken already).
#[must_use]
pub fn jail_warning() -> Option<String> {
    let why = CLONE_REFUSED.get()?;
    if CLONE_WARNED.swap(true, Ordering::Relaxed) {
        return None;
    }
    let atimes = "access times of symlinks (and of files and directories not owned by this \
                  user) may change";
    Some(if UNCLONED.load(Ordering::Relaxed) {
        format!(
            "layers are read without a private read-only noatime clone of their mount ({why}; \
             cloning needs CAP_SYS_ADMIN over the mount namespace): {atimes}, and a directory \
             with a mount on it is reported as an anomaly instead of showing what overlayfs \
             sees under it"
        )
    } else {
        debug_assert!(ATIME_ONLY.load(Ordering::Relaxed));
        format!(
            "layers are read through private clones of their mounts that could not be made \
             noatime ({why}; the mount's atime flags are locked in this user namespace): {atimes}"
        )
    })
}

/// The type of a file: of an entry in a layer, and of a path in the merged view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// Directory.
    Dir,
    /// Regular file.
    File,
    /// Symbolic link.
    Symlink,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
    /// Character device.
    Char,
    /// Block device.
    Block,
}

impl FileKind {
    /// From an `st_mode`.
    #[must_use]
    pub fn from_mode(mode: u32) -> Self {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            libc::S_IFCHR => FileKind::Char,
            libc::S_IFBLK => FileKind::Block,
            _ => FileKind::File,
        }
    }

    /// The JSON and text name (`dir`, `file`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Dir => "dir",
            FileKind::File => "file",
            FileKind::Symlink => "symlink",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::Char => "char",
            FileKind::Block => "block",
        }
    }
}

/// Joins a path inside a layer and a child name.
#[must_use]
pub fn join_rel(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// Whether `O_NOATIME` is refused to us (it needs file ownership or CAP_FOWNER).
static NOATIME_REFUSED: AtomicBool = AtomicBool::new(false);

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_XDEV
        | ResolveFlags::NO_MAGICLINKS
}

/// Opens with `O_NOATIME`, retrying without it where the kernel says EPERM.
fn open_noatime(
    open: impl Fn(OFlags) -> rustix::io::Result<OwnedFd>,
    base: OFlags,
) -> io::Result<OwnedFd> {
    if !NOATIME_REFUSED.load(Ordering::Relaxed) {
        match open(base | OFlags::NOATIME) {
            Err(rustix::io::Errno::PERM) => NOATIME_REFUSED.store(true, Ordering::Relaxed),
            other => return other.map_err(io::Error::from),
        }
    }
    open(base).map_err(io::Error::from)
}

impl LayerRoot {
    /// Opens a layer directory (the layer's own path may contain symlinks; what is inside it
    /// is never followed).
    ///
    /// # Errors
    /// The directory is missing or unreadable; the message names it.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_as(path, LayerFormat::Kernel)
    }

    /// Opens a layer directory that records whiteouts in `format`.
    ///
    /// # Errors
    /// As [`LayerRoot::open`].
    pub fn open_as(path: &Path, format: LayerFormat) -> Result<Self> {
        if let LayerFormat::Tar(layer) = format {
            return Ok(Self::open_tar(layer, path.to_path_buf()));
        }
        let base = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // Opened first as today, for the errors people know (missing, not a directory).
        let plain = open_noatime(|f| rustix::fs::open(path, f, Mode::empty()), base)
            .map_err(|e| Error::io("opening layer directory", path, e))?;
        let (fd, cloned) = match cached_clone(path, &plain) {
            Ok((fd, note)) if is_same_dir(&fd, &plain) => {
                if let Some(note) = note {
                    ATIME_ONLY.store(true, Ordering::Relaxed);
                    refuse_clone(note);
                }
                (fd, true)
            }
            Ok(_) => {
                refuse_clone(format!("{} changed while it was opened", path.display()));
                (Arc::new(plain), false)
            }
            Err(why) => (Arc::new(plain), {
                refuse_clone(why);
                false
            }),
        };
        if !cloned {
            UNCLONED.store(true, Ordering::Relaxed);
        }
        Ok(LayerRoot {
            fd: Some(fd),
            path: path.to_path_buf(),
            cloned,
            format,
        })
    }

    /// An indexed layer tar, shown as `display` (nothing on disk is opened: the index reads
    /// its blob).
    #[must_use]
    pub fn open_tar(layer: Arc<tar::TarLayer>, display: PathBuf) -> Self {
        LayerRoot {
            fd: None,
            path: display,
            // Nothing to jail: no directory tree on disk is walked.
            cloned: true,
            format: LayerFormat::Tar(layer),
        }
    }

    /// Whether this layer is read through a private read-only clone of its mount (no
    /// submounts, no atime changes).
    #[must_use]
    pub fn is_cloned(&self) -> bool {
        self.cloned
    }

    /// The layer's path on disk.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The on-disk path of `rel` (a path relative to the layer root, no leading slash).
    #[must_use]
    pub fn join(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(OsStr::from_bytes(rel))
        }
    }

    /// `openat2` of `rel` beneath the layer root, never following a symlink or crossing a
    /// mount. A path too long for one call is walked a chunk of components at a time, each
    /// chunk opened beneath the directory the previous one reached.
    fn open_beneath(&self, rel: &[u8], base: OFlags) -> io::Result<OwnedFd> {
        let Some(root) = self.fd.as_deref() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer inside an image archive has no directory on disk",
            ));
        };
        let mut dir: Option<OwnedFd> = None;
        let mut rest = rel;
        while rest.len() > PATH_CHUNK {
            // Cut at the last '/' within the chunk; a single name that long is refused below.
            let Some(cut) = rest[..PATH_CHUNK].iter().rposition(|&b| b == b'/') else {
                break;
            };
            let (head, tail) = (&rest[..cut], &rest[cut + 1..]);
            let at = dir.as_ref().unwrap_or(root);
            let next = rustix::fs::openat2(
                at,
                OsStr::from_bytes(head),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                resolve_flags(),
            )?;
            dir = Some(next);
            rest = tail;
        }
        let at = dir.as_ref().unwrap_or(root);
        open_noatime(
            |f| {
                rustix::fs::openat2(
                    at,
                    OsStr::from_bytes(rest),
                    f,
                    Mode::empty(),
                    resolve_flags(),
                )
            },
            base,
        )
    }

    /// Opens directory `rel` of this layer; `""` is the root.
    ///
    /// # Errors
    /// Missing, not a directory, a symlink on the way (ELOOP), or a mount point (EXDEV).
    pub fn open_dir(&self, rel: &[u8]) -> io::Result<DirHandle> {
        if let LayerFormat::Tar(layer) = &self.format {
            let node = layer.dir_node(rel)?;
            return Ok(DirHandle::tar(Arc::clone(layer), node));
        }
        let fd = self.open_dir_fd(rel)?;
        Ok(match self.format {
            LayerFormat::WhiteoutFiles => DirHandle::whiteout_files(fd),
            _ => DirHandle::kernel(fd),
        })
    }

    /// Opens directory `rel` of this layer as a descriptor (for readers of kernel-format
    /// layers on disk: the live watcher, the demo).
    ///
    /// # Errors
    /// As [`LayerRoot::open_dir`].
    pub fn open_dir_fd(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        self.open_beneath(
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        )
    }

    /// Opens regular file `rel` of this layer for reading.
    ///
    /// # Errors
    /// As for [`LayerRoot::open_dir`].
    pub fn open_file(&self, rel: &[u8]) -> io::Result<LayerFile> {
        if let LayerFormat::Tar(layer) = &self.format {
            return layer.open_file(rel).map(LayerFile::tar);
        }
        self.open_beneath(
            rel,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        )
        .map(|fd| LayerFile::disk(std::fs::File::from(fd)))
    }
}

/// Reads all names in an open directory (without `.` and `..`), with the type readdir reports
/// (`None` when the filesystem does not say).
///
/// Reads from the descriptor's current position with `getdents64` straight into a reused
/// buffer (no duplicate descriptor): pass a freshly opened directory, as every caller does.
///
/// # Errors
/// The directory cannot be read.
pub fn read_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, Option<FileKind>)>> {
    use std::cell::RefCell;
    use std::mem::MaybeUninit;
    thread_local! {
        static BUF: RefCell<Vec<MaybeUninit<u8>>> =
            RefCell::new(vec![MaybeUninit::uninit(); 64 * 1024]);
    }
    BUF.with_borrow_mut(|buf| {
        let mut out = Vec::new();
        let mut reader = rustix::fs::RawDir::new(dir, &mut buf[..]);
        while let Some(entry) = reader.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let ty = match entry.file_type() {
                rustix::fs::FileType::Directory => Some(FileKind::Dir),
                rustix::fs::FileType::CharacterDevice => Some(FileKind::Char),
                rustix::fs::FileType::RegularFile => Some(FileKind::File),
                rustix::fs::FileType::Symlink => Some(FileKind::Symlink),
                rustix::fs::FileType::Fifo => Some(FileKind::Fifo),
                rustix::fs::FileType::Socket => Some(FileKind::Socket),
                rustix::fs::FileType::BlockDevice => Some(FileKind::Block),
                rustix::fs::FileType::Unknown => None,
            };
            out.push((name.to_vec(), ty));
        }
        Ok(out)
    })
}

/// Whether two descriptors name the same directory (device and inode).
fn is_same_dir(a: &OwnedFd, b: &OwnedFd) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// `lstat` of `name` inside an open directory.
///
/// In a cloned layer there are no mounts to meet. In a layer read without a clone, a name with
/// a mount on it is refused with `EXDEV` (the stat would describe the other filesystem's root,
/// while overlayfs sees the directory under it): [`is_mount_point`] tells the error apart.
///
/// # Errors
/// As `fstatat(2)`; `EXDEV` for a mount point in an uncloned layer.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<rustix::fs::Stat> {
    let st = rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)?;
    if UNCLONED.load(Ordering::Relaxed) && !matches!(name, b"" | b".") {
        let sx = rustix::fs::statx(
            dir,
            OsStr::from_bytes(name),
            AtFlags::SYMLINK_NOFOLLOW,
            rustix::fs::StatxFlags::empty(),
        )?;
        let root = rustix::fs::StatxAttributes::MOUNT_ROOT;
        if sx.stx_attributes_mask.contains(root) && sx.stx_attributes.contains(root) {
            return Err(mount_point_error());
        }
    }
    Ok(st)
}

/// The error for a mount point met in a layer read without a clone.
fn mount_point_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::CrossesDevices,
        "a mount point inside the layer (overlayfs reads the directory under it, which only a \
         private clone of the layer's mount can show: run as root); not read",
    )
}

/// Whether an error from this module means "a mount point inside a layer, not read".
#[must_use]
pub fn is_mount_point(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV) || e.kind() == io::ErrorKind::CrossesDevices
}

/// The target of symlink `name` inside an open directory.
///
/// # Errors
/// As `readlinkat(2)`.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    rustix::fs::readlinkat(dir, OsStr::from_bytes(name), Vec::new())
        .map(std::ffi::CString::into_bytes)
        .map_err(io::Error::from)
}

/// The path through procfs that names `name` in `dir` without re-resolving the directory.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}", dir.as_raw_fd()).into_bytes();
    if !name.is_empty() {
        p.push(b'/');
        p.extend_from_slice(name);
    }
    PathBuf::from(OsStr::from_bytes(&p))
}

/// `listxattrat(2)` and `getxattrat(2)` (Linux 6.13): xattrs of a name relative to a directory
/// descriptor, without the `/proc/self/fd` path walk.
mod xattrat {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The numbers below are the same on every architecture listed (the unified syscall
    /// table); elsewhere the callers take the procfs path.
    const NUMBERED: bool = cfg!(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64",
            target_arch = "loongarch64",
            target_arch = "powerpc64",
            target_arch = "s390x"
        )
    ));
    const SYS_GETXATTRAT: libc::c_long = 464;
    const SYS_LISTXATTRAT: libc::c_long = 465;

    /// `struct xattr_args` of `getxattrat(2)`.
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }

    /// Set once the kernel answers ENOSYS (older than 6.13, or filtered by seccomp).
    static MISSING: AtomicBool = AtomicBool::new(false);

    /// `None` when the system call is not available: use the procfs path instead.
    fn call(f: impl FnOnce() -> libc::c_long) -> Option<Result<usize, rustix::io::Errno>> {
        if !NUMBERED || MISSING.load(Ordering::Relaxed) {
            return None;
        }
        let r = f();
        if r >= 0 {
            return Some(Ok(usize::try_from(r).unwrap_or(0)));
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno == libc::ENOSYS {
            MISSING.store(true, Ordering::Relaxed);
            return None;
        }
        Some(Err(rustix::io::Errno::from_raw_os_error(errno)))
    }

    /// Calls `f` with `name` as a NUL-terminated C string, on the stack when it is short.
    fn with_cstr<T>(name: &[u8], f: impl FnOnce(*const libc::c_char) -> T) -> Option<T> {
        let mut stack = [0u8; 256];
        if name.len() < stack.len() && !name.contains(&0) {
            stack[..name.len()].copy_from_slice(name);
            return Some(f(stack.as_ptr().cast()));
        }
        CString::new(name).ok().map(|c| f(c.as_ptr()))
    }

    /// `listxattrat(dir, name, AT_SYMLINK_NOFOLLOW, buf)`.
    pub(super) fn list(
        dir: BorrowedFd<'_>,
        name: &[u8],
        buf: &mut [u8],
    ) -> Option<Result<usize, rustix::io::Errno>> {
        with_cstr(name, |name| {
            call(|| {
                // SAFETY: `name` is NUL-terminated and `buf` is valid for `buf.len()` bytes for
                // the whole call; the kernel writes at most that many.
                unsafe {
                    libc::syscall(
                        SYS_LISTXATTRAT,
                        dir.as_raw_fd(),
                        name,
                        libc::AT_SYMLINK_NOFOLLOW,
                        buf.as_mut_ptr(),
                        buf.len(),
                    )
                }
            })
        })
        .unwrap_or(Some(Err(rustix::io::Errno::INVAL)))
    }

    /// `getxattrat(dir, name, AT_SYMLINK_NOFOLLOW, attr, {buf})`.
    pub(super) fn get(
        dir: BorrowedFd<'_>,
        name: &[u8],
        attr: &str,
        buf: &mut [u8],
    ) -> Option<Result<usize, rustix::io::Errno>> {
        let (Ok(name), Ok(attr)) = (CString::new(name), CString::new(attr)) else {
            return Some(Err(rustix::io::Errno::INVAL));
        };
        let mut args = XattrArgs {
            value: buf.as_mut_ptr() as u64,
            size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            flags: 0,
        };
        call(|| {
            // SAFETY: as for `list`; `args` points at `buf` and lives across the call.
            unsafe {
                libc::syscall(
                    SYS_GETXATTRAT,
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                    attr.as_ptr(),
                    std::ptr::from_mut(&mut args),
                    std::mem::size_of::<XattrArgs>(),
                )
            }
        })
    }
}

/// The xattr names of `name` in `dir` (of `dir` itself when `name` is empty), never following
/// a symlink. Filesystems without xattrs give an empty list.
///
/// Uses `listxattrat(2)` where the kernel has it (one cheap call, no allocation for the common
/// empty list), else `llistxattr(2)` on the `/proc/self/fd` path.
///
/// # Errors
/// As `llistxattr(2)`.
pub fn list_xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    loop {
        let buf: &mut [u8] = if heap.is_empty() {
            &mut stack
        } else {
            &mut heap
        };
        let r = if name.is_empty() {
            rustix::fs::flistxattr(dir, &mut *buf)
        } else {
            match xattrat::list(dir, name, buf) {
                Some(r) => r,
                None => rustix::fs::llistxattr(proc_path(dir, name), &mut *buf),
            }
        };
        match r {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|&b| b == 0)
                    .filter(|s| !s.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect());
            }
            Err(rustix::io::Errno::RANGE) => {
                let len = (buf.len() * 4).max(1024);
                heap.resize(len, 0);
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The value of xattr `attr` on `name` in `dir` (on `dir` itself when `name` is empty); `None`
/// when it is not set.
///
/// # Errors
/// As `lgetxattr(2)`.
pub fn get_xattr(dir: BorrowedFd<'_>, name: &[u8], attr: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        let r = if name.is_empty() {
            rustix::fs::fgetxattr(dir, attr, &mut buf[..])
        } else {
            match xattrat::get(dir, name, attr, &mut buf[..]) {
                Some(r) => r,
                None => rustix::fs::lgetxattr(proc_path(dir, name), attr, &mut buf[..]),
            }
        };
        match r {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 16, 0),
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether this process can read `trusted.*` xattrs (CAP_SYS_ADMIN in the initial user
/// namespace). Without it the kernel hides them silently and opaque directories, redirects and
/// metacopy files would look like plain entries.
#[must_use]
pub fn can_read_trusted_xattrs() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_sys_admin = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 21) != 0);
    let init_userns = std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(true);
    cap_sys_admin && init_userns
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn xattrs_by_name_match_the_procfs_path_and_never_follow_symlinks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        let set = |attr: &str, value: &[u8]| {
            rustix::fs::lsetxattr(&file, attr, value, rustix::fs::XattrFlags::empty())
        };
        if set("user.a", b"1").is_err() {
            eprintln!("SKIPPED: the temp filesystem has no user xattrs");
            return;
        }
        set("user.long", &[7u8; 3000]).expect("setxattr");
        std::os::unix::fs::symlink("f", tmp.path().join("link")).expect("symlink");
        let dir = LayerRoot::open(tmp.path()).expect("open");
        let fd = dir.open_dir_fd(b"").expect("open dir");
        let mut names = list_xattrs(fd.as_fd(), b"f").expect("list");
        names.sort();
        let mut via_proc = Vec::new();
        let mut buf = vec![0u8; 4096];
        let n = rustix::fs::llistxattr(proc_path(fd.as_fd(), b"f"), &mut buf).expect("llistxattr");
        via_proc.extend(
            buf[..n]
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty() && s.starts_with(b"user."))
                .map(<[u8]>::to_vec),
        );
        via_proc.sort();
        names.retain(|n| n.starts_with(b"user."));
        assert_eq!(names, via_proc);
        assert_eq!(names, vec![b"user.a".to_vec(), b"user.long".to_vec()]);
        assert_eq!(
            get_xattr(fd.as_fd(), b"f", "user.a").expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            get_xattr(fd.as_fd(), b"f", "user.long").expect("get"),
            Some(vec![7u8; 3000])
        );
        assert_eq!(get_xattr(fd.as_fd(), b"f", "user.none").expect("get"), None);
        // Through the symlink: the link's own (no user.*) xattrs, never the target's.
        let on_link = list_xattrs(fd.as_fd(), b"link").expect("list link");
        assert!(
            !on_link.iter().any(|n| n.starts_with(b"user.")),
            "{on_link:?}"
        );
        assert_eq!(get_xattr(fd.as_fd(), b"link", "user.a").expect("get"), None);
        assert!(list_xattrs(fd.as_fd(), b"missing").is_err());
    }

    #[test]
    fn read_dir_lists_every_name_of_a_large_directory_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut want = Vec::new();
        for i in 0..1000 {
            // Long names so that several getdents64 buffers are needed.
            let name = format!("{i:04}-{}", "n".repeat(200));
            std::fs::write(tmp.path().join(&name), b"").expect("write");
            want.push(name.into_bytes());
        }
        std::fs::create_dir(tmp.path().join("sub")).expect("mkdir");
        want.push(b"sub".to_vec());
        let dir = LayerRoot::open(tmp.path()).expect("open");
        let fd = dir.open_dir_fd(b"").expect("open dir");
        let mut got = read_dir(fd.as_fd()).expect("read_dir");
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort();
        assert_eq!(got.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), want);
        let sub = got.iter().find(|(n, _)| n == b"sub").expect("sub");
        assert_eq!(sub.1, Some(FileKind::Dir));
    }
}
