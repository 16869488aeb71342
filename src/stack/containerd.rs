//! containerd's overlayfs snapshotter, read straight from its root (no socket): `meta.db`
//! (namespaces, images, containers, the snapshot keys each namespace uses) and the
//! snapshotter's own `metadata.db` (snapshot IDs, kinds and parents), both bbolt files read
//! with [`super::bolt`]; image configs from the content store.
//!
//! This also covers Docker's containerd image store (namespace `moby`, snapshotter
//! `overlayfs`), Kubernetes CRI (`k8s.io`) and nerdctl (`default`).

use crate::stack::LayerFormat;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::bolt::{self, Bucket};
use super::engine::{
    self, Candidate, Engine, Found, ImageConfig, Kind, Mounts, hex_of, is_hex, read_json,
};
use super::{Layer, LayerIds, LayerRole, LayerStack};
use crate::error::{Error, Result};

/// containerd's default root.
pub const DEFAULT_ROOT: &str = "/var/lib/containerd";
const SNAPSHOTTER: &str = "overlayfs";

/// containerd roots: `--containerd-root`, else `root` from `/etc/containerd/config.toml` (or
/// `/var/lib/containerd`), the containerd that dockerd starts itself
/// (`<docker-root>/containerd/daemon`), and k3s's, when they exist.
#[must_use]
pub fn default_roots(docker_roots: &[PathBuf]) -> Vec<PathBuf> {
    let configured = std::fs::read_to_string("/etc/containerd/config.toml")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let l = l.trim();
                let v = l.strip_prefix("root")?.trim_start().strip_prefix('=')?;
                Some(PathBuf::from(v.trim().trim_matches('"')))
            })
        });
    let mut out = vec![configured.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))];
    for d in docker_roots {
        out.push(d.join("containerd/daemon"));
    }
    out.push(PathBuf::from("/var/lib/rancher/k3s/agent/containerd"));
    // Keep the roots that exist, and those we may not look into (so the user hears why).
    out.retain(
        |p| match std::fs::metadata(p.join("io.containerd.metadata.v1.bolt")) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
        },
    );
    out.dedup();
    out
}

#[derive(Debug, Clone)]
struct ImageRec {
    digest: String,
    created: Option<String>,
}

#[derive(Debug, Clone)]
struct CtrRec {
    image: String,
    snapshotter: String,
    key: String,
    created: Option<String>,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct SnapRec {
    backend: String,
    created: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Namespace {
    images: BTreeMap<String, ImageRec>,
    containers: BTreeMap<String, CtrRec>,
    snapshots: BTreeMap<String, SnapRec>,
}

#[derive(Debug, Clone)]
struct Snap {
    id: u64,
    kind: u8,
    parent: Option<String>,
    size: Option<i64>,
}

const KIND_VIEW: u8 = 1;
const KIND_ACTIVE: u8 = 2;

/// What `du` reads of a containerd root: the overlayfs snapshotter's snapshots, and in each
/// namespace the snapshot keys, the images' top snapshots and the containers' snapshot keys.
#[derive(Debug, Default)]
pub struct Graph {
    /// (backend key, snapshot directory number, parent backend key).
    pub snapshots: Vec<(String, u64, Option<String>)>,
    /// Per namespace: client key → backend key.
    pub keys: BTreeMap<String, BTreeMap<String, String>>,
    /// (namespace, image name, the client key of its top layer when unpacked).
    pub images: Vec<(String, String, Option<String>)>,
    /// (namespace, container ID, snapshot key, labels) of overlayfs containers.
    pub containers: Vec<(String, String, String, BTreeMap<String, String>)>,
}

/// What a `containerd:` (or Docker containerd-store) name picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A container: its snapshot over its image's.
    Container {
        /// containerd root.
        root: PathBuf,
        /// Namespace.
        ns: String,
        /// Container ID.
        id: String,
    },
    /// An image: its committed snapshots.
    Image {
        /// containerd root.
        root: PathBuf,
        /// Namespace.
        ns: String,
        /// Image name.
        name: String,
    },
    /// A snapshot by its key (`ctr snapshots prepare KEY PARENT`).
    Snapshot {
        /// containerd root.
        root: PathBuf,
        /// Namespace.
        ns: String,
        /// Client key.
        key: String,
    },
}

/// What one containerd root holds.
#[derive(Debug)]
pub struct Store {
    /// The root.
    pub root: PathBuf,
    namespaces: BTreeMap<String, Namespace>,
    snaps: HashMap<String, Snap>,
    /// The exact bytes of the names (namespaces, IDs, image names, keys) that are not UTF-8,
    /// by their shown form.
    raw: HashMap<String, Vec<u8>>,
    /// Things skipped while reading.
    pub notes: Vec<String>,
}

/// Decodes Go's `time.Time.MarshalBinary` into RFC 3339 (UTC).
#[must_use]
pub fn go_time(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 15 || !(bytes[0] == 1 || bytes[0] == 2) {
        return None;
    }
    let sec = i64::from_be_bytes(bytes[1..9].try_into().ok()?);
    let nsec = u32::from_be_bytes(bytes[9..13].try_into().ok()?);
    let unix = sec.checked_sub(62_135_596_800)?;
    Some(crate::timestamp::rfc3339_nanos(unix, nsec))
}

fn text(b: &Bucket, key: &str) -> Option<String> {
    b.text(key.as_bytes()).filter(|s| !s.is_empty())
}

fn labels_of(b: &Bucket) -> BTreeMap<String, String> {
    b.at(&[b"labels"])
        .map(|l| {
            l.values
                .iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The client's key of a backend key `<namespace>/<seq>/<key>`.
#[must_use]
pub fn client_key(backend: &str) -> &str {
    let mut parts = backend.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(key)) => key,
        _ => backend,
    }
}

/// Short names an image name also answers to: `docker.io/library/app:1` is `app:1` and
/// `library/app:1`; `docker.io/me/app:1` is `me/app:1`.
fn short_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rest) = name.strip_prefix("docker.io/") {
        out.push(rest.to_string());
        if let Some(short) = rest.strip_prefix("library/") {
            out.push(short.to_string());
        }
    }
    out
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "x86" => "386",
        other => other,
    }
}

