//! Nexmark query 7, "highest bid": the bids with the highest price of each fixed
//! window (`Query7.java`, which finds the maximum with a side input; here a
//! combiner, `q7-top`, keeps a window's highest bids, as Beam's comment suggests).
//! Two stages of one plugin, chosen by `stage`:
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q7, config: { stage: bids } }     # each bid, key null
//!   - window: { fixed: { size: 10s } }
//!   - combine: { plugin: plugins/q7-top }                        # the top-price bids
//!   - pardo: { plugin: plugins/q7, config: { stage: highest } }  # one record per bid
//! ```
//!
//! `bids` passes each bid object on (persons and auctions are dropped);
//! `highest` reads a list of bids (a pane of `q7-top`, or of `collect`) and emits
//! every bid whose price is the largest (several when they tie), in the window of
//! its pane.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::Value;

#[derive(Clone, Copy)]
enum Stage {
    Bids,
    Highest,
}

/// The query 7 DoFn.
pub struct Query7 {
    stage: Stage,
}

impl DoFn for Query7 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let stage = match config.require::<String>("stage")?.as_str() {
            "bids" => Stage::Bids,
            "highest" => Stage::Highest,
            other => {
                return Err(Error::new(format!(
                    "config \"stage\" must be \"bids\" or \"highest\", not {other:?}"
                )));
            }
        };
        Ok(Query7 { stage })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match self.stage {
            Stage::Bids => match element.value.get("bid") {
                Some(bid) => out.emit(bid),
                None => Ok(()),
            },
            Stage::Highest => {
                let bids = element
                    .value
                    .as_array()
                    .ok_or_else(|| Error::new("expected the list of a window's bids"))?;
                let price = |bid: &Value| bid["price"].as_i64();
                let Some(top) = bids.iter().filter_map(price).max() else {
                    return Ok(());
                };
                for bid in bids.iter().filter(|bid| price(bid) == Some(top)) {
                    out.emit(bid)?;
                }
                Ok(())
            }
        }
    }
}

millrace_sdk::export!(dofn Query7);
