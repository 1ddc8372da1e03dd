//! A continuous join of two inputs per key, with no windows: each pair of a left
//! and a right value of the same key whose event times are at most `within`
//! apart, as Flink's interval join. The step reads both inputs, which arrive
//! tagged with their input's name (`{"input": "persons", "value": {...}}`), and
//! keeps each side's values in keyed state until no on-time value of the other
//! side can pair with them any more.
//!
//! ```yaml
//! - name: joined
//!   inputs: [persons, auctions]
//!   pardo:
//!     plugin: plugins/interval-join
//!     config:
//!       left: persons      # the input on the left
//!       right: auctions    # the input on the right
//!       within: 60000      # milliseconds of event time between a pair's values
//!       kind: inner        # inner (the default), left, right or outer
//! ```
//!
//! A pair is emitted as `{"left": l, "right": r}` when its second value arrives,
//! at the later of the two event times. A value is forgotten by an event-time
//! timer once the watermark passes its time plus `within`; an outer kind then
//! emits each of its side's values that never paired, with `null` for the other
//! side, at that time. A value that arrives after its partner was forgotten
//! (late data) does not pair with it. A value of another input is a dead letter.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error, KeyedState, Timer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which unpaired values the join emits when it forgets them.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    #[default]
    Inner,
    Left,
    Right,
    Outer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    left: String,
    right: String,
    within: i64,
    #[serde(default)]
    kind: Kind,
}

/// A side of the join.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

impl Side {
    /// Its keyed state's name.
    fn state(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// A value kept in a side's state. The state encoding is not self-describing, so
/// the value is kept as JSON text.
#[derive(Serialize, Deserialize)]
struct Kept {
    time: i64,
    value: String,
    paired: bool,
}

/// The one cleanup timer of a key.
const CLEANUP: &str = "cleanup";

/// The interval join DoFn.
pub struct IntervalJoin {
    settings: Settings,
}

impl IntervalJoin {
    fn pair(&self, side: Side, this: &Value, other: &Value) -> Value {
        match side {
            Side::Left => json!({"left": this, "right": other}),
            Side::Right => json!({"left": other, "right": this}),
        }
    }

    /// Whether `side`'s unpaired values are emitted when forgotten.
    fn keeps_unpaired(&self, side: Side) -> bool {
        matches!(
            (self.settings.kind, side),
            (Kind::Outer, _) | (Kind::Left, Side::Left) | (Kind::Right, Side::Right)
        )
    }

    /// Moves the key's cleanup timer to when its earliest kept value expires.
    fn schedule(&self, state: &impl KeyedState, left: &[Kept], right: &[Kept]) {
        match left.iter().chain(right).map(|kept| kept.time).min() {
            Some(earliest) => {
                state.set_event_timer(CLEANUP, earliest.saturating_add(self.settings.within));
            }
            None => state.clear_timer(CLEANUP),
        }
    }
}

fn load(state: &impl KeyedState, side: Side) -> Result<Vec<Kept>, Error> {
    Ok(state.state(side.state())?.unwrap_or_default())
}

fn store(state: &impl KeyedState, side: Side, kept: &[Kept]) -> Result<(), Error> {
    if kept.is_empty() {
        state.clear_state(side.state());
        Ok(())
    } else {
        state.set_state(side.state(), &kept)
    }
}

impl DoFn for IntervalJoin {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let settings: Settings = config.parse()?;
        if settings.left == settings.right {
            return Err(Error::new(format!(
                "config \"left\" and \"right\" are both {:?}: name the step's two inputs",
                settings.left
            )));
        }
        if settings.within < 0 {
            return Err(Error::new(
                "config \"within\" must be a number of milliseconds, 0 or more",
            ));
        }
        Ok(IntervalJoin { settings })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let input = element.value.get("input").and_then(Value::as_str);
        let side = match input {
            Some(name) if name == self.settings.left => Side::Left,
            Some(name) if name == self.settings.right => Side::Right,
            _ => {
                return Err(Error::new(format!(
                    "the value is not from the input {:?} or {:?} (it is tagged {}): does the step read both as `inputs`?",
                    self.settings.left,
                    self.settings.right,
                    input.map_or_else(|| "with no input".to_owned(), |name| format!("{name:?}"))
                )));
            }
        };
        let value = &element.value["value"];
        let time = element.timestamp;
        let mut mine = load(&element, side)?;
        let mut theirs = load(&element, side.other())?;
        let mut paired = false;
        for kept in &mut theirs {
            if kept.time.abs_diff(time) <= self.settings.within.unsigned_abs() {
                let other: Value = serde_json::from_str(&kept.value)?;
                out.emit_at(
                    &element.key,
                    &self.pair(side, value, &other),
                    kept.time.max(time),
                )?;
                kept.paired = true;
                paired = true;
            }
        }
        mine.push(Kept {
            time,
            value: value.to_string(),
            paired,
        });
        store(&element, side, &mine)?;
        if paired {
            // Only a pairing changes the other side's values (their `paired` flags).
            store(&element, side.other(), &theirs)?;
        }
        let (left, right) = match side {
            Side::Left => (&mine, &theirs),
            Side::Right => (&theirs, &mine),
        };
        self.schedule(&element, left, right);
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Emitter) -> Result<(), Error> {
        let mut sides = [load(&timer, Side::Left)?, load(&timer, Side::Right)?];
        for (side, kept) in [Side::Left, Side::Right].into_iter().zip(&mut sides) {
            let (expired, live): (Vec<Kept>, Vec<Kept>) = kept
                .drain(..)
                .partition(|k| k.time.saturating_add(self.settings.within) <= timer.time);
            if self.keeps_unpaired(side) {
                for unpaired in expired.iter().filter(|k| !k.paired) {
                    let value: Value = serde_json::from_str(&unpaired.value)?;
                    out.emit_at(
                        &timer.key,
                        &self.pair(side, &value, &Value::Null),
                        timer.time,
                    )?;
                }
            }
            *kept = live;
            store(&timer, side, kept)?;
        }
        self.schedule(&timer, &sides[0], &sides[1]);
        Ok(())
    }
}

millrace_sdk::export!(dofn IntervalJoin);
