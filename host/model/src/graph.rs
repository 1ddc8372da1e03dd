//! Pipelines as graphs (the paper's PCollections and transforms): sources, steps
//! that read the outputs of sources and of other steps, and sinks.
//!
//! A [`Pipeline`] keeps its steps in a topological order: a step reads only sources
//! and steps before it, so the graph has no cycles by construction. An event from
//! one source — a bundle of records, a watermark advance or a processing-time
//! advance — runs through every step in that order. Each step processes the records
//! its inputs emitted for this event, each input's in turn (several inputs are a
//! flatten), then sees its input watermark advance to the minimum of its inputs'
//! output watermarks. An output that feeds several steps or sinks (a branch) gives
//! each all its records. A step's side outputs ([`StepOutput::side`]) are outputs of
//! their own, on the step's output watermark. The records that reach a sink are put
//! in output order ([`crate::pipeline::output_order`]) before the next event.
//!
//! **Idle sources.** A source marked idle ([`Pipeline::set_idle`]) does not hold
//! back the watermarks of the steps it feeds, as with Flink's idleness: a step's
//! input watermark is the minimum over its active inputs, or, when all of them are
//! idle, the maximum over all (nothing is waiting for data). A step is idle when
//! all its inputs are. Records from an idle source make it active again; they may
//! be late by then, as in Flink.
//!
//! **Checkpoints.** One thread runs the whole graph and a barrier comes between two
//! events, so each step has seen exactly the events before the barrier, from every
//! input: the alignment Chandy–Lamport asks of a step with several inputs holds by
//! construction.
//!
//! Batch and streaming are the same code path: a bounded source ends by advancing
//! its watermark to +∞.

use std::fmt;
use std::mem;

use crate::dead_letter::DeadLetter;
use crate::pipeline::{
    Event, Step, StepFault, StepOutput, StepStats, StepStatus, SwapError, sort_for_output,
};
use crate::record::Record;
use crate::state::{LastPut, StateBackend, StateBatch, StateError, StepReader, StepWriter, Tag};
use crate::time::{MIN_TIMESTAMP, Timestamp};

/// An output of the graph that steps and sinks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// The records of source `n`.
    Source(usize),
    /// The main output of step `n`.
    Main(usize),
    /// Side output `output` of step `step`.
    Side {
        /// The step.
        step: usize,
        /// Which of its side outputs.
        output: usize,
    },
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Source(n) => write!(f, "source {n}"),
            Port::Main(n) => write!(f, "step {n}"),
            Port::Side { step, output } => write!(f, "side output {output} of step {step}"),
        }
    }
}

/// A step and what it reads.
pub struct Node<R> {
    /// The step.
    pub step: Box<dyn Step<R>>,
    /// Its inputs, in order; at least one.
    pub inputs: Vec<Port>,
}

/// A graph that is not a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A step reads an output that is not before it (or does not exist).
    #[error("step {step} reads {port}, which is not an earlier step's output or a source")]
    NotBefore {
        /// The step.
        step: usize,
        /// What it reads.
        port: Port,
    },
    /// A step reads nothing.
    #[error("step {step} has no input")]
    NoInput {
        /// The step.
        step: usize,
    },
    /// A sink reads an output that does not exist.
    #[error("sink {sink} reads {port}, which does not exist")]
    NoSuchPort {
        /// The sink.
        sink: usize,
        /// What it reads.
        port: Port,
    },
}

/// What a pipeline emitted while handling one event.
#[derive(Debug, Default)]
pub struct PipelineOutput {
    /// The records each sink receives, in output order, by sink.
    pub sinks: Vec<Vec<Record>>,
    /// Records set aside by any step.
    pub dead_letters: Vec<DeadLetter>,
}

impl PipelineOutput {
    /// An empty output for a pipeline with `sinks` sinks.
    pub fn new(sinks: usize) -> Self {
        PipelineOutput {
            sinks: vec![Vec::new(); sinks],
            dead_letters: Vec::new(),
        }
    }
}

/// A source's place in the graph.
#[derive(Clone, Copy, Debug)]
struct SourceState {
    watermark: Timestamp,
    idle: bool,
}

