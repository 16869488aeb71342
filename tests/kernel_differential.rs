//! Differential tests against the real kernel: random overlay stacks are mounted, some are
//! changed through the mount, and `layerscope ls -R --json` (run as a user would, on the mount
//! point and on the explicit layers) must agree with a walk of a fresh mount: same paths,
//! types, sizes, modes, owners and symlink targets, each file's content read from its reported
//! source (or data source) equal to the mount's, and the same anomalies (names readdir lists
//! but lstat refuses, with the same errno; directories readdir cannot list).
//!
//! - Random stacks (stackgen.rs): 2-5 lower layers and an optional upper, trusted.overlay.*
//!   markers, mounted with `trusted` options; a third of them again inside an unprivileged
//!   user namespace with `user.overlay.*` and `-o userxattr`.
//! - Adversarial stacks: the same, with redirects the kernel never writes (origins left
//!   visible or shared, `.` and `..`), under every `redirect_dir=` mode × `index=on` ×
//!   `metacopy=on`.
//! - Focused stacks: data-only layers, refusals, impure directories, type changes and names.
//! - `kernel_quirk_*`: kernel behaviour layerscope deliberately does not model, shown and
//!   pinned.
//!
//! Seeds: 1..=400 by default. `LAYERSCOPE_DIFF_SEEDS=N` runs seeds 1..=N,
//! `LAYERSCOPE_DIFF_SEEDS=A..B` a range, `LAYERSCOPE_DIFF_SEEDS=7,42` a list.
//! `LAYERSCOPE_DIFF_KEEP=1` keeps the directories of a failing stack for inspection.
//!
//! Needs root (mounts, `trusted.*` xattrs); the user-namespace test also needs `unshare`.

mod common;
#[path = "kernel_differential/compare.rs"]
mod compare;
#[path = "kernel_differential/fixture.rs"]
mod fixture;
#[path = "kernel_differential/kernel.rs"]
mod kernel;
#[path = "kernel_differential/prng.rs"]
mod prng;
#[path = "kernel_differential/stackgen.rs"]
mod stackgen;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use prng::Rng;
use stackgen::{Layout, Ns, Plan};

/// Seeds of the normal run.
const DEFAULT_SEEDS: u64 = 400;

fn seeds() -> Vec<u64> {
    let Ok(spec) = std::env::var("LAYERSCOPE_DIFF_SEEDS") else {
        return (1..=DEFAULT_SEEDS).collect();
    };
    let spec = spec.trim();
    if let Some((a, b)) = spec.split_once("..") {
        let (a, b): (u64, u64) = (a.parse().expect("seed"), b.parse().expect("seed"));
        return (a..b).collect();
    }
    if spec.contains(',') {
        return spec
            .split(',')
            .map(|s| s.trim().parse().expect("seed"))
            .collect();
    }
    let n: u64 = spec
        .parse()
        .expect("LAYERSCOPE_DIFF_SEEDS=N, A..B or a,b,c");
    (1..=n).collect()
}

/// What one seed builds: the stack's shape and options, and whether to mutate it.
type Planner = fn(&mut Rng) -> (Plan, Option<usize>);

/// A stack in the user namespace: markers under `user.overlay.*`, `-o userxattr` (which
/// turns redirect following and metacopy off), no files of unmapped owners.
fn userns_plan_for(rng: &mut Rng) -> (Plan, Option<usize>) {
    let (mut plan, mutate) = plan_for(rng);
    plan.ns = Ns::User;
    plan.chown = false;
    plan.options = vec!["userxattr".to_string()];
    (plan, mutate)
}

fn plan_for(rng: &mut Rng) -> (Plan, Option<usize>) {
    let upper = rng.chance(65);
    let options: &str = if upper {
        rng.weighted(&[
            ("", 2),
            ("redirect_dir=on", 3),
            ("redirect_dir=on,metacopy=on", 4),
            ("redirect_dir=nofollow", 1),
        ])
    } else {
        rng.weighted(&[
            ("", 2),
            ("redirect_dir=follow", 1),
            ("redirect_dir=nofollow", 1),
            ("metacopy=on", 2),
        ])
    };
    let plan = Plan {
        lowers: rng.range(2, 5),
        upper,
        ns: Ns::Trusted,
        odd_layer_names: rng.chance(25),
        metacopy_files: rng.chance(30),
        redirect_dirs: rng.chance(30),
        chown: true,
        options: options
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        adversarial: false,
    };
    let mutate = (upper && rng.chance(75)).then(|| rng.range(3, 12));
    let mut plan = plan;
    // LAYERSCOPE_DIFF_UPPER_OPTIONS=index=on,... adds mount options to stacks with an upper,
    // to look for what `index=`, `xino=` or `nfs_export=` change (the default runs add none).
    if upper && let Ok(extra) = std::env::var("LAYERSCOPE_DIFF_UPPER_OPTIONS") {
        plan.options
            .extend(extra.split(',').filter(|s| !s.is_empty()).map(String::from));
        // The kernel refuses nfs_export=on with metacopy=on.
        if plan.options.iter().any(|o| o == "nfs_export=on") {
            plan.options.retain(|o| o != "metacopy=on");
        }
    }
    (plan, mutate)
}

/// Totals over a run, printed at the end.
#[derive(Default, Debug)]
struct Totals {
    stacks: usize,
    mutated: usize,
    paths: usize,
    anomalies: usize,
    comparisons: usize,
    /// Redirect and metacopy xattrs the kernel wrote into uppers during the mutations.
    redirects_written: usize,
    metacopies_written: usize,
}

/// Compares the mount at `mp` with both forms of `ls -R --json`; returns the disagreements.
fn check(layout: &Layout, mp: &Path, totals: &mut Totals) -> Vec<String> {
    let kview = kernel::walk(mp, true);
    totals.paths += kview.nodes.len();
    totals.anomalies += kview.anomalies.len();
    let mut problems = Vec::new();
    let forms: [(&str, Vec<OsString>); 2] = [
        (
            "mount point",
            vec!["ls".into(), "-R".into(), "--json".into(), mp.into()],
        ),
        ("explicit layers", layout.explicit_args()),
    ];
    for (form, args) in forms {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
        let (code, out, err) = common::run(&args);
        totals.comparisons += 1;
        if code != 0 {
            problems.push(format!("[{form}] ls exited {code}: {err}"));
            continue;
        }
        for d in compare::compare(&kview, &compare::parse(&out), mp) {
            problems.push(format!("[{form}] {d}"));
        }
    }
    problems
}

