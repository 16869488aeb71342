//! The stacks the picker offers when `layerscope` starts without naming one, and how the
//! picker orders and filters them (pure: the app and the view share it).
//!
//! [`candidates`] lists what `layerscope list` finds (engines' containers and images, overlay
//! mounts), each as a [`Candidate`] carrying the [`StackRequest`] that opens it.

use std::collections::HashMap;

use crate::escape;
use crate::stack::discover;
use crate::stack::engine::{Found, Roots};
use crate::stack::spec::StackRequest;

/// One stack the picker can open.
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    /// What it is called ("/var/lib/docker/overlay2/…/merged", "docker:web").
    pub title: String,
    /// One line about it ("overlay mount, 3 lower layers").
    pub detail: String,
    /// How to open it.
    pub request: StackRequest,
    /// The engine ("docker", "podman", "containerd", "mount").
    pub engine: String,
    /// "container", "image", "snapshot" or "mount".
    pub kind: String,
    /// The human name (container name, image tag, snapshot key, mount point), escaped.
    pub name: String,
    /// The image a container was made from, escaped.
    pub image: Option<String>,
    /// Layers in the stack (upper included).
    pub layers: usize,
    /// Bytes in regular files across the layers, when known; once the host's disk usage is
    /// in ([`HostUsage`]), the stored bytes of its layer directories, as `layerscope du`
    /// counts them.
    pub size: Option<u64>,
    /// Bytes of its layer directories no other stack uses: what removing it frees (from
    /// [`HostUsage`], once known).
    pub unique: Option<u64>,
    /// Bytes of its layer directories other stacks use too (from [`HostUsage`]).
    pub shared: Option<u64>,
    /// When it was created (RFC 3339, as the engine recorded it).
    pub created: Option<String>,
    /// Mounted now (for a container: it is running).
    pub mounted: bool,
}

impl Candidate {
    /// A running (mounted) container: listed first.
    #[must_use]
    pub fn is_running_container(&self) -> bool {
        self.kind == "container" && self.mounted
    }

    /// Whether it matches a filter: every word of it, ASCII case-insensitive, somewhere in
    /// its engine, kind, name, image or title.
    #[must_use]
    pub fn matches(&self, filter: &str) -> bool {
        let hay = format!(
            "{} {} {} {} {}",
            self.engine,
            self.kind,
            self.name,
            self.image.as_deref().unwrap_or(""),
            self.title
        )
        .to_ascii_lowercase();
        filter
            .split_whitespace()
            .all(|w| hay.contains(&w.to_ascii_lowercase()))
    }
}

/// How the picker orders stacks: running containers first, or by one column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PickerSort {
    /// Running containers first, then by name.
    #[default]
    Running,
    /// By engine, then name.
    Engine,
    /// By kind, then name.
    Kind,
    /// By name.
    Name,
    /// By image, then name.
    Image,
    /// Most layers first.
    Layers,
    /// Largest first (unknown sizes last), then by name.
    Size,
    /// Most unique bytes first: what removing it frees.
    Unique,
    /// Most shared bytes first.
    Shared,
    /// Newest first (unknown times last), then by name.
    Age,
    /// Mounted first, then by name.
    Mounted,
}

impl PickerSort {
    /// The next order (`Ctrl-s`): each column of the table in turn.
    #[must_use]
    pub fn next(self) -> Self {
        use PickerSort::*;
        match self {
            Running => Size,
            Size => Unique,
            Unique => Shared,
            Shared => Age,
            Age => Engine,
            Engine => Kind,
            Kind => Name,
            Name => Image,
            Image => Layers,
            Layers => Mounted,
            Mounted => Running,
        }
    }

    /// In words, for the title.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            PickerSort::Running => "running first, then name",
            PickerSort::Engine => "engine",
            PickerSort::Kind => "kind",
            PickerSort::Name => "name",
            PickerSort::Image => "image",
            PickerSort::Layers => "most layers",
            PickerSort::Size => "size",
            PickerSort::Unique => "unique bytes (what removing it frees)",
            PickerSort::Shared => "shared bytes",
            PickerSort::Age => "newest first",
            PickerSort::Mounted => "mounted first",
        }
    }

    /// The table column it sorts by (its index in the picker's table), if any.
    #[must_use]
    pub fn column(self) -> Option<usize> {
        match self {
            PickerSort::Running => None,
            PickerSort::Engine => Some(0),
            PickerSort::Kind => Some(1),
            PickerSort::Name => Some(2),
            PickerSort::Image => Some(3),
            PickerSort::Layers => Some(4),
            PickerSort::Size => Some(5),
            PickerSort::Unique => Some(6),
            PickerSort::Shared => Some(7),
            PickerSort::Age => Some(8),
            PickerSort::Mounted => Some(9),
        }
    }
}

/// The indexes of the candidates a filter keeps, in the order a sort gives.
#[must_use]
pub fn visible(candidates: &[Candidate], filter: &str, sort: PickerSort) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].matches(filter))
        .collect();
    rows.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        let first = match sort {
            PickerSort::Running => y.is_running_container().cmp(&x.is_running_container()),
            PickerSort::Engine => x.engine.cmp(&y.engine),
            PickerSort::Kind => x.kind.cmp(&y.kind),
            PickerSort::Name => std::cmp::Ordering::Equal,
            PickerSort::Image => match (&x.image, &y.image) {
                // Stacks without an image last.
                (Some(a), Some(b)) => a.cmp(b),
                (a, b) => b.is_some().cmp(&a.is_some()),
            },
            PickerSort::Layers => y.layers.cmp(&x.layers),
            PickerSort::Size => y.size.cmp(&x.size),
            PickerSort::Unique => y.unique.cmp(&x.unique),
            PickerSort::Shared => y.shared.cmp(&x.shared),
            PickerSort::Age => y.created.cmp(&x.created),
            PickerSort::Mounted => y.mounted.cmp(&x.mounted),
        };
        first
            .then_with(|| x.name.cmp(&y.name))
            .then_with(|| x.title.cmp(&y.title))
    });
    rows
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
    candidates_and_notes(roots).0
}

