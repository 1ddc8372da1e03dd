//! The `pardo` step: a [`DoFn`] run over every record.
//!
//! Each bundle is one [`DoFn::process`] call. Outputs take the window, pane and
//! retraction flag of the input they came from. A DoFn may keep state per key and
//! window and set timers ([`crate::keyed`]); pending event-time timers hold the
//! step's output watermark at their time, as Beam's do, because the DoFn may still
//! emit output then. A call that fails as a whole is re-run input by input
//! ([`isolate`]), so that only the inputs that fail become dead letters. A DoFn
//! may emit to side outputs as well as its main output ([`EmittedRecord::output`]).

use std::sync::{Arc, Mutex};

use crate::dead_letter::DeadLetter;
use crate::isolate::{Attempt, isolate};
use crate::keyed::{CallState, KeyedStore, TimerId};
use crate::pane::PaneInfo;
use crate::pipeline::{PluginStatus, Step, StepFault, StepOutput, StepStats, Swap, SwapError};
use crate::record::{Key, Record, Value};
use crate::state::{LastPut, StateError, StepReader, StepWriter, Tag};
use crate::time::{MIN_TIMESTAMP, Timestamp};
use crate::timer::{ProcessingClock, TimeDomain};
use crate::window::Window;

/// User code that turns each record into any number of records, with keyed state
/// and timers: the function of a `pardo` step.
pub trait DoFn: Send {
    /// The function as dead letters name it, e.g. `plugins/dedup`.
    fn shown(&self) -> String;

    /// Processes `records`. `state` is the call's view of the keyed state and timers,
    /// its targets each record's key and window; it is committed only if the call
    /// succeeds, so it comes back with the output.
    fn process(&mut self, records: &[Record], state: CallState) -> Result<Called, CallFailed>;

    /// Handles the timers `timers` (time, and key, window and name), like
    /// [`DoFn::process`]; `state`'s targets are each timer's key and window.
    fn on_timers(
        &mut self,
        timers: &[(Timestamp, TimerId)],
        state: CallState,
    ) -> Result<Called, CallFailed>;

    /// The plugin behind the function, if it is one that can be swapped.
    fn plugin(&self) -> Option<PluginStatus> {
        None
    }
}

/// What a call that worked returned.
pub struct Called {
    /// What it emitted, in order (see [`Emitted`]).
    pub emitted: Vec<Emitted>,
    /// Its keyed state and timers, to commit.
    pub state: CallState,
}

/// One item a DoFn call emitted: the input (or fired timer) of the call it came
/// from, by index, and the record it emitted, or why that input failed.
pub type Emitted = (usize, Result<EmittedRecord, String>);

/// A record a DoFn emitted.
#[derive(Clone, Debug, PartialEq)]
pub struct EmittedRecord {
    /// Its key.
    pub key: Key,
    /// Its value.
    pub value: Value,
    /// Its event time (`None`: the input's).
    pub timestamp: Option<Timestamp>,
    /// Where it goes: 0 for the step's main output, `k` for its side output
    /// `k - 1` ([`StepOutput::side`]).
    pub output: usize,
}

/// Why a call did not work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFailed {
    /// It failed as a whole (an error, a fault, an answer that does not fit the
    /// call): its inputs are tried one by one.
    Failed(String),
    /// The function must not be called again: the step stops.
    Quarantined(String),
}

/// How many rounds of timers one watermark advance may fire (timers can set timers).
const MAX_TIMER_ROUNDS: usize = 1000;

/// The `pardo` step over the DoFn `D`.
pub struct ParDo<D> {
    name: String,
    dofn: D,
    store: Arc<Mutex<KeyedStore>>,
    input_watermark: Timestamp,
    output_watermark: Timestamp,
    processing_time: ProcessingClock,
    stats: StepStats,
    /// The step's meta as the last checkpoint holds it.
    meta_put: LastPut,
}

