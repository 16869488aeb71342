//! The merged-view tree the browser shows: nodes loaded lazily per directory, expansion,
//! the visible rows after filtering and sorting, and the selection. Pure: no I/O, no drawing.

use std::collections::{HashMap, HashSet};

use crate::merge::{Anomaly, Entry, FileKind};
use crate::tui::event::{DirContents, Ghost};

/// What a node stands for.
#[derive(Debug, Clone)]
pub enum Item {
    /// The merged root (never drawn as a row).
    Root,
    /// A directory of the merged view (or an entry the compact form cannot hold).
    Entry(Box<Entry>),
    /// Any other path of the merged view, in the compact form a tree of millions needs.
    File(Box<FileEntry>),
    /// A name the merged view hides.
    Ghost(Box<Ghost>),
    /// A name readdir shows but lookup refuses.
    Anomaly(Box<Anomaly>),
}

/// What the tree keeps of a merged entry that is not a directory: what the rows, the filters
/// and the status words read (the details pane looks the path up afresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its type.
    pub kind: FileKind,
    /// The layer that supplies it.
    pub layer: usize,
    /// `st_size`.
    pub size: u64,
    /// A lower layer has a version of it (a whiteout included): the status says "modified".
    pub below_any: bool,
    /// A lower layer has a real (not whited-out) version: relative to its own layer it is
    /// modified, not added.
    pub below: bool,
    /// How many versions it hides.
    pub hides: usize,
    /// It is a metacopy (its data comes from another layer).
    pub metacopy: bool,
    /// For symlinks: the target.
    pub target: Option<Box<[u8]>>,
}

impl FileEntry {
    /// The compact form of an entry.
    #[must_use]
    pub fn of(e: &Entry) -> FileEntry {
        FileEntry {
            kind: e.kind,
            layer: e.layer,
            size: e.meta.size,
            below_any: e.versions.iter().any(|v| v.layer > e.layer),
            below: e
                .versions
                .iter()
                .any(|v| v.layer > e.layer && v.role != crate::merge::VersionRole::Whiteout),
            hides: e.hidden().count(),
            metacopy: e.data.is_some(),
            target: e.target.as_deref().map(Box::from),
        }
    }
}

/// The state of a directory's children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Children {
    /// Not asked for yet.
    NotLoaded,
    /// A listing job is running.
    Loading,
    /// Listed: node ids in display order.
    Loaded(Vec<usize>),
    /// The listing failed.
    Failed(String),
}

/// One node.
#[derive(Debug, Clone)]
pub struct Node {
    /// The merged path.
    pub path: Vec<u8>,
    /// 0 for the root's children.
    pub depth: usize,
    /// The parent's id (the root is its own parent).
    pub parent: usize,
    /// What it is.
    pub item: Item,
    /// Its children, for directories.
    pub children: Children,
    /// Whether its children are shown.
    pub expanded: bool,
    /// Hidden names not loaded because there were too many.
    pub ghosts_omitted: usize,
    /// Whether its listing included the hidden names.
    pub with_ghosts: bool,
}

impl Node {
    /// The last component (a slice of the path: stored once).
    #[must_use]
    pub fn name(&self) -> &[u8] {
        match self.path.iter().rposition(|&b| b == b'/') {
            Some(i) if self.path.len() > 1 => &self.path[i + 1..],
            _ => &[],
        }
    }

    /// Whether it can be expanded.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        match &self.item {
            Item::Root => true,
            Item::Entry(e) => e.kind == FileKind::Dir,
            Item::File(_) => false,
            Item::Ghost(g) => g.kind == FileKind::Dir,
            Item::Anomaly(_) => false,
        }
    }

    /// The size shown for it.
    #[must_use]
    pub fn size(&self) -> u64 {
        match &self.item {
            Item::Entry(e) => e.meta.size,
            Item::File(f) => f.size,
            _ => 0,
        }
    }
}

/// How siblings are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By name bytes.
    Name,
    /// Largest first, then by name.
    Size,
}

