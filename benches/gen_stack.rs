//! Generates a large, realistic OverlayFS lower-layer stack for the `ls -R` benchmark.
//!
//! Not a timed benchmark itself (`harness = false`): `benches/ls_vs_find.sh` runs it as
//!
//! ```sh
//! cargo bench --bench gen_stack -- --out DIR [--seed N] [--layers 20] [--paths 200000]
//! ```
//!
//! and it writes `DIR/L00` (the bottom layer) … `DIR/L19` (the top), plus `DIR/lowerdir` (the
//! `lowerdir=` value, top first) and `DIR/summary.txt`. Everything follows from the seed.
//!
//! Shape: the bottom layer is a distribution-like root (`usr/bin`, `usr/lib`, `usr/share/doc`,
//! `etc`, `var/lib`, ...) filled with "packages": deep and wide subtrees of many small files
//! with symlinks, plus binaries in `usr/bin` and a doc directory per package. Every upper layer
//! installs more packages and changes what is below as image builds do: rewritten files
//! (copy-ups, which make their parents merged directories), deleted files and directories
//! (char 0/0 whiteouts), directories replaced wholesale (`trusted.overlay.opaque=y`), and type
//! changes (file to directory, directory to file, directory to symlink, file to symlink).
//! Files are sparse (sizes without data blocks), so the stack is quick to write and small on disk.
//!
//! Needs root (mknod of 0/0 devices and `trusted.*` xattrs). Writes only under `--out`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// splitmix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `p` percent.
    fn pct(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "core",
    "util",
    "net",
    "http",
    "json",
    "xml",
    "crypto",
    "ssl",
    "zlib",
    "bz2",
    "lzma",
    "sql",
    "db",
    "cache",
    "log",
    "conf",
    "init",
    "sys",
    "proc",
    "io",
    "os",
    "path",
    "shell",
    "term",
    "color",
    "font",
    "image",
    "png",
    "jpeg",
    "gif",
    "audio",
    "video",
    "codec",
    "stream",
    "buffer",
    "queue",
    "thread",
    "async",
    "event",
    "signal",
    "timer",
    "clock",
    "date",
    "time",
    "locale",
    "intl",
    "text",
    "string",
    "regex",
    "parse",
    "lexer",
    "token",
    "ast",
    "compile",
    "build",
    "test",
    "bench",
    "doc",
    "man",
    "help",
    "info",
    "python3",
    "perl5",
    "ruby",
    "node",
    "java",
    "gcc",
    "llvm",
    "rust",
    "go",
    "lua",
    "tcl",
    "boost",
    "qt5",
    "gtk3",
    "glib",
    "dbus",
    "udev",
    "systemd",
    "pam",
    "krb5",
    "ldap",
    "curl",
    "wget",
    "git",
    "svn",
    "vim",
    "emacs",
    "nano",
    "less",
    "grep",
    "sed",
    "awk",
    "tar",
    "gzip",
    "xz",
    "zstd",
    "openssh",
    "gnupg",
    "ca-certificates",
    "tzdata",
    "site-packages",
    "dist-packages",
    "include",
    "share",
    "lib",
    "bin",
    "etc",
    "plugins",
    "modules",
    "extensions",
    "themes",
    "icons",
    "locale",
    "templates",
    "static",
    "assets",
];
const EXTS: &[&str] = &[
    "", "", ".py", ".pyc", ".h", ".c", ".so", ".so.1", ".a", ".txt", ".md", ".json", ".xml",
    ".conf", ".gz", ".mo", ".pm", ".rb", ".js", ".css", ".html", ".png", ".svg", ".1.gz", ".la",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dir,
    File,
    Symlink,
}

/// One live path of the merged view, as the generator models it.
struct Node {
    kind: Kind,
    parent: usize,
    name: Vec<u8>,
    children: BTreeMap<Vec<u8>, usize>,
    alive: bool,
    depth: usize,
}

/// The merged view being built, and the layer currently written.
struct Model {
    nodes: Vec<Node>,
    live: usize,
    rng: Rng,
    layer_dir: PathBuf,
    counter: u64,
    stats: Stats,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    dirs: usize,
    files: usize,
    symlinks: usize,
    copy_ups: usize,
    whiteouts: usize,
    dir_whiteouts: usize,
    opaque: usize,
    type_changes: usize,
}

