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

/// The `xino=` setting (inode numbers only: it never changes names, types or contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Xino {
    /// No high inode bits for the layer number.
    Off,
    /// Use them when the layers span several filesystems.
    On,
    /// As `on`, where the upper filesystem's inode numbers leave room.
    Auto,
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
    /// `index` module parameter.
    pub index: bool,
    /// `nfs_export` module parameter.
    pub nfs_export: bool,
    /// `xino_auto` module parameter (`xino=auto` rather than `off` by default).
    pub xino_auto: bool,
}

impl Default for KernelDefaults {
    /// Upstream Kconfig defaults, used when the module parameters cannot be read.
    fn default() -> Self {
        KernelDefaults {
            redirect_dir: false,
            redirect_always_follow: true,
            metacopy: false,
            index: false,
            nfs_export: false,
            xino_auto: false,
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
            index: param("index", d.index),
            nfs_export: param("nfs_export", d.nfs_export),
            xino_auto: param("xino_auto", d.xino_auto),
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
    /// `index=on`: a lower hard link whose inode was copied up through another name shows the
    /// upper copy (`<workdir>/index/<origin handle>`).
    pub index: bool,
    /// `nfs_export=on` (implies `index`): upper directories' origins and index entries are
    /// verified, so a merge can be refused or cut.
    pub nfs_export: bool,
    /// `xino=`: only inode numbers change, and with it readdir's lookups across filesystems.
    pub xino: Xino,
}

impl MountOptions {
    /// `userxattr,redirect_dir=on`, nothing else: the options the unit tests' layer stacks use
    /// (plain directories an unprivileged test can mark with `user.overlay.*`).
    #[cfg(test)]
    pub(crate) fn user_redirect_on() -> Self {
        MountOptions {
            xattr: XattrNamespace::User,
            redirect: RedirectMode::On,
            metacopy: false,
            index: false,
            nfs_export: false,
            xino: Xino::Off,
        }
    }

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
            index: kernel.index,
            nfs_export: kernel.nfs_export,
            xino: if kernel.xino_auto {
                Xino::Auto
            } else {
                Xino::Off
            },
        }
    }

    /// Applies mount options (name, optional value) over the kernel's defaults, with the
    /// kernel's dependencies between them (params.c `ovl_fs_params_verify`): `userxattr` turns
    /// redirects and metacopy off and conflicts with asking for them; `metacopy=on` turns
    /// `redirect_dir=on` unless redirects were set otherwise, in which case a default metacopy
    /// is dropped and an explicit one conflicts.
    ///
    /// Layer options (`lowerdir`, `upperdir`, ...) and options that do not change the merged
    /// view are accepted and ignored here (see [`parse_user_options`] for the strict form).
    ///
    /// # Errors
    /// A malformed value of an option that matters, or a combination the kernel refuses.
    pub fn from_options<'a>(
        opts: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
        kernel: &KernelDefaults,
    ) -> Result<Self> {
        let mut out = MountOptions::defaults(kernel);
        let mut redirect_set: Option<String> = None;
        let mut metacopy_set = false;
        let (mut index_set, mut nfs_set) = (false, false);
        for (name, value) in opts {
            let text = value.map(|v| String::from_utf8_lossy(v).into_owned());
            match (name, text.as_deref()) {
                ("userxattr", None) => out.xattr = XattrNamespace::User,
                ("redirect_dir", Some(v)) => {
                    redirect_set = Some(v.to_string());
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
                ("index", Some(v)) => {
                    index_set = true;
                    out.index = on_off(name, v)?;
                }
                ("nfs_export", Some(v)) => {
                    nfs_set = true;
                    out.nfs_export = on_off(name, v)?;
                }
                ("xino", Some(v)) => {
                    out.xino = match v {
                        "on" => Xino::On,
                        "off" => Xino::Off,
                        "auto" => Xino::Auto,
                        _ => return Err(bad_value(name, v, "on, off or auto")),
                    }
                }
                _ => {}
            }
        }
        if out.xattr == XattrNamespace::User {
            // `off` is `nofollow` when redirect_always_follow is off, which userxattr allows.
            if let Some(v) = redirect_set.as_deref()
                && out.redirect.follows()
            {
                return Err(conflict(&format!("userxattr,redirect_dir={v}")));
            }
            if metacopy_set && out.metacopy {
                return Err(conflict("userxattr,metacopy=on"));
            }
            out.redirect = RedirectMode::Nofollow;
            out.metacopy = false;
        }
        if out.metacopy && !out.redirect.follows() {
            match (metacopy_set, redirect_set.as_deref()) {
                (true, Some(v)) => return Err(conflict(&format!("metacopy=on,redirect_dir={v}"))),
                (false, Some(_)) => out.metacopy = false,
                (_, None) => out.redirect = RedirectMode::On,
            }
        } else if out.metacopy && redirect_set.is_none() {
            out.redirect = RedirectMode::On;
        }
        // nfs_export needs index: an explicit pair conflicts, an explicit index=off turns
        // nfs_export off, otherwise index is turned on (params.c `ovl_fs_params_verify`).
        if out.nfs_export && !out.index {
            if nfs_set && index_set {
                return Err(conflict("nfs_export=on,index=off"));
            } else if index_set {
                out.nfs_export = false;
            } else {
                out.index = true;
            }
        }
        if out.nfs_export && out.metacopy {
            if nfs_set && metacopy_set {
                return Err(conflict("nfs_export=on,metacopy=on"));
            } else if metacopy_set {
                out.nfs_export = false;
            } else {
                out.metacopy = false;
            }
        }
        Ok(out)
    }

    /// Marks a stack without an upper layer: the kernel turns `index` (and so `nfs_export`'s
    /// index checks) off there, as there is nothing to copy up.
    #[must_use]
    pub fn without_upper(mut self) -> Self {
        self.index = false;
        self.nfs_export = false;
        self
    }
}

