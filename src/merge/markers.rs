//! Reading one on-disk entry and the overlay markers on it: whiteouts (char 0/0 and xattr),
//! opaque, redirect, metacopy and origin, in the stack's xattr namespace only.

use crate::fsio::DirHandle;
use std::io;

use super::FileKind;
use crate::stack::XattrNamespace;

/// The overlay xattrs of one entry that change the merged view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// `overlay.whiteout` is present.
    pub whiteout_xattr: bool,
    /// `overlay.opaque` value.
    pub opaque: Option<Vec<u8>>,
    /// `overlay.redirect` value.
    pub redirect: Option<Vec<u8>>,
    /// `overlay.metacopy` value.
    pub metacopy: Option<Vec<u8>>,
    /// `overlay.origin` is present (makes a lone directory a merge dir for readdir).
    pub origin: bool,
    /// `overlay.impure` is the one byte `y` (`ovl_is_impuredir`; read on upper directories).
    pub impure: bool,
}

impl Markers {
    /// The opaque byte as the kernel reads it: a one-byte value, else "not set".
    #[must_use]
    pub fn opaque_byte(&self) -> Option<u8> {
        match self.opaque.as_deref() {
            Some([b]) => Some(*b),
            _ => None,
        }
    }
}

/// One entry found on disk.
#[derive(Debug, Clone)]
pub struct OnDisk {
    /// Its layer.
    pub layer: usize,
    /// Its path inside the layer.
    pub rel: Vec<u8>,
    /// Its type.
    pub kind: FileKind,
    /// `lstat` of it.
    pub stat: rustix::fs::Stat,
    /// Its markers (read for directories and regular files only).
    pub markers: Markers,
}

impl OnDisk {
    /// A char 0/0 device, or a zero-size regular file with the whiteout xattr.
    #[must_use]
    pub fn is_whiteout(&self) -> bool {
        match self.kind {
            FileKind::Char => self.stat.st_rdev == 0,
            FileKind::File => self.stat.st_size == 0 && self.markers.whiteout_xattr,
            _ => false,
        }
    }

    /// A regular file carrying the metacopy xattr.
    #[must_use]
    pub fn is_metacopy(&self) -> bool {
        self.kind == FileKind::File && self.markers.metacopy.is_some()
    }
}

/// `lstat`s `name` in `dir` and reads its markers; `Ok(None)` when it does not exist.
///
/// # Errors
/// Any failure other than the name being absent.
pub fn probe(
    dir: &DirHandle,
    name: &[u8],
    layer: usize,
    rel: Vec<u8>,
    ns: XattrNamespace,
) -> io::Result<Option<OnDisk>> {
    let stat = match dir.lstat(name) {
        Ok(st) => st,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENAMETOOLONG | libc::ENOTDIR)
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let kind = FileKind::from_mode(stat.st_mode);
    let markers = match kind {
        FileKind::Dir | FileKind::File => read_markers(dir, name, ns)?,
        _ => Markers::default(),
    };
    Ok(Some(OnDisk {
        layer,
        rel,
        kind,
        stat,
        markers,
    }))
}

/// Reads the overlay markers of `name` in `dir` (of `dir` itself when `name` is empty).
///
/// # Errors
/// The xattrs cannot be listed or read.
pub fn read_markers(dir: &DirHandle, name: &[u8], ns: XattrNamespace) -> io::Result<Markers> {
    let prefix = ns.prefix().as_bytes();
    let mut m = Markers::default();
    for attr in dir.list_xattrs(name)? {
        let Some(short) = attr.strip_prefix(prefix) else {
            continue;
        };
        let full = || String::from_utf8_lossy(&attr).into_owned();
        match short {
            b"whiteout" => m.whiteout_xattr = true,
            b"origin" => m.origin = true,
            b"impure" => m.impure = dir.get_xattr(name, &full())?.as_deref() == Some(b"y"),
            b"opaque" => m.opaque = dir.get_xattr(name, &full())?,
            b"redirect" => m.redirect = dir.get_xattr(name, &full())?,
            b"metacopy" => m.metacopy = dir.get_xattr(name, &full())?,
            _ => {}
        }
    }
    Ok(m)
}

/// A redirect value, checked as `ovl_get_redirect_xattr` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `/a/b`: a path from the overlay root, looked up from each lower layer's root.
    Absolute(Vec<Vec<u8>>),
    /// `name`: the same parent directory, another name.
    Relative(Vec<u8>),
}