impl Model {
    fn path_of(&self, mut id: usize) -> Vec<u8> {
        let mut parts = Vec::new();
        while id != 0 {
            parts.push(self.nodes[id].name.as_slice());
            id = self.nodes[id].parent;
        }
        let mut p = Vec::new();
        for (i, part) in parts.iter().rev().enumerate() {
            if i > 0 {
                p.push(b'/');
            }
            p.extend_from_slice(part);
        }
        p
    }

    fn on_disk(&self, id: usize) -> PathBuf {
        let rel = self.path_of(id);
        if rel.is_empty() {
            self.layer_dir.clone()
        } else {
            self.layer_dir.join(OsStr::from_bytes(&rel))
        }
    }

    /// The directory `id` in the current layer, created (plain, so it merges) when missing.
    fn ensure_dir(&self, id: usize) -> PathBuf {
        let p = self.on_disk(id);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        p
    }

    fn fresh_name(&mut self, parent: usize, dir: bool) -> Vec<u8> {
        loop {
            let mut n = self.rng.word(WORDS).to_string();
            if self.rng.pct(60) {
                n.push(if self.rng.pct(50) { '-' } else { '_' });
                n.push_str(self.rng.word(WORDS));
            }
            if self.rng.pct(30) {
                self.counter += 1;
                n.push_str(&format!("{}", self.counter % 1000));
            }
            if !dir {
                n.push_str(self.rng.word(EXTS));
            }
            let name = n.into_bytes();
            if !self.nodes[parent].children.contains_key(&name) {
                return name;
            }
        }
    }

    fn add_node(&mut self, parent: usize, name: Vec<u8>, kind: Kind) -> usize {
        let id = self.nodes.len();
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(Node {
            kind,
            parent,
            name: name.clone(),
            children: BTreeMap::new(),
            alive: true,
            depth,
        });
        self.nodes[parent].children.insert(name, id);
        self.live += 1;
        id
    }

    /// Removes `id` and everything under it from the model.
    fn kill(&mut self, id: usize) {
        let mut todo = vec![id];
        while let Some(n) = todo.pop() {
            if !self.nodes[n].alive {
                continue;
            }
            self.nodes[n].alive = false;
            self.live -= 1;
            todo.extend(self.nodes[n].children.values().copied());
            self.nodes[n].children.clear();
        }
        let parent = self.nodes[id].parent;
        let name = self.nodes[id].name.clone();
        self.nodes[parent].children.remove(&name);
    }

    fn write_file(&mut self, path: &Path, exec: bool) {
        let size = match self.rng.below(10) {
            0 => 0,
            1..=6 => self.rng.range(1, 4096),
            7 | 8 => self.rng.range(4096, 65536),
            _ => self.rng.range(65536, 4 << 20),
        };
        let f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        f.set_len(size as u64).expect("set_len");
        if exec {
            f.set_permissions(fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        self.stats.files += 1;
    }

    /// The on-disk path of `id` in the current layer, cleared of whatever an earlier step of
    /// the same layer left there (a whiteout, a replaced copy); true when something was there.
    fn slot(&self, id: usize) -> (PathBuf, bool) {
        let p = self.on_disk(id);
        let was = match fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => fs::remove_dir_all(&p).map(|()| true),
            Ok(_) => fs::remove_file(&p).map(|()| true),
            Err(_) => Ok(false),
        };
        (
            p.clone(),
            was.unwrap_or_else(|e| panic!("clear {}: {e}", p.display())),
        )
    }

    fn new_file(&mut self, parent: usize, exec: bool) -> usize {
        let name = self.fresh_name(parent, false);
        let id = self.add_node(parent, name, Kind::File);
        let (p, _) = self.slot(id);
        self.write_file(&p, exec);
        id
    }

    fn new_dir(&mut self, parent: usize, name: Option<Vec<u8>>) -> usize {
        let name = name.unwrap_or_else(|| self.fresh_name(parent, true));
        let id = self.add_node(parent, name, Kind::Dir);
        let (p, was) = self.slot(id);
        fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        if was {
            // Recreated in the layer that deleted it: only opaque keeps the old content away.
            set_opaque(&p);
        }
        self.stats.dirs += 1;
        id
    }

    fn new_symlink(&mut self, parent: usize, target: &[u8]) -> usize {
        let name = self.fresh_name(parent, false);
        let id = self.add_node(parent, name, Kind::Symlink);
        let (p, _) = self.slot(id);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &p)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", p.display()));
        self.stats.symlinks += 1;
        id
    }

