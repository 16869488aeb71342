//! The one inbox of the UI thread: keys and mouse from the input thread, results of background
//! jobs, the live watcher's batches and termination signals all arrive as [`AppEvent`]s on one
//! channel.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use ratatui::crossterm::event::{self as ct, Event, KeyEvent, KeyEventKind, MouseEvent};

use crate::diff::LayerSummary;
use crate::merge::{Anomaly, Entry, FileKind, Merger, Resolved, Version};
use crate::tui::picker::Candidate;

/// Everything the UI thread reacts to.
#[derive(Debug)]
pub enum AppEvent {
    /// A key press (releases and repeats are dropped by the input thread).
    Key(KeyEvent),
    /// A click or a wheel turn.
    Mouse(MouseEvent),
    /// The terminal changed size.
    Resize(u16, u16),
    /// A background job finished.
    Job(JobResult),
    /// The search index grew (sent at most every ~100 ms while it is built).
    SearchProgress {
        /// The view the index belongs to.
        view: u64,
        /// Paths indexed so far.
        indexed: usize,
    },
    /// A stack being opened indexed more of its layer tars (sent about every 50 ms while it
    /// opens): the counts since the open began.
    OpenProgress(crate::fsio::tar::IndexProgress),
    /// Events from the live watcher, already explained, in order.
    Live(LiveBatch),
    /// A background failure to show in the status bar.
    Error(String),
    /// SIGTERM or SIGHUP: end as `q` does.
    Terminate,
}

/// One line of the live pane: the watcher explains a change, the pane only shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLine {
    /// When it happened, already formatted (`12:03:04.125`).
    pub time: String,
    /// Its kind (`created`, `copied-up`, `whiteout`, ...); the first letter is its symbol.
    pub kind: String,
    /// The merged path.
    pub path: Vec<u8>,
    /// The explanation ("copied up from layer 3, RUN apt-get install ...").
    pub detail: String,
    /// The kind's symbol (`+` created, `↑` copied up, `✗` deleted, ...).
    pub symbol: char,
    /// The kind's colour group.
    pub tone: crate::live::Tone,
}

/// A batch from the live watcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveBatch {
    /// The explained events, oldest first.
    pub lines: Vec<LiveLine>,
    /// Merged paths that changed: their loaded directories are listed again and the layer
    /// counts recomputed.
    pub changed: Vec<Vec<u8>>,
    /// The watcher's state for the pane title ("watching upper", "polling", "rescanning").
    pub status: Option<String>,
}

/// A name the merged view does not show, with every layer's version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghost {
    /// The merged path.
    pub path: Vec<u8>,
    /// The type of the topmost hidden version.
    pub kind: FileKind,
    /// Every layer's version, top-down (from `Merger::resolve`).
    pub versions: Vec<Version>,
}

/// One directory's listing, with layer indexes of the whole stack.
#[derive(Debug, Default)]
pub struct DirContents {
    /// Entries of the merged view.
    pub entries: Vec<Entry>,
    /// Entries of the merged view already in the tree's compact form (the listing job puts
    /// every non-directory here, so a huge directory never travels as whole [`Entry`]s).
    pub files: Vec<(Vec<u8>, Box<crate::tui::tree::FileEntry>)>,
    /// Names readdir shows that lookup refuses.
    pub anomalies: Vec<Anomaly>,
    /// Names some layer holds that the merged view hides (when asked for).
    pub ghosts: Vec<Ghost>,
    /// Ghosts left out because there were too many.
    pub ghosts_omitted: usize,
}

/// What the details pane shows of one path.
#[derive(Debug, Clone)]
pub struct DetailsData {
    /// The merged path.
    pub path: Vec<u8>,
    /// Every version, as `which` finds them (layer indexes of the whole stack).
    pub resolved: Resolved,
    /// `which`'s text lines for it.
    pub which: Vec<String>,
    /// The content.
    pub preview: Preview,
}

/// A file's content, ready to draw (every line already escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// Nothing to show (a directory, a device...).
    None,
    /// Text lines.
    Text {
        /// Escaped lines.
        lines: Vec<String>,
        /// Only the start of the file is shown.
        truncated: bool,
    },
    /// Binary content, dumped in hex when drawn (as wide as the pane allows).
    Hex {
        /// The first bytes.
        bytes: Vec<u8>,
        /// Only the start of the file is shown.
        truncated: bool,
    },
    /// A symlink, resolved inside the merged view.
    Link {
        /// Where it points, as stored.
        target: Vec<u8>,
        /// What that resolves to in the merged view: path, type and layer, or why not.
        resolved: Result<(Vec<u8>, FileKind, usize), String>,
        /// The content at the end of the link.
        content: Box<Preview>,
    },
    /// The content cannot be read.
    Error(String),
}

