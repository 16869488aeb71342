//! Kubernetes names for containers a CRI runtime made: `k8s:NAMESPACE/POD[/CONTAINER]`.
//!
//! containerd's CRI plugin puts the pod's namespace and name and the container's name in each
//! container's labels (`io.kubernetes.pod.namespace`, `io.kubernetes.pod.name`,
//! `io.kubernetes.container.name`); a pod sandbox has the pod labels only. CRI-O keeps them in
//! the `metadata` string of its containers/storage container records: the pod's infra
//! container (`"pod": true`) carries the namespace, the others name their pod by `pod-id`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;

use super::LayerStack;
use super::engine::Mounts;
use crate::error::{Error, Result};

/// The label with the pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The label with the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// The label with the container's name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// `k8s:NAMESPACE/POD[/CONTAINER]`; `None` unless the pod's namespace and name are both known
/// and none of the parts is empty or holds a `/`.
#[must_use]
pub fn name(namespace: &str, pod: &str, container: Option<&str>) -> Option<String> {
    let plain = |s: &str| !s.is_empty() && !s.contains('/');
    if !plain(namespace) || !plain(pod) {
        return None;
    }
    match container {
        Some(c) if plain(c) => Some(format!("k8s:{namespace}/{pod}/{c}")),
        Some(_) => None,
        None => Some(format!("k8s:{namespace}/{pod}")),
    }
}

/// The Kubernetes name of a containerd container from its CRI labels.
#[must_use]
pub fn name_from_labels(labels: &BTreeMap<String, String>) -> Option<String> {
    name(
        labels.get(POD_NAMESPACE)?,
        labels.get(POD_NAME)?,
        labels.get(CONTAINER_NAME).map(String::as_str),
    )
}

/// The part of CRI-O's `RuntimeContainerMetadata` that names a container.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CrioMetadata {
    /// Whether this is the pod's infra container.
    #[serde(default)]
    pub pod: bool,
    /// The pod's name.
    #[serde(default, rename = "pod-name")]
    pub pod_name: String,
    /// The pod's sandbox ID (the infra container's ID).
    #[serde(default, rename = "pod-id")]
    pub pod_id: String,
    /// The name from the CRI metadata: the container's name in the pod spec.
    #[serde(default, rename = "metadata-name")]
    pub metadata_name: String,
    /// The pod's namespace (set on the infra container only).
    #[serde(default)]
    pub namespace: String,
}

/// Parses the `metadata` string of a containers/storage container record; `None` when it is
/// not CRI-O's (Podman leaves it empty or writes its own).
#[must_use]
pub fn crio_metadata(metadata: &str) -> Option<CrioMetadata> {
    let m: CrioMetadata = serde_json::from_str(metadata).ok()?;
    (!m.pod_name.is_empty() && !m.pod_id.is_empty()).then_some(m)
}

/// Kubernetes names for CRI-O's containers: container ID → `k8s:` name. An ordinary
/// container's namespace comes from its pod's infra container.
#[must_use]
pub fn crio_names<'a>(
    records: impl IntoIterator<Item = (&'a str, &'a CrioMetadata)>,
) -> HashMap<String, String> {
    let records: Vec<(&str, &CrioMetadata)> = records.into_iter().collect();
    let namespaces: HashMap<&str, &str> = records
        .iter()
        .filter(|(_, m)| m.pod && !m.namespace.is_empty())
        .map(|(id, m)| (*id, m.namespace.as_str()))
        .collect();
    let mut out = HashMap::new();
    for (id, m) in &records {
        let ns = if m.namespace.is_empty() {
            namespaces.get(m.pod_id.as_str()).copied().unwrap_or("")
        } else {
            m.namespace.as_str()
        };
        let container = (!m.pod).then_some(m.metadata_name.as_str());
        if let Some(n) = name(ns, &m.pod_name, container) {
            out.insert((*id).to_string(), n);
        }
    }
    out
}

