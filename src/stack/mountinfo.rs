//! Reading overlay mounts from `/proc/self/mountinfo`, decoding every way kernels print layers.
//!
//! The decoder is pure (text in, data out); only [`find_mount`] and [`stack_from_entry`] look
//! at the system. What it handles (the kernel's `show_mountinfo` in fs/proc_namespace.c and
//! `ovl_show_options` in fs/overlayfs/params.c):
//!
//! - the generic mangling of the mount point, root and source (`\040` space, `\011` tab,
//!   `\012` newline, `\134` backslash);
//! - super options split on commas, except inside the double quotes SELinux puts around a
//!   `context="…"` value that holds commas (a real comma in a value is always `\054`);
//! - `lowerdir=` as every generation prints it, with one tokenizer: after octal decoding, a
//!   backslash (typed, or printed as `\134`) makes the next byte literal, a colon printed as
//!   `\072` is literal, a bare `:` separates layers and `::` starts the data-only layers. This
//!   reads the user's string of ≤ 6.4 and ≥ 6.8 (where `\:` survives as `\134:`) and the
//!   per-layer form of 6.5–6.7 (`\072` for a colon in a name, `::` before data-only layers);
//! - `lowerdir+=` and `datadir+=` (≥ 6.8, one layer each): octal decoding only, since the
//!   kernel takes these paths literally;
//! - `upperdir=` and `workdir=`: octal decoding, then backslash escapes dropped, as the kernel
//!   does before resolving them;
//! - relative layer paths (Docker's and Podman's `l/…` form when the options would not fit in
//!   a page): resolved against the driver home, the grandparent of a `<home>/<id>/merged`
//!   mount point, and checked to exist ([`resolve_relative`]).
//!
//! Known ambiguity: 6.5.0–6.5.7 stored layer names with the user's backslashes removed, so a
//! literal backslash in a layer name, printed as `\134`, reads as an escape there. Layers given
//! by file descriptor (≥ 6.13) print as paths of this namespace, and a literal backslash in an
//! `upperdir` given that way is read as an escape too.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::LayerStack;
use super::options::{KernelDefaults, MountOptions, Unit, split_lowerdir_units};
use crate::error::{Error, Result};
use crate::escape;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount ID.
    pub mount_id: u64,
    /// The parent mount's ID.
    pub parent_id: u64,
    /// The directory of the filesystem that forms this mount's root (decoded).
    pub root: PathBuf,
    /// Where it is mounted (decoded).
    pub mountpoint: PathBuf,
    /// Filesystem type (`overlay`, `ext4`, `fuse.fuse-overlayfs`, ...).
    pub fstype: String,
    /// The mount source (decoded), usually `overlay` for overlays.
    pub source: Vec<u8>,
    /// The super options field, raw (still escaped).
    pub super_options: Vec<u8>,
}

/// Decodes the kernel's octal escapes (`\NNN`), remembering which bytes came from one.
#[must_use]
pub fn octal_units(field: &[u8]) -> Vec<Unit> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field.get(i + 1..i + 4);
        match digits {
            Some([a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) if field[i] == b'\\' => {
                out.push(Unit {
                    byte: (a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'),
                    escaped: true,
                });
                i += 4;
            }
            _ => {
                out.push(Unit::raw(field[i]));
                i += 1;
            }
        }
    }
    out
}

/// Decodes the kernel's octal escapes (`\040`, `\134`, ...) into bytes.
#[must_use]
pub fn unoctal(field: &[u8]) -> Vec<u8> {
    octal_units(field).into_iter().map(|u| u.byte).collect()
}

/// Drops backslash escapes as the kernel's `ovl_unescape` does: a backslash makes the next
/// byte literal, and a trailing one is dropped.
#[must_use]
pub fn unescape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut it = value.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&next) = it.next() {
                out.push(next);
            }
        } else {
            out.push(b);
        }
    }
    out
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

/// Parses one mountinfo line; `None` when it is malformed.
#[must_use]
pub fn parse_line(line: &[u8]) -> Option<MountEntry> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    // Optional fields (shared:N, master:N, ...) sit between field 6 and the lone `-`.
    let dash = 6 + fields.get(6..)?.iter().position(|f| *f == b"-")?;
    let number = |f: &[u8]| std::str::from_utf8(f).ok()?.parse().ok();
    Some(MountEntry {
        mount_id: number(fields.first()?)?,
        parent_id: number(fields.get(1)?)?,
        root: path_of(unoctal(fields.get(3)?)),
        mountpoint: path_of(unoctal(fields.get(4)?)),
        fstype: String::from_utf8_lossy(&unoctal(fields.get(dash + 1)?)).into_owned(),
        source: unoctal(fields.get(dash + 2)?),
        super_options: fields.get(dash + 3)?.to_vec(),
    })
}

