//! gzip layers, decompressed with seek points: while a layer is indexed, the inflater's state
//! and its 32 KiB window are saved every [`SPACING`] bytes of output (miniz_oxide's
//! `DecompressorOxide` is `Clone`, and its wrapping output buffer *is* the window), so reading
//! one file later inflates at most `SPACING` bytes before it instead of the whole layer before
//! it (zlib's `zran` technique). Memory: one window per `SPACING` of layer (64 KiB per 16 MiB).

use std::io::{self, Read};

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use super::source::{BlobSource, RangeReader};

/// Output bytes between seek points.
pub const SPACING: u64 = 16 << 20;
/// The wrapping output buffer: a power of two of at least the 32 KiB deflate window.
const WINDOW: usize = 64 << 10;
const INPUT: usize = 64 << 10;
/// Bytes one seek point holds.
pub const SPACING_MEMORY: usize = WINDOW + std::mem::size_of::<DecompressorOxide>();

/// A saved decompressor position.
#[derive(Clone)]
pub struct SeekPoint {
    /// Uncompressed bytes produced before it.
    pub out_pos: u64,
    /// Compressed bytes consumed before it.
    in_pos: u64,
    state: Box<DecompressorOxide>,
    window: Box<[u8]>,
    wpos: usize,
}

impl std::fmt::Debug for SeekPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeekPoint({} <- {})", self.out_pos, self.in_pos)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before a member's header.
    Header,
    /// Inside a member's deflate stream.
    Inflate,
    /// No more members.
    End,
}

/// A gzip stream (one or more members) over a reader of its compressed bytes.
pub struct GzipReader<R: Read> {
    raw: R,
    /// Compressed bytes read from `raw` so far.
    raw_pos: u64,
    inbuf: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    raw_eof: bool,
    state: Box<DecompressorOxide>,
    window: Box<[u8]>,
    wpos: usize,
    /// Output in `window` not handed out yet.
    pend_start: usize,
    pend_len: usize,
    out_pos: u64,
    phase: Phase,
    /// Seek points being recorded (while indexing).
    points: Option<Vec<SeekPoint>>,
    next_point: u64,
}

impl<R: Read> GzipReader<R> {
    /// Decompresses `raw` from its start, recording seek points when `record`.
    pub fn new(raw: R, record: bool) -> Self {
        GzipReader {
            raw,
            raw_pos: 0,
            inbuf: vec![0; INPUT].into_boxed_slice(),
            in_start: 0,
            in_end: 0,
            raw_eof: false,
            state: Box::default(),
            window: vec![0; WINDOW].into_boxed_slice(),
            wpos: 0,
            pend_start: 0,
            pend_len: 0,
            out_pos: 0,
            phase: Phase::Header,
            points: record.then(Vec::new),
            next_point: SPACING,
        }
    }

    /// The seek points recorded.
    pub fn take_points(&mut self) -> Vec<SeekPoint> {
        self.points.take().unwrap_or_default()
    }

