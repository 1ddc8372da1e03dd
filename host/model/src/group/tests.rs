//! The grouping alone, through a harness in the spirit of Beam's ReduceFnTester:
//! elements, watermark and clock advances in, panes out, and a checkpoint and
//! restore wherever a test wants one. Expected panes follow Beam's semantics
//! (ReduceFnRunnerTest and *Streaming Systems*), not this engine's output.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::combine::{Builtin, BuiltinFn};
use crate::pane::Timing;
use crate::pipeline::NoSwap;
use crate::record::Key;
use crate::state::{MemoryBackend, StateBackend, StateBatch};
use crate::time::MAX_TIMESTAMP;
use crate::window::AssignedWindows;

/// One grouping step, driven by hand.
struct Tester {
    strategy: WindowingStrategy,
    combine: Builtin,
    group: GroupByKeyAndWindow<BuiltinFn>,
    out: StepOutput,
    /// The pane each (key, window) shows downstream now: the last one not retracted.
    standing: HashMap<(String, (i64, i64)), Pane>,
}

/// A pane as the tests compare it: key, window, value, timing, index, retraction.
type Pane = (String, (i64, i64), Value, Timing, u64, bool);

/// The pane `key` `window` `value` `timing` `index`.
fn pane(key: &str, window: (i64, i64), value: Value, timing: Timing, index: u64) -> Pane {
    (key.to_owned(), window, value, timing, index, false)
}

/// The retraction of `pane`.
fn retraction(mut pane: Pane) -> Pane {
    pane.5 = true;
    pane
}

impl Tester {
    fn new(strategy: WindowingStrategy, combine: Builtin) -> Tester {
        Tester {
            group: Self::build(&strategy, combine),
            strategy,
            combine,
            out: StepOutput::default(),
            standing: HashMap::new(),
        }
    }

    fn build(strategy: &WindowingStrategy, combine: Builtin) -> GroupByKeyAndWindow<BuiltinFn> {
        GroupByKeyAndWindow::new(
            "steps[1].combine",
            strategy.clone(),
            combine.function(),
            false,
        )
        .expect("the trigger is small")
    }

    /// One bundle of `(key, value, timestamp)` elements, each in the windows the
    /// strategy assigns it.
    fn elements(&mut self, elements: &[(&str, i64, Timestamp)]) -> &mut Self {
        let mut bundle = Vec::new();
        for &(key, value, ts) in elements {
            let mut windows = AssignedWindows::new();
            self.strategy
                .window_fn
                .assign(ts, &mut windows)
                .expect("a built-in window function");
            for window in windows {
                let mut record = Record::new(Key::from_str_value(key), json!(value), ts);
                record.window = window;
                bundle.push(record);
            }
        }
        self.group.process(bundle, &mut self.out).expect("no fault");
        self
    }

    fn watermark(&mut self, watermark: Timestamp) -> &mut Self {
        self.group
            .advance_watermark(watermark, &mut self.out)
            .expect("no fault");
        self
    }

    fn clock(&mut self, now: Timestamp) -> &mut Self {
        self.group
            .advance_processing_time(now, &mut self.out)
            .expect("no fault");
        self
    }

    /// Writes the step's state at a checkpoint and carries on with a new step that
    /// restored it, as a resumed run would.
    fn checkpoint_and_restore(&mut self) -> &mut Self {
        let mut batch = StateBatch::default();
        Step::<NoSwap>::snapshot(&mut self.group, &mut StepWriter::new(0, &mut batch))
            .expect("snapshot");
        let mut backend = MemoryBackend::new();
        backend.write(batch).expect("write");
        self.group = Self::build(&self.strategy, self.combine);
        Step::<NoSwap>::restore(&mut self.group, &StepReader::new(0, &backend)).expect("restore");
        self
    }

    /// The panes emitted since the last call, in output order. Checks, in emission
    /// order, the model's invariant that a retraction repeats the standing pane of
    /// its window exactly.
    fn panes(&mut self) -> Vec<Pane> {
        let mut records = std::mem::take(&mut self.out.records);
        for pane in records.iter().map(as_pane) {
            let window = (pane.0.clone(), pane.1);
            if pane.5 {
                let standing = self.standing.remove(&window);
                assert_eq!(
                    standing.map(retraction),
                    Some(pane),
                    "a retraction repeats the standing pane"
                );
            } else {
                self.standing.insert(window, pane);
            }
        }
        crate::pipeline::sort_for_output(&mut records);
        records.iter().map(as_pane).collect()
    }
}

