//! What a plugin costs in each language: the example plugins `parse-json` (a DoFn)
//! and `sum` (a CombineFn) of every SDK — Rust, Python, JavaScript, C and Go — run
//! by the same adapters on the same batches, measured in one run with Rust as the
//! baseline.
//!
//! ```sh
//! cargo bench -p millrace-wasm --bench languages [-- LANGUAGE…]
//! ```
//!
//! Per language: the component's size; compiling it (once, without the on-disk
//! cache); instantiating it from the pre-instantiated template, as the host does
//! after a fault; and the cost per element of one call on a batch of 1024: a
//! `pardo` call of `parse-json` (JSON text in, re-keyed records out) and an
//! `add-inputs` call of `sum` (1024 numbers into 64 accumulators). The summary
//! prints each figure as a ratio of Rust's.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use millrace_model::combine::{CombineFn, CombineInput};
use millrace_model::pipeline::{Step, StepOutput};
use millrace_model::record::{Key, Record, Value};
use millrace_wasm::combine::WasmCombine;
use millrace_wasm::dofn::{DoFnWorld, WasmDoFn};
use millrace_wasm::{Language, PluginSpec, Runtime, Sandbox, build_plugin};
use serde_json::json;

/// Elements per measured call.
const BATCH: usize = 1024;
/// Accumulators the `sum` call adds into.
const GROUPS: usize = 64;

/// The folder of the example plugin `name` of `language`.
fn example_folder(language: Language, name: &str) -> PathBuf {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    match language {
        Language::Rust => plugins.join(name),
        other => plugins.join(other.folder()).join(name),
    }
}

/// The example plugin `name` of `language`, built (or found in the build cache).
fn component(language: Language, name: &str) -> PathBuf {
    build_plugin(&example_folder(language, name))
        .unwrap_or_else(|err| panic!("the {} {name} plugin builds: {err}", language.name()))
}

/// Means per measurement id, for the summary.
static MEANS: Mutex<BTreeMap<String, Duration>> = Mutex::new(BTreeMap::new());

fn record(id: String, elapsed: Duration, iterations: u64) -> Duration {
    let mean = elapsed / u32::try_from(iterations.max(1)).unwrap_or(u32::MAX);
    MEANS.lock().unwrap().insert(id, mean);
    elapsed
}

fn mean(id: &str) -> Option<Duration> {
    MEANS.lock().unwrap().get(id).copied()
}

/// `parse-json`'s input: one score event per element, as JSON text.
fn parse_batch() -> Vec<Record> {
    (0..BATCH)
        .map(|i| {
            let text =
                json!({"user": format!("u{}", i % 100), "score": i % 10, "ts": i}).to_string();
            Record::new(Key::null(), Value::String(text), i as i64)
        })
        .collect()
}

fn parse_call(c: &mut Criterion, language: Language, wasm: &Path) {
    let mut spec = PluginSpec::new(wasm);
    spec.config = json!({"key": "user", "value": "score", "timestamp": "ts"});
    let mut step = WasmDoFn::step(&spec, "parse", &[]).expect("the parse plugin loads");
    let batch = parse_batch();
    let mut group = c.benchmark_group("parse-json");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::from_parameter(language.folder()), |b| {
        let mut out = StepOutput::default();
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let input = batch.clone();
                let started = Instant::now();
                step.process(input, &mut out).expect("no fault");
                elapsed += started.elapsed();
                assert_eq!(out.records.len(), BATCH, "every element parses");
                out.records.clear();
            }
            record(format!("parse/{}", language.folder()), elapsed, iterations)
        });
    });
    group.finish();
}

