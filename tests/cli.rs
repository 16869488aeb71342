//! The CLI as a user runs it: the built binary on explicit `--lowerdir` stacks (plain
//! directories, no root needed) and on real mounted overlays (root; skipped otherwise), checking
//! text, JSON Lines, exit codes and error messages.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

// ---- running the binary ---------------------------------------------------------------------

/// One run of the binary.
struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("text output is UTF-8 (names are escaped)")
    }

    fn json(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

fn run(args: &[OsString]) -> Out {
    let refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let (code, stdout, stderr) = common::run(&refs);
    assert!(
        !stderr.contains("panicked"),
        "layerscope panicked on {args:?}:\n{stderr}"
    );
    Out {
        code,
        stdout,
        stderr,
    }
}

/// Runs and requires success.
fn ok(args: &[OsString]) -> Out {
    let out = run(args);
    assert_eq!(out.code, 0, "{args:?} failed:\n{}", out.stderr);
    out
}

/// Runs and requires failure with `code` and a message holding every one of `needles`.
fn fails(args: &[OsString], code: i32, needles: &[&str]) -> Out {
    let out = run(args);
    assert_eq!(
        out.code,
        code,
        "{args:?}: wanted exit {code}, got {}\nstdout: {}\nstderr: {}",
        out.code,
        String::from_utf8_lossy(&out.stdout),
        out.stderr
    );
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "{args:?}: stderr lacks {n:?}:\n{}",
            out.stderr
        );
    }
    assert_no_control(&out.stderr);
    out
}

/// No escape sequence, bidi override or stray control character reaches the terminal.
fn assert_no_control(text: &str) {
    for c in text.chars() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "raw {c:?} in output:\n{text}");
    }
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

// ---- fixtures ---------------------------------------------------------------------------------

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Sets the mtime of every directory under `root` (itself included).
fn set_dir_times(root: &Path, secs: i64) {
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_dir() {
            rustix::fs::utimensat(
                rustix::fs::CWD,
                e.path(),
                &t,
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .unwrap();
        }
    }
}

/// A three-layer stack of plain directories: `up` over `l1` over `l2`.
struct Stack {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    up: PathBuf,
    l1: PathBuf,
    l2: PathBuf,
}

impl Stack {
    fn new() -> Stack {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (up, l1, l2) = (base.join("up"), base.join("l1"), base.join("l2"));
        for d in [&up, &l1, &l2] {
            dir(d);
        }
        Stack {
            _tmp: tmp,
            base,
            up,
            l1,
            l2,
        }
    }

    /// The usual content: shadowed files, merged directories, symlinks of every kind.
    fn populated() -> Stack {
        let s = Stack::new();
        write(&s.l2.join("etc/passwd"), "root:x:0:0:base\n");
        write(&s.l2.join("etc/hosts"), "127.0.0.1 base\n");
        write(&s.l2.join("usr/bin/tool"), "tool\n");
        dir(&s.l2.join("etc"));
        dir(&s.l2.join("usr"));
        dir(&s.l2.join("usr/bin"));
        write(&s.l1.join("etc/passwd"), "root:x:0:0:mid\n");
        write(&s.l1.join("etc/motd"), "motd l1\n");
        dir(&s.l1.join("etc"));
        dir(&s.l1.join("d"));
        symlink("/etc/passwd", s.l1.join("abs")).unwrap();
        symlink("../../../../../../etc/passwd", s.l1.join("climb")).unwrap();
        symlink("../etc/hosts", s.l1.join("d/rel")).unwrap();
        symlink("/etc", s.l1.join("etclink")).unwrap();
        symlink("loop2", s.l1.join("loop1")).unwrap();
        symlink("loop1", s.l1.join("loop2")).unwrap();
        symlink("/no/such/file", s.l1.join("dangling")).unwrap();
        write(&s.up.join("etc/motd"), "motd up\n");
        write(&s.up.join("newfile"), "hello\n");
        dir(&s.up.join("etc"));
        // Fixed, distinct directory times per layer: `diff` compares them, and coarse
        // filesystem clocks would otherwise make "C /etc" depend on timing.
        for (layer, secs) in [
            (&s.l2, 1_000_000_000),
            (&s.l1, 1_100_000_000),
            (&s.up, 1_200_000_000),
        ] {
            set_dir_times(layer, secs);
        }
        s
    }

    /// `--lowerdir l1:l2 --upperdir up`, then `extra`.
    fn args(&self, cmd: &str, extra: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
        let mut lower = OsString::from(&self.l1);
        lower.push(":");
        lower.push(&self.l2);
        let mut v = os(&[&cmd, &"--lowerdir", &lower, &"--upperdir", &self.up]);
        v.extend(os(extra));
        v
    }

