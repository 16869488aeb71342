//! The mouse: clicks focus and select, the wheel scrolls the pane under it.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::tui::job::Effect;
use crate::tui::keymap::{Action, Scope};
use crate::tui::view;

use super::*;

impl App {
    pub(super) fn mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        let at = Position::new(m.column, m.row);
        let l = view::layout(self.area, self);
        if self.help.is_some() {
            match m.kind {
                MouseEventKind::ScrollDown => return self.act(Scope::Help, Action::Down),
                MouseEventKind::ScrollUp => return self.act(Scope::Help, Action::Up),
                MouseEventKind::Down(_) => self.help = None,
                _ => {}
            }
            return Vec::new();
        }
        if let Some(p) = &mut self.picker {
            let list = view::picker_list_area(l.tree, p);
            match m.kind {
                MouseEventKind::Down(MouseButton::Left) if list.contains(at) => {
                    let row = p.offset + usize::from(at.y - list.y);
                    if row < p.rows.len() {
                        p.selected = row;
                    }
                }
                MouseEventKind::ScrollDown => return self.act(Scope::Picker, Action::Down),
                MouseEventKind::ScrollUp => return self.act(Scope::Picker, Action::Up),
                _ => {}
            }
            return Vec::new();
        }
        let pane = [
            (l.layers, Focus::Layers),
            (l.tree, Focus::Tree),
            (l.details, Focus::Details),
        ]
        .into_iter()
        .chain(l.live.map(|r| (r, Focus::Live)))
        .chain(l.tour.map(|r| (r, Focus::Tour)))
        .find(|(r, _)| r.contains(at));
        let Some((rect, focus)) = pane else {
            return Vec::new();
        };
        if focus == Focus::Tour {
            return self.tour_mouse(m, rect);
        }
        let scope = focus.scope();
        match m.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let action = if m.kind == MouseEventKind::ScrollDown {
                    Action::Down
                } else {
                    Action::Up
                };
                if self.ex.as_ref().is_some_and(|e| e.search.active) && focus == Focus::Tree {
                    return self.act(Scope::Search, action);
                }
                let mut effects = Vec::new();
                for _ in 0..3 {
                    effects.extend(self.act(scope, action));
                }
                effects
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = focus;
                let row = usize::from(at.y.saturating_sub(rect.y + 1));
                self.click_row(focus, row)
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn click_row(&mut self, focus: Focus, row: usize) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match focus {
            Focus::Layers => {
                let i = ex.layer_offset + row;
                if i < ex.stack.layers.len() && i != ex.layer_sel {
                    ex.layer_sel = i;
                    return self.new_view(true);
                }
                Vec::new()
            }
            Focus::Tree if ex.search.active => {
                let i = ex.search.offset + row;
                if i < ex.search.matches.len() {
                    ex.search.selected = i;
                }
                Vec::new()
            }
            Focus::Tree => {
                let i = ex.tree.offset + row;
                if i >= ex.tree.rows.len() {
                    return Vec::new();
                }
                let again = i == ex.tree.selected;
                ex.tree.select_row(i);
                ex.lost_note = None;
                self.live_shown = None;
                // A second click on a directory opens or closes it.
                if again && let Some(id) = ex.tree.selected_id() {
                    let open = !ex.tree.node(id).is_some_and(|n| n.expanded);
                    return self.expand(id, open);
                }
                self.details_effect()
            }
            Focus::Details | Focus::Live | Focus::Tour => Vec::new(),
        }
    }
}
