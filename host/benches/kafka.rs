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
//! - **scale-out** (`parallelism: partitions`): `KAFKA_SCALE_EVENTS` events
//!   (default 1,000,000; 8 partitions) through the throughput pipeline, as one
//!   single run, as one instance of tasks (a thread per task) and as two instances
//!   of tasks in one group (two members, as two processes would be): events per
//!   wall-second as a ratio to the single run, and per CPU-second; and one
//!   instance of tasks with a repartition step before the window, as a ratio to
//!   one without (what the topic's extra write and read cost);
//! - **failover**: two `millrace run` processes of tasks copy a topic of 8
//!   partitions produced at 2,000 records per second; one is killed (SIGKILL),
//!   later a third joins and is stopped with SIGTERM: the time from the signal
//!   until a `read_committed` reader sees output of the signalled process's
//!   partitions from another process (a SIGKILLed member is noticed when its 6 s
//!   session times out; a SIGTERMed one leaves the group).
//!
//! The broker is the tests' (`tests/common/kafka.rs`): `MILLRACE_TANSU` names its
//! binary (default: where `tests/kafka/setup.sh` puts it).

mod common;
#[path = "../../tests/common/kafka.rs"]
mod kafka_broker;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cpu_time;
use kafka_broker::{Broker, running_tasks, send};
use millrace_runner::{Backend, RunOptions, StateOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::Producer;
use serde_json::{Value, json};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn run(dir: &Path, spec: &str) -> millrace_runner::RunSummary {
    run_in(dir, &dir.join("state"), true, spec)
}

/// Runs `spec` with its state in `state` (`fresh`: discarding what is there).
fn run_in(dir: &Path, state: &Path, fresh: bool, spec: &str) -> millrace_runner::RunSummary {
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
            dir: state.to_owned(),
            backend: Backend::Rocksdb,
            from_checkpoint: None,
            fresh,
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
    scale_out(&broker, dir.path());
    failover(&broker, dir.path());
}

/// Events per wall-second and per CPU-second of one single run, one instance of
/// tasks and two instances of tasks over the same topic of 8 partitions.
fn scale_out(broker: &Broker, dir: &Path) {
    let events = env_number("KAFKA_SCALE_EVENTS", 1_000_000);
    broker.create_topic("spread", 8);
    let producer = broker.producer();
    let mut rng = fastrand::Rng::with_seed(2);
    for i in 0..events {
        let user = rng.u32(0..1000);
        let ts = 1_700_000_000_000 + i as i64 - rng.i64(0..1_000);
        let value = json!({"score": rng.u32(1..10)}).to_string();
        send(
            &producer,
            "spread",
            &((user % 8) as i32, format!("u{user}"), value, ts),
        );
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let spec = |parallelism: &str, steps: &str| {
        format!(
            "name: spread-{group}
parallelism: {parallelism}
source:
  kafka:
    brokers: {address}
    topic: spread
    group: spread-{group}
    until: end
    value: score
    watermark: {{ max_out_of_orderness: 1s }}
    options: {{ session.timeout.ms: 6000 }}
steps:
{steps}  - window: {{ fixed: {{ size: 10s }} }}
  - combine: sum
checkpoint: {{ interval: 1s }}
sink: {{ kafka: {{ brokers: {address}, topic: sums, transactional_id: spread-{group} }} }}
",
            address = broker.address,
            group = fastrand::u32(..),
        )
    };
    let measure = |parallelism: &str, instances: usize, steps: &str| {
        let spec = spec(parallelism, steps);
        let state = dir.join(format!("spread-state-{}", fastrand::u32(..)));
        let cpu = cpu_time();
        let wall = Instant::now();
        let read: u64 = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..instances)
                .map(|_| scope.spawn(|| run_in(dir, &state, parallelism == "single", &spec).read))
                .collect();
            runs.into_iter().map(|run| run.join().unwrap()).sum()
        });
        assert!(read >= events, "read {read} of {events}");
        let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
        (
            events as f64 / wall.as_secs_f64(),
            events as f64 / cpu.as_secs_f64(),
        )
    };
    let (single, single_cpu) = measure("single", 1, "");
    let (one, one_cpu) = measure("partitions", 1, "");
    let (two, two_cpu) = measure("partitions", 2, "");
    // Every record through a repartition topic as well (the input is already
    // keyed by user: this is the topic's cost alone).
    let (moved, moved_cpu) = measure("partitions", 1, "  - repartition: {}\n");
    println!(
        "scale-out ({events} events, 8 partitions, group joins included), events per wall-second (per CPU-second):"
    );
    println!("  single run:               {single:.0} ({single_cpu:.0})");
    println!(
        "  tasks, 1 instance:        {one:.0} ({one_cpu:.0}); {:.2}x the single run",
        one / single
    );
    println!(
        "  tasks, 2 instances:       {two:.0} ({two_cpu:.0}); {:.2}x the single run, {:.2}x one instance",
        two / single,
        two / one
    );
    println!(
        "  tasks, 1 instance, through a repartition topic: {moved:.0} ({moved_cpu:.0}); {:.2}x without it",
        moved / one
    );
}

/// The attempts (one per task run) a process's log names.
fn attempts(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let at = line.find(", attempt ")? + ", attempt ".len();
            Some(line[at..].split([':', ' ']).next()?.to_owned())
        })
        .collect()
}

