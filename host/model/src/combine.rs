//! Combine functions: how a window's values become one output value.
//!
//! A [`CombineFn`] works on many (key, window) groups per call — one call per bundle,
//! not per element — because a CombineFn may live in a WebAssembly plugin where every
//! call crosses a sandbox boundary. Accumulators are owned by the grouping operator
//! and handed to the function in batches.
//!
//! Retractions are subtracted with the function's inverse where it has one
//! ([`Inversion`]); where it has none the operator keeps the window's inputs and
//! recomputes.
//!
//! ```
//! use millrace_model::combine::{Builtin, CombineFn, CombineInput};
//! use serde_json::json;
//!
//! let mut sum = Builtin::Sum.function();
//! let mut accs = vec![sum.create_accumulator()];
//! let (five, two) = (json!(5), json!(2));
//! let inputs = [
//!     CombineInput { value: &five, retraction: false },
//!     CombineInput { value: &two, retraction: true },
//! ];
//! assert!(sum.add_inputs(&mut accs, &[0..2], &inputs).unwrap().is_empty());
//! assert_eq!(sum.extract_outputs(&[&accs[0]]).unwrap(), vec![Ok(json!(3))]);
//! ```

use std::fmt;
use std::ops::Range;

use serde_json::Number;

use crate::pipeline::{NoSwap, PluginStatus, Swap, SwapError};
use crate::record::Value;

/// One input to a combine: a value, or the retraction of a value added before.
#[derive(Clone, Copy, Debug)]
pub struct CombineInput<'a> {
    /// The value.
    pub value: &'a Value,
    /// Whether the value is being withdrawn.
    pub retraction: bool,
}

/// An input the function could not take, with the reason. The accumulator is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Index of the input in the batch.
    pub input: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// How a function takes back an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inversion {
    /// Retractions subtract, even from an accumulator that never saw the value
    /// (sum, count, mean): works in every accumulation mode.
    Subtract,
    /// A retraction removes a value the accumulator holds (collect): needs the
    /// accumulator to hold every value, i.e. accumulating or retracting mode.
    Remove,
    /// No inverse (min, max): the operator recomputes from the window's inputs.
    None,
}

/// A combine function failed as a whole (not on one input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{function}: {message}")]
pub struct CombineError {
    /// The function's name.
    pub function: String,
    /// What went wrong.
    pub message: String,
}

/// A combine function; see the module docs.
pub trait CombineFn: Send + 'static {
    /// The running state of one (key, window) group; checkpoints store it.
    type Accumulator: Clone
        + Default
        + fmt::Debug
        + Send
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static;

    /// A name for messages, e.g. `sum` or a plugin's path.
    fn name(&self) -> &str;

    /// What a checkpoint's state depends on besides the accumulator format: a
    /// built-in's name. A plugin returns its kind only, since another version
    /// with the same accumulator format may take over its state (a hot swap).
    fn state_identity(&self) -> String {
        self.name().to_owned()
    }

    /// Names the accumulator's encoding: state written by a function with another
    /// format is not resumed.
    fn accumulator_format(&self) -> String {
        "1".to_owned()
    }

    /// How retractions are taken back.
    fn inversion(&self) -> Inversion;

    /// A fresh accumulator.
    fn create_accumulator(&mut self) -> Self::Accumulator;

    /// Adds `inputs[groups[i]]` to `accumulators[i]` for every group. Retractions are
    /// only passed when [`Self::inversion`] is not [`Inversion::None`]. Returns the
    /// inputs that were rejected; an error means the function cannot go on.
    fn add_inputs(
        &mut self,
        accumulators: &mut [Self::Accumulator],
        groups: &[Range<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Vec<Rejected>, CombineError>;

    /// Merges accumulators into one, for windows that merge.
    fn merge_accumulators(
        &mut self,
        accumulators: Vec<Self::Accumulator>,
    ) -> Result<Self::Accumulator, CombineError>;

    /// The output value of each accumulator, or why that one failed; an error means
    /// the function cannot go on.
    fn extract_outputs(
        &mut self,
        accumulators: &[&Self::Accumulator],
    ) -> Result<Vec<Result<Value, String>>, CombineError>;

    /// The plugin behind the function, if it is one that can be swapped (see
    /// [`crate::pipeline::Swap`]).
    fn plugin(&self) -> Option<PluginStatus> {
        None
    }
}

/// The built-in combine functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Sum of numbers; integers stay integers.
    Sum,
    /// Number of elements.
    Count,
    /// Smallest number.
    Min,
    /// Largest number.
    Max,
    /// Arithmetic mean of numbers (null when empty).
    Mean,
    /// All values, in arrival order.
    Collect,
}