/// Builds, mounts, checks, mutates, remounts and checks one random stack.
fn run_seed(seed: u64, totals: &mut Totals, planner: Planner) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (plan, mutate) = planner(&mut rng);
    let tmp = tempfile::Builder::new()
        .prefix("layerscope-diff-")
        .tempdir_in("/tmp")
        .map_err(|e| e.to_string())?;
    let base = tmp.path().join("layers");
    std::fs::create_dir(&base).map_err(|e| e.to_string())?;
    let layout = stackgen::build(&mut rng, &base, &plan).map_err(|e| format!("building: {e}"))?;
    let mp = tmp.path().join("mnt");
    let options = layout.mount_options();
    totals.stacks += 1;
    let fail = |stage: &str, problems: Vec<String>, log: &[String]| -> String {
        let shown: Vec<&String> = problems.iter().take(40).collect();
        let mut msg = format!(
            "seed {seed} ({stage}): {} disagreement(s)\n  mount -o {options}\n{}",
            problems.len(),
            shown
                .iter()
                .map(|s| format!("  - {s}\n"))
                .collect::<String>()
        );
        if !log.is_empty() {
            msg.push_str(&format!("  mutations: {}\n", log.join("; ")));
        }
        msg.push_str(&stackgen::describe(&layout));
        msg.push_str(&format!(
            "rerun: LAYERSCOPE_DIFF_SEEDS={seed}..{} cargo test --test kernel_differential\n",
            seed + 1
        ));
        msg
    };
    let writable = layout.upper.is_some();
    let result = (|| {
        let m = kernel::settled_mount(&mp, &options, writable)
            .map_err(|e| format!("seed {seed}: mount: {e}"))?;
        let problems = check(&layout, &mp, totals);
        if !problems.is_empty() {
            return Err(fail("fresh mount", problems, &[]));
        }
        let Some(ops) = mutate else { return Ok(()) };
        totals.mutated += 1;
        let upper = layout
            .upper
            .as_deref()
            .expect("mutated stacks have an upper");
        let count = |attr| stackgen::count_marked(upper, layout.ns, attr);
        let before = (count("redirect"), count("metacopy"));
        let log = kernel::mutate(&mut rng, &mp, ops);
        m.unmount()
            .map_err(|e| format!("seed {seed}: umount: {e}"))?;
        totals.redirects_written += count("redirect").saturating_sub(before.0);
        totals.metacopies_written += count("metacopy").saturating_sub(before.1);
        // A fresh mount is what the comparison walks: nothing cached from the mutations.
        let _m = kernel::settled_mount(&mp, &options, writable)
            .map_err(|e| format!("seed {seed}: remount: {e}"))?;
        let problems = check(&layout, &mp, totals);
        if !problems.is_empty() {
            return Err(fail("after mutation", problems, &log));
        }
        Ok(())
    })();
    if result.is_err() && std::env::var_os("LAYERSCOPE_DIFF_KEEP").is_some() {
        let kept = tmp.keep();
        eprintln!("seed {seed}: kept {}", kept.display());
    }
    result
}

fn run_seeds(which: impl Fn(u64) -> bool, name: &str) {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    run_seeds_with(which, name, plan_for);
}

fn run_seeds_with(which: impl Fn(u64) -> bool, name: &str, planner: Planner) {
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in seeds().into_iter().filter(|s| which(*s)) {
        if let Err(e) = run_seed(seed, &mut totals, planner) {
            failures.push(e);
        }
    }
    eprintln!(
        "{name}: {} stacks ({} mutated: the kernel wrote {} redirects and {} metacopy files), \
         {} kernel paths and {} anomalies compared in {} ls runs, {:.1}s",
        totals.stacks,
        totals.mutated,
        totals.redirects_written,
        totals.metacopies_written,
        totals.paths,
        totals.anomalies,
        totals.comparisons,
        started.elapsed().as_secs_f64()
    );
    let retries = kernel::UNMOUNT_RETRIES.load(std::sync::atomic::Ordering::Relaxed);
    if retries > 0 {
        eprintln!("{name}: umount met EBUSY {retries} times (retried)");
    }
    assert!(
        failures.is_empty(),
        "{} of {} stacks disagree with the kernel:\n{}",
        failures.len(),
        totals.stacks,
        failures.join("\n")
    );
}

// Four quarters of the seeds, run in parallel by the test harness: most of a stack's time is
// spent waiting on mount and umount, not on a CPU.
#[test]
fn random_stacks_agree_with_the_kernel_seeds_0_mod_4() {
    run_seeds(|s| s % 4 == 0, "seeds 0 mod 4");
}

#[test]
fn random_stacks_agree_with_the_kernel_seeds_1_mod_4() {
    run_seeds(|s| s % 4 == 1, "seeds 1 mod 4");
}

#[test]
fn random_stacks_agree_with_the_kernel_seeds_2_mod_4() {
    run_seeds(|s| s % 4 == 2, "seeds 2 mod 4");
}

#[test]
fn random_stacks_agree_with_the_kernel_seeds_3_mod_4() {
    run_seeds(|s| s % 4 == 3, "seeds 3 mod 4");
}

/// The same random stacks with `index=on` added where there is an upper layer (a tenth of the
/// seeds): copy-ups through one name of a lower hard link, then a fresh mount that shows the
/// copy under the other names (see the focused test below).
fn index_plan_for(rng: &mut Rng) -> (Plan, Option<usize>) {
    let (mut plan, mutate) = plan_for(rng);
    if plan.upper && !plan.options.iter().any(|o| o == "index=on") {
        plan.options.push("index=on".to_string());
    }
    (plan, mutate)
}

#[test]
fn random_stacks_with_index_on_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    run_seeds_with(|s| s % 10 == 5, "index=on, seeds 5 mod 10", index_plan_for);
}