/// A finished background job.
#[derive(Debug)]
pub enum JobResult {
    /// The stacks found on the host, for the picker.
    Candidates {
        /// The stacks.
        found: Vec<Candidate>,
        /// What discovery noted besides (stores skipped, files unreadable).
        notes: Vec<String>,
    },
    /// The host's disk usage, for the picker's size, unique and shared columns and orphans.
    HostUsage(Box<crate::tui::picker::HostUsage>),
    /// A stack picked in the picker, or named on the command line, was opened.
    Opened(Result<Arc<Merger>, String>),
    /// A view (the stack from one layer down) is ready, with its root listing.
    ViewReady {
        /// The view generation.
        view: u64,
        /// The merger of the view, or why it cannot be opened.
        merger: Result<Arc<Merger>, String>,
    },
    /// A directory was listed.
    Listed {
        /// The view generation.
        view: u64,
        /// The merged path of the directory.
        path: Vec<u8>,
        /// Its contents, or why not.
        contents: Result<DirContents, String>,
    },
    /// One layer's counts.
    Summary {
        /// The stack generation (bumped by reloads).
        generation: u64,
        /// The layer index.
        layer: usize,
        /// Its counts, or why not.
        summary: Result<LayerSummary, String>,
    },
    /// An export ended: what was written where, or why not.
    Exported(Result<String, String>),
    /// Where the bytes of the stack go.
    Waste {
        /// The waste generation (bumped by reloads).
        generation: u64,
        /// The figures, or why not.
        report: Result<std::sync::Arc<crate::waste::Report>, String>,
    },
    /// Details of one path.
    Details {
        /// The view generation.
        view: u64,
        /// The details, or why not.
        details: Result<Box<DetailsData>, String>,
    },
    /// The bytes below every directory of a view (from the walk that builds the search
    /// index).
    DirSizes {
        /// The view generation.
        view: u64,
        /// Bytes of the regular files below each directory, by merged path.
        sizes: std::collections::HashMap<Vec<u8>, u64>,
    },
    /// A step of the demo's tour ran.
    TourStep {
        /// The step's index.
        index: usize,
        /// What it did and the evidence checked, or why it could not run.
        outcome: Result<crate::teach::StepOutcome, String>,
    },
    /// Matches of a search query.
    Search {
        /// The view generation.
        view: u64,
        /// The query generation.
        query: u64,
        /// Matching paths (at most [`crate::tui::job::SEARCH_LIMIT`]).
        matches: Vec<Vec<u8>>,
        /// All matches.
        total: usize,
        /// Paths indexed.
        indexed: usize,
        /// The index is complete (otherwise more matches may come).
        complete: bool,
    },
}

/// The inbox: a sender for producers and the receiver the UI thread reads.
#[derive(Debug)]
pub struct Inbox {
    /// Clone it for each producer.
    pub tx: Sender<AppEvent>,
    /// Only the UI thread reads it.
    pub rx: Receiver<AppEvent>,
}

impl Inbox {
    /// A new, empty inbox.
    #[must_use]
    pub fn new() -> Self {
        let (tx, rx) = channel();
        Inbox { tx, rx }
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Turns a terminal event into an app event; key releases and repeats give `None` (some
/// terminals report them, and a repeat is not a new press).
#[must_use]
pub fn from_terminal(ev: Event) -> Option<AppEvent> {
    match ev {
        Event::Key(k) if k.kind == KeyEventKind::Press => Some(AppEvent::Key(k)),
        Event::Mouse(m) => Some(AppEvent::Mouse(m)),
        Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
        _ => None,
    }
}

/// Turns SIGTERM and SIGHUP into [`AppEvent::Terminate`], so a `kill` or a closed terminal
/// ends the explorer the way `q` does: the terminal is restored and the demo cleans up,
/// instead of the process dying with the terminal left raw.
pub fn spawn_signals(tx: Sender<AppEvent>) {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("layerscope-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if tx.send(AppEvent::Terminate).is_err() {
                    return;
                }
            }
        });
}

/// Starts the input thread: it reads the terminal and forwards events until the inbox is gone.
pub fn spawn_input(tx: Sender<AppEvent>) {
    let _ = std::thread::Builder::new()
        .name("layerscope-input".into())
        .spawn(move || {
            loop {
                let ev = match ct::read() {
                    Ok(ev) => ev,
                    Err(e) => {
                        let _ = tx.send(AppEvent::Error(format!("reading the terminal: {e}")));
                        return;
                    }
                };
                if let Some(ev) = from_terminal(ev)
                    && tx.send(ev).is_err()
                {
                    return;
                }
            }
        });
}
