//! `millrace bench`: throughput and memory of the engine on generated data.
//!
//! Each scenario runs in its own child process so that its peak memory is its own.
//! Throughput is reported next to baselines measured in the same run — the generator
//! alone, and a hand-written fixed-window sum over the same records — because
//! absolute numbers on a shared machine mean little. The windowed scenarios also run
//! with checkpoints (to RocksDB and to the in-memory backend), reported as a ratio
//! of the same scenario without. `--scenario checkpoints` measures checkpoint time,
//! size and recovery as state grows; `--scenario swap` and `--scenario idle` measure
//! the server ([`serve`]); `--scenario nexmark` runs the Nexmark queries
//! ([`nexmark`]).

mod nexmark;
mod serve;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use millrace_model::combine::Builtin;
use millrace_model::graph::{Pipeline, PipelineOutput};
use millrace_model::group::{GroupByKeyAndWindow, WindowingStrategy};
use millrace_model::pane::AccumulationMode;
use millrace_model::pipeline::{AssignWindows, Event, Step};
use millrace_model::record::{Key, Record};
use millrace_model::time::MAX_TIMESTAMP;
use millrace_model::trigger::Trigger;
use millrace_model::window::WindowFn;
use millrace_runner::sink::CountingSink;
use millrace_runner::sink::Sink;
use millrace_runner::sink::dead_letters::DeadLetterWriter;
use millrace_runner::source::{Generator, Poll, Source};
use millrace_runner::source_set::SourceSet;
use millrace_runner::spec::{CheckpointSpec, GeneratorSpec};
use millrace_runner::{Backend, Counters, Durable, Outputs, StateOptions};

/// Options of `millrace bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Records per scenario.
    #[arg(long, default_value_t = 10_000_000)]
    elements: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Records per second of event time.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// Print results as JSON lines.
    #[arg(long)]
    json: bool,
    /// Where scenarios keep state (none: no checkpoints).
    #[arg(
        long = "state",
        value_enum,
        default_value = "none",
        value_name = "BACKEND"
    )]
    backend: Backend,
    /// Milliseconds between checkpoints, when there is state.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    checkpoint_every: u64,
    /// Swaps made by `--scenario swap`.
    #[arg(long, default_value_t = 100)]
    swaps: usize,
    /// Pipelines deployed by `--scenario idle`.
    #[arg(long, default_value_t = 1000)]
    pipelines: usize,
    /// The example plugins' folder, for `--scenario swap|idle`.
    #[arg(long, value_name = "DIR", default_value = "plugins")]
    plugins: PathBuf,
    /// The Nexmark query specs' folder, for `--scenario nexmark` (its `q*.yaml`).
    #[arg(long, value_name = "DIR", default_value = "examples/nexmark")]
    queries: PathBuf,
}

/// A benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Scenario {
    /// Every scenario, each in a child process.
    All,
    /// The generator alone: the floor under every other number.
    Generate,
    /// Hand-written fixed 1-minute sums over the same records.
    Baseline,
    /// Fixed 1-minute windows, sum, default trigger.
    Fixed,
    /// 5-minute sessions, early firings every 1,000 elements, retracting, sum.
    Sessions,
    /// Checkpoint time and size, and recovery time, for 10^4, 10^5 and 10^6 live
    /// windows (RocksDB).
    Checkpoints,
    /// The server: how long a hot swap pauses a pipeline under load (not in `all`).
    Swap,
    /// The server: resident memory of idle pipelines (not in `all`).
    Idle,
    /// Each Nexmark query of `--queries` over `--elements` events, without state and
    /// with RocksDB checkpoints (not in `all`).
    Nexmark,
}

#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    scenario: Scenario,
    state: String,
    elements: u64,
    seconds: f64,
    records_out: u64,
    peak_rss_bytes: u64,
    checkpoints: u64,
    checkpoint_seconds: f64,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.elements as f64 / self.seconds
    }
}

