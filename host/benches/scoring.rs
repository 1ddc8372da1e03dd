//! Scoring with trained models, measured in one run against scikit-learn:
//!
//! ```sh
//! cargo bench -p millrace --bench scoring
//! ```
//!
//! `bench/scoring/baseline.py` trains a logistic regression, a 100-tree random
//! forest and 100 rounds of gradient boosting (depth 6) on generated data, exports
//! them, and times scikit-learn on the same rows one row per call (the PyFlink-UDF
//! way) and in batches of 10,000. Then, for each model, this harness measures in
//! rows per CPU-second:
//!
//! - `wasm`: the first-party evaluator (`plugins/onnx-scorer`) in its sandbox,
//!   batches of 1024 rows across the boundary;
//! - `native`: the same evaluator compiled into this process;
//! - `pipeline`: end to end through `millrace run`'s engine — a JSON Lines file
//!   parsed, scored, windowed per key and minute and counted — next to the same
//!   pipeline without the score step;
//!
//! and the pause of a model swap: how long a score step is held switching its live
//! model between two batches (p50, p99, max of 100 swaps; the new model is loaded
//! and checked off the hot path first, and that load is timed too).
//!
//! `MILLRACE_ML_PYTHON` names the Python with scikit-learn (default: the venv
//! `scripts/setup` makes); `SCORING_ROWS` the rows per model (default 200,000).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cpu_time;
use millrace_model::pipeline::{Step, StepOutput, SwapError};
use millrace_model::record::{Key, Record};
use millrace_model::score::{ModelChange, ModelReplacement, Score, ScoreSettings, Scorer};
use millrace_runner::spec::score::default_evaluator;
use millrace_runner::{Backend, RunOptions, StateOptions};
use millrace_wasm::scorer::WasmScorer;
use millrace_wasm::{ModelFile, PluginSpec};
use serde_json::{Value, json};

const MODELS: [&str; 3] = [
    "logistic-regression",
    "random-forest-100",
    "gradient-boosting-100",
];
const FEATURES: usize = 8;
const BATCH: usize = 1024;

/// Rows per CPU-second of `run`, which handles `rows` rows; the best of three.
fn rows_per_cpu_second(rows: usize, mut run: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let start = cpu_time();
            run();
            rows as f64 / (cpu_time() - start).as_secs_f64().max(1e-9)
        })
        .fold(0.0, f64::max)
}

