//! Kubernetes names for containers a CRI runtime made: `k8s:NAMESPACE/POD[/CONTAINER]`.
//!
//! containerd's CRI plugin puts the pod's namespace and name and the container's name in each
//! container's labels (`io.kubernetes.pod.namespace`, `io.kubernetes.pod.name`,
//! `io.kubernetes.container.name`); a pod sandbox has the pod labels only. CRI-O keeps them in
//! the `metadata` string of its containers/storage container records: the pod's infra
//! container (`"pod": true`) carries the namespace, the others name their pod by `pod-id`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

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
