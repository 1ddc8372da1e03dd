//! What running user code as WebAssembly costs: the same Rust code (the example
//! plugins `parse-json` and `sum`) as components in the sandbox and compiled natively
//! into the host, measured in one run.
//!
//! ```sh
//! cargo bench -p millrace-wasm --bench plugins
//! ```
//!
//! - `pipeline`: parse and re-key JSON text, fixed 1-minute windows, sum — end to
//!   end through the engine, in elements per second;
//! - `call`: one `pardo` call on a batch of 1, 64 and 1024 elements, so that the
//!   fixed cost per call shows next to the cost per element;
//! - `instantiate`: compiling a component (cold), loading it from the on-disk compile
//!   cache, and instantiating it from the pre-instantiated template (warm).
//!
//! After Criterion's report, a summary prints each WebAssembly figure as a ratio of
//! its native twin measured in the same run (shared machines are too noisy for
//! absolute numbers to compare across runs).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use millrace_model::combine::{self, CombineError, CombineInput, Rejected};
use millrace_model::graph::{Pipeline, PipelineOutput};
use millrace_model::group::{GroupByKeyAndWindow, WindowingStrategy};
use millrace_model::keyed::{CallState, TimerId};
use millrace_model::pardo::EmittedRecord;
use millrace_model::pardo::{CallFailed, Called, ParDo};
use millrace_model::pipeline::{AssignWindows, Event, Step, StepOutput, Swap, SwapError};
use millrace_model::record::{Key, Record, Value};
use millrace_model::time::{MAX_TIMESTAMP, Timestamp};
use millrace_model::window::WindowFn;
use millrace_sdk::{Config, DoFn, Element, Emitter};
use millrace_wasm::combine::WasmCombine;
use millrace_wasm::dofn::{DoFnWorld, WasmDoFn};
use millrace_wasm::{PluginSpec, Prepared, Runtime, Sandbox, window_bounds};
use serde::Deserialize;
use serde_json::json;

/// Elements per pipeline run.
const ELEMENTS: usize = 100_000;
/// Elements per bundle from the source.
const BUNDLE: usize = 1024;
/// Distinct users (keys after re-keying).
const USERS: usize = 1000;

fn plugin_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins")
        .join(name)
}

fn parse_config() -> Value {
    json!({"key": "user", "value": "score", "timestamp": "ts"})
}

/// The built `.wasm` of an example plugin (cargo builds it if needed).
fn component(name: &str) -> PathBuf {
    let runtime = Runtime::shared().expect("the WebAssembly runtime starts");
    let (_, wasm, _) = runtime
        .component(&plugin_dir(name))
        .unwrap_or_else(|err| panic!("the {name} plugin builds: {err}"));
    wasm
}

// -- The same functions, compiled natively -------------------------------------------

/// An SDK [`DoFn`] run natively as the model's DoFn, with the host-side work the
/// WebAssembly adapter does too: building elements, reading outputs into keys and
/// values. Both run in the same `pardo` step ([`millrace_model::pardo::ParDo`]).
struct NativeDoFn<D>(D);

impl<D: DoFn<Input = Value> + Send> millrace_model::pardo::DoFn for NativeDoFn<D> {
    fn shown(&self) -> String {
        "native".to_owned()
    }

    fn process(&mut self, records: &[Record], state: CallState) -> Result<Called, CallFailed> {
        let mut emitter = Emitter::default();
        let mut emitted = Vec::with_capacity(records.len());
        let mut sources = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let (start, end) = window_bounds(&record.window);
            let window = millrace_sdk::Window { start, end };
            let element = Element::new(
                record.key.to_value(),
                record.value.clone(),
                record.timestamp,
                window,
            );
            let before = emitter.len();
            if let Err(err) = self.0.process(element, &mut emitter) {
                emitted.push((index, Err(err.to_string())));
            }
            sources.extend(std::iter::repeat_n(index, emitter.len() - before));
        }
        let (keys, values) = (emitter.keys(), emitter.values());
        let outputs = keys.iter().zip(values).zip(emitter.timestamps());
        for (source, ((key, value), &timestamp)) in sources.into_iter().zip(outputs) {
            emitted.push((
                source,
                Ok(EmittedRecord {
                    key: Key::from_value(key),
                    value,
                    timestamp: Some(timestamp),
                    output: 0,
                }),
            ));
        }
        Ok(Called { emitted, state })
    }

    fn on_timers(
        &mut self,
        _: &[(Timestamp, TimerId)],
        state: CallState,
    ) -> Result<Called, CallFailed> {
        Ok(Called {
            emitted: Vec::new(),
            state,
        })
    }
}

