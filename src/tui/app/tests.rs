//! Unit tests of [`App::update`]: keys in, effects out, and each effect answered by a
//! synthetic job result from an in-memory stack ([`Model`]), so the explorer's logic runs
//! without root, a mount or a background thread. Only [`Merger::open`] needs directories
//! (three empty ones); every listing, count and detail comes from the model.

use std::collections::BTreeMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::diff::LayerSummary;
use crate::merge::{Entry, FileKind, Meta, Resolved};
use crate::stack::options::KernelDefaults;
use crate::stack::{LayerStack, MountOptions};
use crate::tui::event::{DetailsData, DirContents, JobResult, LiveBatch, LiveLine, Preview};
use crate::tui::keymap::{self, Action, Scope};

/// One path of the model: its type, size and the layer that supplies it.
#[derive(Debug, Clone)]
struct Path {
    kind: FileKind,
    size: u64,
    layer: usize,
}

/// An in-memory merged view: every path, and what the fake worker answers for it.
struct Model {
    paths: BTreeMap<String, Path>,
    /// What the waste job answers.
    waste: crate::waste::Report,
}

impl Model {
    fn new(spec: &[(&str, FileKind, u64, usize)]) -> Model {
        let paths = spec
            .iter()
            .map(|(p, kind, size, layer)| {
                (
                    (*p).to_string(),
                    Path {
                        kind: *kind,
                        size: *size,
                        layer: *layer,
                    },
                )
            })
            .collect();
        Model {
            paths,
            waste: crate::waste::Report::default(),
        }
    }

    fn entry(path: &str, p: &Path) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: p.kind,
            layer: p.layer,
            rel: path.trim_start_matches('/').as_bytes().to_vec(),
            meta: Meta {
                size: p.size,
                ..Meta::default()
            },
            target: None,
            data: None,
            opaque: false,
            redirect: None,
            versions: Vec::new(),
            dir: None,
        }
    }

    fn parent(path: &str) -> &str {
        match path.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &path[..i],
        }
    }

    fn list(&self, dir: &[u8]) -> DirContents {
        let dir = std::str::from_utf8(dir).expect("utf8");
        DirContents {
            entries: self
                .paths
                .iter()
                .filter(|(p, _)| Self::parent(p) == dir)
                .map(|(p, v)| Self::entry(p, v))
                .collect(),
            ..DirContents::default()
        }
    }

    fn details(&self, path: &[u8]) -> Result<Box<DetailsData>, String> {
        let p = std::str::from_utf8(path).expect("utf8");
        let v = self.paths.get(p).ok_or_else(|| format!("{p}: gone"))?;
        Ok(Box::new(DetailsData {
            path: path.to_vec(),
            resolved: Resolved {
                path: path.to_vec(),
                entry: Some(Self::entry(p, v)),
                versions: vec![crate::merge::Version {
                    layer: v.layer,
                    rel: p.trim_start_matches('/').as_bytes().to_vec(),
                    kind: v.kind,
                    role: crate::merge::VersionRole::Supplies,
                }],
                error: None,
            },
            which: vec![format!("{p} from L{}", v.layer)],
            preview: Preview::None,
        }))
    }

    /// The result a background job would send for an effect (`None`: no answer, e.g. the
    /// live watcher, which feeds batches instead).
    fn answer(&self, e: Effect) -> Vec<JobResult> {
        match e {
            Effect::OpenView { view, full, .. } => vec![JobResult::ViewReady {
                view,
                merger: Ok(full),
            }],
            Effect::List { view, path, .. } => vec![JobResult::Listed {
                view: view.view,
                contents: Ok(self.list(&path)),
                path,
            }],
            Effect::Summaries {
                generation, layers, ..
            } => layers
                .into_iter()
                .map(|layer| JobResult::Summary {
                    generation,
                    layer,
                    summary: Ok(LayerSummary::default()),
                })
                .collect(),
            Effect::Waste { generation, .. } => vec![JobResult::Waste {
                generation,
                report: Ok(Arc::new(self.waste.clone())),
            }],
            Effect::Details { view, path } => vec![JobResult::Details {
                view: view.view,
                details: self.details(&path),
            }],
            Effect::Search {
                view,
                query_gen,
                query,
            } => {
                let matches: Vec<Vec<u8>> = self
                    .paths
                    .keys()
                    .filter(|p| p.contains(&query))
                    .map(|p| p.as_bytes().to_vec())
                    .collect();
                vec![JobResult::Search {
                    view: view.view,
                    query: query_gen,
                    total: matches.len(),
                    matches,
                    indexed: self.paths.len(),
                    complete: true,
                }]
            }
            Effect::Export { layer, dest, .. } => vec![JobResult::Exported(Ok(format!(
                "wrote L{layer} to {}",
                dest.display()
            )))],
            Effect::Watch(_)
            | Effect::Discover
            | Effect::HostUsage
            | Effect::OpenStack(_)
            | Effect::TourStep { .. } => Vec::new(),
        }
    }
}

/// The app on the model, with every effect answered until nothing is outstanding.
struct Harness {
    _dir: tempfile::TempDir,
    model: Model,
    app: App,
    queue: Vec<Effect>,
}