/// Adversarial stacks (issue 14): the random stacks again, with hand-set redirects the kernel
/// never writes (an origin left visible or shared by two redirects, `..` and `.` in a
/// redirect, a redirect to the directory's own parent), under every `redirect_dir=` mode,
/// with and without `index=on` and `metacopy=on`. What the kernel refuses, layerscope must
/// report as an anomaly; what it shows, layerscope must show from the same layer.
fn adversarial_plan_for(rng: &mut Rng) -> (Plan, Option<usize>) {
    let (mut plan, mutate) = plan_for(rng);
    plan.adversarial = true;
    plan.redirect_dirs = rng.chance(85);
    plan.metacopy_files = rng.chance(50);
    let redirect: &str = rng.weighted(&[
        ("", 1),
        ("redirect_dir=on", 2),
        ("redirect_dir=follow", 2),
        ("redirect_dir=off", 2),
        ("redirect_dir=nofollow", 1),
    ]);
    let mut options: Vec<String> = Vec::new();
    if !redirect.is_empty() {
        options.push(redirect.to_string());
    }
    // metacopy=on needs redirects followed, and made where there is an upper (the kernel
    // refuses it with off or nofollow, and with follow on a writable mount).
    let follows = match redirect {
        "" | "redirect_dir=on" => true,
        "redirect_dir=follow" => !plan.upper,
        _ => false,
    };
    if follows && rng.chance(50) {
        options.push("metacopy=on".to_string());
    }
    if plan.upper && rng.chance(50) {
        options.push("index=on".to_string());
        // nfs_export=on needs index=on, and the kernel refuses it with metacopy=on.
        if !options.iter().any(|o| o == "metacopy=on") && rng.chance(33) {
            options.push("nfs_export=on".to_string());
        }
    }
    plan.options = options;
    (plan, mutate)
}

#[test]
fn adversarial_stacks_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    run_seeds_with(
        |s| s % 3 == 1,
        "adversarial, seeds 1 mod 3",
        adversarial_plan_for,
    );
}

// ---------------------------------------------------------------------------------------
// Focused stacks: each engine bug the random stacks found, and the cases they reach rarely.

/// Mounts a fixture (settled), compares both forms of `ls -R --json` with the kernel, and
/// fails with the disagreements and a dump of the layers.
fn assert_agrees(name: &str, f: &fixture::Fixture) {
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::settled_mount(&mp, &options, f.layout.upper.is_some())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut totals = Totals::default();
    let problems = check(&f.layout, &mp, &mut totals);
    drop(m);
    assert!(
        problems.is_empty(),
        "{name}: {} disagreement(s) with the kernel\n  mount -o {options}\n{}\n{}",
        problems.len(),
        problems.join("\n"),
        stackgen::describe(&f.layout)
    );
}

/// Data-only layers (`lowerdir=L1:L2::D1::D2`): metacopy files whose absolute redirect
/// names their data in a data-only layer, built by hand as composefs does, and the ways that
/// goes wrong (no redirect, a relative one, missing data, a directory or a symlink where the
/// data should be, a metacopy file that is not in the last normal layer, an upper one).
#[test]
fn data_only_layers_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let cases: [(bool, &[&str]); 5] = [
        (false, &[]),
        (false, &["metacopy=on"]),
        (false, &["redirect_dir=nofollow"]),
        (true, &[]),
        (true, &["redirect_dir=on", "metacopy=on"]),
    ];
    for (upper, options) in cases {
        let f = fixture::Fixture::new(2, upper, 2, Ns::Trusted, options);
        fixture::file(&f.d(1, "obj"), b"object data");
        fixture::file(&f.d(2, "obj"), b"shadowed by D1");
        fixture::file(&f.d(2, "obj2"), b"only in D2");
        fixture::file(&f.d(1, "sub/f"), b"nested");
        fixture::symlink(&f.d(1, "lsub"), "sub");
        fixture::dir(&f.d(1, "adir"));
        f.metacopy(&f.l(2, "e1"), Some("/obj"), 11);
        f.metacopy(&f.l(2, "e2"), None, 4);
        f.metacopy(&f.l(2, "e3"), Some("obj"), 4);
        f.metacopy(&f.l(2, "e4"), Some("/missing"), 4);
        f.metacopy(&f.l(2, "e5"), Some("/obj2"), 10);
        f.metacopy(&f.l(2, "e6"), Some("/lsub/f"), 6);
        f.metacopy(&f.l(2, "e7"), Some("/adir"), 1);
        f.metacopy(&f.l(2, "d/e8"), Some("/sub/f"), 6);
        f.metacopy(&f.l(1, "e9"), Some("/obj"), 11);
        fixture::file(
            &f.l(2, "e9"),
            b"not the data: the redirect moves the lookup",
        );
        f.metacopy(&f.l(1, "e10"), Some("/obj"), 11);
        f.metacopy(&f.l(2, "e10"), Some("/obj2"), 10);
        fixture::file(&f.l(1, "plain"), b"plain file");
        if upper {
            f.metacopy(&f.u("e11"), Some("/obj"), 11);
        }
        assert_agrees(&format!("data-only layers, -o {}", options.join(",")), &f);
    }
}

