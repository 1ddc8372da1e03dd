//! Pipeline specs: the YAML (or JSON) files that describe a pipeline.
//!
//! [`load`] reads and validates a spec in one pass. An error names the file, the
//! path inside it (`steps[1].window.trigger.after_count`), what was expected and
//! what was found, with the line and column:
//!
//! ```text
//! pipeline.yaml: steps[0].window.trigger.after_count: expected a whole number of at
//! least 1, found -3 (line 6, column 24)
//! ```
//!
//! The grammar is DESIGN.md's; relative paths in a spec are relative to the spec's
//! own folder.

pub mod document;
mod graph;
pub mod kafka;
mod repartition;
pub mod score;
pub mod view;

use std::fmt;
use std::path::{Path, PathBuf};

use document::{Entry, Mark, Node, NodeValue};
use millrace_model::combine::Builtin;
use millrace_model::group::WindowingStrategy;
use millrace_model::pane::{AccumulationMode, TimestampCombiner};
use millrace_model::time::{check_duration, event_time, parse_duration};
use millrace_model::trigger::{Alignment, MAX_NODES, Trigger, TriggerMachine};
use millrace_model::window::{DEFAULT_MAX_WINDOWS_PER_ELEMENT, MAX_WINDOWS_PER_ELEMENT, WindowFn};
use millrace_wasm::{Grants, Limits, PluginSpec};

/// A validated pipeline spec: a graph of named sources, steps and sinks
/// ([`graph`]); a chain is the graph whose steps each read the one before.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineSpec {
    /// The pipeline's name (the file's stem when the spec has none).
    pub name: String,
    /// Where the spec was read from.
    pub file: PathBuf,
    /// Where records come from (a chain's one source is named `source`).
    pub sources: Vec<SourceNode>,
    /// What happens to them: each step after every step it reads (a chain's in
    /// its order).
    pub steps: Vec<StepNode>,
    /// Where panes go (a chain's one sink is named `sink`).
    pub sinks: Vec<SinkNode>,
    /// Where records that cannot be processed go; `None` picks the default.
    pub dead_letter: Option<DeadLetterSpec>,
    /// Checkpoint settings.
    pub checkpoint: Option<CheckpointSpec>,
    /// Whether each output record names the plugin versions that made it (in its
    /// pane metadata).
    pub trace_versions: bool,
    /// How the pipeline's work is divided among threads and processes.
    pub parallelism: Parallelism,
}

/// How a pipeline's work is divided (`parallelism:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// One task reads every input (`single`, the default).
    #[default]
    Single,
    /// One task per partition number of the Kafka sources (`partitions`), each
    /// with its own state, checkpoints and transactions; the processes of the
    /// pipeline's consumer group share the tasks out by Kafka's assignment.
    Partitions,
}

/// A named source of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceNode {
    /// Its name, which steps and sinks read it by.
    pub name: String,
    /// Where it is in the spec, e.g. `sources.bids` (or `source`).
    pub path: String,
    /// What it reads.
    pub spec: SourceSpec,
    /// After this long without records (processing time, in milliseconds), the
    /// source no longer holds back the watermarks of the steps it feeds.
    pub idle_timeout: Option<i64>,
}

/// A step of a pipeline and what it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct StepNode {
    /// Its name, if the spec gives one (steps and sinks read it by).
    pub name: Option<String>,
    /// What it reads, in order.
    pub inputs: Vec<Input>,
    /// The step.
    pub spec: StepSpec,
    /// The `window` step whose windowing its input has (by index in the steps),
    /// `None` for the global window of a source.
    pub windowing: Option<usize>,
    /// Whether its input may hold retractions (a retracting grouping is upstream).
    pub retractions: bool,
}

/// A named sink of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkNode {
    /// Its name.
    pub name: String,
    /// Where it is in the spec, e.g. `sinks.out` (or `sink`).
    pub path: String,
    /// What it reads.
    pub input: Input,
    /// Where the records go.
    pub spec: SinkSpec,
}

/// What a step or sink reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The records of source `n`.
    Source(usize),
    /// The output of step `n`.
    Step(usize),
    /// Side output `output` of step `step` (a `pardo`'s `outputs[output]`).
    Side {
        /// The step.
        step: usize,
        /// Which of its declared outputs.
        output: usize,
    },
}

impl PipelineSpec {
    /// The one source of a pipeline that has one.
    pub fn only_source(&self) -> Option<&SourceSpec> {
        match self.sources.as_slice() {
            [source] => Some(&source.spec),
            _ => None,
        }
    }

    /// The name of what `input` names, for people: a source's or step's name, or
    /// the step's path when it has none.
    pub fn input_name(&self, input: Input) -> String {
        match input {
            Input::Source(n) => self.sources[n].name.clone(),
            Input::Step(n) => {
                let step = &self.steps[n];
                step.name
                    .clone()
                    .unwrap_or_else(|| step.spec.path().to_owned())
            }
            Input::Side { step, output } => {
                let name = self.input_name(Input::Step(step));
                match &self.steps[step].spec {
                    StepSpec::ParDo { outputs, .. } => format!("{name}.{}", outputs[output]),
                    _ => name,
                }
            }
        }
    }
}

/// A source of records.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// A scripted stream of bundles, watermarks and processing-time advances.
    TestStream {
        /// The JSON Lines script.
        path: PathBuf,
    },
    /// A JSON Lines file.
    File(JsonLinesSpec),
    /// JSON Lines on standard input.
    Stdin(JsonLinesSpec),
    /// Generated records, for benchmarks and demos.
    Generator(GeneratorSpec),
    /// The Nexmark benchmark's events.
    Nexmark(NexmarkSpec),
    /// JSON Lines pushed to `millrace serve`'s ingest endpoint.
    Ingest(JsonLinesSpec),
    /// Records of Kafka topics.
    Kafka(Box<KafkaSourceSpec>),
}

/// How records are read from JSON Lines.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonLinesSpec {
    /// The file (absent for stdin).
    pub path: Option<PathBuf>,
    /// The event-time field.
    pub timestamp: FieldPath,
    /// How the event time is written.
    pub timestamp_format: TimestampFormat,
    /// The field that becomes the key; the null key when absent.
    pub key: Option<FieldPath>,
    /// The field that becomes the value; the whole object when absent.
    pub value: Option<FieldPath>,
    /// How far behind the latest event time the watermark trails.
    pub max_out_of_orderness: i64,
    /// How many lines make one bundle.
    pub bundle_size: usize,
}

pub use kafka::{Delivery, KafkaSinkSpec, KafkaSourceSpec, RepartitionWriter, StartAt, Topics};
pub use millrace_model::field::FieldPath;
pub use repartition::{RepartitionTopic, repartition_topics, stages};

/// How an event time is written in input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Integer milliseconds or an RFC 3339 string.
    Auto,
    /// Integer milliseconds since the epoch.
    Millis,
    /// Seconds since the epoch, possibly fractional.
    Seconds,
    /// An RFC 3339 string.
    Rfc3339,
}

/// Settings of the generator source.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorSpec {
    /// How many records; `None` runs forever.
    pub elements: Option<u64>,
    /// How many distinct keys.
    pub keys: u64,
    /// Records per second of event time.
    pub rate: u64,
    /// How far records may arrive out of order (and the watermark trails).
    pub out_of_orderness: i64,
    /// Event time of the first record.
    pub start: i64,
    /// Seed of the pseudo-random sequence.
    pub seed: u64,
    /// Records per bundle.
    pub bundle_size: usize,
}

/// Settings of the Nexmark source.
#[derive(Clone, Debug, PartialEq)]
pub struct NexmarkSpec {
    /// The generator's settings (Beam's, with Beam's defaults).
    pub config: millrace_nexmark::GeneratorConfig,
    /// Events per bundle.
    pub bundle_size: usize,
}

