//! Nexmark query 1, "currency conversion": every bid, its price converted from
//! dollars to euros with Beam's integer formula `price * 89 / 100`
//! (`Query1.java`). Persons and auctions are dropped; the bid's other fields,
//! key (null) and event time are kept.
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q1 }
//! ```
//!
//! In: a Nexmark event, `{"bid": {...}}`, `{"person": {...}}` or `{"auction": {...}}`.
//! Out: the bid object itself, `{"auction": 1000, "bidder": 1001, "price": 89, ...}`.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::Value;

/// The conversion, on whole dollars as Beam does it (the division truncates).
pub fn to_euros(price: i64) -> i64 {
    price * 89 / 100
}

/// The query 1 DoFn.
pub struct Query1;

impl DoFn for Query1 {
    type Input = Value;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Query1)
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let Some(bid) = element.value.get("bid") else {
            return Ok(());
        };
        let mut bid = bid.clone();
        let price = bid["price"]
            .as_i64()
            .ok_or_else(|| Error::new("a bid without an integer price"))?;
        bid["price"] = Value::from(to_euros(price));
        out.emit(&bid)
    }
}

millrace_sdk::export!(dofn Query1);
