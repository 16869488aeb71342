//! The index of one layer tar: a tree of compact nodes (names in one arena, children as
//! sorted runs of one array), built in one pass in the order containerd applies entries.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

use super::TarAnomaly;
use super::header::Entry;
use crate::fsio::whiteout_files::{OPAQUE_MARKER, WHITEOUT_PREFIX};

/// At most this many anomalies are kept (then only counted).
const ANOMALIES_KEPT: usize = 1000;

/// A node: one name of the layer.
#[derive(Debug, Clone)]
pub struct Node {
    name: (u32, u32),
    /// `st_mode`, type bits included (a whiteout is `S_IFCHR` with rdev 0).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// A regular file's size; a symlink's target length.
    pub size: u64,
    /// Where a regular file's bytes start in the uncompressed tar.
    pub data: u64,
    link: (u32, u32),
    pub rdev: (u32, u32),
    /// The node whose inode this name shares (itself, or a hard link's target).
    pub inode: u32,
    /// Names sharing the inode.
    pub nlink: u32,
    /// Index + 1 into the xattr table; 0 for none.
    xattrs: u32,
    children: (u32, u32),
    /// An opaque directory (`.wh..wh..opq`, or a whiteout beside a real directory).
    pub opaque: bool,
}

impl Node {
    fn new(mode: u32) -> Node {
        Node {
            name: (0, 0),
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            data: 0,
            link: (0, 0),
            rdev: (0, 0),
            inode: 0,
            nlink: 1,
            xattrs: 0,
            children: (0, 0),
            opaque: false,
        }
    }

    /// Its file type bits.
    #[must_use]
    pub fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    fn is_whiteout(&self) -> bool {
        self.kind() == libc::S_IFCHR && self.rdev == (0, 0)
    }
}

/// The finished index.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    arena: Vec<u8>,
    children: Vec<u32>,
    xattrs: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// The root's node number.
pub const ROOT: u32 = 0;

impl Tree {
    /// Nodes, the root included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes held on the heap.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.arena.capacity()
            + self.children.capacity() * 4
            + self
                .xattrs
                .iter()
                .map(|x| x.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>())
                .sum::<usize>()
    }

    /// Node `n`.
    #[must_use]
    pub fn node(&self, n: u32) -> &Node {
        &self.nodes[n as usize]
    }

    /// Its name.
    #[must_use]
    pub fn name(&self, n: u32) -> &[u8] {
        let (s, l) = self.nodes[n as usize].name;
        &self.arena[s as usize..(s + l) as usize]
    }

    /// A symlink's target.
    #[must_use]
    pub fn link(&self, n: u32) -> &[u8] {
        let (s, l) = self.nodes[n as usize].link;
        &self.arena[s as usize..(s + l) as usize]
    }

    /// Its extended attributes (never `overlay.*`: those are dropped while indexing).
    #[must_use]
    pub fn xattrs(&self, n: u32) -> &[(Vec<u8>, Vec<u8>)] {
        match self.nodes[n as usize].xattrs {
            0 => &[],
            i => &self.xattrs[i as usize - 1],
        }
    }

    /// A directory's children, sorted by name.
    #[must_use]
    pub fn children(&self, n: u32) -> &[u32] {
        let (s, l) = self.nodes[n as usize].children;
        &self.children[s as usize..(s + l) as usize]
    }

    /// The child `name` of directory `dir`.
    #[must_use]
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let kids = self.children(dir);
        kids.binary_search_by(|&k| self.name(k).cmp(name))
            .ok()
            .map(|i| kids[i])
    }
}

/// Builds a [`Tree`] entry by entry.
pub struct Builder {
    tree: Tree,
    /// (parent, node) for the node each (parent, name) has now, found by the hash of
    /// (parent, name) and compared by the name in the arena: no name is copied to look it up.
    names: HashTable<(u32, u32)>,
    state: DefaultHashBuilder,
    anomalies: Vec<TarAnomaly>,
    more_anomalies: usize,
}

