//! `millrace bench --scenario nexmark`: every Nexmark query spec of a folder
//! (`examples/nexmark/q*.yaml`) over the same generated events (`--elements` of
//! them), with no state and with a RocksDB checkpoint every `--checkpoint-every`
//! milliseconds, reported in events per CPU-second (a pipeline runs on one thread,
//! so that is per core) and the checkpointed run as a ratio to the stateless one.
//!
//! Each query's plugins are built and compiled before it is timed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use super::{BenchArgs, Scratch};
use millrace_runner::spec::{
    self, CheckpointSpec, DeadLetterSpec, PipelineSpec, SinkSpec, SourceSpec,
};
use millrace_runner::{Backend, RunOptions, StateOptions};

/// One query's run.
#[derive(Debug, Serialize)]
struct QueryRun {
    query: String,
    state: &'static str,
    events: u64,
    emitted: u64,
    seconds: f64,
    cpu_seconds: f64,
}

impl QueryRun {
    fn per_cpu_second(&self) -> f64 {
        self.events as f64 / self.cpu_seconds
    }
}

/// Runs every query in `args.queries`.
pub(super) fn run(args: &BenchArgs) -> ExitCode {
    let mut specs: Vec<PathBuf> = match std::fs::read_dir(&args.queries) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension().is_some_and(|ext| ext == "yaml")
                    && path
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with('q'))
            })
            .collect(),
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", args.queries.display());
            return ExitCode::from(2);
        }
    };
    specs.sort_by_key(|path| query_order(path));
    let scratch = Scratch::new("nexmark");
    let mut runs = Vec::new();
    for path in &specs {
        match measure(path, args, &scratch.0) {
            Ok(measured) => runs.extend(measured),
            Err(err) => {
                eprintln!("error: {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        for run in &runs {
            println!("{}", serde_json::to_string(run).unwrap_or_default());
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "millrace bench: Nexmark, {} events per query (Beam's generator, seed 0), one pipeline thread",
        args.elements
    );
    println!(
        "{:<6} {:<8} {:>10} {:>9} {:>9} {:>16} {:>12}",
        "query", "state", "emitted", "seconds", "cpu s", "events/cpu-s", "vs no state"
    );
    for run in &runs {
        let stateless = runs
            .iter()
            .find(|other| other.query == run.query && other.state == "none")
            .map(QueryRun::per_cpu_second);
        let ratio = stateless.map_or_else(
            || "-".to_owned(),
            |base| format!("{:.2}x", run.per_cpu_second() / base),
        );
        println!(
            "{:<6} {:<8} {:>10} {:>9.2} {:>9.2} {:>16.0} {:>12}",
            run.query,
            run.state,
            run.emitted,
            run.seconds,
            run.cpu_seconds,
            run.per_cpu_second(),
            ratio
        );
    }
    ExitCode::SUCCESS
}

/// `q2` before `q10`.
fn query_order(path: &Path) -> (u32, String) {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let number = stem
        .trim_start_matches('q')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(u32::MAX);
    (number, stem)
}

/// The query at `path` without state, then with RocksDB checkpoints.
fn measure(path: &Path, args: &BenchArgs, scratch: &Path) -> anyhow::Result<Vec<QueryRun>> {
    let mut spec = spec::load(path)?;
    let query = spec.name.clone();
    prepare(&mut spec, args, &scratch.join(&query));
    // Builds and compiles the plugins, so that the timed runs only run them.
    millrace_runner::build_pipeline(&spec)?;
    let mut runs = Vec::with_capacity(2);
    for (state, backend) in [("none", Backend::None), ("rocksdb", Backend::Rocksdb)] {
        let options = RunOptions {
            state: StateOptions {
                dir: scratch.join(&query).join("state"),
                backend,
                from_checkpoint: None,
                fresh: true,
            },
            ..RunOptions::default()
        };
        let cpu = cpu_seconds();
        let started = Instant::now();
        let summary = millrace_runner::run(&spec, &options)?;
        runs.push(QueryRun {
            query: query.clone(),
            state,
            events: summary.read,
            emitted: summary.emitted,
            seconds: started.elapsed().as_secs_f64(),
            cpu_seconds: cpu_seconds() - cpu,
        });
    }
    Ok(runs)
}

/// The spec as the benchmark runs it: `--elements` Nexmark events, every output
/// into the scratch folder, checkpoints every `--checkpoint-every` ms.
fn prepare(spec: &mut PipelineSpec, args: &BenchArgs, dir: &Path) {
    for source in &mut spec.sources {
        if let SourceSpec::Nexmark(nexmark) = &mut source.spec {
            nexmark.config.num_events = args.elements;
        }
    }
    for sink in &mut spec.sinks {
        sink.spec = SinkSpec::File(dir.join(format!("{}.jsonl", sink.name)));
    }
    spec.dead_letter = Some(DeadLetterSpec::File(dir.join("dead.jsonl")));
    spec.checkpoint = Some(CheckpointSpec {
        interval: i64::try_from(args.checkpoint_every).unwrap_or(i64::MAX),
        records: None,
        keep: 2,
        store: None,
    });
}

/// CPU time this process has used, user and system, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
