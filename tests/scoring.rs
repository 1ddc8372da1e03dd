//! Scoring with trained models: scikit-learn models of every kind the first-party
//! evaluator runs, trained here on generated data (`tests/scoring/train.py`), are
//! scored by the real binary and compared with what scikit-learn itself predicts;
//! bad models and bad records get clear errors and dead letters.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{millrace, parse_lines, write};
use serde_json::Value;

/// The Python that trains the models: `MILLRACE_ML_PYTHON`, else the venv that
/// `scripts/setup` makes (guest-sdk/python/models/setup.sh).
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("MILLRACE_ML_PYTHON") {
        return PathBuf::from(python);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let python = Path::new(&home).join(".cache/millrace/ml-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup (it installs scikit-learn, skl2onnx and onnx)",
        python.display()
    );
    python
}

/// The trained models and their test data, made once per test run.
fn models() -> &'static Path {
    static MODELS: OnceLock<PathBuf> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("scoring-{}", std::process::id()));
        let status = std::process::Command::new(python())
            .arg(common::root().join("tests/scoring/train.py"))
            .arg(&dir)
            .arg("400")
            .status()
            .expect("python starts");
        assert!(status.success(), "tests/scoring/train.py failed");
        dir
    })
}

/// Runs a one-step pipeline that scores `input` with `model` (extra `score`
/// settings in `settings`); returns the exit status, outputs, dead letters and
/// stderr.
fn score(model: &Path, input: &Path, settings: &str) -> (i32, Vec<Value>, Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "name: scoring\nsource: {{ file: {{ path: {}, timestamp: ts }} }}\nsteps:\n  - score: {{ model: {}{settings} }}\nsink: {{ file: out.jsonl }}\ndead_letter: {{ file: dead.jsonl }}\n",
        input.display(),
        model.display()
    );
    let spec = write(dir.path(), "pipeline.yaml", &spec);
    let output = millrace()
        .args(["run", "--state", "none", "-q"])
        .arg(&spec)
        .output()
        .expect("millrace runs");
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .map(|text| parse_lines(&text))
            .unwrap_or_default()
    };
    (
        output.status.code().unwrap_or(-1),
        read("out.jsonl"),
        read("dead.jsonl"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `expected.jsonl` by record id.
fn expected(kind: &str) -> BTreeMap<u64, Value> {
    let text = std::fs::read_to_string(models().join(format!("{kind}.expected.jsonl"))).unwrap();
    parse_lines(&text)
        .into_iter()
        .map(|e| (e["id"].as_u64().unwrap(), e))
        .collect()
}

const CLASSIFIERS: [&str; 7] = [
    "logistic",
    "logistic-multiclass",
    "scaled-logistic",
    "forest",
    "forest-multiclass",
    "boosting",
    "boosting-multiclass",
];
const REGRESSORS: [&str; 3] = [
    "linear-regression",
    "forest-regression",
    "boosting-regression",
];

#[test]
fn classifiers_predict_what_scikit_learn_predicts() {
    for kind in CLASSIFIERS {
        let model = models().join(format!("{kind}.onnx"));
        let (status, out, dead, stderr) =
            score(&model, &models().join(format!("{kind}.input.jsonl")), "");
        assert_eq!(status, 0, "{kind}: {stderr}");
        assert!(dead.is_empty(), "{kind}: {dead:?}");
        let expected = expected(kind);
        assert_eq!(out.len(), expected.len(), "{kind}");
        for record in &out {
            let value = &record["value"];
            let want = &expected[&value["id"].as_u64().unwrap()];
            assert_eq!(value["prediction"], want["label"], "{kind}: {value}");
            let got: Vec<f64> = value["probabilities"]
                .as_object()
                .unwrap()
                .values()
                .map(|p| p.as_f64().unwrap())
                .collect();
            let wanted: Vec<f64> = want["probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .collect();
            assert_eq!(got.len(), wanted.len(), "{kind}");
            for (g, w) in got.iter().zip(&wanted) {
                assert!(
                    (g - w).abs() <= 1e-6,
                    "{kind}: {got:?} vs scikit-learn's {wanted:?}"
                );
            }
            let version = value["model_version"].as_str().unwrap();
            assert!(
                version.starts_with(&format!("{kind}@")) && version.len() == kind.len() + 13,
                "{version}"
            );
        }
    }
}

#[test]
fn regressors_predict_what_scikit_learn_predicts() {
    for kind in REGRESSORS {
        let model = models().join(format!("{kind}.onnx"));
        let (status, out, _, stderr) =
            score(&model, &models().join(format!("{kind}.input.jsonl")), "");
        assert_eq!(status, 0, "{kind}: {stderr}");
        let expected = expected(kind);
        assert_eq!(out.len(), expected.len(), "{kind}");
        for record in &out {
            let value = &record["value"];
            let want = expected[&value["id"].as_u64().unwrap()]["value"]
                .as_f64()
                .unwrap();
            let got = value["prediction"].as_f64().unwrap();
            // Relative to the value's size: the file holds 32-bit weights.
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{kind}: {got} vs {want}"
            );
            assert_eq!(value["score"], value["prediction"]);
            assert!(value.get("probabilities").is_none());
        }
    }
}

#[test]
fn bad_models_are_refused_with_what_is_wrong() {
    let input = models().join("logistic.input.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(models().join("forest.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &whole[..whole.len() / 3]).unwrap();
    let not_onnx = write(
        dir.path(),
        "notes.onnx",
        "these are not the weights you are looking for",
    );
    let cases: [(PathBuf, &str, &str); 5] = [
        (truncated, "", "the file is not an ONNX model"),
        (not_onnx, "", "the file is not an ONNX model"),
        (
            models().join("zipmap.onnx"),
            "",
            "ZipMap (skl2onnx's default for classifiers), which this evaluator does not run",
        ),
        (
            models().join("tampered.onnx"),
            "",
            "it does not reproduce its reference set: for input 3",
        ),
        (
            models().join("logistic.onnx"),
            ", features: [f0, f1, f2]",
            "features lists 3 fields, but the model takes 4 features",
        ),
    ];
    for (model, settings, message) in cases {
        let (status, out, _, stderr) = score(&model, &input, settings);
        assert_eq!(status, 2, "{}: {stderr}", model.display());
        assert!(out.is_empty());
        assert!(stderr.contains("steps[0].score"), "{stderr}");
        assert!(stderr.contains(message), "{}: {stderr}", model.display());
    }
    let (status, _, _, stderr) = score(&dir.path().join("absent.onnx"), &input, "");
    assert_eq!(status, 2);
    assert!(
        stderr.contains("steps[0].score.model: the model") && stderr.contains("cannot read it"),
        "{stderr}"
    );
}

#[test]
fn records_without_usable_features_are_dead_letters_and_the_rest_are_scored() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "input.jsonl",
        concat!(
            r#"{"id": 0, "ts": 0, "f0": 1.0, "f1": 2.0, "f2": 3.0, "f3": 4.0}"#,
            "\n",
            r#"{"id": 1, "ts": 1, "f0": 1.0, "f1": 2.0, "f3": 4.0}"#,
            "\n",
            r#"{"id": 2, "ts": 2, "f0": 1.0, "f1": "NaN", "f2": 3.0, "f3": 4.0}"#,
            "\n",
            r#"{"id": 3, "ts": 3, "f0": 1e39, "f1": 2.0, "f2": 3.0, "f3": 4.0}"#,
            "\n",
            r#"{"id": 4, "ts": 4, "f0": 1.0, "f1": 2.0, "f2": 3.0, "f3": null}"#,
            "\n",
            r#"{"id": 5, "ts": 5, "f0": 0.5, "f1": 2.0, "f2": 3.0, "f3": 4.0}"#,
            "\n",
        ),
    );
    let (status, out, dead, stderr) = score(&models().join("boosting.onnx"), &input, "");
    assert_eq!(status, 0, "{stderr}");
    let scored: Vec<u64> = out
        .iter()
        .map(|r| r["value"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(scored, vec![0, 5]);
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        vec![
            "the feature f2 is missing",
            "the feature f1 is the string \"NaN\", not a number",
            "the feature f0 is 1e+39, beyond what a 32-bit float holds",
            "the feature f3 is null, not a number",
        ],
        "{dead:?}"
    );
    assert!(
        dead.iter().all(|d| d["step"] == "steps[0].score"),
        "{dead:?}"
    );
}

#[test]
fn outputs_go_where_the_spec_says_and_drift_is_measured() {
    let input = models().join("forest.input.jsonl");
    let settings = ", output: { prediction: verdict.class, probabilities: null, score: p, version: null, drift: drift }, drift: { rows: 100 }";
    let (status, out, _, stderr) = score(&models().join("forest.onnx"), &input, settings);
    assert_eq!(status, 0, "{stderr}");
    let first = &out[0]["value"];
    assert!(first["verdict"]["class"].is_i64(), "{first}");
    assert!(first["p"].is_f64());
    assert!(first.get("probabilities").is_none() && first.get("model_version").is_none());
    // Before the first full window of 100 rows there is no drift to report; after
    // it, the test rows (drawn from the training distribution) drift a little.
    let drift: Vec<f64> = out
        .iter()
        .map(|r| r["value"]["drift"].as_f64().unwrap())
        .collect();
    assert!(drift[..99].iter().all(|&d| d == 0.0));
    assert!(
        drift[100..].iter().all(|&d| d > 0.0 && d < 0.25),
        "{:?}",
        &drift[100..110]
    );
}