/// What a mount refuses (EPERM): a metacopy file without metacopy=on, wherever it is and
/// whatever lies below it; a redirect with redirect_dir=nofollow, in the upper or a lower
/// layer, even with nothing below; but not a redirect in the bottom layer, which the kernel
/// never reads. Also invalid redirects (EINVAL) and too-short metacopy values (EIO).
#[test]
fn refusals_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let option_sets: [&[&str]; 4] = [
        &[],
        &["redirect_dir=nofollow"],
        &["redirect_dir=follow"],
        &["redirect_dir=on", "metacopy=on"],
    ];
    for options in option_sets {
        let f = fixture::Fixture::new(3, true, 0, Ns::Trusted, options);
        for top in ["", "sub/"] {
            let p = |s: &str| format!("{top}{s}");
            fixture::dir(&f.l(3, &p("")));
            fixture::dir(&f.u(&p("")));
            f.metacopy(&f.u(&p("a")), None, 3);
            f.metacopy(&f.u(&p("b")), None, 3);
            fixture::file(&f.l(1, &p("b")), b"lower b");
            f.metacopy(&f.u(&p("c")), None, 3);
            fixture::dir(&f.l(1, &p("c")));
            f.metacopy(&f.l(3, &p("e")), None, 3);
            fixture::dir(&f.u(&p("r1")));
            f.mark(&f.u(&p("r1")), "redirect", b"zz");
            fixture::dir(&f.l(1, &p("r2")));
            f.mark(&f.l(1, &p("r2")), "redirect", b"zz");
            fixture::dir(&f.l(1, &p("r3")));
            f.mark(&f.l(1, &p("r3")), "redirect", b"r3x");
            fixture::whiteout(&f.l(1, &p("r3x")));
            fixture::file(&f.l(2, &p("r3x/inside")), b"reached through r3");
            fixture::dir(&f.l(3, &p("r4")));
            f.mark(&f.l(3, &p("r4")), "redirect", b"zz");
            fixture::dir(&f.u(&p("r5")));
            f.mark(&f.u(&p("r5")), "redirect", b"r5");
            fixture::file(&f.l(1, &p("r5/x")), b"x");
            fixture::file(&f.l(1, &p("f")), b"a plain file's redirect is never read");
            f.mark(&f.l(1, &p("f")), "redirect", b"/elsewhere");
            for (n, v) in [("bad1", &b""[..]), ("bad2", b"a/b"), ("bad3", b"//x")] {
                fixture::dir(&f.l(1, &p(n)));
                f.mark(&f.l(1, &p(n)), "redirect", v);
                fixture::dir(&f.l(2, &p(n)));
            }
            fixture::file(&f.l(1, &p("m2")), b"abc");
            f.mark(&f.l(1, &p("m2")), "metacopy", b"ab");
        }
        assert_agrees(&format!("refusals, -o {}", options.join(",")), &f);
    }
}

/// Impure directories (the kernel marks the parent of every merge dir it looks up on a
/// writable mount): readdir looks their upper names up and drops those lookup does not
/// resolve, such as xattr whiteouts or a refused metacopy file. `impure=yes` is not impure.
/// Regular files of an `opaque=x` directory are looked up the same way.
#[test]
fn impure_directories_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    for options in [&[][..], &["redirect_dir=on", "metacopy=on"]] {
        let f = fixture::Fixture::new(2, true, 0, Ns::Trusted, options);
        for (d, impure) in [
            ("d", Some(&b"y"[..])),
            ("e", Some(b"yes")),
            ("f", None),
            ("", None),
        ] {
            let p = |s: &str| {
                if d.is_empty() {
                    s.to_string()
                } else {
                    format!("{d}/{s}")
                }
            };
            fixture::dir(&f.u(d));
            fixture::dir(&f.l(1, d));
            fixture::file(&f.l(2, &p("kept")), b"kept");
            if let Some(v) = impure {
                f.mark(&f.u(d), "impure", v);
            }
            f.xwhiteout(&f.u(&p("xw")));
            f.metacopy(&f.u(&p("mc")), None, 2);
            fixture::file(&f.u(&p("plain")), b"plain");
        }
        // Impure upper directories that are not merge dirs are listed as they are on disk,
        // after a lookup of every name: one failing lookup makes the whole readdir fail.
        for (d, refused) in [("g", true), ("h", false)] {
            fixture::dir(&f.u(d));
            f.mark(&f.u(d), "impure", b"y");
            fixture::file(&f.u(&format!("{d}/plain")), b"plain");
            f.xwhiteout(&f.u(&format!("{d}/xw")));
            if refused {
                f.metacopy(&f.u(&format!("{d}/mc")), None, 2);
            }
        }
        fixture::dir(&f.l(1, "x"));
        f.mark(&f.l(1, "x"), "opaque", b"x");
        f.mark(&f.l(1, ""), "opaque", b"x");
        f.metacopy(&f.l(1, "x/mc"), None, 2);
        f.xwhiteout(&f.l(1, "x/xw"));
        fixture::file(&f.l(2, "x/xw"), b"whited out by the xattr whiteout above");
        fixture::file(&f.l(2, "x/kept"), b"kept");
        assert_agrees(&format!("impure, -o {}", options.join(",")), &f);
    }
}

// ---------------------------------------------------------------------------------------
// Unprivileged: the same random stacks, in a user namespace with `-o userxattr`.

/// The variable that makes [`user_namespace_inner`] run: set only by
/// [`random_stacks_agree_with_the_kernel_in_a_user_namespace`] for the copy of this test
/// binary it starts under `unshare -Urm`.
const USERNS_VAR: &str = "LAYERSCOPE_DIFF_IN_USERNS";

