//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/…`), as a directory or a tar:
//! the reference picks an `index.json` entry by its ref name, nested indexes pick a platform,
//! and every record read is checked against its digest.

use std::collections::HashMap;
use std::path::Path;

use super::blobs::{Blobs, blob_name};
use super::image::{Image, LayerBlob, claimed_compression};
use super::platform::{Platform, choose};
use crate::error::{Error, Result};
use crate::stack::engine::{Candidate, ImageConfig, hex_of, pick, short};

/// The annotation naming an `index.json` entry (`oci:DIR:REF`).
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's and podman's full image name beside it.
const IMAGE_NAME: &str = "io.containerd.image.name";
/// How deep indexes may nest (real ones: one level); a hostile layout must not loop.
const MAX_DEPTH: usize = 4;

/// A content descriptor.
#[derive(Debug, Clone, serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

impl Descriptor {
    fn is_index(&self) -> bool {
        matches!(
            self.media_type.as_str(),
            "application/vnd.oci.image.index.v1+json"
                | "application/vnd.docker.distribution.manifest.list.v2+json"
        )
    }

    /// BuildKit's provenance and SBOM manifests sit in an index beside the images.
    fn is_attestation(&self) -> bool {
        self.annotations
            .get("vnd.docker.reference.type")
            .is_some_and(|t| t == "attestation-manifest")
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    fn names(&self) -> Vec<String> {
        [REF_NAME, IMAGE_NAME]
            .iter()
            .filter_map(|k| self.annotations.get(*k).cloned())
            .collect()
    }
}

/// `index.json` or a nested index.
#[derive(Debug, serde::Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, serde::Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The image `reference` names in the layout (a ref name, a manifest digest prefix), for the
/// platform `want` (`want.1`: the user asked for it); the only one when there is no reference.
///
/// # Errors
/// Not a layout, no such image or platform, or records that are damaged.
pub fn image(blobs: &Blobs, reference: Option<&str>, want: &(Platform, bool)) -> Result<Image> {
    let layout = crate::escape::path(blobs.root());
    if !blobs.has("oci-layout") || !blobs.has("index.json") {
        let hint = if blobs.has("manifest.json") {
            " (it has a manifest.json: open it as docker-archive:)"
        } else {
            ""
        };
        return Err(Error::BadInput(format!(
            "'{layout}' is not an OCI image layout: it has no oci-layout and index.json{hint}"
        )));
    }
    let index: Index = blobs.read_json("index.json", None)?;
    let top = select(&index.manifests, reference, &layout)?;
    let shown = match reference {
        Some(r) => r.to_string(),
        None => top
            .first()
            .and_then(|d| d.names().into_iter().next())
            .unwrap_or_else(|| short(&top[0].digest)),
    };
    let manifest_at = descend(blobs, top, want, &layout, 0)?;
    let manifest: Manifest = read(blobs, &manifest_at)?;
    let config: ImageConfig = read(blobs, &manifest.config)?;
    let layers = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let what = format!("layer {k} of '{}' in '{layout}'", shown);
            Ok(LayerBlob {
                member: blob_name(&d.digest, &blobs.shown("index.json"))?,
                compression: Some(claimed_compression(&d.media_type, &what)?),
                digest: Some(d.digest.clone()),
                chunked: super::image::ZSTD_CHUNKED_TOC
                    .iter()
                    .any(|k| d.annotations.contains_key(*k)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Image {
        shown,
        config,
        layers,
    })
}

/// The `index.json` entries `reference` names: one, or several that differ by platform.
fn select<'a>(
    entries: &'a [Descriptor],
    reference: Option<&str>,
    layout: &str,
) -> Result<Vec<&'a Descriptor>> {
    let images: Vec<&Descriptor> = entries.iter().filter(|d| !d.is_attestation()).collect();
    let Some(reference) = reference else {
        let mut named: Vec<String> = images.iter().flat_map(|d| d.names()).collect();
        named.sort();
        named.dedup();
        return match (images.len(), named.len()) {
            (0, _) => Err(Error::BadInput(format!(
                "'{layout}' holds no image (its index.json lists none)"
            ))),
            // One image, or one name shared by its platforms.
            (1, _) | (_, 0 | 1) => Ok(images),
            _ => Err(Error::BadInput(format!(
                "'{layout}' holds {} images: name one, oci:DIR:REF ({})",
                named.len(),
                named
                    .iter()
                    .map(|n| crate::escape::display(n.as_bytes()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    };
    let by_name: Vec<&Descriptor> = images
        .iter()
        .copied()
        .filter(|d| d.names().iter().any(|n| n == reference))
        .collect();
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    // A short form (`web` for `web:latest`, `localhost/web:1`), or a digest prefix.
    let cands: Vec<Candidate<&Descriptor>> = images
        .iter()
        .map(|d| Candidate {
            names: d.names(),
            id: hex_of(&d.digest).to_string(),
            rank: 0,
            show: d.names().join(" "),
            item: *d,
        })
        .collect();
    pick(&cands, reference, &format!("image in '{layout}'")).map(|d| vec![*d])
}

/// Follows indexes down to the image manifest for the platform asked for.
fn descend(
    blobs: &Blobs,
    entries: Vec<&Descriptor>,
    want: &(Platform, bool),
    layout: &str,
    depth: usize,
) -> Result<Descriptor> {
    if depth > MAX_DEPTH {
        return Err(Error::BadInput(format!(
            "'{layout}' nests indexes more than {MAX_DEPTH} deep: not an image layout \
             layerscope reads"
        )));
    }
    let chosen = match entries.as_slice() {
        [one] => *one,
        several => {
            let with: Vec<(Platform, &Descriptor)> = several
                .iter()
                .map(|d| {
                    let p = d.platform.clone().unwrap_or(Platform {
                        os: "unknown".into(),
                        architecture: "unknown".into(),
                        variant: None,
                    });
                    (p, *d)
                })
                .collect();
            *choose(&with, &want.0, want.1, &format!("'{layout}'"))?
        }
    };
    if !chosen.is_index() {
        return Ok(chosen.clone());
    }
    let inner: Index = read(blobs, chosen)?;
    let images: Vec<&Descriptor> = inner
        .manifests
        .iter()
        .filter(|d| !d.is_attestation())
        .collect();
    if images.is_empty() {
        return Err(Error::BadInput(format!(
            "the index {} in '{layout}' lists no image",
            short(&chosen.digest)
        )));
    }
    descend(blobs, images, want, layout, depth + 1)
}

/// Reads the record a descriptor points at, checking its size and digest.
fn read<T: serde::de::DeserializeOwned>(blobs: &Blobs, d: &Descriptor) -> Result<T> {
    let name = blob_name(&d.digest, Path::new("index.json"))?;
    if let Some(size) = d.size {
        let have = blobs.source(&name)?.len();
        if have != size {
            return Err(Error::BadInput(format!(
                "'{}' is {have} bytes, but the image's records say {size}: the layout is \
                 damaged or was altered",
                crate::escape::path(&blobs.shown(&name))
            )));
        }
    }
    blobs.read_json(&name, Some(&d.digest))
}
