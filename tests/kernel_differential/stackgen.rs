//! Random overlay stacks built on disk, with every marker the kernel reads: char 0/0 and xattr
//! whiteouts, opaque values (`y` and the ones that are not opaque), `x` markers, type changes,
//! hand-made metacopy files and redirects, odd names, hard links, fifos.
//!
//! Layers are built bottom-up so that higher layers can aim at paths that exist below (a
//! whiteout over a whole tree, a directory over a file over a directory, ...).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, FileType, Mode, XattrFlags};

use crate::prng::Rng;

/// The xattr namespace a stack keeps its markers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    Trusted,
    User,
}

impl Ns {
    pub fn prefix(self) -> &'static str {
        match self {
            Ns::Trusted => "trusted.overlay.",
            Ns::User => "user.overlay.",
        }
    }

    fn other(self) -> Ns {
        match self {
            Ns::Trusted => Ns::User,
            Ns::User => Ns::Trusted,
        }
    }
}

/// What to put in a random stack.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Number of normal lower layers.
    pub lowers: usize,
    /// Whether there is an upper layer (and a workdir).
    pub upper: bool,
    pub ns: Ns,
    /// Layer directory names with `:`, `\` and spaces (escaped in the mount options).
    pub odd_layer_names: bool,
    /// Hand-made metacopy files (empty metacopy xattr, sometimes with an absolute redirect).
    pub metacopy_files: bool,
    /// Hand-made redirects on directories (relative, absolute, sometimes invalid).
    pub redirect_dirs: bool,
    /// Files owned by uid 1000 (not in a user namespace, where that uid is unmapped).
    pub chown: bool,
    /// Mount options that are not layers (`redirect_dir=on`, ...).
    pub options: Vec<String>,
    /// Hand-made redirects the kernel itself never writes: origins left visible or shared by
    /// two redirects, `..` and `.` components, redirects into the redirecting directory's own
    /// subtree (see [`Builder::claim`]).
    pub adversarial: bool,
}

/// A stack on disk.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Normal lower layers, top first.
    pub lowers: Vec<PathBuf>,
    /// Data-only layers.
    pub data: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub options: Vec<String>,
    pub ns: Ns,
}

/// Escapes a layer path for the mount syntax: `\`, `:` and `,` get a backslash.
pub fn escape_layer(p: &Path) -> String {
    escape(p, &['\\', ':', ','])
}

/// Escapes an `upperdir=`/`workdir=` path: the kernel drops every backslash (`ovl_unescape`).
pub fn escape_upper(p: &Path) -> String {
    escape(p, &['\\'])
}

