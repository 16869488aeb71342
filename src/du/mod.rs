//! Who owns every byte of a container host's layer stores (`layerscope du`).
//!
//! Each engine reader ([`docker`], [`podman`], [`containerd`]) turns one store's records into
//! [`StoreRefs`]: the directory holding its layer directories, every layer directory its
//! records name, and which owners (images, containers, snapshot keys) use which. [`scan`] then
//! measures every layer directory on disk (each inode once, `merged/` and `work/` left out, no
//! mount crossed), matches the two, and finds the orphans both ways: directories nobody
//! references, and references to directories that are gone.
//!
//! Nothing here writes or locks: the records are read as the `stack` readers read them, and a
//! directory that vanishes while it is measured (a prune) becomes a note.

pub mod cleanup;
pub mod containerd;
pub mod docker;
pub mod podman;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::stack::engine::{self, Engine, Roots, TreeUsage, is_component};
use crate::stack::mountinfo;
use crate::stack::options::KernelDefaults;

/// What an owner of layer directories is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerKind {
    /// An image: its layers.
    Image,
    /// A container: its read-write (and init) layer, over its image's.
    Container,
    /// A containerd snapshot key that no image or container accounts for.
    Snapshot,
}

impl OwnerKind {
    /// Lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Image => "image",
            OwnerKind::Container => "container",
            OwnerKind::Snapshot => "snapshot",
        }
    }
}

/// One owner and the layer directories it uses, by name under [`StoreRefs::base`].
#[derive(Debug, Clone)]
pub struct OwnerRef {
    /// Image, container or snapshot.
    pub kind: OwnerKind,
    /// The name to give other commands: `docker:web`, `podman:app:1`, `k8s:ns/pod/app`.
    pub name: String,
    /// The engine's ID.
    pub id: String,
    /// Layer directory names (plain path components) it uses, top first.
    pub dirs: Vec<String>,
}

/// An engine record that names a layer directory.
#[derive(Debug, Clone)]
pub struct Record {
    /// What the record is, for people: `layerdb/sha256/<chain>`, `layers.json layer <id>`.
    pub what: String,
    /// The file that holds it (its mtime dates a reference whose directory is gone).
    pub file: PathBuf,
    /// How the engine itself disposes of it once nothing uses it, for the cleanup script.
    pub engine_way: &'static str,
}

/// One store's records: where its layer directories are and who uses them.
#[derive(Debug, Clone)]
pub struct StoreRefs {
    /// The engine.
    pub engine: Engine,
    /// A short name for the store: `docker /var/lib/docker`.
    pub store: String,
    /// The storage root the records came from.
    pub root: PathBuf,
    /// The directory whose subdirectories are the layer directories (`overlay2/`, `overlay/`,
    /// `snapshots/`).
    pub base: PathBuf,
    /// Entries of `base` that are not layer directories (`l`, the short-link directory).
    pub not_layers: Vec<String>,
    /// Every layer directory name the records name, with the record.
    pub records: BTreeMap<String, Record>,
    /// The owners.
    pub owners: Vec<OwnerRef>,
    /// Records an owner needs that are gone (a layer record, a container's mount record):
    /// the path that should be there, and the owner.
    pub gone: Vec<(PathBuf, String)>,
    /// The daemon processes that must be stopped before a directory is removed by hand.
    pub daemons: Vec<String>,
    /// Things skipped while reading.
    pub notes: Vec<String>,
}

/// Why a layer directory is an orphan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Orphan {
    /// No record of the engine names it: left behind (moby issue 45939).
    Unrecorded,
    /// The engine records it, but no image, container or snapshot uses it.
    Unreferenced,
}

/// One layer directory on disk.
#[derive(Debug, Clone)]
pub struct LayerDir {
    /// Index into [`Usage::stores`].
    pub store: usize,
    /// Its name under the store's base (an ID).
    pub id: String,
    /// Its path.
    pub path: PathBuf,
    /// Owner names, sorted.
    pub owners: Vec<String>,
    /// Apparent bytes, each inode once (`du -sb` without `merged/` and `work/`).
    pub bytes: u64,
    /// Allocated bytes (`du -s`).
    pub allocated: u64,
    /// Whether it is an orphan, and why.
    pub orphan: Option<Orphan>,
    /// The record that names it, when one does.
    pub record: Option<String>,
    /// How the engine disposes of it (for a recorded one).
    pub engine_way: Option<&'static str>,
    /// Last modified (seconds since the epoch).
    pub mtime: Option<i64>,
    /// Whether a mount uses it now (a mount point inside, or a layer of a mounted overlay).
    pub mounted: bool,
}

