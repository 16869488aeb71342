//! Stacks named through the container engines (`docker:`, `podman:`, `containerd:`), checked
//! against the engines themselves: `docker diff`, `podman diff`, the merged mounts the engines
//! make, and `docker history`. Each test builds small images from a busybox-static rootfs, uses
//! unique names, and removes what it made.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::docker::{Cleanup, docker_root, sh, works};
use common::stores::{fake_docker, write};
use common::{bin, skip};

/// Runs layerscope with arguments (and extra environment); returns (code, stdout, stderr).
fn ls_run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    common::run_text(Command::new(bin()).args(args).envs(env.iter().copied()))
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = ls_run(args, &[]);
    assert_eq!(code, 0, "layerscope {args:?} failed: {err}");
    out
}

/// A tarball of a tiny rootfs: busybox-static with its applet links, a file to delete, a
/// directory to replace, and a passwd.
fn rootfs_tar(dir: &Path) -> Option<PathBuf> {
    let root = common::docker::busybox_rootfs(dir, &[])?;
    for d in ["root", "opt/app/sub"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/motd"), "hello\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("opt/app/a"), "a\n").unwrap();
    std::fs::write(root.join("opt/app/sub/b"), "b\n").unwrap();
    Some(common::docker::tar_of(&root, dir))
}

/// What we compare of one merged entry: type, permission bits, owner, size (files), target.
type View = BTreeMap<Vec<u8>, String>;

fn describe(
    kind: &str,
    mode: u32,
    uid: u64,
    gid: u64,
    size: Option<u64>,
    target: Option<&[u8]>,
) -> String {
    format!(
        "{kind} {:04o} {uid}:{gid} {} {}",
        mode & 0o7777,
        size.map_or("-".into(), |s| s.to_string()),
        target.map_or("-".into(), |t| String::from_utf8_lossy(t).into_owned())
    )
}

/// Walks a real merged mount without following symlinks.
fn walk(root: &Path) -> View {
    let mut out = View::new();
    let mut todo = vec![(root.to_path_buf(), b"/".to_vec())];
    while let Some((path, merged)) = todo.pop() {
        let m = std::fs::symlink_metadata(&path).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_char_device() {
            "char"
        } else {
            "block"
        };
        let target = ft.is_symlink().then(|| {
            std::fs::read_link(&path)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        });
        out.insert(
            merged.clone(),
            describe(
                kind,
                m.mode(),
                u64::from(m.uid()),
                u64::from(m.gid()),
                ft.is_file().then_some(m.size()),
                target.as_deref(),
            ),
        );
        if ft.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                let e = e.unwrap();
                let mut child = merged.clone();
                if child != b"/" {
                    child.push(b'/');
                }
                child.extend_from_slice(e.file_name().as_bytes());
                todo.push((e.path(), child));
            }
        }
    }
    out
}

/// `ls -R --json STACK` as a view.
fn ls_view(args: &[&str]) -> View {
    let mut full = vec!["ls", "-R", "--json"];
    full.extend_from_slice(args);
    let out = ok(&full);
    let mut v = View::new();
    for line in out.lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        if o.get("anomaly").is_some() {
            continue;
        }
        let path = layerscope::report::get_bytes(&o, "path").unwrap();
        let kind = o["type"].as_str().unwrap().to_string();
        let mode = u32::from_str_radix(o["mode"].as_str().unwrap(), 8).unwrap();
        let target = layerscope::report::get_bytes(&o, "target");
        let size = (kind == "file").then(|| o["size"].as_u64().unwrap());
        v.insert(
            path,
            describe(
                &kind,
                mode,
                o["uid"].as_u64().unwrap(),
                o["gid"].as_u64().unwrap(),
                size,
                target.as_deref(),
            ),
        );
    }
    v
}

fn assert_same_view(ours: &View, kernel: &View, what: &str) {
    if ours == kernel {
        return;
    }
    let mut report = String::new();
    for (k, v) in kernel {
        match ours.get(k) {
            None => report.push_str(&format!("  missing {}: {v}\n", String::from_utf8_lossy(k))),
            Some(o) if o != v => report.push_str(&format!(
                "  differs {}: ours {o} / kernel {v}\n",
                String::from_utf8_lossy(k)
            )),
            _ => {}
        }
    }
    for (k, v) in ours {
        if !kernel.contains_key(k) {
            report.push_str(&format!("  extra {}: {v}\n", String::from_utf8_lossy(k)));
        }
    }
    panic!("{what}: layerscope's merged view differs from the kernel's:\n{report}");
}

