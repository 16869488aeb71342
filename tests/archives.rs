//! Images where they travel: `docker save` archives, OCI layouts made by skopeo, OCI archives
//! made by podman, checked against the same image in the real Docker daemon's store: every
//! merged entry (type, mode, owner, size, target) and every file's bytes are the same. Then the
//! hostile cases, on archives written by hand: each a clear error or a note, never a panic.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use common::docker::{Cleanup, docker_root, sh, works};
use common::oci::{layout, sha256, tar};
use common::{bin, skip};

fn ls_run(args: &[&str]) -> (i32, String, String) {
    common::run_text(Command::new(bin()).args(args))
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = ls_run(args);
    assert_eq!(code, 0, "layerscope {args:?} failed: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    out
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One merged entry as compared: type, permission bits, owner, size (files), symlink target.
type View = BTreeMap<Vec<u8>, String>;

fn view(stack: &str) -> View {
    let mut v = View::new();
    for o in json_lines(&ok(&["ls", "-R", "--json", stack])) {
        assert!(o.get("anomaly").is_none(), "{stack}: an anomaly {o}");
        let path = layerscope::report::get_bytes(&o, "path").unwrap();
        let kind = o["type"].as_str().unwrap();
        let size = if kind == "file" {
            o["size"].to_string()
        } else {
            "-".into()
        };
        let target = layerscope::report::get_bytes(&o, "target")
            .map_or("-".into(), |t| String::from_utf8_lossy(&t).into_owned());
        v.insert(
            path,
            format!(
                "{kind} {} {}:{} {size} {target}",
                o["mode"].as_str().unwrap(),
                o["uid"],
                o["gid"]
            ),
        );
    }
    v
}

/// The bytes of every regular file of `stack`, read with `cat`.
fn contents(stack: &str, of: &View) -> BTreeMap<Vec<u8>, Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    of.iter()
        .filter(|(_, d)| d.starts_with("file "))
        .map(|(path, _)| {
            let (code, out, err) = common::run(&[
                "cat".as_ref(),
                stack.as_ref(),
                std::ffi::OsStr::from_bytes(path),
            ]);
            assert_eq!(
                code,
                0,
                "cat {stack} {}: {err}",
                String::from_utf8_lossy(path)
            );
            (path.clone(), out)
        })
        .collect()
}

fn assert_same(ours: &View, theirs: &View, what: &str) {
    let mut report = String::new();
    for (k, v) in theirs {
        match ours.get(k) {
            None => report.push_str(&format!("  missing {}: {v}\n", String::from_utf8_lossy(k))),
            Some(o) if o != v => report.push_str(&format!(
                "  differs {}: archive {o} / daemon {v}\n",
                String::from_utf8_lossy(k)
            )),
            _ => {}
        }
    }
    for (k, v) in ours {
        if !theirs.contains_key(k) {
            report.push_str(&format!("  extra {}: {v}\n", String::from_utf8_lossy(k)));
        }
    }
    assert!(
        report.is_empty(),
        "{what} differs from the daemon's image:\n{report}"
    );
}

/// An image built on the daemon: a busybox base, then a whiteout, an opaque directory, a hard
/// link, a symlink, a device node, a fifo, a setuid file, a name that is not UTF-8, and a
/// copy-up of the hard-linked file (which breaks the link, as overlay does).
struct Built {
    dir: tempfile::TempDir,
    tag: String,
    archive: PathBuf,
    cleanup: Cleanup,
}

fn build() -> Option<Built> {
    if let Err(why) = docker_root() {
        skip(&why);
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = common::docker::busybox_rootfs(dir.path(), &[]) else {
        skip("no static busybox to build an image from (apt install busybox-static)");
        return None;
    };
    for d in ["opt/app/sub", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/motd"), "hello\n").unwrap();
    std::fs::write(root.join("opt/app/a"), "a\n").unwrap();
    std::fs::write(root.join("opt/app/sub/b"), "b\n").unwrap();
    let base_tar = common::docker::tar_of(&root, dir.path());
    // Tests run in parallel and each builds its own image: a tag per build, not per process.
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tag = format!("layerscope-archive-{}-{n}:1", std::process::id());
    let base = format!("layerscope-archive-{}-{n}-base:1", std::process::id());
    let mut cleanup = Cleanup::default();
    sh(Command::new("docker")
        .arg("import")
        .arg(&base_tar)
        .arg(&base));
    cleanup.push(&["docker", "rmi", "-f", &base]);
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {base}\n\
             RUN rm /etc/motd\n\
             RUN rm -rf /opt/app && mkdir -p /opt/app && echo new > /opt/app/n\n\
             RUN echo data > /data.txt && ln /data.txt /hard && ln -s /data.txt /link && \
             mknod /null2 c 1 3 && mkfifo /fifo && touch \"$(printf '/bad\\377name')\" && \
             chmod 4755 /data.txt\n\
             RUN echo more >> /data.txt\n"
        ),
    )
    .unwrap();
    sh(Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0"));
    cleanup.push(&["docker", "rmi", "-f", &tag]);
    let archive = dir.path().join("saved.tar");
    sh(Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&tag));
    Some(Built {
        dir,
        tag,
        archive,
        cleanup,
    })
}

fn layers(stack: &str) -> Vec<serde_json::Value> {
    json_lines(&ok(&["layers", "--json", stack]))
}

#[test]
fn a_docker_save_archive_shows_what_the_daemon_shows() {
    let Some(b) = build() else { return };
    let daemon = format!("docker:{}", b.tag);
    let archive = format!("docker-archive:{}", b.archive.display());
    let theirs = view(&daemon);
    assert!(theirs.contains_key(&b"/bad\xffname"[..]), "{theirs:?}");
    for name in [archive.clone(), format!("{archive}:{}", b.tag)] {
        let ours = view(&name);
        assert_same(&ours, &theirs, &name);
        assert_eq!(contents(&name, &ours), contents(&daemon, &theirs), "{name}");
    }
    // The copy-up broke the hard link: the two names now hold different bytes.
    let (_, hard, _) = common::run(&["cat".as_ref(), archive.as_ref(), "/hard".as_ref()]);
    assert_eq!(hard, b"data\n");

    // Layers: the same labels, diff IDs and chain IDs as the daemon's store records; digests
    // and blob sizes of the layer tars as saved.
    let (ours, theirs) = (layers(&archive), layers(&daemon));
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        for key in [
            "label", "diff_id", "layer_id", "entries", "bytes", "added", "deleted",
        ] {
            assert_eq!(o[key], t[key], "{key} of layer {}: {o} / {t}", o["index"]);
        }
        assert_eq!(o["role"], "lower");
        let digest = o["digest"].as_str().unwrap();
        // A legacy `docker save` stores layers uncompressed: the digest is the diff ID.
        assert_eq!(Some(digest), o["diff_id"].as_str(), "{o}");
        assert!(o["blob_bytes"].as_u64().unwrap() >= 1024, "{o}");
    }

    // `which` names the supplying layer by its history label and digest.
    let which = json_lines(&ok(&["which", "--json", &archive, "/opt/app/n"]));
    let supplier = which.iter().find(|w| w["role"] == "supplies").unwrap();
    assert!(
        supplier["label"]
            .as_str()
            .unwrap()
            .contains("mkdir -p /opt/app"),
        "{supplier}"
    );
    let text = ok(&["which", &archive, "/opt/app/n"]);
    assert!(text.contains("RUN rm -rf /opt/app"), "{text}");
    let digest = supplier["digest"].as_str().unwrap();
    assert!(text.contains(&digest[7..19]), "the short digest in {text}");
    drop(b.cleanup);
}