/// Random stacks built, mounted, changed and compared entirely inside an unprivileged user
/// namespace (`unshare -Urm`): this test binary runs itself there, where
/// [`user_namespace_inner`] does the work with `user.overlay.*` markers and
/// `-o userxattr`, and layerscope runs unprivileged as well (no trusted.* access at all).
#[test]
fn random_stacks_agree_with_the_kernel_in_a_user_namespace() {
    let probe = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return common::skip(&format!(
                "unshare -Urm does not work here: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => return common::skip(&format!("cannot run unshare: {e}")),
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("unshare")
        .arg("-Urm")
        .arg(exe)
        .args([
            "--exact",
            "user_namespace_inner",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(USERNS_VAR, "1")
        .output()
        .expect("run the test binary under unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the user-namespace run failed:\n{stdout}\n{stderr}"
    );
    for line in stderr.lines().filter(|l| l.starts_with("user namespace")) {
        eprintln!("{line}");
    }
}

/// Runs only inside the namespace that
/// [`random_stacks_agree_with_the_kernel_in_a_user_namespace`] creates; elsewhere it does
/// nothing.
#[test]
fn user_namespace_inner() {
    if std::env::var_os(USERNS_VAR).is_none() {
        return;
    }
    assert!(
        !layerscope::fsio::can_read_trusted_xattrs(),
        "expected to run without access to trusted.* xattrs"
    );
    run_seeds_with(|s| s % 3 == 0, "user namespace", userns_plan_for);
}

/// Type changes: a directory over a file over a directory (only the top directory's names),
/// a file over a directory, a symlink over a directory, a directory over a symlink, a fifo
/// over a file; whiteouts over whole trees, in the bottom layer, and stray ones; `.wh.`
/// names as plain files; every opaque value; odd names and 255-byte ones at every level.
#[test]
fn type_changes_and_names_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(3, true, 0, Ns::Trusted, &[]);
    fixture::file(&f.l(3, "a/deep/x"), b"cut off");
    fixture::file(&f.l(2, "a"), b"file in the middle");
    fixture::file(&f.l(1, "a/top"), b"only this");
    fixture::file(&f.l(2, "b/inner"), b"hidden by a file");
    fixture::file(&f.l(1, "b"), b"file over dir");
    fixture::file(&f.l(2, "c/inner"), b"hidden by a symlink");
    fixture::symlink(&f.l(1, "c"), "/a");
    fixture::symlink(&f.l(2, "d"), "a");
    fixture::file(&f.u("d/inner"), b"dir over symlink");
    fixture::file(&f.l(2, "e"), b"file");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        f.l(1, "e"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    fixture::file(&f.l(3, "tree/a/b/c"), b"whited out with its tree");
    fixture::whiteout(&f.u("tree"));
    fixture::whiteout(&f.l(3, "bottom-whiteout"));
    fixture::whiteout(&f.l(1, "stray"));
    fixture::file(&f.l(2, ".wh.a"), b"a plain file in a kernel layer");
    fixture::file(&f.l(2, ".wh..wh..opq"), b"also plain");
    for (i, v) in [
        &b"y"[..],
        b"yes",
        b"Y",
        b"",
        b"y
",
        b"x",
    ]
    .iter()
    .enumerate()
    {
        let d = format!("opaque{i}");
        fixture::file(&f.l(2, &format!("{d}/below")), b"below");
        fixture::file(&f.l(1, &format!("{d}/above")), b"above");
        f.mark(&f.l(1, &d), "opaque", v);
    }
    let long = "n".repeat(255);
    for name in [
        "sp ace",
        "com,ma",
        "co:lon",
        "back\\slash",
        "new\nline",
        long.as_str(),
    ] {
        fixture::file(&f.l(1, &format!("{name}/{name}")), b"odd");
        fixture::file(&f.l(2, &format!("{name}/other")), b"merged");
    }
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff\xfe");
    fixture::file(&f.l(1, "").join(bad).join(bad), b"not UTF-8");
    fixture::whiteout(&f.l(1, "").join(bad).join("gone"));
    fixture::file(&f.l(2, "").join(bad).join("gone"), b"whited out");
    assert_agrees("type changes and names", &f);
}

/// With the upper on another filesystem (a tmpfs) and no `xino`, readdir of an impure
/// directory does not look names up, so an upper xattr whiteout there is listed (an anomaly).
#[test]
fn impure_directories_on_two_filesystems_agree_with_the_kernel() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    impure_directories_on_two_filesystems(&[]);
}

/// The same with `xino=on`: the layers span two filesystems, so the kernel puts the layer's
/// number in the high inode bits, and readdir of every merged directory looks every name up
/// to compute it (`ovl_calc_d_ino`), dropping the names lookup does not find, as it does for
/// impure directories on one filesystem.
#[test]
fn with_xino_on_two_filesystems_readdir_of_a_merged_directory_looks_every_name_up() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    impure_directories_on_two_filesystems(&["xino=on"]);
}

fn impure_directories_on_two_filesystems(options: &[&str]) {
    let mut f = fixture::Fixture::new(2, false, 0, Ns::Trusted, options);
    let tmpfs = f.tmp.path().join("tmpfs");
    std::fs::create_dir(&tmpfs).expect("mkdir");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&tmpfs)
        .status()
        .expect("mount tmpfs");
    assert!(status.success(), "mount -t tmpfs failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _guard = Unmount(tmpfs.clone());
    f.layout.upper = Some(tmpfs.join("U"));
    f.layout.work = Some(tmpfs.join("work"));
    fixture::dir(&f.u(""));
    fixture::dir(f.layout.work.as_ref().expect("work"));
    for d in ["d", ""] {
        let p = |s: &str| {
            if d.is_empty() {
                s.to_string()
            } else {
                format!("{d}/{s}")
            }
        };
        fixture::dir(&f.u(d));
        fixture::dir(&f.l(1, d));
        f.mark(&f.u(d), "impure", b"y");
        f.xwhiteout(&f.u(&p("xw")));
        fixture::file(&f.l(1, &p("kept")), b"kept");
        // Not impure: only xino makes readdir look its names up.
        fixture::dir(&f.u(&p("pure")));
        fixture::dir(&f.l(1, &p("pure")));
        f.xwhiteout(&f.u(&p("pure/xw")));
        fixture::file(&f.l(1, &p("pure/kept")), b"kept");
    }
    assert_agrees(&format!("impure upper on a tmpfs, {options:?}"), &f);
}

// ---------------------------------------------------------------------------------------
// Kernel behaviour layerscope deliberately does not model: each test shows the kernel doing
// it (so a kernel that changes is noticed) and pins what layerscope answers instead.

/// Runs `ls -R --json` on explicit layers and returns what it printed.
fn ls_explicit(layout: &Layout) -> compare::Listing {
    let args = layout.explicit_args();
    let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "ls failed: {err}");
    compare::parse(&out)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Whether readdir hides a lower layer's xattr whiteout depends on the layer's
/// `has_xwhiteouts` flag, which the kernel sets at mount time for layers whose root is marked
/// `opaque=x`, and otherwise the first time a lookup meets one of the layer's `opaque=x`
/// directories. So an xattr whiteout in a directory marked `x` in *another* layer is listed
/// (as an anomaly) before that lookup, and hidden after it. layerscope answers as a kernel
/// that has looked up a directory's names in byte order before listing the later ones
/// (here `b` before `zz`: hidden). The random stacks avoid the ambiguity (stackgen.rs).
#[test]
fn kernel_quirk_xwhiteout_filter_depends_on_lookup_history() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(3, false, 0, Ns::Trusted, &[]);
    f.mark(&f.l(2, ""), "opaque", b"x");
    fixture::file(&f.l(2, "kept"), b"kept");
    fixture::dir(&f.l(1, "b"));
    f.mark(&f.l(1, "b"), "opaque", b"x");
    f.xwhiteout(&f.l(1, "zz"));
    fixture::file(&f.l(3, "zz"), b"whited out");
    let mp = f.mountpoint();
    let _m = kernel::mount(&mp, &f.layout.mount_options()).expect("mount");
    let before = names_in(&mp);
    std::fs::symlink_metadata(mp.join("b")).expect("lookup of b");
    let after = names_in(&mp);
    assert!(
        before.contains(&"zz".to_string()) && !after.contains(&"zz".to_string()),
        "the kernel no longer depends on lookup history here: before {before:?}, after {after:?}"
    );
    let l = ls_explicit(&f.layout);
    assert!(
        !l.anomalies.contains_key(&b"/zz"[..]) && !l.nodes.contains_key(&b"/zz"[..]),
        "layerscope should hide /zz (it looks b up first): {:?}",
        l.anomalies
    );
}

/// A lower directory reachable through two merged paths (here a hand-made redirect in the
/// upper whose origin is still visible at its own path) gives ESTALE to whichever path the
/// kernel looks up *second* while the first is cached (`ovl_verify_inode`: "lookup of an
/// uncovered redirect origin"). The kernel itself never writes such a redirect (a rename
/// whites the origin out). layerscope cannot know the order of lookups on a mount, so it shows
/// neither: both are anomalies that name the ESTALE, and nothing under them is claimed.
/// Without an upper layer the kernel shows both, and so does layerscope.
#[test]
fn a_lower_directory_shared_by_two_paths_is_estale_for_the_second_lookup() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    for upper in [true, false] {
        let f = fixture::Fixture::new(2, upper, 0, Ns::Trusted, &["redirect_dir=on"]);
        let (top, below) = if upper {
            (f.u("b"), f.l(1, "a/f"))
        } else {
            (f.l(1, "b"), f.l(2, "a/f"))
        };
        fixture::dir(&top);
        f.mark(&top, "redirect", b"a");
        fixture::file(&below, b"in a");
        fixture::file(&f.l(2, "kept"), b"kept");
        let mp = f.mountpoint();
        let options = f.layout.mount_options();
        for (first, second) in [("a", "b"), ("b", "a")] {
            let m = kernel::mount(&mp, &options).expect("mount");
            std::fs::symlink_metadata(mp.join(first)).expect("first lookup");
            let second_lookup = std::fs::symlink_metadata(mp.join(second));
            if upper {
                let err = second_lookup.expect_err("second lookup");
                assert_eq!(
                    err.raw_os_error(),
                    Some(libc::ESTALE),
                    "looking up {first} then {second}"
                );
            } else {
                second_lookup.expect("without an upper both paths work");
            }
            m.unmount().expect("umount");
        }
        let l = ls_explicit(&f.layout);
        for p in [&b"/a"[..], b"/b"] {
            let shown = String::from_utf8_lossy(p);
            if upper {
                assert!(
                    l.anomalies.get(p).is_some_and(|r| r.contains("ESTALE"))
                        && !l.nodes.contains_key(p),
                    "{shown} must be an ESTALE anomaly: {:?}",
                    l.anomalies
                );
            } else {
                assert!(l.nodes.contains_key(p), "layerscope should show {shown}");
            }
        }
        if !upper {
            assert_agrees("a lower directory shared by two paths, no upper", &f);
        }
    }
}

