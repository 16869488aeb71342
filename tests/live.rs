//! The live view against real overlay mounts: scripted writes through the mount, and the
//! explained events they must produce, in order — through the library API and through
//! `layerscope watch --json` — plus the overflow and polling paths.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{Mount, cannot_mount_overlay, skip};
use layerscope::live::{Batch, LiveKind, LiveOptions, LiveWatcher, json};
use layerscope::stack::LayerStack;
use layerscope::stack::spec::{StackRequest, resolve};
use serde_json::Value;

/// A two-lower overlay, mounted, in a fresh temporary directory.
struct Lab {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    mount: Mount,
}

impl Lab {
    fn m(&self, rel: &str) -> PathBuf {
        self.mount.point.join(rel)
    }

    fn stack(&self) -> LayerStack {
        stack_at(&self.mount.point.to_string_lossy())
    }
}

/// The stack mounted at `point`, named as a user would name it.
fn stack_at(point: &str) -> LayerStack {
    resolve(&StackRequest {
        stack: Some(point.into()),
        ..StackRequest::default()
    })
    .expect("the mount point names a stack")
}

fn write(p: &Path, content: &str) {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(p, content).expect("write");
}

/// l1 (top lower) and l2 (bottom):
///   l2: f (5 bytes), d/a, deep/er/z
///   l1: d/b, g, r/x, meta (3 bytes)
fn lab(options: &str) -> Option<Lab> {
    if let Some(why) = cannot_mount_overlay() {
        skip(&why);
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    for d in ["l1", "l2", "u", "w", "m"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    write(&root.join("l2/f"), "base\n");
    write(&root.join("l2/d/a"), "a\n");
    write(&root.join("l2/deep/er/z"), "z\n");
    write(&root.join("l1/d/b"), "b\n");
    write(&root.join("l1/g"), "hello\n");
    write(&root.join("l1/r/x"), "rr\n");
    write(&root.join("l1/meta"), "mm\n");
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}{options}",
        root.join("l1").display(),
        root.join("l2").display(),
        root.join("u").display(),
        root.join("w").display()
    );
    let mount = Mount::new(&root.join("m"), &opts).expect("mount the overlay");
    Some(Lab {
        _tmp: tmp,
        root,
        mount,
    })
}

/// Where records come from: the library's sink or the CLI's stdout.
trait Source {
    fn next(&mut self, timeout: Duration) -> Option<Value>;
}

struct LibSource {
    rx: Receiver<Batch>,
    queue: std::collections::VecDeque<Value>,
}

impl Source for LibSource {
    fn next(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.queue.pop_front() {
            return Some(v);
        }
        let batch = self.rx.recv_timeout(timeout).ok()?;
        self.queue.extend(batch.events.iter().map(json::event_json));
        self.queue.pop_front()
    }
}

struct CliSource {
    rx: Receiver<String>,
}

impl Source for CliSource {
    fn next(&mut self, timeout: Duration) -> Option<Value> {
        let line = self.rx.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
    }
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

fn path(v: &Value) -> &str {
    v["path"].as_str().unwrap_or("")
}

/// Waits for the `watching` notice.
fn wait_watching(src: &mut dyn Source) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(v) = src.next(Duration::from_millis(200))
            && kind(&v) == "watching"
        {
            return v;
        }
    }
    panic!("no watching notice");
}

/// Runs `action`, then collects change records until the last one is `last` (kind, path) and
/// a quiet spell follows; returns them.
fn step(src: &mut dyn Source, what: &str, last: (&str, &str), action: impl FnOnce()) -> Vec<Value> {
    action();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut done = false;
    while Instant::now() < deadline {
        let wait = if done {
            Duration::from_millis(400)
        } else {
            Duration::from_millis(100)
        };
        match src.next(wait) {
            Some(v) => {
                assert!(
                    !v["warning"].as_bool().unwrap_or(false),
                    "{what}: unexpected warning {v}"
                );
                if kind(&v) == "watching" {
                    continue;
                }
                done = kind(&v) == last.0 && path(&v) == last.1;
                got.push(v);
            }
            None if done => return got,
            None => {}
        }
    }
    panic!("{what}: never saw {last:?}; got {got:#?}");
}

fn pairs(got: &[Value]) -> Vec<(String, String)> {
    got.iter()
        .map(|v| (kind(v).to_string(), path(v).to_string()))
        .collect()
}

fn p(k: &str, path: &str) -> (String, String) {
    (k.to_string(), path.to_string())
}