#[test]
fn oci_layouts_and_archives_from_skopeo_and_podman_show_the_same_image() {
    let Some(b) = build() else { return };
    let theirs = view(&format!("docker:{}", b.tag));
    let daemon_bytes = contents(&format!("docker:{}", b.tag), &theirs);
    if !works(Command::new("skopeo").arg("--version")) {
        return skip("no skopeo (apt install skopeo)");
    }
    let src = format!("docker-archive:{}", b.archive.display());
    let mut names = Vec::new();
    // zstd:chunked (containers/storage's format): many zstd frames per layer, and its table
    // of contents in skippable frames.
    for (compress, dir) in [
        ("gzip", "oci-gzip"),
        ("zstd", "oci-zstd"),
        ("zstd:chunked", "oci-zstd-chunked"),
    ] {
        let layout = b.dir.path().join(dir);
        sh(Command::new("skopeo").args([
            "copy",
            "-q",
            "--dest-compress-format",
            compress,
            &src,
            &format!("oci:{}:web", layout.display()),
        ]));
        names.push(format!("oci:{}:web", layout.display()));
        names.push(format!("oci:{}", layout.display()));
    }
    let oci_tar = b.dir.path().join("skopeo-oci.tar");
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        &src,
        &format!("oci-archive:{}:web:2", oci_tar.display()),
    ]));
    names.push(format!("oci-archive:{}:web:2", oci_tar.display()));

    // podman: load the archive, save it as an OCI archive.
    let podman = format!("localhost/{}", b.tag);
    let mut cleanup = Cleanup::default();
    if works(Command::new("podman").arg("load").arg("-i").arg(&b.archive)) {
        cleanup.push(&["podman", "rmi", "-f", &podman]);
        let pod_tar = b.dir.path().join("podman-oci.tar");
        sh(Command::new("podman")
            .args(["save", "-q", "--format", "oci-archive", "-o"])
            .arg(&pod_tar)
            .arg(&podman));
        names.push(format!("oci-archive:{}", pod_tar.display()));
        names.push(format!("oci-archive:{}:{podman}", pod_tar.display()));
    } else {
        eprintln!(
            "note: podman cannot load a docker archive here; its oci-archive is not compared"
        );
    }
    for name in &names {
        let ours = view(name);
        assert_same(&ours, &theirs, name);
        assert_eq!(&contents(name, &ours), &daemon_bytes, "{name}");
    }
    // The zstd layout says so in its digests and sizes: blobs smaller than the tars.
    let zstd = layers(&names[2]);
    let legacy = layers(&format!("docker-archive:{}", b.archive.display()));
    for (z, l) in zstd.iter().zip(&legacy) {
        assert_eq!(z["diff_id"], l["diff_id"]);
        assert_ne!(z["digest"], z["diff_id"], "{z}");
        assert!(
            z["blob_bytes"].as_u64() < l["blob_bytes"].as_u64(),
            "{z} {l}"
        );
    }
    drop(cleanup);
    drop(b.cleanup);
}

