//! CoGroupByKey: several keyed inputs grouped per key and window under one
//! windowing strategy, as Beam expands it — each input's values tagged with the
//! input's name ([`tag_input`]), the tagged inputs flattened into one grouping that
//! collects them (so any trigger, accumulation mode and retraction works as for a
//! single input), and each pane's collected list laid out per input
//! ([`lay_out`]):
//!
//! ```json
//! {"key": "p1", "value": {"persons": [{"name": "Ann"}], "auctions": [{"id": 7}, {"id": 9}]}, …}
//! ```
//!
//! Every input has its list, empty when the window had none of its values. A
//! retraction from any input takes its value out of the group; in retracting mode
//! the next pane withdraws the joined pane it changes.

use serde_json::{Map, Value};

use crate::pipeline::MapRecords;
use crate::record::Record;

/// The field of a tagged value that names its input.
const INPUT: &str = "input";
/// The field of a tagged value that holds the value.
const VALUE: &str = "value";

/// A step named `name` that tags each value as coming from `input`.
pub fn tag_input(name: String, input: String) -> MapRecords<impl FnMut(&mut Record) + Send> {
    let input = Value::from(input);
    MapRecords::new(name, move |record: &mut Record| {
        let mut tagged = Map::with_capacity(2);
        tagged.insert(INPUT.to_owned(), input.clone());
        tagged.insert(VALUE.to_owned(), record.value.take());
        record.value = Value::Object(tagged);
    })
}

/// A step named `name` that lays out each pane of collected tagged values as
/// `{input: [values]}` for every one of `inputs`, in their order.
pub fn lay_out(name: String, inputs: Vec<String>) -> MapRecords<impl FnMut(&mut Record) + Send> {
    MapRecords::new(name, move |record: &mut Record| {
        let mut per_input: Vec<Vec<Value>> = vec![Vec::new(); inputs.len()];
        if let Value::Array(tagged) = record.value.take() {
            for mut item in tagged {
                let value = item.get_mut(VALUE).map(Value::take).unwrap_or_default();
                let input = item.get(INPUT).and_then(Value::as_str);
                if let Some(index) = inputs.iter().position(|name| Some(name.as_str()) == input) {
                    per_input[index].push(value);
                }
            }
        }
        record.value = Value::Object(
            inputs
                .iter()
                .cloned()
                .zip(per_input.into_iter().map(Value::Array))
                .collect(),
        );
    })
}
