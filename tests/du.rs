//! `layerscope du` against the engines themselves: the owners of every layer directory match
//! `docker inspect`, `podman inspect` and the mounts `ctr snapshots mounts` prints; a planted
//! orphan directory is found with its bytes; the bytes `du` says removing an image frees are
//! the bytes `docker rmi` frees (the same accounting); `k8s:` names resolve. A hand-made store
//! covers what the engines will not produce on demand: directories gone while referenced,
//! unreferenced records, hard links across layers, a mount inside a layer, and the totals
//! against `du -sb`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::docker::{Cleanup, docker_root, sh, works};
use common::skip;

/// A tarball of a tiny rootfs: static busybox and a file unique to this test run, so that no
/// other image on the host shares its layer.
fn rootfs_tar(dir: &Path, marker: &str) -> Option<PathBuf> {
    let root = common::docker::busybox_rootfs(dir, &["sh", "ls", "cat", "echo", "rm", "dd"])?;
    std::fs::write(root.join("etc/marker"), marker).unwrap();
    Some(common::docker::tar_of(&root, dir))
}

/// `layerscope du --json` (with extra arguments), as parsed records.
fn du_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(common::bin())
        .arg("du")
        .arg("--json")
        .args(args)
        .output()
        .expect("run layerscope");
    assert!(
        out.status.success(),
        "du failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn layers_of<'a>(
    records: &'a [serde_json::Value],
    store_engine: &str,
) -> Vec<&'a serde_json::Value> {
    records
        .iter()
        .filter(|r| r["kind"] == "layer" && r["engine"] == store_engine)
        .collect()
}

fn owners(r: &serde_json::Value) -> BTreeSet<String> {
    r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

fn owner<'a>(records: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    records
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no owner {name} in du's output"))
}

/// The layer directories of an `inspect`'s `GraphDriver.Data` (`UpperDir`, `LowerDir`): the
/// parents of the `diff` directories.
fn graph_dirs(json: &str) -> BTreeSet<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let mut out = BTreeSet::new();
    for key in ["UpperDir", "LowerDir"] {
        if let Some(s) = v[key].as_str() {
            for p in s.split(':').filter(|p| !p.is_empty()) {
                out.insert(Path::new(p).parent().unwrap().to_path_buf());
            }
        }
    }
    out
}

/// Checks, for every layer directory of `engine`'s stores, that each of our owners is listed
/// exactly when the engine's own answer says it uses the directory.
fn assert_owners_match(
    records: &[serde_json::Value],
    engine: &str,
    expected: &BTreeMap<String, BTreeSet<PathBuf>>,
) {
    let layers = layers_of(records, engine);
    for (name, dirs) in expected {
        for d in dirs {
            let r = layers
                .iter()
                .find(|r| Path::new(r["path"].as_str().unwrap()) == d)
                .unwrap_or_else(|| panic!("{name} uses {}, which du does not list", d.display()));
            assert!(
                owners(r).contains(name),
                "{} should list {name}: {r}",
                d.display()
            );
        }
    }
    for r in &layers {
        let path = PathBuf::from(r["path"].as_str().unwrap());
        for name in owners(r) {
            if let Some(dirs) = expected.get(&name) {
                assert!(
                    dirs.contains(&path),
                    "du says {name} uses {}, the engine does not",
                    path.display()
                );
            }
        }
        assert_eq!(
            r["shared_by"].as_u64().unwrap() as usize,
            owners(r).len(),
            "{r}"
        );
        assert_eq!(r["orphan"].as_bool().unwrap(), owners(r).is_empty(), "{r}");
    }
}

