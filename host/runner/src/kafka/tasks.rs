//! Scale-out by partitions (`parallelism: partitions`): a pipeline is divided into
//! tasks, one per partition number of its Kafka topics, and every process that
//! runs it joins the pipeline's consumer group with one member. Kafka's own
//! assignment decides which process runs which tasks; moving a task is a
//! rebalance.
//!
//! A task is an ordinary run of the pipeline on its own thread: its consumer is
//! assigned the task's partitions (it does not join the group), its state and
//! checkpoints are in `<state-dir>/<pipeline>/task-<N>`, its exactly-once Kafka
//! sinks have the transactional id `<id>-task-<N>`, and its files are
//! `<stem>.task-<N>.<extension>`. When the group takes a task's partitions away,
//! the task checkpoints (committing its transaction) and stops before the member
//! lets them go; the process they go to resumes the task from that checkpoint,
//! its producer fencing any zombie of the old one. The state directory must be
//! one every process reaches (a shared file system across machines), or the
//! checkpoints go through a checkpoint store.
//!
//! A pipeline with repartition steps runs each of its stages this way, side by
//! side, each with a group member of its own (`crate::spec::stages`); a later
//! stage's tasks are labelled `stage-<K>-task-<N>` where stage 0's are `task-<N>`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::source::{Listed, topic_partitions};
use super::{client_config, kafka_error, log_client_error};
use crate::durable::{Durable, StateOptions, pipeline_dir};
use crate::spec::{CheckpointSpec, DeadLetterSpec, PipelineSpec, SinkSpec, SourceSpec, Topics};
use crate::{Backend, RunError, RunOptions, RunSummary, io_error, run_with, spec_error};
use millrace_state::CheckpointStore;
use millrace_state::checkpoint::Checkpoints;

/// How often the member looks at its tasks while the group is quiet.
const TICK: Duration = Duration::from_millis(100);

/// How long a task waits for its state directory while the process that ran the
/// task before lets it go.
const STATE_WAIT: Duration = Duration::from_secs(30);

/// Offsets a task checkpointed, for the member to commit to the group.
type Commit = Vec<(Listed, i64)>;

/// One task of a pipeline with `parallelism: partitions`: the partitions of one
/// number, which a run reads with the task's own state and outputs.
pub(crate) struct Task {
    /// The stage of the pipeline it belongs to (0 unless it has repartition steps).
    stage: usize,
    /// The partition number.
    partition: i32,
    /// The topics and partitions each source reads, by the source's index.
    inputs: Vec<Vec<Listed>>,
    /// Where a source's checkpointed offsets go, for the group member to commit.
    commits: Sender<Commit>,
    /// Set when the task must checkpoint and stop (its partitions move).
    stop: Arc<AtomicBool>,
}

impl Task {
    /// What tells task `partition` of stage `stage` apart: the name of its state
    /// folder under its pipeline's, and the suffix of its files and transactional
    /// ids.
    fn label(stage: usize, partition: i32) -> String {
        match stage {
            0 => format!("task-{partition}"),
            _ => format!("stage-{stage}-task-{partition}"),
        }
    }

