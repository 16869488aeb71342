//! The `/` search: typing, moving through matches, jumping to one.

use crate::tui::job::Effect;
use crate::tui::keymap::Action;

use super::*;

impl App {
    pub(super) fn search_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match action {
            Action::Cancel => ex.search.active = false,
            Action::Up => ex.search.selected = ex.search.selected.saturating_sub(1),
            Action::Down => {
                ex.search.selected =
                    (ex.search.selected + 1).min(ex.search.matches.len().saturating_sub(1));
            }
            Action::Backspace => return self.search_edit(None),
            Action::Accept => {
                ex.search.active = false;
                if let Some(target) = ex.search.matches.get(ex.search.selected).cloned() {
                    ex.reveal = Some(target);
                    ex.reveal_open = false;
                    self.focus = Focus::Tree;
                    return self.continue_reveal();
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Adds a character to the query (or removes the last one) and searches again.
    pub(super) fn search_edit(&mut self, c: Option<char>) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match c {
            Some(c) => ex.search.query.push(c),
            None => {
                ex.search.query.pop();
            }
        }
        ex.search.query_gen += 1;
        ex.search.selected = 0;
        ex.search.offset = 0;
        if ex.search.query.is_empty() {
            ex.search.matches.clear();
            ex.search.total = 0;
            return Vec::new();
        }
        Self::search_effect(ex).into_iter().collect()
    }

    pub(super) fn search_effect(ex: &Explorer) -> Option<Effect> {
        Some(Effect::Search {
            view: Self::view_ref(ex)?,
            query_gen: ex.search.query_gen,
            query: ex.search.query.clone(),
        })
    }
}
