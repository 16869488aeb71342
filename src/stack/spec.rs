//! Turning what the user typed into a stack: a mount point, explicit layer directories, or a
//! container engine's name for a container or image (`docker:web`, `podman:db`,
//! `containerd:k8s.io/nginx`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::LayerStack;
use super::mountinfo;
use super::options::{KernelDefaults, MountOptions, parse_user_options, split_lowerdir};
use super::refusal::{Given, check_layers};
use crate::error::{Error, Result};

/// How a stack was named on the command line.
#[derive(Debug, Clone, Default)]
pub struct StackRequest {
    /// A positional STACK: a mount point (or an engine name, see the README). Bytes, since a
    /// mount point need not be UTF-8.
    pub stack: Option<std::ffi::OsString>,
    /// `--lowerdir A:B:C`, the mount option's syntax.
    pub lowerdir: Option<std::ffi::OsString>,
    /// `--upperdir U`.
    pub upperdir: Option<PathBuf>,
    /// `--workdir W`: the mount's workdir, for its index.
    pub workdir: Option<PathBuf>,
    /// `-o OPTIONS`, the mount's option names.
    pub options: Option<std::ffi::OsString>,
    /// Container engines' storage roots (`--docker-root`, ...), for `docker:NAME` and friends.
    pub roots: super::engine::Roots,
    /// `--layer-format`: how the `--lowerdir`/`--upperdir` layers record whiteouts.
    pub layer_format: super::LayerFormat,
    /// `--platform OS/ARCH[/VARIANT]`: which image of a multi-platform archive or layout.
    pub platform: Option<String>,
    /// `--no-verify`: an archive's layer blobs are not hashed against their digests.
    pub no_verify: bool,
}

impl StackRequest {
    /// Whether the layers were given explicitly (so every positional is a path).
    #[must_use]
    pub fn is_explicit(&self) -> bool {
        self.lowerdir.is_some()
    }
}

