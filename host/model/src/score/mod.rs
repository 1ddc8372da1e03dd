//! The `score` step: scores each record with a trained model.
//!
//! The step reads a feature vector out of each record's value ([`features`]),
//! hands the batch's rows to a [`Scorer`] (a model evaluator in the sandbox, in the
//! WebAssembly layer), and writes the prediction back into the value: the class or
//! value, the class probabilities, one number to watch (the score), the version of
//! the model that scored it, and optionally the features' drift. A record without
//! its features is a dead letter that names the feature.
//!
//! The step owns its models: the live one, and at most one candidate that either
//! shadows it (scores every row; its outputs are only compared, [`monitor`]) or
//! takes a share of keys as a canary. Models change between two bundles
//! ([`ModelChange`]), so every record is scored by exactly one version, which it
//! names.

pub mod drift;
pub mod features;
pub mod monitor;
pub mod reference;

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::dead_letter::DeadLetter;
use crate::field::FieldPath;
use crate::isolate::{Attempt, Isolated, isolate};
use crate::pardo::CallFailed;
use crate::pipeline::{NoSwap, Step, StepFault, StepOutput, StepStats, SwapError};
use crate::record::Record;
use crate::state::{LastPut, StateError, StepReader, StepWriter, Tag};
use crate::time::{MIN_TIMESTAMP, Timestamp};
use drift::{Drift, Training};
use features::read_features;
use monitor::{Agreement, CandidateStatus, DriftStatus, Histogram, ModelStatus, Role};
use reference::Reference;

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// One class out of several, with a probability for each.
    Classifier,
    /// One number (or several) per row.
    Regressor,
}

impl ModelKind {
    /// `classifier` or `regressor`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Classifier => "classifier",
            ModelKind::Regressor => "regressor",
        }
    }
}

/// What an evaluator says about the model it loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// What it predicts.
    pub kind: ModelKind,
    /// Features per row.
    pub features: usize,
    /// A classifier's class labels, in the order of its probabilities.
    pub classes: Vec<Value>,
    /// Numbers per row's prediction: classes, or regression targets.
    pub outputs: usize,
    /// The operators the model runs.
    pub operators: Vec<String>,
    /// Who made the model file.
    pub producer: String,
    /// The model's key/value metadata.
    pub metadata: Vec<(String, String)>,
}

impl ModelInfo {
    /// The metadata entry `key`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The features' names, from `millrace.features` (a JSON list of field paths),
    /// if the model has them.
    pub fn feature_names(&self) -> Result<Option<Vec<String>>, String> {
        let Some(json) = self.metadata("millrace.features") else {
            return Ok(None);
        };
        let names: Vec<String> = serde_json::from_str(json).map_err(|err| {
            format!("its millrace.features metadata is not a list of field names: {err}")
        })?;
        if names.len() != self.features {
            return Err(format!(
                "its millrace.features metadata names {} features; the model has {}",
                names.len(),
                self.features
            ));
        }
        Ok(Some(names))
    }

    /// Checks that a model described by `self` can replace one described by
    /// `live` in a running step: same kind, features and classes.
    pub fn can_replace(&self, live: &ModelInfo) -> Result<(), String> {
        if self.kind != live.kind {
            return Err(format!(
                "the new model is a {}, the step's a {}",
                self.kind.name(),
                live.kind.name()
            ));
        }
        if self.features != live.features {
            return Err(format!(
                "the new model takes {} features, the step's {}",
                self.features, live.features
            ));
        }
        if self.classes != live.classes || self.outputs != live.outputs {
            return Err(format!(
                "the new model predicts {}, the step's {}",
                describe_outputs(self),
                describe_outputs(live)
            ));
        }
        Ok(())
    }
}

