//! The stack picker.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    pub(super) fn picker_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(p) = &mut self.picker else {
            return Vec::new();
        };
        let n = p.candidates.as_ref().map_or(0, Vec::len);
        match action {
            Action::Up => p.selected = p.selected.saturating_sub(1),
            Action::Down => p.selected = (p.selected + 1).min(n.saturating_sub(1)),
            Action::Open => {
                if let Some(c) = p.candidates.as_ref().and_then(|c| c.get(p.selected))
                    && !p.opening
                {
                    p.opening = true;
                    p.error = None;
                    return vec![Effect::OpenStack(c.request.clone())];
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
