//! One open directory of a layer, whatever the layer's format: what the merge reads through.
//!
//! A layer is kernel-format (whiteouts are 0/0 character devices, opaque directories and
//! redirects are xattrs), OCI-format on disk (whiteouts are `.wh.NAME` files, opaque
//! directories hold `.wh..wh..opq`: fuse-overlayfs layers, unpacked image layers), or an
//! indexed OCI layer tar. Each handle answers in the kernel's terms, so the merge rules are
//! written once: an OCI whiteout stats as a 0/0 character device and an opaque marker reads
//! as the `overlay.opaque` xattr.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use std::sync::Arc;

use super::FileKind;
use super::tar::{TarFile, TarLayer};
use super::whiteout_files as wh;

/// An open directory inside a layer.
#[derive(Debug)]
pub struct DirHandle {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// A directory of a kernel-format layer.
    Kernel(OwnedFd),
    /// A directory of a layer on disk that marks whiteouts with `.wh.` files.
    WhiteoutFiles(OwnedFd),
    /// A directory node of an indexed layer tar.
    Tar(Arc<TarLayer>, u32),
}

impl DirHandle {
    pub(super) fn kernel(fd: OwnedFd) -> Self {
        DirHandle {
            inner: Inner::Kernel(fd),
        }
    }

    pub(super) fn whiteout_files(fd: OwnedFd) -> Self {
        DirHandle {
            inner: Inner::WhiteoutFiles(fd),
        }
    }

    pub(super) fn tar(layer: Arc<TarLayer>, node: u32) -> Self {
        DirHandle {
            inner: Inner::Tar(layer, node),
        }
    }

    /// The descriptor of a directory on disk (`None` for a directory inside an archive).
    #[must_use]
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Kernel(fd) | Inner::WhiteoutFiles(fd) => Some(fd.as_fd()),
            Inner::Tar(..) => None,
        }
    }

    /// Every name in the directory with the type readdir reports (see [`super::read_dir`]).
    /// Read it once per handle: a directory on disk is read from its current position.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn read_dir(&self) -> io::Result<Vec<(Vec<u8>, Option<FileKind>)>> {
        match &self.inner {
            Inner::Kernel(fd) => super::read_dir(fd.as_fd()),
            Inner::WhiteoutFiles(fd) => wh::read_dir(fd.as_fd()),
            Inner::Tar(t, n) => Ok(t.read_dir(*n)),
        }
    }

    /// `lstat` of `name` in the directory (of the directory itself for `""` or `"."`).
    ///
    /// # Errors
    /// As [`super::lstat_at`].
    pub fn lstat(&self, name: &[u8]) -> io::Result<rustix::fs::Stat> {
        match &self.inner {
            Inner::Kernel(fd) => super::lstat_at(fd.as_fd(), or_dot(name)),
            Inner::WhiteoutFiles(fd) => wh::lstat(fd.as_fd(), or_dot(name)),
            Inner::Tar(t, n) => t.lstat(*n, name),
        }
    }

    /// The target of symlink `name`.
    ///
    /// # Errors
    /// As `readlinkat(2)`.
    pub fn read_link(&self, name: &[u8]) -> io::Result<Vec<u8>> {
        match &self.inner {
            Inner::Kernel(fd) => super::read_link_at(fd.as_fd(), name),
            Inner::WhiteoutFiles(fd) => wh::read_link(fd.as_fd(), name),
            Inner::Tar(t, n) => t.read_link(*n, name),
        }
    }

    /// The xattr names of `name` (of the directory itself when `name` is empty).
    ///
    /// # Errors
    /// As `llistxattr(2)`.
    pub fn list_xattrs(&self, name: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        match &self.inner {
            Inner::Kernel(fd) => super::list_xattrs(fd.as_fd(), name),
            Inner::WhiteoutFiles(fd) => wh::list_xattrs(fd.as_fd(), name),
            Inner::Tar(t, n) => t.list_xattrs(*n, name),
        }
    }

    /// The value of xattr `attr` on `name` (on the directory itself when `name` is empty).
    ///
    /// # Errors
    /// As `lgetxattr(2)`.
    pub fn get_xattr(&self, name: &[u8], attr: &str) -> io::Result<Option<Vec<u8>>> {
        match &self.inner {
            Inner::Kernel(fd) => super::get_xattr(fd.as_fd(), name, attr),
            Inner::WhiteoutFiles(fd) => wh::get_xattr(fd.as_fd(), name, attr),
            Inner::Tar(t, n) => t.get_xattr(*n, name, attr),
        }
    }
}

fn or_dot(name: &[u8]) -> &[u8] {
    if name.is_empty() { b"." } else { name }
}

/// A regular file of a layer, open for reading.
#[derive(Debug)]
pub struct LayerFile {
    inner: FileInner,
}

#[derive(Debug)]
enum FileInner {
    /// A file on disk.
    Disk(std::fs::File),
    /// A file inside an indexed layer tar.
    Tar(TarFile),
}

impl LayerFile {
    pub(super) fn disk(file: std::fs::File) -> Self {
        LayerFile {
            inner: FileInner::Disk(file),
        }
    }

    pub(super) fn tar(file: TarFile) -> Self {
        LayerFile {
            inner: FileInner::Tar(file),
        }
    }

    /// The file's size in bytes, and whether it is a regular file.
    ///
    /// # Errors
    /// As `fstat(2)`.
    pub fn regular_len(&self) -> io::Result<Option<u64>> {
        match &self.inner {
            FileInner::Disk(f) => {
                let m = f.metadata()?;
                Ok(m.is_file().then_some(m.len()))
            }
            FileInner::Tar(f) => Ok(Some(f.len())),
        }
    }
}

impl io::Read for LayerFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            FileInner::Disk(f) => f.read(buf),
            FileInner::Tar(f) => f.read(buf),
        }
    }
}
