//! Hostile and broken engine stores, and stacks the kernel would refuse: layerscope must never
//! follow an engine's record outside the store, must refuse what `mount` refuses (checked
//! against a real mount attempt), and must say which file is broken.

mod common;

use std::path::Path;
use std::process::Command;

use common::stores::{fake_docker, write};
use common::{bin, skip};

/// Runs layerscope; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    common::run_text(Command::new(bin()).args(args))
}

/// Asserts a refusal: exit 2, nothing from outside on stdout, and every `needle` in stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let (code, out, err) = run(args);
    assert_eq!(
        code, 2,
        "{args:?} should be refused:\nstdout: {out}\nstderr: {err}"
    );
    assert!(
        !out.contains("LEAK"),
        "{args:?} printed data from outside the store: {out}"
    );
    for n in needles {
        assert!(err.contains(n), "{args:?}: stderr lacks {n:?}:\n{err}");
    }
}

/// A directory outside the store holding a layer (`<outside>/diff/leak.txt`) and the records an
/// attacker would point at.
fn outside(dir: &Path) -> std::path::PathBuf {
    let o = dir.join("outside");
    write(&o.join("diff/leak.txt"), "LEAK\n");
    write(&o.join("cache-id"), "cache0");
    o
}

// ---- Item 6: every ID read from an engine's files is one plain name. ----

#[test]
fn a_docker_mount_id_that_climbs_out_of_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let (_, cid) = fake_docker(&root, "[]");
    outside(dir.path());
    let mount_id = root
        .join("image/overlay2/layerdb/mounts")
        .join(&cid)
        .join("mount-id");
    // overlay2/../outside is <tmp>/docker/outside: climb one more.
    std::fs::write(&mount_id, "../../outside").unwrap();
    let r = root.to_str().unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:web", "/leak.txt"],
        &[
            mount_id.to_str().unwrap(),
            "mount-id '../../outside'",
            "not a plain name",
        ],
    );
    // `list` skips it with the same reason instead of listing a stack made of outside files.
    let (code, out, err) = run(&[
        "list",
        "--docker-root",
        r,
        "--podman-root",
        r,
        "--containerd-root",
        r,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("docker:web"), "{out}");
    assert!(
        err.contains("skipped docker container web") && err.contains("mount-id"),
        "{err}"
    );
}

#[test]
fn docker_init_id_parent_and_diff_ids_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let (image_id, cid) = fake_docker(&root, "[]");
    outside(dir.path());
    // `..` has no '/', so it passed the old init-id filter: overlay2/../diff is <root>/diff.
    write(&root.join("diff/leak.txt"), "LEAK\n");
    let mounts = root.join("image/overlay2/layerdb/mounts").join(&cid);
    std::fs::write(mounts.join("init-id"), "..").unwrap();
    let r = root.to_str().unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:web", "/leak.txt"],
        &[mounts.join("init-id").to_str().unwrap(), "init-id '..'"],
    );
    std::fs::write(mounts.join("init-id"), "rw-init").unwrap();
    // A parent chain ID that climbs to a layerdb entry of the attacker's.
    std::fs::write(mounts.join("parent"), "sha256:../../../../../outside").unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:web", "/leak.txt"],
        &[
            mounts.join("parent").to_str().unwrap(),
            "layer chain ID '../../../../../outside'",
        ],
    );
    // An image whose first diff ID (its first chain ID) climbs out of layerdb.
    let config = root
        .join("image/overlay2/imagedb/content/sha256")
        .join(&image_id);
    std::fs::write(
        &config,
        r#"{"rootfs":{"type":"layers","diff_ids":["sha256:../../../../../outside"]}}"#,
    )
    .unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:app:1", "/leak.txt"],
        &[config.to_str().unwrap(), "layer chain ID"],
    );
}

#[test]
fn docker_lower_files_and_short_links_must_stay_in_overlay2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    fake_docker(&root, "[]");
    outside(dir.path());
    let r = root.to_str().unwrap();
    let lower = root.join("overlay2/rw/lower");
    // A `lower` entry that is not `l/<name>`.
    std::fs::write(&lower, "l/../../../outside").unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:web", "/leak.txt"],
        &[
            lower.to_str().unwrap(),
            "lower layer link 'l/../../../outside'",
        ],
    );
    // A short link whose target leaves overlay2.
    std::fs::create_dir_all(root.join("overlay2/l")).unwrap();
    std::os::unix::fs::symlink("../../../outside/diff", root.join("overlay2/l/EVIL")).unwrap();
    std::fs::write(&lower, "l/EVIL").unwrap();
    refused(
        &["cat", "--docker-root", r, "docker:web", "/leak.txt"],
        &[
            root.join("overlay2/l/EVIL").to_str().unwrap(),
            "link target",
        ],
    );
}