/// Bytes as `du -sb` counts them over `dirs` (each inode once), without `merged/` and `work/`
/// at the top of each.
fn du_sb(dirs: &[PathBuf]) -> u64 {
    let mut cmd = Command::new("du");
    cmd.args(["-scb", "--exclude=*/merged", "--exclude=*/work"])
        .args(dirs);
    let out = sh(&mut cmd);
    out.lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

/// Builds `<prefix>-base:1` (imported) and `<prefix>-app:1` (one RUN adding 300 KiB).
fn docker_images(dir: &Path, prefix: &str, cleanup: &mut Cleanup) -> Option<(String, String)> {
    let tar = rootfs_tar(dir, prefix)?;
    let base = format!("{prefix}-base:1");
    let app = format!("{prefix}-app:1");
    sh(Command::new("docker").arg("import").arg(&tar).arg(&base));
    cleanup.push(&["docker", "rmi", "-f", &base]);
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN dd if=/dev/zero of=/big bs=1024 count=300 && echo {prefix} > /id\n"
        ),
    )
    .unwrap();
    sh(Command::new("docker")
        .args(["build", "-q", "-t", &app])
        .arg(dir)
        .env("DOCKER_BUILDKIT", "0"));
    cleanup.push(&["docker", "rmi", "-f", &app]);
    Some((base, app))
}

