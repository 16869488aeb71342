//! The details pane: scrolling.

use crate::tui::keymap::Action;

use super::*;

impl App {
    pub(super) fn details_action(&mut self, action: Action) {
        let page = self.tree_page();
        let Some(ex) = &mut self.ex else { return };
        let s = &mut ex.details.scroll;
        let page = u16::try_from(page).unwrap_or(10);
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s = s.saturating_add(1),
            Action::PageUp => *s = s.saturating_sub(page),
            Action::PageDown => *s = s.saturating_add(page),
            Action::Top => *s = 0,
            _ => {}
        }
    }
}