    /// The flag a run of the task watches: set, it checkpoints and stops.
    pub(crate) fn stop(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

/// Runs this process's share of `spec`'s tasks until its input ends (every task
/// finished, wherever it ran), or until a task fails. A pipeline with repartition
/// steps runs each of its stages as a pipeline of tasks of its own, side by side.
pub(crate) fn run_tasks(spec: &PipelineSpec, options: &RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    refuse_options(spec, options)?;
    // SIGTERM or SIGINT: the tasks checkpoint and stop, and the member leaves the
    // group, which gives their partitions to the others at once (a process that
    // dies keeps them until its session times out).
    let leave = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, leave.clone())
            .map_err(io_error("cannot handle SIGTERM and SIGINT"))?;
    }
    let stages = crate::spec::stages(spec);
    if stages.len() == 1 {
        return run_stage(spec, 0, options, &leave, started);
    }
    create_repartition_topics(spec)?;
    let outcomes: Vec<Result<RunSummary, RunError>> = std::thread::scope(|scope| {
        let running: Vec<_> = stages
            .iter()
            .enumerate()
            .map(|(stage, stage_spec)| {
                let leave = &leave;
                std::thread::Builder::new()
                    .name(format!("stage-{stage}"))
                    .spawn_scoped(scope, move || {
                        let outcome = run_stage(stage_spec, stage, options, leave, started);
                        // A stage that fails stops the others: the process stops.
                        if outcome.is_err() {
                            leave.store(true, Ordering::Release);
                        }
                        outcome
                    })
            })
            .collect();
        running
            .into_iter()
            .map(|thread| match thread {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|_| Err(RunError::Checkpoint("a stage panicked".to_owned()))),
                Err(err) => Err(io_error("cannot start a stage's thread")(err)),
            })
            .collect()
    });
    let mut total = RunSummary::default();
    for (stage, outcome) in outcomes.into_iter().enumerate() {
        let summary = outcome?;
        // The later stages read what the first one wrote: the input is its.
        let read = if stage == 0 { summary.read } else { 0 };
        total.add(&RunSummary { read, ..summary });
    }
    Ok(RunSummary {
        elapsed: started.elapsed(),
        ..total
    })
}

/// Creates the repartition topics that do not exist yet: each with the
/// partitions its step names, or as many as the stage writing it has tasks.
fn create_repartition_topics(spec: &PipelineSpec) -> Result<(), RunError> {
    let (kafka, topics) = inputs(spec)?;
    let metadata: BaseConsumer = client_config(&kafka.brokers, &kafka.options)
        .create()
        .map_err(kafka_error("cannot create a metadata client"))
        .map_err(io_error("cannot read the input's partitions"))?;
    let mut input_partitions = 0;
    for topic in topics.iter().flatten() {
        let found = topic_partitions(metadata.client(), topic, &kafka.brokers)
            .map_err(io_error("cannot read the input's partitions"))?;
        input_partitions = input_partitions.max(found.len() as i32);
    }
    // Each stage has as many tasks as the topics it reads have partitions; the
    // steps are in order, so a stage's count is known before its topics are made.
    let mut stage_tasks = BTreeMap::from([(0, input_partitions)]);
    for repartition in crate::spec::repartition_topics(spec) {
        let tasks = stage_tasks.get(&repartition.stage).copied().unwrap_or(1);
        super::repartition::create_topic(
            &kafka.brokers,
            &kafka.options,
            &repartition.topic,
            repartition.partitions.unwrap_or(tasks),
        )
        .map_err(io_error("cannot create the repartition topics"))?;
        let found = topic_partitions(metadata.client(), &repartition.topic, &kafka.brokers)
            .map_err(io_error("cannot read a repartition topic's partitions"))?;
        let next = stage_tasks.entry(repartition.stage + 1).or_insert(0);
        *next = (*next).max(found.len() as i32);
    }
    Ok(())
}

