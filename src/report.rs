//! The JSON Lines records every command prints, shared by the CLI and tests.
//!
//! Names are bytes. A string field holds the name when it is valid UTF-8; when it is not, the
//! string holds a lossy rendering (U+FFFD for bad bytes) and a sibling field with the `_b64`
//! suffix holds the exact bytes in standard base64. Scripts that need exact names read the
//! `_b64` field when present.
//!
//! Every JSON record goes through [`write_json`] (or, for `ls` entries, the direct writer that
//! prints the same bytes): besides JSON's own escapes, DEL, the C1 controls (U+0080 to U+009F,
//! e.g. U+009B, a CSI) and the bidirectional controls (U+202A to U+202E, U+2066 to U+2069) are
//! written as `\uXXXX`, so a record is still the same JSON but safe to print to a terminal.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::merge::{
    Anomaly, DataSource, Entry, FileKind, HiddenReason, Merger, Resolved, Version, VersionRole,
};

/// Whether a JSON string writes `c` as `\uXXXX` although JSON allows it raw: it would act on
/// a terminal (DEL, C1 controls) or reorder the text around it (bidi embeddings, overrides and
/// isolates).
#[must_use]
pub fn terminal_unsafe(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// serde_json's compact output, with [`terminal_unsafe`] characters escaped.
struct SafeFormatter;

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if terminal_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one compact JSON record (no newline): the one way every command prints JSON.
///
/// # Errors
/// Writing fails, or `value` cannot be serialized.
pub fn write_json<W: std::io::Write, T: serde::Serialize + ?Sized>(
    w: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        w,
        SafeFormatter,
    ))
}

/// Puts `key` (and `key_b64` when the bytes are not UTF-8) into `obj`.
pub fn put_bytes(obj: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            obj.insert(key.into(), Value::String(s.into()));
        }
        Err(_) => {
            obj.insert(
                key.into(),
                Value::String(String::from_utf8_lossy(bytes).into_owned()),
            );
            obj.insert(
                format!("{key}_b64"),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
    }
}

/// Reads back a name written by [`put_bytes`].
#[must_use]
pub fn get_bytes(obj: &Value, key: &str) -> Option<Vec<u8>> {
    if let Some(b64) = obj.get(format!("{key}_b64")).and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD.decode(b64).ok();
    }
    obj.get(key)
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec())
}

