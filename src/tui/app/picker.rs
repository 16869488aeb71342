//! The stack picker: typing filters (as fzf and lazydocker do), the arrows move, `Ctrl-s`
//! changes the order, `Enter` opens; what goes wrong is said in the picker and the status bar.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    pub(super) fn picker_action(&mut self, action: Action) -> Vec<Effect> {
        let page = usize::from(self.area.height.saturating_sub(6)).max(1);
        let Some(p) = &mut self.picker else {
            return Vec::new();
        };
        let last = p.rows.len().saturating_sub(1);
        match action {
            Action::Up => p.selected = p.selected.saturating_sub(1),
            Action::Down => p.selected = (p.selected + 1).min(last),
            Action::PageUp => p.selected = p.selected.saturating_sub(page),
            Action::PageDown => p.selected = (p.selected + page).min(last),
            Action::Top => p.selected = 0,
            Action::Bottom => p.selected = last,
            Action::ToggleSort => {
                p.sort = p.sort.next();
                p.refilter();
            }
            Action::Backspace => {
                p.filter.pop();
                p.refilter();
            }
            Action::Cancel if p.filter.is_empty() => self.quit = true,
            Action::Cancel => {
                p.filter.clear();
                p.refilter();
            }
            Action::Open => {
                if let Some(c) = p.selected_candidate()
                    && !p.opening
                {
                    let request = c.request.clone();
                    let what = c.title.clone();
                    p.opening = true;
                    p.error = None;
                    self.message = Some(Message {
                        text: format!("opening {what}…"),
                        error: false,
                    });
                    return vec![Effect::OpenStack(request)];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// A character typed in the picker: it filters.
    pub(super) fn picker_type(&mut self, c: char) -> Vec<Effect> {
        if let Some(p) = &mut self.picker {
            p.filter.push(c);
            p.refilter();
        }
        Vec::new()
    }
}