/// Parses mountinfo text into entries; malformed lines are skipped.
#[must_use]
pub fn parse(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n').filter_map(parse_line).collect()
}

/// Options whose values are layer paths: never read as quoted, whatever they start with.
const LAYER_OPTIONS: [&str; 5] = ["lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir"];

/// Splits a raw super-options field into names and raw (still escaped) values.
///
/// Commas split, except inside a value that starts with `"` (SELinux quotes a context that
/// holds commas, `context="system_u:object_r:container_file_t:s0:c1,c2"`). A layer path may
/// hold a `"` that the kernel does not escape, so quotes count only at the start of a value of
/// a non-layer option.
#[must_use]
pub fn split_super_options(field: &[u8]) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < field.len() {
        let rest = &field[i..];
        let name_end = rest
            .iter()
            .position(|&b| b == b'=' || b == b',')
            .unwrap_or(rest.len());
        let name = String::from_utf8_lossy(&unoctal(&rest[..name_end])).into_owned();
        if rest.get(name_end) != Some(&b'=') {
            if !name.is_empty() {
                out.push((name, None));
            }
            i += name_end + 1;
            continue;
        }
        let value = &rest[name_end + 1..];
        let mut end = value.iter().position(|&b| b == b',').unwrap_or(value.len());
        if value.first() == Some(&b'"') && !LAYER_OPTIONS.contains(&name.as_str()) {
            // The closing quote is the first one followed by a comma or the end.
            if let Some(close) = (1..value.len())
                .find(|&k| value[k] == b'"' && matches!(value.get(k + 1), None | Some(b',')))
            {
                end = close + 1;
            }
        }
        out.push((name, Some(value[..end].to_vec())));
        i += name_end + 1 + end + 1;
    }
    out
}

/// An overlay mount's layers and options as mountinfo shows them, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The upperdir, when the mount has one.
    pub upper: Option<PathBuf>,
    /// The workdir, when the mount has one.
    pub work: Option<PathBuf>,
    /// The normal lower layers, top first.
    pub lowers: Vec<PathBuf>,
    /// The data-only lower layers, in lookup order.
    pub data: Vec<PathBuf>,
    /// Every other option with its octal-decoded value (`userxattr`, `redirect_dir`, ...).
    pub options: Vec<(String, Option<Vec<u8>>)>,
}

impl OverlayMount {
    /// Builds the stack, applying the options over the kernel's defaults.
    ///
    /// # Errors
    /// An option value that cannot be understood.
    pub fn into_stack(self, kernel: &KernelDefaults) -> Result<LayerStack> {
        let options = MountOptions::from_options(
            self.options.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            kernel,
        )
        .map_err(|e| {
            Error::BadInput(format!(
                "the overlay at '{}': {e}",
                escape::path(&self.mountpoint)
            ))
        })?;
        let mut stack = LayerStack::from_dirs(
            self.mountpoint.display().to_string(),
            self.upper,
            self.lowers,
            self.data,
            options,
        );
        stack.workdir = self.work;
        stack.mountpoint = Some(self.mountpoint);
        Ok(stack)
    }
}

/// Decodes an overlay mount entry's layers and options, as every kernel generation prints
/// them (see the module docs). Pure: relative paths are left relative.
///
/// # Errors
/// The entry is not an overlay, shows no lower layer, or its `lowerdir=` cannot be decoded.
pub fn decode_overlay(entry: &MountEntry) -> Result<OverlayMount> {
    let at = escape::path(&entry.mountpoint);
    if entry.fstype != "overlay" {
        let why = if entry.fstype.contains("overlay") {
            format!(
                "'{at}' is a mount of type {}, which does not show its layers in mountinfo: give \
                 them with --lowerdir A:B [--upperdir U]",
                escape::display(entry.fstype.as_bytes())
            )
        } else {
            format!(
                "'{at}' is a mount of type {}, not an overlay: name an overlay mount point, or \
                 give layers with --lowerdir A:B [--upperdir U]",
                escape::display(entry.fstype.as_bytes())
            )
        };
        return Err(Error::BadInput(why));
    }
    let mut out = OverlayMount {
        mountpoint: entry.mountpoint.clone(),
        upper: None,
        work: None,
        lowers: Vec::new(),
        data: Vec::new(),
        options: Vec::new(),
    };
    for (name, raw) in split_super_options(&entry.super_options) {
        match (name.as_str(), raw) {
            ("lowerdir", Some(raw)) => {
                let (lowers, data) = split_lowerdir_units(&octal_units(&raw)).map_err(|why| {
                    Error::BadInput(format!(
                        "the overlay at '{at}' shows lowerdir={} in /proc/self/mountinfo, which \
                         layerscope cannot decode ({why}): give the layers with --lowerdir",
                        escape::display(&raw)
                    ))
                })?;
                // A later lowerdir= replaces everything given before, as in the kernel.
                out.lowers = lowers;
                out.data = data;
            }
            ("lowerdir+", Some(raw)) => out.lowers.push(path_of(unoctal(&raw))),
            ("datadir+", Some(raw)) => out.data.push(path_of(unoctal(&raw))),
            ("upperdir", Some(raw)) => out.upper = Some(path_of(unescape(&unoctal(&raw)))),
            ("workdir", Some(raw)) => out.work = Some(path_of(unescape(&unoctal(&raw)))),
            (_, raw) => out.options.push((name, raw.map(|r| unoctal(&r)))),
        }
    }
    if out.lowers.is_empty() {
        return Err(Error::BadInput(format!(
            "the overlay at '{at}' shows no lower layer in /proc/self/mountinfo: give the \
             layers with --lowerdir"
        )));
    }
    Ok(out)
}

