//! The layer pane: moving the selection changes the view.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    pub(super) fn layers_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let n = ex.stack.layers.len();
        let before = ex.layer_sel;
        match action {
            Action::Up => ex.layer_sel = ex.layer_sel.saturating_sub(1),
            Action::Down => ex.layer_sel = (ex.layer_sel + 1).min(n.saturating_sub(1)),
            Action::Top => ex.layer_sel = 0,
            Action::Bottom => ex.layer_sel = n.saturating_sub(1),
            Action::Open => {
                self.focus = Focus::Tree;
                return Vec::new();
            }
            other => return self.global_action(other),
        }
        if ex.layer_sel == before {
            return Vec::new();
        }
        self.new_view(true)
    }
}
