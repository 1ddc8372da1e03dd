//! `millrace bench`: throughput and memory of the engine on generated data.
//!
//! Each scenario runs in its own child process so that its peak memory is its own.
//! Throughput is reported next to baselines measured in the same run — the generator
//! alone, and a hand-written fixed-window sum over the same records — because
//! absolute numbers on a shared machine mean little.

use std::collections::HashMap;
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::combine::Builtin;
use crate::group::{GroupByKeyAndWindow, WindowingStrategy};
use crate::pane::AccumulationMode;
use crate::pipeline::{AssignWindows, Event, Pipeline, Step, StepOutput};
use crate::record::Key;
use crate::source::{Generator, Poll, Source};
use crate::spec::GeneratorSpec;
use crate::time::MAX_TIMESTAMP;
use crate::trigger::Trigger;
use crate::window::WindowFn;

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
}

#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    scenario: Scenario,
    elements: u64,
    seconds: f64,
    records_out: u64,
    peak_rss_bytes: u64,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.elements as f64 / self.seconds
    }
}

/// Runs `millrace bench`.
pub fn main(args: BenchArgs) -> ExitCode {
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
    for scenario in [
        Scenario::Generate,
        Scenario::Baseline,
        Scenario::Fixed,
        Scenario::Sessions,
    ] {
        let name = scenario
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let output = Command::new(&exe)
            .args(["bench", "--json", "--scenario", &name])
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

fn print_table(results: &[Measurement]) {
    let baseline = results
        .iter()
        .find(|m| m.scenario == Scenario::Baseline)
        .map(Measurement::per_second);
    println!(
        "{:<10} {:>12} {:>9} {:>14} {:>12} {:>12}",
        "scenario", "records", "seconds", "records/s", "vs baseline", "peak RSS"
    );
    for m in results {
        println!(
            "{:<10} {:>12} {:>9.2} {:>14.0} {:>12} {:>9.1} MB",
            format!("{:?}", m.scenario).to_lowercase(),
            m.elements,
            m.seconds,
            m.per_second(),
            baseline.map_or_else(|| "-".to_owned(), |b| format!("{:.2}x", m.per_second() / b)),
            m.peak_rss_bytes as f64 / 1e6
        );
    }
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
    let records_out = match scenario {
        Scenario::All => 0,
        Scenario::Generate => drive(args, None),
        Scenario::Baseline => baseline(args),
        Scenario::Fixed => {
            let strategy = WindowingStrategy {
                window_fn: WindowFn::Fixed {
                    size: MINUTE,
                    offset: 0,
                },
                ..WindowingStrategy::default()
            };
            drive(args, Some(pipeline(strategy)))
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
            drive(args, Some(pipeline(strategy)))
        }
    };
    Measurement {
        scenario,
        elements: args.elements,
        seconds: started.elapsed().as_secs_f64(),
        records_out,
        peak_rss_bytes: peak_rss_bytes(),
    }
}

fn pipeline(strategy: WindowingStrategy) -> Pipeline {
    let assign = AssignWindows::new("steps[0].window", strategy.window_fn.clone());
    let group =
        GroupByKeyAndWindow::new("steps[1].combine", strategy, Builtin::Sum.function(), false)
            .expect("the benchmark trigger is small");
    let steps: Vec<Box<dyn Step>> = vec![Box::new(assign), Box::new(group)];
    Pipeline::new(steps)
}

/// Runs the generator through `pipeline` (or nowhere) and counts output records.
fn drive(args: &BenchArgs, mut pipeline: Option<Pipeline>) -> u64 {
    let mut source = generator(args);
    let (mut events, mut dead) = (Vec::new(), Vec::new());
    let mut out = StepOutput::default();
    let mut records_out = 0u64;
    loop {
        let status = source
            .poll(&mut events, &mut dead, None)
            .unwrap_or(Poll::End);
        for event in events.drain(..) {
            if let Some(pipeline) = &mut pipeline {
                pipeline
                    .handle(event, &mut out)
                    .expect("built-in steps do not fail");
                records_out += out.records.len() as u64;
                out.records.clear();
            }
        }
        if status == Poll::End {
            break;
        }
    }
    if let Some(pipeline) = &mut pipeline {
        pipeline
            .handle(Event::Watermark(MAX_TIMESTAMP), &mut out)
            .expect("built-in steps do not fail");
        records_out += out.records.len() as u64;
    }
    records_out
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

/// The process's peak resident memory, from /proc (0 where unavailable).
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
