//! The `millrace` command line: a thin layer over [`crate::runner`] and [`crate::spec`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::plugin::scaffold::{self, Kind};
use crate::runner::{self, Backend, Endpoint, RunError, RunOptions, StateOptions};
use crate::spec::{self, CombineSpec, PipelineSpec, SinkSpec, SourceSpec, StepSpec};
use crate::time::format_duration;
use crate::window::WindowFn;

/// millrace runs stream pipelines with the Dataflow model's windows, triggers,
/// watermarks and retractions.
#[derive(Debug, Parser)]
#[command(
    name = "millrace",
    version,
    about = "Run stream pipelines with event-time windows, triggers and retractions",
    long_about = "millrace runs stream pipelines described by a YAML (or JSON) spec: a source, \
                  steps that window and combine records, and a sink. It owns event time: \
                  watermarks, windows (fixed, sliding, sessions), triggers, and panes that \
                  can be accumulated or retracted.",
    after_help = "Examples:\n  millrace run examples/game-sessions/pipeline.yaml\n  millrace plugin new my-combine --kind combine\n  millrace run pipeline.yaml --input events.jsonl --output -\n  millrace validate pipeline.yaml\n\nSpecs are described in DESIGN.md and README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log more (-v: info, -vv: debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until its input ends (or forever, for unbounded input).
    ///
    /// Panes are written as JSON Lines to the spec's sink; records that cannot be
    /// processed go to the dead-letter output. A summary is printed on stderr.
    Run(RunArgs),
    /// Check a pipeline spec without running anything.
    ///
    /// Exits with status 2 and names the file, the path inside it and what was
    /// expected when the spec is invalid.
    Validate {
        /// The pipeline spec (.yaml, .yml or .json).
        spec: PathBuf,
    },
    /// List a pipeline's checkpoints.
    ///
    /// Shows each checkpoint's number, time, size, state changes, source position
    /// and published output, and why a damaged one cannot be used.
    Checkpoints {
        /// The pipeline spec (its name picks the state directory).
        spec: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Measure the engine's throughput on generated data.
    Bench(crate::bench::BenchArgs),
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a plugin crate that builds into a component as is.
    ///
    /// The crate is named after the folder; it holds a working example of the kind
    /// asked for, with a test. Build it with
    /// `cargo build --target wasm32-wasip2 --release`, or name the folder in a spec:
    /// millrace builds it.
    New {
        /// The folder to create (its name is the crate's name).
        path: PathBuf,
        /// What the plugin is.
        #[arg(short, long, value_enum, default_value = "dofn")]
        kind: Kind,
        /// The millrace-sdk crate to depend on (default: the SDK this millrace was
        /// built with).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The pipeline spec (.yaml, .yml or .json).
    spec: PathBuf,

    /// Read this file instead of the spec's source (`-` for stdin).
    #[arg(short, long, value_name = "PATH")]
    input: Option<String>,

    /// Write panes to this file instead of the spec's sink (`-` for stdout).
    #[arg(short, long, value_name = "PATH")]
    output: Option<String>,

    /// Write dead letters (records that could not be processed) to this file.
    #[arg(long, value_name = "PATH")]
    dead_letter: Option<PathBuf>,

    /// Stop with an error at the first record that cannot be processed.
    #[arg(long)]
    strict: bool,

    /// Print no progress and no summary.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    state: StateArgs,

    /// Where state lives: rocksdb, memory (written whole at each checkpoint), or
    /// none (no checkpoints: a crash loses the run).
    #[arg(
        long = "state",
        value_enum,
        default_value = "rocksdb",
        value_name = "BACKEND"
    )]
    backend: Backend,

    /// Resume from this checkpoint instead of the latest one.
    #[arg(long, value_name = "ID", conflicts_with = "fresh")]
    from_checkpoint: Option<u64>,

    /// Discard the pipeline's state and checkpoints and start over.
    #[arg(long)]
    fresh: bool,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// The folder for pipelines' state and checkpoints; each pipeline gets a
    /// subfolder named after it.
    #[arg(
        long,
        value_name = "DIR",
        env = "MILLRACE_STATE_DIR",
        default_value = "millrace-state"
    )]
    state_dir: PathBuf,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate { spec } => validate(&spec),
        Command::Checkpoints { spec, state } => checkpoints(&spec, &state.state_dir),
        Command::Bench(args) => crate::bench::main(args),
        Command::Plugin(PluginCommand::New { path, kind, sdk }) => {
            new_plugin(&path, kind, &sdk.unwrap_or_else(scaffold::bundled_sdk))
        }
    }
}

