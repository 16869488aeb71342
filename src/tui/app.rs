//! The explorer's state and its one entry point, [`App::update`]: an event in, effects out.
//! No drawing here, and no I/O but one small read: opening a stack reads `/proc/self/status` to
//! tell whether `trusted.*` markers are readable. All other work is asked for as [`Effect`]s.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::diff::LayerSummary;
use crate::merge::walk::components;
use crate::merge::{FileKind, Merger, VersionRole, join_merged};
use crate::stack::LayerStack;
use crate::tui::event::{AppEvent, DetailsData, Ghost, JobResult, LiveBatch, LiveLine};
use crate::tui::job::{Effect, ViewRef};
use crate::tui::keymap::{self, Action, Scope};
use crate::tui::picker::Candidate;
use crate::tui::theme::Theme;
use crate::tui::tour::TourState;
use crate::tui::tree::{Children, Item, Node, ROOT, Sort, Tree, offset_showing};
use crate::tui::view;

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
    /// Selected row.
    pub selected: usize,
    /// Opening the selected one.
    pub opening: bool,
    /// Why opening failed.
    pub error: Option<String>,
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
    /// A lasting warning (markers this process cannot read).
    pub warning: Option<String>,
}

/// A status-bar message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
}

/// The whole application state.
#[derive(Debug)]
pub struct App {
    /// Styles.
    pub theme: Theme,
    /// The terminal's area, for layout and mouse hit tests.
    pub area: Rect,
    /// Which pane has the keyboard.
    pub focus: Focus,
    /// The help popup's scroll offset, when it is open.
    pub help: Option<u16>,
    /// Set when the user quits.
    pub quit: bool,
    /// The status-bar message.
    pub message: Option<Message>,
    /// The picker, while no stack is open.
    pub picker: Option<PickerState>,
    /// The explorer, once a stack is open.
    pub ex: Option<Explorer>,
    /// The live pane.
    pub live: LiveState,
    /// The demo's guided tour, when the explorer shows the demo.
    pub tour: Option<TourState>,
    /// Something changed since the last frame.
    pub dirty: bool,
}

impl App {
    fn base(theme: Theme, area: Rect) -> Self {
        App {
            theme,
            area,
            focus: Focus::Tree,
            help: None,
            quit: false,
            message: None,
            picker: None,
            ex: None,
            live: LiveState::default(),
            tour: None,
            dirty: true,
        }
    }

    /// The explorer on an opened stack, and the effects that start loading it.
    #[must_use]
    pub fn explorer(merger: Arc<Merger>, theme: Theme, area: Rect) -> (Self, Vec<Effect>) {
        let mut app = App::base(theme, area);
        let effects = app.open(merger);
        (app, effects)
    }

    /// The explorer on the demo's stack with its guided tour, and the effects that start
    /// loading it. The tour pane has the keyboard; the tree shows the first step's path.
    #[must_use]
    pub fn demo(
        merger: Arc<Merger>,
        tour: TourState,
        theme: Theme,
        area: Rect,
    ) -> (Self, Vec<Effect>) {
        let first = tour
            .steps
            .get(tour.shown)
            .and_then(|s| s.paths.first())
            .map(|p| p.as_bytes().to_vec());
        let (mut app, effects) = App::explorer(merger, theme, area);
        app.tour = Some(tour);
        app.focus = Focus::Tour;
        if let Some(ex) = &mut app.ex {
            ex.reveal = first;
        }
        (app, effects)
    }

    /// The picker of the host's stacks, and the effect that finds them.
    #[must_use]
    pub fn picker(theme: Theme, area: Rect) -> (Self, Vec<Effect>) {
        let mut app = App::base(theme, area);
        app.picker = Some(PickerState::default());
        (app, vec![Effect::Discover])
    }

    /// The picker on stacks already found (no discovery runs).
    #[must_use]
    pub fn picker_with(candidates: Vec<Candidate>, theme: Theme, area: Rect) -> Self {
        let mut app = App::base(theme, area);
        app.picker = Some(PickerState {
            candidates: Some(candidates),
            ..PickerState::default()
        });
        app
    }

