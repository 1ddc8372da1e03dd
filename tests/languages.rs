//! One plugin suite for every language. The example plugins `sum`, `parse-json`,
//! `dedup` and `threshold` exist in Rust (`plugins/*`) and in Python
//! (`plugins/python/*`); each language's version goes through the same end-to-end
//! tests with the real binary, as does a pipeline of the four kinds freshly
//! scaffolded by `millrace plugin new`. One function per case, a test per language
//! (`cargo test --test languages python::`). The same holds for the faults
//! (`faults.rs`) and the conformance suite with each language's `sum`
//! (`conformance.rs`). Last, the polyglot example (`examples/polyglot/`), a
//! plugin of each language in one pipeline, against a plain reading of its input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::languages::{Language, in_every_language};
use common::sessions::{hourly_session_sums, merging_events, test_stream, two_stage_spec};
use common::{parse_lines, run, run_records, write};
use serde_json::{Value, json};

in_every_language!(
    sum_takes_retracted_session_sums_back_out,
    parse_json_filters_rekeys_and_dead_letters_what_it_cannot_parse,
    dedup_remembers_ids_in_keyed_state_until_its_event_time_timer_fires,
    threshold_trigger_fires_when_a_value_crosses_from_below,
    scaffolded_plugins_of_every_kind_build_and_run_as_is,
);

/// Runs `spec` over the test stream `input` in a scratch folder; returns the output.
fn run_spec(spec: &str, input: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "input.jsonl", input);
    let spec = write(dir.path(), "pipeline.yaml", spec);
    run_records(&["run", "-q", spec.to_str().unwrap()], "")
}

/// The last pane of each (key, window start), the value only.
fn final_values(records: &[Value]) -> BTreeMap<(String, i64), Value> {
    records
        .iter()
        .filter(|r| r["retraction"] == false)
        .map(|r| {
            let key = r["key"].as_str().unwrap().to_owned();
            let start = r["window"]["start"].as_i64().unwrap();
            ((key, start), r["value"].clone())
        })
        .collect()
}

fn add(key: &str, value: Value, ts: i64) -> String {
    json!({"add": [{"key": key, "value": value, "ts": ts}]}).to_string() + "\n"
}

/// Sessions whose sums are retracted as they merge, summed per hour by the
/// language's `sum`: unless each retraction is taken back out with `uncombine`,
/// the merged sessions' earlier sums are counted twice.
fn sum_takes_retracted_session_sums_back_out(language: &Language) {
    let events = merging_events();
    let sum = format!("{{ plugin: {} }}", language.plugin("sum"));
    let records = run_spec(&two_stage_spec("sum", &sum), &test_stream(&events));
    let expected: BTreeMap<(String, i64), Value> = hourly_session_sums(&events)
        .into_iter()
        .map(|(hour, sums)| (hour, json!(sums.iter().sum::<i64>())))
        .collect();
    let actual = final_values(&records);
    // An hour whose only session moved to the next hour ends empty: 0.
    for (hour, value) in &actual {
        let expected = expected.get(hour).cloned().unwrap_or(json!(0));
        assert_eq!(value, &expected, "hour {hour:?}: {records:#?}");
    }
    assert!(expected.keys().all(|hour| actual.contains_key(hour)));
}

