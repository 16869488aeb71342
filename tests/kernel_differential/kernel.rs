//! The kernel's side: mounting a stack, walking the mount (readdir + lstat, never following a
//! symlink), and changing a stack through the mount as a container would.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::prng::Rng;
use crate::stackgen;

/// One path as the kernel shows it.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: &'static str,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub target: Option<Vec<u8>>,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Regular files: the content read through the mount, or the errno of the read.
    pub content: Option<Result<Vec<u8>, i32>>,
}

/// The merged tree as the kernel shows it.
#[derive(Debug, Default)]
pub struct View {
    /// Merged path (starting with `/`) to node.
    pub nodes: BTreeMap<Vec<u8>, Node>,
    /// Names readdir lists whose lstat fails, with the errno.
    pub anomalies: BTreeMap<Vec<u8>, i32>,
    /// Directories whose readdir failed, with the errno.
    pub unreadable: BTreeMap<Vec<u8>, i32>,
    /// Directories whose readdir gave errors before it completed (see [`read_dir_names`]).
    pub readdir_errors: BTreeMap<Vec<u8>, Vec<i32>>,
}

pub fn kind_of(ft: fs::FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char"
    } else {
        "block"
    }
}

fn merged_join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

fn node(path: &Path, md: &fs::Metadata, read_content: bool) -> Node {
    let kind = kind_of(md.file_type());
    Node {
        kind,
        size: md.size(),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: (md.mtime(), md.mtime_nsec()),
        target: (kind == "symlink")
            .then(|| fs::read_link(path).ok())
            .flatten()
            .map(|t| t.into_os_string().into_vec()),
        content: (kind == "file" && read_content).then(|| fs::read(path).map_err(|e| errno(&e))),
    }
}

use std::os::unix::ffi::OsStringExt;

/// Looks one merged path up on the mount (lstat), as the walk does for a name readdir gives.
pub fn probe(mp: &Path, merged: &[u8]) -> Result<Node, i32> {
    let p = on_mount(mp, merged);
    fs::symlink_metadata(&p)
        .map(|md| node(&p, &md, true))
        .map_err(|e| errno(&e))
}

/// Walks the mount at `mp`: readdir every directory, lstat every name.
pub fn walk(mp: &Path, read_content: bool) -> View {
    let mut view = View::default();
    match fs::symlink_metadata(mp) {
        Ok(md) => {
            view.nodes
                .insert(b"/".to_vec(), node(mp, &md, read_content));
        }
        Err(e) => {
            view.unreadable.insert(b"/".to_vec(), errno(&e));
            return view;
        }
    }
    walk_dir(&mut view, mp, b"/", read_content);
    view
}

fn walk_dir(view: &mut View, dir: &Path, merged: &[u8], read_content: bool) {
    let names = match read_dir_names(dir) {
        Ok((names, errors)) => {
            if !errors.is_empty() {
                view.readdir_errors.insert(merged.to_vec(), errors);
            }
            names
        }
        Err(e) => {
            view.unreadable.insert(merged.to_vec(), e);
            return;
        }
    };
    for name in names {
        let child = dir.join(OsStr::from_bytes(&name));
        let path = merged_join(merged, &name);
        match fs::symlink_metadata(&child) {
            Err(e) => {
                view.anomalies.insert(path, errno(&e));
            }
            Ok(md) => {
                let n = node(&child, &md, read_content);
                let is_dir = n.kind == "dir";
                view.nodes.insert(path.clone(), n);
                if is_dir {
                    walk_dir(view, &child, &path, read_content);
                }
            }
        }
    }
}

