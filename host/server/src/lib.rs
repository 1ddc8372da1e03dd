//! `millrace serve`: many pipelines of many tenants on one host, steered over an
//! HTTP/JSON API ([`http`], described by `openapi.json`).
//!
//! A tenant pushes plugins (versioned by content, checked at push time), deploys
//! pipelines that read what it pushes to their ingest endpoint, and swaps the
//! plugin of a running step to another version without stopping it. Each pipeline
//! runs on its own thread with its own state and checkpoints; each plugin instance
//! in its own sandbox with the tenant's limits, so one tenant's faulty plugin
//! costs only that plugin's instance.
//!
//! The data directory holds everything: `tenants.json`, and under
//! `tenants/<tenant>/` its `plugins/` ([`registry`]) and `pipelines/`
//! ([`pipelines`]). A restarted server resumes the pipelines that were running
//! from their last checkpoints.

mod dashboard;
pub mod history;
pub mod http;
mod ingest;
mod metrics;
pub mod pipelines;
pub mod registry;
pub mod tenants;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use pipelines::{Deployment, ModelMove, Shelves, Status, SwapRecord, TenantScope};
use registry::{ModelFormat, Models, Registry};
use tenants::{Caller, Quotas, Tenants};

use millrace_wasm::PluginKind;

/// What kind of thing went wrong with a request. The HTTP layer alone turns it into
/// a status ([`http`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is not valid.
    Invalid,
    /// No token, or an unknown one.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// No such thing (for this tenant).
    NotFound,
    /// It conflicts with what exists or is going on.
    Conflict,
    /// A quota would be exceeded.
    Quota,
    /// The server has no room to store what was sent.
    NoSpace,
    /// The server failed.
    Internal,
}

/// An error of the API: its kind and a message that says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of error it is.
    pub kind: ErrorKind,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    fn new(kind: ErrorKind, message: impl fmt::Display) -> ApiError {
        ApiError {
            kind,
            message: message.to_string(),
        }
    }

    /// The request is not valid.
    pub fn invalid(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Invalid, message)
    }

    /// No token or an unknown one.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            ErrorKind::Unauthorized,
            "a valid token is required: `Authorization: Bearer <token>`",
        )
    }

    /// The caller may not do this.
    pub fn forbidden(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Forbidden, message)
    }

    /// No such thing (for this tenant).
    pub fn not_found(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }

    /// Conflicts with what exists or is going on.
    pub fn conflict(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Conflict, message)
    }

    /// A quota would be exceeded.
    pub fn quota(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Quota, message)
    }

    /// The server has no room to store what was sent.
    pub fn insufficient_storage(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::NoSpace, message)
    }

    /// The server failed.
    pub fn internal(message: impl fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Internal, message)
    }
}

/// Checks the name of a tenant, plugin or pipeline ([`millrace_runner::spec::is_name`]: the
/// same rules as a spec's `name`).
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if millrace_runner::spec::is_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{what} name {name:?} is not valid: {}",
            millrace_runner::spec::NAME_RULES
        )))
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, so
/// that a crash leaves the old or the new file, never half of one.
pub fn write_json_atomically(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let temp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    {
        let mut file = std::fs::File::create(&temp)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_data()?;
    }
    std::fs::rename(&temp, path)
}

/// A tenant as the API shows it (never its token's hash).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TenantView {
    /// Its name.
    pub name: String,
    /// Its quotas.
    pub quotas: Quotas,
    /// Pipelines deployed.
    pub pipelines: usize,
    /// Bytes of plugins stored.
    pub plugin_bytes: u64,
}

/// The server's state: tenants and their pipelines.
pub struct Server {
    data_dir: PathBuf,
    tenants: RwLock<Tenants>,
    pipelines: Mutex<BTreeMap<(String, String), Arc<Deployment>>>,
}

