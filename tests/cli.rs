//! The command line as a newcomer meets it: help, validation, exit statuses, bad
//! input, overrides and the end-of-run summary.

mod common;

use common::{millrace, parse_lines, run, run_records, write};

const SPEC: &str = "name: scores
source:
  file: { path: events.jsonl, key: user, value: score, watermark: { max_out_of_orderness: 1m } }
steps:
  - window: { fixed: { size: 1h } }
  - combine: sum
sink: { file: out.jsonl }
";

const EVENTS: &str = r#"{"user": "ann", "score": 5, "ts": "2026-11-21T10:00:00Z"}
{"user": "bob", "score": 3, "ts": "2026-11-21T10:10:00Z"}
this is not json
{"user": "ann", "score": 4, "ts": "2026-11-21T10:20:00Z"}
{"user": "ann", "ts": "2026-11-21T10:30:00Z"}
{"user": "bob", "score": 1, "ts": "2026-11-21T12:00:00Z"}
{"user": "ann", "score": 100, "ts": "2026-11-21T10:50:00Z"}
"#;

fn scores_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pipeline.yaml", SPEC);
    write(dir.path(), "events.jsonl", EVENTS);
    dir
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_explains_the_commands_and_options() {
    let output = run(&["--help"], "");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in ["run", "validate", "bench", "Examples:", "windows"] {
        assert!(
            text.contains(expected),
            "--help lacks {expected:?}:\n{text}"
        );
    }
    let output = run(&["run", "--help"], "");
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--input",
        "--output",
        "--strict",
        "--dead-letter",
        "stdin",
        "stdout",
    ] {
        assert!(
            text.contains(expected),
            "run --help lacks {expected:?}:\n{text}"
        );
    }
}

#[test]
fn validate_describes_a_valid_spec() {
    let dir = scores_dir();
    let spec = dir.path().join("pipeline.yaml");
    let output = run(&["validate", spec.to_str().unwrap()], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("valid pipeline \"scores\""), "{text}");
    assert!(text.contains("fixed 1h"), "{text}");
}

