//! containerd's overlayfs snapshotter for `du` (ctr, nerdctl, Kubernetes CRI, and Docker's
//! containerd image store in namespace `moby`): every `snapshots/<n>` directory the
//! snapshotter's `metadata.db` records, and which images, containers and snapshot keys of
//! `meta.db` stand on which.
//!
//! Owners are the images (their top layer's chain), the containers (their snapshot key's
//! chain), and every other snapshot key whose snapshot no image or container already counts
//! (a `ctr snapshots prepare`, a layer left by a removed image). Containers made by the CRI
//! plugin are named by pod (`k8s:NS/POD/CONTAINER`), Docker's by their Docker name.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{OwnerKind, OwnerRef, Record, StoreRefs};
use crate::stack::containerd::{Store, client_key};
use crate::stack::engine::Engine;

/// The layer directories and owners of one containerd root; `docker_names` maps Docker
/// container IDs to names (for namespace `moby`).
#[must_use]
pub fn refs(store: &Store, docker_names: &HashMap<String, String>) -> StoreRefs {
    let graph = store.graph();
    let mdb = store
        .root
        .join("io.containerd.snapshotter.v1.overlayfs/metadata.db");
    let mut records = BTreeMap::new();
    let mut by_backend: HashMap<&str, (u64, Option<&str>)> = HashMap::new();
    for (backend, id, parent) in &graph.snapshots {
        by_backend.insert(backend.as_str(), (*id, parent.as_deref()));
        records.insert(
            id.to_string(),
            Record {
                what: format!("metadata.db snapshot {backend}"),
                file: mdb.clone(),
                engine_way: "containerd's garbage collector removes a snapshot no namespace \
                             names, on its next pass (after a removal in this root)",
            },
        );
    }
    // A backend key's directories, top first, following parents.
    let chain = |backend: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut next = Some(backend);
        while let Some(b) = next {
            let Some((id, parent)) = by_backend.get(b) else {
                break;
            };
            if out.len() > 1000 || out.contains(&id.to_string()) {
                break;
            }
            out.push(id.to_string());
            next = *parent;
        }
        out
    };
    let backend_of =
        |ns: &str, key: &str| -> Option<&str> { graph.keys.get(ns)?.get(key).map(String::as_str) };
    // Every key of a chain is one of its owner's layers, not an owner of its own.
    let count_chain = |ns: &str, top: &str, counted: &mut HashSet<(String, String)>| {
        let mut next = Some(top);
        let mut guard = 0;
        while let Some(x) = next {
            guard += 1;
            if guard > 1000 {
                break;
            }
            counted.insert((ns.to_string(), client_key(x).to_string()));
            next = by_backend.get(x).and_then(|(_, p)| *p);
        }
    };
    let mut owners = Vec::new();
    let mut counted: HashSet<(String, String)> = HashSet::new();
    for (ns, name, top) in &graph.images {
        let Some(top) = top else { continue };
        let Some(b) = backend_of(ns, top) else {
            continue;
        };
        let dirs = chain(b);
        count_chain(ns, b, &mut counted);
        let shown = if ns == "moby" {
            format!("docker:{}", docker_image_name(name))
        } else {
            format!("containerd:{ns}/{name}")
        };
        owners.push(OwnerRef {
            kind: OwnerKind::Image,
            name: shown,
            id: name.clone(),
            dirs,
        });
    }
    for (ns, id, key, labels) in &graph.containers {
        let dirs = backend_of(ns, key).map(&chain).unwrap_or_default();
        if let Some(b) = backend_of(ns, key) {
            count_chain(ns, b, &mut counted);
        }
        counted.insert((ns.clone(), key.clone()));
        // Docker's containerd store prepares the init layer under `<key>-init-key` and
        // commits it as `<key>-init`: both belong to the container.
        counted.insert((ns.clone(), format!("{key}-init")));
        counted.insert((ns.clone(), format!("{key}-init-key")));
        let name = if let Some(k) = crate::stack::k8s::name_from_labels(labels) {
            k
        } else if ns == "moby"
            && let Some(d) = docker_names.get(id)
        {
            format!("docker:{d}")
        } else {
            format!("containerd:{ns}/{id}")
        };
        owners.push(OwnerRef {
            kind: OwnerKind::Container,
            name,
            id: id.clone(),
            dirs,
        });
    }
    for (ns, keys) in &graph.keys {
        for (key, backend) in keys {
            if counted.contains(&(ns.clone(), key.clone())) {
                continue;
            }
            owners.push(OwnerRef {
                kind: OwnerKind::Snapshot,
                name: format!("containerd:{ns}/{key}"),
                id: backend.clone(),
                dirs: chain(backend),
            });
        }
    }
    StoreRefs {
        engine: Engine::Containerd,
        store: format!("containerd {}", store.root.display()),
        root: store.root.clone(),
        base: store.snapshots_dir(),
        not_layers: Vec::new(),
        records,
        owners,
        gone: Vec::new(),
        daemons: vec!["containerd".into()],
        notes: Vec::new(),
    }
}

/// How `docker images` shows a name of Docker's containerd store: `app:1` for
/// `docker.io/library/app:1`, the digest's first 12 digits for a dangling image.
fn docker_image_name(name: &str) -> String {
    if let Some(d) = name.strip_prefix("moby-dangling@") {
        return crate::stack::engine::short(d);
    }
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string()
}