/// Parses a redirect xattr value as the kernel reads it: as a C string (everything from the
/// first NUL byte on is ignored), then checked for its form.
///
/// Components that pass this check may still be refused when a layer is searched with them
/// (`.`, `..`, an empty name): see [`check_redirect_component`].
///
/// # Errors
/// An empty value, a relative value with `/`, or an absolute one with an empty component:
/// the kernel answers EINVAL.
pub fn parse_redirect(value: &[u8]) -> Result<Redirect, String> {
    let invalid = || {
        format!(
            "invalid redirect '{}' (the kernel gives EINVAL)",
            crate::escape::display(value)
        )
    };
    // The xattr's size is checked, then the string up to its first NUL.
    if value.is_empty() {
        return Err(invalid());
    }
    let text = value.split(|&b| b == 0).next().unwrap_or_default();
    match text.strip_prefix(b"/") {
        Some(rest) => {
            let parts: Vec<Vec<u8>> = rest.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
            if parts.iter().any(Vec::is_empty) {
                return Err(invalid());
            }
            Ok(Redirect::Absolute(parts))
        }
        None if text.contains(&b'/') => Err(invalid()),
        None => Ok(Redirect::Relative(text.to_vec())),
    }
}

/// Checks one name a redirect makes the lookup search a layer for, before any use: the
/// kernel's name lookup (`lookup_noperm_common`) refuses an empty name, `.` and `..` with
/// EACCES, so a redirect can never climb out of a directory, let alone out of a layer.
///
/// # Errors
/// The name is empty, `.` or `..`.
pub fn check_redirect_component(name: &[u8]) -> Result<(), String> {
    if matches!(name, b"" | b"." | b"..") {
        return Err(format!(
            "redirect through '{}': the kernel refuses to look up an empty name, '.' or '..' \
             (the kernel gives EACCES)",
            crate::escape::display(name)
        ));
    }
    Ok(())
}

/// Checks a metacopy xattr value as `ovl_check_metacopy_xattr` does.
///
/// # Errors
/// A value of 1 to 3 bytes: the kernel answers EIO.
pub fn check_metacopy(value: &[u8]) -> Result<(), String> {
    if (1..4).contains(&value.len()) {
        return Err(format!(
            "metacopy xattr of {} bytes is too small (the kernel gives EIO)",
            value.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_parse_like_the_kernel() {
        assert_eq!(
            parse_redirect(b"d1"),
            Ok(Redirect::Relative(b"d1".to_vec()))
        );
        assert_eq!(
            parse_redirect(b"/a/b"),
            Ok(Redirect::Absolute(vec![b"a".to_vec(), b"b".to_vec()]))
        );
        for bad in [&b""[..], b"a/b", b"//x", b"/x/", b"/", b"/\0x", b"/a/\0"] {
            assert!(
                parse_redirect(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn redirects_end_at_the_first_nul_like_a_c_string() {
        assert_eq!(
            parse_redirect(b"b\0c"),
            Ok(Redirect::Relative(b"b".to_vec()))
        );
        assert_eq!(
            parse_redirect(b"a\0/b"),
            Ok(Redirect::Relative(b"a".to_vec()))
        );
        assert_eq!(
            parse_redirect(b"/b\0/x"),
            Ok(Redirect::Absolute(vec![b"b".to_vec()]))
        );
        // One NUL byte: not empty for the size check, an empty name for the lookup.
        assert_eq!(parse_redirect(b"\0b"), Ok(Redirect::Relative(Vec::new())));
    }

    #[test]
    fn dot_dot_and_empty_redirect_names_are_refused() {
        for bad in [&b""[..], b".", b".."] {
            assert!(check_redirect_component(bad).is_err());
        }
        for good in [&b"..."[..], b".a", b"a..", b"x"] {
            assert!(check_redirect_component(good).is_ok());
        }
    }

    #[test]
    fn opaque_needs_exactly_one_byte() {
        let m = |v: &[u8]| {
            Markers {
                opaque: Some(v.to_vec()),
                ..Markers::default()
            }
            .opaque_byte()
        };
        assert_eq!(m(b"y"), Some(b'y'));
        assert_eq!(m(b"x"), Some(b'x'));
        assert_eq!(m(b"yes"), None);
        assert_eq!(m(b""), None);
    }

    #[test]
    fn metacopy_values_of_one_to_three_bytes_are_errors() {
        assert!(check_metacopy(b"").is_ok());
        assert!(check_metacopy(b"ab").is_err());
        assert!(check_metacopy(&[0, 4, 0, 0]).is_ok());
    }
}