fn describe_outputs(info: &ModelInfo) -> String {
    match info.kind {
        ModelKind::Classifier => format!(
            "the classes {}",
            info.classes
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ModelKind::Regressor => format!("{} values", info.outputs),
    }
}

/// Predictions for a batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// A classifier's predicted class per row, as an index into
    /// [`ModelInfo::classes`].
    pub labels: Vec<u32>,
    /// [`ModelInfo::outputs`] numbers per row, row after row.
    pub values: Vec<f64>,
}

/// A loaded model that scores batches: the function of a `score` step.
pub trait Scorer: Send {
    /// What the model is (shared: the step holds on to it across a batch).
    fn info(&self) -> &Arc<ModelInfo>;

    /// The model's version, as outputs name it (e.g. `fraud@3f2a9c1b0d4e`).
    fn version(&self) -> &str;

    /// Scores `rows` rows of [`ModelInfo::features`] features, row-major.
    fn score(&mut self, features: &[f32], rows: usize) -> Result<Scores, CallFailed>;

    /// Calls that faulted so far (an evaluator in a sandbox).
    fn faults(&self) -> u64 {
        0
    }
}

/// Checks that an answer fits the call: a label per row for a classifier, and
/// `outputs` numbers per row.
fn check_scores(info: &ModelInfo, rows: usize, scores: &Scores) -> Result<(), String> {
    let labels = if info.kind == ModelKind::Classifier {
        rows
    } else {
        0
    };
    if scores.values.len() != rows * info.outputs || scores.labels.len() != labels {
        return Err(format!(
            "the evaluator answered {} numbers and {} labels for {rows} rows of a model with \
             {} outputs",
            scores.values.len(),
            scores.labels.len(),
            info.outputs
        ));
    }
    if let Some(bad) = scores
        .labels
        .iter()
        .find(|&&l| l as usize >= info.classes.len())
    {
        return Err(format!(
            "the evaluator predicted class {bad} of a model with {} classes",
            info.classes.len()
        ));
    }
    Ok(())
}

/// Checks a freshly loaded model against its reference set, if it ships one
/// (`millrace.reference`), and its other metadata; the error says what is wrong.
pub fn check_model(scorer: &mut dyn Scorer) -> Result<(), String> {
    let info = Arc::clone(scorer.info());
    info.feature_names()?;
    if let Some(json) = info.metadata("millrace.training") {
        Training::parse(json, info.features)?;
    }
    let Some(json) = info.metadata("millrace.reference") else {
        return Ok(());
    };
    let reference = Reference::parse(json, &info)?;
    let rows = reference.inputs.len();
    let scores = scorer
        .score(&reference.features(), rows)
        .map_err(|err| match err {
            CallFailed::Failed(reason) | CallFailed::Quarantined(reason) => {
                format!("it failed on its reference set: {reason}")
            }
        })?;
    check_scores(&info, rows, &scores)?;
    reference.check(&info, &scores)
}

/// Where a score step writes its predictions in each value; `None` leaves a field
/// out.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// The predicted class, or the regressor's value (a list, for several).
    pub prediction: Option<FieldPath>,
    /// A classifier's probabilities, as an object from label to probability.
    pub probabilities: Option<FieldPath>,
    /// One number: a binary classifier's probability of its second class, a
    /// multiclass one's of the predicted class, a regressor's (first) value.
    pub score: Option<FieldPath>,
    /// The version of the model that scored the record.
    pub version: Option<FieldPath>,
    /// The largest feature drift (PSI) over the last full drift window.
    pub drift: Option<FieldPath>,
}

impl Default for Outputs {
    /// `prediction`, `probabilities`, `score` and `model_version`; no drift.
    fn default() -> Self {
        let path = |name: &str| Some(FieldPath::field(name));
        Outputs {
            prediction: path("prediction"),
            probabilities: path("probabilities"),
            score: path("score"),
            version: path("model_version"),
            drift: None,
        }
    }
}