/// The model most tests use: /etc with three files, a few files at the root.
fn sample() -> Model {
    use FileKind::{Dir, File};
    Model::new(&[
        ("/aab", File, 10, 0),
        ("/bin", Dir, 0, 2),
        ("/bin/sh", File, 900, 2),
        ("/etc", Dir, 0, 1),
        ("/etc/group", File, 30, 2),
        ("/etc/hosts", File, 20, 1),
        ("/etc/passwd", File, 50, 1),
        ("/zz", File, 5, 2),
    ])
}

impl Harness {
    fn new(model: Model, width: u16, height: u16) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let layers: Vec<std::path::PathBuf> = ["up", "l1", "l2"]
            .iter()
            .map(|n| {
                let p = dir.path().join(n);
                std::fs::create_dir(&p).expect("mkdir");
                p
            })
            .collect();
        let stack = LayerStack::from_dirs(
            "model".into(),
            Some(layers[0].clone()),
            layers[1..].to_vec(),
            Vec::new(),
            MountOptions::from_options(std::iter::empty(), &KernelDefaults::default())
                .expect("options"),
        );
        let merger = Arc::new(Merger::open(&stack).expect("open"));
        let (app, queue) = App::explorer(merger, Theme::new(false), Rect::new(0, 0, width, height));
        let mut h = Harness {
            _dir: dir,
            model,
            app,
            queue,
        };
        h.settle();
        h
    }

    /// Answers every outstanding effect (and those the answers ask for).
    fn settle(&mut self) -> &mut Self {
        let mut rounds = 0;
        while !self.queue.is_empty() {
            rounds += 1;
            assert!(rounds < 10_000, "effects never settle");
            let e = self.queue.remove(0);
            for r in self.model.answer(e) {
                let more = self.app.update(AppEvent::Job(r));
                self.queue.extend(more);
            }
        }
        self
    }

    /// Presses keys (as the journeys' scripts spell them), settling after each.
    fn keys(&mut self, script: &str) -> &mut Self {
        for k in parse_keys(script) {
            let more = self.app.update(AppEvent::Key(k));
            self.queue.extend(more);
            self.settle();
        }
        self
    }

    fn ex(&self) -> &Explorer {
        self.app.ex.as_ref().expect("explorer")
    }

    fn selected(&self) -> Option<String> {
        self.ex()
            .tree
            .selected_node()
            .map(|n| String::from_utf8_lossy(&n.path).into_owned())
    }

    fn rows(&self) -> Vec<String> {
        let ex = self.ex();
        ex.tree
            .rows
            .iter()
            .filter_map(|&r| ex.tree.node(r))
            .map(|n| String::from_utf8_lossy(&n.path).into_owned())
            .collect()
    }
}

/// Keys from a script: plain characters, or `<tab>`, `<btab>`, `<enter>`, `<esc>`, `<up>`,
/// `<down>`, `<left>`, `<right>`, `<bs>`, `<pgup>`, `<pgdn>`, `<home>`, `<end>`, `<c-X>`.
fn parse_keys(script: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut rest = script;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let name = &rest[1..end];
            let (code, mods) = match name {
                "tab" => (KeyCode::Tab, KeyModifiers::NONE),
                "btab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
                "enter" => (KeyCode::Enter, KeyModifiers::NONE),
                "esc" => (KeyCode::Esc, KeyModifiers::NONE),
                "up" => (KeyCode::Up, KeyModifiers::NONE),
                "down" => (KeyCode::Down, KeyModifiers::NONE),
                "left" => (KeyCode::Left, KeyModifiers::NONE),
                "right" => (KeyCode::Right, KeyModifiers::NONE),
                "bs" => (KeyCode::Backspace, KeyModifiers::NONE),
                "pgup" => (KeyCode::PageUp, KeyModifiers::NONE),
                "pgdn" => (KeyCode::PageDown, KeyModifiers::NONE),
                "home" => (KeyCode::Home, KeyModifiers::NONE),
                "end" => (KeyCode::End, KeyModifiers::NONE),
                n if n.starts_with("c-") => (
                    KeyCode::Char(n[2..].chars().next().expect("ctrl key")),
                    KeyModifiers::CONTROL,
                ),
                other => panic!("unknown key <{other}>"),
            };
            out.push(KeyEvent::new(code, mods));
            rest = &rest[end + 1..];
            continue;
        }
        out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[test]
fn the_root_is_listed_and_directories_open_on_l() {
    let mut h = Harness::new(sample(), 120, 40);
    assert!(h.app.is_idle());
    assert_eq!(h.rows(), ["/aab", "/bin", "/etc", "/zz"]);
    h.keys("jjl");
    assert_eq!(
        h.rows(),
        [
            "/aab",
            "/bin",
            "/etc",
            "/etc/group",
            "/etc/hosts",
            "/etc/passwd",
            "/zz"
        ]
    );
    h.keys("jj");
    assert_eq!(h.selected().as_deref(), Some("/etc/hosts"));
    let d = h.ex().details.data.as_ref().expect("details");
    assert_eq!(
        d.as_ref().map(|d| d.path.clone()).ok(),
        Some(b"/etc/hosts".to_vec())
    );
    h.keys("h");
    assert_eq!(
        h.selected().as_deref(),
        Some("/etc"),
        "h goes to the parent"
    );
}