fn escape(p: &Path, special: &[char]) -> String {
    let s = p.to_str().expect("layer paths are UTF-8");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Layout {
    /// The `lowerdir=` value: escaped lowers, then `::` and the data-only layers.
    pub fn lowerdir(&self) -> String {
        let mut s = self
            .lowers
            .iter()
            .map(|p| escape_layer(p))
            .collect::<Vec<_>>()
            .join(":");
        for d in &self.data {
            s.push_str("::");
            s.push_str(&escape_layer(d));
        }
        s
    }

    /// The full `-o` string for `mount -t overlay`.
    pub fn mount_options(&self) -> String {
        let mut s = format!("lowerdir={}", self.lowerdir());
        if let (Some(u), Some(w)) = (&self.upper, &self.work) {
            s.push_str(&format!(
                ",upperdir={},workdir={}",
                escape_upper(u),
                escape_upper(w)
            ));
        }
        for o in &self.options {
            s.push(',');
            s.push_str(o);
        }
        s
    }

    /// `ls -R --json` arguments naming the same stack explicitly.
    pub fn explicit_args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec![
            "ls".into(),
            "-R".into(),
            "--json".into(),
            "--lowerdir".into(),
            self.lowerdir().into(),
        ];
        if let Some(u) = &self.upper {
            a.push("--upperdir".into());
            a.push(u.clone().into_os_string());
        }
        // The index (index=on) is read from the workdir, as from a mount's.
        if let Some(w) = self.work.as_ref().filter(|_| {
            self.options
                .iter()
                .any(|o| o == "index=on" || o == "nfs_export=on")
        }) {
            a.push("--workdir".into());
            a.push(w.clone().into_os_string());
        }
        if !self.options.is_empty() {
            a.push("-o".into());
            a.push(self.options.join(",").into());
        }
        a
    }

    /// Every layer directory, top-down, with a label.
    pub fn all_layers(&self) -> Vec<(String, PathBuf)> {
        let mut v = Vec::new();
        if let Some(u) = &self.upper {
            v.push(("upper".to_string(), u.clone()));
        }
        for (i, l) in self.lowers.iter().enumerate() {
            v.push((format!("lower {}", i + 1), l.clone()));
        }
        for (i, l) in self.data.iter().enumerate() {
            v.push((format!("data {}", i + 1), l.clone()));
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Whiteout,
    XWhiteout,
    Fifo,
    Hardlink,
    Metacopy,
    RedirectDir,
}

struct LayerModel {
    root: PathBuf,
    entries: BTreeMap<Vec<u8>, Kind>,
    /// Some directory of this layer is marked `opaque=x`.
    x_marked: bool,
}

const PLAIN: &[&[u8]] = &[b"a", b"b", b"c", b"d", b"e"];
const ODD: &[&[u8]] = &[
    b".wh.a",
    b".wh..wh..opq",
    b"sp ace",
    b"com,ma",
    b"co:lon",
    b"back\\slash",
    b"new\nline",
    b"bad\xffutf8",
    b"\xe9t\xe9",
    b".hidden",
    b"-dash",
];

/// A random name: mostly a few plain ones (so layers collide), sometimes an odd one.
pub fn name(rng: &mut Rng) -> Vec<u8> {
    match rng.below(100) {
        0..=74 => rng.pick(PLAIN).to_vec(),
        75..=96 => rng.pick(ODD).to_vec(),
        _ => {
            let mut n = vec![b'n'; 254];
            n.push(*rng.pick(b"xy"));
            n
        }
    }
}

pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

fn parent(p: &[u8]) -> Vec<u8> {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p[..i].to_vec(),
        None => Vec::new(),
    }
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    rustix::fs::lsetxattr(path, name, value, XattrFlags::empty()).map_err(io::Error::from)
}

fn has_xattr(path: &Path, name: &str) -> bool {
    let mut buf = [0u8; 64];
    rustix::fs::lgetxattr(path, name, &mut buf[..]).is_ok()
}

fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn lchown(path: &Path, id: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(id), Some(id))
}

struct Builder<'a> {
    rng: &'a mut Rng,
    plan: &'a Plan,
    /// Built layers, bottom first; the last one is being built.
    layers: Vec<LayerModel>,
    /// Paths that carry a redirect, and the paths they redirect to (see [`Builder::claim`]).
    claimed: Vec<Vec<u8>>,
}

