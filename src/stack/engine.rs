//! What the container-engine readers share: storage roots, the stacks they find, name
//! matching, messages for unreadable files, which overlays are mounted now, and layer sizes.
//!
//! Everything here reads the engines' files on disk; no socket is ever opened, so it works with
//! the daemons stopped. Nothing is ever written or locked.

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::mountinfo::{self, MountEntry};
use super::options::KernelDefaults;
use super::{LayerStack, MountOptions};
use crate::error::{Error, Result};
use crate::fsio::{self, FileKind, LayerRoot};

/// Storage roots given on the command line; `None` means the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    /// Docker's data-root (`/var/lib/docker`).
    pub docker: Option<PathBuf>,
    /// A containers/storage graphroot (`/var/lib/containers/storage`).
    pub podman: Option<PathBuf>,
    /// containerd's root (`/var/lib/containerd`).
    pub containerd: Option<PathBuf>,
}

/// Which engine a stack belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Docker (overlay2 graphdriver, or its containerd image store).
    Docker,
    /// Podman, Buildah, CRI-O (containers/storage).
    Podman,
    /// containerd's overlayfs snapshotter (ctr, nerdctl, Kubernetes CRI).
    Containerd,
    /// An overlay mount that no engine claims.
    Mount,
}

impl Engine {
    /// Lowercase name, as `list` prints it and as the stack prefix.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
            Engine::Containerd => "containerd",
            Engine::Mount => "mount",
        }
    }
}

/// What kind of thing a found stack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A container: its read-write layer over its image.
    Container,
    /// An image: read-only layers.
    Image,
    /// A containerd snapshot that belongs to no container (`ctr snapshots prepare`).
    Snapshot,
    /// A mounted overlay.
    Mount,
}

impl Kind {
    /// Lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Snapshot => "snapshot",
            Kind::Mount => "mount",
        }
    }
}

/// One stack on the host, as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The engine.
    pub engine: Engine,
    /// Container, image, snapshot or mount.
    pub kind: Kind,
    /// What to type to name it: `docker:web`, `podman:db`, `containerd:default/app`, a path.
    pub stack: String,
    /// The human name (container name, image tag, snapshot key, mount point).
    pub name: String,
    /// The engine's ID (full).
    pub id: String,
    /// The image a container was made from (its tag when it has one).
    pub image: Option<String>,
    /// Number of layers in the stack (upper included).
    pub layers: usize,
    /// Bytes in regular files across the layers, when known.
    pub size: Option<u64>,
    /// When it was created (RFC 3339, as the engine recorded it).
    pub created: Option<String>,
    /// Where it is mounted now, if it is.
    pub mountpoint: Option<PathBuf>,
    /// The storage root it was read from.
    pub root: PathBuf,
    /// The exact bytes of `stack` when they are not UTF-8 (`stack` then shows U+FFFD).
    #[serde(skip)]
    pub stack_bytes: Option<Vec<u8>>,
    /// The exact bytes of `name` when they are not UTF-8.
    #[serde(skip)]
    pub name_bytes: Option<Vec<u8>>,
}

/// The message for an engine file that cannot be read: it names the file and, when the
/// kernel refused access, suggests sudo.
#[must_use]
pub fn file_error(path: &Path, e: std::io::Error) -> Error {
    if matches!(e.kind(), std::io::ErrorKind::PermissionDenied)
        || e.raw_os_error() == Some(libc::EPERM)
    {
        Error::BadInput(format!(
            "cannot read '{}': permission denied; the container engines' files are readable \
             only by root: run layerscope with sudo",
            path.display()
        ))
    } else {
        Error::io("reading", path, e)
    }
}

/// The error for an engine record or layer that went missing between two reads: a prune or an
/// `rm` removed it, or it is still being made.
#[must_use]
pub fn gone(what: &str) -> Error {
    Error::BadInput(format!(
        "{what} is missing: it was removed, or is still being made, while being read \
         (is a prune or an rm running?); try again"
    ))
}

/// Whether an error means "it is not there (any more)".
#[must_use]
pub fn is_gone(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound
        || source.raw_os_error() == Some(libc::ENOTDIR))
}

/// `e`, or [`gone`]`(what())` when `e` means the record is not there (any more).
#[must_use]
pub fn gone_if_missing(e: Error, what: impl FnOnce() -> String) -> Error {
    if is_gone(&e) { gone(&what()) } else { e }
}

