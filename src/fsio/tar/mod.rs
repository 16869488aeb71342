//! OCI image layer tars read in place: each layer blob (plain, gzip or zstd) is read once to
//! build an index of its entries in the kernel's terms (`.wh.NAME` becomes a 0/0 character
//! device, `.wh..wh..opq` the `overlay.opaque` xattr), so the merge runs over it unchanged,
//! and a file's bytes are read later from that index without extracting anything.
//!
//! Entries are applied as containerd applies a layer: names are taken relative to the layer
//! (a leading `/` or `./` dropped), a later entry replaces an earlier one of the same name (a
//! directory over a directory keeps its children), parent directories a tar leaves out are
//! made (0755, as containerd does). What no engine would apply is left out and recorded as an
//! anomaly: a name with `..`, an entry under a symlink of the same layer (an extractor would
//! write through it), a hard link to a name not seen before it, sparse and unknown entries.

mod build;
mod gzip;
mod header;
mod read;
mod source;

use std::io::{self, Read};
use std::sync::Mutex;

pub use header::{OuterMember, outer_members};
pub use read::TarFile;
pub use source::BlobSource;

use crate::error::{Error, Result};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`tar+gzip`, Docker's `tar.gzip`).
    Gzip,
    /// Zstandard (`tar+zstd`).
    Zstd,
}

impl Compression {
    /// What the first bytes of a blob say; `None` when they are too few to tell.
    #[must_use]
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            [] | [_] => None,
            _ => Some(Compression::None),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// What an image's records promise about a layer blob.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The compression its media type names.
    pub compression: Option<Compression>,
    /// `sha256:<hex>` of the blob's bytes.
    pub digest: Option<String>,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: Option<String>,
}

/// An entry of a layer tar that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarAnomaly {
    /// The name as the tar stores it.
    pub path: Vec<u8>,
    /// Why it was left out.
    pub reason: String,
}

/// The uncompressed stream may be at most this many times the blob, plus [`BOMB_SLACK`]: real
/// layers inflate 2 to 10 times (a layer of mostly zero-filled files, rarely, a few hundred),
/// while a bomb inflates about 1000 times (deflate's limit) and would take minutes to read.
pub const BOMB_RATIO: u64 = 250;
/// See [`BOMB_RATIO`].
pub const BOMB_SLACK: u64 = 64 << 20;

/// One layer tar, indexed.
pub struct TarLayer {
    pub(crate) source: BlobSource,
    compression: Compression,
    digest: String,
    diff_id: String,
    uncompressed: u64,
    pub(crate) tree: build::Tree,
    anomalies: Vec<TarAnomaly>,
    /// gzip seek points, by uncompressed position.
    pub(crate) points: Vec<gzip::SeekPoint>,
    /// The decoder a finished read left behind, for the next read further on (files are
    /// often read in tar order).
    pub(crate) parked: Mutex<Option<read::Decoder>>,
    /// Distinguishes layers in synthesised `st_dev` values.
    pub(crate) dev: u64,
}

impl std::fmt::Debug for TarLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarLayer")
            .field("digest", &self.digest)
            .field("compression", &self.compression)
            .field("entries", &self.entries())
            .finish_non_exhaustive()
    }
}

