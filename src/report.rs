//! The JSON Lines records every command prints, shared by the CLI and tests.
//!
//! Names are bytes. A string field holds the name when it is valid UTF-8; when it is not, the
//! string holds a lossy rendering (U+FFFD for bad bytes) and a sibling field with the `_b64`
//! suffix holds the exact bytes in standard base64. Scripts that need exact names read the
//! `_b64` field when present.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::merge::{Anomaly, DataSource, Entry, FileKind, Merger, VersionRole};

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

/// The `ls` record of one merged entry.
#[must_use]
pub fn entry_json(merger: &Merger, e: &Entry) -> Value {
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

/// The record of a name readdir shows but lookup refuses.
#[must_use]
pub fn anomaly_json(a: &Anomaly) -> Value {
    let mut o = Map::new();
    put_bytes(&mut o, "path", &a.path);
    o.insert("layer".into(), json!(a.layer));
    o.insert("anomaly".into(), json!(a.reason));
    Value::Object(o)
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
