//! DoFn plugins: the `pardo` step.
//!
//! Each bundle is one `process` call. Outputs take the window, pane and retraction
//! flag of the input they came from. A DoFn may keep state per key and window and set
//! timers; pending event-time timers hold the step's output watermark at their time,
//! as Beam's do, because the DoFn may still emit output then.

use std::sync::{Arc, Mutex};

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::bindings::dofn::exports::millrace::plugin::dofn::{FiredTimers, Output};
use super::bindings::dofn::{DofnPlugin, DofnPluginPre};
use super::host::PluginData;
use super::keyed::{CallState, KeyedStore, TimerId};
use super::{
    Attempt, BlobsBuilder, PluginError, PluginSpec, Runtime, Sandbox, World, attempt, blobs_size,
    elements, isolate, items, read_json, window_bounds,
};
use crate::dead_letter::DeadLetter;
use crate::pane::PaneInfo;
use crate::pipeline::{PluginStatus, Replacement, Step, StepFault, StepOutput, StepStats};
use crate::record::{Key, Record};
use crate::state::{LastPut, StateError, StepReader, StepWriter, Tag};
use crate::time::{MIN_TIMESTAMP, Timestamp, event_time};
use crate::timer::{ProcessingClock, TimeDomain};
use crate::window::Window;

/// The DoFn world.
pub struct DoFnWorld;

impl World for DoFnWorld {
    type Bindings = DofnPlugin;
    type Pre = DofnPluginPre<PluginData>;
    type Info = ();
    const KIND: &'static str = "pardo";
    const EXPORT: &'static str = "millrace:plugin/dofn@0.1.0";

    fn linker(runtime: &Runtime) -> &Linker<PluginData> {
        &runtime.dofn
    }

    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre> {
        DofnPluginPre::new(linker.instantiate_pre(component)?)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<PluginData>) -> wasmtime::Result<DofnPlugin> {
        pre.instantiate(store)
    }

    fn init(
        bindings: &DofnPlugin,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(bindings
            .millrace_plugin_dofn()
            .call_init(store)?
            .map_err(|err| err.message))
    }
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

/// A call that succeeded: its output and the state writes to commit.
struct Done {
    output: Output,
    state: Option<CallState>,
}

/// How many rounds of timers one watermark advance may fire (timers can set timers).
const MAX_TIMER_ROUNDS: usize = 1000;

/// The `pardo` step.
pub struct ParDo {
    name: String,
    sandbox: Sandbox<DoFnWorld>,
    store: Arc<Mutex<KeyedStore>>,
    input_watermark: Timestamp,
    output_watermark: Timestamp,
    processing_time: ProcessingClock,
    stats: StepStats,
    /// The step's meta as the last checkpoint holds it.
    meta_put: LastPut,
}

impl ParDo {
    /// A `pardo` step named `name` running the plugin `spec` names.
    pub fn new(spec: &PluginSpec, name: &str) -> Result<Self, PluginError> {
        Ok(ParDo {
            name: name.to_owned(),
            sandbox: Sandbox::new(spec, name)?,
            store: Arc::new(Mutex::new(KeyedStore::default())),
            input_watermark: MIN_TIMESTAMP,
            output_watermark: MIN_TIMESTAMP,
            processing_time: ProcessingClock::default(),
            stats: StepStats::default(),
            meta_put: LastPut::default(),
        })
    }

    /// The sandbox, for metrics and fault counts.
    pub fn sandbox(&self) -> &Sandbox<DoFnWorld> {
        &self.sandbox
    }

    fn fault(&self, message: String) -> StepFault {
        StepFault {
            step: self.name.clone(),
            message,
        }
    }

    /// One `process` or `on-timer` call over `origins`.
    fn call(&mut self, origins: &[Origin], call: &Call) -> Result<Attempt<Done>, String> {
        let targets: Vec<(Key, Window)> =
            origins.iter().map(|o| (o.key.clone(), o.window)).collect();
        let store = self.store.clone();
        let outcome = self.sandbox.call(
            |bindings, wasm| {
                wasm.data_mut().call = Some(CallState::new(store, targets));
                let dofn = bindings.millrace_plugin_dofn();
                let result = match call {
                    Call::Process(records) => {
                        dofn.call_process(&mut *wasm, &elements(records.iter()))
                    }
                    Call::Timers(timers) => dofn.call_on_timer(&mut *wasm, timers),
                }?;
                let state = wasm.data_mut().call.take();
                Ok(result
                    .map(|output| Done { output, state })
                    .map_err(|err| err.message))
            },
            |done| {
                done.as_ref().map_or(0, |d| {
                    blobs_size(&d.output.keys) + blobs_size(&d.output.values)
                })
            },
        );
        attempt(outcome)
    }