/// Where a call's outputs get their window, pane and retraction flag.
#[derive(Clone)]
struct Origin {
    key: Key,
    window: Window,
    pane: PaneInfo,
    retraction: bool,
    timestamp: Timestamp,
}

impl Origin {
    fn of(record: &Record) -> Origin {
        Origin {
            key: record.key.clone(),
            window: record.window,
            pane: record.pane,
            retraction: record.retraction,
            timestamp: record.timestamp,
        }
    }
}

/// What a call hands the DoFn.
enum Call {
    Process(Vec<Record>),
    Timers(Vec<(Timestamp, TimerId)>),
}

impl Call {
    /// The same call for item `index` alone.
    fn single(&self, index: usize) -> Call {
        match self {
            Call::Process(records) => Call::Process(vec![records[index].clone()]),
            Call::Timers(timers) => Call::Timers(vec![timers[index].clone()]),
        }
    }
}

impl<D: DoFn> ParDo<D> {
    /// A `pardo` step named `name` running `dofn`, with empty state.
    pub fn new(name: &str, dofn: D) -> Self {
        ParDo {
            name: name.to_owned(),
            dofn,
            store: Arc::new(Mutex::new(KeyedStore::default())),
            input_watermark: MIN_TIMESTAMP,
            output_watermark: MIN_TIMESTAMP,
            processing_time: ProcessingClock::default(),
            stats: StepStats::default(),
            meta_put: LastPut::default(),
        }
    }

    fn fault(&self, message: String) -> StepFault {
        StepFault {
            step: self.name.clone(),
            message,
        }
    }

    /// One call over `origins`.
    fn call(&mut self, origins: &[Origin], call: &Call) -> Result<Attempt<Called>, String> {
        let targets = origins.iter().map(|o| (o.key.clone(), o.window)).collect();
        let state = CallState::new(self.store.clone(), targets);
        let outcome = match call {
            Call::Process(records) => self.dofn.process(records, state),
            Call::Timers(timers) => self.dofn.on_timers(timers, state),
        };
        match outcome {
            Ok(called) => Ok(Attempt::Done(called)),
            Err(CallFailed::Failed(reason)) => Ok(Attempt::Failed(reason)),
            Err(CallFailed::Quarantined(message)) => Err(message),
        }
    }

    /// Runs a call with isolation, writes outputs and dead letters.
    fn run(
        &mut self,
        origins: Vec<Origin>,
        call: Call,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let results = isolate(origins.len(), |range| {
            let part = (range.len() != origins.len()).then(|| call.single(range.start));
            self.call(&origins[range], part.as_ref().unwrap_or(&call))
        })
        .map_err(|message| self.fault(message))?;
        for (range, result) in results {
            match result {
                Ok(called) => {
                    called.state.commit();
                    self.emit(
                        &origins[range.clone()],
                        range.start,
                        called.emitted,
                        &call,
                        out,
                    );
                }
                Err(reason) => {
                    self.dead_letter(&call, range.start, &origins[range.start], reason, out);
                }
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        origins: &[Origin],
        offset: usize,
        emitted: Vec<Emitted>,
        call: &Call,
        out: &mut StepOutput,
    ) {
        for (source, item) in emitted {
            // An item that names no input of the call has nowhere to go.
            let Some(origin) = origins.get(source) else {
                continue;
            };
            match item {
                Ok(emitted) => {
                    self.stats.records_out += 1;
                    let record = Record {
                        key: emitted.key,
                        value: emitted.value,
                        timestamp: emitted.timestamp.unwrap_or(origin.timestamp),
                        window: origin.window,
                        pane: origin.pane,
                        retraction: origin.retraction,
                    };
                    match emitted.output {
                        0 => out.records.push(record),
                        side => {
                            if out.side.len() < side {
                                out.side.resize_with(side, Vec::new);
                            }
                            out.side[side - 1].push(record);
                        }
                    }
                }
                Err(reason) => self.dead_letter(call, offset + source, origin, reason, out),
            }
        }
    }

    fn dead_letter(
        &mut self,
        call: &Call,
        index: usize,
        origin: &Origin,
        reason: String,
        out: &mut StepOutput,
    ) {
        self.stats.dead_lettered += 1;
        let record = match call {
            Call::Process(records) => records[index].clone(),
            Call::Timers(timers) => Record {
                key: origin.key.clone(),
                value: serde_json::json!({ "timer": timers.get(index).map(|(_, (_, _, name))| name) }),
                timestamp: origin.timestamp,
                window: origin.window,
                pane: PaneInfo::NO_FIRING,
                retraction: false,
            },
        };
        let step = format!("{} ({})", self.name, self.dofn.shown());
        out.dead_letters
            .push(DeadLetter::step(&step, &record, reason));
    }

    /// Fires the timers of `domain` before `bound`, round after round.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        bound: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        for _ in 0..MAX_TIMER_ROUNDS {
            let due = self
                .store
                .lock()
                .map(|mut store| store.take_due(domain, bound))
                .unwrap_or_default();
            if due.is_empty() {
                return Ok(());
            }
            let origins = due
                .iter()
                .map(|(time, (key, window, _))| Origin {
                    key: key.clone(),
                    window: *window,
                    pane: PaneInfo::NO_FIRING,
                    retraction: false,
                    timestamp: *time,
                })
                .collect();
            self.run(origins, Call::Timers(due), out)?;
        }
        Err(self.fault(format!(
            "timers kept setting timers that were already due, {MAX_TIMER_ROUNDS} rounds in a row"
        )))
    }

