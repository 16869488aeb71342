//! `index=on`: the kernel's index directory (`<workdir>/index/`), named by the hex of the copy-up
//! origin's file handle (`ovl_get_index_name`). A lower non-directory whose inode has an index
//! entry is shown by the kernel as that entry, the copy made through another of its names
//! (`ovl_lookup` → `ovl_lookup_index`). layerscope does not follow the entry (it lies outside
//! the layers), so such a name is refused as an anomaly instead of shown with stale content.

use std::collections::HashMap;

use super::FileKind;
use super::lookup::split_parent;
use super::markers::OnDisk;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What is known of a mount's index directory.
#[derive(Debug)]
pub(super) enum Index {
    /// Each entry by the (handle type, file handle bytes) of the origin it is named by.
    Known(HashMap<(i32, Vec<u8>), IndexEntry>),
    /// `index=on` but the workdir is not known (layers given by hand): any lower hard link may
    /// have been copied up through another name.
    Unknown,
}

/// One entry of the index directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IndexEntry {
    /// A non-directory: the copy made through one name of a hard-linked lower file.
    Copy,
    /// A whiteout: every name of the origin was removed (nfs_export=on keeps the entry so that
    /// its handles stay stale).
    Whiteout,
    /// A directory (nfs_export=on indexes every copied-up directory), with the (handle type,
    /// handle) of the upper directory its `overlay.upper` names.
    Dir {
        /// The upper directory the entry names.
        upper: Option<(i32, Vec<u8>)>,
    },
}

/// How every reason given for a name the index covers begins.
pub(super) const REASON_PREFIX: &str = "index=on";

/// Whether a lookup's refusal is one of this module's: the kernel shows the name (as the
/// index entry), so readdir neither drops it nor fails on it.
pub(super) fn is_index_reason(reason: &str) -> bool {
    reason.starts_with(REASON_PREFIX)
}

/// `OVL_FH_FLAG_PATH_UPPER`: the handle names an upper inode (directory index, nfs_export).
const FH_FLAG_PATH_UPPER: u8 = 1 << 2;

impl Index {
    /// Reads `<workdir>/index`; a missing or unreadable one is [`Index::Unknown`].
    pub(super) fn read(workdir: Option<&std::path::Path>) -> Index {
        // Read as a layer is: through a read-only, noatime clone of its mount, nothing
        // followed, so reading the index changes nothing, not even its directory's atime.
        let Some(root) = workdir.and_then(|w| crate::fsio::LayerRoot::open(w).ok()) else {
            return Index::Unknown;
        };
        let Ok(dir) = root.open_dir(b"index") else {
            return Index::Unknown;
        };
        let Ok(names) = dir.read_dir() else {
            return Index::Unknown;
        };
        let mut out = HashMap::new();
        for (name, _) in names {
            let Some(key) = parse_name(&name) else {
                continue;
            };
            let Ok(stat) = dir.lstat(&name) else {
                continue;
            };
            let entry = match FileKind::from_mode(stat.st_mode) {
                // A directory's entry (nfs_export=on) names the upper directory it belongs to.
                FileKind::Dir => IndexEntry::Dir {
                    upper: dir
                        .get_xattr(&name, "trusted.overlay.upper")
                        .ok()
                        .flatten()
                        .and_then(|v| parse_fh(&v)),
                },
                FileKind::Char if stat.st_rdev == 0 => IndexEntry::Whiteout,
                _ => IndexEntry::Copy,
            };
            out.insert(key, entry);
        }
        Index::Known(out)
    }

    /// Whether it is known to hold no entry at all (the usual index: a few hard links).
    fn is_empty(&self) -> bool {
        matches!(self, Index::Known(map) if map.is_empty())
    }

