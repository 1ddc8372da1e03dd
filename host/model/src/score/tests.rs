//! The score step against a plain logistic model written here, so every expected
//! output is computed independently of the step.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::pipeline::{NoSwap, Step, StepOutput};
use crate::record::{Key, Record};

/// `p = σ(w·x + b)`, classes `0` and `1`; fails a batch holding a feature above
/// `fail_above`.
#[derive(Clone)]
struct Logistic {
    w: Vec<f64>,
    b: f64,
    version: String,
    info: Arc<ModelInfo>,
    fail_above: f32,
    /// Answers every call with a quarantine.
    quarantined: bool,
}

fn logistic(w: &[f64], b: f64, version: &str) -> Logistic {
    Logistic {
        w: w.to_vec(),
        b,
        version: version.to_owned(),
        info: Arc::new(ModelInfo {
            kind: ModelKind::Classifier,
            features: w.len(),
            classes: vec![json!(0), json!(1)],
            outputs: 2,
            operators: vec!["LinearClassifier".into()],
            producer: "test".into(),
            metadata: Vec::new(),
        }),
        fail_above: f32::INFINITY,
        quarantined: false,
    }
}

fn p1(w: &[f64], b: f64, x: &[f32]) -> f64 {
    let z: f64 = w.iter().zip(x).map(|(w, x)| w * f64::from(*x)).sum::<f64>() + b;
    1.0 / (1.0 + (-z).exp())
}

impl Scorer for Logistic {
    fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }
    fn version(&self) -> &str {
        &self.version
    }
    fn score(&mut self, features: &[f32], rows: usize) -> Result<Scores, CallFailed> {
        if self.quarantined {
            return Err(CallFailed::Quarantined("quarantined after 5 faults".into()));
        }
        if features.iter().any(|&x| x > self.fail_above) {
            return Err(CallFailed::Failed("a feature is too large".into()));
        }
        let mut scores = Scores::default();
        for row in features.chunks_exact(self.w.len()).take(rows) {
            let p = p1(&self.w, self.b, row);
            scores.labels.push(u32::from(p > 0.5));
            scores.values.extend([1.0 - p, p]);
        }
        Ok(scores)
    }
}

fn settings(features: &[&str]) -> ScoreSettings {
    ScoreSettings {
        features: Some(
            features
                .iter()
                .map(|f| FieldPath::parse(f).unwrap())
                .collect(),
        ),
        ..ScoreSettings::default()
    }
}

fn record(key: &str, value: Value) -> Record {
    Record::new(Key::from_str_value(key), value, 0)
}

fn run(step: &mut Score<Logistic>, records: Vec<Record>) -> StepOutput {
    let mut out = StepOutput::default();
    Step::<NoSwap>::process(step, records, &mut out).unwrap();
    out
}

fn swap(step: &mut Score<Logistic>, change: ModelChange<Logistic>) -> Result<(), SwapError> {
    struct Change(ModelChange<Logistic>);
    impl ModelReplacement<Logistic> for Change {
        fn into_model_change(self) -> Result<ModelChange<Logistic>, SwapError> {
            Ok(self.0)
        }
    }
    Step::<Change>::swap(step, Change(change))
}

#[test]
fn each_record_gets_its_prediction_and_a_record_without_features_is_a_dead_letter() {
    let model = logistic(&[2.0, -1.0], 0.5, "m@1");
    let mut step = Score::new("steps[0].score", settings(&["a", "b.c"]), model).unwrap();
    let out = run(
        &mut step,
        vec![
            record("k", json!({"a": 1.0, "b": {"c": 3.0}, "id": 1})),
            record("k", json!({"a": 1.0, "id": 2})),
            record("k", json!({"a": 2.0, "b": {"c": 0.0}, "id": 3})),
        ],
    );
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.dead_letters.len(), 1);
    assert!(
        out.dead_letters[0]
            .reason
            .contains("the feature b.c is missing")
    );
    let p = p1(&[2.0, -1.0], 0.5, &[1.0, 3.0]);
    let first = &out.records[0].value;
    assert_eq!(first["prediction"], json!(0));
    assert_eq!(first["probabilities"], json!({"0": 1.0 - p, "1": p}));
    assert_eq!(first["score"], json!(p));
    assert_eq!(first["model_version"], json!("m@1"));
    assert_eq!(first["id"], json!(1), "the record's own fields stay");
    assert_eq!(out.records[1].value["prediction"], json!(1));
    let status = Step::<NoSwap>::model(&step).unwrap();
    assert_eq!(status.rows, 2);
    assert_eq!(
        status.classes,
        BTreeMap::from([("0".into(), 1), ("1".into(), 1)])
    );
}

