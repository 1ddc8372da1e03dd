//! The runner's side of checkpoints: opening a pipeline's state directory,
//! resuming from its last good checkpoint, and taking checkpoints as it runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{RunError, io_error};
use crate::sink::dead_letters::DeadLetterWriter;
use crate::sink::{FileOutput, Marker, Sink, StagedFile, Transaction};
use crate::source_set::SourceSet;
use crate::spec::CheckpointSpec;
use millrace_model::graph::Pipeline;
use millrace_model::time::wall_clock_now;
use millrace_state::CheckpointStore;
use millrace_state::checkpoint::{self, Checkpoints, Manifest, SinkCommit};
use millrace_state::{MemoryBackend, RocksBackend, StateBackend, StateBatch};

/// Where a run keeps its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    /// RocksDB: state and checkpoints on disk.
    #[default]
    Rocksdb,
    /// A sorted map in memory; each checkpoint writes it whole to disk.
    Memory,
    /// No state directory and no checkpoints: a crash loses the run.
    None,
}

/// How a run treats state and checkpoints.
#[derive(Clone, Debug)]
pub struct StateOptions {
    /// The folder holding pipelines' state, one subfolder per pipeline name.
    pub dir: PathBuf,
    /// The backend.
    pub backend: Backend,
    /// Resume from this checkpoint rather than the latest.
    pub from_checkpoint: Option<u64>,
    /// Discard existing state and start over.
    pub fresh: bool,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            dir: PathBuf::from("millrace-state"),
            backend: Backend::Rocksdb,
            from_checkpoint: None,
            fresh: false,
        }
    }
}

/// A failure point for crash tests: `MILLRACE_FAIL_AT=NAME` (or `NAME@N`, the
/// N-th time) aborts the process when it reaches `name`, as a `kill -9` would at
/// that moment.
fn fail_point(name: &str) {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let text = std::env::var("MILLRACE_FAIL_AT").ok()?;
        Some(match text.split_once('@') {
            Some((point, nth)) => (point.to_owned(), nth.parse().unwrap_or(1)),
            None => (text, 1),
        })
    });
    if let Some((point, nth)) = target
        && point == name
        && REACHED.fetch_add(1, Ordering::Relaxed) + 1 == *nth
    {
        eprintln!("millrace: failing at {name} (MILLRACE_FAIL_AT)");
        std::process::abort();
    }
}

/// The state directory of one pipeline, held for the whole run.
pub struct Durable {
    dir: PathBuf,
    backend: Box<dyn StateBackend>,
    checkpoints: Checkpoints,
    fingerprint: Value,
    interval: Duration,
    every_records: Option<u64>,
    last: Instant,
    /// Records read when the last checkpoint was taken (or the run resumed).
    records_at_last: u64,
    /// What the last checkpoint (taken or resumed from) recorded of the input and
    /// outputs: an idle pipeline takes no new checkpoint while they stay the same.
    last_positions: Option<Positions>,
    next_id: u64,
    /// The directory's lineage: kept from the checkpoint resumed, else new.
    lineage: u32,
    /// Whether a finished run is resumed as it is (see [`Durable::keep_finished`]).
    keep_finished: bool,
    /// Held for the run, so that two runs never share the directory.
    _lock: File,
}

/// What a checkpoint makes durable and then publishes besides the state.
pub struct Outputs<'a> {
    /// The sinks.
    pub sinks: &'a mut [Box<dyn Sink>],
    /// The exactly-once Kafka sinks' transaction, committed with the checkpoint.
    pub transaction: Option<&'a dyn Transaction>,
    /// The dead-letter output.
    pub dead_letters: &'a mut DeadLetterWriter,
}

/// Where the counters of a resumed run start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Records written to the sink.
    pub emitted: u64,
    /// Of those, retractions.
    pub retractions: u64,
    /// Dead letters written.
    pub dead_lettered: u64,
}

/// The folder of pipeline `name`'s state under `state_dir`. The one place that
/// joins them: the name is checked again, so that no name reaches outside.
pub fn pipeline_dir(state_dir: &Path, name: &str) -> Result<PathBuf, String> {
    crate::spec::check_name(name)?;
    Ok(state_dir.join(name))
}