/// Largest engine metadata file we read (images.json on a big host is a few MiB).
const MAX_FILE: u64 = 256 << 20;

/// Reads a whole engine metadata file.
///
/// # Errors
/// Missing, unreadable (with a sudo hint), or absurdly large.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
    let mut out = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut out)
        .map_err(|e| file_error(path, e))?;
    if out.len() as u64 > MAX_FILE {
        return Err(Error::BadInput(format!(
            "'{}' is larger than {} MiB: not an engine metadata file",
            path.display(),
            MAX_FILE >> 20
        )));
    }
    Ok(out)
}

/// Reads a small text file and trims it.
///
/// # Errors
/// As [`read_file`].
pub fn read_text(path: &Path) -> Result<String> {
    Ok(String::from_utf8_lossy(&read_file(path)?)
        .trim()
        .to_string())
}

/// Reads and parses a JSON file.
///
/// # Errors
/// As [`read_file`], or the JSON is malformed (the message names the file).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::BadInput(format!(
            "'{}' is not the JSON the engine writes: {e}",
            path.display()
        ))
    })
}

/// Lists a directory's entry names; a missing directory is empty.
///
/// # Errors
/// The directory exists but cannot be read (with a sudo hint).
pub fn list_dir(path: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(path, e)),
    };
    let mut out: Vec<String> = rd
        .filter_map(std::result::Result::ok)
        .filter_map(|d| d.file_name().to_str().map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

/// Checks a name read from an engine's files before it becomes part of a path: an ID
/// (Docker's `mount-id`, `init-id`, `cache-id`, chain IDs; containers/storage layer and image
/// IDs), a short link name from `l/`, a digest's algorithm or hex. It must be one plain path
/// component: not empty, at most 255 bytes, no `/` or NUL, and not starting with `.` (so never
/// `.` or `..`). Engines never write anything else; a value like `../../tmp/x` is a damaged or
/// doctored store pointing outside itself, and is refused before any use.
///
/// This is the one check every engine reader (and any later code that turns engine records
/// into paths) uses. `what` names the value ("mount-id", "layer ID"), `file` the file it was
/// read from; both appear in the message.
///
/// # Errors
/// The value is not a plain component; the message names the file and the (escaped) value.
pub fn component<'a>(value: &'a str, what: &str, file: &Path) -> Result<&'a str> {
    if is_component(value) {
        return Ok(value);
    }
    Err(not_a_component(value, what, file))
}

/// Whether `value` is one plain path component, the test [`component`] applies: not empty, at
/// most 255 bytes, no leading `.` (so neither `.` nor `..`), no `/` and no NUL.
#[must_use]
pub fn is_component(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && !value.starts_with('.')
        && !value.bytes().any(|b| b == b'/' || b == 0)
}

/// The error [`component`] gives: `file` holds `what` = `value`, which is not a plain name.
#[must_use]
pub fn not_a_component(value: &str, what: &str, file: &Path) -> Error {
    Error::BadInput(format!(
        "'{}' holds {what} '{}', which is not a plain name (one path component, without '/' \
         or a leading '.'): the engine's store is damaged or was tampered with; layerscope \
         will not use it as a path",
        crate::escape::path(file),
        crate::escape::display(value.as_bytes())
    ))
}

/// `base/<value>` after [`component`] checked `value`.
///
/// # Errors
/// As [`component`].
pub fn join_component(base: &Path, value: &str, what: &str, file: &Path) -> Result<PathBuf> {
    Ok(base.join(component(value, what, file)?))
}

/// Whether `s` is a lowercase hex string (an engine ID).
#[must_use]
pub fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A human label for a layer from its image history entry: the Dockerfile instruction.
///
/// The legacy builder writes `/bin/sh -c #(nop)  ENV x` for metadata and `/bin/sh -c CMD` for
/// `RUN`; BuildKit writes `RUN /bin/sh -c CMD # buildkit` and `COPY a b # buildkit`. All of
/// them become `ENV x`, `RUN CMD`, `COPY a b`.
#[must_use]
pub fn instruction(created_by: &str) -> String {
    let s = created_by.trim();
    let s = s.strip_suffix("# buildkit").map_or(s, str::trim_end);
    if let Some(rest) = s.strip_prefix("/bin/sh -c #(nop)") {
        return rest.trim().to_string();
    }
    if let Some(rest) = s.strip_prefix("/bin/sh -c ") {
        return format!("RUN {}", rest.trim());
    }
    if let Some(rest) = s.strip_prefix("RUN /bin/sh -c ") {
        return format!("RUN {}", rest.trim());
    }
    if let Some(rest) = s.strip_prefix("|")
        && let Some((n, tail)) = rest.split_once(' ')
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        // The legacy builder's `|N ARG=v ... /bin/sh -c CMD` (build args in the environment).
        let tail = tail.trim();
        if let Some(i) = tail.find("/bin/sh -c ") {
            return format!("RUN {}", tail[i + "/bin/sh -c ".len()..].trim());
        }
    }
    s.to_string()
}