/// One step of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum StepSpec {
    /// Assign windows, and set how the next grouping triggers and accumulates.
    Window {
        /// The step's path in the spec, e.g. `steps[0].window`.
        path: String,
        /// The windowing. With a custom window function, `window_fn` is a placeholder
        /// that the runner replaces with the plugin.
        strategy: WindowingStrategy,
        /// The custom window function's plugin, if any.
        custom: Option<PluginSpec>,
        /// The plugins of the trigger's data-driven parts: `Trigger::Plugin { index }`
        /// names `trigger_plugins[index]`.
        trigger_plugins: Vec<PluginSpec>,
        /// The most windows one element may be in (checked for sliding windows when
        /// the spec is read, and for a custom function's output per element).
        max_windows_per_element: u64,
    },
    /// Run a DoFn plugin on every record.
    ParDo {
        /// The step's path in the spec.
        path: String,
        /// The plugin.
        plugin: PluginSpec,
        /// The side outputs it may emit to, by name (read as `step.name`).
        outputs: Vec<String>,
        /// Whether the spec promises that the plugin never changes a record's key
        /// (`keeps_key: true`): with a task per partition, a grouping after it
        /// then needs no repartition topic.
        keeps_key: bool,
    },
    /// Group by key and window, and combine each group's values.
    Combine {
        /// The step's path in the spec.
        path: String,
        /// The function.
        combine: CombineSpec,
    },
    /// Merge several inputs into one.
    Flatten {
        /// The step's path in the spec.
        path: String,
    },
    /// Group several inputs by key and window at once (CoGroupByKey); each pane
    /// holds every input's values under the input's name.
    CoGroup {
        /// The step's path in the spec.
        path: String,
    },
    /// Score each record with a trained model.
    Score {
        /// The step's path in the spec.
        path: String,
        /// The model.
        model: score::ModelRef,
        /// The evaluator plugin that runs it; `None`: the first-party one
        /// ([`score::default_evaluator`]).
        evaluator: Option<PluginSpec>,
        /// Features, outputs, drift and histogram settings.
        settings: Box<millrace_model::score::ScoreSettings>,
    },
    /// Sends each record to the task of its key, through a Kafka topic, when the
    /// pipeline runs a task per partition; passes records on unchanged otherwise.
    Repartition {
        /// The step's path in the spec.
        path: String,
        /// The topic (`<pipeline>-<step>-repartition` unless the spec names one).
        topic: String,
        /// Its partitions when millrace creates it (`None`: as many as the
        /// pipeline has tasks).
        partitions: Option<i32>,
    },
}

impl StepSpec {
    /// The step's path in the spec, e.g. `steps[2].combine`.
    pub fn path(&self) -> &str {
        match self {
            StepSpec::Window { path, .. }
            | StepSpec::ParDo { path, .. }
            | StepSpec::Combine { path, .. }
            | StepSpec::Flatten { path }
            | StepSpec::CoGroup { path, .. }
            | StepSpec::Score { path, .. }
            | StepSpec::Repartition { path, .. } => path,
        }
    }

    /// The step's kind as the spec writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            StepSpec::Window { .. } => "window",
            StepSpec::ParDo { .. } => "pardo",
            StepSpec::Combine { .. } => "combine",
            StepSpec::Flatten { .. } => "flatten",
            StepSpec::CoGroup { .. } => "cogroup",
            StepSpec::Score { .. } => "score",
            StepSpec::Repartition { .. } => "repartition",
        }
    }
}

/// A combine function.
#[derive(Clone, Debug, PartialEq)]
pub enum CombineSpec {
    /// One of the built-ins.
    Builtin(Builtin),
    /// A CombineFn plugin.
    Plugin(PluginSpec),
}

/// Where panes go.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkSpec {
    /// A JSON Lines file.
    File(PathBuf),
    /// Standard output.
    Stdout,
    /// A Kafka topic.
    Kafka(Box<KafkaSinkSpec>),
}

/// Where dead letters go.
#[derive(Clone, Debug, PartialEq)]
pub enum DeadLetterSpec {
    /// A JSON Lines file.
    File(PathBuf),
    /// Standard error.
    Stderr,
}

/// Checkpoint settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointSpec {
    /// Processing time between checkpoints, in milliseconds.
    pub interval: i64,
    /// Also checkpoint after this many records read since the last checkpoint:
    /// barriers at a place in the input rather than in time.
    pub records: Option<u64>,
    /// How many completed checkpoints to keep.
    pub keep: u64,
    /// Where checkpoints are also kept, for any process to resume from: a URL
    /// (`file:///…`, `s3://…`, `gs://…`, `az://…`); see `millrace_state::store`.
    pub store: Option<String>,
}

/// A spec that is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// Where inside the spec, e.g. `steps[0].window.trigger`; empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Where in the text.
    pub mark: Option<Mark>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(mark) = self.mark {
            write!(f, " ({mark})")?;
        }
        Ok(())
    }
}

/// A spec result.
pub type Result<T> = std::result::Result<T, SpecError>;

