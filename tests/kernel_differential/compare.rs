//! layerscope's side (`ls -R --json`), and the comparison with the kernel's walk.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use layerscope::escape::display;
use layerscope::report::get_bytes;
use serde_json::Value;

use crate::kernel;

/// One path as `ls -R --json` reports it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub kind: String,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds (the JSON has no nanoseconds).
    pub mtime: i64,
    pub target: Option<Vec<u8>>,
    pub source: Vec<u8>,
    /// `data_source`: absent (`None`), `null` (`Some(None)`: data missing), or its source.
    pub data: Option<Option<Vec<u8>>>,
}

/// What `ls -R --json` printed.
#[derive(Debug, Default)]
pub struct Listing {
    pub nodes: BTreeMap<Vec<u8>, Reported>,
    pub anomalies: BTreeMap<Vec<u8>, String>,
    /// Malformed or out-of-order lines.
    pub problems: Vec<String>,
}

fn parent(path: &[u8]) -> Vec<u8> {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/".to_vec(),
        Some(i) => path[..i].to_vec(),
        None => b"/".to_vec(),
    }
}

/// Parses JSON Lines from `ls -R --json`, checking that parents come before children.
pub fn parse(stdout: &[u8]) -> Listing {
    let mut out = Listing::default();
    for line in stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                out.problems.push(format!(
                    "bad JSON line ({e}): {}",
                    String::from_utf8_lossy(line)
                ));
                continue;
            }
        };
        let Some(path) = get_bytes(&v, "path") else {
            out.problems.push(format!(
                "line without a path: {}",
                String::from_utf8_lossy(line)
            ));
            continue;
        };
        let parent_listed = out
            .nodes
            .get(&parent(&path))
            .is_some_and(|p| p.kind == "dir");
        if path != b"/" && !parent_listed {
            out.problems.push(format!(
                "{} is listed before its parent directory",
                display(&path)
            ));
        }
        if let Some(reason) = v.get("anomaly") {
            out.anomalies
                .insert(path, reason.as_str().unwrap_or_default().to_string());
            continue;
        }
        let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(u64::MAX);
        let reported = Reported {
            kind: v["type"].as_str().unwrap_or("?").to_string(),
            size: num("size"),
            mode: v["mode"]
                .as_str()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(u32::MAX),
            uid: u32::try_from(num("uid")).unwrap_or(u32::MAX),
            gid: u32::try_from(num("gid")).unwrap_or(u32::MAX),
            mtime: v.get("mtime").and_then(Value::as_i64).unwrap_or(i64::MIN),
            target: get_bytes(&v, "target"),
            source: get_bytes(&v, "source").unwrap_or_default(),
            data: v.get("data_source").map(|d| get_bytes(d, "source")),
        };
        if out.nodes.insert(path.clone(), reported).is_some() {
            out.problems
                .push(format!("{} is listed twice", display(&path)));
        }
    }
    out
}

const ERRNOS: &[(i32, &str)] = &[
    (libc::ENOENT, "ENOENT"),
    (libc::EIO, "EIO"),
    (libc::EPERM, "EPERM"),
    (libc::EINVAL, "EINVAL"),
    (libc::ESTALE, "ESTALE"),
    (libc::ELOOP, "ELOOP"),
    (libc::EACCES, "EACCES"),
    (libc::EXDEV, "EXDEV"),
];

fn errno_name(e: i32) -> String {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == e)
        .map_or_else(|| format!("errno {e}"), |(_, s)| (*s).to_string())
}

/// The errno an anomaly's reason names ("... (the kernel gives EIO)"); a name lookup does not
/// find is ENOENT.
fn errno_named(reason: &str) -> Option<i32> {
    if reason.contains("lookup finds nothing") {
        return Some(libc::ENOENT);
    }
    ERRNOS
        .iter()
        .find(|(_, s)| reason.contains(&format!("gives {s}")))
        .map(|(n, _)| *n)
}

/// Reads a file on the host without following a symlink in its last component.
fn read_source(path: &[u8]) -> Result<Vec<u8>, String> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(OsStr::from_bytes(path))
        .map_err(|e| format!("cannot open source {}: {e}", display(path)))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .map_err(|e| format!("cannot read source {}: {e}", display(path)))?;
    Ok(v)
}

/// How layerscope begins the reason for a directory whose listing depends on the order of
/// lookups on the mount (an impure directory holding an order-dependent name): the kernel may
/// list it or fail, and either is accepted. Its names are still compared one by one.
const MAY_NOT_LIST: &str = "the kernel may not list this directory";