/// One entry of an image config's `history`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct History {
    /// The command that made the layer.
    #[serde(default)]
    pub created_by: Option<String>,
    /// A comment (`Imported from -`, `buildkit.dockerfile.v0`).
    #[serde(default)]
    pub comment: Option<String>,
    /// When.
    #[serde(default)]
    pub created: Option<String>,
    /// Whether it made no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

/// The parts of an OCI / Docker image config we use.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ImageConfig {
    /// When the image was made.
    #[serde(default)]
    pub created: Option<String>,
    /// The build history, first to last.
    #[serde(default)]
    pub history: Vec<History>,
    /// The layers' diff IDs, bottom to top.
    #[serde(default)]
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RootFs {
    /// `sha256:<hex>` of each uncompressed layer tar, bottom to top.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    /// One label per layer, bottom to top: the instruction of the `k`-th history entry that is
    /// not an empty layer; `layer k` for all of them when the counts disagree.
    #[must_use]
    pub fn layer_labels(&self) -> Vec<String> {
        let n = self.rootfs.diff_ids.len();
        let real: Vec<&History> = self.history.iter().filter(|h| !h.empty_layer).collect();
        if real.len() != n {
            return (0..n).map(|k| format!("layer {k}")).collect();
        }
        real.iter()
            .enumerate()
            .map(|(k, h)| {
                let by = h.created_by.as_deref().map(instruction).unwrap_or_default();
                if !by.is_empty() {
                    by
                } else if let Some(c) = h.comment.as_deref().filter(|c| !c.trim().is_empty()) {
                    c.trim().to_string()
                } else {
                    format!("layer {k}")
                }
            })
            .collect()
    }

    /// When each layer was made, bottom to top, from the history entries that made a layer
    /// (all unknown when the counts disagree, as for [`ImageConfig::layer_labels`]).
    #[must_use]
    pub fn layer_created(&self) -> Vec<Option<String>> {
        let n = self.rootfs.diff_ids.len();
        let real: Vec<&History> = self.history.iter().filter(|h| !h.empty_layer).collect();
        if real.len() != n {
            return vec![None; n];
        }
        real.iter().map(|h| h.created.clone()).collect()
    }

    /// The chain IDs of the layers, bottom to top (`sha256:<hex>` strings).
    #[must_use]
    pub fn chain_ids(&self) -> Vec<String> {
        chain_ids(&self.rootfs.diff_ids)
    }
}

/// OCI chain IDs: `chain[0] = diff[0]`, `chain[i] = sha256(chain[i-1] + " " + diff[i])`.
#[must_use]
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => {
                let digest = Sha256::digest(format!("{prev} {d}").as_bytes());
                let mut hex = String::with_capacity(71);
                hex.push_str("sha256:");
                for b in digest {
                    hex.push_str(&format!("{b:02x}"));
                }
                hex
            }
        };
        out.push(next);
    }
    out
}

/// Strips `sha256:` from a digest.
#[must_use]
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The first 12 hex digits of an ID, as Docker shows it (and Podman and `ctr` after it).
#[must_use]
pub fn short(id: &str) -> String {
    hex_of(id).chars().take(12).collect()
}

/// A thing that can be named: its names, its ID, and how strongly an exact name match binds
/// (lower wins: containers before images, as `docker inspect` does).
#[derive(Debug, Clone)]
pub struct Candidate<T> {
    /// Names that match exactly (tags, container names, keys).
    pub names: Vec<String>,
    /// The full ID (hex, without `sha256:`); an unambiguous prefix names it.
    pub id: String,
    /// 0 binds before 1.
    pub rank: u8,
    /// How to show it in a list of candidates; empty for things not worth listing when a name
    /// is unknown (intermediate build images), which still match by ID.
    pub show: String,
    /// The thing.
    pub item: T,
}

