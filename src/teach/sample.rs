//! The sample stack: a small distribution in three image layers, as an image extractor would
//! unpack them, plus an empty container layer.
//!
//! This is the one place in layerscope that writes layer files, and it only writes the layers
//! it creates itself, inside the demo's own directory. Deletions and replaced directories are
//! written the way Docker's extractor writes them: a char 0/0 device for a deleted path, and
//! `<ns>.overlay.opaque=y` on a directory that replaces the one below.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::stack::XattrNamespace;

/// What a sample entry is.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A directory with this mode.
    Dir(u32),
    /// A text file with this mode.
    Text(u32, &'static str),
    /// A binary-looking file (an ELF header, then deterministic noise) of this many bytes.
    Binary(u32, usize),
    /// A symlink to this target.
    Symlink(&'static str),
    /// A deletion: a char 0/0 device.
    Whiteout,
    /// A directory that replaces the one below (`opaque=y`).
    OpaqueDir(u32),
}

/// One image layer of the sample.
struct LayerSpec {
    dir: &'static str,
    label: &'static str,
    /// Every entry's mtime, seconds since the epoch (an image layer keeps its tar's times).
    mtime: i64,
    items: &'static [(&'static str, Item)],
}

const OS_RELEASE: &str = "PRETTY_NAME=\"Tinix 1.0 (layerscope demo)\"\nNAME=\"Tinix\"\n\
VERSION_ID=\"1.0\"\nID=tinix\nHOME_URL=\"https://example.org/tinix\"\n";

/// The bytes the tour appends to `/etc/os-release`.
pub const APPENDED: &str = "DEMO_NOTE=\"appended through the merged mount\"\n";

/// The file the tour creates.
pub const NOTES: &str = "a new file: it exists only in the upper layer\n";

/// The README the tour writes into the recreated `/usr/share/doc`.
pub const DOC_README: &str = "documentation removed to keep the image small\n";

/// Size of `/srv/app/server`, the file the tour chmods.
pub const SERVER_SIZE: usize = 192 * 1024;