    fn open(&mut self, merger: Arc<Merger>) -> Vec<Effect> {
        let stack = Arc::new(merger.stack().clone());
        let warning = (stack.options.xattr == crate::stack::XattrNamespace::Trusted
            && !crate::fsio::can_read_trusted_xattrs())
        .then(|| {
            "markers in trusted.* xattrs are unreadable without root: opaque directories, \
             redirects and metacopy are missed (run with sudo)"
                .to_string()
        });
        let n = stack.layers.len();
        self.picker = None;
        self.focus = Focus::Tree;
        self.ex = Some(Explorer {
            merger,
            stack: Arc::clone(&stack),
            summaries: vec![None; n],
            summary_gen: 1,
            layer_sel: 0,
            layer_offset: 0,
            mode: Mode::Aggregated,
            view_gen: 0,
            view_base: 0,
            view: None,
            tree: Tree::new(),
            reveal: None,
            reveal_open: false,
            restore_expanded: HashSet::new(),
            restore_selected: None,
            view_ghosts: false,
            show_whiteouts: false,
            show_opaque: false,
            filters: Filters::default(),
            sort: Sort::Name,
            details: DetailsState::default(),
            search: SearchState::default(),
            warning,
        });
        let watch = stack.has_upper().then(|| Effect::Watch(Arc::clone(&stack)));
        let mut effects = vec![Effect::Summaries {
            generation: 1,
            stack,
            layers: (0..n).collect(),
        }];
        effects.extend(self.new_view(false));
        effects.extend(watch);
        effects
    }

