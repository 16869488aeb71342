//! Hostile redirect xattrs: values a container (or a crafted image) can write that try to make
//! a lookup climb out of its directory or its layer (`..`, `.`, an empty name, a NUL byte).
//! The kernel is the judge: each stack is mounted and `ls -R --json` must agree with a walk of
//! the mount (a name the kernel refuses is an anomaly with the kernel's errno, never a file),
//! and nothing outside the layers may ever be read.
//!
//! Needs root (mounts, `trusted.*` xattrs).

mod common;
#[path = "kernel_differential/compare.rs"]
#[allow(dead_code)]
mod compare;
#[path = "kernel_differential/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "kernel_differential/kernel.rs"]
#[allow(dead_code)]
mod kernel;
#[path = "kernel_differential/prng.rs"]
#[allow(dead_code)]
mod prng;
#[path = "kernel_differential/stackgen.rs"]
#[allow(dead_code)]
mod stackgen;

use std::ffi::{OsStr, OsString};

use fixture::Fixture;
use stackgen::Ns;

/// Redirect values (as raw xattr bytes) and what the kernel does with them. The target
/// directory `t` exists in the layer below, so a redirect that is accepted leads somewhere.
const VALUES: &[&[u8]] = &[
    b"..",
    b".",
    b"/..",
    b"/.",
    b"/h/../h/t",
    b"/./h/t",
    b"/h/t/..",
    b"\0t",
    b"t\0/..",
    b"/h/t\0/..",
    b"...",
    b"/h/...",
    b"t",
];

/// Compares both forms of `ls -R --json` with a settled mount of the fixture.
fn assert_agrees(name: &str, f: &Fixture) {
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::settled_mount(&mp, &options, f.layout.upper.is_some())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let kview = kernel::walk(&mp, true);
    let mut problems = Vec::new();
    let forms: [(&str, Vec<OsString>); 2] = [
        (
            "mount point",
            vec!["ls".into(), "-R".into(), "--json".into(), mp.clone().into()],
        ),
        ("explicit layers", f.layout.explicit_args()),
    ];
    for (form, args) in forms {
        let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        let (code, out, err) = common::run(&args);
        if code != 0 {
            problems.push(format!("[{form}] ls exited {code}: {err}"));
            continue;
        }
        for d in compare::compare(&kview, &compare::parse(&out), &mp) {
            problems.push(format!("[{form}] {d}"));
        }
    }
    drop(m);
    assert!(
        problems.is_empty(),
        "{name}: {} disagreement(s) with the kernel\n  mount -o {options}\n{}\n{}",
        problems.len(),
        problems.join("\n"),
        stackgen::describe(&f.layout)
    );
}

/// Every value in [`VALUES`] on a directory of the upper layer and of a middle lower layer,
/// in a merged subdirectory and in the merged root: the kernel refuses `.`, `..` and an
/// empty name with EACCES (whatever follows a NUL byte is ignored), and so must layerscope.
#[test]
fn dot_dot_redirects_are_refused_as_the_kernel_refuses_them() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    for upper in [true, false] {
        let options: &[&str] = if upper {
            &["redirect_dir=on"]
        } else {
            &["redirect_dir=follow"]
        };
        let f = Fixture::new(2, upper, 0, Ns::Trusted, options);
        let top = |rel: &str| if upper { f.u(rel) } else { f.l(1, rel) };
        let below = |rel: &str| if upper { f.l(1, rel) } else { f.l(2, rel) };
        fixture::file(&below("h/t/inside"), b"reached through a redirect");
        fixture::dir(&below("h/..."));
        fixture::file(&below("t/at-root"), b"t in the root");
        for (i, v) in VALUES.iter().enumerate() {
            for dir in ["h/", ""] {
                let d = top(&format!("{dir}r{i}"));
                fixture::dir(&d);
                f.mark(&d, "redirect", v);
            }
        }
        assert_agrees(&format!("dot-dot redirects, upper: {upper}"), &f);
    }
}

