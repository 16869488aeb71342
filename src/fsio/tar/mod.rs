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
mod mapped;
mod read;
mod source;
mod zstd;

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

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

/// Entries one layer tar may hold. Real layers hold up to a few hundred thousand (a whole
/// distribution's `/usr`, a large `node_modules`); at about 200 bytes of index an entry, this
/// many cost some 400 MiB. Past it, a layer of millions of tiny entries (which gzip packs into a
/// few MiB) is refused before it takes the memory.
pub const MAX_ENTRIES: u64 = 1 << 21;

/// How one layer tar is indexed: the bound on its entries, and whether its digests are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOptions {
    /// Entries (headers: files, directories, links, whiteouts, skipped ones) at most.
    pub max_entries: u64,
    /// Hash the blob (and a compressed blob's uncompressed stream) against the records. Off
    /// (`--no-verify`), the records' digests are shown as they are, unchecked: the hashes
    /// are most of the time a plain layer takes to open.
    pub check_digests: bool,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            max_entries: MAX_ENTRIES,
            check_digests: true,
        }
    }
}

/// One layer tar, indexed.
pub struct TarLayer {
    pub(crate) source: BlobSource,
    compression: Compression,
    /// The digests the records promise (see [`TarLayer::digest`]).
    promised_digest: Option<String>,
    promised_diff_id: Option<String>,
    /// The hashes still running after the index is built, and their verdict.
    verification: Arc<Verification>,
    checks_digests: bool,
    uncompressed: u64,
    pub(crate) tree: build::Tree,
    anomalies: Vec<TarAnomaly>,
    /// gzip seek points, by uncompressed position.
    pub(crate) points: Vec<gzip::SeekPoint>,
    /// zstd frame starts kept as seek points, by uncompressed position.
    pub(crate) frames: Vec<zstd::FramePoint>,
    /// The decoder a finished read left behind, for the next read further on (files are
    /// often read in tar order).
    pub(crate) parked: Mutex<Option<read::Decoder>>,
    /// Distinguishes layers in synthesised `st_dev` values.
    pub(crate) dev: u64,
}

impl std::fmt::Debug for TarLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarLayer")
            .field("digest", &self.promised_digest)
            .field("compression", &self.compression)
            .field("entries", &self.entries())
            .finish_non_exhaustive()
    }
}

impl TarLayer {
    /// Reads `source` once and indexes it; `shown` names the blob in messages. The digests are
    /// still being checked when it returns: see [`TarLayer::verified`].
    ///
    /// # Errors
    /// Not a tar (or not the compression promised), damaged, truncated, more entries than
    /// [`MAX_ENTRIES`], or a decompression bomb; the message names the blob.
    pub fn index(source: BlobSource, shown: &str, expect: &Expect) -> Result<TarLayer> {
        TarLayer::index_within(source, shown, expect, IndexOptions::default())
    }

