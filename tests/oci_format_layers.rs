//! Layers that record deletions in the OCI format (`.wh.NAME` files, `.wh..wh..opq` markers),
//! read with `--layer-format oci`: the merged view must be the one the kernel shows for the
//! same layers converted to its own format (0/0 character devices, `overlay.opaque` xattrs).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::Value;

fn write(p: &Path, content: &[u8]) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// Two OCI-format layers over a base: whiteouts of a file and a directory, an opaque
/// directory, a whiteout beside a same-named directory, an aufs marker, a non-UTF-8 name.
fn oci_layers(root: &Path) {
    let base = root.join("base");
    write(&base.join("etc/motd"), b"base motd\n");
    write(&base.join("etc/gone"), b"deleted above\n");
    write(&base.join("var/cache/a"), b"cached\n");
    write(&base.join("var/cache/b"), b"cached\n");
    write(&base.join("srv/old/x"), b"old tree\n");
    write(&base.join("opt/app/lib"), b"lib\n");
    let mid = root.join("mid");
    write(&mid.join("etc/.wh.gone"), b"");
    write(&mid.join("var/cache/.wh..wh..opq"), b"");
    write(&mid.join("var/cache/fresh"), b"new cache\n");
    write(&mid.join(".wh.srv"), b"");
    write(&mid.join("opt/.wh.app"), b"");
    write(&mid.join("opt/app/bin"), b"replaced app\n");
    write(&mid.join(".wh..wh.plnk/123.456"), b"aufs hard-link dir\n");
    let top = root.join("top");
    write(&top.join("etc/motd"), b"top motd\n");
    write(
        &top.join(std::ffi::OsStr::from_bytes(b"caf\xe9")),
        b"latin-1 name\n",
    );
    write(&top.join("var/.wh.cache"), b"");
}

/// The same layers as the kernel stores them.
fn to_kernel_format(from: &Path, to: &Path) {
    // Real entries first, then the markers that refer to them.
    let mut entries: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(from)
        .min_depth(1)
        .into_iter()
        .map(|e| e.expect("walk"))
        .collect();
    entries.sort_by_key(|e| e.file_name().as_bytes().starts_with(b".wh."));
    for entry in entries {
        let rel = entry.path().strip_prefix(from).expect("prefix");
        let name = entry.file_name().as_bytes();
        let parent = to.join(rel).parent().expect("parent").to_path_buf();
        if rel.starts_with(".wh..wh.plnk")
            || entry
                .path()
                .ancestors()
                .any(|a| a.ends_with(".wh..wh.plnk"))
        {
            continue;
        }
        if name == b".wh..wh..opq" {
            rustix::fs::setxattr(
                &parent,
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .expect("opaque xattr");
        } else if let Some(target) = name.strip_prefix(b".wh.") {
            let path = parent.join(OsStr::from_bytes(target));
            if path.exists() {
                rustix::fs::setxattr(
                    &path,
                    "trusted.overlay.opaque",
                    b"y",
                    rustix::fs::XattrFlags::empty(),
                )
                .expect("opaque xattr");
                continue;
            }
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .expect("mknod whiteout");
        } else if entry.file_type().is_dir() {
            std::fs::create_dir_all(to.join(rel)).expect("mkdir");
        } else {
            std::fs::create_dir_all(&parent).expect("mkdir");
            std::fs::copy(entry.path(), to.join(rel)).expect("copy");
        }
    }
}

/// `ls -R --json` as path -> (type, size, content of files).
fn listing(args: &[&OsStr]) -> BTreeMap<String, (String, u64, Option<Vec<u8>>)> {
    let (code, out, err) = common::run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|r| r.get("anomaly").is_none())
        .map(|r| {
            let path = r["path"].as_str().expect("path").to_string();
            (
                path,
                (
                    r["type"].as_str().expect("type").to_string(),
                    r["size"].as_u64().unwrap_or(0),
                    None,
                ),
            )
        })
        .collect()
}

