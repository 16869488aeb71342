//! Reading overlay mounts from `/proc/self/mountinfo`, decoding every way kernels print layers.
//!
//! (First cut: plain octal decoding and `lowerdir=` splitting; every kernel generation's
//! printing is handled by the full decoder.)

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::LayerStack;
use super::options::{KernelDefaults, MountOptions, split_lowerdir, split_options};
use crate::error::{Error, Result};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount ID.
    pub mount_id: u64,
    /// Where it is mounted (decoded).
    pub mountpoint: PathBuf,
    /// Filesystem type (`overlay`, `ext4`, ...).
    pub fstype: String,
    /// The super options field, raw (still escaped).
    pub super_options: Vec<u8>,
}

fn unoctal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                (field[i + 1] - b'0') * 64 + (field[i + 2] - b'0') * 8 + (field[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Parses mountinfo text into entries; malformed lines are skipped.
#[must_use]
pub fn parse(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            let dash = fields.iter().position(|f| *f == b"-")?;
            Some(MountEntry {
                mount_id: std::str::from_utf8(fields.first()?).ok()?.parse().ok()?,
                mountpoint: PathBuf::from(OsString::from_vec(unoctal(fields.get(4)?))),
                fstype: String::from_utf8_lossy(fields.get(dash + 1)?).into_owned(),
                super_options: fields.get(dash + 3)?.to_vec(),
            })
        })
        .collect()
}

/// Builds the stack of an overlay mount entry.
///
/// # Errors
/// The entry is not an overlay, or its layer options cannot be decoded.
pub fn stack_from_entry(entry: &MountEntry, kernel: &KernelDefaults) -> Result<LayerStack> {
    if entry.fstype != "overlay" {
        return Err(Error::BadInput(format!(
            "'{}' is a {} mount, not an overlay: name an overlay mount point or pass --lowerdir",
            entry.mountpoint.display(),
            entry.fstype
        )));
    }
    let opts: Vec<(String, Option<Vec<u8>>)> = split_options(&entry.super_options)
        .into_iter()
        .map(|(k, v)| (k, v.map(|v| unoctal(&v))))
        .collect();
    let mut lowers = Vec::new();
    let mut data = Vec::new();
    let mut upper = None;
    let mut workdir = None;
    for (name, value) in &opts {
        match (name.as_str(), value) {
            ("lowerdir", Some(v)) => (lowers, data) = split_lowerdir(v)?,
            ("lowerdir+", Some(v)) => lowers.push(PathBuf::from(OsString::from_vec(v.clone()))),
            ("datadir+", Some(v)) => data.push(PathBuf::from(OsString::from_vec(v.clone()))),
            ("upperdir", Some(v)) => upper = Some(PathBuf::from(OsString::from_vec(v.clone()))),
            ("workdir", Some(v)) => workdir = Some(PathBuf::from(OsString::from_vec(v.clone()))),
            _ => {}
        }
    }
    let options =
        MountOptions::from_options(opts.iter().map(|(k, v)| (k.as_str(), v.as_deref())), kernel)?;
    let mut stack = LayerStack::from_dirs(
        entry.mountpoint.display().to_string(),
        upper,
        lowers,
        data,
        options,
    );
    stack.workdir = workdir;
    stack.mountpoint = Some(entry.mountpoint.clone());
    Ok(stack)
}

/// Finds the overlay mounted at `path` in this process's mountinfo (the last one wins, as the
/// kernel shows the topmost mount).
///
/// # Errors
/// Nothing is mounted there, or it is not an overlay.
pub fn find_mount(path: &Path) -> Result<MountEntry> {
    let text = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    let want = std::fs::canonicalize(path).map_err(|e| Error::io("resolving", path, e))?;
    parse(&text).into_iter().rev().find(|m| m.mountpoint == want).ok_or_else(|| {
        Error::BadInput(format!(
            "'{}' is not a mount point: name an overlay mount point, or give its layers with --lowerdir",
            path.display()
        ))
    })
}
