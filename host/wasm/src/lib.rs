//! The WebAssembly layer of millrace: user code as sandboxed components (the WIT
//! contract is in `wit/`), and the adapters that make a component a CombineFn
//! ([`combine`]), DoFn ([`dofn`]), window function ([`window`]) or data-driven trigger
//! ([`trigger`]) of the model (`millrace_model`).
//!
//! A plugin is loaded from a `.wasm` component or from a plugin crate folder, which
//! the host builds for `wasm32-wasip2`. It is checked against the world its step
//! needs (a missing export is named), compiled once — the compiled artifact is cached
//! on disk by content hash — and instantiated from a pre-instantiated template with
//! the pooling allocator.
//!
//! Each plugin runs in a [`Sandbox`]: its own store with a memory cap, a CPU budget
//! per call (epoch interruption), a cap on output size, and no clock, files or
//! network unless granted. A call that traps costs the plugin its instance only; the
//! caller re-runs the batch element by element ([`isolate`]) to find the poison
//! elements, and after too many faults in a row the step is quarantined.

pub mod bindings;
mod build;
pub mod combine;
pub mod dofn;
mod host;
pub mod scorer;
pub mod swap;
pub mod trigger;
pub mod window;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use bindings::{Blobs, Elements};
pub use build::{Language, build_crate, build_plugin, guest_sdk};
pub use host::Metrics;
use host::{LogTail, PluginData};
pub use millrace_model::isolate::{Attempt, Isolated, isolate};
use millrace_model::pipeline::PluginStatus;
use millrace_model::record::Record;
use millrace_model::window::Window;
pub use swap::{Prepared, prepare};

/// How often the CPU-budget clock ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The shortest and longest rest of a step after a fault (see `Sandbox::rest`).
const MIN_REST: Duration = Duration::from_millis(10);
const MAX_REST: Duration = Duration::from_secs(2);

/// Resource limits of a plugin instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory: u64,
    /// CPU time per call.
    pub cpu_per_call: Duration,
    /// Output per call, in bytes.
    pub output: u64,
    /// Faults in a row after which the step is quarantined.
    pub max_faults: u32,
}

impl Default for Limits {
    /// 64 MiB of memory, 1 s of CPU and 64 MiB of output per call, 5 faults.
    fn default() -> Self {
        Limits {
            memory: 64 << 20,
            cpu_per_call: Duration::from_secs(1),
            output: 64 << 20,
            max_faults: 5,
        }
    }
}

/// What a plugin may reach beyond its own memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// The real clock (otherwise it reads the epoch).
    pub clock: bool,
    /// The network.
    pub network: bool,
    /// Directories it may read.
    pub read: Vec<PathBuf>,
}

/// A kind of plugin: which world it implements (and which SDK trait).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A DoFn, for `pardo` steps.
    Dofn,
    /// A CombineFn, for `combine` steps.
    Combine,
    /// A custom window function, for `window: {custom: …}`.
    Window,
    /// A data-driven trigger, for `trigger: {plugin: …}`.
    Trigger,
    /// A model evaluator, for `score` steps.
    Scorer,
}

