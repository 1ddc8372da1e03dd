//! `/metrics` in the Prometheus text format: per pipeline and step, with the
//! tenant as a label (a tenant's token sees only its own series).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Server;
use super::pipelines::Outcome;
use millrace_model::time::{MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp};

/// Every metric family: name, type, help.
const FAMILIES: [(&str, &str, &str); 17] = [
    ("millrace_pipeline_up", "gauge", "1 while the pipeline runs"),
    (
        "millrace_records_read_total",
        "counter",
        "Records read from the pipeline's input",
    ),
    (
        "millrace_records_emitted_total",
        "counter",
        "Records written to the pipeline's output",
    ),
    (
        "millrace_dead_lettered_total",
        "counter",
        "Records sent to the dead-letter output",
    ),
    (
        "millrace_watermark_milliseconds",
        "gauge",
        "The pipeline's output watermark",
    ),
    (
        "millrace_watermark_lag_seconds",
        "gauge",
        "How far the watermark trails the wall clock",
    ),
    (
        "millrace_checkpoint_age_seconds",
        "gauge",
        "Time since the last completed checkpoint",
    ),
    (
        "millrace_checkpoints_total",
        "counter",
        "Checkpoints completed by the current run",
    ),
    (
        "millrace_swaps_total",
        "counter",
        "Plugin swaps of a pipeline",
    ),
    (
        "millrace_swap_pause_seconds",
        "gauge",
        "The last swap's pause: from the switch to the first output after it",
    ),
    (
        "millrace_step_records_in_total",
        "counter",
        "Records a step received",
    ),
    (
        "millrace_step_records_out_total",
        "counter",
        "Records a step emitted",
    ),
    (
        "millrace_step_dead_lettered_total",
        "counter",
        "Records a step dead-lettered",
    ),
    (
        "millrace_step_dropped_late_total",
        "counter",
        "Records a step dropped as late",
    ),
    (
        "millrace_step_watermark_milliseconds",
        "gauge",
        "A step's output watermark",
    ),
    (
        "millrace_plugin_faults_total",
        "counter",
        "Plugin calls that faulted",
    ),
    (
        "millrace_plugin_version_info",
        "gauge",
        "The plugin version a step runs (value 1)",
    ),
];

/// A watermark worth reporting: neither the start nor the end of time.
fn finite(watermark: Timestamp) -> bool {
    watermark > MIN_TIMESTAMP && watermark < MAX_TIMESTAMP
}

/// Renders every pipeline's metrics (only `tenant`'s, if given).
pub(crate) fn render(server: &Server, tenant: Option<&str>) -> String {
    let mut samples: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    let mut put = |family: &'static str, labels: &str, value: f64| {
        samples
            .entry(family)
            .or_default()
            .push((labels.to_owned(), value));
    };
    for deployment in server.all_deployments() {
        if tenant.is_some_and(|t| t != deployment.tenant) {
            continue;
        }
        let status = deployment.status();
        let pipeline = format!(
            "tenant=\"{}\",pipeline=\"{}\"",
            escape(&deployment.tenant),
            escape(&deployment.name)
        );
        let live = &status.live;
        let up = status.outcome == Outcome::Running;
        put("millrace_pipeline_up", &pipeline, f64::from(u8::from(up)));
        put(
            "millrace_records_read_total",
            &pipeline,
            live.records_read as f64,
        );
        put(
            "millrace_records_emitted_total",
            &pipeline,
            live.emitted as f64,
        );
        put(
            "millrace_dead_lettered_total",
            &pipeline,
            live.dead_lettered as f64,
        );
        if finite(live.watermark) {
            put(
                "millrace_watermark_milliseconds",
                &pipeline,
                live.watermark as f64,
            );
        }
        if let Some(lag) = status.watermark_lag_ms {
            put(
                "millrace_watermark_lag_seconds",
                &pipeline,
                lag as f64 / 1000.0,
            );
        }
        if let Some(age) = status.checkpoint_age_s {
            put("millrace_checkpoint_age_seconds", &pipeline, age);
        }
        put(
            "millrace_checkpoints_total",
            &pipeline,
            live.checkpoints as f64,
        );
        put("millrace_swaps_total", &pipeline, status.swaps.len() as f64);
        if let Some(pause) = live.swap_pauses_us.last() {
            put(
                "millrace_swap_pause_seconds",
                &pipeline,
                *pause as f64 / 1e6,
            );
        }
        for step in &live.steps {
            let labels = format!("{pipeline},step=\"{}\"", escape(&step.name));
            let stats = &step.stats;
            put(
                "millrace_step_records_in_total",
                &labels,
                stats.records_in as f64,
            );
            put(
                "millrace_step_records_out_total",
                &labels,
                stats.records_out as f64,
            );
            put(
                "millrace_step_dead_lettered_total",
                &labels,
                stats.dead_lettered as f64,
            );
            put(
                "millrace_step_dropped_late_total",
                &labels,
                stats.dropped_late as f64,
            );
            if finite(step.watermark) {
                put(
                    "millrace_step_watermark_milliseconds",
                    &labels,
                    step.watermark as f64,
                );
            }
            if let Some(plugin) = &step.plugin {
                put(
                    "millrace_plugin_faults_total",
                    &labels,
                    plugin.faults as f64,
                );
                let name = status
                    .pins
                    .get(&step.name)
                    .map_or("", |p| p.plugin.as_str());
                let labels = format!(
                    "{labels},plugin=\"{}\",version=\"{}\"",
                    escape(name),
                    plugin.version
                );
                put("millrace_plugin_version_info", &labels, 1.0);
            }
        }
    }
    let mut text = String::new();
    for (name, kind, help) in FAMILIES {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for (labels, value) in samples.get(name).into_iter().flatten() {
            let _ = writeln!(text, "{name}{{{labels}}} {value}");
        }
    }
    text
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
