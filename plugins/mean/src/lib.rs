//! The arithmetic mean of numbers; `null` for a window that holds none. Retractions
//! are subtracted, so it works downstream of retracting steps.

use millrace_sdk::{CombineFn, Config, Error, Inversion};
use serde::{Deserialize, Serialize};

/// The mean combiner.
pub struct Mean;

/// A running sum and count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Running {
    sum: f64,
    count: i64,
}

impl Running {
    /// Adds `sign × input`, or refuses (and changes nothing) if the running sum would
    /// no longer be a finite float, which JSON would write as `null`.
    fn add(&mut self, input: f64, sign: i8) -> Result<(), Error> {
        let sum = self.sum + input * f64::from(sign);
        if !sum.is_finite() {
            return Err(Error::new("mean's running sum overflows a 64-bit float"));
        }
        self.sum = sum;
        self.count += i64::from(sign);
        Ok(())
    }
}

impl CombineFn for Mean {
    type Input = f64;
    type Accumulator = Running;
    type Output = Option<f64>;
    const INVERSION: Inversion = Inversion::Subtract;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Mean)
    }

    fn create_accumulator(&self) -> Running {
        Running::default()
    }

    fn add_input(&self, acc: &mut Running, input: f64) -> Result<(), Error> {
        acc.add(input, 1)
    }

    fn merge_accumulators(&self, acc: &mut Running, other: Running) {
        // Merged windows cannot be refused: their sum saturates at the largest float.
        acc.sum = (acc.sum + other.sum).clamp(f64::MIN, f64::MAX);
        acc.count += other.count;
    }

    fn extract_output(&self, acc: &Running) -> Option<f64> {
        (acc.count != 0).then(|| acc.sum / acc.count as f64)
    }

    fn uncombine(&self, acc: &mut Running, input: f64) -> Result<(), Error> {
        acc.add(input, -1)
    }
}

millrace_sdk::export!(combine Mean);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_with_retractions() {
        let mean = Mean;
        let mut acc = mean.create_accumulator();
        assert_eq!(mean.extract_output(&acc), None);
        for x in [2.0, 4.0, 9.0] {
            mean.add_input(&mut acc, x).unwrap();
        }
        mean.uncombine(&mut acc, 9.0).unwrap();
        assert_eq!(mean.extract_output(&acc), Some(3.0));
    }

    #[test]
    fn an_input_that_would_overflow_is_refused() {
        let mean = Mean;
        let mut acc = mean.create_accumulator();
        mean.add_input(&mut acc, 1e308).unwrap();
        let err = mean.add_input(&mut acc, 1e308).unwrap_err();
        assert!(format!("{err:?}").contains("overflows a 64-bit float"));
        assert_eq!(mean.extract_output(&acc), Some(1e308));
    }
}
