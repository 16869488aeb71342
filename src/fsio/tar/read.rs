//! Answers about an indexed layer in the kernel's terms (what `DirHandle` asks), and a file's
//! bytes: a plain tar is read in place; a gzip layer resumes at the nearest seek point before
//! the file; a zstd layer resumes at the nearest frame start recorded while indexing (one
//! frame, as most engines write, means from the start). The decoder a read leaves behind is
//! kept for the next read further on, which makes reading files in tar order linear.

use std::io::{self, Read};
use std::sync::Arc;

use super::build::{Node, ROOT};
use super::gzip::GzipReader;
use super::source::RangeReader;
use super::zstd::ZstdReader;
use super::{Compression, TarLayer};
use crate::fsio::FileKind;

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A decoder positioned somewhere in a compressed layer.
pub enum Decoder {
    /// gzip, resumed from a seek point.
    Gzip(Box<GzipReader<RangeReader>>),
    /// zstd, from a frame start.
    Zstd(Box<ZstdReader>),
}

impl Decoder {
    fn position(&self) -> u64 {
        match self {
            Decoder::Gzip(g) => g.position(),
            Decoder::Zstd(z) => z.position(),
        }
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let got = io::copy(&mut self.by_ref().take(n), &mut io::sink())?;
        if got < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends before the file's data",
            ));
        }
        Ok(())
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(g) => g.read(buf),
            Decoder::Zstd(z) => z.read(buf),
        }
    }
}

impl TarLayer {
    /// The directory node at `rel` (`""` is the root), resolved as `openat2` with
    /// `RESOLVE_NO_SYMLINKS` would: a symlink on the way is `ELOOP`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR` or `ELOOP`.
    pub fn dir_node(&self, rel: &[u8]) -> io::Result<u32> {
        let mut n = ROOT;
        for part in rel
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
        {
            if part == b".." {
                return Err(err(libc::EXDEV));
            }
            n = self.tree.child(n, part).ok_or_else(|| err(libc::ENOENT))?;
            match self.tree.node(n).kind() {
                libc::S_IFDIR => {}
                libc::S_IFLNK => return Err(err(libc::ELOOP)),
                _ => return Err(err(libc::ENOTDIR)),
            }
        }
        Ok(n)
    }

    fn named(&self, dir: u32, name: &[u8]) -> io::Result<u32> {
        if name.is_empty() || name == b"." {
            return Ok(dir);
        }
        self.tree.child(dir, name).ok_or_else(|| err(libc::ENOENT))
    }

    /// The names in directory node `dir`, with their types.
    #[must_use]
    pub fn read_dir(&self, dir: u32) -> Vec<(Vec<u8>, Option<FileKind>)> {
        self.tree
            .children(dir)
            .iter()
            .map(|&c| {
                (
                    self.tree.name(c).to_vec(),
                    Some(FileKind::from_mode(self.tree.node(c).mode)),
                )
            })
            .collect()
    }

    /// `lstat` of `name` in `dir` (of `dir` for `""`).
    ///
    /// # Errors
    /// `ENOENT`.
    pub fn lstat(&self, dir: u32, name: &[u8]) -> io::Result<rustix::fs::Stat> {
        let n = self.named(dir, name)?;
        Ok(self.stat_of(self.tree.node(n)))
    }

    fn stat_of(&self, node: &Node) -> rustix::fs::Stat {
        // SAFETY: `stat` is plain old data; all-zero is a valid value of it.
        let mut st: rustix::fs::Stat = unsafe { std::mem::zeroed() };
        st.st_mode = node.mode as _;
        st.st_uid = node.uid as _;
        st.st_gid = node.gid as _;
        st.st_size = node.size as _;
        st.st_mtime = node.mtime as _;
        st.st_nlink = if node.kind() == libc::S_IFDIR {
            2
        } else {
            node.nlink
        } as _;
        st.st_ino = u64::from(node.inode) + 1;
        st.st_dev = self.dev as _;
        st.st_rdev = libc::makedev(node.rdev.0, node.rdev.1) as _;
        st.st_blksize = 4096;
        st.st_blocks = node.size.div_ceil(512) as _;
        st
    }

    /// The target of symlink `name` in `dir`.
    ///
    /// # Errors
    /// `ENOENT`, or `EINVAL` for a name that is not a symlink.
    pub fn read_link(&self, dir: u32, name: &[u8]) -> io::Result<Vec<u8>> {
        let n = self.named(dir, name)?;
        if self.tree.node(n).kind() != libc::S_IFLNK {
            return Err(err(libc::EINVAL));
        }
        Ok(self.tree.link(n).to_vec())
    }

