//! Watermarks: a source's estimate of how far event time has progressed.
//!
//! A test stream states its watermark outright. Real sources estimate it: a
//! [`BoundedOutOfOrderness`] watermark trails the latest event time seen by a fixed
//! bound, so records at most that far out of order are never late. Inside the
//! pipeline each grouping derives its output watermark from its input watermark and
//! its holds (see [`crate::group`]).
//!
//! ```
//! use millrace_model::watermark::BoundedOutOfOrderness;
//! let mut watermark = BoundedOutOfOrderness::new(30_000);
//! watermark.observe(100_000);
//! watermark.observe(90_000);
//! assert_eq!(watermark.current(), 70_000);
//! ```

use crate::time::{MIN_TIMESTAMP, Timestamp};

/// A heuristic watermark that trails the latest event time by a fixed bound.
#[derive(Clone, Copy, Debug)]
pub struct BoundedOutOfOrderness {
    bound: i64,
    latest: Timestamp,
}

impl BoundedOutOfOrderness {
    /// A watermark that assumes records arrive at most `bound` milliseconds out of order.
    pub fn new(bound: i64) -> Self {
        BoundedOutOfOrderness {
            bound,
            latest: MIN_TIMESTAMP,
        }
    }

    /// Notes a record's event time.
    pub fn observe(&mut self, timestamp: Timestamp) {
        self.latest = self.latest.max(timestamp);
    }

    /// The latest event time seen.
    pub fn latest(&self) -> Timestamp {
        self.latest
    }

    /// Continues from a state in which `latest` was the latest event time seen.
    pub fn restore(&mut self, latest: Timestamp) {
        self.latest = latest;
    }

    /// The watermark: the latest event time minus the bound (−∞ before any record).
    pub fn current(&self) -> Timestamp {
        if self.latest == MIN_TIMESTAMP {
            MIN_TIMESTAMP
        } else {
            self.latest.saturating_sub(self.bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_minus_infinity_and_never_regresses() {
        let mut watermark = BoundedOutOfOrderness::new(10);
        assert_eq!(watermark.current(), MIN_TIMESTAMP);
        watermark.observe(100);
        assert_eq!(watermark.current(), 90);
        watermark.observe(50);
        assert_eq!(watermark.current(), 90);
    }
}