    /// A deep and wide subtree of about `budget` paths under the (existing) directory `at`.
    fn grow(&mut self, at: usize, budget: usize, depth: usize) -> usize {
        let mut made = 0;
        let wide = self.rng.pct(5);
        let nfiles = if wide {
            self.rng.range(100, 600)
        } else {
            self.rng.range(2, 30)
        }
        .min(budget);
        let mut files = Vec::new();
        for _ in 0..nfiles {
            files.push(self.new_file(at, false));
            made += 1;
        }
        // Versioned-library style symlinks next to some files.
        for _ in 0..self.rng.range(0, 3).min(budget.saturating_sub(made)) {
            if files.is_empty() {
                break;
            }
            let t = self.nodes[*self.rng.pick(&files)].name.clone();
            self.new_symlink(at, &t);
            made += 1;
        }
        if depth < 10 && made < budget {
            let nsub = self.rng.range(1, if depth < 3 { 6 } else { 4 });
            for k in 0..nsub {
                let left = budget.saturating_sub(made);
                if left < 2 {
                    break;
                }
                let share = if k + 1 == nsub {
                    left
                } else {
                    self.rng.range(1, left)
                };
                let d = self.new_dir(at, None);
                made += 1 + self.grow(d, share - 1, depth + 1);
            }
        }
        made
    }

    /// A random live node of `kind`, optionally limited to small subtrees for directories.
    fn random_live(&mut self, kind: Kind, min_depth: usize, tries: usize) -> Option<usize> {
        for _ in 0..tries {
            let id = self.rng.below(self.nodes.len());
            let n = &self.nodes[id];
            if id != 0 && n.alive && n.kind == kind && n.depth >= min_depth {
                return Some(id);
            }
        }
        None
    }

    fn subtree_size(&self, id: usize) -> usize {
        let mut count = 0;
        let mut todo = vec![id];
        while let Some(n) = todo.pop() {
            count += 1;
            todo.extend(self.nodes[n].children.values().copied());
        }
        count
    }

    fn dir_by_path(&mut self, path: &[&str]) -> usize {
        let mut id = 0;
        for comp in path {
            let name = comp.as_bytes().to_vec();
            id = match self.nodes[id].children.get(&name) {
                Some(&c) if self.nodes[c].kind == Kind::Dir => c,
                // An earlier change made it a file or a symlink: a package install puts a
                // directory back (opaque, since `slot` finds the non-directory there).
                Some(&c) => {
                    self.kill(c);
                    self.ensure_dir(id);
                    self.new_dir(id, Some(name))
                }
                None => {
                    self.ensure_dir(id);
                    self.new_dir(id, Some(name))
                }
            };
        }
        id
    }

    /// Installs one package: a tree under a library-ish directory, binaries, docs.
    fn install_package(&mut self, budget: usize) {
        let homes: &[&[&str]] = &[
            &["usr", "lib"],
            &["usr", "share"],
            &["usr", "lib", "python3", "site-packages"],
            &["usr", "include"],
            &["opt"],
            &["var", "lib"],
            &["usr", "local", "lib"],
            &["etc"],
        ];
        let home = *self.rng.pick(homes);
        let mut at = self.dir_by_path(home);
        // Sometimes nest it under an existing deeper directory.
        if self.rng.pct(40)
            && let Some(d) = self.random_live(Kind::Dir, 2, 50)
        {
            at = d;
        }
        self.ensure_dir(at);
        let pkg = self.new_dir(at, None);
        let made = self.grow(pkg, budget.saturating_sub(8), 1);
        let _ = made;
        let bin = self.dir_by_path(&["usr", "bin"]);
        self.ensure_dir(bin);
        for _ in 0..self.rng.range(0, 4) {
            self.new_file(bin, true);
        }
        if self.rng.pct(30) {
            let target = {
                let mut t = b"../lib/".to_vec();
                t.extend_from_slice(&self.nodes[pkg].name);
                t
            };
            self.new_symlink(bin, &target);
        }
        let doc = self.dir_by_path(&["usr", "share", "doc"]);
        self.ensure_dir(doc);
        let d = self.new_dir(doc, None);
        for _ in 0..self.rng.range(1, 3) {
            self.new_file(d, false);
        }
    }

