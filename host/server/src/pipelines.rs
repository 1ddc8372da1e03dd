//! Deployed pipelines: each runs on its own thread with its own source (an ingest
//! log), state and checkpoints, steered through [`Control`].
//!
//! Layout: `tenants/<tenant>/pipelines/<name>/` holds `deployment.json` (the spec,
//! the plugin version of each step, the swap history), `input.jsonl` (the ingest
//! log), the outputs and `state/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ApiError;
use super::history::{History, HistoryView, SAMPLE_EVERY, Sample, watermark_lag};
use super::ingest::IngestLog;
use super::registry::{Models, PluginName, Registry, Sha256};
use super::tenants::Quotas;
use millrace_model::score::ModelChange;
use millrace_model::time::{Timestamp, wall_clock_now};
use millrace_runner::source::Wakeup;
use millrace_runner::spec::score::{ModelRef, default_evaluator};
use millrace_runner::spec::view::{GraphView, NodeKind};
use millrace_runner::spec::{self, CombineSpec, PipelineSpec, SinkSpec, SourceSpec, StepSpec};
use millrace_runner::{Backend, Command, Control, LiveStatus, RunOptions, StateOptions, SwapPoint};
use millrace_wasm::scorer::WasmScorer;
use millrace_wasm::{ModelFile, PluginKind, PluginSpec, Prepared};

/// The ingest log's file in a pipeline's folder, and what the tenant sees it called.
const INGEST_LOG: &str = "input.jsonl";

/// What a served pipeline's spec is called, relative paths in it being relative
/// to its folder.
const SPEC_FILE: &str = "pipeline.yaml";

/// How long a swap waits for the pipeline to reach a batch boundary.
const SWAP_TIMEOUT: Duration = Duration::from_secs(30);

/// A tenant's registries: its plugins and its models.
#[derive(Clone, Copy)]
pub struct Shelves<'a> {
    /// Its plugins.
    pub plugins: &'a Registry,
    /// Its models.
    pub models: &'a Registry<Models>,
}

/// The pin key of a score step's model: `steps[1].score.model`.
fn model_pin(step: &str) -> String {
    format!("{step}.model")
}

/// A change of a served score step's models.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelMove {
    /// Swap the live model for this one (`name` or `name@version`).
    Swap(String),
    /// Run this one as a shadow.
    Shadow(String),
    /// Send a share of keys (0 to 1) through this one.
    Canary(String, f64),
    /// Make the candidate the live model.
    Promote,
    /// Drop the candidate.
    Dismiss,
}

/// A score step's candidate model, as deployed (it lasts as long as the run).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CandidatePin {
    /// The model.
    pub model: PluginName,
    /// Its version.
    pub version: Sha256,
    /// `shadow`, or `canary` with its share.
    pub role: String,
}

/// The tenant a call acts for: its plugins, its quotas, and who it is.
#[derive(Clone, Copy)]
pub struct TenantScope<'a> {
    /// The tenant's plugins and models.
    pub registry: Shelves<'a>,
    /// Its quotas.
    pub quotas: &'a Quotas,
    /// Who asks (for the swap history).
    pub by: &'a str,
}

/// A plugin step's version, as deployed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pin {
    /// The plugin's name in the tenant's registry.
    pub plugin: PluginName,
    /// The version it runs (sha256).
    pub version: Sha256,
    /// What it ran before, as `plugin@version`, oldest first: what `rollback`
    /// goes back to.
    pub previous: Vec<String>,
}

impl Pin {
    /// What messages to the tenant call the plugin: `name@version` (short).
    fn shown(&self) -> String {
        format!("{}@{}", self.plugin, short(self.version.as_str()))
    }
}

/// One swap, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SwapRecord {
    /// The step.
    pub step: String,
    /// The plugin.
    pub plugin: PluginName,
    /// The version before.
    pub from: Sha256,
    /// The version after.
    pub to: Sha256,
    /// Who asked for it.
    pub by: String,
    /// When it took effect (ms since the epoch).
    pub at: i64,
    /// Records read before the new version took over: the first record the new
    /// version saw is record number `position` (from 0) of the ingest log.
    pub position: u64,
    /// The pipeline's output watermark at the switch.
    pub watermark: i64,
    /// Whether it was a rollback.
    pub rollback: bool,
}

/// What is kept on disk about a deployed pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// The spec, as deployed.
    pub spec: String,
    /// The version of each plugin step, by step name.
    pub pins: BTreeMap<String, Pin>,
    /// Every swap, oldest first.
    pub swaps: Vec<SwapRecord>,
    /// Each score step's candidate model, by step.
    #[serde(default)]
    pub candidates: BTreeMap<String, CandidatePin>,
    /// Whether it should run (it is restarted with the server).
    pub running: bool,
    /// When it was deployed (ms since the epoch).
    pub deployed: i64,
}