    /// As [`TarLayer::index`], with `options`.
    ///
    /// # Errors
    /// As [`TarLayer::index`].
    pub fn index_within(
        source: BlobSource,
        shown: &str,
        expect: &Expect,
        options: IndexOptions,
    ) -> Result<TarLayer> {
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
        // The blob's own digest is hashed on a thread of its own, reading the blob from start
        // to end beside the parse (which, on a plain tar, seeks over file data); a compressed
        // layer's uncompressed stream is hashed on another, fed by the parse. The index is
        // handed out while they may still run: see [`TarLayer::verified`].
        let check = options.check_digests;
        let blob_hash = check.then(|| BlobHash::start(source.clone()));
        let limit = match found {
            Compression::None => u64::MAX,
            _ => source
                .len()
                .saturating_mul(BOMB_RATIO)
                .saturating_add(BOMB_SLACK),
        };
        let built = match found {
            Compression::None => {
                parse(source.reader_at(0), options).map(|(tree, anomalies, _)| Built {
                    tree,
                    anomalies,
                    diff_id: None,
                    uncompressed: source.len(),
                    points: Vec::new(),
                    frames: Vec::new(),
                })
            }
            Compression::Gzip => run(
                gzip::GzipReader::new(source.reader_at(0), true),
                limit,
                options,
            )
            .map(|(mut built, mut g)| {
                built.points = g.take_points();
                built
            }),
            Compression::Zstd => {
                let z = zstd::ZstdReader::new(&source, true).map_err(|e| fail(e.to_string()))?;
                run(z, limit, options).map(|(mut built, mut z)| {
                    built.frames = z.take_points();
                    built
                })
            }
        }
        .map_err(|e| fail(e.to_string()))?;
        let Built {
            tree,
            anomalies,
            diff_id,
            uncompressed,
            points,
            frames,
        } = built;
        // What the digests will be once verified, known now from the records: a plain tar is
        // its own uncompressed stream, so its diff ID is its digest.
        let promised_digest = expect.digest.clone().or_else(|| match found {
            Compression::None => expect.diff_id.clone(),
            _ => None,
        });
        let verification = Arc::new(Verification {
            pending: Mutex::new(Some(Pending {
                blob: blob_hash,
                stream: diff_id,
                len: source.len(),
                expect: expect.clone(),
                shown: shown.to_string(),
            })),
            outcome: OnceLock::new(),
        });
        register(&verification);
        static NEXT_DEV: AtomicU64 = AtomicU64::new(1);
        Ok(TarLayer {
            source,
            compression: found,
            promised_digest,
            promised_diff_id: expect.diff_id.clone(),
            verification,
            checks_digests: check,
            uncompressed,
            tree,
            anomalies,
            points,
            frames,
            parked: Mutex::new(None),
            dev: 0x7a72_0000 + NEXT_DEV.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Waits until the blob's digest and its diff ID are hashed and checked against the
    /// image's records. Nothing read from the layer may be shown as final before this is `Ok`.
    ///
    /// # Errors
    /// A digest that does not match, or a blob that could not be read whole or changed while
    /// it was read; the message names the blob (the same error each time).
    pub fn verified(&self) -> Result<()> {
        self.verification.result()
    }

    /// Whether the digests were (or are being) hashed and compared with the records; false
    /// when the layer was indexed with [`IndexOptions::check_digests`] off.
    #[must_use]
    pub fn digests_checked(&self) -> bool {
        self.checks_digests
    }

    /// `sha256:<hex>` of the blob: as the records promise it (which [`TarLayer::verified`]
    /// confirms), or else as hashed, waiting for the hash; `None` when it could not be hashed.
    #[must_use]
    pub fn digest(&self) -> Option<&str> {
        self.promised_digest
            .as_deref()
            .or_else(|| self.verification.outcome().digest.as_deref())
    }

    /// `sha256:<hex>` of the uncompressed tar, as [`TarLayer::digest`] is.
    #[must_use]
    pub fn diff_id(&self) -> Option<&str> {
        self.promised_diff_id
            .as_deref()
            .or_else(|| self.verification.outcome().diff_id.as_deref())
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
        self.tree.heap_bytes()
            + self.points.len() * (gzip::SPACING_MEMORY)
            + self.frames.len() * std::mem::size_of::<zstd::FramePoint>()
    }
}

/// What one pass over a layer's tar gives.
struct Built {
    tree: build::Tree,
    anomalies: Vec<TarAnomaly>,
    /// The uncompressed stream's digest, maybe still being hashed; `None` for a plain tar (the
    /// blob's digest).
    diff_id: Option<StreamDigest>,
    uncompressed: u64,
    points: Vec<gzip::SeekPoint>,
    frames: Vec<zstd::FramePoint>,
}

/// What the layer indexing of this process has done so far, for a progress display (the
/// explorer's "indexing…" screen): counts only grow, across every layer indexed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    /// Layer tars indexed (and verified).
    pub layers: u64,
    /// Tar entries read.
    pub entries: u64,
    /// Bytes of tar (uncompressed) parsed.
    pub bytes: u64,
}

impl IndexProgress {
    /// What was done since `before`.
    #[must_use]
    pub fn since(self, before: IndexProgress) -> IndexProgress {
        IndexProgress {
            layers: self.layers.saturating_sub(before.layers),
            entries: self.entries.saturating_sub(before.entries),
            bytes: self.bytes.saturating_sub(before.bytes),
        }
    }
}

static DONE_LAYERS: AtomicU64 = AtomicU64::new(0);
static DONE_ENTRIES: AtomicU64 = AtomicU64::new(0);
static DONE_BYTES: AtomicU64 = AtomicU64::new(0);

/// The counts so far (see [`IndexProgress`]).
#[must_use]
pub fn progress() -> IndexProgress {
    IndexProgress {
        layers: DONE_LAYERS.load(Ordering::Relaxed),
        entries: DONE_ENTRIES.load(Ordering::Relaxed),
        bytes: DONE_BYTES.load(Ordering::Relaxed),
    }
}

/// Entries between two updates of the progress counts.
const PROGRESS_EVERY: u64 = 256;

/// Indexes the tar `stream` up to its end-of-archive blocks.
fn parse<S: header::Stream>(
    stream: S,
    options: IndexOptions,
) -> io::Result<(build::Tree, Vec<TarAnomaly>, S)> {
    let mut entries = header::Entries::new(stream);
    let mut builder = build::Builder::new();
    let (mut count, mut told) = (0u64, 0u64);
    while let Some(e) = entries.next_entry()? {
        if count == options.max_entries {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it holds more than {} entries, the most layerscope indexes in one layer \
                     (about 200 bytes of memory each): refused as hostile",
                    options.max_entries
                ),
            ));
        }
        builder.add(e);
        count += 1;
        if count % PROGRESS_EVERY == 0 {
            DONE_ENTRIES.fetch_add(PROGRESS_EVERY, Ordering::Relaxed);
            let at = entries.position();
            DONE_BYTES.fetch_add(at - told, Ordering::Relaxed);
            told = at;
        }
    }
    DONE_ENTRIES.fetch_add(count % PROGRESS_EVERY, Ordering::Relaxed);
    DONE_BYTES.fetch_add(entries.position().saturating_sub(told), Ordering::Relaxed);
    let (tree, anomalies) = builder.finish();
    Ok((tree, anomalies, entries.into_stream()))
}