/// Runs this process's share of the tasks of stage `stage` (`spec` is the
/// stage's pipeline), until its input ends, a task fails or `leave` is set.
fn run_stage(
    spec: &PipelineSpec,
    stage: usize,
    options: &RunOptions,
    leave: &AtomicBool,
    started: Instant,
) -> Result<RunSummary, RunError> {
    let (kafka, topics) = inputs(spec)?;
    let group = kafka
        .group
        .clone()
        .unwrap_or_else(|| format!("millrace-{}", spec.name));
    let mut config = client_config(&kafka.brokers, &kafka.options);
    config
        .set("group.id", &group)
        .set("enable.auto.commit", "false");
    if !kafka
        .options
        .iter()
        .any(|(name, _)| name == "partition.assignment.strategy")
    {
        // Over one topic, the cooperative sticky assignor moves only the tasks
        // that must move: the others keep running through a rebalance. Over
        // several, the range assignor gives one member the same partition number
        // of every topic of equal size, so a task's partitions stay together (the
        // eager protocol it takes stops every task of a member while it runs).
        let one_topic = topics.iter().flatten().collect::<BTreeSet<_>>().len() == 1;
        config.set(
            "partition.assignment.strategy",
            if one_topic {
                "cooperative-sticky"
            } else {
                "range"
            },
        );
    }
    let (commits, committed) = channel();
    let tasks = Tasks {
        stage,
        count: 0,
        spec: Arc::new(spec.clone()),
        options: options.clone(),
        topics: Vec::new(),
        commits,
        committed,
        running: BTreeMap::new(),
        summaries: BTreeMap::new(),
        failure: None,
    };
    let member: BaseConsumer<Member> = config
        .create_with_context(Member {
            tasks: Mutex::new(tasks),
        })
        .map_err(kafka_error("cannot create the group's member"))
        .map_err(io_error(format!("cannot join the group {group}")))?;
    let mut partitions = BTreeMap::new();
    for topic in topics.iter().flatten() {
        let found = topic_partitions(member.client(), topic, &kafka.brokers)
            .map_err(io_error("cannot read the input's partitions"))?;
        partitions.insert(topic.clone(), found.len() as i32);
    }
    let numbers = partitions.values().copied().max().unwrap_or(0);
    if let Ok(mut tasks) = member.context().tasks.lock() {
        tasks.count = numbers;
        tasks.topics = topics
            .iter()
            .map(|topics| {
                topics
                    .iter()
                    .map(|topic| (topic.clone(), partitions[topic]))
                    .collect()
            })
            .collect();
    }
    let subscription: BTreeSet<&str> = topics.iter().flatten().map(String::as_str).collect();
    let subscription: Vec<&str> = subscription.into_iter().collect();
    member
        .subscribe(&subscription)
        .map_err(kafka_error("cannot subscribe"))
        .map_err(io_error(format!("cannot join the group {group}")))?;
    let task_checkpoints = match task_spec(spec, stage, 0, numbers)
        .checkpoint
        .and_then(|c| c.store)
    {
        Some(url) => TaskCheckpoints::Store(
            CheckpointStore::open(&url).map_err(|err| RunError::Checkpoint(err.to_string()))?,
        ),
        None => TaskCheckpoints::Shared(
            pipeline_dir(&options.state.dir, &spec.name).map_err(RunError::Checkpoint)?,
        ),
    };
    let mut finished_check = Instant::now();
    let outcome = loop {
        if let Some(Err(err)) = member.poll(TICK) {
            tracing::warn!("Kafka: the group's member: {err}");
        }
        let Ok(mut tasks) = member.context().tasks.lock() else {
            break Err(RunError::Checkpoint("a task thread panicked".to_owned()));
        };
        tasks.commit(&member, CommitMode::Async);
        tasks.collect_ended();
        if let Some(failure) = tasks.failure.take() {
            break Err(failure);
        }
        if leave.load(Ordering::Acquire) {
            tracing::info!("stopping: the tasks checkpoint and leave the group");
            break Ok(());
        }
        // A bounded read is over when every task has finished, here or elsewhere:
        // its newest checkpoint says so.
        if kafka.until_end
            && tasks.running.is_empty()
            && finished_check.elapsed() >= Duration::from_secs(1)
        {
            finished_check = Instant::now();
            if (0..numbers).all(|number| task_checkpoints.finished(stage, number)) {
                break Ok(());
            }
        }
    };
    let summary = match member.context().tasks.lock() {
        Ok(mut tasks) => {
            tasks.stop_all();
            tasks.commit(&member, CommitMode::Sync);
            let mut total = RunSummary::default();
            for summary in tasks.summaries.values() {
                total.add(summary);
            }
            total
        }
        Err(_) => RunSummary::default(),
    };
    // Unsubscribing revokes the partitions through the rebalance callback, which
    // only a poll runs; dropping the member then leaves the group.
    member.unsubscribe();
    for _ in 0..50 {
        if member
            .assignment()
            .map_or(true, |assigned| assigned.count() == 0)
        {
            break;
        }
        member.poll(TICK);
    }
    outcome?;
    Ok(RunSummary {
        elapsed: started.elapsed(),
        ..summary
    })
}

