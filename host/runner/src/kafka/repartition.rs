//! Repartition topics between the stages of a pipeline of tasks (see
//! `spec::repartition` for how a spec is divided into stages).
//!
//! The wire format, written by [`RepartitionSink`] and read by the next stage's
//! Kafka source ([`Message::read`]):
//!
//! - a **record** has the millrace record's key as its Kafka key (its JSON
//!   text), the record's value as its JSON value, and its event time in the
//!   header `millrace-ts` (and as the Kafka timestamp, where that can hold it).
//!   It goes to partition CRC-32(key) mod partitions, as librdkafka's
//!   `consistent` partitioner would put it, so every task sends a key to the same
//!   partition;
//! - a **watermark marker**, sent by each writing task into every partition with
//!   each checkpoint, after the records it covers and in the same transaction,
//!   has no key and no value, and the headers `millrace-watermark` (the task's
//!   output watermark), `millrace-task` and `millrace-tasks` (which task of how
//!   many). The reader's partition watermark is the least over the tasks
//!   ([`millrace_model::watermark::UpstreamWatermarks`]); a task whose input
//!   ended marks the end of time, and a partition every task has ended ends.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::Value;

use super::sink::{KafkaOutput, MAX_KAFKA_TIMESTAMP};
use super::{client_config, kafka_error};
use crate::sink::Sink;
use crate::spec::{KafkaSinkSpec, RepartitionWriter};
use millrace_model::record::{Key, Record};
use millrace_model::time::{MIN_TIMESTAMP, Timestamp};

const TIMESTAMP: &str = "millrace-ts";
const WATERMARK: &str = "millrace-watermark";
const TASK: &str = "millrace-task";
const TASKS: &str = "millrace-tasks";

/// How long creating a topic may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes records to a repartition topic, each to the partition of its key, and
/// the task's watermark into every partition at each checkpoint.
pub struct RepartitionSink {
    output: Arc<KafkaOutput>,
    topic: String,
    partitions: u32,
    writer: RepartitionWriter,
    description: String,
    written: u64,
    /// The watermark last sent.
    marked: Timestamp,
    value: Vec<u8>,
}

impl RepartitionSink {
    /// The writer of `spec`'s topic through `output` (the topic must exist).
    pub fn new(
        spec: &KafkaSinkSpec,
        writer: RepartitionWriter,
        output: Arc<KafkaOutput>,
    ) -> io::Result<Self> {
        let partitions = output.partitions(&spec.topic, &spec.brokers)?;
        Ok(RepartitionSink {
            output,
            topic: spec.topic.clone(),
            partitions: partitions.max(1) as u32,
            writer,
            description: format!("repartition topic {}", spec.topic),
            written: 0,
            marked: MIN_TIMESTAMP,
            value: Vec::with_capacity(256),
        })
    }
}

/// The partition of a key whose JSON text is `key`, of `partitions`.
fn partition_of(key: &str, partitions: u32) -> i32 {
    (crc32fast::hash(key.as_bytes()) % partitions) as i32
}

impl Sink for RepartitionSink {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        for record in records {
            self.value.clear();
            serde_json::to_writer(&mut self.value, &record.value).map_err(io::Error::other)?;
            let key = record.key.as_json();
            let timestamp = record.timestamp.to_string();
            let headers = OwnedHeaders::new_with_capacity(3).insert(Header {
                key: TIMESTAMP,
                value: Some(&timestamp),
            });
            self.output.send(
                &self.topic,
                Some(partition_of(key, self.partitions)),
                Some(key.as_bytes()),
                Some(&self.value),
                headers,
                (0..=MAX_KAFKA_TIMESTAMP)
                    .contains(&record.timestamp)
                    .then_some(record.timestamp),
            )?;
        }
        self.written += records.len() as u64;
        self.output.poll();
        Ok(())
    }

    fn watermark(&mut self, watermark: Timestamp) -> io::Result<()> {
        if watermark <= self.marked {
            return Ok(());
        }
        let (watermark_text, task, tasks) = (
            watermark.to_string(),
            self.writer.task.to_string(),
            self.writer.tasks.to_string(),
        );
        for partition in 0..self.partitions as i32 {
            let headers = OwnedHeaders::new_with_capacity(5)
                .insert(Header {
                    key: WATERMARK,
                    value: Some(&watermark_text),
                })
                .insert(Header {
                    key: TASK,
                    value: Some(&task),
                })
                .insert(Header {
                    key: TASKS,
                    value: Some(&tasks),
                });
            self.output
                .send(&self.topic, Some(partition), None, None, headers, None)?;
        }
        self.marked = watermark;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.poll();
        Ok(())
    }

    fn prepare(&mut self) -> io::Result<Option<millrace_state::checkpoint::SinkCommit>> {
        self.output.flush().map(|()| None)
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn description(&self) -> &str {
        &self.description
    }
}

