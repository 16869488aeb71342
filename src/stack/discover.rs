//! Finding stacks on a host: `docker:`, `podman:` and `containerd:` names, and `list` (every
//! container, image and overlay mount on the host).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::engine::{Engine, Found, Kind, Mounts, Roots};
use super::options::KernelDefaults;
use super::{LayerStack, containerd, docker, mountinfo, podman};
use crate::error::Result;

/// Docker data-roots to read.
#[must_use]
pub fn docker_roots(roots: &Roots) -> Vec<PathBuf> {
    match &roots.docker {
        Some(r) => vec![r.clone()],
        None => docker::default_roots(),
    }
}

/// containers/storage graphroots to read.
#[must_use]
pub fn podman_roots(roots: &Roots) -> Vec<PathBuf> {
    match &roots.podman {
        Some(r) => vec![r.clone()],
        None => podman::default_roots(),
    }
}

/// containerd roots to read.
#[must_use]
pub fn containerd_roots(roots: &Roots) -> Vec<PathBuf> {
    match &roots.containerd {
        Some(r) => vec![r.clone()],
        None => containerd::default_roots(&docker_roots(roots)),
    }
}

/// Resolves an engine name (`docker:…`, `podman:…`, `containerd:…`); `None` when `spec` has
/// no engine prefix. Returns the stack and notes for the user.
#[must_use]
pub fn resolve(spec: &str, roots: &Roots) -> Option<Result<(LayerStack, Vec<String>)>> {
    let (engine, name) = spec.split_once(':')?;
    let name = name.trim();
    if matches!(engine, "docker" | "podman" | "containerd" | "k8s") && name.is_empty() {
        return Some(Err(crate::Error::BadInput(format!(
            "'{spec}' names nothing: write {engine}:NAME (see `layerscope list`)"
        ))));
    }
    let mounts = Mounts::read;
    let result = match engine {
        "docker" => docker::resolve(
            name,
            &docker_roots(roots),
            &containerd_roots(roots),
            &mounts(),
        ),
        "podman" => podman::resolve(name, &podman_roots(roots), &mounts()),
        "containerd" => containerd::resolve(name, &containerd_roots(roots), &mounts()),
        "k8s" => super::k8s::resolve(
            name,
            &containerd_roots(roots),
            &podman_roots(roots),
            &mounts(),
        ),
        _ => return None,
    };
    Some(result)
}

/// Every stack on the host: containers (running or not), images, loose containerd snapshots,
/// and overlay mounts that no engine claims. Unreadable stores and vanished layers become notes.
#[must_use]
pub fn list(roots: &Roots) -> (Vec<Found>, Vec<String>) {
    // The readers fan their small reads out over rayon: with a cold cache the work is waiting
    // on the disk, so more reads in flight than CPUs pay off. Only when there is that much to
    // read: a host with (almost) nothing starts no thread (see `engine::par_map`).
    let work: usize = docker_roots(roots)
        .iter()
        .map(|r| {
            let n = |p: &str| std::fs::read_dir(r.join(p)).map_or(0, Iterator::count);
            n("containers") + n("image/overlay2/imagedb/content/sha256")
        })
        .sum();
    if work < super::engine::PARALLEL_FROM {
        return list_in_pool(roots);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(IO_THREADS)
        .build()
    {
        Ok(pool) => pool.install(|| list_in_pool(roots)),
        Err(_) => list_in_pool(roots),
    }
}

/// Threads for reading engine records (I/O bound).
const IO_THREADS: usize = 8;

fn list_in_pool(roots: &Roots) -> (Vec<Found>, Vec<String>) {
    let mounts = Mounts::read();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut docker_names: HashMap<String, String> = HashMap::new();
    for root in docker_roots(roots) {
        if !root.exists() {
            if roots.docker.is_some() {
                notes.push(format!("no Docker data-root at {}", root.display()));
            }
            continue;
        }
        match docker::Store::load(&root) {
            Ok(store) => {
                notes.extend(store.notes.iter().cloned());
                for c in store.containers.values() {
                    docker_names.insert(c.id.clone(), c.name.clone());
                }
                out.extend(store.found(&mounts, &mut notes));
            }
            Err(e) => notes.push(format!("skipped Docker at {}: {e}", root.display())),
        }
    }
    for root in containerd_roots(roots) {
        match containerd::Store::load(&root) {
            Ok(store) => out.extend(store.found(&mounts, &docker_names, &mut notes)),
            Err(e) => notes.push(format!("skipped containerd at {}: {e}", root.display())),
        }
    }
    for root in podman_roots(roots) {
        match podman::Store::load(&root) {
            Ok(store) => {
                notes.extend(store.notes.iter().cloned());
                out.extend(store.found(&mounts, &mut notes));
            }
            Err(e) => notes.push(format!(
                "skipped containers/storage at {}: {e}",
                root.display()
            )),
        }
    }
    let claimed: Vec<PathBuf> = out
        .iter()
        .filter_map(|f| f.mountpoint.as_deref().map(super::engine::canonical))
        .collect();
    let kernel = KernelDefaults::read();
    for m in mounts.all() {
        if claimed.contains(&super::engine::canonical(&m.mountpoint)) {
            continue;
        }
        let layers = mountinfo::stack_from_entry(m, &kernel)
            .map(|s| s.layers.len())
            .unwrap_or(0);
        let path = m.mountpoint.display().to_string();
        let bytes = m.mountpoint.as_os_str().as_bytes();
        let exact = (std::str::from_utf8(bytes).is_err()).then(|| bytes.to_vec());
        out.push(Found {
            engine: Engine::Mount,
            kind: Kind::Mount,
            stack: path.clone(),
            name: path,
            id: m.mount_id.to_string(),
            image: None,
            layers,
            size: None,
            created: None,
            mountpoint: Some(m.mountpoint.clone()),
            root: PathBuf::from("/proc/self/mountinfo"),
            stack_bytes: exact.clone(),
            name_bytes: exact,
        });
    }
    (out, notes)
}