fn parse_json_filters_rekeys_and_dead_letters_what_it_cannot_parse(language: &Language) {
    let dir = tempfile::tempdir().unwrap();
    // Each line carries the payload as JSON text, as a message queue would.
    let payloads = [
        (
            json!({"type": "score", "user": "ann", "score": 5, "ts": 1000}).to_string(),
            1000,
        ),
        (
            json!({"type": "login", "user": "ann", "ts": 2000}).to_string(),
            2000,
        ),
        (
            json!({"type": "score", "user": "bob", "score": 7, "ts": 3000}).to_string(),
            3000,
        ),
        ("{not json".to_owned(), 3500),
        (
            json!({"type": "score", "score": 1, "ts": 4000}).to_string(),
            4000,
        ),
        (
            json!({"type": "score", "user": "ann", "score": 2, "ts": 61000}).to_string(),
            61000,
        ),
    ];
    let input: String = payloads
        .iter()
        .map(|(raw, ts)| json!({"raw": raw, "at": ts}).to_string() + "\n")
        .collect();
    write(dir.path(), "events.jsonl", &input);
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "source: {{ file: {{ path: events.jsonl, value: raw, timestamp: at }} }}
steps:
  - pardo:
      plugin: {}
      config: {{ key: user, value: score, timestamp: ts, where: {{ type: score }} }}
  - window: {{ fixed: {{ size: 1m }} }}
  - combine: {{ plugin: {} }}
sink: {{ file: out.jsonl }}
",
            language.plugin("parse-json"),
            language.plugin("sum")
        ),
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = parse_lines(&std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap());
    assert_eq!(
        final_values(&out),
        BTreeMap::from([
            (("ann".to_owned(), 0), json!(5)),
            (("ann".to_owned(), 60000), json!(2)),
            (("bob".to_owned(), 0), json!(7)),
        ])
    );
    let dead = parse_lines(&std::fs::read_to_string(dir.path().join("out.dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 2, "{dead:#?}");
    assert!(
        dead[0]["step"]
            .as_str()
            .unwrap()
            .starts_with("steps[0].pardo")
    );
    assert_eq!(dead[0]["record"]["value"], "{not json");
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("JSON"),
        "{dead:#?}"
    );
    assert_eq!(dead[1]["record"]["ts"], 4000);
    assert!(
        dead[1]["reason"].as_str().unwrap().contains("user"),
        "names the missing field: {dead:#?}"
    );
}

/// The dedup DoFn over repeats within and past its horizon.
fn dedup_remembers_ids_in_keyed_state_until_its_event_time_timer_fires(language: &Language) {
    let dedup = language.plugin("dedup");
    let record = |id: i64, n: i64| json!({"event_id": id, "n": n});
    let input = [
        add("a", record(1, 1), 1000),
        add("a", record(1, 2), 2000), // a repeat within the horizon
        add("b", record(1, 3), 3000), // another key: state is per key
        "{\"watermark\": 5000}\n".to_owned(),
        add("a", record(1, 4), 5000), // still remembered
        "{\"watermark\": 20000}\n".to_owned(),
        add("a", record(1, 5), 20000), // forgotten once the timer at 11000 fired
        add("a", record(2, 6), 20001),
        add("a", record(2, 7), 20002),
    ]
    .concat();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {dedup}, config: {{ id: event_id, horizon: 10000 }} }}
sink: {{ stdout: {{}} }}
"
    );
    let records = run_spec(&spec, &input);
    let passed: Vec<(&str, i64)> = records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["value"]["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(passed, [("a", 1), ("b", 3), ("a", 5), ("a", 6)]);
}

/// The data-driven trigger over values that cross its threshold twice for one key
/// and once for another.
fn threshold_trigger_fires_when_a_value_crosses_from_below(language: &Language) {
    let threshold = language.plugin("threshold");
    let latency = |ms: i64| json!({"latency": ms});
    let input = [
        add("s", latency(50), 1000),
        add("s", latency(60), 2000),
        add("s", latency(150), 3000), // crosses: fires with the three so far
        add("s", latency(170), 4000), // still above: no new crossing
        add("t", latency(101), 4500), // another key crosses on its own
        add("s", latency(20), 5000),  // falls below: re-arms
        add("s", latency(120), 6000), // crosses again
        add("s", latency(10), 7000),
    ]
    .concat();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - window:
      global: {{}}
      trigger:
        repeatedly: {{ plugin: {threshold}, config: {{ threshold: 100, field: latency }} }}
      accumulation: discarding
  - combine: count
sink: {{ stdout: {{}} }}
"
    );
    let records = run_spec(&spec, &input);
    let panes: Vec<(&str, i64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["value"].as_i64().unwrap(),
                r["pane"]["timing"].as_str().unwrap(),
            )
        })
        .collect();
    // The last element of s stays buffered until end of input, where the global
    // window's on-time pane carries it.
    assert_eq!(
        panes,
        [
            ("s", 3, "EARLY"),
            ("t", 1, "EARLY"),
            ("s", 3, "EARLY"),
            ("s", 1, "ON_TIME"),
            ("t", 0, "ON_TIME"), // Beam fires the on-time pane even when empty
        ]
    );
}

