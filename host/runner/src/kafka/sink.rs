//! The Kafka sink, and the producer (transactional or not) that its records go
//! through.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::Value;

use super::source::topic_partitions;
use super::{client_config, kafka_error};
use crate::sink::{Marker, Sink, Transaction, versions_object, write_record, write_traced_record};
use crate::spec::{Delivery, FieldPath, KafkaSinkSpec};
use millrace_model::pane::Timing;
use millrace_model::record::Record;
use millrace_model::window::Window;

/// How long flushing, and each transaction call, may take before the run fails.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The latest event time a Kafka record's timestamp carries (the year 9999); a
/// pane at the end of the global window gets the broker's time instead.
pub(super) const MAX_KAFKA_TIMESTAMP: i64 = 253_402_300_799_999;

/// A marker as the offset committed for it: the lineage (31 bits) above the
/// checkpoint's number (32 bits). An offset is all that every Kafka-protocol
/// broker keeps of what a transaction commits to a group (some drop metadata).
fn marker_offset(marker: Marker) -> i64 {
    (i64::from(marker.lineage & 0x7fff_ffff) << 32) | (marker.checkpoint & 0xffff_ffff) as i64
}

fn marker_from_offset(offset: i64) -> Marker {
    Marker {
        lineage: (offset >> 32) as u32,
        checkpoint: (offset & 0xffff_ffff) as u64,
    }
}

/// The first failed delivery, reported by librdkafka's delivery callback.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((err, _)) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert_with(|| err.to_string());
        }
    }
}

/// The state of an exactly-once producer's transactions.
struct Transactions {
    id: String,
    /// A consumer of the marker group, for its group metadata and the marker.
    marker_group: BaseConsumer,
    /// The topic (partition 0) the marker is committed on.
    marker_topic: String,
    state: Mutex<TransactionState>,
}

#[derive(Default)]
struct TransactionState {
    open: bool,
    /// Records sent in the open transaction.
    pending: u64,
    /// What headers name: the checkpoint the open transaction commits with.
    current: Option<Marker>,
}

/// A pipeline's producer to one Kafka cluster, shared by its Kafka sinks. With
/// exactly-once delivery it is transactional: records go into one transaction
/// per checkpoint (see the module docs of [`crate::kafka`]).
pub struct KafkaOutput {
    producer: BaseProducer<Deliveries>,
    transactions: Option<Transactions>,
    /// Random, per run: tells the records of a run from those of the run before,
    /// for a transaction that a crash left open and a broker that does not hide
    /// aborted records.
    attempt: String,
}

impl KafkaOutput {
    /// A producer for `sink`'s cluster. An exactly-once one takes
    /// `transactional_id`: it fences any earlier producer with that id, whose open
    /// transaction the brokers abort, before it returns.
    pub fn open(
        sink: &KafkaSinkSpec,
        transactional_id: &str,
        checkpoint_interval: Duration,
    ) -> io::Result<Self> {
        let mut config = client_config(&sink.brokers, &sink.options);
        config.set("enable.idempotence", "true");
        let exactly_once = sink.delivery == Delivery::ExactlyOnce;
        if exactly_once {
            // A transaction lives from one checkpoint to the next; the brokers
            // abort one that lives longer.
            let timeout = (checkpoint_interval * 3).max(Duration::from_secs(60));
            config
                .set("transactional.id", transactional_id)
                .set("transaction.timeout.ms", timeout.as_millis().to_string());
        }
        let producer: BaseProducer<Deliveries> = config
            .create_with_context(Deliveries::default())
            .map_err(kafka_error("cannot create the producer"))?;
        let transactions = if exactly_once {
            // Fencing waits until the brokers have settled the transaction a
            // predecessor left open: the log shows how long that took.
            let fencing = std::time::Instant::now();
            producer
                .init_transactions(TRANSACTION_TIMEOUT)
                .map_err(kafka_error("cannot start transactions"))?;
            tracing::info!(
                "Kafka: {transactional_id:?} fenced its predecessors in {} ms",
                fencing.elapsed().as_millis()
            );
            let marker_group: BaseConsumer = client_config(&sink.brokers, &sink.options)
                .set("group.id", marker_group(transactional_id))
                .set("enable.auto.commit", "false")
                .create()
                .map_err(kafka_error(
                    "cannot create the checkpoint marker's consumer",
                ))?;
            Some(Transactions {
                id: transactional_id.to_owned(),
                marker_group,
                marker_topic: sink.topic.clone(),
                state: Mutex::new(TransactionState::default()),
            })
        } else {
            None
        };
        let attempt = format!("{:016x}", fastrand::u64(..));
        if exactly_once {
            tracing::info!("Kafka: writing as {transactional_id:?}, attempt {attempt}");
        }
        Ok(KafkaOutput {
            producer,
            transactions,
            attempt,
        })
    }