fn new_plugin(path: &std::path::Path, kind: Kind, sdk: &std::path::Path) -> ExitCode {
    match scaffold::scaffold(path, kind, sdk) {
        Ok(files) => {
            for file in files {
                println!("created {}", file.display());
            }
            println!(
                "build it with: cargo build --target wasm32-wasip2 --release --manifest-path {}",
                path.join("Cargo.toml").display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn load(path: &std::path::Path) -> Result<PipelineSpec, ExitCode> {
    spec::load(path).map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })
}

fn run(args: RunArgs) -> ExitCode {
    let spec = match load(&args.spec) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let options = RunOptions {
        input: args.input.as_deref().map(Endpoint::parse),
        output: args.output.as_deref().map(Endpoint::parse),
        dead_letter: args.dead_letter,
        strict: args.strict,
        progress: !args.quiet,
        state: StateOptions {
            dir: args.state.state_dir,
            backend: args.backend,
            from_checkpoint: args.from_checkpoint,
            fresh: args.fresh,
        },
    };
    match runner::run(&spec, &options) {
        Ok(summary) => {
            if !args.quiet {
                eprintln!("millrace: {}: {summary}", spec.name);
            }
            ExitCode::SUCCESS
        }
        Err(RunError::Spec(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(err @ RunError::Incompatible(_)) => {
            eprintln!("error: {}: {err}", spec.name);
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("error: {}: {err}", spec.name);
            ExitCode::FAILURE
        }
    }
}

fn checkpoints(path: &std::path::Path, state_dir: &std::path::Path) -> ExitCode {
    let spec = match load(path) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let dir = state_dir.join(&spec.name);
    if !dir.exists() {
        println!("{} has no state in {}", spec.name, state_dir.display());
        return ExitCode::SUCCESS;
    }
    let listed = match crate::checkpoint::Checkpoints::open(&dir, usize::MAX)
        .and_then(|checkpoints| checkpoints.list())
    {
        Ok(listed) => listed,
        Err(err) => {
            eprintln!(
                "error: cannot read the checkpoints in {}: {err}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if listed.is_empty() {
        println!("{} has no checkpoints in {}", spec.name, dir.display());
    }
    let mut previous: Vec<String> = Vec::new();
    for entry in listed {
        match entry.manifest {
            Ok(manifest) => {
                let new: u64 = manifest
                    .files
                    .iter()
                    .filter(|(name, _)| !previous.contains(name))
                    .map(|(_, size)| size)
                    .sum();
                previous = manifest
                    .files
                    .iter()
                    .map(|(name, _)| name.clone())
                    .collect();
                let time = crate::time::format_timestamp(manifest.created);
                let position = manifest
                    .source
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |position| position.to_string());
                println!(
                    "{:>6}  {time}  {} ({} new)  {} changes  {} records read  {}{}",
                    manifest.id,
                    crate::plugin::format_bytes(manifest.bytes()),
                    crate::plugin::format_bytes(new),
                    manifest.changes,
                    manifest.records_read,
                    if manifest.finished { "finished  " } else { "" },
                    position
                );
                for sink in &manifest.sinks {
                    println!(
                        "        {}: {} bytes published",
                        sink.path,
                        sink.committed()
                    );
                }
            }
            Err(reason) => println!("{:>6}  damaged: {reason}", entry.id),
        }
    }
    ExitCode::SUCCESS
}

fn validate(path: &std::path::Path) -> ExitCode {
    let spec = match load(path) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    if let Err(err) = runner::build_steps(&spec) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    println!("{}: valid pipeline {:?}", path.display(), spec.name);
    println!("  source: {}", describe_source(&spec.source));
    for step in &spec.steps {
        println!("  {}", describe_step(step));
    }
    println!(
        "  sink: {}",
        match &spec.sink {
            SinkSpec::File(path) => format!("file {}", path.display()),
            SinkSpec::Stdout => "stdout".to_owned(),
        }
    );
    ExitCode::SUCCESS
}

fn describe_source(source: &SourceSpec) -> String {
    match source {
        SourceSpec::TestStream { path } => format!("test stream {}", path.display()),
        SourceSpec::File(format) => format!(
            "JSON Lines file {} (event time from {:?}, watermark {} behind)",
            crate::source::describe(&format.path),
            format.timestamp.to_string(),
            format_duration(format.max_out_of_orderness)
        ),
        SourceSpec::Stdin(format) => format!(
            "JSON Lines on stdin (event time from {:?}, watermark {} behind)",
            format.timestamp.to_string(),
            format_duration(format.max_out_of_orderness)
        ),
        SourceSpec::Generator(generator) => format!(
            "generator of {} records over {} keys",
            generator
                .elements
                .map_or_else(|| "unbounded".to_owned(), |n| n.to_string()),
            generator.keys
        ),
    }
}

fn describe_step(step: &StepSpec) -> String {
    match step {
        StepSpec::Window {
            path,
            strategy,
            custom,
            ..
        } => {
            let window = match &strategy.window_fn {
                WindowFn::Global => "global".to_owned(),
                WindowFn::Fixed { size, offset } => {
                    format!(
                        "fixed {} (offset {})",
                        format_duration(*size),
                        format_duration(*offset)
                    )
                }
                WindowFn::Sliding {
                    size,
                    period,
                    offset,
                } => format!(
                    "sliding {} every {} (offset {})",
                    format_duration(*size),
                    format_duration(*period),
                    format_duration(*offset)
                ),
                WindowFn::Sessions { gap } => {
                    format!("sessions with gap {}", format_duration(*gap))
                }
                WindowFn::Custom(custom) => format!("custom ({})", custom.name()),
            };
            let window = match custom {
                Some(plugin) => format!("custom window function {}", plugin.path.display()),
                None => window,
            };
            format!(
                "{path}: {window}, trigger {}, {:?}, allowed lateness {}, timestamps {:?}",
                strategy.trigger,
                strategy.accumulation,
                format_duration(strategy.allowed_lateness),
                strategy.timestamp_combiner
            )
        }
        StepSpec::ParDo { path, plugin } => format!("{path}: pardo {}", plugin.path.display()),
        StepSpec::Combine { path, combine } => match combine {
            CombineSpec::Builtin(builtin) => format!("{path}: {}", builtin.name()),
            CombineSpec::Plugin(plugin) => format!("{path}: plugin {}", plugin.path.display()),
        },
    }
}
