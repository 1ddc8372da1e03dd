//! Nexmark query 9, "winning bids": each auction's winning bid, Beam's
//! `WinningBids`: among the bids made while the auction is open
//! (`auction.dateTime <= bid.dateTime < auction.expires`) at or above its
//! `reserve`, the one with the highest price, the earliest on a tie (the first to
//! arrive if they tie on time too). Beam joins auctions and bids with a custom
//! merging window per auction; this plugin keeps the join in keyed state of the
//! global window instead and decides once the watermark passes `expires`.
//! Two stages of one plugin, chosen by `stage`:
//!
//! ```yaml
//! steps:
//!   - pardo: { plugin: plugins/q9, config: { stage: key } }      # key: auction id
//!   - pardo: { plugin: plugins/q9, config: { stage: winners } }  # {"auction": a, "bid": b}
//! ```
//!
//! `key` keys each auction by its `id` and each bid by its `auction`, as
//! `{"auction": a}` / `{"bid": b}` (persons are dropped). `winners` remembers the
//! auction and the best bid so far, holds bids that arrive before their auction,
//! and once the watermark passes `expires - 1` (an event-time timer) emits
//! `{"auction": a, "bid": b}` keyed by the auction id, at time `expires - 1` (the
//! end of the auction's window in Beam); an auction without a valid bid emits
//! nothing. Bids naming an auction that never comes (Beam's generator lets bids run
//! up to 10 auction ids ahead) stay held in state.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error, KeyedState, Timer};
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Stage {
    Key,
    Winners,
}

/// The query 9 DoFn.
pub struct Query9 {
    stage: Stage,
}

/// Keyed state, as JSON text (the state encoding cannot hold a `serde_json::Value`).
const AUCTION: &str = "auction";
const BEST: &str = "best";
const EARLY: &str = "early";
const CLOSE: &str = "close";

fn int(value: &Value, field: &str) -> Result<i64, Error> {
    value[field]
        .as_i64()
        .ok_or_else(|| Error::new(format!("no integer {field:?} in {value}")))
}

fn load(state: &impl KeyedState, name: &str) -> Result<Option<Value>, Error> {
    match state.state::<String>(name)? {
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        None => Ok(None),
    }
}

/// Takes `bid` into account for `auction`: it becomes the best bid if it is valid
/// and beats the best so far.
fn offer(state: &impl KeyedState, auction: &Value, bid: &Value) -> Result<(), Error> {
    let time = int(bid, "dateTime")?;
    let open = int(auction, "dateTime")? <= time && time < int(auction, "expires")?;
    if !open || int(bid, "price")? < int(auction, "reserve")? {
        return Ok(());
    }
    let better = match load(state, BEST)? {
        None => true,
        Some(best) => {
            let (price, best_price) = (int(bid, "price")?, int(&best, "price")?);
            price > best_price || (price == best_price && time < int(&best, "dateTime")?)
        }
    };
    if better {
        state.set_state(BEST, &bid.to_string())?;
    }
    Ok(())
}

impl DoFn for Query9 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let stage = match config.require::<String>("stage")?.as_str() {
            "key" => Stage::Key,
            "winners" => Stage::Winners,
            other => {
                return Err(Error::new(format!(
                    "config \"stage\" must be \"key\" or \"winners\", not {other:?}"
                )));
            }
        };
        Ok(Query9 { stage })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match self.stage {
            Stage::Key => {
                if let Some(auction) = element.value.get("auction") {
                    out.emit_keyed(&auction["id"], &json!({ "auction": auction }))?;
                } else if let Some(bid) = element.value.get("bid") {
                    out.emit_keyed(&bid["auction"], &json!({ "bid": bid }))?;
                }
                Ok(())
            }
            Stage::Winners => {
                if let Some(auction) = element.value.get("auction") {
                    if element.state::<String>(AUCTION)?.is_some() {
                        return Ok(()); // a repeat
                    }
                    element.set_state(AUCTION, &auction.to_string())?;
                    let early: Vec<String> = element.state(EARLY)?.unwrap_or_default();
                    for text in &early {
                        offer(&element, auction, &serde_json::from_str(text)?)?;
                    }
                    element.clear_state(EARLY);
                    // The timer fires once the watermark is past `expires - 1`: every
                    // bid before `expires` has arrived. Until then it holds the step's
                    // output watermark, so the winner is not late downstream.
                    element.set_event_timer(CLOSE, int(auction, "expires")? - 1);
                } else if let Some(bid) = element.value.get("bid") {
                    match load(&element, AUCTION)? {
                        Some(auction) => offer(&element, &auction, bid)?,
                        None => {
                            let mut early: Vec<String> = element.state(EARLY)?.unwrap_or_default();
                            early.push(bid.to_string());
                            element.set_state(EARLY, &early)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Emitter) -> Result<(), Error> {
        // The auction has closed: every bid made while it was open has arrived.
        let auction = load(&timer, AUCTION)?;
        if let (Some(auction), Some(bid)) = (auction, load(&timer, BEST)?) {
            let expires = int(&auction, "expires")?;
            out.emit_at(
                &timer.key,
                &json!({ "auction": auction, "bid": bid }),
                expires - 1,
            )?;
        }
        timer.clear_state(BEST);
        // The auction is kept, so that a late bid is not taken for an early one.
        Ok(())
    }
}

millrace_sdk::export!(dofn Query9);