/// A deployed pipeline.
pub struct Deployment {
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    dir: PathBuf,
    record: Mutex<DeploymentRecord>,
    log: IngestLog,
    wakeup: Arc<Wakeup>,
    status: Arc<Mutex<LiveStatus>>,
    running: Mutex<Option<Running>>,
    outcome: Arc<Mutex<Outcome>>,
    instances: u64,
    /// Serializes swaps and stops.
    steering: Mutex<()>,
    /// Its counters over the last minutes, for the dashboard.
    history: Mutex<History>,
    /// Its graph, for the dashboard.
    graph: GraphView,
}

struct Running {
    commands: Sender<Command>,
    thread: JoinHandle<()>,
}

/// How a pipeline's run is going.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "message")]
pub enum Outcome {
    /// Running.
    Running,
    /// Drained and finished.
    Finished,
    /// Stopped; it resumes from its last checkpoint when started again.
    #[default]
    Stopped,
    /// Failed with this error.
    Failed(String),
}

/// A pipeline's status, as the API reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Its name.
    pub name: String,
    /// Running, finished, stopped or failed (with why).
    pub outcome: Outcome,
    /// Counters and watermarks.
    pub live: LiveStatus,
    /// How far the watermark trails the wall clock, in ms.
    pub watermark_lag_ms: Option<i64>,
    /// Seconds since the last checkpoint of this run, if any.
    pub checkpoint_age_s: Option<f64>,
    /// The plugin version of each plugin step.
    pub pins: BTreeMap<String, Pin>,
    /// Every swap, oldest first.
    pub swaps: Vec<SwapRecord>,
}

impl Deployment {
    /// Validates `text` as `tenant`'s pipeline `name` and prepares its folder `dir`;
    /// `pins` are the versions to run (from an earlier deployment), or empty to take
    /// the newest version of each plugin.
    pub fn create(
        tenant: &str,
        name: &str,
        dir: &Path,
        text: &str,
        registry: Shelves<'_>,
        quotas: &Quotas,
        pins: BTreeMap<String, Pin>,
    ) -> Result<(Deployment, PipelineSpec), ApiError> {
        let (spec, pins) = served_spec(name, dir, text, registry, quotas, pins)?;
        std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
        let log = IngestLog::open(&dir.join(INGEST_LOG)).map_err(ApiError::internal)?;
        let record = DeploymentRecord {
            spec: text.to_owned(),
            pins,
            swaps: Vec::new(),
            candidates: BTreeMap::new(),
            running: true,
            deployed: wall_clock_now(),
        };
        let deployment = Deployment {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            dir: dir.to_owned(),
            record: Mutex::new(record),
            log,
            wakeup: Arc::new(Wakeup::default()),
            status: Arc::new(Mutex::new(LiveStatus::default())),
            running: Mutex::new(None),
            outcome: Arc::new(Mutex::new(Outcome::Stopped)),
            instances: Deployment::count_instances(&spec),
            steering: Mutex::new(()),
            history: Mutex::new(History::default()),
            graph: served_graph(&spec),
        };
        Ok((deployment, spec))
    }

