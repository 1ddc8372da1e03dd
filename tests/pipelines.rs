//! Whole pipelines through the real binary: multi-stage retractions, wall-clock
//! triggers on live input, dead letters from steps, and the window functions.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::sessions::{hourly_session_sums, merging_events, test_stream, two_stage_spec};
use common::{millrace, parse_lines, run, run_records, write};
use serde_json::{Value, json};

#[test]
fn hourly_totals_of_session_sums_stay_correct_while_sessions_merge() {
    let dir = tempfile::tempdir().unwrap();
    let events = merging_events();
    write(dir.path(), "input.jsonl", &test_stream(&events));
    let spec = write(dir.path(), "pipeline.yaml", &two_stage_spec("sum", "sum"));
    let records = run_records(&["run", "-q", spec.to_str().unwrap()], "");

    // Expected: each final session's sum lands in the hour of its end.
    let expected: BTreeMap<(String, i64), i64> = hourly_session_sums(&events)
        .into_iter()
        .map(|(hour, sums)| (hour, sums.iter().sum()))
        .collect();
    let mut last: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut decreased = false;
    for record in &records {
        assert_eq!(record["retraction"], false, "the second stage accumulates");
        let key = (
            record["key"].as_str().unwrap().to_owned(),
            record["window"]["start"].as_i64().unwrap(),
        );
        let value = record["value"].as_i64().unwrap();
        if let Some(previous) = last.insert(key, value) {
            decreased |= value < previous;
        }
    }
    assert!(
        decreased,
        "retractions from the first stage were subtracted: {records:#?}"
    );
    for (key, value) in &last {
        assert_eq!(
            *value,
            expected.get(key).copied().unwrap_or(0),
            "hour {key:?}"
        );
    }
    for key in expected.keys() {
        assert!(last.contains_key(key), "hour {key:?} has a pane");
    }
}

#[test]
fn collect_downstream_removes_retracted_values() {
    let dir = tempfile::tempdir().unwrap();
    let events = merging_events();
    write(dir.path(), "input.jsonl", &test_stream(&events));
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        &two_stage_spec("sum", "collect"),
    );
    let records = run_records(&["run", "-q", spec.to_str().unwrap()], "");
    let mut last: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for record in &records {
        let key = (
            record["key"].as_str().unwrap().to_owned(),
            record["window"]["start"].as_i64().unwrap(),
        );
        let mut values: Vec<i64> = record["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        values.sort_unstable();
        last.insert(key, values);
    }
    let expected = hourly_session_sums(&events);
    for (key, values) in &last {
        assert_eq!(
            values,
            expected.get(key).unwrap_or(&Vec::new()),
            "hour {key:?}"
        );
    }
}

#[test]
fn retracting_output_nets_out_to_the_batch_sums() {
    let dir = tempfile::tempdir().unwrap();
    let events = merging_events();
    write(dir.path(), "input.jsonl", &test_stream(&events));
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "source: { test_stream: input.jsonl }
steps:
  - window:
      sessions: { gap: 10m }
      trigger: { after_watermark: { early: { after_count: 1 } } }
      accumulation: retracting
  - combine: sum
sink: { stdout: {} }
",
    );
    let records = run_records(&["run", "-q", spec.to_str().unwrap()], "");
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    let mut retractions = 0;
    for record in &records {
        let sign = if record["retraction"] == true {
            retractions += 1;
            -1
        } else {
            1
        };
        *net.entry(record["key"].as_str().unwrap().to_owned())
            .or_default() += sign * record["value"].as_i64().unwrap();
    }
    assert!(retractions > 0);
    let mut batch: BTreeMap<String, i64> = BTreeMap::new();
    for (key, value, _) in &events {
        *batch.entry((*key).to_owned()).or_default() += value;
    }
    assert_eq!(net, batch);
}

#[test]
fn processing_time_triggers_fire_while_live_input_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "source: { stdin: { bundle_size: 1 } }
steps:
  - window:
      global: {}
      trigger: { repeatedly: { after_processing_time: { delay: 200ms } } }
      accumulation: accumulating
  - combine: count
