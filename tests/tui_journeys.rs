//! Scripted journeys through the real event loop (real background jobs, `TestBackend`), and
//! one run of the real binary in a real terminal (tmux).

mod common;
mod tui_fixture;

use std::process::Command;
use std::time::{Duration, Instant};

use layerscope::merge::Merger;
use layerscope::tui::app::{Focus, Mode};
use layerscope::tui::event::{AppEvent, LiveBatch, LiveLine};
use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use tui_fixture::{EVIL, Fixture, Run};

fn fixture() -> Option<Fixture> {
    if let Some(why) = Fixture::cannot_build() {
        common::skip(&why);
        return None;
    }
    Some(Fixture::new())
}

fn which_text(m: &Merger, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let _ = layerscope::cli::which::run(m, path.as_bytes(), false, &mut out);
    String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn browsing_expands_lazily_and_details_agree_with_which() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("");
    assert_eq!(
        run.rows().len(),
        8,
        "it lists only the root at first: {:?}",
        run.rows()
    );
    run.keys("jl");
    assert!(
        run.rows().contains(&"/etc/passwd".to_string()),
        "l on /etc lists and opens it"
    );
    assert!(
        !run.rows().contains(&"/etc/motd".to_string()),
        "the whited-out motd stays hidden until asked for"
    );
    run.keys("jj");
    assert_eq!(run.selected().as_deref(), Some("/etc/passwd"));
    let ex = run.app.ex.as_ref().expect("explorer");
    let details = ex
        .details
        .data
        .as_ref()
        .expect("details loaded")
        .as_ref()
        .expect("details ok");
    assert_eq!(
        details.which,
        which_text(&fx.merger(), "/etc/passwd"),
        "the details pane prints exactly what `layerscope which` prints"
    );
    run.keys("h");
    assert_eq!(
        run.selected().as_deref(),
        Some("/etc"),
        "h on a file goes to its parent"
    );
    run.keys("h");
    assert!(
        !run.rows().contains(&"/etc/passwd".to_string()),
        "h on an open directory closes it"
    );
}

#[test]
fn whiteouts_and_opaque_hidden_entries_show_on_request() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("jlw");
    assert!(
        run.rows().contains(&"/etc/motd".to_string()),
        "w shows the whited-out /etc/motd, and /etc stays open across the reload"
    );
    let details_which = which_text(&fx.merger(), "/etc/motd");
    assert!(details_which.iter().any(|l| l.contains("whiteout")));
    run.keys("jjjjjjljo");
    assert_eq!(run.selected().as_deref(), Some("/opt/old"));
    run.keys("l");
    assert!(
        run.rows().contains(&"/opt/old/readme".to_string()),
        "o shows what the opaque /opt/old cuts off: {:?}",
        run.rows()
    );
    run.keys("wo");
    assert!(!run.rows().contains(&"/opt/old/readme".to_string()));
    assert!(!run.rows().contains(&"/etc/motd".to_string()));
}

#[test]
fn selecting_a_layer_shows_the_stack_from_there_down_in_both_modes() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("jl<btab>j");
    let ex = run.app.ex.as_ref().expect("explorer");
    assert_eq!(run.app.focus, Focus::Layers);
    assert_eq!(
        (ex.layer_sel, ex.view_base),
        (1, 1),
        "j in the layer pane selects L1"
    );
    assert!(
        run.rows().contains(&"/etc/motd".to_string()),
        "from L1 down, the upper's whiteout no longer applies: motd is back"
    );
    assert!(
        !run.rows().iter().any(|r| r.starts_with("/evil")),
        "upper-only files are gone"
    );
    run.keys("a");
    assert_eq!(run.app.ex.as_ref().map(|e| e.mode), Some(Mode::LayerOnly));
    let rows = run.rows();
    assert!(
        rows.contains(&"/etc/passwd".to_string()),
        "L1 changes passwd: {rows:?}"
    );
    assert!(
        !rows.contains(&"/etc/motd".to_string()),
        "L1 does not touch motd"
    );
    assert!(!rows.contains(&"/usr".to_string()), "L1 has no /usr");
    // Back to the top layer, this layer only: its deletion shows.
    run.keys("k");
    assert!(
        run.rows().contains(&"/etc/motd".to_string()),
        "L0 deletes motd: {:?}",
        run.rows()
    );
    assert!(run.rows().contains(&"/etc/hostname".to_string()));
    assert!(
        !run.rows().contains(&"/etc/passwd".to_string()),
        "L0 does not touch passwd"
    );
}

