//! Hot swap: a new version of a step's plugin, compiled, instantiated and started
//! off the pipeline's thread by [`prepare`], then moved into the running step
//! ([`Step::swap`](millrace_model::pipeline::Step::swap)) between two events.

use millrace_model::combine::BuiltinFn;
use millrace_model::pipeline::{Swap, SwapError};

use millrace_model::score::ModelChange;

use crate::combine::WasmCombine;
use crate::dofn::DoFnWorld;
use crate::scorer::WasmScorer;
use crate::{PluginError, PluginKind, PluginSpec, Sandbox};

/// A plugin ready to replace a running step's: the replacement type of the
/// pipelines the runner builds.
pub enum Prepared {
    /// A DoFn's new sandbox; the step keeps its keyed state.
    Dofn(Box<Sandbox<DoFnWorld>>),
    /// A combine function; the step keeps its accumulators.
    Combine(Box<WasmCombine>),
    /// A change of a score step's models (a model loaded and checked, or a
    /// promotion).
    Model(Box<ModelChange<WasmScorer>>),
}

/// Prepares the plugin `spec` names, of `kind`, to replace the plugin of the step
/// named `step`. Only DoFns and combine functions can be swapped.
pub fn prepare(kind: PluginKind, spec: &PluginSpec, step: &str) -> Result<Prepared, PluginError> {
    match kind {
        PluginKind::Dofn => Ok(Prepared::Dofn(Box::new(Sandbox::new(spec, step)?))),
        PluginKind::Combine => Ok(Prepared::Combine(Box::new(WasmCombine::new(spec, step)?))),
        PluginKind::Window | PluginKind::Trigger | PluginKind::Scorer => {
            Err(PluginError::NotSwappable { kind })
        }
    }
}

/// A built-in combine function has no plugin to swap.
impl Swap<Prepared> for BuiltinFn {
    fn swap(&mut self, replacement: Prepared) -> Result<(), SwapError> {
        drop(replacement);
        Err(SwapError::NotSwappable {
            step: format!(
                "the built-in {}",
                millrace_model::combine::CombineFn::name(self)
            ),
        })
    }
}

impl Swap<Prepared> for WasmCombine {
    fn swap(&mut self, replacement: Prepared) -> Result<(), SwapError> {
        let Prepared::Combine(replacement) = replacement else {
            return Err(SwapError::WrongKind {
                expected: "CombineFn",
            });
        };
        self.replace(*replacement)
    }
}