    /// Reopens the pipeline kept in `dir` (named after it).
    pub fn reopen(
        tenant: &str,
        dir: &Path,
        registry: Shelves<'_>,
        quotas: &Quotas,
    ) -> anyhow::Result<(Deployment, PipelineSpec)> {
        let file = dir.join("deployment.json");
        let record: DeploymentRecord = serde_json::from_slice(&std::fs::read(&file)?)
            .map_err(|err| anyhow::anyhow!("{} is damaged: {err}", file.display()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (deployment, spec) = Deployment::create(
            tenant,
            &name,
            dir,
            &record.spec,
            registry,
            quotas,
            record.pins.clone(),
        )
        .map_err(|err| anyhow::anyhow!("{}: {}", dir.display(), err.message))?;
        if let Ok(mut ours) = deployment.record.lock() {
            *ours = record;
        }
        Ok((deployment, spec))
    }

    /// Whether the pipeline should run when the server starts.
    pub fn wants_to_run(&self) -> bool {
        self.record.lock().is_ok_and(|r| r.running)
    }

    /// The deployment's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Plugin instances the pipeline runs.
    pub fn instances(&self) -> u64 {
        self.instances
    }

    /// Plugin instances a pipeline of `spec` runs.
    pub fn count_instances(spec: &PipelineSpec) -> u64 {
        spec.steps
            .iter()
            .map(|step| match &step.spec {
                StepSpec::Window {
                    custom,
                    trigger_plugins,
                    ..
                } => u64::from(custom.is_some()) + trigger_plugins.len() as u64,
                StepSpec::ParDo { .. } => 1,
                StepSpec::Combine { combine, .. } => {
                    u64::from(matches!(combine, CombineSpec::Plugin(_)))
                }
                StepSpec::Flatten { .. }
                | StepSpec::CoGroup { .. }
                | StepSpec::Repartition { .. } => 0,
                // The live model's evaluator, and room for a candidate's.
                StepSpec::Score { .. } => 2,
            })
            .sum()
    }

    /// Starts the pipeline's thread (resuming from its last checkpoint).
    pub fn start(&self, spec: PipelineSpec) -> Result<(), ApiError> {
        let mut running = self.running.lock().map_err(ApiError::internal)?;
        if running.as_ref().is_some_and(|r| !r.thread.is_finished()) {
            return Err(ApiError::conflict(format!(
                "pipeline {} is already running",
                self.name
            )));
        }
        if let Ok(mut record) = self.record.lock() {
            record.running = true;
            // A new run starts with its live models only.
            record.candidates.clear();
        }
        self.save()?;
        let (commands, receiver) = mpsc::channel();
        let control = Control {
            commands: receiver,
            wakeup: self.wakeup.clone(),
            ingest: self.log.followed(INGEST_LOG),
            status: self.status.clone(),
        };
        let options = RunOptions {
            progress: false,
            state: StateOptions {
                dir: self.dir.join("state"),
                backend: Backend::Rocksdb,
                from_checkpoint: None,
                fresh: false,
            },
            ..RunOptions::default()
        };
        if let Ok(mut outcome) = self.outcome.lock() {
            *outcome = Outcome::Running;
        }
        let reported = self.outcome.clone();
        let label = format!("{}/{}", self.tenant, self.name);
        let tenant_dir = self.tenant_dir();
        let thread = std::thread::Builder::new()
            .name(format!("pipeline {label}"))
            .spawn(move || {
                let result = millrace_runner::run_controlled(&spec, &options, control);
                let finished = match result {
                    Ok(summary) => {
                        tracing::info!("{label}: {summary}");
                        None
                    }
                    Err(err) => {
                        tracing::warn!("{label} failed: {err}");
                        Some(Outcome::Failed(err.to_string().replace(&tenant_dir, "")))
                    }
                };
                if let Ok(mut outcome) = reported.lock() {
                    *outcome = finished.unwrap_or(match *outcome {
                        Outcome::Stopped => Outcome::Stopped,
                        _ => Outcome::Finished,
                    });
                }
            })
            .map_err(ApiError::internal)?;
        *running = Some(Running { commands, thread });
        Ok(())
    }

    /// Appends JSON Lines to the ingest log, durably and whole or not at all, and
    /// wakes the pipeline. Returns how many lines were accepted.
    pub fn ingest(&self, body: &[u8]) -> Result<u64, ApiError> {
        if !self.is_running() {
            return Err(ApiError::conflict(format!(
                "pipeline {} is not running",
                self.name
            )));
        }
        let lines = self.log.append(body).map_err(|err| {
            let message = format!("none of these records were accepted; send them again: {err}");
            match err.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT) => ApiError::insufficient_storage(message),
                _ => ApiError::internal(message),
            }
        })?;
        self.wakeup.wake();
        Ok(lines)
    }

    /// The tenant's folder with a trailing `/`: messages to the tenant name paths
    /// inside it only, not where the server keeps it.
    fn tenant_dir(&self) -> String {
        self.dir
            .ancestors()
            .nth(2)
            .map(|dir| format!("{}/", dir.display()))
            .unwrap_or_default()
    }

