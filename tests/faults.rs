//! Plugins that misbehave, through the real binary: each fault costs only the poison
//! element (dead-lettered with its error) while every other output stays exact; a
//! plugin that keeps faulting quarantines its step; a plugin that is not what the step
//! needs is refused before anything runs.

mod common;

use std::path::Path;

use common::languages::{Language, in_every_language};
use common::{parse_lines, plugin, run, write};
use serde_json::{Value, json};

fn read_lines(path: &Path) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

fn bundle(elements: &[(Value, i64)]) -> String {
    let add: Vec<Value> = elements
        .iter()
        .map(|(value, ts)| json!({"key": "k", "value": value, "ts": ts}))
        .collect();
    json!({ "add": add }).to_string() + "\n"
}

/// The host itself never panics, whatever the plugin does.
fn assert_host_did_not_panic(stderr: &str) {
    assert!(
        !stderr.contains("thread 'main' panicked") && !stderr.contains("RUST_BACKTRACE"),
        "the host panicked: {stderr}"
    );
}

/// Runs `spec` over `input` in a scratch folder; returns (exit code, stderr, output,
/// dead letters).
fn run_faulty(spec: &str, input: &str) -> (i32, String, Vec<Value>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "input.jsonl", input);
    let spec = write(dir.path(), "pipeline.yaml", spec);
    let output = run(&["run", spec.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_host_did_not_panic(&stderr);
    (
        output.status.code().expect("exited, not killed"),
        stderr,
        read_lines(&dir.path().join("out.jsonl")),
        read_lines(&dir.path().join("out.dead.jsonl")),
    )
}

/// Dead letters as (value, reason).
fn dead_reasons(dead: &[Value]) -> Vec<(Value, String)> {
    dead.iter()
        .map(|d| {
            (
                d["record"]["value"].clone(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

in_every_language!(every_dofn_fault_loses_only_the_poison_element);

/// The faulty DoFn of `language` refuses an element, panics (or throws), loops,
/// exhausts its memory and floods its output, each on one element of a pipeline
/// that sums the rest.
fn every_dofn_fault_loses_only_the_poison_element(language: &Language) {
    let fault = |kind: &str| json!({ "fault": kind });
    let input = [
        bundle(&[
            (json!(1), 1000),
            (fault("error"), 1001),
            (json!(2), 1002),
            (fault("panic"), 1003),
            (json!(3), 1004),
        ]),
        // The flood before the faults that end an instance: after one, the step's
        // thread drops to a lower CPU priority, and an interpreter writing 8 MiB
        // would wait behind the other tests' threads.
        bundle(&[(fault("flood"), 1005), (json!(4), 1006)]),
        bundle(&[(fault("loop"), 1007), (json!(5), 1008)]),
        bundle(&[(json!(6), 1009), (fault("bomb"), 1010)]),
        bundle(&[(json!(100), 61000)]),
    ]
    .concat();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - pardo:
      plugin: {}
      # The CPU limit is kept in wall-clock ticks: 2s leaves the memory bomb room to
      # reach its memory limit first on a busy machine, and an interpreter (QuickJS,
      # about 0.3 s of CPU) room to write its 8 MiB flood.
      limits: {{ cpu_per_call: 2s, memory: 48MiB, output: 4MiB }}
  - window: {{ fixed: {{ size: 1m }} }}
  - combine: {{ plugin: {} }}
sink: {{ file: out.jsonl }}
",
        language.plugin("faulty"),
        plugin("sum")
    );
    let (code, stderr, out, dead) = run_faulty(&spec, &input);
    assert_eq!(code, 0, "{stderr}");
    let sums: Vec<(i64, Value)> = out
        .iter()
        .map(|r| (r["window"]["start"].as_i64().unwrap(), r["value"].clone()))
        .collect();
    assert_eq!(sums, [(0, json!(21)), (60000, json!(100))]);

    let reasons = dead_reasons(&dead);
    let kinds: Vec<&str> = reasons
        .iter()
        .map(|(value, _)| value["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["error", "panic", "flood", "loop", "bomb"],
        "{dead:#?}"
    );
    let expect = [
        "this record is refused on purpose",
        language.panic_reason,
        "more than its limit of 4 MiB",
        "ran longer than its CPU limit of 2s per call",
        "exceeded its memory limit of 48 MiB",
    ];
    for ((_, reason), expected) in reasons.iter().zip(expect) {
        assert!(reason.contains(expected), "{reason:?} has {expected:?}");
    }
    for letter in &dead {
        assert!(
            letter["step"]
                .as_str()
                .unwrap()
                .starts_with("steps[0].pardo"),
            "{letter}"
        );
    }
}

#[test]
fn every_combine_fault_loses_only_the_poison_input() {
    let input = [
        bundle(&[(json!(1), 1000), (json!(13), 2000), (json!(4), 3000)]),
        bundle(&[(json!(666), 4000), (json!(-2), 5000), (json!(6), 6000)]),
    ]
    .concat();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - window: {{ fixed: {{ size: 1m }} }}
  - combine: {{ plugin: {}, limits: {{ cpu_per_call: 100ms }} }}
sink: {{ file: out.jsonl }}
",
        plugin("faulty-sum")
    );
    let (code, stderr, out, dead) = run_faulty(&spec, &input);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["value"], 11);
    let reasons = dead_reasons(&dead);
    let values: Vec<&Value> = reasons.iter().map(|(value, _)| value).collect();
    assert_eq!(values, [&json!(13), &json!(666), &json!(-2)]);
    assert!(reasons[0].1.contains("unlucky number"), "{reasons:?}");
    assert!(reasons[1].1.contains("CPU limit"), "{reasons:?}");
    assert_eq!(reasons[2].1, "negative input -2");
}

#[test]
fn repeated_faults_quarantine_the_step_and_name_the_plugin_and_the_fault() {
    let input: String = (0..8)
        .map(|i| bundle(&[(json!({"fault": "panic"}), i)]))
        .collect();
    let faulty = plugin("faulty");
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {faulty}, limits: {{ faults: 3 }} }}
sink: {{ file: out.jsonl }}
"
    );
    let (code, stderr, _, dead) = run_faulty(&spec, &input);
    assert_eq!(code, 1, "{stderr}");
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    for part in [
        "steps[0].pardo",
        "quarantined after 3 faults in a row",
        faulty.as_str(),
        "panicked at faulty/src/lib.rs",
    ] {
        assert!(error.contains(part), "{error:?} names {part:?}");
    }
    assert_eq!(
        dead.len(),
        2,
        "faults before the quarantine are dead letters"
    );
}

#[test]
fn a_fault_free_call_resets_the_fault_count() {
    let input: String = (0..10)
        .map(|i| bundle(&[(json!({"fault": "error"}), 2 * i), (json!(i), 2 * i + 1)]))
        .collect();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {}, limits: {{ faults: 3 }} }}