sink: { stdout: {} }
",
    );
    let mut child = millrace()
        .args(["run", "-q", spec.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{{\"ts\": 1, \"n\": 1}}").unwrap();
    stdin.flush().unwrap();
    let first = lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a pane fires while stdin stays open");
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["value"], 1);
    assert_eq!(first["pane"]["timing"], "EARLY");
    writeln!(stdin, "{{\"ts\": 2, \"n\": 2}}").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    // The last lines may still be on their way through the reader thread.
    reader.join().unwrap();
    let rest: Vec<Value> = lines
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let last = rest.last().expect("a final pane at end of input");
    assert_eq!(last["value"], 2);
    assert_eq!(last["pane"]["last"], true);
}

#[test]
fn values_a_combine_rejects_go_to_dead_letters_and_the_rest_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "input.jsonl",
        "{\"add\": [{\"key\": \"k\", \"value\": 5, \"ts\": 1}, {\"key\": \"k\", \"value\": \"five\", \"ts\": 2}, {\"key\": \"k\", \"value\": 7, \"ts\": 3}]}\n",
    );
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "source: { test_stream: input.jsonl }
steps:
  - window: { fixed: { size: 1m } }
  - combine: sum
sink: { file: out.jsonl }
",
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert!(output.status.success());
    let out = parse_lines(&std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["value"], 12);
    let dead = parse_lines(&std::fs::read_to_string(dir.path().join("out.dead.jsonl")).unwrap());
    assert_eq!(
        dead,
        vec![json!({
            "step": "steps[1].combine (sum)",
            "record": {"key": "k", "value": "five", "ts": 2, "retraction": false},
            "reason": "sum needs numbers; got a string \"five\""
        })]
    );
}

#[test]
fn generator_source_counts_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "source: { generator: { elements: 20000, keys: 7, rate: 1000 } }
steps:
  - window: { fixed: { size: 1m } }
  - combine: count
sink: { stdout: {} }
",
    );
    let records = run_records(&["run", "-q", spec.to_str().unwrap()], "");
    let total: i64 = records.iter().map(|r| r["value"].as_i64().unwrap()).sum();
    assert_eq!(total, 20_000);
    assert!(records.iter().all(|r| r["pane"]["timing"] == "ON_TIME"));
}

#[test]
fn sliding_windows_and_timestamp_combiners() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "input.jsonl",
        "{\"add\": [{\"value\": 1, \"ts\": 10000}, {\"value\": 2, \"ts\": 40000}, {\"value\": 4, \"ts\": 70000}]}\n",
    );
    let spec = |combiner: &str| {
        format!(
            "source: {{ test_stream: input.jsonl }}
steps:
  - window: {{ sliding: {{ size: 1m, period: 30s }}, timestamp_combiner: {combiner} }}
  - combine: sum
sink: {{ stdout: {{}} }}
"
        )
    };
    let path = write(dir.path(), "earliest.yaml", &spec("earliest"));
    let records = run_records(&["run", "-q", path.to_str().unwrap()], "");
    let summary: Vec<(i64, i64, i64)> = records
        .iter()
        .map(|r| {
            (
                r["window"]["start"].as_i64().unwrap(),
                r["value"].as_i64().unwrap(),
                r["ts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (-30_000, 1, 10_000),
            (0, 3, 10_000),
            (30_000, 6, 40_000),
            (60_000, 4, 70_000),
        ]
    );
    let path = write(dir.path(), "latest.yaml", &spec("latest"));
    let records = run_records(&["run", "-q", path.to_str().unwrap()], "");
    let stamps: Vec<i64> = records.iter().map(|r| r["ts"].as_i64().unwrap()).collect();
    assert_eq!(stamps, vec![10_000, 40_000, 70_000, 70_000]);
}

#[test]
fn late_data_past_allowed_lateness_is_dropped_and_counted() {
    let spec = common::root().join("tests/conformance/book-2-8/pipeline.yaml");
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert!(output.status.success());
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("read 10 records"), "{summary}");
    assert!(
        summary.contains("dropped 1 late"),
        "the 9 at 12:08:19: {summary}"
    );
}
