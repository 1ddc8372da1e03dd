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

/// Scores `kind`'s test rows with its model; each output value beside what
/// scikit-learn predicted for its row.
fn scored_rows(kind: &str) -> Vec<(Value, Value)> {
    let model = models().join(format!("{kind}.onnx"));
    let input = models().join(format!("{kind}.input.jsonl"));
    let (status, out, dead, stderr) = score(&model, &input, "");
    assert_eq!(status, 0, "{kind}: {stderr}");
    assert!(dead.is_empty(), "{kind}: {dead:?}");
    let expected = expected(kind);
    assert_eq!(out.len(), expected.len(), "{kind}");
    out.into_iter()
        .map(|record| {
            let value = record["value"].clone();
            let want = expected[&value["id"].as_u64().unwrap()].clone();
            (value, want)
        })
        .collect()
}

/// The numbers of a JSON list, or of an object's fields in key order.
fn numbers(value: &Value) -> Vec<f64> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(fields) => fields.values().collect(),
        other => panic!("{other} holds no numbers"),
    };
    items.iter().map(|n| n.as_f64().unwrap()).collect()
}

/// Checks that `value`'s probabilities are scikit-learn's `want` within 1e-6.
fn assert_probabilities(value: &Value, want: &Value, what: &str) {
    let (got, wanted) = (numbers(&value["probabilities"]), numbers(want));
    assert_eq!(got.len(), wanted.len(), "{what}: {value}");
    for (g, w) in got.iter().zip(&wanted) {
        assert!(
            (g - w).abs() <= 1e-6,
            "{what}: {got:?} vs scikit-learn's {wanted:?}"
        );
    }
}