/// The tree and its visible rows.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    by_path: HashMap<u64, usize>,
    /// Paths whose key collides with another live path's.
    overflow: HashMap<Vec<u8>, usize>,
    /// The bytes below each directory, once a walk of the whole view has counted them.
    dir_sizes: Option<HashMap<Vec<u8>, u64>>,
    /// Visible node ids, top to bottom.
    pub rows: Vec<usize>,
    /// Index into `rows` (follows [`Tree::selected_path`]; set it through the methods).
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
    /// Loaded directories being listed again: they keep their rows until the new listing.
    relisting: HashSet<usize>,
    /// Directories to expand again when a listing brings them back (expanded descendants of
    /// a directory that was listed again).
    reexpand: HashSet<Vec<u8>>,
    /// The selected path: the selection is a path, not a row, so it stays put through
    /// listings (node ids are reused), filters, sorting and live changes.
    sel_path: Option<Vec<u8>>,
    /// A selected path that went away, for the app to say so (see [`Tree::take_lost`]).
    lost: Option<Vec<u8>>,
}

/// The root's id.
pub const ROOT: usize = 0;

/// The key of a path in the index: a 64-bit hash, so the index holds no second copy of
/// every path (paths whose hashes collide go to the overflow map, keyed by the path).
fn path_key(path: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree with only the root, not yet listed.
    #[must_use]
    pub fn new() -> Self {
        let root = Node {
            path: b"/".to_vec(),
            depth: 0,
            parent: ROOT,
            item: Item::Root,
            children: Children::NotLoaded,
            expanded: true,
            ghosts_omitted: 0,
            with_ghosts: false,
        };
        let mut by_path = HashMap::new();
        by_path.insert(path_key(b"/"), ROOT);
        Tree {
            nodes: vec![Some(root)],
            free: Vec::new(),
            by_path,
            overflow: HashMap::new(),
            dir_sizes: None,
            rows: Vec::new(),
            selected: 0,
            offset: 0,
            relisting: HashSet::new(),
            reexpand: HashSet::new(),
            sel_path: None,
            lost: None,
        }
    }

    /// A node by id.
    #[must_use]
    pub fn node(&self, id: usize) -> Option<&Node> {
        self.nodes.get(id).and_then(Option::as_ref)
    }

    fn node_mut(&mut self, id: usize) -> Option<&mut Node> {
        self.nodes.get_mut(id).and_then(Option::as_mut)
    }

    /// A node by merged path.
    #[must_use]
    pub fn find(&self, path: &[u8]) -> Option<usize> {
        match self.by_path.get(&path_key(path)) {
            Some(&id) if self.node(id).is_some_and(|n| n.path == path) => Some(id),
            _ => self.overflow.get(path).copied(),
        }
    }

    /// The number of live nodes (the root included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Whether only the root is there.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// The selected node's id.
    #[must_use]
    pub fn selected_id(&self) -> Option<usize> {
        self.rows.get(self.selected).copied()
    }

    /// The selected node.
    #[must_use]
    pub fn selected_node(&self) -> Option<&Node> {
        self.selected_id().and_then(|id| self.node(id))
    }

    /// Marks a directory as being listed. A directory already listed keeps its children (and
    /// its rows) until the new listing replaces them.
    pub fn set_loading(&mut self, id: usize) {
        if let Some(n) = self.node_mut(id) {
            if matches!(n.children, Children::Loaded(_)) {
                self.relisting.insert(id);
            } else {
                n.children = Children::Loading;
            }
        }
    }

    /// Whether a listed directory is being listed again.
    #[must_use]
    pub fn is_relisting(&self, id: usize) -> bool {
        self.relisting.contains(&id)
    }

    /// Records a failed listing.
    pub fn set_failed(&mut self, id: usize, why: String) {
        self.relisting.remove(&id);
        let old = match self.node(id).map(|n| &n.children) {
            Some(Children::Loaded(c)) => c.clone(),
            _ => Vec::new(),
        };
        for c in old {
            self.remove_subtree(c);
        }
        if let Some(n) = self.node_mut(id) {
            n.children = Children::Failed(why);
        }
    }

    fn remove_subtree(&mut self, id: usize) {
        let mut todo = vec![id];
        while let Some(i) = todo.pop() {
            self.relisting.remove(&i);
            if let Some(n) = self.nodes.get_mut(i).and_then(Option::take) {
                if let Children::Loaded(c) = n.children {
                    todo.extend(c);
                }
                let key = path_key(&n.path);
                if self.by_path.get(&key) == Some(&i) {
                    self.by_path.remove(&key);
                } else if self.overflow.get(&n.path) == Some(&i) {
                    self.overflow.remove(&n.path);
                }
                self.free.push(i);
            }
        }
    }

    fn alloc(&mut self, node: Node) -> usize {
        let key = path_key(&node.path);
        let taken = self
            .by_path
            .get(&key)
            .is_some_and(|&o| self.node(o).is_some_and(|n| n.path != node.path));
        let path = taken.then(|| node.path.clone());
        let id = if let Some(i) = self.free.pop() {
            self.nodes[i] = Some(node);
            i
        } else {
            self.nodes.push(Some(node));
            self.nodes.len() - 1
        };
        match path {
            Some(p) => {
                self.overflow.insert(p, id);
            }
            None => {
                self.by_path.insert(key, id);
            }
        }
        id
    }

    /// Puts a listing under directory `id`, replacing what was there; directories that were
    /// expanded below it (at any depth) and are still directories open again.
    ///
    /// Returns the ids of new children that should be listed again because they were expanded.
    pub fn set_children(
        &mut self,
        id: usize,
        contents: DirContents,
        with_ghosts: bool,
        sort: Sort,
    ) -> Vec<usize> {
        let Some(parent) = self.node(id) else {
            return Vec::new();
        };
        let depth = if id == ROOT { 0 } else { parent.depth + 1 };
        let old = match &parent.children {
            Children::Loaded(c) => c.clone(),
            _ => Vec::new(),
        };
        self.relisting.remove(&id);
        // Remember every expanded directory below, by path: they open again as the listings
        // bring them back.
        let mut todo = old.clone();
        while let Some(c) = todo.pop() {
            let Some(n) = self.nodes.get(c).and_then(Option::as_ref) else {
                continue;
            };
            if n.expanded {
                self.reexpand.insert(n.path.clone());
            }
            if let Children::Loaded(k) = &n.children {
                todo.extend(k.iter().copied());
            }
        }
        for c in old {
            self.remove_subtree(c);
        }
        // The listing is taken apart as it goes into the tree, and its buffers shrink as they
        // empty, so a huge directory is not held twice; the tree's own tables grow once, to
        // their final size, instead of doubling (a doubling holds the old table and the new).
        // What the tree never reads of an entry (its path, kept once in the node, and the paths
        // inside the layers) is dropped; files come compact from the listing job already.
        let DirContents {
            mut entries,
            files,
            ghosts,
            anomalies,
            ghosts_omitted,
        } = contents;
        let count = entries.len() + files.len() + ghosts.len() + anomalies.len();
        let more = count.saturating_sub(self.free.len());
        self.nodes.reserve_exact(more);
        self.by_path.reserve(more);
        let dirs = std::iter::from_fn(|| {
            let mut e = entries.pop()?;
            if entries.capacity() > 64 && entries.len() < entries.capacity() / 2 {
                entries.shrink_to_fit();
            }
            let path = std::mem::take(&mut e.path);
            let item = if e.kind == FileKind::Dir {
                e.rel = Vec::new();
                for v in &mut e.versions {
                    v.rel = Vec::new();
                }
                Item::Entry(Box::new(e))
            } else {
                Item::File(Box::new(FileEntry::of(&e)))
            };
            Some((path, item))
        });
        let items = dirs
            .chain(files.into_iter().map(|(path, f)| (path, Item::File(f))))
            .chain(
                ghosts
                    .into_iter()
                    .map(|g| (g.path.clone(), Item::Ghost(Box::new(g)))),
            )
            .chain(
                anomalies
                    .into_iter()
                    .map(|a| (a.path.clone(), Item::Anomaly(Box::new(a)))),
            );
        let mut ids = Vec::with_capacity(count);
        let mut relist = Vec::new();
        for (path, item) in items {
            let expanded = self.reexpand.remove(&path);
            let node = Node {
                path,
                depth,
                parent: id,
                item,
                children: Children::NotLoaded,
                expanded: false,
                ghosts_omitted: 0,
                with_ghosts: false,
            };
            let is_dir = node.is_dir();
            let nid = self.alloc(node);
            if expanded
                && is_dir
                && let Some(n) = self.node_mut(nid)
            {
                n.expanded = true;
                relist.push(nid);
            }
            ids.push(nid);
        }
        if let Some(n) = self.node_mut(id) {
            n.children = Children::Loaded(ids);
            n.ghosts_omitted = ghosts_omitted;
            n.with_ghosts = with_ghosts;
        }
        self.sort_children(id, sort);
        relist
    }

    fn sort_children(&mut self, id: usize, sort: Sort) {
        let Some(Children::Loaded(mut ids)) = self.node(id).map(|n| n.children.clone()) else {
            return;
        };
        let name = |i: usize| self.node(i).map_or(&[][..], Node::name);
        let size = |i: usize| self.node(i).map_or(0, |n| self.size_of(n));
        match sort {
            Sort::Name => ids.sort_by(|&a, &b| name(a).cmp(name(b))),
            Sort::Size => ids.sort_by(|&a, &b| size(b).cmp(&size(a)).then(name(a).cmp(name(b)))),
        }
        if let Some(n) = self.node_mut(id) {
            n.children = Children::Loaded(ids);
        }
    }

    /// The bytes below every directory, from a walk of the whole view.
    pub fn set_dir_sizes(&mut self, sizes: HashMap<Vec<u8>, u64>) {
        self.dir_sizes = Some(sizes);
    }

    /// Whether the directories' sizes are known.
    #[must_use]
    pub fn has_dir_sizes(&self) -> bool {
        self.dir_sizes.is_some()
    }

    /// A node's size: a file's own, a directory's total below it once known.
    #[must_use]
    pub fn size_of(&self, n: &Node) -> u64 {
        match (&self.dir_sizes, n.is_dir()) {
            (Some(s), true) => s.get(&n.path).copied().unwrap_or(0),
            _ => n.size(),
        }
    }

    /// A directory's total size, once known.
    #[must_use]
    pub fn dir_size(&self, n: &Node) -> Option<u64> {
        n.is_dir()
            .then(|| {
                self.dir_sizes
                    .as_ref()
                    .map(|s| s.get(&n.path).copied().unwrap_or(0))
            })
            .flatten()
    }

    /// Re-sorts every loaded directory.
    pub fn sort_all(&mut self, sort: Sort) {
        let dirs: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| matches!(self.node(i).map(|n| &n.children), Some(Children::Loaded(_))))
            .collect();
        for d in dirs {
            self.sort_children(d, sort);
        }
    }

    /// Sets whether a directory is expanded; returns true when it must be listed first.
    pub fn set_expanded(&mut self, id: usize, expanded: bool) -> bool {
        let Some(n) = self.node_mut(id) else {
            return false;
        };
        if !n.is_dir() {
            return false;
        }
        n.expanded = expanded;
        expanded && n.children == Children::NotLoaded
    }

    /// Recomputes the visible rows, keeping the selection on the selected path. When that
    /// path is not shown: while a directory on the way is being listed, or the path is only
    /// hidden (collapsed, filtered), the nearest shown ancestor is selected and the path is
    /// kept, so the selection comes back; when the path is gone from its listed directory,
    /// the row that took its place is selected and [`Tree::take_lost`] reports it. `keep`
    /// decides which nodes show (their subtrees go with them).
    pub fn rebuild(&mut self, keep: &dyn Fn(&Node) -> bool) {
        let mut rows = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        if let Some(Children::Loaded(c)) = self.node(ROOT).map(|n| &n.children) {
            stack.extend(c.iter().rev());
        }
        while let Some(id) = stack.pop() {
            let Some(n) = self.node(id) else { continue };
            if !keep(n) {
                continue;
            }
            rows.push(id);
            if n.expanded
                && let Children::Loaded(c) = &n.children
            {
                stack.extend(c.iter().rev());
            }
        }
        self.rows = rows;
        let Some(path) = self.sel_path.clone() else {
            self.selected = self.selected.min(self.rows.len().saturating_sub(1));
            self.sel_path = self.selected_node().map(|n| n.path.clone());
            return;
        };
        if let Some(i) = self.row_of(&path) {
            self.selected = i;
            return;
        }
        if self.is_gone(&path) {
            // The row that took its place (the next one), or the last.
            self.selected = self.selected.min(self.rows.len().saturating_sub(1));
            self.sel_path = self.selected_node().map(|n| n.path.clone());
            self.lost = Some(path);
            return;
        }
        // Pending or hidden: the nearest shown ancestor stands in; the path stays wanted.
        let mut up = path.as_slice();
        while let Some(cut) = up.iter().rposition(|&b| b == b'/') {
            up = if cut == 0 { b"/" } else { &up[..cut] };
            if let Some(i) = self.row_of(up) {
                self.selected = i;
                return;
            }
            if up == b"/" {
                break;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    fn row_of(&self, path: &[u8]) -> Option<usize> {
        let id = self.find(path)?;
        self.rows.iter().position(|&r| r == id)
    }

    /// Whether a path is known to be gone: its directory is listed (and not being listed
    /// again) without it. A path whose directory is not in the tree is gone when the nearest
    /// directory on the way that is in the tree is listed.
    fn is_gone(&self, path: &[u8]) -> bool {
        if self.find(path).is_some() {
            return false;
        }
        let mut up = path;
        while let Some(cut) = up.iter().rposition(|&b| b == b'/') {
            up = if cut == 0 { b"/" } else { &up[..cut] };
            if let Some(id) = self.find(up) {
                return matches!(
                    self.node(id).map(|n| &n.children),
                    Some(Children::Loaded(_) | Children::Failed(_))
                ) && !self.relisting.contains(&id);
            }
            if up == b"/" {
                break;
            }
        }
        true
    }

    /// The selected path that went away since the last call, if one did.
    pub fn take_lost(&mut self) -> Option<Vec<u8>> {
        self.lost.take()
    }

    /// The path the selection stands for (it may be waiting for a listing to show it).
    #[must_use]
    pub fn selected_path(&self) -> Option<&[u8]> {
        self.sel_path.as_deref()
    }

    /// Moves the selection by `delta` rows, clamped.
    pub fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            self.selected = 0;
            return;
        }
        let max = self.rows.len() - 1;
        self.select_row(self.selected.saturating_add_signed(delta).min(max));
    }

    /// Selects a row by index, clamped.
    pub fn select_row(&mut self, i: usize) {
        self.selected = i.min(self.rows.len().saturating_sub(1));
        self.sel_path = self.selected_node().map(|n| n.path.clone());
    }

    /// Selects a node when it is visible; returns whether it is.
    pub fn select(&mut self, id: usize) -> bool {
        match self.rows.iter().position(|&r| r == id) {
            Some(i) => {
                self.select_row(i);
                true
            }
            None => false,
        }
    }

    /// Collapses every directory; the selection goes to its top-level directory.
    pub fn collapse_all(&mut self) {
        for n in self.nodes.iter_mut().flatten() {
            if !matches!(n.item, Item::Root) {
                n.expanded = false;
            }
        }
        self.reexpand.clear();
        if let Some(p) = &self.sel_path {
            let top_end = p[1..].iter().position(|&b| b == b'/').map(|i| i + 1);
            if let Some(end) = top_end {
                self.sel_path = Some(p[..end].to_vec());
            }
        }
    }

    /// Keeps the selection inside a viewport of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        let max_offset = self.rows.len().saturating_sub(height);
        self.offset = offset_showing(self.selected, self.offset, height).min(max_offset);
    }

    /// Every expanded directory's path.
    #[must_use]
    pub fn expanded_paths(&self) -> Vec<Vec<u8>> {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| n.expanded && !matches!(n.item, Item::Root))
            .map(|n| n.path.clone())
            .collect()
    }

    /// Ids of loaded directories, the root first.
    #[must_use]
    pub fn loaded_dirs(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                matches!(
                    self.node(i).map(|n| &n.children),
                    Some(Children::Loaded(_) | Children::Failed(_))
                )
            })
            .collect()
    }

    /// Whether any listing is still running.
    #[must_use]
    pub fn is_loading(&self) -> bool {
        !self.relisting.is_empty()
            || self
                .nodes
                .iter()
                .flatten()
                .any(|n| n.children == Children::Loading)
    }
}