/// Compares layerscope's `diff` with an engine's: the same set of lines.
fn assert_same_changes(ours: &BTreeSet<String>, theirs: &BTreeSet<String>, what: &str) {
    let missing: Vec<&String> = theirs.difference(ours).collect();
    let extra: Vec<&String> = ours.difference(theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: layerscope lacks {missing:?} and adds {extra:?}\nours {ours:?}\ntheirs {theirs:?}"
    );
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn labels(args: &[&str]) -> Vec<(String, Option<String>, String)> {
    let mut full = vec!["layers", "--json"];
    full.extend_from_slice(args);
    ok(&full)
        .lines()
        .map(|l| {
            let o: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                o["role"].as_str().unwrap().to_string(),
                o["label"].as_str().map(str::to_string),
                o["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn list_json(args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["list", "--json"];
    full.extend_from_slice(args);
    ok(&full)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Builds `<tag>`: an imported busybox base, then RUN steps that delete a file, replace a
/// directory, add a file and a symlink (the legacy builder, so no BuildKit is needed).
fn build_image(dir: &Path, tag: &str, cleanup: &mut Cleanup) -> Option<()> {
    let tar = rootfs_tar(dir)?;
    let base = format!("{tag}-base");
    sh(Command::new("docker").arg("import").arg(&tar).arg(&base));
    cleanup.push(&["docker", "rmi", "-f", &base]);
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\nENV LS_TEST=1\nRUN rm /etc/motd\n\
             RUN rm -rf /opt/app && mkdir -p /opt/app && echo new > /opt/app/n\n\
             RUN echo data > /data.txt && ln -s /data.txt /link && chmod 600 /etc/passwd\n\
             LABEL layerscope.test=1\n"
        ),
    )
    .unwrap();
    sh(Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(dir)
        .env("DOCKER_BUILDKIT", "0"));
    cleanup.push(&["docker", "rmi", "-f", tag]);
    Some(())
}

#[test]
fn docker_containers_and_images_match_the_engine() {
    let root = match docker_root() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("layerscope-test-{}:1", std::process::id());
    let name = format!("layerscope-test-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    if build_image(dir.path(), &tag, &mut cleanup).is_none() {
        return skip("no static busybox (the busybox-static package) to build an image from");
    }
    // A running container that writes: a new file, deleted lower files, a new directory, a
    // chmod (copy-up), a dangling symlink, a lower directory removed and made again (opaque),
    // and a copy-up that changes nothing (chmod to the same mode).
    sh(Command::new("docker").args(["run", "-d", "--name", &name, &tag, "sleep", "3600"]));
    cleanup.push(&["docker", "rm", "-f", &name]);
    sh(Command::new("docker").args([
        "exec",
        &name,
        "sh",
        "-c",
        "echo x > /new.txt; rm /data.txt; mkdir -p /root/d; echo y > /root/d/f; \
         rm -rf /opt/app && mkdir /opt/app && echo z > /opt/app/z; chmod 700 /root; \
         ln -s /nowhere /dangling; rm /bin/vi; echo more >> /etc/passwd; \
         chmod 755 /bin/busybox",
    ]));
    let stack = format!("docker:{name}");
    let root_s = root.to_str().unwrap();

    // 1. The diff equals `docker diff`.
    let t = Instant::now();
    let ours = lines(&ok(&["diff", &stack]));
    let resolve_ms = t.elapsed().as_millis();
    let theirs = lines(&sh(Command::new("docker").args(["diff", &name])));
    assert_same_changes(&ours, &theirs, "docker diff");
    assert!(theirs.contains("D /data.txt") && theirs.contains("A /new.txt"));

    // 2. The merged view equals the kernel's, walked through the container's own mount.
    let merged = PathBuf::from(
        sh(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.GraphDriver.Data.MergedDir}}",
            &name,
        ]))
        .trim(),
    );
    let kernel = walk(&merged);
    let view = ls_view(&[&stack]);
    assert_same_view(&view, &kernel, "running container");
    assert!(!view.contains_key(&b"/etc/motd"[..]) && view.contains_key(&b"/opt/app/z"[..]));
    assert!(!view.contains_key(&b"/opt/app/n"[..]));

    // 3. Layer labels follow `docker history` (the layers that are not empty), top-first,
    //    under the container's read-write and -init layers.
    let layers = labels(&[&stack]);
    assert_eq!(layers[0].0, "upper");
    assert_eq!(
        layers[0].1.as_deref(),
        Some(&*format!("container {name}: read-write layer"))
    );
    assert_eq!(
        layers[1].1.as_deref(),
        Some(&*format!("container {name}: init layer (-init)"))
    );
    let history = sh(Command::new("docker").args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}\t{{.Comment}}",
        &tag,
    ]));
    let expected: Vec<String> = history
        .lines()
        .filter(|l| !l.contains("#(nop)"))
        .map(|l| {
            let (by, comment) = l.split_once('\t').unwrap_or((l, ""));
            if by.trim().is_empty() {
                comment.trim().to_string()
            } else {
                layerscope::stack::engine::instruction(by)
            }
        })
        .collect();
    let got: Vec<String> = layers[2..].iter().map(|l| l.1.clone().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(got[2], "RUN rm /etc/motd");
    let mounted = String::from_utf8_lossy(&std::fs::read("/proc/self/mountinfo").unwrap())
        .contains(merged.to_str().unwrap());
    assert!(mounted);

    // 4. By ID prefix, the same stack; the image by tag and by ID prefix: lowers only.
    let cid = sh(Command::new("docker").args(["inspect", "-f", "{{.Id}}", &name]));
    assert_eq!(labels(&[&format!("docker:{}", &cid.trim()[..12])]), layers);
    let iid = sh(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", &tag]));
    let iid = iid.trim().trim_start_matches("sha256:");
    let by_tag = labels(&[&format!("docker:{tag}")]);
    assert_eq!(by_tag, layers[2..].to_vec());
    assert!(by_tag.iter().all(|l| l.0 == "lower"));
    assert_eq!(labels(&[&format!("docker:sha256:{}", &iid[..10])]), by_tag);
    assert_eq!(labels(&[&format!("docker:{}", &iid[..10])]), by_tag);

    // 5. The image's view equals a real read-only mount of its layers.
    let lowers: Vec<&str> = by_tag.iter().map(|l| l.2.as_str()).collect();
    let point = dir.path().join("image-mnt");
    let mnt = common::Mount::new(&point, &format!("lowerdir={}", lowers.join(":"))).unwrap();
    assert_same_view(
        &ls_view(&[&format!("docker:{tag}")]),
        &walk(&mnt.point),
        "image",
    );

    // 6. Unknown names list candidates.
    let (code, _, err) = ls_run(&["ls", "docker:no-such-container-xyz"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("candidates") && err.contains(&name), "{err}");

    // 7. `list` shows the running container (mounted) and the image.
    let t = Instant::now();
    let all = list_json(&[]);
    let list_ms = t.elapsed().as_millis();
    let c = all
        .iter()
        .find(|o| o["stack"] == stack.as_str())
        .expect("container listed");
    assert_eq!(c["kind"], "container");
    assert_eq!(c["mounted"], true);
    assert_eq!(c["image"], tag.as_str());
    assert_eq!(c["layers"], layers.len());
    assert!(
        all.iter()
            .any(|o| o["stack"] == format!("docker:{tag}").as_str() && o["kind"] == "image")
    );
    assert!(
        all.iter()
            .any(|o| o["kind"] == "mount" && o["mountpoint"] == mnt.point.to_str().unwrap())
    );
    drop(mnt);

    // 8. Without the daemon's socket: DOCKER_HOST points nowhere, /run is hidden in a private
    //    mount namespace, and strace sees no connect(); the answers are the same.
    let hidden = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs none /run && mount -t tmpfs none /var/run 2>/dev/null; \
             exec \"$0\" diff --docker-root {root_s} {stack}"
        ))
        .arg(bin())
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert!(
        hidden.status.success(),
        "{}",
        String::from_utf8_lossy(&hidden.stderr)
    );
    assert_eq!(lines(&String::from_utf8_lossy(&hidden.stdout)), ours);
    if works(Command::new("strace").arg("-V")) {
        let trace = dir.path().join("trace");
        sh(Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=socket,connect", "-o"])
            .arg(&trace)
            .arg(bin())
            .args(["ls", "-R", "--docker-root", root_s, &stack]));
        let t = std::fs::read_to_string(&trace).unwrap();
        assert!(!t.contains("connect(") && !t.contains("socket("), "{t}");
    } else {
        eprintln!("strace not installed: the no-socket check relies on the hidden /run alone");
    }

    // 9. Stopped: the same view and diff from the files alone.
    sh(Command::new("docker").args(["stop", "-t", "0", &name]));
    assert_same_view(&ls_view(&[&stack]), &kernel, "stopped container");
    assert_eq!(lines(&ok(&["diff", &stack])), ours);
    let c = list_json(&[])
        .into_iter()
        .find(|o| o["stack"] == stack.as_str())
        .unwrap();
    assert_eq!(c["mounted"], false);

    // 10. A created (never started) container: only its -init layer differs from the image.
    let fresh = format!("{name}-created");
    sh(Command::new("docker").args(["create", "--name", &fresh, &tag, "sh"]));
    cleanup.push(&["docker", "rm", "-f", &fresh]);
    assert_same_changes(
        &lines(&ok(&["diff", &format!("docker:{fresh}")])),
        &lines(&sh(Command::new("docker").args(["diff", &fresh]))),
        "docker diff of a created container",
    );
    eprintln!("timing: resolve+diff docker:{name} {resolve_ms} ms; list {list_ms} ms");
}