/// A pipeline of steps taking plugin replacements of type `R`; see the module docs.
pub struct Pipeline<R = crate::pipeline::NoSwap> {
    sources: Vec<SourceState>,
    nodes: Vec<Node<R>>,
    sinks: Vec<Port>,
    /// For each step's inputs, then for each sink: whether it is the last reader of
    /// its port, and so takes the records rather than a copy.
    last_reader: Vec<Vec<bool>>,
    sink_last_reader: Vec<bool>,
    /// The source watermarks as the last checkpoint holds them.
    watermark_put: LastPut,
}

impl<R> Pipeline<R> {
    /// A chain: one source, `steps` in order, one sink after the last.
    pub fn chain(steps: Vec<Box<dyn Step<R>>>) -> Self {
        let count = steps.len();
        let nodes = steps
            .into_iter()
            .enumerate()
            .map(|(index, step)| Node {
                step,
                inputs: vec![match index {
                    0 => Port::Source(0),
                    _ => Port::Main(index - 1),
                }],
            })
            .collect();
        let sink = match count {
            0 => Port::Source(0),
            _ => Port::Main(count - 1),
        };
        Self::graph(1, nodes, vec![sink]).expect("a chain is a graph")
    }

    /// A graph of `sources` sources, `nodes` in topological order and `sinks`.
    pub fn graph(
        sources: usize,
        nodes: Vec<Node<R>>,
        sinks: Vec<Port>,
    ) -> Result<Self, GraphError> {
        let exists = |port: Port, before: usize| match port {
            Port::Source(n) => n < sources,
            Port::Main(n) | Port::Side { step: n, .. } => n < before,
        };
        for (index, node) in nodes.iter().enumerate() {
            if node.inputs.is_empty() {
                return Err(GraphError::NoInput { step: index });
            }
            if let Some(&port) = node.inputs.iter().find(|&&port| !exists(port, index)) {
                return Err(GraphError::NotBefore { step: index, port });
            }
        }
        if let Some((sink, &port)) = sinks
            .iter()
            .enumerate()
            .find(|&(_, &port)| !exists(port, nodes.len()))
        {
            return Err(GraphError::NoSuchPort { sink, port });
        }
        // Readers in the order they run: the steps' inputs, then the sinks.
        let readers: Vec<Port> = nodes
            .iter()
            .flat_map(|node| node.inputs.iter().copied())
            .chain(sinks.iter().copied())
            .collect();
        let is_last = |position: usize| !readers[position + 1..].contains(&readers[position]);
        let mut position = 0;
        let mut last_reader = Vec::with_capacity(nodes.len());
        for node in &nodes {
            last_reader.push(
                (0..node.inputs.len())
                    .map(|k| is_last(position + k))
                    .collect(),
            );
            position += node.inputs.len();
        }
        let sink_last_reader = (0..sinks.len()).map(|k| is_last(position + k)).collect();
        Ok(Pipeline {
            sources: vec![
                SourceState {
                    watermark: MIN_TIMESTAMP,
                    idle: false,
                };
                sources
            ],
            nodes,
            sinks,
            last_reader,
            sink_last_reader,
            watermark_put: LastPut::default(),
        })
    }

