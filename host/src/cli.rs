//! The `millrace` command line: a thin layer over [`millrace_runner`] and [`millrace_runner::spec`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::client::{Body, Client};
use crate::scaffold;
use millrace_model::time::format_duration;
use millrace_runner::spec::view::{GraphView, describe_sink, describe_source, describe_step};
use millrace_runner::spec::{self, Input, PipelineSpec};
use millrace_runner::{Backend, Endpoint, RunError, RunOptions, StateOptions};
use millrace_wasm::{Language, PluginKind as Kind};

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
    after_help = "Examples:\n  millrace run examples/game-sessions/pipeline.yaml\n  millrace plugin new my-combine --kind combine\n  millrace run pipeline.yaml --input events.jsonl --output -\n  millrace validate pipeline.yaml\n\nSpecs are described in docs/spec.md; the design is in docs/ (start at docs/README.md)."
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
        /// Print the graph in Graphviz's DOT language instead (`| dot -Tsvg`).
        #[arg(long)]
        dot: bool,
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
    /// Work with plugins: scaffold one, or push and list them on a server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Push and list trained models (ONNX files) on a server, for score steps.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run many tenants' pipelines behind an HTTP/JSON API, with hot swap.
    ///
    /// The API is described at /openapi.json. The admin token (for creating
    /// tenants) comes from MILLRACE_ADMIN_TOKEN, or from <data-dir>/admin-token,
    /// created on first start. SIGINT or SIGTERM stops every pipeline at a
    /// checkpoint; they resume when the server starts again.
    Serve(ServeArgs),
    /// Manage tenants on a server (admin token).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Deploy and steer pipelines on a server (tenant token).
    #[command(subcommand)]
    Pipeline(PipelineCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: std::net::SocketAddr,
    /// Where tenants, plugins, pipelines and their state live.
    #[arg(long, value_name = "DIR", default_value = "millrace-data")]
    data_dir: PathBuf,
    /// The admin token (default: <data-dir>/admin-token).
    #[arg(long, env = "MILLRACE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// How long a client may take to send a request's headers, and how long an
    /// idle connection stays open.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_millis)]
    header_timeout: u64,
    /// How long a request's body may stop arriving before the request fails.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_millis)]
    body_timeout: u64,
    /// How long a request may take in all, answer included.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_millis)]
    request_timeout: u64,
}