impl TarLayer {
    /// Reads `source` once and indexes it; `shown` names the blob in messages.
    ///
    /// # Errors
    /// Not a tar (or not the compression promised), damaged, truncated, a digest that does not
    /// match, or a decompression bomb; the message names the blob.
    pub fn index(source: BlobSource, shown: &str, expect: &Expect) -> Result<TarLayer> {
        let fail = |what: String| Error::BadInput(format!("layer blob '{shown}': {what}"));
        let mut head = [0u8; 4];
        let n = source
            .read_at(&mut head, 0)
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        let found = Compression::sniff(&head[..n]).unwrap_or(Compression::None);
        if let Some(claimed) = expect.compression
            && claimed != found
        {
            return Err(fail(format!(
                "the image's records say it is {claimed}, but its content is {found}: the \
                 archive is damaged or mislabelled"
            )));
        }
        // The blob's own digest is hashed from the raw bytes, beside the uncompressed one; a
        // plain tar is its own uncompressed stream, hashed once.
        let raw = || Hashing::new(source.reader_at(0));
        let limit = match found {
            Compression::None => u64::MAX,
            _ => source
                .len()
                .saturating_mul(BOMB_RATIO)
                .saturating_add(BOMB_SLACK),
        };
        let built = match found {
            Compression::None => run(source.reader_at(0), limit, |_| {
                ((String::new(), 0), Vec::new())
            }),
            Compression::Gzip => run(gzip::GzipReader::new(raw(), true), limit, |mut g| {
                let points = g.take_points();
                let (raw, _) = g.into_raw();
                (raw.into_parts(), points)
            }),
            Compression::Zstd => {
                let z = ruzstd::decoding::StreamingDecoder::new(raw())
                    .map_err(|e| fail(format!("not zstd data: {e}")))?;
                run(z, limit, |z| (z.into_inner().into_parts(), Vec::new()))
            }
        }
        .map_err(|e| fail(e.to_string()))?;
        let Built {
            tree,
            anomalies,
            diff_id,
            digest,
            uncompressed,
            points,
        } = built;
        let digest = if found == Compression::None {
            diff_id.clone()
        } else {
            digest
        };
        for (what, want, have) in [
            ("digest", &expect.digest, &digest),
            ("uncompressed digest (diff ID)", &expect.diff_id, &diff_id),
        ] {
            if let Some(want) = want
                && want != have
            {
                return Err(fail(format!(
                    "its {what} is {have}, but the image's records say {}: the archive is \
                     damaged or was altered",
                    crate::escape::display(want.as_bytes())
                )));
            }
        }
        static NEXT_DEV: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(TarLayer {
            source,
            compression: found,
            digest,
            diff_id,
            uncompressed,
            tree,
            anomalies,
            points,
            parked: Mutex::new(None),
            dev: 0x7a72_0000 + NEXT_DEV.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// `sha256:<hex>` of the blob.
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `sha256:<hex>` of the uncompressed tar.
    #[must_use]
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// The blob's size.
    #[must_use]
    pub fn compressed_size(&self) -> u64 {
        self.source.len()
    }

    /// The uncompressed tar's size.
    #[must_use]
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed
    }

    /// How the blob is compressed.
    #[must_use]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Names in the layer (whiteouts included, the root not).
    #[must_use]
    pub fn entries(&self) -> usize {
        self.tree.len().saturating_sub(1)
    }

    /// Entries that were not applied.
    #[must_use]
    pub fn anomalies(&self) -> &[TarAnomaly] {
        &self.anomalies
    }

    /// Bytes the index holds (nodes, names, children), for the memory figures.
    #[must_use]
    pub fn index_bytes(&self) -> usize {
        self.tree.heap_bytes() + self.points.len() * (gzip::SPACING_MEMORY)
    }
}

/// What one pass over a layer's tar gives.
struct Built {
    tree: build::Tree,
    anomalies: Vec<TarAnomaly>,
    diff_id: String,
    digest: String,
    uncompressed: u64,
    points: Vec<gzip::SeekPoint>,
}

/// Indexes the uncompressed stream `decoder`, then drains it and its raw input so that both
/// digests cover every byte. `finish` hands back the raw reader's digest and the seek points.
fn run<D: Read>(
    decoder: D,
    limit: u64,
    finish: impl FnOnce(D) -> ((String, u64), Vec<gzip::SeekPoint>),
) -> io::Result<Built> {
    let mut entries = header::Entries::new(Counted {
        inner: Hashing::new(decoder),
        limit,
    });
    let mut builder = build::Builder::new();
    while let Some(e) = entries.next_entry()? {
        builder.add(e);
    }
    let mut counted = entries.into_stream();
    io::copy(&mut counted, &mut io::sink())?;
    let (decoder, (diff_id, uncompressed)) = counted.inner.finish();
    let ((digest, _), points) = finish(decoder);
    let (tree, anomalies) = builder.finish();
    Ok(Built {
        tree,
        anomalies,
        diff_id,
        digest,
        uncompressed,
        points,
    })
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: sha2::Sha256,
    count: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest;
        Hashing {
            inner,
            hash: sha2::Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest, then gives the reader back with `sha256:<hex>` of everything and the
    /// byte count.
    fn into_parts(mut self) -> (String, u64) {
        let _ = io::copy(&mut self, &mut io::sink());
        self.finish().1
    }

    fn finish(self) -> (R, (String, u64)) {
        use sha2::Digest;
        let mut hex = String::with_capacity(71);
        hex.push_str("sha256:");
        for b in self.hash.finalize() {
            hex.push_str(&format!("{b:02x}"));
        }
        (self.inner, (hex, self.count))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The uncompressed stream, hashed, refused past its bound.
struct Counted<R> {
    inner: Hashing<R>,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.inner.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it inflates past {} bytes, {BOMB_RATIO} times its compressed size: a \
                     decompression bomb, refused",
                    self.limit
                ),
            ));
        }
        Ok(n)
    }
}

impl<R: Read> header::Stream for Counted<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) {
        let st = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .expect("sh");
        assert!(st.success(), "{cmd}");
    }

    fn blob(path: &std::path::Path) -> BlobSource {
        let f = std::fs::File::open(path).expect("open");
        let len = f.metadata().expect("stat").len();
        BlobSource::new(std::sync::Arc::new(f), 0, len)
    }

    #[test]
    fn digests_are_checked_and_a_gzip_bomb_is_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().display();
        sh(&format!(
            "cd {d} && mkdir l && echo hi > l/f && truncate -s 100M l/zeros && \
             tar -C l -cf plain.tar f && gzip -c plain.tar > small.tgz && \
             tar -C l -cf - zeros | gzip -c > bomb.tgz"
        ));
        let small = t.path().join("small.tgz");
        let layer = TarLayer::index(blob(&small), "small", &Expect::default()).expect("index");
        assert_eq!(layer.compression(), Compression::Gzip);
        assert_eq!(layer.entries(), 1);
        let plain = TarLayer::index(blob(&t.path().join("plain.tar")), "p", &Expect::default())
            .expect("plain");
        // The same tar: one diff ID, and for a plain tar the digest is the diff ID.
        assert_eq!(plain.diff_id(), layer.diff_id());
        assert_eq!(plain.digest(), plain.diff_id());
        assert_ne!(layer.digest(), layer.diff_id());
        let lie = Expect {
            diff_id: Some(format!("sha256:{}", "0".repeat(64))),
            ..Expect::default()
        };
        let err = TarLayer::index(blob(&small), "small", &lie)
            .expect_err("lie")
            .to_string();
        assert!(err.contains("diff ID") && err.contains("'small'"), "{err}");
        let claim = Expect {
            compression: Some(Compression::Zstd),
            ..Expect::default()
        };
        let err = TarLayer::index(blob(&small), "small", &claim).expect_err("mislabelled");
        assert!(
            err.to_string().contains("zstd, but its content is gzip"),
            "{err}"
        );
        let err = TarLayer::index(blob(&t.path().join("bomb.tgz")), "bomb", &Expect::default())
            .expect_err("bomb")
            .to_string();
        assert!(err.contains("decompression bomb"), "{err}");
    }
}
