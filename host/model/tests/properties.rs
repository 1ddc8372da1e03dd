//! Model invariants on random out-of-order streams (proptest), checked against
//! reference computations written independently of the engine.

use std::collections::BTreeMap;

use millrace_model::combine::Builtin;
use millrace_model::graph::{Pipeline, PipelineOutput};
use millrace_model::group::{GroupByKeyAndWindow, WindowingStrategy};
use millrace_model::pane::AccumulationMode;
use millrace_model::pipeline::{AssignWindows, Event, Step};
use millrace_model::record::{Key, Record};
use millrace_model::state::{MemoryBackend, StateBackend, StateBatch};
use millrace_model::time::{
    MAX_DURATION, MAX_EVENT_TIME, MAX_TIMESTAMP, MIN_EVENT_TIME, MIN_TIMESTAMP,
};
use millrace_model::trigger::Trigger;
use millrace_model::watermark::PartitionWatermarks;
use millrace_model::window::{AssignedWindows, MAX_WINDOWS_PER_ELEMENT, Window, WindowFn};
use proptest::prelude::*;
use serde_json::json;

const SECOND: i64 = 1000;

/// An element: key index, value, event time.
type Element = (u8, i64, i64);

/// One step of a generated stream.
#[derive(Clone, Debug)]
enum Input {
    Add(Vec<Element>),
    Watermark(i64),
    ProcessingTime(i64),
}

fn key(index: u8) -> Key {
    Key::from_str_value(&format!("k{index}"))
}

fn build(strategy: &WindowingStrategy) -> Pipeline {
    let steps: Vec<Box<dyn Step>> = vec![
        Box::new(AssignWindows::new("window", strategy.window_fn.clone())),
        Box::new(
            GroupByKeyAndWindow::new("combine", strategy.clone(), Builtin::Sum.function(), false)
                .unwrap(),
        ),
    ];
    Pipeline::chain(steps)
}

/// The inputs as events, ending with the end of input.
fn events(inputs: &[Input]) -> Vec<Event> {
    let mut events: Vec<Event> = inputs
        .iter()
        .map(|input| match input {
            Input::Add(elements) => Event::Records(
                elements
                    .iter()
                    .map(|(k, value, ts)| Record::new(key(*k), json!(value), *ts))
                    .collect(),
            ),
            Input::Watermark(w) => Event::Watermark(*w),
            Input::ProcessingTime(t) => Event::ProcessingTime(*t),
        })
        .collect();
    events.push(Event::Watermark(MAX_TIMESTAMP));
    events
}

fn run(strategy: &WindowingStrategy, inputs: &[Input]) -> Vec<Record> {
    let mut pipeline = build(strategy);
    let mut out = PipelineOutput::new(1);
    for event in events(inputs) {
        pipeline.handle(0, event, &mut out).unwrap();
    }
    assert!(out.dead_letters.is_empty());
    out.sinks.swap_remove(0)
}

/// Runs with checkpoints after the events `checkpoint_after` marks, "crashes" after
/// event `crash_at` and resumes in a fresh pipeline from the last checkpoint, as a
/// restarted run does: output up to that checkpoint, then the replay's.
fn run_with_crash(
    strategy: &WindowingStrategy,
    inputs: &[Input],
    checkpoint_after: &[bool],
    crash_at: usize,
) -> Vec<Record> {
    let events = events(inputs);
    let crash_at = crash_at % events.len();
    let mut backend = MemoryBackend::new();
    let mut pipeline = build(strategy);
    let mut out = PipelineOutput::new(1);
    let mut committed = (0, 0);
    for (i, event) in events.iter().enumerate().take(crash_at + 1) {
        pipeline.handle(0, event.clone(), &mut out).unwrap();
        if checkpoint_after[i % checkpoint_after.len()] {
            let mut batch = StateBatch::default();
            pipeline.snapshot(&mut batch).unwrap();
            backend.write(batch).unwrap();
            committed = (i + 1, out.sinks[0].len());
        }
    }
    let (resume_at, kept) = committed;
    out.sinks[0].truncate(kept);
    let mut resumed = build(strategy);
    resumed.restore(&backend).unwrap();
    for event in &events[resume_at..] {
        resumed.handle(0, event.clone(), &mut out).unwrap();
    }
    out.sinks.swap_remove(0)
}

