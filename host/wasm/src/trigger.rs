//! Data-driven trigger plugins: `trigger: {plugin, config}`.

use std::ops::Range;

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::bindings::Elements;
use super::bindings::trigger::exports::millrace::plugin::trigger::Decision;
use super::bindings::trigger::{TriggerPlugin, TriggerPluginPre};
use super::host::PluginData;
use super::{
    BlobsBuilder, PluginError, PluginSpec, Runtime, Sandbox, World, attempt, blobs_size, elements,
    isolate, items,
};
use millrace_model::trigger::{DataTrigger, DataTriggerDecision, DataTriggerInput};

/// The trigger world.
pub struct TriggerWorld;

impl World for TriggerWorld {
    type Bindings = TriggerPlugin;
    type Pre = TriggerPluginPre<PluginData>;
    type Info = ();
    const KIND: &'static str = "trigger";
    const EXPORT: &'static str = "millrace:plugin/trigger@0.2.0";

    fn linker(runtime: &Runtime) -> &Linker<PluginData> {
        &runtime.trigger
    }

    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre> {
        TriggerPluginPre::new(linker.instantiate_pre(component)?)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<TriggerPlugin> {
        pre.instantiate(store)
    }

    fn init(
        bindings: &TriggerPlugin,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(bindings
            .millrace_plugin_trigger()
            .call_init(store)?
            .map_err(|err| err.message))
    }
}

/// A data-driven trigger in a plugin.
pub struct WasmTrigger {
    sandbox: Sandbox<TriggerWorld>,
}

impl WasmTrigger {
    /// Loads the plugin `spec` names for the step `step`.
    pub fn new(spec: &PluginSpec, step: &str) -> Result<Self, PluginError> {
        Ok(WasmTrigger {
            sandbox: Sandbox::new(spec, step)?,
        })
    }
}

impl DataTrigger for WasmTrigger {
    fn on_elements(
        &mut self,
        windows: &[DataTriggerInput<'_>],
    ) -> Result<Vec<DataTriggerDecision>, String> {
        let results = isolate(windows.len(), |range: Range<usize>| {
            let part = &windows[range.clone()];
            let mut states = BlobsBuilder::default();
            let mut element_ends = Vec::with_capacity(part.len());
            let mut count = 0u32;
            for window in part {
                states.push(window.state);
                count += window.elements.len() as u32;
                element_ends.push(count);
            }
            let states = states.finish();
            let batch: Elements = elements(
                part.iter()
                    .flat_map(|window| window.elements.iter().copied()),
            );
            let outcome = self.sandbox.call(
                |bindings, store| {
                    Ok(bindings
                        .millrace_plugin_trigger()
                        .call_on_elements(store, &states, &batch, &element_ends)?
                        .map_err(|err| err.message))
                },
                |decision| decision.as_ref().map_or(0, |d| blobs_size(&d.states)),
            );
            Ok(attempt(outcome)?.and_then(|decision| read_decision(decision, part.len())))
        })?;
        let mut decisions = Vec::with_capacity(windows.len());
        for (range, result) in results {
            match result {
                Ok(answers) => decisions.extend(answers),
                Err(reason) => {
                    // Without an answer the window does not fire and keeps its state.
                    tracing::warn!("trigger plugin failed for a window; not firing it: {reason}");
                    decisions.extend(range.map(|w| DataTriggerDecision {
                        fire: false,
                        state: windows[w].state.to_vec(),
                    }));
                }
            }
        }
        Ok(decisions)
    }
}

/// Reads a trigger's decision for `windows` windows: each window's new state and
/// whether it fires, or why the answer does not fit the call.
pub fn read_decision(
    decision: Decision,
    windows: usize,
) -> Result<Vec<DataTriggerDecision>, String> {
    let kept: Vec<Vec<u8>> = items(&decision.states).map(<[u8]>::to_vec).collect();
    if kept.len() != windows || decision.fire.len() != windows {
        return Err(format!(
            "answered for {} windows out of {windows}",
            decision.fire.len(),
        ));
    }
    Ok(kept
        .into_iter()
        .zip(decision.fire)
        .map(|(state, fire)| DataTriggerDecision { fire, state })
        .collect())
}