    /// Changes to what lower layers hold, as an image build does.
    fn mutate(&mut self, scale: usize) {
        // Rewritten files: copy-ups (their parents become merged directories here).
        for _ in 0..scale * 3 {
            if let Some(f) = self.random_live(Kind::File, 1, 100) {
                let parent = self.nodes[f].parent;
                self.ensure_dir(parent);
                let p = self.on_disk(f);
                self.write_file(&p, false);
                self.stats.files -= 1;
                self.stats.copy_ups += 1;
            }
        }
        // Deleted files: char 0/0 whiteouts.
        for _ in 0..scale {
            if let Some(f) = self.random_live(Kind::File, 1, 100) {
                self.whiteout(f);
            }
        }
        // Deleted directories (small ones).
        for _ in 0..(scale / 20).max(1) {
            if let Some(d) = self.random_live(Kind::Dir, 3, 200)
                && self.subtree_size(d) < 300
            {
                self.whiteout(d);
                self.stats.dir_whiteouts += 1;
            }
        }
        // Directories replaced wholesale: opaque, with new content.
        for _ in 0..(scale / 20).max(1) {
            if let Some(d) = self.random_live(Kind::Dir, 3, 200)
                && self.subtree_size(d) < 500
            {
                let parent = self.nodes[d].parent;
                let name = self.nodes[d].name.clone();
                self.kill(d);
                self.ensure_dir(parent);
                let nd = self.new_dir(parent, Some(name));
                set_opaque(&self.on_disk(nd));
                let n = self.rng.range(5, 60);
                self.grow(nd, n, 4);
                self.stats.opaque += 1;
            }
        }
        // Type changes.
        for _ in 0..(scale / 25).max(1) {
            // file -> directory
            if let Some(f) = self.random_live(Kind::File, 2, 100) {
                let parent = self.nodes[f].parent;
                let name = self.nodes[f].name.clone();
                self.kill(f);
                self.ensure_dir(parent);
                let d = self.new_dir(parent, Some(name));
                let n = self.rng.range(1, 20);
                self.grow(d, n, 6);
                self.stats.type_changes += 1;
            }
            // directory -> file
            if let Some(d) = self.random_live(Kind::Dir, 3, 200)
                && self.subtree_size(d) < 200
            {
                let parent = self.nodes[d].parent;
                let name = self.nodes[d].name.clone();
                self.kill(d);
                self.ensure_dir(parent);
                let id = self.add_node(parent, name, Kind::File);
                let (p, _) = self.slot(id);
                self.write_file(&p, false);
                self.stats.type_changes += 1;
            }
            // directory -> symlink, file -> symlink
            for kind in [Kind::Dir, Kind::File] {
                if let Some(x) = self.random_live(kind, 3, 200)
                    && self.subtree_size(x) < 200
                {
                    let parent = self.nodes[x].parent;
                    let name = self.nodes[x].name.clone();
                    self.kill(x);
                    self.ensure_dir(parent);
                    let id = self.add_node(parent, name, Kind::Symlink);
                    let (p, _) = self.slot(id);
                    std::os::unix::fs::symlink("/usr/lib/alternatives/target", &p)
                        .expect("symlink");
                    self.stats.symlinks += 1;
                    self.stats.type_changes += 1;
                }
            }
        }
    }

    fn whiteout(&mut self, id: usize) {
        let parent = self.nodes[id].parent;
        self.kill(id);
        self.ensure_dir(parent);
        let (p, _) = self.slot(id);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap_or_else(|e| panic!("mknod {} (needs root): {e}", p.display()));
        self.stats.whiteouts += 1;
    }
}

fn set_opaque(p: &Path) {
    rustix::fs::lsetxattr(
        p,
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("setxattr {} (needs root): {e}", p.display()));
}