impl Server {
    /// Opens `data_dir` (created if missing) and starts the pipelines that were
    /// running; `admin_token` is the admin's token.
    pub fn open(data_dir: &Path, admin_token: &str) -> anyhow::Result<Server> {
        std::fs::create_dir_all(data_dir)?;
        // Each pipeline holds about 14 files open (its RocksDB, ingest log, staged
        // outputs): take as many descriptors as the system allows.
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => tracing::debug!("open files limit: {limit}"),
            Err(err) => tracing::warn!("cannot raise the open files limit: {err}"),
        }
        let server = Server {
            data_dir: data_dir.to_owned(),
            tenants: RwLock::new(Tenants::open(data_dir, admin_token)?),
            pipelines: Mutex::new(BTreeMap::new()),
        };
        server.reopen_pipelines();
        Ok(server)
    }

    /// Every tenant's name and quotas.
    fn tenant_quotas(&self) -> Vec<(String, Quotas)> {
        let tenants = self.tenants.read();
        tenants
            .map(|t| {
                t.list()
                    .map(|t| (t.name.clone(), t.quotas.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn reopen_pipelines(&self) {
        let tenants = self.tenant_quotas();
        for (tenant, quotas) in tenants {
            let dir = self.tenant_dir(&tenant).join("pipelines");
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let (plugins, models) = (self.registry(&tenant), self.models(&tenant));
                let shelves = Shelves {
                    plugins: &plugins,
                    models: &models,
                };
                match Deployment::reopen(&tenant, &entry.path(), shelves, &quotas) {
                    Ok((deployment, spec)) => {
                        if deployment.wants_to_run()
                            && let Err(err) = deployment.start(spec)
                        {
                            tracing::warn!("{tenant}/{}: {}", deployment.name, err.message);
                        }
                        if let Ok(mut pipelines) = self.pipelines.lock() {
                            pipelines.insert(
                                (tenant.clone(), deployment.name.clone()),
                                Arc::new(deployment),
                            );
                        }
                    }
                    Err(err) => tracing::warn!("cannot reopen a pipeline of {tenant}: {err:#}"),
                }
            }
        }
    }

    /// Who holds `token`.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        self.tenants.read().ok()?.caller(token)
    }

    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.data_dir.join("tenants").join(tenant)
    }

    fn registry(&self, tenant: &str) -> Registry {
        Registry::new(self.tenant_dir(tenant).join("plugins"))
    }

    fn models(&self, tenant: &str) -> Registry<Models> {
        Registry::new(self.tenant_dir(tenant).join("models"))
    }

    /// Bytes of plugins and models `tenant` stores, which its quota bounds.
    fn stored_bytes(&self, tenant: &str) -> u64 {
        self.registry(tenant).bytes() + self.models(tenant).bytes()
    }

    fn quotas(&self, tenant: &str) -> Result<Quotas, ApiError> {
        self.tenants
            .read()
            .map_err(ApiError::internal)?
            .get(tenant)
            .map(|t| t.quotas.clone())
            .ok_or_else(|| ApiError::not_found(format!("there is no tenant {tenant}")))
    }

    /// Creates a tenant (admin); returns it and its token.
    pub fn create_tenant(
        &self,
        name: &str,
        quotas: Quotas,
    ) -> Result<(TenantView, String), ApiError> {
        let (tenant, token) = self
            .tenants
            .write()
            .map_err(ApiError::internal)?
            .create(name, quotas)?;
        Ok((self.tenant_view(&tenant.name, tenant.quotas), token))
    }

    fn tenant_view(&self, name: &str, quotas: Quotas) -> TenantView {
        TenantView {
            name: name.to_owned(),
            quotas,
            pipelines: self.deployments(name).len(),
            plugin_bytes: self.stored_bytes(name),
        }
    }

    /// Every tenant (admin).
    pub fn tenants(&self) -> Vec<TenantView> {
        let tenants = self.tenant_quotas();
        tenants
            .into_iter()
            .map(|(name, quotas)| self.tenant_view(&name, quotas))
            .collect()
    }

    /// One tenant (admin).
    pub fn tenant(&self, name: &str) -> Result<TenantView, ApiError> {
        let quotas = self.quotas(name)?;
        Ok(self.tenant_view(name, quotas))
    }

    /// Pushes a plugin version for `tenant`.
    pub fn push_plugin(
        &self,
        tenant: &str,
        name: &str,
        kind: PluginKind,
        bytes: &[u8],
    ) -> Result<(registry::Plugin, registry::Version), ApiError> {
        let quotas = self.quotas(tenant)?;
        let used = self.stored_bytes(tenant);
        self.registry(tenant)
            .push(name, kind, bytes, used, quotas.plugin_bytes)
    }

    /// Pushes a model version (an ONNX file) for `tenant`, after checking that the
    /// first-party evaluator loads it and that it reproduces its reference set.
    pub fn push_model(
        &self,
        tenant: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(registry::Model, registry::Version), ApiError> {
        let quotas = self.quotas(tenant)?;
        let used = self.stored_bytes(tenant);
        self.models(tenant)
            .push(name, ModelFormat::Onnx, bytes, used, quotas.plugin_bytes)
    }

    /// `tenant`'s models.
    pub fn model_list(&self, tenant: &str) -> Vec<registry::Model> {
        self.models(tenant).list()
    }

    /// `tenant`'s plugins.
    pub fn plugins(&self, tenant: &str) -> Vec<registry::Plugin> {
        self.registry(tenant).list()
    }

    /// One of `tenant`'s plugins.
    pub fn plugin(&self, tenant: &str, name: &str) -> Result<registry::Plugin, ApiError> {
        self.registry(tenant).get(name)
    }

    /// Samples every pipeline's counters into its history ([`history`]).
    pub fn sample_history(&self) {
        let all: Vec<Arc<Deployment>> = self
            .pipelines
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        let now = millrace_model::time::wall_clock_now();
        for deployment in all {
            deployment.sample(now);
        }
    }

    /// `tenant`'s deployments.
    pub fn deployments(&self, tenant: &str) -> Vec<Arc<Deployment>> {
        self.pipelines
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|((t, _), _)| t == tenant)
                    .map(|(_, d)| d.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every deployment of every tenant, for metrics.
    pub fn all_deployments(&self) -> Vec<Arc<Deployment>> {
        self.pipelines
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    /// `tenant`'s pipeline `name`; another tenant's answers 404.
    pub fn deployment(&self, tenant: &str, name: &str) -> Result<Arc<Deployment>, ApiError> {
        self.pipelines
            .lock()
            .map_err(ApiError::internal)?
            .get(&(tenant.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("there is no pipeline {name}")))
    }

    /// Deploys and starts a pipeline for `tenant` from spec text.
    pub fn deploy(&self, tenant: &str, name: &str, text: &str) -> Result<Status, ApiError> {
        check_name("pipeline", name)?;
        let quotas = self.quotas(tenant)?;
        let (plugins, models) = (self.registry(tenant), self.models(tenant));
        let shelves = Shelves {
            plugins: &plugins,
            models: &models,
        };
        let dir = self.tenant_dir(tenant).join("pipelines").join(name);
        let mut pipelines = self.pipelines.lock().map_err(ApiError::internal)?;
        if pipelines.contains_key(&(tenant.to_owned(), name.to_owned())) {
            return Err(ApiError::conflict(format!(
                "pipeline {name} exists; stop and delete it, or swap its plugins"
            )));
        }
        let ours: Vec<&Arc<Deployment>> = pipelines
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, d)| d)
            .collect();
        if ours.len() as u64 >= quotas.pipelines {
            return Err(ApiError::quota(format!(
                "tenant {tenant} has {} pipelines, its quota",
                ours.len()
            )));
        }
        let (deployment, spec) =
            Deployment::create(tenant, name, &dir, text, shelves, &quotas, BTreeMap::new())
                .inspect_err(|_| {
                    let _ = std::fs::remove_dir_all(&dir);
                })?;
        let instances: u64 = ours.iter().map(|d| d.instances()).sum();
        let wanted = Deployment::count_instances(&spec);
        if instances + wanted > quotas.plugin_instances {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ApiError::quota(format!(
                "the pipeline needs {wanted} plugin instances; tenant {tenant} runs {instances} \
                 of its quota of {}",
                quotas.plugin_instances
            )));
        }
        deployment.start(spec)?;
        let deployment = Arc::new(deployment);
        pipelines.insert((tenant.to_owned(), name.to_owned()), deployment.clone());
        Ok(deployment.status())
    }

    /// Stops and forgets a stopped pipeline, with its folder.
    pub fn delete(&self, tenant: &str, name: &str) -> Result<(), ApiError> {
        let deployment = self.deployment(tenant, name)?;
        if deployment.is_running() {
            return Err(ApiError::conflict(format!(
                "pipeline {name} is running; stop it first"
            )));
        }
        self.pipelines
            .lock()
            .map_err(ApiError::internal)?
            .remove(&(tenant.to_owned(), name.to_owned()));
        std::fs::remove_dir_all(deployment.dir()).map_err(ApiError::internal)
    }

    /// Starts a stopped pipeline again: it resumes from its last checkpoint.
    pub fn start(&self, tenant: &str, name: &str) -> Result<Status, ApiError> {
        let deployment = self.deployment(tenant, name)?;
        let quotas = self.quotas(tenant)?;
        let (plugins, models) = (self.registry(tenant), self.models(tenant));
        let shelves = Shelves {
            plugins: &plugins,
            models: &models,
        };
        let spec = deployment.spec(shelves, &quotas)?;
        deployment.start(spec)?;
        Ok(deployment.status())
    }

    /// Swaps a step's plugin to `plugin`, or (with `None`) back to its previous
    /// version; the tenant is recorded as who asked.
    pub fn swap(
        &self,
        tenant: &str,
        name: &str,
        step: &str,
        plugin: Option<&str>,
    ) -> Result<SwapRecord, ApiError> {
        let deployment = self.deployment(tenant, name)?;
        self.acting_for(tenant, |scope| match plugin {
            Some(reference) => deployment.swap(step, reference, scope, false),
            None => deployment.rollback(step, scope),
        })
    }

    /// Calls `act` with `tenant`'s registries and quotas, the tenant recorded as
    /// who asks.
    fn acting_for<T>(
        &self,
        tenant: &str,
        act: impl FnOnce(&TenantScope<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let quotas = self.quotas(tenant)?;
        let (plugins, models) = (self.registry(tenant), self.models(tenant));
        act(&TenantScope {
            registry: Shelves {
                plugins: &plugins,
                models: &models,
            },
            quotas: &quotas,
            by: tenant,
        })
    }

    /// Changes the models of a score step (see [`ModelMove`]); the tenant is
    /// recorded as who asked.
    pub fn move_model(
        &self,
        tenant: &str,
        name: &str,
        step: &str,
        change: &ModelMove,
    ) -> Result<serde_json::Value, ApiError> {
        let deployment = self.deployment(tenant, name)?;
        self.acting_for(tenant, |scope| deployment.move_model(step, change, scope))
    }

    /// Stops every pipeline where it is (each resumes when the server starts again).
    pub fn shutdown(&self) {
        let deployments = self.all_deployments();
        // All at once: each pipeline takes its last checkpoint on its own thread.
        std::thread::scope(|scope| {
            for deployment in deployments.iter().filter(|d| d.is_running()) {
                scope.spawn(move || deployment.pause_for_shutdown());
            }
        });
    }
}

/// How `millrace serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen.
    pub listen: std::net::SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The admin token; `None` reads `<data-dir>/admin-token`, creating it.
    pub admin_token: Option<String>,
    /// How long clients may take.
    pub timeouts: Timeouts,
}

/// How long a client may take before its connection is closed, so that idle or
/// half-sent connections do not pile up.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// To send a request's headers; also how long an idle connection stays open.
    pub header: std::time::Duration,
    /// Between two parts of a request's body.
    pub body: std::time::Duration,
    /// For a whole request, answer included.
    pub request: std::time::Duration,
}