impl<D> Swap<Prepared> for NativeDoFn<D> {
    fn swap(&mut self, _: Prepared) -> Result<(), SwapError> {
        Err(SwapError::NotSwappable {
            step: "the native DoFn".to_owned(),
        })
    }
}

/// The host's combine interface over an SDK [`millrace_sdk::CombineFn`] run natively.
struct NativeCombine<C>(C);

/// Runs beside the WebAssembly steps, in pipelines that take [`Prepared`] plugins;
/// it has none to swap.
impl<C> Swap<Prepared> for NativeCombine<C> {
    fn swap(&mut self, _: Prepared) -> Result<(), SwapError> {
        Err(SwapError::NotSwappable {
            step: "the native combine".to_owned(),
        })
    }
}

/// A native accumulator; `None` stands for a fresh one.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct NativeAccumulator<A>(Option<A>);

impl<A> Default for NativeAccumulator<A> {
    fn default() -> Self {
        NativeAccumulator(None)
    }
}

impl<C> combine::CombineFn for NativeCombine<C>
where
    C: millrace_sdk::CombineFn + Send,
    C::Accumulator: Clone + std::fmt::Debug + Send,
{
    type Accumulator = NativeAccumulator<C::Accumulator>;

    fn name(&self) -> &str {
        "native combine"
    }

    fn inversion(&self) -> combine::Inversion {
        match C::INVERSION {
            millrace_sdk::Inversion::Subtract => combine::Inversion::Subtract,
            millrace_sdk::Inversion::Remove => combine::Inversion::Remove,
            millrace_sdk::Inversion::None => combine::Inversion::None,
        }
    }

    fn create_accumulator(&mut self) -> Self::Accumulator {
        NativeAccumulator(Some(self.0.create_accumulator()))
    }

    fn add_inputs(
        &mut self,
        accumulators: &mut [Self::Accumulator],
        groups: &[Range<usize>],
        inputs: &[CombineInput<'_>],
    ) -> Result<Vec<Rejected>, CombineError> {
        let mut rejected = Vec::new();
        for (acc, group) in accumulators.iter_mut().zip(groups) {
            let acc = acc.0.get_or_insert_with(|| self.0.create_accumulator());
            for index in group.clone() {
                let input = &inputs[index];
                let added = C::Input::deserialize(input.value)
                    .map_err(|err| millrace_sdk::Error::new(err.to_string()))
                    .and_then(|value| match input.retraction {
                        false => self.0.add_input(acc, value),
                        true => self.0.uncombine(acc, value),
                    });
                if let Err(err) = added {
                    rejected.push(Rejected {
                        input: index,
                        reason: err.to_string(),
                    });
                }
            }
        }
        Ok(rejected)
    }

    fn merge_accumulators(
        &mut self,
        accumulators: Vec<Self::Accumulator>,
    ) -> Result<Self::Accumulator, CombineError> {
        let mut merged = self.0.create_accumulator();
        for acc in accumulators.into_iter().filter_map(|acc| acc.0) {
            self.0.merge_accumulators(&mut merged, acc);
        }
        Ok(NativeAccumulator(Some(merged)))
    }

    fn extract_outputs(
        &mut self,
        accumulators: &[&Self::Accumulator],
    ) -> Result<Vec<Result<Value, String>>, CombineError> {
        Ok(accumulators
            .iter()
            .map(|acc| {
                let output = match &acc.0 {
                    Some(acc) => self.0.extract_output(acc),
                    None => self.0.extract_output(&self.0.create_accumulator()),
                };
                serde_json::to_value(output).map_err(|err| err.to_string())
            })
            .collect())
    }
}

// -- The pipeline ----------------------------------------------------------------------

/// JSON text as a message queue delivers it, in bundles, each followed by the
/// watermark (5 s behind the latest event time); then the end of input.
fn events() -> Vec<Event> {
    let mut events = Vec::new();
    let starts = (0..ELEMENTS).step_by(BUNDLE);
    for start in starts {
        let bundle: Vec<Record> = (start..(start + BUNDLE).min(ELEMENTS))
            .map(|i| {
                // 100 elements per second of event time, a little out of order.
                let ts = (i as i64) * 10 - (i as i64 % 7) * 100;
                let text = json!({"user": format!("u{}", i % USERS), "score": i % 100, "ts": ts})
                    .to_string();
                Record::new(Key::null(), Value::String(text), ts)
            })
            .collect();
        let latest = bundle.iter().map(|r| r.timestamp).max().unwrap_or(0);
        events.push(Event::Records(bundle));
        events.push(Event::Watermark(latest - 5_000));
    }
    events.push(Event::Watermark(MAX_TIMESTAMP));
    events
}

fn fixed_minutes() -> WindowingStrategy {
    WindowingStrategy {
        window_fn: WindowFn::Fixed {
            size: 60_000,
            offset: 0,
        },
        ..WindowingStrategy::default()
    }
}

fn native_pipeline() -> Pipeline<Prepared> {
    let config = Config::from_value(parse_config());
    let parse = parse_json::ParseJson::new(&config).expect("the config is valid");
    let sum = GroupByKeyAndWindow::new("sum", fixed_minutes(), NativeCombine(sum::Sum), false)
        .expect("the trigger is small");
    let steps: Vec<Box<dyn Step<Prepared>>> = vec![
        Box::new(ParDo::new("parse", NativeDoFn(parse))),
        Box::new(AssignWindows::new("window", fixed_minutes().window_fn)),
        Box::new(sum),
    ];
    Pipeline::chain(steps)
}

fn wasm_pipeline(parse: &Path, sum: &Path) -> Pipeline<Prepared> {
    let mut parse_spec = PluginSpec::new(parse);
    parse_spec.config = parse_config();
    let parse = WasmDoFn::step(&parse_spec, "parse", &[]).expect("the parse plugin loads");
    let combine = WasmCombine::new(&PluginSpec::new(sum), "sum").expect("the sum plugin loads");
    let sum = GroupByKeyAndWindow::new("sum", fixed_minutes(), combine, false)
        .expect("the trigger is small");
    let steps: Vec<Box<dyn Step<Prepared>>> = vec![
        Box::new(parse),
        Box::new(AssignWindows::new("window", fixed_minutes().window_fn)),
        Box::new(sum),
    ];
    Pipeline::chain(steps)
}

/// Runs `events` through `pipeline`; returns the panes' (key, window start, sum).
fn run(mut pipeline: Pipeline<Prepared>, events: Vec<Event>) -> Vec<(String, i64, Value)> {
    let mut out = PipelineOutput::new(1);
    let mut panes = Vec::new();
    for event in events {
        pipeline.handle(0, event, &mut out).expect("no step fails");
        panes.extend(out.sinks[0].drain(..).map(|r| {
            let (start, _) = window_bounds(&r.window);
            (r.key.as_json().to_owned(), start, r.value)
        }));
        out.dead_letters.clear();
    }
    panes
}

// -- Measuring -------------------------------------------------------------------------

/// Every measured routine's total time and iterations, by benchmark id, for the
/// ratios printed after Criterion's report.
static TOTALS: Mutex<BTreeMap<String, (Duration, u64)>> = Mutex::new(BTreeMap::new());

fn record(id: &str, elapsed: Duration, iterations: u64) -> Duration {
    let mut totals = TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = totals.entry(id.to_owned()).or_default();
    entry.0 += elapsed;
    entry.1 += iterations;
    elapsed
}

fn mean(id: &str) -> Option<Duration> {
    let totals = TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (total, iterations) = totals.get(id)?;
    (*iterations > 0).then(|| *total / (*iterations as u32).max(1))
}

fn pipeline(c: &mut Criterion, parse: &Path, sum: &Path) {
    let events = events();
    // Both pipelines compute the same thing.
    let mut native = run(native_pipeline(), events.clone());
    let mut wasm = run(wasm_pipeline(parse, sum), events.clone());
    native.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    wasm.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(native, wasm, "native and WebAssembly outputs differ");
    assert!(!native.is_empty());

    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ELEMENTS as u64));
    type Build<'a> = Box<dyn Fn() -> Pipeline<Prepared> + 'a>;
    let variants: [(&str, Build<'_>); 2] = [
        ("native", Box::new(native_pipeline)),
        ("wasm", Box::new(|| wasm_pipeline(parse, sum))),
    ];
    for (name, build) in &variants {
        group.bench_function(*name, |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    let (pipeline, events) = (build(), events.clone());
                    let started = Instant::now();
                    black_box(run(pipeline, events));
                    elapsed += started.elapsed();
                }
                record(&format!("pipeline/{name}"), elapsed, iterations)
            });
        });
    }
    group.finish();
}

