//! Pipelines as graphs through the real binary: branches to several sinks, a
//! flatten of two sources, cogroups (joins) in every accumulation mode, idle
//! sources, `validate` printing the graph, and recovery of a join killed with
//! SIGKILL. Expected outputs are worked out by hand from the Dataflow model's rules
//! (the comments say how), never taken from the engine.
//!
//! Two test-stream sources interleave line by line, the first source's line first:
//! each poll reads one event from every source that has not ended. A source that
//! ends has its watermark at +∞.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{parse_lines, run, write};
use serde_json::{Value, json};

/// Runs the spec `spec` in a fresh folder holding `files`; returns the folder.
fn run_graph(spec: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let spec = write(dir.path(), "pipeline.yaml", spec);
    let output = run(&["run", "-q", spec.to_str().unwrap()], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn records(dir: &Path, name: &str) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(dir.join(name)).unwrap())
}

/// (key, value, timing, index, retraction) of each record.
fn panes(records: &[Value]) -> Vec<(String, Value, String, u64, bool)> {
    records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default().to_owned(),
                r["value"].clone(),
                r["pane"]["timing"].as_str().unwrap_or_default().to_owned(),
                r["pane"]["index"].as_u64().unwrap_or(u64::MAX),
                r["retraction"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn pane(key: &str, value: Value, timing: &str, index: u64) -> (String, Value, String, u64, bool) {
    (key.to_owned(), value, timing.to_owned(), index, false)
}

fn retraction(
    key: &str,
    value: Value,
    timing: &str,
    index: u64,
) -> (String, Value, String, u64, bool) {
    (key.to_owned(), value, timing.to_owned(), index, true)
}

#[test]
fn one_windowed_stream_branches_into_two_groupings_and_two_sinks() {
    let dir = run_graph(
        "name: branches
source: { test_stream: in.jsonl }
steps:
  - name: windowed
    window: { fixed: { size: 10 } }
  - name: sums
    input: windowed
    combine: sum
  - name: counts
    input: windowed
    combine: count
sinks:
  sums: { input: sums, file: sums.jsonl }
  counts: { input: counts, file: counts.jsonl }
",
        &[(
            "in.jsonl",
            r#"{"add": [{"key": "a", "value": 3, "ts": 1}, {"key": "a", "value": 4, "ts": 12}]}
{"add": [{"key": "b", "value": 5, "ts": 2}]}
"#,
        )],
    );
    // Windows [0, 10) and [10, 20): a has 3 then 4, b has 5; one ON_TIME pane each.
    assert_eq!(
        panes(&records(dir.path(), "sums.jsonl")),
        [
            pane("a", json!(3), "ON_TIME", 0),
            pane("b", json!(5), "ON_TIME", 0),
            pane("a", json!(4), "ON_TIME", 0),
        ]
    );
    assert_eq!(
        panes(&records(dir.path(), "counts.jsonl")),
        [
            pane("a", json!(1), "ON_TIME", 0),
            pane("b", json!(1), "ON_TIME", 0),
            pane("a", json!(1), "ON_TIME", 0),
        ]
    );
}

#[test]
fn a_flatten_of_two_sources_fires_when_the_slower_watermark_passes() {
    let dir = run_graph(
        "name: flattened
sources:
  left: { test_stream: left.jsonl }
  right: { test_stream: right.jsonl }
steps:
  - inputs: [left, right]
    flatten: {}
  - window: { fixed: { size: 10 }, trigger: { after_watermark: { late: { after_count: 1 } } }, allowed_lateness: 100 }
  - combine: sum
sinks:
  out: { file: out.jsonl }
",
        &[
            // Line by line: left 1, right 1, left 2, right 2, left 3 …
            (
                "left.jsonl",
                r#"{"add": [{"key": "k", "value": 1, "ts": 1}]}
{"watermark": 50}
{"add": [{"key": "k", "value": 100, "ts": 3}]}
"#,
            ),
            (
                "right.jsonl",
                r#"{"add": [{"key": "k", "value": 10, "ts": 2}]}
{"watermark": 5}
{"watermark": 20}
"#,
            ),
        ],
    );
    // Left at 50 and right at 5 hold the window [0, 10) open: left's 100 (third
    // line) is still on time. Right reaching 20 fires the ON_TIME pane 1 + 10 + 100.
    // Both sources then end: +∞, nothing new, no further pane.
    assert_eq!(
        panes(&records(dir.path(), "out.jsonl")),
        [pane("k", json!(111), "ON_TIME", 0)]
    );
}

/// A cogroup of persons and auctions per key in windows of 10, with a late
/// trigger and lateness 100, accumulating the way `mode` says.
fn join_spec(mode: &str) -> String {
    format!(
        "name: join
sources:
  persons: {{ test_stream: persons.jsonl }}
  auctions: {{ test_stream: auctions.jsonl }}
steps:
  - name: persons_w
    input: persons
    window: {{ fixed: {{ size: 10 }}, trigger: {{ after_watermark: {{ late: {{ after_count: 1 }} }} }}, allowed_lateness: 100, accumulation: {mode} }}
  - name: auctions_w
    input: auctions
    window: {{ fixed: {{ size: 10 }}, trigger: {{ after_watermark: {{ late: {{ after_count: 1 }} }} }}, allowed_lateness: 100, accumulation: {mode} }}
  - name: joined
    inputs: [persons_w, auctions_w]
    cogroup: {{}}
sinks:
  out: {{ input: joined, file: out.jsonl }}
"
    )
}

/// Person p1 and auction 7 in [0, 10); both watermarks reach 20 (ON_TIME); then
/// a late auction 9 arrives in the same window (LATE).
const PERSONS: &str = r#"{"add": [{"key": "p1", "value": "ann", "ts": 1}]}
{"watermark": 20}
"#;
const AUCTIONS: &str = r#"{"add": [{"key": "p1", "value": 7, "ts": 2}]}
{"watermark": 20}
{"add": [{"key": "p1", "value": 9, "ts": 5}]}
"#;

fn join(mode: &str) -> Vec<(String, Value, String, u64, bool)> {
    let dir = run_graph(
        &join_spec(mode),
        &[("persons.jsonl", PERSONS), ("auctions.jsonl", AUCTIONS)],
    );
    panes(&records(dir.path(), "out.jsonl"))
}

#[test]
fn a_cogroup_joins_per_key_and_window_in_every_accumulation_mode() {
    let on_time = json!({"persons_w": ["ann"], "auctions_w": [7]});
    // Discarding: the late pane holds only what came after the on-time one.
    assert_eq!(
        join("discarding"),
        [
            pane("p1", on_time.clone(), "ON_TIME", 0),
            pane("p1", json!({"persons_w": [], "auctions_w": [9]}), "LATE", 1),
        ]
    );
    // Accumulating: everything the window has seen.
    let everything = json!({"persons_w": ["ann"], "auctions_w": [7, 9]});
    assert_eq!(
        join("accumulating"),
        [
            pane("p1", on_time.clone(), "ON_TIME", 0),
            pane("p1", everything.clone(), "LATE", 1),
        ]
    );
    // Retracting: the late auction withdraws the joined pane, then replaces it.
    assert_eq!(
        join("retracting"),
        [
            pane("p1", on_time.clone(), "ON_TIME", 0),
            retraction("p1", on_time, "ON_TIME", 0),
            pane("p1", everything, "LATE", 1),
        ]
    );
}

#[test]
fn an_idle_source_stops_holding_back_the_join_after_its_timeout() {
    // `quiet` sends no records, only clock advances: without an idle timeout the
    // window [0, 10) waits for it until the end, so the element at ts 5 that
    // arrives after clock 6000 is still on time and one pane holds both.
    let spec = |idle: &str| {
        format!(
            "name: idle
sources:
  busy: {{ test_stream: busy.jsonl }}
  quiet: {{ test_stream: quiet.jsonl{idle} }}
steps:
  - inputs: [busy, quiet]
    flatten: {{}}
  - window: {{ fixed: {{ size: 10 }}, trigger: {{ after_watermark: {{ late: {{ after_count: 1 }} }} }}, allowed_lateness: 1000, accumulation: accumulating }}
  - combine: collect
sinks:
  out: {{ file: out.jsonl }}
"
        )
    };
    let files = [
        (
            "busy.jsonl",
            r#"{"add": [{"key": "k", "value": 1, "ts": 1}]}
{"watermark": 20}
{"processing_time": 1000}
{"processing_time": 6000}
{"add": [{"key": "k", "value": 2, "ts": 5}]}
"#,
        ),
        (
            "quiet.jsonl",
            r#"{"processing_time": 500}
{"processing_time": 700}
{"processing_time": 900}
{"processing_time": 950}
{"processing_time": 990}
{"processing_time": 995}
"#,
        ),
    ];
    let waiting = run_graph(&spec(""), &files);
    assert_eq!(
        panes(&records(waiting.path(), "out.jsonl")),
        [pane("k", json!([1, 2]), "ON_TIME", 0)]
    );
    // With `idle_timeout: 5s`, quiet (its timeout counts from clock 0, where a test
    // stream's clock starts) is idle at clock 6000: busy's watermark 20 alone fires
    // [1] ON_TIME, and 2 comes LATE.
    let idle = run_graph(&spec(", idle_timeout: 5s"), &files);
    assert_eq!(
        panes(&records(idle.path(), "out.jsonl")),
        [
            pane("k", json!([1]), "ON_TIME", 0),
            pane("k", json!([1, 2]), "LATE", 1),
        ]
    );
}

#[test]
fn validate_prints_the_graph_as_text_and_as_dot() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "join.yaml", &join_spec("retracting"));
    let output = run(&["validate", spec.to_str().unwrap()], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    for line in [
        "source persons: test stream",
        "steps[2].cogroup: cogroup (joined) ← persons_w, auctions_w",
        "sink out ← joined: file",
    ] {
        assert!(text.contains(line), "{line:?} is missing from:\n{text}");
    }
    let output = run(&["validate", "--dot", spec.to_str().unwrap()], "");
    let dot = String::from_utf8_lossy(&output.stdout);
    assert!(dot.starts_with("digraph \"join\" {"), "{dot}");
    for edge in [
        "source0 -> step0;",
        "step0 -> step2;",
        "step1 -> step2;",
        "step2 -> sink0;",
    ] {
        assert!(dot.contains(edge), "{edge} is missing from:\n{dot}");
    }
}

#[test]
fn a_bad_graph_is_a_spec_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "bad.yaml",
        &join_spec("retracting").replace(
            "inputs: [persons_w, auctions_w]",
            "inputs: [persons_w, auction_w]",
        ),
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains(
            "bad.yaml: steps[2].inputs[1]: no source or step is named \"auction_w\"; did you mean \"auctions_w\"?"
        ),
        "{message}"
    );
}