fn as_pane(record: &Record) -> Pane {
    let Value::String(key) = record.key.to_value() else {
        panic!("the tests' keys are strings");
    };
    (
        key,
        (record.window.start(), record.window.end()),
        record.value.clone(),
        record.pane.timing,
        record.pane.index,
        record.retraction,
    )
}

fn fixed(size: i64) -> WindowFn {
    WindowFn::Fixed { size, offset: 0 }
}

#[test]
fn the_default_trigger_fires_each_window_once_when_the_watermark_passes_its_end() {
    let mut t = Tester::new(
        WindowingStrategy {
            window_fn: fixed(10),
            ..WindowingStrategy::default()
        },
        Builtin::Sum,
    );
    t.elements(&[("a", 1, 1), ("a", 2, 5), ("b", 4, 12)]);
    assert_eq!(
        t.watermark(9).panes(),
        [],
        "9 is the window's last instant, not past it"
    );
    assert_eq!(
        t.watermark(10).panes(),
        [pane("a", (0, 10), json!(3), Timing::OnTime, 0)]
    );
    assert_eq!(
        t.watermark(MAX_TIMESTAMP).panes(),
        [pane("b", (10, 20), json!(4), Timing::OnTime, 0)]
    );
}

#[test]
fn late_data_within_the_allowed_lateness_fires_late_panes_and_after_it_is_dropped() {
    let strategy = WindowingStrategy {
        window_fn: fixed(10),
        allowed_lateness: 20,
        ..WindowingStrategy::default()
    };
    let mut t = Tester::new(strategy, Builtin::Sum);
    t.elements(&[("a", 1, 1)]);
    assert_eq!(
        t.watermark(10).panes(),
        [pane("a", (0, 10), json!(1), Timing::OnTime, 0)]
    );
    // Discarding: the late pane holds only the late element.
    assert_eq!(
        t.elements(&[("a", 5, 2)]).panes(),
        [pane("a", (0, 10), json!(5), Timing::Late, 1)]
    );
    // Past the window's garbage-collection time (9 + 20) it is gone, and a record
    // for it is dropped.
    assert_eq!(t.watermark(30).panes(), []);
    assert_eq!(t.elements(&[("a", 7, 3)]).panes(), []);
    assert_eq!(t.group.stats.dropped_late, 1);
}

#[test]
fn sessions_merge_and_retracting_mode_withdraws_the_panes_of_merged_sessions() {
    let strategy = WindowingStrategy {
        window_fn: WindowFn::Sessions { gap: 10 },
        trigger: Trigger::Repeatedly(Box::new(Trigger::AfterCount(1))),
        accumulation: AccumulationMode::Retracting,
        ..WindowingStrategy::default()
    };
    let mut t = Tester::new(strategy, Builtin::Sum);
    assert_eq!(
        t.elements(&[("a", 1, 0)]).panes(),
        [pane("a", (0, 10), json!(1), Timing::Early, 0)]
    );
    assert_eq!(
        t.elements(&[("a", 2, 15)]).panes(),
        [pane("a", (15, 25), json!(2), Timing::Early, 0)]
    );
    // 8 bridges the two sessions: both panes are withdrawn, and the merged session
    // fires with everything.
    assert_eq!(
        t.elements(&[("a", 4, 8)]).panes(),
        [
            retraction(pane("a", (0, 10), json!(1), Timing::Early, 0)),
            retraction(pane("a", (15, 25), json!(2), Timing::Early, 0)),
            pane("a", (0, 25), json!(7), Timing::Early, 0),
        ]
    );
}

#[test]
fn a_delay_counts_from_the_clock_start_when_elements_arrive_before_it_moves() {
    let mut t = early_after_delay();
    // The element arrives at processing time 0: the clock has not been advanced.
    t.elements(&[("a", 1, 0)]);
    assert_eq!(
        t.clock(20).panes(),
        [],
        "20 is before 0 + 25: no pane is due"
    );
    assert_eq!(t.group.next_processing_timer(), Some(25));
    assert_eq!(
        t.watermark(MAX_TIMESTAMP).panes(),
        [pane("a", (0, 40), json!([1]), Timing::OnTime, 0)]
    );
}