/// Builds a random stack under `base` (which must exist and be empty).
pub fn build(rng: &mut Rng, base: &Path, plan: &Plan) -> io::Result<Layout> {
    // Odd characters in layer directory names, escaped in the mount options as the mount
    // syntax wants. The upper gets no backslash yet: main's mountinfo decoder does not undo
    // the kernel's `upperdir=` escapes (the `mountinfo` branch does; then use ODD for it too).
    const ODD: &[&str] = &[":co", "\\bs", " sp", ":a\\b c", ",cm"];
    const ODD_UPPER: &[&str] = &[":co", "\\bs", " sp", ":a\\b c"];
    let layer_name = |rng: &mut Rng, label: String, odd: &[&str]| -> String {
        if plan.odd_layer_names && rng.chance(60) {
            format!("{label}{}", rng.pick(odd))
        } else {
            label
        }
    };
    let mut lowers = Vec::new();
    for i in 1..=plan.lowers {
        let n = layer_name(rng, format!("L{i}"), ODD);
        lowers.push(base.join(n));
    }
    let upper = plan
        .upper
        .then(|| base.join(layer_name(rng, "U".into(), ODD_UPPER)));
    let work = plan.upper.then(|| base.join("work"));
    let mut b = Builder {
        rng,
        plan,
        layers: Vec::new(),
        claimed: Vec::new(),
    };
    for (i, root) in lowers.iter().enumerate().rev() {
        b.build_layer(root.clone(), false, i + 1 == plan.lowers)?;
    }
    if let Some(u) = &upper {
        b.build_layer(u.clone(), true, false)?;
    }
    if let Some(w) = &work {
        fs::create_dir(w)?;
    }
    Ok(Layout {
        lowers,
        data: Vec::new(),
        upper,
        work,
        options: plan.options.clone(),
        ns: plan.ns,
    })
}

