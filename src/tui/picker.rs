//! The stacks the picker offers when `layerscope` starts without naming one.
//!
//! [`candidates`] is the seam: today it lists the overlay mounts of `/proc/self/mountinfo`;
//! engine discovery (docker:, podman:, containerd: names) plugs in here by returning more
//! [`Candidate`]s, each carrying the [`StackRequest`] that opens it.

use crate::escape;
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

/// Every stack on the host the picker should offer, in display order.
#[must_use]
pub fn candidates() -> Vec<Candidate> {
    let Ok(text) = std::fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    from_mountinfo(&text)
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
                    stack: Some(m.mountpoint.to_string_lossy().into_owned()),
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
        assert_eq!(c[0].request.stack.as_deref(), Some("/mnt/m x"));
    }
}
