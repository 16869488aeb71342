//! The one key table: dispatch, the `?` help popup, the status-bar hints and the README's key
//! table all read [`BINDINGS`], so what the help says is what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere in the explorer (unless a pane or popup takes the key first).
    Global,
    /// The layer pane.
    Layers,
    /// The merged-view tree.
    Tree,
    /// The details and preview pane.
    Details,
    /// The live events pane.
    Live,
    /// The guided tour of `layerscope demo`.
    Tour,
    /// The stack picker.
    Picker,
    /// While typing a `/` search.
    Search,
    /// While the wasted paths are listed (`W`).
    Waste,
    /// While typing the file name an export writes to (`e`).
    Prompt,
    /// While the help popup is open.
    Help,
}

impl Scope {
    /// The heading used in the help popup and the README.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Layers => "Layers pane",
            Scope::Tree => "Merged view",
            Scope::Details => "Details pane",
            Scope::Live => "Live pane",
            Scope::Tour => "Tour pane (demo)",
            Scope::Picker => "Stack picker",
            Scope::Search => "Search (/)",
            Scope::Waste => "Wasted paths (W)",
            Scope::Prompt => "Export (e)",
            Scope::Help => "Help",
        }
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the program.
    Quit,
    /// Open or close the help popup.
    ToggleHelp,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Move the selection up one row.
    Up,
    /// Move the selection down one row.
    Down,
    /// Move up one page.
    PageUp,
    /// Move down one page.
    PageDown,
    /// Go to the first row.
    Top,
    /// Go to the last row.
    Bottom,
    /// Expand a directory, or open what is selected.
    Open,
    /// Collapse a directory, or go to its parent.
    Close,
    /// Expand or collapse the selected directory.
    ToggleExpand,
    /// Switch between "this layer only" and "aggregated with the layers below".
    ToggleLayerMode,
    /// Show or hide whited-out (deleted) entries.
    ToggleWhiteouts,
    /// Show or hide entries hidden by opaque directories and other cuts.
    ToggleOpaqueHidden,
    /// Show or hide added entries.
    FilterAdded,
    /// Show or hide modified entries.
    FilterModified,
    /// Show or hide deleted entries.
    FilterDeleted,
    /// Show or hide unchanged entries.
    FilterUnchanged,
    /// Sort by name or by size.
    ToggleSort,
    /// Start a search across the whole merged tree.
    Search,
    /// List the wasted paths, most bytes first.
    WasteView,
    /// Write the selected version of a file to a file the user names.
    Export,
    /// Reload the view and the layer counts from disk.
    Reload,
    /// Pause or follow the live pane.
    TogglePause,
    /// The focused pane takes the whole screen, or gives it back.
    Zoom,
    /// Collapse every directory of the tree.
    CollapseAll,
    /// Expand every directory the tree shows, one level deeper.
    ExpandLevel,
    /// Tour: run the next step through the merged mount.
    NextStep,
    /// Search: jump to the selected match.
    Accept,
    /// Search or popup: close it.
    Cancel,
    /// Search: delete the last character.
    Backspace,
}

/// A key as the table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key code.
    pub code: KeyCode,
    /// Required modifiers (Shift is ignored for characters, which carry their case).
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn c(ch: char) -> Key {
    k(KeyCode::Char(ch))
}

const fn ctrl(ch: char) -> Key {
    Key {
        code: KeyCode::Char(ch),
        mods: KeyModifiers::CONTROL,
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where it applies.
    pub scope: Scope,
    /// The keys, the first being the one shown in hints.
    pub keys: &'static [Key],
    /// What it does.
    pub action: Action,
    /// The help text.
    pub help: &'static str,
    /// A short word for the status bar, when the binding deserves a hint there.
    pub hint: Option<&'static str>,
}

const fn b(
    scope: Scope,
    keys: &'static [Key],
    action: Action,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        scope,
        keys,
        action,
        help,
        hint,
    }
}

/// Navigation keys shared by every list.
const UP: &[Key] = &[c('k'), k(KeyCode::Up)];
const DOWN: &[Key] = &[c('j'), k(KeyCode::Down)];
const PGUP: &[Key] = &[k(KeyCode::PageUp), ctrl('u')];
const PGDN: &[Key] = &[k(KeyCode::PageDown), ctrl('d')];
const TOP: &[Key] = &[c('g'), k(KeyCode::Home)];
const BOTTOM: &[Key] = &[c('G'), k(KeyCode::End)];
const BACK: &[Key] = &[c('h'), k(KeyCode::Left), k(KeyCode::Esc)];