impl Builder<'_> {
    fn ns(&self) -> &'static str {
        self.plan.ns.prefix()
    }

    fn build_layer(&mut self, root: PathBuf, upper: bool, _bottom: bool) -> io::Result<()> {
        fs::create_dir(&root)?;
        // Markers on a layer root: the kernel ignores opaque there (and reads x at mount time).
        match self.rng.below(100) {
            0..=5 => set_xattr(&root, &format!("{}opaque", self.ns()), b"y")?,
            6..=9 => set_xattr(&root, &format!("{}opaque", self.ns()), b"x")?, // (noted below)
            _ => {}
        }
        self.layers.push(LayerModel {
            root: root.clone(),
            entries: BTreeMap::new(),
            x_marked: false,
        });
        let ops = if upper {
            self.rng.range(2, 10)
        } else {
            self.rng.range(3, 14)
        };
        for _ in 0..ops {
            let path = self.pick_path();
            let kind = self.pick_kind();
            self.create(&path, kind, 0).map_err(|e| {
                io::Error::other(format!(
                    "{kind:?} at {}: {e}",
                    layerscope::escape::display(&path)
                ))
            })?;
        }
        // Whether readdir hides a lower layer's xattr whiteouts depends on the layer's
        // `has_xwhiteouts` flag, which the kernel sets at mount time (an `x` on the layer's
        // root) or the first time a lookup meets one of the layer's `opaque=x` directories.
        // An xattr whiteout of layer N in a directory marked `x` in another layer only (so the
        // merged directory checks for them) is therefore listed or not depending on which
        // lookups the kernel has done since the mount: history that layerscope does not
        // model (it answers as a kernel that looked names up in byte order). A layer with any
        // `x` directory gets `x` on its root too, which sets the flag at mount time.
        let layer = self.layers.len() - 1;
        if !upper && self.layers[layer].x_marked {
            set_xattr(&root, &format!("{}opaque", self.ns()), b"x")?;
        }
        Ok(())
    }

    fn pick_kind(&mut self) -> Kind {
        let mut kinds = vec![
            (Kind::File, 26),
            (Kind::Dir, 20),
            (Kind::Symlink, 9),
            (Kind::Whiteout, 14),
            (Kind::XWhiteout, 9),
            (Kind::Fifo, 3),
            (Kind::Hardlink, 5),
        ];
        if self.plan.metacopy_files {
            kinds.push((Kind::Metacopy, 6));
        }
        if self.plan.redirect_dirs {
            kinds.push((Kind::RedirectDir, 5));
        }
        self.rng.weighted(&kinds)
    }

    /// A path: often one that exists in a lower layer (or next to one), else a fresh one.
    fn pick_path(&mut self) -> Vec<u8> {
        let below = self.layers.len() - 1;
        let existing: Vec<(Vec<u8>, Kind)> = self.layers[..below]
            .iter()
            .flat_map(|l| l.entries.iter().map(|(p, k)| (p.clone(), *k)))
            .collect();
        if !existing.is_empty() && self.rng.chance(65) {
            let (p, k) = existing[self.rng.below(existing.len())].clone();
            return match self.rng.below(4) {
                0 | 1 => p,
                2 if matches!(k, Kind::Dir | Kind::RedirectDir) => {
                    let n = name(self.rng);
                    join(&p, &n)
                }
                _ => {
                    let n = name(self.rng);
                    join(&parent(&p), &n)
                }
            };
        }
        let depth = self.rng.weighted(&[(1, 50), (2, 35), (3, 15)]);
        let mut p = Vec::new();
        for _ in 0..depth {
            let n = name(self.rng);
            p = join(&p, &n);
        }
        p
    }

    fn existing_below(&self, pred: impl Fn(Kind) -> bool) -> Vec<Vec<u8>> {
        let below = self.layers.len() - 1;
        self.layers[..below]
            .iter()
            .flat_map(|l| l.entries.iter())
            .filter(|(_, k)| pred(**k))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Creates the parents of `path` in the current layer as plain directories; false when one
    /// of them is already something else there.
    fn ensure_parents(&mut self, path: &[u8]) -> io::Result<bool> {
        let layer = self.layers.len() - 1;
        let mut prefix = Vec::new();
        let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        for c in &comps[..comps.len() - 1] {
            prefix = join(&prefix, c);
            match self.layers[layer].entries.get(&prefix) {
                Some(Kind::Dir | Kind::RedirectDir) => {}
                Some(_) => return Ok(false),
                None => {
                    let full = self.full(&prefix);
                    fs::create_dir(&full)?;
                    if self.rng.chance(15) {
                        chmod(&full, 0o700)?;
                    }
                    self.layers[layer].entries.insert(prefix.clone(), Kind::Dir);
                }
            }
        }
        Ok(true)
    }

    fn full(&self, rel: &[u8]) -> PathBuf {
        let root = &self.layers[self.layers.len() - 1].root;
        if rel.is_empty() {
            root.clone()
        } else {
            root.join(OsStr::from_bytes(rel))
        }
    }

    fn create(&mut self, path: &[u8], kind: Kind, depth: usize) -> io::Result<()> {
        let layer = self.layers.len() - 1;
        if self.layers[layer].entries.contains_key(path) || !self.ensure_parents(path)? {
            return Ok(());
        }
        let full = self.full(path);
        let ns = self.ns();
        let chown = self.plan.chown;
        match kind {
            Kind::File => {
                let len = if self.rng.chance(20) {
                    0
                } else {
                    self.rng.range(1, 40)
                };
                let content = self.rng.bytes(len);
                fs::write(&full, content)?;
                if chown && self.rng.chance(8) {
                    lchown(&full, 1000)?;
                }
                let mode = *self.rng.pick(&[
                    0o644, 0o644, 0o644, 0o600, 0o755, 0o4755, 0o2711, 0o444, 0o000, 0o1644,
                ]);
                chmod(&full, mode)?;
                if len > 0 && self.rng.chance(10) {
                    // Not a whiteout: it has data.
                    set_xattr(&full, &format!("{ns}whiteout"), b"")?;
                }
            }
            Kind::Dir | Kind::RedirectDir => {
                fs::create_dir(&full)?;
                if chown && self.rng.chance(8) {
                    lchown(&full, 1000)?;
                }
                let mode = *self
                    .rng
                    .pick(&[0o755, 0o755, 0o755, 0o700, 0o1777, 0o2755, 0o555]);
                chmod(&full, mode)?;
                if self.rng.chance(25) {
                    let v: &[u8] = self.rng.weighted(&[
                        (&b"y"[..], 8),
                        (b"yes", 1),
                        (b"Y", 1),
                        (b"", 1),
                        (b"x", 2),
                        (b"y\n", 1),
                    ]);
                    set_xattr(&full, &format!("{ns}opaque"), v)?;
                    self.layers[layer].x_marked |= v == b"x";
                }
                if self.rng.chance(10) {
                    // Markers that mean nothing to this stack: the other namespace, escaped.
                    if self.rng.chance(50) {
                        // Best effort: a user namespace cannot write trusted.* at all.
                        let _ = set_xattr(
                            &full,
                            &format!("{}opaque", self.plan.ns.other().prefix()),
                            b"y",
                        );
                    } else {
                        set_xattr(&full, &format!("{ns}overlay.opaque"), b"y")?;
                    }
                }
                if kind == Kind::RedirectDir {
                    let value = self.redirect_value(path);
                    if self.claim(path, &value)? {
                        set_xattr(&full, &format!("{ns}redirect"), &value)?;
                    }
                }
                self.layers[layer].entries.insert(path.to_vec(), kind);
                if depth < 2 && self.rng.chance(50) {
                    for _ in 0..self.rng.range(1, 3) {
                        let n = name(self.rng);
                        let k = self.rng.weighted(&[
                            (Kind::File, 5),
                            (Kind::Dir, 3),
                            (Kind::Symlink, 1),
                            (Kind::Whiteout, 1),
                        ]);
                        self.create(&join(path, &n), k, depth + 1)?;
                    }
                }
                return Ok(());
            }
            Kind::Symlink => {
                let own = path.to_vec();
                let target: Vec<u8> = match self.rng.below(12) {
                    0 => b"/a".to_vec(),
                    1 => b"/a/b".to_vec(),
                    2 => b"../b".to_vec(),
                    3 => b"a".to_vec(),
                    4 => b"dangling-nowhere".to_vec(),
                    5 => b"/".to_vec(),
                    6 => b"..".to_vec(),
                    7 => b"../../../../etc/passwd".to_vec(),
                    8 => own,
                    9 => b"/co:lon/new\nline sp".to_vec(),
                    _ => {
                        let n = name(self.rng);
                        let m = name(self.rng);
                        join(&n, &m)
                    }
                };
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &full)?;
                if chown && self.rng.chance(10) {
                    lchown(&full, 1000)?;
                }
            }
            Kind::Whiteout => {
                // Docker's extractor makes mode 0000; an image's "real" char 0:0 device has a
                // normal mode. Both are whiteouts.
                let mode = *self.rng.pick(&[0o000, 0o000, 0o644, 0o600]);
                rustix::fs::mknodat(
                    CWD,
                    &full,
                    FileType::CharacterDevice,
                    Mode::from_raw_mode(mode),
                    0,
                )?;
                chmod(&full, mode)?;
            }
            Kind::XWhiteout => {
                fs::write(&full, b"")?;
                let v: &[u8] = if self.rng.chance(50) { b"" } else { b"y" };
                set_xattr(&full, &format!("{ns}whiteout"), v)?;
                if self.rng.chance(60) {
                    let par = self.full(&parent(path));
                    let opaque = format!("{ns}opaque");
                    if !has_xattr(&par, &opaque) {
                        set_xattr(&par, &opaque, b"x")?;
                        self.layers[layer].x_marked = true;
                    }
                }
            }
            Kind::Fifo => {
                rustix::fs::mknodat(CWD, &full, FileType::Fifo, Mode::from_raw_mode(0o644), 0)?;
            }
            Kind::Hardlink => {
                let files: Vec<Vec<u8>> = self.layers[layer]
                    .entries
                    .iter()
                    .filter(|(_, k)| **k == Kind::File)
                    .map(|(p, _)| p.clone())
                    .collect();
                if files.is_empty() {
                    return Ok(());
                }
                let i = self.rng.below(files.len());
                let src = self.full(&files[i]);
                fs::hard_link(src, &full)?;
            }
            Kind::Metacopy => {
                fs::write(&full, b"")?;
                let f = fs::OpenOptions::new().write(true).open(&full)?;
                f.set_len(self.rng.range(0, 40) as u64)?;
                drop(f);
                let value: &[u8] =
                    self.rng
                        .weighted(&[(&b""[..], 8), (&[0, 4, 0, 0], 2), (b"ab", 1)]);
                set_xattr(&full, &format!("{ns}metacopy"), value)?;
                chmod(&full, *self.rng.pick(&[0o644, 0o600, 0o755]))?;
                if self.rng.chance(40) {
                    let targets = self.existing_below(|k| k == Kind::File);
                    if !targets.is_empty() {
                        let t = targets[self.rng.below(targets.len())].clone();
                        let mut v = b"/".to_vec();
                        v.extend_from_slice(&t);
                        // Claimed before this entry is recorded, so the whiteout that covers
                        // the origin cannot land on it.
                        if self.claim(path, &v)? {
                            set_xattr(&full, &format!("{ns}redirect"), &v)?;
                        }
                    }
                }
            }
        }
        self.layers[layer].entries.insert(path.to_vec(), kind);
        Ok(())
    }

    /// A redirect value for a directory at `path`: relative, absolute, or (rarely) invalid.
    fn redirect_value(&mut self, path: &[u8]) -> Vec<u8> {
        if self.plan.adversarial && self.rng.chance(30) {
            let dirs = self.existing_below(|k| matches!(k, Kind::Dir | Kind::RedirectDir));
            let some_dir = if dirs.is_empty() {
                path.to_vec()
            } else {
                dirs[self.rng.below(dirs.len())].clone()
            };
            let mut v = b"/".to_vec();
            match self.rng.below(5) {
                0 => return b"..".to_vec(),
                1 => return b".".to_vec(),
                2 => {
                    v.extend_from_slice(&some_dir);
                    v.extend_from_slice(b"/../");
                    v.extend_from_slice(&some_dir);
                }
                3 => {
                    v.extend_from_slice(&some_dir);
                    v.extend_from_slice(b"/.");
                }
                _ => v.extend_from_slice(&parent(path)),
            }
            return v;
        }
        match self.rng.below(10) {
            0..=3 => name(self.rng),
            4..=8 => {
                let dirs = self.existing_below(|k| matches!(k, Kind::Dir | Kind::RedirectDir));
                let mut v = b"/".to_vec();
                if dirs.is_empty() {
                    v.extend_from_slice(path);
                } else {
                    v.extend_from_slice(&dirs[self.rng.below(dirs.len())]);
                }
                v
            }
            _ => self
                .rng
                .pick(&[&b""[..], &b"a/b"[..], &b"//x"[..], &b"/x/"[..]])
                .to_vec(),
        }
    }

    /// Makes a hand-made redirect at `path` look like one the kernel writes: its origin (the
    /// path it redirects to) is whited out in the same layer, so the lower directory (or data
    /// file) is reachable through the redirect only. False when that cannot be done here.
    ///
    /// A lower directory reachable through two merged paths (an uncovered origin, or two
    /// redirects to one origin) is a case the kernel answers with ESTALE for whichever path it
    /// looks up *second* (`ovl_verify_inode`: "lookup of an uncovered redirect origin"), so the
    /// answer depends on the order of lookups and the inode cache. layerscope shows both paths
    /// and does not model this; the generator keeps origins covered and unshared.
    ///
    /// In an adversarial plan half the redirects skip all of this: the origin stays visible
    /// or is shared, and the engine has to say what the kernel refuses.
    fn claim(&mut self, path: &[u8], value: &[u8]) -> io::Result<bool> {
        let dotted = value.split(|&b| b == b'/').any(|c| c == b"." || c == b"..");
        if dotted || (self.plan.adversarial && self.rng.chance(50)) {
            return Ok(true);
        }
        let target: Vec<u8> = match value.strip_prefix(b"/") {
            Some(abs) if !abs.split(|&b| b == b'/').any(<[u8]>::is_empty) => abs.to_vec(),
            Some(_) => return Ok(true), // invalid: the kernel refuses it (EINVAL)
            None if value.is_empty() || value.contains(&b'/') => return Ok(true), // invalid
            None => join(&parent(path), value),
        };
        let related = |a: &[u8], b: &[u8]| {
            a == b
                || (a.starts_with(b) && a[b.len()] == b'/')
                || (b.starts_with(a) && b[a.len()] == b'/')
        };
        if self
            .claimed
            .iter()
            .any(|c| related(c, path) || related(c, &target))
            || (target != path && related(&target, path))
        {
            return Ok(false);
        }
        let layer = self.layers.len() - 1;
        if target != path {
            if self.layers[layer].entries.contains_key(&target) || !self.ensure_parents(&target)? {
                return Ok(false);
            }
            let full = self.full(&target);
            rustix::fs::mknodat(CWD, &full, FileType::CharacterDevice, Mode::empty(), 0).map_err(
                |e| {
                    io::Error::other(format!(
                        "whiteout {}: {e} (redirect at {})",
                        full.display(),
                        String::from_utf8_lossy(path)
                    ))
                },
            )?;
            self.layers[layer]
                .entries
                .insert(target.clone(), Kind::Whiteout);
        }
        self.claimed.push(path.to_vec());
        self.claimed.push(target);
        Ok(true)
    }
}

