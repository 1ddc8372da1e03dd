//! What a plugin's store holds, and the host functions a plugin imports.
//!
//! A plugin sees no clock, filesystem or network unless its spec grants one: its
//! clocks are frozen at the epoch, it has no preopened directories and no sockets.
//! What it writes to stdout or stderr is kept (the last few kilobytes) so that a
//! panic message can be reported with the fault.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::bindings::dofn::millrace::plugin::{host, state, types};
use super::{Grants, PluginSpec};
use millrace_model::keyed::CallState;

/// How much of a plugin's stdout/stderr is kept.
const LOG_TAIL: usize = 4096;

/// The last bytes a plugin wrote to stdout or stderr, and its error-level log
/// lines: what it said as it fell, for the reason of a fault.
#[derive(Clone, Default)]
pub struct LogTail(Arc<Mutex<VecDeque<u8>>>);

impl LogTail {
    fn append(&self, bytes: &[u8]) {
        let Ok(mut tail) = self.0.lock() else {
            return;
        };
        tail.extend(bytes);
        let excess = tail.len().saturating_sub(LOG_TAIL);
        tail.drain(..excess);
    }

    /// What was written, as text, with Rust's panic boilerplate trimmed.
    pub fn message(&self) -> String {
        let bytes: Vec<u8> = self
            .0
            .lock()
            .map(|tail| tail.iter().copied().collect())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        if let Ok(mut tail) = self.0.lock() {
            tail.clear();
        }
    }
}

impl IsTerminal for LogTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogTail {
    async fn ready(&mut self) {}
}

impl OutputStream for LogTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

impl AsyncWrite for LogTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A clock stopped at the epoch, for plugins that were not granted one.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// Caps a store's memory and remembers whether the cap was hit.
pub struct MemoryLimiter {
    limit: usize,
    /// A growth was refused since the last reset.
    pub denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Counters and gauges a plugin reports.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metrics {
    /// Counters by name.
    pub counters: HashMap<String, u64>,
    /// Gauges by name.
    pub gauges: HashMap<String, f64>,
}

/// The data of a plugin's store.
pub struct PluginData {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory cap.
    pub limiter: MemoryLimiter,
    /// What the plugin wrote to stdout/stderr.
    pub log: LogTail,
    label: Arc<str>,
    config: Arc<str>,
    metrics: Arc<Mutex<Metrics>>,
    /// Keyed state of the call in progress (DoFns only).
    pub call: Option<CallState>,
    /// The model a scorer loads when it starts (scorers only).
    pub model: Option<Arc<[u8]>>,
}

impl PluginData {
    /// Store data for a plugin described by `spec`, reporting as `label`.
    pub fn new(
        spec: &PluginSpec,
        label: Arc<str>,
        metrics: Arc<Mutex<Metrics>>,
        log: LogTail,
    ) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(log.clone()).stderr(log.clone());
        apply_grants(&mut wasi, &spec.grants);
        PluginData {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: spec.limits.memory as usize,
                denied: false,
            },
            log,
            label,
            config: Arc::from(spec.config.to_string()),
            metrics,
            call: None,
            model: spec.model.as_ref().map(|model| model.bytes.clone()),
        }
    }
}

fn apply_grants(wasi: &mut WasiCtxBuilder, grants: &Grants) {
    if !grants.clock {
        wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
    }
    // wasmtime-wasi starts with every socket use off; only a grant turns them on.
    wasi.allow_tcp(grants.network)
        .allow_udp(grants.network)
        .allow_ip_name_lookup(grants.network);
    if grants.network {
        wasi.inherit_network();
    }
    for dir in &grants.read {
        let guest = dir.to_string_lossy().into_owned();
        // A directory that cannot be opened stays invisible to the plugin; the spec
        // reader has already checked that it exists.
        let _ = wasi.preopened_dir(dir, guest, wasmtime_wasi::FsPerms::ReadOnly);
    }
}

impl WasiView for PluginData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for PluginData {}

impl host::Host for PluginData {
    fn log(&mut self, level: host::Level, message: String) {
        let label = &self.label;
        match level {
            host::Level::Trace => tracing::trace!(plugin = %label, "{message}"),
            host::Level::Debug => tracing::debug!(plugin = %label, "{message}"),
            host::Level::Info => tracing::info!(plugin = %label, "{message}"),
            host::Level::Warn => tracing::warn!(plugin = %label, "{message}"),
            host::Level::Error => {
                tracing::error!(plugin = %label, "{message}");
                // A plugin without WASI (C's mr_panic) says its last words here.
                self.log.append(message.as_bytes());
                self.log.append(b"\n");
            }
        }
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        if let Ok(mut metrics) = self.metrics.lock() {
            *metrics.counters.entry(name).or_default() += delta;
        }
    }

    fn gauge_set(&mut self, name: String, value: f64) {
        if let Ok(mut metrics) = self.metrics.lock() {
            metrics.gauges.insert(name, value);
        }
    }

    fn config(&mut self) -> String {
        self.config.to_string()
    }
}

impl state::Host for PluginData {
    fn get(&mut self, element: u32, name: String) -> Option<Vec<u8>> {
        self.call.as_ref()?.get(element, &name)
    }

    fn set(&mut self, element: u32, name: String, value: Vec<u8>) {
        if let Some(call) = &mut self.call {
            call.set(element, name, Some(value));
        }
    }

    fn clear(&mut self, element: u32, name: String) {
        if let Some(call) = &mut self.call {
            call.set(element, name, None);
        }
    }

    fn set_event_timer(&mut self, element: u32, name: String, time: i64) {
        if let Some(call) = &mut self.call {
            call.set_timer(
                element,
                name,
                Some((millrace_model::timer::TimeDomain::EventTime, time)),
            );
        }
    }

    fn set_processing_timer(&mut self, element: u32, name: String, time: i64) {
        if let Some(call) = &mut self.call {
            call.set_timer(
                element,
                name,
                Some((millrace_model::timer::TimeDomain::ProcessingTime, time)),
            );
        }
    }

    fn clear_timer(&mut self, element: u32, name: String) {
        if let Some(call) = &mut self.call {
            call.set_timer(element, name, None);
        }
    }
}