impl Builtin {
    /// Every built-in with its spec name.
    pub const ALL: [(&'static str, Builtin); 6] = [
        ("sum", Builtin::Sum),
        ("count", Builtin::Count),
        ("min", Builtin::Min),
        ("max", Builtin::Max),
        ("mean", Builtin::Mean),
        ("collect", Builtin::Collect),
    ];

    /// The built-in named `name`, if any.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::ALL
            .iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, builtin)| *builtin)
    }

    /// The spec name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, builtin)| *builtin == self)
            .map_or("?", |(name, _)| *name)
    }

    /// How this built-in takes back retractions.
    pub fn inversion(self) -> Inversion {
        match self {
            Builtin::Sum | Builtin::Count | Builtin::Mean => Inversion::Subtract,
            Builtin::Collect => Inversion::Remove,
            Builtin::Min | Builtin::Max => Inversion::None,
        }
    }

    /// The built-in as a [`CombineFn`] over [`BuiltinAccumulator`]s.
    pub fn function(self) -> BuiltinFn {
        BuiltinFn { builtin: self }
    }
}

/// Running state of a built-in.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BuiltinAccumulator {
    /// Nothing added yet.
    #[default]
    Empty,
    /// Sum and mean: the running total and element count.
    Sum {
        /// Total of the integer inputs.
        int: i128,
        /// Total of the fractional inputs.
        float: f64,
        /// Net number of fractional inputs (output is an integer when zero).
        floats: i64,
        /// Net number of inputs.
        count: i64,
    },
    /// Count.
    Count(i64),
    /// Min or max so far.
    Extremum(#[serde(with = "crate::state::json")] Value),
    /// Collected values.
    Values(#[serde(with = "crate::state::json::list")] Vec<Value>),
}

/// A built-in combine function.
#[derive(Clone, Debug)]
pub struct BuiltinFn {
    builtin: Builtin,
}

impl BuiltinFn {
    fn add(&self, acc: &mut BuiltinAccumulator, input: CombineInput<'_>) -> Result<(), String> {
        let sign: i64 = if input.retraction { -1 } else { 1 };
        match self.builtin {
            Builtin::Sum | Builtin::Mean => {
                let number = as_number(self.builtin, input.value)?;
                if matches!(acc, BuiltinAccumulator::Empty) {
                    *acc = BuiltinAccumulator::Sum {
                        int: 0,
                        float: 0.0,
                        floats: 0,
                        count: 0,
                    };
                }
                let BuiltinAccumulator::Sum {
                    int,
                    float,
                    floats,
                    count,
                } = acc
                else {
                    unreachable!("sum accumulators are always Sum")
                };
                // The element that would take the total past what the output can
                // hold is rejected (and dead-lettered), the total left as it was.
                let (mut new_int, mut new_float, mut new_floats) = (*int, *float, *floats);
                if let Some(i) = number.as_i64() {
                    new_int = int
                        .checked_add(i128::from(i) * i128::from(sign))
                        .ok_or_else(|| self.overflow("integer"))?;
                } else if let Some(u) = number.as_u64() {
                    new_int = int
                        .checked_add(i128::from(u) * i128::from(sign))
                        .ok_or_else(|| self.overflow("integer"))?;
                } else {
                    new_float += number.as_f64().unwrap_or(0.0) * sign as f64;
                    new_floats += sign;
                }
                let fits = if new_floats == 0 && self.builtin == Builtin::Sum {
                    i64::try_from(new_int).is_ok()
                } else {
                    (new_int as f64 + new_float).is_finite()
                };
                if !fits {
                    let kind = if new_floats == 0 && self.builtin == Builtin::Sum {
                        "integer"
                    } else {
                        "float"
                    };
                    return Err(self.overflow(kind));
                }
                (*int, *float, *floats) = (new_int, new_float, new_floats);
                *count += sign;
            }
            Builtin::Count => {
                let current = match acc {
                    BuiltinAccumulator::Count(n) => *n,
                    _ => 0,
                };
                *acc = BuiltinAccumulator::Count(current + sign);
            }
            Builtin::Min | Builtin::Max => {
                let number = as_number(self.builtin, input.value)?
                    .as_f64()
                    .unwrap_or(0.0);
                let replace = match acc {
                    BuiltinAccumulator::Extremum(current) => {
                        let current = current.as_f64().unwrap_or(0.0);
                        if self.builtin == Builtin::Min {
                            number < current
                        } else {
                            number > current
                        }
                    }
                    _ => true,
                };
                if replace {
                    *acc = BuiltinAccumulator::Extremum(input.value.clone());
                }
            }
            Builtin::Collect => {
                if !matches!(acc, BuiltinAccumulator::Values(_)) {
                    *acc = BuiltinAccumulator::Values(Vec::new());
                }
                let BuiltinAccumulator::Values(values) = acc else {
                    unreachable!("collect accumulators are always Values")
                };
                if input.retraction {
                    let position = values
                        .iter()
                        .position(|value| value == input.value)
                        .ok_or_else(|| {
                            format!(
                                "collect cannot retract {}: the window does not hold it",
                                input.value
                            )
                        })?;
                    values.remove(position);
                } else {
                    values.push(input.value.clone());
                }
            }
        }
        Ok(())
    }

    /// Why an input was refused: the total would overflow the output.
    fn overflow(&self, kind: &str) -> String {
        let what = if self.builtin == Builtin::Mean {
            "mean's running sum"
        } else {
            "sum"
        };
        format!("{what} overflows a 64-bit {kind}")
    }

    fn merge_into(&self, into: &mut BuiltinAccumulator, from: BuiltinAccumulator) {
        match (into, from) {
            (_, BuiltinAccumulator::Empty) => {}
            (into @ BuiltinAccumulator::Empty, from) => *into = from,
            (
                BuiltinAccumulator::Sum {
                    int,
                    float,
                    floats,
                    count,
                },
                BuiltinAccumulator::Sum {
                    int: i2,
                    float: f2,
                    floats: n2,
                    count: c2,
                },
            ) => {
                // An overflow here is found when the output is extracted.
                *int = int.saturating_add(i2);
                *float += f2;
                *floats += n2;
                *count += c2;
            }
            (BuiltinAccumulator::Count(a), BuiltinAccumulator::Count(b)) => *a += b,
            (into @ BuiltinAccumulator::Extremum(_), BuiltinAccumulator::Extremum(value)) => {
                let _ = self.add(
                    into,
                    CombineInput {
                        value: &value,
                        retraction: false,
                    },
                );
            }
            (BuiltinAccumulator::Values(a), BuiltinAccumulator::Values(b)) => a.extend(b),
            (into, from) => {
                // Accumulators of one function always have the same shape.
                debug_assert!(false, "mismatched accumulators {into:?} and {from:?}");
            }
        }
    }

    /// The output of `acc`, or why there is none: a total that merging windows took
    /// past what a 64-bit number holds.
    fn extract(&self, acc: &BuiltinAccumulator) -> Result<Value, String> {
        Ok(match (self.builtin, acc) {
            (
                Builtin::Sum,
                BuiltinAccumulator::Sum {
                    int, float, floats, ..
                },
            ) => {
                if *floats == 0 {
                    Value::from(i64::try_from(*int).map_err(|_| self.overflow("integer"))?)
                } else {
                    float_value(*int as f64 + float).ok_or_else(|| self.overflow("float"))?
                }
            }
            (
                Builtin::Mean,
                BuiltinAccumulator::Sum {
                    int, float, count, ..
                },
            ) if *count != 0 => float_value((*int as f64 + float) / *count as f64)
                .ok_or_else(|| self.overflow("float"))?,
            (Builtin::Count, BuiltinAccumulator::Count(n)) => Value::from(*n),
            (Builtin::Min | Builtin::Max, BuiltinAccumulator::Extremum(value)) => value.clone(),
            (Builtin::Collect, BuiltinAccumulator::Values(values)) => Value::Array(values.clone()),
            (Builtin::Sum | Builtin::Count, _) => Value::from(0),
            (Builtin::Collect, _) => Value::Array(Vec::new()),
            (Builtin::Mean | Builtin::Min | Builtin::Max, _) => Value::Null,
        })
    }
}

fn as_number(builtin: Builtin, value: &Value) -> Result<&Number, String> {
    match value {
        Value::Number(number) => Ok(number),
        other => Err(format!(
            "{} needs numbers; got {}",
            builtin.name(),
            describe_value(other)
        )),
    }
}

/// `f` as a JSON number; `None` for infinities and NaN, which JSON cannot write
/// (never `null` in their place).
fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// A short description of a value for error messages.
pub fn describe_value(value: &Value) -> String {
    let text = value.to_string();
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    if text.len() > 60 {
        format!("{kind} {}…", &text[..text.floor_char_boundary(57)])
    } else {
        format!("{kind} {text}")
    }
}

/// A built-in function has no plugin to swap; in a pipeline that takes no
/// replacements there is nothing to swap it for.
impl Swap<NoSwap> for BuiltinFn {
    fn swap(&mut self, replacement: NoSwap) -> Result<(), SwapError> {
        match replacement {}
    }
}

impl CombineFn for BuiltinFn {
    type Accumulator = BuiltinAccumulator;

    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn accumulator_format(&self) -> String {
        format!("builtin:{}:1", self.builtin.name())
    }

    fn inversion(&self) -> Inversion {
        self.builtin.inversion()
    }

    fn create_accumulator(&mut self) -> BuiltinAccumulator {
        BuiltinAccumulator::Empty
    }

    fn add_inputs(
        &mut self,
        accumulators: &mut [BuiltinAccumulator],
        groups: &[Range<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Vec<Rejected>, CombineError> {
        let mut rejected = Vec::new();
        for (acc, group) in accumulators.iter_mut().zip(groups) {
            for index in group.clone() {
                if let Err(reason) = self.add(acc, inputs[index]) {
                    rejected.push(Rejected {
                        input: index,
                        reason,
                    });
                }
            }
        }
        Ok(rejected)
    }

    fn merge_accumulators(
        &mut self,
        accumulators: Vec<BuiltinAccumulator>,
    ) -> Result<BuiltinAccumulator, CombineError> {
        let mut merged = BuiltinAccumulator::Empty;
        for acc in accumulators {
            self.merge_into(&mut merged, acc);
        }
        Ok(merged)
    }

    fn extract_outputs(
        &mut self,
        accumulators: &[&BuiltinAccumulator],
    ) -> Result<Vec<Result<Value, String>>, CombineError> {
        Ok(accumulators.iter().map(|acc| self.extract(acc)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(builtin: Builtin, inputs: &[(Value, bool)]) -> (Value, Vec<Rejected>) {
        let mut function = builtin.function();
        let mut accs = vec![function.create_accumulator()];
        let batch: Vec<CombineInput<'_>> = inputs
            .iter()
            .map(|(value, retraction)| CombineInput {
                value,
                retraction: *retraction,
            })
            .collect();
        let everything = 0..batch.len();
        let rejected = function
            .add_inputs(&mut accs, std::slice::from_ref(&everything), &batch)
            .unwrap();
        let out = function
            .extract_outputs(&[&accs[0]])
            .unwrap()
            .remove(0)
            .unwrap();
        (out, rejected)
    }

    fn adds(values: &[Value]) -> Vec<(Value, bool)> {
        values.iter().map(|v| (v.clone(), false)).collect()
    }

    #[test]
    fn sum_keeps_integers_exact_and_subtracts_retractions() {
        assert_eq!(run(Builtin::Sum, &adds(&[json!(5), json!(7)])).0, json!(12));
        assert_eq!(
            run(Builtin::Sum, &adds(&[json!(1.5), json!(2)])).0,
            json!(3.5)
        );
        assert_eq!(
            run(Builtin::Sum, &[(json!(22), false), (json!(22), true)]).0,
            json!(0)
        );
        assert_eq!(run(Builtin::Sum, &[]).0, json!(0));
    }

    #[test]
    fn a_sum_that_would_overflow_rejects_the_element_and_never_writes_null() {
        let overflow = |builtin, values: &[Value], kind: &str| {
            let (out, rejected) = run(builtin, &adds(values));
            assert_eq!(out, values[0], "{values:?}");
            assert_eq!(rejected.len(), 1);
            assert_eq!(rejected[0].input, 1);
            assert!(
                rejected[0]
                    .reason
                    .ends_with(&format!("overflows a 64-bit {kind}")),
                "{}",
                rejected[0].reason
            );
        };
        overflow(Builtin::Sum, &[json!(1e308), json!(1e308)], "float");
        overflow(Builtin::Sum, &[json!(i64::MAX), json!(1)], "integer");
        overflow(Builtin::Sum, &[json!(i64::MIN), json!(-1)], "integer");
        overflow(Builtin::Mean, &[json!(1e308), json!(1e308)], "float");
        assert_eq!(
            run(Builtin::Sum, &adds(&[json!(i64::MAX), json!(1), json!(-1)])).0,
            json!(i64::MAX - 1)
        );
        // Merging windows can still overflow: the output is an error, not null.
        let mut sum = Builtin::Sum.function();
        let big = BuiltinAccumulator::Sum {
            int: 0,
            float: 1e308,
            floats: 1,
            count: 1,
        };
        let merged = sum.merge_accumulators(vec![big.clone(), big]).unwrap();
        assert_eq!(
            sum.extract_outputs(&[&merged]).unwrap(),
            vec![Err("sum overflows a 64-bit float".to_owned())]
        );
    }

    #[test]
    fn non_numbers_are_rejected_with_a_reason() {
        let (out, rejected) = run(Builtin::Sum, &adds(&[json!(1), json!("x"), json!(2)]));
        assert_eq!(out, json!(3));
        assert_eq!(
            rejected,
            vec![Rejected {
                input: 1,
                reason: "sum needs numbers; got a string \"x\"".into()
            }]
        );
    }

    #[test]
    fn count_mean_min_max_collect() {
        let values = [json!(4), json!(1), json!(7)];
        assert_eq!(run(Builtin::Count, &adds(&values)).0, json!(3));
        assert_eq!(run(Builtin::Mean, &adds(&values)).0, json!(4.0));
        assert_eq!(run(Builtin::Mean, &[]).0, Value::Null);
        assert_eq!(run(Builtin::Min, &adds(&values)).0, json!(1));
        assert_eq!(run(Builtin::Max, &adds(&values)).0, json!(7));
        assert_eq!(run(Builtin::Collect, &adds(&values)).0, json!([4, 1, 7]));
        assert_eq!(
            run(
                Builtin::Collect,
                &[(json!(4), false), (json!(1), false), (json!(4), true)]
            )
            .0,
            json!([1])
        );
        let (_, rejected) = run(Builtin::Collect, &[(json!(9), true)]);
        assert_eq!(rejected.len(), 1);
    }

    #[test]
    fn merging_accumulators_equals_adding_everything_to_one() {
        for (_, builtin) in Builtin::ALL {
            let mut function = builtin.function();
            let values = [json!(3), json!(8), json!(-2)];
            let mut parts = vec![function.create_accumulator(), function.create_accumulator()];
            let inputs: Vec<_> = values
                .iter()
                .map(|value| CombineInput {
                    value,
                    retraction: false,
                })
                .collect();
            function
                .add_inputs(&mut parts, &[0..1, 1..3], &inputs)
                .unwrap();
            let merged = function.merge_accumulators(parts).unwrap();
            let (whole, _) = run(builtin, &adds(&values));
            assert_eq!(
                function.extract_outputs(&[&merged]).unwrap()[0],
                Ok(whole),
                "{builtin:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for (name, builtin) in Builtin::ALL {
            assert_eq!(Builtin::from_name(name), Some(builtin));
            assert_eq!(builtin.name(), name);
        }
        assert_eq!(Builtin::from_name("median"), None);
    }
}
