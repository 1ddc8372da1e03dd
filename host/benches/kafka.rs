//! Kafka in and out, measured against a real broker (tansu on 127.0.0.1, as the
//! tests run it):
//!
//! ```sh
//! cargo bench -p millrace --bench kafka
//! ```
//!
//! - **throughput**: a topic of `KAFKA_EVENTS` events (default 400,000; 1,000
//!   keys; 4 partitions), read with `until: end` through a fixed 10 s window and a
//!   sum into a topic exactly once (a transaction per 1 s checkpoint), in events per
//!   CPU-second of this process; beside it, in the same run, the same events from a
//!   JSON Lines file through the same steps into a file — the ratio is what Kafka
//!   in and out cost over the engine itself;
//! - **latency**: records produced at a fixed rate (`KAFKA_RATE`, default 5,000 per
//!   second, for 10 s) pass through a pipeline with no steps into a topic exactly
//!   once, checkpointing every second; a `read_committed` consumer takes each
//!   record's time from being produced to being readable, p50 and p99. With a
//!   transaction per checkpoint, that is half the interval on average plus the
//!   commit.
//!
//! The broker is the tests' (`tests/common/kafka.rs`): `MILLRACE_TANSU` names its
//! binary (default: where `tests/kafka/setup.sh` puts it).

mod common;
#[path = "../../tests/common/kafka.rs"]
mod kafka_broker;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cpu_time;
use kafka_broker::{Broker, send};
use millrace_runner::{Backend, RunOptions, StateOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use serde_json::{Value, json};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn run(dir: &Path, spec: &str) -> millrace_runner::RunSummary {
    let path = dir.join(format!("{}.yaml", fastrand::u32(..)));
    std::fs::write(&path, spec).unwrap();
    let spec = millrace_runner::spec::load(&path).unwrap();
    let options = RunOptions {
        input: None,
        output: None,
        dead_letter: None,
        strict: false,
        progress: false,
        state: StateOptions {
            dir: dir.join("state"),
            backend: Backend::Rocksdb,
            from_checkpoint: None,
            fresh: true,
        },
    };
    millrace_runner::run(&spec, &options).unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let events = env_number("KAFKA_EVENTS", 400_000);
    broker.create_topic("events", 4);
    broker.create_topic("sums", 1);
    let producer = broker.producer();
    let mut lines = String::with_capacity(events as usize * 40);
    let start = 1_700_000_000_000i64;
    let mut rng = fastrand::Rng::with_seed(1);
    for i in 0..events {
        let user = format!("u{}", rng.u32(0..1000));
        let ts = start + i as i64 - rng.i64(0..1_000);
        let score = rng.u32(1..10);
        let value = json!({"user": user, "score": score}).to_string();
        let partition = (user[1..].parse::<u32>().unwrap_or(0) % 4) as i32;
        send(&producer, "events", &(partition, user.clone(), value, ts));
        lines.push_str(&json!({"user": user, "score": score, "ts": ts}).to_string());
        lines.push('\n');
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    std::fs::write(dir.path().join("events.jsonl"), &lines).unwrap();

    let steps = "steps:\n  - window: { fixed: { size: 10s } }\n  - combine: sum\ncheckpoint: { interval: 1s }\n";
    let measure = |spec: String| {
        let cpu = cpu_time();
        let wall = Instant::now();
        let summary = run(dir.path(), &spec);
        assert_eq!(summary.read, events, "{summary}");
        let cpu = cpu_time() - cpu;
        (events as f64 / cpu.as_secs_f64(), wall.elapsed())
    };
    let (kafka, kafka_wall) = measure(format!(
        "name: kafka-bench
source:
  kafka:
    brokers: {address}
    topic: events
    group: bench-{group}
    until: end
    value: score
    watermark: {{ max_out_of_orderness: 1s }}
    options: {{ session.timeout.ms: 6000 }}
{steps}sink: {{ kafka: {{ brokers: {address}, topic: sums }} }}
",
        address = broker.address,
        group = fastrand::u32(..),
    ));
    let (file, file_wall) = measure(format!(
        "name: file-bench
source:
  file: {{ path: {events}, key: user, value: score, watermark: {{ max_out_of_orderness: 1s }} }}
{steps}sink: {{ file: {out} }}
",
        events = dir.path().join("events.jsonl").display(),
        out = dir.path().join("sums.jsonl").display(),
    ));
    println!(
        "throughput (Kafka -> 10 s window, sum -> Kafka exactly once): {kafka:.0} events per CPU-second ({:.1} s wall, group join included)",
        kafka_wall.as_secs_f64()
    );
    println!(
        "            (file -> the same steps -> file):                 {file:.0} events per CPU-second ({:.1} s wall); Kafka/file {:.2}",
        file_wall.as_secs_f64(),
        kafka / file
    );

    latency(&broker, dir.path());
}

/// Produces at a fixed rate while a pipeline with no steps copies the topic
/// exactly once; the times from producing to being readable.
fn latency(broker: &Broker, dir: &Path) {
    let rate = env_number("KAFKA_RATE", 5_000);
    let seconds = 10;
    broker.create_topic("timed", 1);
    broker.create_topic("copied", 1);
    let spec = format!(
        "name: latency-bench
source:
  kafka:
    brokers: {address}
    topic: timed
    group: latency-{group}
    options: {{ session.timeout.ms: 6000, fetch.wait.max.ms: 10 }}
sink: {{ kafka: {{ brokers: {address}, topic: copied }} }}
checkpoint: {{ interval: 1s }}
",
        address = broker.address,
        group = fastrand::u32(..),
    );
    let path = dir.join("latency.yaml");
    std::fs::write(&path, spec).unwrap();
    let mut pipeline = std::process::Command::new(env!("CARGO_BIN_EXE_millrace"))
        .args(["run", "--state-dir"])
        .arg(dir.join("latency-state"))
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reader: BaseConsumer = broker
        .config()
        .set("group.id", format!("reader-{}", fastrand::u32(..)))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    reader.subscribe(&["copied"]).unwrap();
    // Warm up: the pipeline and the reader join their groups first.
    let producer = broker.producer();
    let epoch = Instant::now();
    let now_us = || epoch.elapsed().as_micros() as i64;
    let mut latencies = Vec::new();
    let total = rate * seconds;
    let warm_up = rate * 2;
    let mut sent = 0u64;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds + 60);
    while (latencies.len() as u64) < total - warm_up && Instant::now() < deadline {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due.min(total) {
            let value = json!({"sent": now_us(), "n": sent}).to_string();
            let record = (0, "k".to_owned(), value, 1_700_000_000_000 + sent as i64);
            send(&producer, "timed", &record);
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(1)) {
            let record: Value =
                serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
            let n = record["value"]["n"].as_u64().unwrap_or(0);
            if n >= warm_up {
                let sent_at = record["value"]["sent"].as_i64().unwrap_or(0);
                latencies.push(now_us() - sent_at);
            }
        }
    }
    let _ = pipeline.kill();
    let _ = pipeline.wait();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1e3;
    println!(
        "latency (produce -> readable by read_committed, {rate}/s, 1 s checkpoints): p50 {:.0} ms, p99 {:.0} ms over {} records",
        at(0.5),
        at(0.99),
        latencies.len()
    );
}
