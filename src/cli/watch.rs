//! `layerscope watch`: the live view, headless. One line a change (JSON Lines with `--json`),
//! flushed as each burst is explained; Ctrl-C (SIGINT), SIGTERM or SIGHUP end it cleanly.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use super::args::WatchArgs;
use crate::live::{Batch, LiveOptions, LiveWatcher, json};
use crate::stack::spec::{StackRequest, resolve};

/// The signals that end the watch.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Blocks the stop signals in this thread (and so in every thread started after), and returns
/// the set to wait on.
fn block_stop_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: the sigset is initialised by sigemptyset before use, and pthread_sigmask only
    // reads it; neither keeps a pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for s in STOP_SIGNALS {
            libc::sigaddset(&raw mut set, s);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

fn wait_for_signal(set: &libc::sigset_t) {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is a valid, initialised sigset and `sig` a valid out-pointer.
    unsafe {
        libc::sigwait(set, &raw mut sig);
    }
}

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
    // Before any thread exists, so that only the waiting thread below takes these signals.
    let set = block_stop_signals()?;
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
            wait_for_signal(&set);
            let _ = stop_tx.send(None);
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
                writeln!(out, "{}", json::event_json(e))?;
            } else {
                writeln!(out, "{}", json::event_line(e))?;
            }
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(())
}