    fn refresh_output_watermark(&mut self) {
        let held = self
            .store
            .lock()
            .ok()
            .and_then(|store| store.earliest(TimeDomain::EventTime));
        let candidate = held.map_or(self.input_watermark, |timer| {
            timer.min(self.input_watermark)
        });
        self.output_watermark = self.output_watermark.max(candidate);
    }
}

impl<R, D: DoFn + Swap<R>> Step<R> for ParDo<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        let origins = input.iter().map(Origin::of).collect();
        self.run(origins, Call::Process(input), out)?;
        self.refresh_output_watermark();
        Ok(())
    }

    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        if watermark > self.input_watermark {
            self.input_watermark = watermark;
            self.fire_timers(TimeDomain::EventTime, watermark, out)?;
        }
        self.refresh_output_watermark();
        Ok(())
    }

    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let now = self.processing_time.advance(now);
        self.fire_timers(TimeDomain::ProcessingTime, now, out)?;
        self.refresh_output_watermark();
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.output_watermark
    }

    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        self.store
            .lock()
            .ok()
            .and_then(|store| store.earliest(TimeDomain::ProcessingTime))
    }

    fn stats(&self) -> StepStats {
        self.stats
    }

    fn describe(&self) -> serde_json::Value {
        // Not the plugin's path or version: another version of the DoFn (after a
        // swap) keeps the same keyed state.
        serde_json::json!({"step": self.name, "pardo": "keyed-state"})
    }

    fn plugin(&self) -> Option<PluginStatus> {
        self.dofn.plugin()
    }

    fn swap(&mut self, replacement: R) -> Result<(), SwapError> {
        self.dofn.swap(replacement)
    }

    fn snapshot(&mut self, state: &mut StepWriter<'_>) -> Result<(), StateError> {
        if let Ok(mut store) = self.store.lock() {
            store.write_changes(state)?;
        }
        let meta = (
            self.input_watermark,
            self.output_watermark,
            self.processing_time,
            self.stats,
        );
        let key = state.key(Tag::Meta).build();
        state.put_changed(key, &meta, &mut self.meta_put)
    }

    fn restore(&mut self, state: &StepReader<'_>) -> Result<(), StateError> {
        let what = format!("{}'s keyed state", self.name);
        let store = KeyedStore::read(state, &what)?;
        self.store = Arc::new(Mutex::new(store));
        if let Some(meta) = state.get(&state.key(Tag::Meta).build(), &what)? {
            (
                self.input_watermark,
                self.output_watermark,
                self.processing_time,
                self.stats,
            ) = meta;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::graph::{Pipeline, PipelineOutput};
    use crate::pipeline::{Event, NoSwap};
    use crate::state::{MemoryBackend, StateBackend, StateBatch};

    /// Counts each key's records per window in keyed state, and emits the count when
    /// an event-time timer at the window's end fires. A call with a record `"poison"`
    /// fails as a whole.
    struct CountAtEnd;

    fn count(state: &CallState, target: u32) -> u64 {
        state
            .get(target, "count")
            .map_or(0, |bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
    }

    impl DoFn for CountAtEnd {
        fn shown(&self) -> String {
            "count-at-end".to_owned()
        }

        fn process(
            &mut self,
            records: &[Record],
            mut state: CallState,
        ) -> Result<Called, CallFailed> {
            if records.iter().any(|record| record.value == json!("poison")) {
                return Err(CallFailed::Failed("poisoned".to_owned()));
            }
            for (target, record) in (0..).zip(records) {
                let count = count(&state, target) + 1;
                state.set(
                    target,
                    "count".to_owned(),
                    Some(count.to_le_bytes().to_vec()),
                );
                let end = record.window.max_timestamp();
                state.set_timer(target, "end".to_owned(), Some((TimeDomain::EventTime, end)));
            }
            Ok(Called {
                emitted: Vec::new(),
                state,
            })
        }

        fn on_timers(
            &mut self,
            timers: &[(Timestamp, TimerId)],
            state: CallState,
        ) -> Result<Called, CallFailed> {
            let emitted = (0..)
                .zip(timers)
                .map(|(target, (_, (key, _, _)))| {
                    (
                        target as usize,
                        Ok(EmittedRecord {
                            key: key.clone(),
                            value: json!(count(&state, target)),
                            timestamp: None,
                            output: 0,
                        }),
                    )
                })
                .collect();
            Ok(Called { emitted, state })
        }
    }

    impl Swap<NoSwap> for CountAtEnd {
        fn swap(&mut self, replacement: NoSwap) -> Result<(), SwapError> {
            match replacement {}
        }
    }

    fn record(key: &str, value: Value, ts: Timestamp) -> Record {
        Record {
            window: Window::interval(0, 10),
            ..Record::new(Key::from_str_value(key), value, ts)
        }
    }

    fn count_at_end() -> Pipeline {
        Pipeline::chain(vec![Box::new(ParDo::new("steps[0].pardo", CountAtEnd))])
    }

    /// (key, value, timestamp) of each output record, in output order.
    fn outputs(out: &mut PipelineOutput) -> Vec<(Value, Value, Timestamp)> {
        out.sinks[0]
            .drain(..)
            .map(|r| (r.key.to_value(), r.value, r.timestamp))
            .collect()
    }

    #[test]
    fn keyed_state_counts_per_key_and_timers_fire_once_the_watermark_passes_them() {
        let mut pipeline = count_at_end();
        let mut out = PipelineOutput::new(1);
        let bundle = vec![
            record("a", json!(1), 1),
            record("a", json!(2), 2),
            record("b", json!(3), 3),
        ];
        pipeline
            .handle(0, Event::Records(bundle), &mut out)
            .unwrap();
        pipeline.handle(0, Event::Watermark(9), &mut out).unwrap();
        assert!(out.sinks[0].is_empty(), "the timers at 9 are not due at 9");
        assert_eq!(pipeline.output_watermark(), 9);
        pipeline.handle(0, Event::Watermark(20), &mut out).unwrap();
        assert_eq!(
            outputs(&mut out),
            [(json!("a"), json!(2), 9), (json!("b"), json!(1), 9)]
        );
        assert_eq!(pipeline.output_watermark(), 20);
    }

    #[test]
    fn only_the_inputs_a_failed_call_fails_on_become_dead_letters() {
        let mut pipeline = count_at_end();
        let mut out = PipelineOutput::new(1);
        let bundle = vec![
            record("a", json!(1), 1),
            record("a", json!("poison"), 2),
            record("b", json!(3), 3),
        ];
        pipeline
            .handle(0, Event::Records(bundle), &mut out)
            .unwrap();
        assert_eq!(out.dead_letters.len(), 1);
        assert_eq!(out.dead_letters[0].reason, "poisoned");
        pipeline
            .handle(0, Event::Watermark(crate::time::MAX_TIMESTAMP), &mut out)
            .unwrap();
        assert_eq!(
            outputs(&mut out),
            [(json!("a"), json!(1), 9), (json!("b"), json!(1), 9)]
        );
    }

    #[test]
    fn state_and_timers_survive_a_checkpoint() {
        let mut pipeline = count_at_end();
        let mut out = PipelineOutput::new(1);
        let bundle = vec![record("a", json!(1), 1), record("a", json!(2), 2)];
        pipeline
            .handle(0, Event::Records(bundle), &mut out)
            .unwrap();
        let mut batch = StateBatch::default();
        pipeline.snapshot(&mut batch).unwrap();
        let mut backend = MemoryBackend::new();
        backend.write(batch).unwrap();

        let mut restored = count_at_end();
        restored.restore(&backend).unwrap();
        restored
            .handle(0, Event::Records(vec![record("a", json!(3), 3)]), &mut out)
            .unwrap();
        restored
            .handle(0, Event::Watermark(crate::time::MAX_TIMESTAMP), &mut out)
            .unwrap();
        assert_eq!(outputs(&mut out), [(json!("a"), json!(3), 9)]);
    }

    /// Emits odd values to side output 0 and even ones to the main output.
    struct Route;

    impl DoFn for Route {
        fn shown(&self) -> String {
            "route".to_owned()
        }

        fn process(&mut self, records: &[Record], state: CallState) -> Result<Called, CallFailed> {
            let emitted = records
                .iter()
                .enumerate()
                .map(|(index, record)| {
                    let odd = record.value.as_i64().is_some_and(|v| v % 2 == 1);
                    (
                        index,
                        Ok(EmittedRecord {
                            key: record.key.clone(),
                            value: record.value.clone(),
                            timestamp: None,
                            output: usize::from(odd),
                        }),
                    )
                })
                .collect();
            Ok(Called { emitted, state })
        }

        fn on_timers(
            &mut self,
            _: &[(Timestamp, TimerId)],
            state: CallState,
        ) -> Result<Called, CallFailed> {
            Ok(Called {
                emitted: Vec::new(),
                state,
            })
        }
    }

    impl Swap<NoSwap> for Route {
        fn swap(&mut self, replacement: NoSwap) -> Result<(), SwapError> {
            match replacement {}
        }
    }

    #[test]
    fn side_outputs_reach_their_readers_with_the_inputs_window() {
        use crate::graph::{Node, Port};
        let step: Box<dyn Step> = Box::new(ParDo::new("steps[0].pardo", Route));
        let mut pipeline = Pipeline::graph(
            1,
            vec![Node {
                step,
                inputs: vec![Port::Source(0)],
            }],
            vec![Port::Main(0), Port::Side { step: 0, output: 0 }],
        )
        .unwrap();
        let mut out = PipelineOutput::new(2);
        let bundle = (1..=4).map(|v| record("k", json!(v), v)).collect();
        pipeline
            .handle(0, Event::Records(bundle), &mut out)
            .unwrap();
        let values = |records: &[Record]| {
            records
                .iter()
                .map(|r| (r.value.clone(), r.window))
                .collect::<Vec<_>>()
        };
        let window = Window::interval(0, 10);
        assert_eq!(
            values(&out.sinks[0]),
            [(json!(2), window), (json!(4), window)]
        );
        assert_eq!(
            values(&out.sinks[1]),
            [(json!(1), window), (json!(3), window)]
        );
    }
}