/// The table. Scoped bindings are looked up before global ones.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    // Popups and modes first: they take keys before anything else.
    b(Scope::Help, &[c('?'), k(KeyCode::Esc), c('q')], Action::ToggleHelp, "close the help", Some("close")),
    b(Scope::Help, UP, Action::Up, "scroll up", None),
    b(Scope::Help, DOWN, Action::Down, "scroll down", None),
    b(Scope::Search, &[k(KeyCode::Enter)], Action::Accept, "jump to the selected match in the tree", Some("jump")),
    b(Scope::Search, &[k(KeyCode::Esc)], Action::Cancel, "close the search", Some("cancel")),
    b(Scope::Search, &[k(KeyCode::Up), ctrl('p')], Action::Up, "previous match", Some("match")),
    b(Scope::Search, &[k(KeyCode::Down), ctrl('n')], Action::Down, "next match", None),
    b(Scope::Search, &[k(KeyCode::Backspace)], Action::Backspace, "delete a character (typing filters as you go)", None),
    b(Scope::Waste, &[k(KeyCode::Enter)], Action::Accept, "jump to the selected path in the tree, its versions in the details pane", Some("jump")),
    b(Scope::Waste, &[k(KeyCode::Esc), c('W'), c('q')], Action::Cancel, "close the list", Some("close")),
    b(Scope::Waste, UP, Action::Up, "previous path", Some("move")),
    b(Scope::Waste, DOWN, Action::Down, "next path", None),
    b(Scope::Waste, PGUP, Action::PageUp, "page up", None),
    b(Scope::Waste, PGDN, Action::PageDown, "page down", None),
    b(Scope::Waste, TOP, Action::Top, "first path", None),
    b(Scope::Waste, BOTTOM, Action::Bottom, "last path", None),
    b(Scope::Prompt, &[k(KeyCode::Enter)], Action::Accept, "write the file (an existing file is never overwritten; typing names it)", Some("write")),
    b(Scope::Prompt, &[k(KeyCode::Esc)], Action::Cancel, "cancel", Some("cancel")),
    b(Scope::Prompt, &[k(KeyCode::Backspace)], Action::Backspace, "delete a character", None),
    b(Scope::Picker, &[k(KeyCode::Enter)], Action::Open, "open the selected stack (typing filters the list)", Some("open")),
    b(Scope::Picker, &[k(KeyCode::Up), ctrl('p')], Action::Up, "previous stack", Some("move")),
    b(Scope::Picker, &[k(KeyCode::Down), ctrl('n')], Action::Down, "next stack", None),
    b(Scope::Picker, &[k(KeyCode::PageUp)], Action::PageUp, "page up", None),
    b(Scope::Picker, &[k(KeyCode::PageDown)], Action::PageDown, "page down", None),
    b(Scope::Picker, &[k(KeyCode::Home)], Action::Top, "first stack", None),
    b(Scope::Picker, &[k(KeyCode::End)], Action::Bottom, "last stack", None),
    b(Scope::Picker, &[ctrl('s')], Action::ToggleSort, "sort: running containers first, then by each column in turn (size, unique, shared, age, ...)", Some("sort")),
    b(Scope::Picker, &[k(KeyCode::Backspace)], Action::Backspace, "delete a character of the filter", None),
    b(Scope::Picker, &[k(KeyCode::Esc)], Action::Cancel, "clear the filter; quit when it is empty", Some("clear/quit")),
    b(Scope::Picker, &[ctrl('c')], Action::Quit, "quit", None),
    // Everywhere.
    b(Scope::Global, &[c('q'), ctrl('c')], Action::Quit, "quit", Some("quit")),
    b(Scope::Global, &[c('?')], Action::ToggleHelp, "help: every key", Some("help")),
    b(Scope::Global, &[k(KeyCode::Tab)], Action::FocusNext, "next pane", Some("pane")),
    b(Scope::Global, &[k(KeyCode::BackTab)], Action::FocusPrev, "previous pane", None),
    b(Scope::Global, &[c('/')], Action::Search, "search the whole merged tree", Some("search")),
    b(Scope::Global, &[c('a')], Action::ToggleLayerMode, "layer contents: aggregated with the layers below, or this layer only", Some("mode")),
    b(Scope::Global, &[c('w')], Action::ToggleWhiteouts, "show whited-out (deleted) entries", None),
    b(Scope::Global, &[c('o')], Action::ToggleOpaqueHidden, "show entries hidden by opaque directories", None),
    b(Scope::Global, &[c('1')], Action::FilterAdded, "filter: show or hide added files", None),
    b(Scope::Global, &[c('2')], Action::FilterModified, "filter: show or hide modified files", None),
    b(Scope::Global, &[c('3')], Action::FilterDeleted, "filter: show or hide deleted files", None),
    b(Scope::Global, &[c('4')], Action::FilterUnchanged, "filter: show or hide files the selected layer leaves unchanged", None),
    b(Scope::Global, &[c('s')], Action::ToggleSort, "sort by name or by size (a directory by the bytes below it, counted in the background)", Some("sort")),
    b(Scope::Global, &[c('W')], Action::WasteView, "wasted paths: the stored copies no merged path shows, most bytes first", Some("waste")),
    b(Scope::Global, &[c('e')], Action::Export, "export: write the selected file's version shown in the details (a hidden one too) to a file you name", None),
    b(Scope::Global, &[c('r')], Action::Reload, "reload from disk", None),
    b(Scope::Global, &[c('p')], Action::TogglePause, "pause or follow the live pane", None),
    b(Scope::Global, &[c('z')], Action::Zoom, "zoom: the focused pane takes the whole screen (z again gives it back)", Some("zoom")),
    // The layer pane: moving the selection changes what the tree shows.
    b(Scope::Layers, UP, Action::Up, "layer above", Some("layer")),
    b(Scope::Layers, DOWN, Action::Down, "layer below", None),
    b(Scope::Layers, TOP, Action::Top, "top layer", None),
    b(Scope::Layers, BOTTOM, Action::Bottom, "bottom layer", None),
    b(Scope::Layers, &[k(KeyCode::Enter), c('l'), k(KeyCode::Right)], Action::Open, "go to the merged view", None),
    // The tree.
    b(Scope::Tree, UP, Action::Up, "previous entry", Some("move")),
    b(Scope::Tree, DOWN, Action::Down, "next entry", None),
    b(Scope::Tree, PGUP, Action::PageUp, "page up", None),
    b(Scope::Tree, PGDN, Action::PageDown, "page down", None),
    b(Scope::Tree, TOP, Action::Top, "first entry", None),
    b(Scope::Tree, BOTTOM, Action::Bottom, "last entry", None),
    b(Scope::Tree, &[c('l'), k(KeyCode::Right), k(KeyCode::Enter)], Action::Open, "expand a directory, or show a file's details", Some("open")),
    b(Scope::Tree, &[c('h'), k(KeyCode::Left)], Action::Close, "collapse, or go to the parent", None),
    b(Scope::Tree, &[c(' ')], Action::ToggleExpand, "expand or collapse", None),
    b(Scope::Tree, &[c('-')], Action::CollapseAll, "collapse every directory", None),
    b(Scope::Tree, &[c('+'), c('=')], Action::ExpandLevel, "expand every directory shown, one level deeper", None),
    // Details and live panes scroll.
    b(Scope::Details, UP, Action::Up, "scroll up", Some("scroll")),
    b(Scope::Details, DOWN, Action::Down, "scroll down", None),
    b(Scope::Details, PGUP, Action::PageUp, "page up", None),
    b(Scope::Details, PGDN, Action::PageDown, "page down", None),
    b(Scope::Details, TOP, Action::Top, "top", None),
    b(Scope::Details, BACK, Action::Close, "back to the merged view", Some("back")),
    b(Scope::Live, UP, Action::Up, "older events (pauses following)", Some("scroll")),
    b(Scope::Live, DOWN, Action::Down, "newer events", None),
    b(Scope::Live, BOTTOM, Action::Bottom, "newest event, follow again", None),
    b(Scope::Live, &[k(KeyCode::Enter), c('l')], Action::Open, "show the selected event whole in the details pane", Some("show")),
    b(Scope::Live, BACK, Action::Close, "back to the merged view", None),
    // The demo's tour: `n` runs the next step from every pane (see `tour_hint`).
    b(Scope::Tour, &[c('n'), k(KeyCode::Enter)], Action::NextStep, "run the next step through the merged mount (n works in every pane)", Some("next step")),
    b(Scope::Tour, UP, Action::Up, "show the previous step", Some("step")),
    b(Scope::Tour, DOWN, Action::Down, "show the next step", None),
    b(Scope::Tour, PGUP, Action::PageUp, "scroll the step's text up", None),
    b(Scope::Tour, PGDN, Action::PageDown, "scroll the step's text down", None),
];

