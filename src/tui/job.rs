//! Effects and the background jobs that carry them out: the only place in the explorer that
//! spawns threads or touches disk. Each job ends by sending exactly one [`JobResult`] to the
//! inbox, even when it fails, panics or cannot start (the system refuses a thread: its error
//! is the result), so the app always knows when work is done.
//!
//! A view of the stack "from layer N down" is a stack of its own (the layers N.. of the real
//! one), so its merger numbers layers from 0; every result is shifted back to the real stack's
//! numbers here, and the app only ever sees those.

use std::collections::HashMap;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use crate::diff;
use crate::error::Error;
use crate::escape;
use crate::merge::walk::Visit;
use crate::merge::{
    DataSource, DirStack, Entry, FileKind, LayerDir, Merger, Resolved, Version, VersionRole,
    join_merged,
};
use crate::report::{self, shift_reason};
use crate::stack::spec::StackRequest;
use crate::stack::{LayerRole, LayerStack};
use crate::tui::event::{AppEvent, DetailsData, DirContents, Ghost, JobResult, Preview};
use crate::tui::picker;
use crate::tui::tree::FileEntry;

/// How many matches a search sends back (the total is counted in full).
pub const SEARCH_LIMIT: usize = 1000;
/// How many hidden names one directory shows at most.
pub const GHOST_LIMIT: usize = 2000;
/// How many paths the search index holds at most (about 60 bytes each).
pub const INDEX_LIMIT: usize = 4_000_000;
/// How much of a file the preview reads.
pub const PREVIEW_BYTES: usize = 64 * 1024;
/// How much of a binary file the hex view shows.
pub const HEX_BYTES: usize = 4096;
/// How many text lines the preview keeps.
pub const PREVIEW_LINES: usize = 2000;

/// A view: the stack from layer `base` down, and its merger.
#[derive(Debug, Clone)]
pub struct ViewRef {
    /// The view generation.
    pub view: u64,
    /// The first layer of the view in the real stack.
    pub base: usize,
    /// The merger of layers `base..`.
    pub merger: Arc<Merger>,
}

/// A side effect the app asks for.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Find the host's stacks for the picker.
    Discover,
    /// Measure the host's layer stores (`layerscope du`) for the picker.
    HostUsage,
    /// Watch the stack's upper layer and feed the live pane (real runs only).
    Watch(Arc<LayerStack>),
    /// Open a stack picked in the picker or named on the command line (indexing progress
    /// comes in as [`AppEvent::OpenProgress`] meanwhile).
    OpenStack(StackRequest),
    /// Open the view of the stack from layer `base` down.
    OpenView {
        /// The view generation.
        view: u64,
        /// The first layer.
        base: usize,
        /// The whole stack's merger.
        full: Arc<Merger>,
    },
    /// List one directory of a view.
    List {
        /// The view.
        view: ViewRef,
        /// The merged path.
        path: Vec<u8>,
        /// Also list the names the merged view hides.
        ghosts: bool,
    },
    /// Count what each layer adds, modifies and deletes.
    Summaries {
        /// The stack generation.
        generation: u64,
        /// The stack.
        stack: Arc<LayerStack>,
        /// Which layers.
        layers: Vec<usize>,
    },
    /// Write layer `layer`'s version of `path` to the new file `dest` (never overwritten).
    Export {
        /// The whole stack's merger.
        merger: Arc<Merger>,
        /// The merged path.
        path: Vec<u8>,
        /// The layer whose version is written.
        layer: usize,
        /// The file the user named.
        dest: std::path::PathBuf,
    },
    /// Stored, visible and wasted bytes of the whole stack (`waste::analyse`).
    Waste {
        /// The waste generation.
        generation: u64,
        /// The whole stack's merger.
        merger: Arc<Merger>,
    },
    /// Provenance and preview of one path.
    Details {
        /// The view.
        view: ViewRef,
        /// The merged path.
        path: Vec<u8>,
    },
    /// Run the demo tour's next step (step `index`) through the merged mount.
    TourStep {
        /// The step expected to run.
        index: usize,
        /// The demo and its tour.
        runner: Arc<crate::tui::tour::TourRunner>,
    },
    /// Search the whole merged tree of a view.
    Search {
        /// The view.
        view: ViewRef,
        /// The query generation.
        query_gen: u64,
        /// The text to find in paths (ASCII case-insensitive).
        query: String,
    },
}

