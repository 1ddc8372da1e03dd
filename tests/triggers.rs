//! Processing-time triggers through the real binary, against outputs derived by hand
//! from Beam's semantics (issue 10, item 7).
//!
//! The rules used below (DESIGN.md, Beam's runners-core):
//! - a test stream's processing clock starts at 0; elements arrive at the current
//!   processing time, and `after_processing_time: {delay: d}` sets its target to the
//!   arrival time of the pane's first element plus `d`;
//! - the target is met once the clock is strictly after it (Beam's `isAfter`), so a
//!   target of 25 is met at 26, not at 25;
//! - early firings repeat implicitly, and each pane restarts the delay from its own
//!   first element;
//! - at the end of input the watermark goes to +∞ and the clock stays put: each window
//!   fires its ON_TIME pane, which is its last (no allowed lateness), and pending
//!   processing-time targets never fire;
//! - accumulating: every pane holds everything the window has seen; a pane's `ts` is
//!   its window's end minus 1 ms (the default timestamp combiner);
//! - pane index counts the window's panes from 0; a window that merged is a new
//!   window whose panes start again at 0.

mod common;

use common::{per_window, run_records, write};
use serde_json::{Value, json};

/// The issue's input: one element before the clock has moved, then a clock advance
/// that is short of the delay.
const BEFORE_THE_CLOCK_MOVES: &str = r#"{"add": [{"key": "a", "value": 1, "ts": 0}]}
{"processing_time": 20}
"#;

/// As the issue's input, then a second element (at clock 20: the delay still counts
/// from the first one, at 0) and a clock advance past the target 0 + 25.
const THEN_PAST_THE_DELAY: &str = r#"{"add": [{"key": "a", "value": 1, "ts": 0}]}
{"processing_time": 20}
{"add": [{"key": "a", "value": 2, "ts": 1}]}
{"processing_time": 26}
"#;

/// Runs `window` (the body of a `window` step) over `input` with `combine: collect`.
fn run(window: &str, input: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in.jsonl", input);
    let spec = format!(
        "name: early-delay\n\
         source: {{ test_stream: in.jsonl }}\n\
         steps:\n  - window: {window}\n  - combine: collect\n\
         sink: {{ stdout: {{}} }}\n"
    );
    let spec = write(dir.path(), "pipeline.yaml", &spec);
    run_records(&["run", "-q", spec.to_str().unwrap()], "")
}

/// A pane of key "a" in `[start, end)`.
fn pane(start: i64, end: i64, value: Value, timing: &str, index: u64, last: bool) -> Value {
    json!({
        "key": "a",
        "window": {"start": start, "end": end},
        "value": value,
        "ts": end - 1,
        "pane": {"timing": timing, "index": index, "first": index == 0, "last": last},
        "retraction": false,
    })
}

/// The early pane of `[1, 2]` at clock 26, then the on-time pane at the end.
fn early_then_on_time(start: i64, end: i64) -> [Value; 2] {
    [
        pane(start, end, json!([1, 2]), "EARLY", 0, false),
        pane(start, end, json!([1, 2]), "ON_TIME", 1, true),
    ]
}

/// Compares per (key, window), as the conformance suite does: windows may interleave.
fn assert_panes(actual: &[Value], expected: &[Value]) {
    assert_eq!(
        per_window(actual),
        per_window(expected),
        "\nactual: {actual:#?}"
    );
}

const EARLY_DELAY: &str =
    "{ after_watermark: { early: { after_processing_time: { delay: 25 } } } }";

#[test]
fn a_delay_set_before_the_clock_moves_does_not_fire_before_it_has_passed() {
    // The issue's case. The element arrives at clock 0, so the target is 25; at 20
    // nothing is due; at the end only the ON_TIME pane fires, and it is the first.
    let window =
        format!("{{ fixed: {{ size: 40 }}, trigger: {EARLY_DELAY}, accumulation: accumulating }}");
    let records = run(&window, BEFORE_THE_CLOCK_MOVES);
    assert_panes(&records, &[pane(0, 40, json!([1]), "ON_TIME", 0, true)]);
}