/// A score step's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreSettings {
    /// The fields that make a row, in the model's feature order; `None`: the
    /// names the model gives (`millrace.features`).
    pub features: Option<Vec<FieldPath>>,
    /// Where predictions go.
    pub outputs: Outputs,
    /// Rows per drift window.
    pub drift_rows: u64,
    /// Upper bounds of the score histogram; `None`: tenths for a classifier,
    /// powers of ten for a regressor.
    pub score_buckets: Option<Vec<f64>>,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        ScoreSettings {
            features: None,
            outputs: Outputs::default(),
            drift_rows: 1000,
            score_buckets: None,
        }
    }
}

/// A change of a score step's models, made between two bundles.
pub enum ModelChange<S> {
    /// Replace the live model.
    Live(S),
    /// Run a candidate beside the live model on every row, emitting nothing of its
    /// own (replacing any candidate).
    Shadow(S),
    /// Score the rows of a share of keys (0 to 1) with a candidate instead, its
    /// outputs marked (replacing any candidate).
    Canary {
        /// The candidate.
        scorer: S,
        /// The share of keys.
        share: f64,
    },
    /// Make the candidate the live model.
    Promote,
    /// Drop the candidate.
    Dismiss,
}

/// A pipeline's replacement type, as a change of a score step's models.
pub trait ModelReplacement<S>: Sized {
    /// The change it asks for, or why it is not one.
    fn into_model_change(self) -> Result<ModelChange<S>, SwapError>;
}

impl<S> ModelReplacement<S> for NoSwap {
    fn into_model_change(self) -> Result<ModelChange<S>, SwapError> {
        match self {}
    }
}

/// The model that scored a row.
struct By<'a> {
    info: &'a ModelInfo,
    version: &'a str,
    /// Whether it is a canary (its outputs are marked, and not counted as the live
    /// model's).
    canary: bool,
}

/// What a row's output says besides the prediction.
struct Marks<'a> {
    version: &'a str,
    drift: f64,
    canary: bool,
}

/// A candidate model and what it has done.
struct Candidate<S> {
    scorer: S,
    role: Role,
    rows: u64,
    agreement: Agreement,
}

/// The `score` step over the scorer `S`.
pub struct Score<S> {
    name: String,
    features: Vec<FieldPath>,
    outputs: Outputs,
    live: S,
    candidate: Option<Candidate<S>>,
    drift: Option<Drift>,
    watermark: Timestamp,
    stats: StepStats,
    rows: u64,
    batches: u64,
    latency: Histogram,
    scores: Histogram,
    /// Rows the live model predicted each class for, by class index (a swapped-in
    /// model has the same classes).
    classes: Vec<u64>,
    swaps: u64,
    max_swap_pause: f64,
    /// Why the last candidate was dropped, if one was.
    candidate_dropped: Option<String>,
    meta_put: LastPut,
}

impl<S: Scorer> Score<S> {
    /// A `score` step named `name` scoring with `live`; the error says why the
    /// settings do not fit the model.
    pub fn new(name: &str, settings: ScoreSettings, live: S) -> Result<Self, String> {
        let info = live.info().clone();
        let features = match settings.features {
            Some(features) => features,
            None => info
                .feature_names()?
                .ok_or(
                    "features names none, and the model does not name its features \
                     (millrace.features): list the fields that make its feature vector",
                )?
                .iter()
                .map(|name| FieldPath::parse(name))
                .collect::<Result<_, _>>()?,
        };
        if features.len() != info.features {
            return Err(format!(
                "features lists {} fields, but the model takes {} features",
                features.len(),
                info.features
            ));
        }
        let drift = match (&settings.outputs.drift, info.metadata("millrace.training")) {
            (_, Some(json)) => Some(Drift::new(
                Training::parse(json, info.features)?,
                settings.drift_rows,
            )),
            (Some(_), None) => {
                return Err("output.drift needs the model's training distribution \
                            (millrace.training metadata), which it does not ship"
                    .to_owned());
            }
            (None, None) => None,
        };
        let buckets = settings.score_buckets.unwrap_or_else(|| match info.kind {
            ModelKind::Classifier => (1..=10).map(|i| f64::from(i) / 10.0).collect(),
            ModelKind::Regressor => {
                [-1e4, -1e3, -1e2, -10.0, -1.0, 0.0, 1.0, 10.0, 1e2, 1e3, 1e4].to_vec()
            }
        });
        Ok(Score {
            name: name.to_owned(),
            features,
            outputs: settings.outputs,
            live,
            candidate: None,
            drift,
            watermark: MIN_TIMESTAMP,
            stats: StepStats::default(),
            rows: 0,
            batches: 0,
            latency: Histogram::exponential(1e-5, 10.0, 3),
            scores: Histogram::new(buckets),
            classes: vec![0; info.classes.len()],
            swaps: 0,
            max_swap_pause: 0.0,
            candidate_dropped: None,
            meta_put: LastPut::default(),
        })
    }

