//! Kafka in and out through the real binary and a real Kafka-protocol broker
//! (tansu, on 127.0.0.1): a windowed sum from a topic of several partitions, with
//! out-of-order events and malformed records, to a topic exactly once, to one at
//! least once, and to a file; runs killed with SIGKILL at random moments, and at
//! each step of a checkpoint's commit, resume to the output of an uninterrupted
//! run; idle partitions stop holding the watermark back.
//!
//! Expected sums come from a plain reference implementation over the events the
//! test produced, not from the engine.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fresh_state_dir, parse_lines, write};
use kafka_broker::{Broker, Instance, Outgoing, committed_records, running_tasks};
use serde_json::{Value, json};

const WINDOW: i64 = 10_000;

/// Sums by (user, window start).
type Sums = BTreeMap<(String, i64), i64>;
const START: i64 = 1_700_000_000_000;

/// Events over `users` users in `partitions` partitions (a user's events all in
/// one, as Kafka's key partitioning puts them), up to 2 s out of order within a
/// partition; the Kafka timestamp is the event time. Returns them and the
/// reference sums: (user, window start) → sum of scores.
fn events(count: usize, users: u32, partitions: i32) -> (Vec<Outgoing>, Sums) {
    let mut rng = fastrand::Rng::with_seed(5);
    let mut records = Vec::with_capacity(count);
    let mut sums = BTreeMap::new();
    for i in 0..count {
        let user = rng.u32(0..users);
        let ts = START + i as i64 * 3 - rng.i64(0..2_000);
        let score = rng.i64(1..10);
        let name = format!("u{user}");
        records.push((
            (user % partitions as u32) as i32,
            name.clone(),
            json!({"user": name, "score": score}).to_string(),
            ts,
        ));
        *sums.entry((name, ts - ts.rem_euclid(WINDOW))).or_insert(0) += score;
    }
    (records, sums)
}

/// The pane records in what was read back from a topic.
fn records_of(read: &[kafka_broker::Read]) -> Vec<Value> {
    read.iter()
        .map(|r| serde_json::from_str(&r.value).unwrap())
        .collect()
}

/// The sums in pane records, checked to be on-time and final.
fn sums_of(records: &[Value]) -> Sums {
    let mut sums = BTreeMap::new();
    for record in records {
        assert_eq!(record["pane"]["timing"], "ON_TIME", "{record}");
        assert_eq!(record["retraction"], false, "{record}");
        let key = (
            record["key"].as_str().unwrap().to_owned(),
            record["window"]["start"].as_i64().unwrap(),
        );
        let previous = sums.insert(key.clone(), record["value"].as_i64().unwrap());
        assert!(previous.is_none(), "two panes for {key:?}");
    }
    sums
}

/// A scratch folder with a spec reading `events` from `broker` into `sums`
/// (exactly once), `sums-again` (at least once) and `out.jsonl`.
struct Scenario {
    dir: tempfile::TempDir,
    broker: Broker,
    group: String,
}