#[test]
fn results_for_a_view_left_behind_are_dropped() {
    let mut h = Harness::new(sample(), 120, 40);
    let old = h.ex().view_gen;
    // Selecting another layer starts a new view; a late listing of the old one arrives.
    h.app.focus = Focus::Layers;
    let effects = h.app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('j'),
        KeyModifiers::NONE,
    )));
    assert!(matches!(effects.as_slice(), [Effect::OpenView { .. }]));
    let late = h.app.update(AppEvent::Job(JobResult::Listed {
        view: old,
        path: b"/".to_vec(),
        contents: Ok(h.model.list(b"/")),
    }));
    assert!(late.is_empty(), "nothing follows a stale listing");
    assert!(h.ex().tree.rows.is_empty(), "a stale listing is not shown");
    h.queue.extend(effects);
    h.settle();
    assert_eq!(h.ex().view_base, 1);
    assert_eq!(h.rows().len(), 4);
}

/// Everything a key can change, in one comparable string.
fn fingerprint(app: &App) -> String {
    let ex = app.ex.as_ref().map(|ex| {
        let mut expanded = ex.tree.expanded_paths();
        expanded.sort();
        format!(
            "{:?}",
            (
                ex.mode,
                ex.filters,
                ex.sort,
                (ex.show_whiteouts, ex.show_opaque),
                (ex.search.active, &ex.search.query, ex.search.selected),
                &ex.waste_view,
                &ex.export,
                (ex.layer_sel, ex.view_gen, ex.summary_gen),
                (ex.tree.selected, ex.tree.selected_path(), expanded),
                ex.details.scroll,
            )
        )
    });
    let tour = app
        .tour
        .as_ref()
        .map(|t| (t.shown, t.scroll, t.queued, t.running));
    let picker = app.picker.as_ref().map(|p| format!("{p:?}"));
    format!(
        "{:?}",
        (
            app.focus,
            app.help,
            app.quit,
            app.zoomed,
            app.live_shown.is_some(),
            (app.live.follow, app.live.back),
            &app.message,
            ex,
            tour,
            picker,
        )
    )
}

fn live_line(i: usize) -> LiveLine {
    LiveLine {
        time: format!("12:00:0{i}.000"),
        kind: "created".into(),
        path: format!("/new{i}").into_bytes(),
        detail: format!("created in the upper layer, event {i}"),
        symbol: '+',
        tone: crate::live::Tone::Added,
    }
}

fn tour_state() -> TourState {
    let step = |title: &'static str, path: &str| crate::teach::Step {
        kind: crate::teach::StepKind::Read,
        title,
        command: format!("cat {path}"),
        explanation: "Reading a lower file copies nothing up.".into(),
        paths: vec![path.to_string()],
        evidence: Vec::new(),
    };
    TourState {
        runner: None,
        steps: vec![
            step("one", "/etc/hosts"),
            step("two", "/etc/group"),
            step("three", "/zz"),
        ],
        outcomes: Vec::new(),
        running: None,
        queued: 0,
        shown: 1,
        scroll: 2,
        off: Some("nothing could be mounted in this test".into()),
        intro: String::new(),
        root: "/".into(),
    }
}

/// The explorer in a state where every key of `scope` has something to do: /etc open with
/// /etc/hosts selected (a middle row), the second of three layers, live events scrolled
/// back by one, the details scrolled down, a tour on its middle step.
fn ready_for(scope: Scope, action: Action) -> Harness {
    let mut h = Harness::new(sample(), 120, 40);
    h.app.tour = Some(tour_state());
    h.app.focus = Focus::Layers;
    h.keys("j");
    h.app.focus = Focus::Tree;
    h.keys("jjljj");
    assert_eq!(h.selected().as_deref(), Some("/etc/hosts"));
    let batch = LiveBatch {
        lines: (0..5).map(live_line).collect(),
        ..LiveBatch::default()
    };
    let more = h.app.update(AppEvent::Live(batch));
    h.queue.extend(more);
    h.settle();
    h.app.live.back = 1;
    if let Some(ex) = &mut h.app.ex {
        ex.details.scroll = 2;
    }
    match (scope, action) {
        (Scope::Tree, Action::ToggleExpand) => {
            h.keys("kk");
        }
        (Scope::Search, _) => {
            h.keys("/etc");
            if action == Action::Up {
                h.keys("<down>");
            }
        }
        (Scope::Waste, _) => {
            let mut report = waste_report();
            let mut sh = report.paths[0].clone();
            sh.path = b"/bin/sh".to_vec();
            report.paths.push(sh);
            if let Some(ex) = &mut h.app.ex {
                ex.waste = Some(Ok(Arc::new(report)));
            }
            h.keys("W");
            if matches!(action, Action::Up | Action::Top | Action::PageUp) {
                h.keys("j");
            }
        }
        (Scope::Prompt, _) => {
            h.keys("ex");
        }
        (Scope::Help, _) => {
            h.keys("?");
            if action == Action::Up {
                h.keys("j");
            }
        }
        _ => {}
    }
    h.app.focus = match scope {
        Scope::Layers => Focus::Layers,
        Scope::Details => Focus::Details,
        Scope::Live => Focus::Live,
        Scope::Tour => Focus::Tour,
        _ => h.app.focus,
    };
    h.app.message = None;
    h
}