    /// Whether the thread runs.
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .is_ok_and(|r| r.as_ref().is_some_and(|r| !r.thread.is_finished()))
    }

    /// Stops the pipeline (see [`Command::Stop`]) and waits for it.
    pub fn stop(&self, drain: bool) -> Result<(), ApiError> {
        self.halt(drain)?;
        if let Ok(mut record) = self.record.lock() {
            record.running = false;
        }
        self.save()
    }

    /// Stops the pipeline at a checkpoint for a server shutdown: it starts again
    /// with the server.
    pub fn pause_for_shutdown(&self) -> Result<(), ApiError> {
        self.halt(false)
    }

    fn halt(&self, drain: bool) -> Result<(), ApiError> {
        let _steering = self.steering.lock().map_err(ApiError::internal)?;
        let running = self.running.lock().map_err(ApiError::internal)?.take();
        if let Some(running) = running {
            if !drain && let Ok(mut outcome) = self.outcome.lock() {
                *outcome = Outcome::Stopped;
            }
            let _ = running.commands.send(Command::Stop { drain });
            self.wakeup.wake();
            let _ = running.thread.join();
        }
        Ok(())
    }

    /// Swaps the plugin of `step` to `reference` (`name@version`), for `by`.
    pub fn swap(
        &self,
        step: &str,
        reference: &str,
        tenant: &TenantScope<'_>,
        rollback: bool,
    ) -> Result<SwapRecord, ApiError> {
        let TenantScope {
            registry,
            quotas,
            by,
        } = *tenant;
        let _steering = self.steering.lock().map_err(ApiError::internal)?;
        let (spec, pin) = self.plugin_step(step, registry, quotas)?;
        let Some(mut plugin_spec) = step_plugin(&spec, step).cloned() else {
            return Err(ApiError::invalid(format!(
                "{step} cannot be swapped while the pipeline runs (pardo and combine plugins \
                 can, and a score step's model: swap it with --model); deploy the pipeline \
                 again to change it"
            )));
        };
        let (plugin, version, path) = registry
            .plugins
            .resolve(reference)
            .map_err(ApiError::not_found)?;
        let kind = step_kind(&spec, step);
        if Some(plugin.kind) != kind {
            return Err(ApiError::invalid(format!(
                "{step} needs a {} plugin; {} is a {} plugin",
                kind.map_or("?", PluginKind::name),
                plugin.name,
                plugin.kind
            )));
        }
        if version == pin.version {
            return Err(ApiError::conflict(format!(
                "{step} already runs {}@{}",
                plugin.name,
                short(version.as_str())
            )));
        }
        plugin_spec.path = path;
        plugin_spec.shown_as = Some(format!("{}@{}", plugin.name, short(version.as_str())));
        // Off the hot path: compile, instantiate and start the new version here,
        // on the caller's thread; the pipeline only moves it in.
        let replacement = millrace_wasm::prepare(plugin.kind, &plugin_spec, step)
            .map_err(|err| ApiError::invalid(err.to_string().replace(&self.tenant_dir(), "")))?;
        let point = self.send_swap(step, replacement)?;
        self.record_swap(step, &pin, (plugin.name, version), by, point, rollback)
    }

    /// Swaps `step` back to the version it ran before its last swap (a score
    /// step: its model).
    pub fn rollback(&self, step: &str, tenant: &TenantScope<'_>) -> Result<SwapRecord, ApiError> {
        // A score step's pin is its model's; a plugin step's, its own path.
        let (pin, model) = match self.pin(&model_pin(step))? {
            Some(pin) => (pin, true),
            None => (
                self.pin(step)?.ok_or_else(|| {
                    ApiError::not_found(format!("{} has no plugin step {step}", self.name))
                })?,
                false,
            ),
        };
        let Some(previous) = pin.previous.last() else {
            let what = if model { "model version" } else { "version" };
            return Err(ApiError::conflict(format!(
                "{step} runs its first {what}: there is nothing to roll back to"
            )));
        };
        if model {
            self.swap_model(step, previous, tenant, true)
        } else {
            self.swap(step, previous, tenant, true)
        }
    }

    /// Swaps the live model of the score step `step` to `reference`
    /// (`name@version`), for `by`; the new model is loaded and checked first, off
    /// the pipeline's thread.
    pub fn swap_model(
        &self,
        step: &str,
        reference: &str,
        tenant: &TenantScope<'_>,
        rollback: bool,
    ) -> Result<SwapRecord, ApiError> {
        let _steering = self.steering.lock().map_err(ApiError::internal)?;
        let (evaluator, pin) = self.score_step(step, tenant)?;
        let (model, version, scorer) = self.load_model(step, reference, &evaluator, tenant)?;
        if version == pin.version {
            return Err(ApiError::conflict(format!(
                "{step} already runs the model {}@{}",
                model,
                short(version.as_str())
            )));
        }
        let change = ModelChange::Live(scorer);
        let point = self.send_swap(step, Prepared::Model(Box::new(change)))?;
        self.record_swap(
            &model_pin(step),
            &pin,
            (model, version),
            tenant.by,
            point,
            rollback,
        )
    }

    /// Starts, promotes or drops a candidate model of the score step `step` (or
    /// swaps its live model), for `by`. Returns what was done, as the API reports
    /// it.
    pub fn move_model(
        &self,
        step: &str,
        change: &ModelMove,
        tenant: &TenantScope<'_>,
    ) -> Result<serde_json::Value, ApiError> {
        let (reference, share) = match change {
            ModelMove::Swap(reference) => {
                return to_json(&self.swap_model(step, reference, tenant, false)?);
            }
            ModelMove::Shadow(reference) => (reference, None),
            ModelMove::Canary(reference, share) => {
                if !(0.0..=1.0).contains(share) {
                    return Err(ApiError::invalid(format!(
                        "a canary's share is from 0 to 1, not {share}"
                    )));
                }
                (reference, Some(*share))
            }
            ModelMove::Promote | ModelMove::Dismiss => {
                let _steering = self.steering.lock().map_err(ApiError::internal)?;
                let (_, pin) = self.score_step(step, tenant)?;
                let candidate = self
                    .record
                    .lock()
                    .map_err(ApiError::internal)?
                    .candidates
                    .get(step)
                    .cloned()
                    .ok_or_else(|| ApiError::conflict(format!("{step} runs no candidate model")))?;
                let promote = *change == ModelMove::Promote;
                let change = if promote {
                    ModelChange::Promote
                } else {
                    ModelChange::Dismiss
                };
                let point = self.send_swap(step, Prepared::Model(Box::new(change)))?;
                if let Ok(mut record) = self.record.lock() {
                    record.candidates.remove(step);
                }
                if promote {
                    let record = self.record_swap(
                        &model_pin(step),
                        &pin,
                        (candidate.model, candidate.version),
                        tenant.by,
                        point,
                        false,
                    )?;
                    return to_json(&record);
                }
                self.save()?;
                return to_json(&serde_json::json!({"step": step, "dismissed": candidate}));
            }
        };
        let _steering = self.steering.lock().map_err(ApiError::internal)?;
        let (evaluator, _) = self.score_step(step, tenant)?;
        let (model, version, scorer) = self.load_model(step, reference, &evaluator, tenant)?;
        let (change, role) = match share {
            None => (ModelChange::Shadow(scorer), "shadow".to_owned()),
            Some(share) => (
                ModelChange::Canary { scorer, share },
                format!("canary {share}"),
            ),
        };
        self.send_swap(step, Prepared::Model(Box::new(change)))?;
        let candidate = CandidatePin {
            model,
            version,
            role,
        };
        if let Ok(mut record) = self.record.lock() {
            record.candidates.insert(step.to_owned(), candidate.clone());
        }
        self.save()?;
        to_json(&serde_json::json!({"step": step, "candidate": candidate}))
    }

    /// The pin `key` (a plugin step's path, or a score step's `….model`).
    fn pin(&self, key: &str) -> Result<Option<Pin>, ApiError> {
        Ok(self
            .record
            .lock()
            .map_err(ApiError::internal)?
            .pins
            .get(key)
            .cloned())
    }

    /// The evaluator of the score step `step` as it runs, and its model's pin.
    fn score_step(
        &self,
        step: &str,
        tenant: &TenantScope<'_>,
    ) -> Result<(PluginSpec, Pin), ApiError> {
        let spec = self.spec(tenant.registry, tenant.quotas)?;
        let evaluator = spec.steps.iter().find_map(|s| match &s.spec {
            StepSpec::Score {
                path, evaluator, ..
            } if path == step => Some(evaluator.clone()),
            _ => None,
        });
        let Some(evaluator) = evaluator else {
            return Err(ApiError::not_found(format!(
                "{} has no score step {step}",
                self.name
            )));
        };
        let pin = self
            .pin(&model_pin(step))?
            .ok_or_else(|| ApiError::internal(format!("{step}'s model is not pinned")))?;
        Ok((evaluator.unwrap_or_else(default_evaluator), pin))
    }

    /// Loads the model `reference` for `step` with `evaluator` and checks it
    /// against its reference set.
    fn load_model(
        &self,
        step: &str,
        reference: &str,
        evaluator: &PluginSpec,
        tenant: &TenantScope<'_>,
    ) -> Result<(PluginName, Sha256, WasmScorer), ApiError> {
        let (model, version, path) = tenant
            .registry
            .models
            .resolve(reference)
            .map_err(ApiError::not_found)?;
        let file = ModelFile::read(&path, model.name.as_str())
            .map_err(|err| ApiError::internal(err.to_string().replace(&self.tenant_dir(), "")))?;
        let scorer = WasmScorer::load(evaluator, &file, step)
            .map_err(|err| ApiError::invalid(err.to_string().replace(&self.tenant_dir(), "")))?;
        Ok((model.name, version, scorer))
    }

    /// Records that what the pin `key` names (a plugin step, or a score step's
    /// model) runs `name@version` from `point` on, in place of `before`.
    fn record_swap(
        &self,
        key: &str,
        before: &Pin,
        (name, version): (PluginName, Sha256),
        by: &str,
        point: SwapPoint,
        rollback: bool,
    ) -> Result<SwapRecord, ApiError> {
        let record = SwapRecord {
            step: key.to_owned(),
            plugin: name.clone(),
            from: before.version.clone(),
            to: version.clone(),
            by: by.to_owned(),
            at: wall_clock_now(),
            position: point.records_read,
            watermark: point.watermark,
            rollback,
        };
        if let Ok(mut stored) = self.record.lock() {
            if let Some(pin) = stored.pins.get_mut(key) {
                if rollback {
                    pin.previous.pop();
                } else {
                    pin.previous.push(format!("{}@{}", pin.plugin, pin.version));
                }
                pin.version = version;
                pin.plugin = name;
            }
            stored.swaps.push(record.clone());
        }
        self.save()?;
        Ok(record)
    }

    fn send_swap(&self, step: &str, replacement: Prepared) -> Result<SwapPoint, ApiError> {
        let guard = self.running.lock().map_err(ApiError::internal)?;
        let Some(running) = guard.as_ref().filter(|r| !r.thread.is_finished()) else {
            return Err(ApiError::conflict(format!(
                "pipeline {} is not running",
                self.name
            )));
        };
        let (reply, outcome) = mpsc::channel();
        running
            .commands
            .send(Command::Swap {
                step: step.to_owned(),
                replacement,
                reply,
            })
            .map_err(|_| ApiError::conflict(format!("pipeline {} stopped", self.name)))?;
        drop(guard);
        self.wakeup.wake();
        match outcome.recv_timeout(SWAP_TIMEOUT) {
            Ok(Ok(point)) => Ok(point),
            Ok(Err(reason)) => Err(ApiError::invalid(format!(
                "{step} keeps its version: {reason}"
            ))),
            Err(_) => Err(ApiError::internal(format!(
                "{} did not reach a batch boundary within {SWAP_TIMEOUT:?}; {step} keeps its version",
                self.name
            ))),
        }
    }

    /// The spec as it runs now: the deployed text with the current pins.
    pub fn spec(&self, registry: Shelves<'_>, quotas: &Quotas) -> Result<PipelineSpec, ApiError> {
        let record = self.record.lock().map_err(ApiError::internal)?.clone();
        served_spec(
            &self.name,
            &self.dir,
            &record.spec,
            registry,
            quotas,
            record.pins,
        )
        .map(|(spec, _)| spec)
    }

    /// The spec as it runs now and `step`'s pin.
    fn plugin_step(
        &self,
        step: &str,
        registry: Shelves<'_>,
        quotas: &Quotas,
    ) -> Result<(PipelineSpec, Pin), ApiError> {
        let spec = self.spec(registry, quotas)?;
        let record = self.record.lock().map_err(ApiError::internal)?;
        let pin = record.pins.get(step).cloned().ok_or_else(|| {
            let steps: Vec<&String> = record.pins.keys().collect();
            ApiError::not_found(format!(
                "{} has no plugin step {step}; its plugin steps are {steps:?}",
                self.name
            ))
        })?;
        Ok((spec, pin))
    }

    /// The pipeline's status.
    pub fn status(&self) -> Status {
        let live = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        let record = self.record.lock().map(|r| r.clone());
        let (pins, swaps) = record.map(|r| (r.pins, r.swaps)).unwrap_or_default();
        let outcome = self.outcome.lock().map(|o| o.clone()).unwrap_or_default();
        let watermark_lag_ms = watermark_lag(live.watermark, wall_clock_now());
        Status {
            name: self.name.clone(),
            outcome,
            checkpoint_age_s: live.last_checkpoint.map(|at| at.elapsed().as_secs_f64()),
            watermark_lag_ms,
            live,
            pins,
            swaps,
        }
    }

    /// Adds a sample of the pipeline's counters, taken `now`, to its history.
    pub fn sample(&self, now: Timestamp) {
        let sample = match self.status.lock() {
            Ok(live) => Sample::of(&live, now),
            Err(_) => return,
        };
        if let Ok(mut history) = self.history.lock() {
            history.record(sample);
        }
    }

    /// The pipeline's counters over the last minutes and its recent checkpoints.
    pub fn history(&self) -> HistoryView {
        let mut samples: Vec<Sample> = self
            .history
            .lock()
            .map(|history| history.samples().cloned().collect())
            .unwrap_or_default();
        let mut checkpoints = Vec::new();
        if let Ok(live) = self.status.lock() {
            checkpoints.extend(live.recent_checkpoints.iter().cloned());
            // The chart ends now, even after a stretch with nothing sampled anew.
            let now = Sample::of(&live, wall_clock_now());
            if samples.last().is_none_or(|last| last.at < now.at) {
                samples.push(now);
            }
        }
        HistoryView {
            interval_ms: u64::try_from(SAMPLE_EVERY.as_millis()).unwrap_or(u64::MAX),
            samples,
            checkpoints,
        }
    }

    /// The pipeline's graph.
    pub fn graph(&self) -> &GraphView {
        &self.graph
    }

    /// The committed output (`dead_letters`: the dead-letter output).
    pub fn output(&self, dead_letters: bool) -> Result<Vec<u8>, ApiError> {
        let name = if dead_letters {
            "out.dead.jsonl"
        } else {
            "out.jsonl"
        };
        match std::fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(ApiError::internal(err)),
        }
    }

    fn save(&self) -> Result<(), ApiError> {
        let record = self.record.lock().map_err(ApiError::internal)?.clone();
        super::write_json_atomically(&self.dir.join("deployment.json"), &record)
            .map_err(ApiError::internal)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// A served spec's graph as its tenant may see it: plugins are named by their
/// pins (the spec already shows them so), and the sink, which the server places
/// in the pipeline's folder, by its file name alone.
fn served_graph(spec: &PipelineSpec) -> GraphView {
    let mut graph = GraphView::of(spec);
    for node in &mut graph.nodes {
        if node.kind == NodeKind::Sink {
            node.label = "the pipeline's output, out.jsonl".to_owned();
        }
    }
    graph
}

/// The first 12 hex digits of a version.
pub fn short(version: &str) -> &str {
    &version[..version.len().min(12)]
}

/// Reads a spec as a served pipeline: plugins come from the tenant's registry
/// (pinned to `pins` where given), the source is `ingest`, outputs stay in the
/// pipeline's folder, and plugin limits fit the tenant's quotas.
fn served_spec(
    name: &str,
    dir: &Path,
    text: &str,
    registry: Shelves<'_>,
    quotas: &Quotas,
    mut pins: BTreeMap<String, Pin>,
) -> Result<(PipelineSpec, BTreeMap<String, Pin>), ApiError> {
    // Which plugin (or model) and version each resolved path is.
    let resolved = std::cell::RefCell::new(BTreeMap::new());
    let resolved_models = std::cell::RefCell::new(BTreeMap::new());
    let resolve = |name: &str| {
        registry
            .plugins
            .resolve(name)
            .map(|(plugin, version, path)| {
                resolved
                    .borrow_mut()
                    .insert(path.clone(), (plugin, version));
                path
            })
    };
    let resolve_model = |name: &str| {
        registry.models.resolve(name).map(|(model, version, path)| {
            resolved_models
                .borrow_mut()
                .insert(path.clone(), (model.name.clone(), version));
            ModelRef {
                path,
                name: model.name.to_string(),
            }
        })
    };
    let mut spec = spec::parse_with_registry(&dir.join(SPEC_FILE), text, &resolve, &resolve_model)
        .map_err(|mut err| {
            // The tenant knows the spec by this name, not where the server keeps it.
            err.file = PathBuf::from(SPEC_FILE);
            ApiError::invalid(err)
        })?;
    // The deployed name wins over the spec's: it names the state folder too.
    spec.name = name.to_owned();
    let invalid =
        |path: &str, message: &str| ApiError::invalid(format!("{SPEC_FILE}: {path}: {message}"));
    if !matches!(spec.only_source(), Some(SourceSpec::Ingest(_))) {
        return Err(invalid(
            "source",
            "a served pipeline reads what is pushed to it: use `source: {ingest: {...}}` \
             (one source: pipelines with several run with `millrace run`)",
        ));
    }
    let inside = |path: &Path| path.starts_with(dir) && path != dir;
    match spec.sinks.as_slice().first().map(|sink| &sink.spec) {
        Some(SinkSpec::File(path))
            if spec.sinks.len() == 1
                && inside(path)
                && path.file_name().is_some_and(|n| n == "out.jsonl") => {}
        _ => {
            return Err(invalid(
                "sink",
                "a served pipeline writes `sink: {file: out.jsonl}`",
            ));
        }
    }
    if spec.dead_letter.is_some() {
        return Err(invalid(
            "dead_letter",
            "a served pipeline's dead letters go to out.dead.jsonl; leave dead_letter out",
        ));
    }
    // Plugins: resolve names to versions (or to their pins), fit the quotas.
    let resolved = resolved.into_inner();
    for step in &mut spec.steps {
        for (path, kind, plugin) in step_plugins(&mut step.spec) {
            refuse_grants(plugin, &path)?;
            quotas.fit(&mut plugin.limits, &path)?;
            match pins.get(&path) {
                Some(pin) => {
                    plugin.path = registry.plugins.component(&pin.plugin, &pin.version);
                    plugin.shown_as = Some(pin.shown());
                }
                None => {
                    let (found, version) =
                        resolved.get(&plugin.path).cloned().ok_or_else(|| {
                            ApiError::internal(format!("{path}: its plugin was not resolved"))
                        })?;
                    // A plugin of another kind would start and then fail on the
                    // first record: refuse it now, naming both kinds.
                    if found.kind != kind {
                        return Err(invalid(
                            &path,
                            &format!(
                                "this step runs a {kind} plugin; {} is a {} plugin",
                                found.name, found.kind
                            ),
                        ));
                    }
                    let pin = Pin {
                        plugin: found.name,
                        version,
                        previous: Vec::new(),
                    };
                    plugin.shown_as = Some(pin.shown());
                    pins.insert(path, pin);
                }
            }
        }
        // A score step's model is pinned like a plugin; its evaluator, when the
        // spec names none, is the first-party one, within the tenant's quotas.
        if let StepSpec::Score {
            path,
            model,
            evaluator,
            ..
        } = &mut step.spec
        {
            let key = model_pin(path);
            match pins.get(&key) {
                Some(pin) => {
                    model.path = registry.models.component(&pin.plugin, &pin.version);
                    model.name = pin.plugin.to_string();
                }
                None => {
                    let (name, version) = resolved_models
                        .borrow()
                        .get(&model.path)
                        .cloned()
                        .ok_or_else(|| {
                            ApiError::internal(format!("{path}: its model was not resolved"))
                        })?;
                    pins.insert(
                        key,
                        Pin {
                            plugin: name,
                            version,
                            previous: Vec::new(),
                        },
                    );
                }
            }
            if evaluator.is_none() {
                let mut first_party = default_evaluator();
                quotas.fit(&mut first_party.limits, &format!("{path}.evaluator"))?;
                *evaluator = Some(first_party);
            }
        }
    }
    Ok((spec, pins))
}

/// Each plugin of `step`: the step path that names it (as pins and swaps do), the
/// kind it must be, and its spec.
fn step_plugins(step: &mut StepSpec) -> Vec<(String, PluginKind, &mut PluginSpec)> {
    match step {
        StepSpec::ParDo { path, plugin, .. } => vec![(path.clone(), PluginKind::Dofn, plugin)],
        StepSpec::Combine {
            path,
            combine: CombineSpec::Plugin(plugin),
        } => vec![(path.clone(), PluginKind::Combine, plugin)],
        StepSpec::Window {
            path,
            custom,
            trigger_plugins,
            ..
        } => custom
            .iter_mut()
            .map(|plugin| (format!("{path}.custom"), PluginKind::Window, plugin))
            .chain(trigger_plugins.iter_mut().enumerate().map(|(i, plugin)| {
                (
                    format!("{path}.trigger_plugins[{i}]"),
                    PluginKind::Trigger,
                    plugin,
                )
            }))
            .collect(),
        StepSpec::Score {
            path,
            evaluator: Some(plugin),
            ..
        } => vec![(format!("{path}.evaluator"), PluginKind::Scorer, plugin)],
        StepSpec::Combine { .. }
        | StepSpec::Flatten { .. }
        | StepSpec::CoGroup { .. }
        | StepSpec::Score { .. }
        | StepSpec::Repartition { .. } => Vec::new(),
    }
}

fn refuse_grants(plugin: &PluginSpec, step: &str) -> Result<(), ApiError> {
    if plugin.grants.network || !plugin.grants.read.is_empty() {
        return Err(ApiError::invalid(format!(
            "{SPEC_FILE}: {step}.grants: a served plugin gets no network or files"
        )));
    }
    Ok(())
}

/// The plugin of a `pardo` or plugin `combine` step.
fn step_plugin<'a>(spec: &'a PipelineSpec, step: &str) -> Option<&'a PluginSpec> {
    spec.steps.iter().find_map(|s| match &s.spec {
        StepSpec::ParDo { path, plugin, .. } if path == step => Some(plugin),
        StepSpec::Combine {
            path,
            combine: CombineSpec::Plugin(plugin),
        } if path == step => Some(plugin),
        _ => None,
    })
}

fn step_kind(spec: &PipelineSpec, step: &str) -> Option<PluginKind> {
    spec.steps.iter().find_map(|s| match &s.spec {
        StepSpec::ParDo { path, .. } if path == step => Some(PluginKind::Dofn),
        StepSpec::Combine { path, .. } if path == step => Some(PluginKind::Combine),
        _ => None,
    })
}
