//! Benchmark (not a timed test): how fast the explorer shows its first frame on a big stack,
//! and how much memory it holds.
//!
//! `cargo bench --bench tui_first_frame` generates (once, cached under `target/`) a stack of
//! 20 layers and about 200k merged paths, with whiteouts and opaque directories when run as
//! root, then measures:
//! 1. in process, on a `TestBackend`: stack opening to first frame, to the root listing, to
//!    the layer counts, and to the whole-tree search index;
//! 2. the real binary in a real terminal (tmux, when installed), through its
//!    `LAYERSCOPE_LOG` timing log: first frame, root listing, layer counts, search index, and
//!    peak RSS (VmHWM) at each.
//!
//! `LAYERSCOPE_BENCH_DIR` overrides where the stack is generated.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use layerscope::merge::Merger;
use layerscope::stack::options::KernelDefaults;
use layerscope::stack::{LayerStack, MountOptions};
use layerscope::tui::app::App;
use layerscope::tui::event::{AppEvent, Inbox};
use layerscope::tui::job::Worker;
use layerscope::tui::theme::Theme;
use layerscope::tui::{Timing, run_loop, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

const LAYERS: usize = 20;
const PKGS: usize = 1000;
const FILES_PER_PKG: usize = 110;
const ADDED_PER_LAYER: usize = 5000;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn write(p: &Path, data: &[u8]) {
    std::fs::write(p, data).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
}

/// Layer directories top-down: `l00` is the upper.
fn generate(root: &Path) -> Vec<PathBuf> {
    let layers: Vec<PathBuf> = (0..LAYERS).map(|i| root.join(format!("l{i:02}"))).collect();
    let marker = root.join("complete");
    if marker.exists() {
        return layers;
    }
    let _ = std::fs::remove_dir_all(root);
    let t = Instant::now();
    // The bottom layer: a base of packages.
    let base = &layers[LAYERS - 1];
    for p in 0..PKGS {
        let d = base.join(format!("usr/share/pkg{p:04}"));
        std::fs::create_dir_all(&d).expect("mkdir");
        for f in 0..FILES_PER_PKG {
            write(
                &d.join(format!("file{f:03}")),
                format!("pkg {p} file {f}\n").as_bytes(),
            );
        }
    }
    // Each middle layer adds files, modifies some of the base, deletes some, replaces a dir.
    for (k, layer) in layers.iter().enumerate().take(LAYERS - 1).skip(1) {
        let add = layer.join(format!("app/layer{k:02}"));
        for chunk in 0..ADDED_PER_LAYER / 100 {
            let d = add.join(format!("mod{chunk:02}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            for f in 0..100 {
                write(&d.join(format!("f{f:03}.rs")), b"fn main() {}\n");
            }
        }
        for m in 0..50 {
            let p = (k * 50 + m) % PKGS;
            let d = layer.join(format!("usr/share/pkg{p:04}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            for f in 0..10 {
                write(&d.join(format!("file{f:03}")), b"modified\n");
            }
            if is_root() {
                for f in 10..12 {
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        d.join(format!("file{f:03}")),
                        rustix::fs::FileType::CharacterDevice,
                        rustix::fs::Mode::from_raw_mode(0o600),
                        0,
                    )
                    .expect("whiteout");
                }
            }
        }
        if is_root() {
            let d = layer.join(format!("usr/share/pkg{:04}", (k * 7 + 500) % PKGS));
            std::fs::create_dir_all(&d).expect("mkdir");
            rustix::fs::setxattr(
                &d,
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .expect("opaque");
            write(&d.join("only-this"), b"replaced\n");
        }
    }
    // The upper: a container's few writes.
    let up = &layers[0];
    std::fs::create_dir_all(up.join("tmp/work")).expect("mkdir");
    for f in 0..1000 {
        write(&up.join(format!("tmp/work/out{f:04}.log")), b"log line\n");
    }
    write(&marker, b"");
    eprintln!("generated the stack in {:.1} s", t.elapsed().as_secs_f64());
    layers
}

fn stack(layers: &[PathBuf]) -> LayerStack {
    LayerStack::from_dirs(
        "bench".into(),
        Some(layers[0].clone()),
        layers[1..].to_vec(),
        Vec::new(),
        MountOptions::from_options(std::iter::empty(), &KernelDefaults::default())
            .expect("options"),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn in_process(layers: &[PathBuf]) {
    let t0 = Instant::now();
    let merger = Arc::new(Merger::open(&stack(layers)).expect("open"));
    let (mut app, effects) = App::explorer(merger, Theme::new(true), Rect::new(0, 0, 120, 40));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    terminal.draw(|f| view::render(f, &app)).expect("draw");
    let first = t0.elapsed();
    let inbox = Inbox::new();
    let mut worker = Worker::new(inbox.tx.clone());
    // Until the root is listed and every layer counted (the script is empty: wait for idle).
    let mut nothing = std::iter::empty::<AppEvent>();
    run_loop(
        &mut terminal,
        &mut app,
        &inbox.rx,
        &mut worker,
        effects,
        Some(&mut nothing),
        &mut Timing::off(),
    )
    .expect("loop");
    let loaded = t0.elapsed();
    let t1 = Instant::now();
    let mut search = vec![AppEvent::Key(KeyEvent::new(
        KeyCode::Char('/'),
        KeyModifiers::NONE,
    ))]
    .into_iter()
    .chain(std::iter::once(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('z'),
        KeyModifiers::NONE,
    ))));
    run_loop(
        &mut terminal,
        &mut app,
        &inbox.rx,
        &mut worker,
        Vec::new(),
        Some(&mut search),
        &mut Timing::off(),
    )
    .expect("loop");
    let indexed = app.ex.as_ref().map_or(0, |e| e.search.indexed);
    println!("in process (TestBackend 120x40):");
    println!(
        "  first frame            {:8.1} ms (from opening the stack)",
        ms(first)
    );
    println!("  root listed + counts   {:8.1} ms", ms(loaded));
    println!(
        "  search index           {:8.1} ms ({indexed} paths)",
        ms(t1.elapsed())
    );
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_line(log: &Path, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(text) = std::fs::read_to_string(log)
            && let Some(l) = text.lines().find(|l| l.starts_with(prefix))
        {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no '{prefix}' in the log");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn real_terminal(layers: &[PathBuf], runs: usize) {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("real terminal: skipped (tmux is not installed)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_layerscope");
    let lower = layers[1..]
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    println!("real binary in tmux (120x40), LAYERSCOPE_LOG figures (ms from start, peak RSS):");
    for run in 0..runs {
        let log =
            std::env::temp_dir().join(format!("layerscope-bench-{}-{run}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let session = format!("layerscope-bench-{}", std::process::id());
        let cmd = format!(
            "LAYERSCOPE_LOG='{}' '{bin}' --lowerdir '{lower}' --upperdir '{}'",
            log.display(),
            layers[0].display()
        );
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ]);
        let first = wait_line(&log, "first-frame");
        let root = wait_line(&log, "root-listed");
        let counts = wait_line(&log, "summaries-done");
        tmux(&["send-keys", "-t", &session, "/", "z"]);
        let search = wait_line(&log, "search-indexed");
        tmux(&["send-keys", "-t", &session, "Escape"]);
        std::thread::sleep(Duration::from_millis(300));
        tmux(&["send-keys", "-t", &session, "q"]);
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &session])
            .stderr(std::process::Stdio::null())
            .status();
        println!("  run {run}: {first} | {root} | {counts} | {search}");
        let _ = std::fs::remove_file(&log);
    }
}

/// Issue 9, item 8: one directory of 200,000 entries in a lower layer, opened in the real
/// binary: peak RSS when the layers are counted, and when the directory is listed in the tree.
fn huge_directory(root: &Path) {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("huge directory: skipped (tmux is not installed)");
        return;
    }
    const N: usize = 200_000;
    let (low, up) = (root.join("low"), root.join("up"));
    if !root.join("complete").exists() {
        let _ = std::fs::remove_dir_all(root);
        let many = low.join("many");
        std::fs::create_dir_all(&many).expect("mkdir");
        std::fs::create_dir_all(&up).expect("mkdir");
        for i in 0..N {
            std::fs::File::create(many.join(format!("f{i:06}"))).expect("create");
        }
        write(&root.join("complete"), b"");
    }
    let bin = env!("CARGO_BIN_EXE_layerscope");
    let log = std::env::temp_dir().join(format!("layerscope-huge-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let session = format!("layerscope-huge-{}", std::process::id());
    let cmd = format!(
        "LAYERSCOPE_LOG='{}' '{bin}' --lowerdir '{}' --upperdir '{}'",
        log.display(),
        low.display(),
        up.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    let counts = wait_line(&log, "summaries-done");
    // The root's one row is /many: l lists and opens it.
    tmux(&["send-keys", "-t", &session, "l"]);
    let listed = wait_line(&log, "big-tree");
    tmux(&["send-keys", "-t", &session, "q"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .stderr(std::process::Stdio::null())
        .status();
    let kib = |line: &str, key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    println!("one directory of {N} entries (real binary in tmux, 120x40):");
    for (what, line) in [("layers counted", &counts), ("directory listed", &listed)] {
        let peak = kib(line, "peak_kib=");
        println!(
            "  {what:<18} peak RSS {:6.1} MiB ({:.0} B per entry), RSS now {:6.1} MiB  [{line}]",
            peak / 1024.0,
            peak * 1024.0 / N as f64,
            kib(line, "rss_kib=") / 1024.0
        );
    }
    let _ = std::fs::remove_file(&log);
}

fn main() {
    // Only `cargo bench` (which passes --bench) runs it: `cargo test --all-targets` must not
    // generate 200k files.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::var_os("LAYERSCOPE_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tui-bench-stack"),
        PathBuf::from,
    );
    let layers = generate(&dir);
    let merged = Command::new(env!("CARGO_BIN_EXE_layerscope"))
        .args(["ls", "-R", "--lowerdir"])
        .arg(
            layers[1..]
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        )
        .arg("--upperdir")
        .arg(&layers[0])
        .output()
        .map(|o| o.stdout.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0);
    println!(
        "stack: {LAYERS} layers, {merged} merged paths{}",
        if is_root() {
            ", with whiteouts and opaque directories"
        } else {
            " (not root: no whiteouts or opaque directories)"
        }
    );
    in_process(&layers);
    real_terminal(&layers, 3);
    huge_directory(&dir.with_file_name("tui-bench-huge-dir"));
}
