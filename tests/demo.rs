//! `layerscope demo`: the tour runs as root and unprivileged, each step leaves the evidence it
//! claims (read here, independently, from the upper directory through `/proc/PID/root`), and no
//! mount or temporary file survives a normal exit, SIGINT or SIGKILL.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::{bin, is_root, skip};

/// Who runs the demo.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum As {
    /// Root in the initial namespace.
    Root,
    /// An unprivileged user (nobody via setpriv when the tests run as root).
    Unprivileged,
}

/// A private, world-writable temp directory for one demo run (its TMPDIR and HOME).
fn tmpdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn command(who: As, tmp: &Path, args: &[&str]) -> Command {
    let mut c = if who == As::Unprivileged && rustix::process::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ]);
        c.arg(bin());
        c
    } else {
        Command::new(bin())
    };
    c.arg("demo").args(args);
    c.env("TMPDIR", tmp).env("HOME", tmp).env("NO_COLOR", "1");
    c
}

/// Why this kind of run cannot happen here, if it cannot.
fn cannot_run(who: As) -> Option<String> {
    match who {
        As::Root if !is_root() => Some("needs root".into()),
        As::Unprivileged
            if rustix::process::geteuid().is_root()
                && Command::new("setpriv").arg("--version").output().is_err() =>
        {
            Some("needs setpriv (util-linux) to drop to nobody".into())
        }
        _ => None,
    }
}

/// A running `demo --script --pause`, stepped by the test.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Everything printed so far.
    text: String,
}

impl Session {
    fn start(who: As, tmp: &Path, extra: &[&str]) -> Session {
        let mut args = vec!["--script", "--pause"];
        args.extend_from_slice(extra);
        let mut child = command(who, tmp, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start layerscope demo");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout,
            text: String::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads up to the next "press Enter" prompt; returns what was printed since the last one.
    fn until_prompt(&mut self) -> String {
        let mut chunk = String::new();
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read demo output");
            assert!(
                n > 0,
                "the demo ended before the next prompt; it printed:\n{}{chunk}",
                self.text
            );
            chunk.push_str(&line);
            if line.starts_with("-- press Enter") {
                break;
            }
        }
        self.text.push_str(&chunk);
        chunk
    }

    fn enter(&mut self) {
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Lets the demo finish; returns its exit status and all its output.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        let status = self.child.wait().unwrap();
        (status, self.text + &rest)
    }
}

/// A path inside the demo process's own mount namespace.
fn inside(pid: u32, path: &Path) -> PathBuf {
    Path::new(&format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap())
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("reading {name} of {}: {e}", path.display()),
    }
}

fn mount_ns(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
}

/// Asserts that nothing of a demo run remains: no process in its mount namespace, no mount
/// naming its temp directory in any namespace we can see, and an empty temp directory.
fn assert_nothing_left(tmp: &Path, ns: Option<&Path>) {
    let tmp_text = tmp.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // Namespace inode numbers are reused once a namespace dies, so a process only counts
        // when it also belongs to this run (its TMPDIR is this run's directory).
        let ours = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            env.split(|&b| b == 0)
                .any(|v| v == format!("TMPDIR={tmp_text}").as_bytes())
        });
        if let (Some(ns), Some(theirs), true) = (ns, mount_ns(pid), ours) {
            assert_ne!(
                theirs, ns,
                "process {pid} is still in the demo's mount namespace"
            );
        }
        if let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
            for line in info.lines() {
                assert!(
                    !line.contains(&tmp_text),
                    "a mount remains (seen by pid {pid}): {line}"
                );
            }
        }
    }
    let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!own.contains(&tmp_text));
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "temporary files remain in {}: {left:?}",
        tmp.display()
    );
}

/// The demo's directory and whether it is on disk, from the header it prints.
fn demo_root(header: &str) -> (PathBuf, bool) {
    let flat = header.split_whitespace().collect::<Vec<_>>().join(" ");
    let path = flat
        .split_once("The sample stack is in ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no demo directory in the header:\n{header}"));
    (PathBuf::from(path), flat.contains("the layers are on disk"))
}