fn failing(args: &[&str]) -> String {
    let (code, out, err) = ls_run(args);
    assert_ne!(code, 0, "{args:?} should fail: {out}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.starts_with("layerscope: "),
        "{args:?}: a clear error, got {err}"
    );
    err
}

#[test]
fn a_multi_platform_index_opens_this_machines_image_and_lists_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(files.join("etc")).unwrap();
    std::fs::write(files.join("etc/os"), "layer\n").unwrap();
    let layer = tar(&files, &["."]);
    let host = layerscope::stack::archive::Platform::host().to_string();
    let dir = layout(&tmp.path().join("multi"), &[layer], &[&host, "linux/s390x"]);
    let name = format!("oci:{}", dir.display());
    assert!(view(&name).contains_key(&b"/etc/os"[..]));
    let other = ok(&["ls", "--platform", "linux/s390x", &name, "/etc"]);
    assert!(other.contains("os"), "{other}");
    let err = failing(&["ls", "--platform", "windows/arm64", &name]);
    assert!(
        err.contains("--platform windows/arm64")
            && err.contains("linux/s390x")
            && err.contains(&host),
        "{err}"
    );
    let err = failing(&["ls", "--platform", "linux", &name]);
    assert!(err.contains("OS/ARCH"), "{err}");
    let err = failing(&["ls", "--platform", "linux/amd64", "/"]);
    assert!(err.contains("--platform"), "{err}");
}

