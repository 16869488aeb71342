//! Connects the live watcher (`crate::live`) to the explorer: each batch of explained events
//! becomes an [`AppEvent::Live`] in the inbox.

use std::sync::mpsc::Sender;

use super::event::{AppEvent, LiveBatch, LiveLine};
use crate::live::{Batch, LiveOptions, LiveWatcher, json};
use crate::stack::LayerStack;

/// Starts watching `stack`'s upper layer; `None` (with the reason sent to the status bar) when
/// the watcher cannot start.
#[must_use]
pub fn start(stack: &LayerStack, tx: Sender<AppEvent>) -> Option<LiveWatcher> {
    let errors = tx.clone();
    match LiveWatcher::spawn(stack, LiveOptions::default(), move |batch| {
        let _ = tx.send(AppEvent::Live(to_pane(&batch)));
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = errors.send(AppEvent::Error(format!("live view off: {e}")));
            None
        }
    }
}

/// A watcher batch as the live pane shows it.
#[must_use]
pub fn to_pane(batch: &Batch) -> LiveBatch {
    LiveBatch {
        lines: batch
            .events
            .iter()
            .map(|e| LiveLine {
                time: json::clock(e.time),
                kind: e.kind.name().into(),
                path: e.path.clone(),
                detail: e.explanation.clone(),
                symbol: e.kind.symbol(),
                tone: e.kind.tone(),
            })
            .collect(),
        changed: batch.changed_paths().map(<[u8]>::to_vec).collect(),
        status: batch
            .events
            .iter()
            .rev()
            .find(|e| e.kind.is_notice())
            .map(|e| e.kind.name().to_string()),
    }
}