impl<T> Candidate<T> {
    /// The same candidate with its item turned into `f(item)`.
    #[must_use]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Candidate<U> {
        Candidate {
            names: self.names,
            id: self.id,
            rank: self.rank,
            show: self.show,
            item: f(self.item),
        }
    }
}

/// The candidates of store `i` of a resolver that reads several, each item tagged with `i`;
/// with `root` (several roots to tell apart), each is shown as `… in ROOT`.
pub fn in_store<'a, T: 'a>(
    cands: Vec<Candidate<T>>,
    i: usize,
    root: Option<&'a Path>,
) -> impl Iterator<Item = Candidate<(usize, T)>> + 'a {
    cands.into_iter().map(move |c| {
        let mut c = c.map(|item| (i, item));
        // An empty label keeps a candidate out of the list of suggestions; keep it empty.
        if let Some(root) = root.filter(|_| !c.show.is_empty()) {
            c.show = format!("{} in {}", c.show, root.display());
        }
        c
    })
}

/// The roots a resolver looked in, for its message: `a, b`.
#[must_use]
pub fn roots_list(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the candidate named by `query`: an exact name (also with `:latest` added), a full
/// ID (with or without `sha256:`), else an unambiguous ID prefix.
///
/// # Errors
/// Nothing matches, or several do; the message lists the candidates.
pub fn pick<'a, T>(cands: &'a [Candidate<T>], query: &str, what: &str) -> Result<&'a T> {
    let q = query.trim();
    let with_latest = if !q.contains('@') && !q.rsplit('/').next().unwrap_or(q).contains(':') {
        Some(format!("{q}:latest"))
    } else {
        None
    };
    let qid = hex_of(q);
    let exact: Vec<&Candidate<T>> = cands
        .iter()
        .filter(|c| {
            c.names
                .iter()
                .any(|n| n == q || Some(n) == with_latest.as_ref())
                || c.id == qid
        })
        .collect();
    if let Some(best) = exact.iter().map(|c| c.rank).min() {
        let top: Vec<&&Candidate<T>> = exact.iter().filter(|c| c.rank == best).collect();
        if top.len() == 1 {
            return Ok(&top[0].item);
        }
        return Err(ambiguous(query, what, top.iter().map(|c| shown(c))));
    }
    if is_hex(qid) {
        let by_prefix: Vec<&Candidate<T>> =
            cands.iter().filter(|c| c.id.starts_with(qid)).collect();
        match by_prefix.len() {
            1 => return Ok(&by_prefix[0].item),
            0 => {}
            _ => return Err(ambiguous(query, what, by_prefix.iter().map(|c| shown(c)))),
        }
    }
    let mut listed: Vec<&str> = cands
        .iter()
        .map(|c| c.show.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    listed.sort_unstable();
    listed.dedup();
    let more = listed.len().saturating_sub(30);
    listed.truncate(30);
    let list = if listed.is_empty() {
        "there are none".to_string()
    } else {
        let mut l = format!("candidates: {}", listed.join(", "));
        if more > 0 {
            l.push_str(&format!(" and {more} more (see `layerscope list`)"));
        }
        l
    };
    Err(Error::BadInput(format!(
        "no {what} named '{}': {list}",
        crate::escape::display(query.as_bytes())
    )))
}

/// A [`pick`] error with the records that could not be read added: when a name is not found
/// because its record is broken (a truncated `config.v2.json`), the message names that file.
#[must_use]
pub fn with_unread(e: Error, unread: &[String]) -> Error {
    match e {
        Error::BadInput(msg) if !unread.is_empty() && msg.starts_with("no ") => {
            Error::BadInput(format!(
                "{msg}; some records could not be read, the name may be in one of them: {}",
                unread.join("; ")
            ))
        }
        e => e,
    }
}

fn shown<T>(c: &Candidate<T>) -> String {
    if c.show.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.show.clone()
    }
}

fn ambiguous(query: &str, what: &str, shown: impl Iterator<Item = String>) -> Error {
    let mut v: Vec<String> = shown.collect();
    v.sort_unstable();
    v.dedup();
    Error::BadInput(format!(
        "'{}' names more than one {what}: {}; give more of the ID or the full name",
        crate::escape::display(query.as_bytes()),
        v.join(", ")
    ))
}

