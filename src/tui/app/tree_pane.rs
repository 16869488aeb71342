//! The merged-view tree pane: moving, expanding and collapsing.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;
use crate::tui::tree::{Node, ROOT};
use crate::tui::view;

use super::*;

/// How many directories one `+` opens at most (each is a listing job).
pub const EXPAND_LEVEL_LIMIT: usize = 500;

impl App {
    pub(super) fn tree_page(&self) -> isize {
        let h = view::layout(self.area, self).tree.height.saturating_sub(2);
        isize::try_from(h.max(1)).unwrap_or(1)
    }

    pub(super) fn tree_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.tree_page();
        if matches!(
            action,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::Open
                | Action::Close
        ) {
            self.live_shown = None;
        }
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if action != Action::Open {
            ex.lost_note = None;
        }
        match action {
            Action::Up => ex.tree.move_by(-1),
            Action::Down => ex.tree.move_by(1),
            Action::PageUp => ex.tree.move_by(-page),
            Action::PageDown => ex.tree.move_by(page),
            Action::Top => ex.tree.select_row(0),
            Action::Bottom => ex.tree.select_row(ex.tree.rows.len().saturating_sub(1)),
            Action::CollapseAll => {
                ex.tree.collapse_all();
                return self.rebuild_rows();
            }
            Action::ExpandLevel => return self.expand_level(),
            Action::Open => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                if ex.tree.node(id).is_some_and(Node::is_dir) {
                    return self.expand(id, true);
                }
                self.focus = Focus::Details;
                return self.details_effect();
            }
            Action::Close => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                let Some(node) = ex.tree.node(id) else {
                    return Vec::new();
                };
                if node.is_dir() && node.expanded {
                    return self.expand(id, false);
                }
                let parent = node.parent;
                if parent != ROOT {
                    ex.tree.select(parent);
                }
            }
            Action::ToggleExpand => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                let open = !ex.tree.node(id).is_some_and(|n| n.expanded);
                return self.expand(id, open);
            }
            other => return self.global_action(other),
        }
        self.details_effect()
    }

    /// Expands every directory the tree shows that is not open yet (listing those not listed),
    /// at most [`EXPAND_LEVEL_LIMIT`] at a time.
    fn expand_level(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let closed: Vec<usize> = ex
            .tree
            .rows
            .iter()
            .copied()
            .filter(|&r| ex.tree.node(r).is_some_and(|n| n.is_dir() && !n.expanded))
            .take(EXPAND_LEVEL_LIMIT)
            .collect();
        let mut effects = Vec::new();
        for id in closed {
            if ex.tree.set_expanded(id, true) {
                effects.extend(Self::list_effect(ex, id));
            }
        }
        effects.extend(self.rebuild_rows());
        effects
    }

    pub(super) fn expand(&mut self, id: usize, open: bool) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        if ex.tree.set_expanded(id, open)
            && let Some(e) = Self::list_effect(ex, id)
        {
            effects.push(e);
        }
        effects.extend(self.rebuild_rows());
        effects
    }
}