#[test]
fn a_failing_batch_loses_only_the_rows_that_fail() {
    let mut model = logistic(&[1.0], 0.0, "m@1");
    model.fail_above = 100.0;
    let mut step = Score::new("s", settings(&["x"]), model).unwrap();
    let out = run(
        &mut step,
        [1.0, 500.0, 2.0]
            .map(|x| record("k", json!({"x": x})))
            .to_vec(),
    );
    let kept: Vec<f64> = out
        .records
        .iter()
        .map(|r| r.value["x"].as_f64().unwrap())
        .collect();
    assert_eq!(kept, vec![1.0, 2.0]);
    assert_eq!(out.dead_letters.len(), 1);
    assert!(out.dead_letters[0].reason.contains("too large"));
}

#[test]
fn a_shadow_scores_every_row_emits_nothing_and_reports_agreement() {
    let mut step = Score::new("s", settings(&["x"]), logistic(&[1.0], 0.0, "live")).unwrap();
    swap(
        &mut step,
        ModelChange::Shadow(logistic(&[1.0], 0.25, "shadow")),
    )
    .unwrap();
    let xs = [-3.0, -0.1, 0.1, 3.0];
    let out = run(&mut step, xs.map(|x| record("k", json!({"x": x}))).to_vec());
    assert!(
        out.records
            .iter()
            .all(|r| r.value["model_version"] == json!("live"))
    );
    let candidate = Step::<NoSwap>::model(&step).unwrap().candidate.unwrap();
    assert_eq!(candidate.rows, 4);
    // x = -0.1: live σ(-0.1) < 0.5, shadow σ(0.15) > 0.5 — the one disagreement.
    assert_eq!(candidate.agreement.same_class_rate, Some(0.75));
    let mean: f64 = xs
        .iter()
        .map(|&x| (p1(&[1.0], 0.0, &[x]) - p1(&[1.0], 0.25, &[x])).abs())
        .sum::<f64>()
        / 4.0;
    assert!((candidate.agreement.mean_abs_difference - mean).abs() < 1e-12);
    assert!(candidate.agreement.p99_abs_difference >= mean);

    swap(&mut step, ModelChange::Promote).unwrap();
    let out = run(&mut step, vec![record("k", json!({"x": 0.0}))]);
    assert_eq!(out.records[0].value["model_version"], json!("shadow"));
    assert!(
        swap(&mut step, ModelChange::Promote).is_err(),
        "no candidate left"
    );
}

#[test]
fn a_canary_scores_its_share_of_keys_and_marks_them() {
    let mut step = Score::new("s", settings(&["x"]), logistic(&[1.0], 0.0, "live")).unwrap();
    swap(
        &mut step,
        ModelChange::Canary {
            scorer: logistic(&[1.0], 0.0, "canary"),
            share: 0.5,
        },
    )
    .unwrap();
    let records: Vec<Record> = (0..200)
        .map(|i| record(&format!("key{i}"), json!({"x": 1.0})))
        .collect();
    let out = run(&mut step, records);
    let canaried: Vec<&Record> = out
        .records
        .iter()
        .filter(|r| r.value.get("canary") == Some(&json!(true)))
        .collect();
    assert!(
        canaried
            .iter()
            .all(|r| r.value["model_version"] == json!("canary"))
    );
    assert!(
        (60..140).contains(&canaried.len()),
        "{} of 200",
        canaried.len()
    );
    // The same key always goes the same way.
    let again = run(
        &mut step,
        vec![record(
            canaried[0].key.to_value().as_str().unwrap(),
            json!({"x": 2.0}),
        )],
    );
    assert_eq!(again.records[0].value["model_version"], json!("canary"));
    swap(&mut step, ModelChange::Dismiss).unwrap();
    let out = run(&mut step, vec![record("key1", json!({"x": 1.0}))]);
    assert_eq!(out.records[0].value["model_version"], json!("live"));
}