/// How to reach a server.
#[derive(Debug, Args)]
struct Remote {
    /// The server's address.
    #[arg(long, env = "MILLRACE_SERVER", default_value = "http://127.0.0.1:7878")]
    server: String,
    /// The token to send (the admin's for `tenant`, a tenant's otherwise).
    #[arg(long, env = "MILLRACE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its token (shown once).
    Create {
        /// The tenant's name.
        name: String,
        /// Pipelines it may deploy.
        #[arg(long)]
        pipelines: Option<u64>,
        /// Plugin instances across its pipelines.
        #[arg(long)]
        plugin_instances: Option<u64>,
        /// Memory per plugin instance, e.g. 64MiB.
        #[arg(long, value_parser = parse_size)]
        memory_per_instance: Option<u64>,
        /// CPU time per plugin call, e.g. 500ms.
        #[arg(long, value_parser = parse_millis)]
        cpu_per_call: Option<u64>,
        /// Output of one plugin call, e.g. 16MiB.
        #[arg(long, value_parser = parse_size)]
        output_per_call: Option<u64>,
        /// Bytes of plugins it may store, e.g. 256MiB.
        #[arg(long, value_parser = parse_size)]
        plugin_bytes: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tenants with their quotas and usage.
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// Deploy a pipeline spec and start it.
    ///
    /// A served spec reads `source: {ingest: {...}}`, writes `sink: {file:
    /// out.jsonl}`, and names plugins pushed to the server: `plugin: sum` (the
    /// newest version) or `plugin: sum@3f2a9c` (a version).
    Deploy {
        /// The spec (.yaml or .json).
        spec: PathBuf,
        /// The pipeline's name (default: the spec's `name`, or its file's stem).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List pipelines with their status.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a pipeline's status: counters per step, watermark, checkpoints,
    /// plugin versions and swaps.
    Status {
        /// The pipeline.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace the plugin of a running step with another version, or (--model)
    /// the live model of a score step.
    Swap {
        /// The pipeline.
        name: String,
        /// The step, as the spec path names it, e.g. steps[2].combine.
        step: String,
        /// The plugin: name (its newest version) or name@version.
        #[arg(required_unless_present = "model", conflicts_with = "model")]
        plugin: Option<String>,
        /// The model for a score step: name (its newest version) or name@version.
        /// It is loaded and checked against its reference set before it is
        /// switched in between two batches.
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run a candidate model beside a score step's live one, on the same records:
    /// its outputs are only compared (see status: agreement, score differences,
    /// cost), never emitted.
    Shadow {
        /// The pipeline.
        name: String,
        /// The score step, e.g. steps[1].score.
        step: String,
        /// The candidate: name or name@version.
        model: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Score a share of keys with a candidate model; its outputs carry
    /// `canary: true` and its version.
    Canary {
        /// The pipeline.
        name: String,
        /// The score step.
        step: String,
        /// The candidate: name or name@version.
        model: String,
        /// The share of keys, from 0 to 1.
        #[arg(long, default_value = "0.1")]
        share: f64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make a score step's candidate model (shadow or canary) the live one.
    Promote {
        /// The pipeline.
        name: String,
        /// The score step.
        step: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Drop a score step's candidate model.
    Dismiss {
        /// The pipeline.
        name: String,
        /// The score step.
        step: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Swap a step back to the version it ran before (a score step: its model).
    Rollback {
        /// The pipeline.
        name: String,
        /// The step.
        step: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop a pipeline at a checkpoint.
    Stop {
        /// The pipeline.
        name: String,
        /// Read the input to its end and fire every window's final pane first.
        #[arg(long)]
        drain: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Start a stopped pipeline: it resumes from its last checkpoint.
    Start {
        /// The pipeline.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a stopped pipeline and its data.
    Delete {
        /// The pipeline.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Push JSON Lines (a file, or `-` for stdin) to a pipeline's input.
    Send {
        /// The pipeline.
        name: String,
        /// The records.
        input: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print a pipeline's committed output.
    Output {
        /// The pipeline.
        name: String,
        /// The dead letters instead.
        #[arg(long)]
        dead_letters: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a plugin folder that builds into a component as is.
    ///
    /// The plugin is named after the folder; it holds a working example of the
    /// kind asked for, with a test in the language's own test tool. Build it with
    /// `millrace plugin build`, or name the folder in a spec: millrace builds it.
    New {
        /// The folder to create (its name is the plugin's name).
        path: PathBuf,
        /// What the plugin is.
        #[arg(short, long, value_enum, default_value = "dofn")]
        kind: Kind,
        /// The language to write it in.
        #[arg(short, long, value_enum, default_value = "rust")]
        lang: Language,
        /// The Rust SDK crate to depend on (default: the SDK this millrace was
        /// built with).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin folder (a Rust crate, or a plugin.py, plugin.js, plugin.c or
    /// plugin.go) into a component, and print where it is.
    Build {
        /// The plugin folder.
        path: PathBuf,
        /// Copy the component here too.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Push a plugin version to a server (a .wasm component, or a plugin folder,
    /// built first).
    Push {
        /// The plugin's name on the server.
        name: String,
        /// The component or crate folder.
        path: PathBuf,
        /// What the plugin is.
        #[arg(short, long, value_enum)]
        kind: Kind,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the plugins on a server and their versions.
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Push a model version (an ONNX file) to a server. It is checked first: the
    /// evaluator must load it and it must reproduce the reference set it ships.
    Push {
        /// The model's name on the server.
        name: String,
        /// The ONNX file.
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the models on a server and their versions.
    List {
        #[command(flatten)]
        remote: Remote,
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
        Command::Validate { spec, dot } => validate(&spec, dot),
        Command::Checkpoints { spec, state } => checkpoints(&spec, &state.state_dir),
        Command::Bench(args) => crate::bench::main(args),
        Command::Plugin(PluginCommand::New {
            path,
            kind,
            lang,
            sdk,
        }) => match lang {
            Language::Rust => new_plugin(&path, kind, &sdk.unwrap_or_else(scaffold::bundled_sdk)),
            language => new_sdk_plugin(language, &path, kind),
        },
        Command::Plugin(PluginCommand::Build { path, out }) => build_plugin(&path, out.as_deref()),
        Command::Plugin(PluginCommand::Push {
            name,
            path,
            kind,
            remote,
        }) => remote_call(&remote, || {
            let wasm = if path.is_dir() {
                millrace_wasm::build_plugin(&path).map_err(|err| err.to_string())?
            } else {
                path.clone()
            };
            let bytes = std::fs::read(&wasm)
                .map_err(|err| format!("cannot read {}: {err}", wasm.display()))?;
            Ok((
                "PUT",
                format!("/v1/plugins/{name}?kind={kind}"),
                Body::Bytes(bytes),
            ))
        }),
        Command::Plugin(PluginCommand::List { remote }) => remote_call(&remote, || {
            Ok(("GET", "/v1/plugins".to_owned(), Body::Empty))
        }),
        Command::Model(ModelCommand::Push { name, file, remote }) => remote_call(&remote, || {
            let bytes = std::fs::read(&file)
                .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
            Ok(("PUT", format!("/v1/models/{name}"), Body::Bytes(bytes)))
        }),
        Command::Model(ModelCommand::List { remote }) => remote_call(&remote, || {
            Ok(("GET", "/v1/models".to_owned(), Body::Empty))
        }),
        Command::Serve(args) => serve(args),
        Command::Tenant(command) => tenant(command),
        Command::Pipeline(command) => pipeline(command),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let options = millrace_server::ServeOptions {
        listen: args.listen,
        data_dir: args.data_dir,
        admin_token: args.admin_token,
        timeouts: millrace_server::Timeouts {
            header: std::time::Duration::from_millis(args.header_timeout),
            body: std::time::Duration::from_millis(args.body_timeout),
            request: std::time::Duration::from_millis(args.request_timeout),
        },
    };
    match millrace_server::serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn tenant(command: TenantCommand) -> ExitCode {
    match command {
        TenantCommand::Create {
            name,
            pipelines,
            plugin_instances,
            memory_per_instance,
            cpu_per_call,
            output_per_call,
            plugin_bytes,
            remote,
        } => remote_call(&remote, || {
            let mut quotas = serde_json::Map::new();
            for (key, value) in [
                ("pipelines", pipelines),
                ("plugin_instances", plugin_instances),
                ("memory_per_instance", memory_per_instance),
                ("cpu_per_call_ms", cpu_per_call),
                ("output_per_call", output_per_call),
                ("plugin_bytes", plugin_bytes),
            ] {
                if let Some(value) = value {
                    quotas.insert(key.to_owned(), value.into());
                }
            }
            let body = serde_json::json!({"name": name, "quotas": quotas});
            Ok(("POST", "/v1/tenants".to_owned(), Body::Json(body)))
        }),
        TenantCommand::List { remote } => remote_call(&remote, || {
            Ok(("GET", "/v1/tenants".to_owned(), Body::Empty))
        }),
    }
}

fn pipeline(command: PipelineCommand) -> ExitCode {
    match command {
        PipelineCommand::Deploy { spec, name, remote } => remote_call(&remote, || {
            let text = std::fs::read_to_string(&spec)
                .map_err(|err| format!("cannot read {}: {err}", spec.display()))?;
            let name = match name {
                Some(name) => name,
                None => spec::parse(&spec, &text)
                    .map(|parsed| parsed.name)
                    .map_err(|err| err.to_string())?,
            };
            let body = serde_json::json!({"name": name, "spec": text});
            Ok(("POST", "/v1/pipelines".to_owned(), Body::Json(body)))
        }),
        PipelineCommand::List { remote } => remote_call(&remote, || {
            Ok(("GET", "/v1/pipelines".to_owned(), Body::Empty))
        }),
        PipelineCommand::Status { name, remote } => remote_call(&remote, || {
            Ok(("GET", format!("/v1/pipelines/{name}"), Body::Empty))
        }),
        PipelineCommand::Swap {
            name,
            step,
            model: Some(model),
            remote,
            ..
        } => move_model(
            &remote,
            &name,
            json!({"step": step, "action": "swap", "model": model}),
        ),
        PipelineCommand::Swap {
            name,
            step,
            plugin,
            model: None,
            remote,
        } => remote_call(&remote, || {
            let body = json!({"step": step, "plugin": plugin});
            Ok((
                "POST",
                format!("/v1/pipelines/{name}/swap"),
                Body::Json(body),
            ))
        }),
        PipelineCommand::Shadow {
            name,
            step,
            model,
            remote,
        } => move_model(
            &remote,
            &name,
            json!({"step": step, "action": "shadow", "model": model}),
        ),
        PipelineCommand::Canary {
            name,
            step,
            model,
            share,
            remote,
        } => move_model(
            &remote,
            &name,
            json!({"step": step, "action": "canary", "model": model, "share": share}),
        ),
        PipelineCommand::Promote { name, step, remote } => {
            move_model(&remote, &name, json!({"step": step, "action": "promote"}))
        }
        PipelineCommand::Dismiss { name, step, remote } => {
            move_model(&remote, &name, json!({"step": step, "action": "dismiss"}))
        }
        PipelineCommand::Rollback { name, step, remote } => remote_call(&remote, || {
            let body = serde_json::json!({"step": step});
            Ok((
                "POST",
                format!("/v1/pipelines/{name}/rollback"),
                Body::Json(body),
            ))
        }),
        PipelineCommand::Stop {
            name,
            drain,
            remote,
        } => remote_call(&remote, || {
            let body = serde_json::json!({"drain": drain});
            Ok((
                "POST",
                format!("/v1/pipelines/{name}/stop"),
                Body::Json(body),
            ))
        }),
        PipelineCommand::Start { name, remote } => remote_call(&remote, || {
            Ok(("POST", format!("/v1/pipelines/{name}/start"), Body::Empty))
        }),
        PipelineCommand::Delete { name, remote } => remote_call(&remote, || {
            Ok(("DELETE", format!("/v1/pipelines/{name}"), Body::Empty))
        }),
        PipelineCommand::Send {
            name,
            input,
            remote,
        } => remote_call(&remote, || {
            let bytes = if input.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                    .map_err(|err| format!("cannot read stdin: {err}"))?;
                bytes
            } else {
                std::fs::read(&input)
                    .map_err(|err| format!("cannot read {}: {err}", input.display()))?
            };
            Ok((
                "POST",
                format!("/v1/pipelines/{name}/records"),
                Body::Bytes(bytes),
            ))
        }),
        PipelineCommand::Output {
            name,
            dead_letters,
            remote,
        } => remote_call(&remote, || {
            let what = if dead_letters {
                "dead-letters"
            } else {
                "output"
            };
            Ok(("GET", format!("/v1/pipelines/{name}/{what}"), Body::Empty))
        }),
    }
}

/// Changes a score step's models (`POST /v1/pipelines/{name}/models`).
fn move_model(remote: &Remote, name: &str, body: serde_json::Value) -> ExitCode {
    remote_call(remote, || {
        Ok((
            "POST",
            format!("/v1/pipelines/{name}/models"),
            Body::Json(body),
        ))
    })
}

/// Makes the call `request` describes and prints the answer (JSON pretty-printed).
fn remote_call(
    remote: &Remote,
    request: impl FnOnce() -> Result<(&'static str, String, Body), String>,
) -> ExitCode {
    let (method, path, body) = match request() {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let client = Client::new(&remote.server, remote.token.clone());
    match client.call(method, &path, body) {
        Ok(bytes) => {
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(value) => println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                ),
                Err(_) => print!("{}", String::from_utf8_lossy(&bytes)),
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    spec::parse_size(text).ok_or_else(|| format!("{text:?} is not a size such as 64MiB"))
}

fn parse_millis(text: &str) -> Result<u64, String> {
    millrace_model::time::parse_duration(text)
        .map(|millis| millis as u64)
        .map_err(|_| format!("{text:?} is not a duration such as 500ms or 2s"))
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

/// Scaffolds a plugin with its SDK's `new.sh`, for the languages other than Rust.
fn new_sdk_plugin(language: Language, path: &std::path::Path, kind: Kind) -> ExitCode {
    if kind == Kind::Scorer {
        eprintln!(
            "error: model evaluators (--kind scorer) are written in Rust for now: use --lang rust"
        );
        return ExitCode::from(2);
    }
    let script = language.sdk().join("new.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(path)
        .args(["--kind", kind.name()])
        .status();
    match status {
        Ok(status) if status.success() => {
            println!("build it with: millrace plugin build {}", path.display());
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: cannot run {}: {err}", script.display());
            ExitCode::FAILURE
        }
    }
}

fn build_plugin(path: &std::path::Path, out: Option<&std::path::Path>) -> ExitCode {
    let built = match millrace_wasm::build_plugin(path) {
        Ok(built) => built,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shown = match out {
        Some(out) => match std::fs::copy(&built, out) {
            Ok(_) => out.to_owned(),
            Err(err) => {
                eprintln!(
                    "error: cannot copy {} to {}: {err}",
                    built.display(),
                    out.display()
                );
                return ExitCode::FAILURE;
            }
        },
        None => built,
    };
    println!("{}", shown.display());
    ExitCode::SUCCESS
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
    match millrace_runner::run(&spec, &options) {
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
    let dir = match millrace_runner::pipeline_dir(state_dir, &spec.name) {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if !dir.exists() {
        println!("{} has no state in {}", spec.name, state_dir.display());
        return ExitCode::SUCCESS;
    }
    let listed = match millrace_state::checkpoint::Checkpoints::open(&dir, usize::MAX)
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
                let time = millrace_model::time::format_timestamp(manifest.created);
                let position = manifest
                    .source
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), std::string::ToString::to_string);
                println!(
                    "{:>6}  {time}  {} ({} new)  {} changes  {} records read  {}{}",
                    manifest.id,
                    millrace_wasm::format_bytes(manifest.bytes()),
                    millrace_wasm::format_bytes(new),
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

fn validate(path: &std::path::Path, dot: bool) -> ExitCode {
    let spec = match load(path) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    if let Err(err) = millrace_runner::build_pipeline(&spec) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    if dot {
        print!("{}", GraphView::of(&spec).dot(&spec.name));
        return ExitCode::SUCCESS;
    }
    println!("{}: valid pipeline {:?}", path.display(), spec.name);
    let reads = |inputs: &[Input]| {
        inputs
            .iter()
            .map(|&input| spec.input_name(input))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for source in &spec.sources {
        let idle = source
            .idle_timeout
            .map(|timeout| format!(" (idle after {})", format_duration(timeout)))
            .unwrap_or_default();
        println!(
            "  source {}: {}{idle}",
            source.name,
            describe_source(&source.spec)
        );
    }
    for step in &spec.steps {
        let name = step
            .name
            .as_ref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default();
        println!(
            "  {}{name} ← {}",
            describe_step(&step.spec),
            reads(&step.inputs)
        );
    }
    for sink in &spec.sinks {
        println!(
            "  sink {} ← {}: {}",
            sink.name,
            spec.input_name(sink.input),
            describe_sink(&sink.spec)
        );
    }
    ExitCode::SUCCESS
}
