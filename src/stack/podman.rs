//! containers/storage (Podman, Buildah, CRI-O) with the `overlay` driver, read straight from
//! the graphroot (no socket, no lock): `overlay-layers/layers.json`,
//! `overlay-images/images.json`, `overlay-containers/containers.json` (and their `volatile-`
//! twins), image configs from the images' big-data files.
//!
//! Layer IDs are not chain IDs: stacks follow the layers' `parent` pointers. A layer whose
//! ownership was re-mapped keeps its older content in `diff1`, `diff2`, …, which the driver
//! mounts right below `diff` although the `lower` files do not list them.

use crate::stack::LayerFormat;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::engine::{self, Candidate, Engine, Found, ImageConfig, Kind, Mounts, read_json};
use super::options::KernelDefaults;
use super::{Layer, LayerIds, LayerRole, LayerStack, MountOptions};
use crate::error::{Error, Result};

/// The rootful default graphroot.
pub const DEFAULT_ROOT: &str = "/var/lib/containers/storage";

#[derive(Debug, Default)]
struct StorageConf {
    graphroot: Option<PathBuf>,
    additional: Vec<PathBuf>,
}

/// Reads `graphroot` and `additionalimagestores` from a storage.conf (a tiny TOML subset).
fn storage_conf() -> StorageConf {
    let mut conf = StorageConf::default();
    for path in [
        "/etc/containers/storage.conf",
        "/usr/share/containers/storage.conf",
    ] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let mut in_list = false;
        for line in text.lines() {
            let l = line.split('#').next().unwrap_or("").trim();
            let quoted = |s: &str| -> Vec<PathBuf> {
                s.split(',')
                    .map(|x| {
                        x.trim()
                            .trim_matches(|c| c == '[' || c == ']')
                            .trim()
                            .trim_matches('"')
                    })
                    .filter(|x| !x.is_empty())
                    .map(PathBuf::from)
                    .collect()
            };
            if in_list {
                conf.additional.extend(quoted(l));
                in_list = !l.contains(']');
                continue;
            }
            if let Some(v) = l.strip_prefix("graphroot") {
                if let Some(v) = v.trim_start().strip_prefix('=') {
                    conf.graphroot = Some(PathBuf::from(v.trim().trim_matches('"')));
                }
            } else if let Some(v) = l.strip_prefix("additionalimagestores")
                && let Some(v) = v.trim_start().strip_prefix('=')
            {
                conf.additional.extend(quoted(v));
                in_list = v.contains('[') && !v.contains(']');
            }
        }
        break;
    }
    conf
}

/// The graphroots to look in: `--podman-root`, else the rootful one (storage.conf's
/// `graphroot` or `/var/lib/containers/storage`) and the rootless ones
/// (`$XDG_DATA_HOME/containers/storage` or `~/.local/share/containers/storage`; as root, every
/// `/home/*/.local/share/containers/storage`) that exist.
#[must_use]
pub fn default_roots() -> Vec<PathBuf> {
    let conf = storage_conf();
    let mut out = vec![
        conf.graphroot
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
    ];
    let home_store = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("containers/storage"));
    out.extend(home_store);
    if rustix::process::geteuid().is_root()
        && let Ok(homes) = std::fs::read_dir("/home")
    {
        for h in homes.flatten() {
            out.push(h.path().join(".local/share/containers/storage"));
        }
    }
    out.retain(|p| p.join("overlay-layers").exists() || p.join("overlay-images").exists());
    out.dedup();
    out
}