    /// Sends one record (to `partition`, or where the partitioner puts its key),
    /// waiting while librdkafka's queue is full.
    pub(super) fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: OwnedHeaders,
        timestamp: Option<i64>,
    ) -> io::Result<()> {
        let headers = match &self.transactions {
            Some(transactions) => {
                let mut state = self.open_transaction(transactions)?;
                state.pending += 1;
                let checkpoint = state
                    .current
                    .map(|m| format!("{:08x}/{}", m.lineage, m.checkpoint))
                    .unwrap_or_default();
                headers
                    .insert(Header {
                        key: "millrace-checkpoint",
                        value: Some(&checkpoint),
                    })
                    .insert(Header {
                        key: "millrace-attempt",
                        value: Some(&self.attempt),
                    })
            }
            None => headers,
        };
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).headers(headers);
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((err, _)) => return Err(kafka_error("cannot send a record")(err)),
            }
        }
    }

    /// The transactions' state, with a transaction open (begun now if none was).
    fn open_transaction<'t>(
        &self,
        transactions: &'t Transactions,
    ) -> io::Result<std::sync::MutexGuard<'t, TransactionState>> {
        let mut state = lock(&transactions.state)?;
        if !state.open {
            self.producer
                .begin_transaction()
                .map_err(kafka_error("cannot begin a transaction"))?;
            state.open = true;
        }
        Ok(state)
    }

    /// How many partitions `topic` has on `brokers`.
    pub(super) fn partitions(&self, topic: &str, brokers: &str) -> io::Result<i32> {
        topic_partitions(self.producer.client(), topic, brokers).map(|found| found.len() as i32)
    }

    /// Serves delivery reports.
    pub(super) fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every record sent is acknowledged; the first failed delivery
    /// is an error.
    pub(super) fn flush(&self) -> io::Result<()> {
        self.producer
            .flush(TRANSACTION_TIMEOUT)
            .map_err(kafka_error("cannot deliver the output"))?;
        if let Some(reason) = lock(&self.producer.context().failed)?.take() {
            return Err(io::Error::other(format!(
                "Kafka: a record was not delivered: {reason}"
            )));
        }
        Ok(())
    }
}

/// The group a transactional id's checkpoint markers are committed to.
fn marker_group(transactional_id: &str) -> String {
    format!("{transactional_id}.checkpoints")
}

fn lock<T>(mutex: &Mutex<T>) -> io::Result<std::sync::MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| io::Error::other("Kafka: a producer's state was poisoned"))
}

impl Transaction for KafkaOutput {
    fn committed(&self) -> io::Result<Option<Marker>> {
        let Some(transactions) = &self.transactions else {
            return Ok(None);
        };
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(&transactions.marker_topic, 0);
        let committed = transactions
            .marker_group
            .committed_offsets(wanted, TRANSACTION_TIMEOUT)
            .map_err(kafka_error("cannot read the last committed checkpoint"))?;
        let marker = committed
            .elements()
            .first()
            .and_then(|element| match element.offset() {
                Offset::Offset(offset) if offset >= 0 => Some(marker_from_offset(offset)),
                _ => None,
            });
        // Which attempt found what, for people (and the tests) to tell which of
        // its predecessor's transactions committed.
        let (id, attempt) = (&transactions.id, &self.attempt);
        match marker {
            Some(marker) => tracing::info!(
                "Kafka: {id:?}, attempt {attempt}: the output's last committed transaction: \
                 checkpoint {:08x}/{}",
                marker.lineage,
                marker.checkpoint
            ),
            None => tracing::info!(
                "Kafka: {id:?}, attempt {attempt}: the output's last committed transaction: none"
            ),
        }
        Ok(marker)
    }