/// Waits for a process to be gone (it may be reaped by us just before).
fn wait_gone(pid: u32) {
    for _ in 0..200 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs the whole tour, pausing after each step to read the upper directory from outside.
fn tour_leaves_its_evidence(who: As) {
    if let Some(why) = cannot_run(who) {
        return skip(&why);
    }
    let tmp = tmpdir();
    let mut s = Session::start(who, tmp.path(), &[]);
    let header = s.until_prompt();
    if header.contains("The live tour is off") {
        let why = header
            .lines()
            .find(|l| l.contains("live tour is off"))
            .unwrap_or_default()
            .to_string();
        drop(s.finish());
        return skip(&format!("the demo cannot mount here ({who:?}): {why}"));
    }
    let pid = s.pid();
    let ns = mount_ns(pid);
    let (root, _) = demo_root(&header);
    assert!(root.starts_with(tmp.path()), "{header}");
    let upper = inside(pid, &root.join("upper"));
    let lower = |layer: &str, rel: &str| inside(pid, &root.join("lower").join(layer).join(rel));
    let up = |rel: &str| upper.join(rel);
    let prefix = if who == As::Root {
        "trusted.overlay."
    } else {
        "user.overlay."
    };

    // The overlay is mounted in the demo's namespace only.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let merged = root.join("merged").to_string_lossy().into_owned();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(&format!(" {merged} ")) && l.contains(" - overlay "))
        .unwrap_or_else(|| panic!("no overlay at {merged} in the demo's mountinfo"));
    if who == As::Unprivileged {
        assert!(line.contains("userxattr"), "{line}");
    }
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&merged)
    );
    assert_eq!(
        std::fs::read_dir(&upper).unwrap().count(),
        0,
        "the upper layer starts empty"
    );

    // 1: read, no copy-up.
    s.enter();
    let out = s.until_prompt();
    assert!(out.contains("PRETTY_NAME=\"Tinix"), "{out}");
    assert!(!up("etc").exists(), "a read copied something up");

    // 2: append, copy-up of the whole file.
    s.enter();
    s.until_prompt();
    let original = std::fs::read(lower("1-base", "etc/os-release")).unwrap();
    let copied = std::fs::read(up("etc/os-release")).unwrap();
    assert!(copied.starts_with(&original) && copied.len() > original.len());
    assert!(copied.ends_with(b"DEMO_NOTE=\"appended through the merged mount\"\n"));

    // 3: delete, a char 0/0 whiteout.
    s.enter();
    s.until_prompt();
    let m = std::fs::symlink_metadata(up("usr/bin/curl")).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == 0);
    assert!(lower("2-packages", "usr/bin/curl").is_file());

    // 4: rm -rf + mkdir, an opaque directory holding only the new file.
    s.enter();
    s.until_prompt();
    let doc = up("usr/share/doc");
    assert_eq!(
        xattr(&doc, &format!("{prefix}opaque")).as_deref(),
        Some(&b"y"[..])
    );
    let names: Vec<_> = std::fs::read_dir(&doc)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["README"]);

    // 5: rename of a lower directory.
    s.enter();
    let out = s.until_prompt();
    if who == As::Root {
        let public = up("srv/app/public");
        assert_eq!(
            xattr(&public, "trusted.overlay.redirect").as_deref(),
            Some(&b"static"[..])
        );
        assert_eq!(std::fs::read_dir(&public).unwrap().count(), 0);
        let old = std::fs::symlink_metadata(up("srv/app/static")).unwrap();
        assert!(old.file_type().is_char_device() && old.rdev() == 0);
        assert!(
            out.contains("redirect_dir=off: failed") && out.contains("[EXDEV]"),
            "{out}"
        );
    } else {
        assert!(out.contains("failed: ") && out.contains("[EXDEV]"), "{out}");
        assert!(!up("srv/app/public").exists() && !up("srv/app/static").exists());
    }

    // 6: chmod: metadata-only copy-up as root, a full copy unprivileged.
    s.enter();
    s.until_prompt();
    let server = up("srv/app/server");
    let m = std::fs::symlink_metadata(&server).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(m.len(), 192 * 1024);
    if who == As::Root {
        assert!(xattr(&server, "trusted.overlay.metacopy").is_some());
        assert_eq!(m.blocks(), 0, "a metacopy file has no data blocks");
    } else {
        assert!(xattr(&server, "user.overlay.metacopy").is_none());
        assert_eq!(
            std::fs::read(&server).unwrap(),
            std::fs::read(lower("3-app", "srv/app/server")).unwrap()
        );
    }

    // 7: a new file, upper only.
    s.enter();
    s.until_prompt();
    assert_eq!(
        std::fs::read_to_string(up("root/notes.txt")).unwrap(),
        "a new file: it exists only in the upper layer\n"
    );
    for layer in ["1-base", "2-packages", "3-app"] {
        assert!(!lower(layer, "root/notes.txt").exists());
    }

    s.enter();
    let (status, all) = s.finish();
    assert!(status.success(), "demo failed: {status}\n{all}");
    assert!(
        all.contains("All 7 steps left the evidence they claim"),
        "{all}"
    );
    assert!(!all.contains("[MISSING]"), "{all}");
    wait_gone(pid);
    assert_nothing_left(tmp.path(), ns.as_deref());
}

#[test]
fn tour_leaves_its_evidence_as_root() {
    tour_leaves_its_evidence(As::Root);
}

#[test]
fn tour_leaves_its_evidence_unprivileged() {
    tour_leaves_its_evidence(As::Unprivileged);
}