#[derive(Debug, Clone, Deserialize)]
struct LayerRec {
    id: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default, rename = "diff-size")]
    diff_size: Option<i64>,
    #[serde(default)]
    flags: HashMap<String, serde_json::Value>,
    /// The uncompressed digest (the image's diff ID).
    #[serde(default, rename = "diff-digest")]
    diff_digest: Option<String>,
    /// The digest and size of the blob it was pulled as (a pulled image's layers only).
    #[serde(default, rename = "compressed-diff-digest")]
    compressed_digest: Option<String>,
    #[serde(default, rename = "compressed-size")]
    compressed_size: Option<u64>,
    #[serde(default)]
    created: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct ImageRec {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default, rename = "big-data-names")]
    big_data_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct CtrRec {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    layer: String,
    #[serde(default)]
    created: Option<String>,
    /// CRI-O's pod and container names (a JSON string); Podman leaves it empty.
    #[serde(default)]
    metadata: Option<String>,
}

/// What `du` reads of a store: each layer with its parent and the store directory holding it,
/// the incomplete layers, and the top layer of each image and container.
#[derive(Debug, Default)]
pub struct Graph<'a> {
    /// (layer ID, parent ID, store directory).
    pub layers: Vec<(&'a str, Option<&'a str>, &'a Path)>,
    /// (layer ID, store directory) of layers marked incomplete.
    pub incomplete: Vec<(&'a str, &'a Path)>,
    /// (image ID, display name, top layer ID).
    pub images: Vec<(&'a str, String, Option<&'a str>)>,
    /// (container ID, display name, its layer ID, its Kubernetes name when CRI-O made it).
    pub containers: Vec<(&'a str, String, &'a str, Option<String>)>,
}

/// What one graphroot (plus its additional image stores) holds.
#[derive(Debug)]
pub struct Store {
    /// The graphroot.
    pub root: PathBuf,
    /// Layer ID → (record, the store directory that holds it).
    layers: HashMap<String, (LayerRec, PathBuf)>,
    images: BTreeMap<String, (ImageRec, PathBuf)>,
    containers: BTreeMap<String, CtrRec>,
    /// Layers skipped while reading (incomplete ones).
    incomplete: HashMap<String, PathBuf>,
    /// The options stacks of this store are mounted with.
    options: MountOptions,
    /// Things worth a note.
    pub notes: Vec<String>,
}

/// What a `podman:` name picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A container, by ID.
    Container(String),
    /// An image, by ID.
    Image(String),
}

fn read_list<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    match read_json::<Vec<T>>(path) {
        Ok(v) => Ok(v),
        Err(e) if engine::is_gone(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The file name c/storage gives a big-data key (`makeBigDataBaseName`).
#[must_use]
pub fn big_data_file(key: &str) -> String {
    if key
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase())
        && !key.is_empty()
    {
        key.to_string()
    } else {
        format!(
            "={}",
            base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
        )
    }
}

fn short_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["localhost/", "docker.io/library/", "docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            out.push(rest.to_string());
        }
    }
    out
}