impl Scenario {
    fn new(partitions: i32, until: &str) -> Scenario {
        let broker = Broker::start();
        broker.create_topic("events", partitions);
        broker.create_topic("sums", 1);
        broker.create_topic("sums-again", 1);
        let dir = tempfile::tempdir().unwrap();
        let group = format!("sums-{}", fastrand::u32(..));
        write(
            dir.path(),
            "pipeline.yaml",
            &format!(
                "name: kafka-sums
source:
  kafka:
    brokers: {address}
    topic: events
    group: {group}
    until: {until}
    value: score
    watermark: {{ max_out_of_orderness: 5s, idle_partition: 2s }}
    bundle_size: 200
    options: {{ session.timeout.ms: 6000, group.instance.id: {group}-member }}
steps:
  - window: {{ fixed: {{ size: 10s }} }}
  - combine: sum
sinks:
  exactly:
    kafka: {{ brokers: {address}, topic: sums, transactional_id: {group} }}
  again:
    kafka: {{ brokers: {address}, topic: sums-again, delivery: at_least_once, key: key }}
  file:
    file: out.jsonl
checkpoint: {{ interval: 300ms }}
",
                address = broker.address,
            ),
        );
        Scenario { dir, broker, group }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, state: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_millrace"));
        command
            .current_dir(self.dir.path())
            .args(["run", "pipeline.yaml", "--state-dir"])
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, state: &Path) -> Output {
        let output = self.command(state).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The sums in the exactly-once topic's committed records, given every run's
    /// log (see `committed_records`).
    fn committed_sums(&self, logs: &[String]) -> Sums {
        let committed: Vec<Value> = committed_records(&self.broker.read_committed("sums", 1), logs)
            .iter()
            .map(|value| serde_json::from_str(value).unwrap())
            .collect();
        sums_of(&committed)
    }

    fn file_output(&self) -> Vec<Value> {
        parse_lines(&std::fs::read_to_string(self.path("out.jsonl")).unwrap())
    }
}

#[test]
fn a_windowed_sum_reads_partitions_and_writes_kafka_exactly_once_and_a_file() {
    let scenario = Scenario::new(4, "end");
    let (mut events, expected) = events(6_000, 40, 4);
    // Malformed records, each dead-lettered with its place in the log.
    events.insert(100, (1, "u1".into(), "not json".into(), START + 400));
    events.insert(
        2_000,
        (2, "u2".into(), r#"{"user": "u2"}"#.into(), START + 5_000),
    );
    scenario.broker.produce("events", &events);
    let output = scenario.run(&fresh_state_dir());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("dead-lettered 2 "),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(sums_of(&scenario.file_output()), expected);
    let exactly = scenario.broker.read_committed("sums", 1);
    let records = records_of(&exactly);
    assert_eq!(sums_of(&records), expected);
    let again = records_of(&scenario.broker.read_committed("sums-again", 1));
    assert_eq!(sums_of(&again), expected);

    // Keys, timestamps and headers carry what the pane record says.
    for (read, record) in exactly.iter().zip(&records) {
        assert_eq!(read.key.as_deref(), record["key"].as_str());
        let start = record["window"]["start"].as_i64().unwrap();
        assert_eq!(read.headers["millrace-window-start"], start.to_string());
        assert_eq!(
            read.headers["millrace-window-end"],
            (start + WINDOW).to_string()
        );
        assert_eq!(read.headers["millrace-pane-timing"], "ON_TIME");
        assert_eq!(read.headers["millrace-pane-index"], "0");
        assert_eq!(read.headers["millrace-retraction"], "false");
    }

    // Dead letters name the topic, partition and offset of what they hold.
    let input = scenario.broker.read_committed("events", 4);
    let dead = parse_lines(&std::fs::read_to_string(scenario.path("out.dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        assert_eq!(letter["topic"], "events");
        let partition = letter["partition"].as_i64().unwrap() as i32;
        let offset = letter["offset"].as_i64().unwrap();
        let original = input
            .iter()
            .find(|r| r.partition == partition && r.offset == offset)
            .expect("the dead letter's offset is in the log");
        assert_eq!(letter["input"], original.value.as_str());
    }
    // Partitions interleave as the broker hands them out: in either order.
    let mut reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert!(
        reasons[0].starts_with("missing the value field \"score\""),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("not valid JSON"), "{reasons:?}");

    // The group's committed offsets are at the end of every partition, for lag
    // tools to see.
    let ends: Vec<Option<i64>> = (0..4)
        .map(|p| {
            input
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset + 1)
                .max()
        })
        .collect();
    assert_eq!(
        scenario.broker.committed(&scenario.group, "events", 4),
        ends
    );
}

/// The newest checkpoint in the state directory `state`.
fn newest_checkpoint(state: &Path) -> Option<u64> {
    std::fs::read_dir(state.join("kafka-sums/checkpoints"))
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
}

#[test]
fn killed_at_random_moments_a_kafka_pipeline_commits_each_record_once() {
    let scenario = Scenario::new(4, "end");
    let (events, expected) = events(100_000, 200, 4);
    scenario.broker.produce("events", &events);
    let state = fresh_state_dir();
    let mut rng = fastrand::Rng::with_seed(3);
    let mut kills = 0;
    let mut logs = Vec::new();
    loop {
        let mut child = scenario
            .command(&state)
            .env("RUST_LOG", "info")
            .spawn()
            .unwrap();
        // Five runs are killed each at a random moment after it completed a
        // checkpoint of its own (so that every run makes progress), wherever
        // that falls: reading, writing, inside the next checkpoint or commit.
        let killed = kills < 5 && {
            let before = newest_checkpoint(&state);
            let deadline = Instant::now() + Duration::from_secs(120);
            while newest_checkpoint(&state) == before
                && child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.u64(0..400)));
            child.try_wait().unwrap().is_none()
        };
        if killed {
            child.kill().unwrap(); // SIGKILL
        }
        let output = child.wait_with_output().unwrap();
        logs.push(String::from_utf8_lossy(&output.stderr).into_owned());
        if killed {
            kills += 1;
            continue;
        }
        assert!(output.status.success(), "{}", logs.last().unwrap());
        break;
    }
    assert!(kills >= 5, "only {kills} runs were killed");

    // The file sink publishes each checkpoint's output once, exactly.
    assert_eq!(sums_of(&scenario.file_output()), expected);
    // Over committed transactions (as far as tansu can show; see common/kafka.rs),
    // each sum is in the topic once.
    assert_eq!(scenario.committed_sums(&logs), expected);
    // At least once: every sum is there, some of them more than once.
    let again = records_of(&scenario.broker.read_committed("sums-again", 1));
    let mut seen = BTreeMap::new();
    for record in &again {
        seen.insert(
            (
                record["key"].as_str().unwrap().to_owned(),
                record["window"]["start"].as_i64().unwrap(),
            ),
            record["value"].as_i64().unwrap(),
        );
    }
    assert_eq!(seen, expected);
}

#[test]
fn a_crash_between_a_checkpoint_and_its_commit_resumes_from_the_one_before() {
    let scenario = Scenario::new(2, "end");
    let (events, expected) = events(8_000, 30, 2);
    scenario.broker.produce("events", &events);
    let state = fresh_state_dir();
    let mut logs = Vec::new();
    for point in [
        // The checkpoint is complete, its transaction not committed: the next
        // run drops it and produces its output again.
        "checkpoint:before-publish@2",
        // Committed, but the file not published: the next run resumes from it
        // (its first checkpoint, since a finished run's last is a case of its
        // own: a run after one that finished starts over).
        "checkpoint:after-commit@1",
    ] {
        let crashed = scenario
            .command(&state)
            .env("MILLRACE_FAIL_AT", point)
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{point}: the run was aborted");
        let stderr = String::from_utf8_lossy(&crashed.stderr).into_owned();
        assert!(
            stderr.contains(point.split('@').next().unwrap()),
            "{point}: {stderr}"
        );
        logs.push(stderr);
    }
    assert!(
        logs[1].contains("checkpoint 2: its output's transaction never committed (the last committed was checkpoint 1 of this state's)"),
        "{}",
        logs[1]
    );
    let resumed = scenario
        .command(&state)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    logs.push(String::from_utf8_lossy(&resumed.stderr).into_owned());
    let stderr = &logs[2];
    assert!(resumed.status.success(), "{stderr}");
    assert!(!stderr.contains("never committed"), "{stderr}");
    assert_eq!(sums_of(&scenario.file_output()), expected);
    assert!(stderr.contains("read 8000 records"), "{stderr}");
    assert_eq!(scenario.committed_sums(&logs), expected);
}

#[test]
fn an_idle_partition_stops_holding_the_watermark_back() {
    let scenario = Scenario::new(2, "never");
    // Only partition 0 gets events: partition 1 is idle from the start.
    let records: Vec<Outgoing> = (0..50)
        .map(|i| {
            (
                0,
                "u0".to_owned(),
                json!({"score": 1}).to_string(),
                START + i * 1_000,
            )
        })
        .collect();
    scenario.broker.produce("events", &records);
    let mut child = scenario.command(&fresh_state_dir()).spawn().unwrap();
    // The watermark trails partition 0's latest event by 5 s: the windows up to
    // START + 40 s close once partition 1 has been idle for 2 s, while the run
    // waits for more records.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut closed = Vec::new();
    while Instant::now() < deadline && closed.len() < 4 {
        std::thread::sleep(Duration::from_millis(200));
        closed = std::fs::read_to_string(scenario.path("out.jsonl"))
            .map(|text| parse_lines(&text))
            .unwrap_or_default();
    }
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(still_running, "a source that is not bounded keeps waiting");
    let sums = sums_of(&closed);
    for window in 0..4 {
        assert_eq!(
            sums.get(&("u0".to_owned(), START + window * WINDOW)),
            Some(&10)
        );
    }
}

/// Starts a run, then, once it has checkpointed, a second run of the spec as
/// `change` rewrites it; returns the first run's stderr, which must have failed.
fn second_run_stops_the_first(change: impl Fn(&str) -> String) -> String {
    let scenario = Scenario::new(4, "never");
    let (input, _) = events(2_000, 20, 4);
    scenario.broker.produce("events", &input);
    let first_state = fresh_state_dir();
    let mut first = scenario.command(&first_state).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while newest_checkpoint(&first_state).is_none_or(|id| id < 2) {
        assert!(
            Instant::now() < deadline,
            "the first run never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let spec = std::fs::read_to_string(scenario.path("pipeline.yaml")).unwrap();
    let other = change(&spec);
    assert_ne!(spec, other);
    write(scenario.dir.path(), "second.yaml", &other);
    let mut second = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .current_dir(scenario.dir.path())
        .args(["run", "second.yaml", "--state-dir"])
        .arg(fresh_state_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // More input, so that the first run has output to commit (a run with nothing
    // new to checkpoint commits nothing, and so learns nothing of a fencing).
    let (more, _) = events(20, 20, 4);
    let deadline = Instant::now() + Duration::from_secs(60);
    while first.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the first run went on");
        scenario.broker.produce("events", &more);
        std::thread::sleep(Duration::from_millis(300));
    }
    let output = first.wait_with_output().unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_second_run_with_the_same_transactional_id_fences_the_first() {
    // In another group, so that only its producer's `init_transactions`, which
    // fences the first run's, can stop the first run: its next commit fails.
    let stderr = second_run_stops_the_first(|spec| {
        spec.replace("    group: sums-", "    group: other-sums-")
            .replace("-member }", "-other-member }")
    });
    assert!(
        stderr.contains("There is a newer producer with the same transactionalId")
            && stderr.contains("fenced this one, which stops"),
        "{stderr}"
    );
}

#[test]
fn a_second_member_of_the_group_makes_the_first_stop_with_a_reason() {
    // Its own transactional id: only the group's rebalance tells the first run.
    let stderr = second_run_stops_the_first(|spec| {
        spec.replace("-member }", "-other-member }")
            .replace("transactional_id: sums-", "transactional_id: other-sums-")
    });
    assert!(
        stderr.contains("gave partitions")
            && stderr.contains("two runs of it must not share a group"),
        "{stderr}"
    );
}

/// The spec of `scenario` as a pipeline of tasks (no static membership: each
/// process is its own member).
fn tasks_spec(scenario: &Scenario, store: Option<&Path>) -> &'static str {
    let spec = std::fs::read_to_string(scenario.path("pipeline.yaml")).unwrap();
    let member = format!(", group.instance.id: {}-member", scenario.group);
    assert!(spec.contains(&member));
    let mut tasks = format!("{}parallelism: partitions\n", spec.replace(&member, ""));
    if let Some(store) = store {
        // Machines of their own: only the store and Kafka are shared, and a file
        // sink's staging would be left behind on a machine (see docs/kafka.md).
        let (file, checkpoint) = (
            "  file:\n    file: out.jsonl\n",
            "checkpoint: { interval: 300ms }",
        );
        assert!(tasks.contains(file) && tasks.contains(checkpoint));
        let stored = format!(
            "checkpoint: {{ interval: 300ms, store: \"file://{}\" }}",
            store.display()
        );
        tasks = tasks.replace(file, "").replace(checkpoint, &stored);
    }
    write(scenario.dir.path(), "tasks.yaml", &tasks);
    "tasks.yaml"
}

/// The records the tasks' files hold so far: only whole lines (a file may be
/// being appended to).
fn task_files(scenario: &Scenario, tasks: i32) -> Vec<Value> {
    let mut records = Vec::new();
    for task in 0..tasks {
        let text = std::fs::read_to_string(scenario.path(&format!("out.task-{task}.jsonl")))
            .unwrap_or_default();
        let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        records.extend(parse_lines(whole));
    }
    records
}

#[test]
fn tasks_share_a_groups_partitions_and_move_when_an_instance_dies_or_joins() {
    tasks_move(false);
}

#[test]
fn tasks_on_machines_of_their_own_move_through_the_checkpoint_store() {
    tasks_move(true);
}

/// Two instances share 8 partitions' tasks; the first is SIGKILLed and the
/// second takes its tasks; a third joins and takes some, and leaves on SIGTERM.
/// With `store`, each instance has a state directory of its own and the tasks'
/// checkpoints move through a `file://` checkpoint store; else they share one.
fn tasks_move(store: bool) {
    let scenario = Scenario::new(8, "never");
    let store_dir = store.then(|| scenario.path("store"));
    let spec = tasks_spec(&scenario, store_dir.as_deref());
    let shared = fresh_state_dir();
    let states: BTreeMap<&str, PathBuf> = ["first", "second", "third"]
        .into_iter()
        .map(|name| {
            (
                name,
                if store {
                    fresh_state_dir()
                } else {
                    shared.clone()
                },
            )
        })
        .collect();
    let (events, expected) = events(30_000, 64, 8);
    let start = |name: &str| {
        let log = std::fs::File::create(scenario.path(&format!("{name}.log"))).unwrap();
        Instance(
            Command::new(env!("CARGO_BIN_EXE_millrace"))
                .current_dir(scenario.dir.path())
                .args(["run", spec, "--state-dir"])
                .arg(&states[name])
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    };
    let log = |name: &str| std::fs::read_to_string(scenario.path(&format!("{name}.log"))).unwrap();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !done() {
            if Instant::now() >= deadline {
                let logs: Vec<String> = ["first", "second", "third"]
                    .into_iter()
                    .filter_map(|name| {
                        let text =
                            std::fs::read_to_string(scenario.path(&format!("{name}.log"))).ok()?;
                        let tail: Vec<&str> = text.lines().rev().take(40).collect();
                        Some(format!(
                            "--- {name}:\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        ))
                    })
                    .collect();
                panic!("waited too long for {what}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let checkpoints = store_dir.as_ref().unwrap_or(&shared);
    let task_checkpoints = |task: i32| {
        std::fs::read_dir(checkpoints.join(format!("kafka-sums/task-{task}/checkpoints")))
            .map_or(0, Iterator::count)
    };
    let logs = || -> Vec<String> {
        ["first", "second", "third"]
            .map(|name| {
                std::fs::read_to_string(scenario.path(&format!("{name}.log"))).unwrap_or_default()
            })
            .into()
    };

    scenario.broker.produce("events", &events[..10_000]);
    let mut first = start("first");
    let mut second = start("second");
    let running = |name: &str| running_tasks(&log(name));
    wait_for("the two to share the tasks", &|| {
        !running("first").is_empty() && !running("second").is_empty()
    });
    wait_for("every task to checkpoint", &|| {
        (0..8).all(|task| task_checkpoints(task) > 0)
    });
    assert_eq!(running("first").len() + running("second").len(), 8);

    // The first dies with its tasks mid-run; the second takes them over once the
    // group sees it gone.
    scenario.broker.produce("events", &events[10_000..20_000]);
    std::thread::sleep(Duration::from_millis(fastrand::u64(0..1_000)));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    wait_for("the second to take the first's tasks", &|| {
        running("second").len() == 8
    });

    // A third joins: the second stops some of its tasks and the third resumes
    // them. Over one topic the assignor is cooperative: the tasks that stay keep
    // running, so the second stops only those that move.
    let before_third = log("second").len();
    let mut third = start("third");
    scenario.broker.produce("events", &events[20_000..]);
    wait_for("the third to take tasks", &|| !running("third").is_empty());
    wait_for("the tasks to settle", &|| {
        running("second").len() + running("third").len() == 8
    });
    let stopped = log("second")[before_third..]
        .matches("stopping task ")
        .count();
    assert_eq!(stopped, running("third").len(), "{}", log("second"));
    // An event far ahead in every partition closes every window of the events.
    let closing: Vec<Outgoing> = (0..8)
        .map(|p| {
            (
                p,
                format!("u{p}"),
                json!({"score": 1}).to_string(),
                START + 10_000_000,
            )
        })
        .collect();
    scenario.broker.produce("events", &closing);
    wait_for("every window's sum", &|| {
        if store {
            std::thread::sleep(Duration::from_millis(900));
            let read = scenario.broker.read_committed("sums", 1);
            committed_records(&read, &logs()).len() >= expected.len()
        } else {
            task_files(&scenario, 8).len() >= expected.len()
        }
    });
    let (second_tasks, third_tasks) = (running("second"), running("third"));
    assert_eq!(
        second_tasks.len() + third_tasks.len(),
        8,
        "{second_tasks:?} {third_tasks:?}"
    );
    assert!(second_tasks.is_disjoint(&third_tasks));

    // SIGTERM: the third checkpoints its tasks and leaves the group, and the
    // second takes them at once, not after a session timeout.
    let terminated = Command::new("kill")
        .args(["-TERM", &third.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let left = Instant::now();
    let status = loop {
        if let Some(status) = third.try_wait().unwrap() {
            break status;
        }
        assert!(
            left.elapsed() < Duration::from_secs(30),
            "the third did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{}", log("third"));
    assert!(running("third").is_empty(), "{}", log("third"));
    assert!(log("third").contains("leave the group"));
    wait_for("the second to take the third's tasks", &|| {
        running("second").len() == 8
    });
    second.kill().unwrap();
    second.wait().unwrap();

    // Each window's sum once, from the topic and from the task files.
    assert_eq!(scenario.committed_sums(&logs()), expected);
    if !store {
        assert_eq!(sums_of(&task_files(&scenario, 8)), expected);
    }
}

/// Events keyed by session, each in a random partition, re-keyed by user: every
/// user's windows are summed in one task of the stage after the repartition
/// topic, whichever instance runs it, and equal the reference sums (a
/// one-partition run's by definition); the same spec under `parallelism: single`
/// (where the repartition step passes records on) gives the same sums.
#[test]
fn a_re_keying_pipeline_over_a_repartition_topic_sums_each_key_in_one_task() {
    let broker = Broker::start();
    broker.create_topic("clicks", 4);
    broker.create_topic("sums", 1);
    let (events, expected) = events(8_000, 40, 4);
    // A user's events spread over every partition, as a session key puts them.
    let mut rng = fastrand::Rng::with_seed(11);
    let scattered: Vec<Outgoing> = events
        .into_iter()
        .map(|(_, _, value, ts)| (rng.i32(0..4), format!("s{}", rng.u32(..)), value, ts))
        .collect();
    broker.produce("clicks", &scattered);
    let dir = tempfile::tempdir().unwrap();
    let group = format!("by-user-{}", fastrand::u32(..));
    let spec = |parallelism: &str, group: &str, out: &str| {
        format!(
            "name: by-user
parallelism: {parallelism}
source:
  kafka:
    brokers: {address}
    topic: clicks
    group: {group}
    until: end
    watermark: {{ max_out_of_orderness: 5s }}
    bundle_size: 200
    options: {{ session.timeout.ms: 6000 }}
steps:
  - pardo: {{ plugin: {plugin}, config: {{ key: user, value: score }} }}
  - repartition: {{}}
  - window: {{ fixed: {{ size: 10s }} }}
  - combine: sum
sinks:
  exactly:
    kafka: {{ brokers: {address}, topic: sums, transactional_id: {group} }}
  file:
    file: {out}
checkpoint: {{ interval: 300ms }}
",
            address = broker.address,
            plugin = common::plugin("parse-json"),
        )
    };
    write(
        dir.path(),
        "tasks.yaml",
        &spec("partitions", &group, "out.jsonl"),
    );
    let state = fresh_state_dir();
    let start = |name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
        Instance(
            Command::new(env!("CARGO_BIN_EXE_millrace"))
                .current_dir(dir.path())
                .args(["run", "tasks.yaml", "--state-dir"])
                .arg(&state)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    };
    let log = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
    let mut instances = [start("first"), start("second")];
    let deadline = Instant::now() + Duration::from_secs(120);
    for (instance, name) in instances.iter_mut().zip(["first", "second"]) {
        let status = loop {
            if let Some(status) = instance.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not finish:\n{}",
                log(name)
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{name}:\n{}", log(name));
    }
    // millrace created the topic, with a partition per task.
    assert!(
        !broker
            .read_committed("by-user-step-1-repartition", 4)
            .is_empty()
    );

    // Each user's windows are in the file of one task of the second stage.
    let mut task_of: BTreeMap<String, i32> = BTreeMap::new();
    let mut records = Vec::new();
    for task in 0..4 {
        let file = dir.path().join(format!("out.stage-1-task-{task}.jsonl"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for record in parse_lines(&text) {
            let user = record["key"].as_str().unwrap().to_owned();
            let first = *task_of.entry(user.clone()).or_insert(task);
            assert_eq!(first, task, "{user}'s windows are in two tasks");
            records.push(record);
        }
    }
    assert_eq!(sums_of(&records), expected);
    let logs = [log("first"), log("second")];
    let committed: Vec<Value> = committed_records(&broker.read_committed("sums", 1), &logs)
        .iter()
        .map(|value| serde_json::from_str(value).unwrap())
        .collect();
    assert_eq!(sums_of(&committed), expected);

    // One task reads every key: the repartition step passes records on.
    let single = format!("{group}-single");
    write(
        dir.path(),
        "single.yaml",
        &spec("single", &single, "single.jsonl"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .current_dir(dir.path())
        .args(["run", "single.yaml", "--state-dir"])
        .arg(fresh_state_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("single.jsonl")).unwrap();
    assert_eq!(sums_of(&parse_lines(&text)), expected);
}
