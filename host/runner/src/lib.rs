//! The runner layer of millrace: the pipeline [`spec`], the [`source`]s and
//! [`sink`]s, and the driver that builds a pipeline from a spec and runs it from its
//! source to its sink, one event at a time. `millrace run` and `millrace serve` both
//! stand on it.
//!
//! After each event, every record the event causes is written before the next event
//! is read. Pipelines on the wall clock are woken for processing-time timers even
//! while their input is idle. When a bounded input ends, the watermark advances to
//! +∞ and every window emits its final pane.
//!
//! A run whose input can be read again from a position checkpoints every
//! `checkpoint.interval` of processing time, and once more when its input ends; a
//! run that did not finish resumes from its last good checkpoint ([`durable`]).
//! Kafka topics are read and written by [`kafka`], exactly once with a Kafka
//! transaction per checkpoint.

mod control;
mod durable;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(not(feature = "kafka"))]
#[path = "kafka/disabled.rs"]
mod kafka;
pub mod sink;
pub mod source;
pub mod source_set;
pub mod spec;

pub use control::{
    CheckpointTaken, Command, Control, KEPT_CHECKPOINTS, KEPT_SWAP_PAUSES, LiveStatus, SwapPoint,
};
pub use durable::{Backend, StateOptions, pipeline_dir};
pub use durable::{Counters, Durable, Outputs};

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sink::dead_letters::{self, DeadLetterWriter};
use crate::sink::{FileOutput, JsonLinesSink, Sink, Transaction};
use crate::source::{Clock, Generator, JsonLines, Nexmark, Poll, Source, TestStream};
use crate::source_set::SourceSet;
use crate::spec::{
    CheckpointSpec, CombineSpec, DeadLetterSpec, Input, Parallelism, PipelineSpec, SinkNode,
    SinkSpec, SourceNode, SourceSpec, SpecError, StepNode, StepSpec,
};
use millrace_model::cogroup::{lay_out, tag_input};
use millrace_model::combine::{Builtin, CombineFn, Inversion};
use millrace_model::dead_letter::DeadLetter;
use millrace_model::graph::{Node, Pipeline, PipelineOutput, Port};
use millrace_model::group::{GroupByKeyAndWindow, WindowingStrategy};
use millrace_model::pipeline::{AssignWindows, Event, Step, StepFault, StepStats, Swap, flatten};
use millrace_model::score::Score;
use millrace_model::time::{MAX_TIMESTAMP, wall_clock_now};
use millrace_model::trigger::DataTrigger;
use millrace_model::window::WindowFn;
use millrace_state::checkpoint;
use millrace_wasm::combine::WasmCombine;
use millrace_wasm::dofn::WasmDoFn;
use millrace_wasm::scorer::WasmScorer;
use millrace_wasm::trigger::WasmTrigger;
use millrace_wasm::window::WasmWindows;
use millrace_wasm::{ModelFile, PluginError, Prepared};
use spec::score::default_evaluator;

/// Where `--input` and `--output` point: a path, or `-` for stdin/stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A file.
    Path(PathBuf),
    /// Standard input or output.
    Standard,
}

impl Endpoint {
    /// Reads `-` as the standard stream and anything else as a path.
    pub fn parse(text: &str) -> Endpoint {
        if text == "-" {
            Endpoint::Standard
        } else {
            Endpoint::Path(PathBuf::from(text))
        }
    }
}

/// How to run a spec.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Read from here instead of the spec's source.
    pub input: Option<Endpoint>,
    /// Write to here instead of the spec's sink.
    pub output: Option<Endpoint>,
    /// Write dead letters here instead.
    pub dead_letter: Option<PathBuf>,
    /// Stop at the first record that cannot be processed.
    pub strict: bool,
    /// Draw a progress bar when stdout and stderr are terminals.
    pub progress: bool,
    /// State and checkpoints.
    pub state: StateOptions,
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Records read from the source.
    pub read: u64,
    /// Records written to the sink.
    pub emitted: u64,
    /// Of those, retractions.
    pub retractions: u64,
    /// Records dropped as late.
    pub dropped_late: u64,
    /// Records dropped because their window had closed.
    pub dropped_closed: u64,
    /// Records sent to the dead-letter output.
    pub dead_lettered: u64,
    /// Where dead letters went.
    pub dead_letter_output: String,
    /// Where records went.
    pub output: String,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Adds what another run (a task of the same pipeline) did to this one.
    pub fn add(&mut self, other: &RunSummary) {
        self.read += other.read;
        self.emitted += other.emitted;
        self.retractions += other.retractions;
        self.dropped_late += other.dropped_late;
        self.dropped_closed += other.dropped_closed;
        self.dead_lettered += other.dead_lettered;
        for (mine, theirs) in [
            (&mut self.output, &other.output),
            (&mut self.dead_letter_output, &other.dead_letter_output),
        ] {
            if !theirs.is_empty() && !mine.split(", ").any(|known| known == theirs) {
                if !mine.is_empty() {
                    mine.push_str(", ");
                }
                mine.push_str(theirs);
            }
        }
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read {} records; emitted {} ({} retractions) to {}; dropped {} late and {} for closed windows; dead-lettered {}",
            self.read,
            self.emitted,
            self.retractions,
            self.output,
            self.dropped_late,
            self.dropped_closed,
            self.dead_lettered
        )?;
        if self.dead_lettered > 0 {
            write!(f, " (see {})", self.dead_letter_output)?;
        }
        write!(f, "; {:.2}s", self.elapsed.as_secs_f64())
    }
}