/// Options that cannot apply to a pipeline of tasks.
fn refuse_options(spec: &PipelineSpec, options: &RunOptions) -> Result<(), RunError> {
    let refused = |what: &str| {
        Err(spec_error(
            spec,
            "parallelism",
            &format!("with a task per partition, {what}"),
        ))
    };
    if options.input.is_some() {
        return refused("the tasks read the Kafka sources' partitions: --input does not apply");
    }
    if options.output.is_some() {
        return refused("each task writes its own files: --output does not apply");
    }
    if options.state.backend == Backend::None {
        return refused(
            "a task moves with its checkpoints, so it needs them: --state none does not apply",
        );
    }
    if options.state.fresh || options.state.from_checkpoint.is_some() {
        return refused(
            "the tasks' checkpoints are shared by every process of the pipeline: stop them \
             all and remove the pipeline's state folder to start over",
        );
    }
    Ok(())
}

/// The first Kafka source's settings (the spec checked that all share brokers
/// and group) and each source's topics.
fn inputs(
    spec: &PipelineSpec,
) -> Result<(&crate::spec::KafkaSourceSpec, Vec<Vec<String>>), RunError> {
    let mut topics = Vec::with_capacity(spec.sources.len());
    let mut first = None;
    for source in &spec.sources {
        let SourceSpec::Kafka(kafka) = &source.spec else {
            return Err(spec_error(
                spec,
                "parallelism",
                "every source must be a Kafka source",
            ));
        };
        match &kafka.topics {
            Topics::Named(names) => topics.push(names.clone()),
            Topics::Pattern(_) => {
                return Err(spec_error(
                    spec,
                    format!("{}.kafka.pattern", source.path),
                    "a task per partition needs to know its topics' partitions before the \
                     group assigns them: name the topics with `topic:` or `topics:`",
                ));
            }
        }
        first.get_or_insert(&**kafka);
    }
    let first = first.ok_or_else(|| spec_error(spec, "sources", "the pipeline has no source"))?;
    Ok((first, topics))
}

/// Where the tasks' checkpoints are: the shared state directory, or the store.
enum TaskCheckpoints {
    Shared(PathBuf),
    Store(CheckpointStore),
}

impl TaskCheckpoints {
    /// Whether task `number` of stage `stage` has a newest checkpoint of a
    /// finished run.
    fn finished(&self, stage: usize, number: i32) -> bool {
        let name = Task::label(stage, number);
        match self {
            TaskCheckpoints::Shared(root) => Checkpoints::observe(&root.join(name))
                .list()
                .ok()
                .and_then(|listed| listed.into_iter().rev().find_map(|l| l.manifest.ok()))
                .is_some_and(|manifest| manifest.finished),
            TaskCheckpoints::Store(store) => store
                .ids(&name)
                .ok()
                .and_then(|ids| store.manifest(&name, *ids.last()?).ok())
                .is_some_and(|manifest| manifest.finished),
        }
    }
}

/// The spec task `number` of `tasks` of stage `stage` runs: the stage's
/// pipeline, with the task's own files and transactional ids.
fn task_spec(spec: &PipelineSpec, stage: usize, number: i32, tasks: i32) -> PipelineSpec {
    let mut task = spec.clone();
    let label = Task::label(stage, number);
    for sink in &mut task.sinks {
        match &mut sink.spec {
            SinkSpec::File(path) => *path = task_path(path, &label),
            SinkSpec::Kafka(kafka) => {
                let id = kafka
                    .transactional_id
                    .clone()
                    .unwrap_or_else(|| format!("millrace-{}", spec.name));
                kafka.transactional_id = Some(format!("{id}-{label}"));
                if let Some(writer) = &mut kafka.repartition {
                    writer.task = number;
                    writer.tasks = tasks;
                }
            }
            SinkSpec::Stdout => {}
        }
    }
    // A task's checkpoints are in its pipeline's folder of the store.
    if let Some(store) = task.checkpoint.as_mut().and_then(|c| c.store.as_mut()) {
        *store = format!("{}/{}", store.trim_end_matches('/'), spec.name);
    }
    if let Some(DeadLetterSpec::File(path)) = &mut task.dead_letter {
        *path = task_path(path, &label);
    }
    task
}