    /// Compressed bytes consumed by the decoder (not merely read ahead).
    pub fn compressed_used(&self) -> u64 {
        self.raw_pos - (self.in_end - self.in_start) as u64
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.in_start > 0 {
            self.inbuf.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        while !self.raw_eof && self.in_end < self.inbuf.len() {
            match self.raw.read(&mut self.inbuf[self.in_end..]) {
                Ok(0) => self.raw_eof = true,
                Ok(n) => {
                    self.in_end += n;
                    self.raw_pos += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ensures `n` input bytes are buffered (fewer at the end of the input).
    fn want(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.in_end - self.in_start < n && !self.raw_eof {
            self.fill()?;
        }
        Ok(&self.inbuf[self.in_start..self.in_end])
    }

    /// Reads a member header (RFC 1952), or finds the end of the members.
    fn header(&mut self) -> io::Result<()> {
        let started = self.out_pos > 0;
        let head = self.want(10)?;
        if head.is_empty() || started && head[0] != 0x1f {
            // The end, or padding after the last member (as `gzip -d` ignores it).
            self.phase = Phase::End;
            return Ok(());
        }
        if head.len() < 10 || head[0] != 0x1f || head[1] != 0x8b || head[2] != 8 {
            return Err(invalid("not gzip data (bad member header)"));
        }
        let flags = head[3];
        let mut at = 10usize;
        let need = |me: &mut Self, n: usize| -> io::Result<Vec<u8>> {
            let b = me.want(n)?;
            if b.len() < n {
                return Err(invalid("the gzip header is cut short (truncated)"));
            }
            Ok(b[..n].to_vec())
        };
        if flags & 4 != 0 {
            let x = need(self, at + 2)?;
            at += 2 + usize::from(u16::from_le_bytes([x[at], x[at + 1]]));
        }
        for bit in [8u8, 16] {
            if flags & bit != 0 {
                // A NUL-terminated name or comment, at most a page long in any real file.
                loop {
                    let b = need(self, at + 1)?;
                    at += 1;
                    if b[at - 1] == 0 {
                        break;
                    }
                    if at > 64 << 10 {
                        return Err(invalid("a gzip header name longer than 64 KiB"));
                    }
                }
            }
        }
        if flags & 2 != 0 {
            at += 2;
        }
        need(self, at)?;
        self.in_start += at;
        *self.state = DecompressorOxide::new();
        self.phase = Phase::Inflate;
        Ok(())
    }

    fn inflate(&mut self) -> io::Result<()> {
        if self.in_start == self.in_end && !self.raw_eof {
            self.fill()?;
        }
        let flags = if self.raw_eof {
            0
        } else {
            inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
        };
        let (status, used, wrote) = decompress(
            &mut self.state,
            &self.inbuf[self.in_start..self.in_end],
            &mut self.window,
            self.wpos,
            flags,
        );
        self.in_start += used;
        self.pend_start = self.wpos;
        self.pend_len = wrote;
        self.wpos = (self.wpos + wrote) & (WINDOW - 1);
        self.out_pos += wrote as u64;
        match status {
            TINFLStatus::Done => {
                // The CRC-32 and size trailer; the digests check the content.
                let t = self.want(8)?;
                if t.len() < 8 {
                    return Err(invalid("the gzip data ends before its trailer (truncated)"));
                }
                self.in_start += 8;
                self.phase = Phase::Header;
            }
            TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {
                if status == TINFLStatus::NeedsMoreInput && self.raw_eof && wrote == 0 {
                    return Err(invalid("the gzip data ends early (truncated)"));
                }
                self.maybe_point();
            }
            TINFLStatus::FailedCannotMakeProgress => {
                return Err(invalid("the gzip data ends early (truncated)"));
            }
            _ => return Err(invalid("damaged gzip data")),
        }
        Ok(())
    }

    fn maybe_point(&mut self) {
        if self.out_pos < self.next_point {
            return;
        }
        let in_pos = self.compressed_used();
        if let Some(points) = &mut self.points {
            points.push(SeekPoint {
                out_pos: self.out_pos,
                in_pos,
                state: self.state.clone(),
                window: self.window.clone(),
                wpos: self.wpos,
            });
            self.next_point = self.out_pos + SPACING;
        }
    }
}

impl GzipReader<RangeReader> {
    /// Resumes decompressing `blob` at a seek point.
    pub fn resume(blob: &BlobSource, p: &SeekPoint) -> Self {
        let mut r = GzipReader::new(blob.reader_at(p.in_pos), false);
        r.raw_pos = p.in_pos;
        r.state = p.state.clone();
        r.window = p.window.clone();
        r.wpos = p.wpos;
        r.out_pos = p.out_pos;
        r.phase = Phase::Inflate;
        r
    }

    /// Uncompressed bytes produced so far.
    pub fn position(&self) -> u64 {
        self.out_pos - self.pend_len as u64
    }
}

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pend_len > 0 {
                let n = buf.len().min(self.pend_len);
                buf[..n].copy_from_slice(&self.window[self.pend_start..self.pend_start + n]);
                self.pend_start += n;
                self.pend_len -= n;
                return Ok(n);
            }
            match self.phase {
                Phase::End => return Ok(0),
                Phase::Header => self.header()?,
                Phase::Inflate => self.inflate()?,
            }
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut child = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        let t = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
        let out = child.wait_with_output().expect("gzip output");
        t.join().expect("join").expect("write");
        out.stdout
    }

    #[test]
    fn seek_points_resume_exactly_where_the_stream_was() {
        // Varied content so the deflate stream is not trivial.
        let data: Vec<u8> = (0..(40u32 << 20) / 4)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> (i % 7)).to_le_bytes())
            .collect();
        let mut z = gzip(&data);
        z.extend(gzip(b"second member\n"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("z.gz");
        std::fs::write(&path, &z).expect("write");
        let file = std::sync::Arc::new(std::fs::File::open(&path).expect("open"));
        let blob = BlobSource::new(file, 0, z.len() as u64);
        let mut r = GzipReader::new(blob.reader_at(0), true);
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("inflate");
        assert_eq!(all.len(), data.len() + 14);
        assert_eq!(&all[..data.len()], &data[..]);
        let points = r.take_points();
        assert!(points.len() >= 2, "{points:?}");
        for p in &points {
            let mut resumed = GzipReader::resume(&blob, p);
            let mut next = vec![0u8; 4096];
            resumed.read_exact(&mut next).expect("resume");
            let at = p.out_pos as usize;
            assert_eq!(&next[..], &all[at..at + 4096], "{p:?}");
        }
        let cut = BlobSource::new(blob_file(&path), 0, z.len() as u64 / 2);
        let err = GzipReader::new(cut.reader_at(0), false)
            .read_to_end(&mut Vec::new())
            .expect_err("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    fn blob_file(p: &std::path::Path) -> std::sync::Arc<std::fs::File> {
        std::sync::Arc::new(std::fs::File::open(p).expect("open"))
    }
}