/// Everything on which the kernel's view and layerscope's listing disagree.
///
/// A directory the kernel cannot list (its readdir fails) must be one layerscope reports as
/// an anomaly with the same errno; what layerscope lists inside it is then checked by looking
/// each name up on the mount (`mp`), since lookups there still work.
pub fn compare(k: &kernel::View, l: &Listing, mp: &std::path::Path) -> Vec<String> {
    let mut d: Vec<String> = l.problems.clone();
    let is_dir = |p: &[u8]| l.nodes.get(p).is_some_and(|n| n.kind == "dir");
    for (path, errno) in &k.unreadable {
        match l.anomalies.get(path) {
            Some(reason) if is_dir(path) && errno_named(reason) == Some(*errno) => {}
            Some(reason) => d.push(format!(
                "the kernel cannot list directory {} ({}); layerscope says \"{reason}\"",
                display(path),
                errno_name(*errno)
            )),
            None => d.push(format!(
                "the kernel cannot list directory {} ({}); layerscope lists it as {} without an anomaly",
                display(path),
                errno_name(*errno),
                l.nodes.get(path).map_or("nothing", |n| n.kind.as_str())
            )),
        }
    }
    for (path, reason) in l.anomalies.iter().filter(|(p, _)| is_dir(p)) {
        if !k.unreadable.contains_key(path) && !reason.starts_with(MAY_NOT_LIST) {
            d.push(format!(
                "layerscope says directory {} cannot be listed (\"{reason}\"), the kernel lists it",
                display(path)
            ));
        }
    }
    // Under a directory the kernel cannot list, look up what layerscope lists there.
    let unlisted = |p: &[u8]| {
        k.unreadable.keys().any(|u| {
            let u: &[u8] = if u == b"/" { b"" } else { u };
            p.len() > u.len() && p.starts_with(u) && p[u.len()] == b'/'
        })
    };
    let mut k_nodes = k.nodes.clone();
    let mut k_anomalies = k.anomalies.clone();
    for path in l
        .nodes
        .keys()
        .chain(l.anomalies.keys())
        .filter(|p| unlisted(p))
    {
        match kernel::probe(mp, path) {
            Ok(n) => {
                k_nodes.insert(path.clone(), n);
            }
            Err(e) => {
                k_anomalies.insert(path.clone(), e);
            }
        }
    }
    // Directories that share a lower copy: the kernel shows whichever it looks up first and
    // gives ESTALE to the others (or its readdir drops them), so layerscope shows none of
    // them; any kernel answer at or under such a path is accepted.
    let order_dependent: Vec<Vec<u8>> = l
        .anomalies
        .iter()
        .filter(|(_, r)| {
            r.contains("whichever of them is looked up") && !r.starts_with(MAY_NOT_LIST)
        })
        .map(|(p, _)| p.clone())
        .collect();
    let under_order_dependent = |p: &[u8]| {
        order_dependent
            .iter()
            .any(|o| p == o.as_slice() || (p.starts_with(o) && p.get(o.len()) == Some(&b'/')))
    };
    k_nodes.retain(|p, _| !under_order_dependent(p));
    k_anomalies.retain(|p, _| !under_order_dependent(p));
    // index=on: a lower hard link whose inode was copied up through another name. The kernel
    // shows that copy (the index entry), which lies outside the layers; layerscope reports the
    // name as an anomaly instead. The kernel must show it, not refuse it.
    let index_covered: Vec<Vec<u8>> = l
        .anomalies
        .iter()
        .filter(|(_, r)| r.starts_with("index=on"))
        .map(|(p, _)| p.clone())
        .collect();
    for path in &index_covered {
        if k_nodes.remove(path).is_none() {
            d.push(format!(
                "layerscope anomaly {} (covered by the index): the kernel does not show it",
                display(path)
            ));
        }
    }
    let index_covered = |p: &[u8]| index_covered.iter().any(|c| c == p);
    let k = kernel::View {
        nodes: k_nodes,
        anomalies: k_anomalies,
        ..kernel::View::default()
    };
    for (path, kn) in &k.nodes {
        let Some(ln) = l.nodes.get(path) else {
            let also = if l.anomalies.contains_key(path) {
                " (layerscope calls it an anomaly)"
            } else {
                ""
            };
            d.push(format!(
                "kernel shows {} {}, layerscope does not{also}",
                kn.kind,
                display(path)
            ));
            continue;
        };
        let p = display(path);
        if kn.kind != ln.kind {
            d.push(format!(
                "{p}: type: kernel {}, layerscope {}",
                kn.kind, ln.kind
            ));
            continue;
        }
        if kn.size != ln.size {
            d.push(format!(
                "{p}: size: kernel {}, layerscope {}",
                kn.size, ln.size
            ));
        }
        if kn.mode != ln.mode {
            d.push(format!(
                "{p}: mode: kernel {:04o}, layerscope {:04o}",
                kn.mode, ln.mode
            ));
        }
        if (kn.uid, kn.gid) != (ln.uid, ln.gid) {
            d.push(format!(
                "{p}: owner: kernel {}:{}, layerscope {}:{}",
                kn.uid, kn.gid, ln.uid, ln.gid
            ));
        }
        if kn.target != ln.target {
            d.push(format!(
                "{p}: target: kernel {:?}, layerscope {:?}",
                kn.target.as_deref().map(display),
                ln.target.as_deref().map(display)
            ));
        }
        if kn.mtime.0 != ln.mtime {
            d.push(format!(
                "{p}: mtime: kernel {}, layerscope {}",
                kn.mtime.0, ln.mtime
            ));
        }
        // The reported source must be what the kernel shows: its own lstat (type, mode, size,
        // owner, mtime to the nanosecond) and symlink target, not only the JSON's copy of it.
        let src = display(&ln.source);
        match fs::symlink_metadata(OsStr::from_bytes(&ln.source)) {
            Ok(md) if kernel::kind_of(md.file_type()) != ln.kind => d.push(format!(
                "{p}: source {src} is a {}, not a {}",
                kernel::kind_of(md.file_type()),
                ln.kind
            )),
            Ok(md) => {
                use std::os::unix::fs::MetadataExt;
                let own = (
                    md.mode() & 0o7777,
                    md.size(),
                    md.uid(),
                    md.gid(),
                    (md.mtime(), md.mtime_nsec()),
                );
                let seen = (kn.mode, kn.size, kn.uid, kn.gid, kn.mtime);
                if own != seen {
                    d.push(format!(
                        "{p}: source {src}'s own lstat (mode {:04o}, size {}, owner {}:{}, mtime {:?}) \
                         is not the kernel's (mode {:04o}, size {}, owner {}:{}, mtime {:?})",
                        own.0, own.1, own.2, own.3, own.4, seen.0, seen.1, seen.2, seen.3, seen.4
                    ));
                }
                if ln.kind == "symlink" {
                    let t = fs::read_link(OsStr::from_bytes(&ln.source))
                        .ok()
                        .map(|t| t.into_os_string().into_encoded_bytes());
                    if t != kn.target {
                        d.push(format!(
                            "{p}: source {src} points to {:?}, the kernel's link to {:?}",
                            t.as_deref().map(display),
                            kn.target.as_deref().map(display)
                        ));
                    }
                }
            }
            Err(e) => d.push(format!("{p}: source {src}: {e}")),
        }
        if let Some(kc) = &kn.content {
            let from = match &ln.data {
                None => Some(ln.source.as_slice()),
                Some(Some(s)) => Some(s.as_slice()),
                Some(None) => None,
            };
            match (kc, from) {
                (Ok(kb), Some(src)) => match read_source(src) {
                    Ok(lb) if &lb == kb => {}
                    Ok(lb) => d.push(format!(
                        "{p}: content: kernel {} bytes {:?}, layerscope's source {} has {} bytes {:?}",
                        kb.len(),
                        display(&kb[..kb.len().min(24)]),
                        display(src),
                        lb.len(),
                        display(&lb[..lb.len().min(24)])
                    )),
                    Err(e) => d.push(format!("{p}: {e}")),
                },
                // Data missing from the data-only layers: the kernel's lazy lookup fails the
                // open (ENOENT; ELOOP for a symlinked directory on the way, ENOTDIR for a
                // file on the way, EXDEV for a `..` that would leave the layer).
                (Err(errno), None)
                    if matches!(
                        *errno,
                        libc::ENOENT | libc::ELOOP | libc::ENOTDIR | libc::EXDEV
                    ) => {}
                (Err(errno), _) => d.push(format!(
                    "{p}: the kernel cannot read it (errno {errno}), layerscope says data_source {:?}",
                    ln.data
                        .as_ref()
                        .map(|s| s.as_deref().map(display))
                )),
                (Ok(_), None) => d.push(format!(
                    "{p}: the kernel reads it, layerscope says its data is missing"
                )),
            }
        }
    }
    for (path, ln) in &l.nodes {
        if !k.nodes.contains_key(path) {
            let also = if k.anomalies.contains_key(path) {
                " (the kernel's lstat fails on it)"
            } else {
                ""
            };
            d.push(format!(
                "layerscope shows {} {}, the kernel does not{also}",
                ln.kind,
                display(path)
            ));
        }
    }
    for (path, errno) in &k.anomalies {
        if let Some(reason) = l.anomalies.get(path) {
            // The errno layerscope names must be the one lstat gives on the mount.
            let named = errno_named(reason);
            if named != Some(*errno) {
                d.push(format!(
                    "anomaly {}: lstat on the mount gives {}, layerscope says \"{reason}\"",
                    display(path),
                    errno_name(*errno)
                ));
            }
        }
        if !l.anomalies.contains_key(path) {
            d.push(format!(
                "kernel anomaly {} (readdir lists it, lstat gives errno {errno}): layerscope does not report it",
                display(path)
            ));
        }
    }
    // Every name layerscope calls an anomaly, the kernel must refuse: its lookup on the mount
    // fails (a directory layerscope lists but says the kernel cannot list is checked above).
    for (path, reason) in l.anomalies.iter().filter(|(p, _)| !is_dir(p)) {
        if under_order_dependent(path) || index_covered(path) {
            continue;
        }
        if let Ok(n) = kernel::probe(mp, path) {
            d.push(format!(
                "layerscope anomaly {} ({reason}): the kernel looks it up (a {})",
                display(path),
                n.kind
            ));
        }
    }
    for (path, reason) in l.anomalies.iter().filter(|(p, _)| !is_dir(p)) {
        if !k.anomalies.contains_key(path) && !under_order_dependent(path) && !index_covered(path) {
            d.push(format!(
                "layerscope anomaly {} ({reason}): the kernel has no such anomaly",
                display(path)
            ));
        }
    }
    d
}