impl Store {
    /// Reads a graphroot and its additional image stores.
    ///
    /// # Errors
    /// A file exists but cannot be read (naming it, with a sudo hint) or is malformed.
    pub fn load(root: &Path) -> Result<Store> {
        let mut store = Store {
            root: root.to_path_buf(),
            layers: HashMap::new(),
            images: BTreeMap::new(),
            containers: BTreeMap::new(),
            incomplete: HashMap::new(),
            options: engine::default_options(),
            notes: Vec::new(),
        };
        // Rootless stores are mounted with `userxattr` (native overlay in a user namespace).
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(root).map_err(|e| engine::file_error(root, e))?;
        if meta.uid() != 0 {
            store.options =
                MountOptions::from_options([("userxattr", None)], &KernelDefaults::read())?;
        }
        if std::fs::read_to_string(root.join("overlay/.has-mount-program"))
            .is_ok_and(|t| t.trim() == "true")
        {
            store.notes.push(format!(
                "{} uses fuse-overlayfs, whose whiteouts are `.wh.` files; they show as plain \
                 files here",
                root.display()
            ));
        }
        let mut homes = vec![root.to_path_buf()];
        let conf = storage_conf();
        if root == Path::new(DEFAULT_ROOT) || conf.graphroot.as_deref() == Some(root) {
            homes.extend(conf.additional);
        }
        for (i, home) in homes.iter().enumerate() {
            if i > 0 && !home.exists() {
                continue;
            }
            for file in ["layers.json", "volatile-layers.json"] {
                let file = home.join("overlay-layers").join(file);
                for l in read_list::<LayerRec>(&file)? {
                    // IDs become paths (`overlay/<id>/diff`): check them as they are read.
                    engine::component(&l.id, "layer ID", &file)?;
                    if let Some(p) = l.parent.as_deref().filter(|p| !p.is_empty()) {
                        engine::component(p, "parent layer ID", &file)?;
                    }
                    if l.flags
                        .get("incomplete")
                        .and_then(serde_json::Value::as_bool)
                        == Some(true)
                    {
                        store.incomplete.insert(l.id.clone(), home.clone());
                        continue;
                    }
                    store
                        .layers
                        .entry(l.id.clone())
                        .or_insert((l, home.clone()));
                }
            }
            let file = home.join("overlay-images/images.json");
            for img in read_list::<ImageRec>(&file)? {
                engine::component(&img.id, "image ID", &file)?;
                if let Some(l) = img.layer.as_deref() {
                    engine::component(l, "layer ID", &file)?;
                }
                store
                    .images
                    .entry(img.id.clone())
                    .or_insert((img, home.clone()));
            }
            if i == 0 {
                for file in ["containers.json", "volatile-containers.json"] {
                    let file = home.join("overlay-containers").join(file);
                    for c in read_list::<CtrRec>(&file)? {
                        engine::component(&c.layer, "layer ID", &file)?;
                        store.containers.insert(c.id.clone(), c);
                    }
                }
            }
        }
        Ok(store)
    }

