//! Event time and processing time: timestamps, durations and their text forms.
//!
//! Every time in millrace is an `i64` count of milliseconds since the Unix epoch.
//! The two ends of the range stand for the ends of time: a watermark of
//! [`MIN_TIMESTAMP`] means "nothing is known yet" and one of [`MAX_TIMESTAMP`] means
//! "the input is complete".
//!
//! ```
//! use millrace::time::{parse_duration, format_duration};
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

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a duration such as 250ms, 30s, 1m, 2h, 1d or a number of milliseconds, found {found:?}"
)]
pub struct DurationError {
    /// The text that was not a duration.
    pub found: String,
}

/// Parses a duration written as milliseconds (`1500`) or as one or more
/// number-and-unit parts (`250ms`, `30s`, `1m`, `2h`, `1d`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let error = || DurationError {
        found: text.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(error());
    }
    if let Ok(millis) = trimmed.parse::<i64>() {
        return if millis >= 0 {
            Ok(millis)
        } else {
            Err(error())
        };
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
    Ok(total)
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
/// milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    let timestamp: jiff::Timestamp = text
        .parse()
        .map_err(|err| format!("expected an RFC 3339 timestamp, found {text:?}: {err}"))?;
    Ok(timestamp.as_millisecond())
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
        .map(|elapsed| elapsed.as_millis() as Timestamp)
        .unwrap_or(0)
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
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
