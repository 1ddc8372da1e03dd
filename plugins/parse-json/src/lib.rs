//! Parses each value as JSON text (a string holding a JSON object, or an object),
//! keeps the records that match a filter, and re-keys them by a field.
//!
//! Configuration (all optional):
//!
//! ```yaml
//! config:
//!   key: user              # field that becomes the key (dotted paths reach nested fields)
//!   value: score           # field that becomes the value (else the whole object)
//!   timestamp: ts          # field (integer ms) that becomes the event time
//!   where: { type: score } # keep only records whose fields equal these values
//! ```
//!
//! Text that is not JSON, or a record without the key or value field, goes to the
//! dead-letter output with the reason.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The parse/filter/re-key DoFn.
pub struct ParseJson {
    settings: Settings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    key: Option<String>,
    value: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "where", default)]
    filter: Map<String, Value>,
}

fn field<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(object, |value, part| value.get(part))
}

impl DoFn for ParseJson {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        Ok(ParseJson {
            settings: config.parse()?,
        })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let object: Value = match element.value {
            Value::String(text) => serde_json::from_str(&text)
                .map_err(|err| Error::new(format!("not valid JSON: {err}")))?,
            other => other,
        };
        if !object.is_object() {
            return Err(Error::new("expected a JSON object"));
        }
        let keep = self
            .settings
            .filter
            .iter()
            .all(|(name, wanted)| field(&object, name) == Some(wanted));
        if !keep {
            return Ok(());
        }
        let key = match &self.settings.key {
            Some(name) => field(&object, name)
                .cloned()
                .ok_or_else(|| Error::new(format!("missing the key field {name:?}")))?,
            None => element.key,
        };
        let timestamp = match &self.settings.timestamp {
            Some(name) => field(&object, name)
                .and_then(Value::as_i64)
                .ok_or_else(|| Error::new(format!("missing the integer time field {name:?}")))?,
            None => element.timestamp,
        };
        let value = match &self.settings.value {
            Some(name) => field(&object, name)
                .cloned()
                .ok_or_else(|| Error::new(format!("missing the value field {name:?}")))?,
            None => object,
        };
        out.emit_at(&key, &value, timestamp)
    }
}

millrace_sdk::export!(dofn ParseJson);

#[cfg(test)]
mod tests {
    use super::*;
    use millrace_sdk::Window;
    use serde_json::json;

    fn run(config: Value, value: Value) -> Result<(Vec<Value>, Vec<Value>), Error> {
        let mut dofn = ParseJson::new(&Config::from_value(config))?;
        let mut out = Emitter::default();
        dofn.process(
            Element::new(Value::Null, value, 5, Window::GLOBAL),
            &mut out,
        )?;
        Ok((out.keys(), out.values()))
    }

    #[test]
    fn parses_filters_and_rekeys() {
        let config = json!({"key": "user", "value": "score", "where": {"type": "score"}});
        let (keys, values) = run(
            config.clone(),
            json!("{\"type\":\"score\",\"user\":\"ann\",\"score\":3}"),
        )
        .unwrap();
        assert_eq!((keys, values), (vec![json!("ann")], vec![json!(3)]));
        let (keys, _) = run(config.clone(), json!({"type": "login", "user": "ann"})).unwrap();
        assert!(keys.is_empty(), "filtered out");
        assert!(
            run(config.clone(), json!("{oops"))
                .unwrap_err()
                .message()
                .starts_with("not valid JSON")
        );
        assert_eq!(
            run(config, json!({"type": "score", "score": 1}))
                .unwrap_err()
                .message(),
            "missing the key field \"user\""
        );
    }
}