/// `out.jsonl` as task 3's (`label`: `task-3`): `out.task-3.jsonl`.
fn task_path(path: &Path, label: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(extension) => format!("{stem}.{label}.{}", extension.to_string_lossy()),
        None => format!("{stem}.{label}"),
    };
    path.with_file_name(name)
}

/// Opens a task's state, waiting while the process that ran it before still
/// holds it (it checkpoints and lets go when the group takes the task away).
pub(crate) fn open_task_state(
    spec: &PipelineSpec,
    options: &RunOptions,
    task: &Task,
    fingerprint: serde_json::Value,
    settings: &CheckpointSpec,
) -> Result<Durable, RunError> {
    let state = StateOptions {
        dir: pipeline_dir(&options.state.dir, &spec.name).map_err(RunError::Checkpoint)?,
        ..options.state.clone()
    };
    let name = Task::label(task.stage, task.partition);
    let deadline = Instant::now() + STATE_WAIT;
    loop {
        match Durable::open(&name, &state, fingerprint.clone(), settings) {
            Err(RunError::InUse(_)) if Instant::now() < deadline => {
                std::thread::sleep(TICK);
            }
            result => return result,
        }
    }
}

/// A task running on its thread.
struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<RunSummary, RunError>>,
}

/// The tasks of this process, started and stopped by the group's rebalances.
struct Tasks {
    /// The stage they belong to.
    stage: usize,
    /// How many tasks the stage has.
    count: i32,
    spec: Arc<PipelineSpec>,
    options: RunOptions,
    /// Each source's topics with their partition counts.
    topics: Vec<Vec<(String, i32)>>,
    commits: Sender<Commit>,
    committed: Receiver<Commit>,
    running: BTreeMap<i32, Running>,
    /// What each task that ended here last did, over its whole run (a resumed
    /// task's counts go on from its checkpoint's).
    summaries: BTreeMap<i32, RunSummary>,
    /// Why a task failed: the process stops.
    failure: Option<RunError>,
}

impl Tasks {
    /// Task `number` as logs name it: `task 3`, or `stage 1 task 3`.
    fn name(&self, number: i32) -> String {
        match self.stage {
            0 => format!("task {number}"),
            stage => format!("stage {stage} task {number}"),
        }
    }

    /// Starts the tasks of the partitions the group assigned.
    fn assign(&mut self, assigned: &[Listed]) {
        let assigned: BTreeSet<&Listed> = assigned.iter().collect();
        let numbers: BTreeSet<i32> = assigned.iter().map(|(_, number)| *number).collect();
        for number in numbers {
            if self.running.contains_key(&number) {
                continue;
            }
            // The task reads partition `number` of every topic that has one, and the
            // group must have given all of them to this member.
            let inputs: Vec<Vec<Listed>> = self
                .topics
                .iter()
                .map(|topics| {
                    topics
                        .iter()
                        .filter(|(_, count)| number < *count)
                        .map(|(topic, _)| (topic.clone(), number))
                        .collect()
                })
                .collect();
            if let Some(missing) = inputs.iter().flatten().find(|p| !assigned.contains(p)) {
                self.failure.get_or_insert(RunError::Checkpoint(format!(
                    "the group gave this process partition {number} of some topics but not of \
                     {}: the topics of a pipeline of tasks must be co-partitioned, as the \
                     range assignor keeps them",
                    missing.0
                )));
                continue;
            }
            tracing::info!("starting {}", self.name(number));
            let stop = Arc::new(AtomicBool::new(false));
            let task = Task {
                stage: self.stage,
                partition: number,
                inputs,
                commits: self.commits.clone(),
                stop: stop.clone(),
            };
            let spec = task_spec(&self.spec, self.stage, number, self.count);
            let options = self.options.clone();
            let thread = std::thread::Builder::new()
                .name(Task::label(self.stage, number))
                .spawn(move || run_with(&spec, &options, None, Some(&task)));
            match thread {
                Ok(thread) => {
                    self.running.insert(number, Running { stop, thread });
                }
                Err(err) => {
                    self.failure
                        .get_or_insert(io_error("cannot start a task's thread")(err));
                }
            }
        }
    }

