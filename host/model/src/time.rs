//! Event time and processing time: timestamps, durations and their text forms.
//!
//! Every time in millrace is an `i64` count of milliseconds since the Unix epoch.
//! The two ends of the range stand for the ends of time: a watermark of
//! [`MIN_TIMESTAMP`] means "nothing is known yet" and one of [`MAX_TIMESTAMP`] means
//! "the input is complete".
//!
//! Times that come from outside (records, test-stream watermarks and clocks, spec
//! settings) must lie in the supported range [`MIN_EVENT_TIME`]..=[`MAX_EVENT_TIME`],
//! checked by [`event_time`], and durations are at most [`MAX_DURATION`]. Together
//! they keep every window bound, garbage-collection time and watermark computed from
//! them far inside `i64`, so that window arithmetic never wraps.
//!
//! ```
//! use millrace_model::time::{parse_duration, format_duration};
//! assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
//! assert_eq!(format_duration(7_200_000), "2h");
//! ```

use std::fmt;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The start of time, −∞: the watermark before anything is known.
pub const MIN_TIMESTAMP: Timestamp = i64::MIN;

/// The end of time, +∞: the watermark once the input is complete.
pub const MAX_TIMESTAMP: Timestamp = i64::MAX;

/// The largest timestamp an element or window can carry: the global window's max
/// timestamp. One below [`MAX_TIMESTAMP`] so that a watermark of +∞ passes it.
pub const END_OF_GLOBAL_WINDOW: Timestamp = i64::MAX - 1;

/// The earliest event time a record can carry: Beam's
/// `BoundedWindow.TIMESTAMP_MIN_VALUE` (the smallest `i64` of microseconds, in
/// milliseconds), about 292,000 years before 1970.
pub const MIN_EVENT_TIME: Timestamp = -9_223_372_036_854_775;

/// The latest event time a record can carry: Beam's `BoundedWindow.TIMESTAMP_MAX_VALUE`.
/// It is far below [`END_OF_GLOBAL_WINDOW`], so every such record is inside the
/// global window and a watermark of +∞ passes every window built from it.
pub const MAX_EVENT_TIME: Timestamp = 9_223_372_036_854_775;

/// The longest duration a spec can give (window sizes, gaps, periods, offsets,
/// lateness, out-of-orderness): the width of the supported range, about 584,000
/// years. A supported time plus or minus a few of them stays far inside `i64`.
pub const MAX_DURATION: i64 = MAX_EVENT_TIME - MIN_EVENT_TIME;

/// A time outside the supported range of event times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the time {0} ms is outside the supported range of event times, {MIN_EVENT_TIME} to \
     {MAX_EVENT_TIME} ms (about 292,000 years either side of 1970)"
)]
pub struct OutOfRange(pub i64);

/// Checks a time that comes from outside the engine — a record's event time, a test
/// stream's watermark or clock, a generator's start. Every source goes through this
/// one function, so nothing past it needs to fear the ends of `i64`.
#[inline]
pub fn event_time(millis: i64) -> Result<Timestamp, OutOfRange> {
    if (MIN_EVENT_TIME..=MAX_EVENT_TIME).contains(&millis) {
        Ok(millis)
    } else {
        Err(OutOfRange(millis))
    }
}

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a duration such as 250ms, 30s, 1m, 2h, 1d or a number of milliseconds, at most \
     {MAX_DURATION}ms (about 584,000 years), found {found:?}"
)]
pub struct DurationError {
    /// The text that was not a duration.
    pub found: String,
}

/// Parses a duration written as milliseconds (`1500`) or as one or more
/// number-and-unit parts (`250ms`, `30s`, `1m`, `2h`, `1d`, `1h30m`), at most
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let error = || DurationError {
        found: text.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    if let Ok(millis) = trimmed.parse::<i64>() {
        return check_duration(millis).ok_or_else(error);
    }
    let mut total: i64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(error());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(error()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(error)?;
    }
    check_duration(total).ok_or_else(error)
}

/// `millis` if it is a duration a spec may give: from zero to [`MAX_DURATION`].
pub fn check_duration(millis: i64) -> Option<i64> {
    (0..=MAX_DURATION).contains(&millis).then_some(millis)
}

/// Formats milliseconds since the epoch as an RFC 3339 time in UTC.
pub fn format_timestamp(millis: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map_or_else(|_| millis.to_string(), |time| time.to_string())
}