/// A message of a repartition topic, as its reader sees it.
#[derive(Debug, PartialEq)]
pub(super) enum Message {
    /// A record.
    Record(Record),
    /// Task `task` of `tasks` marked `watermark`.
    Watermark {
        task: u32,
        tasks: usize,
        watermark: Timestamp,
    },
}

impl Message {
    /// Reads a Kafka message of a repartition topic; `Err` says why it is not one.
    pub(super) fn read(
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<&rdkafka::message::BorrowedHeaders>,
    ) -> Result<Message, String> {
        let header = |name: &str| -> Option<&str> {
            let headers = headers?;
            headers
                .iter()
                .find(|header| header.key == name)
                .and_then(|header| std::str::from_utf8(header.value?).ok())
        };
        let number = |name: &str| -> Result<i64, String> {
            header(name)
                .ok_or_else(|| format!("the header {name} is missing"))?
                .parse()
                .map_err(|_| format!("the header {name} is not a whole number"))
        };
        if header(WATERMARK).is_some() {
            let task = u32::try_from(number(TASK)?).map_err(|_| format!("bad {TASK}"))?;
            let tasks = usize::try_from(number(TASKS)?).map_err(|_| format!("bad {TASKS}"))?;
            return Ok(Message::Watermark {
                task,
                tasks,
                watermark: number(WATERMARK)?,
            });
        }
        let timestamp = number(TIMESTAMP)?;
        let json = |bytes: &[u8], what: &str| {
            serde_json::from_slice::<Value>(bytes).map_err(|err| format!("{what}: {err}"))
        };
        let key = match key {
            Some(bytes) => Key::from_value(&json(bytes, "the key is not JSON")?),
            None => Key::null(),
        };
        let value = json(
            payload.ok_or("the record has no value")?,
            "the value is not JSON",
        )?;
        Ok(Message::Record(Record::new(key, value, timestamp)))
    }
}

/// Creates `topic` with `partitions` on `brokers`, unless it exists already.
pub(crate) fn create_topic(
    brokers: &str,
    options: &[(String, String)],
    topic: &str,
    partitions: i32,
) -> io::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, options)
        .create()
        .map_err(kafka_error("cannot create an admin client"))?;
    let new = [NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(-1),
    )];
    let admin_options = AdminOptions::new().operation_timeout(Some(CREATE_TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let created = runtime
        .block_on(admin.create_topics(&new, &admin_options))
        .map_err(kafka_error("cannot create the repartition topic"))?;
    match created.into_iter().next() {
        Some(Ok(_)) => tracing::info!("Kafka: created the repartition topic {topic}"),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => {}
        Some(Err((_, code))) => {
            return Err(io::Error::other(format!(
                "Kafka: cannot create the repartition topic {topic}: {code}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_goes_to_one_partition_whoever_writes_it() {
        // librdkafka's `consistent` partitioner: CRC-32 of the key.
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        let partition = partition_of("\"user-7\"", 8);
        assert!((0..8).contains(&partition));
        assert_eq!(partition_of("\"user-7\"", 8), partition);
        let spread: std::collections::BTreeSet<i32> = (0..64)
            .map(|n| partition_of(&format!("\"user-{n}\""), 8))
            .collect();
        assert_eq!(spread.len(), 8);
    }

    #[test]
    fn what_is_not_a_repartition_message_says_why() {
        assert_eq!(
            Message::read(Some(b"\"a\""), Some(b"1"), None),
            Err("the header millrace-ts is missing".to_owned())
        );
    }
}