impl Store {
    fn meta_db(root: &Path) -> PathBuf {
        root.join("io.containerd.metadata.v1.bolt/meta.db")
    }

    fn snap_dir(&self) -> PathBuf {
        self.root.join("io.containerd.snapshotter.v1.overlayfs")
    }

    /// Reads a containerd root's two databases.
    ///
    /// # Errors
    /// `meta.db` is missing, unreadable (with a sudo hint) or not a bbolt file.
    pub fn load(root: &Path) -> Result<Store> {
        let meta = bolt::read_tree(&Self::meta_db(root))?;
        let mut namespaces = BTreeMap::new();
        let mut raw = HashMap::new();
        let mut name = |bytes: &[u8]| -> String {
            let shown = String::from_utf8_lossy(bytes).into_owned();
            if std::str::from_utf8(bytes).is_err() {
                raw.insert(shown.clone(), bytes.to_vec());
            }
            shown
        };
        if let Some(v1) = meta.at(&[b"v1"]) {
            for (ns_name, ns) in &v1.buckets {
                let mut n = Namespace::default();
                if let Some(images) = ns.at(&[b"images"]) {
                    for (iname, img) in &images.buckets {
                        let Some(digest) = img.at(&[b"target"]).and_then(|t| text(t, "digest"))
                        else {
                            continue;
                        };
                        n.images.insert(
                            name(iname),
                            ImageRec {
                                digest,
                                created: img.get(b"createdat").and_then(go_time),
                            },
                        );
                    }
                }
                if let Some(ctrs) = ns.at(&[b"containers"]) {
                    for (id, c) in &ctrs.buckets {
                        n.containers.insert(
                            name(id),
                            CtrRec {
                                image: text(c, "image").unwrap_or_default(),
                                snapshotter: text(c, "snapshotter").unwrap_or_default(),
                                key: text(c, "snapshotKey").unwrap_or_default(),
                                created: c.get(b"createdat").and_then(go_time),
                                labels: labels_of(c),
                            },
                        );
                    }
                }
                if let Some(snaps) = ns.at(&[b"snapshots", SNAPSHOTTER.as_bytes()]) {
                    for (key, s) in &snaps.buckets {
                        let Some(backend) = text(s, "name") else {
                            continue;
                        };
                        n.snapshots.insert(
                            name(key),
                            SnapRec {
                                backend,
                                created: s.get(b"createdat").and_then(go_time),
                            },
                        );
                    }
                }
                namespaces.insert(name(ns_name), n);
            }
        }
        let mut store = Store {
            root: root.to_path_buf(),
            namespaces,
            snaps: HashMap::new(),
            raw,
            notes: Vec::new(),
        };
        let mdb = store.snap_dir().join("metadata.db");
        if mdb.exists() {
            let tree = bolt::read_tree(&mdb)?;
            if let Some(snaps) = tree.at(&[b"v1", b"snapshots"]) {
                for (key, s) in &snaps.buckets {
                    let Some(id) = s.uvarint(b"id") else {
                        continue;
                    };
                    store.snaps.insert(
                        String::from_utf8_lossy(key).into_owned(),
                        Snap {
                            id,
                            kind: s.get(b"kind").and_then(|k| k.first().copied()).unwrap_or(0),
                            parent: text(s, "parent"),
                            size: s.varint(b"size"),
                        },
                    );
                }
            }
        }
        Ok(store)
    }

