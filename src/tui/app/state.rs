//! The explorer's state, pane by pane: plain data, changed only by [`super::App::update`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::diff::LayerSummary;
use crate::merge::Merger;
use crate::stack::LayerStack;
use crate::tui::event::{DetailsData, LiveLine};
use crate::tui::keymap::Scope;
use crate::tui::picker::{Candidate, PickerSort};
use crate::tui::tree::{Sort, Tree};

/// The live pane keeps this many lines.
pub const LIVE_CAPACITY: usize = 2000;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The layer list.
    Layers,
    /// The merged-view tree.
    Tree,
    /// Details and preview.
    Details,
    /// Live events.
    Live,
    /// The demo's tour.
    Tour,
}

impl Focus {
    /// The key scope of the pane.
    #[must_use]
    pub fn scope(self) -> Scope {
        match self {
            Focus::Layers => Scope::Layers,
            Focus::Tree => Scope::Tree,
            Focus::Details => Scope::Details,
            Focus::Live => Scope::Live,
            Focus::Tour => Scope::Tour,
        }
    }
}

/// What a selected layer shows in the tree (dive's two modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The merged view of the selected layer and every layer below it.
    Aggregated,
    /// Only what the selected layer itself holds: its additions, changes and deletions.
    LayerOnly,
}

/// Which kinds of change the tree shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filters {
    /// Paths the selected layer adds.
    pub added: bool,
    /// Paths the selected layer changes.
    pub modified: bool,
    /// Paths the selected layer deletes (shown when hidden entries are shown).
    pub deleted: bool,
    /// Paths the selected layer leaves as the layers below have them.
    pub unchanged: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            added: true,
            modified: true,
            deleted: true,
            unchanged: true,
        }
    }
}

/// A path's relation to the selected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The selected layer adds it.
    Added,
    /// The selected layer changes what the layers below have there.
    Modified,
    /// The selected layer deletes it.
    Deleted,
    /// The selected layer does not touch it.
    Unchanged,
    /// A name the kernel refuses: always shown.
    Anomaly,
}

/// The details pane.
#[derive(Debug, Default)]
pub struct DetailsState {
    /// The path asked for.
    pub path: Option<Vec<u8>>,
    /// What came back for it.
    pub data: Option<Result<Box<DetailsData>, String>>,
    /// Scroll offset in lines.
    pub scroll: u16,
}

/// The `/` search.
#[derive(Debug, Default)]
pub struct SearchState {
    /// Typing a query.
    pub active: bool,
    /// The query.
    pub query: String,
    /// Bumped on every change of the query.
    pub query_gen: u64,
    /// The generation the matches answer.
    pub result_gen: u64,
    /// Matching paths.
    pub matches: Vec<Vec<u8>>,
    /// All matches.
    pub total: usize,
    /// Paths indexed so far.
    pub indexed: usize,
    /// The index is complete.
    pub complete: bool,
    /// Selected match.
    pub selected: usize,
    /// First visible match.
    pub offset: usize,
}

/// The live pane.
#[derive(Debug)]
pub struct LiveState {
    /// Lines, oldest first.
    pub lines: VecDeque<LiveLine>,
    /// The watcher's state, when one is connected.
    pub status: Option<String>,
    /// Whether new lines scroll into view.
    pub follow: bool,
    /// Lines scrolled back from the newest.
    pub back: usize,
    /// Lines dropped because the pane was full.
    pub dropped: u64,
}

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            lines: VecDeque::new(),
            status: None,
            follow: true,
            back: 0,
            dropped: 0,
        }
    }
}

/// The stack picker.
#[derive(Debug, Default)]
pub struct PickerState {
    /// The stacks found, once discovery is done.
    pub candidates: Option<Vec<Candidate>>,
    /// What discovery said besides (stores skipped, files unreadable, not root).
    pub notes: Vec<String>,
    /// The filter typed so far.
    pub filter: String,
    /// The order.
    pub sort: PickerSort,
    /// The candidates shown: indexes into `candidates`, filtered and sorted.
    pub rows: Vec<usize>,
    /// Selected row (into `rows`).
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
    /// Opening the selected one.
    pub opening: bool,
    /// Why opening failed.
    pub error: Option<String>,
    /// The host's disk usage (sizes, unique and shared bytes, orphans), once measured.
    pub host: Option<crate::tui::picker::HostUsage>,
    /// The disk usage is being measured in the background.
    pub measuring: bool,
}

impl PickerState {
    /// The picker on candidates (or still looking, with `None`).
    #[must_use]
    pub fn new(candidates: Option<Vec<Candidate>>) -> Self {
        let mut p = PickerState {
            candidates,
            notes: crate::tui::picker::unprivileged_note()
                .into_iter()
                .collect(),
            ..PickerState::default()
        };
        p.refilter();
        p
    }

