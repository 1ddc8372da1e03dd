//! A sum that misbehaves on chosen inputs, to test how the host contains faults of
//! a CombineFn: the input 13 makes it panic, 666 makes it loop forever, and a
//! negative number is rejected with an error. Everything else is summed.

use millrace_sdk::{CombineFn, Config, Error, Inversion};

/// The misbehaving sum.
pub struct FaultySum;

impl CombineFn for FaultySum {
    type Input = i64;
    type Accumulator = i64;
    type Output = i64;
    const INVERSION: Inversion = Inversion::Subtract;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(FaultySum)
    }

    fn create_accumulator(&self) -> i64 {
        0
    }

    fn add_input(&self, acc: &mut i64, input: i64) -> Result<(), Error> {
        match input {
            13 => panic!("unlucky number"),
            666 => loop {
                std::hint::black_box(acc.wrapping_add(1));
            },
            n if n < 0 => Err(Error::new(format!("negative input {n}"))),
            n => {
                *acc += n;
                Ok(())
            }
        }
    }

    fn merge_accumulators(&self, acc: &mut i64, other: i64) {
        *acc += other;
    }

    fn extract_output(&self, acc: &i64) -> i64 {
        *acc
    }

    fn uncombine(&self, acc: &mut i64, input: i64) -> Result<(), Error> {
        *acc -= input;
        Ok(())
    }
}

millrace_sdk::export!(combine FaultySum);