    /// The layer graph, for `du`.
    #[must_use]
    pub fn graph(&self) -> Graph<'_> {
        let k8s = self.k8s_names();
        Graph {
            layers: self
                .layers
                .values()
                .map(|(l, home)| (l.id.as_str(), l.parent.as_deref(), home.as_path()))
                .collect(),
            incomplete: self
                .incomplete
                .iter()
                .map(|(id, home)| (id.as_str(), home.as_path()))
                .collect(),
            images: self
                .images
                .values()
                .map(|(i, _)| (i.id.as_str(), self.image_name(&i.id), i.layer.as_deref()))
                .collect(),
            containers: self
                .containers
                .values()
                .map(|c| {
                    let name = Self::container_name(c);
                    (
                        c.id.as_str(),
                        name,
                        c.layer.as_str(),
                        k8s.get(&c.id).cloned(),
                    )
                })
                .collect(),
        }
    }

    /// Container ID → `k8s:` name, for the containers CRI-O made.
    fn k8s_names(&self) -> HashMap<String, String> {
        let meta: Vec<(&str, super::k8s::CrioMetadata)> = self
            .containers
            .values()
            .filter_map(|c| {
                let m = super::k8s::crio_metadata(c.metadata.as_deref()?)?;
                Some((c.id.as_str(), m))
            })
            .collect();
        super::k8s::crio_names(meta.iter().map(|(id, m)| (*id, m)))
    }

    /// `k8s:` names of CRI-O's containers, with what to pass to [`Store::stack`] and when each
    /// was made.
    #[must_use]
    pub fn k8s_items(&self) -> Vec<(String, Item, Option<String>)> {
        let names = self.k8s_names();
        self.containers
            .values()
            .filter_map(|c| {
                let n = names.get(&c.id)?;
                Some((n.clone(), Item::Container(c.id.clone()), c.created.clone()))
            })
            .collect()
    }

    fn image_name(&self, id: &str) -> String {
        self.images
            .get(id)
            .and_then(|(i, _)| i.names.first().cloned())
            .unwrap_or_else(|| engine::short(id))
    }

    fn container_name(c: &CtrRec) -> String {
        c.names
            .first()
            .cloned()
            .unwrap_or_else(|| engine::short(&c.id))
    }

    /// Candidates for `podman:NAME`: containers, then images.
    #[must_use]
    pub fn candidates(&self) -> Vec<Candidate<Item>> {
        let mut out = Vec::new();
        for c in self.containers.values() {
            out.push(Candidate {
                names: c.names.clone(),
                id: c.id.clone(),
                rank: 0,
                show: format!(
                    "container {} ({})",
                    Self::container_name(c),
                    engine::short(&c.id)
                ),
                item: Item::Container(c.id.clone()),
            });
        }
        for (i, _) in self.images.values() {
            let mut names = i.names.clone();
            for n in &i.names {
                names.extend(short_names(n));
            }
            out.push(Candidate {
                names,
                id: i.id.clone(),
                rank: 1,
                show: format!(
                    "image {} ({})",
                    self.image_name(&i.id),
                    engine::short(&i.id)
                ),
                item: Item::Image(i.id.clone()),
            });
        }
        out
    }

    /// The image's config, from its big-data file `sha256:<config digest>`.
    fn config(&self, id: &str) -> Option<ImageConfig> {
        let (img, home) = self.images.get(id)?;
        let key = img
            .big_data_names
            .iter()
            .find(|k| k.starts_with("sha256:"))?;
        let images = home.join("overlay-images");
        let file = images.join("images.json");
        let dir = engine::join_component(&images, &img.id, "image ID", &file).ok()?;
        let name = big_data_file(key);
        read_json(&engine::join_component(&dir, &name, "big-data name", &file).ok()?).ok()
    }

    /// The layer chain from `top` down to the base: (layer ID, its store).
    fn chain(&self, top: &str, what: &str) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let mut next = Some(top.to_string());
        while let Some(id) = next {
            if out.len() > 1000 {
                return Err(Error::BadInput(format!("the layer parents of {what} loop")));
            }
            if self.incomplete.contains_key(&id) {
                return Err(Error::BadInput(format!(
                    "layer {} of {what} is incomplete (being written or half-deleted); try again",
                    engine::short(&id)
                )));
            }
            let (rec, home) = self
                .layers
                .get(&id)
                .ok_or_else(|| engine::gone(&format!("layer {} of {what}", engine::short(&id))))?;
            next = rec.parent.clone().filter(|p| !p.is_empty());
            out.push((id, home.clone()));
        }
        Ok(out)
    }

    /// One layer's directories in mount order: `diff`, then `diff1`, `diff2`, ….
    fn layer_dirs(home: &Path, id: &str) -> Result<Vec<PathBuf>> {
        let records = home.join("overlay-layers/layers.json");
        let base = engine::join_component(&home.join("overlay"), id, "layer ID", &records)?;
        engine::check_layer_dir("layer directory", &base.join("diff"))?;
        let mut out = vec![base.join("diff")];
        for n in 1.. {
            let d = base.join(format!("diff{n}"));
            if !d.is_dir() {
                break;
            }
            out.push(d);
        }
        Ok(out)
    }

    /// What layers.json records of layer `id`.
    fn layer_ids(&self, id: &str) -> LayerIds {
        let rec = self.layers.get(id).map(|(r, _)| r);
        LayerIds {
            layer_id: Some(id.to_string()),
            cache_id: None,
            diff_id: rec.and_then(|r| r.diff_digest.clone()),
            created: rec.and_then(|r| r.created.clone()),
            digest: rec.and_then(|r| r.compressed_digest.clone()),
            blob_bytes: rec.and_then(|r| r.compressed_size),
        }
    }

    /// Layers for a chain (top first), labelled; `skip_first_diff` leaves out the top layer's
    /// `diff` (a container's upper).
    fn chain_layers(
        &self,
        chain: &[(String, PathBuf)],
        labels: &[String],
        skip_first_diff: bool,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Layer>> {
        let mut out = Vec::new();
        for (i, (id, home)) in chain.iter().enumerate() {
            if home
                .join("overlay")
                .join(id)
                .join("composefs-data/composefs.blob")
                .exists()
            {
                notes.push(format!(
                    "layer {} is a composefs layer: its metadata is in an EROFS blob, which this \
                     view does not read",
                    engine::short(id)
                ));
            }
            let label = labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("layer {}", engine::short(id)));
            for (n, dir) in Self::layer_dirs(home, id)?.into_iter().enumerate() {
                if n == 0 && i == 0 && skip_first_diff {
                    continue;
                }
                out.push(Layer {
                    role: LayerRole::Lower,
                    path: dir,
                    label: Some(if n == 0 {
                        label.clone()
                    } else {
                        format!("{label} (diff{n}: content before an ID re-mapping)")
                    }),
                    ids: self.layer_ids(id),
                    format: LayerFormat::Kernel,
                });
            }
        }
        Ok(out)
    }

    /// Top-first labels for the image's layers (chain order).
    fn image_labels(&self, image: &str, chain_len: usize) -> Vec<String> {
        let mut labels = self
            .config(image)
            .map(|c| c.layer_labels())
            .unwrap_or_default();
        if labels.len() != chain_len {
            labels = (0..chain_len).map(|k| format!("layer {k}")).collect();
        }
        labels.reverse();
        labels
    }

    /// Builds the stack of an item; returns notes.
    ///
    /// # Errors
    /// Records or layer directories are missing (deleted while reading) or unreadable.
    pub fn stack(&self, item: &Item, mounts: &Mounts) -> Result<(LayerStack, Vec<String>)> {
        let mut notes = self.notes.clone();
        match item {
            Item::Image(id) => {
                let (img, _) = self
                    .images
                    .get(id)
                    .ok_or_else(|| engine::gone(&format!("image {}", engine::short(id))))?;
                let name = self.image_name(id);
                let top = img
                    .layer
                    .clone()
                    .ok_or_else(|| Error::BadInput(format!("image {name} has no layers")))?;
                let chain = self.chain(&top, &format!("image {name}"))?;
                let labels = self.image_labels(id, chain.len());
                let layers = self.chain_layers(&chain, &labels, false, &mut notes)?;
                Ok((
                    LayerStack {
                        name: format!("podman:{name}"),
                        layers,
                        workdir: None,
                        mountpoint: None,
                        options: self.options.clone(),
                    },
                    notes,
                ))
            }
            Item::Container(id) => {
                let c = self
                    .containers
                    .get(id)
                    .ok_or_else(|| engine::gone(&format!("container {}", engine::short(id))))?;
                let name = Self::container_name(c);
                let what = format!("container {name}");
                let chain = self.chain(&c.layer, &what)?;
                let mut labels = self.image_labels(&c.image, chain.len().saturating_sub(1));
                labels.insert(0, format!("container {name}: read-write layer"));
                let (_, home) = &chain[0];
                let base = home.join("overlay").join(&c.layer);
                let upper = base.join("diff");
                engine::check_layer_dir("layer directory", &upper)?;
                let mut layers = vec![Layer {
                    role: LayerRole::Upper,
                    path: upper.clone(),
                    label: Some(labels[0].clone()),
                    ids: self.layer_ids(&c.layer),
                    format: LayerFormat::Kernel,
                }];
                layers.extend(self.chain_layers(&chain, &labels, true, &mut notes)?);
                let mut stack = LayerStack {
                    name: format!("podman:{name}"),
                    layers,
                    workdir: Some(base.join("work")),
                    mountpoint: None,
                    options: self.options.clone(),
                };
                if let Some(m) = mounts.find(Some(&upper), Some(&base.join("merged"))) {
                    notes.extend(engine::attach_mount(
                        &mut stack,
                        m,
                        Some(&home.join("overlay")),
                    ));
                }
                Ok((stack, notes))
            }
        }
    }

    fn chain_size(&self, chain: &[(String, PathBuf)]) -> Option<u64> {
        chain
            .iter()
            .map(|(id, _)| {
                self.layers
                    .get(id)
                    .and_then(|(l, _)| l.diff_size)
                    .and_then(|n| u64::try_from(n).ok())
            })
            .sum()
    }

    /// Every container and image, for `list`.
    #[must_use]
    pub fn found(&self, mounts: &Mounts, notes: &mut Vec<String>) -> Vec<Found> {
        let mut out = Vec::new();
        let k8s = self.k8s_names();
        for c in self.containers.values() {
            let name = Self::container_name(c);
            let item = Item::Container(c.id.clone());
            match (self.stack(&item, mounts), self.chain(&c.layer, &name)) {
                (Ok((stack, _)), Ok(chain)) => {
                    let upper = engine::dir_size(&stack.layers[0].path);
                    let size = upper.zip(self.chain_size(&chain[1..])).map(|(a, b)| a + b);
                    out.push(Found {
                        engine: Engine::Podman,
                        kind: Kind::Container,
                        stack: format!("podman:{name}"),
                        name: k8s.get(&c.id).cloned().unwrap_or(name),
                        id: c.id.clone(),
                        image: Some(self.image_name(&c.image)),
                        layers: stack.layers.len(),
                        size,
                        created: c.created.clone(),
                        mountpoint: stack.mountpoint.clone(),
                        root: self.root.clone(),
                        stack_bytes: None,
                        name_bytes: None,
                    });
                }
                (Err(e), _) | (_, Err(e)) => {
                    notes.push(format!("skipped podman container {name}: {e}"))
                }
            }
        }
        for (img, _) in self.images.values() {
            let name = self.image_name(&img.id);
            let item = Item::Image(img.id.clone());
            let Some(top) = img.layer.as_deref() else {
                continue;
            };
            match (self.stack(&item, mounts), self.chain(top, &name)) {
                (Ok((stack, _)), Ok(chain)) => out.push(Found {
                    engine: Engine::Podman,
                    kind: Kind::Image,
                    stack: format!(
                        "podman:{}",
                        if img.names.is_empty() {
                            engine::short(&img.id)
                        } else {
                            name.clone()
                        }
                    ),
                    name,
                    id: img.id.clone(),
                    image: None,
                    layers: stack.layers.len(),
                    size: self.chain_size(&chain),
                    created: img.created.clone(),
                    mountpoint: None,
                    root: self.root.clone(),
                    stack_bytes: None,
                    name_bytes: None,
                }),
                (Err(e), _) | (_, Err(e)) => {
                    notes.push(format!("skipped podman image {name}: {e}"))
                }
            }
        }
        out
    }
}

