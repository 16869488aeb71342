//! The records `layerscope watch` prints: one JSON object a line, or one text line, per event.
//!
//! Every JSON record has `time` (RFC 3339, UTC, milliseconds), `kind`, `path` (the merged path;
//! absent for notices), `layer` and `label` (the layer the explanation is about, or `null`),
//! `explanation`, and the fields of its kind (see the README's "Live view" section). Names follow
//! the `_b64` convention of [`crate::report`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::{LiveEvent, LiveKind, WatchMode};
use crate::escape::display;
use crate::report::put_bytes;

/// The UTC (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm).
#[must_use]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2025-01-31T12:34:56.789Z`.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = i64::try_from(d.as_secs()).unwrap_or(0);
    let (y, mo, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
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