fn assign(window_fn: &WindowFn, ts: i64) -> Vec<Window> {
    let mut windows = AssignedWindows::new();
    window_fn
        .assign(ts, &mut windows)
        .expect("generated times are in range");
    windows.into_vec()
}

/// The batch answer: every (key, window) sum, merging sessions by a sweep.
fn batch(window_fn: &WindowFn, elements: &[Element]) -> BTreeMap<(Key, Window), i64> {
    let mut sums = BTreeMap::new();
    match window_fn {
        WindowFn::Sessions { gap } => {
            let mut per_key: BTreeMap<u8, Vec<(i64, i64)>> = BTreeMap::new();
            for (k, value, ts) in elements {
                per_key.entry(*k).or_default().push((*ts, *value));
            }
            for (k, mut points) in per_key {
                points.sort_unstable();
                let mut session: Option<(i64, i64, i64)> = None;
                for (ts, value) in points {
                    session = match session {
                        Some((start, end, sum)) if ts < end => {
                            Some((start, end.max(ts + gap), sum + value))
                        }
                        Some((start, end, sum)) => {
                            sums.insert((key(k), Window::interval(start, end)), sum);
                            Some((ts, ts + gap, value))
                        }
                        None => Some((ts, ts + gap, value)),
                    };
                }
                if let Some((start, end, sum)) = session {
                    sums.insert((key(k), Window::interval(start, end)), sum);
                }
            }
        }
        _ => {
            for (k, value, ts) in elements {
                for window in assign(window_fn, *ts) {
                    *sums.entry((key(*k), window)).or_insert(0) += value;
                }
            }
        }
    }
    sums
}

fn window_fns() -> impl Strategy<Value = WindowFn> {
    prop_oneof![
        (1i64..5).prop_map(|m| WindowFn::Fixed {
            size: m * 30 * SECOND,
            offset: 0
        }),
        (1i64..4).prop_map(|m| WindowFn::Sliding {
            size: 2 * m * 30 * SECOND,
            period: m * 30 * SECOND,
            offset: 0
        }),
        (1i64..6).prop_map(|m| WindowFn::Sessions {
            gap: m * 20 * SECOND
        }),
    ]
}

/// Triggers that never finish, so no window closes before the end.
fn repeating_triggers() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        Just(Trigger::Default),
        (1u64..4).prop_map(|n| Trigger::Repeatedly(Box::new(Trigger::AfterCount(n)))),
        (1u64..4).prop_map(|n| Trigger::AfterWatermark {
            early: Some(Box::new(Trigger::AfterCount(n))),
            late: Some(Box::new(Trigger::AfterCount(1))),
        }),
        (1i64..30).prop_map(|s| Trigger::AfterWatermark {
            early: Some(Box::new(Trigger::AfterProcessingTime {
                delay: s * SECOND,
                align: None
            })),
            late: Some(Box::new(Trigger::AfterCount(1))),
        }),
        (1i64..30).prop_map(
            |s| Trigger::Repeatedly(Box::new(Trigger::AfterProcessingTime {
                delay: s * SECOND,
                align: None
            }))
        ),
    ]
}

