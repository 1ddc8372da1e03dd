//! DoFn plugins: a component as the model's [`DoFn`], run by the `pardo` step
//! ([`millrace_model::pardo::ParDo`]).
//!
//! Each call hands the plugin a whole batch in the columnar layout; the host's
//! `state` imports read and write the call's [`CallState`], which the store holds
//! for the length of the call.

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use millrace_model::keyed::{CallState, TimerId};
use millrace_model::pardo::{CallFailed, Called, DoFn, EmittedRecord};
use millrace_model::pipeline::{PluginStatus, Swap, SwapError};
use millrace_model::record::{Key, Record};
use millrace_model::time::{Timestamp, event_time};

use crate::bindings::dofn::exports::millrace::plugin::dofn::{FiredTimers, Output};
use crate::bindings::dofn::{DofnPlugin, DofnPluginPre};
use crate::host::PluginData;
use crate::swap::Prepared;
use crate::{
    Attempt, BlobsBuilder, PluginError, PluginSpec, Runtime, Sandbox, World, attempt, blobs_size,
    elements, items, read_json, window_bounds,
};

/// The DoFn world.
pub struct DoFnWorld;

impl World for DoFnWorld {
    type Bindings = DofnPlugin;
    type Pre = DofnPluginPre<PluginData>;
    type Info = ();
    const KIND: &'static str = "pardo";
    const EXPORT: &'static str = "millrace:plugin/dofn@0.2.0";

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

/// A DoFn plugin in its sandbox.
pub struct WasmDoFn {
    sandbox: Sandbox<DoFnWorld>,
    /// The side outputs the step declares, which outputs name in `tags`.
    outputs: Vec<String>,
}

/// The `pardo` step over a DoFn plugin.
pub type ParDo = millrace_model::pardo::ParDo<WasmDoFn>;

impl WasmDoFn {
    /// Loads the plugin `spec` names, for the step `step` with the side outputs
    /// `outputs`.
    pub fn new(spec: &PluginSpec, step: &str, outputs: &[String]) -> Result<Self, PluginError> {
        Ok(WasmDoFn {
            sandbox: Sandbox::new(spec, step)?,
            outputs: outputs.to_vec(),
        })
    }

    /// A `pardo` step named `name` running the plugin `spec` names, with the side
    /// outputs `outputs`.
    pub fn step(spec: &PluginSpec, name: &str, outputs: &[String]) -> Result<ParDo, PluginError> {
        Ok(ParDo::new(name, WasmDoFn::new(spec, name, outputs)?))
    }

    /// The sandbox, for metrics and fault counts.
    pub fn sandbox(&self) -> &Sandbox<DoFnWorld> {
        &self.sandbox
    }

    /// One `process` or `on-timer` call over `inputs` inputs.
    fn call(
        &mut self,
        inputs: usize,
        state: CallState,
        call: impl FnOnce(
            &DofnPlugin,
            &mut Store<PluginData>,
        ) -> wasmtime::Result<Result<Output, String>>,
    ) -> Result<Called, CallFailed> {
        let outcome = self.sandbox.call(
            |bindings, store| {
                store.data_mut().call = Some(state);
                let result = call(bindings, &mut *store)?;
                let state = store.data_mut().call.take();
                Ok(result.map(|output| (output, state)))
            },
            |done| {
                done.as_ref().map_or(0, |(output, _)| {
                    blobs_size(&output.keys) + blobs_size(&output.values)
                })
            },
        );
        match attempt(outcome) {
            Ok(Attempt::Done((output, Some(state)))) => Ok(Called {
                emitted: read_output(output, inputs, &self.outputs),
                state,
            }),
            Ok(Attempt::Done((_, None))) => Err(CallFailed::Failed(
                "the call's keyed state was lost".to_owned(),
            )),
            Ok(Attempt::Failed(reason)) => Err(CallFailed::Failed(reason)),
            Err(message) => Err(CallFailed::Quarantined(message)),
        }
    }
}

impl DoFn for WasmDoFn {
    fn shown(&self) -> String {
        self.sandbox.spec.shown()
    }

    fn process(&mut self, records: &[Record], state: CallState) -> Result<Called, CallFailed> {
        self.call(records.len(), state, |bindings, store| {
            Ok(bindings
                .millrace_plugin_dofn()
                .call_process(store, &elements(records.iter()))?
                .map_err(|err| err.message))
        })
    }

    fn on_timers(
        &mut self,
        timers: &[(Timestamp, TimerId)],
        state: CallState,
    ) -> Result<Called, CallFailed> {
        let fired = fired(timers);
        self.call(timers.len(), state, |bindings, store| {
            Ok(bindings
                .millrace_plugin_dofn()
                .call_on_timer(store, &fired)?
                .map_err(|err| err.message))
        })
    }

    fn plugin(&self) -> Option<PluginStatus> {
        Some(self.sandbox.status())
    }
}

impl Swap<Prepared> for WasmDoFn {
    fn swap(&mut self, replacement: Prepared) -> Result<(), SwapError> {
        let Prepared::Dofn(sandbox) = replacement else {
            return Err(SwapError::WrongKind { expected: "DoFn" });
        };
        self.sandbox = *sandbox;
        Ok(())
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

/// One item of a DoFn's output, read (see [`Emitted`]).
pub use millrace_model::pardo::Emitted;

/// Reads the output of a DoFn call over `inputs` inputs, for a step with the side
/// outputs `outputs`: each output record, then each element error. Items that name
/// no input of the call are dropped; an item sent to an output the step does not
/// declare is an error of its input.
pub fn read_output(output: Output, inputs: usize, outputs: &[String]) -> Vec<Emitted> {
    let mut emitted = Vec::new();
    let tags: Vec<&[u8]> = items(&output.tags).collect();
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
            let output = match tags.get(i) {
                None if tags.is_empty() => 0,
                Some(&b"") => 0,
                Some(tag) => side_output(tag, outputs)?,
                None => return Err("the output names fewer tags than it has records".to_owned()),
            };
            Ok(EmittedRecord {
                key: Key::from_value(&key),
                value,
                timestamp,
                output,
            })
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

/// The index (from 1) of the side output `tag` among those the step declares.
fn side_output(tag: &[u8], outputs: &[String]) -> Result<usize, String> {
    outputs
        .iter()
        .position(|output| output.as_bytes() == tag)
        .map(|index| index + 1)
        .ok_or_else(|| {
            let tag = String::from_utf8_lossy(tag);
            match outputs {
                [] => format!("emitted to the side output {tag:?}, but the step declares none (`outputs: [...]` in its spec)"),
                _ => format!(
                    "emitted to the side output {tag:?}, which the step does not declare (it declares {})",
                    outputs.join(", ")
                ),
            }
        })
}