impl PluginKind {
    /// The kind's name, as the CLI and the API spell it.
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Dofn => "dofn",
            PluginKind::Combine => "combine",
            PluginKind::Window => "window",
            PluginKind::Trigger => "trigger",
            PluginKind::Scorer => "scorer",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<PluginKind> {
        [
            PluginKind::Dofn,
            PluginKind::Combine,
            PluginKind::Window,
            PluginKind::Trigger,
            PluginKind::Scorer,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A plugin as a spec names it.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginSpec {
    /// A `.wasm` component or a plugin crate folder.
    pub path: PathBuf,
    /// What messages call it (a served plugin's `name@version`); `None`: its path.
    pub shown_as: Option<String>,
    /// The step's configuration, handed to the plugin as JSON.
    pub config: serde_json::Value,
    /// Resource limits.
    pub limits: Limits,
    /// Capabilities beyond computation.
    pub grants: Grants,
    /// The model a scorer loads (scorers only).
    pub model: Option<Arc<ModelFile>>,
}

/// A model file, as a scorer receives it: its bytes and how messages and outputs
/// name it.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The file's bytes.
    pub bytes: Arc<[u8]>,
    /// The model as outputs and messages name it: `name@version` (the version
    /// shortened to 12 digits).
    pub shown: String,
}

impl fmt::Debug for ModelFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelFile")
            .field("shown", &self.shown)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The largest model file read.
pub const MAX_MODEL_FILE: u64 = 256 << 20;

impl ModelFile {
    /// The model `bytes`, named `name` (a file's stem, a served model's name).
    pub fn new(name: &str, bytes: Vec<u8>) -> ModelFile {
        let sha256 = hex(&Sha256::digest(&bytes));
        ModelFile {
            shown: format!("{name}@{}", &sha256[..12]),
            bytes: Arc::from(bytes),
        }
    }

    /// Reads the model file at `path` (a regular file of at most
    /// [`MAX_MODEL_FILE`], read as components are), named `name`.
    pub fn read(path: &Path, name: &str) -> Result<ModelFile, PluginError> {
        let bytes =
            read_bounded_file(path, MAX_MODEL_FILE).map_err(|message| PluginError::Model {
                model: path.display().to_string(),
                message: format!("cannot read it: {message}"),
            })?;
        Ok(ModelFile::new(name, bytes))
    }
}

impl PluginSpec {
    /// A plugin at `path` with no configuration, default limits and no grants.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PluginSpec {
            path: path.into(),
            shown_as: None,
            config: serde_json::json!({}),
            limits: Limits::default(),
            grants: Grants::default(),
            model: None,
        }
    }

