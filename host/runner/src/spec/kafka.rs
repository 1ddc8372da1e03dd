//! Reading a `kafka` source or sink:
//!
//! ```yaml
//! source:
//!   kafka:
//!     brokers: 127.0.0.1:9092
//!     topics: [events]                   # or `topic: events`, or `pattern: "^events-.*"`
//!     group: sums                        # default: millrace-<pipeline name>
//!     start: earliest                    # or latest: where a partition with no offset starts
//!     until: end                         # stop at the end offsets seen at the start
//!     key: user                          # default: the record's Kafka key
//!     value: payload                     # default: the whole JSON value
//!     timestamp: ts                      # default: the record's Kafka timestamp
//!     watermark: {max_out_of_orderness: 5s, idle_partition: 30s}
//!     options: {fetch.wait.max.ms: 50}   # librdkafka properties, passed through
//! sink:
//!   kafka:
//!     brokers: 127.0.0.1:9092
//!     topic: sums
//!     delivery: exactly_once             # or at_least_once
//!     key: key                           # a field of the output record; null: no key
//!     transactional_id: sums-writer      # default: millrace-<pipeline name>
//! ```

use millrace_model::field::FieldPath;

use super::document::{Node, NodeValue};
use super::{At, MAX_BUNDLE_SIZE, Reader, Result, TimestampFormat};

/// What a Kafka source subscribes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topics {
    /// These topics.
    Named(Vec<String>),
    /// Every topic whose name matches this regular expression (librdkafka's syntax).
    Pattern(String),
}

/// Where a partition starts when neither a checkpoint nor the group has an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// At its first record still kept.
    Earliest,
    /// After its last record: only new records.
    Latest,
}

/// A Kafka source.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSourceSpec {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// What it reads.
    pub topics: Topics,
    /// The consumer group its offsets are committed to (`None`: `millrace-<name>`).
    pub group: Option<String>,
    /// Where a partition with no offset starts.
    pub start: StartAt,
    /// Whether the source ends once every partition reaches the end offset it had
    /// when the run started (a bounded read), rather than waiting for more.
    pub until_end: bool,
    /// The value field that becomes the key; the record's Kafka key when absent.
    pub key: Option<FieldPath>,
    /// The field that becomes the value; the whole JSON value when absent.
    pub value: Option<FieldPath>,
    /// The event-time field; the record's Kafka timestamp when absent.
    pub timestamp: Option<FieldPath>,
    /// How that field is written.
    pub timestamp_format: TimestampFormat,
    /// How far behind a partition's latest event time its watermark trails.
    pub max_out_of_orderness: i64,
    /// After this long without records (wall-clock milliseconds) a partition no
    /// longer holds the source's watermark back, until its next record.
    pub idle_partition: Option<i64>,
    /// How many records make one bundle at most.
    pub bundle_size: usize,
    /// librdkafka properties, passed through.
    pub options: Vec<(String, String)>,
    /// Whether it reads a repartition topic (a stage of a pipeline of tasks):
    /// records as the stage before wrote them, and that stage's watermarks.
    pub repartition: bool,
}

/// How a Kafka sink delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One Kafka transaction per checkpoint, committed when the checkpoint is: a
    /// `read_committed` consumer sees each record once, after its checkpoint.
    ExactlyOnce,
    /// Records are sent as they come; after a crash, what came after the last
    /// checkpoint is sent again.
    AtLeastOnce,
}

/// A Kafka sink.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSinkSpec {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topic it writes.
    pub topic: String,
    /// Exactly or at least once.
    pub delivery: Delivery,
    /// The field of the output record (`key`, `value.user`, …) that becomes the
    /// Kafka key; `None`: records have no key.
    pub key: Option<FieldPath>,
    /// The transactional id (`None`: `millrace-<name>`); it names the pipeline's
    /// producer to the brokers, so a restarted run fences its predecessor.
    pub transactional_id: Option<String>,
    /// librdkafka properties, passed through.
    pub options: Vec<(String, String)>,
    /// `Some` for the writer of a repartition topic (a stage of a pipeline of
    /// tasks), which the spec does not name: which task it is of how many.
    pub repartition: Option<RepartitionWriter>,
}

