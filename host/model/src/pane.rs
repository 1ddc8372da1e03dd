//! Panes: what a window emits each time its trigger fires, and how successive panes
//! relate (accumulation modes, pane timing, output timestamps).
//!
//! Pane timing follows Beam's PaneInfoTracker: a pane is EARLY while the input
//! watermark has not passed the window's end, LATE once the output watermark has
//! passed it or once an earlier pane was not EARLY, and ON_TIME otherwise, so at
//! most one pane per window is ON_TIME.
//!
//! ```
//! use millrace_model::pane::{next_pane, Timing};
//! // The watermark passed the end of [0, 120000) and the output watermark is held at
//! // its max timestamp: the pane is on time.
//! let pane = next_pane(None, 119_999, false, 120_000, 119_999);
//! assert_eq!(pane.timing, Timing::OnTime);
//! assert!(pane.first);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// When a pane fired relative to the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timing {
    /// Before the input watermark passed the end of the window.
    #[serde(rename = "EARLY")]
    Early,
    /// The one pane fired as the watermark passed the end of the window.
    #[serde(rename = "ON_TIME")]
    OnTime,
    /// After the output watermark passed the end of the window, or after the on-time pane.
    #[serde(rename = "LATE")]
    Late,
    /// Not produced by a grouping.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timing::Early => "EARLY",
            Timing::OnTime => "ON_TIME",
            Timing::Late => "LATE",
            Timing::Unknown => "UNKNOWN",
        })
    }
}

/// Where a pane sits among its window's panes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaneInfo {
    /// Timing relative to the watermark.
    pub timing: Timing,
    /// 0-based position among the window's panes.
    pub index: u64,
    /// Whether this is the window's first pane.
    pub first: bool,
    /// Whether this is the window's last pane.
    pub last: bool,
}

impl PaneInfo {
    /// The pane of elements that have not been grouped.
    pub const NO_FIRING: PaneInfo = PaneInfo {
        timing: Timing::Unknown,
        index: 0,
        first: true,
        last: true,
    };
}

/// Describes the next pane of a window whose max timestamp is `window_max`.
///
/// `previous` is the last pane the window emitted, `is_final` whether no pane will
/// follow, and the watermarks are those of the grouping step at the time of firing.
#[inline]
pub fn next_pane(
    previous: Option<&PaneInfo>,
    window_max: Timestamp,
    is_final: bool,
    input_watermark: Timestamp,
    output_watermark: Timestamp,
) -> PaneInfo {
    let late_for_output = window_max < output_watermark;
    let only_early_so_far = previous.is_none_or(|pane| pane.timing == Timing::Early);
    let early_for_input = input_watermark <= window_max;
    let timing = if late_for_output || !only_early_so_far {
        Timing::Late
    } else if early_for_input {
        Timing::Early
    } else {
        Timing::OnTime
    };
    PaneInfo {
        timing,
        index: previous.map_or(0, |pane| pane.index + 1),
        first: previous.is_none(),
        last: is_final,
    }
}

/// Whether `next` may follow `previous` among one window's panes: timings go
/// EARLY*, then ON_TIME at most once, then LATE*; indices count up by one from 0; only
/// the first pane is `first`. The grouping asserts it of every pane in debug builds.
pub fn follows(previous: Option<&PaneInfo>, next: &PaneInfo) -> bool {
    let rank = |timing: Timing| match timing {
        Timing::Early => 0,
        Timing::OnTime => 1,
        Timing::Late => 2,
        Timing::Unknown => 3,
    };
    match previous {
        None => next.index == 0 && next.first,
        Some(previous) => {
            next.index == previous.index + 1
                && !next.first
                && !previous.last
                && rank(previous.timing) <= rank(next.timing)
                && !(previous.timing == Timing::OnTime && next.timing == Timing::OnTime)
                && next.timing != Timing::Unknown
        }
    }
}

