//! Hostile records and specs against the real `millrace` binary (issue 9): each run
//! is bounded in memory (1 GiB of data) and time, so that a regression fails the test
//! instead of taking the machine down.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fresh_state_dir, parse_lines, write};
use serde_json::Value;

/// Memory a run may use: far more than any of these needs, far less than the machine.
const MEMORY_LIMIT: u64 = 1 << 30;

/// How long a run may take.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// Runs `millrace args` with `stdin`, bounded in data memory and time.
fn bounded(args: &[&str], stdin: &[u8]) -> Output {
    limited(args, stdin, Some(MEMORY_LIMIT))
}

/// Runs `millrace args` with `stdin`, bounded in time and, if `memory` is given, in
/// data memory (runs with plugins cannot be: the pooling allocator maps gigabytes
/// of tables up front).
fn limited(args: &[&str], stdin: &[u8], memory: Option<u64>) -> Output {
    let state = fresh_state_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_millrace"));
    command
        .env("MILLRACE_STATE_DIR", &state)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(memory) = memory {
        // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: memory,
                    rlim_max: memory,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().expect("millrace starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the run can be waited for") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("millrace {args:?} took longer than {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let _ = std::fs::remove_dir_all(&state);
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "millrace {args:?} failed ({:?}): {}",
        output.status,
        text(&output.stderr)
    );
}

/// Runs the spec at `spec` (see [`limited`]), which must succeed; returns the records
/// of the `out.jsonl` beside it.
fn run_to_output(spec: &Path, stdin: &[u8], memory: Option<u64>) -> Vec<Value> {
    let args = ["run", spec.to_str().unwrap()];
    let output = limited(&args, stdin, memory);
    succeeded(&args, &output);
    let out = spec.with_file_name("out.jsonl");
    parse_lines(&std::fs::read_to_string(out).unwrap())
}

fn dead_letters(path: &Path) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

const EXTREME: &str = "{\"ts\": -9223372036854775807, \"v\": 1}
{\"ts\": 9223372036854775806, \"v\": 2}
{\"ts\": 5000, \"v\": 3}
{\"ts\": -9223372036854775808, \"v\": 4}
";

/// A spec reading `source` with `window`, summing `v`.
fn window_spec(source: &str, window: &str) -> String {
    format!(
        "name: extreme
source: {source}
steps:
  - window: {window}
  - combine: sum
sink: {{ file: out.jsonl }}
dead_letter: {{ file: dead.jsonl }}
"
    )
}

#[test]
fn extreme_timestamps_are_dead_lettered_at_every_source_under_every_window() {
    let windows = [
        "{ sliding: { size: 10s, period: 1s } }",
        "{ fixed: { size: 10s } }",
        "{ sessions: { gap: 10s } }",
    ];
    for window in windows {
        for source in ["file", "stdin"] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "events.jsonl", EXTREME);
            let source_spec = match source {
                "file" => "{ file: { path: events.jsonl, value: v } }",
                _ => "{ stdin: { value: v } }",
            };
            let spec = write(dir.path(), "p.yaml", &window_spec(source_spec, window));
            let out = run_to_output(&spec, EXTREME.as_bytes(), Some(MEMORY_LIMIT));
            assert!(!out.is_empty(), "{window} from {source}: no output");
            assert!(
                out.iter().all(|record| record["value"] == 3),
                "{window} from {source}: only the in-range record makes panes: {out:?}"
            );
            let dead = dead_letters(&dir.path().join("dead.jsonl"));
            let lines: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
            assert_eq!(lines, [1, 2, 4], "{window} from {source}: {dead:?}");
            for letter in &dead {
                let reason = letter["reason"].as_str().unwrap();
                assert!(
                    reason.contains("outside the supported range of event times")
                        && reason.contains("-9223372036854775 to 9223372036854775"),
                    "{reason}"
                );
                assert!(letter["input"].as_str().unwrap().contains("\"ts\""));
            }
        }
    }
}

#[test]
fn test_stream_clocks_and_elements_outside_the_range_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "script.jsonl",
        "{\"watermark\": -9223372036854775807}
{\"processing_time\": 9223372036854775807}
{\"add\": [{\"ts\": -9223372036854775807, \"value\": 1}, {\"ts\": 1000, \"value\": 2}]}
{\"watermark\": 20000}
",
    );
    let spec = write(
        dir.path(),
        "p.yaml",
        &window_spec(
            "{ test_stream: script.jsonl }",
            "{ sliding: { size: 10s, period: 1s } }",
        ),
    );
    let out = run_to_output(&spec, b"", Some(MEMORY_LIMIT));
    assert_eq!(
        out.len(),
        10,
        "ten sliding windows hold the ts 1000 element"
    );
    let dead = dead_letters(&dir.path().join("dead.jsonl"));
    let positions: Vec<(u64, Value)> = dead
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["element"].clone()))
        .collect();
    assert_eq!(
        positions,
        [(1, Value::Null), (2, Value::Null), (3, Value::from(0))],
        "{dead:?}"
    );
}

#[test]
fn a_generator_cannot_start_outside_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "p.yaml",
        "name: g\nsource: { generator: { start: -9223372036854775807, elements: 10 } }\n\
         steps: [ { window: { sliding: { size: 10s, period: 1s } } }, { combine: count } ]\n\
         sink: { stdout: {} }\n",
    );
    let output = bounded(&["validate", spec.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("source.generator.start: the time -9223372036854775807 ms is outside the supported range"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn rfc3339_times_up_to_the_end_of_year_9999_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let events = "{\"ts\": \"9999-12-31T23:59:59Z\", \"v\": 1}\n{\"ts\": \"0000-01-01T00:00:00Z\", \"v\": 2}\n";
    write(dir.path(), "events.jsonl", events);
    let spec = write(
        dir.path(),
        "p.yaml",
        &window_spec(
            "{ file: { path: events.jsonl, value: v, timestamp_format: rfc3339 } }",
            "{ fixed: { size: 1d } }",
        ),
    );
    let out = run_to_output(&spec, b"", Some(MEMORY_LIMIT));
    let windows: Vec<(i64, i64, i64)> = out
        .iter()
        .map(|r| {
            (
                r["window"]["start"].as_i64().unwrap(),
                r["window"]["end"].as_i64().unwrap(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [(253_402_214_400_000, 253_402_300_800_000, 1)],
        "{out:?}; dead letters: {:?}",
        dead_letters(&dir.path().join("dead.jsonl"))
    );
    // Year 0000 comes before the watermark, so that record is late, not refused.
    assert!(dead_letters(&dir.path().join("dead.jsonl")).is_empty());
}

#[test]
fn invalid_utf8_on_stdin_is_dead_lettered_with_its_bytes_like_in_a_file() {
    let input: &[u8] = b"{\"ts\": 1000, \"v\": 1}\n{\"ts\": 2000, \"v\": \"\xff\xfe\"}\n{\"ts\": 3000, \"v\": 2}\n";
    for source in ["file", "stdin"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.jsonl"), input).unwrap();
        let source_spec = match source {
            "file" => "{ file: { path: events.jsonl, value: v } }",
            _ => "{ stdin: { value: v } }",
        };
        let spec = write(
            dir.path(),
            "p.yaml",
            &window_spec(source_spec, "{ global: {} }"),
        );
        let out = run_to_output(&spec, input, Some(MEMORY_LIMIT));
        assert_eq!(out.len(), 1, "{source}: {out:?}");
        assert_eq!(out[0]["value"], 3, "{source}");
        let dead = dead_letters(&dir.path().join("dead.jsonl"));
        assert_eq!(dead.len(), 1, "{source}: {dead:?}");
        assert_eq!(dead[0]["line"], 2);
        assert_eq!(
            dead[0]["input"],
            "{\"ts\": 2000, \"v\": \"\u{fffd}\u{fffd}\"}"
        );
        assert_eq!(dead[0]["input_base64"], "eyJ0cyI6IDIwMDAsICJ2IjogIv/+In0=");
        assert!(
            dead[0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("not valid UTF-8")
        );
    }
}

#[test]
fn sums_that_would_overflow_are_dead_lettered_never_written_as_null() {
    let input = "{\"ts\": 1, \"v\": 1e308}\n{\"ts\": 2, \"v\": 1e308}\n";
    let plugin = |name: &str| format!("{{ plugin: {:?} }}", common::plugin(name));
    for combine in [
        "sum".to_owned(),
        "mean".to_owned(),
        plugin("sum"),
        plugin("mean"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "events.jsonl", input);
        let spec = window_spec(
            "{ file: { path: events.jsonl, value: v } }",
            "{ global: {} }",
        )
        .replace("combine: sum", &format!("combine: {combine}"));
        let spec = write(dir.path(), "p.yaml", &spec);
        let memory = (!combine.contains("plugin")).then_some(MEMORY_LIMIT);
        let out = run_to_output(&spec, b"", memory);
        assert_eq!(out.len(), 1, "{combine}: {out:?}");
        assert_eq!(out[0]["value"], 1e308, "{combine}: {out:?}");
        let dead = dead_letters(&dir.path().join("dead.jsonl"));
        assert_eq!(dead.len(), 1, "{combine}: {dead:?}");
        assert!(
            dead[0]["reason"]
                .as_str()
                .unwrap()
                .ends_with("overflows a 64-bit float"),
            "{combine}: {dead:?}"
        );
        assert_eq!(dead[0]["record"]["ts"], 2, "{combine}: {dead:?}");
    }
}

#[test]
fn integer_sums_past_64_bits_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "events.jsonl",
        "{\"ts\": 3, \"v\": 9223372036854775807}\n{\"ts\": 4, \"v\": 1}\n",
    );
    let spec = write(
        dir.path(),
        "p.yaml",
        &window_spec(
            "{ file: { path: events.jsonl, value: v } }",
            "{ global: {} }",
        ),
    );
    let out = run_to_output(&spec, b"", Some(MEMORY_LIMIT));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["value"], i64::MAX);
    let dead = dead_letters(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "sum overflows a 64-bit integer");
    assert_eq!(dead[0]["record"]["value"], 1);
}

/// `millrace validate` on `spec` (written to a file), which must fail with status 2
/// and a message containing every one of `expected`.
fn refused(name: &str, spec: &str, expected: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, spec);
    let output = bounded(&["validate", path.to_str().unwrap()], b"");
    let message = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains(name),
        "the message names the file: {message}"
    );
    for part in expected {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    message
}

#[test]
fn nested_aliases_are_refused_without_expanding_them() {
    // The classic "billion laughs": nine levels of ten aliases each, 10^10 nodes.
    let names: Vec<char> = ('a'..='j').collect();
    let mut spec = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for pair in names.windows(2) {
        let aliases = vec![format!("*{}", pair[0]); 10].join(",");
        spec.push_str(&format!("{0}: &{0} [{aliases}]\n", pair[1]));
    }
    assert!(spec.len() < 400, "{}", spec.len());
    let started = Instant::now();
    refused(
        "laughs.yaml",
        &spec,
        &[
            "more than 100000 nodes once its aliases are expanded",
            "line 5",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn deep_nesting_and_huge_specs_are_refused() {
    // yaml-rust2's scanner has its own bound on flow nesting; either one may answer.
    let message = refused(
        "deep.yaml",
        &format!("name: deep\nsource: {}\n", "[".repeat(50_000)),
        &["line 2"],
    );
    assert!(
        message.contains("nested more than 100 levels deep")
            || message.contains("recursion limit exceeded"),
        "{message}"
    );
    refused(
        "deep-block.yaml",
        &format!("name: deep\nsource:\n{}x\n", "- ".repeat(50_000)),
        &["nested more than 100 levels deep"],
    );
    refused(
        "huge.json",
        &format!(
            "{{\"name\": \"huge\", \"pad\": \"{}\"}}",
            "x".repeat(4 << 20)
        ),
        &["larger than the limit of 1048576 bytes"],
    );
}

#[test]
fn sliding_windows_with_too_many_windows_per_element_are_a_spec_error() {
    refused(
        "sliding.yaml",
        "name: s\nsource: { stdin: {} }\nsteps:\n  - window: { global: {} }\n  - window: { sliding: { size: 100000d, period: 1ms } }\n  - combine: count\nsink: { stdout: {} }\n",
        &[
            "steps[1].window.sliding: size 100000d over period 1ms makes 8640000000000 windows per element; at most 1000",
        ],
    );
}

#[test]
fn a_pipeline_name_cannot_reach_outside_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let spec = write(
        dir.path(),
        "p.yaml",
        "name: ../../elsewhere/x\nsource: { stdin: {} }\nsink: { stdout: {} }\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("millrace runs");
    let message = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("p.yaml: name: \"../../elsewhere/x\" is not a pipeline name"),
        "{message}"
    );
    assert!(!dir.path().join("elsewhere").exists());
    assert!(!dir.path().parent().unwrap().join("elsewhere").exists());
}

#[test]
fn plugin_files_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.wasm");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    // A sparse file: large, yet it costs no disk.
    let huge = dir.path().join("huge.wasm");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    // Without a memory bound (see `limited`), `/dev/zero` comes last: a host that
    // reads it unbounded has already failed on the FIFO, which it waits on forever.
    let cases = [
        (fifo.to_str().unwrap(), "it is not a regular file"),
        (
            huge.to_str().unwrap(),
            "it is larger than the limit of 256 MiB",
        ),
        ("/dev/zero", "it is not a regular file"),
    ];
    for (plugin, reason) in cases {
        let spec = write(
            dir.path(),
            "p.yaml",
            &format!(
                "name: p\nsource: {{ stdin: {{}} }}\nsteps:\n  - pardo: {{ plugin: {plugin} }}\nsink: {{ stdout: {{}} }}\n"
            ),
        );
        let output = limited(&["run", spec.to_str().unwrap()], b"", None);
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{plugin}: {message}");
        assert!(
            message.contains(&format!("cannot read the plugin {plugin}: {reason}")),
            "{message}"
        );
    }
}