fn on_off(name: &str, v: &str) -> Result<bool> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(bad_value(name, v, "on or off")),
    }
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    Error::BadInput(format!(
        "mount option {}={} is not valid: use {expected}",
        crate::escape::display(name.as_bytes()),
        crate::escape::display(value.as_bytes())
    ))
}

fn conflict(what: &str) -> Error {
    Error::BadInput(format!(
        "mount options {what} conflict: the kernel refuses to mount with both; drop one"
    ))
}

/// Overlay options `-o` accepts, with the values each takes (`None`: a flag without value).
const USER_OPTIONS: &[(&str, Option<&[&str]>)] = &[
    ("userxattr", None),
    ("redirect_dir", Some(&["on", "follow", "nofollow", "off"])),
    ("metacopy", Some(&["on", "off"])),
    ("index", Some(&["on", "off"])),
    ("xino", Some(&["on", "off", "auto"])),
    ("uuid", Some(&["on", "off", "null", "auto"])),
    ("nfs_export", Some(&["on", "off"])),
    ("verity", Some(&["on", "off", "require"])),
    ("volatile", None),
    ("default_permissions", None),
    ("override_creds", None),
    ("nooverride_creds", None),
    ("ro", None),
    ("rw", None),
];

/// Parses a `-o` option string strictly: every name must be an overlay mount option with a
/// valid value, and layers must be given with `--lowerdir`/`--upperdir`, not here.
///
/// # Errors
/// An unknown name, a missing or invalid value, a layer option, or a combination the kernel
/// refuses; the message names the option and what to write instead.
pub fn parse_user_options(text: &[u8], kernel: &KernelDefaults) -> Result<MountOptions> {
    let opts = split_options(text);
    for (name, value) in &opts {
        let shown = crate::escape::display(name.as_bytes());
        if matches!(
            name.as_str(),
            "lowerdir" | "lowerdir+" | "datadir+" | "upperdir" | "workdir"
        ) {
            let flag = if name == "upperdir" {
                "--upperdir"
            } else {
                "--lowerdir"
            };
            return Err(Error::BadInput(format!(
                "-o {shown}=...: give layers with {flag}, not -o (-o takes options such as \
                 userxattr, redirect_dir=on, metacopy=on)"
            )));
        }
        if matches!(
            name.as_str(),
            "context" | "fscontext" | "defcontext" | "rootcontext" | "seclabel"
        ) {
            continue; // LSM labels do not change the merged view
        }
        let Some((_, allowed)) = USER_OPTIONS.iter().find(|(n, _)| n == name) else {
            return Err(Error::BadInput(format!(
                "-o {shown}: not an overlay mount option; the ones that change the view are \
                 userxattr, redirect_dir=on|follow|nofollow|off and metacopy=on|off"
            )));
        };
        match (allowed, value) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(Error::BadInput(format!(
                    "-o {shown} takes no value: write just '{shown}'"
                )));
            }
            (Some(list), None) => {
                return Err(Error::BadInput(format!(
                    "-o {shown} needs a value: write {shown}={}",
                    list.join("|")
                )));
            }
            (Some(list), Some(v)) => {
                if !list.iter().any(|a| a.as_bytes() == v.as_slice()) {
                    return Err(bad_value(
                        name,
                        &String::from_utf8_lossy(v),
                        &list.join(", "),
                    ));
                }
            }
        }
    }
    MountOptions::from_options(opts.iter().map(|(k, v)| (k.as_str(), v.as_deref())), kernel)
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
    let units: Vec<Unit> = value.iter().map(|&b| Unit::raw(b)).collect();
    split_lowerdir_units(&units).map_err(|why| {
        Error::BadInput(format!(
            "lowerdir '{}' is malformed: {why}; separate layers with ':', put '::' before \
             data-only layers, and escape ':' in names as '\\:'",
            crate::escape::display(value)
        ))
    })
}