#[test]
fn a_delay_set_before_the_clock_moves_fires_once_it_has_passed() {
    // Target 25 from the first element; the second (at 20) does not move it; at 26
    // the EARLY pane holds both; the ON_TIME pane repeats them (accumulating).
    let window =
        format!("{{ fixed: {{ size: 40 }}, trigger: {EARLY_DELAY}, accumulation: accumulating }}");
    let records = run(&window, THEN_PAST_THE_DELAY);
    assert_panes(&records, &early_then_on_time(0, 40));
}

#[test]
fn sliding_windows_each_count_the_delay_from_the_clock_start() {
    // Size 40 every 20: ts 0 and ts 1 are both in [-20, 20) and [0, 40). Each window
    // has its own target, both 0 + 25, so both fire early at 26 and on time at the end.
    let window = format!(
        "{{ sliding: {{ size: 40, period: 20 }}, trigger: {EARLY_DELAY}, accumulation: accumulating }}"
    );
    let records = run(&window, THEN_PAST_THE_DELAY);
    let mut expected = early_then_on_time(-20, 20).to_vec();
    expected.extend(early_then_on_time(0, 40));
    assert_panes(&records, &expected);
}

#[test]
fn sessions_keep_the_earliest_target_when_they_merge() {
    // Gap 10: ts 0 opens [0, 10) at clock 0 (target 25); ts 1 at clock 20 opens
    // [1, 11), which merges with it into [0, 11). The merged window keeps the
    // earliest pending target, 25, so it fires early at 26 and on time at the end.
    let window = format!(
        "{{ sessions: {{ gap: 10 }}, trigger: {EARLY_DELAY}, accumulation: accumulating }}"
    );
    let records = run(&window, THEN_PAST_THE_DELAY);
    assert_panes(&records, &early_then_on_time(0, 11));
}

#[test]
fn the_delay_inside_after_any_after_all_and_repeatedly_counts_from_the_clock_start() {
    // Each composite is the early trigger, and in each the delay is what decides:
    // - after_any with after_count 3: two elements never reach 3; the delay fires at 26;
    // - after_all with after_count 1: the count is met by the first element, the
    //   delay only at 26;
    // - repeatedly: the delay fires at 26 (then would restart from a next element).
    // A fixed window keeps the expected output the same for all three.
    for early in [
        "{ after_any: [ { after_processing_time: { delay: 25 } }, { after_count: 3 } ] }",
        "{ after_all: [ { after_processing_time: { delay: 25 } }, { after_count: 1 } ] }",
        "{ repeatedly: { after_processing_time: { delay: 25 } } }",
    ] {
        let window = format!(
            "{{ fixed: {{ size: 40 }}, trigger: {{ after_watermark: {{ early: {early} }} }}, \
             accumulation: accumulating }}"
        );
        let records = run(&window, THEN_PAST_THE_DELAY);
        assert_panes(&records, &early_then_on_time(0, 40));
        let records = run(&window, BEFORE_THE_CLOCK_MOVES);
        assert_panes(&records, &[pane(0, 40, json!([1]), "ON_TIME", 0, true)]);
    }
}

#[test]
fn a_repeated_delay_as_the_whole_trigger_counts_from_the_clock_start() {
    // repeatedly(delay 25) alone, as in conformance case book-2-5: the pane of [1, 2]
    // is EARLY at 26 (the watermark has not passed the window), and it is the only
    // early pane. What the end of input adds is not compared: whether the window
    // still owes an empty ON_TIME pane then depends on end-of-window holds, not on
    // the delay.
    let window = "{ fixed: { size: 40 }, trigger: { repeatedly: { after_processing_time: \
                  { delay: 25 } } }, accumulation: accumulating }";
    let records = run(window, THEN_PAST_THE_DELAY);
    let early: Vec<Value> = records
        .into_iter()
        .filter(|record| record["pane"]["timing"] == "EARLY")
        .collect();
    assert_panes(&early, &[pane(0, 40, json!([1, 2]), "EARLY", 0, false)]);
}