    fn fault(&self, message: String) -> StepFault {
        StepFault {
            step: self.name.clone(),
            message,
        }
    }

    /// Scores `rows` (row-major) with `scorer`, bisecting a batch that fails so
    /// that only the rows that fail are lost; returns each range's scores or why it
    /// failed, and the time it took.
    fn score_with(
        scorer: &mut S,
        features: usize,
        rows: &[f32],
    ) -> Result<(Isolated<Scores>, f64), String> {
        let count = rows.len() / features.max(1);
        let started = Instant::now();
        let info = scorer.info().clone();
        let results = isolate(count, |range| {
            let part = &rows[range.start * features..range.end * features];
            match scorer.score(part, range.len()) {
                Ok(scores) => Ok(Attempt::Done(scores)
                    .and_then(|s| check_scores(&info, range.len(), &s).map(|()| s))),
                Err(CallFailed::Failed(reason)) => Ok(Attempt::Failed(reason)),
                Err(CallFailed::Quarantined(message)) => Err(message),
            }
        })?;
        Ok((results, started.elapsed().as_secs_f64()))
    }

    /// Emits `record` with its answer, or sends it to the dead letters with why it
    /// has none; `row` is its features, which drift counts.
    fn emit(
        &mut self,
        mut record: Record,
        answer: Option<&Answer<'_>>,
        by: &By<'_>,
        row: &[f32],
        out: &mut StepOutput,
    ) {
        let By {
            info,
            version,
            canary,
        } = *by;
        let (label, values) = match answer {
            Some(&Ok(answer)) => answer,
            Some(Err(reason)) => {
                self.stats.dead_lettered += 1;
                let shown = format!("{} ({version})", self.name);
                out.dead_letters
                    .push(DeadLetter::step(&shown, &record, *reason));
                return;
            }
            None => {
                self.stats.dead_lettered += 1;
                let reason = format!("the model {version} gave no answer for it");
                out.dead_letters
                    .push(DeadLetter::step(&self.name, &record, reason));
                return;
            }
        };
        let drift = match &mut self.drift {
            Some(drift) => {
                drift.observe(row);
                drift.max()
            }
            None => 0.0,
        };
        if !canary {
            self.rows += 1;
            self.scores.observe(score_of(info, label, values));
            if let Some(count) = label.and_then(|label| self.classes.get_mut(label as usize)) {
                *count += 1;
            }
        }
        let marks = Marks {
            version,
            drift,
            canary,
        };
        self.write(&mut record.value, info, (label, values), &marks);
        self.stats.records_out += 1;
        self.stats.retractions_out += u64::from(record.retraction);
        out.records.push(record);
    }

