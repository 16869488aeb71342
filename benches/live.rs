//! Live view benchmark (needs root to mount an overlay): how long from a write through the mount
//! to the line `layerscope watch --json` prints, and what a burst of 10,000 writes gives.
//!
//! Run: `sudo cargo bench --bench live` (or as root: `cargo bench --bench live`).
//! Options (environment): `LIVE_BENCH_WRITES` (default 200), `LIVE_BENCH_BURST` (default 10000),
//! `LIVE_BENCH_BIG_DIR` (entries of the big lower directory, default 20000).
//!
//! It prints the latency median, p99 and max over the writes (half new files, half appends to
//! lower files, i.e. copy-ups), the CPU time `watch` used while idle, the latency of copy-ups in
//! one big lower directory, then two bursts: one with the default channel (every change should
//! be reported one by one) and one with a 64-slot channel (an overflow notice, then a rescan
//! that must report every file).

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Mounted {
    point: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.point).status();
    }
}

struct Watch {
    child: Child,
    rx: Receiver<(Instant, Value)>,
}

impl Watch {
    fn start(mount: &Path, extra: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_layerscope"))
            .arg("watch")
            .arg(mount)
            .arg("--json")
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run layerscope watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                let v: Value = serde_json::from_str(&line).expect("a JSON line");
                if tx.send((at, v)).is_err() {
                    break;
                }
            }
        });
        let w = Watch { child, rx };
        let (_, first) = w
            .next(Duration::from_secs(30))
            .expect("the watching notice");
        assert_eq!(first["kind"], "watching", "{first}");
        w
    }

    fn next(&self, timeout: Duration) -> Option<(Instant, Value)> {
        self.rx.recv_timeout(timeout).ok()
    }

    fn cpu_ticks(&self) -> u64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    }

    fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let st = self.child.wait().expect("wait");
        assert!(st.success(), "watch ended with {st:?}");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Appends to files of one big lower directory: the lookup below must not cost a listing.
