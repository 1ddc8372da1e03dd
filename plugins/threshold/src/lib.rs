//! A data-driven trigger for anomalies (paper §3.3.6): fires when a value crosses a
//! threshold from below, and re-arms once a value falls below it again.
//!
//! ```yaml
//! trigger: { repeatedly: { plugin: plugins/threshold, config: { threshold: 100, field: latency } } }
//! ```
//!
//! `field` picks a number out of object values; without it the value itself is read.

use millrace_sdk::{Config, Element, Error, Trigger, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The threshold trigger.
pub struct Threshold {
    threshold: f64,
    field: Option<String>,
}

/// Whether the last value seen was at or above the threshold.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Above(bool);

impl Threshold {
    fn reading(&self, value: &Value) -> Option<f64> {
        match &self.field {
            Some(field) => value.get(field)?.as_f64(),
            None => value.as_f64(),
        }
    }
}

impl Trigger for Threshold {
    type Input = Value;
    type State = Above;

    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Threshold {
            threshold: config.require("threshold")?,
            field: config.get("field")?,
        })
    }

    fn on_elements(
        &self,
        above: &mut Above,
        _window: Window,
        elements: &[Element<Value>],
    ) -> Result<bool, Error> {
        let mut fire = false;
        for element in elements {
            let Some(reading) = self.reading(&element.value) else {
                continue;
            };
            let now_above = reading >= self.threshold;
            fire |= now_above && !above.0;
            above.0 = now_above;
        }
        Ok(fire)
    }
}

millrace_sdk::export!(trigger Threshold);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fires_on_each_crossing_from_below() {
        let trigger = Threshold::new(&Config::from_value(json!({"threshold": 10}))).unwrap();
        let mut above = Above::default();
        let element = |v: i64| Element::new(Value::Null, json!(v), 0, Window::GLOBAL);
        assert!(
            !trigger
                .on_elements(&mut above, Window::GLOBAL, &[element(3), element(9)])
                .unwrap()
        );
        assert!(
            trigger
                .on_elements(&mut above, Window::GLOBAL, &[element(12)])
                .unwrap()
        );
        assert!(
            !trigger
                .on_elements(&mut above, Window::GLOBAL, &[element(15)])
                .unwrap(),
            "still above"
        );
        assert!(
            trigger
                .on_elements(&mut above, Window::GLOBAL, &[element(2), element(11)])
                .unwrap()
        );
    }
}