    /// Runs one event of source `source` through every step. `out.sinks[s]`
    /// receives the records of sink `s` in output order: retractions first, then
    /// new records, each group by window end, window start and key.
    pub fn handle(
        &mut self,
        source: usize,
        event: Event,
        out: &mut PipelineOutput,
    ) -> Result<(), StepFault> {
        let mut from_source = Vec::new();
        let mut processing_time = None;
        match event {
            Event::Records(records) => {
                if let Some(state) = self.sources.get_mut(source) {
                    state.idle = false;
                }
                from_source = records;
            }
            Event::Watermark(watermark) => {
                if let Some(state) = self.sources.get_mut(source) {
                    state.watermark = state.watermark.max(watermark);
                }
            }
            Event::ProcessingTime(now) => processing_time = Some(now),
        }
        // What each step emitted for this event: its main output, then its sides.
        let mut produced: Vec<Vec<Vec<Record>>> = Vec::with_capacity(self.nodes.len());
        let mut idle = Vec::with_capacity(self.nodes.len());
        for index in 0..self.nodes.len() {
            let watermark = self.input_watermark(index, &idle);
            idle.push(
                self.nodes[index]
                    .inputs
                    .iter()
                    .all(|&port| self.is_idle(port, &idle)),
            );
            let node = &mut self.nodes[index];
            let mut step_out = StepOutput::default();
            for (k, &port) in node.inputs.iter().enumerate() {
                let batch = read(
                    port,
                    source,
                    self.last_reader[index][k],
                    &mut from_source,
                    &mut produced,
                );
                if !batch.is_empty() {
                    node.step.process(batch, &mut step_out)?;
                }
            }
            if let Some(now) = processing_time {
                node.step.advance_processing_time(now, &mut step_out)?;
            }
            node.step.advance_watermark(watermark, &mut step_out)?;
            out.dead_letters.append(&mut step_out.dead_letters);
            let mut outputs = Vec::with_capacity(1 + step_out.side.len());
            outputs.push(step_out.records);
            outputs.append(&mut step_out.side);
            produced.push(outputs);
        }
        out.sinks.resize_with(self.sinks.len(), Vec::new);
        for (sink, &port) in self.sinks.iter().enumerate() {
            let mut batch = read(
                port,
                source,
                self.sink_last_reader[sink],
                &mut from_source,
                &mut produced,
            );
            sort_for_output(&mut batch);
            out.sinks[sink].append(&mut batch);
        }
        Ok(())
    }

    /// Marks source `source` idle (it had no data for a while) or active again.
    pub fn set_idle(&mut self, source: usize, idle: bool) {
        if let Some(state) = self.sources.get_mut(source) {
            state.idle = idle;
        }
    }

    /// Whether `port` is idle, given which of the earlier steps are.
    fn is_idle(&self, port: Port, idle_steps: &[bool]) -> bool {
        match port {
            Port::Source(n) => self.sources[n].idle,
            Port::Main(n) | Port::Side { step: n, .. } => idle_steps[n],
        }
    }

    fn port_watermark(&self, port: Port) -> Timestamp {
        match port {
            Port::Source(n) => self.sources[n].watermark,
            Port::Main(n) | Port::Side { step: n, .. } => self.nodes[n].step.output_watermark(),
        }
    }

    /// The input watermark of step `index`: the minimum over its active inputs,
    /// or the maximum over all when all are idle.
    fn input_watermark(&self, index: usize, idle_steps: &[bool]) -> Timestamp {
        let inputs = &self.nodes[index].inputs;
        let active = inputs
            .iter()
            .filter(|&&port| !self.is_idle(port, idle_steps))
            .map(|&port| self.port_watermark(port))
            .min();
        active.unwrap_or_else(|| {
            inputs
                .iter()
                .map(|&port| self.port_watermark(port))
                .max()
                .unwrap_or(MIN_TIMESTAMP)
        })
    }

    /// The watermark of sink `sink`'s input: every record behind it has reached
    /// the sink.
    pub fn sink_watermark(&self, sink: usize) -> Timestamp {
        self.sinks
            .get(sink)
            .map_or(MIN_TIMESTAMP, |&port| self.port_watermark(port))
    }

    /// The lowest watermark among the sinks' inputs: every record behind it has
    /// reached its sink.
    pub fn output_watermark(&self) -> Timestamp {
        self.sinks
            .iter()
            .map(|&port| self.port_watermark(port))
            .min()
            .unwrap_or(MIN_TIMESTAMP)
    }

    /// The earliest processing-time timer of any step.
    pub fn next_processing_timer(&mut self) -> Option<Timestamp> {
        self.nodes
            .iter_mut()
            .filter_map(|node| node.step.next_processing_timer())
            .min()
    }

    /// Every step's name and counters.
    pub fn stats(&self) -> Vec<(String, StepStats)> {
        self.nodes
            .iter()
            .map(|node| (node.step.name().to_owned(), node.step.stats()))
            .collect()
    }

