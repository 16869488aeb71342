//! The scripting commands: each takes parsed arguments and a writer, and prints text for people
//! or JSON Lines for scripts from the same domain data.

pub mod args;
pub mod cat;
pub mod check;
pub mod demo;
pub mod diff;
pub mod du;
pub mod held;
pub mod layers;
pub mod list;
pub mod ls;
pub mod shell;
pub mod waste;
pub mod watch;
pub mod which;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::error::Error;
use crate::merge::Merger;
use crate::stack::spec::{StackRequest, resolve_unverified};
use crate::stack::{LayerStack, XattrNamespace};

pub use args::{Cli, Command, EngineRoots, StackArgs};

/// Splits positionals into the stack name and paths: with `--lowerdir`, every positional is a
/// path; otherwise the first one names the stack.
#[must_use]
pub fn split_positionals(
    stack: &StackArgs,
    positionals: &[OsString],
) -> (StackRequest, Vec<Vec<u8>>) {
    let mut req = StackRequest {
        stack: None,
        lowerdir: stack.lowerdir.clone(),
        upperdir: stack.upperdir.clone(),
        workdir: stack.workdir.clone(),
        options: stack.options.clone(),
        roots: stack.roots.roots(),
        layer_format: stack.layer_format.into(),
        platform: stack.platform.clone(),
        no_verify: stack.no_verify,
    };
    let mut rest = positionals.iter();
    if !req.is_explicit() {
        req.stack = rest.next().cloned();
    }
    (req, rest.map(|p| p.as_bytes().to_vec()).collect())
}

/// Resolves and opens a stack, warning on stderr when the view would be incomplete.
///
/// An archive's layers may still be being verified when this returns: the binary holds
/// standard output until `fsio::tar::verify_all` passes, and prints nothing of a stack that
/// fails it.
///
/// # Errors
/// The stack cannot be named or opened.
pub fn open(req: &StackRequest) -> Result<Merger, Error> {
    let (stack, notes) = resolve_unverified(req)?;
    if !notes.is_empty() {
        // The notes quote the layers' entries: only of a verified archive.
        stack.verified()?;
    }
    for note in notes {
        eprintln!(
            "layerscope: note: {}",
            crate::escape::display(note.as_bytes())
        );
    }
    warn_if_blind(&stack);
    let merger = Merger::open(&stack)?;
    if let Some(w) = crate::fsio::jail_warning() {
        eprintln!("layerscope: warning: {w}");
    }
    Ok(merger)
}

/// Without CAP_SYS_ADMIN the kernel hides `trusted.*` xattrs, so opaque directories, redirects
/// and metacopy files would look like plain entries: say so instead of showing a wrong view.
pub fn warn_if_blind(stack: &LayerStack) {
    if stack.options.xattr == XattrNamespace::Trusted && !crate::fsio::can_read_trusted_xattrs() {
        eprintln!(
            "layerscope: warning: this stack keeps its markers in trusted.* xattrs, which only root \
             can read; opaque directories, redirects and metacopy files will be missed. Run with sudo \
             for an exact view."
        );
    }
}
