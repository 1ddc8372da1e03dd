//! Helpers shared by the end-to-end tests: they drive the real `millrace` binary.
// Each test binary uses some of these, and none of them leave it.
#![allow(dead_code, unreachable_pub)]

pub mod languages;
pub mod served;
pub mod sessions;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder of the example plugin `name`, as a spec names it.
pub fn plugin(name: &str) -> String {
    let dir = root().join("plugins").join(name);
    let dir = dir.canonicalize().unwrap_or(dir);
    dir.to_string_lossy().into_owned()
}

/// A state directory of its own for one run, so that runs of specs with the same
/// name (tests run in parallel) never share state.
pub fn fresh_state_dir() -> PathBuf {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{}-{run}", std::process::id()))
}

/// A command running the `millrace` binary built for these tests, with a state
/// directory of its own.
pub fn millrace() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_millrace"));
    command.env("MILLRACE_STATE_DIR", fresh_state_dir());
    command
}

/// Runs `millrace` with `args` and `stdin`, returning its output.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let state = fresh_state_dir();
    let output = run_with_state(args, stdin, &state);
    let _ = std::fs::remove_dir_all(&state);
    output
}

/// Runs `millrace` with `args` and `stdin` and the state directory `state`.
pub fn run_with_state(args: &[&str], stdin: &str, state: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_millrace"))
        .env("MILLRACE_STATE_DIR", state)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("millrace starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts input");
    child.wait_with_output().expect("millrace finishes")
}

/// Like [`run`], but the run must succeed; returns stdout as records.
pub fn run_records(args: &[&str], stdin: &str) -> Vec<Value> {
    let output = run(args, stdin);
    assert!(
        output.status.success(),
        "millrace {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_lines(&String::from_utf8_lossy(&output.stdout))
}

/// Parses JSON Lines.
pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("bad line {line}: {err}"))
        })
        .collect()
}

/// Records grouped per (key, window), each group in output order.
pub fn per_window(records: &[Value]) -> BTreeMap<(String, String), Vec<Value>> {
    let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for record in records {
        let key = (record["key"].to_string(), record["window"].to_string());
        let mut compared = record.clone();
        if let Value::Object(fields) = &mut compared {
            fields.remove("key");
            fields.remove("window");
        }
        groups.entry(key).or_default().push(compared);
    }
    groups
}

/// Writes `text` to `name` inside `dir` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the test can write files");
    path
}
