//! The Kafka source: a consumer-group member whose offsets live in millrace's
//! checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::{Value, json};

use super::repartition;
use super::{client_config, kafka_error, log_client_error};
use crate::source::{Clock, Poll, RecordFields, Source, field};
use crate::spec::{KafkaSourceSpec, StartAt, Topics};
use millrace_model::dead_letter::DeadLetter;
use millrace_model::pipeline::Event;
use millrace_model::record::{Key, Record};
use millrace_model::time::{MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp, event_time, wall_clock_now};
use millrace_model::watermark::{PartitionWatermarks, UpstreamWatermarks};

/// How long one poll of the consumer waits at most, so that idle partitions and
/// the end of a bounded read are noticed while no records come.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// How long a metadata request (the partitions of a topic) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A topic (its name shared, not copied per record) and partition.
type TopicPartition = (Arc<str>, i32);

/// A topic and partition as librdkafka lists them.
pub(crate) type Listed = (String, i32);

/// What the consumer's rebalance callback (which runs inside `poll`) hands the
/// source: where to start partitions it is given, and what it was given or lost.
#[derive(Default)]
struct Rebalances {
    /// The next offset of each partition, as the resumed checkpoint recorded it.
    starts: BTreeMap<Listed, i64>,
    assigned: Vec<Listed>,
    revoked: Vec<Listed>,
}

/// The names of the topics a source has seen, each allocated once.
#[derive(Default)]
struct TopicNames(Vec<Arc<str>>);

impl TopicNames {
    /// `(topic, partition)` as a key, the name taken from those already seen.
    fn key(&mut self, topic: &str, partition: i32) -> TopicPartition {
        let name = match self.0.iter().find(|name| &***name == topic) {
            Some(name) => name.clone(),
            None => {
                let name: Arc<str> = Arc::from(topic);
                self.0.push(name.clone());
                name
            }
        };
        (name, partition)
    }
}

/// The consumer's context: it assigns partitions at the offsets of the checkpoint,
/// not the group's, which may be behind it.
struct SourceContext {
    rebalances: Mutex<Rebalances>,
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let Ok(mut rebalances) = self.rebalances.lock() else {
            return;
        };
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let listed: Vec<Listed> = partitions
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                for (topic, partition) in &listed {
                    if let Some(&offset) = rebalances.starts.get(&(topic.clone(), *partition)) {
                        let _ = partitions.set_partition_offset(
                            topic,
                            *partition,
                            Offset::Offset(offset),
                        );
                    }
                }
                rebalances.assigned.extend(listed);
                if cooperative {
                    consumer.incremental_assign(partitions)
                } else {
                    consumer.assign(partitions)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                rebalances.revoked.extend(listed);
                if cooperative {
                    consumer.incremental_unassign(partitions)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!("Kafka: rebalance failed: {other:?}");
                consumer.unassign()
            }
        };
        if let Err(err) = result {
            tracing::warn!("Kafka: cannot apply the group's assignment: {err}");
        }
    }
}

/// The partitions of `topic`; an error names a topic the brokers do not have.
pub(crate) fn topic_partitions<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    brokers: &str,
) -> io::Result<Vec<i32>> {
    let metadata = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(kafka_error(&format!(
            "cannot read the metadata of {topic} from {brokers}"
        )))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    match found {
        Some(found) if found.error().is_none() && !found.partitions().is_empty() => Ok(found
            .partitions()
            .iter()
            .map(rdkafka::metadata::MetadataPartition::id)
            .collect()),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("Kafka: the brokers at {brokers} have no topic {topic:?}"),
        )),
    }
}

/// How a Kafka record becomes a millrace record: its value is JSON; event time
/// and key come from fields of it, or else from the record's timestamp and key.
#[derive(Clone, Debug)]
struct MessageFormat {
    fields: RecordFields,
}