/// Out-of-order elements in random bundles, with watermark and clock advances.
fn streams() -> impl Strategy<Value = (Vec<Element>, Vec<Input>)> {
    let element = (0u8..3, 1i64..20, 0i64..600).prop_map(|(k, v, s)| (k, v, s * SECOND));
    (
        prop::collection::vec(element, 1..40),
        prop::collection::vec((0u8..4, 0i64..90, 0i64..60), 40),
    )
        .prop_map(|(elements, moves)| {
            let mut inputs = Vec::new();
            let (mut watermark, mut clock) = (i64::MIN, 0);
            let mut bundle = Vec::new();
            for (i, element) in elements.iter().enumerate() {
                bundle.push(*element);
                let (action, step, tick) = moves[i % moves.len()];
                if action == 0 || i + 1 == elements.len() {
                    inputs.push(Input::Add(std::mem::take(&mut bundle)));
                }
                if action == 1 && bundle.is_empty() {
                    watermark = watermark.max(0) + step * SECOND;
                    inputs.push(Input::Watermark(watermark));
                }
                if action == 2 && bundle.is_empty() {
                    clock += tick * SECOND;
                    inputs.push(Input::ProcessingTime(clock));
                }
            }
            (elements, inputs)
        })
}

/// Which (element, window) pairs a grouping drops as late, replaying the watermark.
fn not_dropped(window_fn: &WindowFn, lateness: i64, inputs: &[Input]) -> Vec<(u8, i64, Window)> {
    let mut watermark = i64::MIN;
    let mut kept = Vec::new();
    for input in inputs {
        match input {
            Input::Watermark(w) => watermark = watermark.max(*w),
            Input::Add(elements) => {
                for (k, value, ts) in elements {
                    for window in assign(window_fn, *ts) {
                        if window.gc_time(lateness) >= watermark {
                            kept.push((*k, *value, window));
                        }
                    }
                }
            }
            Input::ProcessingTime(_) => {}
        }
    }
    kept
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Accumulating: the last pane of each window equals the batch result.
    #[test]
    fn accumulating_last_panes_equal_the_batch_result(
        window_fn in window_fns(),
        trigger in repeating_triggers(),
        (elements, inputs) in streams(),
    ) {
        let strategy = WindowingStrategy {
            window_fn: window_fn.clone(),
            trigger,
            accumulation: AccumulationMode::Accumulating,
            allowed_lateness: 1_000_000 * SECOND,
            ..WindowingStrategy::default()
        };
        let records = run(&strategy, &inputs);
        let mut last: BTreeMap<(Key, Window), i64> = BTreeMap::new();
        for record in &records {
            prop_assert!(!record.retraction);
            last.insert((record.key.clone(), record.window), record.value.as_i64().unwrap());
        }
        for (window, sum) in batch(&window_fn, &elements) {
            prop_assert_eq!(last.get(&window), Some(&sum), "window {:?}", window);
        }
    }

    /// Retracting: per key, emitted minus retracted equals the batch sum of the input
    /// that was not dropped as late.
    #[test]
    fn retracting_output_nets_to_the_sum_of_kept_input(
        window_fn in window_fns(),
        trigger in repeating_triggers(),
        lateness_seconds in prop_oneof![Just(0i64), 0i64..120],
        (_, inputs) in streams(),
    ) {
        let lateness = lateness_seconds * SECOND;
        let strategy = WindowingStrategy {
            window_fn: window_fn.clone(),
            trigger,
            accumulation: AccumulationMode::Retracting,
            allowed_lateness: lateness,
            ..WindowingStrategy::default()
        };
        let records = run(&strategy, &inputs);
        // Read in output order, each retraction repeats the standing pane of its
        // window: what a downstream consumer subtracts is what it was shown.
        let mut standing: BTreeMap<(Key, Window), Record> = BTreeMap::new();
        for record in &records {
            let window = (record.key.clone(), record.window);
            if record.retraction {
                let shown = standing.remove(&window).map(|shown| Record { retraction: true, ..shown });
                prop_assert_eq!(shown.as_ref(), Some(record));
            } else {
                standing.insert(window, record.clone());
            }
        }
        let mut net: BTreeMap<Key, i64> = BTreeMap::new();
        for record in &records {
            let sign = if record.retraction { -1 } else { 1 };
            *net.entry(record.key.clone()).or_default() += sign * record.value.as_i64().unwrap();
        }
        let mut expected: BTreeMap<Key, i64> = BTreeMap::new();
        for (k, value, _) in not_dropped(&window_fn, lateness, &inputs) {
            *expected.entry(key(k)).or_default() += value;
        }
        net.retain(|_, v| *v != 0);
        expected.retain(|_, v| *v != 0);
        prop_assert_eq!(net, expected);
    }

    /// With the default trigger, how records are split into bundles changes nothing.
    #[test]
    fn default_trigger_output_does_not_depend_on_bundling(
        window_fn in window_fns(),
        accumulation in prop_oneof![
            Just(AccumulationMode::Discarding),
            Just(AccumulationMode::Accumulating),
            Just(AccumulationMode::Retracting)
        ],
        (_, inputs) in streams(),
    ) {
        let strategy = WindowingStrategy {
            window_fn,
            trigger: Trigger::Default,
            accumulation,
            ..WindowingStrategy::default()
        };
        // The same stream with every element in a bundle of its own.
        let split: Vec<Input> = inputs
            .iter()
            .flat_map(|input| match input {
                Input::Add(elements) => elements.iter().map(|e| Input::Add(vec![*e])).collect(),
                other => vec![other.clone()],
            })
            .collect();
        let whole = run(&strategy, &inputs);
        let single = run(&strategy, &split);
        prop_assert_eq!(whole, single);
    }

    /// Resuming from a checkpoint after a crash gives exactly the output of a run
    /// that never stopped, whatever the windows, trigger and accumulation, and
    /// however many incremental checkpoints came before.
    #[test]
    fn resuming_from_a_checkpoint_changes_nothing(
        window_fn in window_fns(),
        trigger in repeating_triggers(),
        accumulation in prop_oneof![
            Just(AccumulationMode::Discarding),
            Just(AccumulationMode::Accumulating),
            Just(AccumulationMode::Retracting)
        ],
        lateness_seconds in prop_oneof![Just(0i64), 0i64..120],
        (_, inputs) in streams(),
        checkpoint_after in prop::collection::vec(any::<bool>(), 1..8),
        crash_at in 0usize..100,
    ) {
        let strategy = WindowingStrategy {
            window_fn,
            trigger,
            accumulation,
            allowed_lateness: lateness_seconds * SECOND,
            ..WindowingStrategy::default()
        };
        let whole = run(&strategy, &inputs);
        let resumed = run_with_crash(&strategy, &inputs, &checkpoint_after, crash_at);
        prop_assert_eq!(whole, resumed);
    }
}

