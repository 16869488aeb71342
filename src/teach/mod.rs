//! Teaching mode: a sample overlay stack mounted for real, and a guided copy-on-write tour.
//!
//! [`Demo::start`] builds a small distribution in three image layers plus an empty container
//! layer ([`sample`]), mounts it with the kernel inside a private mount namespace
//! ([`sandbox`]), and hands back the stack for the rest of layerscope to read. [`Tour`] is the
//! tour as data: each [`Step`] runs one real operation through the merged mount, says what the
//! kernel did, and names the on-disk evidence, which [`Tour::run_next`] checks by reading the
//! layer directories afterwards.
//!
//! Nothing here imports a terminal library: the CLI (`demo --script`) prints the tour and the
//! TUI shows it in a panel, both from the same data.
//!
//! ```no_run
//! # fn main() -> layerscope::Result<()> {
//! use layerscope::teach::{Demo, DemoOptions, Tour};
//! // Before any thread starts: entering the namespaces needs a single-threaded process.
//! let demo = Demo::start(&DemoOptions::default())?;
//! let mut tour = Tour::new(&demo);
//! while tour.next_index().is_some() && demo.is_live() {
//!     let outcome = tour.run_next(&demo)?;
//!     assert!(outcome.all_ok());
//! }
//! # Ok(()) }
//! ```

pub mod sample;
pub mod sandbox;
mod tour;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::merge::Merger;
use crate::stack::options::{KernelDefaults, split_options};
use crate::stack::{LayerStack, MountOptions, XattrNamespace};

pub use sample::SampleLayout;
pub use sandbox::{Namespace, Storage};
pub use tour::{Check, Evidence, Fact, OpResult, Step, StepKind, StepOutcome, Tour};

/// How to start the demo.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Build the sample stack but do not mount it: the stack is read from its layer
    /// directories only and the live tour is off.
    pub no_mount: bool,
}

/// Whether the tour can run operations through a real mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// The overlay is mounted at the layout's `merged` directory with these options (besides
    /// the layer directories).
    Mounted {
        /// `redirect_dir=on,metacopy=on` as root, `userxattr` in a user namespace.
        options: String,
    },
    /// Nothing is mounted; the stack can still be read from its layers.
    Off {
        /// Why, in words.
        why: String,
    },
}

/// A running demo: the sample stack, how it is isolated, and whether it is mounted.
///
/// Dropping it detaches the mounts and removes the on-disk directory, if any. The process stays
/// in the namespaces it entered.
#[derive(Debug)]
pub struct Demo {
    /// The layer directories.
    pub layout: SampleLayout,
    /// The stack as layerscope reads it: the upper (layer 0), then the image layers top-down,
    /// labelled; `mountpoint` is set when the overlay is mounted.
    pub stack: LayerStack,
    /// How the process is isolated from the host's mounts.
    pub namespace: Namespace,
    /// Where the layers are stored.
    pub storage: Storage,
    /// Whether the overlay is mounted.
    pub live: Live,
    /// Things worth telling the user (a fallback taken, stale directories removed).
    pub notes: Vec<String>,
}

impl Demo {
    /// Builds the sample stack and mounts it, isolated so that nothing outlives the process.
    ///
    /// Call it before any thread starts (see [`sandbox::enter`]). When no namespace or mount is
    /// possible, the demo still starts, read-only, and [`Demo::live`] says why.
    ///
    /// # Errors
    /// The temp directory is unusable or the sample layers cannot be written.
    pub fn start(opts: &DemoOptions) -> Result<Demo> {
        let tmp = std::path::absolute(std::env::temp_dir())
            .map_err(|e| Error::io("resolving the temp directory", std::env::temp_dir(), e))?;
        let mut notes = Vec::new();
        let stale = sandbox::remove_stale(&tmp);
        if stale > 0 {
            notes.push(format!(
                "removed {stale} directory(ies) left in {} by demos that were killed",
                tmp.display()
            ));
        }
        let namespace = if opts.no_mount {
            Namespace::None {
                why: "--no-mount was given".into(),
            }
        } else {
            sandbox::enter()
        };
        let xattr = match namespace {
            Namespace::PrivateMounts => XattrNamespace::Trusted,
            Namespace::User => XattrNamespace::User,
            Namespace::None { .. } => {
                if rustix::process::geteuid().is_root() && crate::fsio::can_read_trusted_xattrs() {
                    XattrNamespace::Trusted
                } else {
                    XattrNamespace::User
                }
            }
        };
        let mount_extra = match xattr {
            XattrNamespace::Trusted => "redirect_dir=on,metacopy=on",
            XattrNamespace::User => "userxattr",
        };

        let mut storage = Storage::Disk;
        if !matches!(namespace, Namespace::None { .. }) {
            if tmp == Path::new("/") {
                notes.push("the temp directory is /, so the layers go to disk".into());
            } else {
                let prefix = xattr.prefix().trim_end_matches("overlay.");
                match sandbox::mount_tmpfs(&tmp, prefix) {
                    Ok(()) => storage = Storage::PrivateTmpfs,
                    Err(e) => notes.push(format!(
                        "no private tmpfs ({e}): the layers go to disk and are removed on exit"
                    )),
                }
            }
        }
        let root = match storage {
            Storage::PrivateTmpfs => tmp.join(sandbox::TMPFS_DIR),
            Storage::Disk => tmp.join(format!("{}{}", sandbox::DISK_PREFIX, std::process::id())),
        };
        let merged = root.join("merged");
        match storage {
            Storage::PrivateTmpfs => sandbox::register_cleanup(vec![merged, tmp.clone()], None),
            Storage::Disk => {
                sandbox::register_cleanup(vec![merged], Some(root.clone()));
                sandbox::cleanup_on_signals()
                    .map_err(|e| Error::io("watching signals for", &root, e))?;
            }
        }
        let built = std::fs::create_dir(&root)
            .map_err(|e| Error::io("creating the demo directory", &root, e))
            .and_then(|()| sample::build(&root, xattr));
        let layout = match built {
            Ok(l) => l,
            Err(e) => {
                sandbox::cleanup();
                return Err(e);
            }
        };

        let live = match &namespace {
            Namespace::None { why } => Live::Off { why: why.clone() },
            _ => {
                let lowers: Vec<&Path> = layout.lowers.iter().map(|(p, _)| p.as_path()).collect();
                match sandbox::mount_overlay(
                    &lowers,
                    &layout.upper,
                    &layout.work,
                    &layout.merged,
                    mount_extra,
                ) {
                    Ok(()) => Live::Mounted {
                        options: mount_extra.into(),
                    },
                    Err(e) => Live::Off {
                        why: format!("the kernel refused the overlay mount: {e}"),
                    },
                }
            }
        };
        let stack = demo_stack(&layout, mount_extra, &live)?;
        Ok(Demo {
            layout,
            stack,
            namespace,
            storage,
            live,
            notes,
        })
    }

