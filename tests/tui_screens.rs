//! Screens of the explorer in named states, rendered on ratatui's `TestBackend` and compared
//! with committed insta snapshots. Temp paths are redacted; file times are fixed.

mod common;
mod tui_fixture;

use tui_fixture::{Fixture, Run};

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Same length as what it replaces, so the layout does not move.
    s.add_filter(r"lsfx[A-Za-z0-9]{6}", "lsfxXXXXXX");
    s.set_prepend_module_to_snapshot(false);
    s
}

fn fixture() -> Option<Fixture> {
    if let Some(why) = Fixture::cannot_build() {
        common::skip(&why);
        return None;
    }
    Some(Fixture::new())
}

macro_rules! screen {
    ($name:expr, $run:expr) => {{
        let text = $run.screen();
        settings().bind(|| insta::assert_snapshot!($name, text));
    }};
}

#[test]
fn startup_first_frame() {
    let Some(fx) = fixture() else { return };
    // The first frame, before any background work has answered.
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    screen!("startup", run);
}

#[test]
fn loaded_stack() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("");
    screen!("loaded", run);
}

#[test]
fn layers_focused_on_a_lower_layer() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("<btab>j");
    screen!("layers_focused", run);
}

#[test]
fn tree_expanded_with_hidden_entries() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    // /etc and /opt open, whiteouts and opaque-hidden entries shown.
    run.keys("jljjjjjlwo");
    screen!("tree_expanded", run);
}

#[test]
fn details_and_preview_of_a_modified_file() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 110, 34, true);
    run.keys("jljj<tab>");
    assert_eq!(run.selected().as_deref(), Some("/etc/passwd"));
    screen!("details_preview", run);
}

#[test]
fn binary_preview_is_hex() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 120, 34, true);
    run.keys("/tool<enter>");
    assert_eq!(run.selected().as_deref(), Some("/usr/bin/tool"));
    screen!("details_hex", run);
}

#[test]
fn symlink_preview_resolves_in_the_merged_view() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 120, 34, true);
    run.keys("/usr/pw<enter>");
    assert_eq!(run.selected().as_deref(), Some("/usr/pw"));
    screen!("details_symlink", run);
}

#[test]
fn layer_only_mode() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("<btab>ja<tab>jjljjl");
    screen!("layer_only", run);
}

#[test]
fn search_results() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("/o");
    screen!("search", run);
}

#[test]
fn help_open() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 40, true);
    run.keys("?");
    screen!("help_open", run);
}

#[test]
fn small_terminal() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 60, 15, true);
    run.keys("jl");
    screen!("small_terminal_60x15", run);
    let mut tiny = Run::explorer(fx.merger(), 30, 8, true);
    tiny.keys("jl");
    screen!("tiny_terminal_30x8", tiny);
}

#[test]
fn no_color_keeps_the_selection_visible() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 80, 16, false);
    run.keys("jl");
    run.screen();
    let buf = run.terminal.backend().buffer().clone();
    // Not one cell carries a colour, and the selected row is reversed.
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    let reversed = buf
        .content
        .iter()
        .filter(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
        .count();
    assert!(reversed > 20, "the selected row is drawn reversed");
    settings().bind(|| insta::assert_debug_snapshot!("no_color", buf));
}

#[test]
fn key_table_snapshot() {
    // The one key table, as the README shows it.
    let table = layerscope::tui::keymap::markdown_table();
    insta::assert_snapshot!("key_table", table);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    assert!(
        readme.contains(&table),
        "the README's key table is out of date: copy keymap::markdown_table() into it"
    );
}

/// Issue 12, the host view: the picker once `du`'s scan is in, sorted by unique bytes (what
/// removing a stack frees), with the orphans in the footer. No root needed: the stacks and
/// their usage are given.
#[test]
fn picker_with_host_usage() {
    use layerscope::tui::app::App;
    use layerscope::tui::event::{AppEvent, JobResult};
    use layerscope::tui::picker::{Candidate, HostUsage};
    let stack = |kind: &str, name: &str, image: Option<&str>, mounted: bool| Candidate {
        title: format!("docker:{name}"),
        name: name.into(),
        engine: "docker".into(),
        kind: kind.into(),
        image: image.map(String::from),
        layers: if kind == "image" { 3 } else { 5 },
        created: Some("2026-11-30T10:00:00Z".into()),
        mounted,
        request: layerscope::stack::spec::StackRequest {
            stack: Some(format!("docker:{name}").into()),
            ..Default::default()
        },
        ..Candidate::default()
    };
    let found = vec![
        stack("image", "alpine:3", None, false),
        stack("image", "app:2", None, false),
        stack("container", "web", Some("app:2"), true),
        stack("container", "worker", Some("app:2"), false),
        stack("container", "tmp", Some("alpine:3"), false),
    ];
    let (mut app, _) = App::picker(
        layerscope::tui::theme::Theme::new(false),
        ratatui::layout::Rect::new(0, 0, 120, 14),
    );
    let _ = app.update(AppEvent::Job(JobResult::Candidates {
        found,
        notes: Vec::new(),
    }));
    let mib = 1 << 20;
    let usage = HostUsage {
        owners: [
            ("docker:alpine:3", 8 * mib, 0),
            ("docker:app:2", 120 * mib, 40 * mib),
            ("docker:web", 135 * mib, 15 * mib),
            ("docker:worker", 121 * mib, mib),
            ("docker:tmp", 9 * mib, mib),
        ]
        .into_iter()
        .map(|(n, b, u)| (n.to_string(), (b, u)))
        .collect(),
        orphans: 3,
        orphan_bytes: 52 * mib,
        missing: 0,
        total: 245 * mib,
        stores: 1,
        error: None,
    };
    let _ = app.update(AppEvent::Job(JobResult::HostUsage(Box::new(usage))));
    for _ in 0..2 {
        let _ = app.update(AppEvent::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('s'),
            crossterm::event::KeyModifiers::CONTROL,
        )));
    }
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 14)).unwrap();
    t.draw(|f| layerscope::tui::view::render(f, &app)).unwrap();
    let buf = t.backend().buffer();
    let text = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("picker_host_usage", text);
}