    /// Replaces the temp directory with `[TMP]` for snapshots.
    fn redact(&self, text: &str) -> String {
        text.replace(&*self.base.to_string_lossy(), "[TMP]")
    }
}

/// `ls` text with directory sizes (filesystem-dependent) blanked.
fn blank_dir_sizes(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with('d') && l.len() > 16 {
                format!("{}{:>10}{}", &l[..6], "<dir>", &l[16..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn by_path(records: &[Value]) -> BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

// ---- ls ---------------------------------------------------------------------------------------

#[test]
fn ls_lists_children_with_provenance() {
    let s = Stack::populated();
    let out = ok(&s.args("ls", &[]));
    let text = out.text();
    assert!(text.lines().all(|l| !l.ends_with(" /")), "{text}");
    insta::assert_snapshot!("ls_root", blank_dir_sizes(&s.redact(&text)));
    let out = ok(&s.args("ls", &[&"/etc"]));
    insta::assert_snapshot!("ls_etc", s.redact(&out.text()));
    // A file path lists that file.
    let out = ok(&s.args("ls", &[&"/etc/passwd"]));
    assert_eq!(out.text().lines().count(), 1);
    assert!(
        out.text()
            .contains("L1  /etc/passwd  [hides L2 (shadowed by layer 1)]")
    );
}

#[test]
fn ls_recursive_json_has_every_field() {
    let s = Stack::populated();
    let records = ok(&s.args("ls", &[&"-R", &"--json"])).json();
    // Parents before children.
    let mut seen = BTreeSet::new();
    for r in &records {
        let p = r["path"].as_str().unwrap();
        assert!(p.starts_with('/'));
        if p != "/" {
            let parent = Path::new(p).parent().unwrap().to_str().unwrap().to_string();
            assert!(seen.contains(&parent), "{p} before its parent");
        }
        seen.insert(p.to_string());
    }
    let all = by_path(&records);
    let want: BTreeSet<&str> = [
        "/",
        "/abs",
        "/climb",
        "/d",
        "/d/rel",
        "/dangling",
        "/etc",
        "/etc/hosts",
        "/etc/motd",
        "/etc/passwd",
        "/etclink",
        "/loop1",
        "/loop2",
        "/newfile",
        "/usr",
        "/usr/bin",
        "/usr/bin/tool",
    ]
    .into();
    assert_eq!(
        all.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        want
    );

    let passwd = &all["/etc/passwd"];
    assert_eq!(passwd["type"], "file");
    assert_eq!(passwd["layer"], 1);
    assert_eq!(passwd["source"], s.l1.join("etc/passwd").to_str().unwrap());
    assert_eq!(passwd["size"], 15);
    assert_eq!(passwd["mode"], "0644");
    assert_eq!(passwd["hidden"].as_array().unwrap().len(), 1);
    let h = &passwd["hidden"][0];
    assert_eq!(
        (&h["layer"], &h["reason"], &h["by"]),
        (&2.into(), &"shadowed".into(), &1.into())
    );
    assert!(passwd.get("target").is_none() && passwd.get("merged").is_none());

    let motd = &all["/etc/motd"];
    assert_eq!(
        (motd["layer"].as_u64(), motd["size"].as_u64()),
        (Some(0), Some(8))
    );
    assert_eq!(motd["source"], s.up.join("etc/motd").to_str().unwrap());

    let etc = &all["/etc"];
    assert_eq!(etc["type"], "dir");
    assert_eq!(etc["merged"], serde_json::json!([0, 1, 2]));
    assert_eq!(etc["mode"], "0755");
    assert_eq!(etc["hidden"], serde_json::json!([]));
    assert_eq!(all["/usr"]["merged"], serde_json::json!([2]));

    let abs = &all["/abs"];
    assert_eq!(
        (abs["type"].as_str(), abs["target"].as_str()),
        (Some("symlink"), Some("/etc/passwd"))
    );
    assert_eq!(abs["size"], 11);
    assert_eq!(all["/d/rel"]["target"], "../etc/hosts");
    assert_eq!(
        all["/usr/bin/tool"]["source"],
        s.l2.join("usr/bin/tool").to_str().unwrap()
    );

    // Every reported source holds what the merged file holds.
    for r in &records {
        if r["type"] == "file" {
            let src = r["source"].as_str().unwrap();
            assert_eq!(
                std::fs::metadata(src).unwrap().len(),
                r["size"].as_u64().unwrap()
            );
        }
    }
}

#[test]
fn ls_of_a_missing_path_is_exit_1() {
    let s = Stack::populated();
    fails(
        &s.args("ls", &[&"/etc/nope"]),
        1,
        &["'/etc/nope' does not exist"],
    );
    fails(&s.args("ls", &[&"/d/rel/x"]), 2, &["not a directory"]);
}

// ---- which ------------------------------------------------------------------------------------

#[test]
fn which_shows_versions_top_down() {
    let s = Stack::populated();
    let out = ok(&s.args("which", &[&"/etc/motd"]));
    insta::assert_snapshot!("which_motd", s.redact(&out.text()));
    let v = ok(&s.args("which", &[&"/etc", &"--json"])).json();
    let roles: Vec<(u64, &str)> = v
        .iter()
        .map(|r| (r["layer"].as_u64().unwrap(), r["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [(0, "supplies"), (1, "merged"), (2, "merged")]);
    assert_eq!(v[1]["source"], s.l1.join("etc").to_str().unwrap());
    fails(
        &s.args("which", &[&"/nope"]),
        1,
        &["'/nope' does not exist"],
    );
}

// ---- layers and diff --------------------------------------------------------------------------

#[test]
fn layers_and_diff_of_an_explicit_stack() {
    let s = Stack::populated();
    let out = ok(&s.args("layers", &[]));
    insta::assert_snapshot!("layers", s.redact(&out.text()));
    let v = ok(&s.args("layers", &[&"--json"])).json();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["role"], "upper");
    assert_eq!(v[0]["path"], s.up.to_str().unwrap());
    assert_eq!(
        (v[0]["added"].as_u64(), v[0]["modified"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(v[2]["role"], "lower");
    assert_eq!(v[2]["entries"], 6);
    assert_eq!(v[2]["bytes"], 5 + 16 + 15);

    let diff = ok(&s.args("diff", &[])).text();
    assert_eq!(diff, "C /etc\nC /etc/motd\nA /newfile\n");
    let v = ok(&s.args("diff", &[&"--layer", &"1", &"--json"])).json();
    let lines: BTreeSet<(String, String)> = v
        .iter()
        .map(|r| {
            (
                r["change"].as_str().unwrap().into(),
                r["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        lines.contains(&("C".into(), "/etc/passwd".into())),
        "{lines:?}"
    );
    assert!(lines.contains(&("A".into(), "/abs".into())), "{lines:?}");
    fails(
        &s.args("diff", &[&"--layer", &"9"]),
        2,
        &["no layer 9", "layerscope layers"],
    );
}

// ---- cat --------------------------------------------------------------------------------------

#[test]
fn cat_follows_symlinks_inside_the_merged_view_only() {
    let s = Stack::populated();
    let cat = |p: &str| ok(&s.args("cat", &[&p])).text();
    assert_eq!(cat("/etc/passwd"), "root:x:0:0:mid\n");
    assert_eq!(cat("/etc/motd"), "motd up\n");
    // An absolute target starts at the merged root, never on the host.
    let host = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    assert_eq!(cat("/abs"), "root:x:0:0:mid\n");
    assert_ne!(cat("/abs"), host);
    // `..` cannot climb above the root.
    assert_eq!(cat("/climb"), "root:x:0:0:mid\n");
    assert_eq!(cat("/d/rel"), "127.0.0.1 base\n");
    assert_eq!(cat("/etclink/hosts"), "127.0.0.1 base\n");
    assert_eq!(cat("/d/../etc/./motd"), "motd up\n");
    fails(
        &s.args("cat", &[&"/loop1"]),
        2,
        &["/loop1", "too many levels of symbolic links"],
    );
    fails(
        &s.args("cat", &[&"/dangling"]),
        1,
        &["'/no' does not exist"],
    );
    fails(
        &s.args("cat", &[&"/etc"]),
        2,
        &["'/etc' is a dir", "layerscope ls"],
    );
    fails(&s.args("cat", &[&"/etclink"]), 2, &["is a dir"]);
}

// ---- names ------------------------------------------------------------------------------------

#[test]
fn non_utf8_names_round_trip_through_b64() {
    let s = Stack::new();
    let name: &[u8] = b"caf\xe9-\xff\xfe";
    let dir_name: &[u8] = b"d\x80ir";
    let file = s.l1.join(OsStr::from_bytes(name));
    write(&file, "latin1\n");
    dir(&s.l2.join(OsStr::from_bytes(dir_name)));
    write(
        &s.l2.join(OsStr::from_bytes(dir_name)).join("inner"),
        "in\n",
    );
    let v = ok(&s.args("ls", &[&"-R", &"--json"])).json();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut paths = Vec::new();
    for r in &v {
        let exact = match r.get("path_b64") {
            Some(b) => b64.decode(b.as_str().unwrap()).unwrap(),
            None => r["path"].as_str().unwrap().as_bytes().to_vec(),
        };
        if let Some(src) = r.get("source_b64") {
            let src = b64.decode(src.as_str().unwrap()).unwrap();
            assert!(Path::new(OsStr::from_bytes(&src)).exists());
        }
        paths.push(exact);
    }
    let mut want_file = b"/".to_vec();
    want_file.extend_from_slice(name);
    let mut want_inner = b"/".to_vec();
    want_inner.extend_from_slice(dir_name);
    want_inner.extend_from_slice(b"/inner");
    assert!(paths.contains(&want_file), "{v:?}");
    assert!(paths.contains(&want_inner), "{v:?}");
    // The exact bytes work as a PATH again.
    let arg = OsString::from_vec(want_file.clone());
    assert_eq!(ok(&s.args("cat", &[&arg])).text(), "latin1\n");
    let w = ok(&s.args("which", &[&arg, &"--json"])).json();
    assert_eq!(
        w[0]["path_b64"].as_str().map(|b| b64.decode(b).unwrap()),
        Some(want_file)
    );
    // Text escapes the bad bytes.
    let text = ok(&s.args("ls", &[])).text();
    assert!(text.contains(r"/caf\xe9-\xff\xfe"), "{text}");
}

#[test]
fn hostile_names_are_escaped_in_text() {
    let s = Stack::new();
    let hostile: [&[u8]; 4] = [
        b"\x1b[31mred\x1b[0m",
        b"new\nline",
        "rtl\u{202e}txt".as_bytes(),
        b"bell\x07\rcr",
    ];
    for h in hostile {
        write(&s.l1.join(OsStr::from_bytes(h)), "x\n");
        write(&s.up.join(OsStr::from_bytes(h)), "y\n");
    }
    symlink(OsStr::from_bytes(b"\x1b]0;owned\x07"), s.l1.join("evil")).unwrap();
    for cmd in [
        s.args("ls", &[&"-R"]),
        s.args("layers", &[]),
        s.args("diff", &[]),
        s.args("which", &[&OsStr::from_bytes(b"/new\nline")]),
    ] {
        let out = ok(&cmd);
        assert_no_control(&out.text());
        assert_no_control(&out.stderr);
    }
    let ls = ok(&s.args("ls", &[])).text();
    assert_eq!(ls.lines().count(), 5, "one line per entry:\n{ls}");
    assert!(ls.contains(r"/\x1b[31mred\x1b[0m"), "{ls}");
    assert!(ls.contains(r"/new\nline"), "{ls}");
    assert!(ls.contains(r"/rtl\u{202e}txt"), "{ls}");
    assert!(ls.contains(r"-> \x1b]0;owned\x07"), "{ls}");
    // Errors quoting a hostile path escape it too.
    fails(&s.args("cat", &[&"/evil"]), 1, &[r"\x1b]0;owned\x07"]);
    fails(
        &s.args("cat", &[&OsStr::from_bytes(b"/nope\x1b[2J")]),
        1,
        &[r"\x1b[2J"],
    );
    // JSON keeps the exact name.
    let v = ok(&s.args("ls", &[&"--json"])).json();
    assert!(v.iter().any(|r| r["path"] == "/new\nline"));
}

#[test]
fn json_output_escapes_del_c1_and_bidi_controls() {
    let s = Stack::new();
    // DEL, a C1 CSI (U+009B) that many terminals obey, and each bidi embedding/override/isolate.
    let names = [
        "del\u{7f}",
        "csi\u{9b}2J",
        "c1\u{80}\u{9f}",
        "bidi\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}",
        "iso\u{2066}\u{2067}\u{2068}\u{2069}",
    ];
    for n in names {
        write(&s.l1.join(n), "x\n");
        write(&s.up.join(n), "y\n");
        write(&s.up.join(format!("new-{n}")), "z\n");
    }
    symlink("to\u{9b}\u{202e}", s.l1.join("link")).unwrap();
    let csi = OsStr::from_bytes("/csi\u{9b}2J".as_bytes());
    for cmd in [
        s.args("ls", &[&"-R", &"--json"]),
        s.args("layers", &[&"--json"]),
        s.args("diff", &[&"--json"]),
        s.args("which", &[&csi, &"--json"]),
    ] {
        let out = ok(&cmd);
        let text = out.text();
        assert_no_control(&text);
        assert!(
            !text.contains('\u{7f}') && !text.contains('\u{9b}'),
            "{text}"
        );
        // Still JSON, and it reads back to the exact names.
        let records = out.json();
        assert!(!records.is_empty(), "{cmd:?}");
    }
    let ls = ok(&s.args("ls", &[&"-R", &"--json"]));
    let text = ls.text();
    assert!(text.contains(r"csi\u009b2J"), "{text}");
    assert!(
        text.contains(r"bidi\u202a\u202b\u202c\u202d\u202e"),
        "{text}"
    );
    assert!(text.contains(r"del\u007f"), "{text}");
    let paths: BTreeSet<String> = ls
        .json()
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_string))
        .collect();
    for n in names {
        assert!(paths.contains(&format!("/{n}")), "{n:?} in {paths:?}");
    }
    let link = ls
        .json()
        .into_iter()
        .find(|r| r["path"] == "/link")
        .expect("link");
    assert_eq!(link["target"], "to\u{9b}\u{202e}");
}

// ---- bad input --------------------------------------------------------------------------------

#[test]
fn bad_input_gives_a_clear_message_and_exit_2() {
    let s = Stack::populated();
    let l1 = s.l1.to_str().unwrap();
    let missing = s.base.join("no-such-layer");
    let mut both = OsString::from(&s.l1);
    both.push(":");
    both.push(&missing);
    // Missing layer directories, by flag.
    fails(
        &os(&[&"ls", &"--lowerdir", &both]),
        2,
        &[
            "--lowerdir layer",
            "no-such-layer",
            "does not exist",
            "check the path",
        ],
    );
    fails(
        &os(&[&"ls", &"--lowerdir", &l1, &"--upperdir", &missing]),
        2,
        &["--upperdir layer", "no-such-layer"],
    );
    let l2 = s.l2.to_str().unwrap();
    fails(
        &os(&[
            &"ls",
            &"--lowerdir",
            &l1,
            &"--upperdir",
            &l2,
            &"--workdir",
            &missing,
        ]),
        2,
        &["--workdir directory", "no-such-layer", "does not exist"],
    );
    // A layer that is a file.
    let file = s.l2.join("etc/passwd");
    fails(
        &os(&[&"ls", &"--lowerdir", &file]),
        2,
        &["passwd", "is not a directory"],
    );
    // Malformed --lowerdir.
    for bad in [
        "",
        "::",
        &format!("{l1}::"),
        &format!("{l1}:::{l1}"),
        &format!("{l1}::{l1}:{l1}"),
    ] {
        fails(
            &os(&[&"ls", &"--lowerdir", &bad]),
            2,
            &["is malformed", "'\\:'"],
        );
    }
    // Malformed -o.
    for (o, why) in [
        ("metacopy", "needs a value"),
        ("metacopy=yes", "metacopy=yes is not valid"),
        ("redirect_dir", "needs a value"),
        ("userxattr=1", "takes no value"),
        ("nosuchoption", "not an overlay mount option"),
        ("upperdir=/x", "--upperdir"),
        ("userxattr,redirect_dir=on", "conflict"),
    ] {
        fails(&os(&[&"ls", &"--lowerdir", &l1, &"-o", &o]), 2, &[why]);
    }
    // No stack, not a mount point, not an overlay, nothing there.
    fails(&os(&[&"ls"]), 2, &["no stack named", "--lowerdir"]);
    fails(
        &os(&[&"ls", &s.base]),
        2,
        &["is not a mount point", "--lowerdir"],
    );
    fails(
        &os(&[&"ls", &"/proc"]),
        2,
        &["'/proc' is a mount of type proc, not an overlay"],
    );
    fails(
        &os(&[&"ls", &missing]),
        2,
        &["no-such-layer", "No such file"],
    );
    fails(
        &os(&[&"ls", &"/proc", &"-o", &"metacopy=on"]),
        2,
        &["drop -o"],
    );
    // A missing PATH.
    fails(&os(&[&"which", &"/proc"]), 2, &["`which` needs a PATH"]);
    fails(&os(&[&"cat", &"/proc"]), 2, &["`cat` needs a PATH"]);
    let out = run(&os(&[&"cat", &"--lowerdir", &l1]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    // Extra positionals are refused, not ignored.
    fails(
        &s.args("ls", &[&"/etc", &"/usr"]),
        2,
        &["`ls` takes one PATH", "'/usr'"],
    );
    fails(
        &s.args("cat", &[&"/etc/passwd", &"/etc/motd"]),
        2,
        &["'/etc/motd'"],
    );
    fails(
        &s.args("layers", &[&"/etc"]),
        2,
        &["`layers` takes only a STACK"],
    );
    fails(
        &s.args("diff", &[&"/etc"]),
        2,
        &["`diff` takes only a STACK"],
    );
    fails(
        &s.args("watch", &[&"/etc"]),
        2,
        &["`watch` takes only a STACK"],
    );
    // A layer index out of range.
    fails(&s.args("diff", &[&"--layer", &"3"]), 2, &["no layer 3"]);
    // An unknown flag is a usage error.
    let out = run(&os(&[&"ls", &"--lowerdir-nope"]));
    assert_eq!(out.code, 2);
}

#[test]
fn a_symlinked_layer_path_is_followed_like_the_kernel_does() {
    // Docker names its layers through l/<LINK> symlinks; the layer path itself may be one.
    let s = Stack::populated();
    let link = s.base.join("L");
    symlink(&s.l2, &link).unwrap();
    let mut lower = OsString::from(&s.l1);
    lower.push(":");
    lower.push(&link);
    let out = ok(&os(&[&"cat", &"--lowerdir", &lower, &"/usr/bin/tool"]));
    assert_eq!(out.text(), "tool\n");
}

// ---- as an unprivileged user ------------------------------------------------------------------

/// Runs the binary as nobody (uid/gid 65534, no groups).
fn run_as_nobody(args: &[OsString]) -> Option<Out> {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(common::bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("setpriv:") {
        return None;
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    Some(Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr,
    })
}

#[test]
fn unreadable_directories_as_an_unprivileged_user() {
    if !common::is_root() {
        return common::skip("needs root to switch to an unprivileged user with setpriv");
    }
    let s = Stack::populated();
    dir(&s.l1.join("secret"));
    write(&s.l1.join("secret/key"), "k\n");
    std::fs::set_permissions(s.l1.join("secret"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        s.l1.join("etc/passwd"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let Some(out) = run_as_nobody(&s.args("ls", &[&"-R"])) else {
        return common::skip("setpriv is not available");
    };
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("trusted.*"),
        "warns it cannot see trusted xattrs: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("'{}'", s.l1.join("secret").display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Permission denied") && out.stderr.contains("sudo"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr
            .contains("Permission denied (os error 13): Permission denied"),
        "{}",
        out.stderr
    );

    let out = run_as_nobody(&s.args("cat", &[&"/etc/passwd"])).unwrap();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&*s.l1.join("etc/passwd").to_string_lossy()),
        "{}",
        out.stderr
    );

    // A whole layer unreadable.
    std::fs::set_permissions(&s.l2, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = run_as_nobody(&s.args("layers", &[])).unwrap();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&*s.l2.to_string_lossy()),
        "{}",
        out.stderr
    );
    // With userxattr there is nothing privileged to miss: no warning.
    std::fs::set_permissions(&s.l2, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_as_nobody(&s.args("ls", &[&"-o", &"userxattr", &"/usr"])).unwrap();
    assert!(!out.stderr.contains("trusted.*"), "{}", out.stderr);
}

// ---- a layer vanishing mid-walk ---------------------------------------------------------------

#[test]
fn a_layer_vanishing_mid_walk_is_a_clear_error() {
    let s = Stack::new();
    // Enough output to fill the pipe, so the walk is paused mid-way while we remove the layer;
    // and more entries than the parallel walk lists ahead of its output (8,192), so some are
    // still to be read when the layer goes.
    for i in 0..6000 {
        write(
            &s.l1
                .join(format!("dir-{i:05}-with-a-long-name-to-fill-the-pipe/file")),
            "x",
        );
    }
    write(&s.l2.join("keep"), "k");
    let mut child = Command::new(common::bin())
        .args(s.args("ls", &[&"-R", &"--json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 4096];
    stdout.read_exact(&mut first).unwrap();
    // The binary is now blocked on a full pipe, part-way through the tree.
    std::fs::remove_dir_all(&s.l1).unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&*s.l1.to_string_lossy()),
        "names the layer: {stderr}"
    );
    assert!(stderr.contains("changed while it was read"), "{stderr}");
}

// ---- real mounts ------------------------------------------------------------------------------

fn mknod_whiteout(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(0, 0),
    )
    .unwrap();
}

fn set_opaque(path: &Path) {
    rustix::fs::setxattr(
        path,
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

/// Every path under `root` with its type, walked on the mount (what the kernel shows).
fn kernel_walk(root: &Path) -> BTreeMap<Vec<u8>, &'static str> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap();
        let mut p = b"/".to_vec();
        p.extend_from_slice(bytes(rel));
        let t = e.file_type();
        let kind = if t.is_dir() {
            "dir"
        } else if t.is_symlink() {
            "symlink"
        } else if t.is_file() {
            "file"
        } else {
            "other"
        };
        out.insert(p, kind);
    }
    out
}

fn ls_walk(records: &[Value]) -> BTreeMap<Vec<u8>, &'static str> {
    records
        .iter()
        .filter(|r| r.get("anomaly").is_none())
        .map(|r| {
            let kind = match r["type"].as_str().unwrap() {
                "dir" => "dir",
                "symlink" => "symlink",
                "file" => "file",
                _ => "other",
            };
            (r["path"].as_str().unwrap().as_bytes().to_vec(), kind)
        })
        .collect()
}

#[test]
fn a_mounted_stack_through_its_mount_point() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let s = Stack::populated();
    // Markers only root can make: a whiteout and an opaque directory in l1.
    mknod_whiteout(&s.l1.join("etc/hosts"));
    dir(&s.l1.join("usr"));
    set_opaque(&s.l1.join("usr"));
    write(&s.l1.join("usr/only-l1"), "l1\n");
    let work = s.base.join("work");
    let point = s.base.join("merged point");
    dir(&work);
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        s.l1.display(),
        s.l2.display(),
        s.up.display(),
        work.display()
    );
    let _m = common::Mount::new(&point, &opts).expect("mount");
    let mp = point.as_os_str();

    // `which` of a deleted path: exit 1, still printing the whiteout and what it hides.
    let out = fails(
        &os(&[&"which", &mp, &"/etc/hosts"]),
        1,
        &["'/etc/hosts' does not exist"],
    );
    let text = out.text();
    assert!(
        text.contains("L1  lower    char") && text.contains("whiteout: deletes the versions below"),
        "{text}"
    );
    assert!(
        text.contains("L2  lower    file") && text.contains("hidden: whited out at layer 1"),
        "{text}"
    );
    let v = run(&os(&[&"which", &mp, &"/etc/hosts", &"--json"])).json();
    assert_eq!(v[0]["role"], "whiteout");
    assert_eq!(
        (v[1]["role"].as_str(), v[1]["hidden"]["reason"].as_str()),
        (Some("hidden"), Some("whited-out"))
    );

    // Opaque: ls shows why the lower copy is hidden.
    let all = by_path(&ok(&os(&[&"ls", &mp, &"-R", &"--json"])).json());
    let usr = &all["/usr"];
    assert_eq!(usr["opaque"], true);
    assert_eq!(usr["merged"], serde_json::json!([1]));
    assert_eq!(usr["hidden"][0]["reason"], "opaque");
    assert_eq!(usr["hidden"][0]["layer"], 2);
    assert!(!all.contains_key("/usr/bin/tool"));

    // Write, append, rm, rm -rf + mkdir through the mount; then diff and ls agree with it.
    std::fs::write(point.join("added"), "new\n").unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(point.join("etc/passwd"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"appended\n").unwrap();
    drop(f);
    std::fs::remove_file(point.join("newfile")).unwrap();
    std::fs::remove_file(point.join("etc/motd")).unwrap();
    std::fs::remove_dir_all(point.join("usr")).unwrap();
    std::fs::create_dir(point.join("usr")).unwrap();
    std::fs::write(point.join("usr/fresh"), "fresh\n").unwrap();

    let diff: BTreeSet<String> = ok(&os(&[&"diff", &mp]))
        .text()
        .lines()
        .map(String::from)
        .collect();
    // Docker's rules (as `docker diff` applies them here, checked in tests/engines.rs): the
    // re-created /usr is changed, and each lower entry it now hides is deleted.
    let want: BTreeSet<String> = [
        "A /added",
        "C /etc",
        "C /etc/passwd",
        "D /etc/motd",
        "C /usr",
        "D /usr/only-l1",
        "A /usr/fresh",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(diff, want);
    // The same layers named explicitly give the same diff.
    let explicit: BTreeSet<String> = ok(&s.args("diff", &[]))
        .text()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(explicit, want);

    let records = ok(&os(&[&"ls", &mp, &"-R", &"--json"])).json();
    assert_eq!(ls_walk(&records), kernel_walk(&point));
    for r in &records {
        if r["type"] == "file" {
            let p = r["path"].as_str().unwrap();
            let merged = std::fs::read(point.join(&p[1..])).unwrap();
            assert_eq!(
                std::fs::read(r["source"].as_str().unwrap()).unwrap(),
                merged,
                "{p}"
            );
        }
    }
    assert_eq!(
        ok(&os(&[&"cat", &mp, &"/etc/passwd"])).text(),
        "root:x:0:0:mid\nappended\n"
    );
    assert_eq!(
        ok(&os(&[&"cat", &mp, &"/abs"])).text(),
        "root:x:0:0:mid\nappended\n"
    );

    let layers = ok(&os(&[&"layers", &mp, &"--json"])).json();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[0]["path"], s.up.to_str().unwrap());

    // A path inside the mount is not a stack: the error shows the form to use.
    let inside = point.join("etc");
    fails(
        &os(&[&"ls", &inside]),
        2,
        &[
            "inside the overlay mounted at",
            &format!("layerscope ls '{}' /etc", point.display()),
        ],
    );
    // Every command says it the same way, in its own form, before it looks for a PATH.
    let motd = point.join("etc/motd");
    for (cmd, form) in [
        (
            "cat",
            format!("layerscope cat '{}' /etc/motd`", point.display()),
        ),
        (
            "which",
            format!("layerscope which '{}' /etc/motd`", point.display()),
        ),
        (
            "layers",
            format!("layerscope layers '{}'`", point.display()),
        ),
        ("diff", format!("layerscope diff '{}'`", point.display())),
    ] {
        fails(
            &os(&[&cmd, &motd]),
            2,
            &["inside the overlay mounted at", &form],
        );
    }
}

#[test]
fn a_mounted_layer_removed_after_mounting() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let s = Stack::populated();
    let work = s.base.join("work");
    dir(&work);
    let point = s.base.join("m");
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        s.l1.display(),
        s.l2.display(),
        s.up.display(),
        work.display()
    );
    let _m = common::Mount::new(&point, &opts).expect("mount");
    // The kernel keeps the layer alive; its path is gone, so mountinfo points nowhere.
    std::fs::rename(&s.l2, s.base.join("l2-moved")).unwrap();
    fails(
        &os(&[&"ls", &point]),
        2,
        &[&*s.l2.to_string_lossy(), "not there any more", "--lowerdir"],
    );
}

#[test]
fn every_command_fails_clearly_when_stdout_cannot_be_written() {
    let s = Stack::populated();
    let commands: Vec<Vec<OsString>> = vec![
        s.args("ls", &[&"-R"]),
        s.args("ls", &[&"--json", &"-R"]),
        s.args("cat", &[&"/etc/motd"]),
        s.args("which", &[&"/etc/motd"]),
        s.args("layers", &[]),
        s.args("diff", &[]),
        os(&[
            &"list",
            &"--docker-root",
            &s.base,
            &"--podman-root",
            &s.base,
            &"--containerd-root",
            &s.base,
        ]),
    ];
    for args in &commands {
        // Closed (`>&-`): Rust would quietly write to /dev/null in its place.
        let out = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" >&-")
            .arg(common::bin())
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} with stdout closed: {err}"
        );
        assert!(err.contains("standard output is closed"), "{args:?}: {err}");
        // Full (`> /dev/full`): the write error, named as one.
        let out = Command::new(common::bin())
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} > /dev/full: {err}");
        assert!(
            err.contains("cannot write the output to standard output"),
            "{args:?}: {err}"
        );
        // A reader that went away (`| head`): a quiet, clean exit.
        let mut child = Command::new(common::bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?} | (closed): {err}");
        assert!(
            err.is_empty() || !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

// ---- completions and the man page --------------------------------------------------------------

/// The subcommands `--help` lists, so a command added later is checked too.
fn subcommands() -> Vec<String> {
    let help = ok(&os(&[&"--help"])).text();
    let list: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(list.len() >= 8, "commands in --help: {help}");
    list
}

#[test]
fn completions_complete_every_command_in_bash() {
    let script = ok(&os(&[&"completions", &"bash"])).text();
    for c in subcommands() {
        assert!(
            script.contains(&format!("cmd=\"layerscope__subcmd__{c}\"")),
            "{c} in:\n{script}"
        );
    }
    // Sourced in a real bash, the function completes `layerscope l` and `layerscope ls --j`.
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source /dev/stdin; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _layerscope layerscope \"${{COMP_WORDS[COMP_CWORD]}}\" \
                 \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes())?;
                drop(child.stdin.take());
                child.wait_with_output()
            })
            .expect("run bash");
        assert!(out.status.success(), "{words}");
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        got.sort();
        got
    };
    assert_eq!(complete("layerscope l"), ["layers", "list", "ls"]);
    assert_eq!(complete("layerscope ls --j"), ["--json"]);
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let s = ok(&os(&[&"completions", &shell])).text();
        assert!(
            s.contains("layerscope") && s.contains("which"),
            "{shell}:\n{s}"
        );
    }
    fails(
        &os(&[&"completions", &"tcsh"]),
        2,
        &["invalid value 'tcsh'"],
    );
}

#[test]
fn the_man_page_renders_with_every_command() {
    let page = ok(&os(&[&"man"])).text();
    assert!(
        page.starts_with(".ie") || page.contains(".TH layerscope 1"),
        "{page}"
    );
    let rendered = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), page.as_bytes())?;
            drop(child.stdin.take());
            child.wait_with_output()
        })
        .expect("man (apt-get install man-db groff-base)");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    // Plain text: drop the overstrike bold/underline man uses when it thinks it may.
    let text: String = String::from_utf8_lossy(&rendered.stdout)
        .split('\u{8}')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.get(1..).unwrap_or("")
            }
        })
        .collect();
    for want in ["NAME", "SYNOPSIS", "--lowerdir", "OverlayFS"] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    for c in subcommands() {
        assert!(
            text.contains(&format!("LAYERSCOPE {}", c.to_uppercase())),
            "a section for {c} in:\n{text}"
        );
    }
    assert!(text.contains("--recursive"), "ls's own options:\n{text}");
    // One page holds every command: no reference to a page of its own that does not exist.
    assert!(
        !page.contains("layerscope\\-"),
        "a layerscope-COMMAND(1) reference in:\n{page}"
    );
}