/// Indexes the uncompressed stream `decoder`, then drains it so that its digest covers every
/// byte; gives the decoder back (for its seek points).
fn run<D: Read>(decoder: D, limit: u64, options: IndexOptions) -> io::Result<(Built, D)> {
    let hash = if options.check_digests {
        StreamHash::new()
    } else {
        StreamHash::Off
    };
    let (tree, anomalies, fed) = parse(Feeding::new(decoder, limit, hash), options)?;
    let (decoder, diff_id, uncompressed) = fed.finish()?;
    Ok((
        Built {
            tree,
            anomalies,
            diff_id: Some(diff_id),
            uncompressed,
            points: Vec::new(),
            frames: Vec::new(),
        },
        decoder,
    ))
}

fn hex_digest(hash: sha2::Sha256) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in hash.finalize() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Bytes hashed at a time.
const HASH_CHUNK: usize = 256 << 10;
/// Bytes of a blob mapped at a time for its hash.
const MAP_WINDOW: u64 = 2 << 20;
/// Chunks of the uncompressed stream in flight to its hashing thread (the bound on what the
/// parse may run ahead of the hash).
const HASH_CHUNKS: usize = 4;

/// Hashes a whole blob, reading it with `pread` on a thread of its own (or, when no thread can
/// be started, in [`BlobHash::finish`]). Dropped unfinished (the parse failed), the thread
/// stops at its next chunk.
struct BlobHash {
    source: BlobSource,
    handle: Option<std::thread::JoinHandle<io::Result<(String, u64)>>>,
    stop: Arc<AtomicBool>,
}

/// Blob hashes running at once. A layer's index is handed out before its hash ends, so the
/// next layers are parsed meanwhile and their hashes start too: without a bound an image of
/// 50 layers would read 50 blobs at once (seeking between them on a disk, a mapping each).
static HASHING: Mutex<usize> = Mutex::new(0);
static HASHING_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// A place among the blob hashes that may run at once (one a CPU), held until dropped.
struct HashTurn;