/// Path bytes -> (type, size, bytes of regular files).
type View = BTreeMap<Vec<u8>, (&'static str, u64, Option<Vec<u8>>)>;

/// The kernel's merged view.
fn kernel_view(point: &Path) -> View {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(point).min_depth(1) {
        let e = e.expect("walk the mount");
        let mut p = b"/".to_vec();
        p.extend_from_slice(
            e.path()
                .strip_prefix(point)
                .expect("prefix")
                .as_os_str()
                .as_bytes(),
        );
        let t = e.file_type();
        let (kind, content) = if t.is_dir() {
            ("dir", None)
        } else if t.is_file() {
            ("file", Some(std::fs::read(e.path()).expect("read")))
        } else {
            ("other", None)
        };
        let size = if t.is_dir() {
            0
        } else {
            e.metadata().expect("stat").len()
        };
        out.insert(p, (kind, size, content));
    }
    out
}

#[test]
fn oci_format_layers_merge_as_the_kernel_merges_their_kernel_format_copy() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let oci = tmp.path().join("oci");
    oci_layers(&oci);
    let kernel = tmp.path().join("kernel");
    for layer in ["base", "mid", "top"] {
        std::fs::create_dir_all(kernel.join(layer)).expect("mkdir");
        to_kernel_format(&oci.join(layer), &kernel.join(layer));
    }
    let lowers = |root: &Path| {
        let mut s = root.join("top").into_os_string();
        for l in ["mid", "base"] {
            s.push(":");
            s.push(root.join(l));
        }
        s
    };
    let point = tmp.path().join("merged");
    let mount = common::Mount::new(
        &point,
        &format!("lowerdir={}", lowers(&kernel).to_string_lossy()),
    )
    .expect("mount the kernel-format copy");
    let want = kernel_view(&mount.point);

    let oci_lowers = lowers(&oci);
    let args = [
        OsStr::new("ls"),
        OsStr::new("-R"),
        OsStr::new("--json"),
        OsStr::new("--layer-format"),
        OsStr::new("oci"),
        OsStr::new("--lowerdir"),
        &oci_lowers,
        OsStr::new("/"),
    ];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{err}");
    let mut got = BTreeMap::new();
    for line in String::from_utf8(out).expect("utf-8").lines() {
        let r: Value = serde_json::from_str(line).expect("json");
        assert!(r.get("anomaly").is_none(), "no anomaly expected: {r}");
        // `path` is lossy for a name that is not UTF-8; `path_b64` then holds the bytes.
        let path = match r["path_b64"].as_str() {
            Some(b64) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64")
            }
            None => r["path"].as_str().expect("path").as_bytes().to_vec(),
        };
        if path == b"/" {
            continue;
        }
        let kind = match r["type"].as_str().expect("type") {
            "dir" => "dir",
            "file" => "file",
            _ => "other",
        };
        let size = if kind == "dir" {
            0
        } else {
            r["size"].as_u64().expect("size")
        };
        let content = (kind == "file").then(|| {
            let (code, bytes, err) = common::run(&[
                OsStr::new("cat"),
                OsStr::new("--layer-format"),
                OsStr::new("oci"),
                OsStr::new("--lowerdir"),
                &oci_lowers,
                OsStr::from_bytes(&path),
            ]);
            assert_eq!(code, 0, "cat {}: {err}", String::from_utf8_lossy(&path));
            bytes
        });
        got.insert(path, (kind, size, content));
    }
    assert_eq!(
        got, want,
        "the OCI-format layers' merged view differs from the kernel's"
    );
    // The markers themselves never show, and the whited-out names are really gone.
    assert!(want.keys().all(|p| !p.windows(4).any(|w| w == b".wh.")));
    assert!(!want.contains_key(b"/srv".as_slice()) && !want.contains_key(b"/var/cache".as_slice()));

    // Without the flag the same layers read as plain files, markers and all.
    let plain = listing(&[
        OsStr::new("ls"),
        OsStr::new("-R"),
        OsStr::new("--json"),
        OsStr::new("--lowerdir"),
        &oci_lowers,
        OsStr::new("/"),
    ]);
    assert!(
        plain.contains_key("/etc/.wh.gone"),
        "kernel format shows the marker files"
    );
}