#[test]
fn a_canary_that_is_quarantined_is_dropped_and_the_live_model_scores_its_rows() {
    let mut step = Score::new("s", settings(&["x"]), logistic(&[1.0], 0.0, "live")).unwrap();
    let mut broken = logistic(&[1.0], 0.0, "canary");
    broken.quarantined = true;
    swap(
        &mut step,
        ModelChange::Canary {
            scorer: broken,
            share: 1.0,
        },
    )
    .unwrap();
    let out = run(
        &mut step,
        vec![
            record("a", json!({"x": 1.0})),
            record("b", json!({"x": 2.0})),
        ],
    );
    assert!(out.dead_letters.is_empty());
    assert!(
        out.records
            .iter()
            .all(|r| r.value["model_version"] == json!("live") && r.value.get("canary").is_none())
    );
    let status = Step::<NoSwap>::model(&step).unwrap();
    assert!(status.candidate.is_none());
    let dropped = status.candidate_dropped.unwrap();
    assert_eq!(
        dropped,
        "the candidate canary was dropped: quarantined after 5 faults"
    );
}

#[test]
fn a_model_that_does_not_fit_is_refused_and_the_step_keeps_its_own() {
    let mut step = Score::new("s", settings(&["x"]), logistic(&[1.0], 0.0, "live")).unwrap();
    let err = swap(
        &mut step,
        ModelChange::Live(logistic(&[1.0, 1.0], 0.0, "wide")),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the new model takes 2 features, the step's 1"
    );
    let err = swap(
        &mut step,
        ModelChange::Shadow(logistic(&[1.0, 1.0], 0.0, "wide")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("2 features"));
    assert_eq!(Step::<NoSwap>::model(&step).unwrap().version, "live");
    assert!(Score::new("s", settings(&["x", "y"]), logistic(&[1.0], 0.0, "m")).is_err());
}

#[test]
fn drift_is_written_after_each_full_window() {
    let mut model = logistic(&[1.0], 0.0, "m");
    Arc::make_mut(&mut model.info).metadata.push((
        "millrace.training".into(),
        r#"{"features": [{"name": "x", "edges": [0.0], "fractions": [0.5, 0.5]}]}"#.into(),
    ));
    let mut settings = settings(&["x"]);
    settings.outputs.drift = FieldPath::parse("drift").ok();
    settings.drift_rows = 2;
    let mut step = Score::new("s", settings, model).unwrap();
    let out = run(
        &mut step,
        [1.0, 2.0, 3.0]
            .map(|x| record("k", json!({"x": x})))
            .to_vec(),
    );
    let drift: Vec<f64> = out
        .records
        .iter()
        .map(|r| r.value["drift"].as_f64().unwrap())
        .collect();
    let full_shift = drift::psi(&[0.5, 0.5], &[0, 2]);
    assert_eq!(drift, vec![0.0, full_shift, full_shift]);
}

#[test]
fn a_model_is_checked_against_its_reference_set() {
    let mut model = logistic(&[1.0], 0.0, "m");
    let p = p1(&[1.0], 0.0, &[2.0]);
    Arc::make_mut(&mut model.info).metadata.push((
        "millrace.reference".into(),
        format!(
            r#"{{"inputs": [[2.0]], "probabilities": [[{}, {p}]], "labels": [1]}}"#,
            1.0 - p
        ),
    ));
    check_model(&mut model).unwrap();
    model.b = 0.1;
    let err = check_model(&mut model).unwrap_err();
    assert!(
        err.starts_with("it does not reproduce its reference set: for input 0"),
        "{err}"
    );
}

proptest! {
    /// However a stream is cut into bundles, every record is scored once or
    /// dead-lettered once, and the outputs are the same.
    #[test]
    fn bundling_does_not_change_what_is_scored(
        xs in proptest::collection::vec(proptest::option::of(-5.0f32..5.0), 0..60),
        cuts in proptest::collection::vec(1usize..8, 1..20),
    ) {
        let records: Vec<Record> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| record("k", match x {
                Some(x) => json!({"x": x, "i": i}),
                None => json!({"i": i}),
            }))
            .collect();
        let mut whole = Score::new("s", settings(&["x"]), logistic(&[1.5], -0.2, "m")).unwrap();
        let expected = run(&mut whole, records.clone());
        let mut cut = Score::new("s", settings(&["x"]), logistic(&[1.5], -0.2, "m")).unwrap();
        let (mut outputs, mut dead) = (Vec::new(), 0);
        let mut rest = records.as_slice();
        for size in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (bundle, tail) = rest.split_at((*size).min(rest.len()));
            rest = tail;
            let out = run(&mut cut, bundle.to_vec());
            outputs.extend(out.records);
            dead += out.dead_letters.len();
        }
        prop_assert_eq!(outputs.len() + dead, records.len());
        prop_assert_eq!(dead, xs.iter().filter(|x| x.is_none()).count());
        prop_assert_eq!(outputs, expected.records);
    }
}

