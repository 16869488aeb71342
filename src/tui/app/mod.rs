//! The explorer's state and its one entry point, [`App::update`]: an event in, effects out.
//! No drawing here, and no I/O but one small read: opening a stack reads `/proc/self/status` to
//! tell whether `trusted.*` markers are readable. All other work is asked for as [`Effect`]s.
//!
//! Split by pane, as dua-cli's `interactive/app` and gitui's components are: `state` holds
//! the plain data; `keys` turns a key into the key table's action for the focused scope;
//! `layers`, `tree_pane`, `details`, `live`, `tour`, `picker` and `search` carry out their
//! pane's actions; `merged` is the view every pane shares (opening it, listing, filtering,
//! revealing a path, details); `jobs` takes background results in; `mouse` hit-tests clicks.
//! The unit tests (`tests`) drive [`App::update`] with synthetic job results, without root.

mod details;
mod export;
mod jobs;
mod keys;
mod layers;
mod live;
mod merged;
mod mouse;
mod picker;
mod search;
mod state;
#[cfg(test)]
mod tests;
mod tour;
mod tree_pane;
mod waste;

pub use state::*;

use std::collections::HashSet;
use std::sync::Arc;

use ratatui::layout::Rect;

use crate::merge::{Merger, VersionRole};
use crate::tui::event::AppEvent;
use crate::tui::event::Ghost;
use crate::tui::job::Effect;
use crate::tui::keymap::Scope;
use crate::tui::picker::Candidate;
use crate::tui::theme::Theme;
use crate::tui::tour::TourState;
use crate::tui::tree::{Sort, Tree, offset_showing};
use crate::tui::view;

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
    /// The focused pane has the whole screen (`z`).
    pub zoomed: bool,
    /// A live event shown whole in the details pane (`Enter` in the live pane), until the
    /// tree's selection moves.
    pub live_shown: Option<Box<crate::tui::event::LiveLine>>,
    /// The stack named on the command line, while it opens.
    pub opening: Option<Opening>,
    /// Why the stack named on the command line could not be opened: the explorer ends and
    /// this is its error.
    pub fatal: Option<String>,
}

impl App {
    pub(super) fn base(theme: Theme, area: Rect) -> Self {
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
            zoomed: false,
            live_shown: None,
            opening: None,
            fatal: None,
        }
    }

    /// The explorer on a stack named on the command line, before it is open: the first frame
    /// says it is being opened, and the effect that opens it (in the background, its layer
    /// tars' counts coming in as [`AppEvent::OpenProgress`]).
    #[must_use]
    pub fn opening(
        req: crate::stack::spec::StackRequest,
        theme: Theme,
        area: Rect,
    ) -> (Self, Vec<Effect>) {
        let mut app = App::base(theme, area);
        let name = req
            .stack
            .as_ref()
            .or(req.lowerdir.as_ref())
            .map(|n| crate::escape::display(n.as_encoded_bytes()))
            .unwrap_or_default();
        app.opening = Some(Opening {
            name,
            progress: crate::fsio::tar::IndexProgress::default(),
        });
        (app, vec![Effect::OpenStack(req)])
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
        app.picker = Some(PickerState::new(None));
        (app, vec![Effect::Discover])
    }

    /// The picker on stacks already found (no discovery runs).
    #[must_use]
    pub fn picker_with(candidates: Vec<Candidate>, theme: Theme, area: Rect) -> Self {
        let mut app = App::base(theme, area);
        app.picker = Some(PickerState::new(Some(candidates)));
        app
    }

    pub(super) fn open(&mut self, merger: Arc<Merger>) -> Vec<Effect> {
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
            waste: None,
            waste_by_path: Vec::new(),
            waste_gen: 1,
            waste_running: true,
            waste_again: false,
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
            waste_view: WasteView::default(),
            export: None,
            exporting: false,
            warning,
            lost_note: None,
        });
        let watch = stack.has_upper().then(|| Effect::Watch(Arc::clone(&stack)));
        let mut effects = vec![Effect::Summaries {
            generation: 1,
            stack,
            layers: (0..n).collect(),
        }];
        if let Some(ex) = &self.ex {
            effects.push(Effect::Waste {
                generation: 1,
                merger: Arc::clone(&ex.merger),
            });
        }
        effects.extend(self.new_view(false));
        effects.extend(watch);
        effects
    }

    /// Whether no background work is outstanding (the journeys wait for this before each
    /// scripted key).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        if self.opening.is_some() {
            return false;
        }
        if let Some(p) = &self.picker {
            return p.candidates.is_some() && !p.opening && !p.measuring;
        }
        if self
            .tour
            .as_ref()
            .is_some_and(|t| t.running.is_some() || t.queued > 0)
        {
            return false;
        }
        let Some(ex) = &self.ex else { return true };
        let view_busy = ex.view.is_none() || ex.tree.is_loading() || ex.reveal.is_some();
        let summaries_busy = ex.summaries.iter().any(Option::is_none) || ex.waste_running;
        let details_busy = ex.details.path.is_some()
            && ex.details.data.as_ref().is_none_or(|d| {
                d.as_ref()
                    .is_ok_and(|d| Some(&d.path) != ex.details.path.as_ref())
            });
        let sizes_busy = ex.sort == Sort::Size
            && matches!(ex.view, Some(Ok(_)))
            && !ex.tree.has_dir_sizes()
            && !ex.search.complete;
        let search_busy = ex.search.active
            && !ex.search.query.is_empty()
            && matches!(ex.view, Some(Ok(_)))
            && !(ex.search.result_gen == ex.search.query_gen && ex.search.complete);
        !(ex.exporting || view_busy || summaries_busy || details_busy || search_busy || sizes_busy)
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
            AppEvent::OpenProgress(p) => {
                if let Some(o) = &mut self.opening {
                    o.progress = p;
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

    /// Which part of the key table the keyboard is in: a popup or modal list, else the focused pane.
    #[must_use]
    pub fn scope(&self) -> Scope {
        if self.help.is_some() {
            Scope::Help
        } else if self.picker.is_some() {
            Scope::Picker
        } else if self.ex.as_ref().is_some_and(|e| e.search.active) {
            Scope::Search
        } else if self.ex.as_ref().is_some_and(|e| e.export.is_some()) {
            Scope::Prompt
        } else if self.ex.as_ref().is_some_and(|e| e.waste_view.active) {
            Scope::Waste
        } else {
            self.focus.scope()
        }
    }

    /// Keeps every selection inside its pane after an update.
    pub(super) fn fix_scroll(&mut self) {
        let l = view::layout(self.area, self);
        if let Some(p) = &mut self.picker {
            let h = usize::from(view::picker_list_area(l.tree, p).height).max(1);
            p.selected = p.selected.min(p.rows.len().saturating_sub(1));
            p.offset = offset_showing(p.selected, p.offset, h);
        }
        let Some(ex) = &mut self.ex else {
            return;
        };
        let tree_h = usize::from(l.tree.height.saturating_sub(2));
        ex.tree.scroll_into_view(tree_h);
        let layers_h = usize::from(l.layers.height.saturating_sub(2)).max(1);
        ex.layer_offset = offset_showing(ex.layer_sel, ex.layer_offset, layers_h);
        let search_h = tree_h.saturating_sub(1).max(1);
        ex.search.offset = offset_showing(ex.search.selected, ex.search.offset, search_h);
        ex.waste_view.offset =
            offset_showing(ex.waste_view.selected, ex.waste_view.offset, tree_h.max(1));
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
