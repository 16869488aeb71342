//! The interactive explorer (`layerscope [STACK]`): a layer pane, the merged tree with
//! provenance, details and preview, and a live pane, thin over the domain modules.
//!
//! Shape: one inbox ([`event::Inbox`]) receives keys, mouse, background job results and live
//! batches; [`app::App::update`] turns each into state changes and [`job::Effect`]s; the
//! [`job::Worker`] runs effects on background threads, which report back to the inbox; the
//! loop draws only when something changed, at most every 16 ms ([`run_loop`]). Nothing on the
//! UI thread waits on disk.
//!
//! The demo ([`run_demo`]) is the explorer on the demo's stack with a tour pane
//! ([`tour::TourState`]): each step runs on a background job, then the panes re-read what it
//! changed.
//!
//! Connecting more sources: engine discovery returns more [`picker::Candidate`]s from
//! [`picker::candidates`]; the live watcher, started by a [`job::Effect::Watch`], sends
//! [`event::AppEvent::Live`] batches into [`event::Inbox::tx`] ([`live_feed`]).

pub mod app;
pub mod event;
mod export;
pub mod job;
pub mod keymap;
pub mod live_feed;
pub mod picker;
pub mod terminal;
pub mod theme;
pub mod tour;
pub mod tree;
pub mod view;

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;

use crate::merge::Merger;
use crate::stack::spec::StackRequest;
use app::App;
use event::{AppEvent, Inbox};
use job::{Effect, Worker};
use theme::Theme;

/// The shortest time between two frames.
pub const FRAME_GAP: Duration = Duration::from_millis(16);

/// The timing log marks when the tree first holds more nodes than this (the benchmark's
/// directory of 200,000 entries).
const BIG_TREE: usize = 100_000;

/// How long a scripted run waits for background work before giving up.
pub const SCRIPT_STALL: Duration = Duration::from_secs(20);

/// Opens the explorer on a named stack, or the picker when none is named.
///
/// # Errors
/// No terminal, the stack cannot be opened, or the terminal fails.
pub fn run(req: StackRequest) -> anyhow::Result<()> {
    let started = Instant::now();
    terminal::require_tty()?;
    if req.stack.is_none() && req.lowerdir.is_none() {
        return explore(Start::Picker(None), started);
    }
    // Opened in the background: the first frame shows at once, and an image archive's layer
    // tars are indexed (and verified) behind it. A stack that cannot be opened ends the
    // explorer with the error, printed as a CLI error once the screen is restored.
    explore(Start::Open(Box::new(req)), started)
}

/// The picker on stacks already found (by [`picker::candidates_in`], say), without finding
/// them again.
///
/// # Errors
/// No terminal, or the terminal fails.
pub fn run_picker(candidates: Vec<picker::Candidate>) -> anyhow::Result<()> {
    let started = Instant::now();
    terminal::require_tty()?;
    explore(Start::Picker(Some(candidates)), started)
}

/// `layerscope demo`: the explorer on the demo's stack with the guided tour in its own pane.
/// Start the demo with [`crate::cli::demo::start`] first, while the process has one thread.
/// The demo's mounts and files are gone when this returns, however the explorer ends.
///
/// # Errors
/// No terminal, a layer of the demo cannot be opened, or the terminal fails.
pub fn run_demo(demo: crate::teach::Demo, tour: crate::teach::Tour) -> anyhow::Result<()> {
    let started = Instant::now();
    let runner = Arc::new(tour::TourRunner::new(demo, tour));
    let result = terminal::require_tty()
        .and_then(|()| Ok(Arc::new(runner.demo().merger()?)))
        .and_then(|merger| explore(Start::Demo(merger, Arc::clone(&runner)), started));
    // A step still running in a background job holds a reference: clean up now anyway.
    if Arc::try_unwrap(runner).is_err() {
        crate::teach::sandbox::cleanup();
    }
    result
}

/// What the explorer opens on.
enum Start {
    Open(Box<StackRequest>),
    Picker(Option<Vec<picker::Candidate>>),
    Demo(Arc<Merger>, Arc<tour::TourRunner>),
}

fn explore(start: Start, started: Instant) -> anyhow::Result<()> {
    let theme = Theme::detect();
    let inbox = Inbox::new();
    let mut terminal = terminal::enter()?;
    let _guard = terminal::Guard;
    let size = terminal.size()?;
    let area = Rect::new(0, 0, size.width, size.height);
    let (mut app, effects) = match start {
        Start::Open(req) => App::opening(*req, theme, area),
        Start::Picker(None) => App::picker(theme, area),
        Start::Picker(Some(c)) => (App::picker_with(c, theme, area), Vec::new()),
        Start::Demo(m, runner) => App::demo(m, tour::TourState::new(runner), theme, area),
    };
    event::spawn_input(inbox.tx.clone());
    event::spawn_signals(inbox.tx.clone());
    let mut worker = Worker::new(inbox.tx.clone());
    worker.enable_live();
    let mut timing = Timing::from_env(started);
    run_loop(
        &mut terminal,
        &mut app,
        &inbox.rx,
        &mut worker,
        effects,
        None,
        &mut timing,
    )?;
    match app.fatal.take() {
        Some(e) => anyhow::bail!("{e}"),
        None => Ok(()),
    }
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    terminal.draw(|f| view::render(f, app))?;
    app.dirty = false;
    Ok(())
}

