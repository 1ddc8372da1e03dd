//! Stand-ins for the Kafka source and sinks when the runner is built without its
//! `kafka` feature (the fuzz targets: they need no librdkafka). A spec that names
//! Kafka is then refused with a message saying why.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::durable::Durable;
use crate::sink::{Sink, Transaction};
use crate::source::Source;
use crate::spec::{CheckpointSpec, KafkaSourceSpec, PipelineSpec, SinkSpec};
use crate::{RunError, RunOptions, RunSummary, spec_error};

const WITHOUT: &str = "this millrace was built without Kafka (millrace-runner's `kafka` feature)";

/// See the `kafka` feature's `Outputs`: none here.
pub(crate) struct Outputs {
    pub(crate) transaction: Option<Arc<dyn Transaction>>,
    pub(crate) sinks: Vec<Option<Box<dyn Sink>>>,
}

impl Outputs {
    pub(crate) fn open(
        spec: &PipelineSpec,
        replaced: bool,
        _checkpointing: bool,
        _interval: Duration,
    ) -> Result<Outputs, RunError> {
        if let Some(sink) = spec
            .sinks
            .iter()
            .find(|sink| matches!(sink.spec, SinkSpec::Kafka(_)))
            && !replaced
        {
            return Err(spec_error(spec, format!("{}.kafka", sink.path), WITHOUT));
        }
        Ok(Outputs {
            transaction: None,
            sinks: spec.sinks.iter().map(|_| None).collect(),
        })
    }
}

/// No task runs without Kafka: [`run_tasks`] refuses them.
pub(crate) enum Task {}

impl Task {
    pub(crate) fn stop(&self) -> Arc<AtomicBool> {
        match *self {}
    }
}

pub(crate) fn open_source(
    _spec: &KafkaSourceSpec,
    _default_group: &str,
) -> std::io::Result<Box<dyn Source>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        WITHOUT,
    ))
}

pub(crate) fn open_task_source(
    spec: &KafkaSourceSpec,
    pipeline: &PipelineSpec,
    _task: &Task,
    _index: usize,
) -> std::io::Result<Box<dyn Source>> {
    open_source(spec, &pipeline.name)
}

/// Tasks read Kafka partitions: refused.
pub(crate) fn run_tasks(
    spec: &PipelineSpec,
    _options: &RunOptions,
) -> Result<RunSummary, RunError> {
    Err(spec_error(spec, "parallelism", WITHOUT))
}

pub(crate) fn open_task_state(
    spec: &PipelineSpec,
    _options: &RunOptions,
    _task: &Task,
    _fingerprint: serde_json::Value,
    _settings: &CheckpointSpec,
) -> Result<Durable, RunError> {
    Err(spec_error(spec, "parallelism", WITHOUT))
}