impl Key {
    /// Whether a key event is this key.
    #[must_use]
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        match (self.code, ev.code) {
            // Characters carry their case; Shift is not compared.
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                a == b && (ev.modifiers & relevant) == (self.mods & relevant)
            }
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (a, b) => a == b && (ev.modifiers & relevant) == (self.mods & relevant),
        }
    }

    /// The key as people write it: `q`, `Ctrl-c`, `Tab`, `↑`.
    #[must_use]
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(ch) => ch.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Backspace => "Backspace".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

impl Binding {
    /// All of its keys, as people write them: `j ↓`.
    #[must_use]
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The action bound to `ev` in `scope`, falling back to the global table unless the scope is
/// modal (help, search, picker).
#[must_use]
pub fn lookup(scope: Scope, ev: &KeyEvent) -> Option<Action> {
    let find = |s: Scope| {
        BINDINGS
            .iter()
            .find(|b| b.scope == s && b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    };
    if let Some(a) = find(scope) {
        return Some(a);
    }
    match scope {
        // In the picker, characters are its filter: it has no global keys.
        Scope::Help | Scope::Search | Scope::Picker | Scope::Waste | Scope::Prompt => None,
        _ => find(Scope::Global),
    }
}

/// The status-bar hints for a scope: its own hinted bindings, then the global ones.
#[must_use]
pub fn hints(scope: Scope) -> Vec<(String, &'static str)> {
    let own = BINDINGS
        .iter()
        .filter(|b| b.scope == scope)
        .filter_map(move |b| {
            let hint = b.hint?;
            // "j/k move" reads better than "k move".
            let down = BINDINGS
                .iter()
                .find(|d| d.scope == scope && d.action == Action::Down);
            let label = match (b.action, down) {
                (Action::Up, Some(d)) => format!("{}/{}", d.keys[0].label(), b.keys[0].label()),
                _ => b.keys[0].label(),
            };
            Some((label, hint))
        });
    let global = BINDINGS
        .iter()
        .filter(|b| {
            b.scope == Scope::Global
                && !matches!(
                    scope,
                    Scope::Help | Scope::Search | Scope::Picker | Scope::Waste | Scope::Prompt
                )
        })
        .filter_map(|b| Some((b.keys[0].label(), b.hint?)));
    own.chain(global).collect()
}

/// The tour's "next step" key and hint, shown in every pane's status bar while a tour runs
/// (the key works from every pane, not only the tour's).
#[must_use]
pub fn tour_hint() -> Option<(String, &'static str)> {
    BINDINGS
        .iter()
        .find(|b| b.scope == Scope::Tour && b.action == Action::NextStep)
        .and_then(|b| Some((b.keys.first()?.label(), b.hint?)))
}

/// The scopes in the order the help popup and the README list them.
pub const HELP_ORDER: &[Scope] = &[
    Scope::Global,
    Scope::Layers,
    Scope::Tree,
    Scope::Details,
    Scope::Live,
    Scope::Tour,
    Scope::Search,
    Scope::Waste,
    Scope::Prompt,
    Scope::Picker,
];

/// The key table as Markdown, for the README (a test keeps the README's copy current).
#[must_use]
pub fn markdown_table() -> String {
    let mut out = String::from("| where | keys | what they do |\n|---|---|---|\n");
    for scope in HELP_ORDER {
        for b in BINDINGS.iter().filter(|b| b.scope == *scope) {
            let keys = b
                .keys
                .iter()
                .map(|k| format!("`{}`", k.label()))
                .collect::<Vec<_>>()
                .join(" ");
            out.push_str(&format!("| {} | {keys} | {} |\n", scope.title(), b.help));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn scoped_keys_win_and_modal_scopes_do_not_fall_through() {
        let j = key(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Tree, &j), Some(Action::Down));
        assert_eq!(lookup(Scope::Layers, &j), Some(Action::Down));
        // In search, letters are text, not commands.
        assert_eq!(lookup(Scope::Search, &j), None);
        let q = key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Tree, &q), Some(Action::Quit));
        assert_eq!(lookup(Scope::Search, &q), None);
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Scope::Tree, &ctrl_c), Some(Action::Quit));
        assert_eq!(lookup(Scope::Picker, &ctrl_c), Some(Action::Quit));
        // In the picker, letters are its filter.
        assert_eq!(lookup(Scope::Picker, &q), None);
        let shift_g = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Scope::Tree, &shift_g), Some(Action::Bottom));
        let backtab = key(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(lookup(Scope::Tree, &backtab), Some(Action::FocusPrev));
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for bnd in &BINDINGS[i + 1..] {
                if a.scope != bnd.scope {
                    continue;
                }
                for ka in a.keys {
                    assert!(
                        !bnd.keys.contains(ka),
                        "{} bound twice in {:?}",
                        ka.label(),
                        a.scope
                    );
                }
            }
        }
    }
}