fn picker_ready() -> App {
    let c = |name: &str| Candidate {
        title: name.into(),
        name: name.into(),
        engine: "mount".into(),
        kind: "mount".into(),
        ..Candidate::default()
    };
    let mut app = App::picker_with(
        vec![c("/mnt/a"), c("/mnt/b"), c("/mnt/c")],
        Theme::new(false),
        Rect::new(0, 0, 120, 40),
    );
    for c in "mnt".chars() {
        let _ = app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    app.act(Scope::Picker, Action::Down);
    app
}

/// The key table's promise, generated from the table itself: every key of every binding
/// does something in every pane the table says it works in (a global key in each of the
/// explorer's panes), and no pane's own key shadows a global one.
#[test]
fn every_key_in_the_key_table_works_in_every_pane_it_is_listed_for() {
    const PANES: [Scope; 5] = [
        Scope::Layers,
        Scope::Tree,
        Scope::Details,
        Scope::Live,
        Scope::Tour,
    ];
    let mut failures = Vec::new();
    let mut pressed = 0;
    for b in keymap::BINDINGS {
        let scopes: Vec<Scope> = if b.scope == Scope::Global {
            PANES.to_vec()
        } else {
            vec![b.scope]
        };
        for &scope in &scopes {
            for key in b.keys {
                let ev = KeyEvent::new(key.code, key.mods);
                let found = keymap::lookup(scope, &ev);
                if found != Some(b.action) {
                    failures.push(format!(
                        "{} in {:?}: the table says {:?}, lookup gives {found:?}",
                        key.label(),
                        scope,
                        b.action
                    ));
                    continue;
                }
                pressed += 1;
                if scope == Scope::Picker {
                    let mut app = picker_ready();
                    let before = fingerprint(&app);
                    let _ = app.update(AppEvent::Key(ev));
                    if fingerprint(&app) == before {
                        failures.push(format!("{} in the picker did nothing", key.label()));
                    }
                    continue;
                }
                let mut h = ready_for(scope, b.action);
                assert_eq!(h.app.scope(), scope, "prepared for {scope:?}");
                let before = fingerprint(&h.app);
                let more = h.app.update(AppEvent::Key(ev));
                h.queue.extend(more);
                h.settle();
                if fingerprint(&h.app) == before {
                    failures.push(format!(
                        "{} ({:?}) in {:?} did nothing",
                        key.label(),
                        b.action,
                        scope
                    ));
                }
            }
        }
    }
    assert!(pressed > 100, "only {pressed} presses");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn screen(app: &App) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(
        app.area.width,
        app.area.height,
    ))
    .expect("terminal");
    t.draw(|f| view::render(f, app)).expect("draw");
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn press(app: &mut App, script: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for k in parse_keys(script) {
        out.extend(app.update(AppEvent::Key(k)));
    }
    out
}

/// The first stack row of the picker (the line after its header).
fn first_row(screen: &str) -> String {
    let mut lines = screen.lines().skip_while(|l| !l.contains("ENGINE"));
    lines.nth(1).unwrap_or_default().to_string()
}

/// Issue 10, item 3: with 148 stacks and 60 presses of ↓, the selected row is on screen
/// and `Enter` opens the one shown selected; typing filters; running containers come first.
#[test]
fn the_picker_scrolls_filters_and_sorts_148_stacks() {
    let many: Vec<Candidate> = (0..148)
        .map(|i| Candidate {
            title: format!("docker:c{i:03}"),
            name: format!("c{i:03}"),
            engine: "docker".into(),
            kind: if i % 2 == 0 { "container" } else { "image" }.into(),
            image: Some("alpine:3".into()),
            layers: 3,
            size: Some(1024 * i),
            created: Some(format!("2024-01-01T00:{:02}:00Z", i % 60)),
            mounted: i == 146,
            request: crate::stack::spec::StackRequest {
                stack: Some(format!("docker:c{i:03}").into()),
                ..Default::default()
            },
            ..Candidate::default()
        })
        .collect();
    let mut app = App::picker_with(many, Theme::new(false), Rect::new(0, 0, 120, 30));
    let first = screen(&app);
    assert!(
        first_row(&first).contains("c146") && first_row(&first).contains("mounted"),
        "the running container comes first:\n{first}"
    );
    assert!(first.contains("ENGINE") && first.contains("LAYERS") && first.contains("CREATED"));
    press(&mut app, &"<down>".repeat(60));
    let s = screen(&app);
    let p = app.picker.as_ref().expect("picker");
    let selected = p.selected_candidate().expect("selected").name.clone();
    assert!(
        s.contains(&selected),
        "the selected stack {selected} is on screen:\n{s}"
    );
    let effects = press(&mut app, "<enter>");
    let opened = match effects.as_slice() {
        [Effect::OpenStack(r)] => r.stack.clone(),
        other => panic!("Enter opens the selected stack: {other:?}"),
    };
    assert_eq!(
        opened.map(|s| s.to_string_lossy().into_owned()),
        Some(format!("docker:{selected}"))
    );
    assert!(
        screen(&app).contains("opening docker:"),
        "the status bar says it is opening"
    );
    // A failure is said where it is seen: in the picker, above the list, and in the status bar.
    let _ = app.update(AppEvent::Job(JobResult::Opened(Err(
        "permission denied; run with sudo".into(),
    ))));
    let s = screen(&app);
    assert!(
        s.lines()
            .take(4)
            .any(|l| l.contains("cannot open it: permission denied")),
        "{s}"
    );
    // Typing filters, Backspace and Esc undo it.
    press(&mut app, "c14");
    let p = app.picker.as_ref().expect("picker");
    assert_eq!(p.rows.len(), 8, "c140..c147");
    press(&mut app, "5");
    assert!(screen(&app).contains("c145"));
    assert_eq!(app.picker.as_ref().map(|p| p.rows.len()), Some(1));
    press(&mut app, "<esc>");
    assert_eq!(app.picker.as_ref().map(|p| p.rows.len()), Some(148));
    assert!(!app.quit, "Esc clears the filter first");
    // Ctrl-s: by size, then by age.
    press(&mut app, "<c-s><home>");
    assert!(
        first_row(&screen(&app)).contains("c147"),
        "the largest first"
    );
    assert!(screen(&app).contains("sort: size"));
    press(&mut app, "<c-s><c-s><c-s>");
    assert!(screen(&app).contains("sort: newest first"));
    press(&mut app, "<esc>");
    assert!(app.quit, "Esc on an empty filter quits");
}

/// Issue 10, item 7: `-` collapses every directory (the selection goes to its top-level
/// directory), `+` opens every shown directory one level; the title says the filters in words.
#[test]
fn collapse_all_expand_a_level_and_filters_in_words() {
    let mut h = Harness::new(sample(), 120, 40);
    h.keys("+");
    assert_eq!(
        h.rows(),
        [
            "/aab",
            "/bin",
            "/bin/sh",
            "/etc",
            "/etc/group",
            "/etc/hosts",
            "/etc/passwd",
            "/zz"
        ]
    );
    h.keys("jjjjj");
    assert_eq!(h.selected().as_deref(), Some("/etc/hosts"));
    h.keys("-");
    assert_eq!(h.rows(), ["/aab", "/bin", "/etc", "/zz"]);
    assert_eq!(h.selected().as_deref(), Some("/etc"));
    let s = screen(&h.app);
    assert!(s.contains(" sort: name "), "{s}");
    assert!(!s.contains("AMDU"));
    h.keys("4w");
    let s = screen(&h.app);
    assert!(
        s.contains("hiding unchanged · showing whiteouts · sort: name"),
        "the filters in words:\n{s}"
    );
}

/// Issue 10, item 6: with the layer pane focused the details show that layer whole (its
/// instruction wrapped, not cut), and `Enter` on a live event shows all of its explanation.
#[test]
fn details_show_the_selected_layer_and_a_live_event_whole() {
    let mut h = Harness::new(sample(), 100, 40);
    let long = "RUN apt-get update && apt-get install -y curl ca-certificates && rm -rf \
                /var/lib/apt/lists/* /srv/data/keep.txt";
    if let Some(ex) = &mut h.app.ex {
        let mut stack = (*ex.stack).clone();
        stack.layers[1].label = Some(long.into());
        stack.layers[1].ids = crate::stack::LayerIds {
            layer_id: Some(format!("sha256:{}", "c".repeat(64))),
            cache_id: Some("d".repeat(64)),
            diff_id: Some(format!("sha256:{}", "e".repeat(64))),
            created: Some("2026-11-30T10:00:00.123456789Z".into()),
            digest: Some(format!("sha256:{}", "f".repeat(64))),
            blob_bytes: Some(1536),
        };
        ex.stack = Arc::new(stack);
        ex.summaries[1] = Some(Ok(LayerSummary {
            entries: 12,
            bytes: 4096,
            added: 3,
            modified: 2,
            deleted: 1,
        }));
    }
    h.keys("<btab>j");
    assert_eq!(h.app.focus, Focus::Layers);
    let s = screen(&h.app);
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let details: String = s
        .lines()
        .skip_while(|l| !l.contains("Details · layer L1"))
        .map(|l| l.split('│').nth(1).unwrap_or_default().trim().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        details.contains(long),
        "the whole instruction, wrapped:\n{s}"
    );
    assert!(flat.contains("+3 added ~2 modified -1 deleted"), "{s}");
    assert!(details.contains("/l1"), "the layer's directory:\n{s}");
    // The engine's IDs, whole (wrapped), and when it was made.
    let unwrapped: String = details.split_whitespace().collect();
    for id in [
        format!("layerID:sha256:{}", "c".repeat(64)),
        format!("cacheID:{}", "d".repeat(64)),
        format!("diffID:sha256:{}", "e".repeat(64)),
        format!("digest:sha256:{}", "f".repeat(64)),
        "blob:1.50KiBasittravels".to_string(),
        "created:2026-11-30T10:00:00.123456789Z".to_string(),
    ] {
        assert!(unwrapped.contains(&id), "{id}:\n{s}");
    }
    // A live event with a long explanation: Enter shows all of it.
    let mut line = live_line(1);
    line.detail = "copied up from L2 (RUN apt-get install -y curl ca-certificates): the \
                   kernel copied the whole file into the upper layer before the first write, \
                   then wrote to the copy"
        .into();
    let more = h.app.update(AppEvent::Live(LiveBatch {
        lines: vec![line.clone()],
        ..LiveBatch::default()
    }));
    h.queue.extend(more);
    h.settle();
    h.app.focus = Focus::Live;
    h.keys("<enter>");
    assert_eq!(h.app.focus, Focus::Details);
    let s = screen(&h.app);
    let details: String = s
        .lines()
        .skip_while(|l| !l.contains("Details · live event"))
        .map(|l| l.split('│').nth(1).unwrap_or_default().trim().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        details.contains(&line.detail),
        "the whole explanation:\n{s}"
    );
    h.keys("h");
    assert_eq!(h.app.focus, Focus::Tree, "h goes back to the tree");
    h.keys("j");
    assert!(
        h.app.live_shown.is_none(),
        "moving in the tree shows paths again"
    );
}

/// Issue 10, item 8: `n` pressed while a step runs is queued, one step per press.
#[test]
fn the_tour_queues_next_step_presses() {
    let mut h = Harness::new(sample(), 120, 40);
    let mut t = tour_state();
    t.off = None;
    t.running = Some(0);
    h.app.tour = Some(t);
    h.app.focus = Focus::Tour;
    h.keys("nnn");
    let t = h.app.tour.as_ref().expect("tour");
    assert_eq!(t.queued, 2, "two steps are left after the running one");
    assert!(!h.app.is_idle(), "queued steps are outstanding work");
    assert!(
        h.app
            .message
            .as_ref()
            .is_some_and(|m| m.text.contains("every step left is queued")),
        "{:?}",
        h.app.message
    );
}

/// Issue 10, item 3: without root the picker says that the engines' stores need root and
/// what it shows instead; discovery's notes are shown where they are seen.
#[test]
fn the_picker_says_what_it_cannot_read() {
    let mut app = App::picker_with(Vec::new(), Theme::new(false), Rect::new(0, 0, 100, 30));
    if let Some(p) = &mut app.picker {
        p.notes = vec![
            "skipped Docker at /var/lib/docker: cannot read '/var/lib/docker/image': \
             permission denied; run layerscope with sudo"
                .into(),
        ];
    }
    let s = screen(&app);
    assert!(s.contains("permission denied"), "{s}");
    assert!(s.contains("No overlay stack found"), "{s}");
    assert!(s.contains("layerscope demo"), "{s}");
}

/// Issue 12, the host view: the picker's first frame comes before the disk usage (asked for
/// as a background job once the stacks are found), then each stack's size, unique and shared
/// bytes and the host's orphans fill in; `Ctrl-s` sorts by each column in turn, marked.
#[test]
fn the_picker_shows_sizes_unique_and_shared_bytes_and_orphans() {
    let stack = |kind: &str, name: &str| Candidate {
        title: format!("docker:{name}"),
        name: name.into(),
        engine: "docker".into(),
        kind: kind.into(),
        layers: 2,
        request: crate::stack::spec::StackRequest {
            stack: Some(format!("docker:{name}").into()),
            ..Default::default()
        },
        ..Candidate::default()
    };
    let (mut app, effects) = App::picker(Theme::new(false), Rect::new(0, 0, 130, 20));
    assert!(matches!(effects.as_slice(), [Effect::Discover]));
    let effects = app.update(AppEvent::Job(JobResult::Candidates {
        found: vec![
            stack("image", "base:1"),
            stack("container", "big"),
            stack("container", "small"),
        ],
        notes: Vec::new(),
    }));
    assert!(
        matches!(effects.as_slice(), [Effect::HostUsage]),
        "the disk usage is measured after the stacks are found: {effects:?}"
    );
    assert!(!app.is_idle(), "measuring is outstanding work");
    let s = screen(&app);
    assert!(s.contains("UNIQUE") && s.contains("SHARED"), "{s}");
    assert!(s.contains("measuring the layer stores"), "{s}");
    let usage = crate::tui::picker::HostUsage {
        owners: [
            ("docker:base:1".to_string(), (3 << 20, 0)),
            ("docker:big".to_string(), ((3 << 20) + (5 << 20), 5 << 20)),
            ("docker:small".to_string(), ((3 << 20) + 1024, 1024)),
        ]
        .into_iter()
        .collect(),
        orphans: 2,
        orphan_bytes: 7 << 20,
        missing: 1,
        total: 16 << 20,
        stores: 1,
        error: None,
    };
    let _ = app.update(AppEvent::Job(JobResult::HostUsage(Box::new(usage))));
    assert!(app.is_idle());
    let s = screen(&app);
    let row = |name: &str| {
        s.lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        row("big").contains("2 8 MiB 5 MiB 3 MiB"),
        "layers, size, unique, shared: {}\n{s}",
        row("big")
    );
    assert!(
        row("small").contains("3.00 MiB 1 KiB 3 MiB"),
        "{}",
        row("small")
    );
    assert!(
        s.contains("layer stores: 16 MiB · orphans: 2 directories, 7 MiB · 1 reference to a missing directory"),
        "{s}"
    );
    // Ctrl-s: size, then unique bytes (what removing it frees), then shared bytes.
    press(&mut app, "<c-s>");
    assert!(first_row(&screen(&app)).contains("big"));
    assert!(screen(&app).contains("SIZE▾"));
    press(&mut app, "<c-s>");
    let s = screen(&app);
    assert!(
        s.contains("UNIQUE▾") && s.contains("sort: unique bytes"),
        "{s}"
    );
    assert!(first_row(&s).contains("big"), "{s}");
    let order: Vec<String> = app
        .picker
        .as_ref()
        .map(|p| {
            p.rows
                .iter()
                .map(|&r| p.candidates.as_ref().unwrap()[r].name.clone())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(order, ["big", "small", "base:1"]);
    press(&mut app, "<c-s>");
    let s = screen(&app);
    assert!(s.contains("SHARED▾"), "{s}");
    // Every column in turn, back to running-first.
    let mut seen = 3;
    while !screen(&app).contains("sort: running first") {
        press(&mut app, "<c-s>");
        seen += 1;
        assert!(seen < 20, "the sort cycles back");
    }
    assert_eq!(seen, 11, "ten columns and running-first");
}

/// Only overlay mounts (no engine store): nothing to measure, no job, no footer.
#[test]
fn the_picker_measures_nothing_for_mounts_alone() {
    let (mut app, _) = App::picker(Theme::new(false), Rect::new(0, 0, 100, 20));
    let effects = app.update(AppEvent::Job(JobResult::Candidates {
        found: vec![Candidate {
            title: "/mnt/x".into(),
            name: "/mnt/x".into(),
            engine: "mount".into(),
            kind: "mount".into(),
            ..Candidate::default()
        }],
        notes: Vec::new(),
    }));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(app.is_idle());
    assert!(!screen(&app).contains("layer stores"));
}

/// A measuring job that failed (it panicked) says so where it is seen, and nothing waits.
#[test]
fn the_picker_says_when_measuring_failed() {
    let (mut app, _) = App::picker(Theme::new(false), Rect::new(0, 0, 120, 20));
    let _ = app.update(AppEvent::Job(JobResult::Candidates {
        found: vec![Candidate {
            title: "docker:web".into(),
            name: "web".into(),
            engine: "docker".into(),
            kind: "container".into(),
            ..Candidate::default()
        }],
        notes: Vec::new(),
    }));
    let _ = app.update(AppEvent::Job(JobResult::HostUsage(Box::new(
        crate::tui::picker::HostUsage {
            error: Some("the du job panicked: boom".into()),
            ..Default::default()
        },
    ))));
    assert!(app.is_idle());
    let s = screen(&app);
    assert!(
        s.contains("measuring the layer stores failed: the du job panicked: boom"),
        "{s}"
    );
}

/// A report: L1 stores 3 KiB of which 1 KiB is hidden by L0, which hides it; L2 stores 1 KiB.
fn waste_report() -> crate::waste::Report {
    use crate::merge::HiddenReason;
    use crate::waste::{LayerWaste, Report, WasteReason, WastedCopy, WastedPath};
    let layer = |stored: u64, hidden: u64, hides: u64| LayerWaste {
        stored_bytes: stored,
        visible_bytes: stored - hidden,
        hidden_bytes: hidden,
        hides_below_bytes: hides,
        ..LayerWaste::default()
    };
    Report {
        layers: vec![layer(0, 0, 1024), layer(3072, 1024, 0), layer(1024, 0, 0)],
        paths: vec![WastedPath {
            path: b"/etc/hosts".to_vec(),
            bytes: 1024,
            copies: vec![WastedCopy {
                layer: 1,
                bytes: 1024,
                reason: WasteReason::Hidden(HiddenReason::WhitedOut { at: 0 }),
            }],
        }],
        noop_copyups: Vec::new(),
    }
}

/// Issue 11, the explorer: the layer pane's title gives stored, visible, wasted and efficiency
/// from the waste job (and says it is still sizing before the answer), and the layer that
/// hides bytes below it says how many.
#[test]
fn layer_pane_shows_where_the_bytes_go() {
    let mut model = sample();
    model.waste = waste_report();
    let mut h = Harness::new(model, 120, 30);
    let s = screen(&h.app);
    assert!(
        s.contains("stored 4 KiB · visible 3 KiB · wasted 1 KiB · 75%"),
        "the summary in the layer pane's title:\n{s}"
    );
    let l0 = s.lines().find(|l| l.contains("▶L0")).expect("L0 row");
    assert!(l0.contains("hides 1 KiB"), "L0 hides 1 KiB below it:\n{s}");
    let l1 = s.lines().find(|l| l.contains(" L1 ")).expect("L1 row");
    assert!(!l1.contains("hides"), "L1 hides nothing:\n{s}");
    // Before the answer (a reload asks again), the title says the job is running, and an
    // answer of the older generation is dropped.
    let effects = h.app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('r'),
        KeyModifiers::NONE,
    )));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Waste { generation: 2, .. })),
        "a reload computes the figures again: {effects:?}"
    );
    assert!(!h.app.is_idle(), "waiting for the waste job");
    assert!(screen(&h.app).contains("sizing…"));
    h.app.update(AppEvent::Job(JobResult::Waste {
        generation: 1,
        report: Ok(Arc::new(waste_report())),
    }));
    assert!(
        screen(&h.app).contains("sizing…"),
        "a stale answer is dropped"
    );
    h.queue.extend(effects);
    h.settle();
    assert!(screen(&h.app).contains("wasted 1 KiB · 75%"));
    assert!(h.app.is_idle());
}