/// Persons and bids as JSON Lines files for a windowed join with late data.
fn write_join_inputs(dir: &Path, events: usize) {
    let mut rng = fastrand::Rng::with_seed(5);
    let (mut persons, mut bids) = (String::new(), String::new());
    let mut time: i64 = 1_700_000_000_000;
    for i in 0..events {
        time += rng.i64(0..50);
        let ts = time - rng.i64(0..3_000);
        let person = rng.u32(0..500);
        if i % 10 == 0 {
            persons.push_str(&format!(
                "{{\"id\": \"p{person}\", \"name\": \"n{i}\", \"ts\": {ts}}}\n"
            ));
        }
        bids.push_str(&format!(
            "{{\"bidder\": \"p{person}\", \"price\": {}, \"ts\": {ts}}}\n",
            rng.u32(1..1000)
        ));
    }
    write(dir, "persons.jsonl", &persons);
    write(dir, "bids.jsonl", &bids);
    write(
        dir,
        "pipeline.yaml",
        "name: recovered-join
sources:
  persons: { file: { path: persons.jsonl, key: id, watermark: { max_out_of_orderness: 1s }, bundle_size: 50 } }
  bids: { file: { path: bids.jsonl, key: bidder, value: price, watermark: { max_out_of_orderness: 1s }, bundle_size: 200 } }
steps:
  - name: persons_w
    input: persons
    window: { fixed: { size: 10s }, trigger: { after_watermark: { late: { after_count: 1 } } }, allowed_lateness: 5s, accumulation: retracting }
  - name: bids_w
    input: bids
    window: { fixed: { size: 10s }, trigger: { after_watermark: { late: { after_count: 1 } } }, allowed_lateness: 5s, accumulation: retracting }
  - name: joined
    inputs: [persons_w, bids_w]
    cogroup: {}
  - name: per_window
    input: bids_w
    combine: sum
sinks:
  joined: { input: joined, file: joined.jsonl }
  sums: { input: per_window, file: sums.jsonl }
checkpoint: { interval: 50ms, records: 5000, keep: 3 }
",
    );
}

