//! From an image's records to a stack: each layer blob indexed once (in parallel, and kept for
//! the process: the explorer opens the same image again), labelled from the config's history.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::blobs::Blobs;
use super::name::ArchiveName;
use crate::error::{Error, Result};
use crate::fsio::LayerFormat;
use crate::fsio::tar::{Compression, Expect, IndexOptions, TarLayer};
use crate::stack::engine::{ImageConfig, default_options};
use crate::stack::{Layer, LayerIds, LayerRole, LayerStack};

/// One image found in an archive: what its records say.
#[derive(Debug)]
pub struct Image {
    /// The name it was found by (a tag, a ref name, a short config ID), for the stack's name.
    pub shown: String,
    /// Its config (history, diff IDs).
    pub config: ImageConfig,
    /// Its layers, bottom to top.
    pub layers: Vec<LayerBlob>,
}

/// Where one layer's tar is, and what the records promise about it.
#[derive(Debug)]
pub struct LayerBlob {
    /// The member or file holding it (`blobs/sha256/HEX`, `HEX/layer.tar`).
    pub member: String,
    /// The compression its media type claims, when there is one.
    pub compression: Option<Compression>,
    /// The blob's digest, when a manifest records it.
    pub digest: Option<String>,
    /// A `zstd:chunked` layer (containers/storage): its frames hold a rewrite of the layer
    /// tar, one file per frame, which containers/storage turns back into the tar the diff ID
    /// names with the tar-split data in its table of contents. layerscope reads the files
    /// from the frames and checks the blob digest (which the manifest's digest covers), not
    /// the diff ID.
    pub chunked: bool,
}

/// The annotations containers/image puts on a `zstd:chunked` layer, its table of contents'
/// digest: the current name and the one of its first releases.
pub const ZSTD_CHUNKED_TOC: [&str; 2] = [
    "io.containers.zstd-chunked.manifest-checksum",
    "io.github.containers.zstd-chunked.manifest-checksum",
];

/// The compression a layer media type claims, or why it is not a layer this tool reads.
///
/// # Errors
/// Not a layer tar (an artifact, an encrypted layer, a Windows foreign layer's URL-only blob is
/// still a tar and is accepted).
pub fn claimed_compression(media_type: &str, what: &str) -> Result<Compression> {
    let t = media_type.trim();
    let is_layer = t.starts_with("application/vnd.oci.image.layer.")
        || t.starts_with("application/vnd.docker.image.rootfs.");
    let claim = if !is_layer {
        None
    } else if t.ends_with("+gzip") || t.ends_with(".tar.gzip") {
        Some(Compression::Gzip)
    } else if t.ends_with("+zstd") || t.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else if t.ends_with(".tar") {
        Some(Compression::None)
    } else {
        None
    };
    claim.ok_or_else(|| {
        Error::BadInput(format!(
            "{what} has media type '{}': not a layer tar layerscope reads (tar, tar+gzip, \
             tar+zstd)",
            crate::escape::display(t.as_bytes())
        ))
    })
}

/// Indexed layers, by where they are, what they must be and whether that is checked; a layer is
/// indexed once per process.
type Key = (PathBuf, String, Option<String>, Option<String>, Stamp, bool);
static INDEXED: Mutex<Option<HashMap<Key, Arc<TarLayer>>>> = Mutex::new(None);
/// At most this many layers are kept (an explorer session opening image after image).
const INDEXED_KEPT: usize = 512;

/// What identifies the bytes on disk: a file replaced or rewritten is indexed again.
type Stamp = Option<(u64, u64, i64, i64)>;

