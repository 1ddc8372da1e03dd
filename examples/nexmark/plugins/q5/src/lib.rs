//! Nexmark query 5, "hot items": per sliding window, the auctions with the most
//! bids and their count (`Query5.java`: `Count.perElement` of the bids' auction
//! ids, then a global combine keeping every auction with the top count). Three
//! stages of one plugin, chosen by `stage`:
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q5, config: { stage: auctions } }  # key: auction id
//!   - window: { sliding: { size: 10s, period: 5s } }
//!   - combine: count                                              # bids per auction
//!   - pardo: { plugin: plugins/q5, config: { stage: counts } }    # key null
//!   - combine: collect                                            # a window's counts
//!   - pardo: { plugin: plugins/q5, config: { stage: hottest } }
//! ```
//!
//! `auctions` keys each bid by its auction (value 1); `counts` turns a count pane
//! (key auction) into `{"auction": a, "count": n}` under the null key, so that the
//! next grouping gathers a whole window; `hottest` emits the entries of that list
//! with the largest count, keyed by auction.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Stage {
    Auctions,
    Counts,
    Hottest,
}

/// The query 5 DoFn.
pub struct Query5 {
    stage: Stage,
}

impl DoFn for Query5 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let stage = match config.require::<String>("stage")?.as_str() {
            "auctions" => Stage::Auctions,
            "counts" => Stage::Counts,
            "hottest" => Stage::Hottest,
            other => {
                return Err(Error::new(format!(
                    "config \"stage\" must be \"auctions\", \"counts\" or \"hottest\", not {other:?}"
                )));
            }
        };
        Ok(Query5 { stage })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match self.stage {
            Stage::Auctions => match element.value.get("bid") {
                Some(bid) => out.emit_keyed(&bid["auction"], &1),
                None => Ok(()),
            },
            Stage::Counts => out.emit_keyed(
                &Value::Null,
                &json!({ "auction": element.key, "count": element.value }),
            ),
            Stage::Hottest => {
                let counts = element
                    .value
                    .as_array()
                    .ok_or_else(|| Error::new("expected the list of a window's counts"))?;
                let count = |entry: &Value| entry["count"].as_i64();
                let Some(top) = counts.iter().filter_map(count).max() else {
                    return Ok(());
                };
                for entry in counts.iter().filter(|entry| count(entry) == Some(top)) {
                    out.emit_keyed(&entry["auction"], entry)?;
                }
                Ok(())
            }
        }
    }
}

millrace_sdk::export!(dofn Query5);
