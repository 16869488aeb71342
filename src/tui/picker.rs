//! The stacks the picker offers when `layerscope` starts without naming one.
//!
//! [`candidates`] lists what `layerscope list` finds (engines' containers and images, overlay
//! mounts), each as a [`Candidate`] carrying the [`StackRequest`] that opens it.

use crate::escape;
use crate::stack::discover;
use crate::stack::engine::{Found, Roots};
use crate::stack::mountinfo;
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
#[must_use]
pub fn candidates() -> Vec<Candidate> {
    let (found, _notes) = discover::list(&Roots::default());
    found.into_iter().map(from_found).collect()
}

/// A discovered stack, as a candidate.
fn from_found(f: Found) -> Candidate {
    let mut detail = format!("{} {}", f.engine.as_str(), f.kind.as_str());
    if let Some(image) = &f.image {
        detail.push_str(&format!(" from {}", escape::display(image.as_bytes())));
    }
    detail.push_str(&format!(", {} layer{}", f.layers, if f.layers == 1 { "" } else { "s" }));
    if f.mountpoint.is_some() {
        detail.push_str(", mounted");
    }
    Candidate {
        title: escape::display(f.stack.as_bytes()),
        detail,
        request: StackRequest { stack: Some(f.stack.into()), ..StackRequest::default() },
    }
}

/// The overlay mounts of a mountinfo text, as candidates.
#[must_use]
pub fn from_mountinfo(text: &[u8]) -> Vec<Candidate> {
    let kernel = crate::stack::options::KernelDefaults::default();
    mountinfo::parse(text)
        .into_iter()
        .filter(|m| m.fstype == "overlay")
        .map(|m| {
            let detail = match mountinfo::stack_from_entry(&m, &kernel) {
                Ok(stack) => {
                    let lowers = stack.tree_layers().count() - usize::from(stack.has_upper());
                    format!(
                        "overlay mount, {} upper, {lowers} lower layer{}",
                        if stack.has_upper() { "1" } else { "no" },
                        if lowers == 1 { "" } else { "s" }
                    )
                }
                Err(e) => format!("overlay mount ({e})"),
            };
            Candidate {
                title: escape::path(&m.mountpoint),
                detail,
                request: StackRequest {
                    stack: Some(m.mountpoint.clone().into_os_string()),
                    ..StackRequest::default()
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::from_mountinfo;

    #[test]
    fn overlay_mounts_become_candidates_and_others_do_not() {
        let text = b"22 1 0:21 / / rw - ext4 /dev/sda1 rw\n\
            99 22 0:50 / /mnt/m\\040x rw - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w\n";
        let c = from_mountinfo(text);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].title, "/mnt/m x");
        assert_eq!(c[0].detail, "overlay mount, 1 upper, 2 lower layers");
        assert_eq!(c[0].request.stack.as_deref(), Some(std::ffi::OsStr::new("/mnt/m x")));
    }
}
