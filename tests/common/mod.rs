//! Shared by the integration tests: the privileged-skip rule and small helpers.
#![allow(dead_code)]

pub mod docker;
pub mod oci;
pub mod stores;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable CI sets so that a test which cannot run fails instead of skipping.
pub const REQUIRE_VAR: &str = "LAYERSCOPE_REQUIRE_PRIVILEGED";

/// Skips the calling test with a printed reason, or fails it when CI requires it to run.
/// Use as `if let Some(why) = cannot_run() { return skip(&why); }`.
///
/// The line goes straight to the process's stderr, not through `eprintln!`, which libtest
/// captures (and hides for a test that passes): a skip must show in `cargo test`'s output.
pub fn skip(reason: &str) {
    use std::io::Write as _;
    if std::env::var_os(REQUIRE_VAR).is_some_and(|v| v == "1") {
        panic!("{REQUIRE_VAR}=1 but this test cannot run: {reason}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// Whether this process is root in the initial user namespace (can mount overlays and read
/// `trusted.*` xattrs).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root() && layerscope::fsio::can_read_trusted_xattrs()
}

/// Why an overlay cannot be mounted here, if it cannot.
pub fn cannot_mount_overlay() -> Option<String> {
    if !is_root() {
        return Some("needs root to mount an overlay".into());
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs.lines().any(|l| l.trim_end().ends_with("overlay")) {
        return Some("the kernel has no overlay filesystem".into());
    }
    None
}

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_layerscope"))
}

/// Runs `cmd` (the binary, set up by the caller) with `NO_COLOR`; returns (exit code, stdout,
/// stderr) as text.
pub fn run_text(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.env("NO_COLOR", "1").output().expect("run layerscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary with arguments; returns (exit code, stdout, stderr).
pub fn run(args: &[&std::ffi::OsStr]) -> (i32, Vec<u8>, String) {
    let out = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run layerscope");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An overlay mount that is unmounted (lazily) when dropped.
pub struct Mount {
    pub point: PathBuf,
}

impl Mount {
    /// Mounts an overlay at `point` with the given option string.
    pub fn new(point: &Path, options: &str) -> std::io::Result<Mount> {
        std::fs::create_dir_all(point)?;
        let st = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", options])
            .arg(point)
            .status()?;
        if !st.success() {
            return Err(std::io::Error::other(format!("mount -o {options} failed")));
        }
        Ok(Mount {
            point: point.to_path_buf(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.point).status();
    }
}