impl MessageFormat {
    /// The record of a Kafka record's value `payload`, `key` and `timestamp`.
    fn read(
        &self,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<Record, String> {
        let payload = payload.ok_or("the record has no value (a tombstone)")?;
        let text =
            std::str::from_utf8(payload).map_err(|err| format!("the value is not UTF-8: {err}"))?;
        let value: Value =
            serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
        self.fields.read(
            value,
            || {
                let millis = timestamp.ok_or("the record has no Kafka timestamp")?;
                event_time(millis).map_err(|err| format!("its Kafka timestamp: {err}"))
            },
            || match key {
                None => Ok(Key::null()),
                Some(bytes) => {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|err| format!("the Kafka key is not UTF-8: {err}"))?;
                    Ok(Key::from_value(&Value::String(text.to_owned())))
                }
            },
        )
    }
}

/// One partition the source reads.
#[derive(Clone, Copy, Debug, Default)]
struct PartitionState {
    /// The offset of the next record to read, once one is known.
    next: Option<i64>,
    /// For a bounded read: the end offset, once a fetch has told it.
    end: Option<i64>,
    ended: bool,
}

/// Records of Kafka topics, read as a member of a consumer group or as one task
/// of a pipeline whose tasks share the group's partitions.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    membership: Membership,
    reading: Reading,
}

/// How a source comes by its partitions.
enum Membership {
    /// It is the group's member: the group assigns it partitions.
    Group,
    /// It reads a task's partitions; the process's group member commits.
    Task {
        /// The partitions, until the first poll assigns them.
        unassigned: Option<Vec<Listed>>,
        /// Where the offsets of each checkpoint go to be committed.
        commits: Sender<Vec<(Listed, i64)>>,
    },
}

/// Everything of a [`KafkaSource`] but its consumer, so that a message, which
/// borrows the consumer, can be handled while it lives.
struct Reading {
    group: String,
    format: MessageFormat,
    names: TopicNames,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Partitions the resumed checkpoint had that the group has not given this
    /// reader yet: kept, so the next checkpoint still has them. Offset and latest
    /// event time.
    waiting: BTreeMap<TopicPartition, (i64, Timestamp)>,
    watermarks: PartitionWatermarks<TopicPartition>,
    /// Partitions a rebalance revoked that none has assigned again yet. Under the
    /// eager protocol a rebalance revokes everything, then assigns: one still
    /// missing once others are assigned went to another member of the group.
    taken_back: BTreeSet<TopicPartition>,
    until_end: bool,
    /// Whether idle partitions stop holding the watermark.
    idle_partition: bool,
    bundle_size: usize,
    /// A record held back to start the next bundle after a watermark advance,
    /// with its partition and offset.
    carried: Option<(Record, TopicPartition, i64)>,
    records: u64,
    /// For a repartition topic: the tasks' watermarks in each partition, which
    /// make the partition's (its records' event times do not).
    upstream: Option<BTreeMap<TopicPartition, UpstreamWatermarks>>,
}

impl KafkaSource {
    /// Subscribes to `spec`'s topics as a member of its group (`default_group` if
    /// it names none).
    pub fn open(spec: &KafkaSourceSpec, default_group: &str) -> io::Result<Self> {
        Self::create(spec, default_group, Membership::Group)
    }

    /// Reads the partitions `partitions` of a task: the consumer is assigned
    /// them, without joining the group (the process's [`super::tasks`] member does),
    /// and hands the offsets of each checkpoint to `commits` to commit.
    pub(crate) fn task(
        spec: &KafkaSourceSpec,
        default_group: &str,
        partitions: Vec<Listed>,
        commits: Sender<Vec<(Listed, i64)>>,
    ) -> io::Result<Self> {
        Self::create(
            spec,
            default_group,
            Membership::Task {
                unassigned: Some(partitions),
                commits,
            },
        )
    }