fn sum_call(c: &mut Criterion, language: Language, wasm: &Path) {
    let spec = PluginSpec::new(wasm);
    let mut sum = WasmCombine::new(&spec, "sum").expect("the sum plugin loads");
    let values: Vec<Value> = (0..BATCH).map(|i| json!(i % 10)).collect();
    let inputs: Vec<CombineInput<'_>> = values
        .iter()
        .map(|value| CombineInput {
            value,
            retraction: false,
        })
        .collect();
    let per_group = BATCH / GROUPS;
    let groups: Vec<Range<usize>> = (0..GROUPS)
        .map(|g| g * per_group..(g + 1) * per_group)
        .collect();
    let mut group = c.benchmark_group("sum");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::from_parameter(language.folder()), |b| {
        b.iter_custom(|iterations| {
            let mut accumulators: Vec<_> = (0..GROUPS).map(|_| sum.create_accumulator()).collect();
            let started = Instant::now();
            for _ in 0..iterations {
                let rejected = sum
                    .add_inputs(&mut accumulators, &groups, &inputs)
                    .expect("no fault");
                assert!(rejected.is_empty());
            }
            record(
                format!("sum/{}", language.folder()),
                started.elapsed(),
                iterations,
            )
        });
    });
    group.finish();
}

fn instantiation(c: &mut Criterion, language: Language, wasm: &Path) {
    let mut spec = PluginSpec::new(wasm);
    spec.config = json!({"key": "user"});
    let mut sandbox = Sandbox::<DoFnWorld>::new(&spec, "bench").expect("starts");
    let mut group = c.benchmark_group("instantiate");
    group.bench_function(BenchmarkId::from_parameter(language.folder()), |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                sandbox.restart().expect("restarts");
            }
            record(
                format!("instantiate/{}", language.folder()),
                started.elapsed(),
                iterations,
            )
        });
    });
    group.finish();
}

/// Compiling the component without the on-disk cache, once: large components (an
/// interpreter inside) take seconds, too long to repeat.
fn compile_once(language: Language, wasm: &Path) -> Duration {
    let engine = Runtime::shared()
        .expect("the runtime starts")
        .engine()
        .clone();
    let bytes = std::fs::read(wasm).expect("the component is readable");
    let started = Instant::now();
    wasmtime::component::Component::new(&engine, &bytes)
        .unwrap_or_else(|err| panic!("the {} component compiles: {err}", language.name()));
    started.elapsed()
}

fn summary(measured: &[(Language, u64, u64, Duration)]) {
    let per_element = |id: &str| mean(id).map(|d| d.as_secs_f64() * 1e9 / BATCH as f64);
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => format!("{:.2}x", value / base),
        _ => "-".to_owned(),
    };
    let shown =
        |value: Option<f64>, unit: &str| value.map_or("-".to_owned(), |v| format!("{v:.1} {unit}"));
    println!("\nSummary (this run; ratios against Rust)");
    println!(
        "| language | parse-json per element | ratio | sum per element | ratio | size (parse-json, sum) | compile (parse-json) | instantiate from the template | ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let base = |kind: &str| per_element(&format!("{kind}/rust"));
    let base_start = mean("instantiate/rust").map(|d| d.as_secs_f64() * 1e6);
    for (language, parse_size, sum_size, compile) in measured {
        let folder = language.folder();
        let parse = per_element(&format!("parse/{folder}"));
        let sum = per_element(&format!("sum/{folder}"));
        let start = mean(&format!("instantiate/{folder}")).map(|d| d.as_secs_f64() * 1e6);
        println!(
            "| {} | {} | {} | {} | {} | {} KB, {} KB | {:.2} s | {} | {} |",
            language.name(),
            shown(parse, "ns"),
            ratio(parse, base("parse")),
            shown(sum, "ns"),
            ratio(sum, base("sum")),
            parse_size / 1000,
            sum_size / 1000,
            compile.as_secs_f64(),
            shown(start, "µs"),
            ratio(start, base_start),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument names a language to run.
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let languages: Vec<Language> = Language::ALL
        .into_iter()
        .filter(|language| asked.is_empty() || asked.iter().any(|a| a == language.folder()))
        // A language whose SDK has not landed has no example plugins yet.
        .filter(|language| example_folder(*language, "sum").is_dir())
        .collect();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut measured = Vec::new();
    for language in languages {
        let parse = component(language, "parse-json");
        let sum = component(language, "sum");
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let compile = compile_once(language, &parse);
        parse_call(&mut c, language, &parse);
        sum_call(&mut c, language, &sum);
        instantiation(&mut c, language, &parse);
        measured.push((language, size(&parse), size(&sum), compile));
    }
    c.final_summary();
    summary(&measured);
}
