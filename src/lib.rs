//! layerscope: explore Linux OverlayFS layer stacks.
//!
//! The model on one page:
//! - [`stack`] names a stack: its layers top-down (upper, lowers, data-only) and the mount
//!   options that change the merge, from a mount point, explicit directories, or an engine's
//!   own files (`docker:`, `podman:`, `containerd:`), with human labels for the layers.
//! - [`fsio`] is the only code that touches layer files: read-only through a private `noatime`
//!   clone of each layer's mount, never following a symlink, never crossing a mount point.
//! - [`merge`] applies the kernel's rules (whiteouts, opaque directories, redirects, metacopy)
//!   to compute the merged view and, for every path, which layer supplies it and what it hides.
//! - [`diff`] says what one layer changes relative to the layers below (`docker diff`'s rules).
//! - [`waste`] says where the bytes go: stored, visible and wasted bytes per layer and path.
//! - [`live`] watches the upper layer and explains each change in overlay's terms.
//! - [`report`] turns the model into JSON Lines and terminal-safe text; `cli` is thin over it.
//! - [`teach`] builds a sample stack, mounts it in a private namespace, and tours copy-on-write.
//! - [`tui`] is the interactive explorer, equally thin: background jobs call the modules above
//!   and feed one inbox; only `tui` imports ratatui and crossterm, and only with the `tui`
//!   cargo feature (on by default): without it the library and the CLI build with neither.

pub mod cli;
pub mod diff;
pub mod du;
pub mod error;
pub mod escape;
pub mod fsio;
pub mod live;
pub mod merge;
pub mod report;
pub mod stack;
pub mod teach;
pub mod timestamp;
#[cfg(feature = "tui")]
pub mod tui;
pub mod waste;

pub use error::{Error, Result};