/// Reads and validates the spec at `file`. At most [`document::MAX_DOCUMENT_BYTES`]
/// (and one more, to tell that there are more) are read, whatever the file is.
pub fn load(file: &Path) -> Result<PipelineSpec> {
    use std::io::Read;
    let error = |message: String| SpecError {
        file: file.to_owned(),
        path: String::new(),
        message,
        mark: None,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|spec| {
            spec.take(document::MAX_DOCUMENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|err| error(format!("cannot read the spec: {err}")))?;
    if bytes.len() > document::MAX_DOCUMENT_BYTES {
        return Err(error(format!(
            "the spec is larger than the limit of {} bytes (1 MiB)",
            document::MAX_DOCUMENT_BYTES
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|err| error(format!("cannot read the spec: it is not UTF-8 text: {err}")))?;
    parse(file, &text)
}

/// Validates the spec text `text`, read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<PipelineSpec> {
    read(file, text, None)
}

/// What a name may be, for messages: the rules [`is_name`] checks.
pub const NAME_RULES: &str =
    "use lowercase letters, digits, - and _ (at most 63, starting with a letter or digit)";

/// Whether `name` can name a pipeline, tenant or plugin: lowercase letters, digits,
/// `-` and `_`, at most 63, starting with a letter or digit. Names become folder
/// names, on the command line and on the server alike, so uppercase is refused (two
/// names differing only in case would share a folder on case-insensitive file
/// systems), and so are dots (`.`, `..` and hidden folders are not names).
pub fn is_name(name: &str) -> bool {
    name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Checks a pipeline name, which names its state folder (see [`is_name`]).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if is_name(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a pipeline name: {NAME_RULES}"))
    }
}

/// The most lines or generated records in one bundle: a bundle is held in memory
/// (several times over, in channels and steps).
pub const MAX_BUNDLE_SIZE: u64 = 100_000;

/// How a duration is described when one is expected.
const DURATION: &str = "a duration such as 250ms, 30s, 1m, 2h or 1d (at most 213503982d)";

/// Finds a plugin by the name a spec gives it: `Ok(path)` of its component, or why
/// there is none.
pub type PluginResolver<'a> = &'a dyn Fn(&str) -> std::result::Result<PathBuf, String>;

/// Validates `text` as [`parse`] does, except that each `plugin:` names a plugin
/// that `plugins` finds, and each `model:` a model that `models` finds (as in a
/// server's registry), rather than a path.
pub fn parse_with_registry(
    file: &Path,
    text: &str,
    plugins: PluginResolver<'_>,
    models: score::ModelResolver<'_>,
) -> Result<PipelineSpec> {
    read(file, text, Some((plugins, models)))
}

fn read(
    file: &Path,
    text: &str,
    registry: Option<(PluginResolver<'_>, score::ModelResolver<'_>)>,
) -> Result<PipelineSpec> {
    let root = document::parse(text).map_err(|err| SpecError {
        file: file.to_owned(),
        path: String::new(),
        message: format!("not valid YAML or JSON: {}", err.message),
        mark: Some(err.mark),
    })?;
    let reader = Reader {
        file,
        base: file.parent().unwrap_or(Path::new("")).to_owned(),
        plugins: registry.map(|(plugins, _)| plugins),
        models: registry.map(|(_, models)| models),
    };
    reader.pipeline(&root)
}

/// Where a value sits in the spec.
#[derive(Clone)]
struct At {
    path: String,
}

impl At {
    fn root() -> At {
        At {
            path: String::new(),
        }
    }

    fn key(&self, key: &str) -> At {
        At {
            path: if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.path)
            },
        }
    }

    fn index(&self, index: usize) -> At {
        At {
            path: format!("{}[{index}]", self.path),
        }
    }
}

/// Turns document nodes into spec values, tracking where each came from.
struct Reader<'a> {
    file: &'a Path,
    base: PathBuf,
    plugins: Option<PluginResolver<'a>>,
    models: Option<score::ModelResolver<'a>>,
}

impl Reader<'_> {
    fn error(&self, at: &At, message: impl Into<String>, mark: Mark) -> SpecError {
        SpecError {
            file: self.file.to_owned(),
            path: at.path.clone(),
            message: message.into(),
            mark: Some(mark),
        }
    }

    fn expected(&self, at: &At, expected: &str, node: &Node) -> SpecError {
        self.error(
            at,
            format!("expected {expected}, found {}", node.describe()),
            node.mark,
        )
    }

    /// The entries of a map whose keys must all be in `allowed`.
    fn map<'n>(&self, at: &At, node: &'n Node, allowed: &[&str]) -> Result<Map<'n>> {
        let entries: &[Entry] = match &node.value {
            NodeValue::Map(entries) => entries,
            NodeValue::Null => &[],
            _ => {
                return Err(self.expected(at, &format!("a map with {}", allowed.join(", ")), node));
            }
        };
        for entry in entries {
            if !allowed.contains(&entry.key.as_str()) {
                return Err(self.error(at, unknown("key", &entry.key, allowed), entry.key_mark));
            }
        }
        Ok(Map {
            entries,
            mark: node.mark,
        })
    }

    /// A map with exactly one key from `allowed`, or a bare name from `allowed`.
    fn choice<'n>(
        &self,
        at: &At,
        node: &'n Node,
        allowed: &[&str],
        what: &str,
    ) -> Result<(&'n str, Option<&'n Node>, Mark)> {
        match &node.value {
            NodeValue::Str(name) if allowed.contains(&name.as_str()) => Ok((name, None, node.mark)),
            NodeValue::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                if allowed.contains(&entry.key.as_str()) {
                    Ok((&entry.key, Some(&entry.value), entry.key_mark))
                } else {
                    Err(self.error(at, unknown(what, &entry.key, allowed), entry.key_mark))
                }
            }
            NodeValue::Str(name) => Err(self.error(at, unknown(what, name, allowed), node.mark)),
            _ => Err(self.expected(at, &format!("one {what} of {}", allowed.join(", ")), node)),
        }
    }

    fn string(&self, at: &At, node: &Node) -> Result<String> {
        match &node.value {
            NodeValue::Str(text) if !text.is_empty() => Ok(text.clone()),
            _ => Err(self.expected(at, "text", node)),
        }
    }

    fn path(&self, at: &At, node: &Node) -> Result<PathBuf> {
        let text = self.string(at, node)?;
        Ok(normalize(&self.base.join(text)))
    }

    fn duration(&self, at: &At, node: &Node) -> Result<i64> {
        match &node.value {
            NodeValue::Int(millis) if check_duration(*millis).is_some() => Ok(*millis),
            NodeValue::Str(text) => {
                parse_duration(text).map_err(|_| self.expected(at, DURATION, node))
            }
            _ => Err(self.expected(at, DURATION, node)),
        }
    }

    fn positive_duration(&self, at: &At, node: &Node) -> Result<i64> {
        let millis = self.duration(at, node)?;
        if millis == 0 {
            return Err(self.expected(at, "a duration longer than zero", node));
        }
        Ok(millis)
    }

    fn count(&self, at: &At, node: &Node, min: u64) -> Result<u64> {
        match &node.value {
            NodeValue::Int(n) if *n >= 0 && *n as u64 >= min => Ok(*n as u64),
            _ => Err(self.expected(at, &format!("a whole number of at least {min}"), node)),
        }
    }

    /// A count from `min` to `max`: settings that size buffers or loops are bounded.
    fn count_up_to(&self, at: &At, node: &Node, min: u64, max: u64) -> Result<u64> {
        match &node.value {
            NodeValue::Int(n) if (i128::from(min)..=i128::from(max)).contains(&i128::from(*n)) => {
                Ok(*n as u64)
            }
            _ => Err(self.expected(at, &format!("a whole number from {min} to {max}"), node)),
        }
    }

    fn pipeline(&self, root: &Node) -> Result<PipelineSpec> {
        let at = At::root();
        let map = self.map(
            &at,
            root,
            &[
                "name",
                "source",
                "sources",
                "steps",
                "sink",
                "sinks",
                "dead_letter",
                "checkpoint",
                "trace_versions",
                "parallelism",
            ],
        )?;
        let name = match map.get("name") {
            Some(node) => {
                let name = self.string(&at.key("name"), node)?;
                check_name(&name)
                    .map_err(|message| self.error(&at.key("name"), message, node.mark))?;
                name
            }
            None => {
                let stem = self.file.file_stem().map_or_else(
                    || "pipeline".to_owned(),
                    |stem| stem.to_string_lossy().into_owned(),
                );
                check_name(&stem).map_err(|message| SpecError {
                    file: self.file.to_owned(),
                    path: "name".to_owned(),
                    message: format!(
                        "the spec has no name and its file's, {stem:?}, is not one: {message}; \
                         give one with `name:`"
                    ),
                    mark: None,
                })?;
                stem
            }
        };
        let sources = self.sources(&at, &map)?;
        let steps = match map.get("steps") {
            Some(node) => self.steps(&at.key("steps"), node, &name)?,
            None => Vec::new(),
        };
        let sinks = self.sinks(&at, &map)?;
        let (steps, sinks) = self.resolve(&sources, steps, sinks)?;
        let dead_letter = map
            .get("dead_letter")
            .map(|node| self.dead_letter(&at.key("dead_letter"), node))
            .transpose()?;
        let checkpoint = map
            .get("checkpoint")
            .map(|node| self.checkpoint(&at.key("checkpoint"), node))
            .transpose()?;
        let trace_versions = map
            .get("trace_versions")
            .map(|node| self.boolean(&at.key("trace_versions"), node))
            .transpose()?
            .unwrap_or(false);
        let parallelism = match map.get("parallelism") {
            None => Parallelism::Single,
            Some(node) => self.parallelism(&at.key("parallelism"), node, &sources)?,
        };
        let spec = PipelineSpec {
            name,
            file: self.file.to_owned(),
            sources,
            steps,
            sinks,
            dead_letter,
            checkpoint,
            trace_versions,
            parallelism,
        };
        if spec.parallelism == Parallelism::Partitions {
            self.check_keys_stay_in_their_task(&spec)?;
        }
        Ok(spec)
    }

    /// `parallelism: single | partitions`; tasks by partition need every source to
    /// be a Kafka source of one group on one cluster.
    fn parallelism(&self, at: &At, node: &Node, sources: &[SourceNode]) -> Result<Parallelism> {
        match self.string(at, node)?.as_str() {
            "single" => return Ok(Parallelism::Single),
            "partitions" => {}
            _ => return Err(self.expected(at, "single or partitions", node)),
        }
        let mut first: Option<&KafkaSourceSpec> = None;
        for source in sources {
            let SourceSpec::Kafka(kafka) = &source.spec else {
                return Err(self.error(
                    at,
                    format!(
                        "a task per partition reads Kafka partitions, and {} is not a Kafka \
                         source",
                        source.path
                    ),
                    node.mark,
                ));
            };
            if matches!(kafka.topics, Topics::Pattern(_)) {
                return Err(self.error(
                    at,
                    format!(
                        "a task per partition needs its topics' partitions before the group \
                         assigns them, and {} reads a pattern: name its topics with `topic:` \
                         or `topics:`",
                        source.path
                    ),
                    node.mark,
                ));
            }
            match first {
                Some(first) if first.brokers != kafka.brokers || first.group != kafka.group => {
                    return Err(self.error(
                        at,
                        format!(
                            "the tasks of a pipeline join one consumer group, so its Kafka \
                             sources must name the same brokers and group ({} does not)",
                            source.path
                        ),
                        node.mark,
                    ));
                }
                Some(_) => {}
                None => first = Some(kafka),
            }
        }
        Ok(Parallelism::Partitions)
    }

    /// `source: …` (one, named `source`) or `sources: {name: …, …}`.
    fn sources(&self, at: &At, map: &Map<'_>) -> Result<Vec<SourceNode>> {
        let Some(named) = map.get("sources") else {
            let node = map.require(self, at, "source")?;
            return Ok(vec![SourceNode {
                name: "source".to_owned(),
                path: "source".to_owned(),
                spec: self.source(&at.key("source"), node)?,
                idle_timeout: None,
            }]);
        };
        let (at, entries) = self.named(at, map, "sources", "source", named)?;
        let mut sources = Vec::with_capacity(entries.len());
        for entry in entries {
            let source_at = at.key(&entry.key);
            self.check_node_name(&source_at, &entry.key, entry.key_mark)?;
            // `idle_timeout` sits beside the source's kind.
            let (body, idle_timeout) = split_off(&entry.value, "idle_timeout");
            let idle_timeout = idle_timeout
                .map(|field| self.positive_duration(&source_at.key("idle_timeout"), &field.value))
                .transpose()?;
            sources.push(SourceNode {
                name: entry.key.clone(),
                path: source_at.path.clone(),
                spec: self.source(&source_at, &body)?,
                idle_timeout,
            });
        }
        Ok(sources)
    }

    /// The entries of `plural:` (`named`, a map of names to its items), which
    /// excludes `singular:`.
    fn named<'n>(
        &self,
        at: &At,
        map: &Map<'_>,
        plural: &str,
        singular: &str,
        named: &'n Node,
    ) -> Result<(At, &'n [Entry])> {
        let at = at.key(plural);
        if let Some(single) = map.get(singular) {
            return Err(self.error(
                &at,
                format!(
                    "give either `{singular}` (one {singular}) or `{plural}` (named ones), not both"
                ),
                single.mark,
            ));
        }
        let NodeValue::Map(entries) = &named.value else {
            return Err(self.expected(
                &at,
                &format!("a map of {singular} names to {plural}"),
                named,
            ));
        };
        if entries.is_empty() {
            return Err(self.expected(&at, &format!("at least one {singular}"), named));
        }
        Ok((at, entries))
    }

    /// A name a spec gives a source, step or sink.
    fn check_node_name(&self, at: &At, name: &str, mark: Mark) -> Result<()> {
        if is_name(name) {
            Ok(())
        } else {
            Err(self.error(at, format!("{name:?} is not a name: {NAME_RULES}"), mark))
        }
    }

    fn source(&self, at: &At, node: &Node) -> Result<SourceSpec> {
        let kinds = [
            "test_stream",
            "file",
            "stdin",
            "generator",
            "nexmark",
            "ingest",
            "kafka",
        ];
        let (kind, body, mark) = self.choice(at, node, &kinds, "source")?;
        let at = at.key(kind);
        let empty = empty_at(mark);
        let body = body.unwrap_or(&empty);
        match kind {
            "test_stream" => {
                let path = match &body.value {
                    NodeValue::Str(_) => self.path(&at, body)?,
                    _ => {
                        let map = self.map(&at, body, &["path"])?;
                        self.path(&at.key("path"), map.require(self, &at, "path")?)?
                    }
                };
                Ok(SourceSpec::TestStream { path })
            }
            "file" => Ok(SourceSpec::File(self.json_lines(&at, body, true)?)),
            "stdin" => Ok(SourceSpec::Stdin(self.json_lines(&at, body, false)?)),
            "ingest" => Ok(SourceSpec::Ingest(self.json_lines(&at, body, false)?)),
            "nexmark" => Ok(SourceSpec::Nexmark(self.nexmark(&at, body)?)),
            "kafka" => Ok(SourceSpec::Kafka(Box::new(self.kafka_source(&at, body)?))),
            _ => Ok(SourceSpec::Generator(self.generator(&at, body)?)),
        }
    }

    fn json_lines(&self, at: &At, node: &Node, needs_path: bool) -> Result<JsonLinesSpec> {
        if needs_path && let NodeValue::Str(_) = node.value {
            return Ok(JsonLinesSpec {
                path: Some(self.path(at, node)?),
                ..JsonLinesSpec::defaults()
            });
        }
        let mut allowed = vec![
            "timestamp",
            "timestamp_format",
            "key",
            "value",
            "watermark",
            "bundle_size",
        ];
        if needs_path {
            allowed.push("path");
        }
        let map = self.map(at, node, &allowed)?;
        let mut spec = JsonLinesSpec::defaults();
        if needs_path {
            spec.path = Some(self.path(&at.key("path"), map.require(self, at, "path")?)?);
        }
        if let Some(node) = map.get("timestamp") {
            spec.timestamp = self.field_path(&at.key("timestamp"), node)?;
        }
        if let Some(node) = map.get("timestamp_format") {
            spec.timestamp_format = self.timestamp_format(&at.key("timestamp_format"), node)?;
        }
        if let Some(node) = map.get("key") {
            spec.key = Some(self.field_path(&at.key("key"), node)?);
        }
        if let Some(node) = map.get("value") {
            spec.value = Some(self.field_path(&at.key("value"), node)?);
        }
        if let Some(node) = map.get("watermark") {
            let at = at.key("watermark");
            let watermark = self.map(&at, node, &["max_out_of_orderness"])?;
            if let Some(node) = watermark.get("max_out_of_orderness") {
                spec.max_out_of_orderness = self.duration(&at.key("max_out_of_orderness"), node)?;
            }
        }
        if let Some(node) = map.get("bundle_size") {
            spec.bundle_size =
                self.count_up_to(&at.key("bundle_size"), node, 1, MAX_BUNDLE_SIZE)? as usize;
        }
        Ok(spec)
    }

    fn timestamp_format(&self, at: &At, node: &Node) -> Result<TimestampFormat> {
        Ok(match self.string(at, node)?.as_str() {
            "auto" => TimestampFormat::Auto,
            "millis" => TimestampFormat::Millis,
            "seconds" => TimestampFormat::Seconds,
            "rfc3339" => TimestampFormat::Rfc3339,
            _ => return Err(self.expected(at, "auto, millis, seconds or rfc3339", node)),
        })
    }

    fn generator(&self, at: &At, node: &Node) -> Result<GeneratorSpec> {
        let map = self.map(
            at,
            node,
            &[
                "elements",
                "keys",
                "rate",
                "out_of_orderness",
                "start",
                "seed",
                "bundle_size",
            ],
        )?;
        let mut spec = GeneratorSpec::defaults();
        if let Some(node) = map.get("elements") {
            spec.elements = Some(self.count(&at.key("elements"), node, 0)?);
        }
        if let Some(node) = map.get("keys") {
            // The generator makes its keys up front.
            spec.keys = self.count_up_to(&at.key("keys"), node, 1, 1_000_000)?;
        }
        if let Some(node) = map.get("rate") {
            spec.rate = self.count(&at.key("rate"), node, 1)?;
        }
        if let Some(node) = map.get("out_of_orderness") {
            spec.out_of_orderness = self.duration(&at.key("out_of_orderness"), node)?;
        }
        if let Some(node) = map.get("start") {
            let at = at.key("start");
            spec.start = match &node.value {
                NodeValue::Int(ms) => {
                    event_time(*ms).map_err(|err| self.error(&at, err.to_string(), node.mark))?
                }
                NodeValue::Str(text) => millrace_model::time::parse_rfc3339(text)
                    .map_err(|err| self.error(&at, err, node.mark))?,
                _ => return Err(self.expected(&at, "milliseconds or an RFC 3339 time", node)),
            };
        }
        if let Some(node) = map.get("seed") {
            spec.seed = self.count(&at.key("seed"), node, 0)?;
        }
        if let Some(node) = map.get("bundle_size") {
            spec.bundle_size =
                self.count_up_to(&at.key("bundle_size"), node, 1, MAX_BUNDLE_SIZE)? as usize;
        }
        Ok(spec)
    }

    /// `nexmark: {events, rate, seed, …}`: the generator's settings by the names of
    /// `millrace_nexmark::GeneratorConfig` (`events` and `rate` for `num_events` and
    /// `first_event_rate`), and `bundle_size`.
    fn nexmark(&self, at: &At, node: &Node) -> Result<NexmarkSpec> {
        let mut bundle_size = 1000;
        let mut fields = serde_json::Map::new();
        let entries: &[Entry] = match &node.value {
            NodeValue::Map(entries) => entries,
            NodeValue::Null => &[],
            _ => return Err(self.expected(at, "a map of Nexmark generator settings", node)),
        };
        for entry in entries {
            let field_at = at.key(&entry.key);
            let name = match entry.key.as_str() {
                "bundle_size" => {
                    bundle_size =
                        self.count_up_to(&field_at, &entry.value, 1, MAX_BUNDLE_SIZE)? as usize;
                    continue;
                }
                "events" => "num_events",
                "rate" => "first_event_rate",
                other => other,
            };
            fields.insert(name.to_owned(), to_json(&entry.value));
        }
        let config: millrace_nexmark::GeneratorConfig =
            serde_json::from_value(serde_json::Value::Object(fields))
                .map_err(|err| self.error(at, err.to_string(), node.mark))?;
        config.validate().map_err(|err| {
            let key = match err.field {
                "num_events" => "events",
                "first_event_rate" => "rate",
                other => other,
            };
            let mark = entries
                .iter()
                .find(|entry| entry.key == key)
                .map_or(node.mark, |entry| entry.value.mark);
            self.error(
                &at.key(key),
                format!("expected {}, found {}", err.expected, err.actual),
                mark,
            )
        })?;
        Ok(NexmarkSpec {
            config,
            bundle_size,
        })
    }

    /// The steps of pipeline `pipeline`, as read.
    fn steps(&self, at: &At, node: &Node, pipeline: &str) -> Result<Vec<graph::RawStep>> {
        const KINDS: [&str; 7] = [
            "window",
            "combine",
            "pardo",
            "flatten",
            "cogroup",
            "score",
            "repartition",
        ];
        let NodeValue::Seq(items) = &node.value else {
            return Err(self.expected(at, "a list of steps", node));
        };
        let mut steps = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let at = at.index(index);
            let (mut name, mut inputs) = (None, None);
            // A step is its kind, with an optional `name` and `input` or `inputs`.
            let mut kind_only = item.clone();
            if let NodeValue::Map(fields) = &mut kind_only.value {
                let mut kept = Vec::new();
                for field in fields.drain(..) {
                    match field.key.as_str() {
                        "name" => {
                            let name_text = self.string(&at.key("name"), &field.value)?;
                            self.check_node_name(&at.key("name"), &name_text, field.value.mark)?;
                            name = Some((name_text, field.value.mark));
                        }
                        "input" | "inputs" => {
                            inputs = Some(self.input_names(&at.key(&field.key), &field.value)?);
                        }
                        _ => kept.push(field),
                    }
                }
                *fields = kept;
            }
            let (kind, body, mark) = self.choice(&at, &kind_only, &KINDS, "step")?;
            let step_at = at.key(kind);
            let empty = empty_at(mark);
            let body = body.unwrap_or(&empty);
            let spec = match kind {
                "window" => {
                    let mut trigger_plugins = Vec::new();
                    let (strategy, custom, max_windows_per_element) =
                        self.window(&step_at, body, &mut trigger_plugins)?;
                    StepSpec::Window {
                        path: step_at.path,
                        strategy,
                        custom,
                        trigger_plugins,
                        max_windows_per_element,
                    }
                }
                "pardo" => {
                    // `outputs` and `keeps_key` sit beside the plugin reference.
                    let (body, outputs) = split_off(body, "outputs");
                    let outputs = outputs
                        .map(|field| self.output_names(&step_at.key("outputs"), &field.value))
                        .transpose()?
                        .unwrap_or_default();
                    let (body, keeps_key) = split_off(&body, "keeps_key");
                    let keeps_key = keeps_key
                        .map(|field| self.boolean(&step_at.key("keeps_key"), &field.value))
                        .transpose()?
                        .unwrap_or(false);
                    let plugin = self.plugin(&step_at, &body)?;
                    StepSpec::ParDo {
                        path: step_at.path,
                        plugin,
                        outputs,
                        keeps_key,
                    }
                }
                "flatten" => {
                    self.map(&step_at, body, &[])?;
                    StepSpec::Flatten { path: step_at.path }
                }
                "cogroup" => {
                    self.map(&step_at, body, &[])?;
                    StepSpec::CoGroup { path: step_at.path }
                }
                "score" => self.score(&step_at, body)?,
                "repartition" => {
                    let step = match &name {
                        Some((name, _)) => name.clone(),
                        None => format!("step-{index}"),
                    };
                    self.repartition(&step_at, body, &format!("{pipeline}-{step}-repartition"))?
                }
                _ => {
                    let combine = self.combine(&step_at, body)?;
                    StepSpec::Combine {
                        path: step_at.path,
                        combine,
                    }
                }
            };
            steps.push(graph::RawStep {
                at,
                mark: item.mark,
                name,
                inputs,
                spec,
            });
        }
        Ok(steps)
    }

    /// A pardo's `outputs: [name, …]`: distinct names.
    fn output_names(&self, at: &At, node: &Node) -> Result<Vec<String>> {
        let NodeValue::Seq(items) = &node.value else {
            return Err(self.expected(at, "a list of side output names", node));
        };
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = self.string(&at.index(i), item)?;
            self.check_node_name(&at.index(i), &name, item.mark)?;
            if names.contains(&name) {
                return Err(self.error(
                    &at.index(i),
                    format!("{name:?} is declared twice"),
                    item.mark,
                ));
            }
            names.push(name);
        }
        Ok(names)
    }

    /// `input: name` or `inputs: [name, …]`, with where each is written.
    fn input_names(&self, at: &At, node: &Node) -> Result<Vec<(String, Mark)>> {
        match &node.value {
            NodeValue::Str(_) => Ok(vec![(self.string(at, node)?, node.mark)]),
            NodeValue::Seq(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, item)| Ok((self.string(&at.index(i), item)?, item.mark)))
                .collect(),
            _ => Err(self.expected(at, "the name of a source or step, or a list of them", node)),
        }
    }

    /// `sink: …` (one, named `sink`, reading the last step) or
    /// `sinks: {name: {input: …, file: …}, …}`.
    fn sinks(&self, at: &At, map: &Map<'_>) -> Result<Vec<graph::RawSink>> {
        let Some(named) = map.get("sinks") else {
            let node = map.require(self, at, "sink")?;
            return Ok(vec![graph::RawSink {
                name: "sink".to_owned(),
                path: "sink".to_owned(),
                input: None,
                spec: self.sink(&at.key("sink"), node)?,
                mark: node.mark,
            }]);
        };
        let (at, entries) = self.named(at, map, "sinks", "sink", named)?;
        let mut sinks = Vec::with_capacity(entries.len());
        for entry in entries {
            let sink_at = at.key(&entry.key);
            self.check_node_name(&sink_at, &entry.key, entry.key_mark)?;
            let (body, input) = split_off(&entry.value, "input");
            let input = input
                .map(|field| {
                    let text = self.string(&sink_at.key("input"), &field.value)?;
                    Ok((text, field.value.mark))
                })
                .transpose()?;
            sinks.push(graph::RawSink {
                name: entry.key.clone(),
                path: sink_at.path.clone(),
                input,
                spec: self.sink(&sink_at, &body)?,
                mark: entry.key_mark,
            });
        }
        Ok(sinks)
    }

    fn window(
        &self,
        at: &At,
        node: &Node,
        trigger_plugins: &mut Vec<PluginSpec>,
    ) -> Result<(WindowingStrategy, Option<PluginSpec>, u64)> {
        const FUNCTIONS: [&str; 5] = ["global", "fixed", "sliding", "sessions", "custom"];
        let map = self.map(
            at,
            node,
            &[
                "global",
                "fixed",
                "sliding",
                "sessions",
                "custom",
                "trigger",
                "accumulation",
                "allowed_lateness",
                "timestamp_combiner",
                "max_windows_per_element",
            ],
        )?;
        let chosen: Vec<&Entry> = map
            .entries
            .iter()
            .filter(|entry| FUNCTIONS.contains(&entry.key.as_str()))
            .collect();
        let entry = match chosen.as_slice() {
            [entry] => *entry,
            [] => {
                return Err(self.error(
                    at,
                    "expected a window function: one of global, fixed, sliding, sessions, custom",
                    map.mark,
                ));
            }
            [_, second, ..] => {
                return Err(self.error(
                    at,
                    format!(
                        "expected one window function, found {} as well",
                        chosen
                            .iter()
                            .map(|e| e.key.as_str())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    second.key_mark,
                ));
            }
        };
        let max_windows = match map.get("max_windows_per_element") {
            Some(node) => self.count_up_to(
                &at.key("max_windows_per_element"),
                node,
                1,
                MAX_WINDOWS_PER_ELEMENT,
            )?,
            None => DEFAULT_MAX_WINDOWS_PER_ELEMENT,
        };
        let (window_fn, custom) = if entry.key == "custom" {
            let plugin = self.plugin(&at.key("custom"), &entry.value)?;
            (WindowFn::Global, Some(plugin))
        } else {
            let fn_at = at.key(&entry.key);
            let window_fn = self.window_fn(&fn_at, &entry.key, &entry.value)?;
            window_fn
                .check_windows_per_element(max_windows)
                .map_err(|message| self.error(&fn_at, message, entry.key_mark))?;
            (window_fn, None)
        };
        let mut strategy = WindowingStrategy {
            window_fn,
            ..WindowingStrategy::default()
        };
        if let Some(node) = map.get("trigger") {
            let trigger_at = at.key("trigger");
            strategy.trigger = self.trigger(&trigger_at, node, trigger_plugins)?;
            if let Err(err) = TriggerMachine::new(&strategy.trigger, false) {
                return Err(self.error(&trigger_at, format!("{err} (max {MAX_NODES})"), node.mark));
            }
        }
        if let Some(node) = map.get("accumulation") {
            let at = at.key("accumulation");
            strategy.accumulation = match self.string(&at, node)?.as_str() {
                "discarding" => AccumulationMode::Discarding,
                "accumulating" => AccumulationMode::Accumulating,
                "retracting" => AccumulationMode::Retracting,
                _ => {
                    return Err(self.expected(&at, "discarding, accumulating or retracting", node));
                }
            };
        }
        if let Some(node) = map.get("allowed_lateness") {
            strategy.allowed_lateness = self.duration(&at.key("allowed_lateness"), node)?;
        }
        if let Some(node) = map.get("timestamp_combiner") {
            let at = at.key("timestamp_combiner");
            strategy.timestamp_combiner = match self.string(&at, node)?.as_str() {
                "end_of_window" => TimestampCombiner::EndOfWindow,
                "earliest" => TimestampCombiner::Earliest,
                "latest" => TimestampCombiner::Latest,
                _ => return Err(self.expected(&at, "end_of_window, earliest or latest", node)),
            };
        }
        Ok((strategy, custom, max_windows))
    }

    fn window_fn(&self, at: &At, kind: &str, node: &Node) -> Result<WindowFn> {
        match kind {
            "global" => {
                self.map(at, node, &[])?;
                Ok(WindowFn::Global)
            }
            "fixed" => {
                let map = self.map(at, node, &["size", "offset"])?;
                let size =
                    self.positive_duration(&at.key("size"), map.require(self, at, "size")?)?;
                let offset = map
                    .get("offset")
                    .map(|node| self.duration(&at.key("offset"), node))
                    .transpose()?
                    .unwrap_or(0);
                Ok(WindowFn::Fixed { size, offset })
            }
            "sliding" => {
                let map = self.map(at, node, &["size", "period", "offset"])?;
                let size_node = map.require(self, at, "size")?;
                let size = self.positive_duration(&at.key("size"), size_node)?;
                let period_node = map.require(self, at, "period")?;
                let period = self.positive_duration(&at.key("period"), period_node)?;
                if period > size {
                    return Err(self.error(
                        &at.key("period"),
                        format!(
                            "expected a period no longer than the size ({}), since records between \
                             windows would belong to none",
                            millrace_model::time::format_duration(size)
                        ),
                        period_node.mark,
                    ));
                }
                let offset = map
                    .get("offset")
                    .map(|node| self.duration(&at.key("offset"), node))
                    .transpose()?
                    .unwrap_or(0);
                Ok(WindowFn::Sliding {
                    size,
                    period,
                    offset,
                })
            }
            _ => {
                let map = self.map(at, node, &["gap"])?;
                let gap = self.positive_duration(&at.key("gap"), map.require(self, at, "gap")?)?;
                Ok(WindowFn::Sessions { gap })
            }
        }
    }

    fn trigger(&self, at: &At, node: &Node, plugins: &mut Vec<PluginSpec>) -> Result<Trigger> {
        if let NodeValue::Map(entries) = &node.value
            && entries.iter().any(|entry| entry.key == "plugin")
        {
            plugins.push(self.plugin(at, node)?);
            return Ok(Trigger::Plugin {
                index: plugins.len() - 1,
            });
        }
        const FORMS: [&str; 11] = [
            "default",
            "never",
            "after_watermark",
            "after_processing_time",
            "after_count",
            "repeatedly",
            "after_each",
            "after_any",
            "after_all",
            "or_finally",
            "plugin",
        ];
        let (kind, body, _) = self.choice(at, node, &FORMS, "trigger")?;
        let at = at.key(kind);
        match (kind, body) {
            ("default", None) => Ok(Trigger::Default),
            ("never", None) => Ok(Trigger::Never),
            ("after_watermark", None) => Ok(Trigger::AfterWatermark {
                early: None,
                late: None,
            }),
            ("after_watermark", Some(body)) => {
                let map = self.map(&at, body, &["early", "late"])?;
                let early = map
                    .get("early")
                    .map(|node| self.trigger(&at.key("early"), node, plugins).map(Box::new))
                    .transpose()?;
                let late = map
                    .get("late")
                    .map(|node| self.trigger(&at.key("late"), node, plugins).map(Box::new))
                    .transpose()?;
                Ok(Trigger::AfterWatermark { early, late })
            }
            ("after_processing_time", Some(body)) => {
                let map = self.map(&at, body, &["delay", "align", "offset"])?;
                let delay = map
                    .get("delay")
                    .map(|node| self.duration(&at.key("delay"), node))
                    .transpose()?
                    .unwrap_or(0);
                let align = match map.get("align") {
                    Some(node) => Some(Alignment {
                        period: self.positive_duration(&at.key("align"), node)?,
                        offset: map
                            .get("offset")
                            .map(|node| self.duration(&at.key("offset"), node))
                            .transpose()?
                            .unwrap_or(0),
                    }),
                    None => {
                        if let Some(node) = map.get("offset") {
                            return Err(self.error(
                                &at.key("offset"),
                                "an offset needs align: the offset shifts aligned boundaries",
                                node.mark,
                            ));
                        }
                        None
                    }
                };
                Ok(Trigger::AfterProcessingTime { delay, align })
            }
            ("after_count", Some(body)) => Ok(Trigger::AfterCount(self.count(&at, body, 1)?)),
            ("repeatedly", Some(body)) => Ok(Trigger::Repeatedly(Box::new(
                self.trigger(&at, body, plugins)?,
            ))),
            ("after_each" | "after_any" | "after_all", Some(body)) => {
                let NodeValue::Seq(items) = &body.value else {
                    return Err(self.expected(&at, "a list of triggers", body));
                };
                if items.is_empty() {
                    return Err(self.expected(&at, "a list of at least one trigger", body));
                }
                let triggers = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.trigger(&at.index(i), item, plugins))
                    .collect::<Result<Vec<_>>>()?;
                Ok(match kind {
                    "after_each" => Trigger::AfterEach(triggers),
                    "after_any" => Trigger::AfterAny(triggers),
                    _ => Trigger::AfterAll(triggers),
                })
            }
            ("or_finally", Some(body)) => {
                let map = self.map(&at, body, &["trigger", "until"])?;
                let trigger = self.trigger(
                    &at.key("trigger"),
                    map.require(self, &at, "trigger")?,
                    plugins,
                )?;
                let until =
                    self.trigger(&at.key("until"), map.require(self, &at, "until")?, plugins)?;
                Ok(Trigger::OrFinally {
                    trigger: Box::new(trigger),
                    until: Box::new(until),
                })
            }
            (_, Some(body)) => {
                Err(self.expected(&at, &format!("just {kind:?}, with nothing under it"), body))
            }
            (_, None) => Err(self.error(
                &at,
                format!("{kind} needs settings, e.g. {}", trigger_example(kind)),
                node.mark,
            )),
        }
    }

    fn combine(&self, at: &At, node: &Node) -> Result<CombineSpec> {
        let names: Vec<&str> = Builtin::ALL.iter().map(|(name, _)| *name).collect();
        match &node.value {
            NodeValue::Str(name) => match Builtin::from_name(name) {
                Some(builtin) => Ok(CombineSpec::Builtin(builtin)),
                None => Err(self.error(at, unknown("combine function", name, &names), node.mark)),
            },
            NodeValue::Map(_) => Ok(CombineSpec::Plugin(self.plugin(at, node)?)),
            _ => Err(self.expected(
                at,
                &format!(
                    "a built-in combine function ({}) or {{plugin: path, config: …}}",
                    names.join(", ")
                ),
                node,
            )),
        }
    }

    /// `{plugin: path, config: …, limits: …, grants: …}`.
    fn plugin(&self, at: &At, node: &Node) -> Result<PluginSpec> {
        let map = self.map(at, node, &["plugin", "config", "limits", "grants"])?;
        let named = map.require(self, at, "plugin")?;
        let path = match self.plugins {
            None => self.path(&at.key("plugin"), named)?,
            Some(resolve) => {
                let name = self.string(&at.key("plugin"), named)?;
                resolve(&name)
                    .map_err(|message| self.error(&at.key("plugin"), message, named.mark))?
            }
        };
        let config = match map.get("config") {
            Some(node) => {
                let config = to_json(node);
                if !config.is_object() && !config.is_null() {
                    return Err(self.expected(&at.key("config"), "a map of settings", node));
                }
                if config.is_null() {
                    serde_json::json!({})
                } else {
                    config
                }
            }
            None => serde_json::json!({}),
        };
        let mut limits = Limits::default();
        if let Some(node) = map.get("limits") {
            let at = at.key("limits");
            let limits_map =
                self.map(&at, node, &["memory", "cpu_per_call", "output", "faults"])?;
            if let Some(node) = limits_map.get("memory") {
                limits.memory = self.size(&at.key("memory"), node)?;
            }
            if let Some(node) = limits_map.get("cpu_per_call") {
                let millis = self.positive_duration(&at.key("cpu_per_call"), node)?;
                limits.cpu_per_call = std::time::Duration::from_millis(millis as u64);
            }
            if let Some(node) = limits_map.get("output") {
                limits.output = self.size(&at.key("output"), node)?;
            }
            if let Some(node) = limits_map.get("faults") {
                limits.max_faults = self
                    .count(&at.key("faults"), node, 1)?
                    .min(u64::from(u32::MAX)) as u32;
            }
        }
        let mut grants = Grants::default();
        if let Some(node) = map.get("grants") {
            let at = at.key("grants");
            let grants_map = self.map(&at, node, &["clock", "network", "read"])?;
            if let Some(node) = grants_map.get("clock") {
                grants.clock = self.boolean(&at.key("clock"), node)?;
            }
            if let Some(node) = grants_map.get("network") {
                grants.network = self.boolean(&at.key("network"), node)?;
            }
            if let Some(node) = grants_map.get("read") {
                let at = at.key("read");
                let NodeValue::Seq(dirs) = &node.value else {
                    return Err(self.expected(&at, "a list of directories", node));
                };
                for (i, dir) in dirs.iter().enumerate() {
                    let path = self.path(&at.index(i), dir)?;
                    // A served spec (plugins from a registry) is refused any grant
                    // later; looking at the server's files would tell its tenant
                    // which exist.
                    if self.plugins.is_none() && !path.is_dir() {
                        return Err(self.expected(&at.index(i), "an existing directory", dir));
                    }
                    grants.read.push(path);
                }
            }
        }
        Ok(PluginSpec {
            path,
            shown_as: None,
            config,
            limits,
            grants,
            model: None,
        })
    }

    fn boolean(&self, at: &At, node: &Node) -> Result<bool> {
        match node.value {
            NodeValue::Bool(value) => Ok(value),
            _ => Err(self.expected(at, "true or false", node)),
        }
    }

    /// A size in bytes: `65536`, `512KiB`, `64MiB`, `1GiB` (or KB/MB/GB, powers of 1000).
    fn size(&self, at: &At, node: &Node) -> Result<u64> {
        let expected = "a size such as 512KiB, 64MiB, 1GiB or a number of bytes";
        match &node.value {
            NodeValue::Int(bytes) if *bytes > 0 => Ok(*bytes as u64),
            NodeValue::Str(text) => {
                parse_size(text).ok_or_else(|| self.expected(at, expected, node))
            }
            _ => Err(self.expected(at, expected, node)),
        }
    }

    fn sink(&self, at: &At, node: &Node) -> Result<SinkSpec> {
        let (kind, body, mark) = self.choice(at, node, &["file", "stdout", "kafka"], "sink")?;
        if kind == "kafka" {
            let body = body.cloned().unwrap_or_else(|| empty_at(mark));
            let sink = self.kafka_sink(&at.key("kafka"), &body)?;
            return Ok(SinkSpec::Kafka(Box::new(sink)));
        }
        Ok(match self.file_or(at, node, "stdout", "sink")? {
            Some(path) => SinkSpec::File(path),
            None => SinkSpec::Stdout,
        })
    }

    /// `{file: path}` (or `{file: {path: …}}`) as a path, or `{stream: {}}` as `None`.
    fn file_or(&self, at: &At, node: &Node, stream: &str, what: &str) -> Result<Option<PathBuf>> {
        let (kind, body, mark) = self.choice(at, node, &["file", stream], what)?;
        let at = at.key(kind);
        let body = body.cloned().unwrap_or_else(|| empty_at(mark));
        if kind != "file" {
            self.map(&at, &body, &[])?;
            return Ok(None);
        }
        match &body.value {
            NodeValue::Str(_) => self.path(&at, &body).map(Some),
            _ => {
                let map = self.map(&at, &body, &["path"])?;
                self.path(&at.key("path"), map.require(self, &at, "path")?)
                    .map(Some)
            }
        }
    }

    fn dead_letter(&self, at: &At, node: &Node) -> Result<DeadLetterSpec> {
        Ok(
            match self.file_or(at, node, "stderr", "dead-letter output")? {
                Some(path) => DeadLetterSpec::File(path),
                None => DeadLetterSpec::Stderr,
            },
        )
    }

    fn checkpoint(&self, at: &At, node: &Node) -> Result<CheckpointSpec> {
        let map = self.map(at, node, &["interval", "records", "keep", "store"])?;
        Ok(CheckpointSpec {
            interval: map
                .get("interval")
                .map(|node| self.positive_duration(&at.key("interval"), node))
                .transpose()?
                .unwrap_or(10_000),
            records: map
                .get("records")
                .map(|node| self.count(&at.key("records"), node, 1))
                .transpose()?,
            keep: map
                .get("keep")
                .map(|node| self.count_up_to(&at.key("keep"), node, 1, 1000))
                .transpose()?
                .unwrap_or(3),
            store: map
                .get("store")
                .map(|node| self.store_url(&at.key("store"), node))
                .transpose()?,
        })
    }

    /// A checkpoint store: a URL, or a path (relative to the spec) for `file://`.
    fn store_url(&self, at: &At, node: &Node) -> Result<String> {
        let text = self.string(at, node)?;
        if !text.contains("://") {
            let path = self.path(at, node)?;
            let absolute = std::path::absolute(&path)
                .map_err(|_| self.expected(at, "a path or a store URL", node))?;
            return Ok(format!("file://{}", absolute.display()));
        }
        const SCHEMES: [&str; 7] = ["file", "s3", "s3a", "gs", "az", "abfs", "abfss"];
        match text.split_once("://") {
            Some((scheme, rest)) if SCHEMES.contains(&scheme) && !rest.is_empty() => Ok(text),
            _ => Err(self.expected(
                at,
                "a path or a store URL (file:///…, s3://bucket/…, gs://bucket/…, az://container/…)",
                node,
            )),
        }
    }
}