fn run_join(dir: &Path, state: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_millrace"));
    command
        .arg("run")
        .arg(dir.join("pipeline.yaml"))
        .arg("--state-dir")
        .arg(dir.join(state))
        .arg("--quiet")
        .env_remove("MILLRACE_FAIL_AT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_join_killed_at_random_moments_resumes_to_the_exact_output() {
    let reference = tempfile::tempdir().unwrap();
    write_join_inputs(reference.path(), 200_000);
    let started = Instant::now();
    let output = run_join(reference.path(), "state").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let whole = started.elapsed();

    let dir = tempfile::tempdir().unwrap();
    write_join_inputs(dir.path(), 200_000);
    let mut rng = fastrand::Rng::with_seed(3);
    let mut kills = 0;
    for _ in 0..100 {
        let mut child = run_join(dir.path(), "state").spawn().unwrap();
        let deadline = Instant::now() + whole.mul_f64(0.05 + 0.15 * rng.f64());
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match finished {
            Some(status) => {
                assert!(status.success(), "the last attempt finished with {status}");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 3, "only {kills} attempts were killed");
    for file in ["joined.jsonl", "sums.jsonl", "joined.dead.jsonl"] {
        let ours = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let theirs = std::fs::read(reference.path().join(file)).unwrap_or_default();
        assert!(
            ours == theirs,
            "{file} differs from the uninterrupted run's ({} bytes vs {})",
            ours.len(),
            theirs.len()
        );
    }
    assert!(
        !std::fs::read(reference.path().join("joined.jsonl"))
            .unwrap()
            .is_empty()
    );
}

/// The dedup plugin sending repeats to the side output `repeats`, or (with
/// `send_to`) to an output the step does not declare.
fn dedup_spec(send_to: &str) -> String {
    format!(
        "name: sides
source: {{ test_stream: in.jsonl }}
steps:
  - name: unique
    pardo: {{ plugin: {}, outputs: [repeats], config: {{ id: id, horizon: 1000, repeats: {send_to} }} }}
sinks:
  unique: {{ input: unique, file: unique.jsonl }}
  repeats: {{ input: unique.repeats, file: repeats.jsonl }}
",
        common::plugin("dedup")
    )
}

const REPEATS: &str = r#"{"add": [{"key": "a", "value": {"id": 1}, "ts": 1}, {"key": "a", "value": {"id": 2}, "ts": 2}]}
{"add": [{"key": "a", "value": {"id": 1}, "ts": 3}, {"key": "b", "value": {"id": 1}, "ts": 4}]}
"#;

/// (key, value, ts) of each record.
fn elements(records: &[Value]) -> Vec<(Value, Value, Value)> {
    records
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone(), r["ts"].clone()))
        .collect()
}

#[test]
fn a_dofn_sends_records_to_a_declared_side_output_that_a_sink_reads() {
    let dir = run_graph(&dedup_spec("repeats"), &[("in.jsonl", REPEATS)]);
    // Ids are remembered per key: a's second id 1 repeats, b's id 1 does not.
    assert_eq!(
        elements(&records(dir.path(), "unique.jsonl")),
        [
            (json!("a"), json!({"id": 1}), json!(1)),
            (json!("a"), json!({"id": 2}), json!(2)),
            (json!("b"), json!({"id": 1}), json!(4)),
        ]
    );
    assert_eq!(
        elements(&records(dir.path(), "repeats.jsonl")),
        [(json!("a"), json!({"id": 1}), json!(3))]
    );
    // The graph's drawing labels the side output's edge with its name.
    let spec = dir.path().join("pipeline.yaml");
    let output = run(&["validate", "--dot", spec.to_str().unwrap()], "");
    let dot = String::from_utf8_lossy(&output.stdout);
    assert!(dot.contains("step0 -> sink0;"), "{dot}");
    assert!(dot.contains("step0 -> sink1 [label=\"repeats\"];"), "{dot}");
}

#[test]
fn an_output_to_an_undeclared_side_output_is_a_dead_letter_of_its_input() {
    let dir = run_graph(&dedup_spec("elsewhere"), &[("in.jsonl", REPEATS)]);
    assert!(records(dir.path(), "repeats.jsonl").is_empty());
    let dead = records(dir.path(), "unique.dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("emitted to the side output \"elsewhere\", which the step does not declare (it declares repeats)"),
        "{reason}"
    );
    assert_eq!(dead[0]["record"]["value"], json!({"id": 1}));
}