    fn create(
        spec: &KafkaSourceSpec,
        default_group: &str,
        membership: Membership,
    ) -> io::Result<Self> {
        let group = spec
            .group
            .clone()
            .unwrap_or_else(|| default_group.to_owned());
        let mut config = client_config(&spec.brokers, &spec.options);
        config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set(
                "auto.offset.reset",
                match spec.start {
                    StartAt::Earliest => "earliest",
                    StartAt::Latest => "latest",
                },
            );
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext {
                rebalances: Mutex::new(Rebalances::default()),
            })
            .map_err(kafka_error("cannot create the consumer"))?;
        let subscription = match &spec.topics {
            Topics::Named(names) => names.clone(),
            Topics::Pattern(pattern) => vec![pattern.clone()],
        };
        // Every partition of the named topics holds the watermark until it is
        // read, so that none of its records is late for being assigned last.
        let mut watermarks =
            PartitionWatermarks::new(spec.max_out_of_orderness, spec.idle_partition);
        let mut names = TopicNames::default();
        let now = wall_clock_now();
        match (&membership, &spec.topics) {
            (Membership::Task { unassigned, .. }, _) => {
                for (topic, partition) in unassigned.iter().flatten() {
                    watermarks.hold(names.key(topic, *partition), MIN_TIMESTAMP, now);
                }
            }
            (Membership::Group, Topics::Named(topics)) => {
                for topic in topics {
                    for partition in topic_partitions(consumer.client(), topic, &spec.brokers)? {
                        watermarks.hold(names.key(topic, partition), MIN_TIMESTAMP, now);
                    }
                }
                Self::subscribe(&consumer, &subscription)?;
            }
            (Membership::Group, Topics::Pattern(_)) => {
                Self::subscribe(&consumer, &subscription)?;
            }
        }
        Ok(KafkaSource {
            consumer,
            membership,
            reading: Reading {
                group,
                format: MessageFormat {
                    fields: RecordFields {
                        timestamp: spec.timestamp.clone(),
                        timestamp_format: spec.timestamp_format,
                        key: spec.key.clone(),
                        value: spec.value.clone(),
                    },
                },
                names,
                partitions: BTreeMap::new(),
                waiting: BTreeMap::new(),
                taken_back: BTreeSet::new(),
                watermarks,
                until_end: spec.until_end,
                idle_partition: spec.idle_partition.is_some(),
                bundle_size: spec.bundle_size.max(1),
                carried: None,
                records: 0,
                upstream: spec.repartition.then(BTreeMap::new),
            },
        })
    }

    fn subscribe(consumer: &BaseConsumer<SourceContext>, topics: &[String]) -> io::Result<()> {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(kafka_error("cannot subscribe"))
    }

    /// A task's first poll assigns its partitions, at the checkpoint's offsets
    /// (once [`Source::seek`] has given them) or else the group's committed ones.
    fn assign_task_partitions(&mut self) -> io::Result<()> {
        let Membership::Task { unassigned, .. } = &mut self.membership else {
            return Ok(());
        };
        let Some(partitions) = unassigned.take() else {
            return Ok(());
        };
        let context = self.consumer.context();
        let mut list = TopicPartitionList::new();
        if let Ok(mut rebalances) = context.rebalances.lock() {
            for (topic, partition) in &partitions {
                let offset = match rebalances.starts.get(&(topic.clone(), *partition)) {
                    Some(&offset) => Offset::Offset(offset),
                    // librdkafka asks the group for it, or else starts as
                    // `auto.offset.reset` says.
                    None => Offset::Stored,
                };
                list.add_partition_offset(topic, *partition, offset)
                    .map_err(kafka_error("cannot list a task's partitions"))?;
            }
            rebalances.assigned.extend(partitions);
        }
        self.consumer
            .assign(&list)
            .map_err(kafka_error("cannot assign a task's partitions"))
    }

    /// Takes in what the last rebalances revoked and assigned. A revoked partition
    /// keeps its place (offset, latest event time) in `waiting` and is assigned
    /// again there; one that another member keeps is an error (see
    /// [`Reading::taken_back`]).
    fn rebalanced(&mut self) -> io::Result<()> {
        let context = self.consumer.context();
        let (assigned, revoked) = match context.rebalances.lock() {
            Ok(mut rebalances) => (
                std::mem::take(&mut rebalances.assigned),
                std::mem::take(&mut rebalances.revoked),
            ),
            Err(_) => return Ok(()),
        };
        if assigned.is_empty() && revoked.is_empty() {
            return Ok(());
        }
        let now = wall_clock_now();
        for (topic, number) in revoked {
            let partition = self.reading.names.key(&topic, number);
            let Some(state) = self.reading.partitions.remove(&partition) else {
                continue;
            };
            let latest = self.reading.watermarks.latest(&partition);
            if let Some(next) = state.next {
                self.reading
                    .waiting
                    .insert(partition.clone(), (next, latest));
            }
            self.reading.watermarks.hold(partition.clone(), latest, now);
            self.reading.taken_back.insert(partition);
        }
        for (topic, number) in assigned {
            let partition = self.reading.names.key(&topic, number);
            self.reading.taken_back.remove(&partition);
            let (next, latest) = match self.reading.waiting.remove(&partition) {
                Some((offset, latest)) => (Some(offset), latest),
                None => (None, MIN_TIMESTAMP),
            };
            self.reading.watermarks.read(partition.clone(), latest, now);
            self.reading.partitions.insert(
                partition,
                PartitionState {
                    next,
                    end: None,
                    ended: false,
                },
            );
        }
        // Where the partitions are now is where a later assignment starts them.
        if let Ok(mut rebalances) = context.rebalances.lock() {
            for (partition, (offset, _)) in &self.reading.waiting {
                rebalances
                    .starts
                    .insert((partition.0.to_string(), partition.1), *offset);
            }
        }
        let eager = !matches!(
            self.consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        if !self.reading.taken_back.is_empty() && (!self.reading.partitions.is_empty() || !eager) {
            let names: Vec<String> = self
                .reading
                .taken_back
                .iter()
                .map(|(t, p)| format!("{t}/{p}"))
                .collect();
            return Err(io::Error::other(format!(
                "Kafka: the group {} gave partitions {} to another member; a pipeline reads \
                 its topics as its group's only member, so two runs of it must not share a group \
                 (to share its partitions, run it as tasks: `parallelism: partitions`)",
                self.reading.group,
                names.join(", ")
            )));
        }
        Ok(())
    }

    /// Where each partition's reading is: for a bounded read, marks those that
    /// reached their end offset; with idle partitions, keeps those with a backlog
    /// (records the brokers have that were not read yet, as the last fetch saw
    /// them) from counting as idle, since their records are only slow to come
    /// through, behind another partition's. `at_end` are the partition numbers
    /// whose end the consumer reported in this poll: only then is the consumer's
    /// position (which moves past transaction markers, unlike the offsets of the
    /// records read) taken as where a partition is.
    fn note_progress(&mut self, at_end: &[i32], now: i64) -> io::Result<()> {
        if self.reading.upstream.is_some() {
            // A repartition topic's partition ends when every task writing it
            // has ended, also when that was before the checkpoint resumed.
            for (key, state) in &mut self.reading.partitions {
                if !state.ended && self.reading.watermarks.latest(key) == MAX_TIMESTAMP {
                    state.ended = true;
                    self.reading.watermarks.end(key);
                }
            }
            return Ok(());
        }
        let idle_matters = self.reading.idle_partition;
        if !self.reading.until_end && !idle_matters {
            return Ok(());
        }
        let positions = if at_end.is_empty() {
            TopicPartitionList::new()
        } else {
            self.consumer
                .position()
                .map_err(kafka_error("cannot read the consumer's positions"))?
        };
        for (key, state) in &mut self.reading.partitions {
            let position =
                positions.find_partition(&key.0, key.1).and_then(|element| {
                    match element.offset() {
                        Offset::Offset(offset) if at_end.contains(&key.1) => Some(offset),
                        _ => None,
                    }
                });
            let high = cached_high_watermark(&self.consumer, &key.0, key.1);
            if self.reading.until_end && state.end.is_none() {
                // The end of a bounded read: the partition's high watermark as the
                // first fetch after its assignment gave it (the brokers' answer to
                // a separate offsets request is not always as exact).
                state.end = high;
            }
            let Some(at) = position.max(state.next) else {
                continue;
            };
            if !state.ended
                && let Some(end) = state.end
                && at >= end
            {
                state.ended = true;
                self.reading.watermarks.end(key);
            }
            if idle_matters && high.is_some_and(|high| high > at) {
                self.reading.watermarks.behind(key, now);
            }
        }
        Ok(())
    }
}

