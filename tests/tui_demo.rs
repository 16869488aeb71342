//! `layerscope demo` in the explorer: the whole tour through the real event loop (real
//! background jobs, a `TestBackend`), checking after each step that the tree, the details and
//! the layer counts show what the step left on disk; and snapshots of the tour pane.
//!
//! This test runs without libtest's harness (`harness = false` in Cargo.toml): the demo enters
//! private namespaces, which the kernel allows only to a single-threaded process, so `main`
//! starts it before anything else starts a thread. It needs root (the privileged mount, with
//! redirects and metacopy) and skips through `common::skip` otherwise.

mod common;
mod tui_fixture;

use std::sync::Arc;

use layerscope::merge::{DataSource, FileKind, Merger};
use layerscope::teach::{Namespace, StepKind, Storage};
use layerscope::tui::app::{App, Focus, ghost_cause};
use layerscope::tui::theme::Theme;
use layerscope::tui::tour::{TourRunner, TourState};
use layerscope::tui::tree::Item;
use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use tui_fixture::Run;

const NAME: &str = "tour_journey_through_the_real_loop";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    // `cargo test FILTER` passes the filter to every test binary.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| NAME.contains(f.as_str())) {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");
    if !common::is_root() {
        common::skip("the tour journey needs root: a privileged overlay mount");
        println!("test {NAME} ... ignored (needs root)");
        return;
    }
    // The demo mounts a private tmpfs over $TMPDIR, which hides a checkout that lives under
    // it (CI may clone into /tmp): keep the snapshot directory reachable through a descriptor.
    let snapshots = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"))
        .expect("tests/snapshots");
    let _ = SNAPSHOTS.set(snapshots);
    // The demo's directory is part of the details pane's text: fix it for the snapshots.
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("TMPDIR", "/tmp") };
    // First, while the process has one thread.
    let (demo, tour) = layerscope::cli::demo::start(false).expect("the demo starts");
    if !demo.is_live() || demo.namespace != Namespace::PrivateMounts {
        common::skip(&format!(
            "the demo could not mount as root here: {:?} / {:?}",
            demo.namespace, demo.live
        ));
        return;
    }
    let snapshots = demo.storage == Storage::PrivateTmpfs;
    journey(Arc::new(TourRunner::new(demo, tour)), snapshots);
    println!("test {NAME} ... ok");
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Directories the steps create get the current time; same length, so nothing moves.
    s.add_filter(
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
        "YYYY-MM-DD hh:mm:ss",
    );
    s.set_prepend_module_to_snapshot(false);
    let dir = SNAPSHOTS.get().expect("opened in main");
    s.set_snapshot_path(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(dir)
    ));
    s
}

/// The snapshot directory, opened before the demo's tmpfs can hide it.
static SNAPSHOTS: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

fn which_text(m: &Merger, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let _ = layerscope::cli::which::run(m, path.as_bytes(), false, &mut out);
    String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect()
}

fn tour(run: &Run) -> &TourState {
    run.app.tour.as_ref().expect("the tour pane")
}