#[test]
fn a_graph_refuses_mixed_clocks_and_single_source_overrides() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in.jsonl", "{\"watermark\": 5}\n");
    write(dir.path(), "events.jsonl", "{\"ts\": 1}\n");
    let spec = write(
        dir.path(),
        "mixed.yaml",
        "name: mixed
sources:
  scripted: { test_stream: in.jsonl }
  logged: { file: events.jsonl }
steps:
  - inputs: [scripted, logged]
    flatten: {}
sinks:
  out: { file: out.jsonl }
",
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("mixed.yaml: sources: test streams set processing time themselves"),
        "{message}"
    );
    let output = run(&["run", spec.to_str().unwrap(), "--input", "-"], "");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("--input replaces a pipeline's one source; this one has several sources"),
        "{message}"
    );
    assert!(!dir.path().join("out.jsonl").exists(), "nothing ran");
}

/// Ann (p1) and Bob (p2) in [0, 10); auction 7 of p1 on time, auction 9 of p1 late.
const PEOPLE: &str = r#"{"add": [{"key": "p1", "value": "ann", "ts": 1}, {"key": "p2", "value": "bob", "ts": 3}]}
{"watermark": 20}
"#;

fn pair(left: Value, right: Value) -> Value {
    json!({"left": left, "right": right})
}

