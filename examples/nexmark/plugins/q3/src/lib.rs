//! Nexmark query 3, "local item suggestion": the name, city and state of every
//! seller living in Oregon, Idaho or California, with the id of each auction they
//! opened in category 10 (`Query3.java`). Beam joins the two streams continuously
//! with keyed state; so does this plugin, over a flatten of persons keyed by id and
//! auctions keyed by seller, in the global window. Stages, chosen by `stage`:
//!
//! ```yaml
//! steps:
//!   - { name: sellers, input: events, pardo: { plugin: plugins/q3, config: { stage: persons } } }
//!   - { name: items, input: events, pardo: { plugin: plugins/q3, config: { stage: auctions } } }
//!   - { name: both, inputs: [sellers, items], flatten: {} }
//!   - pardo: { plugin: plugins/q3, config: { stage: join } }
//! ```
//!
//! `persons` keeps the persons whose `state` is one of `states` (default
//! `[OR, ID, CA]`) and emits `{"person": p}` keyed by `id`; `auctions` keeps the
//! auctions whose `category` is `category` (default 10) and emits `{"auction": a}`
//! keyed by `seller`. `join` remembers a key's person in keyed state, and its
//! auctions until the person is known: whichever side comes second emits
//! `{"name", "city", "state", "id"}` (`id` the auction's), key the seller, once per
//! pair. (Beam's version also expires a person's state after a while; this one keeps
//! it, which the global window allows.)

use millrace_sdk::{Config, DoFn, Element, Emitter, Error, KeyedState};
use serde_json::{Value, json};

enum Stage {
    Persons { states: Vec<String> },
    Auctions { category: i64 },
    Join,
}

/// The query 3 DoFn.
pub struct Query3 {
    stage: Stage,
}

/// Keyed state holds JSON text: the state encoding is not self-describing, so a
/// `serde_json::Value` cannot be stored as itself.
const PERSON: &str = "person";
const AUCTIONS: &str = "auctions";

fn result(person: &Value, auction: &Value) -> Value {
    json!({
        "name": person["name"],
        "city": person["city"],
        "state": person["state"],
        "id": auction["id"],
    })
}

impl DoFn for Query3 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let stage = match config.require::<String>("stage")?.as_str() {
            "persons" => Stage::Persons {
                states: config
                    .get("states")?
                    .unwrap_or_else(|| vec!["OR".into(), "ID".into(), "CA".into()]),
            },
            "auctions" => Stage::Auctions {
                category: config.get("category")?.unwrap_or(10),
            },
            "join" => Stage::Join,
            other => {
                return Err(Error::new(format!(
                    "config \"stage\" must be \"persons\", \"auctions\" or \"join\", not {other:?}"
                )));
            }
        };
        Ok(Query3 { stage })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match &self.stage {
            Stage::Persons { states } => {
                let Some(person) = element.value.get("person") else {
                    return Ok(());
                };
                let state = person["state"].as_str().unwrap_or_default();
                if states.iter().any(|wanted| wanted == state) {
                    out.emit_keyed(&person["id"], &json!({ "person": person }))?;
                }
                Ok(())
            }
            Stage::Auctions { category } => {
                let Some(auction) = element.value.get("auction") else {
                    return Ok(());
                };
                if auction["category"].as_i64() == Some(*category) {
                    out.emit_keyed(&auction["seller"], &json!({ "auction": auction }))?;
                }
                Ok(())
            }
            Stage::Join => {
                let known: Option<Value> = element
                    .state::<String>(PERSON)?
                    .map(|text| serde_json::from_str(&text))
                    .transpose()?;
                if let Some(person) = element.value.get("person") {
                    // The person arrives: pair it with the auctions that waited for it.
                    if known.is_some() {
                        return Ok(()); // a repeat of a person already joined
                    }
                    element.set_state(PERSON, &person.to_string())?;
                    let waiting: Vec<String> = element.state(AUCTIONS)?.unwrap_or_default();
                    for text in &waiting {
                        let auction: Value = serde_json::from_str(text)?;
                        out.emit(&result(person, &auction))?;
                    }
                    element.clear_state(AUCTIONS);
                } else if let Some(auction) = element.value.get("auction") {
                    match &known {
                        Some(person) => out.emit(&result(person, auction))?,
                        None => {
                            let mut waiting: Vec<String> =
                                element.state(AUCTIONS)?.unwrap_or_default();
                            waiting.push(auction.to_string());
                            element.set_state(AUCTIONS, &waiting)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

millrace_sdk::export!(dofn Query3);
