//! Nexmark query 7's combiner: the bids with the highest price among a window's
//! bids (all of them when several tie, in arrival order), as a list. It keeps only
//! those, so a window of any size costs little memory; like Beam's `Max`, it cannot
//! take a bid back (no inverse).
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q7, config: { stage: bids } }
//!   - window: { fixed: { size: 10s } }
//!   - combine: { plugin: plugins/q7-top }                       # [bid, ...]
//!   - pardo: { plugin: plugins/q7, config: { stage: highest } }  # one record per bid
//! ```

use millrace_sdk::{CombineFn, Config, Error};
use serde_json::Value;

/// The highest-bids combiner.
pub struct HighestBids;

/// The top price so far and the bids at it, as JSON text (the accumulator's
/// encoding cannot hold a `serde_json::Value`).
type Top = Option<(i64, Vec<String>)>;

impl CombineFn for HighestBids {
    type Input = Value;
    type Accumulator = Top;
    type Output = Vec<Value>;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(HighestBids)
    }

    fn create_accumulator(&self) -> Top {
        None
    }

    fn add_input(&self, acc: &mut Top, bid: Value) -> Result<(), Error> {
        let price = bid["price"]
            .as_i64()
            .ok_or_else(|| Error::new("expected a bid with an integer price"))?;
        self.merge_accumulators(acc, Some((price, vec![bid.to_string()])));
        Ok(())
    }

    fn merge_accumulators(&self, acc: &mut Top, other: Top) {
        let Some((price, bids)) = other else {
            return;
        };
        match acc {
            Some((top, kept)) if *top == price => kept.extend(bids),
            Some((top, _)) if *top > price => {}
            _ => *acc = Some((price, bids)),
        }
    }

    fn extract_output(&self, acc: &Top) -> Vec<Value> {
        acc.iter()
            .flat_map(|(_, bids)| bids)
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect()
    }
}

millrace_sdk::export!(combine HighestBids);