    /// Whether no background work is outstanding (the journeys wait for this before each
    /// scripted key).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        if let Some(p) = &self.picker {
            return p.candidates.is_some() && !p.opening;
        }
        if self.tour.as_ref().is_some_and(|t| t.running.is_some()) {
            return false;
        }
        let Some(ex) = &self.ex else { return true };
        let view_busy = ex.view.is_none() || ex.tree.is_loading() || ex.reveal.is_some();
        let summaries_busy = ex.summaries.iter().any(Option::is_none);
        let details_busy = ex.details.path.is_some()
            && ex.details.data.as_ref().is_none_or(|d| {
                d.as_ref()
                    .is_ok_and(|d| Some(&d.path) != ex.details.path.as_ref())
            });
        let search_busy = ex.search.active
            && !ex.search.query.is_empty()
            && matches!(ex.view, Some(Ok(_)))
            && !(ex.search.result_gen == ex.search.query_gen && ex.search.complete);
        !(view_busy || summaries_busy || details_busy || search_busy)
    }

    /// Handles one event; returns the background work it asks for.
    pub fn update(&mut self, ev: AppEvent) -> Vec<Effect> {
        self.dirty = true;
        let effects = match ev {
            AppEvent::Key(k) => {
                self.message = None;
                self.key(k)
            }
            AppEvent::Mouse(m) => self.mouse(m),
            AppEvent::Resize(w, h) => {
                self.area = Rect::new(0, 0, w, h);
                Vec::new()
            }
            AppEvent::Job(j) => self.job(j),
            AppEvent::SearchProgress { view, indexed } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    ex.search.indexed = ex.search.indexed.max(indexed);
                }
                Vec::new()
            }
            AppEvent::Live(batch) => self.live_batch(batch),
            AppEvent::Terminate => {
                self.quit = true;
                Vec::new()
            }
            AppEvent::Error(text) => {
                self.message = Some(Message { text, error: true });
                Vec::new()
            }
        };
        self.fix_scroll();
        effects
    }

    fn scope(&self) -> Scope {
        if self.help.is_some() {
            Scope::Help
        } else if self.picker.is_some() {
            Scope::Picker
        } else if self.ex.as_ref().is_some_and(|e| e.search.active) {
            Scope::Search
        } else {
            self.focus.scope()
        }
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
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
            (Scope::Details, a) => {
                self.details_action(a);
                Vec::new()
            }
            (Scope::Live, a) => {
                self.live_action(a);
                Vec::new()
            }
            (Scope::Global, a) => self.global_action(a),
        }
    }

    fn cycle_focus(&self, forward: bool) -> Focus {
        let mut order = vec![Focus::Layers, Focus::Tree, Focus::Details];
        let l = view::layout(self.area, self);
        if l.live.is_some() {
            order.push(Focus::Live);
        }
        if l.tour.is_some() {
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

    fn global_action(&mut self, action: Action) -> Vec<Effect> {
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
            }
            Action::Search => {
                ex.search = SearchState {
                    active: true,
                    query_gen: ex.search.query_gen + 1,
                    ..SearchState::default()
                };
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
                effects.extend(self.new_view(true));
                return effects;
            }
            _ => return Vec::new(),
        }
        self.rebuild_rows()
    }

    /// Whether listings should include hidden names.
    fn wants_ghosts(ex: &Explorer) -> bool {
        ex.show_whiteouts || ex.show_opaque || ex.mode == Mode::LayerOnly
    }

    /// After a toggle: list again when hidden names are now needed, else just filter.
    fn refresh_ghosts_or_rows(&mut self) -> Vec<Effect> {
        let Some(ex) = &self.ex else {
            return Vec::new();
        };
        if Self::wants_ghosts(ex) && !ex.view_ghosts {
            return self.new_view(true);
        }
        self.rebuild_rows()
    }

    /// Starts a new view of the stack from the selected layer down; with `keep`, the
    /// expanded directories and the selection are restored once listed again.
    fn new_view(&mut self, keep: bool) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if keep {
            // A view still loading has nothing to save: what it was to restore still counts.
            ex.restore_expanded.extend(ex.tree.expanded_paths());
            if let Some(n) = ex.tree.selected_node() {
                ex.restore_selected = Some(n.path.clone());
            }
        } else {
            ex.restore_expanded.clear();
            ex.restore_selected = None;
        }
        ex.view_ghosts = Self::wants_ghosts(ex);
        ex.view_gen += 1;
        ex.view_base = ex.layer_sel;
        ex.view = None;
        ex.tree = Tree::new();
        ex.details = DetailsState::default();
        ex.search.matches.clear();
        ex.search.total = 0;
        ex.search.indexed = 0;
        ex.search.complete = false;
        vec![Effect::OpenView {
            view: ex.view_gen,
            base: ex.view_base,
            full: Arc::clone(&ex.merger),
        }]
    }

    fn view_ref(ex: &Explorer) -> Option<ViewRef> {
        match &ex.view {
            Some(Ok(m)) => Some(ViewRef {
                view: ex.view_gen,
                base: ex.view_base,
                merger: Arc::clone(m),
            }),
            _ => None,
        }
    }

    fn list_effect(ex: &mut Explorer, id: usize) -> Option<Effect> {
        let view = Self::view_ref(ex)?;
        let path = ex.tree.node(id)?.path.clone();
        ex.tree.set_loading(id);
        Some(Effect::List {
            view,
            path,
            ghosts: ex.view_ghosts,
        })
    }

    fn layers_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let n = ex.stack.layers.len();
        let before = ex.layer_sel;
        match action {
            Action::Up => ex.layer_sel = ex.layer_sel.saturating_sub(1),
            Action::Down => ex.layer_sel = (ex.layer_sel + 1).min(n.saturating_sub(1)),
            Action::Top => ex.layer_sel = 0,
            Action::Bottom => ex.layer_sel = n.saturating_sub(1),
            Action::Open => {
                self.focus = Focus::Tree;
                return Vec::new();
            }
            other => return self.global_action(other),
        }
        if ex.layer_sel == before {
            return Vec::new();
        }
        self.new_view(true)
    }

    fn tree_page(&self) -> isize {
        let h = view::layout(self.area, self).tree.height.saturating_sub(2);
        isize::try_from(h.max(1)).unwrap_or(1)
    }

    fn tree_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.tree_page();
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match action {
            Action::Up => ex.tree.move_by(-1),
            Action::Down => ex.tree.move_by(1),
            Action::PageUp => ex.tree.move_by(-page),
            Action::PageDown => ex.tree.move_by(page),
            Action::Top => ex.tree.selected = 0,
            Action::Bottom => ex.tree.selected = ex.tree.rows.len().saturating_sub(1),
            Action::Open => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                if ex.tree.node(id).is_some_and(Node::is_dir) {
                    return self.expand(id, true);
                }
                self.focus = Focus::Details;
                return self.details_effect();
            }
            Action::Close => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                let Some(node) = ex.tree.node(id) else {
                    return Vec::new();
                };
                if node.is_dir() && node.expanded {
                    return self.expand(id, false);
                }
                let parent = node.parent;
                if parent != ROOT {
                    ex.tree.select(parent);
                }
            }
            Action::ToggleExpand => {
                let Some(id) = ex.tree.selected_id() else {
                    return Vec::new();
                };
                let open = !ex.tree.node(id).is_some_and(|n| n.expanded);
                return self.expand(id, open);
            }
            other => return self.global_action(other),
        }
        self.details_effect()
    }

    fn expand(&mut self, id: usize, open: bool) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        if ex.tree.set_expanded(id, open)
            && let Some(e) = Self::list_effect(ex, id)
        {
            effects.push(e);
        }
        effects.extend(self.rebuild_rows());
        effects
    }

    fn details_action(&mut self, action: Action) {
        let page = self.tree_page();
        let Some(ex) = &mut self.ex else { return };
        let s = &mut ex.details.scroll;
        let page = u16::try_from(page).unwrap_or(10);
        match action {
            Action::Up => *s = s.saturating_sub(1),
            Action::Down => *s = s.saturating_add(1),
            Action::PageUp => *s = s.saturating_sub(page),
            Action::PageDown => *s = s.saturating_add(page),
            Action::Top => *s = 0,
            _ => {}
        }
    }

    fn live_action(&mut self, action: Action) {
        let n = self.live.lines.len();
        match action {
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
            _ => {}
        }
    }

    fn tour_action(&mut self, action: Action) -> Vec<Effect> {
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
    fn next_step(&mut self) -> Vec<Effect> {
        let Some(t) = &mut self.tour else {
            return Vec::new();
        };
        let refuse = |text: String, error: bool| Some(Message { text, error });
        let why_not = if let Some(i) = t.running {
            refuse(format!("step {} is still running", i + 1), false)
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
    fn step_done(
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
        step.map(|s| self.after_step(&s)).unwrap_or_default()
    }

    /// Re-reads what a step changed: the upper layer's counts, the loaded directories (from
    /// the root down, so every ancestor's provenance is fresh), and the details of the step's
    /// first path, which gets selected. Deletions and replaced directories turn on the hidden
    /// entries they create, and the view goes back to the top layer, where the changes are.
    fn after_step(&mut self, step: &crate::teach::Step) -> Vec<Effect> {
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

    /// Counts the upper layer again (it is the only one that changes under a mount); layers
    /// whose counts are still being computed are asked again too, since the answers of the
    /// older generation are dropped.
    fn recount_upper(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if !ex.stack.has_upper() {
            return Vec::new();
        }
        ex.summary_gen += 1;
        let layers: Vec<usize> = (0..ex.summaries.len())
            .filter(|&i| i == 0 || ex.summaries[i].is_none())
            .collect();
        ex.summaries[0] = None;
        vec![Effect::Summaries {
            generation: ex.summary_gen,
            stack: Arc::clone(&ex.stack),
            layers,
        }]
    }

    fn picker_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(p) = &mut self.picker else {
            return Vec::new();
        };
        let n = p.candidates.as_ref().map_or(0, Vec::len);
        match action {
            Action::Up => p.selected = p.selected.saturating_sub(1),
            Action::Down => p.selected = (p.selected + 1).min(n.saturating_sub(1)),
            Action::Open => {
                if let Some(c) = p.candidates.as_ref().and_then(|c| c.get(p.selected))
                    && !p.opening
                {
                    p.opening = true;
                    p.error = None;
                    return vec![Effect::OpenStack(c.request.clone())];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn search_action(&mut self, action: Action) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match action {
            Action::Cancel => ex.search.active = false,
            Action::Up => ex.search.selected = ex.search.selected.saturating_sub(1),
            Action::Down => {
                ex.search.selected =
                    (ex.search.selected + 1).min(ex.search.matches.len().saturating_sub(1));
            }
            Action::Backspace => return self.search_edit(None),
            Action::Accept => {
                ex.search.active = false;
                if let Some(target) = ex.search.matches.get(ex.search.selected).cloned() {
                    ex.reveal = Some(target);
                    ex.reveal_open = false;
                    self.focus = Focus::Tree;
                    return self.continue_reveal();
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Adds a character to the query (or removes the last one) and searches again.
    fn search_edit(&mut self, c: Option<char>) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        match c {
            Some(c) => ex.search.query.push(c),
            None => {
                ex.search.query.pop();
            }
        }
        ex.search.query_gen += 1;
        ex.search.selected = 0;
        ex.search.offset = 0;
        if ex.search.query.is_empty() {
            ex.search.matches.clear();
            ex.search.total = 0;
            return Vec::new();
        }
        Self::search_effect(ex).into_iter().collect()
    }

    fn search_effect(ex: &Explorer) -> Option<Effect> {
        Some(Effect::Search {
            view: Self::view_ref(ex)?,
            query_gen: ex.search.query_gen,
            query: ex.search.query.clone(),
        })
    }

    /// Expands the directories on the way to the path being revealed, listing them as
    /// needed, then selects it.
    fn continue_reveal(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let Some(target) = ex.reveal.clone() else {
            return Vec::new();
        };
        let parts = components(&target);
        let mut id = ROOT;
        let mut path = b"/".to_vec();
        for (i, part) in parts.iter().enumerate() {
            match ex.tree.node(id).map(|n| n.children.clone()) {
                // Listed again: wait for the new listing, the old nodes are about to go.
                Some(Children::Loaded(_)) if ex.tree.is_relisting(id) => return Vec::new(),
                Some(Children::Loaded(_)) => {}
                Some(Children::Loading) => return Vec::new(),
                Some(Children::NotLoaded) => {
                    ex.tree.set_expanded(id, true);
                    return Self::list_effect(ex, id).into_iter().collect();
                }
                Some(Children::Failed(_)) | None => {
                    ex.reveal = None;
                    return Vec::new();
                }
            }
            if id != ROOT {
                ex.tree.set_expanded(id, true);
            }
            path = join_merged(&path, part);
            let Some(child) = ex.tree.find(&path) else {
                ex.reveal = None;
                self.message = Some(Message {
                    text: format!(
                        "'{}' is no longer in the view",
                        crate::escape::display(&target)
                    ),
                    error: true,
                });
                return Vec::new();
            };
            if i + 1 == parts.len() {
                ex.reveal = None;
                let mut effects = self.rebuild_rows();
                let Some(ex) = &mut self.ex else {
                    return effects;
                };
                let open = std::mem::take(&mut ex.reveal_open)
                    && ex.tree.node(child).is_some_and(
                        |n| matches!(&n.item, Item::Entry(e) if e.kind == FileKind::Dir),
                    );
                if ex.tree.select(child) {
                    effects.extend(self.details_effect());
                    if open {
                        effects.extend(self.expand(child, true));
                    }
                } else {
                    self.message = Some(Message {
                        text: format!(
                            "'{}' is hidden by the current filters or mode",
                            crate::escape::display(&target)
                        ),
                        error: false,
                    });
                }
                return effects;
            }
            id = child;
        }
        ex.reveal = None;
        Vec::new()
    }

    /// Asks for the details of the selected node when they are not already there.
    fn details_effect(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let Some(node) = ex.tree.selected_node() else {
            return Vec::new();
        };
        if ex.details.path.as_ref() == Some(&node.path) {
            return Vec::new();
        }
        let path = node.path.clone();
        let Some(view) = Self::view_ref(ex) else {
            return Vec::new();
        };
        ex.details.path = Some(path.clone());
        ex.details.scroll = 0;
        vec![Effect::Details { view, path }]
    }

    /// The category of a node relative to the view's first layer.
    #[must_use]
    pub fn category(node: &Node, layer: usize) -> Category {
        match &node.item {
            Item::Root => Category::Unchanged,
            Item::Anomaly(_) => Category::Anomaly,
            Item::Entry(e) => {
                let touched = e.layer == layer
                    || (e.kind == FileKind::Dir && e.merged_layers().contains(&layer));
                if !touched {
                    return Category::Unchanged;
                }
                let below = e
                    .versions
                    .iter()
                    .any(|v| v.layer > layer && v.role != VersionRole::Whiteout);
                if below {
                    Category::Modified
                } else {
                    Category::Added
                }
            }
            Item::Ghost(g) => {
                if ghost_cause(g).1 == Some(layer) {
                    Category::Deleted
                } else {
                    Category::Unchanged
                }
            }
        }
    }

    fn keep(ex: &Explorer, node: &Node) -> bool {
        let base = ex.view_base;
        let cat = Self::category(node, base);
        let only = ex.mode == Mode::LayerOnly;
        let by_filter = match cat {
            Category::Added => ex.filters.added,
            Category::Modified => ex.filters.modified,
            Category::Deleted => ex.filters.deleted,
            Category::Unchanged => ex.filters.unchanged,
            Category::Anomaly => true,
        };
        match &node.item {
            Item::Root | Item::Anomaly(_) => true,
            // Directories hold what the filters pick, so they stay unless the layer lacks them.
            Item::Entry(e) if e.kind == FileKind::Dir => !only || cat != Category::Unchanged,
            Item::Entry(_) => by_filter && (!only || cat != Category::Unchanged),
            Item::Ghost(g) => {
                let (whiteout, cause) = ghost_cause(g);
                let revealed = if whiteout {
                    ex.show_whiteouts
                } else {
                    ex.show_opaque
                } || (only && cause == Some(base));
                revealed && (node.is_dir() || by_filter) && (!only || cat == Category::Deleted)
            }
        }
    }

    fn rebuild_rows(&mut self) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        let mut tree = std::mem::take(&mut ex.tree);
        tree.rebuild(&|n| Self::keep(ex, n));
        ex.tree = tree;
        self.details_effect()
    }

    fn job(&mut self, j: JobResult) -> Vec<Effect> {
        match j {
            JobResult::Candidates(c) => {
                if let Some(p) = &mut self.picker {
                    p.candidates = Some(c);
                }
                Vec::new()
            }
            JobResult::Opened(result) => match result {
                Ok(m) => self.open(m),
                Err(e) => {
                    if let Some(p) = &mut self.picker {
                        p.opening = false;
                        p.error = Some(e);
                    }
                    Vec::new()
                }
            },
            JobResult::ViewReady { view, merger } => self.view_ready(view, merger),
            JobResult::TourStep { index, outcome } => self.step_done(index, outcome),
            JobResult::Listed {
                view,
                path,
                contents,
            } => self.listed(view, &path, contents),
            JobResult::Summary {
                generation,
                layer,
                summary,
            } => {
                if let Some(ex) = &mut self.ex
                    && ex.summary_gen == generation
                    && let Some(slot) = ex.summaries.get_mut(layer)
                {
                    *slot = Some(summary);
                }
                Vec::new()
            }
            JobResult::Details { view, details } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    let wanted = match &details {
                        Ok(d) => ex.details.path.as_ref() == Some(&d.path),
                        Err(_) => true,
                    };
                    if wanted {
                        ex.details.data = Some(details);
                    }
                }
                Vec::new()
            }
            JobResult::Search {
                view,
                query,
                matches,
                total,
                indexed,
                complete,
            } => {
                if let Some(ex) = &mut self.ex
                    && ex.view_gen == view
                {
                    ex.search.indexed = ex.search.indexed.max(indexed);
                    if query == ex.search.query_gen {
                        ex.search.result_gen = query;
                        ex.search.matches = matches;
                        ex.search.total = total;
                        ex.search.complete = complete;
                        ex.search.selected = ex
                            .search
                            .selected
                            .min(ex.search.matches.len().saturating_sub(1));
                    }
                }
                Vec::new()
            }
        }
    }

    fn view_ready(&mut self, view: u64, merger: Result<Arc<Merger>, String>) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if ex.view_gen != view {
            return Vec::new();
        }
        let ok = merger.is_ok();
        ex.view = Some(merger);
        if !ok {
            return Vec::new();
        }
        let mut effects: Vec<Effect> = Self::list_effect(ex, ROOT).into_iter().collect();
        if ex.search.active && !ex.search.query.is_empty() {
            ex.search.query_gen += 1;
            effects.extend(Self::search_effect(ex));
        }
        effects
    }

    fn listed(
        &mut self,
        view: u64,
        path: &[u8],
        contents: Result<crate::tui::event::DirContents, String>,
    ) -> Vec<Effect> {
        let Some(ex) = &mut self.ex else {
            return Vec::new();
        };
        if ex.view_gen != view {
            return Vec::new();
        }
        let Some(id) = ex.tree.find(path) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        match contents {
            Err(e) => {
                ex.tree.set_failed(id, e.clone());
                self.message = Some(Message {
                    text: format!("listing '{}': {e}", crate::escape::display(path)),
                    error: true,
                });
            }
            Ok(c) => {
                let with_ghosts = ex.view_ghosts;
                let relist = ex.tree.set_children(id, c, with_ghosts, ex.sort);
                for r in relist {
                    effects.extend(Self::list_effect(ex, r));
                }
                // Directories that were open before the view changed open again.
                if !ex.restore_expanded.is_empty()
                    && let Some(Children::Loaded(kids)) =
                        ex.tree.node(id).map(|n| n.children.clone())
                {
                    for k in kids {
                        let Some(n) = ex.tree.node(k) else { continue };
                        if n.is_dir() && ex.restore_expanded.remove(&n.path) {
                            ex.tree.set_expanded(k, true);
                            effects.extend(Self::list_effect(ex, k));
                        }
                    }
                }
            }
        }
        effects.extend(self.rebuild_rows());
        if let Some(ex) = &mut self.ex
            && let Some(sel) = ex.restore_selected.clone()
            && let Some(id) = ex.tree.find(&sel)
            && ex.tree.select(id)
        {
            ex.restore_selected = None;
            effects.extend(self.details_effect());
        }
        effects.extend(self.continue_reveal());
        effects
    }

    fn live_batch(&mut self, batch: LiveBatch) -> Vec<Effect> {
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

    fn mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
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
            if let MouseEventKind::Down(MouseButton::Left) = m.kind
                && l.tree.contains(at)
            {
                let row = usize::from(at.y.saturating_sub(l.tree.y + 1)) / 2;
                let n = p.candidates.as_ref().map_or(0, Vec::len);
                if row < n {
                    p.selected = row;
                }
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

    /// The tour pane: a click shows a step (in its list), the wheel scrolls the step's text.
    fn tour_mouse(&mut self, m: MouseEvent, rect: Rect) -> Vec<Effect> {
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

    fn click_row(&mut self, focus: Focus, row: usize) -> Vec<Effect> {
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
                ex.tree.selected = i;
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

    /// Keeps every selection inside its pane after an update.
    fn fix_scroll(&mut self) {
        let l = view::layout(self.area, self);
        let Some(ex) = &mut self.ex else {
            return;
        };
        let tree_h = usize::from(l.tree.height.saturating_sub(2));
        ex.tree.scroll_into_view(tree_h);
        let layers_h = usize::from(l.layers.height.saturating_sub(2)).max(1);
        ex.layer_offset = offset_showing(ex.layer_sel, ex.layer_offset, layers_h);
        let search_h = tree_h.saturating_sub(1).max(1);
        ex.search.offset = offset_showing(ex.search.selected, ex.search.offset, search_h);
    }
}

/// Whether a ghost is whited out (else cut off), and the layer that hides it.
#[must_use]
pub fn ghost_cause(g: &Ghost) -> (bool, Option<usize>) {
    if let Some(w) = g.versions.iter().find(|v| v.role == VersionRole::Whiteout) {
        return (true, Some(w.layer));
    }
    let reason = g.versions.iter().find_map(|v| match v.role {
        VersionRole::Hidden(r) => Some(r),
        _ => None,
    });
    match reason {
        Some(crate::merge::HiddenReason::WhitedOut { at }) => (true, Some(at)),
        Some(r) => (false, Some(r.layer())),
        None => (false, None),
    }
}
