//! Where the bytes go (`waste`, `check`, `diff --against`, `cat --layer`, `layers` bytes),
//! checked exactly on images built by the real Docker daemon and on explicit layers made
//! through a real overlay mount. The expected figures come from what each test wrote, and the
//! visible bytes also from the kernel's own mount of the same layers.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::docker::{Cleanup, sh};
use common::{bin, skip};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;

/// Runs layerscope in `cwd`; returns (code, stdout, stderr).
fn run_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    common::run_text(Command::new(bin()).args(args).current_dir(cwd))
}

fn ok_in(cwd: &Path, args: &[&str]) -> String {
    let (code, out, err) = run_in(cwd, args);
    assert_eq!(code, 0, "layerscope {args:?} failed: {err}");
    out
}

fn records(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `waste --json`: the summary, the layer records, the path records (by path).
struct Waste {
    summary: Value,
    layers: Vec<Value>,
    paths: std::collections::BTreeMap<String, Value>,
    copyups: Vec<Value>,
}

fn waste(cwd: &Path, stack: &[&str]) -> Waste {
    let mut args = vec!["waste", "--json", "--top", "100000"];
    args.extend_from_slice(stack);
    let recs = records(&ok_in(cwd, &args));
    assert_eq!(recs[0]["kind"], "summary", "the summary comes first");
    let of = |k: &'static str| recs.iter().filter(move |r| r["kind"] == k).cloned();
    Waste {
        summary: recs[0].clone(),
        layers: of("layer").collect(),
        paths: of("path")
            .map(|p| (p["path"].as_str().unwrap().to_string(), p))
            .collect(),
        copyups: of("copy-up").collect(),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Whether Docker with overlay2 is here for us.
fn docker_ready() -> Result<(), String> {
    common::docker::docker_root().map(|_| ())
}

/// A tarball of a tiny rootfs (static busybox, its applet links, a passwd) and the bytes of
/// its regular files.
fn rootfs_tar(dir: &Path) -> Option<(PathBuf, u64)> {
    let root = common::docker::busybox_rootfs(
        dir,
        &[
            "sh", "head", "rm", "mkdir", "ln", "chmod", "echo", "sleep", "cat",
        ],
    )?;
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    let bytes = std::fs::metadata(root.join("bin/busybox")).unwrap().len()
        + std::fs::metadata(root.join("etc/passwd")).unwrap().len();
    Some((common::docker::tar_of(&root, dir), bytes))
}

fn docker_build(dir: &Path, tag: &str, dockerfile: &str, cleanup: &mut Cleanup) {
    let ctx = dir.join(tag.replace([':', '/'], "-"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    cleanup.push(&["docker", "rmi", "-f", tag]);
    sh(Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0"));
}

/// The layer directories of a stack, top-down, from `layers --json`.
fn layer_dirs(cwd: &Path, stack: &str) -> Vec<PathBuf> {
    records(&ok_in(cwd, &["layers", "--json", stack]))
        .iter()
        .map(|l| PathBuf::from(l["path"].as_str().unwrap()))
        .collect()
}

/// The kernel's answer for the visible bytes: a read-only mount of the layers (all as lowers,
/// so nothing is written), and the sizes of its regular files, each inode once.
fn kernel_visible_bytes(lowers: &[PathBuf], extra: &str, mnt: &Path) -> u64 {
    let lowerdir: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let m = common::Mount::new(mnt, &format!("ro,lowerdir={}{extra}", lowerdir.join(":")))
        .expect("mount the layers");
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut todo = vec![m.point.clone()];
    while let Some(p) = todo.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            if md.is_dir() {
                todo.push(e.path());
            } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

/// The value of xattr `attr` on `name` in directory `dir`, read without following symlinks.
fn xattr(dir: &Path, name: &[u8], attr: &str) -> Option<Vec<u8>> {
    use std::os::fd::AsFd;
    let d = std::fs::File::open(dir).ok()?;
    layerscope::fsio::get_xattr(d.as_fd(), name, attr)
        .ok()
        .flatten()
}

/// The layer record whose source directory is `dir`.
fn layer_of<'a>(w: &'a Waste, dir: &Path) -> &'a Value {
    w.layers
        .iter()
        .find(|l| Path::new(l["source"].as_str().unwrap()) == dir)
        .unwrap_or_else(|| panic!("no layer {}", dir.display()))
}

#[test]
#[allow(clippy::too_many_lines)]
fn docker_builds_waste_check_and_diff_against_have_exact_answers() {
    if let Err(why) = docker_ready() {
        return skip(&why);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = std::process::id();
    let mut cleanup = Cleanup::default();
    let Some((tar, base_bytes)) = rootfs_tar(dir) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let base = format!("waste-test-{id}-base:1");
    let img = format!("waste-test-{id}:1");
    let img2 = format!("waste-test-{id}:2");
    cleanup.push(&["docker", "rmi", "-f", &base]);
    sh(Command::new("docker").arg("import").arg(&tar).arg(&base));
    // Each RUN is one layer (the legacy builder, so no BuildKit is needed).
    docker_build(
        dir,
        &img,
        &format!(
            "FROM {base}\n\
             RUN head -c 6291456 /dev/urandom > /big\n\
             RUN rm /big\n\
             RUN mkdir /r && head -c 1000 /dev/urandom > /r/f\n\
             RUN head -c 2000 /dev/urandom > /r/f\n\
             RUN head -c 3000 /dev/urandom > /r/f\n\
             RUN head -c 4096 /dev/urandom > /h1 && ln /h1 /h2 && ln /h1 /h3\n\
             RUN mkdir -p /tree/a/b && head -c 700 /dev/urandom > /tree/a/b/x && head -c 300 /dev/urandom > /tree/y\n\
             RUN rm -rf /tree && mkdir /tree && head -c 11 /dev/urandom > /tree/new\n"
        ),
        &mut cleanup,
    );
    let stack = format!("docker:{img}");
    let dirs = layer_dirs(dir, &stack);
    assert_eq!(dirs.len(), 9, "8 RUN layers and the base: {dirs:?}");
    // Top-down: the opaque tree, the tree, the links, /r/f three times, rm, big, base.
    let (l_opaque, l_tree, l_links, l_f3, l_f2, l_f1, l_rm, l_big, l_base) = (
        &dirs[0], &dirs[1], &dirs[2], &dirs[3], &dirs[4], &dirs[5], &dirs[6], &dirs[7], &dirs[8],
    );

    let stored = base_bytes + 6 * MIB + 1000 + 2000 + 3000 + 4096 + 700 + 300 + 11;
    let wasted = 6 * MIB + 1000 + 2000 + 700 + 300;
    let w = waste(dir, &[&stack]);
    let s = &w.summary;
    assert_eq!(u(&s["stored_bytes"]), stored, "{s}");
    assert_eq!(u(&s["wasted_bytes"]), wasted, "{s}");
    assert_eq!(u(&s["visible_bytes"]), stored - wasted, "{s}");
    #[allow(clippy::cast_precision_loss)]
    let eff = (stored - wasted) as f64 / stored as f64;
    assert!(
        (s["efficiency"].as_f64().unwrap() - eff).abs() < 1e-12,
        "{s}"
    );
    // The kernel agrees on what is visible.
    let mnt = dir.join("mnt");
    assert_eq!(
        kernel_visible_bytes(&dirs, "", &mnt),
        stored - wasted,
        "the kernel's mount shows other bytes"
    );

    // The file added then removed: wasted once, by the layer that removes it.
    let big = &w.paths["/big"];
    assert_eq!(u(&big["wasted_bytes"]), 6 * MIB);
    assert_eq!(u(&big["copies"]), 1);
    assert_eq!(big["hidden"][0]["reason"], "whited-out");
    assert_eq!(u(&layer_of(&w, l_big)["hidden_bytes"]), 6 * MIB);
    assert_eq!(u(&layer_of(&w, l_rm)["hides_below_bytes"]), 6 * MIB);
    assert_eq!(u(&layer_of(&w, l_rm)["stored_bytes"]), 0);
    // One path rewritten in three layers: two copies wasted, never the one shown.
    let f = &w.paths["/r/f"];
    assert_eq!(u(&f["wasted_bytes"]), 3000);
    assert_eq!(u(&f["copies"]), 2);
    assert_eq!(u(&layer_of(&w, l_f3)["visible_bytes"]), 3000);
    assert_eq!(u(&layer_of(&w, l_f3)["hides_below_bytes"]), 3000);
    assert_eq!(u(&layer_of(&w, l_f2)["hidden_bytes"]), 2000);
    assert_eq!(u(&layer_of(&w, l_f1)["hidden_bytes"]), 1000);
    // Three hard links: one file of 4096 bytes, all visible.
    let links = layer_of(&w, l_links);
    assert_eq!((u(&links["stored_bytes"]), u(&links["files"])), (4096, 1));
    assert_eq!(u(&links["visible_bytes"]), 4096);
    assert!(!w.paths.contains_key("/h1") && !w.paths.contains_key("/h2"));
    // The directory removed and made again in one RUN replaces the whole tree.
    assert_eq!(u(&layer_of(&w, l_tree)["hidden_bytes"]), 1000);
    assert_eq!(u(&layer_of(&w, l_opaque)["hides_below_bytes"]), 1000);
    // With Docker's native overlay diff the new /tree is an opaque directory; with the naive
    // diff, a whiteout per old entry. Which one is on disk decides the reason.
    let opaque = xattr(l_opaque, b"tree", "trusted.overlay.opaque").as_deref() == Some(b"y");
    let want = if opaque { "opaque" } else { "whited-out" };
    for p in ["/tree/a/b/x", "/tree/y"] {
        assert_eq!(w.paths[p]["hidden"][0]["reason"], want, "{p}");
    }
    assert_eq!(u(&layer_of(&w, l_base)["stored_bytes"]), base_bytes);
    assert_eq!(w.paths.len(), 4, "{:?}", w.paths.keys());

    // `layers` counts each inode once: 4096 for three links, not 12288.
    let layers = records(&ok_in(dir, &["layers", "--json", &stack]));
    let bytes: Vec<u64> = layers.iter().map(|l| u(&l["bytes"])).collect();
    assert_eq!(
        bytes,
        vec![11, 1000, 4096, 3000, 2000, 1000, 0, 6 * MIB, base_bytes]
    );

    // `cat --layer`: the bytes a later layer deleted or overwrote.
    let big_data = std::fs::read(l_big.join("big")).unwrap();
    let out = Command::new(bin())
        .args(["cat", "--layer", "7", &stack, "/big"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == big_data,
        "cat --layer 7 /big gives the deleted file"
    );
    let out = Command::new(bin())
        .args(["cat", "--layer", "5", &stack, "/r/f"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, std::fs::read(l_f1.join("r/f")).unwrap());
    let (code, _, err) = run_in(dir, &["cat", "--layer", "0", &stack, "/big"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("layer 0 has no version of '/big'"), "{err}");
    let (code, _, err) = run_in(dir, &["cat", "--layer", "6", &stack, "/big"]);
    assert_eq!(code, 2);
    assert!(err.contains("whiteout"), "{err}");

    // `check`: each rule passes and fails on the figures above, with exit codes 0 and 3.
    #[allow(clippy::cast_precision_loss)]
    let pct = 100.0 * wasted as f64 / stored as f64;
    let cases: Vec<(Vec<String>, i32)> = vec![
        (vec!["--max-wasted".into(), format!("{wasted}")], 0),
        (vec!["--max-wasted".into(), format!("{}", wasted - 1)], 3),
        (vec!["--max-wasted".into(), "7MB".into()], 0),
        (vec!["--max-wasted".into(), "6MiB".into()], 3),
        (
            vec!["--max-wasted-percent".into(), format!("{}", pct + 0.01)],
            0,
        ),
        (
            vec!["--max-wasted-percent".into(), format!("{}", pct - 0.01)],
            3,
        ),
        (
            vec!["--min-efficiency".into(), format!("{}", eff - 0.0001)],
            0,
        ),
        (
            vec!["--min-efficiency".into(), format!("{}", eff + 0.0001)],
            3,
        ),
        // The floor: ratio rules pass while wasted bytes are under it, not when above.
        (
            vec![
                "--min-efficiency".into(),
                "0.99".into(),
                "--floor".into(),
                "7MB".into(),
            ],
            0,
        ),
        (
            vec![
                "--min-efficiency".into(),
                "0.99".into(),
                "--floor".into(),
                "6MB".into(),
            ],
            3,
        ),
    ];
    for (flags, want) in &cases {
        let mut args: Vec<&str> = vec!["check", &stack];
        args.extend(flags.iter().map(String::as_str));
        let (code, out, err) = run_in(dir, &args);
        assert_eq!(code, *want, "{args:?}: {out}{err}");
        let verdict = if *want == 0 { "pass" } else { "fail" };
        assert!(out.ends_with(&format!("verdict: {verdict}\n")), "{out}");
        assert_eq!(
            out.lines().count(),
            3,
            "rules line, one rule, verdict: {out}"
        );
    }
    let (_, out, _) = run_in(dir, &["check", &stack, "--max-wasted", "6MiB"]);
    assert!(
        out.contains(&format!(
            "max-wasted (highestWastedBytes): 6.00 MiB ({wasted} bytes), limit <= 6.29 MB (6291456 bytes): fail"
        )),
        "{out}"
    );
    // A .dive-ci in the current directory is used when no rule is given; --config names one.
    let ci = dir.join("ci");
    std::fs::create_dir_all(&ci).unwrap();
    std::fs::write(
        ci.join(".dive-ci"),
        "rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: 6MiB\n  highestUserWastedPercent: disabled\n",
    )
    .unwrap();
    let (code, out, _) = run_in(&ci, &["check", &stack]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("rules: from "), "{out}");
    assert!(out.contains("highestWastedBytes"), "{out}");
    let (code, out, _) = run_in(&ci, &["check", &stack, "--max-wasted", "7MB"]);
    assert_eq!(code, 0, "a flag replaces ./.dive-ci: {out}");
    std::fs::write(
        dir.join("pass.yaml"),
        "rules:\n  lowestEfficiency: 0.1\n  highestWastedBytes: 7MB\n  highestUserWastedPercent: 0.9\n",
    )
    .unwrap();
    let (code, out, _) = run_in(dir, &["check", &stack, "--config", "pass.yaml", "--json"]);
    assert_eq!(code, 0, "{out}");
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "{out}");
    assert_eq!(recs[3]["verdict"], "pass");
    assert!(recs[..3].iter().all(|r| r["result"] == "pass"), "{out}");
    assert_eq!(u(&recs[1]["figure"]), wasted);
    // Bad input: exit code 2, and the message names the problem.
    std::fs::write(dir.join("bad.yaml"), "rules:\n  lowestEficiency: 0.9\n").unwrap();
    for (args, needle) in [
        (
            vec!["check", &stack, "--config", "bad.yaml"],
            "unknown rule `lowestEficiency`",
        ),
        (
            vec!["check", &stack, "--min-efficiency", "90"],
            "not a ratio from 0 to 1",
        ),
        (
            vec!["check", &stack, "--max-wasted", "lots"],
            "'lots' is not a byte count",
        ),
        (
            vec!["check", &stack, "--config", "missing.yaml"],
            "missing.yaml",
        ),
    ] {
        let (code, _, err) = run_in(dir, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    // `diff --against` between two builds: the one layer added, with sizes.
    docker_build(
        dir,
        &img2,
        &format!(
            "FROM {img}\nRUN rm /h2 && head -c 500 /dev/urandom > /new && head -c 10 /dev/urandom > /r/f\n"
        ),
        &mut cleanup,
    );
    let stack2 = format!("docker:{img2}");
    let out = ok_in(dir, &["diff", &stack2, "--against", &stack]);
    assert_eq!(
        out,
        "D        -4096 /h2\nA         +500 /new\nC           +0 /r\nC        -2990 /r/f\n\
         total: 1 added, 2 changed, 1 deleted, -6586 bytes (-6.43 KiB)\n"
    );
    // The same changes as `diff` of the one new layer (the same rules).
    let layer0: Vec<String> = ok_in(dir, &["diff", &stack2])
        .lines()
        .map(String::from)
        .collect();
    let against: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("total:"))
        .map(|l| {
            let mut p = l.split_whitespace();
            let k = p.next().unwrap();
            p.next();
            format!("{k} {}", p.next().unwrap())
        })
        .collect();
    assert_eq!(against, layer0);
    let recs = records(&ok_in(
        dir,
        &["diff", &stack2, "--against", &stack, "--json"],
    ));
    assert_eq!(recs[1]["change"], "A");
    assert_eq!(recs[1]["size_change"], 500);
    assert_eq!(recs[4]["kind"], "total");
    assert_eq!(recs[4]["size_change"], -6586);
    let back = ok_in(dir, &["diff", &stack, "--against", &stack2]);
    assert_eq!(
        back,
        "A        +4096 /h2\nD         -500 /new\nC           +0 /r\nC        +2990 /r/f\n\
         total: 1 added, 2 changed, 1 deleted, +6586 bytes (+6.43 KiB)\n"
    );

    // A container: copy-ups that change no byte are found, and reclaimable.
    let name = format!("waste-test-{id}");
    cleanup.push(&["docker", "rm", "-f", &name]);
    sh(Command::new("docker").args(["run", "-d", "--name", &name, &img, "sleep", "3600"]));
    sh(Command::new("docker").args([
        "exec",
        &name,
        "sh",
        "-c",
        "chmod 600 /r/f && echo more >> /etc/passwd && chmod 700 /bin/busybox",
    ]));
    let cstack = format!("docker:{name}");
    let c = waste(dir, &[&cstack]);
    let mut noop: Vec<(String, u64)> = c
        .copyups
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), u(&r["bytes"])))
        .collect();
    noop.sort();
    let busybox = base_bytes - 26; // the passwd written above is 26 bytes
    assert_eq!(
        noop,
        vec![
            ("/bin/busybox".to_string(), busybox),
            ("/r/f".to_string(), 3000)
        ]
    );
    assert_eq!(u(&c.summary["noop_copyups"]), 2);
    assert_eq!(u(&c.summary["noop_copyup_bytes"]), busybox + 3000);
    // The copied-up versions below are wasted too: busybox, /r/f and the old passwd.
    let cw = u(&c.summary["wasted_bytes"]);
    assert_eq!(cw, wasted + busybox + 3000 + 26);
}

/// A metacopy copy-up made by the kernel (chmod through a mount with metacopy=on): the upper
/// file holds no data, so nothing is wasted and the upper layer stores 0 bytes.
#[test]
fn a_metacopy_file_stores_nothing_and_wastes_nothing() {
    if let Some(why) = common::cannot_mount_overlay() {
        return skip(&why);
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (lower, upper, work) = (d.join("lower"), d.join("upper"), d.join("work"));
    for p in [&lower, &upper, &work] {
        std::fs::create_dir_all(p).unwrap();
    }
    let data: Vec<u8> = (0..3 * MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(lower.join("data.bin"), &data).unwrap();
    {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},metacopy=on,redirect_dir=on",
            lower.display(),
            upper.display(),
            work.display()
        );
        let m = match common::Mount::new(&d.join("m"), &opts) {
            Ok(m) => m,
            Err(e) => return skip(&format!("the kernel refuses metacopy=on: {e}")),
        };
        sh(Command::new("chmod")
            .arg("600")
            .arg(m.point.join("data.bin")));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let has_metacopy = xattr(&upper, b"data.bin", "trusted.overlay.metacopy").is_some();
    assert!(has_metacopy, "the kernel made no metacopy copy-up");
    let (l, u_) = (lower.display().to_string(), upper.display().to_string());
    let stack = [
        "--lowerdir",
        &l,
        "--upperdir",
        &u_,
        "-o",
        "metacopy=on,redirect_dir=on",
    ];
    let w = waste(d, &stack);
    assert_eq!(u(&w.summary["stored_bytes"]), 3 * MIB, "{}", w.summary);
    assert_eq!(u(&w.summary["visible_bytes"]), 3 * MIB);
    assert_eq!(u(&w.summary["wasted_bytes"]), 0);
    assert_eq!(
        u(&w.layers[0]["stored_bytes"]),
        0,
        "the metacopy file holds no data"
    );
    assert!(w.paths.is_empty() && w.copyups.is_empty());
    assert_eq!(
        kernel_visible_bytes(
            &[upper.clone(), lower.clone()],
            ",metacopy=on,redirect_dir=on",
            &d.join("m2")
        ),
        3 * MIB
    );
    let mut args = vec!["layers", "--json"];
    args.extend_from_slice(&stack);
    let layers = records(&ok_in(d, &args));
    assert_eq!(u(&layers[0]["bytes"]), 0, "layers: the upper holds no data");
    assert_eq!(u(&layers[1]["bytes"]), 3 * MIB);
    // `cat --layer` of the metacopy version says where its data is.
    let mut args = vec!["cat", "--layer", "0"];
    args.extend_from_slice(&stack);
    args.push("/data.bin");
    let (code, _, err) = run_in(d, &args);
    assert_eq!(code, 2);
    assert!(
        err.contains("metacopy file: its data is in layer 1"),
        "{err}"
    );
}

/// `check` on a stack that stores nothing: efficiency 1.0, nothing wasted, every rule passes
/// (dive gives NaN here). No root needed.
#[test]
fn an_empty_stack_is_fully_efficient_and_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("l");
    std::fs::create_dir_all(l.join("empty-dir")).unwrap();
    let l = l.display().to_string();
    let w = waste(tmp.path(), &["--lowerdir", &l]);
    assert_eq!(w.summary["efficiency"], 1.0);
    assert_eq!(u(&w.summary["stored_bytes"]), 0);
    let (code, out, err) = run_in(tmp.path(), &["check", "--lowerdir", &l]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rules: dive's defaults"), "{out}");
    assert!(
        out.contains("min-efficiency (lowestEfficiency): 1.0000"),
        "{out}"
    );
}