/// The upper layer changing (a live event, a tour step) computes the waste figures again,
/// one job at a time: a change while a job runs asks for exactly one more run after it, and
/// the figures shown stay until the new ones arrive.
#[test]
fn waste_figures_follow_the_upper_layer_one_job_at_a_time() {
    let mut model = sample();
    model.waste = waste_report();
    let mut h = Harness::new(model, 120, 30);
    let first = h.app.recount_upper();
    let jobs = |e: &[Effect]| {
        e.iter()
            .filter(|e| matches!(e, Effect::Waste { .. }))
            .count()
    };
    assert_eq!(jobs(&first), 1, "a change starts a waste job: {first:?}");
    assert!(!h.app.is_idle());
    assert!(
        screen(&h.app).contains("wasted 1 KiB · 75%"),
        "the previous figures stay while it runs"
    );
    let second = h.app.recount_upper();
    assert_eq!(jobs(&second), 0, "no second job while one runs: {second:?}");
    let gen_ = h.ex().waste_gen;
    let mut changed = waste_report();
    changed.layers[0].hides_below_bytes = 2048;
    let again = h.app.update(AppEvent::Job(JobResult::Waste {
        generation: gen_,
        report: Ok(Arc::new(changed)),
    }));
    assert_eq!(
        jobs(&again),
        1,
        "the change during the job runs it once more"
    );
    assert!(screen(&h.app).contains("hides 2 KiB"));
    h.queue.extend(again);
    h.queue.extend(
        first
            .into_iter()
            .chain(second)
            .filter(|e| !matches!(e, Effect::Waste { .. })),
    );
    h.settle();
    assert!(h.app.is_idle());
    assert!(screen(&h.app).contains("hides 1 KiB"));
}

