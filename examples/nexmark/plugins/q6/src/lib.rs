//! Nexmark query 6, "average selling price by seller": the mean price of each
//! seller's last 10 winning bids, updated with every new winner (`Query6.java`, its
//! `MovingMeanSellingPrice` combiner). This is that combiner; the winning bids come
//! from query 9's plugin and query 4's keys them by seller:
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q9, config: { stage: key } }
//!   - pardo: { plugin: plugins/q9, config: { stage: winners } }
//!   - pardo: { plugin: plugins/q4, config: { key: seller, value: bid } }
//!   - window:
//!       global: {}
//!       trigger: { repeatedly: { after_count: 1 } }
//!       accumulation: accumulating
//!   - combine: { plugin: plugins/q6, config: { last: 10 } }    # last optional
//! ```
//!
//! It keeps the `last` latest bids, latest by `dateTime` then `price` (Beam's
//! `ASCENDING_TIME_THEN_PRICE`), and outputs the mean of their prices rounded to a
//! whole number (`0` when it has none).

use millrace_sdk::{CombineFn, Config, Error};
use serde::Deserialize;

/// The part of a bid this combiner reads.
#[derive(Deserialize)]
pub struct Bid {
    #[serde(rename = "dateTime")]
    date_time: i64,
    price: i64,
}

/// The moving-mean combiner.
pub struct MovingMean {
    last: usize,
}

impl MovingMean {
    fn keep_last(&self, acc: &mut Vec<(i64, i64)>) {
        acc.sort_unstable();
        if acc.len() > self.last {
            acc.drain(..acc.len() - self.last);
        }
    }
}

impl CombineFn for MovingMean {
    type Input = Bid;
    /// (dateTime, price) of the latest bids, oldest first.
    type Accumulator = Vec<(i64, i64)>;
    type Output = i64;

    fn new(config: &Config) -> Result<Self, Error> {
        let last = config.get::<usize>("last")?.unwrap_or(10);
        if last == 0 {
            return Err(Error::new("config \"last\" must be at least 1"));
        }
        Ok(MovingMean { last })
    }

    fn create_accumulator(&self) -> Vec<(i64, i64)> {
        Vec::new()
    }

    fn add_input(&self, acc: &mut Vec<(i64, i64)>, bid: Bid) -> Result<(), Error> {
        acc.push((bid.date_time, bid.price));
        self.keep_last(acc);
        Ok(())
    }

    fn merge_accumulators(&self, acc: &mut Vec<(i64, i64)>, other: Vec<(i64, i64)>) {
        acc.extend(other);
        self.keep_last(acc);
    }

    fn extract_output(&self, acc: &Vec<(i64, i64)>) -> i64 {
        if acc.is_empty() {
            return 0;
        }
        let sum: i64 = acc.iter().map(|(_, price)| price).sum();
        (sum as f64 / acc.len() as f64).round() as i64
    }
}

millrace_sdk::export!(combine MovingMean);
