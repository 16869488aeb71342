//! A small stack with every kind of entry the explorer draws, built from plain directories:
//! a whiteout (char 0/0) and an opaque directory (so it needs root), hostile names, a
//! symlink, a binary file. Layer labels stand in for what discovery would give.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use layerscope::merge::Merger;
use layerscope::stack::options::KernelDefaults;
use layerscope::stack::{LayerStack, MountOptions};

/// A fixture stack in a temporary directory (removed on drop).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub stack: LayerStack,
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

/// The fixed time every fixture file gets, so screens are the same on every run.
pub const MTIME: &str = "@1700000000";

/// The hostile name: an escape sequence that would turn the terminal red.
pub const EVIL: &[u8] = b"evil\x1b[31mred";

impl Fixture {
    /// Why the fixture cannot be built here, if it cannot (whiteouts and trusted xattrs need root).
    pub fn cannot_build() -> Option<String> {
        if !rustix::process::geteuid().is_root() || !layerscope::fsio::can_read_trusted_xattrs() {
            return Some("the fixture's whiteout and opaque directory need root".into());
        }
        None
    }

    /// Builds it: layer 0 upper, 1 and 2 lowers.
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("lsfx")
            .rand_bytes(6)
            .tempdir_in("/tmp")
            .expect("tempdir");
        let (up, l1, l2) = (
            dir.path().join("up"),
            dir.path().join("l1"),
            dir.path().join("l2"),
        );
        // L2: a small base.
        write(&l2.join("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\n");
        write(&l2.join("etc/motd"), b"Welcome\n");
        write(&l2.join("opt/old/readme"), b"old\n");
        write(
            &l2.join("usr/bin/tool"),
            b"\x7fELF\x02\x01\x01\x00binary\x00\x00data",
        );
        write(&l2.join("var/log/boot.log"), b"boot ok\n");
        std::os::unix::fs::symlink("../etc/passwd", l2.join("usr/pw")).expect("symlink");
        // L1: an application layer that changes passwd and replaces /opt/old.
        write(
            &l1.join("etc/passwd"),
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
        );
        write(&l1.join("app/main.py"), b"print('hello')\n\tindented\n");
        write(&l1.join("opt/old/new"), b"new\n");
        rustix::fs::setxattr(
            l1.join("opt/old"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .expect("opaque xattr");
        // L0: the container's upper: a deletion, a new file, hostile names.
        write(&up.join("etc/hostname"), b"box\n");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            up.join("etc/motd"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("whiteout");
        write(
            &up.join(std::ffi::OsStr::new(
                std::str::from_utf8(EVIL).expect("utf8"),
            )),
            b"",
        );
        write(&up.join("日本語の名前.txt"), "テキスト\n".as_bytes());
        write(&up.join("n".repeat(255)), b"");
        let st = Command::new("find")
            .arg(dir.path())
            .args(["-exec", "touch", "-h", "-d", MTIME, "{}", "+"])
            .status()
            .expect("touch");
        assert!(st.success());
        let mut stack = LayerStack::from_dirs(
            "fixture".into(),
            Some(up),
            vec![l1, l2],
            Vec::new(),
            MountOptions::from_options(std::iter::empty(), &KernelDefaults::default())
                .expect("options"),
        );
        stack.layers[0].label = Some("container web (upper)".into());
        stack.layers[1].label = Some("RUN echo app >> /etc/passwd".into());
        stack.layers[2].label = Some("ADD rootfs.tar /".into());
        Fixture { dir, stack }
    }

    /// The stack's merger.
    pub fn merger(&self) -> Arc<Merger> {
        Arc::new(Merger::open(&self.stack).expect("open"))
    }

    /// A layer's directory.
    pub fn layer(&self, i: usize) -> PathBuf {
        self.stack.layers[i].path.clone()
    }
}

use layerscope::tui::app::App;
use layerscope::tui::event::{AppEvent, Inbox};
use layerscope::tui::job::{Effect, Worker};
use layerscope::tui::theme::Theme;
use layerscope::tui::{Timing, run_loop, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

/// Keys from a script: plain characters, or `<tab>`, `<btab>`, `<enter>`, `<esc>`, `<up>`,
/// `<down>`, `<left>`, `<right>`, `<bs>`, `<c-c>`.
pub fn keys(script: &str) -> Vec<AppEvent> {
    let mut out = Vec::new();
    let mut rest = script;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let (code, mods) = match &rest[1..end] {
                "tab" => (KeyCode::Tab, KeyModifiers::NONE),
                "btab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
                "enter" => (KeyCode::Enter, KeyModifiers::NONE),
                "esc" => (KeyCode::Esc, KeyModifiers::NONE),
                "up" => (KeyCode::Up, KeyModifiers::NONE),
                "down" => (KeyCode::Down, KeyModifiers::NONE),
                "left" => (KeyCode::Left, KeyModifiers::NONE),
                "right" => (KeyCode::Right, KeyModifiers::NONE),
                "bs" => (KeyCode::Backspace, KeyModifiers::NONE),
                "c-c" => (KeyCode::Char('c'), KeyModifiers::CONTROL),
                other => panic!("unknown key <{other}>"),
            };
            out.push(AppEvent::Key(KeyEvent::new(code, mods)));
            rest = &rest[end + 1..];
            continue;
        }
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        out.push(AppEvent::Key(KeyEvent::new(KeyCode::Char(c), mods)));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The explorer running on a `TestBackend` through the real event loop and background jobs.
pub struct Run {
    pub terminal: Terminal<TestBackend>,
    pub app: App,
    pub inbox: Inbox,
    pub worker: Worker,
    pending: Vec<Effect>,
}

impl Run {
    /// The explorer on a stack; nothing has run yet.
    pub fn explorer(merger: Arc<Merger>, width: u16, height: u16, color: bool) -> Run {
        let (app, effects) =
            App::explorer(merger, Theme::new(color), Rect::new(0, 0, width, height));
        Run::with(app, effects, width, height)
    }

    /// The explorer on a stack named on the command line, before it is open; nothing has run
    /// yet.
    pub fn opening(req: layerscope::stack::spec::StackRequest, width: u16, height: u16) -> Run {
        let (app, effects) = App::opening(req, Theme::new(false), Rect::new(0, 0, width, height));
        Run::with(app, effects, width, height)
    }

    /// The picker; nothing has run yet.
    pub fn picker(width: u16, height: u16) -> Run {
        let (app, effects) = App::picker(Theme::new(true), Rect::new(0, 0, width, height));
        Run::with(app, effects, width, height)
    }

    /// Any app (the demo's, say) with the effects that start it; nothing has run yet.
    pub fn from_app(app: App, effects: Vec<Effect>, width: u16, height: u16) -> Run {
        Run::with(app, effects, width, height)
    }

    fn with(app: App, effects: Vec<Effect>, width: u16, height: u16) -> Run {
        let inbox = Inbox::new();
        let worker = Worker::new(inbox.tx.clone());
        Run {
            terminal: Terminal::new(TestBackend::new(width, height)).expect("terminal"),
            app,
            inbox,
            worker,
            pending: effects,
        }
    }

    /// Feeds events through the real loop, each once all background work is done, and
    /// returns when the last one's work is done too.
    pub fn play(&mut self, events: Vec<AppEvent>) -> &mut Self {
        let mut script = events.into_iter();
        let initial = std::mem::take(&mut self.pending);
        run_loop(
            &mut self.terminal,
            &mut self.app,
            &self.inbox.rx,
            &mut self.worker,
            initial,
            Some(&mut script),
            &mut Timing::off(),
        )
        .expect("the loop runs");
        self
    }

    /// Plays a key script.
    pub fn keys(&mut self, script: &str) -> &mut Self {
        self.play(keys(script))
    }

    /// Draws the current state and returns the screen as text.
    pub fn screen(&mut self) -> String {
        self.terminal
            .draw(|f| view::render(f, &self.app))
            .expect("draw");
        self.terminal.backend().to_string()
    }

    /// The selected tree path.
    pub fn selected(&self) -> Option<String> {
        let ex = self.app.ex.as_ref()?;
        ex.tree
            .selected_node()
            .map(|n| String::from_utf8_lossy(&n.path).into_owned())
    }

    /// The visible tree rows' paths.
    pub fn rows(&self) -> Vec<String> {
        let Some(ex) = &self.app.ex else {
            return Vec::new();
        };
        ex.tree
            .rows
            .iter()
            .filter_map(|&r| ex.tree.node(r))
            .map(|n| String::from_utf8_lossy(&n.path).into_owned())
            .collect()
    }
}