/// Issue 11, the waste view: `W` lists the wasted paths by bytes, and `Enter` shows the
/// selected one in the tree of the whole stack (from another layer's view too), with the
/// whited-out rows turned on for a copy a whiteout hides, and its details asked for.
#[test]
fn waste_view_lists_paths_and_enter_jumps_to_one() {
    let mut model = sample();
    let mut report = waste_report();
    report.paths.push(crate::waste::WastedPath {
        path: b"/bin/sh".to_vec(),
        bytes: 10,
        copies: vec![crate::waste::WastedCopy {
            layer: 2,
            bytes: 10,
            reason: crate::waste::WasteReason::Hidden(crate::merge::HiddenReason::Shadowed {
                by: 1,
            }),
        }],
    });
    model.waste = report;
    let mut h = Harness::new(model, 120, 30);
    // From the view of L1 down.
    h.keys("<btab>j");
    assert_eq!(h.ex().view_base, 1);
    h.keys("W");
    assert_eq!(h.app.scope(), Scope::Waste);
    let s = screen(&h.app);
    let hosts = s.find("/etc/hosts").expect("listed");
    let sh = s.find("/bin/sh").expect("listed");
    assert!(hosts < sh, "most bytes first:\n{s}");
    assert!(s.contains("2 paths · 1 KiB wasted"), "{s}");
    assert!(
        s.contains("1 KiB  1 copy    L1  /etc/hosts  whited out at layer 0"),
        "{s}"
    );
    assert!(!h.ex().show_whiteouts);
    h.keys("<enter>");
    assert_eq!(h.app.scope(), Scope::Tree);
    assert_eq!(h.ex().view_base, 0, "the whole stack's view");
    assert!(
        h.ex().show_whiteouts,
        "a whited-out copy turns whiteouts on"
    );
    assert!(!h.ex().show_opaque);
    assert_eq!(h.selected().as_deref(), Some("/etc/hosts"));
    assert_eq!(h.ex().details.path.as_deref(), Some(&b"/etc/hosts"[..]));
    // The second path: a shadowed copy needs no hidden rows.
    h.keys("Wj<enter>");
    assert_eq!(h.selected().as_deref(), Some("/bin/sh"));
    h.keys("W<esc>");
    assert_eq!(h.app.scope(), Scope::Tree);
    assert!(h.app.is_idle());
}

