//! Naming a stack: the ordered layers of one overlay, top-down, and the mount options that
//! change how the kernel reads them.
//!
//! Layers are numbered top-down: 0 is the upperdir when there is one, then each lowerdir in
//! lookup order (the leftmost `lowerdir=` entry first), then the data-only layers.

pub mod archive;
pub mod bolt;
pub mod containerd;
pub mod discover;
pub mod docker;
pub mod engine;
pub mod k8s;
pub mod mountinfo;
pub mod options;
pub mod podman;
pub mod refusal;
pub mod spec;

use std::path::PathBuf;

pub use crate::fsio::LayerFormat;

pub use options::{MountOptions, RedirectMode, XattrNamespace, Xino};

/// What a layer is to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerRole {
    /// The writable upperdir.
    Upper,
    /// A read-only lowerdir that takes part in the merged tree.
    Lower,
    /// A data-only lower layer (`::` or `datadir+=`): reachable only through metacopy redirects.
    DataOnly,
}

impl LayerRole {
    /// Short lowercase name, as printed by `layers`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LayerRole::Upper => "upper",
            LayerRole::Lower => "lower",
            LayerRole::DataOnly => "data-only",
        }
    }
}

/// One layer directory of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Upper, lower or data-only.
    pub role: LayerRole,
    /// The directory on disk (absolute).
    pub path: PathBuf,
    /// A human label: the image instruction that made it, "container web", or none.
    pub label: Option<String>,
    /// The engine's IDs and creation time for it, where the engine records them.
    pub ids: LayerIds,
    /// How it records whiteouts: the kernel's way, or `.wh.` files.
    pub format: LayerFormat,
}

impl Layer {
    /// Opens the layer for reading, in its format.
    ///
    /// # Errors
    /// The layer cannot be opened; the message names it.
    pub fn open(&self) -> crate::error::Result<crate::fsio::LayerRoot> {
        crate::fsio::LayerRoot::open_as(&self.path, self.format.clone())
    }
}

/// What an engine records about one layer (each field only where that engine has it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LayerIds {
    /// The engine's ID of the layer: Docker's chain ID (`sha256:...`), the containers-storage
    /// layer ID, containerd's snapshot name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_id: Option<String>,
    /// The name of its directory in the store: Docker's cache ID (`overlay2/<cache-id>`, a
    /// container's mount ID), containerd's snapshot key (the numeric directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_id: Option<String>,
    /// The digest of the uncompressed layer (`sha256:...`, an image config's `rootfs.diff_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// When it was made, as the engine recorded it (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The digest of the layer as it travels (`sha256:...` of the blob, compressed or not): an
    /// image manifest's layer digest. Only for layers read from an archive or layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The size of that blob in bytes (compressed, when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_bytes: Option<u64>,
}

impl LayerIds {
    /// Whether the engine recorded nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == LayerIds::default()
    }
}

/// An overlay stack: its layers top-down and the options that govern the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStack {
    /// How the stack was named, for display ("/var/lib/docker/.../merged", "docker:web", ...).
    pub name: String,
    /// Top-down: the upper (if any), the lowers in lookup order, then the data-only layers.
    pub layers: Vec<Layer>,
    /// The workdir, when known. Never a content layer.
    pub workdir: Option<PathBuf>,
    /// Where the stack is mounted now, when it is.
    pub mountpoint: Option<PathBuf>,
    /// The options that change the merged view.
    pub options: MountOptions,
}

impl LayerStack {
    /// Builds a stack from an upperdir, normal lowers (top first) and data-only lowers.
    #[must_use]
    pub fn from_dirs(
        name: String,
        upper: Option<PathBuf>,
        lowers: Vec<PathBuf>,
        data_only: Vec<PathBuf>,
        options: MountOptions,
    ) -> Self {
        let layer = |role, path| Layer {
            role,
            path,
            label: None,
            ids: LayerIds::default(),
            format: LayerFormat::Kernel,
        };
        let options = if upper.is_some() {
            options
        } else {
            options.without_upper()
        };
        let layers = upper
            .into_iter()
            .map(|p| layer(LayerRole::Upper, p))
            .chain(lowers.into_iter().map(|p| layer(LayerRole::Lower, p)))
            .chain(data_only.into_iter().map(|p| layer(LayerRole::DataOnly, p)))
            .collect();
        LayerStack {
            name,
            layers,
            workdir: None,
            mountpoint: None,
            options,
        }
    }

    /// Whether layer 0 is an upperdir.
    #[must_use]
    pub fn has_upper(&self) -> bool {
        self.layers
            .first()
            .is_some_and(|l| l.role == LayerRole::Upper)
    }

    /// Indexes of the layers that take part in the merged tree (upper and normal lowers).
    pub fn tree_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.role != LayerRole::DataOnly)
            .map(|(i, _)| i)
    }

    /// Indexes of the data-only layers, in lookup order.
    pub fn data_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.role == LayerRole::DataOnly)
            .map(|(i, _)| i)
    }

    /// Waits until every layer read from an archive has its digests checked (layer tars are
    /// handed out while their hashes still run); at once for directories.
    ///
    /// # Errors
    /// A layer blob does not match its records (the lowest such layer, as the records list
    /// them first); the message names the blob.
    pub fn verified(&self) -> crate::error::Result<()> {
        for layer in self.layers.iter().rev() {
            if let LayerFormat::Tar(tar) = &layer.format {
                tar.verified()?;
            }
        }
        Ok(())
    }

    /// A display label for layer `index`: its label, else its role and path.
    #[must_use]
    pub fn describe(&self, index: usize) -> String {
        match self.layers.get(index) {
            Some(Layer {
                label: Some(label), ..
            }) => label.clone(),
            Some(layer) => format!("{} {}", layer.role.as_str(), layer.path.display()),
            None => format!("layer {index}"),
        }
    }
}