#[test]
fn hostile_layer_tars_give_notes_and_the_rest_of_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A symlink `esc` to the host's /etc in one tar, then `esc/passwd` as a file in another
    // appended to it: an extractor that follows the symlink writes the host's /etc/passwd.
    std::fs::create_dir_all(d.join("a/real")).unwrap();
    std::os::unix::fs::symlink("/etc", d.join("a/esc")).unwrap();
    std::fs::write(d.join("a/real/ok"), "fine\n").unwrap();
    std::fs::create_dir_all(d.join("b/esc")).unwrap();
    std::fs::write(d.join("b/esc/passwd"), "root::0:0::/:/bin/sh\n").unwrap();
    std::fs::write(d.join("b/up"), "up\n").unwrap();
    std::fs::write(d.join("b/linked"), "x\n").unwrap();
    std::fs::hard_link(d.join("b/linked"), d.join("b/link-to-gone")).unwrap();
    // GNU tar appends (`-r`) past the first tar's entries: one layer tar holding both.
    let file = d.join("layer.tar");
    std::fs::write(&file, tar(&d.join("a"), &["."])).unwrap();
    let st = Command::new("tar")
        .arg("-C")
        .arg(d.join("b"))
        .args(["--owner=0", "--group=0", "--numeric-owner", "-rf"])
        .arg(&file)
        .args([
            // `up` leaves the layer; `linked` is renamed but the hard link still names it.
            "--transform=s,^up$,../../up,",
            "--transform=s,^linked$,renamed,rH",
            "esc/passwd",
            "up",
            "linked",
            "link-to-gone",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let layer = std::fs::read(&file).unwrap();
    let dir = layout(&d.join("hostile"), &[layer], &[]);
    let name = format!("oci:{}", dir.display());
    let (code, out, err) = ls_run(&["ls", "-R", "--json", &name]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let paths: Vec<Vec<u8>> = json_lines(&out)
        .iter()
        .map(|o| layerscope::report::get_bytes(o, "path").unwrap())
        .collect();
    assert!(paths.contains(&b"/real/ok".to_vec()), "{out}");
    assert!(paths.contains(&b"/renamed".to_vec()), "{out}");
    for gone in [&b"/esc/passwd"[..], b"/up", b"/link-to-gone"] {
        assert!(
            !paths.contains(&gone.to_vec()),
            "{}: {out}",
            String::from_utf8_lossy(gone)
        );
    }
    for said in ["esc/passwd", "up", "link-to-gone"] {
        assert!(
            err.lines()
                .any(|l| l.contains(said) && l.contains("skipped")),
            "a note on {said}: {err}"
        );
    }
    // Nothing was written anywhere: the layout is as it was, and the host's files too.
    assert!(!d.join("up").exists() && !tmp.path().join("../up").exists());
}

#[test]
fn damaged_archives_fail_with_the_member_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("big"), vec![7u8; 100_000]).unwrap();
    let layer = tar(&files, &["."]);

    // A layer blob cut short: its digest no longer matches, and the tar ends early.
    let dir = layout(&tmp.path().join("cut"), std::slice::from_ref(&layer), &[]);
    let name = format!("oci:{}", dir.display());
    let blob = dir.join("blobs/sha256").join(&sha256(&layer)[7..]);
    std::fs::write(&blob, &layer[..layer.len() / 2]).unwrap();
    let err = failing(&["ls", &name]);
    assert!(
        err.contains(&sha256(&layer)[7..19]),
        "names the blob: {err}"
    );

    // A blob that is a symlink to a host file: never followed.
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &blob).unwrap();
    let err = failing(&["ls", &name]);
    assert!(err.contains("symlink"), "{err}");

    // A manifest altered after it was recorded: its digest no longer matches.
    let dir = layout(&tmp.path().join("lie"), std::slice::from_ref(&layer), &[]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_at = dir
        .join("blobs/sha256")
        .join(&index["manifests"][0]["digest"].as_str().unwrap()[7..]);
    let mut altered = std::fs::read(&manifest_at).unwrap();
    let at = altered.len() - 3;
    altered[at] ^= 1;
    std::fs::write(&manifest_at, &altered).unwrap();
    let err = failing(&["ls", &format!("oci:{}", dir.display())]);
    assert!(err.contains("digest") && err.contains("altered"), "{err}");

    // A docker archive whose manifest names a member outside it, and one that is not a tar.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("manifest.json"),
        r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["../../etc/shadow"]}]"#,
    )
    .unwrap();
    std::fs::write(
        bad.join("c.json"),
        r#"{"rootfs":{"type":"layers","diff_ids":["sha256:00"]},"history":[]}"#,
    )
    .unwrap();
    let archive = tmp.path().join("bad.tar");
    std::fs::write(&archive, tar(&bad, &["manifest.json", "c.json"])).unwrap();
    let err = failing(&["ls", &format!("docker-archive:{}", archive.display())]);
    assert!(
        err.contains("../../etc/shadow") && err.contains("no member"),
        "{err}"
    );
    let err = failing(&["ls", &format!("docker-archive:{}", blob.display())]);
    assert!(
        err.contains("cannot be read as a tar") || err.contains("symlink"),
        "{err}"
    );
    std::fs::write(tmp.path().join("junk"), vec![0x42u8; 3000]).unwrap();
    let err = failing(&[
        "ls",
        &format!("docker-archive:{}/junk", tmp.path().display()),
    ]);
    assert!(err.contains("junk"), "{err}");
    // A layout where a tar is expected, and the other way round.
    let err = failing(&["ls", &format!("oci:{}", archive.display())]);
    assert!(err.contains("not a directory"), "{err}");
    let err = failing(&["ls", &format!("docker-archive:{}", dir.display())]);
    assert!(err.contains("docker-archive"), "{err}");
}

