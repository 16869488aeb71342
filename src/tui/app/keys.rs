//! Keys: the key table's action for the focused scope, carried out. Pane-specific actions
//! go to their pane's module; what no pane takes falls back to [`App::global_action`].

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::job::Effect;
use crate::tui::keymap::{self, Action, Scope};
use crate::tui::tree::Sort;

use super::*;

impl App {
    pub(super) fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let scope = self.scope();
        if let Some(action) = keymap::lookup(scope, &k) {
            return self.act(scope, action);
        }
        if scope == Scope::Search
            && let KeyCode::Char(c) = k.code
            && !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return self.search_edit(Some(c));
        }
        if scope == Scope::Prompt
            && let KeyCode::Char(c) = k.code
            && !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return self.prompt_type(c);
        }
        if scope == Scope::Picker
            && let KeyCode::Char(c) = k.code
            && !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return self.picker_type(c);
        }
        // The tour's "next step" key works from every pane.
        if self.tour.is_some()
            && matches!(
                scope,
                Scope::Layers | Scope::Tree | Scope::Details | Scope::Live
            )
            && keymap::lookup(Scope::Tour, &k) == Some(Action::NextStep)
        {
            return self.tour_action(Action::NextStep);
        }
        // Ctrl-C quits whatever the scope (raw mode turns it into a key).
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
        }
        Vec::new()
    }

    /// Carries out one action in a scope.
    pub fn act(&mut self, scope: Scope, action: Action) -> Vec<Effect> {
        match (scope, action) {
            (_, Action::Quit) => {
                self.quit = true;
                Vec::new()
            }
            (Scope::Help, Action::ToggleHelp | Action::Cancel) | (_, Action::ToggleHelp) => {
                self.help = if self.help.is_some() { None } else { Some(0) };
                Vec::new()
            }
            (Scope::Help, Action::Up) => {
                self.help = self.help.map(|s| s.saturating_sub(1));
                Vec::new()
            }
            (Scope::Help, Action::Down) => {
                self.help = self.help.map(|s| s.saturating_add(1));
                Vec::new()
            }
            (Scope::Help, _) => Vec::new(),
            (Scope::Picker, a) => self.picker_action(a),
            (Scope::Search, a) => self.search_action(a),
            (Scope::Waste, a) => self.waste_action(a),
            (Scope::Prompt, a) => self.prompt_action(a),
            (_, Action::Export) => self.start_export(),
            (_, Action::Zoom) => {
                self.zoomed = !self.zoomed;
                Vec::new()
            }
            (_, Action::FocusNext) => {
                self.focus = self.cycle_focus(true);
                Vec::new()
            }
            (_, Action::FocusPrev) => {
                self.focus = self.cycle_focus(false);
                Vec::new()
            }
            (_, Action::TogglePause) => {
                self.live.follow = !self.live.follow;
                if self.live.follow {
                    self.live.back = 0;
                }
                Vec::new()
            }
            (Scope::Tour, a) => self.tour_action(a),
            (Scope::Layers, a) => self.layers_action(a),
            (Scope::Tree, a) => self.tree_action(a),
            (Scope::Details, a) => self.details_action(a),
            (Scope::Live, a) => self.live_action(a),
            (Scope::Global, a) => self.global_action(a),
        }
    }

    /// The next pane in Tab order. Every pane of the explorer is in it, those without room
    /// on screen too: the layout shows the focused one (in the details pane's place).
    pub(super) fn cycle_focus(&self, forward: bool) -> Focus {
        let mut order = vec![Focus::Layers, Focus::Tree, Focus::Details, Focus::Live];
        if self.tour.is_some() {
            order.push(Focus::Tour);
        }
        let i = order.iter().position(|f| *f == self.focus).unwrap_or(1);
        let n = order.len();
        order[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }

    pub(super) fn global_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match action {
            Action::ToggleLayerMode => {
                ex.mode = match ex.mode {
                    Mode::Aggregated => Mode::LayerOnly,
                    Mode::LayerOnly => Mode::Aggregated,
                };
                return self.refresh_ghosts_or_rows();
            }
            Action::ToggleWhiteouts => {
                ex.show_whiteouts = !ex.show_whiteouts;
                return self.refresh_ghosts_or_rows();
            }
            Action::ToggleOpaqueHidden => {
                ex.show_opaque = !ex.show_opaque;
                return self.refresh_ghosts_or_rows();
            }
            Action::FilterAdded => ex.filters.added = !ex.filters.added,
            Action::FilterModified => ex.filters.modified = !ex.filters.modified,
            Action::FilterDeleted => ex.filters.deleted = !ex.filters.deleted,
            Action::FilterUnchanged => ex.filters.unchanged = !ex.filters.unchanged,
            Action::ToggleSort => {
                ex.sort = match ex.sort {
                    Sort::Name => Sort::Size,
                    Sort::Size => Sort::Name,
                };
                ex.tree.sort_all(ex.sort);
                // Sorting by size wants the directories' sizes: the walk that builds the
                // search index counts them.
                if ex.sort == Sort::Size && !ex.tree.has_dir_sizes() && !ex.search.complete {
                    let mut effects: Vec<Effect> = Self::search_effect(ex).into_iter().collect();
                    effects.extend(self.rebuild_rows());
                    return effects;
                }
            }
            Action::Search => {
                ex.search = SearchState {
                    active: true,
                    query_gen: ex.search.query_gen + 1,
                    ..SearchState::default()
                };
                return Vec::new();
            }
            Action::WasteView => {
                ex.waste_view.active = true;
                return Vec::new();
            }
            Action::Reload => {
                ex.summary_gen += 1;
                ex.summaries = vec![None; ex.stack.layers.len()];
                let mut effects = vec![Effect::Summaries {
                    generation: ex.summary_gen,
                    stack: Arc::clone(&ex.stack),
                    layers: (0..ex.stack.layers.len()).collect(),
                }];
                ex.waste = None;
                ex.waste_again = false;
                effects.push(Self::waste_effect(ex));
                effects.extend(self.new_view(true));
                return effects;
            }
            _ => return Vec::new(),
        }
        self.rebuild_rows()
    }
}