impl Durable {
    /// Opens `name`'s state directory under `options.dir`.
    pub fn open(
        name: &str,
        options: &StateOptions,
        fingerprint: Value,
        settings: &CheckpointSpec,
    ) -> Result<Self, RunError> {
        let dir = pipeline_dir(&options.dir, name).map_err(RunError::Checkpoint)?;
        std::fs::create_dir_all(&dir).map_err(io_error(format!(
            "cannot create the state directory {}",
            dir.display()
        )))?;
        let lock = File::create(dir.join("LOCK"))
            .map_err(io_error(format!("cannot lock {}", dir.display())))?;
        if lock.try_lock().is_err() {
            return Err(RunError::InUse(format!(
                "the state directory {} is in use by another run of {name}",
                dir.display()
            )));
        }
        let backend: Box<dyn StateBackend> = match options.backend {
            Backend::Rocksdb => Box::new(RocksBackend::open(&dir.join("db"))?),
            Backend::Memory | Backend::None => Box::new(MemoryBackend::new()),
        };
        let mut checkpoints = Checkpoints::open(&dir, settings.keep as usize).map_err(io_error(
            format!("cannot open the checkpoints in {}", dir.display()),
        ))?;
        if let Some(url) = &settings.store {
            let store =
                CheckpointStore::open(url).map_err(|err| RunError::Checkpoint(err.to_string()))?;
            checkpoints = checkpoints
                .with_store(store, name)
                .map_err(|err| RunError::Checkpoint(err.to_string()))?;
        }
        let next_id = checkpoints
            .next_id()
            .map_err(io_error("cannot list the checkpoints"))?;
        Ok(Durable {
            dir,
            backend,
            checkpoints,
            fingerprint,
            interval: Duration::from_millis(settings.interval as u64),
            every_records: settings.records,
            last: Instant::now(),
            records_at_last: 0,
            last_positions: None,
            next_id,
            lineage: new_lineage(),
            keep_finished: false,
            _lock: lock,
        })
    }

    /// Resumes a finished run as it finished, instead of starting over: a task of
    /// a pipeline of tasks that finished stays so when it moves.
    pub(crate) fn keep_finished(mut self) -> Self {
        self.keep_finished = true;
        self
    }

    /// The folder for a sink's staging file.
    fn staging(&self, name: &str) -> PathBuf {
        self.dir.join("staging").join(name)
    }

    /// Restores the pipeline and the source from the checkpoint to resume, if any:
    /// the one `options` names, or else the newest that is good — damaged ones are
    /// skipped with a warning. A run that had finished is not resumed: it starts
    /// over. With a `transaction`, a checkpoint whose transaction never committed
    /// is dropped (its output went with its transaction) and the one before it is
    /// resumed, so its output is produced again. Returns the manifest of the
    /// checkpoint resumed.
    pub fn resume<R>(
        &mut self,
        options: &StateOptions,
        pipeline: &mut Pipeline<R>,
        source: &mut SourceSet,
        transaction: Option<&dyn Transaction>,
    ) -> Result<Option<Manifest>, RunError> {
        let committed = transaction
            .map(Transaction::committed)
            .transpose()
            .map_err(io_error("cannot resume the output's transactions"))?;
        let listed = self
            .checkpoints
            .list()
            .map_err(io_error("cannot list the checkpoints"))?;
        if options.fresh {
            self.checkpoints
                .clear()
                .map_err(io_error("cannot remove the old checkpoints"))?;
            return Ok(None);
        }
        let mut candidates: Vec<_> = listed.into_iter().rev().collect();
        if let Some(wanted) = options.from_checkpoint {
            candidates.retain(|listed| listed.id == wanted);
            let Some(listed) = candidates.first() else {
                return Err(RunError::Checkpoint(format!(
                    "there is no checkpoint {wanted} in {}",
                    self.dir.display()
                )));
            };
            if let Err(reason) = &listed.manifest {
                return Err(RunError::Checkpoint(format!(
                    "checkpoint {wanted} cannot be used: {reason}"
                )));
            }
        }
        for listed in candidates {
            let manifest = match listed.manifest {
                Ok(manifest) => manifest,
                Err(reason) => {
                    tracing::warn!("skipping checkpoint {}: {reason}", listed.id);
                    continue;
                }
            };
            if let Some(committed) = committed
                && !self.was_committed(&manifest, committed)?
            {
                continue;
            }
            if manifest.finished && options.from_checkpoint.is_none() && !self.keep_finished {
                tracing::info!("the last run finished; starting over");
                self.checkpoints
                    .clear()
                    .map_err(io_error("cannot remove the old checkpoints"))?;
                return Ok(None);
            }
            if let Some(difference) =
                checkpoint::difference(&manifest.fingerprint, &self.fingerprint)
            {
                return Err(RunError::Incompatible(format!(
                    "the state in {} was written by a different pipeline ({difference}); \
                     use another --state-dir, or --fresh to discard it",
                    self.dir.display()
                )));
            }
            let restored = self
                .backend
                .restore(&listed.path)
                .and_then(|()| pipeline.restore(self.backend.as_ref()));
            if let Err(err) = restored {
                tracing::warn!("skipping checkpoint {}: {err}", listed.id);
                continue;
            }
            if let Some(position) = &manifest.source {
                source
                    .seek(position)
                    .map_err(io_error("cannot resume reading the input"))?;
            }
            tracing::info!(
                "resuming from checkpoint {} ({} records read)",
                manifest.id,
                manifest.records_read
            );
            self.next_id = self.next_id.max(manifest.id + 1);
            if let Some(lineage) = manifest.lineage {
                self.lineage = lineage;
            }
            self.records_at_last = source.records_read();
            self.last_positions = Some(Positions::of(&manifest));
            return Ok(Some(manifest));
        }
        Ok(None)
    }

