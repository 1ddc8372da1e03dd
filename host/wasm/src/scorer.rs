//! Model evaluators: a component of the scorer world, loaded with one model, as
//! the model's [`Scorer`], run by the `score` step
//! ([`millrace_model::score::Score`]).
//!
//! The model's bytes reach the evaluator through its `init`, so an instance that
//! the host re-creates after a fault loads the same model again. A model is
//! checked when it is loaded: the evaluator must accept it, and it must reproduce
//! the reference set it ships ([`check_model`]).

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use millrace_model::pardo::CallFailed;
use millrace_model::pipeline::SwapError;
use millrace_model::score::{
    ModelChange, ModelInfo, ModelKind, ModelReplacement, Scorer, Scores, check_model,
};

use crate::bindings::scorer::exports::millrace::plugin::scorer as wit;
use crate::bindings::scorer::{ScorerPlugin, ScorerPluginPre};
use crate::host::PluginData;
use crate::swap::Prepared;
use crate::{Attempt, ModelFile, PluginError, PluginSpec, Runtime, Sandbox, World, attempt};

/// The model-evaluator world.
pub struct ScorerWorld;

impl World for ScorerWorld {
    type Bindings = ScorerPlugin;
    type Pre = ScorerPluginPre<PluginData>;
    type Info = Arc<ModelInfo>;
    const KIND: &'static str = "score";
    const EXPORT: &'static str = "millrace:plugin/scorer@0.2.0";

    fn linker(runtime: &Runtime) -> &Linker<PluginData> {
        &runtime.scorer
    }

    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre> {
        ScorerPluginPre::new(linker.instantiate_pre(component)?)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<ScorerPlugin> {
        pre.instantiate(store)
    }

    fn init(
        bindings: &ScorerPlugin,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<Arc<ModelInfo>, String>> {
        let Some(model) = store.data().model.clone() else {
            return Ok(Err("no model was given to the evaluator".to_owned()));
        };
        let loaded = bindings.millrace_plugin_scorer().call_init(store, &model)?;
        Ok(loaded
            .map_err(|err| err.message)
            .and_then(read_info)
            .map(Arc::new))
    }
}

/// The model layer's view of what the evaluator reported.
fn read_info(info: wit::ModelInfo) -> Result<ModelInfo, String> {
    let classes = info
        .classes
        .iter()
        .map(|label| {
            serde_json::from_str(label)
                .map_err(|_| format!("the evaluator named the class {label:?}, which is not JSON"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kind = match info.kind {
        wit::ModelKind::Classifier => ModelKind::Classifier,
        wit::ModelKind::Regressor => ModelKind::Regressor,
    };
    if kind == ModelKind::Classifier && classes.len() != info.outputs as usize {
        return Err(format!(
            "the evaluator reported {} classes and {} outputs per row",
            classes.len(),
            info.outputs
        ));
    }
    Ok(ModelInfo {
        kind,
        features: info.features as usize,
        classes,
        outputs: info.outputs as usize,
        operators: info.operators,
        producer: info.producer,
        metadata: info.metadata,
    })
}

/// An evaluator in its sandbox with one model loaded.
pub struct WasmScorer {
    sandbox: Sandbox<ScorerWorld>,
    version: String,
}

/// The `score` step over an evaluator plugin.
pub type Score = millrace_model::score::Score<WasmScorer>;

impl WasmScorer {
    /// Starts the evaluator `evaluator` names with `model`, for the step `step`, and
    /// checks the model; the error names the model and what is wrong with it.
    pub fn load(
        evaluator: &PluginSpec,
        model: &ModelFile,
        step: &str,
    ) -> Result<WasmScorer, PluginError> {
        let mut spec = evaluator.clone();
        spec.model = Some(Arc::new(model.clone()));
        let refused = |message: String| PluginError::Model {
            model: model.shown.clone(),
            message,
        };
        let sandbox = match Sandbox::<ScorerWorld>::new(&spec, step) {
            Ok(sandbox) => sandbox,
            // The evaluator started but would not take the model.
            Err(PluginError::Init { message, .. }) => {
                let message = message.strip_prefix("init failed: ").unwrap_or(&message);
                return Err(refused(message.to_owned()));
            }
            Err(other) => return Err(other),
        };
        let mut scorer = WasmScorer {
            sandbox,
            version: model.shown.clone(),
        };
        check_model(&mut scorer).map_err(refused)?;
        Ok(scorer)
    }
}

impl Scorer for WasmScorer {
    fn info(&self) -> &Arc<ModelInfo> {
        self.sandbox.info()
    }

    fn version(&self) -> &str {
        &self.version
    }

    fn faults(&self) -> u64 {
        self.sandbox.faults()
    }

    fn score(&mut self, features: &[f32], rows: usize) -> Result<Scores, CallFailed> {
        let rows = u32::try_from(rows)
            .map_err(|_| CallFailed::Failed("the batch has too many rows".to_owned()))?;
        let outcome = self.sandbox.call(
            |bindings, store| {
                let scored = bindings
                    .millrace_plugin_scorer()
                    .call_score(store, features, rows)?;
                Ok(scored.map_err(|err| err.message))
            },
            |done| {
                done.as_ref()
                    .map_or(0, |s| s.values.len() * 8 + s.labels.len() * 4)
            },
        );
        match attempt(outcome) {
            Ok(Attempt::Done(scores)) => Ok(Scores {
                labels: scores.labels,
                values: scores.values,
            }),
            Ok(Attempt::Failed(reason)) => Err(CallFailed::Failed(reason)),
            Err(message) => Err(CallFailed::Quarantined(message)),
        }
    }
}

impl ModelReplacement<WasmScorer> for Prepared {
    fn into_model_change(self) -> Result<ModelChange<WasmScorer>, SwapError> {
        match self {
            Prepared::Model(change) => Ok(*change),
            _ => Err(SwapError::WrongKind { expected: "model" }),
        }
    }
}