/// Resolves `podman:NAME` against every graphroot.
///
/// # Errors
/// Unknown or ambiguous names (listing candidates), unreadable files, vanished layers.
pub fn resolve(
    name: &str,
    roots: &[PathBuf],
    mounts: &Mounts,
) -> Result<(LayerStack, Vec<String>)> {
    let mut stores = Vec::new();
    let mut cands: Vec<Candidate<(usize, Item)>> = Vec::new();
    for root in roots {
        if !root.exists() {
            continue;
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
        return Err(Error::BadInput(format!(
            "no containers/storage graphroot at {}: name one with --podman-root",
            if roots.is_empty() {
                DEFAULT_ROOT.to_string()
            } else {
                engine::roots_list(roots)
            }
        )));
    }
    let (i, item) = engine::pick(&cands, name, "Podman container or image")?;
    stores[*i].stack(item, mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_data_names_are_plain_or_base64() {
        assert_eq!(big_data_file("manifest"), "manifest");
        assert_eq!(
            big_data_file(
                "sha256:e8a65df63e7d71448e672343c319a5b86ee5ec4174682935d70c680dce0f70b1"
            ),
            "=c2hhMjU2OmU4YTY1ZGY2M2U3ZDcxNDQ4ZTY3MjM0M2MzMTlhNWI4NmVlNWVjNDE3NDY4MjkzNWQ3MGM2ODBkY2UwZjcwYjE="
        );
    }
}
