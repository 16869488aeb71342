//! `layerscope watch`: the live view, headless. One line a change (JSON Lines with `--json`),
//! flushed as each burst is explained; Ctrl-C (SIGINT), SIGTERM or SIGHUP end it cleanly.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use super::args::WatchArgs;
use crate::live::{Batch, LiveOptions, LiveWatcher, json};
use crate::stack::spec::{StackRequest, resolve};

/// Runs the watch until a stop signal or until stdout closes.
///
/// # Errors
/// The stack cannot be named, has no upperdir, or cannot be watched; writing fails.
pub fn run(
    req: &StackRequest,
    args: &WatchArgs,
    json_lines: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // First: a Ctrl-C from now on ends the watch cleanly instead of killing it.
    let mut stop_signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])?;
    let stack = resolve(req)?;
    super::warn_if_blind(&stack);
    let options = LiveOptions {
        window: Duration::from_millis(args.window),
        channel_capacity: args.channel_capacity,
        watch_lowers: args.lowers,
        poll: args.poll.map(|ms| Duration::from_millis(ms.max(1))),
        ..LiveOptions::default()
    };
    let (tx, rx) = mpsc::channel::<Option<Batch>>();
    let stop_tx = tx.clone();
    std::thread::Builder::new()
        .name("layerscope-signals".into())
        .spawn(move || {
            if stop_signals.forever().next().is_some() {
                let _ = stop_tx.send(None);
            }
        })?;
    let watcher = LiveWatcher::spawn(&stack, options, move |batch| {
        let _ = tx.send(Some(batch));
    })?;
    let result = print_batches(&rx, json_lines, out);
    drop(watcher);
    result
}

fn print_batches(
    rx: &mpsc::Receiver<Option<Batch>>,
    json_lines: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    while let Ok(Some(batch)) = rx.recv() {
        for e in &batch.events {
            if json_lines {
                crate::report::write_json(&mut *out, &json::event_json(e))?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}", json::event_line(e))?;
            }
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(())
}