/// A lower file that is also the data of a metacopy file elsewhere (here a hand-made upper
/// metacopy file whose absolute redirect names a lower file still visible at its own path) is
/// one overlay inode for the kernel, hashed by the lower file: looked up after the metacopy
/// file, the lower path shows the metacopy file's inode and metadata; looked up first, the
/// metacopy file then gives ESTALE. The kernel itself never leaves such a pair (a rename whites
/// the origin out). layerscope cannot know the order of lookups on a mount: both paths are
/// order-dependent anomalies.
#[test]
fn a_lower_file_and_the_metacopy_file_it_is_the_data_of_depend_on_lookup_order() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    use std::os::unix::fs::MetadataExt;
    let f = fixture::Fixture::new(1, true, 0, Ns::Trusted, &["redirect_dir=on", "metacopy=on"]);
    fixture::file(&f.l(1, "o/f"), b"o1 data!");
    f.metacopy(&f.u("m"), Some("/o/f"), 8);
    std::fs::set_permissions(
        f.u("m"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::mount(&mp, &options).expect("mount");
    let md_m = std::fs::symlink_metadata(mp.join("m")).expect("lookup of m");
    let md_o = std::fs::symlink_metadata(mp.join("o/f")).expect("lookup of o/f");
    assert_eq!(
        (md_o.ino(), md_o.mode() & 0o7777),
        (md_m.ino(), 0o600),
        "the kernel no longer aliases /o/f to /m"
    );
    m.unmount().expect("umount");
    let m = kernel::mount(&mp, &options).expect("mount");
    std::fs::symlink_metadata(mp.join("o/f")).expect("lookup of o/f");
    let err = std::fs::symlink_metadata(mp.join("m")).expect_err("m after o/f");
    assert_eq!(err.raw_os_error(), Some(libc::ESTALE));
    m.unmount().expect("umount");
    let l = ls_explicit(&f.layout);
    for p in [&b"/m"[..], b"/o/f"] {
        assert!(
            !l.nodes.contains_key(p),
            "{:?} must not be shown",
            String::from_utf8_lossy(p)
        );
        let reason = l.anomalies.get(p).map(String::as_str).unwrap_or_default();
        assert!(
            reason.contains("whichever of them is looked up first") && reason.contains("ESTALE"),
            "{:?} must be an order-dependent anomaly: {:?}",
            String::from_utf8_lossy(p),
            l.anomalies
        );
    }
    assert_agrees("a metacopy file and its visible data", &f);
}

/// An xattr whiteout directly in the upper root (issue 14): the merged root is always a merge
/// dir, and its readdir looks its upper names up, dropping the ones lookup does not find, only
/// while the root's inode is impure. That flag comes from the upper root's `overlay.impure`
/// when the mount is made (`ovl_get_root`), or is set during the mount the first time the
/// kernel marks the root itself (looking up a merged subdirectory without `overlay.origin`
/// writes `impure=y` on its parent: `ovl_fix_origin`). Before that the whiteout is listed (and
/// lookup refuses it: an anomaly); from then on it is not, on this mount and on every later
/// one. `opaque=x` on the upper root changes nothing (the kernel reads it on lower layers only).
/// layerscope reads the layers as they are now, which is what a fresh mount of them shows: a
/// differential walk that compares a mount's first readdir with the layers read after it has
/// made the kernel write `impure` sees a difference that is only a matter of timing (hence
/// `kernel::settled_mount`).
#[test]
fn an_xattr_whiteout_in_the_upper_root_is_listed_until_the_root_is_impure() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(1, true, 0, Ns::Trusted, &[]);
    f.xwhiteout(&f.u("xw"));
    f.mark(&f.u(""), "opaque", b"x");
    fixture::dir(&f.u("d"));
    fixture::file(&f.l(1, "d/a"), b"a");
    let listed = |l: &compare::Listing| {
        (
            l.anomalies.contains_key(&b"/xw"[..]),
            l.nodes.contains_key(&b"/xw"[..]),
        )
    };
    // The layers before the kernel marked anything: readdir lists /xw, lookup refuses it.
    assert_eq!(listed(&ls_explicit(&f.layout)), (true, false));
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::mount(&mp, &options).expect("mount");
    assert!(
        names_in(&mp).contains(&"xw".to_string()),
        "a fresh root lists xw"
    );
    std::fs::symlink_metadata(mp.join("xw")).expect_err("lookup refuses xw");
    std::fs::symlink_metadata(mp.join("d")).expect("lookup of the merged d");
    assert!(
        !names_in(&mp).contains(&"xw".to_string()),
        "once the kernel has marked the root impure, readdir drops xw"
    );
    m.unmount().expect("umount");
    let m = kernel::mount(&mp, &options).expect("mount");
    assert!(
        !names_in(&mp).contains(&"xw".to_string()),
        "a remount reads impure"
    );
    drop(m);
    // The layers now carry impure=y on the upper root: layerscope hides /xw as well.
    assert_eq!(listed(&ls_explicit(&f.layout)), (false, false));
    assert_agrees("an xattr whiteout in an impure upper root", &f);
}