/// Refuses a STACK that lies inside a mounted overlay rather than at its mount point, before a
/// command looks at its other arguments, with the form to type for `command` (see
/// [`mountinfo::inside_overlay`]): `cat /mnt/merged/etc/motd` suggests
/// `layerscope cat /mnt/merged /etc/motd`.
///
/// # Errors
/// The STACK is a path inside an overlay mount.
pub fn check_stack_is_mount_point(
    req: &StackRequest,
    command: &str,
    takes_path: bool,
) -> Result<()> {
    let Some(stack) = req.stack.as_ref().filter(|_| !req.is_explicit()) else {
        return Ok(());
    };
    let path = std::path::Path::new(stack);
    match mountinfo::overlay_holding(path) {
        Some((mountpoint, inner)) => Err(mountinfo::inside_overlay(
            path,
            &mountpoint,
            &inner,
            command,
            takes_path,
        )),
        None => Ok(()),
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
/// disagree, a mount that differs from the engine's records). An archive's layers are
/// verified against its records before this returns.
///
/// # Errors
/// As [`resolve`], and an archive's layer blob that does not match its records.
pub fn resolve_noted(req: &StackRequest) -> Result<(LayerStack, Vec<String>)> {
    let (stack, notes) = resolve_unverified(req)?;
    stack.verified()?;
    Ok((stack, notes))
}

/// As [`resolve_noted`], but an archive's layers may still be being hashed when it returns,
/// so that a command computes its answer meanwhile. Nothing of the stack may be shown before
/// [`LayerStack::verified`] (or, for all stacks the process opened, `fsio::tar::verify_all`)
/// is `Ok`: the command line holds its output until then.
///
/// # Errors
/// As [`resolve`]; an archive that is not a tar, or a damaged layer tar, fails here already.
pub fn resolve_unverified(req: &StackRequest) -> Result<(LayerStack, Vec<String>)> {
    if req.lowerdir.is_none()
        && let Some(name) = &req.stack
        && let Some(found) =
            super::archive::resolve(name.as_bytes(), req.platform.as_deref(), !req.no_verify)
    {
        return found;
    }
    for (given, what) in [
        (req.platform.is_some(), "--platform chooses an image in"),
        (req.no_verify, "--no-verify skips the digest checks of"),
    ] {
        if given {
            return Err(Error::BadInput(format!(
                "{what} an archive or OCI layout (docker-archive:, oci:, oci-archive:): drop \
                 it for this stack"
            )));
        }
    }
    if req.lowerdir.is_none()
        && let Some(name) = req.stack.as_ref().and_then(|s| s.to_str())
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
    if req.options.is_some() {
        return Err(Error::BadInput(format!(
            "-o applies to layers given with --lowerdir; the overlay at '{}' has its options \
             from the mount itself: drop -o",
            crate::escape::display(name.as_bytes())
        )));
    }
    let entry = mountinfo::find_mount(std::path::Path::new(name))?;
    mountinfo::stack_from_entry(&entry, &kernel)
}

fn explicit(req: &StackRequest, lowerdir: &OsStr, kernel: &KernelDefaults) -> Result<LayerStack> {
    let (lowers, data) = split_lowerdir(lowerdir.as_bytes())?;
    let options = match &req.options {
        Some(o) => {
            // The kernel's own refusals first, in its words; then our stricter parse.
            super::refusal::check_options(o.as_bytes(), req.upperdir.is_some(), kernel)?;
            parse_user_options(o.as_bytes(), kernel)?
        }
        None => MountOptions::defaults(kernel),
    };
    let colon_hint = if lowerdir.as_bytes().contains(&b':') {
        " (layers are separated by ':'; write a ':' inside a name as '\\:')"
    } else {
        ""
    };
    // A layer path may itself be a symlink (Docker's `l/` links): follow it here, as the
    // kernel does when it resolves the option; nothing inside a layer is ever followed.
    let check = |p: PathBuf, flag: &str, hint: &str| -> Result<PathBuf> {
        let shown = crate::escape::path(&p);
        let meta = std::fs::metadata(&p).map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist",
                std::io::ErrorKind::PermissionDenied => {
                    "cannot be read (permission denied: run as a user who may read it, e.g. with sudo)"
                }
                _ => "cannot be read",
            };
            let noun = if flag == "--workdir" { "directory" } else { "layer" };
            Error::BadInput(format!("{flag} {noun} '{shown}' {what}: {e}; check the path{hint}"))
        })?;
        if !meta.is_dir() {
            return Err(Error::BadInput(format!(
                "{flag} '{shown}' is not a directory: each layer must be a directory{hint}"
            )));
        }
        std::path::absolute(&p).map_err(|e| Error::io("resolving", &p, e))
    };
    let lowers = lowers
        .into_iter()
        .map(|p| check(p, "--lowerdir", colon_hint))
        .collect::<Result<Vec<_>>>()?;
    let data = data
        .into_iter()
        .map(|p| check(p, "--lowerdir data-only", colon_hint))
        .collect::<Result<Vec<_>>>()?;
    let upper = req
        .upperdir
        .clone()
        .map(|p| check(p, "--upperdir", ""))
        .transpose()?;
    let given: Vec<Given<'_>> = upper
        .iter()
        .map(|p| Given {
            flag: "--upperdir",
            path: p,
        })
        .chain(lowers.iter().map(|p| Given {
            flag: "--lowerdir",
            path: p,
        }))
        .chain(data.iter().map(|p| Given {
            flag: "--lowerdir data-only",
            path: p,
        }))
        .collect();
    check_layers(&given)?;
    let name = format!("lowerdir={}", lowerdir.to_string_lossy());
    let workdir = req
        .workdir
        .clone()
        .map(|p| check(p, "--workdir", ""))
        .transpose()?;
    let mut stack = LayerStack::from_dirs(name, upper, lowers, data, options);
    stack.workdir = workdir;
    for layer in &mut stack.layers {
        layer.format = req.layer_format.clone();
    }
    Ok(stack)
}