/// A text dump of every layer (types, modes, sizes, overlay xattrs, targets) for failure
/// reports.
pub fn describe(layout: &Layout) -> String {
    let mut out = String::new();
    for (label, root) in layout.all_layers() {
        out.push_str(&format!("--- {label}: {}\n", root.display()));
        describe_dir(&root, &root, &mut out);
    }
    out
}

fn describe_dir(root: &Path, dir: &Path, out: &mut String) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let show = |p: &Path, out: &mut String| {
        let rel = p.strip_prefix(root).unwrap_or(p);
        let Ok(md) = fs::symlink_metadata(p) else {
            return;
        };
        let ft = md.file_type();
        let t = if ft.is_dir() {
            "d"
        } else if ft.is_symlink() {
            "l"
        } else if ft.is_char_device() {
            "c"
        } else if ft.is_fifo() {
            "p"
        } else {
            "-"
        };
        let mut line = format!(
            "  {t}{:04o} {:>4} {} /{}",
            md.mode() & 0o7777,
            md.size(),
            md.uid(),
            layerscope::escape::display(rel.as_os_str().as_bytes())
        );
        if ft.is_char_device() {
            line.push_str(&format!(" rdev={}", md.rdev()));
        }
        if ft.is_symlink()
            && let Ok(t) = fs::read_link(p)
        {
            line.push_str(&format!(
                " -> {}",
                layerscope::escape::display(t.as_os_str().as_bytes())
            ));
        }
        if let Ok(names) = xattr_names(p) {
            for n in names {
                if n.contains("overlay.") {
                    let mut buf = vec![0u8; 4096];
                    let v = rustix::fs::lgetxattr(p, n.as_str(), &mut buf[..])
                        .map(|k| layerscope::escape::display(&buf[..k]))
                        .unwrap_or_else(|e| format!("<{e}>"));
                    line.push_str(&format!(" [{n}={v:?}]"));
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    };
    if dir == root {
        show(dir, out);
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for p in names {
        show(&p, out);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            describe_dir(root, &p, out);
        }
    }
}

/// How many entries under `root` carry `<ns>.overlay.<attr>` (to report what a run covered).
pub fn count_marked(root: &Path, ns: Ns, attr: &str) -> usize {
    let want = format!("{}{attr}", ns.prefix());
    let mut n = 0;
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if xattr_names(&p).is_ok_and(|names| names.contains(&want)) {
                n += 1;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            }
        }
    }
    n
}

fn xattr_names(p: &Path) -> io::Result<Vec<String>> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(p, &mut buf[..])?;
    Ok(buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}
