//! Nexmark query 2, "selection": the auction and price of every bid on an auction
//! whose id is a multiple of `modulus` (Beam's `auctionSkip`, 123 by default;
//! `Query2.java`). Key null, event time the bid's.
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q2, config: { modulus: 123 } }   # modulus optional
//! ```
//!
//! In: a Nexmark event. Out: `{"auction": 1107, "price": 5306}`.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::{Value, json};

/// The query 2 DoFn.
pub struct Query2 {
    modulus: i64,
}

impl DoFn for Query2 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let modulus = config.get::<i64>("modulus")?.unwrap_or(123);
        if modulus <= 0 {
            return Err(Error::new("config \"modulus\" must be a positive number"));
        }
        Ok(Query2 { modulus })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        let Some(bid) = element.value.get("bid") else {
            return Ok(());
        };
        let auction = bid["auction"]
            .as_i64()
            .ok_or_else(|| Error::new("a bid without an integer auction"))?;
        if auction % self.modulus != 0 {
            return Ok(());
        }
        out.emit(&json!({ "auction": auction, "price": bid["price"] }))
    }
}

millrace_sdk::export!(dofn Query2);
