//! `/metrics` in the Prometheus text format: per pipeline and step, with the
//! tenant as a label (a tenant's token sees only its own series).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Server;
use super::pipelines::Outcome;
use millrace_model::score::monitor::{Histogram, ModelStatus, Role};
use millrace_model::time::{MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp};

/// Every metric family: name, type, help.
const FAMILIES: [(&str, &str, &str); 28] = [
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
    (
        "millrace_score_model_info",
        "gauge",
        "The model a score step's live model is (value 1)",
    ),
    (
        "millrace_score_rows_total",
        "counter",
        "Rows a score step's live model scored",
    ),
    (
        "millrace_score_batches_total",
        "counter",
        "Batches a score step scored",
    ),
    (
        "millrace_score_batch_seconds",
        "histogram",
        "Time a score step's live model took per batch",
    ),
    (
        "millrace_score_value",
        "histogram",
        "The scores a score step's live model gave (a binary classifier's probability \
         of its second class, a multiclass one's of the predicted class, a regressor's \
         value)",
    ),
    (
        "millrace_score_class_total",
        "counter",
        "Rows a score step's live model predicted each class for",
    ),
    (
        "millrace_score_feature_psi",
        "gauge",
        "A feature's population stability index against the model's training \
         distribution, over the last full drift window",
    ),
    (
        "millrace_score_candidate_rows_total",
        "counter",
        "Rows a score step's candidate model (shadow or canary) scored",
    ),
    (
        "millrace_score_candidate_same_class_ratio",
        "gauge",
        "The share of rows where a shadow predicted the live model's class",
    ),
    (
        "millrace_score_candidate_abs_difference",
        "gauge",
        "The absolute difference of a shadow's scores from the live model's: mean, \
         and 99th percentile (an upper estimate)",
    ),
    (
        "millrace_score_candidate_cost_ratio",
        "gauge",
        "A shadow's scoring time over the live model's, on the same rows",
    ),
];

/// A watermark worth reporting: neither the start nor the end of time.
fn finite(watermark: Timestamp) -> bool {
    watermark > MIN_TIMESTAMP && watermark < MAX_TIMESTAMP
}

/// Renders every pipeline's metrics (only `tenant`'s, if given).
pub(crate) fn render(server: &Server, tenant: Option<&str>) -> String {
    let mut samples = Samples::default();
    let mut histograms: Vec<(&'static str, String, Histogram)> = Vec::new();
    let mut put = |family: &'static str, labels: &str, value: f64| {
        samples.put(family, "", labels, value);
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
            if let Some(model) = &step.model {
                score_metrics(&mut put, &labels, model);
                histograms.push((
                    "millrace_score_batch_seconds",
                    labels.clone(),
                    model.latency.clone(),
                ));
                histograms.push(("millrace_score_value", labels.clone(), model.scores.clone()));
            }
        }
    }
    for (family, labels, histogram) in &histograms {
        samples.histogram(family, labels, histogram);
    }
    let mut text = String::new();
    for (name, kind, help) in FAMILIES {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for (suffix, labels, value) in samples.0.get(name).into_iter().flatten() {
            let _ = writeln!(text, "{name}{suffix}{{{labels}}} {value}");
        }
    }
    text
}

/// Samples by family: each a suffix of the family's name (`_bucket`, `_sum`,
/// `_count` for a histogram), its labels and its value.
#[derive(Default)]
struct Samples(BTreeMap<&'static str, Vec<(&'static str, String, f64)>>);

impl Samples {
    fn put(&mut self, family: &'static str, suffix: &'static str, labels: &str, value: f64) {
        self.0
            .entry(family)
            .or_default()
            .push((suffix, labels.to_owned(), value));
    }

    /// A histogram's cumulative buckets, sum and count.
    fn histogram(&mut self, family: &'static str, labels: &str, histogram: &Histogram) {
        let mut cumulative = 0;
        for (i, count) in histogram.counts.iter().enumerate() {
            cumulative += count;
            let le = histogram
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), f64::to_string);
            let bucket = format!("{labels},le=\"{le}\"");
            self.put(family, "_bucket", &bucket, cumulative as f64);
        }
        self.put(family, "_sum", labels, histogram.sum);
        self.put(family, "_count", labels, histogram.count as f64);
    }
}

/// A score step's models, as gauges and counters.
fn score_metrics(put: &mut impl FnMut(&'static str, &str, f64), labels: &str, model: &ModelStatus) {
    let version = format!("{labels},model=\"{}\"", escape(&model.version));
    put("millrace_score_model_info", &version, 1.0);
    put("millrace_score_rows_total", labels, model.rows as f64);
    put("millrace_score_batches_total", labels, model.batches as f64);
    put("millrace_plugin_faults_total", labels, model.faults as f64);
    for (class, count) in &model.classes {
        let class = format!("{labels},class=\"{}\"", escape(class));
        put("millrace_score_class_total", &class, *count as f64);
    }
    for (feature, psi) in model.drift.iter().flat_map(|d| &d.features) {
        let feature = format!("{labels},feature=\"{}\"", escape(feature));
        put("millrace_score_feature_psi", &feature, *psi);
    }
    let Some(candidate) = &model.candidate else {
        return;
    };
    let role = match candidate.role {
        Role::Shadow => "shadow",
        Role::Canary { .. } => "canary",
    };
    let labels = format!(
        "{labels},model=\"{}\",role=\"{role}\"",
        escape(&candidate.version)
    );
    put(
        "millrace_score_candidate_rows_total",
        &labels,
        candidate.rows as f64,
    );
    let agreement = &candidate.agreement;
    if let Some(rate) = agreement.same_class_rate {
        put("millrace_score_candidate_same_class_ratio", &labels, rate);
    }
    if agreement.rows > 0 {
        for (stat, value) in [
            ("mean", agreement.mean_abs_difference),
            ("p99", agreement.p99_abs_difference),
        ] {
            let labels = format!("{labels},stat=\"{stat}\"");
            put("millrace_score_candidate_abs_difference", &labels, value);
        }
    }
    if let Some(ratio) = agreement.cost_ratio {
        put("millrace_score_candidate_cost_ratio", &labels, ratio);
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