    /// The exact bytes of `containerd:NS/NAME` and of `NAME`, when either is not UTF-8.
    fn exact(&self, ns: &str, name: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        if !self.raw.contains_key(ns) && !self.raw.contains_key(name) {
            return (None, None);
        }
        let bytes = |s: &str| {
            self.raw
                .get(s)
                .cloned()
                .unwrap_or_else(|| s.as_bytes().to_vec())
        };
        let mut stack = b"containerd:".to_vec();
        stack.extend(bytes(ns));
        stack.push(b'/');
        stack.extend(bytes(name));
        (Some(stack), self.raw.get(name).cloned())
    }

    /// The directory holding the overlayfs snapshotter's `snapshots/<n>` directories.
    #[must_use]
    pub fn snapshots_dir(&self) -> PathBuf {
        self.snap_dir().join("snapshots")
    }

    /// The snapshot graph, for `du`.
    #[must_use]
    pub fn graph(&self) -> Graph {
        let mut g = Graph {
            snapshots: self
                .snaps
                .iter()
                .map(|(k, s)| (k.clone(), s.id, s.parent.clone()))
                .collect(),
            ..Graph::default()
        };
        for (ns, n) in &self.namespaces {
            g.keys.insert(
                ns.clone(),
                n.snapshots
                    .iter()
                    .map(|(k, r)| (k.clone(), r.backend.clone()))
                    .collect(),
            );
            for name in n.images.keys() {
                let top = self
                    .image_config(ns, name)
                    .ok()
                    .and_then(|c| c.chain_ids().last().cloned())
                    .filter(|t| n.snapshots.contains_key(t));
                g.images.push((ns.clone(), name.clone(), top));
            }
            for (id, c) in &n.containers {
                if c.snapshotter == SNAPSHOTTER && !c.key.is_empty() {
                    g.containers
                        .push((ns.clone(), id.clone(), c.key.clone(), c.labels.clone()));
                }
            }
        }
        g
    }

    /// `k8s:` names of the containers the CRI plugin made, with what to pass to
    /// [`Store::stack`] and when each was made.
    #[must_use]
    pub fn k8s_items(&self) -> Vec<(String, Item, Option<String>)> {
        let mut out = Vec::new();
        for (ns, n) in &self.namespaces {
            for (id, c) in &n.containers {
                if c.snapshotter != SNAPSHOTTER || c.key.is_empty() {
                    continue;
                }
                if let Some(name) = super::k8s::name_from_labels(&c.labels) {
                    let item = Item::Container {
                        root: self.root.clone(),
                        ns: ns.clone(),
                        id: id.clone(),
                    };
                    out.push((name, item, c.created.clone()));
                }
            }
        }
        out
    }