/// The high watermark of `topic`'s `partition` as the consumer's last fetch
/// response gave it (no request is made).
fn cached_high_watermark(
    consumer: &BaseConsumer<SourceContext>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives, `topic` is a
    // NUL-terminated string that outlives the call, and librdkafka only writes
    // the two offsets it is given.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &raw mut low,
            &raw mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

impl Reading {
    /// Handles one message: a record into `records`, or a dead letter. Returns
    /// whether the bundle must end before it (the record is carried to the next).
    fn take(
        &mut self,
        message: &BorrowedMessage<'_>,
        records: &mut Vec<Record>,
        dead: &mut Vec<DeadLetter>,
        now: i64,
    ) -> bool {
        let key = self.names.key(message.topic(), message.partition());
        let offset = message.offset();
        let state = self.partitions.entry(key.clone()).or_insert_with(|| {
            // A record can come in the poll that assigned its partition.
            self.watermarks.read(key.clone(), MIN_TIMESTAMP, now);
            PartitionState::default()
        });
        state.next = Some(offset + 1);
        // A repartition topic's record, or its marker of a writing task's
        // watermark; else a record of the spec's format.
        let read = match &mut self.upstream {
            Some(upstream) => {
                match repartition::Message::read(
                    message.key(),
                    message.payload(),
                    message.headers(),
                ) {
                    Ok(repartition::Message::Watermark {
                        task,
                        tasks,
                        watermark,
                    }) => {
                        let floor = self.watermarks.latest(&key);
                        let partition = upstream
                            .entry(key.clone())
                            .or_insert_with(|| UpstreamWatermarks::new(floor));
                        let watermark = partition.mark(task, tasks, watermark);
                        // With no bound, the partition's watermark is its latest
                        // "event time".
                        self.watermarks.observe(&key, watermark, now);
                        if watermark == MAX_TIMESTAMP {
                            state.ended = true;
                            self.watermarks.end(&key);
                        }
                        Ok(None)
                    }
                    Ok(repartition::Message::Record(record)) => Ok(Some(record)),
                    Err(reason) => Err(reason),
                }
            }
            None => self
                .format
                .read(
                    message.payload(),
                    message.key(),
                    message.timestamp().to_millis(),
                )
                .map(Some),
        };
        match read {
            Ok(None) => {}
            Ok(Some(record)) => {
                // As for files: a record behind the watermark its predecessors
                // imply starts a new bundle after that watermark, so lateness is
                // judged record by record whatever the bundle size.
                let behind = self.watermarks.is_behind(&key, record.timestamp, now);
                if self.upstream.is_none() {
                    self.watermarks.observe(&key, record.timestamp, now);
                }
                if behind {
                    self.carried = Some((record, key, offset));
                    return true;
                }
                records.push(record);
            }
            Err(reason) => dead.push(DeadLetter::message(
                &key.0,
                key.1,
                offset,
                message.payload().unwrap_or_default(),
                reason,
            )),
        }
        false
    }

    /// Where each partition resumes: the offset of its next record (a carried
    /// record has been read but not delivered: it resumes at that one) and its
    /// latest event time; also for the partitions still waiting to be assigned.
    fn offsets(&self) -> impl Iterator<Item = (&TopicPartition, i64, Timestamp)> {
        let read = self.partitions.iter().filter_map(|(key, state)| {
            let offset = match &self.carried {
                Some((_, carried, offset)) if carried == key => Some(*offset),
                _ => state.next,
            };
            Some((key, offset?, self.watermarks.latest(key)))
        });
        let waiting = self
            .waiting
            .iter()
            .map(|(key, (offset, latest))| (key, *offset, *latest));
        read.chain(waiting)
    }

    /// Whether a bounded read is complete: every partition known (from the
    /// topics' metadata, the checkpoint or an assignment) is read to its end.
    fn all_ended(&self) -> bool {
        self.until_end
            && !self.partitions.is_empty()
            && self.waiting.is_empty()
            && self.watermarks.len() == self.partitions.len()
            && self.partitions.values().all(|state| state.ended)
    }
}

impl Source for KafkaSource {
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        self.assign_task_partitions()?;
        let mut records: Vec<Record> = Vec::new();
        if let Some((record, _, _)) = self.reading.carried.take() {
            records.push(record);
        }
        let first_wait = timeout.map_or(MAX_WAIT, |timeout| timeout.min(MAX_WAIT));
        let dead_before = dead.len();
        let mut read_any = !records.is_empty();
        let mut at_end: Vec<i32> = Vec::new();
        while records.len() < self.reading.bundle_size {
            let wait = if read_any { Duration::ZERO } else { first_wait };
            let now = wall_clock_now();
            let polled = self.consumer.poll(wait);
            match polled {
                None => break,
                Some(Err(KafkaError::PartitionEOF(partition))) => at_end.push(partition),
                Some(Err(err)) => {
                    if matches!(err, KafkaError::MessageConsumptionFatal(_)) {
                        return Err(kafka_error("reading failed")(err));
                    }
                    tracing::warn!("Kafka: {err}");
                    break;
                }
                Some(Ok(message)) => {
                    read_any = true;
                    let carry = self.reading.take(&message, &mut records, dead, now);
                    drop(message);
                    if carry {
                        break;
                    }
                }
            }
            self.rebalanced()?;
        }
        self.rebalanced()?;
        self.note_progress(&at_end, wall_clock_now())?;
        self.reading.records += records.len() as u64;
        let produced = !records.is_empty() || dead.len() > dead_before;
        if !records.is_empty() {
            events.push(Event::Records(records));
        }
        if let Some(watermark) = self.reading.watermarks.advance(wall_clock_now()) {
            events.push(Event::Watermark(watermark));
        }
        Ok(
            if self.reading.carried.is_none() && self.reading.all_ended() {
                Poll::End
            } else if produced || !events.is_empty() {
                Poll::Events
            } else {
                Poll::Idle
            },
        )
    }

    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn records_read(&self) -> u64 {
        self.reading.records
    }

    fn is_live(&self) -> bool {
        !self.reading.until_end
    }

    fn position(&self) -> Option<Value> {
        let partitions: Vec<Value> = self
            .reading
            .offsets()
            .map(|((topic, partition), offset, latest)| {
                json!({"topic": &**topic, "partition": partition, "offset": offset, "latest": latest})
            })
            .collect();
        Some(json!({
            "group": self.reading.group,
            "partitions": partitions,
            "records": self.reading.records,
            "watermark": self.reading.watermarks.emitted(),
        }))
    }

    fn seek(&mut self, position: &Value) -> io::Result<()> {
        let partitions: Vec<Value> = field(position, "partitions")?;
        let mut starts = BTreeMap::new();
        for partition in &partitions {
            let listed: Listed = (field(partition, "topic")?, field(partition, "partition")?);
            let key = self.reading.names.key(&listed.0, listed.1);
            let offset: i64 = field(partition, "offset")?;
            let latest: Timestamp = field(partition, "latest")?;
            starts.insert(listed, offset);
            self.reading
                .watermarks
                .hold(key.clone(), latest, wall_clock_now());
            self.reading.waiting.insert(key, (offset, latest));
        }
        if let Ok(mut rebalances) = self.consumer.context().rebalances.lock() {
            rebalances.starts = starts;
        }
        self.reading.records = field(position, "records")?;
        self.reading
            .watermarks
            .restore_emitted(field(position, "watermark")?);
        Ok(())
    }

    fn checkpointed(&mut self) {
        if let Membership::Task { commits, .. } = &self.membership {
            let offsets = self
                .reading
                .offsets()
                .map(|((topic, partition), offset, _)| ((topic.to_string(), *partition), offset))
                .collect();
            // The member may be gone at the end of a run: lag tools then see the
            // next run's commit.
            let _ = commits.send(offsets);
            return;
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset, _) in self.reading.offsets() {
            let _ = offsets.add_partition_offset(topic, *partition, Offset::Offset(offset));
        }
        if offsets.count() > 0
            && let Err(err) = self.consumer.commit(&offsets, CommitMode::Sync)
        {
            tracing::warn!(
                "Kafka: cannot commit the offsets of a checkpoint to the group {}: {err}",
                self.reading.group
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FieldPath, TimestampFormat};
    use serde_json::json;

    fn format(key: Option<&str>, timestamp: Option<&str>, value: Option<&str>) -> MessageFormat {
        let path = |p: Option<&str>| p.map(|p| FieldPath::parse(p).unwrap());
        MessageFormat {
            fields: RecordFields {
                timestamp: path(timestamp),
                timestamp_format: TimestampFormat::Auto,
                key: path(key),
                value: path(value),
            },
        }
    }

    #[test]
    fn records_take_the_kafka_key_and_timestamp_unless_fields_are_named() {
        let payload = br#"{"user": "ann", "at": "2024-01-01T00:00:01Z", "score": 7}"#;
        let plain = format(None, None, None)
            .read(Some(payload), Some(b"k1"), Some(1_000))
            .unwrap();
        assert_eq!(plain.key, Key::from_value(&json!("k1")));
        assert_eq!(plain.timestamp, 1_000);
        assert_eq!(plain.value["score"], 7);
        let fields = format(Some("user"), Some("at"), Some("score"))
            .read(Some(payload), Some(b"k1"), Some(1_000))
            .unwrap();
        assert_eq!(fields.key, Key::from_value(&json!("ann")));
        assert_eq!(fields.timestamp, 1_704_067_201_000);
        assert_eq!(fields.value, json!(7));
        let keyless = format(None, None, None)
            .read(Some(b"[1]"), None, Some(5))
            .unwrap();
        assert_eq!(keyless.key, Key::null());
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let plain = format(None, None, None);
        let error = |payload: Option<&[u8]>, key: Option<&[u8]>, ts: Option<i64>| {
            plain.read(payload, key, ts).unwrap_err()
        };
        assert_eq!(
            error(None, None, Some(1)),
            "the record has no value (a tombstone)"
        );
        assert!(error(Some(b"\xff"), None, Some(1)).starts_with("the value is not UTF-8"));
        assert!(error(Some(b"{"), None, Some(1)).starts_with("not valid JSON"));
        assert_eq!(
            error(Some(b"1"), None, None),
            "the record has no Kafka timestamp"
        );
        assert!(
            error(Some(b"1"), Some(b"\xfe"), Some(1)).starts_with("the Kafka key is not UTF-8")
        );
        assert!(error(Some(b"1"), None, Some(i64::MAX)).starts_with("its Kafka timestamp"));
        let named = format(Some("user"), Some("at"), Some("score"));
        assert_eq!(
            named
                .read(Some(br#"{"user": "a"}"#), None, None)
                .unwrap_err(),
            "missing the event-time field \"at\""
        );
        assert_eq!(
            named.read(Some(br#"{"at": 5}"#), None, None).unwrap_err(),
            "missing the key field \"user\""
        );
        assert_eq!(
            named
                .read(Some(br#"{"at": 5, "user": "a"}"#), None, None)
                .unwrap_err(),
            "missing the value field \"score\""
        );
    }
}