#[test]
fn a_join_plugin_over_a_cogroup_gives_outer_pairs_and_withdraws_them_with_the_pane() {
    let spec = join_spec("retracting").replace(
        "sinks:",
        &format!(
            "  - name: pairs
    input: joined
    pardo: {{ plugin: {}, config: {{ left: persons_w, right: auctions_w, kind: left }} }}
sinks:
  pairs: {{ input: pairs, file: pairs.jsonl }}",
            common::plugin("join")
        ),
    );
    let dir = run_graph(
        &spec,
        &[("persons.jsonl", PEOPLE), ("auctions.jsonl", AUCTIONS)],
    );
    // Each pane's pairs take the pane's timing and retraction flag: the on-time
    // pane of p1 pairs ann with 7; p2's has bob alone (kept by the left join); the
    // late auction withdraws p1's pair and pairs ann with 7 and 9.
    let mut got = panes(&records(dir.path(), "pairs.jsonl"));
    got.sort_by_key(|(key, ..)| key.clone()); // stable: each key's in output order
    assert_eq!(
        got,
        [
            pane("p1", pair(json!("ann"), json!(7)), "ON_TIME", 0),
            retraction("p1", pair(json!("ann"), json!(7)), "ON_TIME", 0),
            pane("p1", pair(json!("ann"), json!(7)), "LATE", 1),
            pane("p1", pair(json!("ann"), json!(9)), "LATE", 1),
            pane("p2", pair(json!("bob"), Value::Null), "ON_TIME", 0),
        ]
    );
}

/// An interval join's expected output, worked out plainly: every pair of a left
/// and a right value of one key at most `within` apart, at the later time; with
/// `outer`, each value with no pair, at its time plus `within`.
fn interval_join_reference(
    left: &[(&str, i64, Value)],
    right: &[(&str, i64, Value)],
    within: i64,
    outer: bool,
) -> Vec<(Value, Value, i64)> {
    let close =
        |a: &(&str, i64, Value), b: &(&str, i64, Value)| a.0 == b.0 && (a.1 - b.1).abs() <= within;
    let mut expected = Vec::new();
    for l in left {
        for r in right {
            if close(l, r) {
                expected.push((json!(l.0), pair(l.2.clone(), r.2.clone()), l.1.max(r.1)));
            }
        }
    }
    if outer {
        for l in left.iter().filter(|l| !right.iter().any(|r| close(l, r))) {
            expected.push((json!(l.0), pair(l.2.clone(), Value::Null), l.1 + within));
        }
        for r in right.iter().filter(|r| !left.iter().any(|l| close(l, r))) {
            expected.push((json!(r.0), pair(Value::Null, r.2.clone()), r.1 + within));
        }
    }
    expected.sort_by_key(|e| (e.2, e.0.to_string(), e.1.to_string()));
    expected
}