    /// Whether operations run through a real mount.
    #[must_use]
    pub fn is_live(&self) -> bool {
        matches!(self.live, Live::Mounted { .. })
    }

    /// Whether the mount has `redirect_dir=on` and `metacopy=on` (a privileged mount).
    #[must_use]
    pub fn has_redirect_and_metacopy(&self) -> bool {
        self.is_live() && self.stack.options.metacopy && self.stack.options.redirect.follows()
    }

    /// The namespace of the overlay xattrs in this stack.
    #[must_use]
    pub fn xattr_namespace(&self) -> XattrNamespace {
        self.stack.options.xattr
    }

    /// Opens the stack for lookups and listings.
    ///
    /// # Errors
    /// A layer directory cannot be opened.
    pub fn merger(&self) -> Result<Merger> {
        Merger::open(&self.stack)
    }

    /// The stack index of the image layer whose directory is named `dir` (`1-base`, ...).
    #[must_use]
    pub fn layer_index(&self, dir: &str) -> Option<usize> {
        self.stack
            .layers
            .iter()
            .position(|l| l.path.file_name().is_some_and(|n| n == dir))
    }

    /// One sentence on where the demo lives and what happens to it at the end.
    #[must_use]
    pub fn describe_isolation(&self) -> String {
        let ns = match &self.namespace {
            Namespace::PrivateMounts => "as root, in a private mount namespace".to_string(),
            Namespace::User => {
                "as root of a new user namespace (unprivileged), in a private mount namespace"
                    .to_string()
            }
            Namespace::None { .. } => "without a namespace".to_string(),
        };
        let storage = match self.storage {
            Storage::PrivateTmpfs => {
                "on a tmpfs only this process sees: it vanishes when the demo ends, however it ends"
            }
            Storage::Disk => {
                "on disk: removed at exit or Ctrl-C, and by the next demo after a kill"
            }
        };
        format!("{ns}; the layers are {storage}")
    }

    /// The merged mount's path for a merged path like `/etc/os-release`.
    #[must_use]
    pub fn merged_path(&self, path: &str) -> PathBuf {
        self.layout.merged.join(path.trim_start_matches('/'))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        sandbox::cleanup();
    }
}

fn demo_stack(layout: &SampleLayout, mount_extra: &str, live: &Live) -> Result<LayerStack> {
    let opts = split_options(mount_extra.as_bytes());
    let options = MountOptions::from_options(
        opts.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
        &KernelDefaults::read(),
    )?;
    let mut stack = LayerStack::from_dirs(
        "layerscope demo".into(),
        Some(layout.upper.clone()),
        layout.lowers.iter().map(|(p, _)| p.clone()).collect(),
        Vec::new(),
        options,
    );
    stack.layers[0].label = Some("the container's writable layer (upperdir)".into());
    for (layer, (_, label)) in stack.layers[1..].iter_mut().zip(&layout.lowers) {
        layer.label = Some(label.clone());
    }
    stack.workdir = Some(layout.work.clone());
    if matches!(live, Live::Mounted { .. }) {
        stack.mountpoint = Some(layout.merged.clone());
    }
    Ok(stack)
}