fn calls(c: &mut Criterion, parse: &Path) {
    let mut group = c.benchmark_group("call");
    let mut parse_spec = PluginSpec::new(parse);
    parse_spec.config = parse_config();
    let config = Config::from_value(parse_config());
    let mut steps: [(&str, Box<dyn Step<Prepared>>); 2] = [
        (
            "native",
            Box::new(ParDo::new(
                "parse",
                NativeDoFn(parse_json::ParseJson::new(&config).expect("the config is valid")),
            )),
        ),
        (
            "wasm",
            Box::new(WasmDoFn::step(&parse_spec, "parse", &[]).expect("the parse plugin loads")),
        ),
    ];
    let Event::Records(records) = &events()[0] else {
        unreachable!("the first event is a bundle");
    };
    for size in [1usize, 64, 1024] {
        let batch: Vec<Record> = records[..size].to_vec();
        group.throughput(Throughput::Elements(size as u64));
        for (name, step) in &mut steps {
            group.bench_with_input(BenchmarkId::new(*name, size), &batch, |b, batch| {
                let mut out = StepOutput::default();
                b.iter_custom(|iterations| {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let input = batch.clone();
                        let started = Instant::now();
                        step.process(input, &mut out).expect("no fault");
                        elapsed += started.elapsed();
                        out.records.clear();
                    }
                    record(&format!("call/{name}/{size}"), elapsed, iterations)
                });
            });
        }
    }
    group.finish();
}