    fn begin(&self, marker: Marker) {
        if let Some(transactions) = &self.transactions
            && let Ok(mut state) = transactions.state.lock()
        {
            state.current = Some(marker);
        }
    }

    fn pending(&self) -> u64 {
        self.transactions
            .as_ref()
            .and_then(|t| t.state.lock().ok().map(|state| state.pending))
            .unwrap_or(0)
    }

    fn prepare(&self) -> io::Result<()> {
        self.flush()
    }

    fn commit(&self, marker: Marker) -> io::Result<()> {
        let Some(transactions) = &self.transactions else {
            return Ok(());
        };
        let mut state = self.open_transaction(transactions)?;
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                &transactions.marker_topic,
                0,
                Offset::Offset(marker_offset(marker)),
            )
            .map_err(kafka_error("cannot name the checkpoint"))?;
        let group = transactions.marker_group.group_metadata().ok_or_else(|| {
            io::Error::other("Kafka: the checkpoint marker's consumer has no group metadata")
        })?;
        let fenced = |err: KafkaError| {
            io::Error::other(format!(
                "Kafka: cannot commit the transaction of checkpoint {} as {:?}: {err} (if \
                 another run of this pipeline started with the same transactional id, it \
                 fenced this one, which stops)",
                marker.checkpoint, transactions.id
            ))
        };
        self.producer
            .send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT)
            .map_err(fenced)?;
        self.producer
            .commit_transaction(TRANSACTION_TIMEOUT)
            .map_err(fenced)?;
        state.open = false;
        state.pending = 0;
        Ok(())
    }
}

/// Writes pane records to a Kafka topic: the value is the record's JSON line (as
/// a file sink writes it), the key a field of it, the timestamp the pane's, and
/// headers carry the pane metadata.
pub struct KafkaSink {
    output: Arc<KafkaOutput>,
    topic: String,
    key: Option<FieldPath>,
    description: String,
    written: u64,
    versions: Option<String>,
    line: Vec<u8>,
}

impl KafkaSink {
    /// A sink of `spec`'s topic through `output`.
    pub fn new(spec: &KafkaSinkSpec, output: Arc<KafkaOutput>) -> Self {
        KafkaSink {
            output,
            topic: spec.topic.clone(),
            key: spec.key.clone(),
            description: format!("kafka {}", spec.topic),
            written: 0,
            versions: None,
            line: Vec::with_capacity(256),
        }
    }
}

/// The Kafka key of `record`: the field `path` of its output record, as text
/// when it is a string and as JSON otherwise; `None` when it has no such field.
/// The record's key itself (the default) is copied from its JSON text, not
/// parsed; nothing is cloned to reach a field of the value.
fn record_key(record: &Record, path: &FieldPath) -> Option<Vec<u8>> {
    let (first, rest) = path.parts().split_first()?;
    let owned;
    let root = match first.as_str() {
        "key" if rest.is_empty() => return Some(key_text(record.key.as_json())),
        "key" => {
            owned = record.key.to_value();
            &owned
        }
        "value" => &record.value,
        "ts" => {
            owned = Value::from(record.timestamp);
            &owned
        }
        "window" => {
            owned = match record.window {
                Window::Global => Value::from("global"),
                Window::Interval { start, end } => serde_json::json!({"start": start, "end": end}),
            };
            &owned
        }
        _ => return None,
    };
    let mut at = root;
    for part in rest {
        at = at.get(part)?;
    }
    Some(match at {
        Value::String(text) => text.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    })
}

