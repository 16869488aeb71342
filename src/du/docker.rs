//! Docker's overlay2 store for `du`: which `overlay2/<id>` directory each image and container
//! uses, from `layerdb` (`sha256/<chain>/cache-id`, `mounts/<container>/{mount-id,init-id,
//! parent}`), and which directories `layerdb` names at all.
//!
//! Images are the ones `docker images -a` would list without the legacy builder's untagged
//! intermediates: their layers are a prefix of their children's, and `docker rmi` of the child
//! removes them with it, so they are counted with the child.

use std::collections::{BTreeMap, HashMap};

use super::{OwnerKind, OwnerRef, Record, StoreRefs};
use crate::stack::docker::Store;
use crate::stack::engine::is_component;
use crate::stack::engine::short;
use crate::stack::engine::{self, Engine, hex_of, is_hex, read_text};

/// One `layerdb/sha256/<chain>` entry: its directory and parent chain.
struct Chain {
    cache: Option<String>,
    parent: Option<String>,
}

/// The layer directories and owners of one Docker data-root.
#[must_use]
pub fn refs(store: &Store) -> StoreRefs {
    let layerdb = store.root.join("image/overlay2/layerdb");
    let base = store.root.join("overlay2");
    let mut notes = Vec::new();
    let mut records = BTreeMap::new();
    let mut chains: HashMap<String, Chain> = HashMap::new();
    let sha = layerdb.join("sha256");
    for chain in engine::list_dir(&sha).unwrap_or_else(|e| {
        notes.push(format!("skipped {}: {e}", sha.display()));
        Vec::new()
    }) {
        if !is_hex(&chain) {
            continue;
        }
        let file = sha.join(&chain).join("cache-id");
        let cache = read_text(&file).ok().filter(|c| is_component(c));
        let parent = read_text(&sha.join(&chain).join("parent"))
            .ok()
            .map(|p| hex_of(&p).to_string())
            .filter(|p| is_hex(p));
        if let Some(c) = &cache {
            records.insert(
                c.clone(),
                Record {
                    what: format!("layerdb/sha256/{}", short(&chain)),
                    file,
                    engine_way: "no docker command removes a layer that no image uses; with \
                                 dockerd stopped, remove the directory and its layerdb entry together",
                },
            );
        }
        chains.insert(chain, Chain { cache, parent });
    }
    // The directories of a chain, top first: its own, then its parents'.
    let chain_dirs = |top: &str, dirs: &mut Vec<String>, lost: &mut Vec<String>| {
        let mut next = Some(top.to_string());
        let mut guard = 0;
        while let Some(c) = next {
            guard += 1;
            if guard > 1000 {
                break;
            }
            let Some(rec) = chains.get(&c) else {
                lost.push(c); // the layer record itself is gone
                break;
            };
            if let Some(d) = &rec.cache {
                dirs.push(d.clone());
            }
            next = rec.parent.clone();
        }
    };
    let mut owners = Vec::new();
    let mut gone = Vec::new();
    for image in store.listed_images() {
        let (mut dirs, mut lost) = (Vec::new(), Vec::new());
        if let Some(top) = image.config.chain_ids().last() {
            chain_dirs(hex_of(top), &mut dirs, &mut lost);
        }
        let name = format!(
            "docker:{}",
            if image.refs.is_empty() {
                short(&image.id)
            } else {
                store.image_name(&image.id)
            }
        );
        gone.extend(lost.into_iter().map(|c| (sha.join(c), name.clone())));
        owners.push(OwnerRef {
            kind: OwnerKind::Image,
            name,
            id: image.id.clone(),
            dirs,
        });
    }
    let mounts = layerdb.join("mounts");
    for cid in engine::list_dir(&mounts).unwrap_or_default() {
        if !is_hex(&cid) {
            continue;
        }
        let m = mounts.join(&cid);
        let mut dirs = Vec::new();
        for (file, label) in [("mount-id", "read-write layer"), ("init-id", "init layer")] {
            let Some(id) = read_text(&m.join(file)).ok().filter(|i| is_component(i)) else {
                continue;
            };
            records.insert(
                id.clone(),
                Record {
                    what: format!("layerdb/mounts/{} ({label})", short(&cid)),
                    file: m.join(file),
                    engine_way: "no docker command removes the layers of a container that is \
                                 gone; with dockerd stopped, remove the directory and its \
                                 layerdb/mounts entry together",
                },
            );
            dirs.push(id);
        }
        let Some(c) = store.containers.get(&cid) else {
            continue; // a mount whose container is gone: its directories are unreferenced
        };
        if !c.is_overlay2() {
            continue;
        }
        let name = format!("docker:{}", c.name);
        if let Some(parent) = read_text(&m.join("parent")).ok().filter(|p| !p.is_empty()) {
            let mut lost = Vec::new();
            chain_dirs(hex_of(&parent), &mut dirs, &mut lost);
            gone.extend(lost.into_iter().map(|c| (sha.join(c), name.clone())));
        }
        owners.push(OwnerRef {
            kind: OwnerKind::Container,
            name,
            id: c.id.clone(),
            dirs,
        });
    }
    for c in store.containers.values() {
        if c.is_overlay2() && !owners.iter().any(|o| o.id == c.id) {
            gone.push((mounts.join(&c.id), format!("docker:{}", c.name)));
        }
    }
    StoreRefs {
        engine: Engine::Docker,
        store: format!("docker {}", store.root.display()),
        root: store.root.clone(),
        base,
        not_layers: vec!["l".into()],
        records,
        owners,
        gone,
        daemons: vec!["dockerd".into()],
        notes,
    }
}