fn instantiation(c: &mut Criterion, parse: &Path) {
    let mut group = c.benchmark_group("instantiate");
    let mut spec = PluginSpec::new(parse);
    spec.config = parse_config();
    let bytes = std::fs::read(parse).expect("the component is readable");
    let engine = Runtime::shared()
        .expect("the runtime starts")
        .engine()
        .clone();

    group.sample_size(10);
    group.bench_function("cold: compile", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(wasmtime::component::Component::new(&engine, &bytes).expect("compiles"));
            }
            record("instantiate/cold", started.elapsed(), iterations)
        });
    });
    group.sample_size(30);
    group.bench_function("cached: load, link, start", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(Sandbox::<DoFnWorld>::new(&spec, "bench").expect("starts"));
            }
            record("instantiate/cached", started.elapsed(), iterations)
        });
    });
    group.sample_size(100);
    let mut sandbox = Sandbox::<DoFnWorld>::new(&spec, "bench").expect("starts");
    group.bench_function("warm: from the template", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                sandbox.restart().expect("restarts");
            }
            record("instantiate/warm", started.elapsed(), iterations)
        });
    });
    group.finish();
}

fn summary() {
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!("\nSummary (WebAssembly against the same code compiled natively, this run)");
    if let (Some(native), Some(wasm)) = (mean("pipeline/native"), mean("pipeline/wasm")) {
        let rate = |d: Duration| ELEMENTS as f64 / d.as_secs_f64();
        println!(
            "  pipeline (parse, fixed 1m, sum; {ELEMENTS} elements): native {:.0} elements/s, \
             wasm {:.0} elements/s: wasm takes {:.2}x the native time",
            rate(native),
            rate(wasm),
            wasm.as_secs_f64() / native.as_secs_f64()
        );
    }
    for size in [1, 64, 1024] {
        let (native, wasm) = (
            mean(&format!("call/native/{size}")),
            mean(&format!("call/wasm/{size}")),
        );
        if let (Some(native), Some(wasm)) = (native, wasm) {
            println!(
                "  pardo call, batch {size:>4}: native {:>9.2} µs, wasm {:>9.2} µs: \
                 {:.2}x, {:.2} µs more per call, {:.3} µs more per element",
                micros(native),
                micros(wasm),
                wasm.as_secs_f64() / native.as_secs_f64(),
                micros(wasm) - micros(native),
                (micros(wasm) - micros(native)) / f64::from(size)
            );
        }
    }
    for (id, what) in [
        ("instantiate/cold", "compile (no cache)"),
        (
            "instantiate/cached",
            "load from the compile cache, link, start",
        ),
        (
            "instantiate/warm",
            "instantiate from the template and start",
        ),
    ] {
        if let Some(time) = mean(id) {
            println!("  {what}: {:.1} µs", micros(time));
        }
    }
}

fn main() {
    let parse = component("parse-json");
    let sum = component("sum");
    let mut c = Criterion::default().configure_from_args();
    pipeline(&mut c, &parse, &sum);
    calls(&mut c, &parse);
    instantiation(&mut c, &parse);
    c.final_summary();
    summary();
}