/// Issue 11: `e` writes the selected file's version shown in the details: a prompt takes
/// the file name (typing, Backspace, Esc cancels), and Enter asks for the write of that
/// layer's version to that name; the result is said in the status bar.
#[test]
fn export_prompts_for_a_name_and_writes_the_version_shown() {
    let mut h = Harness::new(sample(), 120, 30);
    h.keys("jjlj");
    assert_eq!(h.selected().as_deref(), Some("/etc/group"));
    h.keys("e");
    assert_eq!(h.app.scope(), Scope::Prompt);
    assert_eq!(h.ex().export.as_ref().map(|p| p.layer), Some(2));
    h.keys("/tmp/outq<bs>");
    let s = screen(&h.app);
    assert!(
        s.contains("write L2's /etc/group to file: /tmp/out▏"),
        "the prompt in the status bar:\n{s}"
    );
    h.keys("<esc>");
    assert_eq!(h.app.scope(), Scope::Tree, "Esc cancels");
    h.keys("e/tmp/x");
    let effects = h.app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    match effects.as_slice() {
        [
            Effect::Export {
                path, layer, dest, ..
            },
        ] => {
            assert_eq!(path, b"/etc/group");
            assert_eq!(*layer, 2);
            assert_eq!(dest, &std::path::PathBuf::from("/tmp/x"));
        }
        other => panic!("one export: {other:?}"),
    }
    assert!(!h.app.is_idle(), "waiting for the write");
    h.queue.extend(effects);
    h.settle();
    assert!(h.app.is_idle());
    assert!(
        h.app
            .message
            .as_ref()
            .is_some_and(|m| m.text == "wrote L2 to /tmp/x"),
        "{:?}",
        h.app.message
    );
    // A directory has no version to write: said, no prompt.
    h.keys("k");
    assert_eq!(h.selected().as_deref(), Some("/etc"));
    h.keys("e");
    assert_eq!(h.app.scope(), Scope::Tree);
    assert!(h.app.message.as_ref().is_some_and(|m| m.error));
}