#[test]
fn a_docker_container_id_that_climbs_out_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let (_, cid) = fake_docker(&root, "[]");
    // An attacker's layerdb "mounts" entry outside the store, reached through the ID.
    let evil = dir.path().join("evil");
    write(&evil.join("mount-id"), "rw");
    let config = root.join("containers").join(&cid).join("config.v2.json");
    std::fs::write(
        &config,
        r#"{"ID":"../../../../../evil","Name":"/web","Image":"","Driver":"overlay2"}"#,
    )
    .unwrap();
    let r = root.to_str().unwrap();
    refused(
        &["ls", "--docker-root", r, "docker:web"],
        &[
            config.to_str().unwrap(),
            "container ID '../../../../../evil'",
        ],
    );
}

#[test]
fn podman_image_and_layer_ids_are_plain_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let layer = "b".repeat(64);
    write(
        &root.join("overlay-layers/layers.json"),
        &format!(r#"[{{"id":"{layer}"}}]"#),
    );
    write(&root.join(format!("overlay/{layer}/diff/etc/motd")), "x");
    let key = format!("sha256:{}", "a".repeat(64));
    // The image ID climbs to a config of the attacker's (labels shown as the store's own).
    let images = root.join("overlay-images/images.json");
    write(
        &images,
        &format!(
            r#"[{{"id":"../../evil","names":["localhost/app:1"],"layer":"{layer}","big-data-names":["{key}"]}}]"#
        ),
    );
    write(
        &dir.path()
            .join("evil")
            .join(layerscope::stack::podman::big_data_file(&key)),
        r#"{"history":[{"created_by":"LEAK"}],"rootfs":{"diff_ids":["sha256:1"]}}"#,
    );
    let r = root.to_str().unwrap();
    refused(
        &["layers", "--podman-root", r, "podman:app:1"],
        &[images.to_str().unwrap(), "image ID '../../evil'"],
    );
    // A parent pointer that is not a plain name.
    write(
        &images,
        &format!(
            r#"[{{"id":"{}","names":["localhost/app:1"],"layer":"{layer}"}}]"#,
            "a".repeat(64)
        ),
    );
    let layers = root.join("overlay-layers/layers.json");
    write(
        &layers,
        &format!(r#"[{{"id":"{layer}","parent":"../../x"}}]"#),
    );
    refused(
        &["layers", "--podman-root", r, "podman:app:1"],
        &[layers.to_str().unwrap(), "parent layer ID '../../x'"],
    );
}

// ---- Item 9: a broken record is named when the name it held is asked for. ----

#[test]
fn a_truncated_config_v2_json_is_named_when_its_container_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let (_, cid) = fake_docker(&root, "[]");
    let config = root.join("containers").join(&cid).join("config.v2.json");
    let text = std::fs::read(&config).unwrap();
    std::fs::write(&config, &text[..text.len() / 2]).unwrap();
    let r = root.to_str().unwrap();
    refused(
        &["ls", "--docker-root", r, "docker:web"],
        &[
            "no Docker container or image named 'web'",
            config.to_str().unwrap(),
            "not the JSON",
        ],
    );
}

// ---- Item 7: what the kernel refuses to mount, layerscope refuses, in the kernel's words. ----

