//! CombineFn plugins: a [`CombineFn`] whose accumulators are opaque bytes kept by the
//! host and folded by a WebAssembly component, many (key, window) groups per call.

use std::ops::Range;

use wasmtime::Store;
use wasmtime::component::Component;

use super::bindings::Blobs;
use super::bindings::combine::exports::millrace::plugin::combine_fn::{
    self, Added, UncombineError,
};
use super::bindings::combine::{CombinePlugin, CombinePluginPre};
use super::host::PluginData;
use super::{
    Attempt, BlobsBuilder, PluginError, PluginSpec, Runtime, Sandbox, World, attempt, blobs_size,
    isolate, items, read_json,
};
use millrace_model::combine::{CombineError, CombineFn, CombineInput, Inversion, Rejected};
use millrace_model::pipeline::{PluginStatus, SwapError};
use millrace_model::record::Value;
use wasmtime::component::Linker;

/// The CombineFn world.
pub struct CombineWorld;

impl World for CombineWorld {
    type Bindings = CombinePlugin;
    type Pre = CombinePluginPre<PluginData>;
    type Info = combine_fn::Info;
    const KIND: &'static str = "combine";
    const EXPORT: &'static str = "millrace:plugin/combine-fn@0.2.0";

    fn linker(runtime: &Runtime) -> &Linker<PluginData> {
        &runtime.combine
    }

    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre> {
        CombinePluginPre::new(linker.instantiate_pre(component)?)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<CombinePlugin> {
        pre.instantiate(store)
    }

    fn init(
        bindings: &CombinePlugin,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<Self::Info, String>> {
        Ok(bindings
            .millrace_plugin_combine_fn()
            .call_init(store)?
            .map_err(|err| err.message))
    }
}

/// New accumulators, and the inputs (by index) the plugin rejected with a reason.
pub type Folded = (Vec<Vec<u8>>, Vec<(usize, String)>);

/// Adding inputs or taking them back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Add,
    Uncombine,
}

/// A CombineFn plugin.
pub struct WasmCombine {
    sandbox: Sandbox<CombineWorld>,
    name: String,
    inversion: Inversion,
    empty: Vec<u8>,
}

impl WasmCombine {
    /// Loads the plugin `spec` names for the step `step`.
    pub fn new(spec: &PluginSpec, step: &str) -> Result<Self, PluginError> {
        let mut sandbox = Sandbox::<CombineWorld>::new(spec, step)?;
        let inversion = match sandbox.info().inversion {
            combine_fn::Inversion::Subtract => Inversion::Subtract,
            combine_fn::Inversion::Remove => Inversion::Remove,
            combine_fn::Inversion::None => Inversion::None,
        };
        let empty = sandbox
            .call(
                |bindings, store| {
                    bindings
                        .millrace_plugin_combine_fn()
                        .call_create_accumulator(store)
                },
                Vec::len,
            )
            .map_err(|err| PluginError::Init {
                path: spec.path.clone(),
                message: err.into_message(),
            })?;
        Ok(WasmCombine {
            sandbox,
            name: spec.shown(),
            inversion,
            empty,
        })
    }

    /// Becomes `replacement`, which must read and write the same accumulators and
    /// take back inputs the same way; on an error it is unchanged.
    pub fn replace(&mut self, replacement: WasmCombine) -> Result<(), SwapError> {
        let (ours, theirs) = (self.accumulator_format(), replacement.accumulator_format());
        if ours != theirs {
            return Err(SwapError::AccumulatorFormat { ours, theirs });
        }
        if replacement.inversion != self.inversion {
            return Err(SwapError::Inversion {
                ours: self.inversion,
                theirs: replacement.inversion,
            });
        }
        *self = replacement;
        Ok(())
    }

    /// The sandbox, for metrics and fault counts.
    pub fn sandbox(&self) -> &Sandbox<CombineWorld> {
        &self.sandbox
    }

