//! Shared by the tests that drive the real engines: running commands, undoing what a test made,
//! finding Docker's data-root, and a tiny busybox root filesystem to `docker import`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a command runs and succeeds.
pub fn works(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// Undoes what a test made, in reverse order, even when it panics.
#[derive(Default)]
pub struct Cleanup(Vec<Vec<String>>);

impl Cleanup {
    /// Runs `cmd` when the test ends (its failure is ignored).
    pub fn push(&mut self, cmd: &[&str]) {
        self.0.push(cmd.iter().map(|s| s.to_string()).collect());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for cmd in self.0.iter().rev() {
            let _ = Command::new(&cmd[0]).args(&cmd[1..]).output();
        }
    }
}

/// Why Docker cannot be used here, if it cannot; else its data-root (overlay2 only).
pub fn docker_root() -> Result<PathBuf, String> {
    if !super::is_root() {
        return Err("needs root to read Docker's data-root".into());
    }
    let out = Command::new("docker")
        .args(["info", "--format", "{{.DockerRootDir}} {{.Driver}}"])
        .output()
        .map_err(|e| format!("no docker client: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "no Docker daemon: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let root = PathBuf::from(parts.next().unwrap_or("/var/lib/docker"));
    match parts.next() {
        Some("overlay2") => Ok(root),
        other => Err(format!(
            "Docker uses the {other:?} storage driver, not overlay2"
        )),
    }
}

/// `DIR/rootfs` holding a static busybox as `bin/busybox`, with `applets` linked to it (every
/// applet it has when `applets` is empty), and `etc` and `tmp`; `None` without a static busybox
/// (a dynamic one would not run in the image).
pub fn busybox_rootfs(dir: &Path, applets: &[&str]) -> Option<PathBuf> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    // A dynamically linked busybox names its loader near the start of the file.
    let head = std::fs::read(&busybox).ok()?;
    let head = &head[..head.len().min(4096)];
    if head.windows(7).any(|w| w == b"/lib64/" || w == b"/lib/ld") {
        return None;
    }
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    let all = sh(Command::new(&busybox).arg("--list"));
    let names: Vec<&str> = if applets.is_empty() {
        all.lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .collect()
    } else {
        applets.to_vec()
    };
    for applet in names {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    Some(root)
}

/// `DIR/base.tar`: a tar of `root`, for `docker import`.
pub fn tar_of(root: &Path, dir: &Path) -> PathBuf {
    let tar = dir.join("base.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}