fn os_bytes(p: &std::path::Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

/// Appends the `ls` record of one merged entry to `out`, without the trailing newline.
///
/// The one serializer of `ls` records: keys in sorted order and [`write_json`]'s escaping,
/// written straight into the output chunk without building a `Value` (`ls -R --json` spends
/// most of its user time here on large trees). A unit test checks it byte for byte against a
/// record built as a `serde_json::Value` and printed by [`write_json`].
pub fn write_entry_json(out: &mut Vec<u8>, merger: &Merger, e: &Entry) {
    let mut num = itoa::Buffer::new();
    let layers = &merger.stack().layers;
    // Keys in byte order, as serde_json's (BTreeMap) object prints them.
    out.push(b'{');
    match &e.data {
        Some(DataSource::Found { layer, rel }) => {
            out.extend_from_slice(b"\"data_source\":{\"layer\":");
            out.extend_from_slice(num.format(*layer).as_bytes());
            out.push(b',');
            write_source(out, &layers[*layer].path, rel);
            out.extend_from_slice(b"},");
        }
        Some(DataSource::Missing) => out.extend_from_slice(b"\"data_source\":null,"),
        None => {}
    }
    out.extend_from_slice(b"\"gid\":");
    out.extend_from_slice(num.format(e.meta.gid).as_bytes());
    out.extend_from_slice(b",\"hidden\":[");
    for (i, (v, r)) in e.hidden().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (key, at, reason): (&[u8], usize, &[u8]) = match r {
            HiddenReason::Shadowed { by } => (b"by", by, b"shadowed"),
            HiddenReason::WhitedOut { at } => (b"at", at, b"whited-out"),
            HiddenReason::Opaque { at } => (b"at", at, b"opaque"),
            HiddenReason::CutByNonDir { at } => (b"at", at, b"cut-by-non-dir"),
            HiddenReason::Redirected { at } => (b"at", at, b"redirected"),
            HiddenReason::NotOrigin { at } => (b"at", at, b"not-origin"),
        };
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(key);
        out.extend_from_slice(b"\":");
        out.extend_from_slice(num.format(at).as_bytes());
        out.extend_from_slice(b",\"layer\":");
        out.extend_from_slice(num.format(v.layer).as_bytes());
        out.extend_from_slice(b",\"reason\":\"");
        out.extend_from_slice(reason);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(v.kind.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"layer\":");
    out.extend_from_slice(num.format(e.layer).as_bytes());
    if e.kind == FileKind::Dir {
        out.extend_from_slice(b",\"merged\":[");
        let merged = e.dir.as_ref().map_or(&[][..], |d| d.layers.as_slice());
        for (i, l) in merged.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(num.format(l.layer).as_bytes());
        }
        out.push(b']');
    }
    let mode = e.meta.mode;
    out.extend_from_slice(b",\"mode\":\"");
    // `{:04o}`: at least four octal digits.
    let mut digits = [0u8; 11];
    let mut n = mode;
    let mut len = 0;
    while n > 0 || len < 4 {
        digits[len] = b'0' + u8::try_from(n & 7).unwrap_or(0);
        n >>= 3;
        len += 1;
    }
    out.extend(digits[..len].iter().rev());
    out.extend_from_slice(b"\",\"mtime\":");
    out.extend_from_slice(num.format(e.meta.mtime).as_bytes());
    if e.opaque {
        out.extend_from_slice(b",\"opaque\":true");
    }
    out.push(b',');
    write_bytes_field(out, "path", &e.path);
    if matches!(e.kind, FileKind::Char | FileKind::Block) {
        out.extend_from_slice(b",\"rdev\":\"");
        out.extend_from_slice(num.format(e.meta.rdev.0).as_bytes());
        out.push(b':');
        out.extend_from_slice(num.format(e.meta.rdev.1).as_bytes());
        out.push(b'"');
    }
    if let Some(r) = &e.redirect {
        out.push(b',');
        write_bytes_field(out, "redirect", r);
    }
    out.extend_from_slice(b",\"size\":");
    out.extend_from_slice(num.format(e.meta.size).as_bytes());
    out.push(b',');
    write_source(out, &layers[e.layer].path, &e.rel);
    if let Some(t) = &e.target {
        out.push(b',');
        write_bytes_field(out, "target", t);
    }
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(e.kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"uid\":");
    out.extend_from_slice(num.format(e.meta.uid).as_bytes());
    out.push(b'}');
}

/// `"source":…` for `rel` inside the layer at `root`, joined as `Path::join` does.
fn write_source(out: &mut Vec<u8>, root: &std::path::Path, rel: &[u8]) {
    let root = os_bytes(root);
    if rel.is_empty() {
        write_bytes_field(out, "source", root);
        return;
    }
    let sep: &[u8] = if root.ends_with(b"/") { b"" } else { b"/" };
    // UTF-8 on both sides of an ASCII '/' is UTF-8 as a whole: no need to join first.
    if let (Ok(r), Ok(l)) = (std::str::from_utf8(root), std::str::from_utf8(rel)) {
        out.extend_from_slice(b"\"source\":\"");
        write_json_fragment(out, r);
        out.extend_from_slice(sep);
        write_json_fragment(out, l);
        out.push(b'"');
        return;
    }
    let mut p = Vec::with_capacity(root.len() + 1 + rel.len());
    p.extend_from_slice(root);
    p.extend_from_slice(sep);
    p.extend_from_slice(rel);
    write_bytes_field(out, "source", &p);
}