/// The task a repartition topic's writer belongs to, which its watermark
/// markers name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepartitionWriter {
    /// The task's number.
    pub task: i32,
    /// How many tasks its stage has.
    pub tasks: i32,
}

impl Reader<'_> {
    pub(super) fn kafka_source(&self, at: &At, node: &Node) -> Result<KafkaSourceSpec> {
        let map = self.map(
            at,
            node,
            &[
                "brokers",
                "topic",
                "topics",
                "pattern",
                "group",
                "start",
                "until",
                "key",
                "value",
                "timestamp",
                "timestamp_format",
                "watermark",
                "bundle_size",
                "options",
            ],
        )?;
        let brokers = self.string(&at.key("brokers"), map.require(self, at, "brokers")?)?;
        let given: Vec<&str> = ["topic", "topics", "pattern"]
            .into_iter()
            .filter(|key| map.get(key).is_some())
            .collect();
        let topics = match given.as_slice() {
            ["topic"] => Topics::Named(vec![
                self.topic(&at.key("topic"), map.get("topic").unwrap_or(node))?,
            ]),
            ["topics"] => {
                let at = at.key("topics");
                let node = map.get("topics").unwrap_or(node);
                let NodeValue::Seq(items) = &node.value else {
                    return Err(self.expected(&at, "a list of topic names", node));
                };
                if items.is_empty() {
                    return Err(self.expected(&at, "at least one topic", node));
                }
                let mut names = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    names.push(self.topic(&at.index(i), item)?);
                }
                Topics::Named(names)
            }
            ["pattern"] => {
                let at = at.key("pattern");
                let node = map.get("pattern").unwrap_or(node);
                let pattern = self.string(&at, node)?;
                // librdkafka treats a subscription that starts with `^` as a pattern.
                Topics::Pattern(if pattern.starts_with('^') {
                    pattern
                } else {
                    format!("^{pattern}")
                })
            }
            [] => {
                return Err(self.error(
                    at,
                    "missing the topics to read: give `topic`, `topics` or `pattern`",
                    node.mark,
                ));
            }
            _ => {
                return Err(self.error(
                    at,
                    format!(
                        "give one of `topic`, `topics` and `pattern`, not {}",
                        given.join(" and ")
                    ),
                    node.mark,
                ));
            }
        };
        let group = map
            .get("group")
            .map(|node| self.string(&at.key("group"), node))
            .transpose()?;
        let start = match map.get("start") {
            None => StartAt::Earliest,
            Some(node) => match self.string(&at.key("start"), node)?.as_str() {
                "earliest" => StartAt::Earliest,
                "latest" => StartAt::Latest,
                _ => return Err(self.expected(&at.key("start"), "earliest or latest", node)),
            },
        };
        let until_end = match map.get("until") {
            None => false,
            Some(node) => match self.string(&at.key("until"), node)?.as_str() {
                "end" => true,
                "never" => false,
                _ => return Err(self.expected(&at.key("until"), "end or never", node)),
            },
        };
        let field = |name: &str| {
            map.get(name)
                .map(|node| self.field_path(&at.key(name), node))
                .transpose()
        };
        let (key, value, timestamp) = (field("key")?, field("value")?, field("timestamp")?);
        let timestamp_format = map
            .get("timestamp_format")
            .map(|node| self.timestamp_format(&at.key("timestamp_format"), node))
            .transpose()?
            .unwrap_or(TimestampFormat::Auto);
        let mut max_out_of_orderness = 0;
        let mut idle_partition = None;
        if let Some(node) = map.get("watermark") {
            let at = at.key("watermark");
            let watermark = self.map(&at, node, &["max_out_of_orderness", "idle_partition"])?;
            if let Some(node) = watermark.get("max_out_of_orderness") {
                max_out_of_orderness = self.duration(&at.key("max_out_of_orderness"), node)?;
            }
            if let Some(node) = watermark.get("idle_partition") {
                idle_partition = Some(self.positive_duration(&at.key("idle_partition"), node)?);
            }
        }
        let bundle_size = match map.get("bundle_size") {
            Some(node) => {
                self.count_up_to(&at.key("bundle_size"), node, 1, MAX_BUNDLE_SIZE)? as usize
            }
            None => 1000,
        };
        Ok(KafkaSourceSpec {
            brokers,
            topics,
            group,
            start,
            until_end,
            key,
            value,
            timestamp,
            timestamp_format,
            max_out_of_orderness,
            idle_partition,
            bundle_size,
            options: self.kafka_options(at, map.get("options"))?,
            repartition: false,
        })
    }

    pub(super) fn kafka_sink(&self, at: &At, node: &Node) -> Result<KafkaSinkSpec> {
        let map = self.map(
            at,
            node,
            &[
                "brokers",
                "topic",
                "delivery",
                "key",
                "transactional_id",
                "options",
            ],
        )?;
        let brokers = self.string(&at.key("brokers"), map.require(self, at, "brokers")?)?;
        let topic = self.topic(&at.key("topic"), map.require(self, at, "topic")?)?;
        let delivery = match map.get("delivery") {
            None => Delivery::ExactlyOnce,
            Some(node) => match self.string(&at.key("delivery"), node)?.as_str() {
                "exactly_once" => Delivery::ExactlyOnce,
                "at_least_once" => Delivery::AtLeastOnce,
                _ => {
                    return Err(self.expected(
                        &at.key("delivery"),
                        "exactly_once or at_least_once",
                        node,
                    ));
                }
            },
        };
        let key = match map.get("key") {
            None => Some(FieldPath::field("key")),
            Some(Node {
                value: NodeValue::Null,
                ..
            }) => None,
            Some(node) => {
                let path = self.field_path(&at.key("key"), node)?;
                let first = path.parts().first().map(String::as_str);
                if !matches!(first, Some("key" | "value" | "ts" | "window")) {
                    return Err(self.expected(
                        &at.key("key"),
                        "a field of the output record: key, value, ts or window, or one \
                         inside them such as value.user",
                        node,
                    ));
                }
                Some(path)
            }
        };
        let transactional_id = map
            .get("transactional_id")
            .map(|node| self.string(&at.key("transactional_id"), node))
            .transpose()?;
        Ok(KafkaSinkSpec {
            brokers,
            topic,
            delivery,
            key,
            transactional_id,
            options: self.kafka_options(at, map.get("options"))?,
            repartition: None,
        })
    }

    /// A topic name as Kafka allows them: 1 to 249 of `[a-zA-Z0-9._-]`.
    pub(super) fn topic(&self, at: &At, node: &Node) -> Result<String> {
        let name = self.string(at, node)?;
        let valid = name.len() <= 249
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(name)
        } else {
            Err(self.expected(
                at,
                "a Kafka topic name (up to 249 letters, digits, `.`, `_` and `-`)",
                node,
            ))
        }
    }

    /// `options: {name: value, …}`: librdkafka properties. millrace sets the ones
    /// its guarantees rest on itself; giving one of those is an error.
    fn kafka_options(&self, at: &At, node: Option<&Node>) -> Result<Vec<(String, String)>> {
        const OWNED: [&str; 9] = [
            "bootstrap.servers",
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "isolation.level",
            "transactional.id",
            "enable.idempotence",
            "auto.offset.reset",
            "enable.partition.eof",
        ];
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        let at = at.key("options");
        let NodeValue::Map(entries) = &node.value else {
            return Err(self.expected(&at, "a map of librdkafka properties to values", node));
        };
        let mut options = Vec::with_capacity(entries.len());
        for entry in entries {
            let at = at.key(&entry.key);
            if OWNED.contains(&entry.key.as_str()) {
                return Err(self.error(
                    &at,
                    format!(
                        "millrace sets {} itself (see docs/kafka.md); use the spec's own key for it",
                        entry.key
                    ),
                    entry.key_mark,
                ));
            }
            let value = match &entry.value.value {
                NodeValue::Str(text) => text.clone(),
                NodeValue::Int(n) => n.to_string(),
                NodeValue::Bool(b) => b.to_string(),
                _ => return Err(self.expected(&at, "text, a number or true/false", &entry.value)),
            };
            options.push((entry.key.clone(), value));
        }
        Ok(options)
    }
}