/// The overlays mounted now (this process's mount namespace).
#[derive(Debug, Default)]
pub struct Mounts {
    /// Each mount with the canonical forms of its upperdir and mount point, resolved once here
    /// rather than on every [`Mounts::find`] (`list` asks once per container).
    entries: Vec<(MountEntry, Option<PathBuf>, PathBuf)>,
}

impl Mounts {
    /// Reads `/proc/self/mountinfo`; an unreadable one gives no mounts.
    #[must_use]
    pub fn read() -> Self {
        let text = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
        let kernel = KernelDefaults::read();
        let entries = mountinfo::parse(&text)
            .into_iter()
            .filter(|m| m.fstype == "overlay")
            .map(|m| {
                let upper = mountinfo::stack_from_entry(&m, &kernel)
                    .ok()
                    .and_then(|s| s.has_upper().then(|| canonical(&s.layers[0].path)));
                let mountpoint = canonical(&m.mountpoint);
                (m, upper, mountpoint)
            })
            .collect();
        Mounts { entries }
    }

    /// The overlay whose upperdir is `upper`, or which is mounted at `merged`.
    #[must_use]
    pub fn find(&self, upper: Option<&Path>, merged: Option<&Path>) -> Option<&MountEntry> {
        // Resolving a path costs a readlink per component; skip it when no mount's upperdir or
        // mount point even ends like one of ours (and ours is not itself a symlink).
        let tail = |p: &Path| {
            Some((
                p.file_name()?.to_owned(),
                p.parent()?.file_name()?.to_owned(),
            ))
        };
        let unsure = |p: &Path| {
            tail(p).is_none()
                || std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
        };
        let upper_may = upper.is_some_and(|u| {
            unsure(u)
                || self
                    .entries
                    .iter()
                    .any(|(_, eu, _)| eu.as_deref().is_some_and(|eu| tail(eu) == tail(u)))
        });
        let merged_may = merged.is_some_and(|m| {
            unsure(m) || self.entries.iter().any(|(_, _, mp)| tail(mp) == tail(m))
        });
        if !upper_may && !merged_may {
            return None;
        }
        let upper = upper.map(canonical);
        let merged = merged.map(canonical);
        self.entries
            .iter()
            .rev()
            .find(|(_, u, mp)| {
                (upper.is_some() && *u == upper)
                    || (merged.is_some() && merged.as_ref() == Some(mp))
            })
            .map(|(m, _, _)| m)
    }

    /// Every overlay mount.
    pub fn all(&self) -> impl Iterator<Item = &MountEntry> {
        self.entries.iter().map(|(m, _, _)| m)
    }
}

/// The canonical form of an engine path (engine directories may sit behind a symlinked
/// data-root); the path itself when it cannot be resolved.
#[must_use]
pub fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Attaches a mount to an engine stack: its mount point, and the options that change the merge
/// (userxattr, redirect_dir, metacopy). Returns a note when the mount's layers differ from the
/// engine's records.
///
/// `base` is the directory the engine mounts from when the option string is too long for
/// absolute paths (Docker's and c/storage's `overlay2/` or `overlay/`, with `l/<id>` entries).
#[must_use]
pub fn attach_mount(
    stack: &mut LayerStack,
    entry: &MountEntry,
    base: Option<&Path>,
) -> Option<String> {
    stack.mountpoint = Some(entry.mountpoint.clone());
    let kernel = KernelDefaults::read();
    let mounted = mountinfo::stack_from_entry(entry, &kernel).ok()?;
    stack.options = mounted.options.clone();
    let ours: Vec<PathBuf> = stack.layers.iter().map(|l| canonical(&l.path)).collect();
    let theirs: Vec<PathBuf> = mounted
        .layers
        .iter()
        .map(|l| match base {
            Some(b) if l.path.is_relative() => canonical(&b.join(&l.path)),
            _ => canonical(&l.path),
        })
        .collect();
    if ours == theirs {
        return None;
    }
    Some(format!(
        "the overlay mounted at '{}' has other layers than the engine's records ({} vs {}); \
         showing the engine's layers — name the mount point to see the mounted ones",
        entry.mountpoint.display(),
        theirs.len(),
        ours.len()
    ))
}

/// The options of an engine stack that is not mounted: the kernel's defaults (read once: `list`
/// asks for every stack).
#[must_use]
pub fn default_options() -> MountOptions {
    static DEFAULTS: std::sync::OnceLock<MountOptions> = std::sync::OnceLock::new();
    DEFAULTS
        .get_or_init(|| MountOptions::defaults(&KernelDefaults::read()))
        .clone()
}