    /// Writes one row's prediction into `value`.
    fn write(
        &self,
        value: &mut Value,
        info: &ModelInfo,
        (label, values): (Option<u32>, &[f64]),
        marks: &Marks<'_>,
    ) {
        let Marks {
            version,
            drift,
            canary,
        } = *marks;
        let outputs = &self.outputs;
        if let Some(path) = &outputs.prediction {
            let prediction = match (info.kind, label) {
                (ModelKind::Classifier, Some(label)) => info.classes[label as usize].clone(),
                _ if values.len() == 1 => Value::from(values[0]),
                _ => Value::from(values.to_vec()),
            };
            path.set(value, prediction);
        }
        if let (Some(path), ModelKind::Classifier) = (&outputs.probabilities, info.kind) {
            let by_class = info
                .classes
                .iter()
                .zip(values)
                .map(|(class, &p)| (label_text(class), Value::from(p)))
                .collect();
            path.set(value, Value::Object(by_class));
        }
        if let Some(path) = &outputs.score {
            path.set(value, Value::from(score_of(info, label, values)));
        }
        if let Some(path) = &outputs.version {
            path.set(value, Value::from(version));
        }
        if let Some(path) = &outputs.drift {
            path.set(value, Value::from(drift));
        }
        if canary && let Some(object) = value.as_object_mut() {
            object.insert("canary".to_owned(), Value::Bool(true));
        }
    }
}

/// Counts one row that a shadow and the live model both scored.
fn agree(
    agreement: &mut Agreement,
    info: &ModelInfo,
    (live_label, live): (Option<u32>, &[f64]),
    (shadow_label, shadow): (Option<u32>, &[f64]),
) {
    let live_score = score_of(info, live_label, live);
    let shadow_score = score_of(info, shadow_label, shadow);
    agreement.rows += 1;
    agreement.same_class += u64::from(live_label.is_some() && live_label == shadow_label);
    agreement
        .difference
        .observe((live_score - shadow_score).abs());
}

/// The one number a row's prediction is watched by.
fn score_of(info: &ModelInfo, label: Option<u32>, values: &[f64]) -> f64 {
    match (info.kind, label) {
        (ModelKind::Classifier, _) if values.len() == 2 => values[1],
        (ModelKind::Classifier, Some(label)) => values[label as usize],
        _ => values.first().copied().unwrap_or(f64::NAN),
    }
}