/// Resolves `k8s:NAMESPACE/POD[/CONTAINER]` against the containerd roots and the
/// containers/storage graphroots (CRI-O). When several containers carry the name (a container
/// restarted by the kubelet keeps its name), the newest is shown, with a note.
///
/// # Errors
/// No container has the name (the known names are listed), or the stack cannot be read.
pub fn resolve(
    name: &str,
    containerd_roots: &[PathBuf],
    podman_roots: &[PathBuf],
    mounts: &Mounts,
) -> Result<(LayerStack, Vec<String>)> {
    let wanted = format!("k8s:{name}");
    enum Store {
        Containerd(super::containerd::Store),
        Podman(super::podman::Store),
    }
    enum Item {
        Containerd(super::containerd::Item),
        Podman(super::podman::Item),
    }
    let mut stores = Vec::new();
    let mut all: Vec<(String, usize, Item, Option<String>)> = Vec::new();
    for root in containerd_roots {
        let Ok(store) = super::containerd::Store::load(root) else {
            continue;
        };
        for (n, item, created) in store.k8s_items() {
            all.push((n, stores.len(), Item::Containerd(item), created));
        }
        stores.push(Store::Containerd(store));
    }
    for root in podman_roots {
        let Ok(store) = super::podman::Store::load(root) else {
            continue;
        };
        for (n, item, created) in store.k8s_items() {
            all.push((n, stores.len(), Item::Podman(item), created));
        }
        stores.push(Store::Podman(store));
    }
    let mut hits: Vec<&(String, usize, Item, Option<String>)> =
        all.iter().filter(|(n, ..)| *n == wanted).collect();
    if hits.is_empty() {
        let mut known: Vec<&str> = all.iter().map(|(n, ..)| n.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        let more = known.len().saturating_sub(30);
        known.truncate(30);
        return Err(Error::BadInput(format!(
            "no Kubernetes container named '{}' (from the CRI labels of containerd's \
             containers and CRI-O's records): {}{}",
            crate::escape::display(wanted.as_bytes()),
            if known.is_empty() {
                "there are none".to_string()
            } else {
                format!("candidates: {}", known.join(", "))
            },
            if more > 0 {
                format!(" and {more} more (see `layerscope list`)")
            } else {
                String::new()
            }
        )));
    }
    hits.sort_by(|a, b| b.3.cmp(&a.3));
    let (_, i, item, _) = hits[0];
    let (mut stack, mut notes) = match (&stores[*i], item) {
        (Store::Containerd(s), Item::Containerd(it)) => s.stack(it, mounts, None)?,
        (Store::Podman(s), Item::Podman(it)) => s.stack(it, mounts)?,
        _ => unreachable!("items come from their own store"),
    };
    if hits.len() > 1 {
        notes.push(format!(
            "{} containers are named {wanted} (restarts keep the name): showing the newest, {}; \
             name another by its engine ID",
            hits.len(),
            stack.name
        ));
    }
    stack.name = wanted;
    Ok((stack, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_pods_and_their_containers() {
        let mut l = BTreeMap::new();
        l.insert(POD_NAMESPACE.to_string(), "kube-system".to_string());
        l.insert(POD_NAME.to_string(), "coredns-5d78c9869d-x2x9q".to_string());
        assert_eq!(
            name_from_labels(&l).as_deref(),
            Some("k8s:kube-system/coredns-5d78c9869d-x2x9q")
        );
        l.insert(CONTAINER_NAME.to_string(), "coredns".to_string());
        assert_eq!(
            name_from_labels(&l).as_deref(),
            Some("k8s:kube-system/coredns-5d78c9869d-x2x9q/coredns")
        );
        l.insert(POD_NAME.to_string(), "a/b".to_string());
        assert_eq!(
            name_from_labels(&l),
            None,
            "a slash would make the name ambiguous"
        );
        l.remove(POD_NAMESPACE);
        assert_eq!(name_from_labels(&l), None);
    }

    #[test]
    fn crio_containers_take_the_namespace_of_their_pod() {
        let infra = crio_metadata(
            r#"{"pod":true,"pod-name":"web-0","pod-id":"aaa","name":"k8s_POD_web-0_prod_u_0",
                "metadata-name":"web-0","namespace":"prod","uid":"u","created-at":1}"#,
        )
        .unwrap();
        let app = crio_metadata(
            r#"{"pod-name":"web-0","pod-id":"aaa","name":"k8s_nginx_web-0_prod_u_0",
                "metadata-name":"nginx","created-at":1}"#,
        )
        .unwrap();
        let names = crio_names([("aaa", &infra), ("bbb", &app)]);
        assert_eq!(names["aaa"], "k8s:prod/web-0");
        assert_eq!(names["bbb"], "k8s:prod/web-0/nginx");
        assert!(crio_metadata("").is_none());
        assert!(crio_metadata(r#"{"some":"podman thing"}"#).is_none());
    }
}
