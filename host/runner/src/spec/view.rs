//! A spec's graph as people see it: each source, step and sink described in
//! words, and the edges between them — what `millrace validate` prints (as text
//! or Graphviz DOT) and what the dashboard of `millrace serve` draws.

use std::fmt::Write as _;

use serde::Serialize;

use super::{CombineSpec, Input, PipelineSpec, SinkSpec, SourceSpec, StepSpec};
use millrace_model::time::format_duration;
use millrace_model::window::WindowFn;
use millrace_wasm::PluginSpec;

/// The graph of a spec: its nodes (sources, then steps in the order they run, then
/// sinks) and the edges between them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphView {
    /// Every source, step and sink.
    pub nodes: Vec<NodeView>,
    /// What reads what.
    pub edges: Vec<EdgeView>,
}

/// A node of a [`GraphView`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeView {
    /// `source<n>`, `step<n>` or `sink<n>`.
    pub id: String,
    /// Which of the three it is.
    pub kind: NodeKind,
    /// A source's or sink's name; a step's path in the spec (`steps[2].combine`),
    /// which names its counters in a pipeline's status.
    pub name: String,
    /// A step's `name` in the spec, if it has one.
    pub title: Option<String>,
    /// A step's kind (`window`, `pardo`, `combine`, `flatten`, `cogroup`).
    pub step: Option<&'static str>,
    /// What it is, in words.
    pub label: String,
}

/// Whether a [`NodeView`] is a source, a step or a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Where records come from.
    Source,
    /// A step of the pipeline.
    Step,
    /// Where records go.
    Sink,
}

/// An edge of a [`GraphView`]: `to` reads `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EdgeView {
    /// The node read.
    pub from: String,
    /// The node that reads it.
    pub to: String,
    /// The side output read, when it is one.
    pub label: Option<String>,
}

impl GraphView {
    /// The graph of `spec`.
    pub fn of(spec: &PipelineSpec) -> GraphView {
        let id = |input: Input| match input {
            Input::Source(n) => format!("source{n}"),
            Input::Step(n) | Input::Side { step: n, .. } => format!("step{n}"),
        };
        let side_output = |input: Input| match input {
            Input::Side { step, output } => match &spec.steps[step].spec {
                StepSpec::ParDo { outputs, .. } => outputs.get(output).cloned(),
                _ => None,
            },
            _ => None,
        };
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for (n, source) in spec.sources.iter().enumerate() {
            nodes.push(NodeView {
                id: format!("source{n}"),
                kind: NodeKind::Source,
                name: source.name.clone(),
                title: None,
                step: None,
                label: describe_source(&source.spec),
            });
        }
        for (n, step) in spec.steps.iter().enumerate() {
            nodes.push(NodeView {
                id: format!("step{n}"),
                kind: NodeKind::Step,
                name: step.spec.path().to_owned(),
                title: step.name.clone(),
                step: Some(step.spec.kind()),
                label: describe_step(&step.spec),
            });
            edges.extend(step.inputs.iter().map(|&input| EdgeView {
                from: id(input),
                to: format!("step{n}"),
                label: side_output(input),
            }));
        }
        for (n, sink) in spec.sinks.iter().enumerate() {
            nodes.push(NodeView {
                id: format!("sink{n}"),
                kind: NodeKind::Sink,
                name: sink.name.clone(),
                title: None,
                step: None,
                label: describe_sink(&sink.spec),
            });
            edges.push(EdgeView {
                from: id(sink.input),
                to: format!("sink{n}"),
                label: side_output(sink.input),
            });
        }
        GraphView { nodes, edges }
    }

