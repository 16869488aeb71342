//! Overlay mount options: the ones that change the merged view, the kernel's defaults for the
//! ones a mount leaves out, and the `lowerdir=` list syntax.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Which xattr namespace holds the overlay markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XattrNamespace {
    /// `trusted.overlay.*` (the default; reading it needs CAP_SYS_ADMIN).
    Trusted,
    /// `user.overlay.*` (`-o userxattr`, unprivileged mounts).
    User,
}

impl XattrNamespace {
    /// The prefix of overlay xattr names in this namespace.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            XattrNamespace::Trusted => "trusted.overlay.",
            XattrNamespace::User => "user.overlay.",
        }
    }
}

/// The `redirect_dir=` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectMode {
    /// Create and follow redirects.
    On,
    /// Follow redirects, never create them.
    Follow,
    /// Refuse to follow redirects (lookups hitting one fail with EPERM).
    Nofollow,
    /// Do not create; follow or not according to `redirect_always_follow`.
    Off {
        /// The module parameter `redirect_always_follow`.
        always_follow: bool,
    },
}

impl RedirectMode {
    /// Whether lookups follow redirect xattrs.
    #[must_use]
    pub fn follows(self) -> bool {
        match self {
            RedirectMode::On | RedirectMode::Follow => true,
            RedirectMode::Nofollow => false,
            RedirectMode::Off { always_follow } => always_follow,
        }
    }
}

/// The overlay module's defaults for options a mount does not spell out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelDefaults {
    /// `redirect_dir` module parameter.
    pub redirect_dir: bool,
    /// `redirect_always_follow` module parameter.
    pub redirect_always_follow: bool,
    /// `metacopy` module parameter.
    pub metacopy: bool,
}

impl Default for KernelDefaults {
    /// Upstream Kconfig defaults, used when the module parameters cannot be read.
    fn default() -> Self {
        KernelDefaults {
            redirect_dir: false,
            redirect_always_follow: true,
            metacopy: false,
        }
    }
}

impl KernelDefaults {
    /// Reads `/sys/module/overlay/parameters`, falling back to upstream defaults.
    #[must_use]
    pub fn read() -> Self {
        let param = |name: &str, fallback: bool| {
            std::fs::read_to_string(format!("/sys/module/overlay/parameters/{name}"))
                .map(|v| v.trim() == "Y")
                .unwrap_or(fallback)
        };
        let d = KernelDefaults::default();
        KernelDefaults {
            redirect_dir: param("redirect_dir", d.redirect_dir),
            redirect_always_follow: param("redirect_always_follow", d.redirect_always_follow),
            metacopy: param("metacopy", d.metacopy),
        }
    }
}

/// The mount options that change what the merged view contains.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountOptions {
    /// Where the overlay xattrs live.
    pub xattr: XattrNamespace,
    /// Whether redirects are followed.
    pub redirect: RedirectMode,
    /// Whether metacopy files are followed to their data.
    pub metacopy: bool,
}

impl MountOptions {
    /// The options of a mount that names none: the kernel's defaults.
    #[must_use]
    pub fn defaults(kernel: &KernelDefaults) -> Self {
        MountOptions {
            xattr: XattrNamespace::Trusted,
            redirect: if kernel.redirect_dir {
                RedirectMode::On
            } else {
                RedirectMode::Off {
                    always_follow: kernel.redirect_always_follow,
                }
            },
            metacopy: kernel.metacopy,
        }
    }

    /// Applies mount options (name, optional value) over the kernel's defaults.
    ///
    /// Layer options (`lowerdir`, `upperdir`, ...) and options that do not change the merged
    /// view are accepted and ignored here.
    ///
    /// # Errors
    /// A malformed value of an option that matters, naming the option.
    pub fn from_options<'a>(
        opts: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
        kernel: &KernelDefaults,
    ) -> Result<Self> {
        let mut out = MountOptions::defaults(kernel);
        let (mut redirect_set, mut metacopy_set) = (false, false);
        for (name, value) in opts {
            let text = value.map(|v| String::from_utf8_lossy(v).into_owned());
            match (name, text.as_deref()) {
                ("userxattr", None) => out.xattr = XattrNamespace::User,
                ("redirect_dir", Some(v)) => {
                    redirect_set = true;
                    out.redirect = match v {
                        "on" => RedirectMode::On,
                        "follow" => RedirectMode::Follow,
                        "nofollow" => RedirectMode::Nofollow,
                        "off" => RedirectMode::Off {
                            always_follow: kernel.redirect_always_follow,
                        },
                        _ => return Err(bad_value(name, v, "on, follow, nofollow or off")),
                    }
                }
                ("metacopy", Some(v)) => {
                    metacopy_set = true;
                    out.metacopy = match v {
                        "on" => true,
                        "off" => false,
                        _ => return Err(bad_value(name, v, "on or off")),
                    }
                }
                _ => {}
            }
        }
        // The kernel turns both off for userxattr mounts unless they were asked for.
        if out.xattr == XattrNamespace::User {
            if !redirect_set {
                out.redirect = RedirectMode::Nofollow;
            }
            if !metacopy_set {
                out.metacopy = false;
            }
        }
        Ok(out)
    }
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    Error::BadInput(format!(
        "mount option {name}={value} is not valid: use {expected}"
    ))
}

