//! The records `layerscope watch` prints: one JSON object a line, or one text line, per event.
//!
//! Every JSON record has `time` (RFC 3339, UTC, milliseconds), `kind`, `path` (the merged path;
//! absent for notices), `layer` and `label` (the layer the explanation is about, or `null`),
//! `explanation`, and the fields of its kind (see the README's "Live view" section). Names follow
//! the `_b64` convention of [`crate::report`].

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::{LiveEvent, LiveKind, WatchMode};
use crate::escape::display;
use crate::report::put_bytes;

/// `2025-01-31T12:34:56.789Z`.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    crate::timestamp::rfc3339_millis(t)
}

/// `12:34:56.789` in UTC, for compact text lines.
#[must_use]
pub fn clock(t: SystemTime) -> String {
    let full = rfc3339(t);
    full.get(11..23).unwrap_or(&full).to_string()
}

/// The JSON record of one event.
#[must_use]
pub fn event_json(e: &LiveEvent) -> Value {
    let mut o = Map::new();
    o.insert("time".into(), json!(rfc3339(e.time)));
    o.insert("kind".into(), json!(e.kind.name()));
    if !e.path.is_empty() {
        put_bytes(&mut o, "path", &e.path);
    }
    o.insert("layer".into(), json!(e.layer));
    o.insert("label".into(), json!(e.label));
    o.insert("explanation".into(), json!(e.explanation));
    if !e.parents.is_empty() {
        let parents: Vec<Value> = e
            .parents
            .iter()
            .map(|p| json!(String::from_utf8_lossy(p)))
            .collect();
        o.insert("parents_copied_up".into(), Value::Array(parents));
    }
    if e.from_rescan {
        o.insert("rescan".into(), json!(true));
    }
    match &e.kind {
        LiveKind::Created {
            file_kind,
            size,
            over_whiteout,
            replaces,
            moved_copy,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            o.insert("size".into(), json!(size));
            if let Some(l) = over_whiteout {
                o.insert("over_whiteout".into(), json!(l));
            }
            if let Some((l, k)) = replaces {
                o.insert("replaces".into(), json!({"layer": l, "type": k.as_str()}));
            }
            if *moved_copy {
                o.insert("moved_copy".into(), json!(true));
            }
        }
        LiveKind::CopiedUp {
            file_kind,
            bytes,
            size,
            truncated,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            o.insert("bytes_copied".into(), json!(bytes));
            o.insert("size".into(), json!(size));
            o.insert("truncated".into(), json!(truncated));
        }
        LiveKind::MetacopyUp { size, data_layer } => {
            o.insert("type".into(), json!("file"));
            o.insert("bytes_copied".into(), json!(0));
            o.insert("size".into(), json!(size));
            o.insert("data_layer".into(), json!(data_layer));
        }
        LiveKind::DataCopiedUp { bytes, size } => {
            o.insert("type".into(), json!("file"));
            o.insert("bytes_copied".into(), json!(bytes));
            o.insert("size".into(), json!(size));
        }
        LiveKind::Modified {
            file_kind,
            size_before,
            size,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            o.insert("size_before".into(), json!(size_before));
            o.insert("size".into(), json!(size));
        }
        LiveKind::Deleted {
            hidden_kind,
            hidden_entries,
            replaced_upper,
            renamed_to,
            folded,
        } => {
            o.insert("hidden_type".into(), json!(hidden_kind.as_str()));
            o.insert("hidden_entries".into(), json!(hidden_entries));
            o.insert("replaced_upper".into(), json!(replaced_upper));
            if let Some(to) = renamed_to {
                put_bytes(&mut o, "renamed_to", to);
            }
            o.insert("folded".into(), json!(folded));
        }
        LiveKind::Removed {
            file_kind,
            uncovers,
            folded,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            o.insert("uncovers".into(), json!(uncovers));
            o.insert("folded".into(), json!(folded));
        }
        LiveKind::OpaqueDir {
            hidden_layers,
            hidden,
            hidden_count,
        } => {
            o.insert("hidden_layers".into(), json!(hidden_layers));
            let names: Vec<Value> = hidden
                .iter()
                .map(|n| json!(String::from_utf8_lossy(n)))
                .collect();
            o.insert("hidden".into(), Value::Array(names));
            o.insert("hidden_count".into(), json!(hidden_count));
        }
        LiveKind::Redirected {
            file_kind,
            from,
            redirect,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            put_bytes(&mut o, "from", from);
            put_bytes(&mut o, "redirect", redirect);
        }
        LiveKind::Renamed {
            file_kind,
            from,
            folded,
        } => {
            o.insert("type".into(), json!(file_kind.as_str()));
            put_bytes(&mut o, "from", from);
            o.insert("folded".into(), json!(folded));
        }
        LiveKind::Attributes { changes } => {
            o.insert("changes".into(), json!(changes));
        }
        LiveKind::LowerChanged { change } => {
            o.insert("change".into(), json!(change.as_str()));
            o.insert("undefined_behaviour".into(), json!(true));
        }
        LiveKind::Watching {
            upper,
            entries,
            mode,
            lowers,
        } => {
            use std::os::unix::ffi::OsStrExt;
            put_bytes(&mut o, "upper", upper.as_os_str().as_bytes());
            o.insert("entries".into(), json!(entries));
            match mode {
                WatchMode::Inotify => {
                    o.insert("mode".into(), json!("inotify"));
                }
                WatchMode::Poll(iv) => {
                    o.insert("mode".into(), json!("poll"));
                    o.insert("interval_ms".into(), json!(iv.as_millis()));
                }
            }
            o.insert("lowers_watched".into(), json!(lowers));
        }
        LiveKind::Overflow { reason } => {
            o.insert("warning".into(), json!(true));
            o.insert("reason".into(), json!(reason));
        }
        LiveKind::Rescanned { changes } => {
            o.insert("changes".into(), json!(changes));
        }
        LiveKind::Fallback { reason, interval } => {
            o.insert("warning".into(), json!(true));
            o.insert("reason".into(), json!(reason));
            o.insert("interval_ms".into(), json!(interval.as_millis()));
        }
        LiveKind::Failure { message } => {
            o.insert("warning".into(), json!(true));
            o.insert("message".into(), json!(message));
        }
    }
    Value::Object(o)
}

/// One text line for people: time, symbol, kind, path, explanation; terminal-safe.
#[must_use]
pub fn event_line(e: &LiveEvent) -> String {
    let path = if e.path.is_empty() {
        String::new()
    } else {
        format!(" {}", display(&e.path))
    };
    format!(
        "{} {} {:<14}{}  {}",
        clock(e.time),
        e.kind.symbol(),
        e.kind.name(),
        path,
        e.explanation
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
        assert_eq!(clock(t), "22:13:20.123");
    }
}
