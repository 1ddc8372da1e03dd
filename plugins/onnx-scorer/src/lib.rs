//! The first-party model evaluator of `score` steps: runs ONNX models of linear
//! and tree-ensemble operators — what scikit-learn's linear models, random forests
//! and gradient boosting (classifiers and regressors), with `StandardScaler` in
//! front, export to with skl2onnx — over batches of feature rows, inside the
//! sandbox.
//!
//! ```yaml
//! - score:
//!     model: models/fraud.onnx
//!     features: [amount, hour, merchant_risk]
//! ```
//!
//! Supported operators ([`graph::SUPPORTED`]): `LinearClassifier`,
//! `LinearRegressor`, `TreeEnsembleClassifier`, `TreeEnsembleRegressor`,
//! `Scaler`, `Normalizer` (ai.onnx.ml, versions 1–3) and `Identity`. A model with
//! any other operator (a `ZipMap`, say: export with `zipmap: False`) is refused at
//! load time with the operator's name. Trees compare 32-bit features with 32-bit
//! thresholds, as ONNX defines; sums and post-transforms are computed in 64 bits.

pub mod graph;
mod linear;
mod node;
mod perfect;
pub mod proto;
mod transform;
mod tree;

use millrace_sdk::{Config, Error, ModelInfo, Scorer, Scores};

pub use graph::Model;

/// The evaluator: one loaded model.
pub struct OnnxScorer(Model);

impl Scorer for OnnxScorer {
    fn load(model: &[u8], _config: &Config) -> Result<(Self, ModelInfo), Error> {
        let model = Model::load(model).map_err(Error::new)?;
        let info = model.info().clone();
        Ok((OnnxScorer(model), info))
    }

    fn score(&self, features: &[f32], rows: usize, scores: &mut Scores) -> Result<(), Error> {
        self.0.score(features, rows, scores).map_err(Error::new)
    }
}

millrace_sdk::export!(scorer OnnxScorer);