fn trigger_example(kind: &str) -> &'static str {
    match kind {
        "after_processing_time" => "{after_processing_time: {delay: 1m}}",
        "after_count" => "{after_count: 10}",
        "repeatedly" => "{repeatedly: {after_count: 10}}",
        "after_each" | "after_any" | "after_all" => "{after_any: [{after_count: 10}, …]}",
        "or_finally" => "{or_finally: {trigger: …, until: …}}",
        "plugin" => "{plugin: plugins/threshold, config: {…}}",
        _ => "…",
    }
}

/// The entries of a map node.
struct Map<'n> {
    entries: &'n [Entry],
    mark: Mark,
}

impl<'n> Map<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| &entry.value)
    }

    fn require(&self, reader: &Reader<'_>, at: &At, key: &str) -> Result<&'n Node> {
        self.get(key)
            .ok_or_else(|| reader.error(at, format!("missing {key:?}"), self.mark))
    }
}

/// Parses `512KiB`, `64MiB`, `1GiB`, `10MB` or a number of bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(unit).filter(|&bytes| bytes > 0)
}

/// A document node as JSON (for plugin configuration).
fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        NodeValue::Null => serde_json::Value::Null,
        NodeValue::Bool(b) => serde_json::Value::Bool(*b),
        NodeValue::Int(i) => serde_json::Value::from(*i),
        NodeValue::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        NodeValue::Str(s) => serde_json::Value::String(s.clone()),
        NodeValue::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        NodeValue::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|entry| (entry.key.clone(), to_json(&entry.value)))
                .collect(),
        ),
    }
}