/// A reference to a layer directory that is not there.
#[derive(Debug, Clone)]
pub struct Missing {
    /// Index into [`Usage::stores`].
    pub store: usize,
    /// The directory that should be there.
    pub path: PathBuf,
    /// Who references it (owner names; the record when no owner does).
    pub referenced_by: Vec<String>,
    /// The record naming it.
    pub record: Option<String>,
    /// When that record was last modified (seconds since the epoch).
    pub mtime: Option<i64>,
}

/// One owner's usage.
#[derive(Debug, Clone)]
pub struct OwnerUsage {
    /// Index into [`Usage::stores`].
    pub store: usize,
    /// Image, container or snapshot.
    pub kind: OwnerKind,
    /// Its name.
    pub name: String,
    /// Its ID.
    pub id: String,
    /// Number of layer directories it uses.
    pub layers: usize,
    /// Bytes of all its layer directories.
    pub bytes: u64,
    /// Bytes of the layer directories no other owner uses: what removing it would free.
    pub unique_bytes: u64,
}

/// One store's totals.
#[derive(Debug, Clone)]
pub struct StoreTotal {
    /// The engine.
    pub engine: Engine,
    /// The store's short name.
    pub store: String,
    /// Its base directory.
    pub base: PathBuf,
    /// Layer directories on disk.
    pub dirs: usize,
    /// Apparent bytes of all its layer directories, each inode once across the store.
    pub bytes: u64,
    /// Allocated bytes, likewise.
    pub allocated: u64,
    /// Bytes in layer directories shared by more than one owner.
    pub shared_bytes: u64,
    /// Bytes in orphan directories.
    pub orphan_bytes: u64,
    /// The daemons to stop before removing a directory by hand.
    pub daemons: Vec<String>,
}

/// Everything `du` found.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// The stores, in the order read.
    pub stores: Vec<StoreTotal>,
    /// Every layer directory, by store then name.
    pub dirs: Vec<LayerDir>,
    /// Owners, by store then kind then name.
    pub owners: Vec<OwnerUsage>,
    /// References to directories that are gone.
    pub missing: Vec<Missing>,
    /// Things skipped, for notes on stderr.
    pub notes: Vec<String>,
}

impl Usage {
    /// Bytes of all stores.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.stores.iter().map(|s| s.bytes).sum()
    }
}

/// Reads every store under `roots` and measures it.
#[must_use]
pub fn scan(roots: &Roots) -> Usage {
    let mut notes = Vec::new();
    let mut refs = Vec::new();
    let docker_roots = crate::stack::discover::docker_roots(roots);
    let mut docker_names: HashMap<String, String> = HashMap::new();
    for root in &docker_roots {
        if !root.exists() {
            if roots.docker.is_some() {
                notes.push(format!("no Docker data-root at {}", root.display()));
            }
            continue;
        }
        match crate::stack::docker::Store::load(root) {
            Ok(store) => {
                for c in store.containers.values() {
                    docker_names.insert(c.id.clone(), c.name.clone());
                }
                refs.push(docker::refs(&store));
            }
            Err(e) => notes.push(format!("skipped Docker at {}: {e}", root.display())),
        }
    }
    for root in crate::stack::discover::containerd_roots(roots) {
        match crate::stack::containerd::Store::load(&root) {
            Ok(store) => refs.push(containerd::refs(&store, &docker_names)),
            Err(e) => notes.push(format!("skipped containerd at {}: {e}", root.display())),
        }
    }
    for root in crate::stack::discover::podman_roots(roots) {
        match crate::stack::podman::Store::load(&root) {
            Ok(store) => refs.push(podman::refs(&store)),
            Err(e) => notes.push(format!(
                "skipped containers/storage at {}: {e}",
                root.display()
            )),
        }
    }
    let mut usage = measure(refs);
    notes.append(&mut usage.notes);
    usage.notes = notes;
    usage
}