/// One byte of an option value, remembering whether the kernel printed it as an octal escape
/// (`\072`), which makes a `:` a literal byte rather than a separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// The byte.
    pub byte: u8,
    /// It came from an octal escape.
    pub escaped: bool,
}

impl Unit {
    /// A byte as typed (not from an octal escape).
    #[must_use]
    pub fn raw(byte: u8) -> Self {
        Unit {
            byte,
            escaped: false,
        }
    }
}

/// The kernel's lowerdir splitting over decoded units: a backslash (typed or octal) makes the
/// next unit literal (a trailing one is dropped, as `ovl_unescape` does), a `:` from an octal
/// escape is literal, a raw `:` separates, `::` starts the data-only layers and every later
/// separator must be `::` too.
///
/// # Errors
/// Why the list is malformed, as a phrase.
pub fn split_lowerdir_units(
    units: &[Unit],
) -> std::result::Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let mut normal = Vec::new();
    let mut data = Vec::new();
    let mut current = Vec::new();
    let mut in_data = false;
    let mut i = 0;
    if units.is_empty() {
        return Err("it names no layer".into());
    }
    let is_sep = |k: usize| units.get(k).is_some_and(|u| u.byte == b':' && !u.escaped);
    let mut finish = |current: &mut Vec<u8>, in_data: bool| -> std::result::Result<(), String> {
        if current.is_empty() {
            return Err("an empty layer path".into());
        }
        let path = PathBuf::from(OsString::from_vec(std::mem::take(current)));
        if in_data {
            data.push(path);
        } else {
            normal.push(path);
        }
        Ok(())
    };
    while i < units.len() {
        let u = units[i];
        if u.byte == b'\\' {
            if let Some(next) = units.get(i + 1) {
                current.push(next.byte);
            }
            i += 2;
        } else if is_sep(i) {
            finish(&mut current, in_data)?;
            if is_sep(i + 1) {
                if is_sep(i + 2) {
                    return Err("':::' is not allowed".into());
                }
                in_data = true;
                i += 2;
            } else {
                if in_data {
                    return Err("data-only layers must be separated by '::'".into());
                }
                i += 1;
            }
        } else {
            current.push(u.byte);
            i += 1;
        }
    }
    finish(&mut current, in_data)?;
    if normal.is_empty() {
        return Err("data-only layers need at least one normal lower layer".into());
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
            ..KernelDefaults::default()
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

    #[test]
    fn kernel_dependencies_between_options() {
        let k = KernelDefaults::default();
        let parse = |o: &[u8]| parse_user_options(o, &k);
        // metacopy=on turns redirects on unless they were set otherwise.
        let m = parse(b"metacopy=on").unwrap();
        assert!(m.metacopy && m.redirect == RedirectMode::On);
        assert!(parse(b"metacopy=on,redirect_dir=nofollow").is_err());
        // userxattr: redirects and metacopy off, and asking for them conflicts.
        let m = parse(b"userxattr").unwrap();
        assert!(m.redirect == RedirectMode::Nofollow && !m.metacopy);
        assert!(parse(b"userxattr,redirect_dir=nofollow").is_ok());
        assert!(parse(b"userxattr,metacopy=off").is_ok());
        for bad in [
            &b"userxattr,redirect_dir=on"[..],
            b"userxattr,redirect_dir=follow",
            b"userxattr,metacopy=on",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("conflict"), "{e}");
        }
        // A default metacopy gives way to an explicit nofollow.
        let km = KernelDefaults {
            metacopy: true,
            ..k
        };
        let m = parse_user_options(b"redirect_dir=nofollow", &km).unwrap();
        assert!(!m.metacopy);
    }

    #[test]
    fn index_nfs_export_and_xino_follow_the_kernel() {
        let k = KernelDefaults::default();
        let parse = |o: &[u8]| parse_user_options(o, &k);
        let m = parse(b"").unwrap();
        assert!(!m.index && !m.nfs_export && m.xino == Xino::Off);
        let m = parse(b"index=on,xino=on").unwrap();
        assert!(m.index && !m.nfs_export && m.xino == Xino::On);
        // nfs_export turns index on unless index=off was given, which conflicts.
        let m = parse(b"nfs_export=on").unwrap();
        assert!(m.index && m.nfs_export);
        assert!(
            parse(b"nfs_export=on,index=off")
                .unwrap_err()
                .to_string()
                .contains("conflict")
        );
        let kn = KernelDefaults {
            nfs_export: true,
            ..k
        };
        let m = parse_user_options(b"index=off", &kn).unwrap();
        assert!(!m.index && !m.nfs_export);
        // nfs_export and metacopy: the explicit one wins, both explicit conflict.
        assert!(parse(b"nfs_export=on,metacopy=on").is_err());
        let m = parse_user_options(b"metacopy=on", &kn).unwrap();
        assert!(m.metacopy && !m.nfs_export);
        let km = KernelDefaults {
            metacopy: true,
            ..k
        };
        let m = parse_user_options(b"nfs_export=on", &km).unwrap();
        assert!(!m.metacopy && m.nfs_export && m.index);
        // The module's xino_auto makes auto the default.
        let kx = KernelDefaults {
            xino_auto: true,
            ..k
        };
        assert_eq!(parse_user_options(b"", &kx).unwrap().xino, Xino::Auto);
        assert_eq!(
            parse_user_options(b"xino=off", &kx).unwrap().xino,
            Xino::Off
        );
        // Without an upper layer there is no index.
        let m = parse(b"index=on").unwrap().without_upper();
        assert!(!m.index);
    }

    #[test]
    fn user_options_are_strict() {
        let k = KernelDefaults::default();
        let err = |o: &[u8]| parse_user_options(o, &k).unwrap_err().to_string();
        assert!(err(b"metacopy").contains("needs a value"));
        assert!(err(b"userxattr=1").contains("takes no value"));
        assert!(err(b"redirect=on").contains("not an overlay mount option"));
        assert!(err(b"xino=maybe").contains("xino=maybe is not valid"));
        assert!(err(b"lowerdir=/a").contains("--lowerdir"));
        assert!(err(b"upperdir=/a").contains("--upperdir"));
        assert!(parse_user_options(b"ro,index=off,xino=auto,redirect_dir=follow", &k).is_ok());
        assert!(parse_user_options(br#"context="a:b,c",metacopy=off"#, &k).is_ok());
        assert!(parse_user_options(b"", &k).is_ok());
    }

    #[test]
    fn lowerdir_trailing_backslash_is_dropped_like_the_kernel() {
        let (n, _) = split_lowerdir(br"/a\\:/b\").unwrap();
        assert_eq!(n, paths(&["/a\\", "/b"]));
    }
}
