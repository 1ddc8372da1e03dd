//! The Rust-only example plugins through the real binary — CombineFns with and
//! without an inverse downstream of retractions, the custom window function — and
//! building plugin folders. The plugins every language has (`sum`, `parse-json`,
//! `dedup`, `threshold`) and the scaffolds are in `languages.rs`.

mod common;

use std::collections::BTreeMap;

use common::sessions::{hourly_session_sums, merging_events, test_stream, two_stage_spec};
use common::{plugin, run, run_records, write};
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
fn a_plugin_folder_of_no_known_language_or_without_its_toolchain_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["plugin", "build", dir.path().to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains(
            "it has none of Cargo.toml (Rust), plugin.py (Python), plugin.js (JavaScript), \
             plugin.c (C), plugin.go (Go)"
        ),
        "{message}"
    );
    // A plugin of each SDK's language that no earlier build has seen (so the cache
    // cannot answer), with its toolchain pointed at nothing.
    let token = format!("{:?}", std::time::SystemTime::now());
    for (entry, variable, missing) in [
        (
            "plugin.py",
            "COMPONENTIZE_PY",
            "componentize-py is not installed. Install it with:",
        ),
        (
            "plugin.js",
            "MILLRACE_JS_TOOLCHAIN",
            "componentize-qjs is not installed. Install it with:",
        ),
        (
            "plugin.c",
            "CC_WASM",
            "apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32",
        ),
        ("plugin.go", "GO", "install it with: guest-sdk/go/setup.sh"),
    ] {
        let folder = tempfile::tempdir().unwrap();
        write(folder.path(), entry, &format!("// {token}\n"));
        let output = common::millrace()
            .args(["plugin", "build", folder.path().to_str().unwrap()])
            .env(variable, "/nonexistent/tool")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{entry}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(missing), "{entry}: {message}");
    }
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
