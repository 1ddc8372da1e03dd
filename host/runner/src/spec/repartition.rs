//! Repartition steps, and the stages they divide a pipeline of tasks into.
//!
//! ```yaml
//! parallelism: partitions
//! steps:
//!   - pardo: { plugin: parse-json, config: { key: user } }   # a new key
//!   - repartition: {}             # or {topic: clicks-by-user, partitions: 16}
//!   - window: { fixed: { size: 1m } }
//!   - combine: sum
//! ```
//!
//! With a task per partition, a key's records must reach one task for its
//! windows to be whole. The input's Kafka key decides its partition, so a step
//! that may change the key (a `pardo` without `keeps_key: true`) must be followed
//! by a `repartition` before the next grouping (`combine`, `cogroup`); the spec
//! is refused otherwise. A repartition step divides the pipeline into *stages*:
//! [`stages`] makes each an ordinary pipeline of tasks, the stage before writing
//! the topic (exactly once, each record to the partition of its key, with its
//! watermark) and the stage after reading it as its source. Under
//! `parallelism: single` a repartition step passes records on unchanged.

use super::document::Node;
use super::kafka::{Delivery, KafkaSinkSpec, KafkaSourceSpec, RepartitionWriter, StartAt, Topics};
use super::{
    At, Input, PipelineSpec, Reader, Result, SinkNode, SinkSpec, SourceNode, SourceSpec, SpecError,
    StepNode, StepSpec, TimestampFormat,
};

/// The most partitions a repartition topic may be created with.
const MAX_PARTITIONS: u64 = 100_000;