/// A class label as an object key: a string label's text, another's JSON.
fn label_text(class: &Value) -> String {
    match class {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a key falls in [0, 1), the same on every run and host (FNV-1a).
fn key_share(key: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

impl<R: ModelReplacement<S>, S: Scorer> Step<R> for Score<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        let width = self.features.len();
        // Rows for the live model and for a canary, and the records they belong to.
        let mut live_rows: Vec<f32> = Vec::with_capacity(input.len() * width);
        let mut canary_rows: Vec<f32> = Vec::new();
        let mut records: Vec<(Record, bool)> = Vec::with_capacity(input.len());
        let canary_share = match &self.candidate {
            Some(Candidate {
                role: Role::Canary { share },
                ..
            }) => Some(*share),
            _ => None,
        };
        for record in input {
            let to_canary =
                canary_share.is_some_and(|share| key_share(record.key.as_json()) < share);
            let rows = if to_canary {
                &mut canary_rows
            } else {
                &mut live_rows
            };
            match read_features(&self.features, &record.value, rows) {
                Ok(()) => records.push((record, to_canary)),
                Err(reason) => {
                    self.stats.dead_lettered += 1;
                    out.dead_letters
                        .push(DeadLetter::step(&self.name, &record, reason));
                }
            }
        }
        if records.is_empty() {
            return Ok(());
        }

        let (live_results, live_seconds) = Self::score_with(&mut self.live, width, &live_rows)
            .map_err(|message| self.fault(message))?;
        self.batches += 1;
        self.latency.observe(live_seconds);
        let mut candidate_results = Vec::new();
        // A canary's rows scored by the live model after the canary fell out.
        let mut fallback = None;
        if let Some(candidate) = &mut self.candidate {
            let rows = match candidate.role {
                Role::Shadow => &live_rows,
                Role::Canary { .. } => &canary_rows,
            };
            match Self::score_with(&mut candidate.scorer, width, rows) {
                Ok((results, seconds)) => {
                    candidate_results = results;
                    if candidate.role == Role::Shadow {
                        candidate.agreement.live_seconds += live_seconds;
                        candidate.agreement.candidate_seconds += seconds;
                    }
                }
                // A candidate quarantined for its faults is dropped; the live model
                // goes on, and scores a canary's rows itself.
                Err(message) => {
                    self.candidate_dropped = Some(format!(
                        "the candidate {} was dropped: {message}",
                        candidate.scorer.version()
                    ));
                    self.candidate = None;
                    if !canary_rows.is_empty() {
                        let (results, _) = Self::score_with(&mut self.live, width, &canary_rows)
                            .map_err(|message| self.fault(message))?;
                        fallback = Some(results);
                    }
                }
            }
        }

        // Each model's per-range results as per-row answers.
        let live_info = self.live.info().clone();
        let live_version = self.live.version().to_owned();
        let live_answers = answers(&live_results, live_info.outputs);
        let (candidate_info, candidate_version) = match &self.candidate {
            Some(c) => (Some(c.scorer.info().clone()), c.scorer.version().to_owned()),
            None => (None, String::new()),
        };
        let candidate_answers = answers(&candidate_results, live_info.outputs);
        if let Some(candidate) = &mut self.candidate {
            for (_, result) in &candidate_results {
                if let Err(reason) = result {
                    candidate.agreement.errors += 1;
                    candidate.agreement.last_error = Some(reason.clone());
                }
            }
            match candidate.role {
                Role::Shadow => {
                    for (live, shadow) in live_answers.iter().zip(&candidate_answers) {
                        if let (Ok(live), Ok(shadow)) = (live, shadow) {
                            agree(&mut candidate.agreement, &live_info, *live, *shadow);
                            candidate.rows += 1;
                        }
                    }
                }
                Role::Canary { .. } => {
                    candidate.rows += candidate_answers.iter().filter(|a| a.is_ok()).count() as u64;
                }
            }
        }

        let fallback_answers = fallback
            .as_ref()
            .map(|results| answers(results, live_info.outputs))
            .unwrap_or_default();
        let (mut live_at, mut canary_at) = (0, 0);
        let live = By {
            info: &live_info,
            version: &live_version,
            canary: false,
        };
        for (record, to_canary) in records {
            if to_canary && fallback.is_some() {
                // Scored by the live model: neither marked nor counted a canary's.
                canary_at += 1;
                let answer = fallback_answers.get(canary_at - 1);
                let row_start = (canary_at - 1) * width;
                let row = &canary_rows[row_start..row_start + width];
                self.emit(record, answer, &live, row, out);
                continue;
            }
            let (answer, info, version, row_start) = if to_canary {
                canary_at += 1;
                (
                    candidate_answers.get(canary_at - 1),
                    candidate_info.as_ref().unwrap_or(&live_info),
                    candidate_version.as_str(),
                    (canary_at - 1) * width,
                )
            } else {
                live_at += 1;
                (
                    live_answers.get(live_at - 1),
                    &live_info,
                    live_version.as_str(),
                    (live_at - 1) * width,
                )
            };
            let rows = if to_canary { &canary_rows } else { &live_rows };
            let row = &rows[row_start..row_start + width];
            let by = By {
                info,
                version,
                canary: to_canary,
            };
            self.emit(record, answer, &by, row, out);
        }
        Ok(())
    }

    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        _: &mut StepOutput,
    ) -> Result<(), StepFault> {
        self.watermark = self.watermark.max(watermark);
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.watermark
    }

    fn stats(&self) -> StepStats {
        self.stats
    }

    fn describe(&self) -> Value {
        let features: Vec<&str> = self.features.iter().map(FieldPath::as_str).collect();
        serde_json::json!({"name": self.name, "score": {"features": features}})
    }

    fn snapshot(&mut self, state: &mut StepWriter<'_>) -> Result<(), StateError> {
        let meta = (self.watermark, self.stats, &self.drift);
        let key = state.key(Tag::Meta).build();
        state.put_changed(key, &meta, &mut self.meta_put)
    }

    fn restore(&mut self, state: &StepReader<'_>) -> Result<(), StateError> {
        let what = format!("{}'s state", self.name);
        if let Some((watermark, stats, drift)) = state
            .get::<(Timestamp, StepStats, Option<Drift>)>(&state.key(Tag::Meta).build(), &what)?
        {
            self.watermark = watermark;
            self.stats = stats;
            if let (Some(ours), Some(saved)) = (&mut self.drift, drift) {
                ours.resume(saved);
            }
        }
        Ok(())
    }

    fn model(&self) -> Option<ModelStatus> {
        let info = self.live.info();
        Some(ModelStatus {
            version: self.live.version().to_owned(),
            kind: info.kind.name(),
            rows: self.rows,
            batches: self.batches,
            latency: self.latency.clone(),
            scores: self.scores.clone(),
            classes: info
                .classes
                .iter()
                .map(label_text)
                .zip(self.classes.iter().copied())
                .collect(),
            drift: self.drift.as_ref().map(|drift| DriftStatus {
                window_rows: drift.window(),
                windows: drift.windows(),
                features: drift.by_feature(),
                max: drift.max(),
            }),
            candidate: self.candidate.as_ref().map(|c| CandidateStatus {
                version: c.scorer.version().to_owned(),
                role: c.role,
                rows: c.rows,
                agreement: c.agreement.summary(info.kind == ModelKind::Classifier),
            }),
            swaps: self.swaps,
            max_swap_pause: self.max_swap_pause,
            faults: self.live.faults(),
            candidate_dropped: self.candidate_dropped.clone(),
        })
    }

    fn swap(&mut self, replacement: R) -> Result<(), SwapError> {
        let started = Instant::now();
        let change = replacement.into_model_change()?;
        let fits = |scorer: &S, live: &S| {
            scorer
                .info()
                .can_replace(live.info())
                .map_err(|message| SwapError::Model { message })
        };
        match change {
            ModelChange::Live(scorer) => {
                fits(&scorer, &self.live)?;
                self.live = scorer;
            }
            ModelChange::Shadow(scorer) | ModelChange::Canary { scorer, .. }
                if scorer.info().can_replace(self.live.info()).is_err() =>
            {
                fits(&scorer, &self.live)?;
            }
            ModelChange::Shadow(scorer) => {
                self.candidate = Some(Candidate {
                    scorer,
                    role: Role::Shadow,
                    rows: 0,
                    agreement: Agreement::default(),
                });
            }
            ModelChange::Canary { scorer, share } => {
                self.candidate = Some(Candidate {
                    scorer,
                    role: Role::Canary {
                        share: share.clamp(0.0, 1.0),
                    },
                    rows: 0,
                    agreement: Agreement::default(),
                });
            }
            ModelChange::Promote => {
                let candidate = self.candidate.take().ok_or_else(|| SwapError::Model {
                    message: "the step has no candidate model to promote".to_owned(),
                })?;
                self.live = candidate.scorer;
            }
            ModelChange::Dismiss => {
                if self.candidate.take().is_none() {
                    return Err(SwapError::Model {
                        message: "the step has no candidate model".to_owned(),
                    });
                }
            }
        }
        self.swaps += 1;
        self.max_swap_pause = self.max_swap_pause.max(started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// Each row's answer: its label (for a classifier) and its outputs, or why its
/// batch failed.
type Answer<'a> = Result<(Option<u32>, &'a [f64]), &'a str>;

fn answers(
    results: &[(std::ops::Range<usize>, Result<Scores, String>)],
    outputs: usize,
) -> Vec<Answer<'_>> {
    let mut rows = Vec::new();
    for (range, result) in results {
        for at in 0..range.len() {
            rows.push(match result {
                Ok(scores) => Ok((
                    scores.labels.get(at).copied(),
                    &scores.values[at * outputs..(at + 1) * outputs],
                )),
                Err(reason) => Err(reason.as_str()),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests;