/// Formats a duration in the largest units that represent it exactly, the inverse of
/// [`parse_duration`].
pub fn format_duration(millis: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    if millis == 0 {
        return "0ms".to_owned();
    }
    let mut rest = millis.unsigned_abs();
    let mut out = String::new();
    if millis < 0 {
        out.push('-');
    }
    for (size, unit) in UNITS {
        let size = size as u64;
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Parses an RFC 3339 timestamp (`2026-11-21T12:00:26Z`, any offset) into
/// milliseconds since the epoch. Every such time from year 0000 to 9999 is accepted,
/// including those that jiff's own timestamps cannot hold (it keeps a day's margin
/// for offsets, so `9999-12-31T23:59:59Z` is out of its range).
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    use jiff::fmt::temporal::Pieces;
    let expected = || format!("expected an RFC 3339 timestamp, found {text:?}");
    let pieces = Pieces::parse(text).map_err(|err| format!("{}: {err}", expected()))?;
    let (Some(time), Some(offset)) = (pieces.time(), pieces.to_numeric_offset()) else {
        return Err(format!(
            "{}: it needs a time of day and an offset (Z or +01:00)",
            expected()
        ));
    };
    // Civil arithmetic, which covers every year jiff parses; the offset moves the
    // local time to UTC.
    let epoch = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    let local = pieces.date().to_datetime(time).duration_since(epoch);
    let millis = local.as_millis() - i128::from(offset.seconds()) * 1000;
    let millis = i64::try_from(millis).map_err(|_| format!("{}: out of range", expected()))?;
    event_time(millis).map_err(|err| err.to_string())
}

/// Displays a timestamp for people: `-inf`, `+inf`, or RFC 3339 with milliseconds.
#[derive(Clone, Copy)]
pub struct DisplayTimestamp(pub Timestamp);

impl fmt::Display for DisplayTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            MIN_TIMESTAMP => f.write_str("-inf"),
            MAX_TIMESTAMP => f.write_str("+inf"),
            millis => match jiff::Timestamp::from_millisecond(millis) {
                Ok(ts) => write!(f, "{ts}"),
                Err(_) => write!(f, "{millis}ms"),
            },
        }
    }
}

/// The current wall-clock time in milliseconds since the epoch.
pub fn wall_clock_now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_combinations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1m"), Ok(60_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("1000d"), Ok(86_400_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1500"), Ok(1500));
        assert_eq!(parse_duration(" 0 "), Ok(0));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "m", "5x", "-3", "1.5s", "s5", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for millis in [
            0,
            1,
            999,
            1000,
            60_000,
            5_400_000,
            86_400_000_000,
            90_061_001,
        ] {
            assert_eq!(parse_duration(&format_duration(millis)), Ok(millis));
        }
        assert_eq!(format_duration(90_000), "1m30s");
    }

    #[test]
    fn reads_rfc3339_with_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), Ok(500));
        assert_eq!(
            parse_rfc3339("2026-11-21T12:00:26.123-05:30"),
            Ok(1_795_282_226_123)
        );
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("2026-11-21").is_err());
        assert!(parse_rfc3339("2026-11-21T12:00:00").is_err());
    }

    #[test]
    fn reads_every_rfc3339_year_including_the_ends() {
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Ok(253_402_300_799_000)
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.999-23:59"),
            Ok(253_402_300_799_999 + 86_340_000)
        );
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Ok(-62_167_219_200_000)
        );
    }

    #[test]
    fn event_times_are_checked_against_the_supported_range() {
        assert_eq!(event_time(0), Ok(0));
        assert_eq!(event_time(MIN_EVENT_TIME), Ok(MIN_EVENT_TIME));
        assert_eq!(event_time(MAX_EVENT_TIME), Ok(MAX_EVENT_TIME));
        for bad in [
            i64::MIN,
            i64::MIN + 1,
            MIN_EVENT_TIME - 1,
            MAX_EVENT_TIME + 1,
            i64::MAX,
        ] {
            let err = event_time(bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("-9223372036854775 to 9223372036854775")
            );
        }
    }

    #[test]
    fn durations_longer_than_the_supported_range_are_refused() {
        assert_eq!(parse_duration(&MAX_DURATION.to_string()), Ok(MAX_DURATION));
        for bad in ["99999999999d", "213503983d", "18446744073709551"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.to_string().contains("at most"), "{bad}: {err}");
        }
    }
}
