//! The `k` largest numbers of a window, largest first.
//!
//! ```yaml
//! config: { k: 3 }
//! ```
//!
//! It keeps only the k largest values, so it cannot take a retracted value back
//! (the value that would replace it is gone): it declares no inverse and the host
//! recomputes from the window's inputs instead.

use millrace_sdk::{CombineFn, Config, Error};

/// The top-k combiner.
pub struct TopK {
    k: usize,
}

impl TopK {
    fn keep_top(&self, values: &mut Vec<f64>) {
        values.sort_by(|a, b| b.total_cmp(a));
        values.truncate(self.k);
    }
}

impl CombineFn for TopK {
    type Input = f64;
    type Accumulator = Vec<f64>;
    type Output = Vec<f64>;

    fn new(config: &Config) -> Result<Self, Error> {
        let k = config.get::<usize>("k")?.unwrap_or(3);
        if k == 0 {
            return Err(Error::new("config \"k\" must be at least 1"));
        }
        Ok(TopK { k })
    }

    fn create_accumulator(&self) -> Vec<f64> {
        Vec::new()
    }

    fn add_input(&self, acc: &mut Vec<f64>, input: f64) -> Result<(), Error> {
        if !input.is_finite() {
            return Err(Error::new(format!("{input} is not a finite number")));
        }
        acc.push(input);
        self.keep_top(acc);
        Ok(())
    }

    fn merge_accumulators(&self, acc: &mut Vec<f64>, other: Vec<f64>) {
        acc.extend(other);
        self.keep_top(acc);
    }

    fn extract_output(&self, acc: &Vec<f64>) -> Vec<f64> {
        acc.clone()
    }
}

millrace_sdk::export!(combine TopK);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest() {
        let top = TopK::new(&Config::from_value(serde_json::json!({"k": 2}))).unwrap();
        let mut acc = top.create_accumulator();
        for x in [5.0, 1.0, 9.0, 7.0] {
            top.add_input(&mut acc, x).unwrap();
        }
        assert_eq!(top.extract_output(&acc), vec![9.0, 7.0]);
    }
}
