//! Steering a running pipeline from another thread (the server): commands applied
//! between two events, and a status the pipeline keeps up to date.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::source::{Followed, Wakeup};
use millrace_model::pipeline::{StepStatus, SwapError};
use millrace_model::time::{MIN_TIMESTAMP, Timestamp};
use millrace_wasm::Prepared;

/// What a server holds to steer a pipeline that [`super::run_controlled`] runs.
pub struct Control {
    /// Commands, applied between two events.
    pub commands: Receiver<Command>,
    /// Wakes the pipeline when a command or input arrives.
    pub wakeup: Arc<Wakeup>,
    /// The log an `ingest` source follows.
    pub ingest: Followed,
    /// Where the pipeline reports how it is doing.
    pub status: Arc<Mutex<LiveStatus>>,
}

/// A command for a running pipeline.
pub enum Command {
    /// Replace a step's plugin with a prepared one; the reply says at which input
    /// position the new version took over, or why it did not.
    Swap {
        /// The step's name in the spec, e.g. `steps[2].combine`.
        step: String,
        /// The new version, compiled and started.
        replacement: Prepared,
        /// Where the outcome goes.
        reply: Sender<Result<SwapPoint, SwapError>>,
    },
    /// Stop. Draining reads the input to its current end, advances the watermark to
    /// +∞ so that every window fires its final pane, and ends with a checkpoint;
    /// otherwise the pipeline checkpoints and stops where it is, to resume later.
    Stop {
        /// Whether to drain.
        drain: bool,
    },
}

/// Where in the input a swap took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapPoint {
    /// Records read before the new version took over: record number `records_read`
    /// (counting from 0) is the first the new version sees.
    pub records_read: u64,
    /// The pipeline's output watermark then.
    pub watermark: Timestamp,
}

/// How a pipeline is doing; refreshed as it runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LiveStatus {
    /// Records read from the source.
    pub records_read: u64,
    /// Records written to the sink.
    pub emitted: u64,
    /// Records sent to the dead-letter output.
    pub dead_lettered: u64,
    /// The pipeline's output watermark (ms since the epoch).
    pub watermark: Timestamp,
    /// Each step.
    pub steps: Vec<StepStatus>,
    /// Checkpoints completed by this run.
    pub checkpoints: u64,
    /// When the durable state last caught up with the pipeline: a checkpoint
    /// completed, or one was due and nothing had changed since the last.
    #[serde(skip)]
    pub last_checkpoint: Option<Instant>,
    /// The pause of each swap of this run (the most recent [`KEPT_SWAP_PAUSES`]),
    /// in microseconds: from the switch to the first output after it.
    pub swap_pauses_us: Vec<u64>,
    /// The most recent checkpoints of this run ([`KEPT_CHECKPOINTS`]), oldest first.
    #[serde(skip)]
    pub recent_checkpoints: VecDeque<CheckpointTaken>,
}

/// A checkpoint a run took, as the dashboard charts it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckpointTaken {
    /// Its number.
    pub id: u64,
    /// When it completed (ms since the epoch).
    pub at: Timestamp,
    /// How long it took, from the snapshot of the steps to the published output.
    pub duration_ms: f64,
    /// The size of its files.
    pub bytes: u64,
    /// State entries it wrote or deleted.
    pub changes: u64,
}

/// How many checkpoints [`LiveStatus`] keeps.
pub const KEPT_CHECKPOINTS: usize = 100;

/// How many swap pauses [`LiveStatus`] keeps.
pub const KEPT_SWAP_PAUSES: usize = 1000;

impl LiveStatus {
    /// Records a checkpoint taken.
    pub fn checkpoint_taken(&mut self, taken: CheckpointTaken) {
        if self.recent_checkpoints.len() == KEPT_CHECKPOINTS {
            self.recent_checkpoints.pop_front();
        }
        self.recent_checkpoints.push_back(taken);
    }

    /// Records the pause of a swap.
    pub fn swap_paused(&mut self, pause: Duration) {
        if self.swap_pauses_us.len() == KEPT_SWAP_PAUSES {
            self.swap_pauses_us.remove(0);
        }
        self.swap_pauses_us
            .push(u64::try_from(pause.as_micros()).unwrap_or(u64::MAX));
    }
}

impl Default for LiveStatus {
    fn default() -> Self {
        LiveStatus {
            records_read: 0,
            emitted: 0,
            dead_lettered: 0,
            watermark: MIN_TIMESTAMP,
            steps: Vec::new(),
            checkpoints: 0,
            last_checkpoint: None,
            swap_pauses_us: Vec::new(),
            recent_checkpoints: VecDeque::new(),
        }
    }
}
