//! Terminal hygiene in one place: refusing without a TTY, entering and leaving raw mode, the
//! alternate screen and mouse capture, and a panic hook that restores the terminal first.

use std::io::{IsTerminal, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::style::{Attribute, SetAttribute};
use ratatui::crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

/// Whether the terminal is in explorer mode now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The thread that draws; a panic anywhere else is a background job's, which reports itself.
static UI_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// The message for a run without a terminal.
pub const NO_TTY: &str = "the explorer needs a terminal (stdin and stdout must be a TTY); \
    for scripts use `layerscope ls`, `which`, `layers`, `diff` or `cat` (see --help)";

/// Fails politely when stdin or stdout is not a terminal.
///
/// # Errors
/// Not a terminal.
pub fn require_tty() -> anyhow::Result<()> {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(crate::error::Error::BadInput(NO_TTY.into()).into())
    }
}

/// Installs (once) the panic hook: on the UI thread it restores the terminal before the
/// previous hook prints; in background threads, while the explorer runs, it stays quiet so the
/// screen is not garbled (the job turns the panic into an error event).
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_ui = UI_THREAD
                .lock()
                .map(|t| t.is_none_or(|id| id == std::thread::current().id()))
                .unwrap_or(true);
            if ACTIVE.load(Ordering::SeqCst) && !on_ui {
                return;
            }
            leave();
            previous(info);
        }));
    });
}

/// Enters explorer mode on stdout: raw mode, alternate screen, mouse capture.
///
/// # Errors
/// The terminal refuses.
pub fn enter() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    install_panic_hook();
    if let Ok(mut t) = UI_THREAD.lock() {
        *t = Some(std::thread::current().id());
    }
    ACTIVE.store(true, Ordering::SeqCst);
    enable_raw_mode()?;
    let mut out = std::io::stdout();
    execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    Ok(terminal)
}

/// Leaves explorer mode; safe to call twice, never panics, ignores each failure on its own.
pub fn leave() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    // Raw mode goes first: it has the most side effects on the shell that follows.
    let _ = disable_raw_mode();
    let mut out = std::io::stdout();
    // The alternate screen is cleared before it is left: after a resize, terminals that
    // carry rows of it over to the shell's screen (tmux pulls them back in when the screen
    // grew; Windows Terminal keeps the area it added) would show the UI there.
    let _ = execute!(
        out,
        SetAttribute(Attribute::Reset),
        cursor::MoveTo(0, 0),
        Clear(ClearType::All),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = out.flush();
}

/// Leaves explorer mode when dropped (the error-return path).
#[derive(Debug)]
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        leave();
    }
}
