//! Nexmark query 4, "average price for a category": the mean winning price of the
//! auctions of each category that close in a sliding window (`Query4.java`). The
//! winning bids come from query 9's plugin; this one keys each winning price by its
//! auction's category, for a `mean`:
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q9, config: { stage: key } }
//!   - pardo: { plugin: plugins/q9, config: { stage: winners } }
//!   - pardo: { plugin: plugins/q4 }          # key: category, value: the winning price
//!   - window: { sliding: { size: 10s, period: 5s } }
//!   - combine: mean
//! ```
//!
//! In: `{"auction": a, "bid": b}`. Out: `b.price` keyed by `a.category`. Query 6
//! uses it too, with `config: { key: seller, value: bid }`: the auction field to
//! key by (default `category`), and `price` (the default) or `bid`, the whole bid.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::Value;

/// The query 4 DoFn.
pub struct Query4 {
    key: String,
    whole_bid: bool,
}

impl DoFn for Query4 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let whole_bid = match config.get::<String>("value")?.as_deref() {
            None | Some("price") => false,
            Some("bid") => true,
            Some(other) => {
                return Err(Error::new(format!(
                    "config \"value\" must be \"price\" or \"bid\", not {other:?}"
                )));
            }
        };
        Ok(Query4 {
            key: config.get("key")?.unwrap_or_else(|| "category".into()),
            whole_bid,
        })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let key = &element.value["auction"][&self.key];
        let bid = &element.value["bid"];
        if key.is_null() || !bid.is_object() {
            return Err(Error::new(format!(
                "expected a winning bid, {{\"auction\": …, \"bid\": …}}, its auction with {:?}",
                self.key
            )));
        }
        if self.whole_bid {
            out.emit_keyed(key, bid)
        } else {
            out.emit_keyed(key, &bid["price"])
        }
    }
}

millrace_sdk::export!(dofn Query4);
