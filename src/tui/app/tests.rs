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
use crate::tui::event::{DetailsData, DirContents, JobResult, Preview};

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
        Model { paths }
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
                versions: Vec::new(),
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
            Effect::Watch(_)
            | Effect::Discover
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