/// How a name splits: its components, or why it cannot be applied.
fn components(name: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut out = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("the name leaves the layer ('..'): never applied"),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Builder {
    /// An index holding only the root (0755, as a layer's root directory is made).
    #[must_use]
    pub fn new() -> Builder {
        let mut root = Node::new(libc::S_IFDIR | 0o755);
        root.inode = ROOT;
        Builder {
            tree: Tree {
                nodes: vec![root],
                ..Tree::default()
            },
            names: HashTable::new(),
            state: DefaultHashBuilder::default(),
            anomalies: Vec::new(),
            more_anomalies: 0,
        }
    }

    fn anomaly(&mut self, e: &Entry, reason: impl Into<String>) {
        if self.anomalies.len() < ANOMALIES_KEPT {
            self.anomalies.push(TarAnomaly {
                path: e.name.clone(),
                reason: reason.into(),
            });
        } else {
            self.more_anomalies += 1;
        }
    }

    fn lookup(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let tree = &self.tree;
        self.names
            .find(self.state.hash_one((dir, name)), |&(p, n)| {
                p == dir && tree.name(n) == name
            })
            .map(|&(_, n)| n)
    }

    fn push(&mut self, parent: u32, name: &[u8], mut node: Node) -> u32 {
        let start = u32::try_from(self.tree.arena.len()).unwrap_or(u32::MAX);
        self.tree.arena.extend_from_slice(name);
        node.name = (start, name.len() as u32);
        let n = self.tree.nodes.len() as u32;
        if node.inode == 0 {
            node.inode = n;
        }
        self.tree.nodes.push(node);
        let (tree, state) = (&self.tree, &self.state);
        let hash = state.hash_one((parent, name));
        match self
            .names
            .find_mut(hash, |&(p, m)| p == parent && tree.name(m) == name)
        {
            Some(slot) => slot.1 = n,
            None => {
                self.names.insert_unique(hash, (parent, n), |&(p, m)| {
                    state.hash_one((p, tree.name(m)))
                });
            }
        }
        n
    }

    /// Walks to the directory holding the last component, making missing directories.
    fn parent_of(&mut self, e: &Entry, parts: &[&[u8]]) -> Option<u32> {
        let mut dir = ROOT;
        for (i, part) in parts.iter().enumerate() {
            dir = match self.lookup(dir, part) {
                Some(n) if self.tree.nodes[n as usize].is_dir() => n,
                Some(n) if self.tree.nodes[n as usize].kind() == libc::S_IFLNK => {
                    let at = String::from_utf8_lossy(&parts[..=i].join(&b'/')).into_owned();
                    self.anomaly(
                        e,
                        format!(
                            "'{}' is a symlink in this layer: an extractor would write through \
                             it; never applied",
                            crate::escape::display(at.as_bytes())
                        ),
                    );
                    return None;
                }
                Some(n) if self.tree.nodes[n as usize].is_whiteout() => {
                    // Deleted below, made again here: a new, opaque directory.
                    let mut d = Node::new(libc::S_IFDIR | 0o755);
                    d.opaque = true;
                    self.push(dir, part, d)
                }
                Some(_) => {
                    self.anomaly(e, "a parent in the layer is not a directory; never applied");
                    return None;
                }
                None => self.push(dir, part, Node::new(libc::S_IFDIR | 0o755)),
            };
        }
        Some(dir)
    }

    /// Applies one entry.
    pub fn add(&mut self, e: Entry) {
        let parts = match components(&e.name) {
            Ok(p) => p,
            Err(why) => return self.anomaly(&e, why),
        };
        let Some((&last, dirs)) = parts.split_last() else {
            // The layer root itself (`./`).
            if e.kind == b'5' {
                let xattrs = self.keep_xattrs(&e);
                let root = &mut self.tree.nodes[ROOT as usize];
                root.mode = libc::S_IFDIR | e.mode;
                (root.uid, root.gid, root.mtime, root.xattrs) = (e.uid, e.gid, e.mtime, xattrs);
            } else {
                self.anomaly(&e, "an entry for the layer root that is not a directory");
            }
            return;
        };
        let Some(parent) = self.parent_of(&e, dirs) else {
            return;
        };
        if let Some(rest) = last.strip_prefix(WHITEOUT_PREFIX) {
            if last == OPAQUE_MARKER {
                self.tree.nodes[parent as usize].opaque = true;
            } else if !rest.is_empty() && !rest.starts_with(WHITEOUT_PREFIX) {
                self.whiteout(parent, rest, &e);
            }
            // Other `.wh..wh.` names are aufs' markers: not files.
            return;
        }
        let before = self.lookup(parent, last);
        let mut node = match e.kind {
            b'0' | 0 | b'7' if e.sparse => {
                return self.anomaly(&e, "a sparse file: engines do not apply these; left out");
            }
            b'0' | 0 | b'7' => {
                let mut n = Node::new(libc::S_IFREG | e.mode);
                (n.size, n.data) = (e.size, e.data_offset);
                n
            }
            b'1' => return self.hard_link(parent, last, &e),
            b'2' => {
                let mut n = Node::new(libc::S_IFLNK | 0o777);
                let start = self.tree.arena.len() as u32;
                self.tree.arena.extend_from_slice(&e.link);
                n.link = (start, e.link.len() as u32);
                n.size = e.link.len() as u64;
                n
            }
            b'3' | b'4' => {
                let t = if e.kind == b'3' {
                    libc::S_IFCHR
                } else {
                    libc::S_IFBLK
                };
                let mut n = Node::new(t | e.mode);
                n.rdev = e.dev;
                n
            }
            b'5' => {
                if let Some(b) = before.filter(|&b| self.tree.nodes[b as usize].is_dir()) {
                    // A directory again: new metadata, the same children.
                    let xattrs = self.keep_xattrs(&e);
                    let d = &mut self.tree.nodes[b as usize];
                    d.mode = libc::S_IFDIR | e.mode;
                    (d.uid, d.gid, d.mtime, d.xattrs) = (e.uid, e.gid, e.mtime, xattrs);
                    return;
                }
                Node::new(libc::S_IFDIR | e.mode)
            }
            b'6' => Node::new(libc::S_IFIFO | e.mode),
            k => {
                return self.anomaly(
                    &e,
                    format!(
                        "entry type '{}' is not a file engines apply; left out",
                        crate::escape::display(&[k])
                    ),
                );
            }
        };
        (node.uid, node.gid, node.mtime) = (e.uid, e.gid, e.mtime);
        node.xattrs = self.keep_xattrs(&e);
        // A real directory over this layer's whiteout of it is opaque (the lower one is gone).
        if node.is_dir() && before.is_some_and(|b| self.tree.nodes[b as usize].is_whiteout()) {
            node.opaque = true;
        }
        self.push(parent, last, node);
    }

    /// `.wh.NAME`: a whiteout, unless the layer holds a real NAME (which wins; a directory
    /// becomes opaque).
    fn whiteout(&mut self, parent: u32, name: &[u8], e: &Entry) {
        match self.lookup(parent, name) {
            Some(n) if !self.tree.nodes[n as usize].is_whiteout() => {
                if self.tree.nodes[n as usize].is_dir() {
                    self.tree.nodes[n as usize].opaque = true;
                }
            }
            Some(_) => {}
            None => {
                let mut w = Node::new(libc::S_IFCHR);
                (w.uid, w.gid, w.mtime) = (e.uid, e.gid, e.mtime);
                self.push(parent, name, w);
            }
        }
    }

    fn hard_link(&mut self, parent: u32, name: &[u8], e: &Entry) {
        let target = components(&e.link).ok().and_then(|parts| {
            let (&last, dirs) = parts.split_last()?;
            let mut dir = ROOT;
            for d in dirs {
                dir = self
                    .lookup(dir, d)
                    .filter(|&n| self.tree.nodes[n as usize].is_dir())?;
            }
            self.lookup(dir, last)
        });
        let Some(t) = target.filter(|&t| {
            let n = &self.tree.nodes[t as usize];
            !n.is_dir() && !n.is_whiteout()
        }) else {
            return self.anomaly(
                e,
                format!(
                    "a hard link to '{}', which the layer does not hold before it; left out",
                    crate::escape::display(&e.link)
                ),
            );
        };
        let inode = self.tree.nodes[t as usize].inode;
        let mut node = self.tree.nodes[inode as usize].clone();
        node.inode = inode;
        node.children = (0, 0);
        self.tree.nodes[inode as usize].nlink += 1;
        self.push(parent, name, node);
    }

    /// The entry's xattrs, without any `overlay.*` one: a layer's own markers come from
    /// `.wh.` names only, so a tar cannot forge an opaque directory or a redirect.
    fn keep_xattrs(&mut self, e: &Entry) -> u32 {
        let kept: Vec<(Vec<u8>, Vec<u8>)> = e
            .xattrs
            .iter()
            .filter(|(k, _)| {
                !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay.")
            })
            .cloned()
            .collect();
        if kept.is_empty() {
            return 0;
        }
        self.tree.xattrs.push(kept);
        self.tree.xattrs.len() as u32
    }

    /// The tree, with every directory's children sorted, and the anomalies.
    #[must_use]
    pub fn finish(mut self) -> (Tree, Vec<TarAnomaly>) {
        let mut links: Vec<(u32, u32)> = self.names.drain().collect();
        let tree = &mut self.tree;
        links.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                let name = |n: u32| {
                    let (s, l) = tree.nodes[n as usize].name;
                    &tree.arena[s as usize..(s + l) as usize]
                };
                name(a.1).cmp(name(b.1))
            })
        });
        tree.children = links.iter().map(|&(_, n)| n).collect();
        let mut i = 0;
        while i < links.len() {
            let parent = links[i].0;
            let start = i;
            while i < links.len() && links[i].0 == parent {
                i += 1;
            }
            tree.nodes[parent as usize].children = (start as u32, (i - start) as u32);
        }
        // The hard-link counts, onto every name of each inode.
        for n in 0..tree.nodes.len() {
            let inode = tree.nodes[n].inode as usize;
            tree.nodes[n].nlink = tree.nodes[inode].nlink;
        }
        tree.nodes.shrink_to_fit();
        tree.arena.shrink_to_fit();
        if self.more_anomalies > 0 {
            self.anomalies.push(TarAnomaly {
                path: Vec::new(),
                reason: format!("and {} more entries left out", self.more_anomalies),
            });
        }
        (self.tree, self.anomalies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, kind: u8) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind,
            mode: 0o644,
            ..Entry::default()
        }
    }

    fn build(entries: Vec<Entry>) -> (Tree, Vec<TarAnomaly>) {
        let mut b = Builder::new();
        for e in entries {
            b.add(e);
        }
        b.finish()
    }

    fn find(t: &Tree, path: &str) -> Option<u32> {
        let mut n = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            n = t.child(n, part.as_bytes())?;
        }
        Some(n)
    }

    #[test]
    fn whiteouts_and_opaque_markers_read_in_kernel_terms() {
        let (t, anomalies) = build(vec![
            entry("./etc/.wh.motd", b'0'),
            entry("opt/app/.wh..wh..opq", b'0'),
            entry("opt/app/n", b'0'),
            entry("both/", b'5'),
            entry(".wh.both", b'0'),
            entry(".wh..wh.plnk", b'0'),
        ]);
        assert!(anomalies.is_empty(), "{anomalies:?}");
        let motd = t.node(find(&t, "etc/motd").expect("whiteout"));
        assert_eq!((motd.kind(), motd.rdev), (libc::S_IFCHR, (0, 0)));
        assert!(find(&t, "etc/.wh.motd").is_none() && find(&t, ".wh..wh.plnk").is_none());
        assert!(t.node(find(&t, "opt/app").expect("dir")).opaque);
        assert!(!t.node(find(&t, "opt").expect("implied dir")).opaque);
        assert_eq!(
            t.node(find(&t, "opt").expect("dir")).mode,
            libc::S_IFDIR | 0o755
        );
        // A real directory beside its own whiteout: the real one wins, opaque.
        let both = t.node(find(&t, "both").expect("dir"));
        assert!(both.kind() == libc::S_IFDIR && both.opaque);
    }

    #[test]
    fn later_entries_win_and_a_directory_again_keeps_its_children() {
        let mut again = entry("d/", b'5');
        again.mode = 0o700;
        let mut second = entry("f", b'0');
        second.size = 9;
        let (t, _) = build(vec![
            entry("d/", b'5'),
            entry("d/kept", b'0'),
            again,
            entry("f", b'0'),
            second,
            entry("x/", b'5'),
            entry("x/gone", b'0'),
            entry("x", b'0'),
        ]);
        let d = find(&t, "d").expect("d");
        assert_eq!(t.node(d).mode, libc::S_IFDIR | 0o700);
        assert!(find(&t, "d/kept").is_some());
        assert_eq!(t.node(find(&t, "f").expect("f")).size, 9);
        // A file over a directory replaces it and its subtree.
        assert_eq!(t.node(find(&t, "x").expect("x")).kind(), libc::S_IFREG);
        assert_eq!(t.children(find(&t, "x").expect("x")), &[] as &[u32]);
    }

    #[test]
    fn hostile_names_are_anomalies_and_never_applied() {
        let mut link = entry("esc", b'2');
        link.link = b"/etc".to_vec();
        let mut hard = entry("h", b'1');
        hard.link = b"later".to_vec();
        let mut good_hard = entry("h2", b'1');
        good_hard.link = b"later".to_vec();
        let mut forged = entry("forged/", b'5');
        forged.xattrs = vec![
            (b"trusted.overlay.opaque".to_vec(), b"y".to_vec()),
            (b"user.overlay.redirect".to_vec(), b"/x".to_vec()),
            (b"user.note".to_vec(), b"kept".to_vec()),
        ];
        let (t, anomalies) = build(vec![
            entry("../../up", b'0'),
            entry("a/../../b", b'0'),
            link,
            entry("esc/passwd", b'0'),
            hard,
            entry("later", b'0'),
            good_hard,
            forged,
            entry("dev", b'V'),
        ]);
        let reasons: Vec<(String, &str)> = anomalies
            .iter()
            .map(|a| {
                (
                    String::from_utf8_lossy(&a.path).into_owned(),
                    a.reason.as_str(),
                )
            })
            .collect();
        for (name, says) in [
            ("../../up", "'..'"),
            ("a/../../b", "'..'"),
            ("esc/passwd", "symlink"),
            ("h", "hard link"),
            ("dev", "entry type"),
        ] {
            assert!(
                reasons.iter().any(|(n, r)| n == name && r.contains(says)),
                "{name}: {reasons:?}"
            );
        }
        assert!(find(&t, "up").is_none() && find(&t, "b").is_none() && find(&t, "h").is_none());
        let later = t.node(find(&t, "later").expect("later")).clone();
        let h2 = t.node(find(&t, "h2").expect("h2"));
        assert_eq!((h2.inode, h2.nlink, later.nlink), (later.inode, 2, 2));
        let forged = find(&t, "forged").expect("dir");
        assert!(!t.node(forged).opaque);
        assert_eq!(
            t.xattrs(forged),
            &[(b"user.note".to_vec(), b"kept".to_vec())]
        );
    }
}
