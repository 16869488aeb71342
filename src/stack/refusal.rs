//! What the kernel refuses to mount, so that a stack given with `--lowerdir`/`--upperdir`/`-o`
//! is refused the same way instead of being shown as a view no overlay could ever have.
//!
//! Two checks, each a port of the kernel's (Linux 6.18):
//! - option conflicts, `ovl_fs_params_verify` in fs/overlayfs/params.c: `metacopy=on` with an
//!   explicit `redirect_dir=` other than `on` (with an upper layer `follow` and `off` count, since
//!   `off` means `follow` there), `nfs_export=on` with `index=off` or `metacopy=on`, `userxattr`
//!   with redirects or metacopy asked for. All give EINVAL;
//! - layers that are one directory or nest, the "traps" of fs/overlayfs/super.c: a lower that is
//!   the upper or an earlier lower (the same inode, also through a symlink or bind mount) gives
//!   ELOOP "conflicting lowerdir path"; a lower inside another layer gives ELOOP "overlapping
//!   lowerdir path". An upper inside a lower is allowed (`lowerdir=/,upperdir=/sub`).
//!
//! The messages quote the kernel's own words (what `dmesg` shows after the failed mount).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::options::{KernelDefaults, split_options};
use crate::error::{Error, Result};

/// `redirect_dir` as the kernel holds it after parsing: `off` has become `follow` or
/// `nofollow` (params.c `ovl_parse_param`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirect {
    On,
    Follow,
    Nofollow,
}

impl Redirect {
    fn name(self) -> &'static str {
        match self {
            Redirect::On => "on",
            Redirect::Follow => "follow",
            Redirect::Nofollow => "nofollow",
        }
    }
}

fn param(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/module/overlay/parameters/{name}"))
        .is_ok_and(|v| v.trim() == "Y")
}

fn refused(why: &str, fix: &str) -> Error {
    Error::BadInput(format!(
        "the kernel refuses to mount this: \"overlayfs: {why}\" (mount fails with EINVAL); {fix}"
    ))
}

/// Checks `-o` options the way the kernel checks them at mount time, for a stack with or
/// without an upper layer. Values are not checked here ([`super::options::parse_user_options`]
/// does that); unknown names are ignored.
///
/// # Errors
/// A combination the kernel refuses, quoting the kernel's message.
pub fn check_options(text: &[u8], has_upper: bool, kernel: &KernelDefaults) -> Result<()> {
    let mut redirect = if kernel.redirect_dir {
        Redirect::On
    } else if kernel.redirect_always_follow {
        Redirect::Follow
    } else {
        Redirect::Nofollow
    };
    let (mut metacopy, mut index, mut nfs_export) =
        (kernel.metacopy, param("index"), param("nfs_export"));
    let (mut set_redirect, mut set_metacopy, mut set_index, mut set_nfs) =
        (false, false, false, false);
    let mut userxattr = false;
    for (name, value) in split_options(text) {
        let on = value.as_deref() == Some(b"on");
        match name.as_str() {
            "redirect_dir" => {
                set_redirect = true;
                redirect = match value.as_deref() {
                    Some(b"on") => Redirect::On,
                    Some(b"follow") => Redirect::Follow,
                    Some(b"nofollow") => Redirect::Nofollow,
                    _ if kernel.redirect_always_follow => Redirect::Follow,
                    _ => Redirect::Nofollow,
                };
            }
            "metacopy" => (metacopy, set_metacopy) = (on, true),
            "index" => (index, set_index) = (on, true),
            "nfs_export" => (nfs_export, set_nfs) = (on, true),
            "userxattr" => userxattr = true,
            _ => {}
        }
    }
    if !has_upper {
        // index is useless without an upper; `follow` is treated as `on` there.
        index = false;
        set_index = false;
        if redirect == Redirect::Follow {
            redirect = Redirect::On;
        }
    }
    if metacopy && redirect != Redirect::On {
        if set_metacopy && set_redirect {
            return Err(refused(
                &format!(
                    "conflicting options: metacopy=on,redirect_dir={}",
                    redirect.name()
                ),
                "metacopy=on needs redirect_dir=on: drop one of them",
            ));
        }
        if set_redirect {
            metacopy = false;
        } else {
            redirect = Redirect::On;
        }
    }
    if nfs_export && !index {
        if !has_upper && redirect != Redirect::Nofollow {
            nfs_export = false;
        } else if set_nfs && set_index {
            return Err(refused(
                "conflicting options: nfs_export=on,index=off",
                "nfs_export=on needs index=on: drop one of them",
            ));
        } else if set_index {
            nfs_export = false;
        }
    }
    if nfs_export && metacopy && set_nfs && set_metacopy {
        return Err(refused(
            "conflicting options: nfs_export=on,metacopy=on",
            "drop one of them",
        ));
    }
    if userxattr {
        if set_redirect && redirect != Redirect::Nofollow {
            return Err(refused(
                &format!(
                    "conflicting options: userxattr,redirect_dir={}",
                    redirect.name()
                ),
                "with userxattr redirects can only be redirect_dir=nofollow: drop one of them",
            ));
        }
        if metacopy && set_metacopy {
            return Err(refused(
                "conflicting options: userxattr,metacopy=on",
                "userxattr mounts cannot follow metacopy: drop one of them",
            ));
        }
    }
    Ok(())
}

