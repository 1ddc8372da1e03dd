//! A model's reference set: inputs and the outputs its trainer computed for them,
//! shipped in the model's metadata entry `millrace.reference` and checked on every
//! load, so that a model the evaluator reads differently from its trainer (an
//! operator read wrongly, a file damaged) is refused before it scores anything.
//!
//! ```json
//! {"inputs": [[1.0, 2.0]], "probabilities": [[0.2, 0.8]], "labels": [1]}
//! ```
//!
//! A classifier's entry has `probabilities` (and may have `labels`), a regressor's
//! `values`, one row per input.

use serde::Deserialize;
use serde_json::Value;

use super::{ModelInfo, ModelKind, Scores};

/// How far an output may be from the reference: absolute, plus relative to the
/// expected value (model files hold 32-bit weights, and the trainer computed in 64).
pub const TOLERANCE: f64 = 1e-5;

/// A reference set.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Feature rows.
    pub inputs: Vec<Vec<f64>>,
    /// A classifier's expected probabilities, per row.
    #[serde(default)]
    pub probabilities: Option<Vec<Vec<f64>>>,
    /// A classifier's expected labels, per row.
    #[serde(default)]
    pub labels: Option<Vec<Value>>,
    /// A regressor's expected values, per row.
    #[serde(default)]
    pub values: Option<Vec<Vec<f64>>>,
}

impl Reference {
    /// Reads `millrace.reference` for a model described by `info`.
    pub fn parse(json: &str, info: &ModelInfo) -> Result<Reference, String> {
        let reference: Reference = serde_json::from_str(json)
            .map_err(|err| format!("its millrace.reference metadata is not valid: {err}"))?;
        let rows = reference.inputs.len();
        if let Some(row) = reference
            .inputs
            .iter()
            .position(|r| r.len() != info.features)
        {
            return Err(format!(
                "its reference input {row} has {} features; the model has {}",
                reference.inputs[row].len(),
                info.features
            ));
        }
        let expected = match info.kind {
            ModelKind::Classifier => &reference.probabilities,
            ModelKind::Regressor => &reference.values,
        };
        let name = match info.kind {
            ModelKind::Classifier => "probabilities",
            ModelKind::Regressor => "values",
        };
        match expected {
            Some(outputs) if outputs.len() == rows => {}
            Some(outputs) => {
                return Err(format!(
                    "its reference set has {rows} inputs but {} rows of {name}",
                    outputs.len()
                ));
            }
            None => return Err(format!("its reference set has no {name}")),
        }
        if reference.labels.as_ref().is_some_and(|l| l.len() != rows) {
            return Err(format!(
                "its reference set has {rows} inputs but a different number of labels"
            ));
        }
        Ok(reference)
    }

    /// The inputs, as the feature rows a scorer takes.
    pub fn features(&self) -> Vec<f32> {
        self.inputs.iter().flatten().map(|&x| x as f32).collect()
    }

    /// Compares what the model computed for [`Reference::features`] with what the
    /// reference expects.
    pub fn check(&self, info: &ModelInfo, scores: &Scores) -> Result<(), String> {
        let expected = match info.kind {
            ModelKind::Classifier => self.probabilities.as_deref(),
            ModelKind::Regressor => self.values.as_deref(),
        }
        .unwrap_or_default();
        for (row, want) in expected.iter().enumerate() {
            let got = scores
                .values
                .get(row * info.outputs..(row + 1) * info.outputs)
                .unwrap_or_default();
            let close = got.len() == want.len()
                && got
                    .iter()
                    .zip(want)
                    .all(|(g, w)| (g - w).abs() <= TOLERANCE * (1.0 + w.abs()));
            if !close {
                return Err(format!(
                    "it does not reproduce its reference set: for input {row} it computes \
                     {got:?}, the reference says {want:?}"
                ));
            }
        }
        if let Some(labels) = &self.labels {
            for (row, want) in labels.iter().enumerate() {
                let got = scores
                    .labels
                    .get(row)
                    .and_then(|&l| info.classes.get(l as usize));
                if got != Some(want) {
                    return Err(format!(
                        "it does not reproduce its reference set: for input {row} it predicts \
                         {}, the reference says {want}",
                        got.map_or("nothing".to_owned(), Value::to_string)
                    ));
                }
            }
        }
        Ok(())
    }
}