fn python() -> PathBuf {
    std::env::var_os("MILLRACE_ML_PYTHON").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/millrace/ml-venv/bin/python")
        },
        PathBuf::from,
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() {
    let rows: usize = std::env::var("SCORING_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let trained = std::process::Command::new(python())
        .arg(root().join("bench/scoring/baseline.py"))
        .arg(dir.path())
        .arg(rows.to_string())
        .output()
        .expect("python starts (run scripts/setup for scikit-learn)");
    assert!(
        trained.status.success(),
        "bench/scoring/baseline.py failed: {}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let sklearn: Value = serde_json::from_slice(&trained.stdout).unwrap();
    let features: Vec<f32> = std::fs::read(dir.path().join("rows.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let evaluator = default_evaluator();

    println!(
        "\nrows per CPU-second, {rows} rows of {FEATURES} features, batches of {BATCH} \
         (scikit-learn: one row per call, and batches of 10,000)\n"
    );
    println!(
        "| model | wasm | native | wasm / native | pipeline | pipeline without score | \
         scikit-learn per row | scikit-learn batched | wasm / per row | wasm / batched | load |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut loaded = Vec::new();
    for name in MODELS {
        let file = ModelFile::read(&dir.path().join(format!("{name}.onnx")), name).unwrap();
        let started = Instant::now();
        let mut wasm = WasmScorer::load(&evaluator, &file, "bench").unwrap();
        let load = started.elapsed();
        let wasm_rate = rows_per_cpu_second(rows, || {
            for batch in features.chunks(BATCH * FEATURES) {
                std::hint::black_box(wasm.score(batch, batch.len() / FEATURES).unwrap());
            }
        });
        let native = onnx_scorer::Model::load(&file.bytes).unwrap();
        let native_rate = rows_per_cpu_second(rows, || {
            for batch in features.chunks(BATCH * FEATURES) {
                let mut scores = millrace_sdk::Scores::default();
                native
                    .score(batch, batch.len() / FEATURES, &mut scores)
                    .unwrap();
                std::hint::black_box(scores);
            }
        });
        let (pipeline, bare) = pipeline_rates(dir.path(), name, &features);
        let per_row = sklearn[name]["per_row"].as_f64().unwrap();
        let batched = sklearn[name]["batched"].as_f64().unwrap();
        println!(
            "| {name} | {} | {} | {:.2}× | {} | {} | {} | {} | {:.0}× | {:.1}× | {:.1} ms |",
            human(wasm_rate),
            human(native_rate),
            wasm_rate / native_rate,
            human(pipeline),
            human(bare),
            human(per_row),
            human(batched),
            wasm_rate / per_row,
            wasm_rate / batched,
            load.as_secs_f64() * 1e3,
        );
        loaded.push(file);
    }
    swap_pauses(&evaluator, &loaded[0], &loaded[1], &features);
}

/// Events per CPU-second of `source → score → window 1m → count per key`, and of
/// the same pipeline without the score step, on the benchmark's rows as JSON Lines.
fn pipeline_rates(dir: &Path, model: &str, features: &[f32]) -> (f64, f64) {
    let events = dir.join("events.jsonl");
    if !events.exists() {
        let mut text = String::new();
        for (i, row) in features.chunks_exact(FEATURES).enumerate() {
            let mut event = json!({"ts": i * 10, "merchant": format!("m{}", i % 100)});
            for (j, x) in row.iter().enumerate() {
                event[format!("f{j}")] = json!(x);
            }
            text.push_str(&event.to_string());
            text.push('\n');
        }
        std::fs::write(&events, text).unwrap();
    }
    let rows = features.len() / FEATURES;
    let spec = |score: &str| {
        format!(
            "name: bench\nsource: {{ file: {{ path: {}, timestamp: ts, key: merchant, \
             bundle_size: {BATCH} }} }}\nsteps:\n{score}  - window: {{ fixed: {{ size: 1m }} }}\n  \
             - combine: count\nsink: {{ file: {} }}\n",
            events.display(),
            dir.join("out.jsonl").display()
        )
    };
    let scored = format!(
        "  - score: {{ model: {}, output: {{ probabilities: null, version: null }} }}\n",
        dir.join(format!("{model}.onnx")).display()
    );
    let rate = |text: String| {
        let path = dir.join("pipeline.yaml");
        std::fs::write(&path, &text).unwrap();
        let spec = millrace_runner::spec::load(&path).unwrap();
        let options = RunOptions {
            progress: false,
            state: StateOptions {
                dir: dir.join("state"),
                backend: Backend::None,
                from_checkpoint: None,
                fresh: true,
            },
            ..RunOptions::default()
        };
        rows_per_cpu_second(rows, || {
            millrace_runner::run(&spec, &options).unwrap();
        })
    };
    (rate(spec(&scored)), rate(spec("")))
}

/// A model change, as a pipeline's replacement.
struct Change(ModelChange<WasmScorer>);

impl ModelReplacement<WasmScorer> for Change {
    fn into_model_change(self) -> Result<ModelChange<WasmScorer>, SwapError> {
        Ok(self.0)
    }
}

/// How long a score step is held by swapping its live model: 100 swaps between
/// two models, each loaded (and checked) before it is swapped in, with a batch
/// scored after each.
fn swap_pauses(evaluator: &PluginSpec, first: &ModelFile, second: &ModelFile, features: &[f32]) {
    let live = WasmScorer::load(evaluator, first, "bench").unwrap();
    let mut step = Score::new("bench", ScoreSettings::default(), live).unwrap();
    let records: Vec<Record> = features
        .chunks_exact(FEATURES)
        .take(BATCH)
        .enumerate()
        .map(|(i, row)| {
            let mut value = json!({});
            for (j, x) in row.iter().enumerate() {
                value[format!("f{j}")] = json!(x);
            }
            Record::new(Key::from_str_value(&format!("k{i}")), value, i as i64)
        })
        .collect();
    let (mut pauses, mut loads) = (Vec::new(), Vec::new());
    for swap in 0..100 {
        let started = Instant::now();
        let model = if swap % 2 == 0 { second } else { first };
        let next = WasmScorer::load(evaluator, model, "bench").unwrap();
        loads.push(started.elapsed());
        let started = Instant::now();
        Step::<Change>::swap(&mut step, Change(ModelChange::Live(next))).unwrap();
        pauses.push(started.elapsed());
        let mut out = StepOutput::default();
        Step::<Change>::process(&mut step, records.clone(), &mut out).unwrap();
    }
    pauses.sort();
    loads.sort();
    let at =
        |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "\nmodel swap, 100 swaps between {} and {}: pause p50 {:.3} ms, p99 {:.3} ms, max \
         {:.3} ms; loading and checking the new model first (off the hot path): p50 {:.1} ms, \
         p99 {:.1} ms",
        first.shown,
        second.shown,
        at(&pauses, 0.5),
        at(&pauses, 0.99),
        at(&pauses, 1.0),
        at(&loads, 0.5),
        at(&loads, 0.99),
    );
}

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.0} k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}