    /// Every step's name, counters, watermark and plugin.
    pub fn status(&self) -> Vec<StepStatus> {
        self.nodes
            .iter()
            .map(|node| StepStatus {
                name: node.step.name().to_owned(),
                stats: node.step.stats(),
                watermark: node.step.output_watermark(),
                plugin: node.step.plugin(),
                model: node.step.model(),
            })
            .collect()
    }

    /// The plugin versions of the steps that run plugins, by step name.
    pub fn versions(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .filter_map(|node| Some((node.step.name().to_owned(), node.step.plugin()?.version)))
            .collect()
    }

    /// Swaps the plugin of the step named `step` (see [`Step::swap`]), between two
    /// events: every element before the swap went through the old version, every
    /// one after it goes through the new one.
    pub fn swap(&mut self, step: &str, replacement: R) -> Result<(), SwapError> {
        match self.nodes.iter_mut().find(|node| node.step.name() == step) {
            Some(found) => found.step.swap(replacement),
            None => Err(SwapError::NoSuchStep {
                step: step.to_owned(),
            }),
        }
    }

    /// Every step's description (see [`Step::describe`]) with what it reads, and
    /// what the sinks read: state is resumed only by the same graph.
    pub fn describe(&self) -> Vec<serde_json::Value> {
        self.nodes
            .iter()
            .map(|node| {
                serde_json::json!({
                    "step": node.step.describe(),
                    "inputs": node.inputs,
                })
            })
            .chain(
                self.sinks
                    .iter()
                    .map(|port| serde_json::json!({ "sink": port })),
            )
            .collect()
    }

    /// A checkpoint barrier: every step writes what changed in its state into
    /// `batch` (see the module docs for why the barrier is aligned).
    pub fn snapshot(&mut self, batch: &mut StateBatch) -> Result<(), StateError> {
        for (index, node) in self.nodes.iter_mut().enumerate() {
            node.step
                .snapshot(&mut StepWriter::new(state_index(index), batch))?;
        }
        let watermarks: Vec<Timestamp> = self.sources.iter().map(|s| s.watermark).collect();
        let mut own = StepWriter::new(PIPELINE_STATE, batch);
        let key = own.key(Tag::Meta).build();
        own.put_changed(key, &watermarks, &mut self.watermark_put)
    }

    /// Replaces every step's state with what `backend` holds.
    pub fn restore(&mut self, backend: &dyn StateBackend) -> Result<(), StateError> {
        for (index, node) in self.nodes.iter_mut().enumerate() {
            node.step
                .restore(&StepReader::new(state_index(index), backend))?;
        }
        let own = StepReader::new(PIPELINE_STATE, backend);
        let watermarks: Option<Vec<Timestamp>> =
            own.get(&own.key(Tag::Meta).build(), "the source watermarks")?;
        for (state, watermark) in self.sources.iter_mut().zip(watermarks.unwrap_or_default()) {
            state.watermark = watermark;
        }
        Ok(())
    }
}

/// The records `port` emitted for this event: taken by its last reader, copied for
/// the others. Only the source of the event has records.
fn read(
    port: Port,
    event_source: usize,
    last: bool,
    from_source: &mut Vec<Record>,
    produced: &mut [Vec<Vec<Record>>],
) -> Vec<Record> {
    let records = match port {
        Port::Source(n) if n == event_source => from_source,
        Port::Source(_) => return Vec::new(),
        Port::Main(step) => &mut produced[step][0],
        Port::Side { step, output } => match produced[step].get_mut(output + 1) {
            Some(records) => records,
            None => return Vec::new(),
        },
    };
    if last {
        mem::take(records)
    } else {
        records.clone()
    }
}

/// Where step `index` keeps its state. Specs have far fewer steps than this.
fn state_index(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX - 1)
}