#[test]
fn docker_owners_match_inspect_and_rmi_frees_the_unique_bytes() {
    let root = match docker_root() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("du-test-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    let Some((base, app)) = docker_images(dir.path(), &prefix, &mut cleanup) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let ctr = format!("{prefix}-c");
    sh(Command::new("docker").args(["create", "--name", &ctr, &app, "/bin/sh"]));
    cleanup.push(&["docker", "rm", "-f", &ctr]);
    let root_s = root.to_str().unwrap();
    let records = du_json(&["--docker-root", root_s]);
    let inspect = |what: &str| -> BTreeSet<PathBuf> {
        graph_dirs(&sh(Command::new("docker").args([
            "inspect",
            "--format",
            "{{json .GraphDriver.Data}}",
            what,
        ])))
    };
    let mut expected = BTreeMap::new();
    for (name, what) in [(&base, &base), (&app, &app), (&ctr, &ctr)] {
        expected.insert(format!("docker:{name}"), inspect(what));
    }
    assert_eq!(
        expected[&format!("docker:{ctr}")].len(),
        4,
        "rw, init, 2 image layers"
    );
    assert_owners_match(&records, "docker", &expected);
    // The container's own two layers are all it frees; the images free nothing while it
    // stands on them.
    let c = owner(&records, &format!("docker:{ctr}"));
    assert_eq!(c["kind"], "container");
    let app_rec = owner(&records, &format!("docker:{app}"));
    assert_eq!(
        app_rec["unique_bytes"], 0,
        "the container uses every app layer"
    );
    // Without the container, the app's own layer is what `docker rmi` frees.
    sh(Command::new("docker").args(["rm", &ctr]));
    let records = du_json(&["--docker-root", root_s]);
    let app_rec = owner(&records, &format!("docker:{app}"));
    let unique = app_rec["unique_bytes"].as_u64().unwrap();
    assert!(
        unique >= 300 * 1024,
        "the 300 KiB layer is the app's own: {app_rec}"
    );
    let app_dirs: Vec<(PathBuf, u64)> = layers_of(&records, "docker")
        .into_iter()
        .filter(|r| owners(r).contains(&format!("docker:{app}")))
        .map(|r| {
            (
                PathBuf::from(r["path"].as_str().unwrap()),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(app_dirs.len(), 2);
    // The same accounting as du's own, measured by `du -sb` before the removal.
    let measured: u64 = app_dirs
        .iter()
        .map(|(p, _)| du_sb(std::slice::from_ref(p)))
        .sum();
    assert_eq!(
        measured,
        app_dirs.iter().map(|(_, b)| b).sum::<u64>(),
        "bytes as du -sb counts them"
    );
    sh(Command::new("docker").args(["rmi", &app]));
    let freed: u64 = app_dirs
        .iter()
        .filter(|(p, _)| !p.exists())
        .map(|(_, b)| *b)
        .sum();
    assert_eq!(freed, unique, "docker rmi freed what du said it would");
}

#[test]
fn a_planted_orphan_is_found_with_its_bytes_and_scripted_not_removed() {
    let root = match docker_root() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let id = format!("du-test-orphan-{}", std::process::id());
    let planted = root.join("overlay2").join(&id);
    std::fs::create_dir_all(planted.join("diff/etc")).unwrap();
    std::fs::create_dir_all(planted.join("merged")).unwrap();
    std::fs::write(planted.join("diff/etc/big"), vec![7u8; 12_345]).unwrap();
    std::fs::write(planted.join("merged/not-counted"), vec![1u8; 50_000]).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Remove(planted.clone());
    let root_s = root.to_str().unwrap();
    let records = du_json(&["--docker-root", root_s]);
    let r = records
        .iter()
        .find(|r| r["kind"] == "layer" && r["id"] == id.as_str())
        .expect("the planted directory is listed");
    assert_eq!(r["orphan"], true);
    assert_eq!(r["orphan_reason"], "unrecorded");
    assert_eq!(r["owners"].as_array().unwrap().len(), 0);
    assert_eq!(
        r["bytes"].as_u64().unwrap(),
        du_sb(std::slice::from_ref(&planted))
    );
    assert!(
        r["bytes"].as_u64().unwrap() < 50_000,
        "merged/ is not counted"
    );
    assert!(r["age_seconds"].as_u64().unwrap() < 600);
    let out = Command::new(common::bin())
        .args(["du", "--cleanup-script", "--docker-root", root_s])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains("stopped 'dockerd'"), "{script}");
    assert!(
        script.contains(&format!("remove '{}' ", planted.display())),
        "{script}"
    );
    assert!(
        planted.join("diff/etc/big").exists(),
        "layerscope removed nothing"
    );
    // While dockerd runs the script refuses to remove anything.
    let run = Command::new("sh").arg("-c").arg(&*script).output().unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("dockerd is running"));
    assert!(planted.exists());
}

/// The socket of dockerd's own containerd, or the system one.
fn containerd_socket() -> Option<String> {
    [
        "/var/run/docker/containerd/containerd.sock",
        "/run/containerd/containerd.sock",
    ]
    .into_iter()
    .find(|s| Path::new(s).exists())
    .map(str::to_string)
}

/// The layer directories of a `ctr snapshots mounts` command: upperdir and lowerdirs, parents
/// of their `fs` directories.
fn mount_dirs(cmd: &str) -> Vec<PathBuf> {
    let opts = cmd
        .split_whitespace()
        .skip_while(|w| *w != "-o")
        .nth(1)
        .unwrap_or("");
    let mut out = Vec::new();
    for o in opts.split(',') {
        if let Some(u) = o.strip_prefix("upperdir=") {
            out.push(Path::new(u).parent().unwrap().to_path_buf());
        }
    }
    for o in opts.split(',') {
        if let Some(l) = o.strip_prefix("lowerdir=") {
            for p in l.split(':') {
                out.push(Path::new(p).parent().unwrap().to_path_buf());
            }
        }
    }
    out
}

#[test]
fn containerd_owners_match_ctr_and_k8s_names_resolve() {
    if let Err(why) = docker_root() {
        return skip(&format!("this test imports a `docker save` tarball: {why}"));
    }
    let Some(sock) = containerd_socket() else {
        return skip("no containerd socket (neither dockerd's nor the system's)");
    };
    if !works(Command::new("ctr").arg("--version")) {
        return skip("no ctr client");
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("du-test-ctr-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    let Some((_, app)) = docker_images(dir.path(), &prefix, &mut cleanup) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let saved = dir.path().join("image.tar");
    sh(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(&app));
    let ns = prefix.clone();
    let ctr = |args: &[&str]| -> String {
        sh(Command::new("ctr")
            .args(["-a", &sock, "-n", &ns])
            .args(args))
    };
    cleanup.push(&["ctr", "-a", &sock, "namespaces", "rm", &ns]);
    ctr(&["images", "import", saved.to_str().unwrap()]);
    let full = format!("docker.io/library/{app}");
    cleanup.push(&[
        "ctr", "-a", &sock, "-n", &ns, "images", "rm", "--sync", &full,
    ]);
    // A pod: its sandbox (pod labels only) and one container, as the CRI plugin labels them.
    let pod = format!("web-{}", std::process::id());
    let label = |k: &str, v: &str| format!("{k}={v}");
    for (id, container) in [("sandbox", None), ("app", Some("nginx"))] {
        let mut args = vec![
            "containers".to_string(),
            "create".to_string(),
            "--label".to_string(),
            label("io.kubernetes.pod.namespace", "prod"),
            "--label".to_string(),
            label("io.kubernetes.pod.name", &pod),
        ];
        if let Some(c) = container {
            args.push("--label".into());
            args.push(label("io.kubernetes.container.name", c));
        }
        args.push(full.clone());
        args.push(format!("{prefix}-{id}"));
        ctr(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cleanup.push(&[
            "ctr",
            "-a",
            &sock,
            "-n",
            &ns,
            "containers",
            "rm",
            &format!("{prefix}-{id}"),
        ]);
    }
    let mnt = dir.path().join("mnt");
    let app_key = format!("{prefix}-app");
    let app_dirs = mount_dirs(&ctr(&[
        "snapshots",
        "mounts",
        mnt.to_str().unwrap(),
        &app_key,
    ]));
    let sandbox_dirs = mount_dirs(&ctr(&[
        "snapshots",
        "mounts",
        mnt.to_str().unwrap(),
        &format!("{prefix}-sandbox"),
    ]));
    assert_eq!(app_dirs.len(), 3, "upper and two image layers");
    // A loose snapshot over the image's top layer.
    let top = ctr(&["snapshots", "ls"])
        .lines()
        .find(|l| l.starts_with(&app_key))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let loose = format!("{prefix}-loose");
    ctr(&["snapshots", "prepare", &loose, &top]);
    cleanup.push(&["ctr", "-a", &sock, "-n", &ns, "snapshots", "rm", &loose]);
    let loose_dirs = mount_dirs(&ctr(&[
        "snapshots",
        "mounts",
        mnt.to_str().unwrap(),
        &loose,
    ]));
    let records = du_json(&[]);
    let mut expected = BTreeMap::new();
    expected.insert(
        format!("k8s:prod/{pod}/nginx"),
        app_dirs.iter().cloned().collect::<BTreeSet<_>>(),
    );
    expected.insert(
        format!("k8s:prod/{pod}"),
        sandbox_dirs.iter().cloned().collect(),
    );
    expected.insert(
        format!("containerd:{ns}/{full}"),
        app_dirs[1..].iter().cloned().collect(),
    );
    expected.insert(
        format!("containerd:{ns}/{loose}"),
        loose_dirs.iter().cloned().collect(),
    );
    assert_owners_match(&records, "containerd", &expected);
    let nginx = owner(&records, &format!("k8s:prod/{pod}/nginx"));
    assert_eq!(nginx["kind"], "container");
    assert_eq!(nginx["layers"], 3);
    // `k8s:` names a stack: the container's layers, as ctr mounts them.
    let out = sh(Command::new(common::bin()).args([
        "layers",
        "--json",
        &format!("k8s:prod/{pod}/nginx"),
    ]));
    let paths: Vec<PathBuf> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["path"].as_str().map(PathBuf::from))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(paths, app_dirs);
    // `list` names the pod.
    let list = sh(Command::new(common::bin()).arg("list"));
    assert!(
        list.lines()
            .any(|l| l.contains(&format!("(k8s:prod/{pod}/nginx)"))),
        "{list}"
    );
    let err = Command::new(common::bin())
        .args(["layers", &format!("k8s:prod/{pod}/nope")])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains(&format!("k8s:prod/{pod}/nginx")));
}

#[test]
fn podman_owners_match_podman_inspect() {
    if !common::is_root() {
        return skip("needs root for podman's rootful store");
    }
    if !works(Command::new("podman").arg("--version")) {
        return skip("no podman");
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("du-test-p-{}", std::process::id());
    let Some(tar) = rootfs_tar(dir.path(), &prefix) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let mut cleanup = Cleanup::default();
    let image = format!("localhost/{prefix}:1");
    sh(Command::new("podman").arg("import").arg(&tar).arg(&image));
    cleanup.push(&["podman", "rmi", "-f", &image]);
    let c = format!("{prefix}-c");
    sh(Command::new("podman").args(["create", "--name", &c, &image, "/bin/sh"]));
    cleanup.push(&["podman", "rm", "-f", &c]);
    let inspect =
        |args: &[&str]| -> BTreeSet<PathBuf> { graph_dirs(&sh(Command::new("podman").args(args))) };
    let mut expected = BTreeMap::new();
    expected.insert(
        format!("podman:{image}"),
        inspect(&[
            "image",
            "inspect",
            "--format",
            "{{json .GraphDriver.Data}}",
            &image,
        ]),
    );
    expected.insert(
        format!("podman:{c}"),
        inspect(&["inspect", "--format", "{{json .GraphDriver.Data}}", &c]),
    );
    let records = du_json(&[]);
    assert_owners_match(&records, "podman", &expected);
    let o = owner(&records, &format!("podman:{c}"));
    let img = owner(&records, &format!("podman:{image}"));
    assert_eq!(
        img["unique_bytes"], 0,
        "the container stands on the image's layer"
    );
    assert!(o["unique_bytes"].as_u64().unwrap() > 0);
}

// ---- A hand-made Docker data-root: the cases the engine will not produce on demand. ----

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[test]
fn a_hand_made_store_reconciles_with_du_and_reports_both_kinds_of_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let sha = root.join("image/overlay2/layerdb/sha256");
    let ov = root.join("overlay2");
    // One image of one layer (chain = diff id), and a container over it.
    let diff = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let image_id = "aaaa000000000000000000000000000000000000000000000000000000000000";
    let cid = "cccc000000000000000000000000000000000000000000000000000000000000";
    write(
        &root
            .join("image/overlay2/imagedb/content/sha256")
            .join(image_id),
        format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["{diff}"]}},"history":[{{}}]}}"#)
            .as_bytes(),
    );
    write(
        &root.join("image/overlay2/repositories.json"),
        format!(r#"{{"Repositories":{{"app":{{"app:1":"sha256:{image_id}"}}}}}}"#).as_bytes(),
    );
    write(&sha.join(&diff[7..]).join("cache-id"), b"layer1");
    write(&ov.join("layer1/diff/bin/tool"), &[1u8; 4000]);
    write(&ov.join("layer1/link"), b"L1");
    // A hard link inside one layer and one across two layers: each inode counts once.
    std::fs::hard_link(
        ov.join("layer1/diff/bin/tool"),
        ov.join("layer1/diff/bin/tool2"),
    )
    .unwrap();
    write(
        &root.join("containers").join(cid).join("config.v2.json"),
        format!(
            r#"{{"ID":"{cid}","Name":"/web","Image":"sha256:{image_id}","Driver":"overlay2"}}"#
        )
        .as_bytes(),
    );
    let mounts = root.join("image/overlay2/layerdb/mounts").join(cid);
    write(&mounts.join("mount-id"), b"rw1");
    write(&mounts.join("init-id"), b"rw1-init");
    write(&mounts.join("parent"), diff.as_bytes());
    write(&ov.join("rw1/diff/etc/conf"), &[2u8; 700]);
    write(&ov.join("rw1/work/work/x"), &[3u8; 9999]);
    write(&ov.join("rw1/merged/y"), &[3u8; 9999]);
    std::fs::create_dir_all(ov.join("rw1-init/diff")).unwrap();
    std::fs::create_dir_all(ov.join("l")).unwrap();
    std::os::unix::fs::symlink("../layer1/diff", ov.join("l/L1")).unwrap();
    // Left behind: a directory nothing names, holding a link to layer1's file.
    write(&ov.join("left/diff/data"), &[4u8; 3000]);
    std::fs::hard_link(ov.join("layer1/diff/bin/tool"), ov.join("left/diff/tool")).unwrap();
    // A mount record whose container is gone: its directory is recorded but unused.
    let stale = root.join("image/overlay2/layerdb/mounts/dddd");
    write(&stale.join("mount-id"), b"stale");
    write(&ov.join("stale/diff/s"), &[5u8; 100]);
    // A layer record whose directory is gone.
    write(
        &sha.join("2222222222222222222222222222222222222222222222222222222222222222/cache-id"),
        b"gone",
    );
    let records = du_json(&["--docker-root", root.to_str().unwrap()]);
    let docker: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["store"] == format!("docker {}", root.display()).as_str())
        .collect();
    let layer = |id: &str| {
        *docker
            .iter()
            .find(|r| r["kind"] == "layer" && r["id"] == id)
            .unwrap_or_else(|| panic!("no layer {id}"))
    };
    assert_eq!(
        owners(layer("layer1")),
        ["docker:app:1", "docker:web"].map(String::from).into()
    );
    assert_eq!(owners(layer("rw1")), ["docker:web".to_string()].into());
    assert_eq!(layer("left")["orphan_reason"], "unrecorded");
    assert_eq!(layer("stale")["orphan_reason"], "unreferenced");
    assert!(
        docker.iter().all(|r| r["id"] != "l"),
        "l/ is not a layer directory"
    );
    let missing: Vec<&&serde_json::Value> =
        docker.iter().filter(|r| r["kind"] == "missing").collect();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["path"], ov.join("gone").to_str().unwrap());
    // Per directory and in total, the bytes are `du -sb`'s (merged/ and work/ left out; the
    // link shared by layer1 and left counted once in the total).
    for id in ["layer1", "rw1", "rw1-init", "left", "stale"] {
        assert_eq!(
            layer(id)["bytes"].as_u64().unwrap(),
            du_sb(&[ov.join(id)]),
            "{id}"
        );
    }
    let store = docker.iter().find(|r| r["kind"] == "store").unwrap();
    let all: Vec<PathBuf> = ["layer1", "rw1", "rw1-init", "left", "stale"]
        .iter()
        .map(|id| ov.join(id))
        .collect();
    assert_eq!(store["bytes"].as_u64().unwrap(), du_sb(&all));
    let web = docker.iter().find(|r| r["name"] == "docker:web").unwrap();
    assert_eq!(
        web["unique_bytes"].as_u64().unwrap(),
        du_sb(&[ov.join("rw1")]) + du_sb(&[ov.join("rw1-init")])
    );
    // The cleanup script removes only the unrecorded directory; the stale record stays.
    let out = sh(Command::new(common::bin()).args([
        "du",
        "--cleanup-script",
        "--docker-root",
        root.to_str().unwrap(),
    ]));
    assert!(
        out.contains(&format!("remove '{}' ", ov.join("left").display())),
        "{out}"
    );
    assert!(
        !out.contains(&format!("remove '{}' ", ov.join("stale").display())),
        "{out}"
    );
    assert!(out.contains("layerdb/mounts/dddd"), "{out}");
}