/// Runs `millrace bench`.
pub fn main(args: BenchArgs) -> ExitCode {
    match args.scenario {
        Scenario::Checkpoints => return checkpoint_growth(&args),
        Scenario::Swap => return report(serve::swap(&args.plugins, args.swaps), args.json),
        Scenario::Idle => return report(serve::idle(&args.plugins, args.pipelines), args.json),
        Scenario::Nexmark => return nexmark::run(&args),
        _ => {}
    }
    if args.scenario != Scenario::All {
        let measurement = measure(args.scenario, &args);
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&measurement).unwrap_or_default()
            );
        } else {
            print_table(&[measurement]);
        }
        return ExitCode::SUCCESS;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: cannot find the millrace executable: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "millrace bench: {} records over {} keys at {} records per event-second, one process per scenario",
        args.elements, args.keys, args.rate
    );
    let mut results = Vec::new();
    for (scenario, backend) in [
        (Scenario::Generate, Backend::None),
        (Scenario::Baseline, Backend::None),
        (Scenario::Fixed, Backend::None),
        (Scenario::Fixed, Backend::Memory),
        (Scenario::Fixed, Backend::Rocksdb),
        (Scenario::Sessions, Backend::None),
        (Scenario::Sessions, Backend::Rocksdb),
    ] {
        let name = value_name(scenario);
        let output = Command::new(&exe)
            .args(["bench", "--json", "--scenario", &name])
            .args(["--state", &value_name(backend)])
            .args(["--checkpoint-every", &args.checkpoint_every.to_string()])
            .args(["--elements", &args.elements.to_string()])
            .args(["--keys", &args.keys.to_string()])
            .args(["--rate", &args.rate.to_string()])
            .output();
        match output
            .ok()
            .and_then(|out| serde_json::from_slice::<Measurement>(&out.stdout).ok())
        {
            Some(measurement) => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string(&measurement).unwrap_or_default()
                    );
                }
                results.push(measurement);
            }
            None => {
                eprintln!("error: the {name} scenario failed");
                return ExitCode::FAILURE;
            }
        }
    }
    if !args.json {
        print_table(&results);
    }
    ExitCode::SUCCESS
}

