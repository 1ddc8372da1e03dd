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

mod control;
mod durable;
pub mod sink;
pub mod source;
pub mod spec;

pub use control::{Command, Control, KEPT_SWAP_PAUSES, LiveStatus, SwapPoint};
pub use durable::{Backend, StateOptions, pipeline_dir};
pub use durable::{Counters, Durable};

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sink::dead_letters::{self, DeadLetterWriter};
use crate::sink::{FileOutput, JsonLinesSink, Sink};
use crate::source::{Clock, Generator, JsonLines, Poll, Source, TestStream};
use crate::spec::{
    CheckpointSpec, CombineSpec, DeadLetterSpec, PipelineSpec, SinkSpec, SourceSpec, SpecError,
    StepSpec,
};
use millrace_model::combine::{CombineFn, Inversion};
use millrace_model::dead_letter::DeadLetter;
use millrace_model::group::{GroupByKeyAndWindow, WindowingStrategy};
use millrace_model::pane::AccumulationMode;
use millrace_model::pipeline::{
    AssignWindows, Event, Pipeline, Step, StepFault, StepOutput, StepStats, Swap,
};
use millrace_model::time::{MAX_TIMESTAMP, wall_clock_now};
use millrace_model::trigger::DataTrigger;
use millrace_model::window::WindowFn;
use millrace_state::checkpoint;
use millrace_wasm::combine::WasmCombine;
use millrace_wasm::dofn::WasmDoFn;
use millrace_wasm::trigger::WasmTrigger;
use millrace_wasm::window::WasmWindows;
use millrace_wasm::{PluginError, PluginSpec, Prepared};

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
    /// The state directory belongs to a different pipeline (exit status 2).
    #[error("{0}")]
    Incompatible(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// The steps of a pipeline the runner builds: their plugins can be swapped for
/// [`Prepared`] ones while it runs.
pub type Steps = Vec<Box<dyn Step<Prepared>>>;

/// Builds the steps a spec describes.
pub fn build_steps(spec: &PipelineSpec) -> Result<Steps, SpecError> {
    let mut steps: Steps = Vec::new();
    let mut strategy = WindowingStrategy::default();
    let mut window_path = String::new();
    let mut trigger_plugins: &[PluginSpec] = &[];
    let mut retractions_possible = false;
    for step in &spec.steps {
        match step {
            StepSpec::Window {
                path,
                strategy: next,
                custom,
                trigger_plugins: plugins,
                max_windows_per_element,
            } => {
                strategy = next.clone();
                if let Some(custom) = custom {
                    let window_fn = WasmWindows::load(custom, path)
                        .map_err(|err| plugin_error(spec, &format!("{path}.custom"), &err))?;
                    strategy.window_fn =
                        WindowFn::Custom(window_fn.with_max_windows(*max_windows_per_element));
                }
                window_path = path.clone();
                trigger_plugins = plugins;
                steps.push(Box::new(AssignWindows::new(
                    path.clone(),
                    strategy.window_fn.clone(),
                )));
            }
            StepSpec::ParDo { path, plugin } => {
                let step =
                    WasmDoFn::step(plugin, path).map_err(|err| plugin_error(spec, path, &err))?;
                steps.push(Box::new(step));
            }
            StepSpec::Combine { path, combine } => {
                // Each grouping gets its own instances of the trigger's plugins.
                let mut data_triggers: Vec<Box<dyn DataTrigger>> = Vec::new();
                for plugin in trigger_plugins {
                    let trigger = WasmTrigger::new(plugin, path).map_err(|err| {
                        plugin_error(spec, &format!("{window_path}.trigger"), &err)
                    })?;
                    data_triggers.push(Box::new(trigger));
                }
                let group = Grouping {
                    spec,
                    path,
                    strategy: strategy.clone(),
                    retractions_possible,
                    data_triggers,
                };
                let step = match combine {
                    CombineSpec::Builtin(builtin) => group.build(builtin.function())?,
                    CombineSpec::Plugin(plugin) => {
                        let function = WasmCombine::new(plugin, path)
                            .map_err(|err| plugin_error(spec, path, &err))?;
                        group.build(function)?
                    }
                };
                steps.push(step);
                retractions_possible |= strategy.accumulation == AccumulationMode::Retracting;
            }
        }
    }
    Ok(steps)
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

/// What a `combine` step's grouping is built from.
struct Grouping<'a> {
    spec: &'a PipelineSpec,
    path: &'a str,
    strategy: WindowingStrategy,
    retractions_possible: bool,
    data_triggers: Vec<Box<dyn DataTrigger>>,
}

impl Grouping<'_> {
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

/// Opens the spec's source, or the one `--input` names.
pub fn open_source(
    spec: &PipelineSpec,
    input: Option<&Endpoint>,
) -> Result<Box<dyn Source>, RunError> {
    let open_error = |path: &PathBuf| io_error(format!("cannot open the input {}", path.display()));
    Ok(match (&spec.source, input) {
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
        (SourceSpec::Ingest(_), _) => {
            return Err(RunError::Spec(SpecError {
                file: spec.file.clone(),
                path: "source.ingest".to_owned(),
                message: "an ingest source takes records pushed to `millrace serve`: deploy \
                          the pipeline there, or read a file or stdin"
                    .to_owned(),
                mark: None,
            }));
        }
        (SourceSpec::Generator(_), Some(_)) => {
            return Err(RunError::Spec(SpecError {
                file: spec.file.clone(),
                path: "source.generator".to_owned(),
                message: "a generator reads no input, so --input does not apply".to_owned(),
                mark: None,
            }));
        }
    })
}

/// Where the sink writes: a file, or standard output.
fn sink_target(spec: &PipelineSpec, output: Option<&Endpoint>) -> Option<PathBuf> {
    match (output, &spec.sink) {
        (Some(Endpoint::Standard), _) | (None, SinkSpec::Stdout) => None,
        (Some(Endpoint::Path(path)), _) | (None, SinkSpec::File(path)) => Some(path.clone()),
    }
}

/// Where dead letters go: a file, or standard error.
fn dead_letter_target(spec: &PipelineSpec, options: &RunOptions) -> Option<PathBuf> {
    match (
        &options.dead_letter,
        &spec.dead_letter,
        &options.output,
        &spec.sink,
    ) {
        (Some(path), ..) | (None, Some(DeadLetterSpec::File(path)), ..) => Some(path.clone()),
        (None, Some(DeadLetterSpec::Stderr), ..) => None,
        (None, None, Some(Endpoint::Path(sink)), _) => Some(dead_letters::default_path_for(sink)),
        (None, None, None, SinkSpec::File(sink)) => Some(dead_letters::default_path_for(sink)),
        (None, None, ..) => None,
    }
}

/// Describes a run's input and outputs for its state's fingerprint.
fn io_description(spec: &PipelineSpec, options: &RunOptions) -> (serde_json::Value, Vec<String>) {
    let input = match &options.input {
        Some(Endpoint::Path(path)) => path.display().to_string(),
        Some(Endpoint::Standard) => "stdin".to_owned(),
        None => match &spec.source {
            SourceSpec::TestStream { path } => path.display().to_string(),
            SourceSpec::File(format) => crate::source::describe(&format.path),
            SourceSpec::Stdin(_) => "stdin".to_owned(),
            SourceSpec::Ingest(_) => "ingest".to_owned(),
            SourceSpec::Generator(generator) => format!("{generator:?}"),
        },
    };
    let describe = |target: Option<PathBuf>, stream: &str| {
        target.map_or_else(|| stream.to_owned(), |path| path.display().to_string())
    };
    let outputs = vec![
        describe(sink_target(spec, options.output.as_ref()), "stdout"),
        describe(dead_letter_target(spec, options), "stderr"),
    ];
    (serde_json::Value::from(input), outputs)
}

/// Runs `spec` to the end of its input.
pub fn run(spec: &PipelineSpec, options: &RunOptions) -> Result<RunSummary, RunError> {
    run_with(spec, options, None)
}

/// Runs `spec` steered by `control` (as `millrace serve` does): an `ingest` source
/// follows `control.ingest`, commands are applied between events, and the status
/// is kept up to date. Returns when the pipeline is stopped.
pub fn run_controlled(
    spec: &PipelineSpec,
    options: &RunOptions,
    control: Control,
) -> Result<RunSummary, RunError> {
    run_with(spec, options, Some(control))
}

fn run_with(
    spec: &PipelineSpec,
    options: &RunOptions,
    control: Option<Control>,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let mut pipeline = Pipeline::new(build_steps(spec)?);
    let mut source = match (&spec.source, &control) {
        (SourceSpec::Ingest(format), Some(control)) => Box::new(
            JsonLines::follow(&control.ingest, format, control.wakeup.clone()).map_err(
                io_error(format!("cannot open the input {}", control.ingest.name)),
            )?,
        ),
        _ => open_source(spec, options.input.as_ref())?,
    };
    let checkpointing = options.state.backend != Backend::None && source.position().is_some();
    let mut durable = None;
    let mut resumed = None;
    if checkpointing {
        let (input, outputs) = io_description(spec, options);
        let fingerprint = checkpoint::fingerprint(input, outputs, pipeline.describe());
        let settings = spec.checkpoint.clone().unwrap_or(CheckpointSpec {
            interval: 10_000,
            records: None,
            keep: 3,
        });
        let mut state = Durable::open(&spec.name, &options.state, fingerprint, &settings)?;
        resumed = state.resume(&options.state, &mut pipeline, source.as_mut())?;
        durable = Some(state);
    }
    let file = |name: &str, target: &Path| match &durable {
        Some(durable) => durable.staged_output(name, target, resumed.as_ref()),
        None => FileOutput::direct(target)
            .map_err(io_error(format!("cannot create {}", target.display()))),
    };
    let mut sink: Box<dyn Sink> = match sink_target(spec, options.output.as_ref()) {
        Some(path) => Box::new(JsonLinesSink::to(file("output", &path)?, &path)),
        None => Box::new(JsonLinesSink::stdout()),
    };
    let dead_letters = match dead_letter_target(spec, options) {
        Some(path) => DeadLetterWriter::to(file("dead-letters", &path)?, &path),
        None => DeadLetterWriter::stderr(),
    };
    let progress = progress_bar(options.progress, source.as_ref());
    let base = resumed
        .as_ref()
        .map_or_else(Counters::default, |m| Counters {
            emitted: m.emitted,
            retractions: m.retractions,
            dead_lettered: m.dead_lettered,
        });
    if spec.trace_versions {
        sink.trace_versions(Some(&pipeline.versions()));
    }
    let mut driver = Driver {
        pipeline,
        source,
        sink,
        dead_letters,
        durable,
        strict: options.strict,
        trace_versions: spec.trace_versions,
        base,
        retractions: 0,
        out: StepOutput::default(),
        control,
        checkpoints: 0,
        checkpointed: None,
        swapped_at: None,
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
    let flushed = driver.flush();
    result?;
    flushed?;
    let mut totals = StepStats::default();
    for (_, stats) in driver.pipeline.stats() {
        totals.add(&stats);
    }
    let counters = driver.counters();
    Ok(RunSummary {
        read: driver.source.records_read(),
        emitted: counters.emitted,
        retractions: counters.retractions,
        dropped_late: totals.dropped_late,
        dropped_closed: totals.dropped_closed,
        dead_lettered: counters.dead_lettered,
        dead_letter_output: driver.dead_letters.description().to_owned(),
        output: driver.sink.description().to_owned(),
        elapsed: started.elapsed(),
    })
}

fn progress_bar(wanted: bool, source: &dyn Source) -> ProgressBar {
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
    pipeline: Pipeline<Prepared>,
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    dead_letters: DeadLetterWriter,
    durable: Option<Durable>,
    strict: bool,
    trace_versions: bool,
    /// Counts of the runs before a resume.
    base: Counters,
    retractions: u64,
    out: StepOutput,
    control: Option<Control>,
    /// Checkpoints this run completed.
    checkpoints: u64,
    /// When the durable state last caught up with the pipeline.
    checkpointed: Option<Instant>,
    /// When the last swap switched, until its first output.
    swapped_at: Option<Instant>,
}

impl Driver {
    fn run(&mut self, progress: &ProgressBar) -> Result<(), RunError> {
        let clock = self.source.clock();
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
                .source
                .poll(&mut events, &mut dead, timeout)
                .map_err(io_error("cannot read the input"))?;
            self.dead_letter(&mut dead)?;
            for event in events.drain(..) {
                if clock == Clock::Wall && matches!(event, Event::Records(_)) {
                    self.handle(Event::ProcessingTime(wall_clock_now()))?;
                }
                self.handle(event)?;
            }
            if clock == Clock::Wall
                && self
                    .pipeline
                    .next_processing_timer()
                    .is_some_and(|due| due < wall_clock_now())
            {
                self.handle(Event::ProcessingTime(wall_clock_now()))?;
            }
            if let Some((done, _)) = self.source.progress() {
                progress.set_position(done);
                progress.set_message(format!("{} records", self.source.records_read()));
            }
            if self.source.is_live() || status == Poll::Idle {
                self.sink
                    .flush()
                    .map_err(io_error("cannot write the output"))?;
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
            let read = self.source.records_read();
            if self.durable.as_ref().is_some_and(|d| d.due(read)) {
                self.checkpoint(false)?;
            }
            self.report();
        }
        // The input is complete: every window emits its final pane.
        self.handle(Event::Watermark(MAX_TIMESTAMP))?;
        if self.durable.is_some() {
            self.checkpoint(true)?;
        }
        self.report();
        Ok(())
    }

    /// Applies the commands that arrived; says whether to stop.
    fn obey(&mut self) -> Result<Option<Stop>, RunError> {
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
                        records_read: self.source.records_read(),
                        watermark: self.pipeline.output_watermark(),
                    });
                    if outcome.is_ok() {
                        self.swapped_at = Some(switch);
                        if self.trace_versions {
                            self.sink.trace_versions(Some(&self.pipeline.versions()));
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
                .source
                .poll(&mut events, &mut dead, Some(Duration::ZERO))
                .map_err(io_error("cannot read the input"))?;
            self.dead_letter(&mut dead)?;
            for event in events.drain(..) {
                self.handle(event)?;
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
            status.records_read = self.source.records_read();
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
            let taken = durable.checkpoint(
                &mut self.pipeline,
                self.source.as_ref(),
                self.sink.as_mut(),
                &mut self.dead_letters,
                counters,
                finished,
            )?;
            self.checkpoints += u64::from(taken.is_some());
            self.checkpointed = Some(Instant::now());
        }
        Ok(())
    }

    /// The run's counts, with those of the runs it resumed.
    fn counters(&self) -> Counters {
        Counters {
            emitted: self.base.emitted + self.sink.written(),
            retractions: self.base.retractions + self.retractions,
            dead_lettered: self.base.dead_lettered + self.dead_letters.written(),
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), RunError> {
        self.pipeline.handle(event, &mut self.out)?;
        let mut dead = std::mem::take(&mut self.out.dead_letters);
        self.dead_letter(&mut dead)?;
        self.retractions += self.out.records.iter().filter(|r| r.retraction).count() as u64;
        self.sink
            .write(&self.out.records)
            .map_err(io_error("cannot write the output"))?;
        if !self.out.records.is_empty()
            && let Some(switch) = self.swapped_at.take()
            && let Some(control) = &self.control
            && let Ok(mut status) = control.status.lock()
        {
            status.swap_paused(switch.elapsed());
        }
        self.out.records.clear();
        Ok(())
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

    fn flush(&mut self) -> Result<(), RunError> {
        self.sink
            .flush()
            .map_err(io_error("cannot write the output"))?;
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
            build_steps(&crate::spec::parse(Path::new("p.yaml"), text).unwrap()).map(|_| ())
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