    /// Stops the tasks whose partitions the group took back: each checkpoints
    /// first, so that the process they go to resumes where it stopped.
    fn revoke(&mut self, revoked: &[Listed]) {
        let numbers: BTreeSet<i32> = revoked.iter().map(|(_, number)| *number).collect();
        for number in numbers {
            if let Some(running) = self.running.get(&number) {
                tracing::info!("stopping {}: its partitions move", self.name(number));
                running.stop.store(true, Ordering::Release);
            }
        }
        for number in revoked
            .iter()
            .map(|(_, number)| *number)
            .collect::<BTreeSet<_>>()
        {
            if let Some(running) = self.running.remove(&number) {
                self.ended(number, running);
            }
        }
    }

    fn stop_all(&mut self) {
        let numbers: Vec<i32> = self.running.keys().copied().collect();
        let all: Vec<Listed> = numbers.iter().map(|&n| (String::new(), n)).collect();
        self.revoke(&all);
    }

    /// Takes in the tasks that ended by themselves (finished, or failed).
    fn collect_ended(&mut self) {
        let ended: Vec<i32> = self
            .running
            .iter()
            .filter(|(_, running)| running.thread.is_finished())
            .map(|(&number, _)| number)
            .collect();
        for number in ended {
            if let Some(running) = self.running.remove(&number) {
                self.ended(number, running);
            }
        }
    }

    /// Waits for a task's thread and adds what it did.
    fn ended(&mut self, number: i32, running: Running) {
        match running.thread.join() {
            Ok(Ok(summary)) => {
                tracing::info!("{} stopped: {summary}", self.name(number));
                self.summaries.insert(number, summary);
            }
            Ok(Err(err)) => {
                tracing::error!("{} failed: {err}", self.name(number));
                self.failure.get_or_insert(err);
            }
            Err(_) => {
                self.failure.get_or_insert(RunError::Checkpoint(format!(
                    "{} panicked",
                    self.name(number)
                )));
            }
        }
    }

    /// Commits the offsets the tasks checkpointed to the group, for lag tools.
    fn commit(&mut self, member: &BaseConsumer<Member>, mode: CommitMode) {
        let mut offsets = TopicPartitionList::new();
        for commit in self.committed.try_iter() {
            for ((topic, partition), offset) in commit {
                let _ = offsets.add_partition_offset(&topic, partition, Offset::Offset(offset));
            }
        }
        if offsets.count() > 0
            && let Err(err) = member.commit(&offsets, mode)
        {
            tracing::warn!("Kafka: cannot commit the tasks' offsets to the group: {err}");
        }
    }
}

/// The context of the process's group member: rebalances start and stop tasks.
struct Member {
    tasks: Mutex<Tasks>,
}

impl ClientContext for Member {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

impl ConsumerContext for Member {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let listed: Vec<Listed> = partitions
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tasks.assign(&listed);
                // The member itself reads nothing: its tasks' consumers do.
                let assigned = if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                };
                assigned.and_then(|()| consumer.pause(partitions))
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                // The partitions go elsewhere only once this returns: the tasks
                // checkpoint and stop first, and their offsets are committed while
                // this member still belongs to the generation that had them.
                tasks.revoke(&listed);
                tasks.commit(consumer, CommitMode::Sync);
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!("Kafka: rebalance failed: {other:?}");
                tasks.stop_all();
                consumer.unassign()
            }
        };
        if let Err(err) = result {
            tracing::warn!("Kafka: cannot apply the group's assignment: {err}");
        }
    }
}

/// Opens task `task`'s reader of source `index` of `spec`.
pub(crate) fn open_task_source(
    kafka: &crate::spec::KafkaSourceSpec,
    spec: &PipelineSpec,
    task: &Task,
    index: usize,
) -> std::io::Result<Box<dyn crate::source::Source>> {
    Ok(Box::new(super::KafkaSource::task(
        kafka,
        &format!("millrace-{}", spec.name),
        task.inputs.get(index).cloned().unwrap_or_default(),
        task.commits.clone(),
    )?))
}