/// Finds a containerd socket and its root: dockerd's own containerd, or the system one.
fn containerd_socket() -> Option<(String, PathBuf)> {
    for (sock, conf) in [
        (
            "/var/run/docker/containerd/containerd.sock",
            "/var/run/docker/containerd/containerd.toml",
        ),
        (
            "/run/containerd/containerd.sock",
            "/etc/containerd/config.toml",
        ),
    ] {
        if !Path::new(sock).exists() {
            continue;
        }
        let root = std::fs::read_to_string(conf)
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let v = l
                        .trim()
                        .strip_prefix("root")?
                        .trim_start()
                        .strip_prefix('=')?;
                    Some(PathBuf::from(v.trim().trim_matches('"')))
                })
            })
            .unwrap_or_else(|| PathBuf::from("/var/lib/containerd"));
        return Some((sock.to_string(), root));
    }
    None
}

#[test]
fn containerd_images_containers_and_snapshots_match_the_engine() {
    if let Err(why) = docker_root() {
        return skip(&format!(
            "the containerd test imports a `docker save` tarball: {why}"
        ));
    }
    let Some((sock, croot)) = containerd_socket() else {
        return skip("no containerd socket (neither dockerd's nor the system's)");
    };
    if !works(Command::new("ctr").arg("--version")) {
        return skip("no ctr client");
    }
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let tag = format!("layerscope-ctr-{pid}:1");
    let ns = format!("layerscope-test-{pid}");
    let mut cleanup = Cleanup::default();
    if build_image(dir.path(), &tag, &mut cleanup).is_none() {
        return skip("no static busybox (the busybox-static package) to build an image from");
    }
    let saved = dir.path().join("image.tar");
    sh(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(&tag));
    let ctr = |args: &[&str]| -> String {
        sh(Command::new("ctr")
            .args(["-a", &sock, "-n", &ns])
            .args(args))
    };
    cleanup.push(&["ctr", "-a", &sock, "namespaces", "rm", &ns]);
    ctr(&["images", "import", saved.to_str().unwrap()]);
    let full = format!("docker.io/library/{tag}");
    cleanup.push(&[
        "ctr", "-a", &sock, "-n", &ns, "images", "rm", "--sync", &full,
    ]);
    // The image: same labels as Docker's stack of the same image, found by short and full name.
    let croot_s = croot.to_str().unwrap();
    let img = labels(&[
        "--containerd-root",
        croot_s,
        &format!("containerd:{ns}/{full}"),
    ]);
    let docker_img = labels(&[&format!("docker:{tag}")]);
    let l = |v: &[(String, Option<String>, String)]| -> Vec<Option<String>> {
        v.iter().map(|x| x.1.clone()).collect()
    };
    assert_eq!(l(&img), l(&docker_img));
    assert_eq!(
        labels(&[&format!("containerd:{ns}/{tag}")]),
        img,
        "default roots, short name"
    );
    // A container and an active snapshot, mounted as ctr says, written to, compared.
    let cname = format!("lsc-{pid}");
    ctr(&["containers", "create", &full, &cname]);
    cleanup.push(&["ctr", "-a", &sock, "-n", &ns, "containers", "rm", &cname]);
    let c = labels(&[
        "--containerd-root",
        croot_s,
        &format!("containerd:{ns}/{cname}"),
    ]);
    assert_eq!(c[0].0, "upper");
    assert_eq!(l(&c[1..]), l(&img));
    // The engine's IDs: image layers are the snapshots named by their chain IDs, with the
    // same diff IDs as Docker's copy of the image; the container's is its snapshot key.
    let ids = |args: &[&str]| -> Vec<(serde_json::Value, serde_json::Value)> {
        let mut full = vec!["layers", "--json"];
        full.extend_from_slice(args);
        ok(&full)
            .lines()
            .map(|l| {
                let o: serde_json::Value = serde_json::from_str(l).unwrap();
                (o["layer_id"].clone(), o["diff_id"].clone())
            })
            .collect()
    };
    let img_ids = ids(&[
        "--containerd-root",
        croot_s,
        &format!("containerd:{ns}/{full}"),
    ]);
    assert_eq!(img_ids, ids(&[&format!("docker:{tag}")]));
    assert!(img_ids.iter().all(|(l, d)| l.is_string() && d.is_string()));
    let c_ids = ids(&[
        "--containerd-root",
        croot_s,
        &format!("containerd:{ns}/{cname}"),
    ]);
    assert_eq!(c_ids[0].0, cname.as_str(), "the container's snapshot key");
    assert_eq!(c_ids[1..], img_ids[..]);
    let key = format!("lsc-snap-{pid}");
    let parent = {
        // The image's top chain ID is the parent of the container's snapshot.
        let out = ctr(&["snapshots", "ls"]);
        out.lines()
            .find(|l| l.starts_with(&cname))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .to_string()
    };
    ctr(&["snapshots", "prepare", &key, &parent]);
    cleanup.push(&["ctr", "-a", &sock, "-n", &ns, "snapshots", "rm", &key]);
    let point = dir.path().join("snap-mnt");
    std::fs::create_dir_all(&point).unwrap();
    let mount_cmd = ctr(&["snapshots", "mounts", point.to_str().unwrap(), &key]);
    let argv: Vec<&str> = mount_cmd.split_whitespace().collect();
    assert_eq!(argv[0], "mount", "{mount_cmd}");
    sh(Command::new(argv[0]).args(&argv[1..]));
    let guard = common::Mount {
        point: point.clone(),
    };
    std::fs::remove_file(point.join("etc/passwd")).unwrap();
    std::fs::remove_dir_all(point.join("opt")).unwrap();
    std::fs::create_dir(point.join("opt")).unwrap();
    std::fs::write(point.join("opt/new"), "n").unwrap();
    std::fs::write(point.join("added"), "a").unwrap();
    let stack = format!("containerd:{ns}/{key}");
    let view = ls_view(&["--containerd-root", croot_s, &stack]);
    assert_same_view(&view, &walk(&point), "containerd snapshot");
    let snap = labels(&[&stack]);
    assert_eq!(
        l(&snap[1..]),
        l(&img),
        "committed parents labelled from the image"
    );
    let all = list_json(&["--containerd-root", croot_s]);
    let s = all
        .iter()
        .find(|o| o["stack"] == stack.as_str())
        .expect("snapshot listed");
    assert_eq!(s["mounted"], true);
    assert!(all.iter().any(
        |o| o["stack"] == format!("containerd:{ns}/{cname}").as_str() && o["kind"] == "container"
    ));
    assert!(
        all.iter()
            .any(|o| o["stack"] == format!("containerd:{ns}/{full}").as_str()
                && o["kind"] == "image")
    );
    drop(guard);
}

