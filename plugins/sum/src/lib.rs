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
    /// Adds `sign × number`, or refuses (and changes nothing) if the total would no
    /// longer be a 64-bit number: an overflow is the element's fault, never a
    /// silent 0 or null.
    fn add(&mut self, number: &Number, sign: i8) -> Result<(), Error> {
        let mut next = self.clone();
        match number.as_i64() {
            Some(int) => next.int += i128::from(int) * i128::from(sign),
            None => {
                next.float += number.as_f64().unwrap_or(0.0) * f64::from(sign);
                next.fractional += i64::from(sign);
            }
        }
        if next.fractional == 0 {
            i64::try_from(next.int).map_err(|_| Error::new("sum overflows a 64-bit integer"))?;
        } else if !(next.int as f64 + next.float).is_finite() {
            return Err(Error::new("sum overflows a 64-bit float"));
        }
        *self = next;
        Ok(())
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
        total.add(&input, 1)
    }

    fn merge_accumulators(&self, total: &mut Total, other: Total) {
        total.int = total.int.saturating_add(other.int);
        total.float += other.float;
        total.fractional += other.fractional;
    }

    fn extract_output(&self, total: &Total) -> Number {
        if total.fractional == 0
            && let Ok(int) = i64::try_from(total.int)
        {
            return Number::from(int);
        }
        // Only merged windows can pass 64 bits (each input was checked), and this
        // cannot fail: they saturate at the largest float.
        let total = (total.int as f64 + total.float).clamp(f64::MIN, f64::MAX);
        Number::from_f64(total).unwrap_or_else(|| Number::from(0))
    }

    fn uncombine(&self, total: &mut Total, input: Number) -> Result<(), Error> {
        total.add(&input, -1)
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

    #[test]
    fn an_input_that_would_overflow_is_refused() {
        let sum = Sum;
        let mut total = sum.create_accumulator();
        let big = Number::from_f64(1e308).unwrap();
        sum.add_input(&mut total, big.clone()).unwrap();
        let err = sum.add_input(&mut total, big.clone()).unwrap_err();
        assert!(format!("{err:?}").contains("sum overflows a 64-bit float"));
        assert_eq!(sum.extract_output(&total), big);
        let mut ints = sum.create_accumulator();
        sum.add_input(&mut ints, Number::from(i64::MAX)).unwrap();
        assert!(sum.add_input(&mut ints, Number::from(1)).is_err());
        assert_eq!(sum.extract_output(&ints), Number::from(i64::MAX));
    }
}
