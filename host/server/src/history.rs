//! What the dashboard charts over the last minutes: each pipeline's counters,
//! sampled by the server once a second ([`SAMPLE_EVERY`]) into a ring buffer of
//! [`KEPT_SAMPLES`] per pipeline, beside the run's recent checkpoints. Counters
//! are totals; a chart's rates are differences between samples. A stretch in which
//! nothing changed is kept as its first and its latest sample, so an idle pipeline
//! (a server may hold thousands) keeps two samples, not six hundred, and a chart
//! still draws the stretch: a rate of zero, a lag that grows in a straight line.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use millrace_model::time::{MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp};
use millrace_runner::{CheckpointTaken, LiveStatus};

/// How often the server samples every pipeline.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How many samples a pipeline keeps: ten minutes' worth.
pub const KEPT_SAMPLES: usize = 600;

/// A pipeline's counters at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// When (ms since the epoch).
    pub at: Timestamp,
    /// Records read from the source so far.
    pub records_read: u64,
    /// Records written to the sink so far.
    pub emitted: u64,
    /// Records sent to the dead-letter output so far.
    pub dead_lettered: u64,
    /// How far the output watermark trailed the wall clock, if it was set.
    pub watermark_lag_ms: Option<i64>,
    /// Each step's counters.
    pub steps: Vec<StepSample>,
}

/// A step's counters in a [`Sample`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepSample {
    /// The step's name in the spec (`steps[2].combine`).
    pub name: String,
    /// Records received so far.
    pub records_in: u64,
    /// Records emitted so far.
    pub records_out: u64,
    /// Records dead-lettered so far.
    pub dead_lettered: u64,
    /// Records dropped as too late so far.
    pub dropped_late: u64,
    /// The step's output watermark.
    pub watermark: Timestamp,
}

impl Sample {
    /// Whether nothing but the time (and so the lag) differs from `other`.
    fn same_counts(&self, other: &Sample) -> bool {
        self.records_read == other.records_read
            && self.emitted == other.emitted
            && self.dead_lettered == other.dead_lettered
            && self.steps == other.steps
    }

    /// The sample of `live` taken at `now`.
    pub fn of(live: &LiveStatus, now: Timestamp) -> Sample {
        Sample {
            at: now,
            records_read: live.records_read,
            emitted: live.emitted,
            dead_lettered: live.dead_lettered,
            watermark_lag_ms: watermark_lag(live.watermark, now),
            steps: live
                .steps
                .iter()
                .map(|step| StepSample {
                    name: step.name.clone(),
                    records_in: step.stats.records_in,
                    records_out: step.stats.records_out,
                    dead_lettered: step.stats.dead_lettered,
                    dropped_late: step.stats.dropped_late,
                    watermark: step.watermark,
                })
                .collect(),
        }
    }
}

/// How far `watermark` trails `now`, when it is a time at all (not −∞ before any
/// input, nor +∞ once the input ended).
pub fn watermark_lag(watermark: Timestamp, now: Timestamp) -> Option<i64> {
    (watermark > MIN_TIMESTAMP && watermark < MAX_TIMESTAMP).then(|| now - watermark)
}

/// The samples of one pipeline, the oldest dropped past [`KEPT_SAMPLES`].
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
}

impl History {
    /// Adds a sample; one that only extends a stretch without change replaces
    /// the stretch's latest.
    pub fn record(&mut self, sample: Sample) {
        let len = self.samples.len();
        if len >= 2
            && sample.same_counts(&self.samples[len - 1])
            && sample.same_counts(&self.samples[len - 2])
        {
            self.samples[len - 1] = sample;
            return;
        }
        if len == KEPT_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }
}

/// A pipeline's history as the API answers it.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryView {
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
    /// The recent checkpoints of the pipeline's run, oldest first.
    pub checkpoints: Vec<CheckpointTaken>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Timestamp) -> Sample {
        Sample::of(&LiveStatus::default(), at)
    }

    fn read(at: Timestamp, records_read: u64) -> Sample {
        Sample {
            records_read,
            ..sample(at)
        }
    }

    #[test]
    fn keeps_the_latest_samples_in_order() {
        let mut history = History::default();
        for at in 0..KEPT_SAMPLES as i64 + 5 {
            history.record(read(at, at as u64));
        }
        let times: Vec<Timestamp> = history.samples().map(|s| s.at).collect();
        assert_eq!(times.len(), KEPT_SAMPLES);
        assert_eq!(times[0], 5);
        assert!(times.windows(2).all(|pair| pair[1] == pair[0] + 1));
    }

    #[test]
    fn a_stretch_without_change_keeps_its_first_and_latest_sample() {
        let mut history = History::default();
        history.record(read(0, 5));
        for at in 1..=100 {
            history.record(read(at, 7));
        }
        history.record(read(101, 9));
        let kept: Vec<(Timestamp, u64)> =
            history.samples().map(|s| (s.at, s.records_read)).collect();
        assert_eq!(kept, [(0, 5), (1, 7), (100, 7), (101, 9)]);
    }

    #[test]
    fn a_watermark_lags_only_once_it_is_a_time() {
        assert_eq!(watermark_lag(MIN_TIMESTAMP, 1_000), None);
        assert_eq!(watermark_lag(MAX_TIMESTAMP, 1_000), None);
        assert_eq!(watermark_lag(400, 1_000), Some(600));
        assert_eq!(sample(7).watermark_lag_ms, None);
    }
}