#[test]
fn stacks_the_kernel_refuses_to_mount_are_refused_with_its_reason() {
    if let Some(why) = common::cannot_mount_overlay() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["a/sub", "b", "u/sub", "w"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    write(&d.join("a/f"), "a");
    std::os::unix::fs::symlink(d.join("a"), d.join("alink")).unwrap();
    let p = |s: &str| d.join(s).to_str().unwrap().to_string();
    // (lowerdir, upperdir, -o, what layerscope must say when the kernel refuses; "" = accepts)
    let cases: Vec<(String, Option<String>, &str, &str)> = vec![
        (
            p("a"),
            Some(p("u")),
            "metacopy=on,redirect_dir=off",
            "conflicting options: metacopy=on,redirect_dir=",
        ),
        (
            p("a"),
            Some(p("u")),
            "metacopy=on,redirect_dir=follow",
            "conflicting options: metacopy=on,redirect_dir=follow",
        ),
        (
            format!("{}:{}", p("a"), p("b")),
            None,
            "metacopy=on,redirect_dir=off",
            "",
        ),
        (
            p("a"),
            Some(p("u")),
            "userxattr,redirect_dir=off",
            "conflicting options: userxattr,redirect_dir=",
        ),
        (
            p("a"),
            Some(p("u")),
            "nfs_export=on,index=off",
            "conflicting options: nfs_export=on,index=off",
        ),
        (
            p("a"),
            Some(p("u")),
            "nfs_export=on,metacopy=on",
            "conflicting options: nfs_export=on,metacopy=on",
        ),
        (
            format!("{}:{}", p("a"), p("a")),
            None,
            "",
            "conflicting lowerdir path",
        ),
        (
            format!("{}:{}", p("a"), p("alink")),
            None,
            "",
            "conflicting lowerdir path",
        ),
        (p("a"), Some(p("a")), "", "conflicting lowerdir path"),
        (
            format!("{}:{}", p("a"), p("a/sub")),
            None,
            "",
            "overlapping lowerdir path",
        ),
        (
            format!("{}:{}", p("a/sub"), p("a")),
            None,
            "",
            "overlapping lowerdir path",
        ),
        (p("u/sub"), Some(p("u")), "", "overlapping lowerdir path"),
        // An upper inside a lower is allowed.
        (p("a"), Some(p("a/sub")), "", ""),
    ];
    for (i, (lower, upper, opts, needle)) in cases.iter().enumerate() {
        let mut mount_opts = format!("lowerdir={lower}");
        if let Some(u) = upper {
            mount_opts.push_str(&format!(",upperdir={u},workdir={}", p("w")));
        }
        if !opts.is_empty() {
            mount_opts.push_str(&format!(",{opts}"));
        }
        let point = d.join(format!("m{i}"));
        let kernel_accepts = common::Mount::new(&point, &mount_opts).is_ok();
        assert_eq!(
            kernel_accepts,
            needle.is_empty(),
            "the kernel {} mount -o {mount_opts}",
            if kernel_accepts { "accepts" } else { "refuses" }
        );
        let mut args = vec!["ls", "--lowerdir", lower.as_str()];
        if let Some(u) = upper {
            args.extend(["--upperdir", u.as_str()]);
        }
        if !opts.is_empty() {
            args.extend(["-o", opts]);
        }
        args.push("/");
        let (code, out, err) = run(&args);
        if needle.is_empty() {
            assert_eq!(
                code, 0,
                "{args:?}: the kernel mounts this, so must we: {err}"
            );
            assert!(out.contains("/f"), "{out}");
        } else {
            assert_eq!(
                code, 2,
                "{args:?}: the kernel refuses this, so must we: {out}"
            );
            assert!(
                err.contains(needle) && err.contains("kernel"),
                "{args:?}: {err}"
            );
        }
        let _ = Command::new("rm").arg("-rf").arg(d.join("w/work")).status();
    }
}

#[test]
fn list_json_keeps_the_exact_bytes_of_a_non_utf8_mount_point() {
    use base64::Engine as _;
    use std::os::unix::ffi::OsStrExt;
    if let Some(why) = common::cannot_mount_overlay() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = std::fs::canonicalize(dir.path()).unwrap();
    for sub in ["l1", "l2"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let point = d.join(std::ffi::OsStr::from_bytes(b"m\xff\xfe"));
    let _m = common::Mount::new(
        &point,
        &format!(
            "lowerdir={}:{}",
            d.join("l1").display(),
            d.join("l2").display()
        ),
    )
    .unwrap();
    let empty = d.join("no-engines");
    let e = empty.to_str().unwrap();
    let (code, out, err) = run(&[
        "list",
        "--json",
        "--docker-root",
        e,
        "--podman-root",
        e,
        "--containerd-root",
        e,
    ]);
    assert_eq!(code, 0, "{err}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let want = point.as_os_str().as_bytes();
    let line: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| {
            v["mountpoint_b64"].as_str().map(|s| b64.decode(s).unwrap()) == Some(want.to_vec())
        })
        .unwrap_or_else(|| panic!("no line for the mount:\n{out}"));
    for key in ["stack_b64", "name_b64"] {
        let got = line[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}: {line}"));
        assert_eq!(b64.decode(got).unwrap(), want, "{key}");
    }
}

// ---- Item 9: containerd's meta.db read while containerd writes it. ----

/// A containerd of our own (its root, state and socket in a temporary directory), killed when
/// dropped.
struct PrivateContainerd {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl PrivateContainerd {
    fn start() -> Result<PrivateContainerd, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{0}/c.sock\"\n[ttrpc]\n  address = \"{0}/c.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            d.display()
        );
        std::fs::write(d.join("config.toml"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(d.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start containerd: {e}"))?;
        let me = PrivateContainerd { child, dir };
        for _ in 0..100 {
            if me.ctr(&["version"]).is_ok() {
                return Ok(me);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(format!(
            "containerd did not answer: {}",
            std::fs::read_to_string(me.dir.path().join("log")).unwrap_or_default()
        ))
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("c.sock"))
            .args(["--namespace", "es"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn meta_db_read_while_containerd_writes_it_is_never_torn() {
    use layerscope::stack::bolt::read_tree_counted;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    if !common::is_root() {
        return skip("needs root to run a containerd");
    }
    if Command::new("containerd")
        .arg("--version")
        .output()
        .is_err()
        || Command::new("ctr").arg("--version").output().is_err()
    {
        return skip("containerd and ctr are not installed");
    }
    let ctd = match PrivateContainerd::start() {
        Ok(c) => c,
        Err(why) => return skip(&why),
    };
    ctd.ctr(&["snapshots", "prepare", "stable"]).unwrap();
    let meta_db = ctd.root().join("io.containerd.metadata.v1.bolt/meta.db");
    let snap_db = ctd
        .root()
        .join("io.containerd.snapshotter.v1.overlayfs/metadata.db");
    let snaps = |tree: &layerscope::stack::bolt::Bucket| {
        tree.at(&[b"v1", b"es", b"snapshots", b"overlayfs"])
            .cloned()
            .unwrap_or_default()
    };
    let stable = snaps(&read_tree_counted(&meta_db).unwrap().0).buckets[&b"stable"[..]].clone();
    let stable_backend = stable.get(b"name").unwrap().to_vec();

    // Two writers make and remove snapshots as fast as ctr goes.
    let stop = AtomicBool::new(false);
    let writes = AtomicUsize::new(0);
    let (mut reads, mut retried, mut busy) = (0usize, 0usize, 0usize);
    std::thread::scope(|s| {
        for w in 0..2 {
            let (ctd, stop, writes) = (&ctd, &stop, &writes);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}-{i}");
                    if ctd.ctr(&["snapshots", "prepare", &key]).is_ok() {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    if ctd.ctr(&["snapshots", "rm", &key]).is_ok() {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            });
        }
        // The writers stop however the reads end (a failed assertion too).
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < until {
            for db in [&meta_db, &snap_db] {
                match read_tree_counted(db) {
                    Ok((tree, n)) => {
                        reads += 1;
                        retried += n;
                        if db == &meta_db {
                            // Every record whole, the untouched one exactly as it was.
                            let all = snaps(&tree);
                            assert_eq!(all.buckets.get(&b"stable"[..]), Some(&stable));
                            for (key, rec) in &all.buckets {
                                let name = rec.get(b"name").unwrap_or_else(|| {
                                    panic!("snapshot {key:?} without its backend name")
                                });
                                assert!(name.ends_with(key), "{key:?} -> {name:?}");
                            }
                        } else {
                            let all = tree.at(&[b"v1", b"snapshots"]).cloned().unwrap_or_default();
                            assert!(all.buckets.contains_key(&stable_backend));
                            for (key, rec) in &all.buckets {
                                assert!(rec.uvarint(b"id").is_some(), "{key:?} has no id");
                            }
                        }
                    }
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            e.contains("try again"),
                            "a busy read must say try again: {e}"
                        );
                        busy += 1;
                    }
                }
            }
        }
    });
    let writes = writes.into_inner();
    eprintln!(
        "{reads} whole reads ({retried} torn reads retried, {busy} 'try again') during {writes} writes"
    );
    assert!(
        writes >= 20 && reads >= 20,
        "{writes} writes, {reads} reads: too few to mean anything"
    );
}
