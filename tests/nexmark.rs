//! The Nexmark source through the real binary: Beam's 1:3:46 mix of persons,
//! auctions and bids in event-time order, the same events for the same seed, a
//! resumed run continuing at the event it stopped at, and settings checked like
//! the rest of a spec.

mod common;

use common::{parse_lines, run, write};
use serde_json::Value;

/// Runs a pass-through of `settings` Nexmark events into `out.jsonl`.
fn pass_through(settings: &str) -> (tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "q0.yaml",
        &format!(
            "name: q0\nsource: {{ nexmark: {{ {settings} }} }}\nsink: {{ file: out.jsonl }}\n"
        ),
    );
    let output = run(&["run", "-q", spec.to_str().unwrap()], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let records = parse_lines(&text);
    (dir, records)
}

fn kind(record: &Value) -> &str {
    let value = record["value"].as_object().expect("an event is an object");
    value.keys().next().map_or("", String::as_str)
}

#[test]
fn the_source_generates_beams_mix_in_event_time_order() {
    let (_dir, records) = pass_through("events: 5000, seed: 7, bundle_size: 300");
    assert_eq!(records.len(), 5000);
    let count = |name: &str| records.iter().filter(|r| kind(r) == name).count();
    assert_eq!(
        (count("person"), count("auction"), count("bid")),
        (100, 300, 4600)
    );
    // One event per 0.1 ms at Beam's default 10,000 per second, from Beam's base time.
    let times: Vec<i64> = records.iter().map(|r| r["ts"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
    assert_eq!(times[0], 1_436_918_400_000);
    assert_eq!(times[4999], 1_436_918_400_000 + 499);
    for record in &records {
        let event = &record["value"][kind(record)];
        assert_eq!(
            event["dateTime"].as_i64(),
            record["ts"].as_i64(),
            "{record}"
        );
    }
    let bid = records.iter().find(|r| kind(r) == "bid").unwrap();
    for field in [
        "auction", "bidder", "price", "channel", "url", "dateTime", "extra",
    ] {
        assert!(
            bid["value"]["bid"].get(field).is_some(),
            "a bid has {field}: {bid}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_others() {
    let (_a, first) = pass_through("events: 2000, seed: 3");
    let (_b, again) = pass_through("events: 2000, seed: 3");
    let (_c, other) = pass_through("events: 2000, seed: 4");
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn bad_settings_are_spec_errors_at_their_path() {
    let dir = tempfile::tempdir().unwrap();
    for (settings, expected) in [
        ("rate: 0", "q.yaml: source.nexmark.rate: expected "),
        ("evnts: 10", "q.yaml: source.nexmark: unknown field `evnts`"),
    ] {
        let spec = write(
            dir.path(),
            "q.yaml",
            &format!("name: q\nsource: {{ nexmark: {{ {settings} }} }}\nsink: stdout\n"),
        );
        let output = run(&["validate", spec.to_str().unwrap()], "");
        assert_eq!(output.status.code(), Some(2));
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn a_run_that_crashed_resumes_at_the_event_it_had_reached() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "q0.yaml",
        "name: q0
source: { nexmark: { events: 20000, seed: 5, bundle_size: 500 } }
steps:
  - window: { fixed: { size: 100ms } }
  - combine: count
sink: { file: out.jsonl }
checkpoint: { interval: 1h, records: 3000 }
",
    );
    let command = |output: &str, state: &str, fail: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_millrace"));
        command
            .args(["run", "-q", spec.to_str().unwrap(), "--output"])
            .arg(dir.path().join(output))
            .arg("--state-dir")
            .arg(dir.path().join(state));
        match fail {
            Some(point) => command.env("MILLRACE_FAIL_AT", point),
            None => command.env_remove("MILLRACE_FAIL_AT"),
        };
        command.output().unwrap()
    };
    assert!(command("ref.jsonl", "ref", None).status.success());
    let crashed = command("out.jsonl", "state", Some("checkpoint:after-publish@3"));
    assert!(!crashed.status.success(), "the run was aborted");
    let resumed = command("out.jsonl", "state", None);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert!(!read("ref.jsonl").is_empty());
    assert!(
        read("out.jsonl") == read("ref.jsonl"),
        "the resumed output differs"
    );
}