/// Prints a server scenario's measurement.
fn report(measured: anyhow::Result<serve::ServeMeasurement>, json: bool) -> ExitCode {
    match measured {
        Ok(measurement) if json => {
            println!(
                "{}",
                serde_json::to_string(&measurement).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok(measurement) => {
            println!("{measurement}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

fn print_table(results: &[Measurement]) {
    let baseline = results
        .iter()
        .find(|m| m.scenario == Scenario::Baseline)
        .map(Measurement::per_second);
    println!(
        "{:<10} {:<8} {:>12} {:>9} {:>14} {:>12} {:>12} {:>12} {:>12}",
        "scenario",
        "state",
        "records",
        "seconds",
        "records/s",
        "vs baseline",
        "vs no state",
        "checkpoints",
        "peak RSS"
    );
    for m in results {
        let stateless = results
            .iter()
            .find(|other| other.scenario == m.scenario && other.state == "none")
            .map(Measurement::per_second);
        let ratio = |base: Option<f64>| {
            base.map_or_else(|| "-".to_owned(), |b| format!("{:.2}x", m.per_second() / b))
        };
        let checkpoints = if m.checkpoints == 0 {
            "-".to_owned()
        } else {
            format!(
                "{} × {:.0}ms",
                m.checkpoints,
                1e3 * m.checkpoint_seconds / m.checkpoints as f64
            )
        };
        println!(
            "{:<10} {:<8} {:>12} {:>9.2} {:>14.0} {:>12} {:>12} {:>12} {:>9.1} MB",
            format!("{:?}", m.scenario).to_lowercase(),
            m.state,
            m.elements,
            m.seconds,
            m.per_second(),
            ratio(baseline),
            ratio(stateless),
            checkpoints,
            m.peak_rss_bytes as f64 / 1e6
        );
    }
}

/// The generator as a pipeline's one source.
fn sources(args: &BenchArgs) -> SourceSet {
    SourceSet::new(vec![Box::new(generator(args))])
}

fn generator(args: &BenchArgs) -> Generator {
    Generator::new(&GeneratorSpec {
        elements: Some(args.elements),
        keys: args.keys,
        rate: args.rate,
        out_of_orderness: 5_000,
        start: 0,
        seed: 42,
        bundle_size: 1000,
    })
}

const MINUTE: i64 = 60_000;

fn measure(scenario: Scenario, args: &BenchArgs) -> Measurement {
    let started = Instant::now();
    let mut checkpoints = Checkpointing::new(scenario, args);
    let records_out = match scenario {
        Scenario::All
        | Scenario::Checkpoints
        | Scenario::Swap
        | Scenario::Idle
        | Scenario::Nexmark => 0,
        Scenario::Generate => drive(args, None, &mut checkpoints),
        Scenario::Baseline => baseline(args),
        Scenario::Fixed => {
            let strategy = WindowingStrategy {
                window_fn: WindowFn::Fixed {
                    size: MINUTE,
                    offset: 0,
                },
                ..WindowingStrategy::default()
            };
            drive(args, Some(pipeline(strategy)), &mut checkpoints)
        }
        Scenario::Sessions => {
            let strategy = WindowingStrategy {
                window_fn: WindowFn::Sessions { gap: 5 * MINUTE },
                trigger: Trigger::AfterWatermark {
                    early: Some(Box::new(Trigger::AfterCount(1000))),
                    late: None,
                },
                accumulation: AccumulationMode::Retracting,
                ..WindowingStrategy::default()
            };
            drive(args, Some(pipeline(strategy)), &mut checkpoints)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    Measurement {
        scenario,
        state: value_name(args.backend),
        elements: args.elements,
        seconds,
        records_out,
        peak_rss_bytes: peak_rss_bytes(),
        checkpoints: checkpoints.taken,
        checkpoint_seconds: checkpoints.time.as_secs_f64(),
    }
}

/// A folder for one scenario under the temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(scenario: &str) -> Scratch {
        Scratch(
            std::env::temp_dir().join(format!("millrace-bench-{}-{scenario}", std::process::id())),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A scenario's state directory and checkpoints, if it has state.
struct Checkpointing {
    durable: Option<Durable>,
    /// Held for the run; removed when the scenario ends.
    _dir: Scratch,
    sinks: Vec<Box<dyn Sink>>,
    dead_letters: DeadLetterWriter,
    taken: u64,
    time: Duration,
}

impl Checkpointing {
    fn new(scenario: Scenario, args: &BenchArgs) -> Self {
        let dir = Scratch::new(&value_name(scenario));
        let durable = (args.backend != Backend::None).then(|| {
            let options = StateOptions {
                dir: dir.0.clone(),
                backend: args.backend,
                from_checkpoint: None,
                fresh: true,
            };
            let settings = CheckpointSpec {
                interval: args.checkpoint_every as i64,
                records: None,
                keep: 2,
                store: None,
            };
            Durable::open("bench", &options, serde_json::Value::Null, &settings)
                .expect("the benchmark's state directory opens")
        });
        Checkpointing {
            durable,
            _dir: dir,
            sinks: vec![Box::new(CountingSink::default())],
            dead_letters: DeadLetterWriter::stderr(),
            taken: 0,
            time: Duration::ZERO,
        }
    }

    /// Takes a checkpoint if one is due (or `now`).
    fn maybe(&mut self, pipeline: &mut Pipeline, source: &mut SourceSet, now: bool) {
        let Some(durable) = &mut self.durable else {
            return;
        };
        if !now && !durable.due(source.records_read()) {
            return;
        }
        let started = Instant::now();
        durable
            .checkpoint(
                pipeline,
                source,
                Outputs {
                    sinks: &mut self.sinks,
                    transaction: None,
                    dead_letters: &mut self.dead_letters,
                },
                Counters::default(),
                now,
            )
            .expect("the benchmark's checkpoint succeeds");
        self.taken += 1;
        self.time += started.elapsed();
    }
}

impl Drop for Checkpointing {
    fn drop(&mut self) {
        // Closes the database before the scratch folder goes.
        self.durable = None;
    }
}

fn pipeline(strategy: WindowingStrategy) -> Pipeline {
    let assign = AssignWindows::new("steps[0].window", strategy.window_fn.clone());
    let group =
        GroupByKeyAndWindow::new("steps[1].combine", strategy, Builtin::Sum.function(), false)
            .expect("the benchmark trigger is small");
    let steps: Vec<Box<dyn Step>> = vec![Box::new(assign), Box::new(group)];
    Pipeline::chain(steps)
}

/// Runs the generator through `pipeline` (or nowhere) and counts output records.
fn drive(args: &BenchArgs, mut pipeline: Option<Pipeline>, checkpoints: &mut Checkpointing) -> u64 {
    let mut source = sources(args);
    let (mut events, mut dead) = (Vec::new(), Vec::new());
    let mut out = PipelineOutput::new(1);
    let mut records_out = 0u64;
    loop {
        let status = source
            .poll(&mut events, &mut dead, None)
            .unwrap_or(Poll::End);
        for (_, event) in events.drain(..) {
            if let Some(pipeline) = &mut pipeline {
                pipeline
                    .handle(0, event, &mut out)
                    .expect("built-in steps do not fail");
                records_out += out.sinks[0].len() as u64;
                out.sinks[0].clear();
            }
        }
        if status == Poll::End {
            break;
        }
        if let Some(pipeline) = &mut pipeline {
            checkpoints.maybe(pipeline, &mut source, false);
        }
    }
    if let Some(pipeline) = &mut pipeline {
        pipeline
            .handle(0, Event::Watermark(MAX_TIMESTAMP), &mut out)
            .expect("built-in steps do not fail");
        records_out += out.sinks[0].len() as u64;
        checkpoints.maybe(pipeline, &mut source, true);
    }
    records_out
}

/// Checkpoint time and size, and recovery time, as live state grows.
fn checkpoint_growth(args: &BenchArgs) -> ExitCode {
    println!(
        "{:>10} {:>12} {:>12} {:>16} {:>14} {:>12}",
        "windows", "first (ms)", "size", "1% touched (ms)", "its new bytes", "recover (ms)"
    );
    for windows in [10_000u64, 100_000, 1_000_000] {
        let scratch = Scratch::new("growth");
        let options = StateOptions {
            dir: scratch.0.clone(),
            backend: Backend::Rocksdb,
            from_checkpoint: None,
            fresh: true,
        };
        let strategy = WindowingStrategy::default();
        let mut pipeline = pipeline(strategy.clone());
        let mut source = sources(args);
        let mut out = PipelineOutput::new(1);
        // Checkpoints are taken explicitly here, never on a timer.
        let settings = CheckpointSpec {
            interval: i64::MAX,
            records: None,
            keep: 3,
            store: None,
        };
        let open = |options: &StateOptions| {
            Durable::open("bench", options, serde_json::Value::Null, &settings)
                .expect("the benchmark's state directory opens")
        };
        let mut durable = open(&options);
        // One element per key in the global window: `windows` live windows.
        let keys: Vec<Key> = (0..windows)
            .map(|i| Key::from_str_value(&format!("key-{i}")))
            .collect();
        for chunk in keys.chunks(10_000) {
            let records = chunk
                .iter()
                .map(|key| Record::new(key.clone(), serde_json::Value::from(1), 0))
                .collect();
            pipeline
                .handle(0, Event::Records(records), &mut out)
                .expect("built-in steps do not fail");
        }
        let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(CountingSink::default())];
        let mut dead = DeadLetterWriter::stderr();
        let mut checkpoint = |pipeline: &mut Pipeline, durable: &mut Durable| {
            let started = Instant::now();
            let manifest = durable
                .checkpoint(
                    pipeline,
                    &mut source,
                    Outputs {
                        sinks: &mut sinks,
                        transaction: None,
                        dead_letters: &mut dead,
                    },
                    Counters::default(),
                    false,
                )
                .expect("the benchmark's checkpoint succeeds")
                .expect("the state changed since the last checkpoint");
            (started.elapsed(), manifest)
        };
        let (first, manifest) = checkpoint(&mut pipeline, &mut durable);
        let touched: Vec<Record> = keys
            .iter()
            .step_by(100)
            .map(|key| Record::new(key.clone(), serde_json::Value::from(1), 0))
            .collect();
        pipeline
            .handle(0, Event::Records(touched), &mut out)
            .expect("built-in steps do not fail");
        let (second, next) = checkpoint(&mut pipeline, &mut durable);
        let new_bytes: u64 = next
            .files
            .iter()
            .filter(|file| !manifest.files.contains(file))
            .map(|(_, size)| size)
            .sum();
        drop(durable);
        let resume = StateOptions {
            fresh: false,
            ..options
        };
        let started = Instant::now();
        let mut durable = open(&resume);
        let mut restored = crate::bench::pipeline(strategy);
        let mut source = sources(args);
        durable
            .resume(&resume, &mut restored, &mut source, None)
            .expect("the checkpoint restores");
        let recover = started.elapsed();
        drop(durable);
        drop(scratch);
        println!(
            "{:>10} {:>12.1} {:>12} {:>16.1} {:>14} {:>12.1}",
            windows,
            first.as_secs_f64() * 1e3,
            millrace_wasm::format_bytes(manifest.bytes()),
            second.as_secs_f64() * 1e3,
            millrace_wasm::format_bytes(new_bytes),
            recover.as_secs_f64() * 1e3
        );
    }
    ExitCode::SUCCESS
}

/// The same fixed-window sum written directly: a hash map of (key, window start),
/// flushed as the watermark passes window ends.
fn baseline(args: &BenchArgs) -> u64 {
    let mut source = generator(args);
    let (mut events, mut dead) = (Vec::new(), Vec::new());
    let mut sums: HashMap<(Key, i64), i64, foldhash::fast::RandomState> = HashMap::default();
    let mut emitted = 0u64;
    let mut flush = |sums: &mut HashMap<(Key, i64), i64, _>, watermark: i64| {
        let before = sums.len();
        sums.retain(|(_, start), _| start + MINUTE > watermark);
        emitted += (before - sums.len()) as u64;
    };
    loop {
        let status = source
            .poll(&mut events, &mut dead, None)
            .unwrap_or(Poll::End);
        for event in events.drain(..) {
            match event {
                Event::Records(records) => {
                    for record in records {
                        let start = record.timestamp - record.timestamp.rem_euclid(MINUTE);
                        *sums.entry((record.key, start)).or_default() +=
                            record.value.as_i64().unwrap_or(0);
                    }
                }
                Event::Watermark(watermark) => flush(&mut sums, watermark),
                Event::ProcessingTime(_) => {}
            }
        }
        if status == Poll::End {
            break;
        }
    }
    flush(&mut sums, MAX_TIMESTAMP);
    emitted
}

/// The process's peak resident memory.
fn peak_rss_bytes() -> u64 {
    proc_status("VmHWM:") * 1024
}

/// A number from /proc/self/status, e.g. `VmRSS:` in KiB (0 where unavailable).
fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
