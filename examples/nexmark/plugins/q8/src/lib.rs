//! Nexmark query 8, "monitor new users": people who opened an auction in the same
//! fixed window in which they joined, with the auction's reserve (`Query8.java`, a
//! `CoGroupByKey` of persons by id and auctions by seller). Two stages of one
//! plugin, chosen by `stage`:
//!
//! ```yaml
//! steps:
//!   - { name: new_persons, input: events, pardo: { plugin: plugins/q8, config: { stage: persons } } }
//!   - { name: new_auctions, input: events, pardo: { plugin: plugins/q8, config: { stage: auctions } } }
//!   - { name: persons, input: new_persons, window: { fixed: { size: 10s } } }
//!   - { name: auctions, input: new_auctions, window: { fixed: { size: 10s } } }
//!   - { name: joined, inputs: [persons, auctions], cogroup: {} }
//!   - pardo: { plugin: plugins/q8, config: { stage: join, persons: persons, auctions: auctions } }
//! ```
//!
//! `persons` emits each person keyed by its `id`, `auctions` each auction keyed by
//! its `seller` (two steps rather than one with a side output, because a side
//! output keeps the input's key); `join` reads a cogroup pane
//! (`{"persons": [...], "auctions": [...]}`, the names of the cogroup's inputs,
//! given by `persons` and `auctions`) and emits `{"id", "name", "reserve"}` for
//! every person and auction of it: nothing when either side is empty.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::{Value, json};

enum Stage {
    Persons,
    Auctions,
    Join { persons: String, auctions: String },
}

/// The query 8 DoFn.
pub struct Query8 {
    stage: Stage,
}

impl DoFn for Query8 {
    type Input = Value;

    fn new(config: &Config) -> Result<Self, Error> {
        let stage = match config.require::<String>("stage")?.as_str() {
            "persons" => Stage::Persons,
            "auctions" => Stage::Auctions,
            "join" => Stage::Join {
                persons: config.get("persons")?.unwrap_or_else(|| "persons".into()),
                auctions: config.get("auctions")?.unwrap_or_else(|| "auctions".into()),
            },
            other => {
                return Err(Error::new(format!(
                    "config \"stage\" must be \"persons\", \"auctions\" or \"join\", not {other:?}"
                )));
            }
        };
        Ok(Query8 { stage })
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match &self.stage {
            Stage::Persons => match element.value.get("person") {
                Some(person) => out.emit_keyed(&person["id"], person),
                None => Ok(()),
            },
            Stage::Auctions => match element.value.get("auction") {
                Some(auction) => out.emit_keyed(&auction["seller"], auction),
                None => Ok(()),
            },
            Stage::Join { persons, auctions } => {
                let side = |name: &str| {
                    element.value[name]
                        .as_array()
                        .cloned()
                        .ok_or_else(|| Error::new(format!("the cogroup pane has no list {name:?}")))
                };
                let (persons, auctions) = (side(persons)?, side(auctions)?);
                for person in &persons {
                    for auction in &auctions {
                        out.emit(&json!({
                            "id": person["id"],
                            "name": person["name"],
                            "reserve": auction["reserve"],
                        }))?;
                    }
                }
                Ok(())
            }
        }
    }
}

millrace_sdk::export!(dofn Query8);
