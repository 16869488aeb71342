//! A zstd layer read frame after frame. The format allows any number of frames one after the
//! other, and skippable frames between them; engines write one frame per layer, but
//! `zstd:chunked` layers (Podman, containers/storage) are written as many frames, one or more
//! per file, with their table of contents in a skippable frame at the end. Each frame starts
//! the decoder afresh, so a frame start is a seek point that needs no state: indexing records
//! one every [`POINT_SPACING`] bytes of output, and a file's read starts at the nearest.

use std::io::{self, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

use super::source::{BlobSource, RangeReader};

/// The least output between two recorded frame starts: a read decompresses at most this much
/// (plus one frame) before its file, and a layer of many small frames keeps few points.
pub const POINT_SPACING: u64 = 1 << 20;

/// Where a frame starts, in the blob and in the uncompressed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePoint {
    /// Offset of the frame's first byte in the blob.
    pub in_pos: u64,
    /// Offset of its first output byte in the uncompressed stream.
    pub out_pos: u64,
}

/// Decompresses a zstd blob from a frame start to its end, across frames.
pub struct ZstdReader {
    source: BlobSource,
    frame: Option<Box<StreamingDecoder<RangeReader, FrameDecoder>>>,
    /// Where the next frame starts, once the current one has ended.
    next_in: u64,
    out_pos: u64,
    /// When indexing: the frame starts kept so far.
    points: Option<Vec<FramePoint>>,
}

impl ZstdReader {
    /// A reader from the blob's start; `record` keeps the frame starts as seek points.
    ///
    /// # Errors
    /// The blob does not start with a zstd frame.
    pub fn new(source: &BlobSource, record: bool) -> io::Result<ZstdReader> {
        let mut r = ZstdReader::resume(
            source,
            FramePoint {
                in_pos: 0,
                out_pos: 0,
            },
        );
        r.points = record.then(Vec::new);
        // A blob that is not zstd at all fails here, before anything is read from it.
        r.start_frame()?;
        Ok(r)
    }

    /// A reader from a frame start recorded while indexing.
    #[must_use]
    pub fn resume(source: &BlobSource, at: FramePoint) -> ZstdReader {
        ZstdReader {
            source: source.clone(),
            frame: None,
            next_in: at.in_pos,
            out_pos: at.out_pos,
            points: None,
        }
    }

    /// The uncompressed position of the next byte read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.out_pos
    }

    /// The seek points recorded (empty unless asked for).
    pub fn take_points(&mut self) -> Vec<FramePoint> {
        self.points.take().unwrap_or_default()
    }

    /// Starts the frame at `next_in`, passing over skippable frames; false at the blob's end.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.next_in >= self.source.len() {
                return Ok(false);
            }
            match StreamingDecoder::new(self.source.reader_at(self.next_in)) {
                Ok(frame) => {
                    if let Some(points) = &mut self.points {
                        let due = points
                            .last()
                            .is_none_or(|p| self.out_pos - p.out_pos >= POINT_SPACING);
                        if due {
                            points.push(FramePoint {
                                in_pos: self.next_in,
                                out_pos: self.out_pos,
                            });
                        }
                    }
                    self.frame = Some(Box::new(frame));
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    // Its magic number and length field, then its content.
                    self.next_in = self.next_in.saturating_add(8 + u64::from(length));
                    if self.next_in > self.source.len() {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "a skippable zstd frame runs past the blob's end (truncated)",
                        ));
                    }
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not zstd data at byte {}: {e}", self.next_in),
                    ));
                }
            }
        }
    }
}

impl Read for ZstdReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.frame.is_none() && !self.start_frame()? {
                return Ok(0);
            }
            let frame = self.frame.as_mut().expect("a frame was started");
            let n = frame.read(buf)?;
            if n > 0 {
                self.out_pos += n as u64;
                return Ok(n);
            }
            // The frame ended: the decoder read exactly its bytes, checksum included.
            self.next_in = frame.get_ref().position();
            self.frame = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{blob, sh};
    use super::*;

    #[test]
    fn frames_skippable_frames_and_resumes_read_as_one_stream() {
        let has_zstd = std::process::Command::new("zstd")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_zstd {
            // As the integration tests skip (tests/common): visibly, and never in CI.
            assert!(
                std::env::var_os("LAYERSCOPE_REQUIRE_PRIVILEGED").is_none_or(|v| v != "1"),
                "LAYERSCOPE_REQUIRE_PRIVILEGED=1 but there is no zstd command (apt install zstd)"
            );
            eprintln!("SKIPPED zstd frames test: no zstd command (apt install zstd)");
            return;
        }
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().display();
        // Three frames of 1.5 MiB each, a skippable frame between two of them and one at the
        // end (as zstd:chunked puts its table of contents).
        sh(&format!(
            "cd {d} && head -c 4718592 /dev/urandom > all && split -b 1572864 all part. && \
             zstd -q -c part.aa > multi.zst && printf '\\120\\052\\115\\030\\003\\000\\000\\000abc' >> multi.zst && \
             zstd -q -c part.ab >> multi.zst && zstd -q --no-check -c part.ac >> multi.zst && \
             printf '\\137\\052\\115\\030\\001\\000\\000\\000z' >> multi.zst"
        ));
        let all = std::fs::read(t.path().join("all")).expect("all");
        let source = blob(&t.path().join("multi.zst"));
        let mut r = ZstdReader::new(&source, true).expect("zstd");
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert!(out == all, "the frames read as the original stream");
        let points = r.take_points();
        assert_eq!(
            points.iter().map(|p| p.out_pos).collect::<Vec<_>>(),
            [0, 1_572_864, 3_145_728],
            "{points:?}"
        );
        for p in points {
            let mut tail = Vec::new();
            ZstdReader::resume(&source, p)
                .read_to_end(&mut tail)
                .expect("resumed");
            let start = usize::try_from(p.out_pos).expect("fits");
            assert!(tail == all[start..], "resumed at {}", p.out_pos);
        }
        sh(&format!("cd {d} && head -c 100 all > not.zst"));
        assert!(ZstdReader::new(&blob(&t.path().join("not.zst")), false).is_err());
    }
}