/// A run that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The spec is invalid (exit status 2).
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// A file or stream failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: io::Error,
    },
    /// A step could not go on.
    #[error("{0}")]
    Fault(#[from] StepFault),
    /// `--strict` and a record could not be processed.
    #[error("stopped at the first bad record (--strict): {0}")]
    Strict(String),
    /// The state store could not be read or written.
    #[error("{0}")]
    State(#[from] millrace_state::StateError),
    /// The state directory or the checkpoint asked for cannot be used.
    #[error("{0}")]
    Checkpoint(String),
    /// The state directory is in use by another run.
    #[error("{0}")]
    InUse(String),
    /// The state directory belongs to a different pipeline (exit status 2).
    #[error("{0}")]
    Incompatible(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// A spec that this run cannot carry out, at `path` inside it.
fn spec_error(spec: &PipelineSpec, path: impl Into<String>, message: &str) -> RunError {
    RunError::Spec(SpecError {
        file: spec.file.clone(),
        path: path.into(),
        message: message.to_owned(),
        mark: None,
    })
}

/// A pipeline the runner builds: its plugins can be swapped for [`Prepared`] ones
/// while it runs.
pub type Built = Pipeline<Prepared>;

/// Builds the pipeline a spec describes: each spec step becomes a node of the graph
/// (a cogroup becomes one per input to tag its values, the grouping, and one to
/// lay out its panes, as Beam expands CoGroupByKey; a pardo of several inputs
/// reads them tagged the same way).
pub fn build_pipeline(spec: &PipelineSpec) -> Result<Built, SpecError> {
    let mut nodes: Vec<Node<Prepared>> = Vec::new();
    // The graph output of each spec step, by step index.
    let mut outputs: Vec<Port> = Vec::with_capacity(spec.steps.len());
    // The window function of each window step, custom ones loaded once.
    let mut window_fns: Vec<Option<WindowFn>> = Vec::with_capacity(spec.steps.len());
    let port = |outputs: &[Port], input: Input| match input {
        Input::Source(n) => Port::Source(n),
        Input::Step(n) => outputs[n],
        // A side output is a pardo's, and a pardo is one node.
        Input::Side { step, output } => match outputs[step] {
            Port::Main(node) => Port::Side { step: node, output },
            other => other,
        },
    };
    for node in &spec.steps {
        let inputs: Vec<Port> = node
            .inputs
            .iter()
            .map(|&input| port(&outputs, input))
            .collect();
        let mut window_fn = None;
        let step: Box<dyn Step<Prepared>> = match &node.spec {
            StepSpec::Window {
                path,
                strategy,
                custom,
                max_windows_per_element,
                ..
            } => {
                let function = match custom {
                    Some(custom) => WindowFn::Custom(
                        WasmWindows::load(custom, path)
                            .map_err(|err| plugin_error(spec, &format!("{path}.custom"), &err))?
                            .with_max_windows(*max_windows_per_element),
                    ),
                    None => strategy.window_fn.clone(),
                };
                window_fn = Some(function.clone());
                Box::new(AssignWindows::new(path.clone(), function))
            }
            StepSpec::ParDo {
                path,
                plugin,
                outputs: side_outputs,
                ..
            } => {
                let dofn = WasmDoFn::step(plugin, path, side_outputs)
                    .map_err(|err| plugin_error(spec, path, &err))?;
                if inputs.len() > 1 {
                    let tagged = tag_inputs(spec, node, path, &inputs, &mut nodes);
                    nodes.push(Node {
                        step: Box::new(dofn),
                        inputs: tagged,
                    });
                    outputs.push(Port::Main(nodes.len() - 1));
                    window_fns.push(None);
                    continue;
                }
                Box::new(dofn)
            }
            StepSpec::Combine { path, combine } => {
                let group = Grouping::of(spec, node, path, &window_fns)?;
                match combine {
                    CombineSpec::Builtin(builtin) => group.build(builtin.function())?,
                    CombineSpec::Plugin(plugin) => {
                        let function = WasmCombine::new(plugin, path)
                            .map_err(|err| plugin_error(spec, path, &err))?;
                        group.build(function)?
                    }
                }
            }
            // One task reads every key: a repartition moves nothing (a pipeline of
            // tasks runs its stages apart, and has no repartition step left).
            StepSpec::Flatten { path } | StepSpec::Repartition { path, .. } => {
                Box::new(flatten(path.clone()))
            }
            StepSpec::Score {
                path,
                model,
                evaluator,
                settings,
            } => {
                // A model's fault is the model's; the evaluator's, its plugin's.
                let failed = |err: PluginError| match err {
                    PluginError::Model { .. } => SpecError {
                        file: spec.file.clone(),
                        path: format!("{path}.model"),
                        message: err.to_string(),
                        mark: None,
                    },
                    other => plugin_error(spec, &format!("{path}.evaluator"), &other),
                };
                let file = ModelFile::read(&model.path, &model.name).map_err(failed)?;
                let evaluator = evaluator.clone().unwrap_or_else(default_evaluator);
                let scorer = WasmScorer::load(&evaluator, &file, path).map_err(failed)?;
                let step = Score::new(path, (**settings).clone(), scorer).map_err(|message| {
                    SpecError {
                        file: spec.file.clone(),
                        path: path.clone(),
                        message,
                        mark: None,
                    }
                })?;
                Box::new(step)
            }
            StepSpec::CoGroup { path } => {
                let tagged = tag_inputs(spec, node, path, &inputs, &mut nodes);
                let group = Grouping::of(spec, node, path, &window_fns)?;
                nodes.push(Node {
                    step: group.build(Builtin::Collect.function())?,
                    inputs: tagged,
                });
                let grouped = Port::Main(nodes.len() - 1);
                let names = node.inputs.iter().map(|&input| spec.input_name(input));
                nodes.push(Node {
                    step: Box::new(lay_out(format!("{path}.result"), names.collect())),
                    inputs: vec![grouped],
                });
                outputs.push(Port::Main(nodes.len() - 1));
                window_fns.push(None);
                continue;
            }
        };
        nodes.push(Node { step, inputs });
        outputs.push(Port::Main(nodes.len() - 1));
        window_fns.push(window_fn);
    }
    let sinks = spec
        .sinks
        .iter()
        .map(|sink| port(&outputs, sink.input))
        .collect();
    Pipeline::graph(spec.sources.len(), nodes, sinks).map_err(|err| SpecError {
        file: spec.file.clone(),
        path: String::new(),
        message: format!("the spec's graph cannot run: {err}"),
        mark: None,
    })
}

/// Adds a node per input of `node` that tags each value with the input's name
/// (`{"input": name, "value": v}`), for a step that reads several inputs and must
/// tell them apart (a cogroup, a pardo); returns the tagged ports.
fn tag_inputs(
    spec: &PipelineSpec,
    node: &StepNode,
    path: &str,
    inputs: &[Port],
    nodes: &mut Vec<Node<Prepared>>,
) -> Vec<Port> {
    let mut tagged = Vec::with_capacity(inputs.len());
    for (k, (&port, &input)) in inputs.iter().zip(&node.inputs).enumerate() {
        nodes.push(Node {
            step: Box::new(tag_input(
                format!("{path}.inputs[{k}]"),
                spec.input_name(input),
            )),
            inputs: vec![port],
        });
        tagged.push(Port::Main(nodes.len() - 1));
    }
    tagged
}

/// A spec error for a plugin the step at `path` could not use.
fn plugin_error(spec: &PipelineSpec, path: &str, err: &PluginError) -> SpecError {
    SpecError {
        file: spec.file.clone(),
        path: format!("{path}.plugin"),
        message: err.to_string(),
        mark: None,
    }
}

/// What a grouping (of a `combine` or `cogroup` step) is built from.
struct Grouping<'a> {
    spec: &'a PipelineSpec,
    path: &'a str,
    strategy: WindowingStrategy,
    retractions_possible: bool,
    data_triggers: Vec<Box<dyn DataTrigger>>,
}

impl<'a> Grouping<'a> {
    /// The grouping of the step `node` at `path`: the windowing its input has, with
    /// its own instances of the trigger's plugins. `window_fns` holds the loaded
    /// window function of each window step so far.
    fn of(
        spec: &'a PipelineSpec,
        node: &StepNode,
        path: &'a str,
        window_fns: &[Option<WindowFn>],
    ) -> Result<Self, SpecError> {
        let mut strategy = WindowingStrategy::default();
        let mut data_triggers: Vec<Box<dyn DataTrigger>> = Vec::new();
        if let Some(window) = node.windowing
            && let StepSpec::Window {
                path: window_path,
                strategy: windowing,
                trigger_plugins,
                ..
            } = &spec.steps[window].spec
        {
            strategy = windowing.clone();
            if let Some(Some(function)) = window_fns.get(window) {
                strategy.window_fn = function.clone();
            }
            for plugin in trigger_plugins {
                let trigger = WasmTrigger::new(plugin, path)
                    .map_err(|err| plugin_error(spec, &format!("{window_path}.trigger"), &err))?;
                data_triggers.push(Box::new(trigger));
            }
        }
        Ok(Grouping {
            spec,
            path,
            strategy,
            retractions_possible: node.retractions,
            data_triggers,
        })
    }

    fn build<C: CombineFn + Swap<Prepared>>(
        self,
        combine: C,
    ) -> Result<Box<dyn Step<Prepared>>, SpecError> {
        let error = |message: String| SpecError {
            file: self.spec.file.clone(),
            path: self.path.to_owned(),
            message,
            mark: None,
        };
        if self.retractions_possible
            && !self.strategy.accumulation.accumulates()
            && combine.inversion() != Inversion::Subtract
        {
            return Err(error(format!(
                "{} cannot take back the retractions an earlier step emits while its window \
                 discards fired panes; use accumulation: accumulating or retracting, or a \
                 combine that subtracts (sum, count, mean)",
                combine.name()
            )));
        }
        let step =
            GroupByKeyAndWindow::new(self.path, self.strategy, combine, self.retractions_possible)
                .map_err(|err| error(err.to_string()))?
                .with_data_triggers(self.data_triggers);
        Ok(Box::new(step))
    }
}

/// Opens the spec's `source`, or the one `--input` names.
pub fn open_source(
    spec: &PipelineSpec,
    source: &SourceNode,
    input: Option<&Endpoint>,
) -> Result<Box<dyn Source>, RunError> {
    let open_error = |path: &PathBuf| io_error(format!("cannot open the input {}", path.display()));
    let refuse = |path: String, message: &str| spec_error(spec, path, message);
    Ok(match (&source.spec, input) {
        (SourceSpec::TestStream { path }, None) => {
            Box::new(TestStream::open(path).map_err(open_error(path))?)
        }
        (SourceSpec::TestStream { .. }, Some(Endpoint::Path(path))) => {
            Box::new(TestStream::open(path).map_err(open_error(path))?)
        }
        (SourceSpec::TestStream { .. }, Some(Endpoint::Standard)) => Box::new(TestStream::stdin()),
        (SourceSpec::File(format) | SourceSpec::Stdin(format), Some(Endpoint::Path(path))) => {
            Box::new(JsonLines::file(path, format).map_err(open_error(path))?)
        }
        (SourceSpec::File(format), None) => {
            let path = format.path.clone().unwrap_or_default();
            Box::new(JsonLines::file(&path, format).map_err(open_error(&path))?)
        }
        (SourceSpec::File(format) | SourceSpec::Stdin(format), Some(Endpoint::Standard))
        | (SourceSpec::Stdin(format), None) => Box::new(JsonLines::stdin(format)),
        (SourceSpec::Generator(generator), None) => Box::new(Generator::new(generator)),
        (SourceSpec::Kafka(kafka), None) => {
            kafka::open_source(kafka, &format!("millrace-{}", spec.name))
                .map_err(io_error(format!("cannot open the input {}", source.path)))?
        }
        (SourceSpec::Kafka(_), Some(_)) => {
            return Err(refuse(
                format!("{}.kafka", source.path),
                "a Kafka source reads its topics, so --input does not apply",
            ));
        }
        (SourceSpec::Nexmark(nexmark), None) => Box::new(
            Nexmark::new(nexmark)
                .map_err(|err| refuse(format!("{}.nexmark", source.path), &err.to_string()))?,
        ),
        (SourceSpec::Ingest(_), _) => {
            return Err(refuse(
                format!("{}.ingest", source.path),
                "an ingest source takes records pushed to `millrace serve`: deploy the pipeline \
                 there, or read a file or stdin",
            ));
        }
        (SourceSpec::Generator(_), Some(_)) => {
            return Err(refuse(
                format!("{}.generator", source.path),
                "a generator reads no input, so --input does not apply",
            ));
        }
        (SourceSpec::Nexmark(_), Some(_)) => {
            return Err(refuse(
                format!("{}.nexmark", source.path),
                "the Nexmark source reads no input, so --input does not apply",
            ));
        }
    })
}

/// Opens every source of the spec (`--input` replaces a single one), or follows
/// the ingest log of a controlled pipeline.
fn open_sources(
    spec: &PipelineSpec,
    options: &RunOptions,
    control: Option<&Control>,
    task: Option<&kafka::Task>,
) -> Result<SourceSet, RunError> {
    if options.input.is_some() && spec.sources.len() > 1 {
        return Err(several(spec, "--input", "sources"));
    }
    let mut sources: Vec<Box<dyn Source>> = Vec::with_capacity(spec.sources.len());
    for (index, source) in spec.sources.iter().enumerate() {
        sources.push(match (&source.spec, control) {
            (SourceSpec::Kafka(kafka), _) if let Some(task) = task => {
                kafka::open_task_source(kafka, spec, task, index)
                    .map_err(io_error(format!("cannot open the input {}", source.path)))?
            }
            (SourceSpec::Ingest(format), Some(control)) => Box::new(
                JsonLines::follow(&control.ingest, format, control.wakeup.clone()).map_err(
                    io_error(format!("cannot open the input {}", control.ingest.name)),
                )?,
            ),
            _ => open_source(spec, source, options.input.as_ref())?,
        });
    }
    Ok(SourceSet::new(sources))
}

/// `--input` or `--output` on a pipeline with several sources or sinks.
fn several(spec: &PipelineSpec, flag: &str, what: &str) -> RunError {
    RunError::Spec(SpecError {
        file: spec.file.clone(),
        path: what.to_owned(),
        message: format!(
            "{flag} replaces a pipeline's one {}; this one has several {what}",
            what.trim_end_matches('s')
        ),
        mark: None,
    })
}

/// Where sink `sink` writes: a file, standard output (`None`), or a Kafka topic
/// (`None` too: see [`sink_description`]).
fn sink_target(sink: &SinkNode, output: Option<&Endpoint>) -> Option<PathBuf> {
    match (output, &sink.spec) {
        (Some(Endpoint::Standard), _) | (None, SinkSpec::Stdout | SinkSpec::Kafka(_)) => None,
        (Some(Endpoint::Path(path)), _) | (None, SinkSpec::File(path)) => Some(path.clone()),
    }
}

/// What sink `sink` writes to, for the state's fingerprint.
fn sink_description(sink: &SinkNode, output: Option<&Endpoint>) -> String {
    match (output, &sink.spec) {
        (None, SinkSpec::Kafka(kafka)) => format!("kafka {}", kafka.topic),
        _ => sink_target(sink, output)
            .map_or_else(|| "stdout".to_owned(), |path| path.display().to_string()),
    }
}

/// Where dead letters go: a file (by default beside the first file sink), or
/// standard error.
fn dead_letter_target(spec: &PipelineSpec, options: &RunOptions) -> Option<PathBuf> {
    match (&options.dead_letter, &spec.dead_letter) {
        (Some(path), _) | (None, Some(DeadLetterSpec::File(path))) => Some(path.clone()),
        (None, Some(DeadLetterSpec::Stderr)) => None,
        (None, None) => spec
            .sinks
            .iter()
            .find_map(|sink| sink_target(sink, options.output.as_ref()))
            .map(|sink| dead_letters::default_path_for(&sink)),
    }
}

/// Describes a run's inputs and outputs for its state's fingerprint.
fn io_description(spec: &PipelineSpec, options: &RunOptions) -> (serde_json::Value, Vec<String>) {
    let describe_source = |source: &SourceNode| match &options.input {
        Some(Endpoint::Path(path)) => path.display().to_string(),
        Some(Endpoint::Standard) => "stdin".to_owned(),
        None => match &source.spec {
            SourceSpec::TestStream { path } => path.display().to_string(),
            SourceSpec::File(format) => crate::source::describe(&format.path),
            SourceSpec::Stdin(_) => "stdin".to_owned(),
            SourceSpec::Ingest(_) => "ingest".to_owned(),
            SourceSpec::Generator(generator) => format!("{generator:?}"),
            SourceSpec::Nexmark(nexmark) => format!("{nexmark:?}"),
            // Not the brokers: a cluster keeps its offsets when its addresses change.
            SourceSpec::Kafka(kafka) => format!(
                "kafka {:?} group {}",
                kafka.topics,
                kafka
                    .group
                    .clone()
                    .unwrap_or_else(|| format!("millrace-{}", spec.name))
            ),
        },
    };
    let input = match spec.sources.as_slice() {
        [source] => serde_json::Value::from(describe_source(source)),
        sources => sources
            .iter()
            .map(|source| serde_json::Value::from(describe_source(source)))
            .collect(),
    };
    let mut outputs: Vec<String> = spec
        .sinks
        .iter()
        .map(|sink| sink_description(sink, options.output.as_ref()))
        .collect();
    outputs.push(
        dead_letter_target(spec, options)
            .map_or_else(|| "stderr".to_owned(), |path| path.display().to_string()),
    );
    (input, outputs)
}

/// Runs `spec` to the end of its input; with `parallelism: partitions`, runs this
/// process's share of the pipeline's tasks (see [`kafka`]).
pub fn run(spec: &PipelineSpec, options: &RunOptions) -> Result<RunSummary, RunError> {
    match spec.parallelism {
        Parallelism::Single => run_with(spec, options, None, None),
        Parallelism::Partitions => kafka::run_tasks(spec, options),
    }
}

/// Runs `spec` steered by `control` (as `millrace serve` does): an `ingest` source
/// follows `control.ingest`, commands are applied between events, and the status
/// is kept up to date. Returns when the pipeline is stopped.
pub fn run_controlled(
    spec: &PipelineSpec,
    options: &RunOptions,
    control: Control,
) -> Result<RunSummary, RunError> {
    if spec.parallelism == Parallelism::Partitions {
        return Err(spec_error(
            spec,
            "parallelism",
            "a served pipeline runs as one task: use `parallelism: single`",
        ));
    }
    run_with(spec, options, Some(control), None)
}

/// Runs `spec`, or one `task` of it.
pub(crate) fn run_with(
    spec: &PipelineSpec,
    options: &RunOptions,
    control: Option<Control>,
    task: Option<&kafka::Task>,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let mut pipeline = build_pipeline(spec)?;
    if options.output.is_some() && spec.sinks.len() > 1 {
        return Err(several(spec, "--output", "sinks"));
    }
    let mut sources = open_sources(spec, options, control.as_ref(), task)?;
    let Some(clock) = sources.clock() else {
        return Err(RunError::Spec(SpecError {
            file: spec.file.clone(),
            path: "sources".to_owned(),
            message: "test streams set processing time themselves, and cannot be read with \
                      sources on the wall clock: make every source a test stream, or none"
                .to_owned(),
            mark: None,
        }));
    };
    let checkpointing = options.state.backend != Backend::None && sources.position().is_some();
    let settings = spec.checkpoint.clone().unwrap_or(CheckpointSpec {
        interval: 10_000,
        records: None,
        keep: 3,
        store: None,
    });
    let mut kafka = kafka::Outputs::open(
        spec,
        options.output.is_some(),
        checkpointing,
        Duration::from_millis(settings.interval.max(0) as u64),
    )?;
    let transaction = kafka.transaction.as_deref();
    let mut durable = None;
    let mut resumed = None;
    if checkpointing {
        let (input, outputs) = io_description(spec, options);
        let fingerprint = checkpoint::fingerprint(input, outputs, pipeline.describe());
        let mut state = match task {
            None => Durable::open(&spec.name, &options.state, fingerprint, &settings)?,
            Some(task) => {
                kafka::open_task_state(spec, options, task, fingerprint, &settings)?.keep_finished()
            }
        };
        resumed = state.resume(&options.state, &mut pipeline, &mut sources, transaction)?;
        if task.is_some() && resumed.as_ref().is_some_and(|manifest| manifest.finished) {
            // A task that finished stays finished when it moves.
            tracing::info!("the task has finished");
            return Ok(RunSummary::default());
        }
        if let Some(transaction) = transaction {
            transaction.begin(state.next_marker());
        }
        durable = Some(state);
    }
    let file = |name: &str, target: &Path| match &durable {
        Some(durable) => durable.staged_output(name, target, resumed.as_ref()),
        None => FileOutput::direct(target)
            .map_err(io_error(format!("cannot create {}", target.display()))),
    };
    let mut sinks: Vec<Box<dyn Sink>> = Vec::with_capacity(spec.sinks.len());
    for (sink, kafka_sink) in spec.sinks.iter().zip(&mut kafka.sinks) {
        if let Some(kafka_sink) = kafka_sink.take() {
            sinks.push(kafka_sink);
            continue;
        }
        sinks.push(match sink_target(sink, options.output.as_ref()) {
            // A chain's one sink keeps the staging name it always had.
            Some(path) if spec.sinks.len() == 1 => {
                Box::new(JsonLinesSink::to(file("output", &path)?, &path))
            }
            Some(path) => Box::new(JsonLinesSink::to(
                file(&format!("output-{}", sink.name), &path)?,
                &path,
            )),
            None => Box::new(JsonLinesSink::stdout()),
        });
    }
    let dead_letters = match dead_letter_target(spec, options) {
        Some(path) => DeadLetterWriter::to(file("dead-letters", &path)?, &path),
        None => DeadLetterWriter::stderr(),
    };
    let progress = progress_bar(options.progress, &sources);
    let base = resumed
        .as_ref()
        .map_or_else(Counters::default, |m| Counters {
            emitted: m.emitted,
            retractions: m.retractions,
            dead_lettered: m.dead_lettered,
        });
    if spec.trace_versions {
        let versions = pipeline.versions();
        for sink in &mut sinks {
            sink.trace_versions(Some(&versions));
        }
    }
    let idle = Idleness::new(spec);
    let mut driver = Driver {
        out: PipelineOutput::new(sinks.len()),
        pipeline,
        sources,
        clock,
        idle,
        sinks,
        dead_letters,
        durable,
        strict: options.strict,
        trace_versions: spec.trace_versions,
        base,
        retractions: 0,
        control,
        transaction: kafka.transaction.clone(),
        checkpoints: 0,
        checkpointed: None,
        swapped_at: None,
        stop: task.map(kafka::Task::stop),
    };
    let result = driver.run(&progress);
    progress.finish_and_clear();
    if result.is_err() {
        // Show why the run failed: the dead letters since the last checkpoint are
        // published now (a resumed run takes them back and writes them again). The
        // output is not: it is published only with a checkpoint.
        let _ = driver.dead_letters.prepare();
        let _ = driver.dead_letters.publish();
    }
    let mut flushed = driver.flush();
    if result.is_ok() && driver.durable.is_none() {
        // Without checkpoints nothing else waits for the sinks' last records.
        for sink in &mut driver.sinks {
            flushed = flushed.and_then(|()| {
                sink.prepare()
                    .map(drop)
                    .map_err(io_error("cannot write the output"))
            });
        }
    }
    result?;
    flushed?;
    let mut totals = StepStats::default();
    for (_, stats) in driver.pipeline.stats() {
        totals.add(&stats);
    }
    let counters = driver.counters();
    let outputs: Vec<&str> = driver.sinks.iter().map(|sink| sink.description()).collect();
    Ok(RunSummary {
        read: driver.sources.records_read(),
        emitted: counters.emitted,
        retractions: counters.retractions,
        dropped_late: totals.dropped_late,
        dropped_closed: totals.dropped_closed,
        dead_lettered: counters.dead_lettered,
        dead_letter_output: driver.dead_letters.description().to_owned(),
        output: outputs.join(", "),
        elapsed: started.elapsed(),
    })
}

/// Which sources have gone idle: a source with an `idle_timeout` that has had no
/// records for that long (in the pipeline's processing time) stops holding back
/// the watermarks of the steps it feeds, until its next records. The pipeline
/// keeps whether a source is idle (its records make it active again); this keeps
/// when each had records.
struct Idleness {
    /// Each source's timeout, if it has one.
    timeouts: Vec<Option<i64>>,
    /// When each source last had records (or was first looked at).
    last_records: Vec<Option<i64>>,
    /// The latest processing time a test stream set (its clock starts at 0).
    virtual_now: i64,
}

impl Idleness {
    fn new(spec: &PipelineSpec) -> Self {
        Idleness {
            timeouts: spec.sources.iter().map(|s| s.idle_timeout).collect(),
            last_records: vec![None; spec.sources.len()],
            virtual_now: 0,
        }
    }

    fn enabled(&self) -> bool {
        self.timeouts.iter().any(Option::is_some)
    }

    /// Source `source` had records at processing time `now`.
    fn records(&mut self, source: usize, now: i64) {
        self.last_records[source] = Some(now);
    }

    /// The sources without records for their timeout by processing time `now`.
    fn idle(&mut self, now: i64) -> Vec<usize> {
        let mut idle = Vec::new();
        for (source, timeout) in self.timeouts.iter().enumerate() {
            let Some(timeout) = timeout else { continue };
            let since = *self.last_records[source].get_or_insert(now);
            if now.saturating_sub(since) >= *timeout {
                idle.push(source);
            }
        }
        idle
    }
}

fn progress_bar(wanted: bool, source: &SourceSet) -> ProgressBar {
    let on_terminal = io::stdout().is_terminal() && io::stderr().is_terminal();
    match source.progress() {
        Some((_, total)) if wanted && on_terminal && total > 0 => {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {bar:40} {percent:>3}% {msg} ({eta} left)")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        _ => ProgressBar::hidden(),
    }
}

/// Why a controlled pipeline stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Finish: final panes for every window.
    Drain,
    /// Stop where it is, to resume later.
    Pause,
}

struct Driver {
    pipeline: Built,
    sources: SourceSet,
    clock: Clock,
    idle: Idleness,
    sinks: Vec<Box<dyn Sink>>,
    dead_letters: DeadLetterWriter,
    durable: Option<Durable>,
    strict: bool,
    trace_versions: bool,
    /// Counts of the runs before a resume.
    base: Counters,
    retractions: u64,
    out: PipelineOutput,
    control: Option<Control>,
    /// The transaction of the exactly-once Kafka sinks, committed with each
    /// checkpoint.
    transaction: Option<std::sync::Arc<dyn Transaction>>,
    /// Checkpoints this run completed.
    checkpoints: u64,
    /// When the durable state last caught up with the pipeline.
    checkpointed: Option<Instant>,
    /// When the last swap switched, until its first output.
    swapped_at: Option<Instant>,
    /// Set when a task must checkpoint and stop.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Driver {
    fn run(&mut self, progress: &ProgressBar) -> Result<(), RunError> {
        let clock = self.clock;
        let mut events = Vec::new();
        let mut dead = Vec::new();
        loop {
            let timeout = match clock {
                Clock::Virtual => None,
                Clock::Wall => self.pipeline.next_processing_timer().map(|due| {
                    Duration::from_millis((due.saturating_sub(wall_clock_now()) + 1).max(0) as u64)
                }),
            };
            let status = self
                .sources
                .poll(&mut events, &mut dead, timeout)
                .map_err(io_error("cannot read the input"))?;
            self.dead_letter(&mut dead)?;
            for (source, event) in events.drain(..) {
                if clock == Clock::Wall && matches!(event, Event::Records(_)) {
                    self.handle(source, Event::ProcessingTime(wall_clock_now()))?;
                }
                self.handle(source, event)?;
            }
            if clock == Clock::Wall
                && (self.idle.enabled()
                    || self
                        .pipeline
                        .next_processing_timer()
                        .is_some_and(|due| due < wall_clock_now()))
            {
                self.handle(0, Event::ProcessingTime(wall_clock_now()))?;
            }
            if let Some((done, _)) = self.sources.progress() {
                progress.set_position(done);
                progress.set_message(format!("{} records", self.sources.records_read()));
            }
            if self.sources.is_live() || status == Poll::Idle {
                self.flush_sinks()?;
            }
            if status == Poll::End {
                break;
            }
            // Between two polls every event read so far has been handled: the
            // barrier's place in the stream, and where commands apply.
            match self.obey()? {
                Some(Stop::Drain) => break,
                Some(Stop::Pause) => {
                    if self.durable.is_some() {
                        self.checkpoint(false)?;
                    }
                    self.report();
                    return Ok(());
                }
                None => {}
            }
            let read = self.sources.records_read();
            if self.durable.as_ref().is_some_and(|d| d.due(read)) {
                self.checkpoint(false)?;
            }
            self.report();
        }
        // The input is complete: every window emits its final pane.
        for source in 0..self.sources.len() {
            self.handle(source, Event::Watermark(MAX_TIMESTAMP))?;
        }
        if self.durable.is_some() {
            self.checkpoint(true)?;
        }
        self.report();
        Ok(())
    }

    /// Applies the commands that arrived; says whether to stop.
    fn obey(&mut self) -> Result<Option<Stop>, RunError> {
        if self
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Acquire))
        {
            return Ok(Some(Stop::Pause));
        }
        let Some(control) = &self.control else {
            return Ok(None);
        };
        let commands: Vec<Command> = control.commands.try_iter().collect();
        let mut stop = None;
        for command in commands {
            match command {
                Command::Swap {
                    step,
                    replacement,
                    reply,
                } => {
                    // Every record before the switch is in a checkpoint, processed by
                    // the old version: a run that resumes after a crash never hands
                    // one of them to the new version.
                    if self.durable.is_some() {
                        self.checkpoint(false)?;
                    }
                    let switch = Instant::now();
                    let outcome = self.pipeline.swap(&step, replacement).map(|()| SwapPoint {
                        records_read: self.sources.records_read(),
                        watermark: self.pipeline.output_watermark(),
                    });
                    if outcome.is_ok() {
                        self.swapped_at = Some(switch);
                        if self.trace_versions {
                            let versions = self.pipeline.versions();
                            for sink in &mut self.sinks {
                                sink.trace_versions(Some(&versions));
                            }
                        }
                    }
                    let _ = reply.send(outcome);
                    self.report();
                }
                Command::Stop { drain } => {
                    // Draining reads what is already in the log first.
                    stop = Some(if drain { Stop::Drain } else { Stop::Pause });
                }
            }
        }
        if stop == Some(Stop::Drain) {
            self.drain()?;
        }
        Ok(stop)
    }

    /// Reads the rest of the input as it is now.
    fn drain(&mut self) -> Result<(), RunError> {
        let mut events = Vec::new();
        let mut dead = Vec::new();
        loop {
            let status = self
                .sources
                .poll(&mut events, &mut dead, Some(Duration::ZERO))
                .map_err(io_error("cannot read the input"))?;
            self.dead_letter(&mut dead)?;
            for (source, event) in events.drain(..) {
                self.handle(source, event)?;
            }
            if status != Poll::Events {
                return Ok(());
            }
        }
    }

    /// Refreshes a controlled pipeline's status. It does so after every poll:
    /// a controlled pipeline follows its ingest log and may wait in the next
    /// poll, and its status must not be stale meanwhile.
    fn report(&mut self) {
        let Some(control) = &self.control else {
            return;
        };
        let counters = self.counters();
        if let Ok(mut status) = control.status.lock() {
            status.records_read = self.sources.records_read();
            status.emitted = counters.emitted;
            status.dead_lettered = counters.dead_lettered;
            status.watermark = self.pipeline.output_watermark();
            status.steps = self.pipeline.status();
            status.checkpoints = self.checkpoints;
            status.last_checkpoint = self.checkpointed;
        }
    }

    fn checkpoint(&mut self, finished: bool) -> Result<(), RunError> {
        let counters = self.counters();
        if let Some(durable) = &mut self.durable {
            let started = Instant::now();
            for (index, sink) in self.sinks.iter_mut().enumerate() {
                sink.watermark(self.pipeline.sink_watermark(index))
                    .map_err(io_error("cannot write the output"))?;
            }
            let outputs = durable::Outputs {
                sinks: &mut self.sinks,
                transaction: self.transaction.as_deref(),
                dead_letters: &mut self.dead_letters,
            };
            let taken = durable.checkpoint(
                &mut self.pipeline,
                &mut self.sources,
                outputs,
                counters,
                finished,
            )?;
            self.checkpoints += u64::from(taken.is_some());
            self.checkpointed = Some(Instant::now());
            if let Some(manifest) = taken
                && let Some(control) = &self.control
                && let Ok(mut status) = control.status.lock()
            {
                status.checkpoint_taken(CheckpointTaken {
                    id: manifest.id,
                    at: manifest.created,
                    duration_ms: started.elapsed().as_secs_f64() * 1e3,
                    bytes: manifest.bytes(),
                    changes: manifest.changes,
                });
            }
        }
        Ok(())
    }

    /// The run's counts, with those of the runs it resumed.
    fn counters(&self) -> Counters {
        let written: u64 = self.sinks.iter().map(|sink| sink.written()).sum();
        Counters {
            emitted: self.base.emitted + written,
            retractions: self.base.retractions + self.retractions,
            dead_lettered: self.base.dead_lettered + self.dead_letters.written(),
        }
    }

    fn handle(&mut self, source: usize, event: Event) -> Result<(), RunError> {
        if self.idle.enabled() {
            self.track_idleness(source, &event);
        }
        self.pipeline.handle(source, event, &mut self.out)?;
        let mut dead = std::mem::take(&mut self.out.dead_letters);
        self.dead_letter(&mut dead)?;
        let mut wrote = false;
        for (sink, records) in self.sinks.iter_mut().zip(&mut self.out.sinks) {
            self.retractions += records.iter().filter(|r| r.retraction).count() as u64;
            sink.write(records)
                .map_err(io_error("cannot write the output"))?;
            wrote |= !records.is_empty();
            records.clear();
        }
        if wrote
            && let Some(switch) = self.swapped_at.take()
            && let Some(control) = &self.control
            && let Ok(mut status) = control.status.lock()
        {
            status.swap_paused(switch.elapsed());
        }
        Ok(())
    }

    /// Marks sources idle, or active again, as `event` moves processing time or
    /// brings records.
    fn track_idleness(&mut self, source: usize, event: &Event) {
        let now = match (self.clock, event) {
            (Clock::Virtual, Event::ProcessingTime(now)) => {
                self.idle.virtual_now = self.idle.virtual_now.max(*now);
                self.idle.virtual_now
            }
            (Clock::Virtual, _) => self.idle.virtual_now,
            (Clock::Wall, _) => wall_clock_now(),
        };
        if matches!(event, Event::Records(records) if !records.is_empty()) {
            self.idle.records(source, now);
        }
        for idle in self.idle.idle(now) {
            self.pipeline.set_idle(idle, true);
        }
    }

    fn dead_letter(&mut self, letters: &mut Vec<DeadLetter>) -> Result<(), RunError> {
        for letter in letters.drain(..) {
            if self.strict {
                return Err(RunError::Strict(letter.to_string()));
            }
            self.dead_letters
                .write(&letter)
                .map_err(io_error("cannot write the dead-letter output"))?;
        }
        Ok(())
    }

    fn flush_sinks(&mut self) -> Result<(), RunError> {
        for sink in &mut self.sinks {
            sink.flush().map_err(io_error("cannot write the output"))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RunError> {
        self.flush_sinks()?;
        self.dead_letters
            .flush()
            .map_err(io_error("cannot write the dead-letter output"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn combines_that_cannot_take_back_retractions_are_refused() {
        let head = "source: { test_stream: in.jsonl }\nsink: { stdout: {} }\n";
        let text = format!(
            "{head}steps:
  - window: {{ sessions: {{ gap: 1m }}, accumulation: retracting }}
  - combine: sum
  - window: {{ fixed: {{ size: 1h }} }}
  - combine: max
"
        );
        let build = |text: &str| {
            build_pipeline(&crate::spec::parse(Path::new("p.yaml"), text).unwrap()).map(|_| ())
        };
        let err = build(&text).unwrap_err();
        assert_eq!(err.path, "steps[3].combine");
        assert!(err.message.starts_with("max cannot take back"), "{err}");
        let accumulating = text.replace(
            "fixed: { size: 1h } }",
            "fixed: { size: 1h }, accumulation: accumulating }",
        );
        assert!(build(&accumulating).is_ok());
        assert!(build(&text.replace("combine: max", "combine: sum")).is_ok());
    }
}