/// Below this many items [`par_map`] stays on the calling thread.
pub const PARALLEL_FROM: usize = 16;

/// `f` over `items` in order, on rayon's threads when there are at least [`PARALLEL_FROM`]:
/// reading engine records waits on the disk with a cold cache. Fewer stay on this thread, so
/// that a host with (almost) nothing starts no thread: the explorer looks for stacks before the
/// demo, which must enter its namespaces while the process has one thread.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() < PARALLEL_FROM {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
    }
}

/// Bytes in regular files under a layer directory, each inode counted once, never following
/// a symlink or crossing a mount. Entries that vanish while we walk (a prune) are skipped.
#[must_use]
pub fn dir_size(path: &Path) -> Option<u64> {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    walk_inodes(path, &[], |st| {
        if FileKind::from_mode(st.st_mode) == FileKind::File
            && (st.st_nlink <= 1 || seen.insert((st.st_dev, st.st_ino)))
        {
            total += u64::try_from(st.st_size).unwrap_or(0);
        }
    })?;
    Some(total)
}

/// What a tree holds on disk, as `du` counts it: every inode once (the tree's root included),
/// apparent bytes (`du -b`) and allocated bytes (`du`, 512-byte blocks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// Sum of `st_size` over the tree's inodes, each once.
    pub bytes: u64,
    /// Sum of `st_blocks * 512`, each inode once.
    pub allocated: u64,
    /// Inodes with more than one link: `(dev, ino) -> (bytes, allocated)`, so that a caller
    /// summing several trees can count an inode they share once.
    pub linked: std::collections::HashMap<(u64, u64), (u64, u64)>,
}

/// [`TreeUsage`] of the tree at `path`, leaving out the top-level entries named in `skip`
/// (`merged`, `work`); never following a symlink or crossing a mount (a mount point inside is
/// not counted). `None` when `path` cannot be opened (gone: removed by a prune).
#[must_use]
pub fn tree_usage(path: &Path, skip: &[&[u8]]) -> Option<TreeUsage> {
    let mut u = TreeUsage::default();
    walk_inodes(path, skip, |st| {
        let bytes = u64::try_from(st.st_size).unwrap_or(0);
        let alloc = u64::try_from(st.st_blocks).unwrap_or(0) * 512;
        if st.st_nlink > 1
            && FileKind::from_mode(st.st_mode) != FileKind::Dir
            && u.linked
                .insert((st.st_dev, st.st_ino), (bytes, alloc))
                .is_some()
        {
            return; // met before in this tree
        }
        u.bytes += bytes;
        u.allocated += alloc;
    })?;
    Some(u)
}

/// Calls `each` with the `lstat` of every inode under `path` (the root first), never following
/// a symlink and never entering or counting another filesystem; top-level names in `skip` are
/// left out. Entries that vanish while we walk are skipped; `None` when the root cannot be
/// opened.
fn walk_inodes(path: &Path, skip: &[&[u8]], mut each: impl FnMut(&rustix::fs::Stat)) -> Option<()> {
    let root = LayerRoot::open(path).ok()?;
    let top = rustix::fs::fstat(root.open_dir_fd(b"").ok()?).ok()?;
    each(&top);
    let mut todo = vec![Vec::new()];
    while let Some(rel) = todo.pop() {
        let Ok(fd) = root.open_dir_fd(&rel) else {
            continue;
        };
        let Ok(names) = fsio::read_dir(fd.as_fd()) else {
            continue;
        };
        for (name, _) in names {
            if rel.is_empty() && skip.contains(&name.as_slice()) {
                continue;
            }
            let Ok(st) = fsio::lstat_at(fd.as_fd(), &name) else {
                continue;
            };
            if st.st_dev != top.st_dev {
                continue; // a mount point: another filesystem, not this tree's bytes
            }
            if FileKind::from_mode(st.st_mode) == FileKind::Dir {
                todo.push(fsio::join_rel(&rel, &name));
            }
            each(&st);
        }
    }
    Some(())
}