/// Splits a comma-separated option string (`-o` syntax) into names and values.
///
/// Commas inside double quotes (SELinux `context="a,b"`) do not split.
#[must_use]
pub fn split_options(text: &[u8]) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for i in 0..=text.len() {
        let at_end = i == text.len();
        if !at_end && text[i] == b'"' {
            quoted = !quoted;
        }
        if at_end || (text[i] == b',' && !quoted) {
            let item = &text[start..i];
            start = i + 1;
            if item.is_empty() {
                continue;
            }
            match item.iter().position(|&b| b == b'=') {
                Some(eq) => out.push((
                    String::from_utf8_lossy(&item[..eq]).into_owned(),
                    Some(item[eq + 1..].to_vec()),
                )),
                None => out.push((String::from_utf8_lossy(item).into_owned(), None)),
            }
        }
    }
    out
}

/// Splits a `lowerdir=` value as the kernel parses it: `:` separates layers, `::` starts the
/// data-only layers, and a backslash makes the next byte literal (so `\:` is a colon in a path).
///
/// Returns the normal lowers (top first) and the data-only lowers.
///
/// # Errors
/// Empty layer paths, `:::`, or a normal layer after the data-only ones.
pub fn split_lowerdir(value: &[u8]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut normal = Vec::new();
    let mut data = Vec::new();
    let mut current = Vec::new();
    let mut in_data = false;
    let mut i = 0;
    let bad = |why: &str| {
        Error::BadInput(format!(
            "lowerdir '{}' is malformed: {why}; separate layers with ':' and escape ':' in names as '\\:'",
            String::from_utf8_lossy(value)
        ))
    };
    if value.is_empty() {
        return Err(bad("it names no layer"));
    }
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                current.push(value[i + 1]);
                i += 2;
            }
            b':' => {
                let double = value.get(i + 1) == Some(&b':');
                if current.is_empty() {
                    return Err(bad("an empty layer path"));
                }
                let path = PathBuf::from(OsString::from_vec(std::mem::take(&mut current)));
                if in_data {
                    data.push(path)
                } else {
                    normal.push(path)
                }
                if double {
                    if value.get(i + 2) == Some(&b':') {
                        return Err(bad("':::' is not allowed"));
                    }
                    in_data = true;
                    i += 2;
                } else {
                    if in_data {
                        return Err(bad("data-only layers must be separated by '::'"));
                    }
                    i += 1;
                }
            }
            b => {
                current.push(b);
                i += 1;
            }
        }
    }
    if current.is_empty() {
        return Err(bad("an empty layer path"));
    }
    let path = PathBuf::from(OsString::from_vec(current));
    if in_data {
        data.push(path)
    } else {
        normal.push(path)
    }
    if normal.is_empty() {
        return Err(bad("data-only layers need at least one normal lower layer"));
    }
    Ok((normal, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn lowerdir_splits_on_colons_and_keeps_escaped_ones() {
        let (n, d) = split_lowerdir(br"/a:/b\:c:/d").unwrap();
        assert_eq!(n, paths(&["/a", "/b:c", "/d"]));
        assert!(d.is_empty());
    }

    #[test]
    fn lowerdir_double_colon_starts_data_only_layers() {
        let (n, d) = split_lowerdir(b"/l1:/l2::/do1::/do2").unwrap();
        assert_eq!(n, paths(&["/l1", "/l2"]));
        assert_eq!(d, paths(&["/do1", "/do2"]));
    }

    #[test]
    fn lowerdir_rejects_malformed_lists() {
        for bad in [
            &b""[..],
            b"/a::",
            b"/a:::/b",
            b"/a::/b:/c",
            b"::/b",
            b"/a::b"[..0].as_ref(),
        ] {
            assert!(
                split_lowerdir(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn options_honour_quotes_and_userxattr_turns_off_redirect_and_metacopy() {
        let opts = split_options(br#"context="a:b,c",userxattr,lowerdir=/x"#);
        assert_eq!(opts[0], ("context".into(), Some(br#""a:b,c""#.to_vec())));
        let kernel = KernelDefaults {
            redirect_dir: true,
            redirect_always_follow: true,
            metacopy: true,
        };
        let m = MountOptions::from_options(
            opts.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            &kernel,
        )
        .unwrap();
        assert_eq!(m.xattr, XattrNamespace::User);
        assert!(!m.redirect.follows());
        assert!(!m.metacopy);
    }

    #[test]
    fn options_reject_bad_values() {
        let k = KernelDefaults::default();
        assert!(MountOptions::from_options([("metacopy", Some(&b"maybe"[..]))], &k).is_err());
        assert!(MountOptions::from_options([("redirect_dir", Some(&b"yes"[..]))], &k).is_err());
    }
}