#[test]
fn filters_and_sorting() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("jl");
    run.keys("1");
    let rows = run.rows();
    assert!(
        !rows.contains(&"/etc/hostname".to_string()),
        "1 hides what the top layer adds"
    );
    assert!(
        rows.contains(&"/etc/passwd".to_string()),
        "files from below stay (unchanged)"
    );
    run.keys("14");
    let rows = run.rows();
    assert!(rows.contains(&"/etc/hostname".to_string()));
    assert!(
        !rows.contains(&"/etc/passwd".to_string()),
        "4 hides what the top layer leaves unchanged"
    );
    run.keys("4s");
    let ex = run.app.ex.as_ref().expect("explorer");
    let sizes: Vec<u64> = ex
        .tree
        .rows
        .iter()
        .filter_map(|&r| ex.tree.node(r))
        .filter(|n| n.depth == 1)
        .map(layerscope::tui::tree::Node::size)
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "s sorts by size: {sizes:?}"
    );
}

#[test]
fn search_finds_paths_anywhere_and_enter_reveals_them() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("/boot");
    let ex = run.app.ex.as_ref().expect("explorer");
    assert!(ex.search.complete, "the whole tree was indexed");
    assert_eq!(ex.search.matches, vec![b"/var/log/boot.log".to_vec()]);
    run.keys("<bs><bs><bs>");
    assert!(
        run.app.ex.as_ref().expect("explorer").search.total >= 3,
        "a shorter query matches more, incrementally"
    );
    run.keys("<bs>boot<enter>");
    assert_eq!(
        run.selected().as_deref(),
        Some("/var/log/boot.log"),
        "Enter opens /var and /var/log and selects the match"
    );
    assert!(!run.app.ex.as_ref().expect("explorer").search.active);
    run.keys("/nothing-like-this<esc>");
    assert!(
        !run.app.ex.as_ref().expect("explorer").search.active,
        "Esc closes the search"
    );
}

#[test]
fn hostile_names_never_reach_the_terminal_raw() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("jj");
    assert_eq!(
        run.selected().map(String::into_bytes),
        Some([b"/".as_slice(), EVIL].concat())
    );
    let screen = run.screen();
    assert!(!screen.contains('\u{1b}'), "no escape byte on screen");
    assert!(
        screen.contains("evil\\x1b[31mred"),
        "the escape shows as text"
    );
    assert!(
        screen.contains("日本語の名前.txt"),
        "wide characters are kept"
    );
    run.keys("j");
    assert_eq!(
        run.selected().map(|s| s.len()),
        Some(256),
        "the 255-byte name is selectable"
    );
    let screen = run.screen();
    for line in screen.lines() {
        // Every row is the terminal's width: nothing overflows.
        // (The backend's text form quotes each row and may note wide symbols after it.)
        let row = line.split('"').nth(1).expect("a quoted row");
        assert_eq!(unicode_width::UnicodeWidthStr::width(row), 100);
    }
}

#[test]
fn live_batches_stream_into_the_live_pane_and_reload_directories() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 140, 34, true);
    run.keys("jl");
    std::fs::write(fx.layer(0).join("etc/created"), b"new\n").expect("write");
    run.play(vec![AppEvent::Live(LiveBatch {
        lines: vec![LiveLine {
            time: "12:00:00.000".into(),
            kind: "created".into(),
            path: b"/etc/created".to_vec(),
            detail: "nothing below had it".into(),
            symbol: '+',
            tone: layerscope::live::Tone::Added,
        }],
        changed: vec![b"/etc/created".to_vec()],
        status: Some("watching upper".into()),
    })]);
    assert_eq!(run.app.live.lines.len(), 1);
    assert!(
        run.rows().contains(&"/etc/created".to_string()),
        "the changed directory is listed again"
    );
    let screen = run.screen();
    assert!(screen.contains("watching upper"));
    assert!(screen.contains("/etc/created  nothing below had it"));
    let ex = run.app.ex.as_ref().expect("explorer");
    let s = ex.summaries[0]
        .as_ref()
        .expect("counted")
        .as_ref()
        .expect("ok");
    assert_eq!(s.added, 5, "the upper layer's counts are recomputed");
}

fn created(path: &str) -> AppEvent {
    AppEvent::Live(LiveBatch {
        lines: vec![LiveLine {
            time: "12:00:00.000".into(),
            kind: "created".into(),
            path: path.as_bytes().to_vec(),
            detail: "nothing below had it".into(),
            symbol: '+',
            tone: layerscope::live::Tone::Added,
        }],
        changed: vec![path.as_bytes().to_vec()],
        status: Some("watching upper".into()),
    })
}

