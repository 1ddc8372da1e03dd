//! `/metrics` in the Prometheus text format: per pipeline and step, with the
//! tenant as a label (a tenant's token sees only its own series).

use std::fmt::Write;

use super::Server;
use super::pipelines::Outcome;

/// One metric family: its name, type, help, and samples (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }
}

/// Renders every pipeline's metrics (only `tenant`'s, if given).
pub fn render(server: &Server, tenant: Option<&str>) -> String {
    let mut families = [
        Family::new("millrace_pipeline_up", "gauge", "1 while the pipeline runs"),
        Family::new(
            "millrace_records_read_total",
            "counter",
            "Records read from the pipeline's input",
        ),
        Family::new(
            "millrace_records_emitted_total",
            "counter",
            "Records written to the pipeline's output",
        ),
        Family::new(
            "millrace_dead_lettered_total",
            "counter",
            "Records sent to the dead-letter output",
        ),
        Family::new(
            "millrace_watermark_milliseconds",
            "gauge",
            "The pipeline's output watermark",
        ),
        Family::new(
            "millrace_watermark_lag_seconds",
            "gauge",
            "How far the watermark trails the wall clock",
        ),
        Family::new(
            "millrace_checkpoint_age_seconds",
            "gauge",
            "Time since the last completed checkpoint",
        ),
        Family::new(
            "millrace_checkpoints_total",
            "counter",
            "Checkpoints completed by the current run",
        ),
        Family::new(
            "millrace_step_records_in_total",
            "counter",
            "Records a step received",
        ),
        Family::new(
            "millrace_step_records_out_total",
            "counter",
            "Records a step emitted",
        ),
        Family::new(
            "millrace_step_dead_lettered_total",
            "counter",
            "Records a step dead-lettered",
        ),
        Family::new(
            "millrace_step_dropped_late_total",
            "counter",
            "Records a step dropped as late",
        ),
        Family::new(
            "millrace_step_watermark_milliseconds",
            "gauge",
            "A step's output watermark",
        ),
        Family::new(
            "millrace_plugin_faults_total",
            "counter",
            "Plugin calls that faulted",
        ),
        Family::new(
            "millrace_plugin_version_info",
            "gauge",
            "The plugin version a step runs (value 1)",
        ),
        Family::new(
            "millrace_swaps_total",
            "counter",
            "Plugin swaps of a pipeline",
        ),
    ];
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
        let mut put = |family: usize, labels: &str, value: f64| {
            families[family].samples.push((labels.to_owned(), value));
        };
        put(
            0,
            &pipeline,
            f64::from(u8::from(status.outcome == Outcome::Running)),
        );
        put(1, &pipeline, live.records_read as f64);
        put(2, &pipeline, live.emitted as f64);
        put(3, &pipeline, live.dead_lettered as f64);
        if live.watermark > crate::time::MIN_TIMESTAMP
            && live.watermark < crate::time::MAX_TIMESTAMP
        {
            put(4, &pipeline, live.watermark as f64);
        }
        if let Some(lag) = status.watermark_lag_ms {
            put(5, &pipeline, lag as f64 / 1000.0);
        }
        if let Some(age) = status.checkpoint_age_s {
            put(6, &pipeline, age);
        }
        put(7, &pipeline, live.checkpoints as f64);
        put(15, &pipeline, status.swaps.len() as f64);
        for step in &live.steps {
            let labels = format!("{pipeline},step=\"{}\"", escape(&step.name));
            put(8, &labels, step.stats.records_in as f64);
            put(9, &labels, step.stats.records_out as f64);
            put(10, &labels, step.stats.dead_lettered as f64);
            put(11, &labels, step.stats.dropped_late as f64);
            if step.watermark > crate::time::MIN_TIMESTAMP
                && step.watermark < crate::time::MAX_TIMESTAMP
            {
                put(12, &labels, step.watermark as f64);
            }
            if let Some(plugin) = &step.plugin {
                put(13, &labels, plugin.faults as f64);
                let plugin_name = status
                    .pins
                    .get(&step.name)
                    .map_or("", |p| p.plugin.as_str());
                put(
                    14,
                    &format!(
                        "{labels},plugin=\"{}\",version=\"{}\"",
                        escape(plugin_name),
                        plugin.version
                    ),
                    1.0,
                );
            }
        }
    }
    let mut text = String::new();
    for family in &families {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in &family.samples {
            let _ = writeln!(text, "{}{{{labels}}} {value}", family.name);
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