/// The names in a directory, read with `getdents64` directly, and the errors it gave on the
/// way.
///
/// Readdir of a merge dir looks some names up (the upper names of an impure directory, the
/// regular files of an `opaque=x` one) and drops those lookup does not resolve. When that
/// lookup fails with an *error* (a metacopy file it refuses to follow, ...), the kernel marks
/// the name stale and returns the error, unless it already has entries for this call, in
/// which case it returns those and skips the name on the next call. Which of the two a
/// program sees depends on where the name falls in the getdents buffer (libc's readdir then
/// stops at the error). We keep calling getdents after an error, as the kernel's stale mark
/// intends, and record the errors: the listing is what the kernel shows once it has skipped
/// the name, which is what layerscope shows (no anomaly: the kernel does not list the name).
fn read_dir_names(dir: &Path) -> Result<(Vec<Vec<u8>>, Vec<i32>), i32> {
    let f = fs::File::open(dir).map_err(|e| errno(&e))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut buf = vec![0u8; 32 * 1024];
    let mut names = Vec::new();
    let mut errors = Vec::new();
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into buf.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(-1);
            errors.push(e);
            if errors.len() > 1000 {
                return Err(e);
            }
            continue;
        }
        if n == 0 {
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name_bytes = &buf[off + 19..off + reclen];
            let end = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..end];
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
            off += reclen;
        }
    }
    Ok((names, errors))
}

/// The last lines of the kernel log, for a failed mount.
fn dmesg_tail() -> String {
    Command::new("dmesg")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(3)..].join("\n")
        })
        .unwrap_or_default()
}

/// An overlay mount, unmounted (lazily) when dropped unless [`Mounted::unmount`] did it.
pub struct Mounted {
    point: Option<PathBuf>,
}

/// Times `umount` met EBUSY and tried again (see [`Mounted::unmount`]).
pub static UNMOUNT_RETRIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Mounts the overlay with mount(2), the option string passed to the kernel as it is; the
/// error carries the kernel's complaint.
pub fn mount(point: &Path, options: &str) -> Result<Mounted, String> {
    fs::create_dir_all(point).map_err(|e| e.to_string())?;
    let data = std::ffi::CString::new(options).map_err(|e| e.to_string())?;
    let attempt = || {
        rustix::mount::mount(
            "overlay",
            point,
            "overlay",
            rustix::mount::MountFlags::empty(),
            data.as_c_str(),
        )
    };
    // With index=on the kernel refuses (EBUSY) an upper or workdir still held by the previous
    // mount of the same layers; a child another test thread is spawning can hold that one for
    // a moment after our umount (see [`Mounted::unmount`]). Try again shortly.
    let mut result = attempt();
    for _ in 0..5000 {
        if result != Err(rustix::io::Errno::BUSY) {
            break;
        }
        UNMOUNT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(2));
        result = attempt();
    }
    result.map_err(|e| format!("mount -o {options}: {e}; kernel log:\n{}", dmesg_tail()))?;
    Ok(Mounted {
        point: Some(point.to_path_buf()),
    })
}