    /// Namespaces in this root.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    fn ns(&self, ns: &str) -> Result<&Namespace> {
        self.namespaces
            .get(ns)
            .ok_or_else(|| engine::gone(&format!("namespace {ns} in {}", self.root.display())))
    }

    /// The content-store file of a digest read from `from` (meta.db or a manifest), after
    /// checking that its algorithm and hex are plain names.
    fn blob(&self, digest: &str, from: &Path) -> Result<PathBuf> {
        let (algo, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        let blobs = self.root.join("io.containerd.content.v1.content/blobs");
        let dir = engine::join_component(&blobs, algo, "digest algorithm", from)?;
        engine::join_component(&dir, hex, "digest", from)
    }

    /// The backend chain of a snapshot key, top first: (backend key, snapshot).
    fn chain(&self, ns: &str, key: &str) -> Result<Vec<(String, Snap)>> {
        let rec = self
            .ns(ns)?
            .snapshots
            .get(key)
            .ok_or_else(|| engine::gone(&format!("snapshot {key} in namespace {ns}")))?;
        let mut out = Vec::new();
        let mut next = Some(rec.backend.clone());
        while let Some(b) = next {
            if out.len() > 1000 {
                return Err(Error::BadInput(format!(
                    "snapshot parents of {key} loop in {}",
                    self.snap_dir().join("metadata.db").display()
                )));
            }
            let snap = self.snaps.get(&b).cloned().ok_or_else(|| {
                engine::gone(&format!(
                    "snapshot {b} (in {})",
                    self.snap_dir().join("metadata.db").display()
                ))
            })?;
            next = snap.parent.clone();
            out.push((b, snap));
        }
        Ok(out)
    }

    fn fs(&self, id: u64) -> PathBuf {
        self.snap_dir()
            .join("snapshots")
            .join(id.to_string())
            .join("fs")
    }

    /// The image's config, from its target (an index is narrowed to this platform's manifest,
    /// preferring one whose layers are unpacked).
    fn image_config(&self, ns: &str, name: &str) -> Result<ImageConfig> {
        let rec = self
            .ns(ns)?
            .images
            .get(name)
            .ok_or_else(|| engine::gone(&format!("image {name} in namespace {ns}")))?;
        let target = self.blob(&rec.digest, &Self::meta_db(&self.root))?;
        let mut manifest: serde_json::Value = read_json(&target)?;
        let mut manifest_file = target.clone();
        if let Some(list) = manifest.get("manifests").and_then(|m| m.as_array()) {
            let mut options: Vec<(u8, PathBuf)> = Vec::new();
            for m in list {
                let Some(d) = m.get("digest").and_then(|d| d.as_str()) else {
                    continue;
                };
                let p = m.get("platform");
                let os = p
                    .and_then(|p| p.get("os"))
                    .and_then(|o| o.as_str())
                    .unwrap_or("linux");
                let a = p
                    .and_then(|p| p.get("architecture"))
                    .and_then(|o| o.as_str())
                    .unwrap_or("");
                let blob = self.blob(d, &target)?;
                if os != "linux" || !blob.exists() {
                    continue;
                }
                options.push((u8::from(a != arch()), blob));
            }
            options.sort();
            let mut chosen = None;
            for (_, blob) in &options {
                let Ok(m) = read_json::<serde_json::Value>(blob) else {
                    continue;
                };
                let unpacked = self.config_of(&m, blob).ok().is_some_and(|c| {
                    c.chain_ids()
                        .last()
                        .is_some_and(|top| self.namespaces[ns].snapshots.contains_key(top))
                });
                if chosen.is_none() || unpacked {
                    chosen = Some(m);
                    manifest_file.clone_from(blob);
                }
                if unpacked {
                    break;
                }
            }
            manifest = chosen.ok_or_else(|| {
                Error::BadInput(format!(
                    "image {name}: no manifest for linux in the content store of {}",
                    self.root.display()
                ))
            })?;
        }
        self.config_of(&manifest, &manifest_file)
    }

    /// The image config a manifest (read from `file`) names.
    fn config_of(&self, manifest: &serde_json::Value, file: &Path) -> Result<ImageConfig> {
        let digest = manifest
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| Error::BadInput("an image manifest without a config".into()))?;
        read_json(&self.blob(digest, file)?)
    }

    /// chain ID → label, for the image's layers.
    fn labels(&self, ns: &str, image: &str) -> HashMap<String, String> {
        self.image_config(ns, image)
            .map(|c| c.chain_ids().into_iter().zip(c.layer_labels()).collect())
            .unwrap_or_default()
    }

    /// Fills in the diff ID and creation time of the image's layers (the snapshots named by
    /// their chain IDs) from the image's config.
    fn fill_image_ids(config: &engine::ImageConfig, layers: &mut [Layer]) {
        let by_chain: HashMap<String, (String, Option<String>)> = config
            .chain_ids()
            .into_iter()
            .zip(
                config
                    .rootfs
                    .diff_ids
                    .iter()
                    .cloned()
                    .zip(config.layer_created()),
            )
            .collect();
        for l in layers {
            if let Some((diff, created)) = l.ids.layer_id.as_ref().and_then(|k| by_chain.get(k)) {
                l.ids.diff_id = Some(diff.clone());
                l.ids.created.clone_from(created);
            }
        }
    }

    /// The stack of snapshot `key`, top first; `labels` maps client keys to labels.
    fn snapshot_stack(
        &self,
        ns: &str,
        key: &str,
        labels: &HashMap<String, String>,
        name: String,
    ) -> Result<LayerStack> {
        let chain = self.chain(ns, key)?;
        let mut layers = Vec::new();
        let mut workdir = None;
        for (i, (backend, snap)) in chain.iter().enumerate() {
            let ck = client_key(backend);
            let path = self.fs(snap.id);
            if i == 0 && snap.kind == KIND_VIEW && chain.len() > 1 {
                continue; // a view's own directory is not mounted when it has parents
            }
            let role = if i == 0 && snap.kind == KIND_ACTIVE {
                workdir = Some(
                    self.snap_dir()
                        .join("snapshots")
                        .join(snap.id.to_string())
                        .join("work"),
                );
                LayerRole::Upper
            } else {
                LayerRole::Lower
            };
            engine::check_layer_dir("snapshot directory", &path)?;
            let label = labels.get(ck).cloned().unwrap_or_else(|| {
                if role == LayerRole::Upper {
                    format!("snapshot {ck} (read-write)")
                } else {
                    format!("snapshot {}", short_key(ck))
                }
            });
            layers.push(Layer {
                role,
                path,
                label: Some(label),
                // The snapshot's name (an image layer's is its chain ID) and its directory.
                ids: LayerIds {
                    layer_id: Some(ck.to_string()),
                    cache_id: Some(snap.id.to_string()),
                    ..LayerIds::default()
                },
                format: LayerFormat::Kernel,
            });
        }
        Ok(LayerStack {
            name,
            layers,
            workdir,
            mountpoint: None,
            options: engine::default_options(),
        })
    }

    /// Builds the stack of an item of this store; returns notes.
    ///
    /// # Errors
    /// Records or directories are missing (deleted while reading) or unreadable.
    pub fn stack(
        &self,
        item: &Item,
        mounts: &Mounts,
        docker_name: Option<&str>,
    ) -> Result<(LayerStack, Vec<String>)> {
        let mut notes = self.notes.clone();
        let mut stack = match item {
            Item::Image { ns, name, .. } => {
                let config = self.image_config(ns, name)?;
                let chains = config.chain_ids();
                let top = chains
                    .last()
                    .ok_or_else(|| Error::BadInput(format!("image {name} has no layers")))?;
                if !self.ns(ns)?.snapshots.contains_key(top) {
                    return Err(Error::BadInput(format!(
                        "image {name} is not unpacked for the overlayfs snapshotter in \
                         namespace {ns} (unpack it with `ctr -n {ns} images unpack`)"
                    )));
                }
                let labels = chains.iter().cloned().zip(config.layer_labels()).collect();
                let mut stack =
                    self.snapshot_stack(ns, top, &labels, format!("containerd:{ns}/{name}"))?;
                Self::fill_image_ids(&config, &mut stack.layers);
                stack
            }
            Item::Container { ns, id, .. } => {
                let c =
                    self.ns(ns)?.containers.get(id).ok_or_else(|| {
                        engine::gone(&format!("container {id} in namespace {ns}"))
                    })?;
                if c.snapshotter != SNAPSHOTTER {
                    return Err(Error::BadInput(format!(
                        "container {id} uses the snapshotter '{}', not overlayfs",
                        c.snapshotter
                    )));
                }
                let who = docker_name.map_or_else(|| id.clone(), str::to_string);
                let mut labels = self.labels(ns, &c.image);
                labels.insert(c.key.clone(), format!("container {who}: read-write layer"));
                labels.insert(
                    format!("{}-init", c.key),
                    format!("container {who}: init layer (-init)"),
                );
                let mut stack =
                    self.snapshot_stack(ns, &c.key, &labels, format!("containerd:{ns}/{id}"))?;
                if let Ok(config) = self.image_config(ns, &c.image) {
                    Self::fill_image_ids(&config, &mut stack.layers);
                }
                stack
            }
            Item::Snapshot { ns, key, .. } => {
                let mut labels = HashMap::new();
                for image in self.ns(ns)?.images.keys() {
                    labels.extend(self.labels(ns, image));
                }
                self.snapshot_stack(ns, key, &labels, format!("containerd:{ns}/{key}"))?
            }
        };
        if stack.layers.is_empty() {
            return Err(Error::BadInput(format!("{} has no layers", stack.name)));
        }
        if stack.has_upper() {
            let upper = stack.layers[0].path.clone();
            if let Some(m) = mounts.find(Some(&upper), None) {
                notes.extend(engine::attach_mount(&mut stack, m, None));
            }
        }
        Ok((stack, notes))
    }

    /// Candidates for `containerd:[NS/]NAME`.
    #[must_use]
    pub fn candidates(&self) -> Vec<Candidate<Item>> {
        let mut out = Vec::new();
        for (ns, n) in &self.namespaces {
            let with_ns = |names: Vec<String>| -> Vec<String> {
                let mut all = names.clone();
                all.extend(names.iter().map(|x| format!("{ns}/{x}")));
                all
            };
            let mut owned = std::collections::HashSet::new();
            for (id, c) in &n.containers {
                if c.snapshotter != SNAPSHOTTER || c.key.is_empty() {
                    continue;
                }
                owned.insert(c.key.clone());
                let mut names = vec![id.clone()];
                if let Some(x) = c.labels.get("nerdctl/name") {
                    names.push(x.clone());
                }
                if let (Some(p), Some(k)) = (
                    c.labels.get("io.kubernetes.pod.name"),
                    c.labels.get("io.kubernetes.container.name"),
                ) {
                    names.push(format!("{p}/{k}"));
                }
                out.push(Candidate {
                    names: with_ns(names),
                    id: if is_hex(id) {
                        id.clone()
                    } else {
                        String::new()
                    },
                    rank: 0,
                    show: format!("{ns}/{id} (container)"),
                    item: Item::Container {
                        root: self.root.clone(),
                        ns: ns.clone(),
                        id: id.clone(),
                    },
                });
            }
            for (name, img) in &n.images {
                let mut names = vec![name.clone()];
                names.extend(short_names(name));
                out.push(Candidate {
                    names: with_ns(names),
                    id: hex_of(&img.digest).to_string(),
                    rank: 1,
                    show: format!("{ns}/{name} (image)"),
                    item: Item::Image {
                        root: self.root.clone(),
                        ns: ns.clone(),
                        name: name.clone(),
                    },
                });
            }
            for (key, rec) in &n.snapshots {
                if owned.contains(key) {
                    continue;
                }
                // Committed snapshots are image layers: nameable by key, not worth listing.
                let loose = self
                    .snaps
                    .get(&rec.backend)
                    .is_some_and(|s| s.kind == KIND_ACTIVE || s.kind == KIND_VIEW);
                out.push(Candidate {
                    names: with_ns(vec![key.clone()]),
                    id: String::new(),
                    rank: if loose { 2 } else { 3 },
                    show: if loose {
                        format!("{ns}/{} (snapshot)", short_key(key))
                    } else {
                        String::new()
                    },
                    item: Item::Snapshot {
                        root: self.root.clone(),
                        ns: ns.clone(),
                        key: key.clone(),
                    },
                });
            }
        }
        out
    }

    /// Candidates for `docker:NAME` from Docker's containerd image store (namespace `moby`):
    /// containers named through `names` (ID → Docker name), images by name and image ID.
    #[must_use]
    pub fn docker_candidates(&self, names: &HashMap<String, String>) -> Vec<Candidate<Item>> {
        let Some(n) = self.namespaces.get("moby") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (id, c) in &n.containers {
            if c.snapshotter != SNAPSHOTTER || c.key.is_empty() {
                continue;
            }
            let name = names.get(id).cloned();
            out.push(Candidate {
                names: name.iter().cloned().collect(),
                id: id.clone(),
                rank: 0,
                show: format!(
                    "container {} ({})",
                    name.as_deref().unwrap_or("?"),
                    engine::short(id)
                ),
                item: Item::Container {
                    root: self.root.clone(),
                    ns: "moby".into(),
                    id: id.clone(),
                },
            });
        }
        for (name, img) in &n.images {
            let mut all = Vec::new();
            if !name.starts_with("moby-dangling@") {
                all.push(name.clone());
                all.extend(short_names(name));
            }
            out.push(Candidate {
                names: all,
                id: hex_of(&img.digest).to_string(),
                rank: 1,
                show: format!("image {name} ({})", engine::short(&img.digest)),
                item: Item::Image {
                    root: self.root.clone(),
                    ns: "moby".into(),
                    name: name.clone(),
                },
            });
        }
        out
    }

    fn chain_size(&self, chain: &[(String, Snap)]) -> Option<u64> {
        let mut total = 0u64;
        for (_, s) in chain {
            let size = match s.size {
                Some(n) => u64::try_from(n).ok()?,
                None if s.kind == KIND_ACTIVE => engine::dir_size(&self.fs(s.id))?,
                None => 0,
            };
            total += size;
        }
        Some(total)
    }

    /// Every container, image and loose snapshot, for `list`. Docker's `moby` namespace is
    /// shown as Docker's, named through `docker_names` (container ID → name).
    #[must_use]
    pub fn found(
        &self,
        mounts: &Mounts,
        docker_names: &HashMap<String, String>,
        notes: &mut Vec<String>,
    ) -> Vec<Found> {
        let mut out = Vec::new();
        for (ns, n) in &self.namespaces {
            let moby = ns == "moby";
            let engine_of = if moby {
                Engine::Docker
            } else {
                Engine::Containerd
            };
            let mut owned = std::collections::HashSet::new();
            for (id, c) in &n.containers {
                if c.snapshotter != SNAPSHOTTER || c.key.is_empty() {
                    continue; // Docker's classic containers, or another snapshotter
                }
                owned.insert(c.key.clone());
                let item = Item::Container {
                    root: self.root.clone(),
                    ns: ns.clone(),
                    id: id.clone(),
                };
                let dname = docker_names.get(id).cloned();
                match (
                    self.stack(&item, mounts, dname.as_deref()),
                    self.chain(ns, &c.key),
                ) {
                    (Ok((stack, _)), Ok(chain)) => {
                        let (sb, nb) = self.exact(ns, id);
                        let exact_stack = sb.filter(|_| !(moby && dname.is_some()));
                        let exact_name = nb.filter(|_| {
                            dname.is_none() && super::k8s::name_from_labels(&c.labels).is_none()
                        });
                        out.push(Found {
                            engine: engine_of,
                            kind: Kind::Container,
                            stack: match (&dname, moby) {
                                (Some(d), true) => format!("docker:{d}"),
                                _ => format!("containerd:{ns}/{id}"),
                            },
                            name: super::k8s::name_from_labels(&c.labels)
                                .or(dname)
                                .unwrap_or_else(|| id.clone()),
                            id: id.clone(),
                            image: Some(c.image.clone()).filter(|s| !s.is_empty()),
                            layers: stack.layers.len(),
                            size: self.chain_size(&chain),
                            created: c.created.clone(),
                            mountpoint: stack.mountpoint.clone(),
                            root: self.root.clone(),
                            stack_bytes: exact_stack,
                            name_bytes: exact_name,
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        notes.push(format!("skipped containerd container {ns}/{id}: {e}"));
                    }
                }
            }
            for (name, img) in &n.images {
                let item = Item::Image {
                    root: self.root.clone(),
                    ns: ns.clone(),
                    name: name.clone(),
                };
                let top = self
                    .image_config(ns, name)
                    .ok()
                    .and_then(|c| c.chain_ids().last().cloned());
                let Some(top) = top.filter(|t| n.snapshots.contains_key(t)) else {
                    continue; // not unpacked for overlayfs: no stack to show
                };
                match (self.stack(&item, mounts, None), self.chain(ns, &top)) {
                    (Ok((stack, _)), Ok(chain)) => out.push(Found {
                        engine: engine_of,
                        kind: Kind::Image,
                        stack: if moby && name.starts_with("moby-dangling@") {
                            format!("docker:{}", engine::short(&img.digest))
                        } else if moby {
                            format!("docker:{}", short_names(name).last().unwrap_or(name))
                        } else {
                            format!("containerd:{ns}/{name}")
                        },
                        name: name.clone(),
                        id: img.digest.clone(),
                        image: None,
                        layers: stack.layers.len(),
                        size: self.chain_size(&chain),
                        created: img.created.clone(),
                        mountpoint: None,
                        root: self.root.clone(),
                        stack_bytes: self.exact(ns, name).0.filter(|_| !moby),
                        name_bytes: self.exact(ns, name).1,
                    }),
                    (Err(e), _) | (_, Err(e)) => {
                        notes.push(format!("skipped containerd image {ns}/{name}: {e}"));
                    }
                }
            }
            for (key, rec) in &n.snapshots {
                if owned.contains(key) {
                    continue;
                }
                let Some(snap) = self.snaps.get(&rec.backend) else {
                    continue;
                };
                if snap.kind != KIND_ACTIVE && snap.kind != KIND_VIEW {
                    continue; // committed snapshots are image layers
                }
                if moby && key.ends_with("-init-key") {
                    continue;
                }
                let item = Item::Snapshot {
                    root: self.root.clone(),
                    ns: ns.clone(),
                    key: key.clone(),
                };
                match (self.stack(&item, mounts, None), self.chain(ns, key)) {
                    (Ok((stack, _)), Ok(chain)) => out.push(Found {
                        engine: Engine::Containerd,
                        kind: Kind::Snapshot,
                        stack: format!("containerd:{ns}/{key}"),
                        name: key.clone(),
                        id: rec.backend.clone(),
                        image: None,
                        layers: stack.layers.len(),
                        size: self.chain_size(&chain),
                        created: rec.created.clone(),
                        mountpoint: stack.mountpoint.clone(),
                        root: self.root.clone(),
                        stack_bytes: self.exact(ns, key).0,
                        name_bytes: self.exact(ns, key).1,
                    }),
                    (Err(e), _) | (_, Err(e)) => {
                        notes.push(format!("skipped containerd snapshot {ns}/{key}: {e}"));
                    }
                }
            }
        }
        out
    }
}

fn item_ns(item: &Item) -> &str {
    match item {
        Item::Container { ns, .. } | Item::Image { ns, .. } | Item::Snapshot { ns, .. } => ns,
    }
}

fn short_key(key: &str) -> String {
    match key.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => key.to_string(),
    }
}