/// A `docker save` archive (the legacy layout: `l/layer.tar`, no blob digests) of one plain
/// layer, whose config promises `diff_id`.
fn docker_archive(at: &std::path::Path, layer: &[u8], diff_id: &str) -> PathBuf {
    let dir = at.with_extension("d");
    std::fs::create_dir_all(dir.join("l")).unwrap();
    std::fs::write(dir.join("l/layer.tar"), layer).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "/bin/sh -c #(nop) ADD big"}],
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    std::fs::write(dir.join(&config_name), &config).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&serde_json::json!([
            {"Config": config_name, "RepoTags": ["big:1"], "Layers": ["l/layer.tar"]}
        ]))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        at,
        tar(
            &dir,
            &["manifest.json", config_name.as_str(), "l/layer.tar"],
        ),
    )
    .unwrap();
    at.to_path_buf()
}

#[test]
fn a_layer_altered_near_its_end_prints_nothing_of_any_command_only_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(files.join("etc")).unwrap();
    std::fs::write(files.join("etc/small"), "small\n").unwrap();
    // Large enough that the hash ends well after the headers are parsed: the listing is made
    // while the check still runs, and must be held, then dropped.
    let mut big = vec![0u8; 64 << 20];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    std::fs::write(files.join("big"), &big).unwrap();
    let layer = tar(&files, &["etc", "big"]);
    let diff_id = sha256(&layer);
    // One byte of `big`'s data, 64 KiB before the end: no header changes, only the digest.
    let mut altered = layer.clone();
    let at = altered.len() - (64 << 10);
    altered[at] ^= 0x55;

    let good = format!(
        "docker-archive:{}",
        docker_archive(&tmp.path().join("good.tar"), &layer, &diff_id).display()
    );
    let bad = format!(
        "docker-archive:{}",
        docker_archive(&tmp.path().join("bad.tar"), &altered, &diff_id).display()
    );
    let oci_dir = layout(&tmp.path().join("oci"), std::slice::from_ref(&layer), &[]);
    std::fs::write(oci_dir.join("blobs/sha256").join(&diff_id[7..]), &altered).unwrap();
    let bad_oci = format!("oci:{}", oci_dir.display());

    let commands: Vec<Vec<&str>> = vec![
        vec!["ls", "-R", "STACK"],
        vec!["ls", "--json", "STACK", "/etc"],
        vec!["which", "STACK", "/etc/small"],
        vec!["cat", "STACK", "/etc/small"],
        vec!["cat", "STACK", "/big"],
        vec!["layers", "STACK"],
        vec!["layers", "--json", "STACK"],
        vec!["waste", "STACK"],
        vec!["check", "STACK"],
        vec!["diff", "STACK"],
        vec!["diff", "STACK", "--against", "GOOD"],
    ];
    for cmd in &commands {
        let with = |stack: &str| -> Vec<String> {
            cmd.iter()
                .map(|a| match *a {
                    "STACK" => stack.to_string(),
                    "GOOD" => good.clone(),
                    a => a.to_string(),
                })
                .collect()
        };
        // The same command on the intact archive answers: the refusal below is the damage's.
        let args = with(&good);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = ls_run(&args);
        assert!(code == 0 || cmd[0] == "check", "{args:?}: {err}");
        assert!(!out.is_empty(), "{args:?} answers on the intact archive");
        for (stack, blob) in [(&bad, "l/layer.tar"), (&bad_oci, &diff_id[7..19])] {
            let args = with(stack);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = ls_run(&args);
            assert_eq!(code, 2, "{args:?} fails as damaged input: {err}");
            assert!(
                out.is_empty(),
                "{args:?} printed from a damaged archive: {out}"
            );
            assert!(
                err.starts_with("layerscope: layer blob")
                    && err.contains(blob)
                    && err.contains("damaged or was altered"),
                "{args:?}: the digest error, naming the blob: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{args:?}: only that error: {err}");
        }
    }
}