sink: {{ file: out.jsonl }}
",
        plugin("faulty")
    );
    let (code, stderr, out, dead) = run_faulty(&spec, &input);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.len(), 10);
    assert_eq!(dead.len(), 10);
}

/// Runs a one-step pipeline whose pardo plugin is `plugin`; it must be refused.
fn refused(plugin: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "input.jsonl", &bundle(&[(json!(1), 1)]));
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {plugin} }}
sink: {{ file: out.jsonl }}
"
        ),
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_host_did_not_panic(&stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!dir.path().join("out.jsonl").exists(), "nothing ran");
    assert!(
        stderr.contains("pipeline.yaml: steps[0].pardo.plugin: "),
        "names the file and the path: {stderr}"
    );
    stderr
}

#[test]
fn a_plugin_without_the_steps_export_is_refused_naming_it() {
    let stderr = refused(&plugin("sum"));
    assert!(
        stderr.contains("does not export millrace:plugin/dofn@0.2.0")
            && stderr.contains("it exports millrace:plugin/combine-fn@0.2.0"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.wasm", "this is not WebAssembly");
    let stderr = refused(junk.to_str().unwrap());
    assert!(
        stderr.contains("is not a WebAssembly component"),
        "{stderr}"
    );

    // A core module (the magic number and version 1) is WebAssembly, but no component.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let stderr = refused(core.to_str().unwrap());
    assert!(
        stderr.contains("is not a WebAssembly component")
            && stderr.contains("wasm module with a component parser"),
        "{stderr}"
    );

    let stderr = refused(dir.path().join("missing.wasm").to_str().unwrap());
    assert!(stderr.contains("cannot read the plugin"), "{stderr}");

    let stderr = refused(dir.path().to_str().unwrap());
    assert!(
        stderr.contains("it has none of Cargo.toml (Rust), plugin.py (Python)"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_that_rejects_its_config_is_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "input.jsonl", &bundle(&[(json!(1), 1)]));
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {}, config: {{ horizon: -5 }} }}
sink: {{ stdout: {{}} }}
",
            plugin("dedup")
        ),
    );
    let output = run(&["run", spec.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("steps[0].pardo")
            && stderr.contains("\"horizon\" must be a positive number"),
        "{stderr}"
    );
}

/// Runs the probes of the faulty plugin with `grants` (YAML); returns the output
/// values and the dead letters' reasons, in input order.
fn probe(grants: &str, probes: &[Value]) -> (Vec<Value>, Vec<String>) {
    let elements: Vec<(Value, i64)> = probes.iter().cloned().zip(0..).collect();
    let spec = format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - pardo: {{ plugin: {}, grants: {grants} }}
sink: {{ file: out.jsonl }}
",
        plugin("faulty")
    );
    let (code, stderr, out, dead) = run_faulty(&spec, &bundle(&elements));
    assert_eq!(code, 0, "{stderr}");
    let values = out.iter().map(|r| r["value"].clone()).collect();
    let reasons = dead_reasons(&dead).into_iter().map(|(_, r)| r).collect();
    (values, reasons)
}

#[test]
fn plugins_reach_no_clock_file_or_network_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret.txt", "the secret");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let probes = [
        json!({"probe": "clock"}),
        json!({"probe": "read", "path": secret.to_str().unwrap()}),
        json!({"probe": "connect", "addr": addr}),
    ];

    let (values, reasons) = probe("{}", &probes);
    assert_eq!(values, [json!(0)], "the clock stands at the epoch");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("cannot read"), "{reasons:?}");
    assert!(reasons[1].starts_with("cannot connect"), "{reasons:?}");

    let grants = format!(
        "{{ clock: true, network: true, read: [{}] }}",
        dir.path().display()
    );
    let (values, reasons) = probe(&grants, &probes);
    assert!(reasons.is_empty(), "{reasons:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = values[0].as_u64().unwrap();
    assert!(now - clock < 600_000, "the real clock: {clock} vs {now}");
    assert_eq!(values[1], "the secret");
    assert_eq!(values[2], "connected");
}
