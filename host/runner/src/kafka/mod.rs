//! Kafka in and out, through librdkafka (the `rdkafka` crate).
//!
//! - [`KafkaSource`] reads topics as a member of a consumer group: a watermark per
//!   partition, offsets in millrace's checkpoints (it seeks to them when a run
//!   resumes), committed to the group after each checkpoint for lag tools to see.
//! - [`RepartitionSink`] writes a repartition topic between two stages of a
//!   pipeline of tasks, which the next stage's [`KafkaSource`] reads.
//! - [`KafkaSink`] writes pane records to a topic. Exactly-once sinks share the
//!   pipeline's [`KafkaOutput`], one transactional producer: one Kafka transaction
//!   per checkpoint, committed when the checkpoint is complete.
//!
//! How a checkpoint and a transaction commit together: the checkpoint is written
//! first, then the transaction commits, carrying a *marker* — an offset committed
//! to the producer's own group, atomically with the records, that names the
//! checkpoint. A restarted run first fences its predecessor (`init_transactions`
//! aborts whatever transaction it left open), then reads the marker: a checkpoint
//! newer than the marker never had its output committed, so it is dropped and the
//! run resumes from the one the marker names and produces that output again. See
//! docs/kafka.md.

mod repartition;
mod sink;
mod source;
mod tasks;

pub use repartition::RepartitionSink;
pub use sink::{KafkaOutput, KafkaSink};
pub use source::KafkaSource;
pub(crate) use tasks::{Task, open_task_source, open_task_state, run_tasks};

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::sink::{Sink, Transaction};
use crate::source::Source;
use crate::spec::{self, Delivery, KafkaSourceSpec, PipelineSpec, SinkSpec};
use crate::{RunError, io_error, spec_error};

/// Opens a Kafka source (its group `default_group` when the spec names none).
pub(crate) fn open_source(
    spec: &KafkaSourceSpec,
    default_group: &str,
) -> std::io::Result<Box<dyn Source>> {
    Ok(Box::new(KafkaSource::open(spec, default_group)?))
}

/// A pipeline's Kafka sinks.
pub(crate) struct Outputs {
    /// The one transaction of the exactly-once sinks, if any.
    pub(crate) transaction: Option<Arc<dyn Transaction>>,
    /// Each Kafka sink, by the sink's index (`None`: not a Kafka sink).
    pub(crate) sinks: Vec<Option<Box<dyn Sink>>>,
}

impl Outputs {
    /// Opens `spec`'s Kafka sinks (none if `--output` replaces the sink). The exactly-once sinks share one producer, so that one
    /// transaction covers all their records; it fences any earlier run's.
    pub(crate) fn open(
        spec: &PipelineSpec,
        replaced: bool,
        checkpointing: bool,
        interval: Duration,
    ) -> Result<Outputs, RunError> {
        let mut outputs = Outputs {
            transaction: None,
            sinks: Vec::with_capacity(spec.sinks.len()),
        };
        let mut shared: Option<(Arc<KafkaOutput>, &spec::KafkaSinkSpec)> = None;
        for sink in &spec.sinks {
            let SinkSpec::Kafka(kafka) = &sink.spec else {
                outputs.sinks.push(None);
                continue;
            };
            if replaced {
                outputs.sinks.push(None);
                continue;
            }
            let at = format!("{}.kafka", sink.path);
            let output = match kafka.delivery {
                Delivery::AtLeastOnce => Arc::new(
                    KafkaOutput::open(kafka, "", interval)
                        .map_err(io_error(format!("cannot open the output {}", sink.path)))?,
                ),
                Delivery::ExactlyOnce => {
                    if !checkpointing {
                        return Err(spec_error(
                            spec,
                            format!("{at}.delivery"),
                            "an exactly-once Kafka sink commits its output with each \
                             checkpoint, and this run takes none (its input cannot be read \
                             again, or --state none): use `delivery: at_least_once`",
                        ));
                    }
                    match &shared {
                        Some((output, first)) => {
                            if first.brokers != kafka.brokers
                                || first.transactional_id != kafka.transactional_id
                                || first.options != kafka.options
                            {
                                return Err(spec_error(
                                    spec,
                                    at,
                                    "the exactly-once Kafka sinks of a pipeline share one \
                                     transaction, so they must name the same brokers, \
                                     transactional_id and options",
                                ));
                            }
                            output.clone()
                        }
                        None => {
                            let id = kafka
                                .transactional_id
                                .clone()
                                .unwrap_or_else(|| format!("millrace-{}", spec.name));
                            let output =
                                Arc::new(KafkaOutput::open(kafka, &id, interval).map_err(
                                    io_error(format!("cannot open the output {}", sink.path)),
                                )?);
                            outputs.transaction = Some(output.clone());
                            shared = Some((output.clone(), kafka));
                            output
                        }
                    }
                }
            };
            let sink: Box<dyn Sink> = match kafka.repartition {
                Some(writer) => Box::new(
                    RepartitionSink::new(kafka, writer, output)
                        .map_err(io_error(format!("cannot open the output {}", sink.path)))?,
                ),
                None => Box::new(KafkaSink::new(kafka, output)),
            };
            outputs.sinks.push(Some(sink));
        }
        Ok(outputs)
    }
}

/// A client configuration for `brokers` with the user's `options` on top.
fn client_config(brokers: &str, options: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    // librdkafka logs through its own logger; errors surface through our calls.
    config.set("log_level", "3");
    for (name, value) in options {
        config.set(name, value);
    }
    config
}

/// Logs what librdkafka reports outside any call. The end of a partition comes
/// here too (`enable.partition.eof`), and the source sees it in its poll; the rest
/// is worth a warning: librdkafka retries what it can, and what it cannot
/// surfaces through the calls.
fn log_client_error(error: &rdkafka::error::KafkaError, reason: &str) {
    if !matches!(error, rdkafka::error::KafkaError::PartitionEOF(_))
        && !reason.contains("reached end of partition")
    {
        tracing::warn!("Kafka: {error}: {reason}");
    }
}

/// A librdkafka error as an I/O error of this layer, saying what was being done.
fn kafka_error(doing: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> std::io::Error + '_ {
    move |err| std::io::Error::other(format!("Kafka: {doing}: {err}"))
}
