//! Layers on disk in the OCI format: whiteouts are `.wh.NAME` files, an opaque directory holds
//! `.wh..wh..opq` (the OCI image spec's layer changesets, as fuse-overlayfs and unpacked image
//! layers keep them). Each call answers as the kernel-format reader would, so the merge reads
//! these layers unchanged:
//!
//! - `.wh.NAME` lists and stats as a whiteout `NAME` (a 0/0 character device), unless the layer
//!   also holds a real `NAME`: a whiteout applies to lower layers only, so the real entry wins
//!   (and, being a directory, it is opaque: the whiteout removed the lower one).
//! - `.wh..wh..opq` in a directory reads as its `overlay.opaque` xattr (`y`).
//! - Other `.wh.` names (aufs' `.wh..wh.plnk` and the like) are markers, not files: not listed.
//! - Real overlay xattrs on these files are ignored: in this format only names mark.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags};

use super::FileKind;

/// The prefix of a whiteout name.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of the opaque marker inside a directory.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

fn whiteout_name(name: &[u8]) -> Vec<u8> {
    [WHITEOUT_PREFIX, name].concat()
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// What a raw directory entry is in this format.
enum Raw<'a> {
    /// A file or directory of the layer.
    Real(&'a [u8]),
    /// `.wh.NAME`: a whiteout for `NAME`.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq` or another marker.
    Marker,
}

fn classify(name: &[u8]) -> Raw<'_> {
    match name.strip_prefix(WHITEOUT_PREFIX) {
        None => Raw::Real(name),
        Some(rest) if rest.is_empty() || rest.starts_with(WHITEOUT_PREFIX) => Raw::Marker,
        Some(rest) => Raw::Whiteout(rest),
    }
}

