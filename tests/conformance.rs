//! The Streaming Systems conformance suite (Beam Java's outputs), run through the real
//! binary and compared with the rule in tests/conformance/README.md: per (key,
//! window), the sequence of records must match exactly; windows may interleave.

mod common;

use std::path::Path;

use common::languages::{Language, in_every_language};
use common::{parse_lines, per_window, root, run_records, write};

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(root().join("tests/conformance"))
        .expect("the suite is in tests/conformance")
        .filter_map(std::result::Result::ok)
        .filter(|entry| entry.path().join("pipeline.yaml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// Runs `case` with its spec passed through `edit`, and compares with Beam's output.
fn check_with(case: &str, edit: impl Fn(&str) -> String) {
    let dir = root().join("tests/conformance").join(case);
    let original = std::fs::read_to_string(dir.join("pipeline.yaml")).unwrap();
    let input = dir.join("input.jsonl");
    let edited = edit(&original).replace(
        "test_stream: input.jsonl",
        &format!("test_stream: {}", input.display()),
    );
    let scratch = tempfile::tempdir().unwrap();
    let spec = write(scratch.path(), "pipeline.yaml", &edited);
    let actual = run_records(&["run", "--quiet", spec.to_str().unwrap()], "");
    let expected_text = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let expected = parse_lines(&expected_text);
    assert_eq!(
        per_window(&actual),
        per_window(&expected),
        "{case}: output differs from Beam's"
    );
}

#[test]
fn every_case_matches_beam_pane_for_pane() {
    let cases = cases();
    assert_eq!(cases.len(), 12, "all twelve cases are present: {cases:?}");
    for case in cases {
        check_with(&case, str::to_owned);
    }
}

// Every language's `sum` (plugins/sum, plugins/python/sum, …), built from its folder
// on first use.
in_every_language!(every_case_matches_beam_with_the_sum_plugin);

fn every_case_matches_beam_with_the_sum_plugin(language: &Language) {
    every_case_matches_beam_with(&language.plugin("sum"));
}

/// Each case with its built-in sum replaced by the CombineFn plugin at `path`.
fn every_case_matches_beam_with(path: &str) {
    let sum = format!("combine: {{ plugin: {path} }}");
    for case in cases() {
        check_with(&case, |spec| {
            assert!(
                spec.contains("combine: sum"),
                "{case} uses the built-in sum"
            );
            spec.replace("combine: sum", &sum)
        });
    }
}

#[test]
fn records_of_one_event_come_in_the_documented_order() {
    // book-4-3-retracting's last event emits nothing; the 9 at 12:08:19 emits two
    // retractions and a new pane in one event: retractions first.
    let spec = root().join("tests/conformance/book-4-3-retracting/pipeline.yaml");
    let records = run_records(&["run", "-q", spec.to_str().unwrap()], "");
    let late = records
        .iter()
        .position(|r| r["pane"]["timing"] == "LATE")
        .expect("a late pane");
    assert_eq!(records[late - 1]["retraction"], true);
    assert_eq!(records[late - 2]["retraction"], true);
    assert_eq!(
        records[late - 2]["window"]["start"],
        26000,
        "ordered by window end"
    );
}

#[test]
fn the_bundled_suite_matches_the_shared_one() {
    // The suite is copied into the repository so that a clean clone is
    // self-contained; when the shared original is present, the copy must match it.
    let shared = root().join("../shared/conformance");
    if !shared.exists() {
        return;
    }
    for case in cases() {
        for file in ["pipeline.yaml", "input.jsonl", "expected.jsonl"] {
            let ours =
                std::fs::read(root().join("tests/conformance").join(&case).join(file)).unwrap();
            let theirs = std::fs::read(Path::new(&shared).join(&case).join(file)).unwrap();
            assert_eq!(
                ours, theirs,
                "{case}/{file} differs from ../shared/conformance"
            );
        }
    }
}