/// Why Podman cannot be used here, if it cannot.
fn podman_missing() -> Option<String> {
    if !common::is_root() {
        return Some("needs root for podman's rootful store and mounts".into());
    }
    if !works(Command::new("podman").arg("--version")) {
        return Some("no podman".into());
    }
    None
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn podman_containers_and_images_match_the_engine() {
    if let Some(why) = podman_missing() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(tar) = rootfs_tar(dir.path()) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let root = dir.path().join("storage");
    let runroot = dir.path().join("run");
    let podman = |args: &[&str]| -> String {
        sh(Command::new("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(args))
    };
    let mut cleanup = Cleanup::default();
    let r = root.to_str().unwrap().to_string();
    let rr = runroot.to_str().unwrap().to_string();
    cleanup.push(&["umount", "-l", &format!("{r}/overlay")]);
    cleanup.push(&[
        "podman",
        "--root",
        &r,
        "--runroot",
        &rr,
        "unmount",
        "--all",
        "--force",
    ]);
    podman(&["import", "-q", tar.to_str().unwrap(), "lsp-base:1"]);
    // c1: delete a file and replace a directory through the merged mount, then commit.
    podman(&["create", "-q", "--name", "lsp-c1", "lsp-base:1", "sh"]);
    let m1 = PathBuf::from(podman(&["mount", "lsp-c1"]).trim());
    std::fs::remove_file(m1.join("etc/motd")).unwrap();
    std::fs::remove_dir_all(m1.join("opt/app")).unwrap();
    std::fs::create_dir(m1.join("opt/app")).unwrap();
    std::fs::write(m1.join("opt/app/n"), "new\n").unwrap();
    podman(&["unmount", "lsp-c1"]);
    podman(&["commit", "-q", "lsp-c1", "lsp-app:1"]);
    // c2 from the committed image: write more, mounted.
    podman(&["create", "-q", "--name", "lsp-c2", "lsp-app:1", "sh"]);
    let m2 = PathBuf::from(podman(&["mount", "lsp-c2"]).trim());
    std::fs::write(m2.join("new.txt"), "x\n").unwrap();
    std::fs::remove_file(m2.join("opt/app/n")).unwrap();
    std::fs::remove_file(m2.join("bin/ls")).unwrap();
    std::os::unix::fs::symlink("/nowhere", m2.join("dangling")).unwrap();

    let root_arg = ["--podman-root", r.as_str()];
    let with = |stack: &str| -> Vec<String> {
        let mut v: Vec<String> = root_arg.iter().map(|s| s.to_string()).collect();
        v.push(stack.into());
        v
    };
    // Merged view equals the kernel's mount.
    let c2 = with("podman:lsp-c2");
    assert_same_view(&ls_view(&args(&c2)), &walk(&m2), "podman container");
    let mut d = vec!["diff"];
    d.extend(args(&c2));
    assert_same_changes(
        &lines(&ok(&d)),
        &lines(&podman(&["diff", "lsp-c2"])),
        "podman diff",
    );
    // Layers: upper, the commit, the import; labels from the image history.
    let layers = labels(&args(&c2));
    assert_eq!(layers.len(), 3);
    assert_eq!(
        layers[0].1.as_deref(),
        Some("container lsp-c2: read-write layer")
    );
    let history = podman(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "lsp-app:1",
    ]);
    let expected: Vec<String> = history
        .lines()
        .map(layerscope::stack::engine::instruction)
        .collect();
    let got: Vec<String> = layers[1..].iter().map(|l| l.1.clone().unwrap()).collect();
    assert_eq!(got, expected);
    // The image by name and by ID prefix; `list` shows both containers and images.
    let img = labels(&args(&with("podman:lsp-app:1")));
    assert_eq!(img, layers[1..].to_vec());
    // The engine's IDs: the top layer is the one GraphDriver mounts on top (`overlay/<id>`),
    // diff IDs are RootFS.Layers.
    let app = with("podman:lsp-app:1");
    let mut lj = vec!["layers", "--json"];
    lj.extend(args(&app));
    let ours: Vec<serde_json::Value> = ok(&lj)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let upper = podman(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}}",
        "lsp-app:1",
    ]);
    let top = Path::new(upper.trim())
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap();
    assert_eq!(ours[0]["layer_id"], top.as_str());
    let rootfs: serde_json::Value = serde_json::from_str(
        podman(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "lsp-app:1",
        ])
        .trim(),
    )
    .unwrap();
    let mut diffs: Vec<serde_json::Value> = ours.iter().map(|l| l["diff_id"].clone()).collect();
    diffs.reverse();
    assert_eq!(serde_json::Value::Array(diffs), rootfs);
    assert!(ours.iter().all(|l| l["created"].is_string()));
    let iid = podman(&["image", "inspect", "-f", "{{.Id}}", "lsp-app:1"]);
    assert_eq!(
        labels(&args(&with(&format!("podman:{}", &iid.trim()[..10])))),
        img
    );
    let all = list_json(&root_arg);
    let c = all.iter().find(|o| o["stack"] == "podman:lsp-c2").unwrap();
    assert_eq!(c["mounted"], true);
    assert_eq!(c["image"], "localhost/lsp-app:1");
    assert!(
        all.iter()
            .any(|o| o["stack"] == "podman:lsp-c1" && o["mounted"] == false)
    );
    assert!(
        all.iter()
            .any(|o| o["stack"] == "podman:localhost/lsp-base:1")
    );
    // Unmounted: the same view from the files alone.
    let kernel = walk(&m2);
    podman(&["unmount", "lsp-c2"]);
    assert_same_view(&ls_view(&args(&c2)), &kernel, "podman container, unmounted");
}