/// Checks that a layer directory an engine's records name is there and is a directory; `what`
/// names it in the message ("layer directory", "snapshot directory"). A missing one is a layer
/// removed while we read (a prune), which [`gone`] explains.
///
/// # Errors
/// Missing, not a directory, or unreadable.
pub fn check_layer_dir(what: &str, path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::BadInput(format!(
            "{what} '{}' is not a directory",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(gone(&format!("{what} '{}'", path.display())))
        }
        Err(e) => Err(file_error(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_read_like_a_dockerfile() {
        assert_eq!(instruction("/bin/sh -c rm /etc/motd"), "RUN rm /etc/motd");
        assert_eq!(instruction("/bin/sh -c #(nop)  ENV FOO=bar"), "ENV FOO=bar");
        assert_eq!(
            instruction("/bin/sh -c #(nop) ADD file:abc in / "),
            "ADD file:abc in /"
        );
        assert_eq!(
            instruction("RUN /bin/sh -c rm /etc/motd # buildkit"),
            "RUN rm /etc/motd"
        );
        assert_eq!(instruction("COPY a /b # buildkit"), "COPY a /b");
        assert_eq!(instruction("|1 V=2 /bin/sh -c make"), "RUN make");
        assert_eq!(instruction("podman commit"), "podman commit");
    }

    #[test]
    fn labels_skip_empty_layers_and_fall_back_when_counts_disagree() {
        let h = |by: &str, empty| History {
            created_by: Some(by.into()),
            empty_layer: empty,
            ..History::default()
        };
        let mut c = ImageConfig {
            history: vec![
                History {
                    comment: Some("Imported from -".into()),
                    ..History::default()
                },
                h("/bin/sh -c #(nop)  ENV A=1", true),
                h("/bin/sh -c rm /etc/motd", false),
            ],
            rootfs: RootFs {
                diff_ids: vec!["sha256:a".into(), "sha256:b".into()],
            },
            ..ImageConfig::default()
        };
        assert_eq!(c.layer_labels(), ["Imported from -", "RUN rm /etc/motd"]);
        c.history[1].empty_layer = false;
        assert_eq!(c.layer_labels(), ["layer 0", "layer 1"]);
    }

    #[test]
    fn chain_ids_follow_the_image_spec() {
        // Docker's own example pair, checked against a real layerdb on this machine: the chain
        // of a single layer is its diff ID; the next one hashes "<chain> <diff>".
        let d = vec![
            "sha256:3afe518f28b632f284ff3fdd6c3c5df218c61780385d049a5dae15fec255c205".to_string(),
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef".to_string(),
        ];
        let c = chain_ids(&d);
        assert_eq!(c[0], d[0]);
        assert!(c[1].starts_with("sha256:") && c[1].len() == 71);
    }

    #[test]
    fn only_plain_names_become_path_components() {
        let f = Path::new("/store/mount-id");
        for good in ["abc123", "rw-init", "sha256", "a.b", "x:y"] {
            assert_eq!(component(good, "ID", f).unwrap(), good);
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "../x",
            "a/b",
            "/abs",
            "a\0b",
            long.as_str(),
        ] {
            let e = component(bad, "mount-id", f).unwrap_err().to_string();
            assert!(
                e.contains("/store/mount-id") && e.contains("mount-id '"),
                "{e}"
            );
        }
        assert_eq!(
            join_component(Path::new("/s"), "id", "ID", f).unwrap(),
            Path::new("/s/id")
        );
    }

    #[test]
    fn pick_prefers_exact_names_then_unique_prefixes() {
        let c = |names: &[&str], id: &str, rank| Candidate {
            names: names.iter().map(|s| s.to_string()).collect(),
            id: id.into(),
            rank,
            show: names.first().copied().unwrap_or(id).to_string(),
            item: id.to_string(),
        };
        let all = vec![
            c(&["web"], "abc111", 0),
            c(&["web:latest"], "abd222", 1),
            c(&["db"], "ffe333", 0),
        ];
        assert_eq!(pick(&all, "web", "thing").unwrap(), "abc111");
        assert_eq!(pick(&all, "web:latest", "thing").unwrap(), "abd222");
        assert_eq!(pick(&all, "ff", "thing").unwrap(), "ffe333");
        assert_eq!(pick(&all, "sha256:abd222", "thing").unwrap(), "abd222");
        let e = pick(&all, "ab", "thing").unwrap_err().to_string();
        assert!(e.contains("more than one") && e.contains("web") && e.contains("web:latest"));
        let e = pick(&all, "nope", "thing").unwrap_err().to_string();
        assert!(e.contains("candidates: db, web, web:latest"), "{e}");
    }
}
