//! Turning what the user typed into a stack: a mount point, explicit layer directories, or a
//! container engine's name for a container or image (`docker:web`, `podman:db`,
//! `containerd:k8s.io/nginx`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::LayerStack;
use super::mountinfo;
use super::options::{KernelDefaults, MountOptions, split_lowerdir, split_options};
use crate::error::{Error, Result};

/// How a stack was named on the command line.
#[derive(Debug, Clone, Default)]
pub struct StackRequest {
    /// A positional STACK: a mount point (or an engine name, see the README).
    pub stack: Option<String>,
    /// `--lowerdir A:B:C`, the mount option's syntax.
    pub lowerdir: Option<std::ffi::OsString>,
    /// `--upperdir U`.
    pub upperdir: Option<PathBuf>,
    /// `-o OPTIONS`, the mount's option names.
    pub options: Option<std::ffi::OsString>,
    /// Container engines' storage roots (`--docker-root`, ...), for `docker:NAME` and friends.
    pub roots: super::engine::Roots,
}

impl StackRequest {
    /// Whether the layers were given explicitly (so every positional is a path).
    #[must_use]
    pub fn is_explicit(&self) -> bool {
        self.lowerdir.is_some()
    }
}

/// Resolves a request to a stack.
///
/// # Errors
/// Nothing names a stack, the named thing is not an overlay, or the options are malformed.
pub fn resolve(req: &StackRequest) -> Result<LayerStack> {
    resolve_noted(req).map(|(stack, _)| stack)
}

/// Resolves a request to a stack, with notes for the user (layers skipped, records that
/// disagree, a mount that differs from the engine's records).
///
/// # Errors
/// As [`resolve`].
pub fn resolve_noted(req: &StackRequest) -> Result<(LayerStack, Vec<String>)> {
    if req.lowerdir.is_none()
        && let Some(name) = &req.stack
        && let Some(found) = super::discover::resolve(name, &req.roots)
    {
        return found;
    }
    resolve_plain(req).map(|s| (s, Vec::new()))
}

fn resolve_plain(req: &StackRequest) -> Result<LayerStack> {
    let kernel = KernelDefaults::read();
    if let Some(lowerdir) = &req.lowerdir {
        return explicit(req, lowerdir, &kernel);
    }
    let Some(name) = &req.stack else {
        return Err(Error::BadInput(
            "no stack named: give an overlay mount point, docker:NAME, podman:NAME, \
             containerd:[NAMESPACE/]NAME, or the layers with --lowerdir A:B [--upperdir U] \
             (`layerscope list` shows the stacks on this host)"
                .into(),
        ));
    };
    let entry = mountinfo::find_mount(std::path::Path::new(name))?;
    mountinfo::stack_from_entry(&entry, &kernel)
}

fn explicit(req: &StackRequest, lowerdir: &OsStr, kernel: &KernelDefaults) -> Result<LayerStack> {
    let (lowers, data) = split_lowerdir(lowerdir.as_bytes())?;
    let opts = req
        .options
        .as_ref()
        .map(|o| split_options(o.as_bytes()))
        .unwrap_or_default();
    let options =
        MountOptions::from_options(opts.iter().map(|(k, v)| (k.as_str(), v.as_deref())), kernel)?;
    let absolute = |p: PathBuf| -> Result<PathBuf> {
        let meta = std::fs::symlink_metadata(&p).map_err(|e| {
            Error::BadInput(format!(
                "layer directory '{}' cannot be read: {e}",
                p.display()
            ))
        })?;
        if !meta.is_dir() {
            return Err(Error::BadInput(format!(
                "layer '{}' is not a directory: each layer must be a directory",
                p.display()
            )));
        }
        std::path::absolute(&p).map_err(|e| Error::io("resolving", &p, e))
    };
    let lowers = lowers
        .into_iter()
        .map(absolute)
        .collect::<Result<Vec<_>>>()?;
    let data = data.into_iter().map(absolute).collect::<Result<Vec<_>>>()?;
    let upper = req.upperdir.clone().map(absolute).transpose()?;
    let name = format!("lowerdir={}", lowerdir.to_string_lossy());
    Ok(LayerStack::from_dirs(name, upper, lowers, data, options))
}
