//! The merged view shared by every pane: opening a view from the selected layer down,
//! listing directories, which rows the mode and filters keep, revealing a path, and asking
//! for the selected path's details.

use std::sync::Arc;

use crate::merge::walk::components;
use crate::merge::{FileKind, VersionRole, join_merged};
use crate::tui::job::{Effect, ViewRef};
use crate::tui::tree::{Children, Item, Node, ROOT, Tree};

use super::*;

impl App {
    /// Whether listings should include hidden names.
    pub(super) fn wants_ghosts(ex: &Explorer) -> bool {
        ex.show_whiteouts || ex.show_opaque || ex.mode == Mode::LayerOnly
    }

    /// After a toggle: list again when hidden names are now needed, else just filter.
    pub(super) fn refresh_ghosts_or_rows(&mut self) -> Vec<Effect> {
        let Some(ex) = &self.ex else {
            return Vec::new();
        };
        if Self::wants_ghosts(ex) && !ex.view_ghosts {
            return self.new_view(true);
        }
        self.rebuild_rows()
    }

    /// Starts a new view of the stack from the selected layer down; with `keep`, the
    /// expanded directories and the selection are restored once listed again.
    pub(super) fn new_view(&mut self, keep: bool) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if keep {
            // A view still loading has nothing to save: what it was to restore still counts.
            ex.restore_expanded.extend(ex.tree.expanded_paths());
            if let Some(n) = ex.tree.selected_node() {
                ex.restore_selected = Some(n.path.clone());
            }
        } else {
            ex.restore_expanded.clear();
            ex.restore_selected = None;
        }
        ex.view_ghosts = Self::wants_ghosts(ex);
        ex.view_gen += 1;
        ex.view_base = ex.layer_sel;
        ex.view = None;
        ex.tree = Tree::new();
        ex.details = DetailsState::default();
        ex.search.matches.clear();
        ex.search.total = 0;
        ex.search.indexed = 0;
        ex.search.complete = false;
        vec![Effect::OpenView {
            view: ex.view_gen,
            base: ex.view_base,
            full: Arc::clone(&ex.merger),
        }]
    }

    pub(super) fn view_ref(ex: &Explorer) -> Option<ViewRef> {
        match &ex.view {
            Some(Ok(m)) => Some(ViewRef {
                view: ex.view_gen,
                base: ex.view_base,
                merger: Arc::clone(m),
            }),
            _ => None,
        }
    }

    pub(super) fn list_effect(ex: &mut Explorer, id: usize) -> Option<Effect> {
        let view = Self::view_ref(ex)?;
        let path = ex.tree.node(id)?.path.clone();
        ex.tree.set_loading(id);
        Some(Effect::List {
            view,
            path,
            ghosts: ex.view_ghosts,
        })
    }

    /// Expands the directories on the way to the path being revealed, listing them as
    /// needed, then selects it.
    pub(super) fn continue_reveal(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let Some(target) = ex.reveal.clone() else {
            return Vec::new();
        };
        let parts = components(&target);
        let mut id = ROOT;
        let mut path = b"/".to_vec();
        for (i, part) in parts.iter().enumerate() {
            match ex.tree.node(id).map(|n| n.children.clone()) {
                // Listed again: wait for the new listing, the old nodes are about to go.
                Some(Children::Loaded(_)) if ex.tree.is_relisting(id) => return Vec::new(),
                Some(Children::Loaded(_)) => {}
                Some(Children::Loading) => return Vec::new(),
                Some(Children::NotLoaded) => {
                    ex.tree.set_expanded(id, true);
                    return Self::list_effect(ex, id).into_iter().collect();
                }
                Some(Children::Failed(_)) | None => {
                    ex.reveal = None;
                    return Vec::new();
                }
            }
            if id != ROOT {
                ex.tree.set_expanded(id, true);
            }
            path = join_merged(&path, part);
            let Some(child) = ex.tree.find(&path) else {
                ex.reveal = None;
                self.message = Some(Message {
                    text: format!(
                        "'{}' is no longer in the view",
                        crate::escape::display(&target)
                    ),
                    error: true,
                });
                return Vec::new();
            };
            if i + 1 == parts.len() {
                ex.reveal = None;
                let mut effects = self.rebuild_rows();
                let Some(ex) = &mut self.ex else {
                    return effects;
                };
                let open = std::mem::take(&mut ex.reveal_open)
                    && ex.tree.node(child).is_some_and(
                        |n| matches!(&n.item, Item::Entry(e) if e.kind == FileKind::Dir),
                    );
                if ex.tree.select(child) {
                    effects.extend(self.details_effect());
                    if open {
                        effects.extend(self.expand(child, true));
                    }
                } else {
                    self.message = Some(Message {
                        text: format!(
                            "'{}' is hidden by the current filters or mode",
                            crate::escape::display(&target)
                        ),
                        error: false,
                    });
                }
                return effects;
            }
            id = child;
        }
        ex.reveal = None;
        Vec::new()
    }

    /// Asks for the details of the selected node when they are not already there.
    pub(super) fn details_effect(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let Some(node) = ex.tree.selected_node() else {
            return Vec::new();
        };
        // The selected path waits for a listing: its details stay until it is back.
        if ex.tree.selected_path() != Some(node.path.as_slice()) {
            return Vec::new();
        }
        if ex.details.path.as_ref() == Some(&node.path) {
            return Vec::new();
        }
        let path = node.path.clone();
        let Some(view) = Self::view_ref(ex) else {
            return Vec::new();
        };
        ex.details.path = Some(path.clone());
        ex.details.scroll = 0;
        vec![Effect::Details { view, path }]
    }

    /// The category of a node relative to the view's first layer.
    #[must_use]
    pub fn category(node: &Node, layer: usize) -> Category {
        match &node.item {
            Item::Root => Category::Unchanged,
            Item::Anomaly(_) => Category::Anomaly,
            Item::Entry(e) => {
                let touched = e.layer == layer
                    || (e.kind == FileKind::Dir && e.merged_layers().contains(&layer));
                if !touched {
                    return Category::Unchanged;
                }
                let below = e
                    .versions
                    .iter()
                    .any(|v| v.layer > layer && v.role != VersionRole::Whiteout);
                if below {
                    Category::Modified
                } else {
                    Category::Added
                }
            }
            Item::File(f) => {
                if f.layer != layer {
                    Category::Unchanged
                } else if f.below {
                    Category::Modified
                } else {
                    Category::Added
                }
            }
            Item::Ghost(g) => {
                if ghost_cause(g).1 == Some(layer) {
                    Category::Deleted
                } else {
                    Category::Unchanged
                }
            }
        }
    }

    pub(super) fn keep(ex: &Explorer, node: &Node) -> bool {
        let base = ex.view_base;
        let cat = Self::category(node, base);
        let only = ex.mode == Mode::LayerOnly;
        let by_filter = match cat {
            Category::Added => ex.filters.added,
            Category::Modified => ex.filters.modified,
            Category::Deleted => ex.filters.deleted,
            Category::Unchanged => ex.filters.unchanged,
            Category::Anomaly => true,
        };
        match &node.item {
            Item::Root | Item::Anomaly(_) => true,
            // Directories hold what the filters pick, so they stay unless the layer lacks them.
            Item::Entry(e) if e.kind == FileKind::Dir => !only || cat != Category::Unchanged,
            Item::Entry(_) | Item::File(_) => by_filter && (!only || cat != Category::Unchanged),
            Item::Ghost(g) => {
                let (whiteout, cause) = ghost_cause(g);
                let revealed = if whiteout {
                    ex.show_whiteouts
                } else {
                    ex.show_opaque
                } || (only && cause == Some(base));
                revealed && (node.is_dir() || by_filter) && (!only || cat == Category::Deleted)
            }
        }
    }

    pub(super) fn rebuild_rows(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let mut tree = std::mem::take(&mut ex.tree);
        tree.rebuild(&|n| Self::keep(ex, n));
        ex.tree = tree;
        if let Some(lost) = ex.tree.take_lost() {
            let now = ex.tree.selected_node().map_or_else(
                || "nothing".to_string(),
                |n| crate::escape::display(&n.path),
            );
            let text = format!(
                "'{}' is gone from the view (deleted or moved); selected the nearest row, {now}",
                crate::escape::display(&lost)
            );
            ex.lost_note = Some(text.clone());
            self.message = Some(Message { text, error: false });
        }
        self.details_effect()
    }

    /// Counts the upper layer again (it is the only one that changes under a mount); layers
    /// whose counts are still being computed are asked again too, since the answers of the
    /// older generation are dropped.
    pub(super) fn recount_upper(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if !ex.stack.has_upper() {
            return Vec::new();
        }
        ex.summary_gen += 1;
        let layers: Vec<usize> = (0..ex.summaries.len())
            .filter(|&i| i == 0 || ex.summaries[i].is_none())
            .collect();
        ex.summaries[0] = None;
        let mut effects = vec![Effect::Summaries {
            generation: ex.summary_gen,
            stack: Arc::clone(&ex.stack),
            layers,
        }];
        // One waste job at a time: a change while it runs asks for one more run after it.
        if ex.waste_running {
            ex.waste_again = true;
        } else {
            effects.push(Self::waste_effect(ex));
        }
        effects
    }

    /// A new waste job for the whole stack; the figures shown stay until it answers.
    pub(super) fn waste_effect(ex: &mut Explorer) -> Effect {
        ex.waste_gen += 1;
        ex.waste_running = true;
        Effect::Waste {
            generation: ex.waste_gen,
            merger: Arc::clone(&ex.merger),
        }
    }
}
