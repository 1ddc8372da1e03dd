//! The server's scenarios of `millrace bench`: how long a hot swap pauses a
//! pipeline under load (`--scenario swap`), and how much memory an idle pipeline
//! costs (`--scenario idle`).
//!
//! Both drive the same [`Server`] that the HTTP API drives, in this process, so
//! that they measure the server and not an HTTP client. They need the example
//! plugin `parse-json` (built from `--plugins`, by default `plugins/` of the
//! repository the command runs in).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use millrace_runner::KEPT_SWAP_PAUSES;
use millrace_server::Server;
use millrace_server::pipelines::Deployment;
use millrace_server::tenants::Quotas;
use millrace_wasm::{PluginKind, build_crate, retag};

use super::{Scratch, proc_status};

const TENANT: &str = "bench";

/// A parse-only pipeline: every record read is written out, so that the first
/// output after a swap comes from the first batch the new version runs.
const SPEC: &str = "source: { ingest: { timestamp: ts } }
steps:
  - pardo: { plugin: parse, config: { key: user, value: score } }
sink: { file: out.jsonl }
checkpoint: { interval: 1s }
";

/// The step whose plugin is swapped.
const STEP: &str = "steps[0].pardo";

/// Records per ingest call of the load, and the pause between two calls.
const LOAD_BATCH: usize = 100;
const LOAD_EVERY: Duration = Duration::from_millis(1);

/// What one server scenario measured.
#[derive(Debug, Serialize)]
#[serde(tag = "scenario", rename_all = "kebab-case")]
pub(crate) enum ServeMeasurement {
    /// Hot swaps under load.
    Swap {
        /// Swaps made.
        swaps: usize,
        /// Records per second through the pipeline while it was swapped.
        load_per_second: f64,
        /// Pause percentiles (µs): from the switch to the first output after it.
        pause_us: Percentiles,
        /// Percentiles (µs) of the whole swap call: resolve, instantiate and
        /// start the new version, hand it over, checkpoint, switch, record the
        /// swap.
        call_us: Percentiles,
    },
    /// Idle pipelines.
    Idle {
        /// Pipelines deployed.
        pipelines: usize,
        /// Resident memory before deploying them.
        base_rss_bytes: u64,
        /// Resident memory once they are idle.
        rss_bytes: u64,
        /// Resident memory per idle pipeline.
        bytes_per_pipeline: u64,
        /// How many idle pipelines fit in 2 GiB at that rate.
        fit_in_2_gib: u64,
        /// Threads and open files of the process.
        threads: u64,
        open_files: u64,
        /// How many files the process may open.
        open_files_limit: u64,
    },
}

/// The 50th, 90th and 99th percentiles and the maximum of a sample.
#[derive(Debug, Serialize)]
pub(crate) struct Percentiles {
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

impl Percentiles {
    fn of(mut sample: Vec<u64>) -> Percentiles {
        sample.sort_unstable();
        // Nearest rank: the smallest value with at least q of the sample at or below it.
        let rank = |q: f64| {
            let at = ((q * sample.len() as f64).ceil() as usize).clamp(1, sample.len().max(1));
            sample.get(at - 1).copied().unwrap_or(0)
        };
        Percentiles {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: sample.last().copied().unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

impl std::fmt::Display for ServeMeasurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeMeasurement::Swap {
                swaps,
                load_per_second,
                pause_us,
                call_us,
            } => {
                writeln!(
                    f,
                    "{swaps} swaps under a load of {load_per_second:.0} records/s \
                     ({LOAD_BATCH} records every {LOAD_EVERY:?}, each call fsynced)"
                )?;
                writeln!(
                    f,
                    "  pause (switch → first output): {pause_us}\n    \
                     (a batch arrives every {:.2} ms on average: most of a pause is the wait for it)",
                    1000.0 * LOAD_BATCH as f64 / load_per_second
                )?;
                write!(f, "  swap call (prepare, checkpoint, switch): {call_us}")
            }
            ServeMeasurement::Idle {
                pipelines,
                base_rss_bytes,
                rss_bytes,
                bytes_per_pipeline,
                fit_in_2_gib,
                threads,
                open_files,
                open_files_limit,
            } => {
                let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
                writeln!(
                    f,
                    "{pipelines} idle pipelines (one plugin instance each): resident memory \
                     {:.0} MiB → {:.0} MiB",
                    mib(*base_rss_bytes),
                    mib(*rss_bytes)
                )?;
                writeln!(
                    f,
                    "  {:.2} MiB per pipeline → {fit_in_2_gib} fit in 2 GiB",
                    mib(*bytes_per_pipeline)
                )?;
                write!(
                    f,
                    "  {threads} threads, {open_files} open files (the limit: {open_files_limit})"
                )
            }
        }
    }
}

/// A server in `dir` with the tenant [`TENANT`], which has pushed `parse-json`
/// under the name `parse`; returns the server, the component and its version.
fn server_with_parse(
    dir: &Path,
    plugins: &Path,
    quotas: Quotas,
) -> Result<(Server, Vec<u8>, String)> {
    let server = Server::open(dir, "bench-admin-token")?;
    server.create_tenant(TENANT, quotas)?;
    let crate_dir = plugins.join("parse-json");
    let component = build_crate(&crate_dir).with_context(|| {
        format!(
            "cannot build the example plugin {}; run from the millrace repository or pass --plugins",
            crate_dir.display()
        )
    })?;
    let bytes = std::fs::read(&component)?;
    let (_, version) = server.push_plugin(TENANT, "parse", PluginKind::Dofn, &bytes)?;
    Ok((server, bytes, version.version.into()))
}

/// `count` records for the ingest log, event times from `ts` on.
fn records(count: usize, ts: &mut i64) -> Vec<u8> {
    let mut lines = String::with_capacity(count * 48);
    for i in 0..count {
        *ts += 1;
        lines.push_str(&format!(
            "{{\"user\": \"u{}\", \"score\": 1, \"ts\": {ts}}}\n",
            i % 97
        ));
    }
    lines.into_bytes()
}

/// Polls `done` every 5 ms for up to `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            bail!("gave up waiting {limit:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Swaps the plugin of a loaded pipeline `swaps` times between two versions.
pub(crate) fn swap(plugins: &Path, swaps: usize) -> Result<ServeMeasurement> {
    if swaps == 0 || swaps > KEPT_SWAP_PAUSES {
        bail!("--swaps must be between 1 and {KEPT_SWAP_PAUSES}");
    }
    let scratch = Scratch::new("swap");
    let (server, parse, first) = server_with_parse(&scratch.0, plugins, Quotas::default())?;
    let measured = measure_swaps(&server, &parse, first, swaps);
    // Stop what runs before the scratch folder goes, whatever happened.
    server.shutdown();
    measured
}

fn measure_swaps(
    server: &Server,
    parse: &[u8],
    first: String,
    swaps: usize,
) -> Result<ServeMeasurement> {
    server.deploy(TENANT, "load", SPEC)?;
    let (_, second) = server.push_plugin(TENANT, "parse", PluginKind::Dofn, &retag(parse, "2"))?;
    let versions = [first, second.version.into()];
    let deployment = server.deployment(TENANT, "load")?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let load = scope.spawn(|| -> Result<()> {
            let mut ts = 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                deployment.ingest(&records(LOAD_BATCH, &mut ts))?;
                std::thread::sleep(LOAD_EVERY);
            }
            Ok(())
        });
        let measured = swap_under_load(server, &deployment, &versions, swaps);
        stop.store(true, Ordering::Relaxed);
        load.join()
            .map_err(|_| anyhow::anyhow!("the load thread panicked"))??;
        measured
    })
}