const BASE: LayerSpec = LayerSpec {
    dir: "1-base",
    label: "ADD rootfs.tar / (Tinix base system)",
    mtime: 1_704_067_200, // 2024-01-01
    items: &[
        ("bin", Item::Symlink("usr/bin")),
        ("lib", Item::Symlink("usr/lib")),
        ("sbin", Item::Symlink("usr/sbin")),
        ("etc", Item::Dir(0o755)),
        ("etc/os-release", Item::Text(0o644, OS_RELEASE)),
        ("etc/hostname", Item::Text(0o644, "tinix\n")),
        (
            "etc/passwd",
            Item::Text(
                0o644,
                "root:x:0:0:root:/root:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            ),
        ),
        (
            "etc/group",
            Item::Text(0o644, "root:x:0:\nnogroup:x:65534:\n"),
        ),
        (
            "etc/shadow",
            Item::Text(0o640, "root:*:19000:0:99999:7:::\n"),
        ),
        ("etc/motd", Item::Text(0o644, "Welcome to Tinix!\n")),
        (
            "etc/profile",
            Item::Text(0o644, "export PATH=/usr/local/bin:/usr/bin:/usr/sbin\n"),
        ),
        ("usr", Item::Dir(0o755)),
        ("usr/bin", Item::Dir(0o755)),
        ("usr/bin/sh", Item::Binary(0o755, 40 * 1024)),
        ("usr/bin/ls", Item::Binary(0o755, 24 * 1024)),
        ("usr/bin/cat", Item::Binary(0o755, 12 * 1024)),
        ("usr/sbin", Item::Dir(0o755)),
        ("usr/sbin/nologin", Item::Binary(0o755, 4 * 1024)),
        ("usr/lib", Item::Dir(0o755)),
        ("usr/lib/x86_64-linux-gnu", Item::Dir(0o755)),
        (
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            Item::Binary(0o755, 96 * 1024),
        ),
        ("usr/share", Item::Dir(0o755)),
        ("usr/share/doc", Item::Dir(0o755)),
        ("usr/share/doc/base-files", Item::Dir(0o755)),
        (
            "usr/share/doc/base-files/copyright",
            Item::Text(0o644, "Tinix base files. Public domain.\n"),
        ),
        ("var", Item::Dir(0o755)),
        ("var/lib", Item::Dir(0o755)),
        ("var/lib/dpkg", Item::Dir(0o755)),
        (
            "var/lib/dpkg/status",
            Item::Text(0o644, "Package: base-files\nStatus: install ok installed\n"),
        ),
        ("var/cache", Item::Dir(0o755)),
        ("var/cache/apt", Item::Dir(0o755)),
        ("var/cache/apt/archives", Item::Dir(0o755)),
        ("var/www", Item::Dir(0o755)),
        ("var/www/html", Item::Dir(0o755)),
        (
            "var/www/html/index.html",
            Item::Text(0o644, "<h1>It works!</h1>\n"),
        ),
        ("root", Item::Dir(0o700)),
        ("home", Item::Dir(0o755)),
        ("tmp", Item::Dir(0o1777)),
    ],
};

const PACKAGES: LayerSpec = LayerSpec {
    dir: "2-packages",
    label: "RUN apt-get install -y curl nginx-light",
    mtime: 1_706_745_600, // 2024-02-01
    items: &[
        ("usr", Item::Dir(0o755)),
        ("usr/bin", Item::Dir(0o755)),
        ("usr/bin/curl", Item::Binary(0o755, 24 * 1024)),
        ("usr/sbin", Item::Dir(0o755)),
        ("usr/sbin/nginx", Item::Binary(0o755, 64 * 1024)),
        ("usr/lib", Item::Dir(0o755)),
        ("usr/lib/x86_64-linux-gnu", Item::Dir(0o755)),
        (
            "usr/lib/x86_64-linux-gnu/libcurl.so.4",
            Item::Binary(0o644, 64 * 1024),
        ),
        ("usr/share", Item::Dir(0o755)),
        ("usr/share/doc", Item::Dir(0o755)),
        ("usr/share/doc/curl", Item::Dir(0o755)),
        (
            "usr/share/doc/curl/copyright",
            Item::Text(0o644, "curl: MIT/X derivative license\n"),
        ),
        ("usr/share/doc/nginx-light", Item::Dir(0o755)),
        (
            "usr/share/doc/nginx-light/copyright",
            Item::Text(0o644, "nginx: 2-clause BSD\n"),
        ),
        ("etc", Item::Dir(0o755)),
        ("etc/nginx", Item::Dir(0o755)),
        (
            "etc/nginx/nginx.conf",
            Item::Text(
                0o644,
                "events {}\nhttp { server { root /var/www/html; } }\n",
            ),
        ),
        ("var", Item::Dir(0o755)),
        ("var/lib", Item::Dir(0o755)),
        ("var/lib/dpkg", Item::Dir(0o755)),
        (
            "var/lib/dpkg/status",
            Item::Text(
                0o644,
                "Package: base-files\nStatus: install ok installed\n\n\
                 Package: curl\nStatus: install ok installed\n\n\
                 Package: nginx-light\nStatus: install ok installed\n",
            ),
        ),
        ("var/cache", Item::Dir(0o755)),
        ("var/cache/apt", Item::Dir(0o755)),
        ("var/cache/apt/archives", Item::Dir(0o755)),
        (
            "var/cache/apt/archives/curl_8.5.0_amd64.deb",
            Item::Binary(0o644, 16 * 1024),
        ),
        (
            "var/cache/apt/archives/nginx-light_1.24_amd64.deb",
            Item::Binary(0o644, 32 * 1024),
        ),
        ("var/www", Item::Dir(0o755)),
        ("var/www/html", Item::Dir(0o755)),
        (
            "var/www/html/index.nginx-debian.html",
            Item::Text(0o644, "<h1>Welcome to nginx!</h1>\n"),
        ),
    ],
};

const APP: LayerSpec = LayerSpec {
    dir: "3-app",
    label: "COPY app /srv/app; RUN cleanup",
    mtime: 1_709_251_200, // 2024-03-01
    items: &[
        ("srv", Item::Dir(0o755)),
        ("srv/app", Item::Dir(0o755)),
        ("srv/app/server", Item::Binary(0o755, SERVER_SIZE)),
        (
            "srv/app/config.toml",
            Item::Text(0o644, "listen = \"0.0.0.0:8080\"\nstatic = \"static\"\n"),
        ),
        ("srv/app/static", Item::Dir(0o755)),
        (
            "srv/app/static/index.html",
            Item::Text(0o644, "<h1>Hello from the app</h1>\n"),
        ),
        (
            "srv/app/static/app.js",
            Item::Text(0o644, "console.log('hello');\n"),
        ),
        ("etc", Item::Dir(0o755)),
        ("etc/motd", Item::Whiteout),
        ("var", Item::Dir(0o755)),
        ("var/cache", Item::Dir(0o755)),
        ("var/cache/apt", Item::Dir(0o755)),
        ("var/cache/apt/archives", Item::Dir(0o755)),
        (
            "var/cache/apt/archives/curl_8.5.0_amd64.deb",
            Item::Whiteout,
        ),
        (
            "var/cache/apt/archives/nginx-light_1.24_amd64.deb",
            Item::Whiteout,
        ),
        ("var/www", Item::Dir(0o755)),
        ("var/www/html", Item::OpaqueDir(0o755)),
        (
            "var/www/html/index.html",
            Item::Text(0o644, "<h1>Served by /srv/app</h1>\n"),
        ),
    ],
};

/// The image layers, bottom first.
const IMAGE: [&LayerSpec; 3] = [&BASE, &PACKAGES, &APP];

/// The directories of a built sample stack.
#[derive(Debug, Clone)]
pub struct SampleLayout {
    /// The directory holding everything below.
    pub root: PathBuf,
    /// The image layers, **top first** (the `lowerdir=` order), with their labels.
    pub lowers: Vec<(PathBuf, String)>,
    /// The container layer (`upperdir`), empty when built.
    pub upper: PathBuf,
    /// The overlay's `workdir`.
    pub work: PathBuf,
    /// Where the merged view is mounted.
    pub merged: PathBuf,
}

/// The content of a sample file, by its layer directory name and path.
#[must_use]
pub fn content(layer_dir: &str, rel: &str) -> Option<Vec<u8>> {
    IMAGE
        .iter()
        .filter(|l| l.dir == layer_dir)
        .flat_map(|l| l.items.iter())
        .find(|(p, _)| *p == rel)
        .and_then(|(p, item)| match item {
            Item::Text(_, t) => Some(t.as_bytes().to_vec()),
            Item::Binary(_, size) => Some(binary(p, *size)),
            _ => None,
        })
}

/// Deterministic bytes that look like a small executable.
fn binary(name: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
    // xorshift64, seeded from the name, so every file differs and every build is identical.
    let mut x: u64 = name.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Builds the sample stack under `root` (which must exist and be empty): `lower/1-base`,
/// `lower/2-packages`, `lower/3-app`, an empty `upper`, `work` and `merged`.
///
/// # Errors
/// A file cannot be created, a whiteout cannot be made (mknod of a 0/0 device needs Linux 5.8
/// without privileges), or the filesystem refuses overlay xattrs in namespace `ns`.
pub fn build(root: &Path, ns: XattrNamespace) -> Result<SampleLayout> {
    let mut lowers = Vec::new();
    for spec in IMAGE {
        let dir = root.join("lower").join(spec.dir);
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating layer", &dir, e))?;
        for (rel, item) in spec.items {
            let path = dir.join(rel);
            write_item(&path, rel, *item, ns).map_err(|e| Error::io("writing sample", &path, e))?;
        }
        // Children first, so that setting a child's time does not move its parent's again.
        for (rel, _) in spec.items.iter().rev() {
            let path = dir.join(rel);
            set_mtime(&path, spec.mtime).map_err(|e| Error::io("setting the time of", &path, e))?;
        }
        lowers.push((dir, spec.label.to_string()));
    }
    lowers.reverse();
    let layout = SampleLayout {
        root: root.to_path_buf(),
        lowers,
        upper: root.join("upper"),
        work: root.join("work"),
        merged: root.join("merged"),
    };
    for d in [&layout.upper, &layout.work, &layout.merged] {
        fs::create_dir(d).map_err(|e| Error::io("creating", d, e))?;
    }
    // The layer roots get fixed modes whatever the umask was.
    for d in layout.lowers.iter().map(|(p, _)| p).chain([&layout.upper]) {
        set_mode(d, 0o755).map_err(|e| Error::io("setting the mode of", d, e))?;
    }
    Ok(layout)
}

fn write_item(path: &Path, rel: &str, item: Item, ns: XattrNamespace) -> io::Result<()> {
    match item {
        Item::Dir(mode) => {
            fs::create_dir(path)?;
            set_mode(path, mode)
        }
        Item::OpaqueDir(mode) => {
            fs::create_dir(path)?;
            set_mode(path, mode)?;
            let name = format!("{}opaque", ns.prefix());
            rustix::fs::lsetxattr(path, name.as_str(), b"y", rustix::fs::XattrFlags::empty())
                .map_err(io::Error::from)
        }
        Item::Text(mode, text) => {
            fs::write(path, text)?;
            set_mode(path, mode)
        }
        Item::Binary(mode, size) => {
            fs::write(path, binary(rel, size))?;
            set_mode(path, mode)
        }
        Item::Symlink(target) => symlink(target, path),
        Item::Whiteout => rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(io::Error::from),
    }
}

fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_deterministic_sized_and_distinct() {
        let a = binary("usr/bin/sh", 1000);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, binary("usr/bin/sh", 1000));
        assert_ne!(a, binary("usr/bin/ls", 1000));
        assert!(a.starts_with(b"\x7fELF"));
    }

    #[test]
    fn every_whiteout_and_opaque_dir_hides_something_below() {
        for (rel, item) in APP.items {
            if matches!(item, Item::Whiteout | Item::OpaqueDir(_)) {
                let below = [&BASE, &PACKAGES]
                    .iter()
                    .any(|l| l.items.iter().any(|(p, _)| p == rel));
                assert!(below, "{rel} hides nothing");
            }
        }
    }

    /// The layers as built merge (by layerscope's engine) into what the image means.
    #[test]
    fn built_layers_merge_as_the_image_intends() {
        use crate::merge::Merger;
        use crate::stack::options::KernelDefaults;
        use crate::stack::{LayerStack, MountOptions};

        let tmp = tempfile::tempdir().unwrap();
        let layout = match build(tmp.path(), XattrNamespace::User) {
            Ok(l) => l,
            // A filesystem without user xattrs (tmpfs before 6.6) cannot hold the markers.
            Err(e) if e.to_string().contains("not supported") => return,
            Err(e) => panic!("{e}"),
        };
        let options =
            MountOptions::from_options([("userxattr", None)], &KernelDefaults::default()).unwrap();
        let stack = LayerStack::from_dirs(
            "sample".into(),
            Some(layout.upper.clone()),
            layout.lowers.iter().map(|(p, _)| p.clone()).collect(),
            Vec::new(),
            options,
        );
        let merger = Merger::open(&stack).unwrap();
        assert!(merger.resolve(b"/etc/motd").unwrap().entry.is_none());
        assert!(
            merger
                .resolve(b"/var/cache/apt/archives/curl_8.5.0_amd64.deb")
                .unwrap()
                .entry
                .is_none()
        );
        let html = merger.entry(b"/var/www/html").unwrap();
        let names: Vec<_> = merger
            .list(&html)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(names, [b"/var/www/html/index.html".to_vec()]);
        assert_eq!(merger.entry(b"/usr/bin/curl").unwrap().layer, 2);
        let bin = merger.entry(b"/bin").unwrap();
        assert_eq!(bin.target.as_deref(), Some(&b"usr/bin"[..]));
        assert_eq!(bin.meta.mtime, BASE.mtime);
    }

    #[test]
    fn parents_come_before_children() {
        for spec in IMAGE {
            for (i, (rel, _)) in spec.items.iter().enumerate() {
                if let Some((parent, _)) = rel.rsplit_once('/') {
                    assert!(
                        spec.items[..i].iter().any(|(p, _)| *p == parent),
                        "{}: {rel} before its parent",
                        spec.dir
                    );
                }
            }
        }
    }
}
