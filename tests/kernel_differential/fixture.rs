//! Hand-built stacks for focused cases: empty layer directories in a temporary directory,
//! and small helpers to fill them.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType, Mode};

use crate::stackgen::{Layout, Ns, set_xattr};

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub layout: Layout,
}

impl Fixture {
    /// `lowers` normal lower layers (`L1` on top), an upper when asked, `data` data-only
    /// layers, and the mount options that are not layers.
    pub fn new(lowers: usize, upper: bool, data: usize, ns: Ns, options: &[&str]) -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("layerscope-fixture-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let base = tmp.path().join("layers");
        let mk = |name: String| {
            let p = base.join(name);
            fs::create_dir_all(&p).expect("layer dir");
            p
        };
        let layout = Layout {
            lowers: (1..=lowers).map(|i| mk(format!("L{i}"))).collect(),
            data: (1..=data).map(|i| mk(format!("D{i}"))).collect(),
            upper: upper.then(|| mk("U".into())),
            work: upper.then(|| mk("work".into())),
            options: options.iter().map(|s| (*s).to_string()).collect(),
            ns,
        };
        Fixture { tmp, layout }
    }

    pub fn mountpoint(&self) -> PathBuf {
        self.tmp.path().join("mnt")
    }

    /// Lower layer `i` (1 is the top lower).
    pub fn l(&self, i: usize, rel: &str) -> PathBuf {
        join(&self.layout.lowers[i - 1], rel)
    }

    pub fn u(&self, rel: &str) -> PathBuf {
        join(
            self.layout.upper.as_ref().expect("fixture has an upper"),
            rel,
        )
    }

    /// Data-only layer `i`.
    pub fn d(&self, i: usize, rel: &str) -> PathBuf {
        join(&self.layout.data[i - 1], rel)
    }

    /// Sets `<ns>.overlay.<name>`.
    pub fn mark(&self, p: &Path, name: &str, value: &[u8]) {
        set_xattr(p, &format!("{}{name}", self.layout.ns.prefix()), value)
            .unwrap_or_else(|e| panic!("setxattr {name} on {}: {e}", p.display()));
    }

    /// A metacopy file of `size` bytes (sparse), with an optional redirect.
    pub fn metacopy(&self, p: &Path, redirect: Option<&str>, size: u64) {
        file(p, b"");
        fs::OpenOptions::new()
            .write(true)
            .open(p)
            .and_then(|f| f.set_len(size))
            .expect("truncate");
        self.mark(p, "metacopy", b"");
        if let Some(r) = redirect {
            self.mark(p, "redirect", r.as_bytes());
        }
    }

    /// An xattr whiteout: an empty regular file with `<ns>.overlay.whiteout`.
    pub fn xwhiteout(&self, p: &Path) {
        file(p, b"");
        self.mark(p, "whiteout", b"");
    }
}

fn join(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

fn parents(p: &Path) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).expect("parent dirs");
    }
}

pub fn file(p: &Path, content: &[u8]) {
    parents(p);
    fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

pub fn dir(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

pub fn whiteout(p: &Path) {
    parents(p);
    rustix::fs::mknodat(CWD, p, FileType::CharacterDevice, Mode::empty(), 0)
        .unwrap_or_else(|e| panic!("mknod {}: {e}", p.display()));
}

pub fn symlink(p: &Path, target: &str) {
    parents(p);
    std::os::unix::fs::symlink(OsStr::from_bytes(target.as_bytes()), p)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", p.display()));
}
