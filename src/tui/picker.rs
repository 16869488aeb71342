//! The stacks the picker offers when `layerscope` starts without naming one.
//!
//! [`candidates`] lists what `layerscope list` finds (engines' containers and images, overlay
//! mounts), each as a [`Candidate`] carrying the [`StackRequest`] that opens it.

use crate::escape;
use crate::stack::discover;
use crate::stack::engine::{Found, Roots};
use crate::stack::spec::StackRequest;

/// One stack the picker can open.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// What it is called ("/var/lib/docker/overlay2/…/merged", "docker:web").
    pub title: String,
    /// One line about it ("overlay mount, 3 lower layers").
    pub detail: String,
    /// How to open it.
    pub request: StackRequest,
}

/// Every stack on the host the picker should offer, in display order: containers, images
/// and snapshots from the engines' own files, then overlay mounts no engine claims.
///
/// Starts no thread (`layerscope` decides between the picker and the demo with it before the
/// demo enters its namespaces, which needs a single-threaded process).
#[must_use]
pub fn candidates() -> Vec<Candidate> {
    candidates_in(&Roots::default())
}

/// [`candidates`], with the engines' roots given (`--docker-root`, ...).
#[must_use]
pub fn candidates_in(roots: &Roots) -> Vec<Candidate> {
    let (found, _notes) = discover::list(roots);
    found.into_iter().map(from_found).collect()
}

/// A discovered stack, as a candidate.
fn from_found(f: Found) -> Candidate {
    let mut detail = format!("{} {}", f.engine.as_str(), f.kind.as_str());
    if let Some(image) = &f.image {
        detail.push_str(&format!(" from {}", escape::display(image.as_bytes())));
    }
    detail.push_str(&format!(
        ", {} layer{}",
        f.layers,
        if f.layers == 1 { "" } else { "s" }
    ));
    if f.mountpoint.is_some() {
        detail.push_str(", mounted");
    }
    Candidate {
        title: escape::display(f.stack.as_bytes()),
        detail,
        request: StackRequest {
            stack: Some(f.stack.into()),
            ..StackRequest::default()
        },
    }
}
