//! Dates and times as layerscope prints them, all in UTC, all formatted by jiff.
//!
//! Four shapes: `watch` records (RFC 3339, milliseconds), `du` records (RFC 3339, seconds),
//! containerd's creation times (RFC 3339, nanoseconds, as Go prints them) and the explorer's file times (`2024-05-01 12:00:00`). A time
//! outside jiff's range (years -9999 to 9999, e.g. a crafted mtime) prints as `@SECONDS`.

use std::time::SystemTime;

use jiff::Timestamp;

/// `2025-01-31T12:34:56.789Z`; a time before 1970 prints as the epoch.
#[must_use]
pub fn rfc3339_millis(t: SystemTime) -> String {
    let ts = Timestamp::try_from(t)
        .ok()
        .filter(|ts| *ts >= Timestamp::UNIX_EPOCH)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `2025-01-31T12:34:56.000000005Z` from seconds and nanoseconds since the epoch.
#[must_use]
pub fn rfc3339_nanos(unix: i64, nsec: u32) -> String {
    match at(unix, nsec) {
        Some(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        None => format!("@{unix}"),
    }
}

/// `2025-01-31T12:34:56Z` from seconds since the epoch.
#[must_use]
pub fn rfc3339_secs(unix: i64) -> String {
    match at(unix, 0) {
        Some(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("@{unix}"),
    }
}

/// `2024-05-01 12:00:00` from seconds since the epoch.
#[must_use]
pub fn date_time(secs: i64) -> String {
    match at(secs, 0) {
        Some(ts) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        None => format!("@{secs}"),
    }
}

fn at(secs: i64, nsec: u32) -> Option<Timestamp> {
    Timestamp::new(
        secs,
        i32::try_from(nsec).ok().filter(|n| *n < 1_000_000_000)?,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_four_shapes() {
        assert_eq!(rfc3339_secs(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(1_999_999)),
            "1970-01-01T00:00:00.001Z",
            "truncated, not rounded"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(rfc3339_nanos(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_795_776_586, 5),
            "2026-11-27T10:49:46.000000005Z"
        );
        // Go's zero time, which containerd stores for "never".
        assert_eq!(
            rfc3339_nanos(-62_135_596_800, 0),
            "0001-01-01T00:00:00.000000000Z"
        );
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(date_time(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn out_of_range_times_print_their_seconds() {
        assert_eq!(date_time(i64::MAX), format!("@{}", i64::MAX));
        assert_eq!(rfc3339_nanos(i64::MIN, 0), format!("@{}", i64::MIN));
        assert_eq!(rfc3339_nanos(0, 2_000_000_000), "@0");
    }
}
