//! Hostile stacks against the read jail: the live watcher stays inside the layers, reads leave
//! every atime as found, a mount inside a layer shows what overlayfs shows (or an anomaly, never
//! the other filesystem's data), and a path deeper than PATH_MAX stops no command.
//! Each test builds the stack on real mounts (tmpfs, bind, overlay) and needs root.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Mount, bin, cannot_mount_overlay, is_root, run, skip};
use serde_json::Value;

/// A mount (tmpfs or bind) that is unmounted lazily when dropped.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(point: &Path, options: &str) -> Mounted {
        fs::create_dir_all(point).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(point)
            .status()
            .expect("mount")
            .success();
        assert!(ok, "mount -t tmpfs -o {options} {}", point.display());
        Mounted(point.to_path_buf())
    }

    fn bind(from: &Path, point: &Path) -> Mounted {
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(point)
            .status()
            .expect("mount")
            .success();
        assert!(ok, "mount --bind {} {}", from.display(), point.display());
        Mounted(point.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn setfattr(path: &Path, name: &str, value: &str) {
    let ok = Command::new("setfattr")
        .args(["-n", name, "-v", value])
        .arg(path)
        .status()
        .expect("setfattr")
        .success();
    assert!(ok, "setfattr {name} on {}", path.display());
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The number of inotify watches process `pid` holds, from `/proc/PID/fdinfo`.
fn inotify_watches(pid: u32) -> usize {
    let mut n = 0;
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        if fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("anon_inode:inotify")) {
            let info = fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            n += info
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
        }
    }
    n
}

/// `layerscope watch --json` on explicit layers, read line by line on a thread.
struct Watch {
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<Value>,
}

impl Watch {
    fn start(args: &[&OsStr]) -> Watch {
        let mut child = Command::new(bin())
            .arg("watch")
            .arg("--json")
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start watch");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let w = Watch { child, rx };
        w.until(|v| v["kind"] == "watching");
        w
    }

    /// Waits (at most 20 s) for a record matching `want`.
    fn until(&self, want: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(_) => {}
                Err(e) => panic!("no matching watch record: {e}"),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Item 1 of issue 9: a symlink to a host directory and a bind mount in the upper layer (and in
/// a watched lower) get no watch and are never walked; one watch per real directory, before and
/// after directories and escaping symlinks appear.
#[test]
fn the_watcher_holds_one_watch_per_real_directory_and_none_outside() {
    if !is_root() {
        return skip("needs root for a bind mount inside the upper layer");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    // A "host" tree outside the stack: 30 directories the watcher must never see.
    let host = t.join("host");
    for i in 0..30 {
        fs::create_dir_all(host.join(format!("h{i}/inner"))).expect("mkdir");
    }
    let (l, u) = (t.join("l"), t.join("u"));
    for d in ["l/ld", "u/d1/d2", "u/bind", "l/lbind"] {
        fs::create_dir_all(t.join(d)).expect("mkdir");
    }
    std::os::unix::fs::symlink(&host, u.join("share")).expect("symlink");
    std::os::unix::fs::symlink("/", u.join("d1/root")).expect("symlink");
    std::os::unix::fs::symlink(&host, l.join("lshare")).expect("symlink");
    let _b1 = Mounted::bind(&host, &u.join("bind"));
    let _b2 = Mounted::bind(&host, &l.join("lbind"));
    // Real directories: u, u/d1, u/d1/d2, u/bind (the one under the mount); l, l/ld, l/lbind.
    let w = Watch::start(&[
        os("--lowers"),
        os("--lowerdir"),
        l.as_os_str(),
        os("--upperdir"),
        u.as_os_str(),
    ]);
    let pid = w.child.id();
    assert_eq!(inotify_watches(pid), 7, "one watch per real directory");

    // A new directory gets its watch; a new escaping symlink none, and is reported as a symlink.
    fs::create_dir(u.join("d1/new")).expect("mkdir");
    w.until(|v| v["path"] == "/d1/new");
    std::os::unix::fs::symlink(&host, u.join("d1/escape")).expect("symlink");
    let ev = w.until(|v| v["path"] == "/d1/escape");
    assert_eq!(ev["type"], "symlink", "{ev}");
    // A directory moved in with a symlink inside: its own watch, nothing through the symlink.
    let outside = t.join("outside");
    fs::create_dir_all(outside.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink(&host, outside.join("sub/away")).expect("symlink");
    fs::rename(&outside, u.join("moved")).expect("rename");
    w.until(|v| v["path"] == "/moved/sub/away");
    assert_eq!(
        inotify_watches(pid),
        10,
        "d1/new, moved and moved/sub added"
    );
}

/// Every path under `root` (included). Reading the directories changes their atimes: call it
/// before the atimes are set.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        if fs::symlink_metadata(&p).expect("lstat").is_dir() {
            for e in fs::read_dir(&p).expect("read_dir").flatten() {
                todo.push(e.path());
            }
        }
        out.push(p);
    }
    out.sort();
    out
}

/// The atimes of `paths`, by `lstat` (which changes none).
fn atimes(paths: &[PathBuf]) -> Vec<(i64, i64)> {
    paths
        .iter()
        .map(|p| {
            let m = fs::symlink_metadata(p).expect("lstat");
            (m.atime(), m.atime_nsec())
        })
        .collect()
}

/// Item 2 of issue 9: on a `strictatime` tmpfs every read leaves every atime as found: listing,
/// lstat, readlink, xattrs, file contents, the watcher's snapshot and watches, lowers too.
#[test]
fn reads_leave_every_atime_as_found() {
    if !is_root() {
        return skip("needs root to mount a strictatime tmpfs");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path().join("fs");
    let _fs = Mounted::tmpfs(&t, "strictatime");
    let (l1, l2, u) = (t.join("l1"), t.join("l2"), t.join("u"));
    for d in [&l1, &l2, &u] {
        fs::create_dir_all(d.join("etc/sub")).expect("mkdir");
    }
    fs::write(l2.join("etc/motd"), "lower\n").expect("write");
    fs::write(l1.join("etc/sub/conf"), "conf\n").expect("write");
    fs::write(u.join("etc/motd"), "upper\n").expect("write");
    std::os::unix::fs::symlink("motd", l2.join("etc/link")).expect("symlink");
    std::os::unix::fs::symlink("../motd", u.join("etc/sub/up")).expect("symlink");
    setfattr(&l1.join("etc/sub/conf"), "user.note", "x");
    // A workdir whose index `-o index=on --workdir` reads (an entry named as the kernel names one).
    let work = t.join("w");
    fs::create_dir_all(work.join("index")).expect("mkdir");
    fs::write(
        work.join("index/00fb1d000100000000000000000000000000000000b20799007fe4135b"),
        "",
    )
    .expect("write");
    let paths = tree(&t);
    // Every atime a day in the past (what relatime would update too), symlinks included.
    let ok = Command::new("sh")
        .arg("-c")
        .arg("find \"$1\" -exec touch -h -a -d '2001-02-03 04:05:06' {} +")
        .arg("sh")
        .arg(&t)
        .status()
        .expect("touch")
        .success();
    assert!(ok);
    let before = atimes(&paths);
    let lower = format!("{}:{}", l1.display(), l2.display());
    let stack = [
        os("--lowerdir"),
        os(&lower),
        os("--upperdir"),
        u.as_os_str(),
    ];
    let with = |cmd: &str, rest: &[&str]| {
        let mut a: Vec<&OsStr> = vec![os(cmd)];
        a.extend_from_slice(&stack);
        a.extend(rest.iter().map(|s| os(s)));
        let (code, out, err) = run(&a);
        assert_eq!(code, 0, "{cmd} {rest:?}: {err}");
        out
    };
    with("ls", &["-R", "--json", "/"]);
    with("ls", &["-R", "/"]);
    assert_eq!(with("cat", &["/etc/link"]), b"upper\n");
    with("cat", &["/etc/sub/up"]);
    with("which", &["/etc/link"]);
    with("which", &["/etc/sub/up"]);
    with("diff", &[]);
    with("layers", &[]);
    let w = work.to_str().expect("UTF-8");
    with("ls", &["-R", "--workdir", w, "-o", "index=on", "/"]);
    {
        let w = Watch::start(&[
            os("--lowers"),
            os("--lowerdir"),
            os(&lower),
            os("--upperdir"),
            u.as_os_str(),
        ]);
        drop(w);
    }
    let after = atimes(&paths);
    assert_eq!(tree_len_unchanged(&paths), paths.len());
    let changed: Vec<_> = paths
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| b != a)
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(changed.is_empty(), "atimes changed: {changed:?}");
}

/// How many of `paths` still exist (nothing was removed or replaced).
fn tree_len_unchanged(paths: &[PathBuf]) -> usize {
    paths
        .iter()
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .count()
}

/// The fixture of issue 9 item 3: a tmpfs (mode 0700, opaque xattr) mounted on L1/mnt2, and
/// L2/mnt2/hidden_file, mounted as an overlay of L1:L2.
struct SubmountLab {
    _tmp: tempfile::TempDir,
    l1: PathBuf,
    l2: PathBuf,
    overlay: Mount,
    _sub: Mounted,
}

fn submount_lab() -> Option<SubmountLab> {
    if let Some(why) = cannot_mount_overlay() {
        skip(&why);
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path().to_path_buf();
    let (l1, l2) = (t.join("L1"), t.join("L2"));
    fs::create_dir_all(l1.join("mnt2")).expect("mkdir");
    fs::create_dir_all(l2.join("mnt2")).expect("mkdir");
    fs::write(l2.join("mnt2/hidden_file"), "vis\n").expect("write");
    let sub = Mounted::tmpfs(&l1.join("mnt2"), "mode=0700");
    setfattr(&l1.join("mnt2"), "trusted.overlay.opaque", "y");
    fs::write(l1.join("mnt2/on_the_tmpfs"), "other fs\n").expect("write");
    let overlay = Mount::new(
        &t.join("M"),
        &format!("lowerdir={}:{}", l1.display(), l2.display()),
    )
    .expect("mount overlay");
    Some(SubmountLab {
        _tmp: tmp,
        l1,
        l2,
        overlay,
        _sub: sub,
    })
}

/// Item 3 of issue 9: overlayfs reads L1/mnt2 under the tmpfs (not opaque, mode 0755), so
/// `/mnt2/hidden_file` exists; layerscope shows the same.
#[test]
fn a_mount_inside_a_layer_shows_what_overlayfs_shows() {
    let Some(lab) = submount_lab() else { return };
    let m = &lab.overlay.point;
    // The kernel's answer.
    assert_eq!(
        fs::read_to_string(m.join("mnt2/hidden_file")).expect("kernel"),
        "vis\n"
    );
    assert!(!m.join("mnt2/on_the_tmpfs").exists());
    let kernel_mode = fs::metadata(m.join("mnt2")).expect("stat").mode() & 0o7777;
    let (code, out, err) = run(&[os("cat"), m.as_os_str(), os("/mnt2/hidden_file")]);
    assert_eq!((code, out.as_slice()), (0, &b"vis\n"[..]), "{err}");
    let (code, out, err) = run(&[os("ls"), os("--json"), m.as_os_str(), os("/")]);
    assert_eq!(code, 0, "{err}");
    let mnt2 = lines(&out)
        .into_iter()
        .find(|v| v["path"] == "/mnt2")
        .expect("/mnt2 listed");
    assert_eq!(mnt2["mode"], format!("{kernel_mode:04o}"), "{mnt2}");
    assert!(mnt2.get("opaque").is_none_or(|o| o != true), "{mnt2}");
    assert_eq!(mnt2["merged"], serde_json::json!([0, 1]), "{mnt2}");
    // The whole tree, path for path, as find sees it on the kernel mount.
    let (code, out, err) = run(&[os("ls"), os("-R"), os("--json"), m.as_os_str(), os("/")]);
    assert_eq!(code, 0, "{err}");
    let mut ours: Vec<String> = lines(&out)
        .iter()
        .filter_map(|v| v["path"].as_str().map(str::to_string))
        .filter(|p| p != "/")
        .collect();
    ours.sort();
    let mut kernel: Vec<String> = walk_names(m);
    kernel.sort();
    assert_eq!(ours, kernel);
    let (code, out, _) = run(&[os("which"), m.as_os_str(), os("/mnt2/hidden_file")]);
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&out).contains(&lab.l2.display().to_string()));
}

/// Without the privilege to clone mounts (root without CAP_SYS_ADMIN), the mount point is an
/// anomaly naming it, and nothing of the tmpfs is reported; a warning says what is not
/// guaranteed.
#[test]
fn without_a_clone_a_mount_inside_a_layer_is_an_anomaly_never_its_data() {
    let Some(lab) = submount_lab() else { return };
    if Command::new("setpriv").arg("--version").output().is_err() {
        return skip("setpriv (util-linux) is not installed");
    }
    let lower = format!("{}:{}", lab.l1.display(), lab.l2.display());
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin"])
        .arg(bin())
        .args(["ls", "-R", "--json", "--lowerdir", &lower, "/"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("without a private read-only noatime clone"),
        "{err}"
    );
    let recs = lines(&out.stdout);
    let anomaly = recs
        .iter()
        .find(|v| v.get("anomaly").is_some())
        .expect("an anomaly");
    assert_eq!(anomaly["path"], "/mnt2", "{anomaly}");
    assert!(
        anomaly["anomaly"]
            .as_str()
            .unwrap_or("")
            .contains("mount point")
    );
    for v in &recs {
        let p = v["path"].as_str().unwrap_or("");
        assert_ne!(p, "/mnt2/on_the_tmpfs", "the tmpfs was read: {v}");
        if p == "/mnt2" && v.get("anomaly").is_none() {
            assert_ne!(v["mode"], "0700", "the tmpfs root's mode: {v}");
        }
    }
}

/// Every path under `root` (not `root` itself), as merged paths, like `find`.
fn walk_names(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(".")
        .arg("-mindepth")
        .arg("1")
        .current_dir(root)
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches('.').to_string())
        .collect()
}

/// Item 5 of issue 9: 4,000 nested directories (a path of 8,000 bytes, about twice PATH_MAX) beside
/// a directory of many files: every command works and `ls -R` lists what `find` finds on the
/// kernel mount.
#[test]
fn a_path_deeper_than_path_max_stops_no_command() {
    if let Some(why) = cannot_mount_overlay() {
        return skip(&why);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let (l1, l2, u, w) = (t.join("l1"), t.join("l2"), t.join("u"), t.join("w"));
    for d in [&l1, &l2, &u, &w] {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::create_dir(l1.join("many")).expect("mkdir");
    for i in 0..3000 {
        fs::write(l1.join(format!("many/f{i}")), "").expect("write");
    }
    // Built by descriptors: no path this long can be handed to the kernel.
    let mut dir = rustix::fs::open(
        &l1,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .expect("open");
    const DEPTH: usize = 4000;
    for _ in 0..DEPTH {
        rustix::fs::mkdirat(&dir, "d", rustix::fs::Mode::from_raw_mode(0o755)).expect("mkdirat");
        dir = rustix::fs::openat(
            &dir,
            "d",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("openat");
    }
    let leaf = rustix::fs::openat(
        &dir,
        "leaf",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CREATE,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .expect("create leaf");
    rustix::io::write(&leaf, b"deep\n").expect("write leaf");
    fs::write(l2.join("base"), "base\n").expect("write");
    fs::write(u.join("new"), "new\n").expect("write");
    let overlay = Mount::new(
        &t.join("m"),
        &format!(
            "lowerdir={}:{},upperdir={},workdir={}",
            l1.display(),
            l2.display(),
            u.display(),
            w.display()
        ),
    )
    .expect("mount overlay");
    let m = overlay.point.as_os_str();
    let deep = format!("{}/leaf", "/d".repeat(DEPTH));
    assert!(deep.len() > 4096, "longer than PATH_MAX");

    let (code, out, err) = run(&[os("ls"), os("-R"), m, os("/")]);
    assert_eq!(code, 0, "ls -R: {err}");
    let listed = String::from_utf8_lossy(&out).lines().count();
    let kernel = walk_names(&overlay.point).len();
    assert_eq!(
        listed,
        kernel + 1,
        "ls -R prints / too; find counts {kernel}"
    );
    assert!(kernel > DEPTH + 3000);

    let (code, out, err) = run(&[os("cat"), m, os(&deep)]);
    assert_eq!((code, out.as_slice()), (0, &b"deep\n"[..]), "cat: {err}");
    let (code, out, err) = run(&[os("which"), m, os(&deep)]);
    assert_eq!(code, 0, "which: {err}");
    assert!(String::from_utf8_lossy(&out).contains("leaf"));
    let (code, _, err) = run(&[os("layers"), m]);
    assert_eq!(code, 0, "layers: {err}");
    let (code, out, err) = run(&[os("diff"), m]);
    assert_eq!(code, 0, "diff: {err}");
    assert!(String::from_utf8_lossy(&out).contains("/new"));
}
