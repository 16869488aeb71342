//! `docker save` / `podman save` archives: `manifest.json` lists each image's config and layer
//! tars (`HEX/layer.tar` in the legacy layout, `blobs/sha256/HEX` since Docker 25).

use super::blobs::{Blobs, blob_name};
use super::image::{Image, LayerBlob};
use crate::error::{Error, Result};
use crate::stack::engine::{Candidate, ImageConfig, hex_of, is_hex, pick, short};

/// One entry of `manifest.json`.
#[derive(Debug, Clone, serde::Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl Entry {
    /// The config's digest, when its name carries one (`HEX.json`, `blobs/sha256/HEX`).
    fn config_digest(&self) -> Option<String> {
        let base = self.config.rsplit('/').next()?;
        let hex = base.strip_suffix(".json").unwrap_or(base);
        (hex.len() == 64 && is_hex(hex)).then(|| format!("sha256:{hex}"))
    }

    fn tags(&self) -> Vec<String> {
        self.repo_tags.clone().unwrap_or_default()
    }
}

/// The image `reference` names in the archive (a tag, a config ID prefix, or `@N`, the N-th
/// image, as skopeo spells it); the only one when there is no reference.
///
/// # Errors
/// No `manifest.json`, no such image, or several images and no reference.
pub fn image(blobs: &Blobs, reference: Option<&str>) -> Result<Image> {
    let archive = crate::escape::path(blobs.root());
    if !blobs.has("manifest.json") {
        return Err(Error::BadInput(format!(
            "'{archive}' has no manifest.json: not a `docker save` archive (an OCI image \
             layout's tar opens as oci-archive:)"
        )));
    }
    let entries: Vec<Entry> = blobs.read_json("manifest.json", None)?;
    let entry = select(&entries, reference, &archive)?;
    let digest = entry.config_digest();
    let config: ImageConfig = blobs.read_json(&entry.config, digest.as_deref())?;
    let shown = match (reference, entry.tags().first()) {
        (Some(r), _) if !r.starts_with('@') => r.to_string(),
        (_, Some(tag)) => tag.clone(),
        _ => digest
            .as_deref()
            .map_or_else(|| entry.config.clone(), short),
    };
    let layers = entry
        .layers
        .iter()
        .map(|member| {
            // A name in a Docker 25 archive is a blob digest: check it while reading.
            let digest = member
                .strip_prefix("blobs/sha256/")
                .filter(|h| h.len() == 64 && is_hex(h))
                .map(|h| format!("sha256:{h}"));
            if let Some(d) = &digest {
                blob_name(d, std::path::Path::new("manifest.json"))?;
            }
            Ok(LayerBlob {
                member: member.clone(),
                compression: None,
                digest,
                chunked: false,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Image {
        shown,
        config,
        layers,
    })
}

fn select<'a>(entries: &'a [Entry], reference: Option<&str>, archive: &str) -> Result<&'a Entry> {
    let listing = || {
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let tags = e.tags();
                let what = if tags.is_empty() {
                    e.config_digest()
                        .as_deref()
                        .map_or_else(|| "untagged".to_string(), short)
                } else {
                    tags.join(" ")
                };
                format!("@{i} {}", crate::escape::display(what.as_bytes()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(reference) = reference else {
        return match entries {
            [one] => Ok(one),
            [] => Err(Error::BadInput(format!(
                "'{archive}' holds no image (its manifest.json is empty)"
            ))),
            _ => Err(Error::BadInput(format!(
                "'{archive}' holds {} images: name one, docker-archive:FILE:IMAGE or \
                 docker-archive:FILE:@N ({})",
                entries.len(),
                listing()
            ))),
        };
    };
    if let Some(n) = reference.strip_prefix('@') {
        return n
            .parse::<usize>()
            .ok()
            .and_then(|n| entries.get(n))
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "'{archive}' has no image {reference}: it has {}",
                    listing()
                ))
            });
    }
    let cands: Vec<Candidate<&Entry>> = entries
        .iter()
        .map(|e| Candidate {
            names: e.tags(),
            id: e
                .config_digest()
                .map(|d| hex_of(&d).to_string())
                .unwrap_or_default(),
            rank: 0,
            show: e.tags().join(" "),
            item: e,
        })
        .collect();
    pick(&cands, reference, &format!("image in '{archive}'")).copied()
}
