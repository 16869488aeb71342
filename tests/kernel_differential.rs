//! Differential tests against the real kernel: random overlay stacks are mounted, some are
//! changed through the mount, and `layerscope ls -R --json` (run as a user would, on the mount
//! point and on the explicit layers) must agree with a walk of a fresh mount: same paths,
//! types, sizes, modes, owners and symlink targets, each file's content read from its reported
//! source equal to the mount's, and the same anomalies (names readdir lists but lstat refuses).
//!
//! Seeds: a fixed set by default. `LAYERSCOPE_DIFF_SEEDS=N` runs seeds 1..=N,
//! `LAYERSCOPE_DIFF_SEEDS=A..B` a range, `LAYERSCOPE_DIFF_SEEDS=7,42` a list.
//! `LAYERSCOPE_DIFF_KEEP=1` keeps the directories of a failing stack for inspection.
//!
//! Needs root (mounts, `trusted.*` xattrs); the user-namespace test also needs `unshare`.

mod common;
#[path = "kernel_differential/compare.rs"]
mod compare;
#[path = "kernel_differential/kernel.rs"]
mod kernel;
#[path = "kernel_differential/prng.rs"]
mod prng;
#[path = "kernel_differential/stackgen.rs"]
mod stackgen;

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use prng::Rng;
use stackgen::{Layout, Ns, Plan};

/// Seeds of the normal run.
const DEFAULT_SEEDS: u64 = 60;

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
    };
    let mutate = (upper && rng.chance(75)).then(|| rng.range(3, 12));
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
        for d in compare::compare(&kview, &compare::parse(&out)) {
            problems.push(format!("[{form}] {d}"));
        }
    }
    problems
}

/// Builds, mounts, checks, mutates, remounts and checks one random stack.
fn run_seed(seed: u64, totals: &mut Totals) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let (plan, mutate) = plan_for(&mut rng);
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
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in seeds().into_iter().filter(|s| which(*s)) {
        if let Err(e) = run_seed(seed, &mut totals) {
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
    assert!(
        failures.is_empty(),
        "{} of {} stacks disagree with the kernel:\n{}",
        failures.len(),
        totals.stacks,
        failures.join("\n")
    );
}

#[test]
fn random_stacks_agree_with_the_kernel_odd_seeds() {
    run_seeds(|s| s % 2 == 1, "odd seeds");
}

#[test]
fn random_stacks_agree_with_the_kernel_even_seeds() {
    run_seeds(|s| s % 2 == 0, "even seeds");
}