    /// The entry named by the inode `name` in `dir`, when it has one.
    fn entry_of(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Option<&IndexEntry> {
        match self {
            Index::Unknown => None,
            Index::Known(map) => map.get(&handle_of(dir, name)?),
        }
    }

    /// Why the kernel would show the index entry instead of this lower non-directory
    /// (`name` in `dir`), if it would.
    pub(super) fn covers(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Option<String> {
        match self {
            Index::Unknown => Some(format!(
                "{REASON_PREFIX} and the workdir is not known: this hard-linked lower file may have \
                 been copied up through another name, which the kernel would show instead"
            )),
            Index::Known(_) => match self.entry_of(dir, name)? {
                IndexEntry::Copy => Some(format!(
                    "{REASON_PREFIX}: its inode was copied up through another name (an entry \
                     in the workdir's index), and the kernel shows that copy, which \
                     layerscope does not follow"
                )),
                // Refusals, not a copy to show: see `Merger::index_refuses`.
                IndexEntry::Whiteout | IndexEntry::Dir { .. } => None,
            },
        }
    }
}

impl super::Merger {
    /// The (handle type, handle) the `origin` xattr of `rel` in `layer` holds, when it holds a
    /// lower one.
    pub(super) fn origin_of(&self, layer: usize, rel: &[u8]) -> Option<(i32, Vec<u8>)> {
        let (parent, name) = split_parent(rel);
        let attr = format!("{}origin", self.stack.options.xattr.prefix());
        let value = self
            .root_of(layer)
            .open_dir(parent)
            .ok()?
            .get_xattr(name, &attr)
            .ok()??;
        parse_fb(&value)
    }

    /// The file handle of `rel` in `layer`.
    pub(super) fn handle_at(&self, layer: usize, rel: &[u8]) -> Option<(i32, Vec<u8>)> {
        let (parent, name) = split_parent(rel);
        let dir = self.root_of(layer).open_dir(parent).ok()?;
        handle_of(dir.fd()?, name)
    }

    /// Why the kernel refuses a lookup whose result's origin has an index entry that does not
    /// fit it (`ovl_lookup_index`, which the kernel runs for non-directories with `index=on`
    /// and for directories too with `nfs_export=on`): a whiteout entry or one of another type
    /// ("bad index found"), a directory entry for a directory without an upper copy
    /// ("suspected uncovered redirected dir"), or one naming another upper directory
    /// ("suspected multiply redirected dir"). All three give EIO.
    ///
    /// `origin` is the lower copy lookup found first (verified against the upper's `origin`
    /// for a directory) or, when `None`, for an upper non-directory, the one its `origin`
    /// names.
    pub(super) fn index_refuses(&self, object: &OnDisk, origin: Option<&OnDisk>) -> Option<String> {
        let Some(Index::Known(map)) = self.index.as_ref().filter(|i| !i.is_empty()) else {
            return None;
        };
        let is_dir = object.kind == FileKind::Dir;
        if is_dir && !self.stack.options.nfs_export {
            return None;
        }
        let key = match origin {
            Some(lower) => self.handle_at(lower.layer, &lower.rel)?,
            None => self.origin_of(object.layer, &object.rel)?,
        };
        let bad_index = "\"bad index found\", the kernel gives EIO";
        let reason = match map.get(&key)? {
            IndexEntry::Whiteout => format!(
                "its origin's index entry is a whiteout (all its names were removed): {bad_index}"
            ),
            IndexEntry::Copy if is_dir => {
                format!("its origin's index entry is not a directory: {bad_index}")
            }
            IndexEntry::Copy => return None,
            IndexEntry::Dir { .. } if !is_dir => {
                format!("its origin's index entry is a directory: {bad_index}")
            }
            IndexEntry::Dir { .. } if !self.is_upper(object.layer) => {
                "its lower directory has an index entry, so it was copied up elsewhere: \
                 \"suspected uncovered redirected dir\", the kernel gives EIO"
                    .to_string()
            }
            IndexEntry::Dir { upper: named } => {
                if named.is_some() && *named == self.handle_at(object.layer, &object.rel) {
                    return None;
                }
                "its lower directory's index entry names another upper directory: \
                 \"suspected multiply redirected dir\", the kernel gives EIO"
                    .to_string()
            }
        };
        // Not REASON_PREFIX: that one says the kernel shows the name.
        Some(reason)
    }

    /// Whether the upper directory `upper`'s `origin` xattr names the lower directory `lower`,
    /// as `ovl_verify_origin` compares them. An origin that cannot be read or decoded names
    /// nothing (the kernel fails the verification too).
    pub(super) fn origin_names(&self, upper: &OnDisk, lower: &OnDisk) -> bool {
        let origin = self.origin_of(upper.layer, &upper.rel);
        origin.is_some() && origin == self.handle_at(lower.layer, &lower.rel)
    }
}

/// Decodes an index entry's name: the hex of an `ovl_fb` (version 0, magic 0xfb, length,
/// flags, handle type, 16-byte filesystem UUID, then the handle).
fn parse_name(name: &[u8]) -> Option<(i32, Vec<u8>)> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Vec<u8> = name
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect::<Option<_>>()?;
    parse_fb(&bytes)
}

/// Decodes an `ovl_fb` of either layer (an index directory's `overlay.upper`) into its
/// (handle type, handle bytes).
fn parse_fh(bytes: &[u8]) -> Option<(i32, Vec<u8>)> {
    if bytes.len() < 21 || bytes[0] != 0 || bytes[1] != 0xfb || usize::from(bytes[2]) != bytes.len()
    {
        return None;
    }
    Some((i32::from(bytes[4]), bytes[21..].to_vec()))
}

/// Decodes an `ovl_fb` (as `overlay.origin` holds it, and an index name in hex) into the
/// (handle type, handle bytes) of a lower inode; `None` for anything else.
fn parse_fb(bytes: &[u8]) -> Option<(i32, Vec<u8>)> {
    if bytes
        .get(3)
        .is_some_and(|flags| flags & FH_FLAG_PATH_UPPER != 0)
    {
        return None;
    }
    parse_fh(bytes)
}

/// The file handle of `name` in `dir` (not following a symlink), as `name_to_handle_at` gives it.
fn handle_of(dir: BorrowedFd<'_>, name: &[u8]) -> Option<(i32, Vec<u8>)> {
    const MAX: usize = 128; // MAX_HANDLE_SZ
    #[repr(C)]
    struct Buf {
        head: libc::file_handle,
        bytes: [u8; MAX],
    }
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = Buf {
        head: libc::file_handle {
            handle_bytes: MAX as u32,
            handle_type: 0,
            f_handle: [],
        },
        bytes: [0; MAX],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` has room for MAX handle bytes after the header, as handle_bytes says;
    // the name is a NUL-terminated string and both out-pointers live for the call.
    let r = unsafe {
        libc::name_to_handle_at(
            dir.as_raw_fd(),
            cname.as_ptr(),
            std::ptr::addr_of_mut!(buf.head),
            &raw mut mount_id,
            0,
        )
    };
    if r != 0 {
        return None;
    }
    let len = (buf.head.handle_bytes as usize).min(MAX);
    Some((buf.head.handle_type, buf.bytes[..len].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_decode_to_the_origin_handle() {
        // As 6.18 names the index entry of an ext4 inode (FILEID_INO32_GEN).
        let key =
            parse_name(b"00fb1d00010000000000000000000000000000000030899d00d6d193cf").unwrap();
        assert_eq!(
            key,
            (1, vec![0x30, 0x89, 0x9d, 0x00, 0xd6, 0xd1, 0x93, 0xcf])
        );
        assert!(
            parse_name(b"00fb1d05010000000000000000000000000000000030899d00d6d193cf").is_none()
        );
        assert!(parse_name(b"#0").is_none());
        assert!(parse_name(b"00fb").is_none());
    }

    #[test]
    fn a_file_handle_matches_its_index_name_layout() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        use std::os::fd::AsFd;
        // Some filesystems (tmpfs without export) give no handle; then there is nothing to check.
        if let Some((_, bytes)) = handle_of(dir.as_fd(), b"f") {
            assert!(!bytes.is_empty());
        }
        assert!(handle_of(dir.as_fd(), b"missing").is_none());
    }
}