/// `"key":"…"` and, for bytes that are not UTF-8, `,"key_b64":"…"`, as [`put_bytes`] makes them.
fn write_bytes_field(out: &mut Vec<u8>, key: &str, bytes: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    match std::str::from_utf8(bytes) {
        Ok(s) => write_json_str(out, s),
        Err(_) => {
            write_json_str(out, &String::from_utf8_lossy(bytes));
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"_b64\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
}

/// A JSON string with [`write_json`]'s escaping.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_json_fragment(out, s);
    out.push(b'"');
}

/// Which bytes [`write_json`] escapes, and how: `u` for `\u00XX`, `?` for the lead byte of a
/// character that may be [`terminal_unsafe`], else the letter after `\`.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[0x7f] = b'u';
    // Lead bytes of U+0080..U+00BF and U+2000..U+203F, U+2040..U+207F: look closer.
    t[0xc2] = b'?';
    t[0xe2] = b'?';
    t
};

/// The inside of a JSON string: `s` with [`write_json`]'s escaping, no quotes.
fn write_json_fragment(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[usize::from(b)];
        if esc == 0 {
            continue;
        }
        if esc == b'?' {
            // Only the terminal-unsafe characters behind these lead bytes are escaped.
            let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                continue;
            };
            if !terminal_unsafe(c) {
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            let code = u32::from(c);
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[usize::try_from((code >> shift) & 0xf).unwrap_or(0)]);
            }
            start = i + c.len_utf8();
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The record of a name readdir shows but lookup refuses.
#[must_use]
pub fn anomaly_json(a: &Anomaly) -> Value {
    let mut o = Map::new();
    put_bytes(&mut o, "path", &a.path);
    o.insert("layer".into(), json!(a.layer));
    o.insert("anomaly".into(), json!(a.reason));
    Value::Object(o)
}

/// `r` renumbered for a stack `by` layers deeper: a view's merger numbers its layers from 0,
/// layer `by` of the real stack.
#[must_use]
pub fn shift_reason(r: HiddenReason, by: usize) -> HiddenReason {
    match r {
        HiddenReason::Shadowed { by: l } => HiddenReason::Shadowed { by: l + by },
        HiddenReason::WhitedOut { at } => HiddenReason::WhitedOut { at: at + by },
        HiddenReason::Opaque { at } => HiddenReason::Opaque { at: at + by },
        HiddenReason::CutByNonDir { at } => HiddenReason::CutByNonDir { at: at + by },
        HiddenReason::Redirected { at } => HiddenReason::Redirected { at: at + by },
        HiddenReason::NotOrigin { at } => HiddenReason::NotOrigin { at: at + by },
    }
}

/// What version `v` of the resolved path `r` does, in `which`'s words. `r` comes from a merger
/// whose layer 0 is layer `base` of the real stack (0 for the whole stack); the layers named
/// are the real stack's.
#[must_use]
pub fn role_text(r: &Resolved, v: &Version, base: usize) -> String {
    match v.role {
        VersionRole::Supplies
            if r.entry
                .as_ref()
                .is_some_and(|e| e.layer == v.layer && e.rel == v.rel) =>
        {
            "supplies the merged entry".to_string()
        }
        VersionRole::Supplies => "would supply it, but the kernel refuses the lookup".to_string(),
        VersionRole::Merged => "merged into the directory".to_string(),
        VersionRole::Data => "holds the data of the metacopy file above".to_string(),
        VersionRole::MetacopyChain => {
            "metacopy file passed over on the way to the data".to_string()
        }
        VersionRole::Whiteout => "whiteout: deletes the versions below".to_string(),
        VersionRole::Hidden(reason) => {
            format!("hidden: {}", shift_reason(reason, base).describe())
        }
    }
}

/// The text line `which` prints for version `v` of `r`, resolved by `m` (layer numbers as in
/// [`role_text`]).
#[must_use]
pub fn which_line(m: &Merger, r: &Resolved, v: &Version, base: usize) -> String {
    let source = m.source_path(v.layer, &v.rel);
    let layer = &m.stack().layers[v.layer];
    let mut line = format!(
        "L{:<2} {:<8} {:<7} {}  {}",
        v.layer + base,
        layer.role.as_str(),
        v.kind.as_str(),
        crate::escape::path(&source),
        role_text(r, v, base)
    );
    // A layer read from an archive has no store directory to recognise it by: name it by
    // the instruction that made it and its digest.
    if let Some(digest) = &layer.ids.digest {
        let label = layer.label.as_deref().unwrap_or("layer");
        line.push_str(&format!(
            "  [{}, digest {}]",
            crate::escape::display(label.as_bytes()),
            crate::escape::display(crate::stack::engine::short(digest).as_bytes())
        ));
    }
    line
}