    /// What messages call the plugin.
    pub fn shown(&self) -> String {
        self.shown_as
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// A plugin that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read the plugin {path}: {message}")]
    Read {
        /// The plugin.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A plugin folder did not build.
    #[error("cannot build the plugin {dir}: {message}")]
    Build {
        /// The crate folder.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is not a WebAssembly component.
    #[error("{path} is not a WebAssembly component: {message}")]
    NotComponent {
        /// The plugin.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// The component does not implement the world the step needs.
    #[error("{path} does not export {missing}, which a {kind} step needs (it exports {found})")]
    MissingExport {
        /// The plugin.
        path: PathBuf,
        /// What kind of plugin the step needs.
        kind: &'static str,
        /// The missing export.
        missing: String,
        /// What it does export.
        found: String,
    },
    /// The component needs imports the host does not provide.
    #[error("{path} cannot be linked: {message}")]
    Link {
        /// The plugin.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// Only DoFns and combine functions can be swapped.
    #[error("a {kind:?} plugin cannot be swapped into a running step")]
    NotSwappable {
        /// The kind offered.
        kind: PluginKind,
    },
    /// A model cannot be used: it does not load, or does not reproduce its
    /// reference set.
    #[error("the model {model} cannot be used: {message}")]
    Model {
        /// The model, as messages name it.
        model: String,
        /// What is wrong with it.
        message: String,
    },
    /// The plugin failed to start (its `init` failed or trapped).
    #[error("{path} failed to start: {message}")]
    Init {
        /// The plugin.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// What a faulted plugin call did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The call failed with an error that is not a trap, or a new instance could
    /// not be started for it.
    Error,
    /// The plugin trapped: a panic, an `unreachable`, an access out of bounds.
    Trap,
    /// The call ran past its CPU limit ([`Limits::cpu_per_call`]).
    CpuLimit,
    /// The plugin grew its memory past its limit ([`Limits::memory`]).
    MemoryLimit,
    /// The call returned more output than its limit ([`Limits::output`]).
    OutputLimit,
}

/// A plugin call that trapped or broke a limit: its instance is gone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Fault {
    /// What it did wrong.
    pub kind: FaultKind,
    /// What it did wrong, for people: the limit it broke or the trap, and what the
    /// plugin printed (a Rust panic's message in place of the trap it ends in).
    pub message: String,
}

/// Why a call into a plugin did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call faulted; the next call gets a new instance.
    #[error(transparent)]
    Fault(Fault),
    /// Too many faults in a row: the step must stop. The message names the plugin
    /// and the count; the fault is the last one.
    #[error("{message}")]
    Quarantined {
        /// Why the step stops.
        message: String,
        /// The last fault.
        last: Fault,
    },
}

impl CallError {
    /// The message for people.
    pub fn into_message(self) -> String {
        match self {
            CallError::Fault(fault) => fault.message,
            CallError::Quarantined { message, .. } => message,
        }
    }
}

/// The engine, linkers and compile cache shared by all plugins of a process.
pub struct Runtime {
    engine: Engine,
    dofn: Linker<PluginData>,
    combine: Linker<PluginData>,
    window: Linker<PluginData>,
    trigger: Linker<PluginData>,
    scorer: Linker<PluginData>,
    cache_dir: Option<PathBuf>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

static RUNTIME: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();

impl Runtime {
    /// The process's runtime, created on first use.
    pub fn shared() -> Result<Arc<Runtime>, PluginError> {
        RUNTIME
            .get_or_init(|| Runtime::new().map(Arc::new).map_err(|err| err.to_string()))
            .clone()
            .map_err(|message| PluginError::Init {
                path: PathBuf::from("(runtime)"),
                message,
            })
    }

    fn new() -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(2000)
            .total_core_instances(8000)
            .total_memories(2000)
            .total_tables(8000)
            .total_stacks(2000)
            .max_memory_size(1 << 30);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config)?;
        // The CPU budget of a call is counted in epoch ticks.
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("millrace-epoch".to_owned())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|err| wasmtime::Error::msg(err.to_string()))?;
        let linker =
            |add: fn(&mut Linker<PluginData>) -> wasmtime::Result<()>| -> wasmtime::Result<_> {
                let mut linker = Linker::new(&engine);
                wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
                add(&mut linker)?;
                Ok(linker)
            };
        Ok(Runtime {
            dofn: linker(|l| bindings::dofn::DofnPlugin::add_to_linker::<_, HasSelf<_>>(l, |d| d))?,
            combine: linker(|l| {
                bindings::combine::CombinePlugin::add_to_linker::<_, HasSelf<_>>(l, |d| d)
            })?,
            window: linker(|l| {
                bindings::window::WindowPlugin::add_to_linker::<_, HasSelf<_>>(l, |d| d)
            })?,
            trigger: linker(|l| {
                bindings::trigger::TriggerPlugin::add_to_linker::<_, HasSelf<_>>(l, |d| d)
            })?,
            scorer: linker(|l| {
                bindings::scorer::ScorerPlugin::add_to_linker::<_, HasSelf<_>>(l, |d| d)
            })?,
            cache_dir: cache_dir(),
            engine,
        })
    }

    /// Loads and compiles the component at `path` (building it first if it is a
    /// plugin folder, [`build_plugin`]), reusing the on-disk compile cache.
    pub fn component(&self, path: &Path) -> Result<(Component, PathBuf, String), PluginError> {
        let wasm_path = if path.is_dir() {
            build::build_plugin(path)?
        } else {
            path.to_owned()
        };
        let bytes = read_bounded_file(&wasm_path, MAX_COMPONENT_FILE).map_err(|message| {
            PluginError::Read {
                path: path.to_owned(),
                message,
            }
        })?;
        let hash = hex(&Sha256::digest(&bytes));
        let not_component = |message: String| PluginError::NotComponent {
            path: path.to_owned(),
            message,
        };
        if !bytes.starts_with(b"\0asm") {
            return Err(not_component(
                "it does not start with the WebAssembly magic number".to_owned(),
            ));
        }
        let cached = self.cache_path(&hash);
        if let Some(cached) = &cached
            && cached.exists()
        {
            // SAFETY: the file was written by `Component::serialize` of this same
            // engine configuration (the key includes its compatibility hash) and is
            // only ever replaced atomically.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, cached) } {
                return Ok((component, wasm_path, hash));
            }
        }
        let component = Component::new(&self.engine, &bytes)
            .map_err(|err| not_component(format!("{err:#}")))?;
        if let (Some(cached), Ok(serialized)) = (cached, component.serialize()) {
            // A cache that cannot be written only costs a recompile next time.
            let temp = cached.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&temp, serialized).is_ok() {
                let _ = std::fs::rename(&temp, &cached);
            }
        }
        Ok((component, wasm_path, hash))
    }