    /// Runs a call with isolation, writes outputs and dead letters.
    fn run(
        &mut self,
        origins: Vec<Origin>,
        call: Call,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let single = |call: &Call, index: usize| call.single(index);
        let results = isolate(origins.len(), |range| {
            let part = if range.len() == origins.len() {
                None
            } else {
                Some(single(&call, range.start))
            };
            self.call(&origins[range], part.as_ref().unwrap_or(&call))
        })
        .map_err(|message| self.fault(message))?;
        for (range, result) in results {
            match result {
                Ok(done) => {
                    if let Some(state) = done.state {
                        state.commit();
                    }
                    self.emit(
                        &origins[range.clone()],
                        range.start,
                        done.output,
                        &call,
                        out,
                    );
                }
                Err(reason) => {
                    self.dead_letter(&call, range.start, &origins[range.start], reason, out)
                }
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        origins: &[Origin],
        offset: usize,
        output: Output,
        call: &Call,
        out: &mut StepOutput,
    ) {
        for (source, item) in read_output(output, origins.len()) {
            let origin = &origins[source];
            match item {
                Ok((key, value, timestamp)) => {
                    self.stats.records_out += 1;
                    out.records.push(Record {
                        key,
                        value,
                        timestamp: timestamp.unwrap_or(origin.timestamp),
                        window: origin.window,
                        pane: origin.pane,
                        retraction: origin.retraction,
                    });
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
                value: serde_json::json!({ "timer": timers.names.get(index) }),
                timestamp: origin.timestamp,
                window: origin.window,
                pane: PaneInfo::NO_FIRING,
                retraction: false,
            },
        };
        let step = format!("{} ({})", self.name, self.sandbox.spec.shown());
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
            self.run(origins, Call::Timers(fired(&due)), out)?;
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

/// What a call hands the plugin.
enum Call {
    Process(Vec<Record>),
    Timers(FiredTimers),
}

impl Call {
    /// The same call for item `index` alone.
    fn single(&self, index: usize) -> Call {
        match self {
            Call::Process(records) => Call::Process(vec![records[index].clone()]),
            Call::Timers(timers) => {
                let key = items(&timers.keys).nth(index).unwrap_or_default();
                let mut keys = BlobsBuilder::default();
                keys.push(key);
                Call::Timers(FiredTimers {
                    keys: keys.finish(),
                    window_starts: vec![timers.window_starts[index]],
                    window_ends: vec![timers.window_ends[index]],
                    names: vec![timers.names[index].clone()],
                    times: vec![timers.times[index]],
                })
            }
        }
    }
}

fn fired(due: &[(Timestamp, TimerId)]) -> FiredTimers {
    let mut keys = BlobsBuilder::default();
    let mut timers = FiredTimers {
        keys: BlobsBuilder::default().finish(),
        window_starts: Vec::with_capacity(due.len()),
        window_ends: Vec::with_capacity(due.len()),
        names: Vec::with_capacity(due.len()),
        times: Vec::with_capacity(due.len()),
    };
    for (time, (key, window, name)) in due {
        keys.push(key.as_json().as_bytes());
        let (start, end) = window_bounds(window);
        timers.window_starts.push(start);
        timers.window_ends.push(end);
        timers.names.push(name.clone());
        timers.times.push(*time);
    }
    timers.keys = keys.finish();
    timers
}

/// One item of a DoFn's output, read: the input (or fired timer) of the call it came
/// from, by index, and the record's key, value and event time (`None`: the input's),
/// or why it cannot be used.
pub type Emitted = (
    usize,
    Result<(Key, serde_json::Value, Option<Timestamp>), String>,
);

/// Reads the output of a DoFn call over `inputs` inputs: each output record, then each
/// element error. Items that name no input of the call are dropped.
pub fn read_output(output: Output, inputs: usize) -> Vec<Emitted> {
    let mut emitted = Vec::new();
    for (i, (key, value)) in items(&output.keys).zip(items(&output.values)).enumerate() {
        let source = output.sources.get(i).copied().unwrap_or(0) as usize;
        if source >= inputs {
            continue;
        }
        let record = read_json(key).and_then(|key| {
            let value = read_json(value)?;
            // A time the plugin gives is checked like a source's.
            let timestamp = output
                .timestamps
                .get(i)
                .map(|&time| event_time(time).map_err(|err| format!("the output's {err}")))
                .transpose()?;
            Ok((Key::from_value(&key), value, timestamp))
        });
        emitted.push((source, record));
    }
    for error in output.errors {
        if (error.index as usize) < inputs {
            emitted.push((error.index as usize, Err(error.message)));
        }
    }
    emitted
}

impl Step for ParDo {
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
        Some(self.sandbox.status())
    }

    fn swap(&mut self, replacement: Replacement) -> Result<(), String> {
        let sandbox = replacement
            .downcast::<Sandbox<DoFnWorld>>()
            .map_err(|_| "the new version is not a DoFn plugin".to_owned())?;
        self.sandbox = *sandbox;
        Ok(())
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