    /// Whether `manifest`'s output was committed, given the marker of the last
    /// transaction committed. One that was not is removed, so the checkpoint that
    /// replaces it takes its number (and its records' headers say which attempt at
    /// that checkpoint they belong to).
    fn was_committed(
        &mut self,
        manifest: &Manifest,
        committed: Option<Marker>,
    ) -> Result<bool, RunError> {
        let ours = manifest.lineage.is_some_and(|lineage| {
            committed.is_some_and(|c| c.lineage == lineage && manifest.id <= c.checkpoint)
        });
        if ours {
            if let Some(committed) = committed
                && committed.checkpoint > manifest.id
            {
                tracing::warn!(
                    "resuming from checkpoint {} although the output of checkpoint {} was \
                     committed: that output is written again",
                    manifest.id,
                    committed.checkpoint
                );
            }
            return Ok(true);
        }
        let last = committed.map_or_else(
            || "none was".to_owned(),
            |c| {
                let lineage = if Some(c.lineage) == manifest.lineage {
                    "this state's"
                } else {
                    "another state's"
                };
                format!(
                    "the last committed was checkpoint {} of {lineage}",
                    c.checkpoint
                )
            },
        );
        tracing::warn!(
            "checkpoint {}: its output's transaction never committed ({last}); resuming from \
             the checkpoint before it, whose output is produced again",
            manifest.id
        );
        self.checkpoints
            .remove(manifest.id)
            .map_err(io_error("cannot remove an uncommitted checkpoint"))?;
        self.next_id = manifest.id;
        Ok(false)
    }

    /// The marker of the checkpoint to be taken next.
    pub fn next_marker(&self) -> Marker {
        Marker {
            lineage: self.lineage,
            checkpoint: self.next_id,
        }
    }

    /// The output file `target`, staged under `name`: resumed from `resumed`'s
    /// commit for it, or started afresh.
    pub fn staged_output(
        &self,
        name: &str,
        target: &Path,
        resumed: Option<&Manifest>,
    ) -> Result<FileOutput, RunError> {
        let staging = self.staging(name);
        let path = target.display().to_string();
        let commit = resumed.and_then(|m| m.sinks.iter().find(|c| c.path == path));
        let file = match commit {
            Some(commit) => StagedFile::resume(target, &staging, commit),
            None => StagedFile::create(target, &staging),
        }
        .map_err(io_error(format!(
            "cannot open the output {}",
            target.display()
        )))?;
        Ok(FileOutput::Staged(file))
    }

    /// Whether a checkpoint is due, `records_read` records into the input.
    pub fn due(&self, records_read: u64) -> bool {
        self.last.elapsed() >= self.interval
            || self
                .every_records
                .is_some_and(|every| records_read.saturating_sub(self.records_at_last) >= every)
    }