impl HashTurn {
    fn wait() -> HashTurn {
        let most = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut running = lock(&HASHING);
        while *running >= most {
            running = HASHING_FREED
                .wait(running)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *running += 1;
        HashTurn
    }
}

impl Drop for HashTurn {
    fn drop(&mut self) {
        *lock(&HASHING) -= 1;
        HASHING_FREED.notify_one();
    }
}

fn hash_blob(source: &BlobSource, stop: &AtomicBool) -> io::Result<(String, u64)> {
    use sha2::Digest;
    let _turn = HashTurn::wait();
    let mut hash = sha2::Sha256::new();
    let (file, offset) = source.file_range();
    let mut buf = Vec::new();
    let mut pos = 0u64;
    while pos < source.len() {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        // Mapped a window at a time: each is unmapped once hashed, so the process holds no
        // more than one window of the page cache as its own.
        let window = MAP_WINDOW.min(source.len() - pos);
        if let Some(m) = mapped::Mapping::new(file, offset + pos, window) {
            hash.update(m.bytes());
            if m.truncated() {
                return Err(io::Error::other(
                    "the file was truncated while it was hashed",
                ));
            }
            pos += window;
            continue;
        }
        if buf.is_empty() {
            buf = vec![0u8; HASH_CHUNK];
        }
        let n = match source.read_at(&mut buf, pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash.update(&buf[..n]);
        pos += n as u64;
    }
    Ok((hex_digest(hash), pos))
}

impl BlobHash {
    fn start(source: BlobSource) -> BlobHash {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let copy = source.clone();
        let handle = std::thread::Builder::new()
            .name("layer-hash".into())
            .spawn(move || hash_blob(&copy, &flag))
            .ok();
        BlobHash {
            source,
            handle,
            stop,
        }
    }

    /// `sha256:<hex>` of the blob and the bytes hashed.
    fn finish(mut self) -> io::Result<(String, u64)> {
        match self.handle.take() {
            Some(h) => h.join().map_err(|_| gone())?,
            None => hash_blob(&self.source, &AtomicBool::new(false)),
        }
    }
}

impl Drop for BlobHash {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Where the uncompressed stream's chunks are hashed.
enum StreamHash {
    Thread {
        tx: SyncSender<(Vec<u8>, usize)>,
        back: Receiver<Vec<u8>>,
        handle: std::thread::JoinHandle<String>,
        made: usize,
    },
    /// No thread could be started: hashed as it passes.
    Inline(sha2::Sha256),
    /// Not hashed (`--no-verify`): each chunk is only reused.
    Off,
}

impl StreamHash {
    fn new() -> StreamHash {
        use sha2::Digest;
        let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(HASH_CHUNKS);
        let (give, back) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("layer-hash".into())
            .spawn(move || {
                let mut hash = sha2::Sha256::new();
                for (buf, len) in rx {
                    hash.update(&buf[..len]);
                    let _ = give.send(buf);
                }
                hex_digest(hash)
            });
        match spawned {
            Ok(handle) => StreamHash::Thread {
                tx,
                back,
                handle,
                made: 0,
            },
            Err(_) => StreamHash::Inline(sha2::Sha256::new()),
        }
    }

    /// An empty chunk: one the thread gave back, or a new one while fewer than the bound exist.
    fn chunk(&mut self) -> io::Result<Vec<u8>> {
        match self {
            StreamHash::Thread { back, made, .. } => {
                if let Ok(b) = back.try_recv() {
                    return Ok(b);
                }
                if *made < HASH_CHUNKS + 2 {
                    *made += 1;
                    return Ok(vec![0; HASH_CHUNK]);
                }
                back.recv().map_err(|_| gone())
            }
            StreamHash::Inline(_) | StreamHash::Off => Ok(vec![0; HASH_CHUNK]),
        }
    }

    /// Hashes the first `len` bytes of `chunk`, which comes back from [`StreamHash::chunk`].
    fn send(&mut self, chunk: Vec<u8>, len: usize) -> io::Result<Option<Vec<u8>>> {
        match self {
            StreamHash::Thread { tx, .. } => {
                tx.send((chunk, len)).map(|()| None).map_err(|_| gone())
            }
            StreamHash::Inline(h) => {
                use sha2::Digest;
                h.update(&chunk[..len]);
                Ok(Some(chunk))
            }
            StreamHash::Off => Ok(Some(chunk)),
        }
    }

    /// Ends the stream; its digest follows when the thread has hashed what is queued.
    fn finish(self) -> StreamDigest {
        match self {
            StreamHash::Thread { tx, handle, .. } => {
                drop(tx);
                StreamDigest::Hashing(handle)
            }
            StreamHash::Inline(h) => StreamDigest::Done(Some(hex_digest(h))),
            StreamHash::Off => StreamDigest::Done(None),
        }
    }
}

/// The uncompressed stream's digest, once its last chunks are hashed (`None`: not hashed).
enum StreamDigest {
    Hashing(std::thread::JoinHandle<String>),
    Done(Option<String>),
}

impl StreamDigest {
    fn is_finished(&self) -> bool {
        match self {
            StreamDigest::Hashing(h) => h.is_finished(),
            StreamDigest::Done(_) => true,
        }
    }

    fn finish(self) -> io::Result<Option<String>> {
        match self {
            StreamDigest::Hashing(h) => h.join().map(Some).map_err(|_| gone()),
            StreamDigest::Done(d) => Ok(d),
        }
    }
}

/// The check of one layer's digests, which runs on after its index is built: the hashes'
/// threads, then (on the first wait) their comparison with the records.
struct Verification {
    pending: Mutex<Option<Pending>>,
    outcome: OnceLock<Outcome>,
}

/// What the check needs once the hashes are done.
struct Pending {
    /// `None` when the digests are not checked (`--no-verify`).
    blob: Option<BlobHash>,
    /// `None` for a plain tar (the blob is the stream).
    stream: Option<StreamDigest>,
    len: u64,
    expect: Expect,
    shown: String,
}

/// The hashes (each when it could be computed) and, on a failure, the error's message.
struct Outcome {
    digest: Option<String>,
    diff_id: Option<String>,
    failure: Option<String>,
}

impl Verification {
    /// Whether waiting would not block on a hash (the comparison itself is quick).
    fn is_finished(&self) -> bool {
        if self.outcome.get().is_some() {
            return true;
        }
        lock(&self.pending).as_ref().is_some_and(|p| {
            p.blob
                .as_ref()
                .is_none_or(|b| b.handle.as_ref().is_none_or(|h| h.is_finished()))
                && p.stream.as_ref().is_none_or(StreamDigest::is_finished)
        })
    }

    /// Waits for the hashes and compares them, once; later calls give the same outcome.
    fn outcome(&self) -> &Outcome {
        self.outcome
            .get_or_init(|| match lock(&self.pending).take() {
                Some(p) => p.check(),
                None => Outcome {
                    digest: None,
                    diff_id: None,
                    failure: Some("the check of a layer blob was lost".into()),
                },
            })
    }

    fn result(&self) -> Result<()> {
        match &self.outcome().failure {
            None => Ok(()),
            Some(why) => Err(Error::BadInput(why.clone())),
        }
    }

    fn failed(&self) -> bool {
        self.outcome.get().is_some_and(|o| o.failure.is_some())
    }
}

impl Pending {
    fn check(self) -> Outcome {
        let fail = |digest: Option<String>, diff_id: Option<String>, what: String| Outcome {
            digest,
            diff_id,
            failure: Some(format!("layer blob '{}': {what}", self.shown)),
        };
        let Some(blob) = self.blob else {
            // Unchecked: the records' word, as it is.
            DONE_LAYERS.fetch_add(1, Ordering::Relaxed);
            return Outcome {
                digest: self.expect.digest,
                diff_id: self.expect.diff_id,
                failure: None,
            };
        };
        let (digest, hashed) = match blob.finish() {
            Ok(d) => d,
            Err(e) => return fail(None, None, format!("cannot be read: {e}")),
        };
        if hashed != self.len {
            return fail(
                Some(digest),
                None,
                format!(
                    "it changed while it was read ({hashed} bytes of {} were hashed)",
                    self.len
                ),
            );
        }
        let diff_id = match self.stream.map(StreamDigest::finish) {
            None | Some(Ok(None)) => digest.clone(),
            Some(Ok(Some(d))) => d,
            Some(Err(e)) => return fail(Some(digest), None, format!("cannot be read: {e}")),
        };
        for (what, want, have) in [
            ("digest", &self.expect.digest, &digest),
            (
                "uncompressed digest (diff ID)",
                &self.expect.diff_id,
                &diff_id,
            ),
        ] {
            if let Some(want) = want
                && want != have
            {
                let why = format!(
                    "its {what} is {have}, but the image's records say {}: the archive is \
                     damaged or was altered",
                    crate::escape::display(want.as_bytes())
                );
                return fail(Some(digest.clone()), Some(diff_id.clone()), why);
            }
        }
        DONE_LAYERS.fetch_add(1, Ordering::Relaxed);
        Outcome {
            digest: Some(digest),
            diff_id: Some(diff_id),
            failure: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every layer's check this process started and did not see pass: what the command line's
/// output waits for (see [`verify_all`]). A check that failed stays, so each wait reports it.
static UNVERIFIED: Mutex<Vec<Arc<Verification>>> = Mutex::new(Vec::new());

fn register(v: &Arc<Verification>) {
    let mut all = lock(&UNVERIFIED);
    all.retain(|v| v.outcome.get().is_none() || v.failed());
    all.push(Arc::clone(v));
}

/// Whether a layer tar indexed by this process is still being hashed (waiting in
/// [`verify_all`] would block).
#[must_use]
pub fn verifying() -> bool {
    lock(&UNVERIFIED).iter().any(|v| !v.is_finished())
}

/// Waits for the checks of every layer tar this process indexed: the gate before anything read
/// from them is shown.
///
/// # Errors
/// A layer's digest does not match its records, or its blob could not be read whole (the
/// first such layer, in the order they were indexed).
pub fn verify_all() -> Result<()> {
    let all: Vec<Arc<Verification>> = lock(&UNVERIFIED).clone();
    let mut first = None;
    for v in &all {
        if let Err(e) = v.result() {
            first.get_or_insert(e);
        }
    }
    lock(&UNVERIFIED).retain(|v| v.outcome.get().is_none() || v.failed());
    first.map_or(Ok(()), Err)
}

fn gone() -> io::Error {
    io::Error::other("the hashing thread failed")
}

/// The uncompressed stream, refused past its bound, every byte read from it passed on to be
/// hashed (in chunks, in order).
struct Feeding<D> {
    decoder: D,
    hash: StreamHash,
    chunk: Vec<u8>,
    filled: usize,
    count: u64,
    limit: u64,
}

impl<D: Read> Feeding<D> {
    fn new(decoder: D, limit: u64, hash: StreamHash) -> Self {
        Feeding {
            decoder,
            hash,
            chunk: Vec::new(),
            filled: 0,
            count: 0,
            limit,
        }
    }

    fn counted(&mut self, n: usize) -> io::Result<()> {
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it inflates past {} bytes, {BOMB_RATIO} times its compressed size: a \
                     decompression bomb, refused",
                    self.limit
                ),
            ));
        }
        Ok(())
    }

    /// Room in the current chunk (a full one is sent first).
    fn room(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            self.chunk = self.hash.chunk()?;
            self.filled = 0;
        } else if self.filled == self.chunk.len() {
            let full = std::mem::take(&mut self.chunk);
            self.chunk = match self.hash.send(full, self.filled)? {
                Some(c) => c,
                None => self.hash.chunk()?,
            };
            self.filled = 0;
        }
        Ok(())
    }

    /// Decodes straight into the chunk: `n` bytes at most, 0 at the end.
    fn pump(&mut self, n: u64) -> io::Result<usize> {
        self.room()?;
        let space = (self.chunk.len() - self.filled).min(usize::try_from(n).unwrap_or(usize::MAX));
        let got = loop {
            match self
                .decoder
                .read(&mut self.chunk[self.filled..self.filled + space])
            {
                Ok(g) => break g,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.filled += got;
        self.counted(got)?;
        Ok(got)
    }

    /// Reads the rest, then gives back the decoder, `sha256:<hex>` of the stream (maybe still
    /// being hashed) and its length.
    fn finish(mut self) -> io::Result<(D, StreamDigest, u64)> {
        while self.pump(u64::MAX)? > 0 {}
        if self.filled > 0 {
            let last = std::mem::take(&mut self.chunk);
            self.hash.send(last, self.filled)?;
        }
        Ok((self.decoder, self.hash.finish(), self.count))
    }
}

impl<D: Read> Read for Feeding<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pump(buf.len() as u64)?;
        buf[..n].copy_from_slice(&self.chunk[self.filled - n..self.filled]);
        Ok(n)
    }
}

impl<D: Read> header::Stream for Feeding<D> {
    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            match self.pump(n)? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the tar ends inside an entry's data (truncated)",
                    ));
                }
                got => n -= got as u64,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a shell command for a test's fixture (also for the other modules' tests here).
    pub(super) fn sh(cmd: &str) {
        let st = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .expect("sh");
        assert!(st.success(), "{cmd}");
    }

    /// A whole file as a blob.
    pub(super) fn blob(path: &std::path::Path) -> BlobSource {
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
        layer.verified().expect("nothing promised, nothing to fail");
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
        // The index is handed out while the hashes run; the check fails when waited for, and
        // again on every later wait.
        let told = TarLayer::index(blob(&small), "small", &lie).expect("parsed");
        for _ in 0..2 {
            let err = told.verified().expect_err("lie").to_string();
            assert!(err.contains("diff ID") && err.contains("'small'"), "{err}");
        }
        assert!(told.digests_checked());
        // Unchecked (`--no-verify`), the same lie stands: nothing is hashed, and the layer
        // shows the records' word, plain or compressed.
        let unchecked = IndexOptions {
            check_digests: false,
            ..IndexOptions::default()
        };
        for name in ["small.tgz", "plain.tar"] {
            let trusted = TarLayer::index_within(blob(&t.path().join(name)), name, &lie, unchecked)
                .expect("parsed");
            trusted.verified().expect("not checked, so not refused");
            assert!(!trusted.digests_checked());
            assert_eq!(trusted.diff_id(), lie.diff_id.as_deref(), "{name}");
            assert_eq!(trusted.entries(), 1, "{name}");
        }
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

    #[test]
    fn more_layers_than_cpus_are_hashed_in_turns_and_all_verified() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().display();
        sh(&format!(
            "cd {d} && mkdir l && head -c 3M /dev/urandom > l/f && tar -C l -cf one.tar f && \
             sha256sum one.tar > one.sum"
        ));
        let sum = std::fs::read_to_string(t.path().join("one.sum")).expect("sum");
        let want = Expect {
            diff_id: Some(format!("sha256:{}", &sum[..64])),
            ..Expect::default()
        };
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        // Every index is handed out before its hash ends: the hashes queue for their turns.
        let layers: Vec<TarLayer> = (0..cpus * 3)
            .map(|k| {
                TarLayer::index(blob(&t.path().join("one.tar")), &format!("l{k}"), &want)
                    .expect("index")
            })
            .collect();
        // A turn not given back would leave the later ones waiting here for ever.
        for l in &layers {
            l.verified().expect("the same good blob");
        }
    }

    #[test]
    fn a_layer_of_more_entries_than_the_bound_is_refused_naming_it() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().display();
        sh(&format!(
            "cd {d} && mkdir l && touch l/a l/b l/c l/d && tar -C l -cf four.tar a b c d && \
             gzip -c four.tar > four.tgz"
        ));
        let at = |n| IndexOptions {
            max_entries: n,
            ..IndexOptions::default()
        };
        for name in ["four.tar", "four.tgz"] {
            let path = t.path().join(name);
            let fits = TarLayer::index_within(blob(&path), name, &Expect::default(), at(4))
                .expect("four entries, bound four");
            assert_eq!(fits.entries(), 4);
            let err = TarLayer::index_within(blob(&path), name, &Expect::default(), at(3))
                .expect_err("four entries, bound three")
                .to_string();
            assert!(
                err.contains(&format!("'{name}'")) && err.contains("more than 3 entries"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_plain_blob_altered_past_its_headers_is_listed_then_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().display();
        sh(&format!(
            "cd {d} && mkdir l && head -c 8M /dev/urandom > l/big && echo hi > l/small && \
             tar -C l -cf good.tar small big && cp good.tar bad.tar && \
             printf x | dd of=bad.tar bs=1 seek=$(( $(stat -c %s good.tar) - 20000 )) \
             conv=notrunc 2>/dev/null && sha256sum good.tar > good.sum"
        ));
        let sum = std::fs::read_to_string(t.path().join("good.sum")).expect("sum");
        let want = Expect {
            diff_id: Some(format!("sha256:{}", &sum[..64])),
            ..Expect::default()
        };
        let good = TarLayer::index(blob(&t.path().join("good.tar")), "good", &want).expect("good");
        good.verified().expect("the records' digest");
        assert_eq!(
            good.digest(),
            want.diff_id.as_deref(),
            "promised, then confirmed"
        );
        // The byte changed lies in a file's data, which the parse seeks past: only the hash
        // sees it.
        let bad = TarLayer::index(blob(&t.path().join("bad.tar")), "bad", &want).expect("parsed");
        assert_eq!(bad.entries(), 2);
        let err = bad.verified().expect_err("altered").to_string();
        assert!(
            err.contains("'bad'") && err.contains("damaged or was altered"),
            "{err}"
        );
    }
}