impl Reader<'_> {
    /// `repartition: {topic: …, partitions: …}`, both optional; the topic is
    /// `default_topic` unless named.
    pub(super) fn repartition(
        &self,
        at: &At,
        node: &Node,
        default_topic: &str,
    ) -> Result<StepSpec> {
        let map = self.map(at, node, &["topic", "partitions"])?;
        let topic = match map.get("topic") {
            Some(node) => self.topic(&at.key("topic"), node)?,
            None => default_topic.to_owned(),
        };
        let partitions = map
            .get("partitions")
            .map(|node| self.count_up_to(&at.key("partitions"), node, 1, MAX_PARTITIONS))
            .transpose()?
            .map(|count| count as i32);
        Ok(StepSpec::Repartition {
            path: at.path.clone(),
            topic,
            partitions,
        })
    }

    /// With a task per partition: every grouping step reads records that are in
    /// the task of their key, and every repartition step can carry its input.
    pub(super) fn check_keys_stay_in_their_task(&self, spec: &PipelineSpec) -> Result<()> {
        let error = |path: &str, message: String| SpecError {
            file: self.file.to_owned(),
            path: path.to_owned(),
            message,
            mark: None,
        };
        // For each step, the step upstream that may have moved its output's keys
        // out of their task (none: every record is in its key's task).
        let mut moved: Vec<Option<usize>> = Vec::with_capacity(spec.steps.len());
        for (index, step) in spec.steps.iter().enumerate() {
            let moved_by = step.inputs.iter().find_map(|&input| match input {
                Input::Source(_) => None,
                Input::Step(n) | Input::Side { step: n, .. } => moved[n],
            });
            moved.push(match &step.spec {
                StepSpec::ParDo {
                    keeps_key: false, ..
                } => Some(index),
                StepSpec::Combine { path, .. } | StepSpec::CoGroup { path } => {
                    if let Some(pardo) = moved_by {
                        return Err(error(
                            path,
                            format!(
                                "with a task per partition, a {} needs every record of a key in \
                                 one task, and {} may change the keys: add `- repartition: {{}}` \
                                 between them (or `keeps_key: true` to the pardo, if it never \
                                 changes a key)",
                                step.spec.kind(),
                                spec.steps[pardo].spec.path()
                            ),
                        ));
                    }
                    None
                }
                StepSpec::Repartition { path, .. } => {
                    if let Some(window) = step.windowing {
                        return Err(error(
                            path,
                            format!(
                                "a repartition topic carries records, not their windows, and \
                                 {} windows them: put the window step after the repartition",
                                spec.steps[window].spec.path()
                            ),
                        ));
                    }
                    if step.retractions {
                        return Err(error(
                            path,
                            "a repartition topic cannot carry retractions: repartition before \
                             the retracting grouping"
                                .to_owned(),
                        ));
                    }
                    None
                }
                StepSpec::Window { .. }
                | StepSpec::ParDo { .. }
                | StepSpec::Flatten { .. }
                | StepSpec::Score { .. } => moved_by,
            });
        }
        let stages = step_stages(spec);
        for (index, step) in spec.steps.iter().enumerate() {
            let of: Vec<usize> = step
                .inputs
                .iter()
                .map(|&input| input_stage(spec, &stages, input))
                .collect();
            if of.iter().any(|&stage| stage != stages[index]) {
                return Err(error(
                    step.spec.path(),
                    format!(
                        "a {} reads records from both sides of a repartition topic: repartition \
                         each of its inputs, or none",
                        step.spec.kind()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The stage of each step: the most repartition steps on a path to it.
fn step_stages(spec: &PipelineSpec) -> Vec<usize> {
    let mut stages: Vec<usize> = Vec::with_capacity(spec.steps.len());
    for step in &spec.steps {
        let stage = step
            .inputs
            .iter()
            .map(|&input| input_stage(spec, &stages, input))
            .max()
            .unwrap_or(0);
        stages.push(stage);
    }
    stages
}

/// The stage whose tasks read `input`: a repartition step's output is read in
/// the stage after its own.
fn input_stage(spec: &PipelineSpec, stages: &[usize], input: Input) -> usize {
    match input {
        Input::Source(_) => 0,
        Input::Step(n) | Input::Side { step: n, .. } => {
            stages[n] + usize::from(matches!(spec.steps[n].spec, StepSpec::Repartition { .. }))
        }
    }
}

/// A repartition topic that a pipeline of tasks writes and reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepartitionTopic {
    /// Its name.
    pub topic: String,
    /// Its partitions when it must be created (`None`: as many as the stage
    /// writing it has tasks).
    pub partitions: Option<i32>,
    /// The stage that writes it (the next one reads it).
    pub stage: usize,
}

/// The repartition topics of `spec`, in the order of their steps.
pub fn repartition_topics(spec: &PipelineSpec) -> Vec<RepartitionTopic> {
    let stages = step_stages(spec);
    spec.steps
        .iter()
        .zip(&stages)
        .filter_map(|(step, &stage)| match &step.spec {
            StepSpec::Repartition {
                topic, partitions, ..
            } => Some(RepartitionTopic {
                topic: topic.clone(),
                partitions: *partitions,
                stage,
            }),
            _ => None,
        })
        .collect()
}

/// The consumer group of stage `stage` of a pipeline whose group is `group`.
fn stage_group(group: &str, stage: usize) -> String {
    match stage {
        0 => group.to_owned(),
        _ => format!("{group}-stage-{stage}"),
    }
}

/// `spec` divided at its repartition steps into stages, each a pipeline of
/// tasks: stage 0 reads the spec's sources, and stage `k` reads the topics of
/// the repartition steps of stage `k - 1`. A spec without repartition steps is
/// one stage, itself. Every stage has the spec's name; its tasks tell their state
/// and outputs apart by stage.
pub fn stages(spec: &PipelineSpec) -> Vec<PipelineSpec> {
    let stages = step_stages(spec);
    let count = spec
        .steps
        .iter()
        .zip(&stages)
        .map(|(step, &stage)| {
            stage + usize::from(matches!(step.spec, StepSpec::Repartition { .. }))
        })
        .max()
        .unwrap_or(0)
        + 1;
    if count == 1 {
        return vec![spec.clone()];
    }
    let first = spec.sources.iter().find_map(|source| match &source.spec {
        SourceSpec::Kafka(kafka) => Some(&**kafka),
        _ => None,
    });
    (0..count)
        .map(|stage| stage_spec(spec, &stages, stage, first))
        .collect()
}

/// Stage `stage` of `spec` (see [`stages`]).
fn stage_spec(
    spec: &PipelineSpec,
    stages: &[usize],
    stage: usize,
    first: Option<&KafkaSourceSpec>,
) -> PipelineSpec {
    let mut sources: Vec<SourceNode> = Vec::new();
    // Where each of the spec's steps is in the stage: a step, or a source (the
    // repartition steps the stage reads).
    let mut placed: Vec<Option<Input>> = vec![None; spec.steps.len()];
    if stage == 0 {
        sources = spec.sources.clone();
    } else {
        for (n, step) in spec.steps.iter().enumerate() {
            if let StepSpec::Repartition { path, topic, .. } = &step.spec
                && stages[n] + 1 == stage
                && let Some(first) = first
            {
                placed[n] = Some(Input::Source(sources.len()));
                sources.push(SourceNode {
                    name: spec.input_name(Input::Step(n)),
                    path: path.clone(),
                    spec: SourceSpec::Kafka(Box::new(repartition_source(
                        first, &spec.name, topic, stage,
                    ))),
                    idle_timeout: None,
                });
            }
        }
    }
    let mut steps: Vec<StepNode> = Vec::new();
    let mut sinks: Vec<SinkNode> = Vec::new();
    let remap = |input: Input, placed: &[Option<Input>]| match input {
        Input::Source(n) => Input::Source(n),
        Input::Step(n) => placed[n].unwrap_or(input),
        Input::Side { step, output } => match placed[step] {
            Some(Input::Step(moved)) => Input::Side {
                step: moved,
                output,
            },
            _ => input,
        },
    };
    for (n, step) in spec.steps.iter().enumerate() {
        if stages[n] != stage {
            continue;
        }
        let inputs: Vec<Input> = step.inputs.iter().map(|&i| remap(i, &placed)).collect();
        if let StepSpec::Repartition { path, topic, .. } = &step.spec {
            sinks.push(SinkNode {
                name: spec.input_name(Input::Step(n)),
                path: path.clone(),
                input: inputs[0],
                spec: SinkSpec::Kafka(Box::new(repartition_sink(
                    spec, stages, stage, first, topic,
                ))),
            });
            continue;
        }
        placed[n] = Some(Input::Step(steps.len()));
        let windowing = step.windowing.and_then(|w| match placed[w] {
            Some(Input::Step(moved)) => Some(moved),
            _ => None,
        });
        steps.push(StepNode {
            inputs,
            windowing,
            ..step.clone()
        });
    }
    for sink in &spec.sinks {
        if input_stage(spec, stages, sink.input) == stage {
            sinks.push(SinkNode {
                input: remap(sink.input, &placed),
                ..sink.clone()
            });
        }
    }
    PipelineSpec {
        sources,
        steps,
        sinks,
        ..spec.clone()
    }
}

/// Stage `stage`'s source of a repartition topic: its records' keys, values and
/// event times as the stage before wrote them, its watermark theirs.
fn repartition_source(
    first: &KafkaSourceSpec,
    pipeline: &str,
    topic: &str,
    stage: usize,
) -> KafkaSourceSpec {
    let group = first
        .group
        .clone()
        .unwrap_or_else(|| format!("millrace-{pipeline}"));
    KafkaSourceSpec {
        brokers: first.brokers.clone(),
        topics: Topics::Named(vec![topic.to_owned()]),
        group: Some(stage_group(&group, stage)),
        start: StartAt::Earliest,
        until_end: first.until_end,
        key: None,
        value: None,
        timestamp: None,
        timestamp_format: TimestampFormat::Auto,
        max_out_of_orderness: 0,
        idle_partition: None,
        bundle_size: first.bundle_size,
        options: first.options.clone(),
        repartition: true,
    }
}

/// The sink of stage `stage` that writes a repartition topic: exactly once, in
/// the transaction of the stage's other exactly-once Kafka sinks if it has any.
fn repartition_sink(
    spec: &PipelineSpec,
    stages: &[usize],
    stage: usize,
    first: Option<&KafkaSourceSpec>,
    topic: &str,
) -> KafkaSinkSpec {
    let brokers = first.map(|kafka| kafka.brokers.clone()).unwrap_or_default();
    let options = first.map(|kafka| kafka.options.clone()).unwrap_or_default();
    // A sink of the stage that shares the transaction lends its id and options.
    let sharing = spec.sinks.iter().find_map(|sink| match &sink.spec {
        SinkSpec::Kafka(kafka)
            if kafka.delivery == Delivery::ExactlyOnce
                && kafka.brokers == brokers
                && input_stage(spec, stages, sink.input) == stage =>
        {
            Some(kafka)
        }
        _ => None,
    });
    KafkaSinkSpec {
        brokers,
        topic: topic.to_owned(),
        delivery: Delivery::ExactlyOnce,
        key: None,
        transactional_id: sharing.and_then(|kafka| kafka.transactional_id.clone()),
        options: sharing.map_or(options, |kafka| kafka.options.clone()),
        repartition: Some(RepartitionWriter::default()),
    }
}
