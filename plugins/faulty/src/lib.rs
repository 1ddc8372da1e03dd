//! Misbehaves on demand, to test how the host contains faults. A record whose value
//! is `{"fault": KIND}` makes the plugin:
//!
//! - `error`: return an error for that record,
//! - `panic`: panic,
//! - `loop`: loop forever,
//! - `bomb`: allocate memory until it runs out,
//! - `flood`: emit 8 MiB of output, more than a test allows.
//!
//! Anything else passes through unchanged.

use millrace_sdk::{Config, DoFn, Element, Emitter, Error};
use serde_json::Value;

/// The misbehaving DoFn.
pub struct Faulty;

impl DoFn for Faulty {
    type Input = Value;

    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Faulty)
    }

    fn process(&mut self, element: Element<Value>, out: &mut Emitter) -> Result<(), Error> {
        match element.value.get("fault").and_then(Value::as_str) {
            Some("error") => Err(Error::new("this record is refused on purpose")),
            Some("panic") => panic!("boom: a deliberate panic"),
            Some("loop") => {
                let mut spins: u64 = 0;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            Some("bomb") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("flood") => {
                let chunk = "x".repeat(1 << 20);
                for _ in 0..8 {
                    out.emit(&chunk)?;
                }
                Ok(())
            }
            _ => out.emit(&element.value),
        }
    }
}

millrace_sdk::export!(dofn Faulty);
