//! Nexmark query 11, "user sessions": the number of bids in each bidder's session
//! (`Query11.java`). This plugin keys each bid by its bidder; the spec windows
//! into sessions and counts.
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q11 }      # key: bidder, value 1
//!   - window: { sessions: { gap: 10s } }
//!   - combine: count                      # bids per bidder and session
//! ```

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::Value;

/// The query 11 DoFn.
pub struct Query11;

impl DoFn for Query11 {
    type Input = Value;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Query11)
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match element.value.get("bid") {
            Some(bid) => out.emit_keyed(&bid["bidder"], &1),
            None => Ok(()),
        }
    }
}

millrace_sdk::export!(dofn Query11);
