//! Feature drift: how far the features a step scores have moved from the
//! distribution the model was trained on, as the population stability index (PSI)
//! of each feature over consecutive windows of rows.
//!
//! The training distribution ships with the model, in its metadata entry
//! `millrace.training`:
//!
//! ```json
//! {"features": [{"name": "amount", "edges": [10.0, 25.0, 60.0], "fractions": [0.3, 0.3, 0.2, 0.2]}]}
//! ```
//!
//! `edges` split a feature's range into bins — `x <= edges[0]`, then
//! `edges[i-1] < x <= edges[i]`, then `x > edges[last]` (NumPy's
//! `searchsorted(edges, x, side="left")`) — and `fractions` is the share of
//! training rows in each. PSI is `Σ (aᵢ - eᵢ) ln(aᵢ / eᵢ)` over the bins, with
//! observed shares `a` and training shares `e` floored at [`FLOOR`]; by the usual
//! reading, under 0.1 is stable, 0.1–0.25 a shift worth watching, over 0.25 a
//! population the model has not seen.

use serde::{Deserialize, Serialize};

/// The smallest share a bin counts as, so that an empty bin does not make PSI
/// infinite.
pub const FLOOR: f64 = 1e-4;

/// The training distribution of one feature.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct FeatureBins {
    /// The feature's name.
    pub name: String,
    /// Upper bin edges, ascending.
    pub edges: Vec<f64>,
    /// The share of training rows in each bin (one more than `edges`).
    pub fractions: Vec<f64>,
}

/// The training distribution of every feature, in the model's feature order.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Training {
    /// One entry per feature.
    pub features: Vec<FeatureBins>,
}

impl Training {
    /// Reads `millrace.training` for a model of `features` features.
    pub fn parse(json: &str, features: usize) -> Result<Training, String> {
        let training: Training = serde_json::from_str(json)
            .map_err(|err| format!("its millrace.training metadata is not valid: {err}"))?;
        if training.features.len() != features {
            return Err(format!(
                "its millrace.training metadata describes {} features; the model has {features}",
                training.features.len()
            ));
        }
        for bins in &training.features {
            let ascending = bins.edges.windows(2).all(|w| w[0] < w[1]);
            if bins.fractions.len() != bins.edges.len() + 1 || !ascending {
                return Err(format!(
                    "its millrace.training metadata for {:?} needs ascending edges and one \
                     more fraction than edges ({} edges, {} fractions)",
                    bins.name,
                    bins.edges.len(),
                    bins.fractions.len()
                ));
            }
        }
        Ok(training)
    }
}

/// The PSI of `counts` (observed rows per bin) against `expected` shares.
pub fn psi(expected: &[f64], counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    expected
        .iter()
        .zip(counts)
        .map(|(&e, &c)| {
            let a = (c as f64 / total as f64).max(FLOOR);
            let e = e.max(FLOOR);
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Drift over consecutive windows of `window` rows: counts for the window being
/// filled, and each feature's PSI over the last full one.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Drift {
    /// The training distribution (not checkpointed: it comes with the model).
    #[serde(skip)]
    training: Option<Training>,
    window: u64,
    /// Rows counted in the window being filled.
    filled: u64,
    /// Per feature, per bin.
    counts: Vec<Vec<u64>>,
    /// Each feature's PSI over the last full window (zeros before the first).
    last: Vec<f64>,
    /// Full windows so far.
    windows: u64,
}

impl Drift {
    /// Drift against `training`, over windows of `window` rows.
    pub fn new(training: Training, window: u64) -> Drift {
        let counts = training
            .features
            .iter()
            .map(|bins| vec![0; bins.fractions.len()])
            .collect();
        let last = vec![0.0; training.features.len()];
        Drift {
            training: Some(training),
            window: window.max(1),
            filled: 0,
            counts,
            last,
            windows: 0,
        }
    }

    /// Counts one row of features; at the end of a window, computes its PSI and
    /// starts the next.
    pub fn observe(&mut self, row: &[f32]) {
        let Some(training) = &self.training else {
            return;
        };
        for ((x, bins), counts) in row.iter().zip(&training.features).zip(&mut self.counts) {
            let x = f64::from(*x);
            let bin = bins.edges.partition_point(|&edge| edge < x);
            counts[bin] += 1;
        }
        self.filled += 1;
        if self.filled == self.window {
            for ((psi_of, bins), counts) in self
                .last
                .iter_mut()
                .zip(&training.features)
                .zip(&mut self.counts)
            {
                *psi_of = psi(&bins.fractions, counts);
                counts.iter_mut().for_each(|c| *c = 0);
            }
            self.filled = 0;
            self.windows += 1;
        }
    }

    /// The largest feature PSI over the last full window.
    pub fn max(&self) -> f64 {
        self.last.iter().copied().fold(0.0, f64::max)
    }

    /// Each feature's name and PSI over the last full window.
    pub fn by_feature(&self) -> Vec<(String, f64)> {
        self.training
            .iter()
            .flat_map(|t| t.features.iter().map(|b| b.name.clone()))
            .zip(self.last.iter().copied())
            .collect()
    }

    /// Full windows so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// The rows of a window.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Takes the counts of a checkpoint (of a step over the same model features);
    /// a checkpoint of another shape is ignored.
    pub fn resume(&mut self, saved: Drift) {
        if saved.counts.len() == self.counts.len()
            && saved
                .counts
                .iter()
                .zip(&self.counts)
                .all(|(a, b)| a.len() == b.len())
            && saved.window == self.window
        {
            let training = self.training.take();
            *self = Drift { training, ..saved };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn training() -> Training {
        Training {
            features: vec![FeatureBins {
                name: "x".into(),
                edges: vec![0.0, 1.0],
                fractions: vec![0.25, 0.5, 0.25],
            }],
        }
    }

    #[test]
    fn psi_is_zero_for_the_training_distribution_and_grows_with_shift() {
        assert!(psi(&[0.25, 0.5, 0.25], &[25, 50, 25]).abs() < 1e-12);
        let shifted = psi(&[0.25, 0.5, 0.25], &[0, 50, 50]);
        // (1e-4 - .25) ln(1e-4/.25) + (.5 - .25) ln(.5/.25)
        let expected = (FLOOR - 0.25) * (FLOOR / 0.25).ln() + 0.25 * 2f64.ln();
        assert!(
            (shifted - expected).abs() < 1e-12,
            "{shifted} vs {expected}"
        );
    }

    #[test]
    fn bins_follow_numpy_searchsorted_left() {
        let mut drift = Drift::new(training(), 4);
        // 0.0 is in bin 0 (x <= edges[0]); 1.0 in bin 1; 1.5 in bin 2.
        for x in [-1.0, 0.0, 1.0, 1.5] {
            drift.observe(&[x]);
        }
        assert_eq!(drift.windows(), 1);
        let expected = psi(&[0.25, 0.5, 0.25], &[2, 1, 1]);
        assert!((drift.max() - expected).abs() < 1e-12);
    }

    #[test]
    fn training_metadata_is_checked() {
        let bad =
            r#"{"features": [{"name": "x", "edges": [1.0, 0.0], "fractions": [0.3, 0.3, 0.4]}]}"#;
        assert!(Training::parse(bad, 1).unwrap_err().contains("ascending"));
        let good = r#"{"features": [{"name": "x", "edges": [0.0], "fractions": [0.5, 0.5]}]}"#;
        assert!(
            Training::parse(good, 2)
                .unwrap_err()
                .contains("describes 1 features")
        );
        assert!(Training::parse(good, 1).is_ok());
    }
}
