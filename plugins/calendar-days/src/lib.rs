//! Calendar days in a time zone chosen per key: each record falls in the local day
//! (midnight to midnight) of its key's time zone, so days around daylight-saving
//! changes last 23 or 25 hours.
//!
//! ```yaml
//! config:
//!   zone: UTC                              # the default time zone
//!   zones: { ana: America/New_York }       # per-key time zones (keys as strings)
//! ```

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use millrace_sdk::{Config, Element, Error, Window, WindowFn};
use serde_json::Value;

/// The calendar-day window function.
pub struct CalendarDays {
    default: TimeZone,
    zones: HashMap<String, TimeZone>,
}

fn zone(name: &str) -> Result<TimeZone, Error> {
    TimeZone::get(name).map_err(|err| Error::new(format!("unknown time zone {name:?}: {err}")))
}

impl CalendarDays {
    fn zone_for(&self, key: &Value) -> &TimeZone {
        let name = match key {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.zones.get(&name).unwrap_or(&self.default)
    }

    /// The local day containing `millis` in `tz`.
    pub fn day(tz: &TimeZone, millis: i64) -> Result<Window, Error> {
        let instant = Timestamp::from_millisecond(millis)?;
        let date = instant.to_zoned(tz.clone()).date();
        let start = date.to_zoned(tz.clone())?.timestamp().as_millisecond();
        let end = date
            .tomorrow()?
            .to_zoned(tz.clone())?
            .timestamp()
            .as_millisecond();
        Ok(Window::new(start, end))
    }
}

impl WindowFn for CalendarDays {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let default = zone(
            &config
                .get::<String>("zone")?
                .unwrap_or_else(|| "UTC".to_owned()),
        )?;
        let mut zones = HashMap::new();
        for (key, name) in config
            .get::<HashMap<String, String>>("zones")?
            .unwrap_or_default()
        {
            zones.insert(key, zone(&name)?);
        }
        Ok(CalendarDays { default, zones })
    }

    fn assign(&self, element: &Element<Value>) -> Result<Vec<Window>, Error> {
        Ok(vec![Self::day(
            self.zone_for(&element.key),
            element.timestamp,
        )?])
    }
}

millrace_sdk::export!(window CalendarDays);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_the_zone_including_daylight_saving() {
        // 2026-11-01 is the day New York leaves daylight saving time: 25 hours long.
        let ny = zone("America/New_York").unwrap();
        let noon = Timestamp::from_second(1_793_548_800)
            .unwrap()
            .as_millisecond(); // 2026-11-01T14:40Z
        let day = CalendarDays::day(&ny, noon).unwrap();
        assert_eq!(day.end - day.start, 25 * 3_600_000);
        let utc = zone("UTC").unwrap();
        let day = CalendarDays::day(&utc, 0).unwrap();
        assert_eq!((day.start, day.end), (0, 86_400_000));
    }
}
