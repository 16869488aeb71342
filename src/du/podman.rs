//! containers/storage (Podman, Buildah, CRI-O) for `du`: every `overlay/<id>` directory
//! `layers.json` records, and the layer chains images and containers stand on (following each
//! layer's `parent`). CRI-O's containers are named by pod (`k8s:NS/POD/CONTAINER`).
//!
//! Layers of read-only additional image stores live in other directories and are not measured.

use std::collections::{BTreeMap, HashMap};

use super::{OwnerKind, OwnerRef, Record, StoreRefs};
use crate::stack::engine::Engine;
use crate::stack::engine::is_component;
use crate::stack::podman::Store;

/// What becomes of a layer nothing uses.
const WAY: &str = "containers/storage keeps a layer no image or container uses, and neither \
                   podman nor buildah has a command that removes only it";

/// The layer directories and owners of one graphroot.
#[must_use]
pub fn refs(store: &Store) -> StoreRefs {
    let graph = store.graph();
    let root = store.root.as_path();
    let layers_json = root.join("overlay-layers/layers.json");
    let mut notes = Vec::new();
    let mut records = BTreeMap::new();
    let mut parents: HashMap<&str, Option<&str>> = HashMap::new();
    let mut elsewhere = 0;
    for (id, parent, home) in &graph.layers {
        parents.insert(id, *parent);
        if *home != root {
            elsewhere += 1;
            continue;
        }
        if is_component(id) {
            records.insert(
                (*id).to_string(),
                Record {
                    what: format!("layers.json layer {}", crate::stack::engine::short(id)),
                    file: layers_json.clone(),
                    engine_way: WAY,
                },
            );
        }
    }
    for (id, home) in &graph.incomplete {
        if *home == root && is_component(id) {
            records.insert(
                (*id).to_string(),
                Record {
                    what: format!(
                        "layers.json layer {} (incomplete: being written or half-deleted; \
                         containers/storage deletes it the next time it opens the store for \
                         writing)",
                        crate::stack::engine::short(id)
                    ),
                    file: layers_json.clone(),
                    engine_way: WAY,
                },
            );
        }
    }
    if elsewhere > 0 {
        notes.push(format!(
            "{elsewhere} layers of {} are in additional image stores: not measured",
            root.display()
        ));
    }
    // A chain's layers, top first, each named as its directory; a parent with no record is
    // still named, so that its directory is either owned or reported missing.
    let chain = |top: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut next = Some(top);
        while let Some(id) = next {
            if out.len() > 1000 || !is_component(id) || out.iter().any(|x| x == id) {
                break;
            }
            out.push(id.to_string());
            next = parents.get(id).copied().flatten().filter(|p| !p.is_empty());
        }
        out
    };
    let mut owners = Vec::new();
    for (id, name, top) in &graph.images {
        let Some(top) = top else { continue };
        owners.push(OwnerRef {
            kind: OwnerKind::Image,
            name: format!("podman:{name}"),
            id: (*id).to_string(),
            dirs: chain(top),
        });
    }
    for (id, name, layer, k8s) in &graph.containers {
        owners.push(OwnerRef {
            kind: OwnerKind::Container,
            name: k8s.clone().unwrap_or_else(|| format!("podman:{name}")),
            id: (*id).to_string(),
            dirs: chain(layer),
        });
    }
    StoreRefs {
        engine: Engine::Podman,
        store: format!("containers-storage {}", root.display()),
        root: root.to_path_buf(),
        base: root.join("overlay"),
        not_layers: vec!["l".into()],
        records,
        owners,
        gone: Vec::new(),
        daemons: vec!["podman".into(), "buildah".into(), "crio".into()],
        notes,
    }
}
