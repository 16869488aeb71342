//! Styles by role, and `NO_COLOR`: without colour every role keeps its modifiers, and the
//! selection is always `REVERSED` + `BOLD`, never colour alone.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

/// The colours layers are told apart by (a layer's index also shows as `L3`, so nothing is
/// lost without colour).
const LAYER_COLORS: [Color; 8] = [
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::Rgb(255, 165, 80),
    Color::Rgb(170, 150, 255),
];

/// The styles the panes draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Whether colours are used at all.
    pub color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set and non-empty (no-color.org).
    #[must_use]
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    /// A theme with or without colour.
    #[must_use]
    pub fn new(color: bool) -> Self {
        Theme { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// The selected row: a highlight bar in colour; without colour, reversed and bold (and
    /// underlined when the pane is not focused), so it never depends on colour alone.
    #[must_use]
    pub fn selected(self, focused: bool) -> Style {
        match (self.color, focused) {
            (true, true) => Style::new()
                .bg(Color::Rgb(58, 68, 110))
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::new().bg(Color::Rgb(45, 48, 60)),
            (false, true) => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            (false, false) => Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    /// A pane's border.
    #[must_use]
    pub fn border(self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }

    /// A layer's index, in its colour.
    #[must_use]
    pub fn layer(self, index: usize) -> Style {
        self.fg(LAYER_COLORS[index % LAYER_COLORS.len()])
            .add_modifier(Modifier::BOLD)
    }

    /// Secondary text.
    #[must_use]
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::Gray)
        } else {
            Style::new()
        }
    }

    /// An entry the merged view does not show (whited out, or behind an opaque directory).
    #[must_use]
    pub fn ghost(self) -> Style {
        self.fg(Color::DarkGray)
            .add_modifier(Modifier::CROSSED_OUT | Modifier::DIM)
    }

    /// Something the kernel refuses or readdir and lookup disagree about.
    #[must_use]
    pub fn anomaly(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Status words.
    #[must_use]
    pub fn added(self) -> Style {
        self.fg(Color::Green)
    }

    /// Status words.
    #[must_use]
    pub fn modified(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Status words.
    #[must_use]
    pub fn deleted(self) -> Style {
        self.fg(Color::Red)
    }

    /// Directories' names.
    #[must_use]
    pub fn dir(self) -> Style {
        self.fg(Color::LightBlue).add_modifier(Modifier::BOLD)
    }

    /// Symlinks' names.
    #[must_use]
    pub fn symlink(self) -> Style {
        self.fg(Color::Cyan)
    }

    /// Titles and headings.
    #[must_use]
    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// An error or warning in the status bar.
    #[must_use]
    pub fn error(self) -> Style {
        self.fg(Color::LightRed).add_modifier(Modifier::BOLD)
    }

    /// A key in a hint.
    #[must_use]
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The backstop for `NO_COLOR`: crossterm 0.29 answers a colour command with a bare `CSI m`,
    /// which also resets bold and reverse (dua-cli#238), so no cell may carry a colour at all.
    pub fn strip(self, buf: &mut Buffer) {
        if self.color {
            return;
        }
        for cell in &mut buf.content {
            cell.fg = Color::Reset;
            cell.bg = Color::Reset;
        }
    }
}