struct Args {
    out: Option<PathBuf>,
    seed: u64,
    layers: usize,
    paths: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut seed = 1;
    let mut layers = 20;
    let mut paths = 200_000;
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy().into_owned();
        let mut val = || {
            it.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or(format!("{a} needs a value"))
        };
        match a.as_str() {
            "--out" => out = Some(PathBuf::from(val()?)),
            "--seed" => seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--layers" => layers = val()?.parse().map_err(|e| format!("--layers: {e}"))?,
            "--paths" => paths = val()?.parse().map_err(|e| format!("--paths: {e}"))?,
            "--bench" => {} // added by `cargo bench`
            other => return Err(format!("unknown argument {other}")),
        }
    }

    if layers < 2 {
        return Err("--layers must be at least 2".into());
    }
    Ok(Args {
        out,
        seed,
        layers,
        paths,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gen_stack: {e}");
            std::process::exit(2);
        }
    };
    // `cargo bench` and `cargo test --all-targets` run every bench without arguments.
    let Some(out) = args.out.clone() else {
        eprintln!(
            "gen_stack: nothing to do; usage: cargo bench --bench gen_stack -- --out DIR [--seed N] [--layers N] [--paths N]"
        );
        return;
    };
    if out.exists() {
        eprintln!(
            "gen_stack: {} exists; remove it or pick another directory",
            out.display()
        );
        std::process::exit(2);
    }
    fs::create_dir_all(&out).expect("create output directory");
    let mut m = Model {
        nodes: vec![Node {
            kind: Kind::Dir,
            parent: 0,
            name: Vec::new(),
            children: BTreeMap::new(),
            alive: true,
            depth: 0,
        }],
        live: 1,
        rng: Rng(args.seed),
        layer_dir: PathBuf::new(),
        counter: 0,
        stats: Stats::default(),
    };
    let mut summary = String::new();
    summary.push_str(&format!(
        "seed {} layers {} target paths {}\n",
        args.seed, args.layers, args.paths
    ));
    summary.push_str("layer  dirs  files  symlinks  copy-ups  whiteouts(dirs)  opaque  type-changes  merged-paths-after\n");
    for k in 0..args.layers {
        m.layer_dir = out.join(format!("L{k:02}"));
        fs::create_dir(&m.layer_dir).expect("create layer directory");
        m.stats = Stats::default();
        if k == 0 {
            for p in [
                &["bin"][..],
                &["etc"],
                &["usr", "bin"],
                &["usr", "lib"],
                &["usr", "include"],
                &["usr", "share", "doc"],
                &["usr", "share", "man"],
                &["usr", "local", "lib"],
                &["var", "lib"],
                &["var", "cache"],
                &["var", "log"],
                &["opt"],
                &["srv"],
                &["tmp"],
            ] {
                m.dir_by_path(p);
            }
        } else {
            let scale = 40 + m.rng.below(80);
            m.mutate(scale);
        }
        // Grow the merged view to its share of the target: 45% in the base layer, the rest
        // spread evenly over the layers above.
        let share = 45 + 55 * k / (args.layers - 1);
        let goal = args.paths * share / 100;
        while m.live < goal {
            let left = goal - m.live;
            let b = m.rng.range(20, 2500).min(left.max(20));
            m.install_package(b);
        }
        let s = m.stats;
        summary.push_str(&format!(
            "L{k:02}   {:5} {:6} {:9} {:9} {:9}({:3}) {:7} {:13} {:19}\n",
            s.dirs,
            s.files,
            s.symlinks,
            s.copy_ups,
            s.whiteouts,
            s.dir_whiteouts,
            s.opaque,
            s.type_changes,
            m.live
        ));
    }
    let lowerdir: Vec<String> = (0..args.layers)
        .rev()
        .map(|k| out.join(format!("L{k:02}")).display().to_string())
        .collect();
    fs::write(out.join("lowerdir"), lowerdir.join(":")).expect("write lowerdir");
    summary.push_str(&format!(
        "merged paths (model, root included): {}\n",
        m.live
    ));
    fs::write(out.join("summary.txt"), &summary).expect("write summary");
    let mut o = std::io::stdout();
    let _ = o.write_all(summary.as_bytes());
}