/// The event loop, generic over the backend so tests drive it on a `TestBackend`.
///
/// Draws the first frame before any background work starts, then: waits for an event,
/// handles it and everything queued behind it, and draws when something changed and at least
/// [`FRAME_GAP`] has passed. With a `script`, the next scripted event is fed whenever the
/// inbox is empty and no background work is outstanding; the loop ends when the script does.
///
/// # Errors
/// The terminal fails, or a scripted run stalls.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    inbox: &Receiver<AppEvent>,
    worker: &mut Worker,
    initial: Vec<Effect>,
    mut script: Option<&mut dyn Iterator<Item = AppEvent>>,
    timing: &mut Timing,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    draw(terminal, app)?;
    let mut last_draw = Instant::now();
    timing.mark("first-frame");
    for e in initial {
        worker.run(e);
    }
    while !app.quit {
        let ev = if app.dirty {
            let remaining = FRAME_GAP.saturating_sub(last_draw.elapsed());
            if remaining.is_zero() {
                draw(terminal, app)?;
                last_draw = Instant::now();
                timing.observe(app);
                continue;
            }
            match inbox.recv_timeout(remaining) {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else if let Some(s) = script.as_deref_mut() {
            match inbox.try_recv() {
                Ok(ev) => ev,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if app.is_idle() => match s.next() {
                    Some(ev) => ev,
                    None => break,
                },
                Err(TryRecvError::Empty) => match inbox.recv_timeout(SCRIPT_STALL) {
                    Ok(ev) => ev,
                    Err(_) => anyhow::bail!("scripted run stalled: background work never finished"),
                },
            }
        } else {
            match inbox.recv() {
                Ok(ev) => ev,
                Err(_) => break,
            }
        };
        for e in app.update(ev) {
            worker.run(e);
        }
        // Drain what queued up meanwhile, so a burst costs one frame.
        while !app.quit {
            match inbox.try_recv() {
                Ok(ev) => {
                    for e in app.update(ev) {
                        worker.run(e);
                    }
                }
                Err(_) => break,
            }
        }
    }
    Ok(())
}

/// Optional timing log (`LAYERSCOPE_LOG=FILE`): when the first frame, the root listing, the
/// layer counts and the search index were ready, and the peak memory then. Used by the
/// benchmark; never written to the terminal.
#[derive(Debug)]
pub struct Timing {
    started: Instant,
    file: Option<std::fs::File>,
    root: bool,
    summaries: bool,
    search: bool,
    big: bool,
}

impl Timing {
    /// No log.
    #[must_use]
    pub fn off() -> Self {
        Timing {
            started: Instant::now(),
            file: None,
            root: false,
            summaries: false,
            search: false,
            big: false,
        }
    }

    /// Logs to `$LAYERSCOPE_LOG` when set, counting from `started`.
    #[must_use]
    pub fn from_env(started: Instant) -> Self {
        let file = std::env::var_os("LAYERSCOPE_LOG").and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Timing {
            started,
            file,
            ..Timing::off()
        }
    }

    /// Writes one line: what, milliseconds since start, peak and current RSS in KiB.
    pub fn mark(&mut self, what: &str) {
        let Some(f) = &mut self.file else { return };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().trim_end_matches(" kB").trim().to_string())
                .unwrap_or_default()
        };
        let _ = writeln!(
            f,
            "{what} ms={:.1} peak_kib={} rss_kib={}",
            self.started.elapsed().as_secs_f64() * 1000.0,
            field("VmHWM:"),
            field("VmRSS:")
        );
    }

    /// Marks milestones as the app reaches them.
    pub fn observe(&mut self, app: &App) {
        if self.file.is_none() {
            return;
        }
        let Some(ex) = &app.ex else { return };
        if !self.root
            && matches!(
                ex.tree.node(tree::ROOT).map(|n| &n.children),
                Some(tree::Children::Loaded(_))
            )
        {
            self.root = true;
            self.mark("root-listed");
        }
        if !self.summaries && ex.summaries.iter().all(Option::is_some) {
            self.summaries = true;
            self.mark("summaries-done");
        }
        if !self.big && ex.tree.len() > BIG_TREE && !ex.tree.is_loading() {
            self.big = true;
            let line = format!("big-tree nodes={}", ex.tree.len());
            self.mark(&line);
        }
        if !self.search && ex.search.complete {
            self.search = true;
            let line = format!("search-indexed paths={}", ex.search.indexed);
            self.mark(&line);
        }
    }
}