/// Issue 10, item 2: a live write elsewhere (here at the root, before /etc) lists the root
/// again; node ids are reused, and the selection used to jump to whatever node got the old
/// id (`/aad2` in the report). The selection is a path.
#[test]
fn the_selection_stays_on_its_path_through_live_writes_filters_and_sorting() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 140, 34, true);
    run.keys("jljj");
    assert_eq!(run.selected().as_deref(), Some("/etc/passwd"));
    for name in ["aaf1", "aad2", "aab3"] {
        std::fs::write(fx.layer(0).join(name), b"1\n").expect("write");
        run.play(vec![created(&format!("/{name}"))]);
        assert!(run.rows().contains(&format!("/{name}")));
        assert_eq!(
            run.selected().as_deref(),
            Some("/etc/passwd"),
            "a live write to /{name} moved the selection"
        );
        let ex = run.app.ex.as_ref().expect("explorer");
        assert_eq!(
            ex.details.path.as_deref(),
            Some(&b"/etc/passwd"[..]),
            "the details follow the selection"
        );
    }
    // Sorting and filters keep it too; a filter that hides it gives it back when turned off.
    run.keys("s");
    assert_eq!(
        run.selected().as_deref(),
        Some("/etc/passwd"),
        "sort by size"
    );
    run.keys("s4");
    assert_ne!(
        run.selected().as_deref(),
        Some("/etc/passwd"),
        "files L0 leaves unchanged hidden"
    );
    run.keys("4");
    assert_eq!(
        run.selected().as_deref(),
        Some("/etc/passwd"),
        "shown again"
    );
    // The selected path goes away: the nearest row is selected and the details say so.
    run.keys("k");
    assert_eq!(run.selected().as_deref(), Some("/etc/hostname"));
    std::fs::remove_file(fx.layer(0).join("etc/hostname")).expect("rm");
    run.play(vec![created("/etc/hostname")]);
    assert_eq!(
        run.selected().as_deref(),
        Some("/etc/passwd"),
        "the next row"
    );
    let screen = run.screen();
    assert!(
        screen.contains("'/etc/hostname' is gone from the view"),
        "the details say what happened:\n{screen}"
    );
}

#[test]
fn focus_mouse_help_and_quit() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 100, 30, true);
    run.keys("<tab>");
    assert_eq!(run.app.focus, Focus::Details);
    run.keys("<tab><tab>");
    assert_eq!(
        run.app.focus,
        Focus::Layers,
        "Tab cycles through the live pane back to layers"
    );
    run.keys("<btab>");
    assert_eq!(run.app.focus, Focus::Live);
    let click = |col, row| {
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // The tree pane starts at column 45; its second row is /etc.
    run.play(vec![click(60, 2)]);
    assert_eq!(run.app.focus, Focus::Tree);
    assert_eq!(run.selected().as_deref(), Some("/etc"));
    run.play(vec![click(60, 2)]);
    assert!(
        run.rows().contains(&"/etc/passwd".to_string()),
        "a second click opens it"
    );
    run.play(vec![AppEvent::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 60,
        row: 5,
        modifiers: KeyModifiers::NONE,
    })]);
    assert_eq!(
        run.selected().map(String::into_bytes),
        Some([b"/".as_slice(), EVIL].concat()),
        "the wheel moves three rows"
    );
    // A click on the layer pane's third row selects L2.
    run.play(vec![click(5, 3)]);
    assert_eq!(run.app.ex.as_ref().map(|e| e.layer_sel), Some(2));
    run.keys("?");
    assert!(run.app.help.is_some());
    assert!(run.screen().contains("Keys (? or Esc closes)"));
    run.keys("j<esc>");
    assert!(run.app.help.is_none(), "Esc closes the help");
    run.play(vec![AppEvent::Resize(60, 15)]);
    assert!(run.screen().lines().count() == 15 || run.app.area.height == 15);
    run.keys("<c-c>");
    assert!(run.app.quit, "Ctrl-C quits");
}