/// `index=on`: copying up one name of a hard-linked lower file keeps the link, through
/// `<workdir>/index/<origin handle hex>`, so the other names, still only in the lower layer,
/// show the upper copy's metadata and bytes from then on, on every later mount with `index=on`
/// too (`ovl_lookup` → `ovl_lookup_index`). layerscope finds the index entry by the lower
/// file's handle and reports such a name as an anomaly (never the stale lower file); a hard
/// link whose inode was not copied up is still shown from its lower layer. Given by hand, the
/// same with `--workdir`; without it every lower hard link is an anomaly: the index cannot be
/// read.
#[test]
fn index_on_a_lower_hard_link_copied_up_through_another_name_is_an_anomaly() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(1, true, 0, Ns::Trusted, &["index=on"]);
    fixture::file(&f.l(1, "a"), b"lower bytes");
    std::fs::hard_link(f.l(1, "a"), f.l(1, "b")).expect("link");
    fixture::file(&f.l(1, "c"), b"untouched");
    std::fs::hard_link(f.l(1, "c"), f.l(1, "d")).expect("link");
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::mount(&mp, &options).expect("mount");
    std::fs::write(mp.join("a"), b"written through a").expect("write a");
    m.unmount().expect("umount");
    let m = kernel::mount(&mp, &options).expect("remount");
    let b = std::fs::read(mp.join("b")).expect("read b");
    assert_eq!(
        b, b"written through a",
        "the kernel no longer keeps the link"
    );
    let (code, out, err) = common::run(&[
        "ls".as_ref(),
        "-R".as_ref(),
        "--json".as_ref(),
        mp.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let l = compare::parse(&out);
    let kview = kernel::walk(&mp, true);
    let problems = compare::compare(&kview, &l, &mp);
    drop(m);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        l.anomalies
            .get(&b"/b"[..])
            .is_some_and(|r| r.starts_with("index=on")),
        "/b must be an index anomaly: {:?}",
        l.anomalies
    );
    assert!(!l.nodes.contains_key(&b"/b"[..]));
    let d = l.nodes.get(&b"/d"[..]).expect("/d is shown");
    assert!(d.source.ends_with(b"L1/d"), "/d from its lower layer");
    // Given by hand with --workdir, the same answers.
    let l = ls_explicit(&f.layout);
    assert!(
        l.anomalies
            .get(&b"/b"[..])
            .is_some_and(|r| r.starts_with("index=on"))
    );
    assert!(l.nodes.contains_key(&b"/c"[..]) && l.nodes.contains_key(&b"/d"[..]));
    // Without it, every lower hard link is uncertain.
    let mut args = f.layout.explicit_args();
    let at = args
        .iter()
        .position(|a| a == "--workdir")
        .expect("--workdir given");
    args.drain(at..at + 2);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "ls failed: {err}");
    let l = compare::parse(&out);
    for p in [&b"/b"[..], b"/c", b"/d"] {
        assert!(
            l.anomalies
                .get(p)
                .is_some_and(|r| r.contains("workdir is not known")),
            "{}: {:?}",
            String::from_utf8_lossy(p),
            l.anomalies
        );
    }
}

/// One lower file under two merged paths, only one of them a copy-up (issue 14, the class the
/// adversarial stacks found): a lower directory redirects to a sibling that is still visible,
/// so `/a/f` and `/b/f` are both the lower file `a/f`, and `/a/f` has been copied up. The kernel
/// hashes both by the lower inode: looked up after `/a/f`, `/b/f` shows the upper copy; looked
/// up first, it makes `/a/f` ESTALE. layerscope shows neither: both are anomalies saying so.
#[test]
fn one_lower_file_under_two_paths_with_one_copy_up_depends_on_lookup_order() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(2, true, 0, Ns::Trusted, &["redirect_dir=on"]);
    fixture::file(&f.l(2, "a/f"), b"lower bytes");
    fixture::dir(&f.l(1, "b"));
    f.mark(&f.l(1, "b"), "redirect", b"a");
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::mount(&mp, &options).expect("mount");
    std::fs::write(mp.join("a/f"), b"written through a").expect("copy-up of a/f");
    m.unmount().expect("umount");
    let m = kernel::mount(&mp, &options).expect("mount");
    std::fs::symlink_metadata(mp.join("a/f")).expect("a/f first");
    assert_eq!(
        std::fs::read(mp.join("b/f")).expect("b/f after a/f"),
        b"written through a",
        "the kernel no longer aliases /b/f to the copy of /a/f"
    );
    m.unmount().expect("umount");
    let m = kernel::mount(&mp, &options).expect("mount");
    std::fs::symlink_metadata(mp.join("b/f")).expect("b/f first");
    let err = std::fs::symlink_metadata(mp.join("a/f")).expect_err("a/f after b/f");
    assert_eq!(err.raw_os_error(), Some(libc::ESTALE));
    m.unmount().expect("umount");
    let l = ls_explicit(&f.layout);
    for p in [&b"/a/f"[..], b"/b/f"] {
        assert!(
            l.anomalies
                .get(p)
                .is_some_and(|r| r.contains("whichever of them is looked up first"))
                && !l.nodes.contains_key(p),
            "{} must be an order-dependent anomaly: {:?}",
            String::from_utf8_lossy(p),
            l.anomalies
        );
    }
    assert!(l.nodes.contains_key(&b"/a"[..]) && l.nodes.contains_key(&b"/b"[..]));
}