impl Mounted {
    /// Unmounts now (not lazily), so the layers can be mounted again.
    pub fn unmount(mut self) -> Result<(), String> {
        let point = self.point.take().expect("mounted");
        // EBUSY can be a child another test thread is spawning: it holds copies of our open
        // fds for the moment between fork and exec. Try again shortly.
        for _ in 0..1000 {
            match rustix::mount::unmount(&point, rustix::mount::UnmountFlags::empty()) {
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::BUSY) => {
                    UNMOUNT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(format!("umount {}: {e}", point.display())),
            }
        }
        let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
        Err(format!("umount {}: still busy", point.display()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(p) = self.point.take() {
            let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Mounts the overlay so that its upper no longer changes under a walk.
///
/// A writable overlay writes to its upper layer on mere *lookups*: a merged directory whose
/// upper copy has no `overlay.origin` gets one, and its parent gets `overlay.impure=y`
/// (`ovl_fix_origin` in namei.c). `impure` changes what readdir shows (upper entries that
/// lookup cannot find, such as xattr whiteouts, are dropped), so the first walk of a fresh
/// upper can disagree with the layers as they are once it is over. Walking once, remounting
/// and comparing the second walk compares the kernel and layerscope on the same bytes.
pub fn settled_mount(point: &Path, options: &str, writable: bool) -> Result<Mounted, String> {
    let m = mount(point, options)?;
    if !writable {
        return Ok(m);
    }
    walk(point, false);
    m.unmount()?;
    mount(point, options)
}

/// A merged path under the mount point.
pub fn on_mount(mp: &Path, merged: &[u8]) -> PathBuf {
    let rel = merged.strip_prefix(b"/").unwrap_or(merged);
    if rel.is_empty() {
        mp.to_path_buf()
    } else {
        mp.join(OsStr::from_bytes(rel))
    }
}

/// What a mutation may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Write,
    Append,
    Truncate,
    Rm,
    RmRfMkdir,
    RenameDir,
    RenameFile,
    Chmod,
    Chown,
    Link,
    Create,
    Mkdir,
    Symlink,
    /// Rename onto an existing entry of the same kind (replacing it).
    RenameOver,
    /// Create something where a lower entry was removed earlier (over a whiteout: a new
    /// directory there becomes opaque).
    Recreate,
    /// Set a user xattr (a metadata-only copy-up with metacopy=on).
    SetXattr,
}

/// Changes the stack through the mount `ops` times: writes, appends, removals, `rm -rf` +
/// `mkdir`, renames, chmod, hard links, new entries. Returns a log of what was done; errors
/// (EXDEV without redirect_dir, ...) are the kernel's answer and only logged.
pub fn mutate(rng: &mut Rng, mp: &Path, ops: usize) -> Vec<String> {
    let mut log = Vec::new();
    let mut removed: Vec<Vec<u8>> = Vec::new();
    for k in 0..ops {
        let view = walk(mp, false);
        let pick = |rng: &mut Rng, f: &dyn Fn(&Node) -> bool| -> Option<Vec<u8>> {
            let v: Vec<&Vec<u8>> = view
                .nodes
                .iter()
                .filter(|(p, n)| p.as_slice() != b"/" && f(n))
                .map(|(p, _)| p)
                .collect();
            (!v.is_empty()).then(|| v[rng.below(v.len())].clone())
        };
        let dirs: Vec<Vec<u8>> = view
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == "dir")
            .map(|(p, _)| p.clone())
            .collect();
        let some_dir = |rng: &mut Rng| dirs[rng.below(dirs.len())].clone();
        let op = rng.weighted(&[
            (Op::Write, 10),
            (Op::Append, 8),
            (Op::Truncate, 3),
            (Op::Rm, 10),
            (Op::RmRfMkdir, 6),
            (Op::RenameDir, 10),
            (Op::RenameFile, 6),
            (Op::Chmod, 10),
            (Op::Chown, 3),
            (Op::Link, 8),
            (Op::Create, 6),
            (Op::Mkdir, 4),
            (Op::Symlink, 3),
            (Op::RenameOver, 5),
            (Op::Recreate, if removed.is_empty() { 0 } else { 8 }),
            (Op::SetXattr, 4),
        ]);
        let fresh = |rng: &mut Rng, tag: &str| -> Vec<u8> {
            let mut n = stackgen::name(rng);
            if n.len() > 200 {
                n.truncate(200);
            }
            n.extend_from_slice(format!("-{tag}{k}").as_bytes());
            n
        };
        let is_file = |n: &Node| n.kind == "file";
        let result: Result<String, std::io::Error> = (|| match op {
            Op::Write | Op::Append | Op::Truncate | Op::Chmod => {
                let Some(p) = pick(rng, &is_file) else {
                    return Ok("no file".into());
                };
                let full = on_mount(mp, &p);
                match op {
                    Op::Write => fs::write(&full, rng.blob(0, 50))?,
                    Op::Append => fs::OpenOptions::new()
                        .append(true)
                        .open(&full)?
                        .write_all(&rng.blob(1, 20))?,
                    Op::Truncate => fs::OpenOptions::new()
                        .write(true)
                        .open(&full)?
                        .set_len(rng.range(0, 10) as u64)?,
                    _ => fs::set_permissions(
                        &full,
                        fs::Permissions::from_mode(*rng.pick(&[0o600, 0o640, 0o755, 0o4711])),
                    )?,
                }
                Ok(format!("{op:?} {}", show(&p)))
            }
            Op::Chown => {
                let Some(p) = pick(rng, &|_| true) else {
                    return Ok("nothing".into());
                };
                std::os::unix::fs::lchown(on_mount(mp, &p), Some(1), Some(1))?;
                Ok(format!("chown {}", show(&p)))
            }
            Op::Rm => {
                let Some(p) = pick(rng, &|n: &Node| n.kind != "dir") else {
                    return Ok("no non-dir".into());
                };
                fs::remove_file(on_mount(mp, &p))?;
                removed.push(p.clone());
                Ok(format!("rm {}", show(&p)))
            }
            Op::RmRfMkdir => {
                let Some(p) = pick(rng, &|n: &Node| n.kind == "dir") else {
                    return Ok("no dir".into());
                };
                let full = on_mount(mp, &p);
                fs::remove_dir_all(&full)?;
                if rng.chance(25) {
                    removed.push(p.clone());
                    return Ok(format!("rm -rf {}", show(&p)));
                }
                fs::create_dir(&full)?;
                if rng.chance(60) {
                    let n = fresh(rng, "new");
                    fs::write(full.join(OsStr::from_bytes(&n)), b"new content")?;
                }
                Ok(format!("rm -rf + mkdir {}", show(&p)))
            }
            Op::RenameDir | Op::RenameFile => {
                let want = if op == Op::RenameDir { "dir" } else { "file" };
                let Some(p) = pick(rng, &|n: &Node| n.kind == want) else {
                    return Ok(format!("no {want}"));
                };
                // Same parent (relative redirect) or another directory (absolute redirect).
                let parent = p[..p.iter().rposition(|&b| b == b'/').unwrap_or(0)].to_vec();
                let mut dest_dir = if rng.chance(50) {
                    parent
                } else {
                    some_dir(rng)
                };
                if dest_dir.starts_with(&p)
                    && (dest_dir.len() == p.len() || dest_dir[p.len()] == b'/')
                {
                    dest_dir = b"/".to_vec();
                }
                let dest = merged_join(
                    if dest_dir.is_empty() { b"/" } else { &dest_dir },
                    &fresh(rng, "mv"),
                );
                fs::rename(on_mount(mp, &p), on_mount(mp, &dest))?;
                removed.push(p.clone());
                Ok(format!("mv {} {}", show(&p), show(&dest)))
            }
            Op::RenameOver => {
                let Some(p) = pick(rng, &|n: &Node| n.kind == "file" || n.kind == "symlink") else {
                    return Ok("no file".into());
                };
                let Some(q) = pick(rng, &|n: &Node| n.kind == "file" || n.kind == "symlink") else {
                    return Ok("no file".into());
                };
                if p == q {
                    return Ok("same file".into());
                }
                fs::rename(on_mount(mp, &p), on_mount(mp, &q))?;
                removed.push(p.clone());
                Ok(format!("mv {} over {}", show(&p), show(&q)))
            }
            Op::Recreate => {
                let p = removed[rng.below(removed.len())].clone();
                let full = on_mount(mp, &p);
                if rng.chance(50) {
                    fs::create_dir(&full)?;
                    if rng.chance(50) {
                        fs::write(full.join("inside"), b"inside")?;
                    }
                } else {
                    fs::write(&full, rng.blob(0, 20))?;
                }
                Ok(format!("recreate {}", show(&p)))
            }
            Op::SetXattr => {
                let Some(p) = pick(rng, &|n: &Node| n.kind == "file" || n.kind == "dir") else {
                    return Ok("nothing".into());
                };
                rustix::fs::lsetxattr(
                    on_mount(mp, &p),
                    "user.layerscope-test",
                    b"v",
                    rustix::fs::XattrFlags::empty(),
                )?;
                Ok(format!("setxattr {}", show(&p)))
            }
            Op::Link => {
                let Some(p) = pick(rng, &is_file) else {
                    return Ok("no file".into());
                };
                let d = some_dir(rng);
                let dest = merged_join(&d, &fresh(rng, "ln"));
                fs::hard_link(on_mount(mp, &p), on_mount(mp, &dest))?;
                Ok(format!("ln {} {}", show(&p), show(&dest)))
            }
            Op::Create | Op::Mkdir | Op::Symlink => {
                let d = some_dir(rng);
                let dest = merged_join(&d, &fresh(rng, "new"));
                let full = on_mount(mp, &dest);
                match op {
                    Op::Create => fs::write(&full, rng.blob(0, 30))?,
                    Op::Mkdir => fs::create_dir(&full)?,
                    _ => std::os::unix::fs::symlink("../a", &full)?,
                }
                Ok(format!("{op:?} {}", show(&dest)))
            }
        })();
        log.push(match result {
            Ok(s) => s,
            Err(e) => format!("{op:?} failed: {e}"),
        });
    }
    log
}

fn show(p: &[u8]) -> String {
    layerscope::escape::display(p)
}