/// One layer as the user gave it: the flag that named it and its path.
#[derive(Debug, Clone)]
pub struct Given<'a> {
    /// `--upperdir`, `--lowerdir`, `--lowerdir data-only`.
    pub flag: &'a str,
    /// The directory (a symlink to one is followed, as the kernel does).
    pub path: &'a Path,
}

/// Checks that no lower layer is the upper or another lower (the same directory, even by
/// another path) and that no lower lies inside another layer, as the kernel's traps do.
/// `layers` are in the kernel's order: the upper first, then the lowers top-down, then the
/// data-only ones.
///
/// The kernel walks the parents of a layer's dentry; this walks the parents of its real path
/// and stops at the mount it is on, so a nesting seen only through a bind mount is left to the
/// kernel (never a refusal of what it accepts).
///
/// # Errors
/// Two layers that are one directory, or a lower inside another layer; the message names both
/// and quotes the kernel.
pub fn check_layers(layers: &[Given<'_>]) -> Result<()> {
    let mut ids: Vec<((u64, u64), &Given<'_>)> = Vec::new();
    for g in layers {
        let Ok(meta) = std::fs::metadata(g.path) else {
            continue; // a missing layer is reported where it is opened
        };
        let id = (meta.dev(), meta.ino());
        if g.flag != "--upperdir"
            && let Some((_, first)) = ids.iter().find(|(i, _)| *i == id)
        {
            return Err(Error::BadInput(format!(
                "{} layer '{}' is the same directory as {} layer '{}': the kernel refuses to \
                 mount this (\"overlayfs: conflicting lowerdir path\", ELOOP); give each \
                 directory once",
                g.flag,
                crate::escape::path(g.path),
                first.flag,
                crate::escape::path(first.path)
            )));
        }
        ids.push((id, g));
    }
    for g in layers.iter().filter(|g| g.flag != "--upperdir") {
        for ancestor in ancestors(g.path) {
            if let Some((_, outer)) = ids.iter().find(|(i, _)| *i == ancestor) {
                return Err(Error::BadInput(format!(
                    "{} layer '{}' is inside {} layer '{}': the kernel refuses to mount this \
                     (\"overlayfs: overlapping lowerdir path\", ELOOP); a lower layer may not \
                     lie inside another layer",
                    g.flag,
                    crate::escape::path(g.path),
                    outer.flag,
                    crate::escape::path(outer.path)
                )));
            }
        }
    }
    Ok(())
}

/// (device, inode) of each parent of `path`'s real location, nearest first, up to the root of
/// the mount it is on.
fn ancestors(path: &Path) -> Vec<(u64, u64)> {
    let Ok(real) = std::fs::canonicalize(path) else {
        return Vec::new();
    };
    let Some(start) = mount_id(&real) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut dir: PathBuf = real;
    while let Some(parent) = dir.parent().map(Path::to_path_buf) {
        if mount_id(&parent) != Some(start) {
            break;
        }
        let Ok(meta) = std::fs::metadata(&parent) else {
            break;
        };
        out.push((meta.dev(), meta.ino()));
        dir = parent;
    }
    out
}

fn mount_id(path: &Path) -> Option<u64> {
    use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
    statx(CWD, path, AtFlags::empty(), StatxFlags::MNT_ID)
        .ok()
        .map(|s| s.stx_mnt_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> KernelDefaults {
        KernelDefaults::default()
    }

    #[test]
    fn metacopy_with_redirects_off_or_follow_conflicts_only_with_an_upper() {
        for o in [
            &b"metacopy=on,redirect_dir=off"[..],
            b"metacopy=on,redirect_dir=follow",
        ] {
            let e = check_options(o, true, &k()).unwrap_err().to_string();
            assert!(
                e.contains("conflicting options: metacopy=on,redirect_dir=follow"),
                "{e}"
            );
            assert!(check_options(o, false, &k()).is_ok());
        }
        assert!(check_options(b"metacopy=on,redirect_dir=nofollow", false, &k()).is_err());
        assert!(check_options(b"metacopy=on", true, &k()).is_ok());
        assert!(check_options(b"metacopy=on,redirect_dir=on", true, &k()).is_ok());
    }

    #[test]
    fn userxattr_and_nfs_export_conflicts_follow_the_kernel() {
        let e = check_options(b"userxattr,redirect_dir=off", false, &k()).unwrap_err();
        assert!(e.to_string().contains("userxattr,redirect_dir=on"), "{e}");
        let e = check_options(b"userxattr,redirect_dir=off", true, &k()).unwrap_err();
        assert!(
            e.to_string().contains("userxattr,redirect_dir=follow"),
            "{e}"
        );
        assert!(check_options(b"userxattr,redirect_dir=nofollow", true, &k()).is_ok());
        assert!(check_options(b"userxattr,metacopy=on", false, &k()).is_err());
        assert!(check_options(b"nfs_export=on,index=off", true, &k()).is_err());
        assert!(check_options(b"nfs_export=on,metacopy=on", true, &k()).is_err());
        // Without an upper, nfs_export quietly falls back to off.
        assert!(check_options(b"nfs_export=on,index=off", false, &k()).is_ok());
        assert!(check_options(b"nfs_export=on,metacopy=on", false, &k()).is_ok());
    }
}