/// The first visible row of a list `height` rows high that scrolls as little as it can from
/// `offset` so that row `selected` is visible.
#[must_use]
pub fn offset_showing(selected: usize, offset: usize, height: usize) -> usize {
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Meta;

    fn entry(path: &str, kind: FileKind, size: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind,
            layer: 0,
            rel: path.trim_start_matches('/').as_bytes().to_vec(),
            meta: Meta {
                size,
                ..Meta::default()
            },
            target: None,
            data: None,
            opaque: false,
            redirect: None,
            versions: Vec::new(),
            dir: None,
        }
    }

    fn listing(entries: Vec<Entry>) -> DirContents {
        DirContents {
            entries,
            ..DirContents::default()
        }
    }

    #[test]
    fn listing_a_directory_again_keeps_the_selected_path() {
        let mut t = Tree::new();
        let three = || {
            listing(vec![
                entry("/a", FileKind::File, 1),
                entry("/b", FileKind::File, 2),
                entry("/c", FileKind::File, 3),
            ])
        };
        t.set_children(ROOT, three(), false, Sort::Name);
        t.rebuild(&|_| true);
        assert!(t.select(t.find(b"/c").expect("c")));
        // A live change: /a is gone and the root is listed again; /c keeps the selection
        // although its node was replaced and its row moved.
        t.set_children(
            ROOT,
            listing(vec![
                entry("/b", FileKind::File, 2),
                entry("/c", FileKind::File, 3),
            ]),
            false,
            Sort::Name,
        );
        t.rebuild(&|_| true);
        assert_eq!(
            t.selected_node().map(|n| n.path.clone()),
            Some(b"/c".to_vec())
        );
    }

    #[test]
    fn expanding_lists_lazily_and_rows_follow_the_tree() {
        let mut t = Tree::new();
        t.set_children(
            ROOT,
            listing(vec![
                entry("/bin", FileKind::Dir, 0),
                entry("/etc", FileKind::Dir, 0),
                entry("/z", FileKind::File, 9),
            ]),
            false,
            Sort::Name,
        );
        t.rebuild(&|_| true);
        assert_eq!(t.rows.len(), 3);
        let etc = t.find(b"/etc").expect("etc");
        assert!(
            t.set_expanded(etc, true),
            "an unlisted directory asks to be listed"
        );
        t.set_loading(etc);
        assert!(t.is_loading());
        t.set_children(
            etc,
            listing(vec![entry("/etc/passwd", FileKind::File, 3)]),
            false,
            Sort::Name,
        );
        t.select(etc);
        t.rebuild(&|_| true);
        assert_eq!(t.rows.len(), 4);
        assert_eq!(
            t.selected_node().map(|n| n.path.clone()),
            Some(b"/etc".to_vec())
        );
        assert_eq!(t.node(t.rows[2]).map(|n| n.depth), Some(1));
        // Collapse: the child goes away, the selection stays.
        t.set_expanded(etc, false);
        t.rebuild(&|_| true);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.selected, 1);
    }

    #[test]
    fn relisting_keeps_expanded_children_and_reuses_slots() {
        let mut t = Tree::new();
        t.set_children(
            ROOT,
            listing(vec![entry("/etc", FileKind::Dir, 0)]),
            false,
            Sort::Name,
        );
        let etc = t.find(b"/etc").expect("etc");
        t.set_expanded(etc, true);
        t.set_children(
            etc,
            listing(vec![entry("/etc/a", FileKind::File, 1)]),
            false,
            Sort::Name,
        );
        let before = t.nodes.len();
        let relist = t.set_children(
            ROOT,
            listing(vec![entry("/etc", FileKind::Dir, 0)]),
            false,
            Sort::Name,
        );
        assert_eq!(relist.len(), 1, "the expanded /etc is listed again");
        assert!(t.nodes.len() <= before, "freed slots are reused");
        assert!(t.find(b"/etc/a").is_none());
    }

    #[test]
    fn relisting_keeps_rows_until_the_listing_and_reopens_nested_directories() {
        let mut t = Tree::new();
        let root = || listing(vec![entry("/usr", FileKind::Dir, 0)]);
        t.set_children(ROOT, root(), false, Sort::Name);
        let usr = t.find(b"/usr").expect("usr");
        t.set_expanded(usr, true);
        t.set_children(
            usr,
            listing(vec![entry("/usr/bin", FileKind::Dir, 0)]),
            false,
            Sort::Name,
        );
        let bin = t.find(b"/usr/bin").expect("bin");
        t.set_expanded(bin, true);
        t.set_children(
            bin,
            listing(vec![entry("/usr/bin/sh", FileKind::File, 1)]),
            false,
            Sort::Name,
        );
        t.rebuild(&|_| true);
        assert_eq!(t.rows.len(), 3);
        // The root is listed again: its rows stay until the listing comes back.
        t.set_loading(ROOT);
        assert!(t.is_loading() && t.is_relisting(ROOT));
        t.rebuild(&|_| true);
        assert_eq!(
            t.rows.len(),
            3,
            "nothing collapses while the root is listed"
        );
        let relist = t.set_children(ROOT, root(), false, Sort::Name);
        assert!(!t.is_relisting(ROOT));
        let usr = t.find(b"/usr").expect("usr again");
        assert_eq!(relist, vec![usr]);
        assert!(t.node(usr).is_some_and(|n| n.expanded));
        t.set_loading(usr);
        let relist = t.set_children(
            usr,
            listing(vec![entry("/usr/bin", FileKind::Dir, 0)]),
            false,
            Sort::Name,
        );
        let bin = t.find(b"/usr/bin").expect("bin again");
        assert_eq!(relist, vec![bin], "/usr/bin opens again, two levels down");
        assert!(t.node(bin).is_some_and(|n| n.expanded));
        // A failed relisting drops the old children instead of leaking them.
        t.set_loading(usr);
        t.set_failed(usr, "gone".into());
        assert!(t.find(b"/usr/bin").is_none());
        assert!(!t.is_relisting(usr));
    }

    #[test]
    fn size_sort_puts_the_largest_first() {
        let mut t = Tree::new();
        t.set_children(
            ROOT,
            listing(vec![
                entry("/a", FileKind::File, 1),
                entry("/b", FileKind::File, 30),
                entry("/c", FileKind::File, 20),
            ]),
            false,
            Sort::Size,
        );
        t.rebuild(&|_| true);
        let names: Vec<_> = t
            .rows
            .iter()
            .filter_map(|&r| t.node(r))
            .map(|n| n.name().to_vec())
            .collect();
        assert_eq!(names, vec![b"b".to_vec(), b"c".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn selection_scrolls_into_view() {
        let mut t = Tree::new();
        let many = (0..50)
            .map(|i| entry(&format!("/f{i:02}"), FileKind::File, 0))
            .collect();
        t.set_children(ROOT, listing(many), false, Sort::Name);
        t.rebuild(&|_| true);
        t.move_by(30);
        t.scroll_into_view(10);
        assert_eq!((t.selected, t.offset), (30, 21));
        t.move_by(-100);
        t.scroll_into_view(10);
        assert_eq!((t.selected, t.offset), (0, 0));
    }
}