/// Builds the stack of `image`, indexing its layers.
///
/// # Errors
/// A layer is missing, damaged, or not what the records promise; the message names it.
pub fn stack(
    name: &ArchiveName,
    blobs: &Blobs,
    image: Image,
    check_digests: bool,
) -> Result<(LayerStack, Vec<String>)> {
    use rayon::prelude::*;
    let diff_ids = &image.config.rootfs.diff_ids;
    if diff_ids.len() != image.layers.len() {
        return Err(Error::BadInput(format!(
            "image '{}' in '{}' lists {} layers but its config has {} diff IDs: the archive is \
             damaged",
            crate::escape::display(image.shown.as_bytes()),
            crate::escape::path(blobs.root()),
            image.layers.len(),
            diff_ids.len()
        )));
    }
    let indexed: Vec<Result<Arc<TarLayer>>> = image
        .layers
        .par_iter()
        .zip(diff_ids.par_iter())
        .map(|(blob, diff_id)| index(blobs, blob, diff_id, check_digests))
        .collect();
    let labels = image.config.layer_labels();
    let created = image.config.layer_created();
    let chain = image.config.chain_ids();
    let mut layers = Vec::with_capacity(indexed.len());
    let mut notes = Vec::new();
    if !check_digests {
        notes.push(
            "layer digests not checked (--no-verify): a damaged or altered layer blob is shown \
             as it is, under the digests its records claim"
                .to_string(),
        );
    }
    for (k, (tar, blob)) in indexed.into_iter().zip(&image.layers).enumerate() {
        let tar = tar?;
        let label = labels.get(k).cloned();
        notes.extend(anomaly_notes(k, label.as_deref(), &tar));
        layers.push(Layer {
            role: LayerRole::Lower,
            path: blobs.shown(&blob.member),
            label,
            ids: LayerIds {
                layer_id: chain.get(k).cloned(),
                // The record's, for a zstd:chunked layer too (its frames decompress to another
                // stream).
                diff_id: if blob.chunked {
                    diff_ids.get(k).cloned()
                } else {
                    tar.diff_id().map(str::to_string)
                },
                digest: tar.digest().map(str::to_string),
                blob_bytes: Some(tar.compressed_size()),
                created: created.get(k).cloned().flatten(),
                ..LayerIds::default()
            },
            format: LayerFormat::Tar(tar),
        });
    }
    if layers.is_empty() {
        return Err(Error::BadInput(format!(
            "image '{}' in '{}' has no layers: nothing to show",
            crate::escape::display(image.shown.as_bytes()),
            crate::escape::path(blobs.root())
        )));
    }
    // Records list layers bottom-up; a stack is top-down.
    layers.reverse();
    let stack = LayerStack {
        name: format!(
            "{}:{}:{}",
            name.transport.prefix(),
            name.path.display(),
            image.shown
        ),
        layers,
        workdir: None,
        mountpoint: None,
        options: default_options(),
    };
    Ok((stack, notes))
}

fn index(
    blobs: &Blobs,
    blob: &LayerBlob,
    diff_id: &str,
    check_digests: bool,
) -> Result<Arc<TarLayer>> {
    let key: Key = (
        blobs.root().to_path_buf(),
        blob.member.clone(),
        blob.digest.clone(),
        Some(diff_id.to_string()),
        blobs.stamp(&blob.member),
        check_digests,
    );
    if let Some(found) = INDEXED
        .lock()
        .ok()
        .and_then(|g| g.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok(found);
    }
    let source = blobs.source(&blob.member)?;
    let shown = crate::escape::path(&blobs.shown(&blob.member));
    let expect = Expect {
        compression: blob.compression,
        digest: blob.digest.clone(),
        diff_id: (!blob.chunked).then(|| diff_id.to_string()),
    };
    let options = IndexOptions {
        check_digests,
        ..IndexOptions::default()
    };
    let tar = Arc::new(TarLayer::index_within(source, &shown, &expect, options)?);
    if let Ok(mut g) = INDEXED.lock() {
        let map = g.get_or_insert_with(HashMap::new);
        if map.len() >= INDEXED_KEPT {
            map.clear();
        }
        map.insert(key, Arc::clone(&tar));
    }
    Ok(tar)
}

/// Entries of layer `k` that were skipped (names leaving the layer, links to nothing, ...):
/// the first few by name, then how many more.
fn anomaly_notes(k: usize, label: Option<&str>, tar: &TarLayer) -> Vec<String> {
    const SHOWN: usize = 5;
    let all = tar.anomalies();
    let which = match label {
        Some(l) => format!("layer {k} ({})", crate::escape::display(l.as_bytes())),
        None => format!("layer {k}"),
    };
    let mut notes: Vec<String> = all
        .iter()
        .take(SHOWN)
        .map(|a| {
            format!(
                "{which}: entry '{}' skipped: {}",
                crate::escape::display(&a.path),
                a.reason
            )
        })
        .collect();
    if all.len() > SHOWN {
        notes.push(format!(
            "{which}: {} more entries skipped",
            all.len() - SHOWN
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_claim_a_compression_and_others_are_refused() {
        let c = |t| claimed_compression(t, "layer 0").expect(t);
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar"),
            Compression::None
        );
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::Gzip
        );
        assert_eq!(
            c("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::Zstd
        );
        assert_eq!(
            c("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip
        );
        assert_eq!(
            c("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            Compression::Gzip
        );
        let err = claimed_compression("application/vnd.in-toto+json", "layer 3")
            .expect_err("not a layer")
            .to_string();
        assert!(err.contains("layer 3") && err.contains("in-toto"), "{err}");
    }
}