#[test]
fn the_picker_lists_mounted_overlays_and_opens_one() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let Some(fx) = fixture() else { return };
    let work = fx.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("workdir");
    let point = fx.dir.path().join("merged");
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        fx.layer(1).display(),
        fx.layer(2).display(),
        fx.layer(0).display(),
        work.display()
    );
    let _mount = common::Mount::new(&point, &opts).expect("mount");
    let mut run = Run::picker(100, 30);
    run.keys("");
    let p = run.app.picker.as_ref().expect("picker");
    let cands = p.candidates.as_ref().expect("discovered");
    let want = point.display().to_string();
    assert!(
        cands.iter().any(|c| c.title == want),
        "the overlay mount is offered"
    );
    let screen = run.screen();
    assert!(screen.contains("pick a stack"));
    // Typing filters: the fixture's directory name picks the mount out.
    let unique = fx
        .dir
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    run.keys(&unique);
    let p = run.app.picker.as_ref().expect("picker");
    assert_eq!(p.rows.len(), 1, "the filter leaves the one mount");
    assert!(run.screen().contains(&unique));
    run.keys("<enter>");
    let ex = run.app.ex.as_ref().expect("the explorer opened");
    assert_eq!(ex.stack.name, want);
    assert!(run.rows().contains(&"/etc".to_string()));
    // What the explorer shows agrees with the kernel's merged mount.
    let mut kernel: Vec<String> = std::fs::read_dir(&point)
        .expect("readdir")
        .map(|e| format!("/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    kernel.sort();
    let mut shown: Vec<String> = run
        .rows()
        .into_iter()
        .map(|r| r.replace('\u{1b}', "\u{fffd}"))
        .collect();
    shown.sort();
    let mut kernel_lossy: Vec<String> = kernel
        .iter()
        .map(|k| k.replace('\u{1b}', "\u{fffd}"))
        .collect();
    kernel_lossy.sort();
    assert_eq!(shown, kernel_lossy);
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(session: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let screen = tmux(&["capture-pane", "-t", session, "-p"]);
        if screen.contains(what) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "'{what}' never appeared:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn real_terminal_in_tmux() {
    if Command::new("tmux").arg("-V").output().is_err() {
        return common::skip("tmux is not installed");
    }
    let Some(fx) = fixture() else { return };
    let session = format!("layerscope-e2e-{}", std::process::id());
    let done = fx.dir.path().join("done");
    // With root, a real mount; the same view comes from --lowerdir without one.
    let work = fx.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("workdir");
    let point = fx.dir.path().join("merged");
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        fx.layer(1).display(),
        fx.layer(2).display(),
        fx.layer(0).display(),
        work.display()
    );
    let mount = common::cannot_mount_overlay()
        .is_none()
        .then(|| common::Mount::new(&point, &opts).expect("mount"));
    let target = match &mount {
        Some(m) => format!("'{}'", m.point.display()),
        None => format!(
            "--lowerdir '{}:{}' --upperdir '{}'",
            fx.layer(1).display(),
            fx.layer(2).display(),
            fx.layer(0).display()
        ),
    };
    let script = format!(
        "'{}' {target}; echo EXIT=$? > '{}'; stty -a | grep -o -- '-\\?icanon' >> '{}'; sleep 30",
        common::bin().display(),
        done.display(),
        done.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "35",
        &script,
    ]);
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .status();
        }
    }
    let _kill = Kill(session.clone());
    wait_for(&session, "Merged view");
    wait_for(&session, "merged 3");
    tmux(&["send-keys", "-t", &session, "j", "l"]);
    let screen = wait_for(&session, "passwd");
    assert!(screen.contains("hostname"), "{screen}");
    tmux(&["send-keys", "-t", &session, "j", "j"]);
    wait_for(&session, "supplies the merged entry");
    tmux(&["send-keys", "-t", &session, "?"]);
    wait_for(&session, "Keys (? or Esc closes)");
    tmux(&["send-keys", "-t", &session, "Escape"]);
    // Wait for the help to close: an Escape followed at once by q reads as Alt-q.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux(&["capture-pane", "-t", &session, "-p"]).contains("Keys (? or") {
        assert!(Instant::now() < deadline, "Esc did not close the help");
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(m) = &mount {
        // The live pane: writes through the mount stream in as they happen, explained.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(m.point.join("etc/passwd"))
            .expect("open through the mount");
        std::io::Write::write_all(&mut f, b"live:x:1:1::/:/bin/sh\n").expect("append");
        drop(f);
        std::fs::write(m.point.join("fresh"), b"new\n").expect("create");
        let screen = wait_for(&session, "copied-up");
        assert!(screen.contains("/etc/passwd"), "{screen}");
        wait_for(&session, "/fresh");
    }
    tmux(&["send-keys", "-t", &session, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done.exists() {
        assert!(Instant::now() < deadline, "q did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = wait_stty_line(&done);
    assert!(report.starts_with("EXIT=0"), "q exits 0: {report}");
    assert!(
        report.contains("icanon") && !report.contains("-icanon"),
        "the terminal is back in canonical mode: {report}"
    );
    assert_eq!(
        tmux(&["display", "-p", "-t", &session, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen is left"
    );
    let after = tmux(&["capture-pane", "-t", &session, "-p"]);
    assert!(
        !after.contains("Merged view"),
        "the explorer's screen is gone:\n{after}"
    );
}

#[test]
fn without_a_terminal_it_refuses_and_points_at_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = common::run(&[std::ffi::OsStr::new("--lowerdir"), dir.path().as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("layerscope ls"), "{err}");
}

/// A tmux session killed when dropped.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// Starts `script` (a shell script file) in a detached 130x36 tmux session.
fn tmux_script(name: &str, script: &std::path::Path) -> Session {
    let session = format!("layerscope-{name}-{}", std::process::id());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "130",
        "-y",
        "36",
        &format!("sh '{}'", script.display()),
    ]);
    Session(session)
}

/// Waits for `done` to hold the exit line the script writes, and returns it.
fn wait_done(done: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = std::fs::read_to_string(done)
            && s.contains('\n')
        {
            return s;
        }
        assert!(Instant::now() < deadline, "the program did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The exit report once the shell has also appended its `stty` line (what the terminal mode
/// checks read), polled instead of slept for.
fn wait_stty_line(done: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = std::fs::read_to_string(done).unwrap_or_default();
        if report.contains("icanon") || Instant::now() >= deadline {
            return report;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that no mount names `tmp` and that `tmp` is empty.
fn nothing_left(tmp: &std::path::Path) {
    let text = tmp.to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mountinfo.contains(&text),
        "a mount remains under {text}:\n{mountinfo}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp)
        .expect("tmpdir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "files remain in {text}: {left:?}");
}

#[test]
fn demo_tour_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        return common::skip("tmux is not installed");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let done = dir.path().join("done");
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "TMPDIR='{}' '{}' demo\necho EXIT=$? > '{}'\nsleep 30\n",
            tmp.display(),
            common::bin().display(),
            done.display()
        ),
    )
    .expect("script");
    let s = tmux_script("demo", &script);
    let screen = wait_for(&s.0, "Tour ·");
    if screen.contains("live tour off") {
        tmux(&["send-keys", "-t", &s.0, "q"]);
        wait_done(&done);
        return common::skip("the demo cannot mount here");
    }
    assert!(screen.contains("Step 1/7: Read a lower file"), "{screen}");
    assert!(screen.contains("n next step"), "the footer shows the key");
    for (n, title) in [
        (1, "Read a lower file"),
        (2, "Append to it: copy-up"),
        (3, "Delete a lower file: a whiteout"),
    ] {
        tmux(&["send-keys", "-t", &s.0, "n"]);
        let screen = wait_for(&s.0, &format!("Tour · {n}/7 run"));
        assert!(screen.contains(&format!("Step {n}/7: {title}")), "{screen}");
    }
    let screen = wait_for(&s.0, "whited out at L0");
    assert!(
        screen.contains("Evidence, read from the layer directories")
            && screen.contains("✓ the deletion, recorded in the upper layer")
            && screen.contains("upper/usr/bin/curl is a character device 0/0"),
        "{screen}"
    );
    assert!(
        screen.contains("✗ curl") && screen.contains("deleted @L0"),
        "{screen}"
    );
    // Issue 10, item 8: four quick presses are four steps (keys pressed while a step runs
    // are queued, not lost).
    tmux(&["send-keys", "-t", &s.0, "n", "n", "n", "n"]);
    let screen = wait_for(&s.0, "Tour · 7/7 run");
    assert!(screen.contains("Step 7/7"), "{screen}");
    tmux(&["send-keys", "-t", &s.0, "q"]);
    let report = wait_done(&done);
    assert!(report.starts_with("EXIT=0"), "q exits 0: {report}");
    nothing_left(&tmp);
}

#[test]
fn without_a_stack_on_the_host_layerscope_opens_the_demo() {
    if Command::new("tmux").arg("-V").output().is_err() {
        return common::skip("tmux is not installed");
    }
    if !common::is_root() {
        return common::skip("hiding the host's overlay mounts needs root (unshare -m)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = dir.path().join("tmp");
    let empty = dir.path().join("no-engine");
    std::fs::create_dir(&tmp).expect("tmp");
    std::fs::create_dir(&empty).expect("empty");
    let done = dir.path().join("done");
    let inner = dir.path().join("inner.sh");
    // In a private mount namespace without any overlay mount, and engine roots that hold
    // nothing, the host has no stack.
    std::fs::write(
        &inner,
        format!(
            "awk '{{for (i = 7; i < NF; i++) if ($i == \"-\") {{ if ($(i+1) == \"overlay\") print $5; break }}}}' \
             /proc/self/mountinfo | sort -r | while read -r m; do umount -l \"$m\"; done\n\
             export TMPDIR='{tmp}' HOME='{empty}'\n\
             exec '{bin}' --docker-root '{empty}' --podman-root '{empty}' --containerd-root '{empty}'\n",
            tmp = tmp.display(),
            empty = empty.display(),
            bin = common::bin().display()
        ),
    )
    .expect("inner script");
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "unshare -m --propagation private sh '{}'\necho EXIT=$? > '{}'\nsleep 30\n",
            inner.display(),
            done.display()
        ),
    )
    .expect("script");
    let s = tmux_script("nostack", &script);
    let deadline = Instant::now() + Duration::from_secs(15);
    let screen = loop {
        let screen = tmux(&["capture-pane", "-t", &s.0, "-p"]);
        assert!(
            !screen.contains("pick a stack"),
            "the picker opened instead of the demo:\n{screen}"
        );
        if screen.contains("Tour ·") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "the demo never appeared:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(screen.contains("layerscope demo"), "{screen}");
    tmux(&["send-keys", "-t", &s.0, "n"]);
    wait_for(&s.0, "Tour · 1/7 run");
    tmux(&["send-keys", "-t", &s.0, "q"]);
    let report = wait_done(&done);
    assert!(report.starts_with("EXIT=0"), "q exits 0: {report}");
    nothing_left(&tmp);
}

#[test]
fn a_kill_ends_the_demo_like_q_terminal_restored_and_nothing_left() {
    if Command::new("tmux").arg("-V").output().is_err() {
        return common::skip("tmux is not installed");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    let done = dir.path().join("done");
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "TMPDIR='{}' '{}' demo\necho EXIT=$? > '{}'\nstty -a | grep -o -- '-\\?icanon' >> '{}'\nsleep 30\n",
            tmp.display(),
            common::bin().display(),
            done.display(),
            done.display()
        ),
    )
    .expect("script");
    let s = tmux_script("kill", &script);
    let screen = wait_for(&s.0, "Tour ·");
    if screen.contains("live tour off") {
        tmux(&["send-keys", "-t", &s.0, "q"]);
        wait_done(&done);
        return common::skip("the demo cannot mount here");
    }
    tmux(&["send-keys", "-t", &s.0, "n"]);
    wait_for(&s.0, "Tour · 1/7 run");
    // The shell running the script is the pane's process; layerscope is its child.
    let shell = tmux(&["display", "-p", "-t", &s.0, "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim()])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "layerscope runs under the pane's shell");
    let st = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    wait_done(&done);
    let report = wait_stty_line(&done);
    assert!(
        report.starts_with("EXIT=0"),
        "SIGTERM ends it as q does: {report}"
    );
    assert!(
        report.contains("icanon") && !report.contains("-icanon"),
        "the terminal is back in canonical mode: {report}"
    );
    assert_eq!(
        tmux(&["display", "-p", "-t", &s.0, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen is left"
    );
    nothing_left(&tmp);
}

/// Seven plain layer directories (no root needed): an upper and six lowers, like the
/// 7-layer container of issue 10.
fn seven_layers() -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("ls7l")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let mut lowers = Vec::new();
    for i in 0..7 {
        let l = dir.path().join(format!("l{i}"));
        std::fs::create_dir_all(l.join(format!("dir{i}"))).expect("mkdir");
        std::fs::write(l.join(format!("dir{i}/file{i}")), b"x\n").expect("write");
        if i > 0 {
            lowers.push(l.display().to_string());
        }
    }
    let args = format!(
        "--upperdir '{}' --lowerdir '{}'",
        dir.path().join("l0").display(),
        lowers.join(":")
    );
    (dir, args)
}

struct TmuxSession(String);

impl TmuxSession {
    fn start(name: &str, width: u16, height: u16, command: &str) -> TmuxSession {
        let session = format!("layerscope-{name}-{}", std::process::id());
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        TmuxSession(session)
    }

    fn screen(&self) -> String {
        tmux(&["capture-pane", "-t", &self.0, "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.0];
        args.extend(keys);
        tmux(&args);
    }

    /// Waits until `pred` holds for the screen, or fails saying what was seen.
    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn has_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        common::skip("tmux is not installed");
        return false;
    }
    true
}

/// Issue 10, item 4: enlarging the terminal while the explorer ran (160x45 to 200x60), then
/// quitting, left the UI's rows on the shell's screen. tmux shows it too: when the screen grew
/// while the alternate screen was on, leaving it pulls rows of it back in. The explorer now
/// clears the alternate screen before leaving it; the shell's screen is what it was.
#[test]
fn resizing_then_quitting_leaves_nothing_of_the_ui_on_the_shell_screen() {
    if !has_tmux() {
        return;
    }
    let (_dir, args) = seven_layers();
    let t = TmuxSession::start(
        "resize",
        160,
        45,
        &format!(
            "echo BEFORE; '{}' {args}; echo EXITED; sleep 30",
            common::bin().display()
        ),
    );
    t.until("the explorer drew", |s| s.contains("Merged view"));
    tmux(&["resize-window", "-t", &t.0, "-x", "200", "-y", "60"]);
    t.until("the explorer redrew at 200x60", |s| {
        s.lines().count() >= 60 && s.lines().nth(59).is_some_and(|l| l.contains("help"))
    });
    t.keys(&["q"]);
    let s = t.until("the explorer exited", |s| s.contains("EXITED"));
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        ["BEFORE", "EXITED"],
        "the shell's screen holds only what the shell wrote:\n{s}"
    );
}

/// Issue 10, item 5: at 80x24 every pane is reachable (Tab reaches the live pane, which has
/// no room of its own, and `z` zooms the focused pane to the whole screen), the layer pane
/// shows all seven layers, and the status bar drops whole hints instead of cutting words.
#[test]
fn at_80x24_every_pane_is_reachable_and_the_hints_are_whole() {
    if !has_tmux() {
        return;
    }
    let (_dir, args) = seven_layers();
    let t = TmuxSession::start(
        "small",
        80,
        24,
        &format!("'{}' {args}; sleep 30", common::bin().display()),
    );
    let s = t.until("the layers were counted", |s| {
        s.contains("L6") && s.contains("+2 ~0")
    });
    for i in 0..7 {
        assert!(s.contains(&format!("L{i} ")), "layer L{i} is shown:\n{s}");
    }
    let status = s.lines().nth(23).unwrap_or_default().trim_end().to_string();
    let words: Vec<&str> = layerscope::tui::keymap::BINDINGS
        .iter()
        .filter_map(|b| b.hint)
        .collect();
    assert!(
        words.iter().any(|w| status.ends_with(w)),
        "the status bar ends with a whole hint: {status:?}"
    );
    // Tab: layers, tree, details, live.
    t.keys(&["Tab", "Tab"]);
    t.until("the live pane was shown", |s| s.contains(" Live "));
    t.keys(&["z"]);
    let s = t.until("the live pane was zoomed", |s| {
        s.lines().next().is_some_and(|l| l.contains(" Live ")) && !s.contains("Merged view")
    });
    assert!(
        s.lines().nth(22).is_some_and(|l| l.starts_with('└')),
        "the zoomed pane takes every row above the status bar:\n{s}"
    );
    t.keys(&["z", "BTab", "BTab", "BTab", "z"]);
    t.until("the layers pane was zoomed", |s| {
        s.lines().next().is_some_and(|l| l.contains(" Layers ")) && !s.contains("Merged view")
    });
    t.keys(&["q"]);
}

/// Issue 10, item 3: run as a user who is not root, the picker says that the engines' stores
/// need root and offers what it can read (the overlay mounts; the demo is named).
#[test]
fn without_root_the_picker_says_the_stores_need_root_and_offers_the_mounts() {
    if !has_tmux() {
        return;
    }
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        return common::skip("setpriv is not installed");
    }
    let (dir, _) = seven_layers();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("workdir");
    let point = dir.path().join("merged");
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        dir.path().join("l1").display(),
        dir.path().join("l2").display(),
        dir.path().join("l0").display(),
        work.display()
    );
    let _mount = common::Mount::new(&point, &opts).expect("mount");
    let t = TmuxSession::start(
        "nonroot",
        120,
        30,
        &format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups '{}'; sleep 30",
            common::bin().display()
        ),
    );
    let s = t.until("the picker listed the mount", |s| {
        s.contains("pick a stack") && s.contains("merged")
    });
    assert!(s.contains("not root"), "{s}");
    assert!(s.contains("readable only by root"), "{s}");
    assert!(s.contains("layerscope demo"), "{s}");
    t.keys(&["C-c"]);
}

/// Issue 10, item 7: sorting by size gives directories their size (the bytes below them, from
/// a walk of the whole view) and sorts them by it.
#[test]
fn sorting_by_size_sizes_and_sorts_directories() {
    let Some(fx) = fixture() else { return };
    let mut run = Run::explorer(fx.merger(), 120, 34, true);
    run.keys("s");
    let ex = run.app.ex.as_ref().expect("explorer");
    assert!(ex.tree.has_dir_sizes(), "the walk counted the directories");
    let top: Vec<(String, u64)> = ex
        .tree
        .rows
        .iter()
        .filter_map(|&r| ex.tree.node(r))
        .filter(|n| n.depth == 0)
        .map(|n| {
            (
                String::from_utf8_lossy(&n.path).into_owned(),
                ex.tree.size_of(n),
            )
        })
        .collect();
    assert!(
        top.windows(2).all(|w| w[0].1 >= w[1].1),
        "largest first: {top:?}"
    );
    // /etc's size is what its files add up to in the merged view (motd is whited out).
    let etc = top.iter().find(|(p, _)| p == "/etc").expect("/etc").1;
    let files: u64 = ["etc/hostname", "etc/passwd"]
        .iter()
        .map(|f| {
            [fx.layer(0), fx.layer(1), fx.layer(2)]
                .iter()
                .find_map(|l| std::fs::metadata(l.join(f)).ok())
                .map_or(0, |m| m.len())
        })
        .sum();
    assert_eq!(etc, files);
    let screen = run.screen();
    assert!(
        screen
            .lines()
            .any(|l| l.contains("etc/") && l.contains(&format!("{files} B"))),
        "the /etc row shows its size:\n{screen}"
    );
}

/// Issue 10, item 5: the demo at 80x24 shows all four of its layers (it showed one).
#[test]
fn the_demo_at_80x24_shows_every_layer() {
    if !has_tmux() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let t = TmuxSession::start(
        "demo80",
        80,
        24,
        &format!(
            "TMPDIR='{}' '{}' demo; sleep 30",
            dir.path().display(),
            common::bin().display()
        ),
    );
    let s = t.until("the demo drew", |s| s.contains("Step 1/7"));
    for i in 0..4 {
        assert!(
            s.contains(&format!("│ L{i} ")) || s.contains(&format!("│▶L{i} ")),
            "L{i}:\n{s}"
        );
    }
    t.keys(&["q"]);
    std::thread::sleep(Duration::from_millis(500));
}

/// An OCI layout opens in the explorer like a live store: the layers with their history
/// labels, the merged view with the whiteout and the opaque directory applied, and the
/// details naming the supplying layer by label and digest.
#[test]
fn an_oci_layout_opens_in_the_explorer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    for (layer, files) in [
        ("base", &["etc/motd", "opt/old", "keep"][..]),
        ("top", &["etc/.wh.motd", "opt/.wh..wh..opq", "opt/new"][..]),
    ] {
        for f in files {
            let p = d.join(layer).join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, format!("{layer}\n")).expect("write");
        }
    }
    let tars = [
        common::oci::tar(&d.join("base"), &["."]),
        common::oci::tar(&d.join("top"), &["."]),
    ];
    let dir = common::oci::layout(&d.join("oci"), &tars, &[]);
    let name = format!("oci:{}", dir.display());
    let (stack, notes) = layerscope::stack::archive::resolve(name.as_bytes(), None, true)
        .expect("an archive name")
        .expect("opens");
    assert!(notes.is_empty(), "{notes:?}");
    let merger = std::sync::Arc::new(Merger::open(&stack).expect("merger"));
    let mut run = tui_fixture::Run::explorer(merger, 120, 30, false);
    run.keys("");
    let rows = run.rows();
    assert!(rows.contains(&"/keep".to_string()) && rows.contains(&"/opt".to_string()));
    let screen = run.screen();
    assert!(
        screen.contains("step 1") && screen.contains("step 0"),
        "{screen}"
    );
    // /opt is opaque in the top layer: only its new file shows.
    run.keys("jjj");
    assert_eq!(run.selected().as_deref(), Some("/opt"), "{:?}", run.rows());
    run.keys("l");
    let rows = run.rows();
    assert!(rows.contains(&"/opt/new".to_string()) && !rows.contains(&"/opt/old".to_string()));
    let digest = &stack.layers[0].ids.digest.clone().expect("digest")[7..19];
    run.keys("j");
    let flat: String = run.screen().split_whitespace().collect();
    assert!(
        flat.contains(digest),
        "the details name the layer's digest {digest}:\n{flat}"
    );
}

#[test]
fn an_archive_named_on_the_command_line_draws_at_once_then_fills_in() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    for f in ["etc/motd", "keep", "opt/a", "opt/b"] {
        let p = d.join("files").join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, "x\n").expect("write");
    }
    let tars = [common::oci::tar(&d.join("files"), &["."])];
    let dir = common::oci::layout(&d.join("oci"), &tars, &[]);
    let name = format!("oci:{}", dir.display());
    let req = |name: &str| layerscope::stack::spec::StackRequest {
        stack: Some(name.into()),
        ..Default::default()
    };
    let mut run = Run::opening(req(&name), 100, 24);
    // The first frame: nothing opened yet, the name and that it is opening.
    let first = run.screen();
    assert!(run.app.ex.is_none() && !run.app.is_idle());
    assert!(first.contains("opening oci:"), "{first}");
    assert!(!first.contains("/keep"), "{first}");
    // Counts fill in as the indexing reports them.
    run.app.update(AppEvent::OpenProgress(
        layerscope::fsio::tar::IndexProgress {
            layers: 0,
            entries: 1234,
            bytes: 5 << 20,
        },
    ));
    let counting = run.screen();
    assert!(
        counting.contains("indexing layer tars: 1234 entries, 5 MiB read, 0 layers done"),
        "{counting}"
    );
    // Then the open job answers and the explorer shows the stack.
    let before = layerscope::fsio::tar::progress();
    run.keys("");
    assert!(run.app.opening.is_none() && run.app.fatal.is_none());
    let rows = run.rows();
    assert!(
        rows.contains(&"/keep".to_string()) && rows.contains(&"/opt".to_string()),
        "{rows:?}"
    );
    let loaded = run.screen();
    assert!(!loaded.contains("opening oci:"), "{loaded}");
    // What the progress counts come from: this layer's entries were counted (other tests in
    // this process may add theirs).
    let after = layerscope::fsio::tar::progress().since(before);
    assert!(after.layers >= 1 && after.entries >= 6, "{after:?}");

    // A name that cannot be opened ends the explorer with the error (printed as a CLI error
    // once the screen is restored).
    let missing = format!("oci:{}", d.join("nothing").display());
    let mut run = Run::opening(req(&missing), 100, 24);
    run.keys("");
    assert!(run.app.quit && run.app.ex.is_none());
    let fatal = run.app.fatal.clone().expect("the error");
    assert!(fatal.contains("nothing"), "{fatal}");
}
