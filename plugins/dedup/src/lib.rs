//! Drops repeats: a record whose id was already seen for the same key within the
//! horizon (in event time) is not passed on. Each id is remembered in keyed state
//! and forgotten by an event-time timer once the watermark passes `ts + horizon`.
//! Repeats may go to a side output instead of nowhere.
//!
//! ```yaml
//! pardo:
//!   plugin: plugins/dedup
//!   outputs: [repeats]       # only with `repeats` below
//!   config:
//!     id: event_id           # the field of the value that identifies a record (else the whole value)
//!     horizon: 600000        # how long an id is remembered, in milliseconds of event time
//!     repeats: repeats       # optional: the side output repeats go to
//! ```

use millrace_sdk::{Config, DoFn, Element, Emitter, Error, KeyedState, Timer};
use serde_json::Value;

/// The dedup DoFn.
pub struct Dedup {
    id: Option<String>,
    horizon: i64,
    repeats: Option<String>,
}

impl DoFn for Dedup {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let horizon = config.require::<i64>("horizon")?;
        if horizon <= 0 {
            return Err(Error::new(
                "config \"horizon\" must be a positive number of milliseconds",
            ));
        }
        Ok(Dedup {
            id: config.get("id")?,
            horizon,
            repeats: config.get("repeats")?,
        })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let id = match &self.id {
            Some(field) => element
                .value
                .get(field)
                .ok_or_else(|| Error::new(format!("missing the id field {field:?}")))?
                .to_string(),
            None => element.value.to_string(),
        };
        let name = format!("seen:{id}");
        if element.state::<i64>(&name)?.is_some() {
            millrace_sdk::counter_add("duplicates", 1);
            return match &self.repeats {
                Some(output) => out.emit_to(output, &element.value),
                None => Ok(()),
            };
        }
        element.set_state(&name, &element.timestamp)?;
        element.set_event_timer(&name, element.timestamp.saturating_add(self.horizon));
        out.emit(&element.value)
    }

    fn on_timer(&mut self, timer: Timer, _out: &mut Emitter) -> Result<(), Error> {
        // The horizon has passed: forget the id.
        timer.clear_state(&timer.name);
        Ok(())
    }
}

millrace_sdk::export!(dofn Dedup);