// ---- Hand-made stores: the edge cases the engines will not produce on demand. ----

#[test]
fn docker_store_on_disk_labels_and_mismatched_history() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    let history = r#"[{"created_by":"/bin/sh -c #(nop) ADD file:x in / "},{"created_by":"/bin/sh -c #(nop)  ENV A=1","empty_layer":true},{"created_by":"/bin/sh -c touch /new"}]"#;
    fake_docker(&root, history);
    let r = root.to_str().unwrap();
    let l = labels(&["--docker-root", r, "docker:web"]);
    let names: Vec<Option<String>> = l.iter().map(|x| x.1.clone()).collect();
    assert_eq!(
        names,
        [
            Some("container web: read-write layer".into()),
            Some("container web: init layer (-init)".into()),
            Some("RUN touch /new".into()),
            Some("ADD file:x in /".into()),
        ]
    );
    assert_eq!(l[3].2, root.join("overlay2/cache0/diff").to_str().unwrap());
    let out = ok(&["ls", "--docker-root", r, "docker:app:1", "/"]);
    assert!(out.contains("/etc") && out.contains("/new") && !out.contains("/mine"));
    // `app` means `app:latest`, which is not there.
    assert_eq!(ls_run(&["ls", "--docker-root", r, "docker:app"], &[]).0, 2);
    // History that does not match the layers: "layer k".
    let dir2 = tempfile::tempdir().unwrap();
    let root2 = dir2.path().join("docker");
    fake_docker(&root2, r#"[{"created_by":"only one"}]"#);
    let l = labels(&["--docker-root", root2.to_str().unwrap(), "docker:app:1"]);
    let names: Vec<Option<String>> = l.iter().map(|x| x.1.clone()).collect();
    assert_eq!(names, [Some("layer 1".into()), Some("layer 0".into())]);
}