/// Swaps `deployment`'s DoFn `swaps` times between `versions` while the load runs.
fn swap_under_load(
    server: &Server,
    deployment: &Deployment,
    versions: &[String; 2],
    swaps: usize,
) -> Result<ServeMeasurement> {
    let emitted = || deployment.status().live.emitted;
    wait_for(Duration::from_secs(30), "the first outputs", || {
        emitted() >= 10 * LOAD_BATCH as u64
    })?;
    let (started, emitted_before) = (Instant::now(), emitted());
    let mut calls = Vec::with_capacity(swaps);
    for swap in 0..swaps {
        let to = format!("parse@{}", versions[(swap + 1) % 2]);
        let call = Instant::now();
        server.swap(TENANT, "load", STEP, Some(&to))?;
        calls.push(call.elapsed().as_micros() as u64);
        wait_for(
            Duration::from_secs(30),
            "the first output after a swap",
            || deployment.status().live.swap_pauses_us.len() > swap,
        )?;
        // Let the load run between two swaps.
        std::thread::sleep(Duration::from_millis(10));
    }
    let load_per_second = (emitted() - emitted_before) as f64 / started.elapsed().as_secs_f64();
    Ok(ServeMeasurement::Swap {
        swaps,
        load_per_second,
        pause_us: Percentiles::of(deployment.status().live.swap_pauses_us),
        call_us: Percentiles::of(calls),
    })
}

/// Deploys `count` pipelines, sends each one record, and measures the memory
/// they hold once idle.
pub(crate) fn idle(plugins: &Path, count: usize) -> Result<ServeMeasurement> {
    let scratch = Scratch::new("idle");
    let quotas = Quotas {
        pipelines: count as u64,
        plugin_instances: count as u64,
        ..Quotas::default()
    };
    let (server, ..) = server_with_parse(&scratch.0, plugins, quotas)?;
    let measured = measure_idle(&server, count);
    // Stop what runs before the scratch folder goes, whatever happened.
    server.shutdown();
    measured
}

fn measure_idle(server: &Server, count: usize) -> Result<ServeMeasurement> {
    let base_rss_bytes = rss_bytes();
    let mut ts = 1_000_000;
    for n in 0..count {
        let name = format!("p{n}");
        server.deploy(TENANT, &name, SPEC)?;
        server
            .deployment(TENANT, &name)?
            .ingest(&records(1, &mut ts))?;
    }
    let deployments = server.deployments(TENANT);
    let waited = wait_for(Duration::from_secs(120), "every pipeline's output", || {
        deployments.iter().all(|d| d.status().live.emitted == 1)
    });
    if let Err(err) = waited {
        let stuck = deployments.iter().find(|d| d.status().live.emitted != 1);
        if let Some(stuck) = stuck {
            let status = stuck.status();
            bail!(
                "{err}: {} has {:?} after reading {}",
                stuck.name,
                status.outcome,
                status.live.records_read
            );
        }
    }
    // Let the first checkpoints (1 s) pass: an idle pipeline has taken them.
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_bytes();
    let per = rss.saturating_sub(base_rss_bytes) / count.max(1) as u64;
    Ok(ServeMeasurement::Idle {
        pipelines: count,
        base_rss_bytes,
        rss_bytes: rss,
        bytes_per_pipeline: per,
        fit_in_2_gib: (2u64 << 30).saturating_sub(base_rss_bytes) / per.max(1),
        threads: proc_status("Threads:"),
        open_files: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        open_files_limit: rlimit::Resource::NOFILE.get().map_or(0, |(soft, _)| soft),
    })
}

/// The process's resident memory now.
fn rss_bytes() -> u64 {
    proc_status("VmRSS:") * 1024
}