/// The driver home a Docker or Podman mount was made from: the grandparent of a
/// `<home>/<id>/merged` mount point.
#[must_use]
pub fn driver_home(mountpoint: &Path) -> Option<&Path> {
    if mountpoint.file_name()? != "merged" {
        return None;
    }
    mountpoint.parent()?.parent()
}

/// Resolves relative layer paths and checks that every layer is there. The kernel resolves
/// relative paths against the mounter's working directory, which mountinfo does not record;
/// Docker and Podman mount from their driver home (`lowerdir=l/ABC:l/DEF,upperdir=<id>/diff`),
/// so for a `<home>/<id>/merged` mount point they are resolved against `<home>`. `exists` must
/// confirm each layer (absolute or resolved).
///
/// # Errors
/// A content layer that is not there or a relative one that cannot be resolved, naming it and
/// what to do instead. A workdir that cannot be resolved is dropped (it holds no content).
pub fn resolve_relative(mount: &mut OverlayMount, exists: &dyn Fn(&Path) -> bool) -> Result<()> {
    let at = escape::path(&mount.mountpoint);
    let home = driver_home(&mount.mountpoint).map(Path::to_path_buf);
    let resolve = |p: &mut PathBuf| -> Result<()> {
        if p.is_absolute() {
            if !exists(p) {
                return Err(Error::BadInput(format!(
                    "the overlay at '{at}' has layer '{}', which is not there any more (moved or \
                     deleted after mounting, or given to the kernel from another mount \
                     namespace): give the layers with --lowerdir A:B [--upperdir U]",
                    escape::path(p)
                )));
            }
            return Ok(());
        }
        let shown = escape::path(p);
        let Some(home) = &home else {
            return Err(Error::BadInput(format!(
                "the overlay at '{at}' names layer '{shown}' by a relative path, relative to \
                 the directory it was mounted from, which the kernel does not record (only \
                 '<home>/<id>/merged' mount points, as Docker and Podman make, can be \
                 resolved): give the layers with --lowerdir A:B [--upperdir U]"
            )));
        };
        let candidate = home.join(&*p);
        if !exists(&candidate) {
            return Err(Error::BadInput(format!(
                "the overlay at '{at}' names layer '{shown}' by a relative path; resolved \
                 against the driver home '{}' (as Docker and Podman mount) it would be '{}', \
                 which does not exist: give the layers with --lowerdir A:B [--upperdir U]",
                escape::path(home),
                escape::path(&candidate)
            )));
        }
        *p = candidate;
        Ok(())
    };
    if let Some(upper) = &mut mount.upper {
        resolve(upper)?;
    }
    for p in mount.lowers.iter_mut().chain(mount.data.iter_mut()) {
        resolve(p)?;
    }
    if let Some(work) = &mut mount.work
        && resolve(work).is_err()
    {
        mount.work = None;
    }
    Ok(())
}

/// Builds the stack of an overlay mount entry, resolving relative layer paths on this system.
///
/// # Errors
/// The entry is not an overlay, its layer options cannot be decoded, or a relative layer path
/// cannot be resolved.
pub fn stack_from_entry(entry: &MountEntry, kernel: &KernelDefaults) -> Result<LayerStack> {
    let mut mount = decode_overlay(entry)?;
    resolve_relative(&mut mount, &|p| p.is_dir())?;
    mount.into_stack(kernel)
}