#[test]
fn drift_counts_survive_a_checkpoint() {
    use crate::graph::{Pipeline, PipelineOutput};
    use crate::pipeline::Event;
    use crate::state::{MemoryBackend, StateBackend, StateBatch};

    let step = || {
        let mut model = logistic(&[1.0], 0.0, "m");
        Arc::make_mut(&mut model.info).metadata.push((
            "millrace.training".into(),
            r#"{"features": [{"name": "x", "edges": [0.0], "fractions": [0.5, 0.5]}]}"#.into(),
        ));
        let mut settings = settings(&["x"]);
        settings.outputs.drift = FieldPath::parse("drift").ok();
        settings.drift_rows = 4;
        let step: Box<dyn Step> = Box::new(Score::new("s", settings, model).unwrap());
        Pipeline::chain(vec![step])
    };
    let bundle =
        |xs: &[f64]| Event::Records(xs.iter().map(|&x| record("k", json!({"x": x}))).collect());
    let drift_of = |out: &mut PipelineOutput| -> Vec<f64> {
        out.sinks[0]
            .drain(..)
            .map(|r| r.value["drift"].as_f64().unwrap())
            .collect()
    };
    // Two rows, a checkpoint, then two more: the window of four completes after the
    // restore as it would have without it.
    let mut whole = step();
    let mut out = PipelineOutput::new(1);
    whole
        .handle(0, bundle(&[1.0, 2.0, 3.0, 4.0]), &mut out)
        .unwrap();
    let uninterrupted = drift_of(&mut out);

    let mut first = step();
    first.handle(0, bundle(&[1.0, 2.0]), &mut out).unwrap();
    let mut resumed = drift_of(&mut out);
    let mut batch = StateBatch::default();
    first.snapshot(&mut batch).unwrap();
    let mut backend = MemoryBackend::new();
    backend.write(batch).unwrap();
    let mut second = step();
    second.restore(&backend).unwrap();
    second.handle(0, bundle(&[3.0, 4.0]), &mut out).unwrap();
    resumed.extend(drift_of(&mut out));
    assert_eq!(resumed, uninterrupted);
    assert!(uninterrupted[3] > 0.0, "{uninterrupted:?}");
}
