//! Docker's classic `overlay2` storage, read straight from its data-root (no socket): images
//! from `image/overlay2/imagedb` and `repositories.json`, layers from `layerdb`, containers
//! from `containers/<id>/config.v2.json` and `layerdb/mounts/<id>`.
//!
//! An image's stack is its layers, top first, each labelled with the instruction that made it.
//! A container's stack is its read-write layer (`overlay2/<mount-id>/diff`), its `-init`
//! layer, then its image's layers. Containers made by Docker's containerd image store
//! (`Driver` is a snapshotter name) are found through containerd's `moby` namespace.

use crate::stack::LayerFormat;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::engine::{
    self, Candidate, Engine, Found, ImageConfig, Kind, Mounts, hex_of, is_hex, read_json,
    read_text, short,
};
use super::{Layer, LayerIds, LayerRole, LayerStack};
use crate::error::{Error, Result};

/// Docker's default data-root.
pub const DEFAULT_ROOT: &str = "/var/lib/docker";

/// Where Docker keeps its data: `--docker-root`, else `data-root` from
/// `/etc/docker/daemon.json`, else `/var/lib/docker`; plus rootless Docker's
/// `~/.local/share/docker` when it exists.
#[must_use]
pub fn default_roots() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let configured = std::fs::read("/etc/docker/daemon.json")
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("data-root")
                .and_then(|r| r.as_str())
                .map(PathBuf::from)
        });
    out.push(configured.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)));
    if let Some(home) = std::env::var_os("HOME") {
        let rootless = PathBuf::from(home).join(".local/share/docker");
        if rootless.is_dir() {
            out.push(rootless);
        }
    }
    out
}

/// One image in the overlay2 store.
#[derive(Debug, Clone)]
pub struct Image {
    /// Image ID hex (sha256 of the config).
    pub id: String,
    /// Tags (`app:1`) and digests (`app@sha256:…`).
    pub refs: Vec<String>,
    /// The config.
    pub config: ImageConfig,
    /// Parent image (legacy builder's intermediate images).
    pub parent: Option<String>,
}

/// One container.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container ID hex.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image ID hex.
    pub image: String,
    /// Created (RFC 3339).
    pub created: Option<String>,
    /// Storage driver (`overlay2`, or a snapshotter such as `overlayfs`).
    pub driver: String,
}

impl Container {
    /// Whether its layers are in the overlay2 graphdriver (else in containerd's snapshotter).
    #[must_use]
    pub fn is_overlay2(&self) -> bool {
        self.driver == "overlay2" || self.driver.is_empty()
    }
}

#[derive(Deserialize)]
struct ConfigV2 {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "Created", default)]
    created: Option<String>,
    #[serde(rename = "Driver", default)]
    driver: String,
}

#[derive(Deserialize, Default)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

/// What is in one Docker data-root.
#[derive(Debug)]
pub struct Store {
    /// The data-root.
    pub root: PathBuf,
    /// Images by ID hex.
    pub images: BTreeMap<String, Image>,
    /// Containers by ID hex.
    pub containers: BTreeMap<String, Container>,
    /// Things skipped while reading, for a note.
    pub notes: Vec<String>,
}

/// Something a `docker:` name can pick.
#[derive(Debug, Clone)]
pub enum Item {
    /// An overlay2 container.
    Container(String),
    /// An overlay2 image.
    Image(String),
    /// A container or image in Docker's containerd image store: the containerd store it was
    /// read from (an index into the roots read), and the item.
    Containerd(usize, super::containerd::Item),
}

impl Store {
    fn image_dir(&self) -> PathBuf {
        self.root.join("image/overlay2")
    }

    fn layer_dir(&self) -> PathBuf {
        self.root.join("overlay2")
    }