#[test]
fn a_mount_inside_a_layer_is_not_crossed_and_marks_it_in_use() {
    if let Some(why) = common::cannot_mount_overlay() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let ov = root.join("overlay2");
    write(&ov.join("orph/diff/a"), &[1u8; 1000]);
    std::fs::create_dir_all(ov.join("orph/diff/mnt")).unwrap();
    sh(Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(ov.join("orph/diff/mnt")));
    let _m = common::Mount {
        point: ov.join("orph/diff/mnt"),
    };
    std::fs::write(ov.join("orph/diff/mnt/big"), vec![0u8; 100_000]).unwrap();
    let records = du_json(&["--docker-root", root.to_str().unwrap()]);
    let r = records
        .iter()
        .find(|r| r["kind"] == "layer" && r["id"] == "orph")
        .unwrap();
    // Nothing of the tmpfs is counted; what the layer's own filesystem stores under the mount
    // point is (layers are read through a clone without submounts, as overlayfs reads them).
    // `du -sb` over a non-recursive bind mount of the layer sees exactly that.
    let under = dir.path().join("under");
    std::fs::create_dir_all(&under).unwrap();
    sh(Command::new("mount")
        .arg("--bind")
        .arg(ov.join("orph"))
        .arg(&under));
    let _u = common::Mount {
        point: under.clone(),
    };
    let stored = du_sb(std::slice::from_ref(&under));
    let dux = sh(Command::new("du").arg("-sbx").arg(ov.join("orph")));
    let dux: u64 = dux.split_whitespace().next().unwrap().parse().unwrap();
    assert!(stored < dux + 100_000, "the bind mount carries no tmpfs");
    assert_eq!(
        r["bytes"].as_u64().unwrap(),
        stored,
        "the tmpfs is not counted: {r}"
    );
    assert_eq!(r["mounted"], true);
    let out = sh(Command::new(common::bin()).args([
        "du",
        "--cleanup-script",
        "--docker-root",
        root.to_str().unwrap(),
    ]));
    assert!(
        !out.contains(&format!("remove '{}'", ov.join("orph").display())),
        "{out}"
    );
    assert!(out.contains("kept, a mount uses it"), "{out}");
}