/// Measures the layer directories of the given stores and matches them with the records.
#[must_use]
pub fn measure(refs: Vec<StoreRefs>) -> Usage {
    let mut usage = Usage::default();
    let in_use = InUse::read(&refs);
    // Every directory on disk, with its store; measured in parallel (one tree each).
    let mut todo: Vec<(usize, String)> = Vec::new();
    for (s, r) in refs.iter().enumerate() {
        usage.notes.extend(r.notes.iter().cloned());
        let names = match engine::list_dir(&r.base) {
            Ok(n) => n,
            Err(e) => {
                usage.notes.push(format!("skipped {}: {e}", r.store));
                Vec::new()
            }
        };
        for name in names {
            if r.not_layers.contains(&name) || !is_component(&name) {
                continue;
            }
            todo.push((s, name));
        }
    }
    let measured: Vec<Option<(TreeUsage, Option<i64>, bool)>> = todo
        .par_iter()
        .map(|(s, name)| {
            let path = refs[*s].base.join(name);
            // Only directories are layer directories (Docker keeps a `backingFsBlockDev`
            // device node beside them).
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if !meta.is_dir() {
                return Some((TreeUsage::default(), None, false));
            }
            let tree = engine::tree_usage(&path, &[b"merged", b"work"])?;
            use std::os::unix::fs::MetadataExt;
            Some((tree, Some(meta.mtime()), true))
        })
        .collect();
    // Who uses which directory.
    let mut users: Vec<HashMap<&str, Vec<&str>>> = vec![HashMap::new(); refs.len()];
    for (s, r) in refs.iter().enumerate() {
        for o in &r.owners {
            for d in &o.dirs {
                let list = users[s].entry(d.as_str()).or_default();
                if !list.contains(&o.name.as_str()) {
                    list.push(o.name.as_str());
                }
            }
        }
    }
    // Per store: inode linked into several directories -> (bytes, allocated, directories).
    type Linked = HashMap<(u64, u64), (u64, u64, usize)>;
    let mut linked: Vec<Linked> = vec![HashMap::new(); refs.len()];
    let mut on_disk: Vec<std::collections::HashSet<&str>> =
        vec![std::collections::HashSet::new(); refs.len()];
    for ((s, name), m) in todo.iter().zip(measured) {
        let r = &refs[*s];
        let path = r.base.join(name);
        let Some((tree, mtime, is_dir)) = m else {
            usage.notes.push(format!(
                "layer directory '{}' vanished while being measured (a prune?): skipped",
                crate::escape::path(&path)
            ));
            continue;
        };
        if !is_dir {
            continue;
        }
        on_disk[*s].insert(name.as_str());
        for (k, (b, a)) in &tree.linked {
            linked[*s].entry(*k).or_insert((*b, *a, 0)).2 += 1;
        }
        let mut owners: Vec<String> = users[*s]
            .get(name.as_str())
            .map(|v| v.iter().map(|x| (*x).to_string()).collect())
            .unwrap_or_default();
        owners.sort();
        let record = r.records.get(name);
        let orphan = match (owners.is_empty(), record) {
            (false, _) => None,
            (true, None) => Some(Orphan::Unrecorded),
            (true, Some(_)) => Some(Orphan::Unreferenced),
        };
        usage.dirs.push(LayerDir {
            store: *s,
            id: name.clone(),
            mounted: in_use.uses(&path),
            path,
            owners,
            bytes: tree.bytes,
            allocated: tree.allocated,
            orphan,
            record: record.map(|rec| rec.what.clone()),
            engine_way: record.map(|rec| rec.engine_way),
            mtime,
        });
    }
    // References to directories that are not there.
    for (s, r) in refs.iter().enumerate() {
        let mut named: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for d in r.records.keys() {
            named.entry(d.as_str()).or_default();
        }
        for o in &r.owners {
            for d in &o.dirs {
                named.entry(d.as_str()).or_default().push(o.name.clone());
            }
        }
        for (d, mut who) in named {
            if on_disk[s].contains(d) {
                continue;
            }
            let rec = r.records.get(d);
            who.sort();
            who.dedup();
            usage.missing.push(Missing {
                store: s,
                path: r.base.join(d),
                referenced_by: who,
                record: rec.map(|x| x.what.clone()),
                mtime: rec.and_then(|x| mtime_of(&x.file)),
            });
        }
        let mut gone: BTreeMap<&Path, Vec<String>> = BTreeMap::new();
        for (path, who) in &r.gone {
            gone.entry(path.as_path()).or_default().push(who.clone());
        }
        for (path, mut who) in gone {
            who.sort();
            who.dedup();
            usage.missing.push(Missing {
                store: s,
                path: path.to_path_buf(),
                referenced_by: who,
                record: Some("a record the owner names".into()),
                mtime: None,
            });
        }
    }
    // Owners: all bytes, and the bytes only they use.
    let mut by_dir: Vec<HashMap<&str, (u64, usize)>> = vec![HashMap::new(); refs.len()];
    for d in &usage.dirs {
        by_dir[d.store].insert(d.id.as_str(), (d.bytes, d.owners.len()));
    }
    for (s, r) in refs.iter().enumerate() {
        let mut seen_names = std::collections::HashSet::new();
        for o in &r.owners {
            if !seen_names.insert(o.name.as_str()) {
                continue; // one owner listed twice (two tags of one image): counted once
            }
            let mut dirs: Vec<&str> = o.dirs.iter().map(String::as_str).collect();
            dirs.sort_unstable();
            dirs.dedup();
            let (mut bytes, mut unique) = (0, 0);
            for d in &dirs {
                if let Some((b, n)) = by_dir[s].get(d) {
                    bytes += b;
                    if *n == 1 {
                        unique += b;
                    }
                }
            }
            usage.owners.push(OwnerUsage {
                store: s,
                kind: o.kind,
                name: o.name.clone(),
                id: o.id.clone(),
                layers: dirs.len(),
                bytes,
                unique_bytes: unique,
            });
        }
    }
    usage
        .owners
        .sort_by(|a, b| (a.store, a.kind, &a.name).cmp(&(b.store, b.kind, &b.name)));
    // Store totals: an inode linked into several directories counts once.
    for (s, r) in refs.iter().enumerate() {
        let dirs: Vec<&LayerDir> = usage.dirs.iter().filter(|d| d.store == s).collect();
        let mut bytes: u64 = dirs.iter().map(|d| d.bytes).sum();
        let mut allocated: u64 = dirs.iter().map(|d| d.allocated).sum();
        for (b, a, n) in linked[s].values() {
            let extra = (*n as u64).saturating_sub(1);
            bytes = bytes.saturating_sub(b * extra);
            allocated = allocated.saturating_sub(a * extra);
        }
        usage.stores.push(StoreTotal {
            engine: r.engine,
            store: r.store.clone(),
            base: r.base.clone(),
            dirs: dirs.len(),
            bytes,
            allocated,
            shared_bytes: dirs
                .iter()
                .filter(|d| d.owners.len() > 1)
                .map(|d| d.bytes)
                .sum(),
            orphan_bytes: dirs
                .iter()
                .filter(|d| d.orphan.is_some())
                .map(|d| d.bytes)
                .sum(),
            daemons: r.daemons.clone(),
        });
    }
    usage
}