    /// One call: folds `groups` (lists of indexes into `inputs`) into `accs`.
    fn call_fold(
        &mut self,
        fold: Fold,
        accs: &[Vec<u8>],
        groups: &[Vec<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Attempt<Folded>, String> {
        let mut acc_blobs = BlobsBuilder::default();
        let mut input_blobs = BlobsBuilder::default();
        let mut group_ends = Vec::with_capacity(groups.len());
        let mut order = Vec::new();
        for (acc, group) in accs.iter().zip(groups) {
            acc_blobs.push(acc);
            for &index in group {
                input_blobs.push_json(inputs[index].value);
                order.push(index);
            }
            group_ends.push(order.len() as u32);
        }
        let (acc_blobs, input_blobs) = (acc_blobs.finish(), input_blobs.finish());
        let outcome = self.sandbox.call(
            |bindings, store| {
                let combine = bindings.millrace_plugin_combine_fn();
                Ok(match fold {
                    Fold::Add => combine
                        .call_add_inputs(&mut *store, &acc_blobs, &input_blobs, &group_ends)?
                        .map_err(|err| err.message),
                    Fold::Uncombine => combine
                        .call_uncombine(&mut *store, &acc_blobs, &input_blobs, &group_ends)?
                        .map_err(|err| match err {
                            UncombineError::NotInvertible => {
                                "the plugin cannot take inputs back".to_owned()
                            }
                            UncombineError::Failed(err) => err.message,
                        }),
                })
            },
            |added: &Result<Added, String>| {
                added.as_ref().map_or(0, |a| blobs_size(&a.accumulators))
            },
        );
        Ok(attempt(outcome)?.and_then(|added| read_added(added, accs.len(), &order)))
    }

    /// Folds every group, isolating the groups, then the inputs, that fail.
    fn fold(
        &mut self,
        fold: Fold,
        accs: &mut [Vec<u8>],
        groups: &[Vec<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Vec<Rejected>, CombineError> {
        let name = self.name.clone();
        let quarantined = |message: String| CombineError {
            function: name.clone(),
            message,
        };
        let mut rejected = Vec::new();
        let results = isolate(groups.len(), |range: Range<usize>| {
            self.call_fold(fold, &accs[range.clone()], &groups[range], inputs)
        })
        .map_err(quarantined)?;
        for (range, result) in results {
            match result {
                Ok((new_accs, rejects)) => {
                    for (acc, new) in accs[range].iter_mut().zip(new_accs) {
                        *acc = new;
                    }
                    rejected.extend(
                        rejects
                            .into_iter()
                            .map(|(input, reason)| Rejected { input, reason }),
                    );
                }
                Err(_) => {
                    // One group failed as a whole: feed it its inputs one at a time.
                    let group = range.start;
                    for &input in &groups[group] {
                        let single = [accs[group].clone()];
                        match self
                            .call_fold(fold, &single, &[vec![input]], inputs)
                            .map_err(&quarantined)?
                        {
                            Attempt::Done((mut new_accs, rejects)) => {
                                accs[group] = new_accs.pop().unwrap_or_else(|| single[0].clone());
                                rejected.extend(
                                    rejects
                                        .into_iter()
                                        .map(|(input, reason)| Rejected { input, reason }),
                                );
                            }
                            Attempt::Failed(reason) => rejected.push(Rejected { input, reason }),
                        }
                    }
                }
            }
        }
        Ok(rejected)
    }
}

impl CombineFn for WasmCombine {
    type Accumulator = Vec<u8>;

    fn name(&self) -> &str {
        &self.name
    }

    fn state_identity(&self) -> String {
        "plugin".to_owned()
    }

    fn accumulator_format(&self) -> String {
        format!("plugin:{}", self.sandbox.info().accumulator_format)
    }

    fn inversion(&self) -> Inversion {
        self.inversion
    }

    fn plugin(&self) -> Option<PluginStatus> {
        Some(self.sandbox.status())
    }

    fn create_accumulator(&mut self) -> Vec<u8> {
        self.empty.clone()
    }

    fn add_inputs(
        &mut self,
        accumulators: &mut [Vec<u8>],
        groups: &[Range<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Vec<Rejected>, CombineError> {
        // Additions and retractions go in separate calls (add-inputs, uncombine).
        let mut adds = Vec::with_capacity(groups.len());
        let mut takes = Vec::with_capacity(groups.len());
        for group in groups {
            let (take, add): (Vec<usize>, Vec<usize>) =
                group.clone().partition(|&i| inputs[i].retraction);
            adds.push(add);
            takes.push(take);
        }
        let mut rejected = self.fold(Fold::Add, accumulators, &adds, inputs)?;
        if takes.iter().any(|take| !take.is_empty()) {
            rejected.extend(self.fold(Fold::Uncombine, accumulators, &takes, inputs)?);
        }
        Ok(rejected)
    }

    fn merge_accumulators(&mut self, accumulators: Vec<Vec<u8>>) -> Result<Vec<u8>, CombineError> {
        let mut blobs = BlobsBuilder::default();
        for acc in &accumulators {
            blobs.push(acc);
        }
        let blobs = blobs.finish();
        let group_ends = [accumulators.len() as u32];
        let outcome = self.sandbox.call(
            |bindings, store| {
                Ok(bindings
                    .millrace_plugin_combine_fn()
                    .call_merge_accumulators(store, &blobs, &group_ends)?
                    .map_err(|err| err.message))
            },
            |merged| merged.as_ref().map_or(0, blobs_size),
        );
        let error = |message: String| CombineError {
            function: self.name.clone(),
            message: format!("merging accumulators failed: {message}"),
        };
        match attempt(outcome).map_err(error)? {
            Attempt::Done(merged) => items(&merged)
                .next()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| error("it returned no accumulator".to_owned())),
            Attempt::Failed(reason) => Err(error(reason)),
        }
    }

    fn extract_outputs(
        &mut self,
        accumulators: &[&Vec<u8>],
    ) -> Result<Vec<Result<Value, String>>, CombineError> {
        let results = isolate(accumulators.len(), |range: Range<usize>| {
            let mut blobs = BlobsBuilder::default();
            for acc in &accumulators[range.clone()] {
                blobs.push(acc);
            }
            let blobs = blobs.finish();
            let outcome = self.sandbox.call(
                |bindings, store| {
                    Ok(bindings
                        .millrace_plugin_combine_fn()
                        .call_extract_outputs(store, &blobs)?
                        .map_err(|err| err.message))
                },
                |outputs| outputs.as_ref().map_or(0, blobs_size),
            );
            Ok(attempt(outcome)?.and_then(|outputs| read_outputs(&outputs, range.len())))
        })
        .map_err(|message| CombineError {
            function: self.name.clone(),
            message,
        })?;
        let mut values = Vec::with_capacity(accumulators.len());
        for (range, result) in results {
            match result {
                Ok(outputs) => values.extend(outputs),
                Err(reason) => values.extend(range.map(|_| Err(reason.clone()))),
            }
        }
        Ok(values)
    }
}

/// Reads what `add-inputs` or `uncombine` returned for a call of `groups` groups whose
/// inputs it was sent in the order `order` (indexes into the step's inputs): the new
/// accumulators and the rejected inputs, or why the answer does not fit the call.
pub fn read_added(added: Added, groups: usize, order: &[usize]) -> Result<Folded, String> {
    let accumulators: Vec<Vec<u8>> = items(&added.accumulators).map(<[u8]>::to_vec).collect();
    if accumulators.len() != groups {
        return Err(format!(
            "returned {} accumulators for {groups} groups",
            accumulators.len(),
        ));
    }
    let rejected = added
        .rejected
        .into_iter()
        .filter_map(|error| order.get(error.index as usize).map(|&i| (i, error.message)))
        .collect();
    Ok((accumulators, rejected))
}

/// Reads what `extract-outputs` returned for `count` accumulators: each one's value,
/// or why it is not JSON; an error if the count does not match.
pub fn read_outputs(outputs: &Blobs, count: usize) -> Result<Vec<Result<Value, String>>, String> {
    let values: Vec<Result<Value, String>> = items(outputs).map(read_json).collect();
    if values.len() != count {
        return Err(format!(
            "returned {} outputs for {count} accumulators",
            values.len()
        ));
    }
    Ok(values)
}