/// A key's JSON text as a Kafka key: a string's characters, anything else as is.
fn key_text(json: &str) -> Vec<u8> {
    match json
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(plain) if !plain.contains('\\') => plain.as_bytes().to_vec(),
        Some(_) => match serde_json::from_str::<Value>(json) {
            Ok(Value::String(text)) => text.into_bytes(),
            _ => json.as_bytes().to_vec(),
        },
        None => json.as_bytes().to_vec(),
    }
}

/// The pane metadata as headers.
fn pane_headers(record: &Record) -> OwnedHeaders {
    let timing = match record.pane.timing {
        Timing::Early => "EARLY",
        Timing::OnTime => "ON_TIME",
        Timing::Late => "LATE",
        Timing::Unknown => "UNKNOWN",
    };
    let index = record.pane.index.to_string();
    let mut headers = OwnedHeaders::new_with_capacity(8);
    if let Window::Interval { start, end } = record.window {
        headers = headers
            .insert(Header {
                key: "millrace-window-start",
                value: Some(&start.to_string()),
            })
            .insert(Header {
                key: "millrace-window-end",
                value: Some(&end.to_string()),
            });
    }
    let flag = |set: bool| if set { "true" } else { "false" };
    headers
        .insert(Header {
            key: "millrace-pane-timing",
            value: Some(timing),
        })
        .insert(Header {
            key: "millrace-pane-index",
            value: Some(&index),
        })
        .insert(Header {
            key: "millrace-pane-first",
            value: Some(flag(record.pane.first)),
        })
        .insert(Header {
            key: "millrace-pane-last",
            value: Some(flag(record.pane.last)),
        })
        .insert(Header {
            key: "millrace-retraction",
            value: Some(flag(record.retraction)),
        })
}

impl Sink for KafkaSink {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        for record in records {
            self.line.clear();
            match &self.versions {
                None => write_record(&mut self.line, record)?,
                Some(versions) => write_traced_record(&mut self.line, record, versions)?,
            }
            self.line.pop(); // the newline
            let key = self.key.as_ref().and_then(|path| record_key(record, path));
            let timestamp = (0..=MAX_KAFKA_TIMESTAMP)
                .contains(&record.timestamp)
                .then_some(record.timestamp);
            self.output.send(
                &self.topic,
                None,
                key.as_deref(),
                Some(&self.line),
                pane_headers(record),
                timestamp,
            )?;
        }
        self.written += records.len() as u64;
        self.output.poll();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.poll();
        Ok(())
    }

    fn prepare(&mut self) -> io::Result<Option<millrace_state::checkpoint::SinkCommit>> {
        // Every record before the checkpoint is acknowledged (at least once), or
        // in the transaction the checkpoint commits (exactly once).
        self.output.flush().map(|()| None)
    }

    fn trace_versions(&mut self, versions: Option<&[(String, String)]>) {
        self.versions = versions.map(versions_object);
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn description(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use millrace_model::record::Key;

    #[test]
    fn markers_round_trip_through_an_offset() {
        let marker = Marker {
            lineage: 0x7abc_def0,
            checkpoint: 41,
        };
        assert!(marker_offset(marker) > 0);
        assert_eq!(marker_from_offset(marker_offset(marker)), marker);
    }

    #[test]
    fn keys_come_from_a_field_of_the_output_record() {
        let mut record = Record::new(
            Key::from_value(&serde_json::json!("TeamX")),
            serde_json::json!({"user": "ann", "n": 3}),
            5,
        );
        record.window = Window::Interval { start: 0, end: 10 };
        let key = |path: &str| record_key(&record, &FieldPath::parse(path).unwrap());
        assert_eq!(key("key"), Some(b"TeamX".to_vec()));
        assert_eq!(
            key_text(r#""a \"quoted\" key""#),
            b"a \"quoted\" key".to_vec()
        );
        assert_eq!(key_text("[1,2]"), b"[1,2]".to_vec());
        assert_eq!(key_text("null"), b"null".to_vec());
        assert_eq!(key("value.user"), Some(b"ann".to_vec()));
        assert_eq!(key("value.n"), Some(b"3".to_vec()));
        assert_eq!(key("window.start"), Some(b"0".to_vec()));
        assert_eq!(key("value.missing"), None);
    }
}