    fn cache_path(&self, hash: &str) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.cache_dir.as_ref()?;
        std::fs::create_dir_all(dir).ok()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        Some(dir.join(format!("{hash}-{:016x}.cwasm", hasher.finish())))
    }

    /// Checks that the component at `path` is a component that implements `W`'s
    /// world and links against the host, without starting it.
    pub fn check<W: World>(&self, path: &Path) -> Result<(), PluginError> {
        let (component, _, _) = self.component(path)?;
        check_exports::<W>(self, &component, path)?;
        W::pre(W::linker(self), &component).map_err(|err| PluginError::Link {
            path: path.to_owned(),
            message: format!("{err:#}"),
        })?;
        Ok(())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MILLRACE_CACHE_DIR") {
        return Some(PathBuf::from(dir).join("components"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("millrace").join("components"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A kind of plugin: a world of the WIT package.
pub trait World: 'static {
    /// The instantiated bindings.
    type Bindings;
    /// The pre-instantiated template.
    type Pre: Clone;
    /// What `init` reports.
    type Info: Clone;
    /// The step kind, for messages ("CombineFn").
    const KIND: &'static str;
    /// The interface the component must export.
    const EXPORT: &'static str;

    /// The linker for this world.
    fn linker(runtime: &Runtime) -> &Linker<PluginData>;
    /// Builds the template.
    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre>;
    /// Instantiates the template.
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Self::Bindings>;
    /// Calls the plugin's `init`.
    fn init(
        bindings: &Self::Bindings,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<Self::Info, String>>;
}

/// A live instance of a plugin.
struct Live<W: World> {
    store: Store<PluginData>,
    bindings: W::Bindings,
}

/// A plugin instance with its limits and fault accounting; see the module docs.
pub struct Sandbox<W: World> {
    runtime: Arc<Runtime>,
    pre: W::Pre,
    spec: PluginSpec,
    label: Arc<str>,
    log: LogTail,
    metrics: Arc<Mutex<Metrics>>,
    live: Option<Live<W>>,
    info: W::Info,
    faults_in_a_row: u32,
    faults: u64,
    hash: String,
}

impl<W: World> Sandbox<W> {
    /// Loads the plugin `spec` names for a step called `step`, checks it against the
    /// world, and starts it once to validate its configuration.
    pub fn new(spec: &PluginSpec, step: &str) -> Result<Self, PluginError> {
        let runtime = Runtime::shared()?;
        let (component, _wasm, hash) = runtime.component(&spec.path)?;
        check_exports::<W>(&runtime, &component, &spec.path)?;
        let pre = W::pre(W::linker(&runtime), &component).map_err(|err| PluginError::Link {
            path: spec.path.clone(),
            message: format!("{err:#}"),
        })?;
        let label: Arc<str> = Arc::from(format!("{step} ({})", spec.shown()));
        let log = LogTail::default();
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let (live, info) =
            start::<W>(&runtime, &pre, spec, &label, &log, &metrics).map_err(|fault| {
                PluginError::Init {
                    path: spec.path.clone(),
                    message: fault.message,
                }
            })?;
        Ok(Sandbox {
            runtime,
            pre,
            spec: spec.clone(),
            label,
            log,
            metrics,
            live: Some(live),
            info,
            faults_in_a_row: 0,
            faults: 0,
            hash,
        })
    }

    /// What the plugin's `init` reported.
    pub fn info(&self) -> &W::Info {
        &self.info
    }

    /// The plugin's counters and gauges.
    pub fn metrics(&self) -> Metrics {
        self.metrics.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// How many calls faulted so far.
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// The sha256 of the component.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Its version and fault count, for status reports.
    pub fn status(&self) -> PluginStatus {
        PluginStatus {
            version: self.hash.clone(),
            faults: self.faults,
        }
    }

    /// The plugin as the spec named it.
    pub fn spec(&self) -> &PluginSpec {
        &self.spec
    }

    /// The limits the plugin runs under.
    pub fn limits(&self) -> &Limits {
        &self.spec.limits
    }

    /// Replaces the live instance with a fresh one from the template, as happens
    /// after a fault; the error is why the new instance could not start.
    pub fn restart(&mut self) -> Result<(), Fault> {
        self.live = None;
        let (live, _) = start::<W>(
            &self.runtime,
            &self.pre,
            &self.spec,
            &self.label,
            &self.log,
            &self.metrics,
        )?;
        self.live = Some(live);
        Ok(())
    }

    /// Calls into the plugin. A trap, a blown CPU budget or memory cap, or output
    /// larger than the limit (as reported by `size`) is a fault: the instance is
    /// dropped and re-created for the next call.
    pub fn call<R>(
        &mut self,
        f: impl FnOnce(&W::Bindings, &mut Store<PluginData>) -> wasmtime::Result<R>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let outcome = self.try_call(f, size);
        if let Err(CallError::Fault(_)) = &outcome {
            self.rest(started.elapsed());
        }
        outcome
    }

    /// After a fault, the step waits before it calls the plugin again: as long as
    /// the faulty call ran (at least [`MIN_REST`]), four times longer for each
    /// further fault in a row, at most [`MAX_REST`]. A plugin that keeps faulting
    /// thus takes a small share of a core, whatever its CPU limit, until it is
    /// quarantined; the other pipelines on the host keep theirs.
    ///
    /// The thread that runs the step also drops to a lower CPU priority (see
    /// [`lower_thread_priority`]), so that the calls of a plugin that has shown it
    /// faults yield to every other pipeline's when the host is busy.
    fn rest(&self, ran: Duration) {
        lower_thread_priority();
        let steps = self.faults_in_a_row.saturating_sub(1).min(8);
        let rest = ran
            .max(MIN_REST)
            .saturating_mul(1 << (2 * steps))
            .min(MAX_REST);
        std::thread::sleep(rest);
    }

    fn try_call<R>(
        &mut self,
        f: impl FnOnce(&W::Bindings, &mut Store<PluginData>) -> wasmtime::Result<R>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, CallError> {
        if self.live.is_none()
            && let Err(fault) = self.restart()
        {
            return Err(self.fault(fault));
        }
        let Some(live) = self.live.as_mut() else {
            return Err(self.fault(Fault {
                kind: FaultKind::Error,
                message: "the plugin could not be started".to_owned(),
            }));
        };
        let ticks =
            (self.spec.limits.cpu_per_call.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        live.store.set_epoch_deadline(ticks);
        live.store.data_mut().limiter.denied = false;
        live.store.data().log.clear();
        match f(&live.bindings, &mut live.store) {
            // A runtime that turns a refused memory.grow into an error of its own
            // (QuickJS's "out of memory", a caught MemoryError) goes on in a state
            // no one can vouch for: the call is the memory fault it is, as a trap.
            Ok(_) if live.store.data().limiter.denied => {
                let fault = memory_fault(&live.store, &self.spec.limits);
                self.live = None;
                Err(self.fault(fault))
            }
            Ok(result) => {
                let bytes = size(&result);
                if bytes as u64 > self.spec.limits.output {
                    let message = format!(
                        "returned {} of output, more than its limit of {}",
                        format_bytes(bytes as u64),
                        format_bytes(self.spec.limits.output)
                    );
                    self.live = None;
                    return Err(self.fault(Fault {
                        kind: FaultKind::OutputLimit,
                        message,
                    }));
                }
                self.faults_in_a_row = 0;
                Ok(result)
            }
            Err(err) => {
                let fault = describe_fault(&err, &live.store, &self.spec.limits);
                self.live = None;
                Err(self.fault(fault))
            }
        }
    }

    fn fault(&mut self, fault: Fault) -> CallError {
        self.faults += 1;
        self.faults_in_a_row += 1;
        tracing::warn!(plugin = %self.label, kind = ?fault.kind, "plugin fault: {}", fault.message);
        if self.faults_in_a_row >= self.spec.limits.max_faults {
            CallError::Quarantined {
                message: format!(
                    "quarantined after {} faults in a row of the plugin {}; the last: {}",
                    self.faults_in_a_row,
                    self.spec.shown(),
                    fault.message
                ),
                last: fault,
            }
        } else {
            CallError::Fault(fault)
        }
    }
}

/// The nice value a thread takes after a plugin it runs faulted: a tenth of a
/// normal thread's CPU weight under Linux's scheduler.
const FAULTED_NICE: libc::c_int = 10;

/// Lowers the calling thread's CPU priority to [`FAULTED_NICE`], once. It cannot
/// be raised again without privileges, so it lasts as long as the thread: a
/// served pipeline gets a fresh thread when it is started again. Linux only.
fn lower_thread_priority() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if LOWERED.with(|lowered| lowered.replace(true)) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority and gettid take plain integers and touch no memory;
        // with PRIO_PROCESS and a thread id, Linux changes that one thread.
        let changed = unsafe {
            libc::setpriority(
                libc::PRIO_PROCESS,
                libc::gettid() as libc::id_t,
                FAULTED_NICE,
            )
        };
        if changed != 0 {
            tracing::debug!(
                "cannot lower the thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Instantiates the template and calls `init`.
fn start<W: World>(
    runtime: &Runtime,
    pre: &W::Pre,
    spec: &PluginSpec,
    label: &Arc<str>,
    log: &LogTail,
    metrics: &Arc<Mutex<Metrics>>,
) -> Result<(Live<W>, W::Info), Fault> {
    let data = PluginData::new(spec, label.clone(), metrics.clone(), log.clone());
    let mut store = Store::new(runtime.engine(), data);
    store.limiter(|data| &mut data.limiter);
    store.epoch_deadline_trap();
    let ticks = (spec.limits.cpu_per_call.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    let bindings = W::instantiate(pre, &mut store)
        .map_err(|err| describe_fault(&err, &store, &spec.limits))?;
    let info = W::init(&bindings, &mut store)
        .map_err(|err| describe_fault(&err, &store, &spec.limits))?
        .map_err(|message| Fault {
            kind: FaultKind::Error,
            message: format!("init failed: {message}"),
        })?;
    Ok((Live { store, bindings }, info))
}

/// Says what a trap means, with what the plugin printed (a panic message, an
/// interpreter's last words). A broken limit is named first, since it is the cause
/// whatever the plugin said as it fell; otherwise a Rust panic's message replaces
/// the trap it ends in. The wasm backtrace is left to the debug log: a dead
/// letter's reason is for the person who wrote the plugin, not for its stack.
fn describe_fault(err: &wasmtime::Error, store: &Store<PluginData>, limits: &Limits) -> Fault {
    tracing::debug!("plugin fault: {err:?}");
    let (kind, message) = match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (
            FaultKind::CpuLimit,
            format!(
                "ran longer than its CPU limit of {} per call",
                millrace_model::time::format_duration(limits.cpu_per_call.as_millis() as i64)
            ),
        ),
        _ if store.data().limiter.denied => return memory_fault(store, limits),
        Some(trap) => (FaultKind::Trap, format!("trapped: {trap}")),
        None => match err.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => (FaultKind::Trap, format!("exited with status {}", exit.0)),
            None => (FaultKind::Error, err.root_cause().to_string()),
        },
    };
    with_printed(kind, message, store)
}

/// The fault of a call that was refused memory beyond its limit.
fn memory_fault(store: &Store<PluginData>, limits: &Limits) -> Fault {
    let message = format!(
        "exceeded its memory limit of {}",
        format_bytes(limits.memory)
    );
    with_printed(FaultKind::MemoryLimit, message, store)
}

/// `message`, then what the plugin printed; a Rust panic's message alone, unless a
/// limit was broken.
fn with_printed(kind: FaultKind, mut message: String, store: &Store<PluginData>) -> Fault {
    let printed = store.data().log.message();
    let limit_broken = matches!(kind, FaultKind::CpuLimit | FaultKind::MemoryLimit);
    if !limit_broken && let Some(at) = printed.find("panicked at ") {
        return Fault {
            kind,
            message: printed[at..].to_owned(),
        };
    }
    if !printed.is_empty() {
        message.push_str(": ");
        message.push_str(&printed);
    }
    Fault { kind, message }
}

/// Formats a size in bytes as KiB/MiB/GiB.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// The same component with a custom section `millrace-version` holding `tag`
/// appended: another version (another sha256) that computes the same thing, to
/// rehearse swaps with.
pub fn retag(component: &[u8], tag: &str) -> Vec<u8> {
    const NAME: &[u8] = b"millrace-version";
    let mut payload = vec![NAME.len() as u8];
    payload.extend_from_slice(NAME);
    payload.extend_from_slice(tag.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // the id of a custom section
    let mut size = payload.len();
    loop {
        // The section's size, unsigned LEB128.
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(&payload);
    bytes
}

/// Checks that the component exports what the world needs, naming what is missing.
fn check_exports<W: World>(
    runtime: &Runtime,
    component: &Component,
    path: &Path,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(runtime.engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|name| name == W::EXPORT) {
        return Ok(());
    }
    Err(PluginError::MissingExport {
        path: path.to_owned(),
        kind: W::KIND,
        missing: W::EXPORT.to_owned(),
        found: if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        },
    })
}

/// Turns a call's outcome into an [`Attempt`], or the quarantine message.
pub fn attempt<T>(outcome: Result<Result<T, String>, CallError>) -> Result<Attempt<T>, String> {
    match outcome {
        Ok(Ok(value)) => Ok(Attempt::Done(value)),
        Ok(Err(message)) => Ok(Attempt::Failed(message)),
        Err(CallError::Fault(fault)) => Ok(Attempt::Failed(fault.message)),
        Err(CallError::Quarantined { message, .. }) => Err(message),
    }
}

/// Builds a [`Blobs`] buffer.
#[derive(Default)]
pub struct BlobsBuilder {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl BlobsBuilder {
    /// Appends one item.
    pub fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.ends.push(self.bytes.len() as u32);
    }

    /// Appends a value as JSON.
    pub fn push_json(&mut self, value: &serde_json::Value) {
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.bytes, value);
        self.ends.push(self.bytes.len() as u32);
    }

    /// The finished buffer.
    pub fn finish(self) -> Blobs {
        Blobs {
            bytes: self.bytes,
            ends: self.ends,
        }
    }
}

/// The items of a [`Blobs`] buffer. Ends that go back or past the bytes give empty or
/// cut items, never overlapping ones: the items of a guest's answer add up to no more
/// than the bytes it returned, which the output limit counts.
pub fn items(blobs: &Blobs) -> impl Iterator<Item = &[u8]> {
    let mut start = 0usize;
    blobs.ends.iter().map(move |&end| {
        let end = (end as usize).clamp(start, blobs.bytes.len());
        let item = &blobs.bytes[start..end];
        start = end;
        item
    })
}

/// The size of a [`Blobs`] buffer, for output limits.
pub fn blobs_size(blobs: &Blobs) -> usize {
    blobs.bytes.len() + 4 * blobs.ends.len()
}

/// A batch of records, column by column.
pub fn elements<'a>(records: impl IntoIterator<Item = &'a Record>) -> Elements {
    let mut keys = BlobsBuilder::default();
    let mut values = BlobsBuilder::default();
    let mut timestamps = Vec::new();
    let mut window_starts = Vec::new();
    let mut window_ends = Vec::new();
    for record in records {
        keys.push(record.key.as_json().as_bytes());
        values.push_json(&record.value);
        timestamps.push(record.timestamp);
        let (start, end) = window_bounds(&record.window);
        window_starts.push(start);
        window_ends.push(end);
    }
    Elements {
        keys: keys.finish(),
        values: values.finish(),
        timestamps,
        window_starts,
        window_ends,
    }
}

/// A window as the WIT contract writes it.
pub fn window_bounds(window: &Window) -> (i64, i64) {
    (window.start(), window.end())
}

/// A window read from the WIT contract.
pub fn window_from(start: i64, end: i64) -> Window {
    if start == i64::MIN && end == i64::MAX {
        Window::Global
    } else {
        Window::interval(start, end)
    }
}

/// Reads a JSON value a plugin produced.
pub fn read_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(bytes).map_err(|err| format!("the plugin produced invalid JSON: {err}"))
}

/// The largest component file a plugin may be (the sum plugin is about 100 KiB; a
/// component that embeds a model could be large, but not this large).
pub const MAX_COMPONENT_FILE: u64 = 256 << 20;

/// Reads a component or model file: only a regular file (not a device such as
/// `/dev/zero`, a FIFO or a folder), and never more than `limit` bytes, even if the
/// file grows while it is read.
fn read_bounded_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that opening a FIFO does not wait for a writer; the check
    // below is on the opened file, so nothing can be swapped in between.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| err.to_string())?;
    let metadata = file.metadata().map_err(|err| err.to_string())?;
    if !metadata.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let too_large = || format!("it is larger than the limit of {}", format_bytes(limit));
    if metadata.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_items_never_overlap() {
        let blobs = Blobs {
            bytes: b"abcdef".to_vec(),
            ends: vec![4, 1, 4, 9, 2],
        };
        let read: Vec<&[u8]> = items(&blobs).collect();
        assert_eq!(read, [&b"abcd"[..], b"", b"", b"ef", b""]);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }

    #[test]
    fn a_retagged_module_is_still_valid_and_another_version() {
        let engine = wasmtime::Engine::default();
        let empty = b"\0asm\x01\0\0\0".to_vec();
        // Long enough that the section size takes two LEB128 bytes.
        let tagged = retag(&empty, &"v".repeat(200));
        assert!(wasmtime::Module::validate(&engine, &tagged).is_ok());
        assert_ne!(tagged, retag(&empty, "w"));
        assert!(tagged.starts_with(&empty));
    }
}
