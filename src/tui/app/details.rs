//! The details pane: scrolling, and back to the tree.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    /// Scrolls, or goes back to the tree; every other key is the table's global one.
    pub(super) fn details_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.tree_page();
        if action == Action::Close {
            self.focus = Focus::Tree;
            return Vec::new();
        }
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let s = &mut ex.details.scroll;
        let page = u16::try_from(page).unwrap_or(10);
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s = s.saturating_add(1),
            Action::PageUp => *s = s.saturating_sub(page),
            Action::PageDown => *s = s.saturating_add(page),
            Action::Top => *s = 0,
            other => return self.global_action(other),
        }
        Vec::new()
    }
}