/// Issue 9 item 4 as reported: `..` on an upper directory with `redirect_dir=on`. The
/// directory holding the layers carries an opaque xattr and a file of its own; neither may
/// change or appear in any answer, and `/r4` is refused with the kernel's errno.
#[test]
fn a_dot_dot_redirect_reads_nothing_outside_the_layers() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = Fixture::new(1, true, 0, Ns::Trusted, &["redirect_dir=on"]);
    let holder = f.layout.lowers[0]
        .parent()
        .expect("layers dir")
        .to_path_buf();
    fixture::file(&holder.join("outside-marker"), b"outside the layers");
    f.mark(&holder, "opaque", b"y");
    fixture::dir(&f.u("r4"));
    f.mark(&f.u("r4"), "redirect", b"..");
    fixture::file(&f.l(1, "kept"), b"kept");

    let mp = f.mountpoint();
    let m = kernel::mount(&mp, &f.layout.mount_options()).expect("mount");
    let err = std::fs::symlink_metadata(mp.join("r4")).expect_err("the kernel refuses /r4");
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "kernel: {err}");
    drop(m);

    let lower = f.layout.lowers[0].clone().into_os_string();
    let upper = f.u("").into_os_string();
    let stack: [&OsStr; 6] = [
        "--lowerdir".as_ref(),
        &lower,
        "--upperdir".as_ref(),
        &upper,
        "-o".as_ref(),
        "redirect_dir=on".as_ref(),
    ];
    let with = |cmd: &[&str]| -> (i32, String, String) {
        let mut args: Vec<&OsStr> = cmd.iter().map(OsStr::new).collect();
        args.extend_from_slice(&stack);
        let (code, out, err) = common::run(&args);
        (code, String::from_utf8_lossy(&out).into_owned(), err)
    };
    for cmd in [
        &["which", "/r4"][..],
        &["which", "/r4/outside-marker"],
        &["ls", "-R", "--json", "/"],
        &["ls", "/r4"],
        &["cat", "/r4/outside-marker"],
        &["layers"],
    ] {
        let (code, out, err) = with(cmd);
        for text in [&out, &err] {
            assert!(
                !text.contains("outside-marker") || cmd.contains(&"/r4/outside-marker"),
                "{cmd:?} shows a file outside the layers:\n{out}\n{err}"
            );
            assert!(
                !text.contains("L1/..") && !text.contains("/.. "),
                "{cmd:?} names a path outside the layer:\n{out}\n{err}"
            );
        }
        if cmd == ["cat", "/r4/outside-marker"] {
            assert_ne!(code, 0, "cat must fail: {out}");
            assert!(
                !out.contains("outside the layers"),
                "cat read outside: {out}"
            );
        }
    }
    let (code, out, err) = with(&["which", "/r4"]);
    assert!(
        err.contains("EACCES") || out.contains("EACCES"),
        "which /r4 (exit {code}) must say the kernel refuses it:\n{out}\n{err}"
    );
    let (_, out, _) = with(&["ls", "-R", "--json", "/"]);
    let listing = compare::parse(out.as_bytes());
    assert!(
        listing
            .anomalies
            .get(&b"/r4"[..])
            .is_some_and(|r| r.contains("EACCES")),
        "/r4 must be an EACCES anomaly: {out}"
    );
    assert!(listing.nodes.contains_key(&b"/kept"[..]), "{out}");
}

/// A metacopy file's absolute redirect into the data-only layers is a path walk beneath the
/// data layer's root: `..` inside the layer resolves, a `..` that would leave it fails (EXDEV),
/// a `.` or `..` at the end names a directory (no data). Never a file outside the layer.
#[test]
fn dot_dot_in_a_data_redirect_stays_inside_the_data_layer() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = Fixture::new(2, false, 1, Ns::Trusted, &[]);
    let holder = f.layout.lowers[0]
        .parent()
        .expect("layers dir")
        .to_path_buf();
    fixture::file(&holder.join("obj"), b"outside the layers!");
    fixture::file(&f.d(1, "obj"), b"object data");
    fixture::file(&f.d(1, "sub/f"), b"nested");
    for (i, r) in [
        "/sub/../obj",
        "/./obj",
        "/..",
        "/../obj",
        "/sub/..",
        "/sub/./f",
        "/obj/..",
        "/.",
    ]
    .iter()
    .enumerate()
    {
        f.metacopy(&f.l(2, &format!("e{i}")), Some(r), 11);
    }
    fixture::file(&f.l(1, "kept"), b"kept");
    assert_agrees("dot-dot in data redirects", &f);
}