    /// The xattr names of `name` in `dir`: those the tar carries, and `overlay.opaque` in
    /// both namespaces on an opaque directory.
    ///
    /// # Errors
    /// `ENOENT`.
    pub fn list_xattrs(&self, dir: u32, name: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let n = self.named(dir, name)?;
        let mut out: Vec<Vec<u8>> = self.tree.xattrs(n).iter().map(|(k, _)| k.clone()).collect();
        if self.tree.node(n).opaque {
            out.push(b"trusted.overlay.opaque".to_vec());
            out.push(b"user.overlay.opaque".to_vec());
        }
        Ok(out)
    }

    /// The value of xattr `attr` on `name` in `dir`.
    ///
    /// # Errors
    /// `ENOENT`.
    pub fn get_xattr(&self, dir: u32, name: &[u8], attr: &str) -> io::Result<Option<Vec<u8>>> {
        let n = self.named(dir, name)?;
        if matches!(attr, "trusted.overlay.opaque" | "user.overlay.opaque") {
            return Ok(self.tree.node(n).opaque.then(|| b"y".to_vec()));
        }
        Ok(self
            .tree
            .xattrs(n)
            .iter()
            .find(|(k, _)| k == attr.as_bytes())
            .map(|(_, v)| v.clone()))
    }

    /// Opens regular file `rel` for reading.
    ///
    /// # Errors
    /// `ENOENT`, `ELOOP` (a symlink), `EISDIR`, or another type.
    pub fn open_file(self: &Arc<Self>, rel: &[u8]) -> io::Result<TarFile> {
        let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        let d = self.dir_node(dir)?;
        let n = self.named(d, name)?;
        let node = self.tree.node(n);
        match node.kind() {
            libc::S_IFREG => {}
            libc::S_IFLNK => return Err(err(libc::ELOOP)),
            libc::S_IFDIR => return Err(err(libc::EISDIR)),
            _ => return Err(err(libc::ENXIO)),
        }
        Ok(TarFile {
            layer: Arc::clone(self),
            start: node.data,
            len: node.size,
            pos: 0,
            decoder: None,
        })
    }

    /// A decoder at uncompressed position `at`: the parked one if it is before `at` and
    /// nearer than the nearest seek point, else one resumed from that point (gzip) or the
    /// start (zstd).
    fn decoder_at(&self, at: u64) -> io::Result<Decoder> {
        let parked = self
            .parked
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .filter(|d| d.position() <= at);
        let point = self.points.iter().rev().find(|p| p.out_pos <= at);
        let frame = self.frames.iter().rev().find(|p| p.out_pos <= at);
        let nearest = point.map(|p| p.out_pos).or(frame.map(|f| f.out_pos));
        let mut d = match (parked, nearest) {
            (Some(d), Some(n)) if d.position() >= n => d,
            (Some(d), None) => d,
            _ => match (point, frame) {
                (Some(p), _) => Decoder::Gzip(Box::new(GzipReader::resume(&self.source, p))),
                (None, Some(f)) => Decoder::Zstd(Box::new(ZstdReader::resume(&self.source, *f))),
                (None, None) => match self.compression {
                    Compression::Gzip => {
                        Decoder::Gzip(Box::new(GzipReader::new(self.source.reader_at(0), false)))
                    }
                    _ => Decoder::Zstd(Box::new(ZstdReader::new(&self.source, false)?)),
                },
            },
        };
        let pos = d.position();
        d.skip(at - pos)?;
        Ok(d)
    }
}

/// A regular file of a tar layer, open for reading.
pub struct TarFile {
    layer: Arc<TarLayer>,
    start: u64,
    len: u64,
    pos: u64,
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for TarFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TarFile({} bytes at {})", self.len, self.start)
    }
}

impl TarFile {
    /// Its size.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for TarFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = if self.layer.compression == Compression::None {
            self.layer
                .source
                .read_at(&mut buf[..want], self.start + self.pos)?
        } else {
            if self.decoder.is_none() {
                self.decoder = Some(self.layer.decoder_at(self.start + self.pos)?);
            }
            match &mut self.decoder {
                Some(d) => d.read(&mut buf[..want])?,
                None => 0,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ends inside the file's data",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Drop for TarFile {
    fn drop(&mut self) {
        if let (Some(d), Ok(mut parked)) = (self.decoder.take(), self.layer.parked.lock()) {
            *parked = Some(d);
        }
    }
}