#[test]
fn waste_view_and_a_jump_to_a_whited_out_path() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 110, 30, true);
    // The wasted paths of the real fixture, as `waste` computes them.
    run.keys("W");
    screen!("waste_view", run);
    let report = layerscope::waste::analyse(&fx.merger()).expect("waste");
    let (i, target) = report
        .paths
        .iter()
        .enumerate()
        .find(|(_, p)| p.copies.iter().all(|c| c.reason.as_str() == "whited-out"))
        .expect("the fixture's whiteout wastes a copy");
    let target = String::from_utf8(target.path.clone()).expect("utf8");
    run.keys(&format!("{}<enter>", "j".repeat(i)));
    assert_eq!(
        run.selected().as_deref(),
        Some(target.as_str()),
        "Enter selects the whited-out path in the tree"
    );
    let text = run.screen();
    assert!(
        text.contains("deleted @L"),
        "its row, shown deleted:\n{text}"
    );
    // The deleted row weighs its hidden copies' bytes, as `waste` counts them.
    let bytes = report.paths[i].bytes;
    let name = target.rsplit('/').next().unwrap_or_default();
    let row = text
        .lines()
        .find(|l| l.contains(&format!("✗ {name}")))
        .expect("the deleted row");
    assert!(
        row.trim_end_matches(['"', '│'])
            .ends_with(&format!(" {bytes} B")),
        "{row}"
    );
    assert!(
        text.contains(target.rsplit('/').next().unwrap_or_default()),
        "{text}"
    );
    // A copy an opaque directory cuts off: its row is turned on too.
    let (i, target) = report
        .paths
        .iter()
        .enumerate()
        .find(|(_, p)| p.copies.iter().all(|c| c.reason.as_str() == "opaque"))
        .expect("the fixture's opaque directory wastes a copy");
    let target = String::from_utf8(target.path.clone()).expect("utf8");
    run.keys(&format!("Wg{}<enter>", "j".repeat(i)));
    assert_eq!(run.selected().as_deref(), Some(target.as_str()));
}

/// Issue 11: `e` on a whited-out file writes the deleted version (read as `cat --layer`
/// reads it) to the file the user names; an existing file is never overwritten, and a name
/// inside a layer is refused.
#[test]
fn export_writes_a_deleted_version_and_never_overwrites() {
    let Some(fx) = fixture() else { return };
    let report = layerscope::waste::analyse(&fx.merger()).expect("waste");
    let (i, wasted) = report
        .paths
        .iter()
        .enumerate()
        .find(|(_, p)| p.copies.iter().all(|c| c.reason.as_str() == "whited-out"))
        .expect("the fixture's whiteout wastes a copy");
    let layer = wasted.copies[0].layer;
    let rel = String::from_utf8(wasted.path.clone()).expect("utf8");
    let want = std::fs::read(fx.layer(layer).join(rel.trim_start_matches('/'))).expect("layer");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("saved");
    let mut run = Run::explorer(fx.merger(), 110, 30, true);
    run.keys(&format!("W{}<enter>", "j".repeat(i)));
    assert_eq!(run.selected().as_deref(), Some(rel.as_str()));
    run.keys(&format!("e{}<enter>", dest.display()));
    assert_eq!(std::fs::read(&dest).expect("written"), want);
    assert!(run.screen().contains("wrote L"), "{}", run.screen());
    // Again to the same name: refused, the file as it was.
    std::fs::write(&dest, b"mine").expect("write");
    run.keys(&format!("e{}<enter>", dest.display()));
    assert_eq!(std::fs::read(&dest).expect("kept"), b"mine");
    assert!(run.screen().contains("saved' exists"), "{}", run.screen());
    // Into a layer: refused, nothing created.
    let into = fx.layer(0).join("exported");
    run.keys(&format!("e{}<enter>", into.display()));
    assert!(!into.exists(), "nothing written into a layer");
    assert!(
        run.screen()
            .contains("not written: the explorer never writes into a layer"),
        "{}",
        run.screen()
    );
}