/// Runs `demo --script` to the end without pausing and returns (success, stdout).
fn run_script(who: As, tmp: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["--script"];
    args.extend_from_slice(extra);
    let out = command(who, tmp, &args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn script_runs_every_step_and_prints_which_and_diff() {
    let who = if is_root() {
        As::Root
    } else {
        As::Unprivileged
    };
    let tmp = tmpdir();
    let (ok, out) = run_script(who, tmp.path(), &[]);
    if out.contains("The live tour is off") {
        return skip("the demo cannot mount here");
    }
    assert!(ok, "{out}");
    for n in 1..=7 {
        assert!(
            out.contains(&format!("== Step {n}/7: ")),
            "step {n} missing:\n{out}"
        );
    }
    assert!(out.contains("$ layerscope which /usr/bin/curl"));
    assert!(out.contains("whiteout: deletes the versions below"));
    assert!(out.contains("D /usr/bin/curl") && out.contains("A /root/notes.txt"));
    assert!(!out.contains("[MISSING]"));
    assert_nothing_left(tmp.path(), None);
}

/// Starts a paused demo, lets it run two steps, sends `signal`, and checks nothing remains.
fn killed_demo_leaves_nothing(who: As, signal: rustix::process::Signal, extra: &[&str]) {
    if let Some(why) = cannot_run(who) {
        return skip(&why);
    }
    let tmp = tmpdir();
    let mut s = Session::start(who, tmp.path(), extra);
    let header = s.until_prompt();
    let live = !header.contains("The live tour is off");
    if !live && extra.is_empty() {
        drop(s.finish());
        return skip(&format!("the demo cannot mount here ({who:?})"));
    }
    if live {
        s.enter();
        s.until_prompt();
        s.enter();
        s.until_prompt(); // after the copy-up: the upper layer holds a file now
    }
    let pid = s.pid();
    let ns = mount_ns(pid);
    let (root, on_disk) = demo_root(&header);
    assert!(
        std::fs::symlink_metadata(inside(pid, &root))
            .unwrap()
            .is_dir()
    );
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), signal)
        .unwrap();
    let status = s.child.wait().unwrap();
    assert!(
        status.signal() == Some(signal.as_raw()) || status.code() == Some(128 + signal.as_raw()),
        "{status}"
    );
    wait_gone(pid);
    if on_disk && signal == rustix::process::Signal::KILL {
        // On disk, a SIGKILL cannot be caught: the next demo removes what is left.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        let (ok, out) = run_script(who, tmp.path(), extra);
        assert!(ok, "{out}");
        assert!(out.contains("removed 1 directory(ies) left in"), "{out}");
    }
    assert_nothing_left(tmp.path(), if live { ns.as_deref() } else { None });
}

#[test]
fn sigint_leaves_nothing_as_root() {
    killed_demo_leaves_nothing(As::Root, rustix::process::Signal::INT, &[]);
}

#[test]
fn sigkill_leaves_nothing_as_root() {
    killed_demo_leaves_nothing(As::Root, rustix::process::Signal::KILL, &[]);
}

#[test]
fn sigint_leaves_nothing_unprivileged() {
    killed_demo_leaves_nothing(As::Unprivileged, rustix::process::Signal::INT, &[]);
}

#[test]
fn sigkill_leaves_nothing_unprivileged() {
    killed_demo_leaves_nothing(As::Unprivileged, rustix::process::Signal::KILL, &[]);
}

#[test]
fn without_a_mount_the_stack_is_read_only_and_cleaned_up() {
    let tmp = tmpdir();
    let (ok, out) = run_script(As::Unprivileged, tmp.path(), &["--no-mount"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("The live tour is off: --no-mount was given"),
        "{out}"
    );
    assert!(out.contains("(not run)"));
    // The image's own whiteout and opaque directory are read from the layers.
    assert!(
        out.contains("-> '/etc/motd' does not exist in the merged view"),
        "{out}"
    );
    assert!(
        out.contains("hidden: cut off by an opaque directory at layer 1"),
        "{out}"
    );
    assert_nothing_left(tmp.path(), None);
}

#[test]
fn sigint_removes_the_on_disk_stack() {
    killed_demo_leaves_nothing(
        As::Unprivileged,
        rustix::process::Signal::INT,
        &["--no-mount"],
    );
}

#[test]
fn after_sigkill_the_next_demo_removes_the_on_disk_stack() {
    killed_demo_leaves_nothing(
        As::Unprivileged,
        rustix::process::Signal::KILL,
        &["--no-mount"],
    );
}

#[test]
fn without_a_terminal_demo_says_so_and_prints_the_scripted_tour() {
    let who = if is_root() {
        As::Root
    } else {
        As::Unprivileged
    };
    let tmp = tmpdir();
    let out = command(who, tmp.path(), &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no terminal") && stderr.contains("showing the scripted tour"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("== Step 1/7"));
    assert_nothing_left(tmp.path(), None);
}