/// Scaffolds a plugin of each kind with `millrace plugin new`, and runs them
/// together as they are: the DoFn picks `amount`, the window function makes minute
/// windows, the trigger fires when a pane's amounts reach 10, the CombineFn sums.
/// Each scaffold's own test passes in the language's own test tool, natively.
fn scaffolded_plugins_of_every_kind_build_and_run_as_is(language: &Language) {
    let lang = language.name;
    let dir = tempfile::tempdir().unwrap();
    let mut folders = BTreeMap::new();
    for kind in ["dofn", "combine", "window", "trigger"] {
        let folder = dir.path().join(format!("my-{kind}"));
        let output = run(
            &[
                "plugin",
                "new",
                folder.to_str().unwrap(),
                "--kind",
                kind,
                "--lang",
                lang,
            ],
            "",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created = String::from_utf8_lossy(&output.stdout);
        assert!(created.contains(language.own_test), "{created}");
        folders.insert(kind, folder.to_string_lossy().into_owned());
    }
    // A second scaffold into the same folder would overwrite work: refused.
    let again = run(&["plugin", "new", &folders["dofn"], "--lang", lang], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    let input = [
        add("k", json!({"amount": 4}), 1000),
        add("k", json!({"amount": 6}), 2000), // the pane reaches 10: fires
        add("k", json!({"amount": 3}), 3000),
        add("k", json!({"other": 1}), 4000), // no amount: dead-lettered
    ]
    .concat();
    write(dir.path(), "input.jsonl", &input);
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {}, config: {{ field: amount }} }}
  - window:
      custom: {{ plugin: {}, config: {{ size: 60000 }} }}
      trigger: {{ repeatedly: {{ plugin: {}, config: {{ total: 10 }} }} }}
  - combine: {{ plugin: {} }}
sink: {{ file: out.jsonl }}
",
            folders["dofn"], folders["window"], folders["trigger"], folders["combine"]
        ),
    );
    // New Rust crates share compiled dependencies with the example plugins.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .unwrap_or_else(|| common::root().join("plugins/target").into_os_string());
    let output = common::millrace()
        .args(["run", spec.to_str().unwrap()])
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = parse_lines(&std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap());
    let panes: Vec<(i64, &str)> = out
        .iter()
        .map(|r| {
            (
                r["value"].as_i64().unwrap(),
                r["pane"]["timing"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(panes, [(10, "EARLY"), (3, "ON_TIME")]);
    let dead = parse_lines(&std::fs::read_to_string(dir.path().join("out.dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"], "no field \"amount\"");
    for folder in folders.values() {
        language.run_own_test(Path::new(folder));
    }
}

/// Runs `examples/polyglot/` as the README shows it, and checks its panes and dead
/// letters against a plain reading of `requests.jsonl`: each request keyed by its
/// service (Python), retries dropped by request id (Go), the latency kept (C), per
/// minute an EARLY pane whenever a latency crosses 1000 ms from below (JavaScript)
/// and the ON_TIME pane, each the mean so far (Rust), accumulating.
#[test]
fn the_polyglot_example_matches_a_plain_reading_of_its_input() {
    let example = common::root().join("examples/polyglot");
    let dir = tempfile::tempdir().unwrap();
    let dead_letters = dir.path().join("rejected.jsonl");
    let output = run(
        &[
            "run",
            example.join("pipeline.yaml").to_str().unwrap(),
            "--output",
            "-",
            "--dead-letter",
            dead_letters.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    #[derive(Default)]
    struct Minute {
        latencies: Vec<f64>,
        above: bool,
        panes: Vec<(&'static str, f64)>,
    }
    let mean = |latencies: &[f64]| latencies.iter().sum::<f64>() / latencies.len() as f64;
    let input = std::fs::read_to_string(example.join("requests.jsonl")).unwrap();
    let mut minutes: BTreeMap<(String, i64), Minute> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut rejected_by = Vec::new();
    for line in input.lines() {
        let request: Value = serde_json::from_str(line).unwrap();
        let Some(service) = request["service"].as_str() else {
            rejected_by.push("steps[0].pardo");
            continue;
        };
        let Some(id) = request.get("request_id") else {
            rejected_by.push("steps[1].pardo");
            continue;
        };
        if !seen.insert((service.to_owned(), id.to_string())) {
            continue;
        }
        let Some(latency) = request.get("latency_ms") else {
            rejected_by.push("steps[2].pardo");
            continue;
        };
        let ts: jiff::Timestamp = request["ts"].as_str().unwrap().parse().unwrap();
        let start = ts.as_millisecond().div_euclid(60_000) * 60_000;
        let minute = minutes.entry((service.to_owned(), start)).or_default();
        // The trigger skips what is not a number; the mean rejects it.
        let Some(latency) = latency.as_f64() else {
            rejected_by.push("steps[4].combine");
            continue;
        };
        minute.latencies.push(latency);
        let above = latency >= 1000.0;
        if above && !minute.above {
            minute.panes.push(("EARLY", mean(&minute.latencies)));
        }
        minute.above = above;
    }
    let expected: BTreeMap<(String, i64), Vec<(&str, f64)>> = minutes
        .into_iter()
        .map(|(window, mut minute)| {
            minute.panes.push(("ON_TIME", mean(&minute.latencies)));
            (window, minute.panes)
        })
        .collect();
    assert!(
        expected.values().filter(|panes| panes.len() > 1).count() >= 3,
        "the example shows early panes"
    );

    let records = parse_lines(&String::from_utf8_lossy(&output.stdout));
    let mut actual: BTreeMap<(String, i64), Vec<(&str, f64)>> = BTreeMap::new();
    for record in &records {
        assert_eq!(record["retraction"], false);
        let window = (
            record["key"].as_str().unwrap().to_owned(),
            record["window"]["start"].as_i64().unwrap(),
        );
        actual.entry(window).or_default().push((
            record["pane"]["timing"].as_str().unwrap(),
            record["value"].as_f64().unwrap(),
        ));
    }
    assert_eq!(actual, expected);

    let dead = parse_lines(&std::fs::read_to_string(&dead_letters).unwrap());
    let steps: Vec<&str> = dead
        .iter()
        .map(|d| d["step"].as_str().unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(steps, rejected_by, "{dead:#?}");
    // Each language's own words.
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons[..3],
        [
            "missing the key field \"service\"",
            "missing the id field \"request_id\"",
            "missing the value field \"latency_ms\"",
        ],
        "{dead:#?}"
    );
}