fn test_stream(values: &[(&str, i64, Value)], watermark_every: usize) -> String {
    let mut lines = String::new();
    for chunk in values.chunks(watermark_every) {
        let add: Vec<Value> = chunk
            .iter()
            .map(|(key, ts, value)| json!({"key": key, "value": value, "ts": ts}))
            .collect();
        lines.push_str(&format!("{}\n", json!({ "add": add })));
        let watermark = chunk.iter().map(|(_, ts, _)| *ts).max().unwrap_or(0);
        lines.push_str(&format!("{}\n", json!({ "watermark": watermark })));
    }
    lines
}

#[test]
fn a_two_input_stateful_dofn_joins_two_streams_continuously_within_a_bound() {
    // Persons and their clicks, by user, at times spread so that some pairs are
    // within 10 ms and some are not, and the watermark advances as they go (so the
    // join forgets values while it runs).
    let users = ["u1", "u2", "u3"];
    let persons: Vec<(&str, i64, Value)> = (0..30)
        .map(|i| (users[i % 3], (i as i64) * 7, json!(format!("p{i}"))))
        .collect();
    let clicks: Vec<(&str, i64, Value)> = (0..40)
        .map(|i| (users[(i * 2) % 3], (i as i64) * 5 + 2, json!(i)))
        .collect();
    for (kind, outer) in [("inner", false), ("outer", true)] {
        let spec = format!(
            "name: continuous
sources:
  persons: {{ test_stream: persons.jsonl }}
  clicks: {{ test_stream: clicks.jsonl }}
steps:
  - name: joined
    inputs: [persons, clicks]
    pardo: {{ plugin: {}, config: {{ left: persons, right: clicks, within: 10, kind: {kind} }} }}
sinks:
  out: {{ input: joined, file: out.jsonl }}
",
            common::plugin("interval-join")
        );
        let dir = run_graph(
            &spec,
            &[
                ("persons.jsonl", &test_stream(&persons, 4)),
                ("clicks.jsonl", &test_stream(&clicks, 5)),
            ],
        );
        let mut got: Vec<(Value, Value, i64)> = elements(&records(dir.path(), "out.jsonl"))
            .into_iter()
            .map(|(key, value, ts)| (key, value, ts.as_i64().unwrap_or(i64::MIN)))
            .collect();
        got.sort_by_key(|e| (e.2, e.0.to_string(), e.1.to_string()));
        let expected = interval_join_reference(&persons, &clicks, 10, outer);
        assert!(expected.len() > 20, "the data has pairs to find");
        assert_eq!(got, expected, "{kind}");
        let dead = dir.path().join("out.dead.jsonl");
        assert!(!dead.exists() || records(dir.path(), "out.dead.jsonl").is_empty());
    }
}

#[test]
fn a_value_from_neither_named_input_is_a_dead_letter_saying_which_inputs_it_expects() {
    let spec = format!(
        "name: misnamed
sources:
  persons: {{ test_stream: persons.jsonl }}
  clicks: {{ test_stream: clicks.jsonl }}
steps:
  - name: joined
    inputs: [persons, clicks]
    pardo: {{ plugin: {}, config: {{ left: persons, right: views, within: 10 }} }}
sinks:
  out: {{ input: joined, file: out.jsonl }}
",
        common::plugin("interval-join")
    );
    let one = "{\"add\": [{\"key\": \"u1\", \"value\": 1, \"ts\": 1}]}\n";
    let dir = run_graph(&spec, &[("persons.jsonl", one), ("clicks.jsonl", one)]);
    let dead = records(dir.path(), "out.dead.jsonl");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not from the input \"persons\" or \"views\" (it is tagged \"clicks\")"),
        "{reason}"
    );
    assert_eq!(
        dead[0]["record"]["value"],
        json!({"input": "clicks", "value": 1})
    );
}