#[test]
fn classifiers_predict_what_scikit_learn_predicts() {
    for kind in CLASSIFIERS {
        for (value, want) in scored_rows(kind) {
            assert_eq!(value["prediction"], want["label"], "{kind}: {value}");
            assert_probabilities(&value, &want["probabilities"], kind);
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
        for (value, want) in scored_rows(kind) {
            let want = want["value"].as_f64().unwrap();
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

// -- Served: models pushed, swapped, shadowed and canaried while records flow ------

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::served::{json_of, served_with_tenant};
use millrace::client::{Body, Client, ClientError};
use serde_json::json;

/// A served pipeline that scores what is sent to it with the model `risk`.
const SERVED_SPEC: &str = "name: risk
source: { ingest: { timestamp: ts } }
steps:
  - score: { model: risk }
sink: { file: out.jsonl }
checkpoint: { interval: 100ms }
";

/// Pushes `file` as a version of the model `name`; returns the version.
fn push_model(client: &Client, name: &str, file: &Path) -> String {
    let answer = client
        .call(
            "PUT",
            &format!("/v1/models/{name}"),
            Body::Bytes(std::fs::read(file).unwrap()),
        )
        .unwrap_or_else(|err| panic!("pushing {}: {err}", file.display()));
    json_of(&answer)["version"]["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn move_model(client: &Client, body: Value) -> Result<Value, ClientError> {
    client
        .call("POST", "/v1/pipelines/risk/models", Body::Json(body))
        .map(|answer| json_of(&answer))
}

/// The test rows, as lines to send: record `id` has the features of row
/// `id % rows` of the test data.
fn lines(ids: std::ops::Range<u64>) -> String {
    let text = std::fs::read_to_string(models().join("logistic.input.jsonl")).unwrap();
    let rows = parse_lines(&text);
    ids.map(|id| {
        let mut row = rows[(id % rows.len() as u64) as usize].clone();
        row["id"] = json!(id);
        row["ts"] = json!(id);
        format!("{row}\n")
    })
    .collect()
}

/// Sends records to `risk` until `stop`, 50 at a time (at most 100,000 batches).
fn feed(
    client: Client,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for batch in 0..100_000u64 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let body = lines(batch * 50..(batch + 1) * 50);
            client
                .call(
                    "POST",
                    "/v1/pipelines/risk/records",
                    Body::Bytes(body.into_bytes()),
                )
                .unwrap();
            sent.fetch_add(50, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// Drains the pipeline `name` and returns its final status and its output.
fn drain(client: &Client, name: &str) -> (Value, Vec<Value>) {
    let stop = format!("/v1/pipelines/{name}/stop");
    let status = json_of(
        &client
            .call("POST", &stop, Body::Json(json!({"drain": true})))
            .unwrap(),
    );
    assert_eq!(status["outcome"]["state"], "finished", "{status}");
    let output = format!("/v1/pipelines/{name}/output");
    let output = client.call("GET", &output, Body::Empty).unwrap();
    (status, parse_lines(&String::from_utf8(output).unwrap()))
}

/// Checks that `record` was scored as scikit-learn's model scores its row
/// (`expected`, that model's predictions by row).
fn assert_scored_by(record: &Value, expected: &BTreeMap<u64, Value>, kind: &str) {
    let value = &record["value"];
    let row = value["id"].as_u64().unwrap() % expected.len() as u64;
    assert_probabilities(value, &expected[&row]["probabilities"], kind);
}

#[test]
fn models_swapped_twenty_times_under_load_lose_and_duplicate_nothing() {
    let (served, token, client) = served_with_tenant("fran");
    let versions = [
        push_model(&client, "risk", &models().join("logistic.onnx")),
        push_model(&client, "risk", &models().join("boosting.onnx")),
    ];
    let kinds = ["logistic", "boosting"];
    // Deployed with the newest version; swap back to the first to begin with.
    common::served::deploy(&client, "risk", SERVED_SPEC);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let feeder = feed(served.client(Some(&token)), stop.clone(), sent.clone());
    for swap in 0..20 {
        let target = sent.load(Ordering::Relaxed) + 150;
        let deadline = Instant::now() + Duration::from_secs(10);
        while sent.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let next = swap % 2;
        let record = move_model(
            &client,
            json!({"step": "steps[0].score", "action": "swap", "model": format!("risk@{}", &versions[next][..10])}),
        )
        .unwrap();
        assert_eq!(record["to"], versions[next].as_str(), "{record}");
    }
    // A model of another shape is refused, and the step keeps its own.
    let wide = push_model(&client, "wide", &models().join("logistic-multiclass.onnx"));
    let refused = client.call(
        "POST",
        "/v1/pipelines/risk/models",
        Body::Json(
            json!({"step": "steps[0].score", "action": "swap", "model": format!("wide@{wide}")}),
        ),
    );
    match refused {
        Err(ClientError::Refused {
            status: 400,
            message,
        }) => {
            assert!(message.contains("the classes 0, 1, 2"), "{message}");
        }
        other => panic!("a three-class model cannot replace a two-class one: {other:?}"),
    }
    // A rollback goes back to the version before the last swap.
    let rolled = json_of(
        &client
            .call(
                "POST",
                "/v1/pipelines/risk/rollback",
                Body::Json(json!({"step": "steps[0].score"})),
            )
            .unwrap(),
    );
    assert_eq!(rolled["from"], versions[1].as_str(), "{rolled}");
    assert_eq!(rolled["to"], versions[0].as_str(), "{rolled}");
    assert_eq!(rolled["rollback"], true);
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    let (status, records) = drain(&client, "risk");

    // No loss, no duplicates.
    let mut ids: Vec<u64> = records
        .iter()
        .map(|r| r["value"]["id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, sent.load(Ordering::Relaxed));
    assert_eq!(records.len(), ids.len());
    // Every output was scored as scikit-learn's model of the version it names.
    let predicted = kinds.map(expected);
    let mut seen = [0; 2];
    for record in &records {
        let version = record["value"]["model_version"].as_str().unwrap();
        let which = versions
            .iter()
            .position(|v| version == format!("risk@{}", &v[..12]))
            .unwrap_or_else(|| panic!("{version} is neither version"));
        seen[which] += 1;
        assert_scored_by(record, &predicted[which], kinds[which]);
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    // Swaps happened in input order: the versions change 21 times at most along
    // the ids, once per swap.
    let mut by_id: Vec<(u64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["value"]["id"].as_u64().unwrap(),
                r["value"]["model_version"].as_str().unwrap(),
            )
        })
        .collect();
    by_id.sort_unstable();
    let changes = by_id.windows(2).filter(|w| w[0].1 != w[1].1).count();
    assert!(
        changes <= 21,
        "{changes} changes of version along the input"
    );
    let history = status["swaps"].as_array().unwrap();
    assert_eq!(history.len(), 21);
    assert_eq!(
        status["pins"]["steps[0].score.model"]["version"],
        versions[0].as_str()
    );
    let model = &status["live"]["steps"][0]["model"];
    assert_eq!(model["swaps"], 21, "{model}");
}

#[test]
fn a_shadow_is_compared_never_emitted_and_a_promoted_candidate_takes_over() {
    let (_served, _token, client) = served_with_tenant("gale");
    // A model the evaluator refuses is refused at push time, with why.
    for (bad, why) in [
        ("zipmap.onnx", "ZipMap"),
        ("tampered.onnx", "does not reproduce its reference set"),
    ] {
        let bytes = std::fs::read(models().join(bad)).unwrap();
        match client.call("PUT", "/v1/models/risk", Body::Bytes(bytes)) {
            Err(ClientError::Refused {
                status: 400,
                message,
            }) => {
                assert!(message.contains(why), "{message}");
            }
            other => panic!("{bad} should be refused: {other:?}"),
        }
    }
    let listed = json_of(&client.call("GET", "/v1/models", Body::Empty).unwrap());
    assert_eq!(listed, json!([]), "nothing refused is kept");
    let live = push_model(&client, "risk", &models().join("logistic.onnx"));
    common::served::deploy(&client, "risk", SERVED_SPEC);
    let candidate = push_model(&client, "risk", &models().join("boosting.onnx"));
    let shadow = move_model(
        &client,
        json!({"step": "steps[0].score", "action": "shadow", "model": format!("risk@{candidate}")}),
    )
    .unwrap();
    assert_eq!(shadow["candidate"]["role"], "shadow", "{shadow}");
    let send = |ids: std::ops::Range<u64>| {
        client
            .call(
                "POST",
                "/v1/pipelines/risk/records",
                Body::Bytes(lines(ids).into_bytes()),
            )
            .unwrap();
    };
    send(0..400);
    let status = wait_for_rows(&client, 400);
    let report = &status["live"]["steps"][0]["model"]["candidate"];
    assert_eq!(report["rows"], 400, "{report}");
    // Agreement as scikit-learn's own predictions of both models give it.
    let (live_expected, candidate_expected) = (expected("logistic"), expected("boosting"));
    let same = (0..400u64)
        .filter(|i| live_expected[i]["label"] == candidate_expected[i]["label"])
        .count();
    let mean_difference = (0..400u64)
        .map(|i| {
            let p = |e: &BTreeMap<u64, Value>| e[&i]["probabilities"][1].as_f64().unwrap();
            (p(&live_expected) - p(&candidate_expected)).abs()
        })
        .sum::<f64>()
        / 400.0;
    let agreement = &report["agreement"];
    assert!(
        (agreement["same_class_rate"].as_f64().unwrap() - same as f64 / 400.0).abs() < 1e-12,
        "{agreement}"
    );
    assert!(
        (agreement["mean_abs_difference"].as_f64().unwrap() - mean_difference).abs() < 1e-6,
        "{agreement}"
    );
    assert!(agreement["p99_abs_difference"].as_f64().unwrap() >= mean_difference);
    assert!(agreement["cost_ratio"].as_f64().unwrap() > 0.0);
    let metrics = String::from_utf8(client.call("GET", "/metrics", Body::Empty).unwrap()).unwrap();
    let ratio = metrics
        .lines()
        .find(|line| line.starts_with("millrace_score_candidate_same_class_ratio{"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(ratio, agreement["same_class_rate"].as_f64(), "{metrics}");

    // Promoted: the candidate scores from the next batch on.
    let promoted = move_model(
        &client,
        json!({"step": "steps[0].score", "action": "promote"}),
    )
    .unwrap();
    assert_eq!(promoted["from"], live.as_str());
    assert_eq!(promoted["to"], candidate.as_str());
    send(400..500);
    // A canary takes every key at share 1, marked; dismissed, the live model is back.
    move_model(
        &client,
        json!({"step": "steps[0].score", "action": "canary", "model": format!("risk@{live}"), "share": 1.0}),
    )
    .unwrap();
    send(500..600);
    wait_for_rows(&client, 600);
    move_model(
        &client,
        json!({"step": "steps[0].score", "action": "dismiss"}),
    )
    .unwrap();
    let nothing = client.call(
        "POST",
        "/v1/pipelines/risk/models",
        Body::Json(json!({"step": "steps[0].score", "action": "promote"})),
    );
    assert!(
        matches!(nothing, Err(ClientError::Refused { status: 409, .. })),
        "{nothing:?}"
    );
    send(600..700);
    let (status, records) = drain(&client, "risk");
    assert_eq!(records.len(), 700, "the shadow emitted nothing of its own");
    let (logistic, boosting) = (expected("logistic"), expected("boosting"));
    for record in &records {
        let value = &record["value"];
        let id = value["id"].as_u64().unwrap();
        let canary = value.get("canary") == Some(&json!(true));
        assert_eq!(canary, (500..600).contains(&id), "{value}");
        if (400..500).contains(&id) || id >= 600 {
            assert_scored_by(record, &boosting, "boosting");
        } else {
            assert_scored_by(record, &logistic, "logistic");
        }
    }
    // Each step's scoring shows in the metrics.
    let metrics = String::from_utf8(client.call("GET", "/metrics", Body::Empty).unwrap()).unwrap();
    for family in [
        "millrace_score_model_info{",
        "millrace_score_rows_total{",
        "millrace_score_batch_seconds_bucket{",
        "millrace_score_value_count{",
        "millrace_score_class_total{",
        "millrace_score_feature_psi{",
    ] {
        assert!(metrics.contains(family), "{family} missing from {metrics}");
    }
    // The score histogram counts each row the live model scored, once.
    let rows = status["live"]["steps"][0]["model"]["rows"]
        .as_u64()
        .unwrap();
    let counted = metrics
        .lines()
        .find(|line| line.starts_with("millrace_score_value_count{"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert_eq!(counted, Some(rows as f64), "{metrics}");
}

/// Waits until the score step has scored `rows` rows; returns the status.
fn wait_for_rows(client: &Client, rows: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = common::served::pipeline_status(client, "risk");
        let scored = status["live"]["steps"][0]["model"]["rows"]
            .as_u64()
            .unwrap_or(0);
        let candidate = status["live"]["steps"][0]["model"]["candidate"]["rows"]
            .as_u64()
            .unwrap_or(0);
        if scored + candidate >= rows || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_fraud_example_counts_what_scikit_learn_flags_and_fires_early_on_drift() {
    let (dir, example) = train_fraud_example();
    // The example's own spec, with its plugin folders named where they are.
    let spec = std::fs::read_to_string(example.join("pipeline.yaml"))
        .unwrap()
        .replace(
            "../../plugins/",
            &format!("{}/", common::root().join("plugins").display()),
        );
    let spec = write(dir.path(), "pipeline.yaml", &spec);
    let output = millrace()
        .args(["run", "--state", "none", "-q"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let panes =
        parse_lines(&std::fs::read_to_string(dir.path().join("out/flagged.jsonl")).unwrap());
    let on_time = on_time_counts(&panes);
    let expected: BTreeMap<(String, i64), i64> =
        parse_lines(&std::fs::read_to_string(dir.path().join("expected.jsonl")).unwrap())
            .iter()
            .map(|e| {
                let key = (
                    e["merchant"].as_str().unwrap().to_owned(),
                    e["window_start"].as_i64().unwrap(),
                );
                (key, e["flagged"].as_i64().unwrap())
            })
            .collect();
    assert_eq!(on_time, expected, "the final counts are scikit-learn's");
    // Early panes come only once the shifted half hour has drifted a window.
    let shift = 1_767_225_600_000 + 30 * 60_000;
    let early: Vec<i64> = panes
        .iter()
        .filter(|p| p["pane"]["timing"] == "EARLY")
        .map(|p| p["window"]["start"].as_i64().unwrap())
        .collect();
    assert!(!early.is_empty(), "drift fired no early pane");
    assert!(early.iter().all(|&start| start >= shift), "{early:?}");
}

#[test]
fn the_fraud_example_served_swaps_to_its_second_model_live() {
    let (dir, example) = train_fraud_example();
    let (_served, _token, client) = served_with_tenant("hana");
    common::served::push(
        &client,
        "parse-json",
        "dofn",
        common::served::component("parse-json"),
    );
    common::served::push(
        &client,
        "threshold",
        "trigger",
        common::served::component("threshold"),
    );
    let v1 = push_model(&client, "fraud", &dir.path().join("models/fraud-v1.onnx"));
    let spec = std::fs::read_to_string(example.join("served.yaml")).unwrap();
    common::served::deploy(&client, "fraud", &spec);
    let v2 = push_model(&client, "fraud", &dir.path().join("models/fraud-v2.onnx"));
    let lines: Vec<String> = std::fs::read_to_string(dir.path().join("transactions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let send = |part: &[String]| {
        client
            .call(
                "POST",
                "/v1/pipelines/fraud/records",
                Body::Bytes(part.concat().into_bytes()),
            )
            .unwrap();
    };
    let half = lines.len() / 2;
    send(&lines[..half]);
    let swapped = client
        .call(
            "POST",
            "/v1/pipelines/fraud/models",
            Body::Json(
                json!({"step": "steps[0].score", "action": "swap", "model": format!("fraud@{v2}")}),
            ),
        )
        .map(|a| json_of(&a))
        .unwrap();
    assert_eq!(swapped["from"], v1.as_str());
    let position = swapped["position"].as_u64().unwrap();
    send(&lines[half..]);
    let (_, panes) = drain(&client, "fraud");
    // Each transaction counted as the model that scored it flags it: fraud-v1
    // before the swap's input position, fraud-v2 from it on.
    let flags = parse_lines(&std::fs::read_to_string(dir.path().join("flags.jsonl")).unwrap());
    let transactions = parse_lines(&lines.concat());
    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for (transaction, flag) in transactions.iter().zip(&flags) {
        let model = if flag["id"].as_u64().unwrap() < position {
            "v1"
        } else {
            "v2"
        };
        if flag[model] == 1 {
            let ts = transaction["ts"].as_i64().unwrap();
            let key = (
                transaction["merchant"].as_str().unwrap().to_owned(),
                ts - ts % 60_000,
            );
            *expected.entry(key).or_default() += 1;
        }
    }
    let on_time = on_time_counts(&panes);
    assert_eq!(on_time, expected);
    assert!(position > 0 && position <= half as u64, "{swapped}");
}

/// Runs the fraud example's `train.py` into a folder of its own; returns the
/// folder and the example's.
fn train_fraud_example() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let example = common::root().join("examples/fraud");
    let status = std::process::Command::new(python())
        .arg(example.join("train.py"))
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python starts");
    assert!(status.success(), "examples/fraud/train.py failed");
    (dir, example)
}

/// The count of each on-time pane, by merchant and window start.
fn on_time_counts(panes: &[Value]) -> BTreeMap<(String, i64), i64> {
    panes
        .iter()
        .filter(|p| p["pane"]["timing"] == "ON_TIME")
        .map(|p| {
            let merchant = p["key"].as_str().unwrap().to_owned();
            let start = p["window"]["start"].as_i64().unwrap();
            ((merchant, start), p["value"].as_i64().unwrap())
        })
        .collect()
}

#[test]
fn a_scaffolded_evaluator_scores_with_its_own_model_format() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("my-scorer");
    let output = millrace()
        .args([
            "plugin",
            "new",
            folder.to_str().unwrap(),
            "--kind",
            "scorer",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The scaffold reads a JSON logistic regression.
    write(
        dir.path(),
        "model.json",
        r#"{"weights": [2.0, -1.0], "bias": 0.5}"#,
    );
    let input = write(
        dir.path(),
        "input.jsonl",
        "{\"ts\": 0, \"x\": 1.0, \"y\": 3.0}\n{\"ts\": 1, \"x\": 2.0, \"y\": 0.5}\n",
    );
    let settings = format!(
        ", features: [x, y], evaluator: {{ plugin: {} }}",
        folder.display()
    );
    let (status, out, _, stderr) = score(&dir.path().join("model.json"), &input, &settings);
    assert_eq!(status, 0, "{stderr}");
    for (record, (x, y)) in out.iter().zip([(1.0, 3.0), (2.0, 0.5)]) {
        let p = 1.0 / (1.0 + f64::exp(-(2.0 * x - y + 0.5)));
        let value = &record["value"];
        assert!(
            (value["score"].as_f64().unwrap() - p).abs() < 1e-12,
            "{value}"
        );
        assert_eq!(value["prediction"], json!(u8::from(p > 0.5)));
        assert!(
            value["model_version"]
                .as_str()
                .unwrap()
                .starts_with("model@")
        );
    }
    // Other languages have no scorer SDK yet, and say so.
    let output = millrace()
        .args([
            "plugin",
            "new",
            dir.path().join("py").to_str().unwrap(),
            "--kind",
            "scorer",
            "--lang",
            "python",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("use --lang rust"));
}

#[test]
fn score_settings_that_cannot_be_read_name_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("{ features: [a] }", "steps[0].score: missing \"model\""),
        (
            "{ model: m.onnx, features: [a..b] }",
            "steps[0].score.features[0]: \"a..b\" is not a field path",
        ),
        (
            "{ model: m.onnx, features: [] }",
            "steps[0].score.features: expected a list of at least one field path",
        ),
        (
            "{ model: m.onnx, output: { label: x } }",
            "steps[0].score.output",
        ),
        (
            "{ model: m.onnx, drift: { rows: 0 } }",
            "steps[0].score.drift.rows: expected a whole number from 1",
        ),
        (
            "{ model: m.onnx, buckets: [0.5, 0.1] }",
            "steps[0].score.buckets[1]: expected a number above the one before",
        ),
        (
            "{ model: m.onnx, evaluator: { config: {} } }",
            "steps[0].score.evaluator: missing \"plugin\"",
        ),
    ];
    for (score, message) in cases {
        let spec = format!(
            "name: s\nsource: {{ file: in.jsonl }}\nsteps:\n  - score: {score}\nsink: {{ file: out.jsonl }}\n"
        );
        let spec = write(dir.path(), "pipeline.yaml", &spec);
        let output = millrace().arg("validate").arg(&spec).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{score}: {stderr}");
        assert!(
            stderr.contains("pipeline.yaml") && stderr.contains(message),
            "{score}: {stderr}"
        );
    }
}

#[test]
fn a_served_score_step_runs_the_evaluator_its_spec_names() {
    let (_served, _token, client) = served_with_tenant("ines");
    // A component of another world is not an evaluator.
    let sum = common::served::component("sum");
    let refused = client.call("PUT", "/v1/plugins/onnx?kind=scorer", Body::Bytes(sum));
    match refused {
        Err(ClientError::Refused {
            status: 400,
            message,
        }) => {
            assert!(message.contains("millrace:plugin/scorer"), "{message}");
        }
        other => panic!("a CombineFn pushed as a scorer should be refused: {other:?}"),
    }
    let evaluator = common::served::component("onnx-scorer");
    let version = common::served::push(&client, "onnx", "scorer", evaluator);
    push_model(&client, "risk", &models().join("forest.onnx"));
    let spec = SERVED_SPEC.replace(
        "score: { model: risk }",
        "score: { model: risk, evaluator: { plugin: onnx, limits: { memory: 32MiB } } }",
    );
    common::served::deploy(&client, "risk", &spec);
    client
        .call(
            "POST",
            "/v1/pipelines/risk/records",
            Body::Bytes(lines(0..50).into_bytes()),
        )
        .unwrap();
    let (status, records) = drain(&client, "risk");
    assert_eq!(
        status["pins"]["steps[0].score.evaluator"]["version"],
        version.as_str(),
        "{status}"
    );
    assert_eq!(records.len(), 50);
    let forest = expected("forest");
    for record in &records {
        assert_scored_by(record, &forest, "forest");
    }
}