/// Runs effects on background threads and reports to the inbox.
#[derive(Debug)]
pub struct Worker {
    tx: Sender<AppEvent>,
    search: Option<Sender<SearchRequest>>,
    /// Whether `Watch` starts a real watcher (off in tests, whose screens must not depend on
    /// when the watcher's first notice arrives).
    live_enabled: bool,
    /// The running watcher; replaced when another stack is opened, stopped on drop.
    live: Option<crate::live::LiveWatcher>,
}

#[derive(Debug)]
struct SearchRequest {
    view: ViewRef,
    query_gen: u64,
    query: String,
}

impl Worker {
    /// A worker reporting to `tx`.
    #[must_use]
    pub fn new(tx: Sender<AppEvent>) -> Self {
        Worker {
            tx,
            search: None,
            live_enabled: false,
            live: None,
        }
    }

    /// Lets `Watch` effects start the live watcher.
    pub fn enable_live(&mut self) {
        self.live_enabled = true;
    }

    /// Starts the job for one effect; never blocks on disk.
    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Watch(stack) => {
                // The old watcher stops (and joins) before the new one starts.
                self.live = None;
                if self.live_enabled {
                    self.live = super::live_feed::start(&stack, self.tx.clone());
                }
            }
            Effect::Discover => spawn(
                &self.tx,
                "discover",
                || {
                    let (found, notes) = picker::candidates_and_notes(&Default::default());
                    JobResult::Candidates { found, notes }
                },
                |why| JobResult::Candidates {
                    found: Vec::new(),
                    notes: vec![format!("finding the stacks failed: {why}")],
                },
            ),
            Effect::HostUsage => spawn(
                &self.tx,
                "du",
                || JobResult::HostUsage(Box::new(picker::HostUsage::scan(&Default::default()))),
                |why| {
                    JobResult::HostUsage(Box::new(picker::HostUsage {
                        error: Some(why),
                        ..Default::default()
                    }))
                },
            ),
            Effect::OpenStack(req) => {
                let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
                // Set however the job ends (a panic, a thread never started) or the counts
                // would be sent for ever.
                let finished = SetOnDrop(Arc::clone(&done));
                spawn_progress(&self.tx, done);
                spawn(
                    &self.tx,
                    "open",
                    move || {
                        let _finished = finished;
                        JobResult::Opened(open_stack(&req))
                    },
                    |why| JobResult::Opened(Err(why)),
                );
            }
            Effect::OpenView { view, base, full } => spawn(
                &self.tx,
                "view",
                move || JobResult::ViewReady {
                    view,
                    merger: open_view(&full, base).map_err(|e| e.to_string()),
                },
                move |why| JobResult::ViewReady {
                    view,
                    merger: Err(why),
                },
            ),
            Effect::List { view, path, ghosts } => {
                let (gen_, p) = (view.view, path.clone());
                spawn(
                    &self.tx,
                    "list",
                    move || JobResult::Listed {
                        view: view.view,
                        contents: list(&view, &path, ghosts).map_err(|e| e.to_string()),
                        path,
                    },
                    move |why| JobResult::Listed {
                        view: gen_,
                        path: p,
                        contents: Err(why),
                    },
                );
            }
            Effect::Summaries {
                generation,
                stack,
                layers,
            } => self.summaries(generation, stack, layers),
            Effect::Export {
                merger,
                path,
                layer,
                dest,
            } => spawn(
                &self.tx,
                "export",
                move || JobResult::Exported(super::export::write(&merger, &path, layer, &dest)),
                |why| JobResult::Exported(Err(why)),
            ),
            Effect::Waste { generation, merger } => spawn(
                &self.tx,
                "waste",
                move || JobResult::Waste {
                    generation,
                    report: crate::waste::analyse(&merger)
                        .map(Arc::new)
                        .map_err(|e| e.to_string()),
                },
                move |why| JobResult::Waste {
                    generation,
                    report: Err(why),
                },
            ),
            Effect::TourStep { index, runner } => spawn(
                &self.tx,
                "tour",
                move || JobResult::TourStep {
                    index,
                    outcome: runner.run_next(),
                },
                move |why| JobResult::TourStep {
                    index,
                    outcome: Err(why),
                },
            ),
            Effect::Details { view, path } => {
                let gen_ = view.view;
                spawn(
                    &self.tx,
                    "details",
                    move || JobResult::Details {
                        view: view.view,
                        details: details(&view, &path)
                            .map(Box::new)
                            .map_err(|e| e.to_string()),
                    },
                    move |why| JobResult::Details {
                        view: gen_,
                        details: Err(why),
                    },
                );
            }
            Effect::Search {
                view,
                query_gen,
                query,
            } => {
                let req = SearchRequest {
                    view,
                    query_gen,
                    query,
                };
                let req = match &self.search {
                    Some(s) => match s.send(req) {
                        Ok(()) => return,
                        Err(e) => e.0,
                    },
                    None => req,
                };
                let (stx, srx) = channel();
                let _ = stx.send(req);
                self.search = Some(stx);
                let tx = self.tx.clone();
                let _ = std::thread::Builder::new()
                    .name("layerscope-search".into())
                    .spawn(move || search_thread(&srx, &tx));
            }
        }
    }

    fn summaries(&self, generation: u64, stack: Arc<LayerStack>, layers: Vec<usize>) {
        let tx = self.tx.clone();
        let _ = std::thread::Builder::new()
            .name("layerscope-summaries".into())
            .spawn(move || {
                for layer in layers {
                    let summary = catch_unwind(AssertUnwindSafe(|| {
                        diff::summary(&stack, layer).map_err(|e| e.to_string())
                    }))
                    .unwrap_or_else(|p| Err(panic_text(&p)));
                    let ev = AppEvent::Job(JobResult::Summary {
                        generation,
                        layer,
                        summary,
                    });
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            });
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("internal error: {what}")
}

/// Runs `body` on a thread; a panic becomes `on_panic`'s result, so the app is never left
/// waiting. When no thread can be started, `on_panic` says so at once.
fn spawn(
    tx: &Sender<AppEvent>,
    name: &str,
    body: impl FnOnce() -> JobResult + Send + 'static,
    on_panic: impl FnOnce(String) -> JobResult + Send + 'static,
) {
    let builder = std::thread::Builder::new().name(format!("layerscope-{name}"));
    run_job(tx, |f| builder.spawn(f).map(drop), body, on_panic);
}

/// [`spawn`] with the thread starter given, so that a refused thread can be tested.
fn run_job<B, P>(
    tx: &Sender<AppEvent>,
    start: impl FnOnce(Box<dyn FnOnce() + Send>) -> std::io::Result<()>,
    body: B,
    on_panic: P,
) where
    B: FnOnce() -> JobResult + Send + 'static,
    P: FnOnce(String) -> JobResult + Send + 'static,
{
    // Shared so that whichever side runs the job takes it: the thread, or this caller when the
    // thread was never started.
    let job = Arc::new(std::sync::Mutex::new(Some((body, on_panic))));
    let theirs = Arc::clone(&job);
    let their_tx = tx.clone();
    let started = start(Box::new(move || {
        let taken = theirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((body, on_panic)) = taken {
            let result =
                catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| on_panic(panic_text(&p)));
            let _ = their_tx.send(AppEvent::Job(result));
        }
    }));
    if let Err(e) = started {
        let taken = job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((_, on_panic)) = taken {
            let why = format!("could not start a background thread: {e}");
            let _ = tx.send(AppEvent::Job(on_panic(why)));
        }
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often the counts of a stack being opened are sent.
const OPEN_PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// Sends the layer tars' indexing counts (since now) while `done` is unset. Without a
/// thread, no counts: the open itself still reports.
fn spawn_progress(tx: &Sender<AppEvent>, done: Arc<std::sync::atomic::AtomicBool>) {
    let tx = tx.clone();
    let before = crate::fsio::tar::progress();
    let _ = std::thread::Builder::new()
        .name("layerscope-open-progress".into())
        .spawn(move || {
            let mut last = crate::fsio::tar::IndexProgress::default();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(OPEN_PROGRESS_EVERY);
                let now = crate::fsio::tar::progress().since(before);
                if now != last {
                    last = now;
                    if tx.send(AppEvent::OpenProgress(now)).is_err() {
                        return;
                    }
                }
            }
        });
}

fn open_stack(req: &StackRequest) -> Result<Arc<Merger>, String> {
    let stack = crate::stack::spec::resolve(req).map_err(|e| e.to_string())?;
    Merger::open(&stack)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The merger of the stack from layer `base` down (the whole stack's for 0).
///
/// # Errors
/// The layer is data-only or out of range, or a layer cannot be opened.
pub fn open_view(full: &Arc<Merger>, base: usize) -> Result<Arc<Merger>, Error> {
    if base == 0 {
        return Ok(Arc::clone(full));
    }
    let stack = full.stack();
    match stack.layers.get(base) {
        None => return Err(Error::BadInput(format!("there is no layer {base}"))),
        Some(l) if l.role == LayerRole::DataOnly => {
            return Err(Error::BadInput(format!(
                "layer {base} is a data-only layer: it joins the merged view only through \
                 metacopy files of the layers above"
            )));
        }
        Some(_) => {}
    }
    let sub = LayerStack {
        name: format!("{} from layer {base} down", stack.name),
        layers: stack.layers[base..].to_vec(),
        workdir: None,
        mountpoint: None,
        options: stack.options.clone(),
    };
    Merger::open(&sub).map(Arc::new)
}

fn shift_versions(vs: &mut [Version], by: usize) {
    for v in vs {
        v.layer += by;
        if let VersionRole::Hidden(r) = v.role {
            v.role = VersionRole::Hidden(shift_reason(r, by));
        }
    }
}

fn shift_dir(d: &mut DirStack, by: usize) {
    for l in &mut d.layers {
        l.layer += by;
    }
    for (l, r) in &mut d.cut {
        l.layer += by;
        *r = shift_reason(*r, by);
    }
}

/// Renumbers an entry of a view's merger with the real stack's layer numbers.
pub fn shift_entry(e: &mut Entry, by: usize) {
    if by == 0 {
        return;
    }
    e.layer += by;
    shift_versions(&mut e.versions, by);
    if let Some(DataSource::Found { layer, .. }) = &mut e.data {
        *layer += by;
    }
    if let Some(d) = &mut e.dir {
        shift_dir(d, by);
    }
}

/// The real directories behind a merged path: its stack when it exists; for a name the
/// merged view hides, its hidden directory versions (to list what they hold).
fn dir_stack(r: &Resolved) -> Result<DirStack, Error> {
    let shown = escape::display(&r.path);
    match &r.entry {
        Some(e) => e
            .dir
            .clone()
            .ok_or_else(|| Error::BadInput(format!("'{shown}' is not a directory"))),
        None => Ok(DirStack {
            cut: r
                .versions
                .iter()
                .filter_map(|v| match v.role {
                    VersionRole::Hidden(reason) if v.kind == FileKind::Dir => Some((
                        LayerDir {
                            layer: v.layer,
                            rel: v.rel.clone(),
                        },
                        reason,
                    )),
                    _ => None,
                })
                .collect(),
            ..DirStack::default()
        }),
    }
}

/// Lists one directory of a view, with the hidden names when asked.
///
/// # Errors
/// The path is not a directory, or a layer cannot be read.
pub fn list(view: &ViewRef, path: &[u8], ghosts: bool) -> Result<DirContents, Error> {
    let m = &view.merger;
    let r = m.resolve(path)?;
    let dir = dir_stack(&r)?;
    let mut out = DirContents::default();
    // A chunk at a time, each non-directory turned into the tree's compact form at once: a
    // directory of 200,000 files never holds 200,000 whole entries.
    let mut chunks = m.list_dir_chunks(&r.path, &dir)?;
    while let Some(chunk) = chunks.next_chunk() {
        out.anomalies.extend(chunk.anomalies);
        for mut e in chunk.entries {
            shift_entry(&mut e, view.base);
            if e.kind == FileKind::Dir {
                out.entries.push(e);
            } else {
                let f = Box::new(FileEntry::of(&e));
                out.files.push((e.path, f));
            }
        }
    }
    out.files.shrink_to_fit();
    if ghosts {
        let (found, omitted) = hidden_names(m, &r.path, &dir, &out)?;
        out.ghosts = found;
        out.ghosts_omitted = omitted;
    }
    for a in &mut out.anomalies {
        a.layer += view.base;
    }
    for g in &mut out.ghosts {
        shift_versions(&mut g.versions, view.base);
    }
    Ok(out)
}

/// The names some copy of the directory holds that the merged view does not show, each
/// resolved to every layer's version of it (whiteouts, opaque cuts...).
fn hidden_names(
    m: &Merger,
    path: &[u8],
    dir: &DirStack,
    shown: &DirContents,
) -> Result<(Vec<Ghost>, usize), Error> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let copies = dir.layers.iter().chain(dir.cut.iter().map(|(d, _)| d));
    for d in copies {
        let layer = &m.stack().layers[d.layer];
        let root = layer.open()?;
        let Ok(fd) = root.open_dir(&d.rel) else {
            continue;
        };
        let list = fd
            .read_dir()
            .map_err(|e| Error::io("reading directory", root.join(&d.rel), e))?;
        names.extend(list.into_iter().map(|(n, _)| n));
    }
    names.sort_unstable();
    names.dedup();
    let visible: std::collections::HashSet<&[u8]> = shown
        .entries
        .iter()
        .map(|e| e.path.as_slice())
        .chain(shown.files.iter().map(|(p, _)| p.as_slice()))
        .chain(shown.anomalies.iter().map(|a| a.path.as_slice()))
        .collect();
    let mut ghosts = Vec::new();
    let mut omitted = 0;
    for name in names {
        let p = join_merged(path, &name);
        if visible.contains(p.as_slice()) {
            continue;
        }
        if ghosts.len() >= GHOST_LIMIT {
            omitted += 1;
            continue;
        }
        let r = m.resolve(&p)?;
        if r.entry.is_some() || r.versions.is_empty() {
            continue;
        }
        let kind = r
            .versions
            .iter()
            .find(|v| matches!(v.role, VersionRole::Hidden(_)))
            .or_else(|| r.versions.first())
            .map_or(FileKind::File, |v| v.kind);
        ghosts.push(Ghost {
            path: r.path,
            kind,
            versions: r.versions,
        });
    }
    Ok((ghosts, omitted))
}

/// The lines `layerscope which` prints for a resolved path of a view (whose merger numbers
/// layers from `base`), with the real stack's numbers.
#[must_use]
pub fn which_lines(m: &Merger, r: &Resolved, base: usize) -> Vec<String> {
    r.versions
        .iter()
        .map(|v| report::which_line(m, r, v, base))
        .collect()
}

/// Provenance and content of one path of a view.
///
/// # Errors
/// A layer cannot be read.
pub fn details(view: &ViewRef, path: &[u8]) -> Result<DetailsData, Error> {
    let m = &view.merger;
    let mut resolved = m.resolve(path)?;
    let which = which_lines(m, &resolved, view.base);
    let preview = match &resolved.entry {
        Some(e) => preview_entry(m, e, view.base),
        None => Preview::None,
    };
    shift_versions(&mut resolved.versions, view.base);
    if let Some(e) = &mut resolved.entry {
        shift_entry(e, view.base);
    }
    Ok(DetailsData {
        path: resolved.path.clone(),
        resolved,
        which,
        preview,
    })
}

fn preview_entry(m: &Merger, e: &Entry, base: usize) -> Preview {
    match e.kind {
        FileKind::File => read_content(m, e),
        FileKind::Symlink => {
            let target = e.target.clone().unwrap_or_default();
            match m.follow(&e.path) {
                Ok(t) => {
                    let content = if t.kind == FileKind::File {
                        read_content(m, &t)
                    } else {
                        Preview::None
                    };
                    Preview::Link {
                        target,
                        resolved: Ok((t.path.clone(), t.kind, t.layer + base)),
                        content: Box::new(content),
                    }
                }
                Err(err) => Preview::Link {
                    target,
                    resolved: Err(err.to_string()),
                    content: Box::new(Preview::None),
                },
            }
        }
        _ => Preview::None,
    }
}

fn read_content(m: &Merger, e: &Entry) -> Preview {
    let file = match m.open_content(e) {
        Ok(f) => f,
        Err(err) => return Preview::Error(err.to_string()),
    };
    let mut buf = Vec::with_capacity(
        PREVIEW_BYTES.min(usize::try_from(e.meta.size).unwrap_or(PREVIEW_BYTES)),
    );
    if let Err(err) = file.take(PREVIEW_BYTES as u64).read_to_end(&mut buf) {
        return Preview::Error(format!("reading: {err}"));
    }
    let truncated = (buf.len() as u64) < e.meta.size;
    render_content(&buf, truncated)
}

/// Text or hex for the first bytes of a file; every line escaped.
#[must_use]
pub fn render_content(buf: &[u8], truncated: bool) -> Preview {
    if is_text(buf) {
        let mut lines = Vec::new();
        let mut more = truncated;
        for line in buf.split(|&b| b == b'\n') {
            if lines.len() >= PREVIEW_LINES {
                more = true;
                break;
            }
            lines.push(text_line(line));
        }
        if buf.ends_with(b"\n") {
            lines.pop();
        }
        Preview::Text {
            lines,
            truncated: more,
        }
    } else {
        Preview::Hex {
            bytes: buf[..buf.len().min(HEX_BYTES)].to_vec(),
            truncated: truncated || buf.len() > HEX_BYTES,
        }
    }
}

fn is_text(buf: &[u8]) -> bool {
    if buf.contains(&0) {
        return false;
    }
    match std::str::from_utf8(buf) {
        Ok(_) => true,
        // Cut in the middle of a character at the end of what was read.
        Err(e) => e.error_len().is_none(),
    }
}

fn text_line(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Tabs become spaces (to the next multiple of 4); everything else goes through escape.
    let mut expanded = Vec::with_capacity(line.len());
    let mut col = 0usize;
    for &b in line {
        if b == b'\t' {
            let n = 4 - col % 4;
            expanded.extend(std::iter::repeat_n(b' ', n));
            col += n;
        } else {
            expanded.push(b);
            col += 1;
        }
    }
    escape::display(&expanded)
}

/// A hex dump, `per_line` bytes a line (16 or 8): offset, bytes, printable ASCII.
#[must_use]
pub fn hex_lines(bytes: &[u8], per_line: usize) -> Vec<String> {
    let per_line = per_line.max(1);
    let hex_w = per_line * 3 + usize::from(per_line > 8);
    bytes
        .chunks(per_line)
        .enumerate()
        .map(|(n, chunk)| {
            let mut hex = String::with_capacity(hex_w);
            for (i, b) in chunk.iter().enumerate() {
                if i == 8 {
                    hex.push(' ');
                }
                hex.push_str(&format!("{b:02x} "));
            }
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {hex:<hex_w$} |{ascii}|", n * per_line)
        })
        .collect()
}

/// Why an index build stopped early.
enum Stop {
    /// A newer request for another view came in.
    Superseded(SearchRequest),
    /// The app is gone.
    Gone,
    /// A layer could not be read.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// Every path of a view, packed in one buffer.
struct Index {
    view: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    complete: bool,
}

impl Index {
    fn paths(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let p = &self.bytes[start..end];
            start = end;
            p
        })
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn matches(index: &Index, query: &str) -> (Vec<Vec<u8>>, usize) {
    let needle = query.as_bytes();
    let mut found = Vec::new();
    let mut total = 0;
    for p in index.paths() {
        if contains_ci(p, needle) {
            total += 1;
            if found.len() < SEARCH_LIMIT {
                found.push(p.to_vec());
            }
        }
    }
    (found, total)
}

fn send_matches(tx: &Sender<AppEvent>, index: &Index, req: &SearchRequest) -> bool {
    let (found, total) = matches(index, &req.query);
    tx.send(AppEvent::Job(JobResult::Search {
        view: req.view.view,
        query: req.query_gen,
        matches: found,
        total,
        indexed: index.ends.len(),
        complete: index.complete,
    }))
    .is_ok()
}

/// The search thread: builds the index of a view once (streaming progress and interim
/// matches), then answers each query from memory. Only the newest request counts.
fn search_thread(rx: &Receiver<SearchRequest>, tx: &Sender<AppEvent>) {
    let mut index: Option<Index> = None;
    let Ok(mut req) = rx.recv() else { return };
    loop {
        // Only the newest request matters.
        loop {
            match rx.try_recv() {
                Ok(r) => req = r,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if index.as_ref().is_none_or(|i| i.view != req.view.view) {
            index = None;
            match build_index(&mut req, rx, tx) {
                Ok(i) => index = Some(i),
                Err(Stop::Superseded(r)) => {
                    req = r;
                    continue;
                }
                Err(Stop::Gone) => return,
                Err(Stop::Failed(e)) => {
                    let _ = tx.send(AppEvent::Error(format!("search: {e}")));
                    // No sizes either: the app stops waiting for them.
                    let _ = tx.send(AppEvent::Job(JobResult::DirSizes {
                        view: req.view.view,
                        sizes: HashMap::new(),
                    }));
                    let _ = tx.send(AppEvent::Job(JobResult::Search {
                        view: req.view.view,
                        query: req.query_gen,
                        matches: Vec::new(),
                        total: 0,
                        indexed: 0,
                        complete: true,
                    }));
                }
            }
        }
        if let Some(i) = &index
            && !send_matches(tx, i, &req)
        {
            return;
        }
        match rx.recv() {
            Ok(r) => req = r,
            Err(_) => return,
        }
    }
}

fn build_index(
    req: &mut SearchRequest,
    rx: &Receiver<SearchRequest>,
    tx: &Sender<AppEvent>,
) -> Result<Index, Stop> {
    let view = req.view.clone();
    let mut index = Index {
        view: view.view,
        bytes: Vec::new(),
        ends: Vec::new(),
        complete: false,
    };
    let root = view.merger.root()?;
    let mut last = Instant::now();
    // The bytes below each directory, summed on the way (the tree shows and sorts by them).
    let mut sizes: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut visit = |v: Visit<'_>| -> Result<(), Stop> {
        let Visit::Entry(e) = v else { return Ok(()) };
        if e.kind == FileKind::File && e.meta.size > 0 {
            let mut up = e.path.as_slice();
            while let Some(cut) = up.iter().rposition(|&b| b == b'/') {
                up = if cut == 0 { b"/" } else { &up[..cut] };
                match sizes.get_mut(up) {
                    Some(s) => *s += e.meta.size,
                    None => {
                        sizes.insert(up.to_vec(), e.meta.size);
                    }
                }
                if up == b"/" {
                    break;
                }
            }
        }
        if index.ends.len() >= INDEX_LIMIT {
            return Ok(());
        }
        index.bytes.extend_from_slice(&e.path);
        index.ends.push(index.bytes.len());
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            loop {
                match rx.try_recv() {
                    Ok(r) if r.view.view != view.view => return Err(Stop::Superseded(r)),
                    Ok(r) => *req = r,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Err(Stop::Gone),
                }
            }
            let progress = AppEvent::SearchProgress {
                view: view.view,
                indexed: index.ends.len(),
            };
            if tx.send(progress).is_err() || !send_matches(tx, &index, req) {
                return Err(Stop::Gone);
            }
        }
        Ok(())
    };
    view.merger.walk::<Stop>(&root, true, &mut visit)?;
    index.complete = true;
    let _ = tx.send(AppEvent::Job(JobResult::DirSizes {
        view: view.view,
        sizes,
    }));
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_tabs_expanded() {
        let Preview::Text { lines, truncated } = render_content(b"a\tb\n\x1b[31mred\r\n", false)
        else {
            panic!("text expected");
        };
        assert_eq!(lines, vec!["a   b".to_string(), "\\x1b[31mred".to_string()]);
        assert!(!truncated);
    }

    #[test]
    fn binary_is_a_hex_dump() {
        let Preview::Hex { bytes, .. } = render_content(b"\x7fELF\x00\x01abcdefghijklmnop", false)
        else {
            panic!("hex expected");
        };
        let lines = hex_lines(&bytes, 16);
        assert_eq!(
            lines[0],
            "00000000  7f 45 4c 46 00 01 61 62  63 64 65 66 67 68 69 6a  |.ELF..abcdefghij|"
        );
        assert!(lines[1].starts_with("00000010  6b 6c 6d 6e 6f 70"));
    }

    #[test]
    fn a_character_cut_at_the_end_is_still_text() {
        let s = "日本".as_bytes();
        assert!(is_text(&s[..s.len() - 1]));
        assert!(!is_text(b"bad\xff\xfe middle"));
    }

    #[test]
    fn a_job_whose_thread_is_refused_still_sends_one_result() {
        let (tx, rx) = channel();
        run_job(
            &tx,
            |_| Err(std::io::Error::from_raw_os_error(libc::EAGAIN)),
            || JobResult::Opened(Err("ran".into())),
            |why| JobResult::Opened(Err(why)),
        );
        let Ok(AppEvent::Job(JobResult::Opened(Err(why)))) = rx.try_recv() else {
            panic!("one failed result expected");
        };
        assert!(why.contains("could not start a background thread"), "{why}");
        assert!(rx.try_recv().is_err(), "exactly one result");
        // A started job sends its own result, once.
        run_job(
            &tx,
            |f| {
                f();
                Ok(())
            },
            || JobResult::Opened(Err("ran".into())),
            |why| JobResult::Opened(Err(why)),
        );
        let Ok(AppEvent::Job(JobResult::Opened(Err(why)))) = rx.try_recv() else {
            panic!("the job's result expected");
        };
        assert_eq!(why, "ran");
        assert!(rx.try_recv().is_err(), "exactly one result");
    }

    #[test]
    fn search_is_ascii_case_insensitive() {
        assert!(contains_ci(b"/etc/Passwd", b"passwd"));
        assert!(!contains_ci(b"/etc/group", b"passwd"));
    }

    /// A directory of more than a chunk of names (read a chunk at a time): every name comes,
    /// files in the compact form with the real stack's layer numbers, directories whole, and
    /// the tree shows them all in name order.
    #[test]
    fn a_huge_directory_is_listed_in_chunks_into_the_compact_form() {
        use crate::merge::walk::CHUNK;
        use crate::stack::MountOptions;
        use crate::tui::tree::{Item, ROOT, Sort, Tree};
        let tmp = tempfile::tempdir().expect("tempdir");
        let n = 2 * CHUNK + 300;
        let mut layers = Vec::new();
        for l in 0..3usize {
            let many = tmp.path().join(format!("l{l}/many"));
            std::fs::create_dir_all(&many).expect("mkdir");
            for i in (l..n).step_by(3) {
                std::fs::write(many.join(format!("f{i:05}")), vec![b'x'; l]).expect("write");
            }
            std::fs::create_dir_all(many.join(format!("d{l}"))).expect("mkdir");
            layers.push(tmp.path().join(format!("l{l}")));
        }
        let stack = LayerStack::from_dirs(
            "t".into(),
            None,
            layers,
            Vec::new(),
            MountOptions::user_redirect_on(),
        );
        let full = Arc::new(Merger::open(&stack).expect("open"));
        // The view from layer 1 down: its layers are numbered from 1 in the real stack.
        let view = ViewRef {
            view: 1,
            base: 1,
            merger: open_view(&full, 1).expect("view"),
        };
        let c = list(&view, b"/many", false).expect("list");
        let dirs: Vec<&[u8]> = c.entries.iter().map(|e| e.path.as_slice()).collect();
        assert_eq!(dirs, [&b"/many/d1"[..], b"/many/d2"]);
        let want: Vec<Vec<u8>> = (0..n)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("/many/f{i:05}").into_bytes())
            .collect();
        let got: Vec<Vec<u8>> = c.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(got, want);
        for (p, f) in &c.files {
            let i: usize = std::str::from_utf8(&p[7..])
                .expect("utf-8")
                .parse()
                .expect("n");
            assert_eq!((f.layer, f.size), (i % 3, (i % 3) as u64), "{p:?}");
        }
        let mut t = Tree::new();
        t.set_children(ROOT, c, false, Sort::Name);
        t.rebuild(&|_| true);
        assert_eq!(t.rows.len(), want.len() + 2);
        let names: Vec<&[u8]> = t
            .rows
            .iter()
            .map(|&r| t.node(r).expect("row").name())
            .collect();
        assert_eq!(&names[..3], [&b"d1"[..], b"d2", b"f00001"]);
        let last = t.node(*t.rows.last().expect("rows")).expect("last");
        assert!(matches!(last.item, Item::File(_)), "{:?}", last.item);
    }
}
