//! Measures single-core generation speed:
//! `cargo run --release -p millrace-nexmark --example throughput [EVENTS]`.
//! Prints events per second for generating only and for generating plus JSON.

use std::time::Instant;

use millrace_nexmark::{Event, Generator, GeneratorConfig};

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .map_or(2_000_000, |n| n.parse().expect("EVENTS is a number"));
    let config = GeneratorConfig {
        num_events: events,
        ..GeneratorConfig::default()
    };

    let start = Instant::now();
    let mut bytes = 0usize;
    for event in Generator::new(config.clone()).expect("valid config") {
        bytes += match &event {
            Event::Person(p) => p.extra.len(),
            Event::Auction(a) => a.extra.len(),
            Event::Bid(b) => b.extra.len(),
        };
    }
    let generate = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut json = 0usize;
    for event in Generator::new(config).expect("valid config") {
        json += event.to_json().len();
    }
    let with_json = start.elapsed().as_secs_f64();

    let rate = |secs: f64| events as f64 / secs;
    println!(
        "{events} events: generate {:.0} events/s; generate + JSON {:.0} events/s \
         ({:.0} bytes of JSON per event; {bytes} bytes of padding)",
        rate(generate),
        rate(with_json),
        json as f64 / events as f64
    );
}
