//! Reading a `score` step:
//!
//! ```yaml
//! - score:
//!     model: models/fraud.onnx        # a file; a served spec names a pushed model
//!     features: [amount, card.age]    # default: the names the model ships
//!     output: {prediction: flagged, probabilities: null, drift: drift}
//!     drift: {rows: 1000}
//!     buckets: [0.1, 0.5, 0.9]
//!     evaluator: {plugin: plugins/onnx-scorer, limits: {memory: 128MiB}}
//! ```

use std::path::PathBuf;

use millrace_model::field::FieldPath;
use millrace_model::score::{Outputs, ScoreSettings};
use millrace_wasm::PluginSpec;

use super::document::{Node, NodeValue};
use super::{At, Reader, Result, StepSpec};

/// A model as a spec names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRef {
    /// The model file.
    pub path: PathBuf,
    /// What outputs and messages call it (a file's stem, a served model's name).
    pub name: String,
}

/// Finds a served model by the name a spec gives it (`name` or `name@version`):
/// its file and name, or why there is none.
pub type ModelResolver<'a> = &'a dyn Fn(&str) -> std::result::Result<ModelRef, String>;

/// The first-party evaluator: `MILLRACE_EVALUATOR`, else `plugins/onnx-scorer` of
/// the source tree this millrace was built from.
pub fn default_evaluator() -> PluginSpec {
    let path = std::env::var_os("MILLRACE_EVALUATOR").map_or_else(
        || {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/onnx-scorer");
            dir.canonicalize().unwrap_or(dir)
        },
        PathBuf::from,
    );
    PluginSpec {
        shown_as: Some("onnx-scorer".to_owned()),
        ..PluginSpec::new(path)
    }
}

impl Reader<'_> {
    pub(super) fn score(&self, at: &At, node: &Node) -> Result<StepSpec> {
        let map = self.map(
            at,
            node,
            &[
                "model",
                "features",
                "output",
                "drift",
                "buckets",
                "evaluator",
            ],
        )?;
        let model_node = map.require(self, at, "model")?;
        let model_at = at.key("model");
        let model = match self.models {
            None => {
                let path = self.path(&model_at, model_node)?;
                let name = path
                    .file_stem()
                    .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned());
                ModelRef { path, name }
            }
            Some(resolve) => {
                let name = self.string(&model_at, model_node)?;
                resolve(&name).map_err(|message| self.error(&model_at, message, model_node.mark))?
            }
        };
        let mut settings = ScoreSettings::default();
        if let Some(node) = map.get("features") {
            let at = at.key("features");
            let NodeValue::Seq(items) = &node.value else {
                return Err(self.expected(&at, "a list of field paths", node));
            };
            if items.is_empty() {
                return Err(self.expected(&at, "a list of at least one field path", node));
            }
            let mut features = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                features.push(self.field_path(&at.index(i), item)?);
            }
            settings.features = Some(features);
        }
        if let Some(node) = map.get("output") {
            settings.outputs = self.outputs(&at.key("output"), node)?;
        }
        if let Some(node) = map.get("drift") {
            let at = at.key("drift");
            let drift = self.map(&at, node, &["rows"])?;
            if let Some(rows) = drift.get("rows") {
                settings.drift_rows = self.count_up_to(&at.key("rows"), rows, 1, 100_000_000)?;
            }
        }
        if let Some(node) = map.get("buckets") {
            settings.score_buckets = Some(self.buckets(&at.key("buckets"), node)?);
        }
        let evaluator = map
            .get("evaluator")
            .map(|node| self.plugin(&at.key("evaluator"), node))
            .transpose()?;
        Ok(StepSpec::Score {
            path: at.path.clone(),
            model,
            evaluator,
            settings: Box::new(settings),
        })
    }

    pub(super) fn field_path(&self, at: &At, node: &Node) -> Result<FieldPath> {
        let text = self.string(at, node)?;
        FieldPath::parse(&text).map_err(|message| self.error(at, message, node.mark))
    }

    /// `output: {prediction: …, probabilities: …, score: …, version: …, drift: …}`:
    /// each a field path, or null to leave it out.
    fn outputs(&self, at: &At, node: &Node) -> Result<Outputs> {
        const FIELDS: [&str; 5] = ["prediction", "probabilities", "score", "version", "drift"];
        let map = self.map(at, node, &FIELDS)?;
        let mut outputs = Outputs::default();
        for field in FIELDS {
            let Some(node) = map.get(field) else {
                continue;
            };
            let path = match node.value {
                NodeValue::Null => None,
                _ => Some(self.field_path(&at.key(field), node)?),
            };
            match field {
                "prediction" => outputs.prediction = path,
                "probabilities" => outputs.probabilities = path,
                "score" => outputs.score = path,
                "version" => outputs.version = path,
                _ => outputs.drift = path,
            }
        }
        Ok(outputs)
    }

    fn buckets(&self, at: &At, node: &Node) -> Result<Vec<f64>> {
        let expected = "a list of ascending numbers";
        let NodeValue::Seq(items) = &node.value else {
            return Err(self.expected(at, expected, node));
        };
        let mut bounds: Vec<f64> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let bound = match item.value {
                NodeValue::Int(n) => n as f64,
                NodeValue::Float(x) if x.is_finite() => x,
                _ => return Err(self.expected(&at.index(i), "a number", item)),
            };
            if bounds.last().is_some_and(|&last| last >= bound) {
                return Err(self.expected(&at.index(i), "a number above the one before", item));
            }
            bounds.push(bound);
        }
        if bounds.is_empty() || bounds.len() > 100 {
            return Err(self.expected(at, "a list of 1 to 100 ascending numbers", node));
        }
        Ok(bounds)
    }
}