/// The scripted tour; asserts every step's events and their order.
fn scenario(lab: &Lab, src: &mut dyn Source) {
    let w = wait_watching(src);
    assert_eq!(w["mode"], "inotify", "{w}");
    assert_eq!(w["entries"], 0, "{w}");

    let got = step(src, "new file", ("created", "/new"), || {
        write(&lab.m("new"), "new\n");
        fs::set_permissions(lab.m("new"), fs::Permissions::from_mode(0o644)).expect("chmod");
    });
    assert_eq!(pairs(&got), [p("created", "/new")]);
    assert_eq!(got[0]["layer"], 0);
    assert_eq!(got[0]["type"], "file");

    let got = step(src, "append to a lower file", ("copied-up", "/f"), || {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(lab.m("f"))
            .expect("open");
        f.write_all(b"more\n").expect("append");
    });
    assert_eq!(pairs(&got), [p("copied-up", "/f")]);
    assert_eq!(got[0]["layer"], 2, "{}", got[0]);
    assert_eq!(got[0]["bytes_copied"], 5, "{}", got[0]);
    assert_eq!(got[0]["size"], 10, "{}", got[0]);
    assert!(
        got[0]["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("copied up from layer 2")),
        "{}",
        got[0]
    );

    let got = step(src, "rm a lower file", ("deleted", "/g"), || {
        fs::remove_file(lab.m("g")).expect("rm");
    });
    assert_eq!(pairs(&got), [p("deleted", "/g")]);
    assert_eq!(got[0]["layer"], 1);
    assert_eq!(got[0]["hidden_type"], "file");

    let got = step(src, "rm -rf + mkdir", ("opaque-dir", "/d"), || {
        fs::remove_dir_all(lab.m("d")).expect("rm -rf");
        fs::create_dir(lab.m("d")).expect("mkdir");
    });
    // One burst gives the opaque directory; should the burst be split, the deletion comes first.
    let kinds = pairs(&got);
    assert!(
        kinds == [p("opaque-dir", "/d")] || kinds == [p("deleted", "/d"), p("opaque-dir", "/d")],
        "{got:#?}"
    );
    let opaque = got.last().expect("an event");
    assert_eq!(opaque["hidden"], serde_json::json!(["a", "b"]), "{opaque}");
    assert_eq!(
        opaque["hidden_layers"],
        serde_json::json!([1, 2]),
        "{opaque}"
    );
    assert_eq!(opaque["hidden_count"], 2);

    let got = step(src, "rename a lower dir", ("redirected", "/r2"), || {
        fs::rename(lab.m("r"), lab.m("r2")).expect("mv");
    });
    assert_eq!(pairs(&got), [p("deleted", "/r"), p("redirected", "/r2")]);
    assert_eq!(got[0]["renamed_to"], "/r2");
    assert_eq!(got[1]["from"], "/r");
    assert_eq!(got[1]["redirect"], "r");
    assert_eq!(got[1]["layer"], 1);
    assert_eq!(
        fs::read_to_string(lab.m("r2/x")).expect("read through the redirect"),
        "rr\n"
    );

    let got = step(
        src,
        "write under the redirect",
        ("copied-up", "/r2/x"),
        || {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(lab.m("r2/x"))
                .expect("open");
            f.write_all(b"more\n").expect("append");
        },
    );
    assert_eq!(pairs(&got), [p("copied-up", "/r2/x")]);
    assert_eq!(got[0]["layer"], 1, "found through the redirect: {}", got[0]);
    assert_eq!(got[0]["bytes_copied"], 3);

    let got = step(
        src,
        "write inside the opaque dir",
        ("created", "/d/a"),
        || {
            write(&lab.m("d/a"), "new a\n");
        },
    );
    // The lower d/a is cut off by the opaque directory: nothing was copied.
    assert_eq!(pairs(&got), [p("created", "/d/a")]);

    let got = step(src, "chmod with metacopy", ("metacopy-up", "/meta"), || {
        fs::set_permissions(lab.m("meta"), fs::Permissions::from_mode(0o600)).expect("chmod");
    });
    assert_eq!(pairs(&got), [p("metacopy-up", "/meta")]);
    assert_eq!(got[0]["layer"], 1);
    assert_eq!(got[0]["data_layer"], 1);
    assert_eq!(got[0]["bytes_copied"], 0);

    let got = step(
        src,
        "write after metacopy",
        ("data-copied-up", "/meta"),
        || {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(lab.m("meta"))
                .expect("open");
            f.write_all(b"more\n").expect("append");
        },
    );
    assert_eq!(pairs(&got), [p("data-copied-up", "/meta")]);
    assert_eq!(got[0]["layer"], 1);
    assert_eq!(got[0]["bytes_copied"], 3);
    assert_eq!(got[0]["size"], 8);

    let got = step(src, "write deep", ("copied-up", "/deep/er/z"), || {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(lab.m("deep/er/z"))
            .expect("open");
        f.write_all(b"zz\n").expect("append");
    });
    assert_eq!(pairs(&got), [p("copied-up", "/deep/er/z")]);
    assert_eq!(
        got[0]["parents_copied_up"],
        serde_json::json!(["/deep", "/deep/er"])
    );

    let got = step(src, "chmod an upper file", ("attributes", "/new"), || {
        fs::set_permissions(lab.m("new"), fs::Permissions::from_mode(0o600)).expect("chmod");
    });
    assert_eq!(pairs(&got), [p("attributes", "/new")]);
    assert_eq!(got[0]["changes"], serde_json::json!(["mode 0644 -> 0600"]));

    let got = step(src, "modify an upper file", ("modified", "/new"), || {
        write(&lab.m("new"), "newer\n");
    });
    assert_eq!(pairs(&got), [p("modified", "/new")]);
    assert_eq!(got[0]["size_before"], 4);
    assert_eq!(got[0]["size"], 6);

    let got = step(src, "rm an upper-only file", ("removed", "/new"), || {
        fs::remove_file(lab.m("new")).expect("rm");
    });
    assert_eq!(pairs(&got), [p("removed", "/new")]);

    let got = step(src, "new tree", ("created", "/nd/sub/f"), || {
        write(&lab.m("nd/sub/f"), "f\n");
    });
    assert_eq!(
        pairs(&got),
        [
            p("created", "/nd"),
            p("created", "/nd/sub"),
            p("created", "/nd/sub/f")
        ]
    );

    let got = step(src, "rename an upper-only dir", ("renamed", "/nd2"), || {
        fs::rename(lab.m("nd"), lab.m("nd2")).expect("mv");
    });
    assert_eq!(pairs(&got), [p("renamed", "/nd2")]);
    assert_eq!(got[0]["from"], "/nd");
    assert_eq!(got[0]["folded"], 2);

    let got = step(src, "rm -rf an upper-only dir", ("removed", "/nd2"), || {
        fs::remove_dir_all(lab.m("nd2")).expect("rm -rf");
    });
    assert_eq!(pairs(&got), [p("removed", "/nd2")]);
    assert_eq!(got[0]["folded"], 2);

    // The upper layer holds what the events said.
    let u = lab.root.join("u");
    assert!(u.join("d").is_dir() && u.join("g").exists() && u.join("r2").is_dir());
}

#[test]
fn scripted_writes_are_explained_in_order_through_the_library() {
    let Some(lab) = lab(",redirect_dir=on,metacopy=on") else {
        return;
    };
    let (tx, rx) = channel();
    let watcher = LiveWatcher::spawn(&lab.stack(), LiveOptions::default(), move |b| {
        let _ = tx.send(b);
    })
    .expect("spawn");
    let mut src = LibSource {
        rx,
        queue: Default::default(),
    };
    scenario(&lab, &mut src);
    drop(watcher);
    // Dropping the handle stops the thread: the sink's sender is gone.
    assert!(src.rx.recv_timeout(Duration::from_secs(2)).is_err());
}

/// A `watch` process, killed if a failing test leaves it running.
struct WatchChild(Child);

impl Drop for WatchChild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_watch(args: &[&std::ffi::OsStr]) -> (WatchChild, Receiver<String>) {
    let mut child = Command::new(common::bin())
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run layerscope watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (WatchChild(child), rx)
}

fn interrupt(child: &mut WatchChild) -> std::process::ExitStatus {
    let child = &mut child.0;
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        assert!(Instant::now() < deadline, "watch did not end on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn scripted_writes_are_explained_in_order_by_watch_json() {
    let Some(lab) = lab(",redirect_dir=on,metacopy=on") else {
        return;
    };
    let (mut child, rx) = spawn_watch(&[lab.mount.point.as_os_str(), "--json".as_ref()]);
    let mut src = CliSource { rx };
    scenario(&lab, &mut src);
    let status = interrupt(&mut child);
    assert!(status.success(), "watch ended with {status:?}");
}

#[test]
fn watch_text_lines_are_flushed_and_ctrl_c_ends_cleanly() {
    let Some(lab) = lab("") else {
        return;
    };
    let (mut child, rx) = spawn_watch(&[lab.mount.point.as_os_str()]);
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("a line");
    assert!(first.contains("watching"), "{first}");
    write(&lab.m("new\x1bname"), "x");
    let line = rx.recv_timeout(Duration::from_secs(5)).expect("a line");
    assert!(
        line.contains("created") && line.contains("/new\\x1bname"),
        "{line}"
    );
    assert!(!line.contains('\x1b'), "raw escape printed: {line:?}");
    let status = interrupt(&mut child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn watch_refuses_a_stack_without_an_upperdir() {
    if let Some(why) = cannot_mount_overlay() {
        return skip(&why);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(tmp.path().join("l")).expect("mkdir");
    let lower = tmp.path().join("l");
    let (code, _, err) = common::run(&["watch".as_ref(), "--lowerdir".as_ref(), lower.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no upperdir"), "{err}");
}

/// Collects every record until `until` has been seen and a quiet spell follows.
fn collect_until(src: &mut dyn Source, until: &str, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    let mut got: Vec<Value> = Vec::new();
    let mut seen = false;
    while Instant::now() < deadline {
        match src.next(Duration::from_millis(if seen { 600 } else { 200 })) {
            Some(v) => {
                seen |= kind(&v) == until;
                got.push(v);
            }
            None if seen => return got,
            None => {}
        }
    }
    panic!("never saw {until}: {} records", got.len());
}

#[test]
fn an_overflow_is_reported_and_the_rescan_finds_every_change() {
    let Some(lab) = lab("") else {
        return;
    };
    fs::create_dir(lab.m("burst")).expect("mkdir");
    let (tx, rx) = channel();
    let mut slow_once = true;
    let options = LiveOptions {
        channel_capacity: 4,
        ..LiveOptions::default()
    };
    let watcher = LiveWatcher::spawn(&lab.stack(), options, move |b: Batch| {
        // After the first change batch the batcher is held up, so the tiny channel overflows
        // during the burst that follows.
        let first_change = slow_once && b.events.iter().any(|e| !e.kind.is_notice());
        let _ = tx.send(b);
        if first_change {
            slow_once = false;
            std::thread::sleep(Duration::from_millis(1000));
        }
    })
    .expect("spawn");
    let mut src = LibSource {
        rx,
        queue: Default::default(),
    };
    wait_watching(&mut src);
    step(&mut src, "first file", ("created", "/burst/first"), || {
        write(&lab.m("burst/first"), "x");
    });
    const N: usize = 1000;
    for i in 0..N {
        write(&lab.m(&format!("burst/f{i:04}")), "x");
    }
    let got = collect_until(&mut src, "rescanned", Duration::from_secs(30));
    let overflow = got
        .iter()
        .position(|v| kind(v) == "overflow")
        .expect("an overflow warning");
    assert_eq!(got[overflow]["warning"], true);
    let rescanned = got
        .iter()
        .position(|v| kind(v) == "rescanned")
        .expect("a rescan notice");
    assert!(overflow < rescanned);
    let mut created: Vec<&str> = got
        .iter()
        .filter(|v| kind(v) == "created")
        .map(path)
        .collect();
    created.sort_unstable();
    let want: Vec<String> = (0..N).map(|i| format!("/burst/f{i:04}")).collect();
    assert_eq!(created, want, "every file reported exactly once");
    let mut kinds: Vec<&str> = got.iter().map(kind).collect();
    kinds.dedup();
    eprintln!("{kinds:?}");
    let found = got[overflow + 1..rescanned]
        .iter()
        .filter(|v| v["rescan"] == true)
        .count();
    assert_eq!(got[rescanned]["changes"], rescanned - overflow - 1);
    assert!(
        found > 0,
        "the rescan found the changes whose events were lost"
    );
    eprintln!(
        "overflow: {} records, {found} found by the rescan, {} changes in the rescan batch",
        got.len(),
        rescanned - overflow - 1
    );
    drop(watcher);
}

#[test]
fn polling_reports_changes_too() {
    let Some(lab) = lab("") else {
        return;
    };
    let (tx, rx) = channel();
    let options = LiveOptions {
        poll: Some(Duration::from_millis(200)),
        ..LiveOptions::default()
    };
    let watcher = LiveWatcher::spawn(&lab.stack(), options, move |b| {
        let _ = tx.send(b);
    })
    .expect("spawn");
    let mut src = LibSource {
        rx,
        queue: Default::default(),
    };
    let w = wait_watching(&mut src);
    assert_eq!(w["mode"], "poll");
    let got = step(&mut src, "append (polling)", ("copied-up", "/f"), || {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(lab.m("f"))
            .expect("open");
        f.write_all(b"more\n").expect("append");
    });
    assert_eq!(pairs(&got), [p("copied-up", "/f")]);
    let got = step(&mut src, "rm (polling)", ("deleted", "/g"), || {
        fs::remove_file(lab.m("g")).expect("rm");
    });
    assert_eq!(pairs(&got), [p("deleted", "/g")]);
    drop(watcher);
}

#[test]
fn lower_layer_changes_are_flagged_when_watched() {
    let Some(lab) = lab("") else {
        return;
    };
    let (tx, rx) = channel();
    let options = LiveOptions {
        watch_lowers: true,
        ..LiveOptions::default()
    };
    let watcher = LiveWatcher::spawn(&lab.stack(), options, move |b| {
        let _ = tx.send(b);
    })
    .expect("spawn");
    let mut src = LibSource {
        rx,
        queue: Default::default(),
    };
    let w = wait_watching(&mut src);
    assert_eq!(w["lowers_watched"], serde_json::json!([1, 2]));
    write(&lab.root.join("l2/sneaky"), "x");
    let v = src.next(Duration::from_secs(5)).expect("an event");
    assert_eq!(kind(&v), "lower-changed", "{v}");
    assert_eq!(path(&v), "/sneaky");
    assert_eq!(v["layer"], 2);
    assert_eq!(v["change"], "created");
    assert_eq!(v["undefined_behaviour"], true);
    assert!(
        LiveKind::LowerChanged {
            change: layerscope::live::LowerChange::Created
        }
        .is_warning()
    );
    drop(watcher);
}

/// A Docker container from a locally imported busybox image; removed (with the image) on drop.
struct Container {
    name: String,
    image: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

fn docker_exec(c: &Container, script: &str) {
    let out = docker(&["exec", &c.name, "/bin/busybox", "sh", "-c", script]);
    assert!(
        out.status.success(),
        "docker exec {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why a Docker container cannot be started here, if it cannot.
fn cannot_run_docker() -> Option<String> {
    if let Some(why) = cannot_mount_overlay() {
        return Some(why);
    }
    match Command::new("docker")
        .args(["info", "--format", "{{.Driver}}"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let driver = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if driver != "overlay2" {
                return Some(format!(
                    "docker uses the {driver} storage driver, not overlay2"
                ));
            }
        }
        _ => return Some("no Docker daemon".into()),
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("no /bin/busybox (busybox-static) to build an image from".into());
    }
    None
}

#[test]
fn a_docker_container_writes_are_explained() {
    if let Some(why) = cannot_run_docker() {
        return skip(&why);
    }
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    write(&rootfs.join("etc/motd"), "welcome\n");
    write(&rootfs.join("etc/app/a"), "a\n");
    write(&rootfs.join("etc/app/b"), "b\n");
    write(&rootfs.join("srv/data"), "data\n");
    let image = format!("layerscope-live-test:{tag}");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -cf - . | docker import - '{image}' >/dev/null",
            rootfs.display()
        ))
        .status()
        .expect("docker import");
    assert!(st.success(), "docker import failed");
    let c = Container {
        name: format!("layerscope-live-{tag}"),
        image,
    };
    let out = docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &c.name,
        &c.image,
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    assert!(
        out.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = docker(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", &c.name]);
    let merged = String::from_utf8_lossy(&merged.stdout).trim().to_string();
    let stack = stack_at(&merged);
    // upper, the -init layer, the image's layer
    assert_eq!(stack.layers.len(), 3, "{stack:?}");

    let (tx, rx) = channel();
    let watcher = LiveWatcher::spawn(&stack, LiveOptions::default(), move |b| {
        let _ = tx.send(b);
    })
    .expect("spawn");
    let mut src = LibSource {
        rx,
        queue: Default::default(),
    };
    wait_watching(&mut src);

    let got = step(
        &mut src,
        "append in a container",
        ("copied-up", "/etc/motd"),
        || {
            docker_exec(&c, "echo hi >> /etc/motd");
        },
    );
    let last = got.last().expect("an event");
    assert_eq!(last["layer"], 2, "{got:#?}");
    assert_eq!(last["bytes_copied"], 8);

    let got = step(
        &mut src,
        "rm in a container",
        ("deleted", "/srv/data"),
        || {
            docker_exec(&c, "rm /srv/data");
        },
    );
    assert_eq!(got.last().expect("an event")["layer"], 2, "{got:#?}");

    let got = step(
        &mut src,
        "rm -rf + mkdir in a container",
        ("opaque-dir", "/etc/app"),
        || {
            docker_exec(&c, "rm -rf /etc/app && mkdir /etc/app");
        },
    );
    let opaque = got.last().expect("an event");
    assert_eq!(opaque["hidden"], serde_json::json!(["a", "b"]), "{opaque}");

    let got = step(
        &mut src,
        "new file in a container",
        ("created", "/etc/new"),
        || {
            docker_exec(&c, "echo x > /etc/new");
        },
    );
    assert_eq!(pairs(&got), [p("created", "/etc/new")]);
    drop(watcher);
}

/// Runs `watch --json` in a user namespace of its own whose inotify watch limit
/// (`user.max_inotify_watches`) is `limit`; `None` (after a skip) when that is not possible.
fn watch_with_watch_limit(lab: &Lab, limit: usize) -> Option<(WatchChild, CliSource)> {
    let probe = Command::new("unshare")
        .args([
            "-Ur",
            "sh",
            "-c",
            "echo 3 > /proc/sys/user/max_inotify_watches",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("cannot lower the inotify watch limit in a user namespace (unshare -Ur)");
        return None;
    }
    let script = format!(
        "echo {limit} > /proc/sys/user/max_inotify_watches && exec '{}' watch '{}' --json",
        common::bin().display(),
        lab.mount.point.display()
    );
    let mut child = Command::new("unshare")
        .args(["-Ur", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Some((WatchChild(child), CliSource { rx }))
}

#[test]
fn watch_falls_back_to_polling_when_inotify_runs_out_of_watches() {
    let Some(lab) = lab("") else {
        return;
    };
    for d in ["a/b/c/d/e", "x/y/z"] {
        fs::create_dir_all(lab.m(d)).expect("mkdir");
    }
    // The recursive watch of the upper layer's 9 directories runs out at once.
    let Some((mut child, mut src)) = watch_with_watch_limit(&lab, 3) else {
        return;
    };
    let first = src.next(Duration::from_secs(10)).expect("a line");
    assert_eq!(kind(&first), "fallback", "{first}");
    assert_eq!(first["warning"], true);
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.contains("user.max_inotify_watches = 3")),
        "{first}"
    );
    let w = wait_watching(&mut src);
    assert_eq!(w["mode"], "poll", "{w}");
    // Polling still sees changes, also in directories inotify never reached.
    let got = step(
        &mut src,
        "write while polling",
        ("created", "/a/b/c/d/e/new"),
        || {
            write(&lab.m("a/b/c/d/e/new"), "x");
        },
    );
    assert_eq!(pairs(&got), [p("created", "/a/b/c/d/e/new")]);
    let status = interrupt(&mut child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn running_out_of_watches_later_falls_back_and_rescans() {
    let Some(lab) = lab("") else {
        return;
    };
    let Some((mut child, mut src)) = watch_with_watch_limit(&lab, 4) else {
        return;
    };
    let w = wait_watching(&mut src);
    assert_eq!(w["mode"], "inotify", "{w}");
    let deep = "q1/q2/q3/q4/q5/q6/q7/q8";
    fs::create_dir_all(lab.m(deep)).expect("mkdir -p");
    write(&lab.m(&format!("{deep}/f")), "x");
    let got = collect_until(&mut src, "rescanned", Duration::from_secs(60));
    let fallback = got
        .iter()
        .position(|v| kind(v) == "fallback")
        .expect("a fallback warning");
    let rescanned = got
        .iter()
        .position(|v| kind(v) == "rescanned")
        .expect("a rescan");
    assert!(fallback < rescanned);
    let mut created: Vec<&str> = got
        .iter()
        .filter(|v| kind(v) == "created")
        .map(path)
        .collect();
    created.sort_unstable();
    let mut want: Vec<String> = (1..=8)
        .map(|n| (1..=n).map(|k| format!("/q{k}")).collect::<String>())
        .collect();
    want.push(format!("/{deep}/f"));
    want.sort();
    assert_eq!(created, want, "every directory and the file, once each");
    let status = interrupt(&mut child);
    assert!(status.success(), "{status:?}");
}