    /// The graph in Graphviz's DOT language, named `name`: sources as ellipses,
    /// steps as boxes (their name or path, and kind), sinks as folders; a side
    /// output's edge is labelled with the output's name.
    pub fn dot(&self, name: &str) -> String {
        let quote = |text: &str| format!("{text:?}");
        let mut dot = format!("digraph {} {{\n  rankdir=LR;\n", quote(name));
        for node in &self.nodes {
            let (shape, label) = match node.kind {
                NodeKind::Source => ("ellipse", format!("{}\n{}", node.name, node.label)),
                NodeKind::Step => (
                    "box",
                    format!(
                        "{}\n{}",
                        node.title.as_deref().unwrap_or(&node.name),
                        node.step.unwrap_or_default()
                    ),
                ),
                NodeKind::Sink => ("folder", format!("{}\n{}", node.name, node.label)),
            };
            let _ = writeln!(
                dot,
                "  {} [shape={shape}, label={}];",
                node.id,
                quote(&label)
            );
        }
        for edge in &self.edges {
            let label = edge
                .label
                .as_ref()
                .map(|label| format!(" [label={label:?}]"))
                .unwrap_or_default();
            let _ = writeln!(dot, "  {} -> {}{label};", edge.from, edge.to);
        }
        dot.push_str("}\n");
        dot
    }
}

/// A sink as `validate` and the dashboard show it.
pub fn describe_sink(sink: &SinkSpec) -> String {
    match sink {
        SinkSpec::File(path) => format!("file {}", path.display()),
        SinkSpec::Stdout => "stdout".to_owned(),
        SinkSpec::Kafka(kafka) => format!(
            "Kafka topic {} at {} ({})",
            kafka.topic,
            kafka.brokers,
            match kafka.delivery {
                super::Delivery::ExactlyOnce => "exactly once, a transaction per checkpoint",
                super::Delivery::AtLeastOnce => "at least once",
            }
        ),
    }
}

/// A source as `validate` and the dashboard show it.
pub fn describe_source(source: &SourceSpec) -> String {
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
        SourceSpec::Ingest(format) => format!(
            "JSON Lines pushed to millrace serve (event time from {:?}, watermark {} behind)",
            format.timestamp.to_string(),
            format_duration(format.max_out_of_orderness)
        ),
        SourceSpec::Nexmark(nexmark) => format!(
            "Nexmark events ({} at {} per second, seed {})",
            nexmark.config.num_events, nexmark.config.first_event_rate, nexmark.config.seed
        ),
        SourceSpec::Kafka(kafka) => format!(
            "Kafka {} at {} as group {} (event time from {}, watermark {} behind{})",
            match &kafka.topics {
                super::Topics::Named(names) => format!("topics {}", names.join(", ")),
                super::Topics::Pattern(pattern) => format!("topics matching {pattern:?}"),
            },
            kafka.brokers,
            kafka.group.as_deref().unwrap_or("millrace-<name>"),
            kafka.timestamp.as_ref().map_or_else(
                || "the Kafka timestamp".to_owned(),
                |path| format!("{:?}", path.to_string())
            ),
            format_duration(kafka.max_out_of_orderness),
            if kafka.until_end {
                ", up to the end"
            } else {
                ""
            }
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

/// A step as `validate` and the dashboard show it, with its path.
pub fn describe_step(step: &StepSpec) -> String {
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
                Some(plugin) => format!("custom window function {}", plugin.shown()),
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
        StepSpec::ParDo {
            path,
            plugin,
            outputs,
            keeps_key,
        } => {
            let sides = if outputs.is_empty() {
                String::new()
            } else {
                format!(" (side outputs {})", outputs.join(", "))
            };
            let keeps = if *keeps_key { ", keeps the key" } else { "" };
            format!("{path}: pardo {}{sides}{keeps}", plugin.shown())
        }
        StepSpec::Combine { path, combine } => match combine {
            CombineSpec::Builtin(builtin) => format!("{path}: {}", builtin.name()),
            CombineSpec::Plugin(plugin) => format!("{path}: plugin {}", plugin.shown()),
        },
        StepSpec::Flatten { path } => format!("{path}: flatten"),
        StepSpec::CoGroup { path } => format!("{path}: cogroup"),
        StepSpec::Repartition { path, topic, .. } => {
            format!("{path}: repartition through the topic {topic}")
        }
        StepSpec::Score {
            path,
            model,
            evaluator,
            ..
        } => format!(
            "{path}: score with the model {} ({}), evaluated by {}",
            model.name,
            model.path.display(),
            evaluator
                .as_ref()
                .map_or_else(|| "onnx-scorer".to_owned(), PluginSpec::shown)
        ),
    }
}