    /// Takes a checkpoint: the pipeline's changed state, the source's position and
    /// the sinks' staged output; then publishes that output. Returns `None` when
    /// nothing changed since the last checkpoint, which still holds.
    pub fn checkpoint<R>(
        &mut self,
        pipeline: &mut Pipeline<R>,
        source: &mut SourceSet,
        outputs: Outputs<'_>,
        counters: Counters,
        finished: bool,
    ) -> Result<Option<Manifest>, RunError> {
        let Outputs {
            sinks,
            transaction,
            dead_letters,
        } = outputs;
        let started = Instant::now();
        let mut batch = StateBatch::default();
        pipeline.snapshot(&mut batch)?;
        let changes = batch.len() as u64;
        let snapshotted = started.elapsed();
        self.backend.write(batch)?;
        let written = started.elapsed();
        let mut commits: Vec<SinkCommit> = Vec::new();
        for sink in sinks.iter_mut() {
            commits.extend(
                sink.prepare()
                    .map_err(io_error("cannot write the output"))?,
            );
        }
        commits.extend(
            dead_letters
                .prepare()
                .map_err(io_error("cannot write the dead-letter output"))?,
        );
        if let Some(transaction) = transaction {
            transaction
                .prepare()
                .map_err(io_error("cannot write the output"))?;
        }
        let positions = Positions {
            source: source.position(),
            sinks: commits,
        };
        let sent = transaction.map_or(0, Transaction::pending);
        if !finished
            && changes == 0
            && sent == 0
            && self.last_positions.as_ref() == Some(&positions)
        {
            self.last = Instant::now();
            return Ok(None);
        }
        let Positions {
            source: at,
            sinks: commits,
        } = positions;
        fail_point("checkpoint:before-snapshot");
        let id = self.next_id;
        self.backend.snapshot(&self.checkpoints.partial_path(id))?;
        fail_point("checkpoint:before-manifest");
        let manifest = Manifest {
            id,
            created: wall_clock_now(),
            backend: self.backend.kind().to_owned(),
            fingerprint: self.fingerprint.clone(),
            source: at,
            records_read: source.records_read(),
            sinks: commits,
            finished,
            changes,
            emitted: counters.emitted,
            retractions: counters.retractions,
            dead_lettered: counters.dead_lettered,
            lineage: Some(self.lineage),
            files: Vec::new(),
            checksum: String::new(),
        };
        let manifest = self
            .checkpoints
            .complete(manifest)
            .map_err(io_error("cannot complete the checkpoint"))?;
        fail_point("checkpoint:before-publish");
        // The transaction commits first: until it has, a crash drops this
        // checkpoint, and files must then not show its output either.
        if let Some(transaction) = transaction {
            transaction
                .commit(self.next_marker())
                .map_err(io_error("cannot commit the output"))?;
            fail_point("checkpoint:after-commit");
        }
        for sink in sinks.iter_mut() {
            sink.publish()
                .map_err(io_error("cannot publish the output"))?;
        }
        dead_letters
            .publish()
            .map_err(io_error("cannot publish the dead-letter output"))?;
        fail_point("checkpoint:after-publish");
        self.checkpoints
            .prune()
            .map_err(io_error("cannot remove old checkpoints"))?;
        source.checkpointed();
        self.next_id = id + 1;
        if let Some(transaction) = transaction {
            transaction.begin(self.next_marker());
        }
        self.last = Instant::now();
        self.records_at_last = source.records_read();
        self.last_positions = Some(Positions::of(&manifest));
        tracing::debug!(
            "checkpoint {id}: {changes} state changes, {} bytes; snapshot {:?}, write {:?}, total {:?}",
            manifest.bytes(),
            snapshotted,
            written - snapshotted,
            started.elapsed()
        );
        Ok(Some(manifest))
    }
}

/// A new state directory's lineage: random, 31 bits (it is part of a Kafka offset).
fn new_lineage() -> u32 {
    fastrand::u32(..) & 0x7fff_ffff
}

/// Where a checkpoint left the input and the outputs.
#[derive(PartialEq)]
struct Positions {
    source: Option<serde_json::Value>,
    sinks: Vec<SinkCommit>,
}

impl Positions {
    fn of(manifest: &Manifest) -> Positions {
        Positions {
            source: manifest.source.clone(),
            sinks: manifest.sinks.clone(),
        }
    }
}