#[test]
fn with_no_verify_an_altered_layer_is_shown_as_it_is_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(files.join("etc")).unwrap();
    std::fs::write(files.join("etc/motd"), "hello\n").unwrap();
    let layer = tar(&files, &["etc"]);
    let diff_id = sha256(&layer);
    // The file's data changed, its header not: only the digest can tell.
    let mut altered = layer.clone();
    let at = altered
        .windows(6)
        .position(|w| w == b"hello\n")
        .expect("the file's data");
    altered[at] = b'j';
    let bad = format!(
        "docker-archive:{}",
        docker_archive(&tmp.path().join("bad.tar"), &altered, &diff_id).display()
    );

    let (code, _, err) = ls_run(&["cat", &bad, "/etc/motd"]);
    assert_eq!(code, 2, "checked by default: {err}");
    let (code, out, err) = ls_run(&["cat", "--no-verify", &bad, "/etc/motd"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "jello\n", "the bytes as they are");
    assert!(
        err.contains("layer digests not checked (--no-verify)"),
        "the user is told: {err}"
    );
    let layers = json_lines(&ok(&["layers", "--json", "--no-verify", &bad]));
    assert_eq!(
        layers[0]["diff_id"], diff_id,
        "the records' diff ID, unchecked"
    );

    // Against a stack that is not an archive, it is for the archive alone.
    let (code, out, err) = ls_run(&[
        "diff",
        "--no-verify",
        "--lowerdir",
        files.to_str().unwrap(),
        "--against",
        &bad,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("total:"), "the diff is made: {out}");
    assert!(err.contains("not checked (--no-verify)"), "{err}");

    // Only archives have digests to skip.
    let (code, _, err) = ls_run(&["ls", "--no-verify", "--lowerdir", files.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--no-verify") && err.contains("drop it for this stack"),
        "{err}"
    );
}