/// A hand-made containers/storage graphroot as CRI-O leaves it: a pod's infra container and one
/// of its containers (named by the metadata CRI-O writes), a layer nothing uses, and a directory
/// no record names. The cleanup script, run for real (no podman, buildah or crio runs here),
/// removes only that directory.
#[test]
fn crio_pods_are_named_and_the_cleanup_script_removes_only_true_orphans() {
    if !common::is_root() {
        return skip("needs root: the script refuses to run otherwise");
    }
    for daemon in ["podman", "buildah", "crio"] {
        if works(Command::new("pgrep").args(["-x", daemon])) {
            return skip(&format!("{daemon} is running, so the script would refuse"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let ov = root.join("overlay");
    let (base, infra_l, app_l, loose) = ("l0base", "l1infra", "l2app", "l3loose");
    write(
        &root.join("overlay-layers/layers.json"),
        format!(
            r#"[{{"id":"{base}"}},{{"id":"{infra_l}","parent":"{base}"}},
                {{"id":"{app_l}","parent":"{base}"}},{{"id":"{loose}"}}]"#
        )
        .as_bytes(),
    );
    write(
        &root.join("overlay-images/images.json"),
        format!(r#"[{{"id":"i1","names":["registry.k8s.io/pause:3.9"],"layer":"{base}"}}]"#)
            .as_bytes(),
    );
    let meta = |m: &str| serde_json::to_string(m).unwrap();
    write(
        &root.join("overlay-containers/containers.json"),
        format!(
            r#"[{{"id":"c-infra","names":["k8s_POD_web-0_prod_u_0"],"image":"i1","layer":"{infra_l}",
                 "metadata":{}}},
                {{"id":"c-app","names":["k8s_nginx_web-0_prod_u_0"],"image":"i1","layer":"{app_l}",
                 "metadata":{}}}]"#,
            meta(r#"{"pod":true,"pod-name":"web-0","pod-id":"c-infra","name":"k8s_POD_web-0_prod_u_0","metadata-name":"web-0","namespace":"prod","uid":"u","created-at":1}"#),
            meta(r#"{"pod-name":"web-0","pod-id":"c-infra","name":"k8s_nginx_web-0_prod_u_0","metadata-name":"nginx","created-at":2}"#),
        )
        .as_bytes(),
    );
    for l in [base, infra_l, app_l, loose] {
        write(&ov.join(l).join("diff/f"), l.as_bytes());
    }
    write(&ov.join("strayorphan/diff/data"), &[9u8; 5000]);
    let root_s = root.to_str().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let args = [
        "--podman-root",
        root_s,
        "--docker-root",
        empty.to_str().unwrap(),
        "--containerd-root",
        empty.to_str().unwrap(),
    ];
    let records = du_json(&args);
    let layer = |id: &str| {
        records
            .iter()
            .find(|r| r["kind"] == "layer" && r["id"] == id)
            .unwrap_or_else(|| panic!("no layer {id}"))
    };
    assert_eq!(
        owners(layer(base)),
        [
            "k8s:prod/web-0",
            "k8s:prod/web-0/nginx",
            "podman:registry.k8s.io/pause:3.9"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        owners(layer(app_l)),
        ["k8s:prod/web-0/nginx".to_string()].into()
    );
    assert_eq!(layer(loose)["orphan_reason"], "unreferenced");
    assert_eq!(layer("strayorphan")["orphan_reason"], "unrecorded");
    // `list` and `k8s:` names.
    let mut list_args = vec!["list"];
    list_args.extend_from_slice(&args);
    let list = sh(Command::new(common::bin()).args(&list_args));
    assert!(
        list.contains("podman:k8s_nginx_web-0_prod_u_0 (k8s:prod/web-0/nginx)"),
        "{list}"
    );
    let mut cat = vec!["cat"];
    cat.extend_from_slice(&args);
    cat.extend_from_slice(&["k8s:prod/web-0/nginx", "/f"]);
    assert_eq!(sh(Command::new(common::bin()).args(&cat)), app_l);
    // The script, run: the unrecorded directory goes, every recorded one stays.
    let mut script_args = vec!["du", "--cleanup-script"];
    script_args.extend_from_slice(&args);
    let script = sh(Command::new(common::bin()).args(&script_args));
    assert!(
        script.contains("stopped 'podman' 'buildah' 'crio'"),
        "{script}"
    );
    let ran = sh(Command::new("sh").arg("-c").arg(&script));
    assert!(ran.contains("removed"), "{ran}");
    assert!(!ov.join("strayorphan").exists());
    for l in [base, infra_l, app_l, loose] {
        assert!(ov.join(l).join("diff/f").exists(), "{l} kept");
    }
}

/// A prune running while `du` reads: layer directories appear and vanish under it. Every run
/// succeeds, its JSON is whole, its total is the sum of what it listed, and the directories
/// that stay are measured exactly.
#[test]
fn a_store_changing_under_du_is_read_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let ov = root.join("overlay2");
    write(&ov.join("stays/diff/f"), &[1u8; 777]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (ov, stop) = (ov.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let d = ov.join(format!("churn{}", n % 7));
                if d.exists() {
                    let _ = std::fs::remove_dir_all(&d);
                } else {
                    for k in 0..20 {
                        let _ = std::fs::create_dir_all(d.join(format!("diff/d{k}")));
                        let _ = std::fs::write(d.join(format!("diff/d{k}/f")), [2u8; 100]);
                    }
                }
                n += 1;
            }
        })
    };
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = empty.to_str().unwrap();
    for _ in 0..25 {
        let records = du_json(&[
            "--docker-root",
            root.to_str().unwrap(),
            "--podman-root",
            e,
            "--containerd-root",
            e,
        ]);
        let layers: Vec<&serde_json::Value> =
            records.iter().filter(|r| r["kind"] == "layer").collect();
        let stays = layers.iter().find(|r| r["id"] == "stays").expect("stays");
        assert_eq!(
            stays["bytes"].as_u64().unwrap(),
            du_sb(std::slice::from_ref(&ov.join("stays")))
        );
        let total = records.iter().find(|r| r["kind"] == "total").unwrap();
        assert_eq!(
            total["bytes"].as_u64().unwrap(),
            layers
                .iter()
                .map(|r| r["bytes"].as_u64().unwrap())
                .sum::<u64>()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}