fn big_dir_latency(mount: &Path, entries: usize, writes: usize) {
    let w = Watch::start(mount, &[]);
    let mut lat = Vec::with_capacity(writes);
    for i in 0..writes {
        let k = (i * 7919) % entries;
        let want = format!("/big/g{k:06}");
        let t0 = Instant::now();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(mount.join(&want[1..]))
            .expect("open");
        f.write_all(b"more\n").expect("write");
        drop(f);
        loop {
            let (at, v) = w.next(Duration::from_secs(10)).expect("an event");
            if v["path"] == want.as_str() {
                assert_eq!(v["kind"], "copied-up", "{v}");
                lat.push(at - t0);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    lat.sort();
    println!(
        "latency over {writes} copy-ups in a {entries}-entry lower directory: median {}, max {}",
        ms(percentile(&lat, 0.5)),
        ms(*lat.last().expect("some writes"))
    );
    w.stop();
}

fn latency(mount: &Path, writes: usize) {
    let w = Watch::start(mount, &[]);
    let mut lat = Vec::with_capacity(writes);
    for i in 0..writes {
        // Every other write appends to a lower file (a copy-up); the others create a file.
        let (target, want) = if i % 2 == 0 {
            let p = mount.join(format!("new/n{i:05}"));
            (p, format!("/new/n{i:05}"))
        } else {
            let p = mount.join(format!("lower/f{i:05}"));
            (p, format!("/lower/f{i:05}"))
        };
        let t0 = Instant::now();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
            .expect("open");
        f.write_all(b"written through the mount\n").expect("write");
        drop(f);
        loop {
            let (at, v) = w
                .next(Duration::from_secs(10))
                .unwrap_or_else(|| panic!("no event for {want}"));
            if v["path"] == want.as_str() {
                lat.push(at - t0);
                break;
            }
        }
        // Let each write be its own burst.
        std::thread::sleep(Duration::from_millis(20 + (i as u64 * 7) % 30));
    }
    lat.sort();
    let mean = lat.iter().sum::<Duration>() / u32::try_from(lat.len()).unwrap_or(1);
    println!(
        "latency over {writes} writes (write -> line printed by `watch --json`): median {}, p99 {}, max {}, mean {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().expect("some writes")),
        ms(mean)
    );
    // Idle: no CPU while nothing happens.
    let before = w.cpu_ticks();
    std::thread::sleep(Duration::from_secs(3));
    let after = w.cpu_ticks();
    println!(
        "idle: `watch` used {} clock ticks of CPU in 3 s with nothing happening (1 tick = 10 ms)",
        after - before
    );
    w.stop();
}

fn burst(mount: &Path, dir: &str, n: usize, extra: &[&str]) {
    fs::create_dir_all(mount.join(dir)).expect("mkdir");
    std::thread::sleep(Duration::from_millis(300));
    let w = Watch::start(mount, extra);
    let cpu0 = w.cpu_ticks();
    let t0 = Instant::now();
    for i in 0..n {
        fs::write(mount.join(format!("{dir}/b{i:05}")), b"x").expect("write");
    }
    let wrote = t0.elapsed();
    let mut seen: HashSet<String> = HashSet::new();
    let mut dupes = 0usize;
    let mut overflows = 0usize;
    let mut rescans = 0usize;
    let mut last = t0;
    let mut lines = 0usize;
    let prefix = format!("/{dir}/");
    while seen.len() < n {
        let Some((at, v)) = w.next(Duration::from_secs(30)) else {
            break;
        };
        lines += 1;
        match v["kind"].as_str() {
            Some("overflow") => overflows += 1,
            Some("rescanned") => rescans += 1,
            Some("created") => {
                let p = v["path"].as_str().unwrap_or("").to_string();
                if p.starts_with(&prefix) && !seen.insert(p) {
                    dupes += 1;
                }
            }
            _ => {}
        }
        last = at;
    }
    // Anything after the last file (a late rescan notice) arrives within a quiet second.
    while let Some((_, v)) = w.next(Duration::from_secs(1)) {
        lines += 1;
        match v["kind"].as_str() {
            Some("overflow") => overflows += 1,
            Some("rescanned") => rescans += 1,
            _ => {}
        }
    }
    let cpu = w.cpu_ticks() - cpu0;
    println!(
        "burst of {n} new files{}: written in {}, all reported {} after the first write; {} of {n} reported, {dupes} twice, {lines} lines, {overflows} overflow notices, {rescans} rescans; `watch` used {cpu} ticks of CPU",
        if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(" "))
        },
        ms(wrote),
        ms(last - t0),
        seen.len()
    );
    assert_eq!(seen.len(), n, "every file must be reported");
    w.stop();
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("the live benchmark mounts an overlay: run it as root");
        return;
    }
    let writes = env_usize("LIVE_BENCH_WRITES", 200);
    let n = env_usize("LIVE_BENCH_BURST", 10_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for d in ["lower/lower", "upper", "work", "merged"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    fs::create_dir_all(root.join("upper/new")).expect("mkdir");
    for i in 0..writes {
        fs::write(root.join(format!("lower/lower/f{i:05}")), vec![b'l'; 4096]).expect("lower file");
    }
    let big = env_usize("LIVE_BENCH_BIG_DIR", 20_000);
    fs::create_dir_all(root.join("lower/big")).expect("mkdir");
    for i in 0..big {
        fs::write(root.join(format!("lower/big/g{i:06}")), b"g\n").expect("lower file");
    }
    let point = root.join("merged");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        root.join("lower").display(),
        root.join("upper").display(),
        root.join("work").display()
    );
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&point)
        .status()
        .expect("mount");
    assert!(st.success(), "mount failed");
    let m = Mounted { point };
    println!(
        "layerscope live benchmark: kernel {}, {} CPUs",
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    latency(&m.point, writes);
    big_dir_latency(&m.point, big, 20);
    burst(&m.point, "burst1", n, &[]);
    burst(&m.point, "burst2", n, &["--channel-capacity", "64"]);
}
