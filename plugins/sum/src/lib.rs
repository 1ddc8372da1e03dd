//! Sums numbers. Integers stay integers (as the built-in `sum` does); retractions are
//! subtracted, so the plugin works downstream of retracting steps.

use millrace_sdk::{CombineFn, Config, Error, Inversion};
use serde::{Deserialize, Serialize};
use serde_json::Number;

/// The sum combiner.
pub struct Sum;

/// A running total: integers exactly, fractions as floating point.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Total {
    int: i128,
    float: f64,
    /// Net number of fractional inputs: the output is an integer when it is zero.
    fractional: i64,
}

impl Total {
    fn add(&mut self, number: &Number, sign: i8) {
        match number.as_i64() {
            Some(int) => self.int += i128::from(int) * i128::from(sign),
            None => {
                self.float += number.as_f64().unwrap_or(0.0) * f64::from(sign);
                self.fractional += i64::from(sign);
            }
        }
    }
}

impl CombineFn for Sum {
    type Input = Number;
    type Accumulator = Total;
    type Output = Number;
    const INVERSION: Inversion = Inversion::Subtract;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Sum)
    }

    fn create_accumulator(&self) -> Total {
        Total::default()
    }

    fn add_input(&self, total: &mut Total, input: Number) -> Result<(), Error> {
        total.add(&input, 1);
        Ok(())
    }

    fn merge_accumulators(&self, total: &mut Total, other: Total) {
        total.int += other.int;
        total.float += other.float;
        total.fractional += other.fractional;
    }

    fn extract_output(&self, total: &Total) -> Number {
        if total.fractional == 0
            && let Ok(int) = i64::try_from(total.int)
        {
            return Number::from(int);
        }
        Number::from_f64(total.int as f64 + total.float).unwrap_or_else(|| Number::from(0))
    }

    fn uncombine(&self, total: &mut Total, input: Number) -> Result<(), Error> {
        total.add(&input, -1);
        Ok(())
    }
}

millrace_sdk::export!(combine Sum);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_integers_exactly_and_takes_retractions_back() {
        let sum = Sum;
        let mut total = sum.create_accumulator();
        for n in [5, 7, 3] {
            sum.add_input(&mut total, Number::from(n)).unwrap();
        }
        sum.uncombine(&mut total, Number::from(3)).unwrap();
        assert_eq!(sum.extract_output(&total), Number::from(12));
        sum.add_input(&mut total, Number::from_f64(0.5).unwrap())
            .unwrap();
        assert_eq!(sum.extract_output(&total), Number::from_f64(12.5).unwrap());
    }
}