/// What the failover's producer waits for, of each record read back: its
/// partition and attempt.
type Until<'a> = &'a mut dyn FnMut(i32, &str) -> bool;

/// Seconds from a SIGKILL, and from a SIGTERM, to a process's partitions
/// producing output from another.
fn failover(broker: &Broker, dir: &Path) {
    broker.create_topic("live", 8);
    broker.create_topic("live-copy", 8);
    let spec = format!(
        "name: failover
parallelism: partitions
source:
  kafka:
    brokers: {address}
    topic: live
    group: failover-{group}
    options: {{ session.timeout.ms: 6000, fetch.wait.max.ms: 10 }}
sink: {{ kafka: {{ brokers: {address}, topic: live-copy }} }}
checkpoint: {{ interval: 1s }}
",
        address = broker.address,
        group = fastrand::u32(..),
    );
    let path = dir.join("failover.yaml");
    std::fs::write(&path, spec).unwrap();
    let state = dir.join("failover-state");
    let log_path = |name: &str| dir.join(format!("failover-{name}.log"));
    let start = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_millrace"))
            .args(["run", "--state-dir"])
            .arg(&state)
            .arg(&path)
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(log_path(name)).unwrap())
            .spawn()
            .unwrap()
    };
    let log = |name: &str| std::fs::read_to_string(log_path(name)).unwrap_or_default();
    let reader = committed_reader(broker, "live-copy");
    let producer = broker.producer();
    let started = Instant::now();
    let mut sent = 0u64;
    // Produces at 2,000 records per second over the partitions until `until`
    // holds of a record read back (its key names its partition; the attempt
    // its producer); bounded by a minute.
    let mut pump = |until: &mut dyn FnMut(i32, &str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let due = (started.elapsed().as_secs_f64() * 2_000.0) as u64;
            while sent < due {
                let partition = (sent % 8) as i32;
                let record = (
                    partition,
                    format!("p{partition}"),
                    json!({"n": sent}).to_string(),
                    1_700_000_000_000 + sent as i64,
                );
                send(&producer, "live", &record);
                sent += 1;
            }
            producer.poll(Duration::ZERO);
            if let Some(Ok(message)) = reader.poll(Duration::from_millis(5)) {
                let key = message
                    .key()
                    .and_then(|key| std::str::from_utf8(key).ok())
                    .unwrap_or_default();
                let partition = key.trim_start_matches('p').parse().unwrap_or(-1);
                let attempt = message
                    .headers()
                    .and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key == "millrace-attempt")
                            .and_then(|h| h.value)
                    })
                    .and_then(|value| std::str::from_utf8(value).ok())
                    .unwrap_or_default()
                    .to_owned();
                if until(partition, &attempt) {
                    return true;
                }
            }
        }
        false
    };
    let mut a = start("a");
    let mut b = start("b");
    let shared = |pump: &mut dyn FnMut(Until<'_>) -> bool, names: [&str; 2]| {
        assert!(
            pump(&mut |_, _| {
                running_tasks(&log(names[0])).len() + running_tasks(&log(names[1])).len() == 8
                    && !running_tasks(&log(names[0])).is_empty()
                    && !running_tasks(&log(names[1])).is_empty()
            }),
            "the two never shared the tasks"
        );
    };
    shared(&mut pump, ["a", "b"]);
    // Let a checkpoint of every task go by.
    let settled = Instant::now();
    pump(&mut |_, _| settled.elapsed() > Duration::from_secs(3));
    let a_tasks = running_tasks(&log("a"));
    let killed = Instant::now();
    a.kill().unwrap();
    a.wait().unwrap();
    let a_attempts = attempts(&log("a"));
    assert!(
        pump(&mut |partition, attempt| {
            a_tasks.contains(&partition)
                && !attempt.is_empty()
                && !a_attempts.iter().any(|a| a == attempt)
        }),
        "the killed process's partitions never produced output again"
    );
    let after_kill = killed.elapsed();

    let mut c = start("c");
    shared(&mut pump, ["b", "c"]);
    let settled = Instant::now();
    pump(&mut |_, _| settled.elapsed() > Duration::from_secs(3));
    let c_tasks = running_tasks(&log("c"));
    let terminated = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .unwrap();
    c.wait().unwrap();
    let c_attempts = attempts(&log("c"));
    assert!(
        pump(&mut |partition, attempt| {
            c_tasks.contains(&partition)
                && !attempt.is_empty()
                && !c_attempts.iter().any(|c| c == attempt)
        }),
        "the stopped process's partitions never produced output again"
    );
    let after_term = terminated.elapsed();
    let _ = b.kill();
    let _ = b.wait();
    println!(
        "failover (tasks of 8 partitions, 2,000 records/s, 1 s checkpoints, 6 s sessions): SIGKILL to output elsewhere {:.1} s ({} tasks moved); SIGTERM {:.1} s ({} tasks)",
        after_kill.as_secs_f64(),
        a_tasks.len(),
        after_term.as_secs_f64(),
        c_tasks.len()
    );
}

/// A `read_committed` consumer of `topic` from its start, polling the brokers
/// often (for latencies).
fn committed_reader(broker: &Broker, topic: &str) -> BaseConsumer {
    let reader: BaseConsumer = broker
        .config()
        .set("group.id", format!("reader-{}", fastrand::u32(..)))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    reader
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
    let reader = committed_reader(broker, "copied");
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
