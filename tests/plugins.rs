//! Every example plugin through the real binary: the CombineFns (with and without an
//! inverse, downstream of retractions), the DoFns (parse with dead letters, keyed state
//! and timers), the custom window function and the data-driven trigger.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::sessions::{hourly_session_sums, merging_events, test_stream, two_stage_spec};
use common::{parse_lines, plugin, run, run_records, write};
use serde_json::{Value, json};

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

#[test]
fn sum_and_mean_plugins_take_retracted_session_sums_back() {
    let events = merging_events();
    let sum = format!("{{ plugin: {} }}", plugin("sum"));
    let mean = format!("{{ plugin: {} }}", plugin("mean"));
    let records = run_spec(&two_stage_spec(&sum, &mean), &test_stream(&events));
    let expected: BTreeMap<(String, i64), Value> = hourly_session_sums(&events)
        .into_iter()
        .map(|(hour, sums)| {
            let mean = sums.iter().sum::<i64>() as f64 / sums.len() as f64;
            (hour, json!(mean))
        })
        .collect();
    let actual = final_values(&records);
    // An hour whose only session moved to the next hour ends empty: mean null.
    for (hour, value) in &actual {
        let expected = expected.get(hour).cloned().unwrap_or(Value::Null);
        assert_eq!(value, &expected, "hour {hour:?}: {records:#?}");
    }
    assert!(expected.keys().all(|hour| actual.contains_key(hour)));
    assert_eq!(actual[&("cy".to_owned(), 0)], Value::Null);
}

#[test]
fn top_k_without_an_inverse_is_recomputed_when_inputs_are_retracted() {
    let events = merging_events();
    let sum = format!("{{ plugin: {} }}", plugin("sum"));
    let top = format!("{{ plugin: {}, config: {{ k: 2 }} }}", plugin("top-k"));
    let records = run_spec(&two_stage_spec(&sum, &top), &test_stream(&events));
    let actual = final_values(&records);
    let expected: BTreeMap<(String, i64), Value> = hourly_session_sums(&events)
        .into_iter()
        .map(|(hour, sums)| {
            let top: Vec<f64> = sums.iter().rev().take(2).map(|&s| s as f64).collect();
            (hour, json!(top))
        })
        .collect();
    for (hour, value) in &actual {
        let expected = expected.get(hour).cloned().unwrap_or(json!([]));
        assert_eq!(value, &expected, "hour {hour:?}: {records:#?}");
    }
    assert!(expected.keys().all(|hour| actual.contains_key(hour)));
}