/// Any window function, with settings from tiny to past what a spec allows.
fn any_window_fn() -> impl Strategy<Value = WindowFn> {
    let duration = prop_oneof![
        1i64..100_000,
        any::<i64>(),
        Just(MAX_DURATION),
        Just(i64::MAX)
    ];
    prop_oneof![
        Just(WindowFn::Global),
        (duration.clone(), any::<i64>())
            .prop_map(|(size, offset)| WindowFn::Fixed { size, offset }),
        (duration.clone(), duration.clone(), duration.clone()).prop_map(
            |(size, period, offset)| {
                WindowFn::Sliding {
                    size,
                    period,
                    offset,
                }
            }
        ),
        duration.prop_map(|gap| WindowFn::Sessions { gap }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Assignment is total: any time and any settings give windows that hold the
    /// time, at most the bound of them, or an error; never a panic or a wrap.
    #[test]
    fn window_assignment_is_total_and_bounded(
        window_fn in any_window_fn(),
        ts in prop_oneof![any::<i64>(), MIN_EVENT_TIME..=MAX_EVENT_TIME, -1_000_000i64..1_000_000],
    ) {
        let mut windows = AssignedWindows::new();
        match window_fn.assign(ts, &mut windows) {
            Ok(()) => {
                prop_assert!((MIN_EVENT_TIME..=MAX_EVENT_TIME).contains(&ts));
                prop_assert!(!windows.is_empty());
                prop_assert!(windows.len() as u64 <= MAX_WINDOWS_PER_ELEMENT);
                for window in &windows {
                    prop_assert!(window.start() <= ts && ts < window.end(), "{window} for {ts}");
                    prop_assert!(window.max_timestamp() >= ts);
                }
            }
            Err(_) => prop_assert!(windows.is_empty()),
        }
    }
}

/// What happens to a partitioned source: a record of a partition at an event
/// time, a partition reaching its end, or the processing clock moving on.
#[derive(Clone, Debug)]
enum PartitionEvent {
    Record { partition: u8, ts: i64 },
    End { partition: u8 },
    Tick { by: i64 },
}

fn partition_events() -> impl Strategy<Value = Vec<PartitionEvent>> {
    prop::collection::vec(
        prop_oneof![
            6 => (0u8..4, 0i64..10_000).prop_map(|(partition, ts)| PartitionEvent::Record { partition, ts }),
            1 => (0u8..4).prop_map(|partition| PartitionEvent::End { partition }),
            // Whole half seconds, like the idle timeouts, so that ticks land on them.
            2 => (0i64..6).prop_map(|n| PartitionEvent::Tick { by: n * 500 }),
        ],
        0..80,
    )
}

proptest! {
    /// A partitioned source's watermark never moves back, and is what a plain
    /// reading of the rules gives: the least of the live partitions' watermarks
    /// (latest event time minus the bound; a partition without records holds it
    /// at −∞), where a partition is live unless it ended or had no record for the
    /// idle timeout; when every partition ended, the greatest of theirs; when
    /// none is live otherwise, where it was.
    #[test]
    fn partition_watermarks_follow_the_least_live_partition(
        events in partition_events(),
        bound in 0i64..2_000,
        idle in prop::option::of((1i64..10).prop_map(|n| n * 500)),
    ) {
        let mut watermarks = PartitionWatermarks::new(bound, idle);
        let mut latest: BTreeMap<u8, Option<i64>> = BTreeMap::new();
        let mut active_at: BTreeMap<u8, i64> = BTreeMap::new();
        let mut ended: BTreeMap<u8, bool> = BTreeMap::new();
        for partition in 0u8..4 {
            watermarks.read(partition, MIN_TIMESTAMP, 0);
            latest.insert(partition, None);
            active_at.insert(partition, 0);
            ended.insert(partition, false);
        }
        let mut now = 0;
        let mut expected = MIN_TIMESTAMP;
        for event in events {
            match event {
                PartitionEvent::Record { partition, ts } => {
                    let implied = watermarks.current(now);
                    prop_assert_eq!(
                        watermarks.is_behind(&partition, ts, now),
                        ts < implied && implied > watermarks.emitted()
                    );
                    watermarks.observe(&partition, ts, now);
                    let seen = latest.get_mut(&partition).unwrap();
                    *seen = Some(seen.map_or(ts, |seen: i64| seen.max(ts)));
                    active_at.insert(partition, now);
                    ended.insert(partition, false);
                }
                PartitionEvent::End { partition } => {
                    watermarks.end(&partition);
                    ended.insert(partition, true);
                }
                PartitionEvent::Tick { by } => now += by,
            }
            let own = |p: &u8| latest[p].map_or(MIN_TIMESTAMP, |l| l - bound);
            let live: Vec<u8> = (0u8..4)
                .filter(|p| !ended[p] && idle.is_none_or(|idle| now - active_at[p] < idle))
                .collect();
            let implied = if !live.is_empty() {
                live.iter().map(own).min()
            } else if ended.values().all(|&e| e) {
                (0u8..4).map(|p| own(&p)).max()
            } else {
                None
            };
            if let Some(implied) = implied {
                expected = expected.max(implied);
            }
            let before = watermarks.emitted();
            let advanced = watermarks.advance(now);
            prop_assert_eq!(watermarks.emitted(), expected);
            prop_assert!(watermarks.emitted() >= before);
            prop_assert_eq!(advanced.is_some(), expected > before);
        }
    }
}