    /// Recomputes the rows after the filter, the order or the candidates changed, keeping
    /// the selected stack selected when it is still shown.
    pub fn refilter(&mut self) {
        let before = self.rows.get(self.selected).copied();
        self.rows = self.candidates.as_deref().map_or_else(Vec::new, |c| {
            crate::tui::picker::visible(c, &self.filter, self.sort)
        });
        self.selected = before
            .and_then(|b| self.rows.iter().position(|&r| r == b))
            .unwrap_or(0);
    }

    /// The selected candidate.
    #[must_use]
    pub fn selected_candidate(&self) -> Option<&Candidate> {
        let i = *self.rows.get(self.selected)?;
        self.candidates.as_ref()?.get(i)
    }
}

/// One opened stack being explored.
#[derive(Debug)]
pub struct Explorer {
    /// The whole stack's merger.
    pub merger: Arc<Merger>,
    /// The stack.
    pub stack: Arc<LayerStack>,
    /// Per layer: its counts, once computed.
    pub summaries: Vec<Option<Result<LayerSummary, String>>>,
    /// Bumped by reloads; older summaries are dropped.
    pub summary_gen: u64,
    /// Where the bytes go (stored, visible, wasted per layer and path), once computed.
    pub waste: Option<Result<Arc<crate::waste::Report>, String>>,
    /// The indexes of the report's wasted paths, sorted by path, to find a hidden row's bytes.
    pub waste_by_path: Vec<usize>,
    /// Bumped by each new waste job; older answers are dropped.
    pub waste_gen: u64,
    /// A waste job is running (the figures shown may be the previous ones).
    pub waste_running: bool,
    /// The upper layer changed while the job ran: run it again when it ends.
    pub waste_again: bool,
    /// The selected layer.
    pub layer_sel: usize,
    /// First visible layer row.
    pub layer_offset: usize,
    /// Aggregated or this layer only.
    pub mode: Mode,
    /// Bumped whenever the view changes; older results are dropped.
    pub view_gen: u64,
    /// The view's first layer (the selected layer when the view was made).
    pub view_base: usize,
    /// The view's merger: `None` while it opens.
    pub view: Option<Result<Arc<Merger>, String>>,
    /// The merged tree of the view.
    pub tree: Tree,
    /// A path to select once its directories are listed.
    pub reveal: Option<Vec<u8>>,
    /// Whether the revealed path, when it is a directory, opens too.
    pub reveal_open: bool,
    /// Directories to expand again after a view change.
    pub restore_expanded: HashSet<Vec<u8>>,
    /// The path to select again after a view change.
    pub restore_selected: Option<Vec<u8>>,
    /// Whether the view's listings include the hidden names.
    pub view_ghosts: bool,
    /// Show whited-out entries.
    pub show_whiteouts: bool,
    /// Show entries hidden by opaque directories and other cuts.
    pub show_opaque: bool,
    /// Category filters.
    pub filters: Filters,
    /// Sibling order.
    pub sort: Sort,
    /// The details pane.
    pub details: DetailsState,
    /// The search.
    pub search: SearchState,
    /// The list of wasted paths (`W`).
    pub waste_view: WasteView,
    /// The export prompt, while the user names the file (`e`).
    pub export: Option<ExportPrompt>,
    /// An export is being written.
    pub exporting: bool,
    /// A lasting warning (markers this process cannot read).
    pub warning: Option<String>,
    /// What happened to the selected path when it went away (shown in the details pane
    /// until the selection moves).
    pub lost_note: Option<String>,
}

/// A stack named on the command line, being opened (resolved, its layer tars indexed) in the
/// background while the first frame shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The name as given.
    pub name: String,
    /// What indexing its layer tars has done so far.
    pub progress: crate::fsio::tar::IndexProgress,
}

/// A status-bar message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
}

/// The list of wasted paths, drawn in the tree's place while open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasteView {
    /// It is open.
    pub active: bool,
    /// The selected row (an index into the report's paths).
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
}

/// What `e` writes: one layer's version of a path, to the file the user is naming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportPrompt {
    /// The merged path.
    pub path: Vec<u8>,
    /// The layer whose version is written.
    pub layer: usize,
    /// The file name typed so far.
    pub input: String,
}

impl Explorer {
    /// The bytes of `path`'s stored copies that no merged path shows, once the waste job
    /// has answered (what a deleted or hidden row weighs).
    #[must_use]
    pub fn wasted_bytes(&self, path: &[u8]) -> Option<u64> {
        let Some(Ok(r)) = &self.waste else {
            return None;
        };
        let i = self
            .waste_by_path
            .binary_search_by(|&i| r.paths[i].path.as_slice().cmp(path))
            .ok()?;
        Some(r.paths[self.waste_by_path[i]].bytes)
    }
}