fn journey(runner: Arc<TourRunner>, snapshots: bool) {
    let stack = runner.demo().stack.clone();
    let merger = Arc::new(runner.demo().merger().expect("open the demo stack"));
    let app_layer = runner.demo().layer_index("3-app").expect("app layer");
    let base = runner.demo().layer_index("1-base").expect("base layer");
    let (app, effects) = App::demo(
        Arc::clone(&merger),
        TourState::new(Arc::clone(&runner)),
        Theme::new(true),
        Rect::new(0, 0, 130, 36),
    );
    let mut run = Run::from_app(app, effects, 130, 36);
    run.keys("");
    assert_eq!(run.app.focus, Focus::Tour, "the tour pane has the keyboard");
    assert_eq!(
        run.selected().as_deref(),
        Some("/etc/os-release"),
        "the first step's path is selected before it runs"
    );
    let screen = run.screen();
    assert!(screen.contains("Tour · 0/7 run"), "{screen}");
    assert!(screen.contains("What to look for on disk afterwards"));
    assert!(
        screen.contains("n next step"),
        "the status bar shows the key"
    );
    if snapshots {
        settings().bind(|| insta::assert_snapshot!("tour_start", screen));
    }

    // Browsing the list does not run anything.
    run.keys("jj");
    assert_eq!(tour(&run).shown, 2);
    assert!(run.screen().contains("Step 3/7"));
    run.keys("kk");
    assert_eq!(tour(&run).shown, 0);
    assert!(tour(&run).outcomes.is_empty());

    let steps = tour(&run).steps.clone();
    assert_eq!(steps.len(), 7);
    for (i, step) in steps.iter().enumerate() {
        // From the tree, too: n works in every pane.
        let key = if i == 1 { "<btab><btab>n" } else { "n" };
        run.keys(key);
        let screen = run.screen();
        let rows = run.rows();
        let t = tour(&run);
        assert_eq!(t.outcomes.len(), i + 1, "step {} ran", i + 1);
        let outcome = &t.outcomes[i];
        assert!(
            outcome.all_ok(),
            "step {} left its evidence: {:?}",
            i + 1,
            outcome.checks
        );
        assert_eq!(t.shown, i, "the pane shows the step that ran");
        let path = &step.paths[0];
        assert_eq!(
            run.selected().as_deref(),
            Some(path.as_str()),
            "step {}: the tree selects its path",
            i + 1
        );
        let ex = run.app.ex.as_ref().expect("explorer");
        assert_eq!(ex.layer_sel, 0);
        // The details pane shows the provenance `which` prints now.
        let details = ex
            .details
            .data
            .as_ref()
            .expect("details loaded")
            .as_ref()
            .expect("details ok");
        assert_eq!(details.path, path.as_bytes());
        assert_eq!(
            details.which,
            which_text(&merger, path),
            "step {}: details agree with which",
            i + 1
        );
        // The upper layer was counted again.
        let upper = ex.summaries[0]
            .as_ref()
            .expect("counted")
            .as_ref()
            .expect("count ok");
        let fresh = layerscope::diff::summary(&stack, 0).expect("summary");
        assert_eq!(
            (upper.added, upper.modified, upper.deleted, upper.bytes),
            (fresh.added, fresh.modified, fresh.deleted, fresh.bytes),
            "step {}: the layer counts are recomputed",
            i + 1
        );
        let node = ex.tree.selected_node().expect("selected");
        let status = layerscope::tui::view::status_text(node);
        // Files are kept compact in the tree: their full entry is the details' fresh lookup.
        let fresh = match &ex.details.data {
            Some(Ok(d)) if d.path == node.path => d.resolved.entry.as_ref(),
            _ => None,
        };
        assert!(screen.contains(&format!("Step {}/7", i + 1)), "{screen}");
        assert!(screen.contains("Evidence, read from the layer directories"));
        assert!(!screen.contains("MISSING"), "{screen}");
        assert!(!screen.contains('\u{1b}'));
        match step.kind {
            StepKind::Read => {
                let (Item::File(f), Some(e)) = (&node.item, fresh) else {
                    panic!("a file, looked up: {:?}", node.item)
                };
                assert_eq!(f.layer, e.layer, "the tree and the lookup agree");
                assert_eq!(e.layer, base, "still supplied by the base layer");
                assert_eq!(
                    (upper.added, upper.modified, upper.deleted),
                    (0, 0, 0),
                    "a read writes nothing"
                );
            }
            StepKind::Append => {
                let (Item::File(f), Some(e)) = (&node.item, fresh) else {
                    panic!("a file, looked up: {:?}", node.item)
                };
                assert_eq!(f.layer, e.layer, "the tree and the lookup agree");
                assert_eq!(e.layer, 0, "copied up: the upper layer supplies it");
                assert_eq!(status, "modified, hides 1");
                assert!(screen.contains("L0  modified, hides 1"), "{screen}");
            }
            StepKind::Delete => {
                let Item::Ghost(g) = &node.item else {
                    panic!("a whited-out entry, got {:?}", node.item)
                };
                assert_eq!(ghost_cause(g), (true, Some(0)), "whited out at L0");
                assert_eq!(status, "deleted @L0");
                assert!(screen.contains("✗ curl"), "{screen}");
                assert!(screen.contains("whited out at L0"), "{screen}");
                if snapshots {
                    settings().bind(|| insta::assert_snapshot!("tour_after_delete", screen));
                }
            }
            StepKind::ReplaceDir => {
                let Item::Entry(e) = &node.item else {
                    panic!("an entry")
                };
                assert!(e.opaque && e.layer == 0, "an opaque directory in the upper");
                assert!(
                    rows.contains(&"/usr/share/doc/README".to_string()),
                    "the directory is open: {rows:?}"
                );
                let hidden = ex
                    .tree
                    .find(b"/usr/share/doc/base-files")
                    .and_then(|id| ex.tree.node(id))
                    .expect("what the opaque directory hides is shown");
                assert_eq!(layerscope::tui::view::status_text(hidden), "hidden @L0");
            }
            StepKind::RenameDir => {
                let Item::Entry(e) = &node.item else {
                    panic!("an entry")
                };
                assert_eq!(e.layer, 0);
                assert_eq!(e.redirect.as_deref(), Some(&b"static"[..]));
                assert!(
                    rows.iter().any(|r| r.starts_with("/srv/app/public/")),
                    "the redirected directory shows the lower contents: {rows:?}"
                );
                let old = ex
                    .tree
                    .find(b"/srv/app/static")
                    .and_then(|id| ex.tree.node(id))
                    .expect("the old name");
                assert_eq!(layerscope::tui::view::status_text(old), "deleted @L0");
            }
            StepKind::Chmod => {
                let (Item::File(f), Some(e)) = (&node.item, fresh) else {
                    panic!("a file, looked up: {:?}", node.item)
                };
                assert_eq!(f.layer, e.layer, "the tree and the lookup agree");
                assert_eq!(e.layer, 0);
                assert_eq!(e.meta.mode & 0o7777, 0o750);
                assert!(
                    matches!(e.data, Some(DataSource::Found { layer, .. }) if layer == app_layer),
                    "metadata here, data from the app layer: {:?}",
                    e.data
                );
                assert!(status.starts_with("metacopy, modified"), "{status}");
                assert!(screen.contains("metacopy: metadata here, data from L1"));
            }
            StepKind::Create => {
                let (Item::File(f), Some(e)) = (&node.item, fresh) else {
                    panic!("a file, looked up: {:?}", node.item)
                };
                assert_eq!(f.layer, e.layer, "the tree and the lookup agree");
                assert_eq!((e.layer, e.kind), (0, FileKind::File));
                assert_eq!(e.versions.len(), 1, "no layer below has it");
                assert_eq!(status, "added");
            }
        }
    }

    // Every step has run: n says so, and nothing runs.
    run.keys("n");
    let msg = run.app.message.as_ref().expect("a message");
    assert!(msg.text.contains("the tour is over"), "{}", msg.text);
    assert!(tour(&run).running.is_none());

    // A click on the list shows that step; Tab reaches the pane.
    let list = layerscope::tui::view::tour_list_area(
        layerscope::tui::view::layout(run.app.area, &run.app)
            .tour
            .expect("the tour pane is on screen"),
    )
    .expect("the list is drawn beside the text");
    run.play(vec![layerscope::tui::event::AppEvent::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: list.x + 3,
        row: list.y + 2,
        modifiers: KeyModifiers::NONE,
    })]);
    assert_eq!(tour(&run).shown, 2);
    assert!(run.screen().contains("rm /usr/bin/curl"));

    // A narrower terminal folds the list into a line of marks.
    let (app, effects) = App::demo(
        Arc::clone(&merger),
        TourState::new(Arc::clone(&runner)),
        Theme::new(true),
        Rect::new(0, 0, 80, 34),
    );
    let mut narrow = Run::from_app(app, effects, 80, 34);
    narrow.keys("");
    let screen = narrow.screen();
    assert!(screen.contains("Steps ✓1 ✓2 ✓3 ✓4 ✓5 ✓6 ✓7"), "{screen}");
    if snapshots {
        settings().bind(|| insta::assert_snapshot!("tour_narrow_done", screen));
    }
    run.keys("q");
    assert!(run.app.quit);
}