/// Resolves `containerd:[NAMESPACE/]NAME` against every containerd root.
///
/// # Errors
/// Unknown or ambiguous names (listing candidates), unreadable files, vanished snapshots.
pub fn resolve(
    name: &str,
    roots: &[PathBuf],
    mounts: &Mounts,
) -> Result<(LayerStack, Vec<String>)> {
    let mut stores = Vec::new();
    let mut cands: Vec<Candidate<(usize, Item)>> = Vec::new();
    for root in roots {
        match std::fs::metadata(Store::meta_db(root)) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(engine::file_error(&Store::meta_db(root), e));
            }
            Err(_) => continue,
        }
        let store = Store::load(root)?;
        let shown_root = (roots.len() > 1).then_some(root.as_path());
        cands.extend(engine::in_store(
            store.candidates(),
            stores.len(),
            shown_root,
        ));
        stores.push(store);
    }
    if stores.is_empty() {
        let looked = if roots.is_empty() {
            format!("{DEFAULT_ROOT} or <docker-root>/containerd/daemon")
        } else {
            engine::roots_list(roots)
        };
        return Err(Error::BadInput(format!(
            "no containerd root with a meta.db at {looked}: name one with --containerd-root"
        )));
    }
    // `NAMESPACE/NAME`: only that namespace, so an ID prefix works there too.
    if let Some((ns, rest)) = name.split_once('/')
        && stores.iter().any(|s| s.namespaces.contains_key(ns))
    {
        let in_ns: Vec<Candidate<(usize, Item)>> = cands
            .iter()
            .filter(|c| item_ns(&c.item.1) == ns)
            .cloned()
            .collect();
        if let Ok((i, item)) = engine::pick(&in_ns, rest, "containerd container, image or snapshot")
        {
            return stores[*i].stack(item, mounts, None);
        }
    }
    let (i, item) = engine::pick(&cands, name, "containerd container, image or snapshot")?;
    stores[*i].stack(item, mounts, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_binary_times_decode() {
        // 2026-11-27T10:49:46Z = 1795776586 unix; Go counts from year 1.
        let sec: i64 = 1_795_776_586 + 62_135_596_800;
        let mut b = vec![1u8];
        b.extend(sec.to_be_bytes());
        b.extend(5u32.to_be_bytes());
        b.extend((-1i16).to_be_bytes());
        assert_eq!(go_time(&b).unwrap(), "2026-11-27T10:49:46.000000005Z");
    }

    #[test]
    fn a_digest_that_climbs_out_of_the_content_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // What the digest would reach: a manifest of the attacker's, outside the root.
        std::fs::write(
            dir.path().join("evil.json"),
            r#"{"config":{"digest":"sha256:x"}}"#,
        )
        .unwrap();
        let mut ns = Namespace::default();
        ns.images.insert(
            "app".into(),
            ImageRec {
                digest: "sha256:../../../../evil.json".into(),
                created: None,
            },
        );
        let store = Store {
            root: root.clone(),
            namespaces: [("default".to_string(), ns)].into_iter().collect(),
            snaps: HashMap::new(),
            raw: HashMap::new(),
            notes: Vec::new(),
        };
        let e = store
            .image_config("default", "app")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("meta.db") && e.contains("digest '../../../../evil.json'"),
            "{e}"
        );
        let e = store
            .blob("../x:abc", Path::new("/m"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("digest algorithm '../x'"), "{e}");
    }

    #[test]
    fn non_utf8_names_keep_their_bytes() {
        let mut raw = HashMap::new();
        raw.insert("k\u{fffd}".to_string(), b"k\xff".to_vec());
        let store = Store {
            root: PathBuf::from("/r"),
            namespaces: BTreeMap::new(),
            snaps: HashMap::new(),
            raw,
            notes: Vec::new(),
        };
        let (stack, name) = store.exact("default", "k\u{fffd}");
        assert_eq!(stack.unwrap(), b"containerd:default/k\xff");
        assert_eq!(name.unwrap(), b"k\xff");
        assert_eq!(store.exact("default", "plain"), (None, None));
    }

    #[test]
    fn backend_keys_lose_namespace_and_sequence() {
        assert_eq!(client_key("moby/17/sha256:abc"), "sha256:abc");
        assert_eq!(client_key("k8s.io/342/abc/def"), "abc/def");
        assert_eq!(client_key("odd"), "odd");
    }
}