#[test]
fn parse_json_filters_rekeys_and_dead_letters_what_it_cannot_parse() {
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
            plugin("parse-json"),
            plugin("sum")
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

#[test]
fn dedup_remembers_ids_in_keyed_state_until_its_event_time_timer_fires() {
    dedup_remembers_ids(&plugin("dedup"));
}

#[test]
fn dedup_in_python_remembers_ids_as_the_rust_one_does() {
    dedup_remembers_ids(&plugin("python/dedup"));
}

/// The dedup DoFn at `dedup` (a Rust or Python plugin folder) over repeats within
/// and past its horizon.
fn dedup_remembers_ids(dedup: &str) {
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

#[test]
fn calendar_days_follow_each_keys_time_zone_through_daylight_saving() {
    // 2026-03-08 is 23 hours long in New York: clocks go forward at 2:00.
    const HOUR: i64 = 3_600_000;
    let march_8_utc = 1_772_928_000_000; // 2026-03-08T00:00:00Z
    let ny_march_8 = march_8_utc + 5 * HOUR; // midnight EST
    let ny_march_9 = ny_march_8 + 23 * HOUR; // midnight EDT
    let input = [
        add("ana", json!(1), ny_march_8 - 1), // the day before, in New York
        add("ana", json!(2), ny_march_8),
        add("ana", json!(4), ny_march_9 - 1),
        add("ana", json!(8), ny_march_9),
        add("bo", json!(16), ny_march_8), // UTC: March 8
    ]
    .concat();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - window:
      custom:
        plugin: {}
        config: {{ zone: UTC, zones: {{ ana: America/New_York }} }}
  - combine: {{ plugin: {} }}
sink: {{ stdout: {{}} }}
",
        plugin("calendar-days"),
        plugin("sum")
    );
    let records = run_spec(&spec, &input);
    let windows: BTreeMap<(String, i64), (i64, Value)> = records
        .iter()
        .map(|r| {
            let start = r["window"]["start"].as_i64().unwrap();
            let end = r["window"]["end"].as_i64().unwrap();
            let key = r["key"].as_str().unwrap().to_owned();
            ((key, start), (end - start, r["value"].clone()))
        })
        .collect();
    assert_eq!(
        windows,
        BTreeMap::from([
            (
                ("ana".into(), ny_march_8 - 24 * HOUR),
                (24 * HOUR, json!(1))
            ),
            (("ana".into(), ny_march_8), (23 * HOUR, json!(6))),
            (("ana".into(), ny_march_9), (24 * HOUR, json!(8))),
            (("bo".into(), march_8_utc), (24 * HOUR, json!(16))),
        ])
    );
}

#[test]
fn threshold_trigger_fires_when_a_value_crosses_from_below() {
    threshold_fires_on_crossings(&plugin("threshold"));
}

#[test]
fn threshold_trigger_in_python_fires_as_the_rust_one_does() {
    threshold_fires_on_crossings(&plugin("python/threshold"));
}

/// The data-driven trigger at `threshold` (a Rust or Python plugin folder) over
/// values that cross its threshold twice for one key and once for another.
fn threshold_fires_on_crossings(threshold: &str) {
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

/// Scaffolds a plugin of each kind in `lang` with `millrace plugin new`, and runs
/// them together as they are: the DoFn picks `amount`, the window function makes
/// minute windows, the trigger fires when a pane's amounts reach 10, the CombineFn
/// sums. `own_test` is a file each scaffold holds; `check` is then given each
/// folder.
fn scaffolded_plugins_build_and_run_as_is(lang: &str, own_test: &str, check: impl Fn(&Path)) {
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
        assert!(created.contains(own_test), "{created}");
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
        check(Path::new(folder));
    }
}

#[test]
fn scaffolded_rust_plugins_of_every_kind_build_and_run_as_is() {
    scaffolded_plugins_build_and_run_as_is("rust", "src/lib.rs", |_| {});
}

#[test]
fn scaffolded_python_plugins_of_every_kind_build_and_run_as_is() {
    // Each scaffold's own test passes in Python's own test tool, natively.
    scaffolded_plugins_build_and_run_as_is("python", "test_plugin.py", |folder| {
        let output = Command::new("python3")
            .args(["-m", "unittest", "-q", "test_plugin"])
            .current_dir(folder)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            folder.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

#[test]
fn a_plugin_folder_of_no_known_language_or_without_its_toolchain_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["plugin", "build", dir.path().to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("neither a Cargo.toml (a Rust crate) nor a plugin.py (a Python plugin)"),
        "{message}"
    );
    // A Python plugin no earlier build has seen, with componentize-py missing.
    let token = format!("{:?}", std::time::SystemTime::now());
    write(
        dir.path(),
        "plugin.py",
        &format!("# {token}\nimport millrace\n"),
    );
    let output = common::millrace()
        .args(["plugin", "build", dir.path().to_str().unwrap()])
        .env("COMPONENTIZE_PY", "/nonexistent/componentize-py")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("componentize-py is not installed. Install it with:"),
        "{message}"
    );
}

#[test]
fn plugin_build_prints_where_the_component_is_and_copies_it_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sum.wasm");
    let sum = plugin("python/sum");
    let output = run(
        &["plugin", "build", &sum, "--out", out.to_str().unwrap()],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        out.to_str().unwrap()
    );
    let copied = std::fs::read(&out).unwrap();
    // A component: the WebAssembly magic number, then the component layer's version.
    assert_eq!(&copied[..8], b"\0asm\x0d\0\x01\0");
    // Built again from the same sources, it is the cached component, unchanged.
    let again = run(&["plugin", "build", &sum], "");
    let cached = String::from_utf8_lossy(&again.stdout).trim().to_owned();
    assert!(cached.ends_with(".wasm"), "{cached}");
    assert_eq!(std::fs::read(&cached).unwrap(), copied);
}