#[test]
fn a_layer_pruned_while_reading_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    fake_docker(&root, "[]");
    let r = root.to_str().unwrap();
    std::fs::remove_dir_all(root.join("overlay2/cache1")).unwrap();
    let (code, _, err) = ls_run(&["ls", "--docker-root", r, "docker:web"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("while being read"), "{err}");
    let (code, out, err) = ls_run(
        &[
            "list",
            "--docker-root",
            r,
            "--podman-root",
            r,
            "--containerd-root",
            r,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("skipped docker container web") && err.contains("skipped docker image app:1"),
        "{err}"
    );
    assert!(!out.contains("docker:web"));
}

#[test]
fn unreadable_engine_files_name_the_file_and_suggest_sudo() {
    if !common::is_root() || !works(Command::new("setpriv").arg("--version")) {
        return skip("needs root and setpriv to run as an unprivileged user");
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("docker");
    fake_docker(&root, "[]");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let repos = root.join("image/overlay2/repositories.json");
    std::fs::set_permissions(&repos, std::fs::Permissions::from_mode(0o600)).unwrap();
    for d in ["image", "image/overlay2"] {
        std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["ls", "--docker-root"])
        .arg(&root)
        .arg("docker:web")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(repos.to_str().unwrap()) && err.contains("sudo"),
        "{err}"
    );
}

#[test]
fn podman_store_diff_rotation_incomplete_layers_and_big_data_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let (base, top, ctr_layer) = ("b".repeat(64), "d".repeat(64), "e".repeat(64));
    write(
        &root.join("overlay-layers/layers.json"),
        &format!(
            r#"[{{"id":"{base}","diff-size":1}},{{"id":"{top}","parent":"{base}","diff-size":2}},
               {{"id":"{}","parent":"{base}","flags":{{"incomplete":true}}}}]"#,
            "9".repeat(64)
        ),
    );
    write(
        &root.join("overlay-layers/volatile-layers.json"),
        &format!(r#"[{{"id":"{ctr_layer}","parent":"{top}"}}]"#),
    );
    let config_key = format!("sha256:{}", "a".repeat(64));
    write(
        &root.join("overlay-images/images.json"),
        &format!(
            r#"[{{"id":"{0}","names":["localhost/app:1"],"layer":"{top}","big-data-names":["{config_key}","manifest"]}},
               {{"id":"{1}","names":["localhost/broken:1"],"layer":"{2}"}}]"#,
            "a".repeat(64),
            "8".repeat(64),
            "9".repeat(64)
        ),
    );
    write(
        &root
            .join("overlay-images")
            .join("a".repeat(64))
            .join(layerscope::stack::podman::big_data_file(&config_key)),
        r#"{"history":[{"created_by":"/bin/sh -c #(nop) ADD file:x in /"},{"created_by":"/bin/sh -c echo"}],"rootfs":{"diff_ids":["sha256:1","sha256:2"]}}"#,
    );
    write(
        &root.join("overlay-containers/volatile-containers.json"),
        &format!(
            r#"[{{"id":"{}","names":["job"],"image":"{}","layer":"{ctr_layer}"}}]"#,
            "c".repeat(64),
            "a".repeat(64)
        ),
    );
    // The top layer was re-mapped: its old content is in diff1, the chown copies in diff.
    write(&root.join(format!("overlay/{base}/diff/etc/motd")), "base");
    write(
        &root.join(format!("overlay/{top}/diff1/etc/motd")),
        "old-owner",
    );
    write(
        &root.join(format!("overlay/{top}/diff/etc/passwd")),
        "chowned",
    );
    std::fs::create_dir_all(root.join(format!("overlay/{ctr_layer}/diff"))).unwrap();
    let r = root.to_str().unwrap();
    let l = labels(&["--podman-root", r, "podman:job"]);
    let paths: Vec<String> = l.iter().map(|x| x.2.clone()).collect();
    let o = |id: &str, d: &str| {
        root.join(format!("overlay/{id}/{d}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        paths,
        [
            o(&ctr_layer, "diff"),
            o(&top, "diff"),
            o(&top, "diff1"),
            o(&base, "diff")
        ]
    );
    assert_eq!(l[1].1.as_deref(), Some("RUN echo"));
    assert!(l[2].1.as_deref().unwrap().contains("diff1"));
    assert_eq!(l[3].1.as_deref(), Some("ADD file:x in /"));
    let out = ok(&["cat", "--podman-root", r, "podman:app:1", "/etc/motd"]);
    assert_eq!(out, "old-owner");
    let (code, _, err) = ls_run(&["ls", "--podman-root", r, "podman:broken:1"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("incomplete"), "{err}");
    // The same store as a rootless user's default one, found without --podman-root.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".local/share/containers")).unwrap();
    std::fs::rename(&root, home.join(".local/share/containers/storage")).unwrap();
    let h = home.to_str().unwrap();
    let (code, out, err) = ls_run(
        &["cat", "podman:app:1", "/etc/motd"],
        &[("HOME", h), ("XDG_DATA_HOME", "")],
    );
    assert_eq!((code, out.as_str()), (0, "old-owner"), "{err}");
}

/// A containerd of our own, stopped (by its process) when dropped.
struct PrivateContainerd {
    child: std::process::Child,
    sock: PathBuf,
    root: PathBuf,
}

impl PrivateContainerd {
    fn start(dir: &Path) -> Option<Self> {
        let (root, state, sock) = (dir.join("root"), dir.join("state"), dir.join("sock"));
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n",
                root.display(),
                state.display(),
                sock.display(),
                sock.display()
            ),
        )
        .ok()?;
        let log = std::fs::File::create(dir.join("log")).ok()?;
        let child = Command::new("containerd")
            .arg("-c")
            .arg(&config)
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let me = PrivateContainerd { child, sock, root };
        for _ in 0..100 {
            if works(Command::new("ctr").arg("-a").arg(&me.sock).arg("version")) {
                return Some(me);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_containerd_image_store_is_read_through_the_moby_namespace() {
    if let Err(why) = docker_root() {
        return skip(&format!("this test imports a `docker save` tarball: {why}"));
    }
    if !works(Command::new("containerd").arg("--version"))
        || !works(Command::new("ctr").arg("--version"))
    {
        return skip("no containerd / ctr binaries");
    }
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let tag = format!("layerscope-c8d-{pid}:1");
    let mut cleanup = Cleanup::default();
    if build_image(dir.path(), &tag, &mut cleanup).is_none() {
        return skip("no static busybox (the busybox-static package) to build an image from");
    }
    let saved = dir.path().join("image.tar");
    sh(Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(&tag));
    let cdir = dir.path().join("containerd");
    std::fs::create_dir_all(&cdir).unwrap();
    let Some(cd) = PrivateContainerd::start(&cdir) else {
        return skip("could not start a private containerd");
    };
    let ctr = |args: &[&str]| -> String {
        sh(Command::new("ctr")
            .arg("-a")
            .arg(&cd.sock)
            .args(["-n", "moby"])
            .args(args))
    };
    // Docker (containerd store) keeps images in namespace moby and names a container's
    // snapshot after the container ID; the container's name lives in config.v2.json.
    ctr(&["images", "import", saved.to_str().unwrap()]);
    let cid = format!("{:0>64}", format!("{pid:x}c8d"));
    ctr(&[
        "containers",
        "create",
        &format!("docker.io/library/{tag}"),
        &cid,
    ]);
    let droot = dir.path().join("docker");
    let digest = ctr(&["images", "ls"])
        .lines()
        .find(|l| l.contains(&tag))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .to_string();
    write(
        &droot.join("containers").join(&cid).join("config.v2.json"),
        &format!(r#"{{"ID":"{cid}","Name":"/c8dweb","Image":"{digest}","Driver":"overlayfs"}}"#),
    );
    let point = dir.path().join("mnt");
    std::fs::create_dir_all(&point).unwrap();
    let cmd = ctr(&["snapshots", "mounts", point.to_str().unwrap(), &cid]);
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    sh(Command::new(argv[0]).args(&argv[1..]));
    let guard = common::Mount {
        point: point.clone(),
    };
    std::fs::write(point.join("written"), "w").unwrap();
    std::fs::remove_file(point.join("etc/passwd")).unwrap();

    let roots = [
        "--docker-root",
        droot.to_str().unwrap(),
        "--containerd-root",
        cd.root.to_str().unwrap(),
    ];
    let with = |stack: &str| -> Vec<String> {
        let mut v: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
        v.push(stack.into());
        v
    };
    let c = with("docker:c8dweb");
    assert_same_view(
        &ls_view(&args(&c)),
        &walk(&point),
        "Docker containerd-store container",
    );
    let layers = labels(&args(&c));
    assert_eq!(
        layers[0].1.as_deref(),
        Some("container c8dweb: read-write layer")
    );
    let image = labels(&args(&with(&format!("docker:{tag}"))));
    assert_eq!(layers[1..].to_vec(), image);
    assert_eq!(image[2].1.as_deref(), Some("RUN rm /etc/motd"));
    // The image ID is the manifest digest here.
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(
        labels(&args(&with(&format!("docker:{}", &hex[..12])))),
        image
    );
    let mut l = vec!["list", "--json", "--podman-root", droot.to_str().unwrap()];
    l.extend_from_slice(&roots);
    let all: Vec<serde_json::Value> = ok(&l)
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    let found = all
        .iter()
        .find(|o| o["stack"] == "docker:c8dweb")
        .expect("listed");
    assert_eq!(found["engine"], "docker");
    assert_eq!(found["mounted"], true);
    assert!(
        all.iter()
            .any(|o| o["stack"] == format!("docker:{tag}").as_str() && o["engine"] == "docker")
    );
    drop(guard);
    drop(cd);
}

/// Issue 12, the host view: the picker's stacks (from discovery) get their size, unique and
/// shared bytes from `du`'s scan by the names that open them. A created container shares all
/// of its image's layers, so the image frees nothing while the container exists, and the
/// container's unique bytes are its own read-write and init layers.
#[cfg(feature = "tui")]
#[test]
fn the_picker_fills_in_du_sizes_for_docker_stacks() {
    use layerscope::tui::picker::{HostUsage, candidates_in};
    let root = match docker_root() {
        Ok(r) => r,
        Err(why) => return skip(&why),
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(tar) = rootfs_tar(dir.path()) else {
        return skip("no static busybox (the busybox-static package) to build an image from");
    };
    let tag = format!("tui-host-picker-{}:1", std::process::id());
    let name = format!("tui-host-picker-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    sh(Command::new("docker").arg("import").arg(&tar).arg(&tag));
    cleanup.push(&["docker", "rmi", "-f", &tag]);
    sh(Command::new("docker").args(["create", "--name", &name, &tag, "sh"]));
    cleanup.push(&["docker", "rm", "-f", &name]);
    let roots = layerscope::stack::engine::Roots {
        docker: Some(root),
        ..Default::default()
    };
    let mut found = candidates_in(&roots);
    let usage = HostUsage::scan(&roots);
    usage.apply(&mut found);
    let get = |n: &str| {
        found.iter().find(|c| c.title == n).unwrap_or_else(|| {
            panic!(
                "{n} among {:?}",
                found.iter().map(|c| &c.title).collect::<Vec<_>>()
            )
        })
    };
    let image = get(&format!("docker:{tag}"));
    let container = get(&format!("docker:{name}"));
    let (Some(isize), Some(csize)) = (image.size, container.size) else {
        panic!("du measured both: {image:?} {container:?}");
    };
    assert!(isize > 500_000, "busybox is in the image's layer: {isize}");
    assert_eq!(
        image.unique,
        Some(0),
        "the container uses the image's layer"
    );
    assert_eq!(image.shared, Some(isize));
    assert_eq!(
        container.shared,
        Some(isize),
        "the container shares exactly the image's layer"
    );
    assert_eq!(container.unique, Some(csize - isize));
    assert!(csize >= isize);
}

/// Issue 10, item 6: `layers --json` carries the engine's IDs as Docker reports them: each
/// image layer's diff ID is `RootFS.Layers` (top first), its chain ID follows from them as
/// the image spec defines it, its cache ID names the directory `GraphDriver` mounts; a
/// container's read-write and init layers carry their mount IDs and the container's creation time.
#[test]
fn docker_layer_ids_match_docker_inspect() {
    use sha2::{Digest, Sha256};
    if let Err(why) = docker_root() {
        return skip(&why);
    }
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("tui-host-ids-{}:1", std::process::id());
    let name = format!("tui-host-ids-{}", std::process::id());
    let mut cleanup = Cleanup::default();
    if build_image(dir.path(), &tag, &mut cleanup).is_none() {
        return skip("no static busybox (the busybox-static package) to build an image from");
    }
    sh(Command::new("docker").args(["create", "--name", &name, &tag, "sh"]));
    cleanup.push(&["docker", "rm", "-f", &name]);
    let inspect = |what: &str, format: &str| -> serde_json::Value {
        let text = sh(Command::new("docker").args(["inspect", "-f", format, what]));
        serde_json::from_str(text.trim()).unwrap()
    };
    let layers = |stack: &str| -> Vec<serde_json::Value> {
        ok(&["layers", "--json", stack])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // The cache ID: the name of the directory above a layer's `diff`.
    let cache_of = |diff: &str| {
        Path::new(diff)
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
    };
    let str_of = |v: &serde_json::Value| v.as_str().map(str::to_string);

    // The image: diff IDs, chain IDs, cache IDs.
    let ours = layers(&format!("docker:{tag}"));
    let rootfs: Vec<String> = inspect(&tag, "{{json .RootFS.Layers}}")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours.len(), rootfs.len());
    let diff_ids: Vec<Option<String>> = ours.iter().map(|l| str_of(&l["diff_id"])).collect();
    let expected: Vec<Option<String>> = rootfs.iter().rev().cloned().map(Some).collect();
    assert_eq!(diff_ids, expected, "diff IDs are RootFS.Layers, top first");
    let mut chains = Vec::new();
    for d in &rootfs {
        let next = match chains.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{:x}",
                Sha256::digest(format!("{prev} {d}").as_bytes())
            ),
        };
        chains.push(next);
    }
    let chain_ids: Vec<Option<String>> = ours.iter().map(|l| str_of(&l["layer_id"])).collect();
    let expected: Vec<Option<String>> = chains.iter().rev().cloned().map(Some).collect();
    assert_eq!(chain_ids, expected, "layer IDs are the chain IDs");
    let graph = inspect(&tag, "{{json .GraphDriver.Data}}");
    let mut dirs = vec![graph["UpperDir"].as_str().unwrap().to_string()];
    if let Some(lower) = graph["LowerDir"].as_str() {
        dirs.extend(lower.split(':').map(str::to_string));
    }
    let cache_ids: Vec<Option<String>> = ours.iter().map(|l| str_of(&l["cache_id"])).collect();
    let expected: Vec<Option<String>> = dirs.iter().map(|d| cache_of(d)).collect();
    assert_eq!(
        cache_ids, expected,
        "cache IDs name GraphDriver's directories"
    );
    for l in &ours {
        let created = l["created"].as_str().expect("the history dates each layer");
        assert!(
            created.starts_with("20") && created.contains('T'),
            "{created}"
        );
    }

    // The container: its read-write and init layers by mount ID, then the image's.
    let ours = layers(&format!("docker:{name}"));
    let graph = inspect(&name, "{{json .GraphDriver.Data}}");
    let lower: Vec<&str> = graph["LowerDir"].as_str().unwrap().split(':').collect();
    assert_eq!(
        str_of(&ours[0]["cache_id"]),
        cache_of(graph["UpperDir"].as_str().unwrap())
    );
    assert_eq!(
        str_of(&ours[1]["cache_id"]),
        cache_of(lower[0]),
        "the -init layer"
    );
    assert!(str_of(&ours[1]["cache_id"]).unwrap().ends_with("-init"));
    let created = inspect(&name, "{{json .Created}}");
    assert_eq!(ours[0]["created"], created, "the container's creation time");
    assert!(ours[0]["diff_id"].is_null() && ours[0]["layer_id"].is_null());
    let below: Vec<Option<String>> = ours[2..].iter().map(|l| str_of(&l["diff_id"])).collect();
    let expected: Vec<Option<String>> = rootfs.iter().rev().cloned().map(Some).collect();
    assert_eq!(below, expected);
    // The text output carries them short.
    let text = ok(&["layers", &format!("docker:{tag}")]);
    let top = &chains.last().unwrap()["sha256:".len()..][..12];
    assert!(text.contains(&format!("id {top}")), "{text}");
}