#[test]
fn invalid_specs_exit_2_naming_file_path_and_expectation_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = SPEC.replace("combine: sum", "combine: summ");
    let spec = write(dir.path(), "bad.yaml", &bad);
    write(dir.path(), "events.jsonl", EVENTS);
    for command in ["validate", "run"] {
        let output = run(&[command, spec.to_str().unwrap()], "");
        assert_eq!(output.status.code(), Some(2), "{command}");
        let message = stderr(&output);
        assert!(message.contains("bad.yaml: steps[1].combine: unknown combine function \"summ\"; did you mean \"sum\"?"), "{message}");
        assert!(message.contains("line 6"), "{message}");
    }
    assert!(!dir.path().join("out.jsonl").exists(), "nothing ran");

    let trigger = SPEC.replace(
        "fixed: { size: 1h } }",
        "fixed: { size: 1h }, trigger: { after_count: 0 } }",
    );
    let spec = write(dir.path(), "trigger.yaml", &trigger);
    let output = run(&["validate", spec.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "steps[0].window.trigger.after_count: expected a whole number of at least 1, found 0"
        ),
        "{}",
        stderr(&output)
    );

    let missing = dir.path().join("nope.yaml");
    let output = run(&["validate", missing.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope.yaml: cannot read the spec"));
}

#[test]
fn bad_lines_go_to_the_dead_letter_file_and_the_run_goes_on() {
    let dir = scores_dir();
    let spec = dir.path().join("pipeline.yaml");
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stderr(&output);
    assert!(
        summary.contains("read 5 records; emitted 3 (0 retractions)"),
        "{summary}"
    );
    assert!(
        summary.contains("dropped 1 late"),
        "the 10:50 score arrives after 12:00: {summary}"
    );
    assert!(summary.contains("dead-lettered 2"), "{summary}");

    let out = parse_lines(&std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap());
    let totals: Vec<(String, i64)> = out
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![("ann".into(), 9), ("bob".into(), 3), ("bob".into(), 1)]
    );

    let dead = parse_lines(&std::fs::read_to_string(dir.path().join("out.dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["line"], 3);
    assert_eq!(dead[0]["input"], "this is not json");
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not valid JSON")
    );
    assert_eq!(dead[1]["line"], 5);
    assert_eq!(dead[1]["reason"], "missing the value field \"score\"");
    assert!(
        dead[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("events.jsonl")
    );
}

#[test]
fn strict_mode_stops_at_the_first_bad_line() {
    let dir = scores_dir();
    let spec = dir.path().join("pipeline.yaml");
    let output = run(&["run", "--strict", spec.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("--strict"), "{message}");
    assert!(
        message.contains("events.jsonl line 3: not valid JSON"),
        "{message}"
    );
}

#[test]
fn input_and_output_overrides_including_stdin_and_stdout() {
    let dir = scores_dir();
    let spec = dir.path().join("pipeline.yaml");
    let records = run_records(
        &[
            "run",
            "-q",
            spec.to_str().unwrap(),
            "--input",
            "-",
            "--output",
            "-",
        ],
        "{\"user\": \"cy\", \"score\": 2, \"ts\": 0}\n{\"user\": \"cy\", \"score\": 3, \"ts\": 1000}\n",
    );
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["key"], "cy");
    assert_eq!(records[0]["value"], 5);
    assert_eq!(records[0]["window"]["start"], 0);
    assert_eq!(records[0]["pane"]["timing"], "ON_TIME");

    let other = write(
        dir.path(),
        "other.jsonl",
        "{\"user\": \"dee\", \"score\": 7, \"ts\": 5}\n",
    );
    let target = dir.path().join("elsewhere.jsonl");
    let output = run(
        &[
            "run",
            spec.to_str().unwrap(),
            "-i",
            other.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let written = parse_lines(&std::fs::read_to_string(&target).unwrap());
    assert_eq!(written[0]["key"], "dee");
}

#[test]
fn a_missing_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "pipeline.yaml", SPEC);
    let output = run(&["run", spec.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("cannot open the input"), "{message}");
    assert!(message.contains("events.jsonl"), "{message}");
}

#[test]
fn no_progress_bar_when_output_is_not_a_terminal() {
    let dir = scores_dir();
    let spec = dir.path().join("pipeline.yaml");
    let output = run(&["run", spec.to_str().unwrap()], "");
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "only the summary: {text:?}");
    assert!(!text.contains('\u{1b}'), "no terminal escapes: {text:?}");
}

#[test]
fn progress_is_drawn_on_a_terminal() {
    // `script` runs the command on a pseudo-terminal, as a person at a shell would.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "pipeline.yaml",
        "source: { file: { path: events.jsonl, bundle_size: 1 } }\nsink: { file: out.jsonl }\n",
    );
    let line = "{\"ts\": 1, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
    write(dir.path(), "events.jsonl", &line.repeat(200_000));
    let command = format!(
        "{} run {} --state-dir {}",
        env!("CARGO_BIN_EXE_millrace"),
        spec.display(),
        dir.path().join("state").display()
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains('%'),
        "a progress bar with a percentage: {text:?}"
    );
    assert!(text.contains("read 200000 records"), "{text:?}");
    let _ = millrace();
}

#[test]
fn the_readme_example_prints_the_panes_the_readme_explains() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("rejected.jsonl");
    let spec = common::root().join("examples/game-sessions/pipeline.yaml");
    let output = run(
        &[
            "run",
            spec.to_str().unwrap(),
            "--output",
            "-",
            "--dead-letter",
            dead.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let records = parse_lines(&String::from_utf8_lossy(&output.stdout));
    let rows: Vec<(&str, i64, &str, bool)> = records
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["value"].as_i64().unwrap(),
                r["pane"]["timing"].as_str().unwrap(),
                r["retraction"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("ana", 12, "EARLY", false),
            ("ana", 12, "EARLY", true),
            ("ben", 8, "ON_TIME", false),
            ("ana", 21, "ON_TIME", false),
            ("cai", 8, "ON_TIME", false),
            ("ana", 21, "ON_TIME", true),
            ("ana", 22, "LATE", false),
            ("ben", 3, "ON_TIME", false),
            ("cai", 9, "ON_TIME", false),
            ("ben", 8, "ON_TIME", false),
            ("cai", 2, "ON_TIME", false),
        ]
    );
    assert!(
        stderr(&output).contains(
            "read 16 records; emitted 11 (2 retractions) to stdout; dropped 1 late and 0 for closed windows; dead-lettered 2"
        ),
        "{}",
        stderr(&output)
    );
    let dead = parse_lines(&std::fs::read_to_string(dead).unwrap());
    let step = dead[0]["step"].as_str().unwrap();
    assert!(step.starts_with("steps[2].combine (") && step.ends_with("/plugins/sum)"));
    assert_eq!(dead[0]["record"]["value"], "lots");
    assert_eq!(dead[1]["line"], 9);
}