/// "unknown trigger "x"; did you mean "y"?" or, with no near miss, the choices.
fn unknown(what: &str, name: &str, allowed: &[&str]) -> String {
    match closest(name, allowed) {
        Some(suggestion) => format!("unknown {what} {name:?}; did you mean {suggestion:?}?"),
        None => format!(
            "unknown {what} {name:?}; expected one of {}",
            allowed.join(", ")
        ),
    }
}

/// `node` without its field `key` (if it is a map), and that field.
fn split_off(node: &Node, key: &str) -> (Node, Option<Entry>) {
    let mut rest = node.clone();
    let field = match &mut rest.value {
        NodeValue::Map(fields) => fields
            .iter()
            .position(|field| field.key == key)
            .map(|index| fields.remove(index)),
        _ => None,
    };
    (rest, field)
}

/// A bare `name` in a choice stands for `name:` with nothing under it.
fn empty_at(mark: Mark) -> Node {
    Node {
        value: NodeValue::Null,
        mark,
    }
}

/// The allowed word closest to `word`, if it is close enough to be a typo.
fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

impl JsonLinesSpec {
    /// Defaults: `ts` holds the event time; the watermark trails by nothing.
    pub fn defaults() -> JsonLinesSpec {
        JsonLinesSpec {
            path: None,
            timestamp: FieldPath::field("ts"),
            timestamp_format: TimestampFormat::Auto,
            key: None,
            value: None,
            max_out_of_orderness: 0,
            bundle_size: 1000,
        }
    }
}

impl GeneratorSpec {
    /// Defaults: a million records over a thousand keys at 10,000 records per second.
    pub fn defaults() -> GeneratorSpec {
        GeneratorSpec {
            elements: Some(1_000_000),
            keys: 1000,
            rate: 10_000,
            out_of_orderness: 5_000,
            start: 0,
            seed: 1,
            bundle_size: 1000,
        }
    }
}

#[cfg(test)]
mod tests;

/// `path` with `.` and `dir/..` removed, without touching the file system (so that
/// messages show `plugins/sum`, not `examples/game/../../plugins/sum`).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(clean.components().next_back(), Some(Component::Normal(_))) =>
            {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    if clean.as_os_str().is_empty() {
        clean.push(".");
    }
    clean
}