/// [`candidates_in`], with discovery's notes (stores skipped, files unreadable): the picker
/// shows them.
#[must_use]
pub fn candidates_and_notes(roots: &Roots) -> (Vec<Candidate>, Vec<String>) {
    let (found, notes) = discover::list(roots);
    (found.into_iter().map(from_found).collect(), notes)
}

/// The host's disk usage as the picker shows it, from `layerscope du`'s scan: per stack
/// (by the name that opens it) its stored, unique and shared bytes, and the orphans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostUsage {
    /// Per owner name (`docker:web`): (bytes, unique bytes).
    pub owners: HashMap<String, (u64, u64)>,
    /// Layer directories no image, container or snapshot references.
    pub orphans: usize,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// References to layer directories that are gone.
    pub missing: usize,
    /// Bytes of all stores, each inode once.
    pub total: u64,
    /// Stores read (none: nothing was readable, so nothing is said about orphans).
    pub stores: usize,
    /// Why measuring failed, when it did.
    pub error: Option<String>,
}

impl HostUsage {
    /// The picker's view of a `du` scan.
    #[must_use]
    pub fn from_usage(usage: &crate::du::Usage) -> Self {
        let orphans: Vec<&crate::du::LayerDir> =
            usage.dirs.iter().filter(|d| d.orphan.is_some()).collect();
        HostUsage {
            owners: usage
                .owners
                .iter()
                .map(|o| (o.name.clone(), (o.bytes, o.unique_bytes)))
                .collect(),
            orphans: orphans.len(),
            orphan_bytes: orphans.iter().map(|d| d.bytes).sum(),
            missing: usage.missing.len(),
            total: usage.total_bytes(),
            stores: usage.stores.len(),
            error: None,
        }
    }

    /// Scans the host's stores (slow: it measures every layer directory; the picker runs it
    /// in the background).
    #[must_use]
    pub fn scan(roots: &Roots) -> Self {
        Self::from_usage(&crate::du::scan(roots))
    }

    /// Fills in each candidate's size, unique and shared bytes (matched by the name that
    /// opens it; stacks `du` does not own, such as plain overlay mounts, stay as they are).
    pub fn apply(&self, candidates: &mut [Candidate]) {
        for c in candidates {
            let Some(name) = c.request.stack.as_ref().and_then(|s| s.to_str()) else {
                continue;
            };
            if let Some(&(bytes, unique)) = self.owners.get(name) {
                c.size = Some(bytes);
                c.unique = Some(unique);
                c.shared = Some(bytes.saturating_sub(unique));
            }
        }
    }
}

/// What the picker says when the process is not root: the engines' stores are closed to it.
#[must_use]
pub fn unprivileged_note() -> Option<String> {
    (!rustix::process::geteuid().is_root()).then(|| {
        "not root: the engines' stores (/var/lib/docker, /var/lib/containers, \
         /var/lib/containerd) are readable only by root, so their containers and images are \
         missing here; run with sudo to see them. Shown: overlay mounts. `layerscope demo` \
         explores a sample stack."
            .to_string()
    })
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
    let name = escape::display(f.name.as_bytes());
    Candidate {
        title: escape::display(f.stack.as_bytes()),
        detail,
        request: StackRequest {
            stack: Some(f.stack.into()),
            ..StackRequest::default()
        },
        engine: f.engine.as_str().to_string(),
        kind: f.kind.as_str().to_string(),
        name,
        image: f.image.map(|i| escape::display(i.as_bytes())),
        layers: f.layers,
        size: f.size,
        unique: None,
        shared: None,
        created: f.created,
        mounted: f.mountpoint.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: &str, name: &str, mounted: bool, size: Option<u64>, created: &str) -> Candidate {
        Candidate {
            title: format!("docker:{name}"),
            engine: "docker".into(),
            kind: kind.into(),
            name: name.into(),
            mounted,
            size,
            created: Some(created.into()),
            ..Candidate::default()
        }
    }

    #[test]
    fn running_containers_come_first_then_names_and_filters_match_every_word() {
        let all = vec![
            c("image", "alpine", false, Some(5), "2024-01-01"),
            c("container", "web", false, Some(9), "2024-03-01"),
            c("container", "db", true, None, "2024-02-01"),
            c("container", "api", true, Some(1), "2023-01-01"),
        ];
        let names = |rows: Vec<usize>| -> Vec<&str> {
            rows.into_iter().map(|i| all[i].name.as_str()).collect()
        };
        assert_eq!(
            names(visible(&all, "", PickerSort::Running)),
            ["api", "db", "alpine", "web"]
        );
        assert_eq!(
            names(visible(&all, "", PickerSort::Size)),
            ["web", "alpine", "api", "db"]
        );
        assert_eq!(
            names(visible(&all, "", PickerSort::Age)),
            ["web", "db", "alpine", "api"]
        );
        assert_eq!(
            names(visible(&all, "CONT b", PickerSort::Running)),
            ["db", "web"]
        );
    }
}