/// The directory's names, whiteouts under the names they delete, markers left out.
pub(super) fn read_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, Option<FileKind>)>> {
    let raw = super::read_dir(dir)?;
    let real: std::collections::HashSet<&[u8]> = raw
        .iter()
        .filter_map(|(n, _)| match classify(n) {
            Raw::Real(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(raw.len());
    for (name, kind) in &raw {
        match classify(name) {
            Raw::Real(_) => out.push((name.clone(), *kind)),
            Raw::Whiteout(target) if !real.contains(target) => {
                out.push((target.to_vec(), Some(FileKind::Char)));
            }
            Raw::Whiteout(_) | Raw::Marker => {}
        }
    }
    Ok(out)
}

/// `lstat` of `name`: the real entry, else its whiteout as a 0/0 character device.
pub(super) fn lstat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<rustix::fs::Stat> {
    if !matches!(classify(name), Raw::Real(_)) {
        return Err(not_found());
    }
    match super::lstat_at(dir, name) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && name != b"." => {
            let mut st = super::lstat_at(dir, &whiteout_name(name))?;
            st.st_mode = libc::S_IFCHR;
            st.st_rdev = 0;
            st.st_size = 0;
            st.st_blocks = 0;
            Ok(st)
        }
        other => other,
    }
}

/// The target of symlink `name` (markers are not symlinks).
pub(super) fn read_link(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    match classify(name) {
        Raw::Real(_) => super::read_link_at(dir, name),
        _ => Err(not_found()),
    }
}

/// Whether directory `name` of `dir` (or `dir` itself for `""`) is opaque: it holds the opaque
/// marker, or a whiteout of the same name sits beside it.
fn is_opaque(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    let exists = |at: BorrowedFd<'_>, n: &[u8]| match super::lstat_at(at, n) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    };
    if name.is_empty() || name == b"." {
        return exists(dir, OPAQUE_MARKER);
    }
    if !matches!(classify(name), Raw::Real(_)) {
        return Ok(false);
    }
    let st = super::lstat_at(dir, name)?;
    if FileKind::from_mode(st.st_mode) != FileKind::Dir {
        return Ok(false);
    }
    if exists(dir, &whiteout_name(name))? {
        return Ok(true);
    }
    // Opened beneath `dir` without following anything, like every other open of a layer.
    let child: OwnedFd = rustix::fs::openat2(
        dir,
        OsStr::from_bytes(name),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        super::resolve_flags(),
    )?;
    exists(std::os::fd::AsFd::as_fd(&child), OPAQUE_MARKER)
}

/// The xattrs this format carries: only the opaque marker, in both overlay namespaces (the
/// merge reads the one its stack uses).
pub(super) fn list_xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    Ok(if is_opaque(dir, name)? {
        vec![
            b"trusted.overlay.opaque".to_vec(),
            b"user.overlay.opaque".to_vec(),
        ]
    } else {
        Vec::new()
    })
}

/// The value of `attr`: `y` for `overlay.opaque` on an opaque directory, else unset.
pub(super) fn get_xattr(
    dir: BorrowedFd<'_>,
    name: &[u8],
    attr: &str,
) -> io::Result<Option<Vec<u8>>> {
    let opaque_attr = matches!(attr, "trusted.overlay.opaque" | "user.overlay.opaque");
    Ok((opaque_attr && is_opaque(dir, name)?).then(|| b"y".to_vec()))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn layer() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path();
        std::fs::write(p.join(".wh.gone"), b"").expect("whiteout");
        std::fs::create_dir(p.join("opaque")).expect("dir");
        std::fs::write(p.join("opaque/.wh..wh..opq"), b"").expect("marker");
        std::fs::write(p.join("opaque/kept"), b"k").expect("file");
        std::fs::create_dir(p.join("both")).expect("dir");
        std::fs::write(p.join(".wh.both"), b"").expect("whiteout");
        std::fs::create_dir(p.join("plain")).expect("dir");
        std::fs::write(p.join(".wh..wh.plnk"), b"").expect("aufs marker");
        std::os::unix::fs::symlink("/etc", p.join("link")).expect("symlink");
        t
    }

    fn open(p: &std::path::Path) -> OwnedFd {
        rustix::fs::open(p, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).expect("open")
    }

    #[test]
    fn whiteout_files_read_as_kernel_whiteouts_and_markers_as_opaque_xattrs() {
        let t = layer();
        let fd = open(t.path());
        let mut names = read_dir(fd.as_fd()).expect("read");
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<_> = names.iter().map(|(n, k)| (n.as_slice(), *k)).collect();
        assert_eq!(
            names,
            [
                (&b"both"[..], Some(FileKind::Dir)),
                (b"gone", Some(FileKind::Char)),
                (b"link", Some(FileKind::Symlink)),
                (b"opaque", Some(FileKind::Dir)),
                (b"plain", Some(FileKind::Dir)),
            ]
        );
        let gone = lstat(fd.as_fd(), b"gone").expect("whiteout stat");
        assert_eq!(
            (gone.st_mode & libc::S_IFMT, gone.st_rdev),
            (libc::S_IFCHR, 0)
        );
        for marker in [&b".wh.gone"[..], b".wh..wh.plnk", b"missing"] {
            let e = lstat(fd.as_fd(), marker).expect_err("markers are not entries");
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        }
        let opaque =
            |name: &[u8]| get_xattr(fd.as_fd(), name, "user.overlay.opaque").expect("xattr");
        assert_eq!(opaque(b"opaque").as_deref(), Some(&b"y"[..]));
        assert_eq!(
            opaque(b"both").as_deref(),
            Some(&b"y"[..]),
            "a dir beside its own whiteout"
        );
        assert_eq!(opaque(b"plain"), None);
        assert_eq!(opaque(b"link"), None, "a symlink is never opened");
        let inner = open(&t.path().join("opaque"));
        let mut inside = read_dir(inner.as_fd()).expect("read");
        inside.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(inside, [(b"kept".to_vec(), Some(FileKind::File))]);
        assert!(list_xattrs(inner.as_fd(), b"").expect("list").len() == 2);
    }
}