/// Where the pipeline keeps its own state, after any step's.
const PIPELINE_STATE: u16 = u16::MAX;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::cogroup::{lay_out, tag_input};
    use crate::combine::Builtin;
    use crate::group::{GroupByKeyAndWindow, WindowingStrategy};
    use crate::pane::{AccumulationMode, Timing};
    use crate::pipeline::{AssignWindows, flatten};
    use crate::record::Key;
    use crate::state::{MemoryBackend, StateBackend};
    use crate::time::MAX_TIMESTAMP;
    use crate::window::WindowFn;

    fn fixed(size: i64) -> WindowingStrategy {
        WindowingStrategy {
            window_fn: WindowFn::Fixed { size, offset: 0 },
            ..WindowingStrategy::default()
        }
    }

    fn window(name: &str, strategy: &WindowingStrategy) -> Box<dyn Step> {
        Box::new(AssignWindows::new(name, strategy.window_fn.clone()))
    }

    fn group(name: &str, strategy: &WindowingStrategy, builtin: Builtin) -> Box<dyn Step> {
        Box::new(
            GroupByKeyAndWindow::new(name, strategy.clone(), builtin.function(), true).unwrap(),
        )
    }

    fn node(step: Box<dyn Step>, inputs: &[Port]) -> Node<crate::pipeline::NoSwap> {
        Node {
            step,
            inputs: inputs.to_vec(),
        }
    }

    fn add(key: &str, value: Value, ts: Timestamp) -> Event {
        Event::Records(vec![Record::new(Key::from_str_value(key), value, ts)])
    }

    fn retract(key: &str, value: Value, ts: Timestamp) -> Event {
        Event::Records(vec![Record {
            retraction: true,
            ..Record::new(Key::from_str_value(key), value, ts)
        }])
    }

    /// (key, value, retraction) of each record a sink received.
    fn seen(records: &[Record]) -> Vec<(String, Value, bool)> {
        records
            .iter()
            .map(|r| (r.key.to_string(), r.value.clone(), r.retraction))
            .collect()
    }

    #[test]
    fn a_branch_feeds_two_groupings_and_each_sink_gets_its_panes() {
        let strategy = fixed(10);
        let mut pipeline = Pipeline::graph(
            1,
            vec![
                node(window("w", &strategy), &[Port::Source(0)]),
                node(group("sum", &strategy, Builtin::Sum), &[Port::Main(0)]),
                node(group("count", &strategy, Builtin::Count), &[Port::Main(0)]),
            ],
            vec![Port::Main(1), Port::Main(2)],
        )
        .unwrap();
        let mut out = PipelineOutput::new(2);
        for event in [
            add("a", json!(3), 1),
            add("a", json!(4), 2),
            Event::Watermark(MAX_TIMESTAMP),
        ] {
            pipeline.handle(0, event, &mut out).unwrap();
        }
        assert_eq!(seen(&out.sinks[0]), [("\"a\"".to_owned(), json!(7), false)]);
        assert_eq!(seen(&out.sinks[1]), [("\"a\"".to_owned(), json!(2), false)]);
    }

    /// Two sources flattened into one sum over windows of 10.
    fn flattened() -> Pipeline {
        let strategy = fixed(10);
        Pipeline::graph(
            2,
            vec![
                node(
                    Box::new(flatten("both")),
                    &[Port::Source(0), Port::Source(1)],
                ),
                node(window("w", &strategy), &[Port::Main(0)]),
                node(group("sum", &strategy, Builtin::Sum), &[Port::Main(1)]),
            ],
            vec![Port::Main(2)],
        )
        .unwrap()
    }

    #[test]
    fn a_flatten_merges_its_inputs_and_waits_for_the_slowest_watermark() {
        let mut pipeline = flattened();
        let mut out = PipelineOutput::new(1);
        pipeline.handle(0, add("a", json!(1), 1), &mut out).unwrap();
        pipeline.handle(1, add("a", json!(2), 2), &mut out).unwrap();
        pipeline.handle(0, Event::Watermark(20), &mut out).unwrap();
        assert!(out.sinks[0].is_empty(), "source 1 is still at -inf");
        assert_eq!(pipeline.output_watermark(), MIN_TIMESTAMP);
        pipeline.handle(1, Event::Watermark(15), &mut out).unwrap();
        assert_eq!(seen(&out.sinks[0]), [("\"a\"".to_owned(), json!(3), false)]);
        assert_eq!(pipeline.output_watermark(), 15);
    }

    #[test]
    fn an_idle_source_does_not_hold_the_watermark_until_it_has_data_again() {
        let mut pipeline = flattened();
        let mut out = PipelineOutput::new(1);
        pipeline.handle(0, add("a", json!(1), 1), &mut out).unwrap();
        pipeline.set_idle(1, true);
        pipeline.handle(0, Event::Watermark(20), &mut out).unwrap();
        assert_eq!(seen(&out.sinks[0]), [("\"a\"".to_owned(), json!(1), false)]);
        // Data makes source 1 active again: its watermark holds the flatten back.
        pipeline
            .handle(1, add("b", json!(5), 25), &mut out)
            .unwrap();
        pipeline.handle(0, Event::Watermark(40), &mut out).unwrap();
        assert_eq!(
            out.sinks[0].len(),
            1,
            "source 1 is active and at -inf again"
        );
    }

    /// A cogroup of persons (source 0) and auctions (source 1) per key and window
    /// of 10, accumulating the way `mode` says, firing on every element.
    fn cogroup(mode: AccumulationMode) -> Pipeline {
        let strategy = WindowingStrategy {
            trigger: crate::trigger::Trigger::Repeatedly(Box::new(
                crate::trigger::Trigger::AfterCount(1),
            )),
            accumulation: mode,
            ..fixed(10)
        };
        let inputs = vec!["persons".to_owned(), "auctions".to_owned()];
        Pipeline::graph(
            2,
            vec![
                node(
                    Box::new(tag_input("join.inputs[0]".into(), "persons".into())),
                    &[Port::Source(0)],
                ),
                node(
                    Box::new(tag_input("join.inputs[1]".into(), "auctions".into())),
                    &[Port::Source(1)],
                ),
                node(
                    window("join.window", &strategy),
                    &[Port::Main(0), Port::Main(1)],
                ),
                node(group("join", &strategy, Builtin::Collect), &[Port::Main(2)]),
                node(
                    Box::new(lay_out("join.result".into(), inputs)),
                    &[Port::Main(3)],
                ),
            ],
            vec![Port::Main(4)],
        )
        .unwrap()
    }

    #[test]
    fn a_cogroup_pane_holds_each_inputs_values() {
        let mut pipeline = cogroup(AccumulationMode::Accumulating);
        let mut out = PipelineOutput::new(1);
        pipeline
            .handle(0, add("p1", json!("ann"), 1), &mut out)
            .unwrap();
        pipeline
            .handle(1, add("p1", json!(7), 2), &mut out)
            .unwrap();
        pipeline
            .handle(1, add("p2", json!(9), 3), &mut out)
            .unwrap();
        assert_eq!(
            seen(&out.sinks[0]),
            [
                (
                    "\"p1\"".to_owned(),
                    json!({"persons": ["ann"], "auctions": []}),
                    false
                ),
                (
                    "\"p1\"".to_owned(),
                    json!({"persons": ["ann"], "auctions": [7]}),
                    false
                ),
                (
                    "\"p2\"".to_owned(),
                    json!({"persons": [], "auctions": [9]}),
                    false
                ),
            ]
        );
    }

    #[test]
    fn a_retraction_from_one_side_withdraws_and_replaces_the_joined_pane() {
        let mut pipeline = cogroup(AccumulationMode::Retracting);
        let mut out = PipelineOutput::new(1);
        pipeline
            .handle(0, add("p1", json!("ann"), 1), &mut out)
            .unwrap();
        pipeline
            .handle(1, add("p1", json!(7), 2), &mut out)
            .unwrap();
        out.sinks[0].clear();
        pipeline
            .handle(1, retract("p1", json!(7), 2), &mut out)
            .unwrap();
        assert_eq!(
            seen(&out.sinks[0]),
            [
                (
                    "\"p1\"".to_owned(),
                    json!({"persons": ["ann"], "auctions": [7]}),
                    true
                ),
                (
                    "\"p1\"".to_owned(),
                    json!({"persons": ["ann"], "auctions": []}),
                    false
                ),
            ]
        );
        let timings: Vec<Timing> = out.sinks[0].iter().map(|r| r.pane.timing).collect();
        assert_eq!(timings, [Timing::Early, Timing::Early]);
    }

    /// Emits even values on its main output and odd ones on side output 0.
    struct Split;

    impl Step for Split {
        fn name(&self) -> &str {
            "split"
        }

        fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
            out.side.resize_with(1, Vec::new);
            for record in input {
                if record.value.as_i64().is_some_and(|v| v % 2 == 0) {
                    out.records.push(record);
                } else {
                    out.side[0].push(record);
                }
            }
            Ok(())
        }

        fn advance_watermark(&mut self, _: Timestamp, _: &mut StepOutput) -> Result<(), StepFault> {
            Ok(())
        }

        fn output_watermark(&self) -> Timestamp {
            MIN_TIMESTAMP
        }

        fn stats(&self) -> StepStats {
            StepStats::default()
        }
    }

    #[test]
    fn side_outputs_reach_what_reads_them_and_a_shared_output_is_copied() {
        let mut pipeline = Pipeline::graph(
            1,
            vec![node(Box::new(Split), &[Port::Source(0)])],
            vec![
                Port::Main(0),
                Port::Side { step: 0, output: 0 },
                Port::Side { step: 0, output: 0 },
            ],
        )
        .unwrap();
        let mut out = PipelineOutput::new(3);
        let records = (1..=4)
            .map(|v| Record::new(Key::from_str_value("k"), json!(v), v))
            .collect();
        pipeline
            .handle(0, Event::Records(records), &mut out)
            .unwrap();
        let values =
            |records: &[Record]| records.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&out.sinks[0]), [json!(2), json!(4)]);
        assert_eq!(values(&out.sinks[1]), [json!(1), json!(3)]);
        assert_eq!(values(&out.sinks[2]), [json!(1), json!(3)]);
    }

    #[test]
    fn a_step_may_only_read_sources_and_earlier_steps() {
        let strategy = fixed(10);
        let ahead = Pipeline::graph(
            1,
            vec![node(window("w", &strategy), &[Port::Main(0)])],
            vec![],
        );
        assert_eq!(
            ahead.err(),
            Some(GraphError::NotBefore {
                step: 0,
                port: Port::Main(0)
            })
        );
        let no_source = Pipeline::graph(
            1,
            vec![node(window("w", &strategy), &[Port::Source(1)])],
            vec![],
        );
        assert!(matches!(no_source, Err(GraphError::NotBefore { .. })));
        let no_input = Pipeline::graph(1, vec![node(window("w", &strategy), &[])], vec![]);
        assert_eq!(no_input.err(), Some(GraphError::NoInput { step: 0 }));
        let sink = Pipeline::<crate::pipeline::NoSwap>::graph(1, vec![], vec![Port::Main(0)]);
        assert!(matches!(sink, Err(GraphError::NoSuchPort { sink: 0, .. })));
    }

    #[test]
    fn each_sources_watermark_survives_a_checkpoint() {
        let mut pipeline = flattened();
        let mut out = PipelineOutput::new(1);
        pipeline.handle(0, add("a", json!(1), 1), &mut out).unwrap();
        pipeline.handle(0, Event::Watermark(30), &mut out).unwrap();
        pipeline.handle(1, Event::Watermark(5), &mut out).unwrap();
        let mut batch = StateBatch::default();
        pipeline.snapshot(&mut batch).unwrap();
        let mut backend = MemoryBackend::new();
        backend.write(batch).unwrap();
        let mut resumed = flattened();
        resumed.restore(&backend).unwrap();
        // Source 0 is already at 30: source 1 reaching 12 fires the window [0, 10).
        resumed.handle(1, Event::Watermark(12), &mut out).unwrap();
        assert_eq!(seen(&out.sinks[0]), [("\"a\"".to_owned(), json!(1), false)]);
    }
}