#[test]
fn a_delay_set_at_the_clock_start_fires_once_it_has_passed() {
    let mut t = early_after_delay();
    t.elements(&[("a", 1, 0)]);
    assert_eq!(
        t.clock(25).panes(),
        [],
        "fires only strictly after the target"
    );
    assert_eq!(
        t.clock(26).panes(),
        [pane("a", (0, 40), json!([1]), Timing::Early, 0)]
    );
}

#[test]
fn a_checkpoint_in_the_middle_changes_no_pane() {
    let run = |checkpoint: bool| {
        let strategy = WindowingStrategy {
            window_fn: WindowFn::Sessions { gap: 10 },
            trigger: Trigger::AfterWatermark {
                early: Some(Box::new(Trigger::AfterCount(2))),
                late: Some(Box::new(Trigger::AfterCount(1))),
            },
            accumulation: AccumulationMode::Retracting,
            allowed_lateness: 100,
            ..WindowingStrategy::default()
        };
        let mut t = Tester::new(strategy, Builtin::Sum);
        let mut panes = t.elements(&[("a", 1, 0), ("b", 2, 3)]).panes();
        if checkpoint {
            t.checkpoint_and_restore();
        }
        panes.extend(
            t.elements(&[("a", 3, 5), ("a", 4, 30)])
                .watermark(20)
                .panes(),
        );
        if checkpoint {
            t.checkpoint_and_restore();
        }
        panes.extend(t.elements(&[("a", 5, 12)]).watermark(MAX_TIMESTAMP).panes());
        panes
    };
    let uninterrupted = run(false);
    assert!(uninterrupted.len() >= 4, "{uninterrupted:?}");
    assert_eq!(run(true), uninterrupted);
}

/// Issue 10's spec: fixed windows of 40 ms, an early firing 25 ms after a pane's
/// first element, accumulating.
fn early_after_delay() -> Tester {
    let strategy = WindowingStrategy {
        window_fn: fixed(40),
        trigger: Trigger::AfterWatermark {
            early: Some(Box::new(Trigger::AfterProcessingTime {
                delay: 25,
                align: None,
            })),
            late: None,
        },
        accumulation: AccumulationMode::Accumulating,
        ..WindowingStrategy::default()
    };
    Tester::new(strategy, Builtin::Collect)
}

#[test]
fn a_strategy_is_described_as_the_spec_writes_it() {
    let strategy = WindowingStrategy {
        window_fn: WindowFn::Sessions { gap: 30_000 },
        trigger: Trigger::AfterWatermark {
            early: Some(Box::new(Trigger::AfterCount(2))),
            late: None,
        },
        accumulation: AccumulationMode::Retracting,
        allowed_lateness: 60_000,
        timestamp_combiner: TimestampCombiner::Earliest,
    };
    assert_eq!(
        strategy.describe(),
        json!({
            "window_fn": {"sessions": {"gap": 30_000}},
            "trigger": strategy.trigger.to_string(),
            "accumulation": "retracting",
            "allowed_lateness": 60_000,
            "timestamp_combiner": "earliest",
        })
    );
    let global = WindowingStrategy::default().describe();
    assert_eq!(global["window_fn"], json!("global"));
}

#[test]
fn a_window_that_fired_only_early_panes_fires_a_final_on_time_pane_when_it_expires() {
    // Beam (ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorBackwardCompatibility,
    // fireEmptyOnDrainInGlobalWindowIfRequested): the garbage-collection timer holds
    // the output watermark while its pane is decided, so the final pane after early
    // ones is ON_TIME, index 1, and is emitted even when empty (FIRE_ALWAYS).
    for (accumulation, last_value) in [
        (AccumulationMode::Accumulating, json!([1])),
        (AccumulationMode::Discarding, json!([])),
    ] {
        let strategy = WindowingStrategy {
            window_fn: fixed(10),
            trigger: Trigger::Repeatedly(Box::new(Trigger::AfterCount(1))),
            accumulation,
            ..WindowingStrategy::default()
        };
        let mut t = Tester::new(strategy, Builtin::Collect);
        assert_eq!(
            t.elements(&[("a", 1, 1)]).panes(),
            [pane("a", (0, 10), json!([1]), Timing::Early, 0)]
        );
        assert_eq!(
            t.watermark(MAX_TIMESTAMP).panes(),
            [pane("a", (0, 10), last_value, Timing::OnTime, 1)],
            "{accumulation:?}"
        );
    }
}