fn mtime_of(path: &Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.mtime())
}

/// The paths mounts use now: every mount point, and every layer and work directory of an
/// overlay (relative ones resolved against each store's base, as the engines mount them).
struct InUse {
    paths: Vec<PathBuf>,
}

impl InUse {
    fn read(refs: &[StoreRefs]) -> InUse {
        let text = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
        let kernel = KernelDefaults::read();
        let mut paths = Vec::new();
        for m in mountinfo::parse(&text) {
            paths.push(m.mountpoint.clone());
            if m.fstype != "overlay" {
                continue;
            }
            let Ok(stack) = mountinfo::stack_from_entry(&m, &kernel) else {
                continue;
            };
            let dirs = stack
                .layers
                .iter()
                .map(|l| l.path.clone())
                .chain(stack.workdir.clone());
            for p in dirs {
                if p.is_absolute() {
                    paths.push(engine::canonical(&p));
                } else {
                    for r in refs {
                        let full = r.base.join(&p);
                        if full.exists() {
                            paths.push(engine::canonical(&full));
                        }
                    }
                }
            }
        }
        InUse { paths }
    }

    /// Whether a mount uses `dir` or anything under it.
    fn uses(&self, dir: &Path) -> bool {
        let canon = engine::canonical(dir);
        self.paths
            .iter()
            .any(|p| p.starts_with(dir) || p.starts_with(&canon))
    }
}

/// An age for people: `42s`, `17m`, `5h`, `12d`.
#[must_use]
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7_200 => format!("{}m", s / 60),
        7_200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(119), "119s");
        assert_eq!(age(3_600), "60m");
        assert_eq!(age(7_200), "2h");
        assert_eq!(age(10 * 86_400 + 5), "10d");
    }

    #[test]
    fn ids_must_be_one_plain_component() {
        assert!(is_component("3f2a9c"));
        assert!(is_component("3f2a9c-init"));
        for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
            assert!(!is_component(bad), "{bad:?}");
        }
    }
}
