//! The demo's tour pane: showing steps, running the next one, and re-reading what it changed.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::tui::job::Effect;
use crate::tui::keymap::Action;
use crate::tui::tree::ROOT;
use crate::tui::view;

use super::*;

impl App {
    pub(super) fn tour_action(&mut self, action: Action) -> Vec<Effect> {
        let page = view::layout(self.area, self)
            .tour
            .map_or(5, |r| r.height.saturating_sub(3).max(1));
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        let last = t.steps.len().saturating_sub(1);
        match action {
            Action::NextStep => return self.next_step(),
            Action::Up => {
                t.shown = t.shown.saturating_sub(1);
                t.scroll = 0;
            }
            Action::Down => {
                t.shown = (t.shown + 1).min(last);
                t.scroll = 0;
            }
            Action::PageUp => t.scroll = t.scroll.saturating_sub(page),
            Action::PageDown => t.scroll = t.scroll.saturating_add(page),
            other => return self.global_action(other),
        }
        Vec::new()
    }

    /// Starts the tour's next step in the background, or says why not.
    pub(super) fn next_step(&mut self) -> Vec<Effect> {
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        let refuse = |text: String, error: bool| Some(Message { text, error });
        let why_not = if let Some(i) = t.running {
            // Pressed while a step runs: queued, one step per press, never past the last.
            let left = t.steps.len().saturating_sub(i + 1);
            if t.queued < left {
                t.queued += 1;
                refuse(
                    format!(
                        "step {} is running; {} more queued (each n is one step)",
                        i + 1,
                        t.queued
                    ),
                    false,
                )
            } else {
                refuse(
                    format!("step {} is running; every step left is queued", i + 1),
                    false,
                )
            }
        } else if let Some(why) = &t.off {
            refuse(
                format!("the live tour is off: {why}; browse the stack as it was built"),
                true,
            )
        } else if t.next_index().is_none() {
            refuse(
                "the tour is over: every step has run (q quits; the demo's mounts and files go \
                 away)"
                    .into(),
                false,
            )
        } else {
            None
        };
        if why_not.is_some() {
            self.message = why_not;
            return Vec::new();
        }
        let (Some(i), Some(runner)) = (t.next_index(), t.runner.clone()) else {
            return Vec::new();
        };
        t.running = Some(i);
        t.shown = i;
        t.scroll = 0;
        vec![Effect::TourStep { index: i, runner }]
    }

    /// A step ran: keep its outcome, then show what it changed.
    pub(super) fn step_done(
        &mut self,
        index: usize,
        outcome: Result<crate::teach::StepOutcome, String>,
    ) -> Vec<Effect> {
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        t.running = None;
        let o = match outcome {
            Ok(o) => o,
            Err(e) => {
                t.queued = 0;
                self.message = Some(Message {
                    text: format!("step {}: {e}", index + 1),
                    error: true,
                });
                return Vec::new();
            }
        };
        let total = t.steps.len();
        let found = o.checks.iter().filter(|c| c.ok).count();
        let checks = o.checks.len();
        let ok = o.all_ok();
        let step = t.steps.get(o.index).cloned();
        t.shown = o.index;
        t.scroll = 0;
        let i = o.index;
        t.outcomes.push(o);
        self.message = Some(Message {
            text: if ok {
                format!(
                    "step {}/{total} done: {found} of {checks} pieces of evidence found",
                    i + 1
                )
            } else {
                format!(
                    "step {}/{total} done, but {} of {checks} pieces of evidence are MISSING",
                    i + 1,
                    checks - found
                )
            },
            error: !ok,
        });
        let mut effects = step.map(|s| self.after_step(&s)).unwrap_or_default();
        effects.extend(self.run_queued());
        effects
    }

    /// Starts the next queued step, if one is queued.
    fn run_queued(&mut self) -> Vec<Effect> {
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        if t.queued == 0 || t.running.is_some() {
            return Vec::new();
        }
        t.queued -= 1;
        let message = self.message.take();
        let effects = self.next_step();
        // The finished step's message stays: the next one says nothing until it is done.
        if self.message.is_none() {
            self.message = message;
        }
        effects
    }

    /// Re-reads what a step changed: the upper layer's counts, the loaded directories (from
    /// the root down, so every ancestor's provenance is fresh), and the details of the step's
    /// first path, which gets selected. Deletions and replaced directories turn on the hidden
    /// entries they create, and the view goes back to the top layer, where the changes are.
    pub(super) fn after_step(&mut self, step: &crate::teach::Step) -> Vec<Effect> {
        use crate::teach::StepKind;
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match step.kind {
            StepKind::Delete | StepKind::RenameDir => ex.show_whiteouts = true,
            StepKind::ReplaceDir => {
                ex.show_whiteouts = true;
                ex.show_opaque = true;
            }
            _ => {}
        }
        let fresh_view = ex.layer_sel != 0 || (Self::wants_ghosts(ex) && !ex.view_ghosts);
        let mut effects = self.recount_upper();
        let Some(ex) = &mut self.ex else {
            return effects;
        };
        if fresh_view {
            ex.layer_sel = 0;
            effects.extend(self.new_view(true));
        } else {
            ex.details.path = None;
            effects.extend(Self::list_effect(ex, ROOT));
        }
        let Some(ex) = &mut self.ex else {
            return effects;
        };
        ex.restore_selected = None;
        ex.reveal = step.paths.first().map(|p| p.as_bytes().to_vec());
        ex.reveal_open = true;
        effects.extend(self.continue_reveal());
        effects
    }

    /// The tour pane: a click shows a step (in its list), the wheel scrolls the step's text.
    pub(super) fn tour_mouse(&mut self, m: MouseEvent, rect: Rect) -> Vec<Effect> {
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        match m.kind {
            MouseEventKind::ScrollDown => t.scroll = t.scroll.saturating_add(3),
            MouseEventKind::ScrollUp => t.scroll = t.scroll.saturating_sub(3),
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = Focus::Tour;
                if let Some(list) = view::tour_list_area(rect)
                    && list.contains(Position::new(m.column, m.row))
                {
                    let i = usize::from(m.row - list.y);
                    if i < t.steps.len() && i != t.shown {
                        t.shown = i;
                        t.scroll = 0;
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
