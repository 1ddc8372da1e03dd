//! What a score step reports about its models: how many rows each scored, how long
//! batches took, the distribution of scores and predicted classes, feature drift,
//! and how a candidate model agrees with the live one.

use std::collections::BTreeMap;

use serde::Serialize;

/// A histogram over fixed upper bounds, as Prometheus exports one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    /// Upper bounds, ascending; a last bucket above them is implied.
    pub bounds: Vec<f64>,
    /// Observations per bucket (one more than `bounds`).
    pub counts: Vec<u64>,
    /// The sum of all observations.
    pub sum: f64,
    /// How many there were.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: Vec<f64>) -> Histogram {
        let counts = vec![0; bounds.len() + 1];
        Histogram {
            bounds,
            counts,
            sum: 0.0,
            count: 0,
        }
    }

    /// Bounds from `low` up to `high`, `per_decade` per factor of ten.
    pub fn exponential(low: f64, high: f64, per_decade: u32) -> Histogram {
        let mut bounds = Vec::new();
        let step = 10f64.powf(1.0 / f64::from(per_decade));
        let mut bound = low;
        while bound <= high * (1.0 + 1e-9) {
            bounds.push(bound);
            bound *= step;
        }
        Histogram::new(bounds)
    }

    /// Counts `x`.
    pub fn observe(&mut self, x: f64) {
        let bucket = self.bounds.partition_point(|&b| b < x);
        self.counts[bucket] += 1;
        self.sum += x;
        self.count += 1;
    }

    /// The upper bound of the bucket that holds quantile `q`: an upper estimate
    /// (the largest bound, for the bucket above it).
    pub fn quantile(&self, q: f64) -> f64 {
        let target = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= target.max(1) {
                return self
                    .bounds
                    .get(i)
                    .or(self.bounds.last())
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        self.bounds.last().copied().unwrap_or(0.0)
    }

    /// The mean observation (0 when there is none).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// How a candidate model agrees with the live one on the rows both scored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Rows both scored.
    pub rows: u64,
    /// Rows where both predicted the same class (classifiers).
    pub same_class: u64,
    /// The absolute difference of the two scores, per row.
    pub difference: Histogram,
    /// Seconds the live model spent on those rows.
    pub live_seconds: f64,
    /// Seconds the candidate spent on them.
    pub candidate_seconds: f64,
    /// Batches the candidate failed on (the live model's output went on).
    pub errors: u64,
    /// The last of those failures.
    pub last_error: Option<String>,
}

impl Default for Agreement {
    fn default() -> Self {
        Agreement {
            rows: 0,
            same_class: 0,
            difference: Histogram::exponential(1e-9, 1.0, 4),
            live_seconds: 0.0,
            candidate_seconds: 0.0,
            errors: 0,
            last_error: None,
        }
    }
}

/// What a candidate model is doing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Role {
    /// Scoring every row beside the live model; its outputs are dropped.
    Shadow,
    /// Scoring the rows of a share of keys in place of the live model; its
    /// outputs are marked `canary: true`.
    Canary {
        /// The share of keys, from 0 to 1.
        share: f64,
    },
}

/// A candidate's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CandidateStatus {
    /// Its version.
    pub version: String,
    /// What it does.
    pub role: Role,
    /// Rows it scored.
    pub rows: u64,
    /// Agreement with the live model, on the rows both scored (a shadow's).
    pub agreement: AgreementSummary,
}

/// [`Agreement`] as people read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementSummary {
    /// Rows both scored.
    pub rows: u64,
    /// The share of them where both predicted the same class.
    pub same_class_rate: Option<f64>,
    /// The mean absolute difference of their scores.
    pub mean_abs_difference: f64,
    /// The 99th percentile of it (an upper estimate, from a histogram).
    pub p99_abs_difference: f64,
    /// The candidate's time over the live model's, on the same rows.
    pub cost_ratio: Option<f64>,
    /// Batches it failed on.
    pub errors: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

impl Agreement {
    /// The summary.
    pub fn summary(&self, classifier: bool) -> AgreementSummary {
        AgreementSummary {
            rows: self.rows,
            same_class_rate: (classifier && self.rows > 0)
                .then(|| self.same_class as f64 / self.rows as f64),
            mean_abs_difference: self.difference.mean(),
            p99_abs_difference: if self.rows == 0 {
                0.0
            } else {
                self.difference.quantile(0.99)
            },
            cost_ratio: (self.live_seconds > 0.0 && self.rows > 0)
                .then(|| self.candidate_seconds / self.live_seconds),
            errors: self.errors,
            last_error: self.last_error.clone(),
        }
    }
}

/// A score step's report, in `status` and `/metrics`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelStatus {
    /// The live model's version.
    pub version: String,
    /// `classifier` or `regressor`.
    pub kind: &'static str,
    /// Rows scored by the live model.
    pub rows: u64,
    /// Batches scored.
    pub batches: u64,
    /// Seconds per batch.
    pub latency: Histogram,
    /// The score of each row (a binary classifier's probability of its second
    /// class, a multiclass one's of the predicted class, a regressor's value).
    pub scores: Histogram,
    /// Predicted classes, by label.
    pub classes: BTreeMap<String, u64>,
    /// Each feature's PSI over the last full drift window, if the model ships its
    /// training distribution.
    pub drift: Option<DriftStatus>,
    /// The candidate model, if one runs.
    pub candidate: Option<CandidateStatus>,
    /// Model swaps so far.
    pub swaps: u64,
    /// The longest a swap held the step (seconds): switching models at a batch
    /// boundary.
    pub max_swap_pause: f64,
    /// Calls to the live model's evaluator that faulted.
    pub faults: u64,
    /// Why the last candidate was dropped (its evaluator was quarantined), if one
    /// was.
    pub candidate_dropped: Option<String>,
}

/// Drift in a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftStatus {
    /// Rows per window.
    pub window_rows: u64,
    /// Full windows so far.
    pub windows: u64,
    /// Each feature's PSI over the last full window.
    pub features: Vec<(String, f64)>,
    /// The largest of them.
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_into_buckets_and_estimate_quantiles_from_above() {
        let mut h = Histogram::new(vec![0.1, 0.5, 1.0]);
        for x in [0.05, 0.2, 0.3, 0.7, 2.0] {
            h.observe(x);
        }
        assert_eq!(h.counts, vec![1, 2, 1, 1]);
        assert_eq!(h.quantile(0.5), 0.5);
        assert_eq!(h.quantile(1.0), 1.0, "above the last bound: the last bound");
        assert!((h.mean() - 0.65).abs() < 1e-12);
        let e = Histogram::exponential(1e-3, 1.0, 1);
        assert_eq!(e.bounds.len(), 4);
    }
}