/// Redirect chains the kernel itself would not write, through renamed parents: a metacopy
/// file in a redirected directory, a lower directory that redirects again, an absolute
/// redirect whose path passes through a redirected (or relatively redirected) directory, and
/// an absolute redirect on a lower layer. Sizes and bytes differ per layer, so a file whose
/// data layerscope takes from the wrong layer shows.
#[test]
fn redirect_chains_through_renamed_parents_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    for options in [
        &["redirect_dir=on", "metacopy=on"][..],
        &["redirect_dir=on"],
        &["redirect_dir=follow", "metacopy=on"],
    ] {
        let upper = options[0] == "redirect_dir=on";
        let f = Fixture::new(3, upper, 0, Ns::Trusted, options);
        let top = |rel: &str| if upper { f.u(rel) } else { f.l(1, rel) };
        let (a, b) = if upper { (1, 2) } else { (2, 3) };
        let wrong = b"this is the 63-byte copy that a wrong lookup would read instead.";
        // 1: a metacopy file in a directory renamed from /o1.
        fixture::dir(&top("n1"));
        f.mark(&top("n1"), "redirect", b"/o1");
        fixture::file(&f.l(a, "o1/f"), b"o1 data!");
        fixture::file(&f.l(a, "n1/f"), wrong);
        f.metacopy(&top("n1/f"), None, 8);
        // 2: the lower copy of the renamed directory was itself renamed from /p2.
        fixture::dir(&top("n2"));
        f.mark(&top("n2"), "redirect", b"/o2");
        fixture::dir(&f.l(a, "o2"));
        f.mark(&f.l(a, "o2"), "redirect", b"/p2");
        fixture::file(&f.l(b, "p2/f"), b"p2 data!");
        fixture::file(&f.l(b, "o2/f"), wrong);
        f.metacopy(&top("n2/f"), None, 8);
        // 3: an absolute redirect on a file through a redirected directory.
        f.metacopy(&top("m3"), Some("/o3/f"), 8);
        fixture::dir(&f.l(a, "o3"));
        f.mark(&f.l(a, "o3"), "redirect", b"/p3");
        fixture::file(&f.l(b, "p3/f"), b"p3 data!");
        fixture::file(&f.l(b, "o3/f"), wrong);
        // 4: the same through a relatively redirected directory.
        f.metacopy(&top("m4"), Some("/o4/f"), 8);
        fixture::dir(&f.l(a, "o4"));
        f.mark(&f.l(a, "o4"), "redirect", b"q4");
        fixture::file(&f.l(b, "q4/f"), b"q4 data!");
        fixture::file(&f.l(b, "o4/f"), wrong);
        // 5: an absolute redirect on a lower directory, and a relative one.
        fixture::dir(&f.l(a, "n5"));
        f.mark(&f.l(a, "n5"), "redirect", b"/deep/o5");
        fixture::file(&f.l(b, "deep/o5/g"), b"g");
        fixture::dir(&f.l(a, "deep/n6"));
        f.mark(&f.l(a, "deep/n6"), "redirect", b"o6");
        fixture::file(&f.l(b, "deep/o6/h"), b"h");
        // Every origin is whited out at the top, as a rename would leave it: a path reached
        // both directly and through a redirect is another case (see the shared-directory test).
        for origin in [
            "o1", "o2", "p2", "o3", "p3", "o4", "q4", "deep/o5", "deep/o6",
        ] {
            fixture::whiteout(&top(origin));
        }
        fixture::file(&f.l(3, "kept"), b"kept");
        assert_agrees(&format!("redirect chains, -o {}", options.join(",")), &f);
    }
}

/// Two paths to one lower directory through a crafted absolute redirect from another
/// directory: `/x/n` (an upper directory with `redirect=/o`) and `/o` itself, still visible.
/// The kernel gives ESTALE to whichever it looks up second; layerscope calls both anomalies
/// that say so and claims nothing under either: `/x/n` finds `/o` by looking its copy's own
/// path up, and `/o` finds `/x/n` among the upper layer's redirects (read once).
#[test]
fn a_redirect_into_a_visible_directory_elsewhere_is_an_anomaly() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = Fixture::new(1, true, 0, Ns::Trusted, &["redirect_dir=on"]);
    fixture::file(&f.l(1, "o/f"), b"in o");
    fixture::file(&f.l(1, "x/kept"), b"kept");
    fixture::dir(&f.u("x/n"));
    f.mark(&f.u("x/n"), "redirect", b"/o");
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    for (first, second) in [("o", "x/n"), ("x/n", "o")] {
        let m = kernel::mount(&mp, &options).expect("mount");
        std::fs::symlink_metadata(mp.join(first)).expect("first lookup");
        let err = std::fs::symlink_metadata(mp.join(second)).expect_err("second lookup");
        assert_eq!(
            err.raw_os_error(),
            Some(libc::ESTALE),
            "{first} then {second}"
        );
        m.unmount().expect("umount");
    }
    let args = f.layout.explicit_args();
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{err}");
    let l = compare::parse(&out);
    assert!(
        l.anomalies
            .get(&b"/x/n"[..])
            .is_some_and(|r| r.contains("ESTALE")),
        "{:?}",
        l.anomalies
    );
    assert!(
        l.anomalies
            .get(&b"/o"[..])
            .is_some_and(|r| r.contains("ESTALE")),
        "{:?}",
        l.anomalies
    );
    assert!(!l.nodes.contains_key(&b"/x/n/f"[..]));
    assert!(!l.nodes.contains_key(&b"/o/f"[..]));
    assert!(l.nodes.contains_key(&b"/x/kept"[..]));
    assert_agrees("a redirect into a visible directory elsewhere", &f);
}