impl Default for Timeouts {
    /// 30 s for headers, idle connections and body parts; 5 minutes per request.
    fn default() -> Self {
        Timeouts {
            header: std::time::Duration::from_secs(30),
            body: std::time::Duration::from_secs(30),
            request: std::time::Duration::from_secs(300),
        }
    }
}

/// Runs the server until SIGINT or SIGTERM, then stops every pipeline at a
/// checkpoint.
pub fn serve(options: ServeOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.data_dir)?;
    let admin_token = match options.admin_token {
        Some(token) => token,
        None => admin_token_file(&options.data_dir)?,
    };
    let server = Arc::new(Server::open(&options.data_dir, &admin_token)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let address = listener.local_addr()?;
        eprintln!(
            "millrace: serving on http://{address} (data in {})",
            options.data_dir.display()
        );
        let sampler = tokio::spawn(sample_history(server.clone()));
        http::serve(
            listener,
            http::router(server.clone()),
            options.timeouts,
            shutdown_signal(),
        )
        .await;
        sampler.abort();
        anyhow::Ok(())
    })?;
    eprintln!("millrace: stopping pipelines at a checkpoint");
    server.shutdown();
    Ok(())
}

/// Samples every pipeline's counters into its history, once a second.
async fn sample_history(server: Arc<Server>) {
    let mut every = tokio::time::interval(history::SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        server.sample_history();
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The admin token kept in `<data-dir>/admin-token` (mode 0600), created on first
/// start.
fn admin_token_file(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let token = tenants::new_token().map_err(|err| anyhow::anyhow!(err.message))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    std::io::Write::write_all(&mut file, token.as_bytes())?;
    eprintln!("millrace: the admin token is in {}", path.display());
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("pipeline", "scores-2").is_ok());
        for bad in ["", "Scores", "-x", "a/b", "..", &"x".repeat(64)] {
            assert_eq!(
                check_name("pipeline", bad).unwrap_err().kind,
                ErrorKind::Invalid,
                "{bad}"
            );
        }
    }
}