    /// Reads a data-root. A root without Docker's directories is an empty store.
    ///
    /// # Errors
    /// A file exists but cannot be read (the message names it and suggests sudo).
    pub fn load(root: &Path) -> Result<Store> {
        let mut store = Store {
            root: root.to_path_buf(),
            images: BTreeMap::new(),
            containers: BTreeMap::new(),
            notes: Vec::new(),
        };
        let image_dir = store.image_dir();
        let repos_path = image_dir.join("repositories.json");
        let repos: Repositories = match read_json(&repos_path) {
            Ok(r) => r,
            Err(e) if engine::is_gone(&e) => Repositories::default(),
            Err(e) => return Err(e),
        };
        let mut refs: HashMap<String, Vec<String>> = HashMap::new();
        for tags in repos.repositories.values() {
            for (reference, id) in tags {
                refs.entry(hex_of(id).to_string())
                    .or_default()
                    .push(reference.clone());
            }
        }
        let content = image_dir.join("imagedb/content/sha256");
        // Read in parallel: with a cold cache each small file waits on the disk.
        let ids: Vec<String> = engine::list_dir(&content)?
            .into_iter()
            .filter(|id| is_hex(id))
            .collect();
        let read: Vec<(Result<ImageConfig>, Option<String>)> = engine::par_map(&ids, |id| {
            let parent = read_text(
                &image_dir
                    .join("imagedb/metadata/sha256")
                    .join(id)
                    .join("parent"),
            )
            .ok()
            .map(|p| hex_of(&p).to_string());
            (read_json(&content.join(id)), parent)
        });
        for (id, (config, parent)) in ids.into_iter().zip(read) {
            let config: ImageConfig = match config {
                Ok(c) => c,
                Err(e) if engine::is_gone(&e) => {
                    store.notes.push(format!(
                        "image {} vanished while being read (a prune?)",
                        short(&id)
                    ));
                    continue;
                }
                Err(e @ Error::BadInput(_)) => {
                    store.notes.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut r = refs.remove(&id).unwrap_or_default();
            r.sort();
            store.images.insert(
                id.clone(),
                Image {
                    id,
                    refs: r,
                    config,
                    parent,
                },
            );
        }
        let containers = root.join("containers");
        let ids: Vec<String> = engine::list_dir(&containers)?
            .into_iter()
            .filter(|id| is_hex(id))
            .collect();
        let read: Vec<Result<ConfigV2>> = engine::par_map(&ids, |id| {
            read_json(&containers.join(id).join("config.v2.json"))
        });
        for (id, c) in ids.into_iter().zip(read) {
            let file = containers.join(&id).join("config.v2.json");
            let c: ConfigV2 = match c {
                Ok(c) => c,
                Err(e) if engine::is_gone(&e) => continue,
                Err(e @ Error::BadInput(_)) => {
                    store.notes.push(e.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            let cid = if c.id.is_empty() { id.clone() } else { c.id };
            if let Err(e) = engine::component(&cid, "container ID", &file) {
                store.notes.push(e.to_string());
                continue;
            }
            store.containers.insert(
                cid.clone(),
                Container {
                    id: cid,
                    name: c.name.trim_start_matches('/').to_string(),
                    image: hex_of(&c.image).to_string(),
                    created: c.created,
                    driver: c.driver,
                },
            );
        }
        Ok(store)
    }

    /// The image's display name: its first tag, else its short ID.
    #[must_use]
    pub fn image_name(&self, id: &str) -> String {
        self.images
            .get(id)
            .and_then(|i| i.refs.iter().find(|r| !r.contains('@')).or(i.refs.first()))
            .cloned()
            .unwrap_or_else(|| short(id))
    }

    /// Candidates for `docker:NAME`: containers (by name), then images (by tag).
    #[must_use]
    pub fn candidates(&self) -> Vec<Candidate<Item>> {
        let mut out = Vec::new();
        for c in self.containers.values() {
            if !c.is_overlay2() {
                continue; // the containerd image store's: named through the moby namespace
            }
            out.push(Candidate {
                names: vec![c.name.clone()],
                id: c.id.clone(),
                rank: 0,
                show: format!("container {} ({})", c.name, short(&c.id)),
                item: Item::Container(c.id.clone()),
            });
        }
        let listed: std::collections::HashSet<&str> =
            self.listed_images().iter().map(|i| i.id.as_str()).collect();
        for i in self.images.values() {
            let mut names = i.refs.clone();
            // `docker.io/library/app:1` and `library/app:1` name `app:1` too.
            for r in &i.refs {
                names.push(format!("docker.io/library/{r}"));
                names.push(format!("docker.io/{r}"));
                names.push(format!("library/{r}"));
            }
            out.push(Candidate {
                names,
                id: i.id.clone(),
                rank: 1,
                show: if listed.contains(i.id.as_str()) {
                    format!("image {} ({})", self.image_name(&i.id), short(&i.id))
                } else {
                    String::new()
                },
                item: Item::Image(i.id.clone()),
            });
        }
        out
    }

    /// The layerdb directory of a chain ID read from `from` (an image config or a `parent`
    /// file), after checking the ID is a plain name.
    fn chain_path(&self, chain: &str, from: &Path) -> Result<PathBuf> {
        engine::join_component(
            &self.image_dir().join("layerdb/sha256"),
            hex_of(chain),
            "layer chain ID",
            from,
        )
    }

    /// The layer directory (`overlay2/<cache-id>/diff`) of a chain ID read from `from`.
    fn chain_layer(&self, chain: &str, from: &Path) -> Result<PathBuf> {
        let file = self.chain_path(chain, from)?.join("cache-id");
        let cache = read_text(&file)?;
        Ok(engine::join_component(&self.layer_dir(), &cache, "cache-id", &file)?.join("diff"))
    }

    /// What layerdb records of a chain ID: the chain ID, its cache ID and its diff ID.
    fn chain_ids(&self, chain: &str, from: &Path) -> LayerIds {
        let dir = self.chain_path(chain, from).ok();
        let read = |name: &str| dir.as_ref().and_then(|d| read_text(&d.join(name)).ok());
        LayerIds {
            layer_id: Some(chain.to_string()),
            cache_id: read("cache-id"),
            diff_id: read("diff"),
            ..LayerIds::default()
        }
    }

    /// The image config file of an image, where its layers' diff IDs come from.
    fn config_file(&self, id: &str) -> PathBuf {
        self.image_dir().join("imagedb/content/sha256").join(id)
    }

    /// The image's layers, top first, labelled from its history.
    ///
    /// # Errors
    /// A layer's records or directory are missing (deleted while reading) or unreadable.
    pub fn image_layers(&self, id: &str) -> Result<Vec<Layer>> {
        let image = self
            .images
            .get(id)
            .ok_or_else(|| engine::gone(&format!("image {}", short(id))))?;
        let labels = image.config.layer_labels();
        let created = image.config.layer_created();
        let mut layers = Vec::new();
        let from = self.config_file(id);
        for ((chain, label), created) in image.config.chain_ids().iter().zip(labels).zip(created) {
            let path = self.chain_layer(chain, &from).map_err(|e| {
                engine::gone_if_missing(e, || {
                    format!(
                        "layer {} of image {}",
                        short(hex_of(chain)),
                        self.image_name(id)
                    )
                })
            })?;
            engine::check_layer_dir("layer directory", &path)?;
            layers.push(Layer {
                role: LayerRole::Lower,
                path,
                label: Some(label),
                ids: LayerIds {
                    created,
                    ..self.chain_ids(chain, &from)
                },
                format: LayerFormat::Kernel,
            });
        }
        layers.reverse();
        Ok(layers)
    }

    /// Sum of the recorded layer sizes of an image.
    #[must_use]
    pub fn image_size(&self, id: &str) -> Option<u64> {
        let image = self.images.get(id)?;
        let mut total = 0;
        let from = self.config_file(id);
        for chain in image.config.chain_ids() {
            total += read_text(&self.chain_path(&chain, &from).ok()?.join("size"))
                .ok()?
                .parse::<u64>()
                .ok()?;
        }
        Some(total)
    }

    /// A stack for an image (read-only, lowers only).
    ///
    /// # Errors
    /// As [`Store::image_layers`].
    pub fn image_stack(&self, id: &str) -> Result<LayerStack> {
        let layers = self.image_layers(id)?;
        Ok(LayerStack {
            name: format!("docker:{}", self.image_name(id)),
            layers,
            workdir: None,
            mountpoint: None,
            options: engine::default_options(),
        })
    }

    /// A stack for an overlay2 container: read-write layer, `-init`, then the image's layers;
    /// with the overlay's mount point and options when it is mounted now. Returns notes.
    ///
    /// # Errors
    /// The container's layer records are missing or unreadable.
    pub fn container_stack(&self, id: &str, mounts: &Mounts) -> Result<(LayerStack, Vec<String>)> {
        let c = self
            .containers
            .get(id)
            .ok_or_else(|| engine::gone(&format!("container {}", short(id))))?;
        let mut notes = Vec::new();
        let mounts_dir = self.image_dir().join("layerdb/mounts").join(id);
        let mount_file = mounts_dir.join("mount-id");
        let mount_id = read_text(&mount_file)
            .map_err(|e| engine::gone_if_missing(e, || format!("container {}'s layer", c.name)))?;
        let init_file = mounts_dir.join("init-id");
        let init_id = read_text(&init_file).ok().filter(|i| !i.is_empty());
        let mut parent_file = mounts_dir.join("parent");
        let parent = read_text(&parent_file).ok();
        let base = engine::join_component(&self.layer_dir(), &mount_id, "mount-id", &mount_file)?;
        let upper = base.join("diff");
        engine::check_layer_dir("layer directory", &upper)?;
        let mut layers = vec![Layer {
            role: LayerRole::Upper,
            path: upper.clone(),
            label: Some(format!("container {}: read-write layer", c.name)),
            ids: LayerIds {
                cache_id: Some(mount_id.clone()),
                created: c.created.clone(),
                ..LayerIds::default()
            },
            format: LayerFormat::Kernel,
        }];
        if let Some(init) = init_id {
            let path = engine::join_component(&self.layer_dir(), &init, "init-id", &init_file)?
                .join("diff");
            engine::check_layer_dir("layer directory", &path)?;
            layers.push(Layer {
                role: LayerRole::Lower,
                path,
                label: Some(format!("container {}: init layer (-init)", c.name)),
                ids: LayerIds {
                    cache_id: Some(init.clone()),
                    created: c.created.clone(),
                    ..LayerIds::default()
                },
                format: LayerFormat::Kernel,
            });
        }
        // The image's layers, from the mount's parent chain (which is what was mounted), with
        // labels from the image's history.
        let mut labels: HashMap<String, (String, Option<String>)> = HashMap::new();
        if let Some(image) = self.images.get(&c.image) {
            for ((chain, label), created) in image
                .config
                .chain_ids()
                .into_iter()
                .zip(image.config.layer_labels())
                .zip(image.config.layer_created())
            {
                labels.insert(chain, (label, created));
            }
        }
        let mut chain = parent.filter(|p| !p.is_empty());
        let mut guard = 0;
        while let Some(ch) = chain {
            guard += 1;
            if guard > 1000 {
                return Err(Error::BadInput(format!(
                    "layerdb parents of container {} loop",
                    c.name
                )));
            }
            let path = self.chain_layer(&ch, &parent_file).map_err(|e| {
                engine::gone_if_missing(e, || {
                    format!("layer {} of container {}", short(hex_of(&ch)), c.name)
                })
            })?;
            engine::check_layer_dir("layer directory", &path)?;
            let (label, created) = labels
                .get(&ch)
                .cloned()
                .unwrap_or_else(|| (format!("layer {}", short(hex_of(&ch))), None));
            layers.push(Layer {
                role: LayerRole::Lower,
                path,
                label: Some(label),
                ids: LayerIds {
                    created,
                    ..self.chain_ids(&ch, &parent_file)
                },
                format: LayerFormat::Kernel,
            });
            parent_file = self.chain_path(&ch, &parent_file)?.join("parent");
            chain = read_text(&parent_file).ok().filter(|p| !p.is_empty());
        }
        // Cross-check with the `lower` file the graphdriver mounts from.
        // The same paths spelled the same way need no resolving (`list` does this per container).
        if let Some(lower) = self.lower_file(&base)?
            && !layers[1..].iter().map(|l| &l.path).eq(lower.iter())
        {
            let ours: Vec<PathBuf> = layers[1..]
                .iter()
                .map(|l| engine::canonical(&l.path))
                .collect();
            let theirs: Vec<PathBuf> = lower.iter().map(|p| engine::canonical(p)).collect();
            if ours != theirs {
                notes.push(format!(
                    "'{}' lists other layers than layerdb; using the lower file",
                    base.join("lower").display()
                ));
                let by_path: HashMap<PathBuf, (Option<String>, LayerIds)> = layers[1..]
                    .iter()
                    .map(|l| (engine::canonical(&l.path), (l.label.clone(), l.ids.clone())))
                    .collect();
                layers.truncate(1);
                for p in lower {
                    let (label, ids) = by_path
                        .get(&engine::canonical(&p))
                        .cloned()
                        .unwrap_or_default();
                    layers.push(Layer {
                        role: LayerRole::Lower,
                        path: p,
                        label,
                        ids,
                        format: LayerFormat::Kernel,
                    });
                }
            }
        }
        let mut stack = LayerStack {
            name: format!("docker:{}", c.name),
            layers,
            workdir: Some(base.join("work")),
            mountpoint: None,
            options: engine::default_options(),
        };
        if let Some(m) = mounts.find(Some(&upper), Some(&base.join("merged"))) {
            notes.extend(engine::attach_mount(&mut stack, m, Some(&self.layer_dir())));
        }
        Ok((stack, notes))
    }

    /// The `lower` file of a layer directory, resolved through `l/` (never following the
    /// links: their targets are read and checked to be `../<id>/diff`). `None` when there is
    /// no such file or a link is missing (the layerdb records are used instead).
    ///
    /// # Errors
    /// The file names something other than `l/<name>`, or a link points anywhere but
    /// `../<id>/diff`: the message names the file and the value.
    fn lower_file(&self, layer_base: &Path) -> Result<Option<Vec<PathBuf>>> {
        let file = layer_base.join("lower");
        let Ok(text) = read_text(&file) else {
            return Ok(None);
        };
        let links = self.layer_dir().join("l");
        let mut out = Vec::new();
        for part in text.split(':').filter(|p| !p.is_empty()) {
            let link_path = part
                .strip_prefix("l/")
                .and_then(|link| engine::join_component(&links, link, "", &file).ok())
                .ok_or_else(|| engine::not_a_component(part, "lower layer link", &file))?;
            let Ok(target) = std::fs::read_link(&link_path) else {
                return Ok(None);
            };
            let t = target.to_string_lossy();
            let id = t
                .strip_prefix("../")
                .and_then(|t| t.strip_suffix("/diff"))
                .ok_or_else(|| engine::not_a_component(&t, "link target", &link_path))?;
            out.push(
                engine::join_component(&self.layer_dir(), id, "link target", &link_path)?
                    .join("diff"),
            );
        }
        Ok(Some(out))
    }

    /// Images worth listing: tagged ones, and untagged ones no other image builds on.
    pub fn listed_images(&self) -> Vec<&Image> {
        let parents: std::collections::HashSet<&str> = self
            .images
            .values()
            .filter_map(|i| i.parent.as_deref())
            .collect();
        self.images
            .values()
            .filter(|i| !i.refs.is_empty() || !parents.contains(i.id.as_str()))
            .collect()
    }

    /// Every container and listed image of this store, for `list`.
    #[must_use]
    pub fn found(&self, mounts: &Mounts, notes: &mut Vec<String>) -> Vec<Found> {
        let mut out = Vec::new();
        // Each container's records and read-write layer are read in parallel (cold, each read
        // waits on the disk), then reported in order.
        let containers: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| c.is_overlay2()) // else listed through containerd's moby namespace
            .collect();
        let stacks: Vec<_> = engine::par_map(&containers, |c| {
            self.container_stack(&c.id, mounts).map(|(stack, _)| {
                let upper = engine::dir_size(&stack.layers[0].path);
                let size = upper.zip(self.image_size(&c.image)).map(|(a, b)| a + b);
                (stack, size)
            })
        });
        for (c, result) in containers.into_iter().zip(stacks) {
            match result {
                Ok((stack, size)) => {
                    out.push(Found {
                        engine: Engine::Docker,
                        kind: Kind::Container,
                        stack: format!("docker:{}", c.name),
                        name: c.name.clone(),
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
                Err(e) => notes.push(format!("skipped docker container {}: {e}", c.name)),
            }
        }
        let images = self.listed_images();
        let read: Vec<_> = engine::par_map(&images, |i| {
            self.image_layers(&i.id)
                .map(|layers| (layers.len(), self.image_size(&i.id)))
        });
        for (i, result) in images.into_iter().zip(read) {
            let name = self.image_name(&i.id);
            match result {
                Ok((layers, size)) => out.push(Found {
                    engine: Engine::Docker,
                    kind: Kind::Image,
                    stack: format!(
                        "docker:{}",
                        if i.refs.is_empty() {
                            short(&i.id)
                        } else {
                            name.clone()
                        }
                    ),
                    name,
                    id: i.id.clone(),
                    image: None,
                    layers,
                    size,
                    created: i.config.created.clone(),
                    mountpoint: None,
                    root: self.root.clone(),
                    stack_bytes: None,
                    name_bytes: None,
                }),
                Err(e) => notes.push(format!("skipped docker image {name}: {e}")),
            }
        }
        out
    }
}

/// Resolves `docker:NAME` against every Docker data-root (and Docker's containerd image store).
///
/// # Errors
/// Unknown or ambiguous names (listing candidates), unreadable files, vanished layers.
pub fn resolve(
    name: &str,
    roots: &[PathBuf],
    containerd_roots: &[PathBuf],
    mounts: &Mounts,
) -> Result<(LayerStack, Vec<String>)> {
    let mut stores = Vec::new();
    let mut missing = Vec::new();
    for root in roots {
        if !root.exists() {
            missing.push(root.display().to_string());
            continue;
        }
        stores.push(Store::load(root)?);
    }
    if stores.is_empty() {
        return Err(Error::BadInput(format!(
            "no Docker data-root at {}: name another with --docker-root",
            missing.join(", ")
        )));
    }
    // Docker's containerd image store keeps images (and containers' layers) in the moby
    // namespace; container names still come from config.v2.json. Read once for every data-root.
    let containerd_stores: Vec<super::containerd::Store> = containerd_roots
        .iter()
        .filter_map(|r| super::containerd::Store::load(r).ok())
        .collect();
    let mut cands: Vec<Candidate<(usize, Item)>> = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        cands.extend(engine::in_store(store.candidates(), i, None));
        let names: HashMap<String, String> = store
            .containers
            .values()
            .filter(|c| !c.is_overlay2())
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect();
        for (j, cs) in containerd_stores.iter().enumerate() {
            cands.extend(
                cs.docker_candidates(&names)
                    .into_iter()
                    .map(|c| c.map(|item| (i, Item::Containerd(j, item)))),
            );
        }
    }
    let (i, item) = engine::pick(&cands, name, "Docker container or image").map_err(|e| {
        let unread: Vec<String> = stores
            .iter()
            .flat_map(|s| s.notes.iter().cloned())
            .collect();
        engine::with_unread(e, &unread)
    })?;
    let store = &stores[*i];
    let mut notes = store.notes.clone();
    let (mut stack, more) = match item {
        Item::Container(id) => store.container_stack(id, mounts)?,
        Item::Image(id) => (store.image_stack(id)?, Vec::new()),
        Item::Containerd(j, item) => {
            let dname = match item {
                super::containerd::Item::Container { id, .. } => {
                    store.containers.get(id).map(|c| c.name.clone())
                }
                _ => None,
            };
            containerd_stores[*j].stack(item, mounts, dname.as_deref())?
        }
    };
    notes.extend(more);
    if let Item::Containerd(_, super::containerd::Item::Container { id, .. }) = item
        && let Some(c) = store.containers.get(id)
    {
        stack.name = format!("docker:{}", c.name);
    } else if let Item::Containerd(..) = item {
        stack.name = format!("docker:{}", stack.name.trim_start_matches("containerd:"));
    }
    Ok((stack, notes))
}