/// Finds the mount whose mount point is exactly `want` (the last one wins, as it is the one on
/// top). When `want` is only inside a mount, the error says which, and for an overlay shows
/// the `MOUNTPOINT PATH` form to use. `shown` is the path as the user typed it.
///
/// # Errors
/// Nothing is mounted exactly at `want`.
pub fn find_in(entries: &[MountEntry], want: &Path, shown: &Path) -> Result<MountEntry> {
    if let Some(m) = entries.iter().rev().find(|m| m.mountpoint == want) {
        return Ok(m.clone());
    }
    let typed = escape::path(shown);
    // The mount that holds `want`: the longest mount point above it (the last one on ties).
    let holder = entries
        .iter()
        .filter(|m| want.starts_with(&m.mountpoint))
        .max_by_key(|m| m.mountpoint.as_os_str().len());
    match holder {
        Some(m) if m.fstype == "overlay" => {
            let inside = want.strip_prefix(&m.mountpoint).unwrap_or(want);
            let mut inner = b"/".to_vec();
            inner.extend_from_slice(inside.as_os_str().as_bytes());
            Err(inside_overlay(shown, &m.mountpoint, &inner, "ls", true))
        }
        _ => Err(Error::BadInput(format!(
            "'{typed}' is not a mount point: name an overlay mount point (see `grep overlay \
             /proc/self/mountinfo`), or give its layers with --lowerdir A:B [--upperdir U]"
        ))),
    }
}

/// The error for a STACK that lies inside the overlay mounted at `mountpoint` (at `inner`)
/// instead of being its mount point, with the form to type for `command`:
/// `layerscope cat MOUNT /inner` when it takes a PATH, `layerscope layers MOUNT` when not.
/// Every command says it the same way, through this.
#[must_use]
pub fn inside_overlay(
    typed: &Path,
    mountpoint: &Path,
    inner: &[u8],
    command: &str,
    takes_path: bool,
) -> Error {
    let mount = shell_word(&escape::path(mountpoint));
    let example = if takes_path {
        format!(
            "layerscope {command} {mount} {}",
            shell_word(&escape::display(inner))
        )
    } else {
        format!("layerscope {command} {mount}")
    };
    let then = if takes_path {
        ", then the path inside the merged view"
    } else {
        ""
    };
    Error::BadInput(format!(
        "'{}' is inside the overlay mounted at '{}', not its mount point: name the mount \
         point{then}, e.g. `{example}`",
        escape::path(typed),
        escape::path(mountpoint),
    ))
}

/// When `path` lies inside an overlay mount without being a mount point: that mount point
/// and the path inside the merged view (`/sub/file`). `None` for anything else (a mount
/// point, a path outside every overlay, a path that does not resolve).
#[must_use]
pub fn overlay_holding(path: &Path) -> Option<(PathBuf, Vec<u8>)> {
    let text = std::fs::read("/proc/self/mountinfo").ok()?;
    // A path that does not exist (a typo inside the mount) is still inside it: resolve the
    // part that exists.
    let mut base = path;
    let mut rest = Vec::new();
    let want = loop {
        match std::fs::canonicalize(base) {
            Ok(real) => break rest.iter().rev().fold(real, |p, c| p.join(c)),
            Err(_) => {
                rest.push(base.file_name()?);
                base = base.parent().filter(|p| !p.as_os_str().is_empty())?;
            }
        }
    };
    let entries = parse(&text);
    if entries.iter().any(|m| m.mountpoint == want) {
        return None;
    }
    let holder = entries
        .iter()
        .filter(|m| want.starts_with(&m.mountpoint))
        .max_by_key(|m| m.mountpoint.as_os_str().len())?;
    if holder.fstype != "overlay" {
        return None;
    }
    let inside = want.strip_prefix(&holder.mountpoint).ok()?;
    let mut inner = b"/".to_vec();
    inner.extend_from_slice(inside.as_os_str().as_bytes());
    Some((holder.mountpoint.clone(), inner))
}

/// Quotes a word for a shell suggestion when it needs it.
fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Finds the overlay mounted at `path` in this process's mountinfo.
///
/// # Errors
/// The path cannot be resolved, or nothing is mounted exactly there.
pub fn find_mount(path: &Path) -> Result<MountEntry> {
    let text = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    let want = std::fs::canonicalize(path).map_err(|e| {
        Error::BadInput(format!(
            "cannot use '{}' as a stack: {e}; name an overlay mount point, or give its layers \
             with --lowerdir A:B [--upperdir U]",
            escape::path(path)
        ))
    })?;
    find_in(&parse(&text), &want, path)
}

#[cfg(test)]
mod tests;