/// How successive panes of a window relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccumulationMode {
    /// Each pane holds only what arrived since the previous pane.
    #[default]
    Discarding,
    /// Each pane holds everything the window has seen.
    Accumulating,
    /// As accumulating, and each new pane is preceded by a retraction of the previous one.
    Retracting,
}

impl AccumulationMode {
    /// Whether panes carry everything the window has seen.
    pub fn accumulates(self) -> bool {
        !matches!(self, AccumulationMode::Discarding)
    }
}

/// How a pane's timestamp is chosen from its elements' timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampCombiner {
    /// The window's max timestamp.
    #[default]
    EndOfWindow,
    /// The earliest element timestamp.
    Earliest,
    /// The latest element timestamp.
    Latest,
}

impl TimestampCombiner {
    /// Where an element at `ts` in a window with max timestamp `window_max` holds the
    /// output watermark.
    pub fn hold_for(self, ts: Timestamp, window_max: Timestamp) -> Timestamp {
        match self {
            TimestampCombiner::EndOfWindow => window_max,
            TimestampCombiner::Earliest | TimestampCombiner::Latest => ts,
        }
    }

    /// Combines two holds of the same window.
    pub fn combine(self, a: Timestamp, b: Timestamp) -> Timestamp {
        match self {
            TimestampCombiner::EndOfWindow | TimestampCombiner::Earliest => a.min(b),
            TimestampCombiner::Latest => a.max(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_follow_early_then_on_time_once_then_late() {
        let pane = |timing, index, first, last| PaneInfo {
            timing,
            index,
            first,
            last,
        };
        let early = pane(Timing::Early, 0, true, false);
        assert!(follows(None, &early));
        assert!(
            !follows(None, &pane(Timing::Early, 1, false, false)),
            "starts at 0"
        );
        let on_time = pane(Timing::OnTime, 1, false, false);
        assert!(follows(Some(&early), &on_time));
        assert!(
            !follows(Some(&early), &pane(Timing::OnTime, 2, false, false)),
            "counts by one"
        );
        assert!(
            !follows(Some(&on_time), &pane(Timing::OnTime, 2, false, false)),
            "one on-time"
        );
        assert!(
            !follows(Some(&on_time), &pane(Timing::Early, 2, false, false)),
            "no way back"
        );
        let last = pane(Timing::Late, 2, false, true);
        assert!(follows(Some(&on_time), &last));
        assert!(
            !follows(Some(&last), &pane(Timing::Late, 3, false, false)),
            "nothing after the last"
        );
    }

    #[test]
    fn early_panes_until_the_input_watermark_passes_the_window() {
        let first = next_pane(None, 119_999, false, 119_999, 0);
        assert_eq!(
            first,
            PaneInfo {
                timing: Timing::Early,
                index: 0,
                first: true,
                last: false
            }
        );
        let second = next_pane(Some(&first), 119_999, false, 50, 0);
        assert_eq!(
            (second.timing, second.index, second.first),
            (Timing::Early, 1, false)
        );
    }

    #[test]
    fn one_on_time_pane_then_late_ones() {
        let on_time = next_pane(None, 119_999, false, 120_000, 119_999);
        assert_eq!(on_time.timing, Timing::OnTime);
        let after = next_pane(Some(&on_time), 119_999, false, 120_000, 119_999);
        assert_eq!(after.timing, Timing::Late);
    }

    #[test]
    fn late_when_the_output_watermark_has_passed() {
        let pane = next_pane(None, 318_999, false, 360_000, 360_000);
        assert_eq!(
            (pane.timing, pane.index, pane.first),
            (Timing::Late, 0, true)
        );
    }

    #[test]
    fn holds_follow_the_timestamp_combiner() {
        assert_eq!(TimestampCombiner::EndOfWindow.hold_for(5, 99), 99);
        assert_eq!(TimestampCombiner::Earliest.hold_for(5, 99), 5);
        assert_eq!(TimestampCombiner::Earliest.combine(5, 3), 3);
        assert_eq!(TimestampCombiner::Latest.combine(5, 3), 5);
    }
}
