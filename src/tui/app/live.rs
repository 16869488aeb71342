//! The live pane: watcher batches in, scrolling and following.

use crate::merge::walk::components;
use crate::tui::event::LiveBatch;
use crate::tui::job::Effect;
use crate::tui::keymap::Action;
use crate::tui::tree::Children;

use super::*;

impl App {
    pub(super) fn live_batch(&mut self, batch: LiveBatch) -> Vec<Effect> {
        if let Some(s) = batch.status {
            self.live.status = Some(s);
        } else if self.live.status.is_none() {
            self.live.status = Some("connected".into());
        }
        let added = batch.lines.len();
        for line in batch.lines {
            if self.live.lines.len() >= LIVE_CAPACITY {
                self.live.lines.pop_front();
                self.live.dropped += 1;
            }
            self.live.lines.push_back(line);
        }
        if !self.live.follow {
            self.live.back = (self.live.back + added).min(self.live.lines.len().saturating_sub(1));
        }
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let mut dirs: Vec<usize> = Vec::new();
        for p in &batch.changed {
            let parts = components(p);
            let parent = crate::merge::walk::merged_path(&parts[..parts.len().saturating_sub(1)]);
            if let Some(id) = ex.tree.find(&parent)
                && matches!(
                    ex.tree.node(id).map(|n| &n.children),
                    Some(Children::Loaded(_))
                )
                && !dirs.contains(&id)
            {
                dirs.push(id);
            }
        }
        for d in dirs {
            effects.extend(Self::list_effect(ex, d));
        }
        if !batch.changed.is_empty() {
            if ex.details.path.is_some() {
                ex.details.path = None;
                effects.extend(self.details_effect());
            }
            // Live changes land in the upper layer: only its counts can move.
            effects.extend(self.recount_upper());
        }
        effects
    }

    /// Scrolls, follows, shows an event whole, or goes back to the tree; every other key is
    /// the table's global one.
    pub(super) fn live_action(&mut self, action: Action) -> Vec<Effect> {
        let n = self.live.lines.len();
        match action {
            Action::Open => {
                let i = n.saturating_sub(1 + self.live.back);
                if let Some(line) = self.live.lines.get(i) {
                    self.live_shown = Some(Box::new(line.clone()));
                    self.focus = Focus::Details;
                }
            }
            Action::Close => self.focus = Focus::Tree,
            Action::Up => {
                self.live.follow = false;
                self.live.back = (self.live.back + 1).min(n.saturating_sub(1));
            }
            Action::Down => {
                self.live.back = self.live.back.saturating_sub(1);
            }
            Action::Bottom => {
                self.live.back = 0;
                self.live.follow = true;
            }
            other => return self.global_action(other),
        }
        Vec::new()
    }
}
