//! Joins two inputs of a `cogroup` per key and window: for each pane
//! (`{"persons": [...], "auctions": [...]}`), one `{"left": l, "right": r}` per
//! pair of a left and a right value, under the pane's key and time. An outer
//! join also emits each value of a side with nothing to pair, with `null` for the
//! other side, as SQL does.
//!
//! ```yaml
//! - name: joined
//!   inputs: [persons, auctions]
//!   cogroup: {}
//! - pardo:
//!     plugin: plugins/join
//!     config:
//!       left: persons        # the cogroup input on the left
//!       right: auctions      # the cogroup input on the right
//!       kind: inner          # inner (the default), left, right or outer
//! ```
//!
//! Each output takes its pane's window, timing and retraction flag, so under a
//! retracting window a withdrawn joined pane withdraws every pair it gave. A pane
//! without the `left` or `right` list is a dead letter naming the lists it has.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Which unpaired values a join keeps.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    /// Pairs only.
    #[default]
    Inner,
    /// Pairs, and each left value that has no right one.
    Left,
    /// Pairs, and each right value that has no left one.
    Right,
    /// Pairs, and each value of either side that has none on the other.
    Outer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    left: String,
    right: String,
    #[serde(default)]
    kind: Kind,
}

/// The join DoFn.
pub struct Join {
    settings: Settings,
}

impl Join {
    fn side<'a>(&self, pane: &'a Map<String, Value>, name: &str) -> Result<&'a [Value], Error> {
        match pane.get(name) {
            Some(Value::Array(values)) => Ok(values),
            Some(other) => Err(Error::new(format!(
                "the pane's {name:?} is not a list of values but {other}"
            ))),
            None => {
                let has: Vec<&str> = pane.keys().map(String::as_str).collect();
                Err(Error::new(format!(
                    "the pane has no input {name:?} (it has {}): is this a cogroup's output, and are `left` and `right` its inputs?",
                    has.join(", ")
                )))
            }
        }
    }
}

impl DoFn for Join {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let settings: Settings = config.parse()?;
        if settings.left == settings.right {
            return Err(Error::new(format!(
                "config \"left\" and \"right\" are both {:?}: name two inputs of the cogroup",
                settings.left
            )));
        }
        Ok(Join { settings })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let Value::Object(pane) = &element.value else {
            return Err(Error::new(format!(
                "expected a cogroup's pane, an object of lists, not {}",
                element.value
            )));
        };
        let left = self.side(pane, &self.settings.left)?;
        let right = self.side(pane, &self.settings.right)?;
        let kind = self.settings.kind;
        for l in left {
            for r in right {
                out.emit(&json!({"left": l, "right": r}))?;
            }
        }
        if right.is_empty() && matches!(kind, Kind::Left | Kind::Outer) {
            for l in left {
                out.emit(&json!({"left": l, "right": null}))?;
            }
        }
        if left.is_empty() && matches!(kind, Kind::Right | Kind::Outer) {
            for r in right {
                out.emit(&json!({"left": null, "right": r}))?;
            }
        }
        Ok(())
    }
}

millrace_sdk::export!(dofn Join);

#[cfg(test)]
mod tests {
    use super::*;
    use millrace_sdk::Window;

    fn join(kind: &str, pane: Value) -> Result<Vec<Value>, Error> {
        let config = json!({"left": "p", "right": "a", "kind": kind});
        let mut dofn = Join::new(&Config::from_value(config))?;
        let mut out = Emitter::default();
        dofn.process(
            Element::new(json!("k"), pane, 9, Window::new(0, 10)),
            &mut out,
        )?;
        Ok(out.values())
    }

    fn pair(left: Value, right: Value) -> Value {
        json!({"left": left, "right": right})
    }

    #[test]
    fn each_kind_pairs_every_left_with_every_right() {
        let both = json!({"p": ["ann"], "a": [7, 9]});
        let pairs = vec![pair(json!("ann"), json!(7)), pair(json!("ann"), json!(9))];
        for kind in ["inner", "left", "right", "outer"] {
            assert_eq!(join(kind, both.clone()).unwrap(), pairs, "{kind}");
        }
    }

    #[test]
    fn outer_kinds_keep_the_side_with_nothing_to_pair() {
        let none: Vec<Value> = Vec::new();
        let persons_only = json!({"p": ["ann", "bob"], "a": []});
        let auctions_only = json!({"p": [], "a": [7]});
        let ann_bob = vec![
            pair(json!("ann"), Value::Null),
            pair(json!("bob"), Value::Null),
        ];
        let seven = vec![pair(Value::Null, json!(7))];
        assert_eq!(join("inner", persons_only.clone()).unwrap(), none);
        assert_eq!(join("left", persons_only.clone()).unwrap(), ann_bob);
        assert_eq!(join("right", persons_only.clone()).unwrap(), none);
        assert_eq!(join("outer", persons_only).unwrap(), ann_bob);
        assert_eq!(join("inner", auctions_only.clone()).unwrap(), none);
        assert_eq!(join("left", auctions_only.clone()).unwrap(), none);
        assert_eq!(join("right", auctions_only.clone()).unwrap(), seven);
        assert_eq!(join("outer", auctions_only).unwrap(), seven);
    }

    #[test]
    fn bad_panes_and_settings_say_what_is_wrong() {
        let message = join("inner", json!({"x": [], "a": []})).unwrap_err();
        assert!(
            message.message().contains("no input \"p\" (it has a, x)"),
            "{}",
            message.message()
        );
        assert!(join("inner", json!(3)).is_err());
        assert!(Join::new(&Config::from_value(json!({"left": "p", "right": "p"}))).is_err());
        assert!(
            Join::new(&Config::from_value(
                json!({"left": "p", "right": "a", "kind": "cross"})
            ))
            .is_err()
        );
    }
}
