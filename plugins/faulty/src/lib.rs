//! Misbehaves on demand, to test how the host contains faults. A record whose value
//! is `{"fault": KIND}` makes the plugin:
//!
//! - `error`: return an error for that record,
//! - `panic`: panic,
//! - `loop`: loop forever,
//! - `bomb`: allocate memory until it runs out,
//! - `flood`: emit 8 MiB of output, more than a test allows.
//!
//! A record whose value is `{"probe": WHAT, …}` reaches outside the sandbox, to test
//! what the spec's grants allow:
//!
//! - `clock`: emits the wall clock's time in milliseconds since the epoch,
//! - `read` (with `path`): emits the file's text,
//! - `connect` (with `addr`): connects over TCP and emits `"connected"`.
//!
//! Without the grant each sees nothing: the clock stands at the epoch, and reading
//! or connecting fails with an error (so the record is dead-lettered).
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
        if let Some(probe) = element.value.get("probe").and_then(Value::as_str) {
            return self::probe(probe, &element.value, out);
        }
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

fn probe(what: &str, value: &Value, out: &mut Emitter) -> Result<(), Error> {
    let text = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::new(format!("the probe needs {name:?}")))
    };
    match what {
        "clock" => {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            out.emit(&(since_epoch.as_millis() as u64))
        }
        "read" => {
            let path = text("path")?;
            let contents = std::fs::read_to_string(path)
                .map_err(|err| Error::new(format!("cannot read {path}: {err}")))?;
            out.emit(&contents)
        }
        "connect" => {
            let addr = text("addr")?;
            std::net::TcpStream::connect(addr)
                .map_err(|err| Error::new(format!("cannot connect to {addr}: {err}")))?;
            out.emit(&"connected")
        }
        other => Err(Error::new(format!("no probe {other:?}"))),
    }
}

millrace_sdk::export!(dofn Faulty);
