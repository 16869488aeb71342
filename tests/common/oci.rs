//! Hand-made OCI image layouts for the archive tests: layers from GNU tar, a config whose diff
//! IDs and history match them, a manifest, optionally a multi-platform index.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `bytes` as a blob of an OCI layout; returns its descriptor's digest.
pub fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A tar of the files under `dir` (GNU tar, as given by `args`).
pub fn tar(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--owner=0", "--group=0", "--numeric-owner", "-cf", "-"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A one-image OCI layout whose layers (bottom first) are these tars; `index` wraps the image
/// in a multi-platform index with these platforms (all the same image) when not empty.
pub fn layout(at: &Path, layer_tars: &[Vec<u8>], platforms: &[&str]) -> PathBuf {
    std::fs::create_dir_all(at).unwrap();
    std::fs::write(at.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layer_tars.iter().map(|t| sha256(t)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": (0..layer_tars.len())
            .map(|k| serde_json::json!({"created_by": format!("/bin/sh -c #(nop) step {k}")}))
            .collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put_blob(at, &config);
    let layers: Vec<serde_json::Value> = layer_tars
        .iter()
        .map(|t| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": put_blob(at, t), "size": t.len(),
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let manifest_desc = |platform: Option<&str>| {
        let mut d = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest), "size": manifest.len(),
        });
        if let Some(p) = platform {
            let parts: Vec<&str> = p.split('/').collect();
            d["platform"] = serde_json::json!({"os": parts[0], "architecture": parts[1]});
        }
        d
    };
    put_blob(at, &manifest);
    let top = if platforms.is_empty() {
        manifest_desc(None)
    } else {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": platforms.iter().map(|p| manifest_desc(Some(p))).collect::<Vec<_>>(),
        }))
        .unwrap();
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": put_blob(at, &index), "size": index.len(),
        })
    };
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "t"});
    std::fs::write(
        at.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
    at.to_path_buf()
}