/// `nfs_export=on` (issue 14): the kernel merges an upper directory only with the lower copy
/// its `origin` names (`ovl_verify_origin`, "failed to verify origin" in the kernel log).
/// Given another directory's origin (an offline edit: the kernel writes matching ones), the
/// upper directory stands alone and its lower copy is hidden (`not-origin`); without
/// `nfs_export` the same layers merge.
#[test]
fn with_nfs_export_an_upper_directory_merges_only_with_the_copy_its_origin_names() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let mut f = fixture::Fixture::new(1, true, 0, Ns::Trusted, &["index=on", "nfs_export=on"]);
    fixture::file(&f.l(1, "d/fa"), b"a");
    fixture::file(&f.l(1, "e/fb"), b"b");
    // The kernel copies both directories up and writes their origins.
    let mp = f.mountpoint();
    let m = kernel::mount(&mp, &f.layout.mount_options()).expect("mount");
    fixture::file(&mp.join("d/x"), b"x");
    fixture::file(&mp.join("e/y"), b"y");
    m.unmount().expect("umount");
    let attr = "trusted.overlay.origin";
    let mut origin = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(f.u("e"), attr, &mut origin).expect("origin of e");
    origin.truncate(n);
    f.mark(&f.u("d"), "origin", &origin);

    let m = kernel::mount(&mp, &f.layout.mount_options()).expect("mount");
    assert_eq!(
        names_in(&mp.join("d")),
        ["x"],
        "the kernel no longer verifies origins"
    );
    assert_eq!(names_in(&mp.join("e")), ["fb", "y"]);
    m.unmount().expect("umount");
    let l = ls_explicit(&f.layout);
    assert!(l.nodes.contains_key(&b"/d/x"[..]) && !l.nodes.contains_key(&b"/d/fa"[..]));
    assert!(l.nodes.contains_key(&b"/e/fb"[..]));
    let args = f.layout.explicit_args();
    // `ls -R --json LAYERS…` becomes `which LAYERS… /d`.
    let mut args: Vec<&std::ffi::OsStr> = std::iter::once(std::ffi::OsStr::new("which"))
        .chain(args[3..].iter().map(OsString::as_os_str))
        .collect();
    args.push(std::ffi::OsStr::new("/d"));
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "which failed: {err}");
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("nfs_export"),
        "which /d names why L1's d is not merged:\n{out}"
    );
    assert_agrees(
        "an upper directory given another's origin, nfs_export=on",
        &f,
    );

    f.layout.options.retain(|o| o != "nfs_export=on");
    let m = kernel::mount(&mp, &f.layout.mount_options()).expect("mount");
    assert_eq!(names_in(&mp.join("d")), ["fa", "x"]);
    m.unmount().expect("umount");
    assert_agrees("the same layers without nfs_export", &f);
}

/// `nfs_export=on` indexes every copied-up directory, and looks every merged directory's
/// origin up in the index (`ovl_lookup_index`). Two states the kernel leaves behind become
/// lookups it refuses with EIO once the whiteout that covered them is gone (an offline edit):
/// a removed directory (its index entry turns into a whiteout: "bad index found") and a
/// renamed one (its entry names the upper copy elsewhere: "suspected uncovered redirected
/// dir"). layerscope reads the index from the workdir and refuses both the same way.
#[test]
fn with_nfs_export_an_uncovered_index_entry_is_refused_with_eio() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let f = fixture::Fixture::new(
        1,
        true,
        0,
        Ns::Trusted,
        &["redirect_dir=on", "index=on", "nfs_export=on"],
    );
    fixture::file(&f.l(1, "removed/f"), b"f");
    fixture::file(&f.l(1, "renamed/f"), b"f");
    fixture::file(&f.l(1, "kept/f"), b"f");
    let mp = f.mountpoint();
    let options = f.layout.mount_options();
    let m = kernel::mount(&mp, &options).expect("mount");
    fixture::file(&mp.join("removed/x"), b"x");
    std::fs::remove_dir_all(mp.join("removed")).expect("rm -rf removed");
    std::fs::rename(mp.join("renamed"), mp.join("moved")).expect("mv renamed moved");
    fixture::file(&mp.join("kept/x"), b"x");
    m.unmount().expect("umount");
    // Uncover both lower directories.
    for p in ["removed", "renamed"] {
        std::fs::remove_file(f.u(p)).expect("remove the whiteout");
    }
    let m = kernel::mount(&mp, &options).expect("mount");
    for p in ["removed", "renamed"] {
        let err = std::fs::symlink_metadata(mp.join(p)).expect_err(p);
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{p}");
    }
    assert_eq!(names_in(&mp.join("moved")), ["f"]);
    assert_eq!(names_in(&mp.join("kept")), ["f", "x"]);
    m.unmount().expect("umount");
    let l = ls_explicit(&f.layout);
    for (p, why) in [
        (&b"/removed"[..], "bad index found"),
        (b"/renamed", "suspected uncovered redirected dir"),
    ] {
        let reason = l.anomalies.get(p).map(String::as_str).unwrap_or_default();
        assert!(
            reason.contains(why) && reason.contains("gives EIO"),
            "{}: {:?}",
            String::from_utf8_lossy(p),
            l.anomalies
        );
    }
    assert_agrees("uncovered index entries, nfs_export=on", &f);
}
