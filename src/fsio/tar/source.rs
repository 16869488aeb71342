//! A layer blob as a byte range of a file: a file of its own in an OCI layout, or a member of
//! an outer uncompressed tar (`docker save` output, an OCI archive). Read with `pread`, so many
//! readers share one descriptor and nothing moves a file position.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// `len` bytes of `file` from `offset`.
#[derive(Debug, Clone)]
pub struct BlobSource {
    file: Arc<File>,
    offset: u64,
    len: u64,
}

impl BlobSource {
    /// The range `offset..offset + len` of `file`.
    #[must_use]
    pub fn new(file: Arc<File>, offset: u64, len: u64) -> Self {
        BlobSource { file, offset, len }
    }

    /// The file and where the range starts in it (to map it).
    pub(crate) fn file_range(&self) -> (&File, u64) {
        (&self.file, self.offset)
    }

    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All of it (for small records: the caller bounds the length first).
    ///
    /// # Errors
    /// As `pread(2)`; a file shorter than the range is `UnexpectedEof`.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len).map_err(|_| io::Error::other("record too large"))?;
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, self.offset)?;
        Ok(buf)
    }

    /// Reads at `pos` (relative to the range) into `buf`, never past the range's end.
    ///
    /// # Errors
    /// As `pread(2)`.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let left = self.len.saturating_sub(pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        self.file.read_at(&mut buf[..n], self.offset + pos)
    }

    /// A sequential reader of the range from `pos`.
    #[must_use]
    pub fn reader_at(&self, pos: u64) -> RangeReader {
        RangeReader {
            source: self.clone(),
            pos,
        }
    }
}

/// Reads a [`BlobSource`] from a position onwards.
#[derive(Debug)]
pub struct RangeReader {
    source: BlobSource,
    pos: u64,
}

impl RangeReader {
    /// Where the next read starts, relative to the range.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves `n` bytes on without reading them.
    ///
    /// # Errors
    /// The range ends first (`UnexpectedEof`: a truncated blob).
    pub fn seek_forward(&mut self, n: u64) -> io::Result<()> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.source.len => {
                self.pos = end;
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar ends inside an entry's data (truncated)",
            )),
        }
    }
}

impl io::Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