/// A short word for what a version does, as `which` prints it.
#[must_use]
pub fn role_word(role: VersionRole) -> &'static str {
    match role {
        VersionRole::Supplies => "supplies",
        VersionRole::Merged => "merged",
        VersionRole::Data => "data",
        VersionRole::MetacopyChain => "metacopy-chain",
        VersionRole::Whiteout => "whiteout",
        VersionRole::Hidden(_) => "hidden",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{DirStack, LayerDir, Meta, Version};
    use crate::stack::{LayerStack, MountOptions, RedirectMode, XattrNamespace, Xino};

    /// The `ls` record of one merged entry, built field by field as a `Value`: the independent
    /// oracle the direct writer is checked against (it is not used to print).
    fn entry_json(merger: &Merger, e: &Entry) -> Value {
        let mut o = Map::new();
        put_bytes(&mut o, "path", &e.path);
        o.insert("type".into(), json!(e.kind.as_str()));
        o.insert("layer".into(), json!(e.layer));
        put_bytes(
            &mut o,
            "source",
            os_bytes(&merger.source_path(e.layer, &e.rel)),
        );
        match &e.data {
            Some(DataSource::Found { layer, rel }) => {
                let mut d = Map::new();
                d.insert("layer".into(), json!(layer));
                put_bytes(&mut d, "source", os_bytes(&merger.source_path(*layer, rel)));
                o.insert("data_source".into(), Value::Object(d));
            }
            Some(DataSource::Missing) => {
                o.insert("data_source".into(), Value::Null);
            }
            None => {}
        }
        o.insert("size".into(), json!(e.meta.size));
        o.insert("mode".into(), json!(format!("{:04o}", e.meta.mode)));
        o.insert("uid".into(), json!(e.meta.uid));
        o.insert("gid".into(), json!(e.meta.gid));
        o.insert("mtime".into(), json!(e.meta.mtime));
        if matches!(e.kind, FileKind::Char | FileKind::Block) {
            o.insert(
                "rdev".into(),
                json!(format!("{}:{}", e.meta.rdev.0, e.meta.rdev.1)),
            );
        }
        if let Some(t) = &e.target {
            put_bytes(&mut o, "target", t);
        }
        if e.kind == FileKind::Dir {
            o.insert("merged".into(), json!(e.merged_layers()));
        }
        if e.opaque {
            o.insert("opaque".into(), json!(true));
        }
        if let Some(r) = &e.redirect {
            put_bytes(&mut o, "redirect", r);
        }
        let hidden: Vec<Value> = e
            .hidden()
            .map(|(v, r)| {
                let mut h = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut h {
                    m.insert("layer".into(), json!(v.layer));
                    m.insert("type".into(), json!(v.kind.as_str()));
                }
                h
            })
            .collect();
        o.insert("hidden".into(), Value::Array(hidden));
        Value::Object(o)
    }

    fn entry(kind: FileKind, path: &[u8]) -> Entry {
        Entry {
            path: path.to_vec(),
            kind,
            layer: 0,
            rel: path[1..].to_vec(),
            meta: Meta {
                size: 12345,
                mode: 0o4755,
                uid: 1000,
                gid: 0,
                mtime: -5,
                ..Meta::default()
            },
            target: None,
            data: None,
            opaque: false,
            redirect: None,
            versions: Vec::new(),
            dir: None,
        }
    }

    #[test]
    fn fast_writer_prints_what_entry_json_prints() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let l0 = tmp.path().join("upper");
        let l1 = tmp.path().join("lower with \"quote\"");
        let l2 = tmp.path().join("data/");
        for d in [&l0, &l1, &l2] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let stack = LayerStack::from_dirs(
            "t".into(),
            Some(l0),
            vec![l1],
            vec![l2],
            MountOptions {
                xattr: XattrNamespace::Trusted,
                redirect: RedirectMode::On,
                metacopy: true,
                index: true,
                nfs_export: false,
                xino: Xino::Auto,
            },
        );
        let merger = Merger::open(&stack).expect("open");
        let hidden = |layer, r| Version {
            layer,
            rel: b"x".to_vec(),
            kind: FileKind::Char,
            role: VersionRole::Hidden(r),
        };
        let mut cases = Vec::new();
        let mut e = entry(FileKind::File, b"/plain");
        e.versions = vec![
            hidden(1, HiddenReason::Shadowed { by: 0 }),
            hidden(1, HiddenReason::WhitedOut { at: 0 }),
            hidden(1, HiddenReason::Opaque { at: 0 }),
            hidden(1, HiddenReason::CutByNonDir { at: 0 }),
            hidden(1, HiddenReason::Redirected { at: 0 }),
        ];
        cases.push(e);
        let mut e = entry(FileKind::File, b"/meta\"copy\\\x01\x1f\x7f\n\t\r\x08\x0c");
        e.layer = 1;
        e.data = Some(DataSource::Found {
            layer: 2,
            rel: b"d/\xffdata".to_vec(),
        });
        e.redirect = Some(b"/abs/\xfe".to_vec());
        cases.push(e);
        let mut e = entry(
            FileKind::File,
            "/c1\u{9b}31m del\u{7f} bidi\u{202a}\u{202e}\u{2066}\u{2069} fine\u{a0}\u{2028}\u{2030}"
                .as_bytes(),
        );
        e.target = Some("é\u{80}\u{9f}".as_bytes().to_vec());
        cases.push(e);
        let mut e = entry(FileKind::File, b"/missing");
        e.data = Some(DataSource::Missing);
        cases.push(e);
        let mut e = entry(FileKind::Dir, b"/d\xc3\x28ir");
        e.opaque = true;
        e.dir = Some(DirStack {
            layers: vec![
                LayerDir {
                    layer: 0,
                    rel: b"dir".to_vec(),
                },
                LayerDir {
                    layer: 1,
                    rel: b"dir".to_vec(),
                },
            ],
            ..DirStack::default()
        });
        cases.push(e);
        let mut e = entry(FileKind::Dir, b"/");
        e.rel = Vec::new();
        cases.push(e);
        cases.push(entry(FileKind::Dir, b"/nodir"));
        let mut e = entry(FileKind::Symlink, b"/link");
        e.target = Some("../tårget\u{202e}".as_bytes().to_vec());
        e.meta.mode = 0o777;
        cases.push(e);
        let mut e = entry(FileKind::Char, b"/dev/null");
        e.meta.rdev = (1, 3);
        e.meta.mode = 0;
        cases.push(e);
        let mut e = entry(FileKind::Block, b"/dev/sda");
        e.meta.rdev = (8, 0);
        e.meta.mode = 0o60660;
        cases.push(e);
        cases.push(entry(FileKind::Fifo, b"/fifo"));
        cases.push(entry(FileKind::Socket, b"/sock"));
        for e in &cases {
            let mut want = Vec::new();
            write_json(&mut want, &entry_json(&merger, e)).expect("json");
            let mut got = Vec::new();
            write_entry_json(&mut got, &merger, e);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{:?}",
                e.path
            );
            assert_eq!(got, want);
        }
    }

    #[test]
    fn json_escapes_what_a_terminal_would_act_on() {
        let name = "a\u{7f}b\u{80}\u{9b}[31m\u{9f}c\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\
                    \u{2066}\u{2067}\u{2068}\u{2069}d\u{a0}é\u{2028}\u{2070}日本";
        let mut o = Map::new();
        put_bytes(&mut o, "path", name.as_bytes());
        let mut out = Vec::new();
        write_json(&mut out, &Value::Object(o)).expect("json");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "{\"path\":\"a\\u007fb\\u0080\\u009b[31m\\u009fc\\u202a\\u202b\\u202c\\u202d\\u202e\
             \\u2066\\u2067\\u2068\\u2069d\u{a0}é\u{2028}\u{2070}日本\"}"
        );
        assert!(!text.chars().any(terminal_unsafe), "{text}");
        // Still the same JSON: it reads back to the exact name.
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(get_bytes(&back, "path").expect("path"), name.as_bytes());
    }
}
