//! The `W` list of wasted paths (from the waste job's report): moving through it, and
//! `Enter`, which shows the path in the tree of the whole stack, with the hidden rows it
//! needs turned on, and its versions in the details pane.

use crate::merge::HiddenReason;
use crate::tui::job::Effect;
use crate::tui::keymap::Action;
use crate::waste::WasteReason;

use super::*;

impl App {
    pub(super) fn waste_action(&mut self, action: Action) -> Vec<Effect> {
        let page = usize::from(self.area.height.saturating_sub(4)).max(1);
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let n = match &ex.waste {
            Some(Ok(r)) => r.paths.len(),
            _ => 0,
        };
        let last = n.saturating_sub(1);
        let w = &mut ex.waste_view;
        match action {
            Action::Cancel => w.active = false,
            Action::Up => w.selected = w.selected.saturating_sub(1),
            Action::Down => w.selected = (w.selected + 1).min(last),
            Action::PageUp => w.selected = w.selected.saturating_sub(page),
            Action::PageDown => w.selected = (w.selected + page).min(last),
            Action::Top => w.selected = 0,
            Action::Bottom => w.selected = last,
            Action::Accept => return self.waste_jump(),
            _ => {}
        }
        Vec::new()
    }

    /// Shows the selected wasted path in the tree: the view of the whole stack, aggregated,
    /// with whited-out or opaque-hidden rows turned on when its copies are hidden that way.
    fn waste_jump(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let Some(Ok(report)) = &ex.waste else {
            return Vec::new();
        };
        let Some(wasted) = report.paths.get(ex.waste_view.selected) else {
            return Vec::new();
        };
        let target = wasted.path.clone();
        for c in &wasted.copies {
            match c.reason {
                WasteReason::Hidden(HiddenReason::Shadowed { .. }) => {}
                WasteReason::Hidden(HiddenReason::WhitedOut { .. }) => ex.show_whiteouts = true,
                _ => ex.show_opaque = true,
            }
        }
        ex.waste_view.active = false;
        self.focus = Focus::Tree;
        // The report is about the whole stack: show it from the top layer down, aggregated.
        let whole = ex.layer_sel == 0 && ex.view_base == 0 && ex.mode == Mode::Aggregated;
        let mut effects = if whole {
            self.refresh_ghosts_or_rows()
        } else {
            ex.layer_sel = 0;
            ex.mode = Mode::Aggregated;
            self.new_view(false)
        };
        if let Some(ex) = &mut self.ex {
            ex.restore_selected = None;
            ex.reveal = Some(target);
            ex.reveal_open = false;
        }
        effects.extend(self.continue_reveal());
        effects
    }
}
