//! Windows and window functions: how event time is cut into finite pieces.
//!
//! A window is the global window or a half-open interval `[start, end)`; its max
//! timestamp, the last instant it contains, is `end − 1`. A [`WindowFn`] assigns each
//! element to windows by its timestamp and, for merging functions such as sessions,
//! says which windows become one (paper §2.2).
//!
//! ```
//! use millrace::window::{Window, WindowFn};
//! let sessions = WindowFn::Sessions { gap: 60_000 };
//! let windows = [Window::interval(0, 60_000), Window::interval(30_000, 90_000)];
//! let merges = sessions.merge(&windows);
//! assert_eq!(merges[0].result, Window::interval(0, 90_000));
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use crate::record::Record;

use crate::time::{END_OF_GLOBAL_WINDOW, MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp};

/// A window of event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Window {
    /// The single window that covers all of time.
    Global,
    /// The half-open interval `[start, end)`.
    Interval {
        /// First instant in the window.
        start: Timestamp,
        /// First instant after the window.
        end: Timestamp,
    },
}

impl Window {
    /// The interval window `[start, end)`.
    pub const fn interval(start: Timestamp, end: Timestamp) -> Self {
        Window::Interval { start, end }
    }

    /// The last instant in the window: `end − 1`, or the end of the global window.
    pub fn max_timestamp(&self) -> Timestamp {
        match *self {
            Window::Global => END_OF_GLOBAL_WINDOW,
            Window::Interval { end, .. } => end.saturating_sub(1).min(END_OF_GLOBAL_WINDOW),
        }
    }

    /// The window's start, −∞ for the global window.
    pub fn start(&self) -> Timestamp {
        match *self {
            Window::Global => MIN_TIMESTAMP,
            Window::Interval { start, .. } => start,
        }
    }

    /// The window's end, +∞ for the global window.
    pub fn end(&self) -> Timestamp {
        match *self {
            Window::Global => MAX_TIMESTAMP,
            Window::Interval { end, .. } => end,
        }
    }

    /// Whether the two windows share an instant (touching intervals do not).
    pub fn intersects(&self, other: &Window) -> bool {
        self.start() < other.end() && other.start() < self.end()
    }

    /// The smallest window that contains both.
    pub fn span(&self, other: &Window) -> Window {
        match (self, other) {
            (Window::Interval { .. }, Window::Interval { .. }) => {
                Window::interval(self.start().min(other.start()), self.end().max(other.end()))
            }
            _ => Window::Global,
        }
    }

    /// The time after which the window's state can be dropped: max timestamp plus the
    /// allowed lateness, capped at the end of the global window (as Beam does).
    pub fn gc_time(&self, allowed_lateness: i64) -> Timestamp {
        self.max_timestamp()
            .saturating_add(allowed_lateness)
            .min(END_OF_GLOBAL_WINDOW)
    }

    /// The order in which output is written: by end, then start.
    pub fn output_order(&self, other: &Window) -> Ordering {
        (self.end(), self.start()).cmp(&(other.end(), other.start()))
    }
}

impl PartialOrd for Window {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Windows order by start, then end; the global window sorts first.
impl Ord for Window {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.start(), self.end()).cmp(&(other.start(), other.end()))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Global => f.write_str("global"),
            Window::Interval { start, end } => write!(f, "[{start}, {end})"),
        }
    }
}

/// Windows assigned to one element; all built-in functions but sliding give one.
pub type AssignedWindows = SmallVec<[Window; 2]>;

/// A group of windows that merge into one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeGroup {
    /// The windows being merged (two or more), in start order.
    pub members: Vec<Window>,
    /// The window they become.
    pub result: Window,
}

/// How elements are assigned to windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowFn {
    /// Everything in one window.
    Global,
    /// Tumbling windows of `size`, aligned at `offset`.
    Fixed {
        /// Window length in milliseconds.
        size: i64,
        /// Alignment of window starts, in milliseconds.
        offset: i64,
    },
    /// Overlapping windows of `size` starting every `period`, aligned at `offset`.
    Sliding {
        /// Window length in milliseconds.
        size: i64,
        /// Distance between window starts in milliseconds.
        period: i64,
        /// Alignment of window starts, in milliseconds.
        offset: i64,
    },
    /// Per-key sessions: an element opens `[ts, ts + gap)` and overlapping windows merge.
    Sessions {
        /// Inactivity gap in milliseconds.
        gap: i64,
    },
    /// A window function from a plugin.
    Custom(CustomWindowFn),
}

/// A window function implemented outside the engine (by a plugin), working on
/// batches: one call assigns a whole bundle, one call merges the windows of all the
/// keys in a bundle.
pub trait WindowAssigner: Send {
    /// The windows of each record, or why that record has none. An error means the
    /// function cannot go on.
    fn assign(
        &mut self,
        records: &[Record],
    ) -> Result<Vec<Result<AssignedWindows, String>>, String>;

    /// For each key's windows, which merge. An error means the function cannot go on.
    fn merge(&mut self, per_key: &[Vec<Window>]) -> Result<Vec<Vec<MergeGroup>>, String>;
}

/// A shared handle on a [`WindowAssigner`]: the `window` step assigns with it and the
/// grouping merges with it.
#[derive(Clone)]
pub struct CustomWindowFn {
    name: Arc<str>,
    merging: bool,
    assigner: Arc<Mutex<dyn WindowAssigner>>,
}

impl CustomWindowFn {
    /// Wraps `assigner`, named `name` in messages.
    pub fn new(
        name: impl Into<Arc<str>>,
        merging: bool,
        assigner: impl WindowAssigner + 'static,
    ) -> Self {
        CustomWindowFn {
            name: name.into(),
            merging,
            assigner: Arc::new(Mutex::new(assigner)),
        }
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Assigns a batch of records.
    pub fn assign(
        &self,
        records: &[Record],
    ) -> Result<Vec<Result<AssignedWindows, String>>, String> {
        self.assigner
            .lock()
            .map_err(|_| format!("{} failed earlier", self.name))?
            .assign(records)
    }
}

impl fmt::Debug for CustomWindowFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomWindowFn({})", self.name)
    }
}

impl PartialEq for CustomWindowFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.assigner, &other.assigner)
    }
}

impl Eq for CustomWindowFn {}

impl WindowFn {
    /// Assigns the windows an element with timestamp `ts` belongs to. Custom functions
    /// need the whole record and assign in batches instead ([`CustomWindowFn::assign`]).
    pub fn assign(&self, ts: Timestamp, out: &mut AssignedWindows) {
        match *self {
            WindowFn::Custom(_) => {}
            WindowFn::Global => out.push(Window::Global),
            WindowFn::Fixed { size, offset } => {
                let start = aligned_start(ts, size, offset);
                out.push(Window::interval(start, start.saturating_add(size)));
            }
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => {
                // Latest start first, as Beam's SlidingWindows does.
                let mut start = aligned_start(ts, period, offset);
                let earliest_excluded = ts.saturating_sub(size);
                while start > earliest_excluded {
                    out.push(Window::interval(start, start.saturating_add(size)));
                    match start.checked_sub(period) {
                        Some(previous) => start = previous,
                        None => break,
                    }
                }
            }
            WindowFn::Sessions { gap } => out.push(Window::interval(ts, ts.saturating_add(gap))),
        }
    }

    /// Whether windows of this function can merge.
    pub fn is_merging(&self) -> bool {
        match self {
            WindowFn::Sessions { .. } => true,
            WindowFn::Custom(custom) => custom.merging,
            _ => false,
        }
    }

    /// Which of `windows` merge, and into what. Windows that merge with nothing are
    /// left out. Only merging functions ever return groups.
    pub fn merge(&self, windows: &[Window]) -> Vec<MergeGroup> {
        self.merge_batch(&[windows.to_vec()])
            .ok()
            .and_then(|mut groups| groups.pop())
            .unwrap_or_default()
    }

    /// [`Self::merge`] for the windows of many keys at once. An error means a custom
    /// function cannot go on.
    pub fn merge_batch(&self, per_key: &[Vec<Window>]) -> Result<Vec<Vec<MergeGroup>>, String> {
        match self {
            WindowFn::Sessions { .. } => Ok(per_key
                .iter()
                .map(|windows| merge_overlapping(windows))
                .collect()),
            WindowFn::Custom(custom) if custom.merging => custom
                .assigner
                .lock()
                .map_err(|_| format!("{} failed earlier", custom.name))?
                .merge(per_key),
            _ => Ok(per_key.iter().map(|_| Vec::new()).collect()),
        }
    }
}

/// The start of the window of `size` aligned at `offset` that contains `ts`.
fn aligned_start(ts: Timestamp, size: i64, offset: i64) -> Timestamp {
    ts - (ts as i128 - offset as i128).rem_euclid(size as i128) as i64
}

/// Merges intervals that overlap (share an instant), as Beam's
/// MergeOverlappingIntervalWindows: sort by start, grow a run while the next window
/// starts before the run ends.
pub fn merge_overlapping(windows: &[Window]) -> Vec<MergeGroup> {
    let mut sorted: Vec<Window> = windows.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut groups = Vec::new();
    let mut members: Vec<Window> = Vec::new();
    let mut span: Option<Window> = None;
    for window in sorted {
        match span {
            Some(current) if current.intersects(&window) => {
                members.push(window);
                span = Some(current.span(&window));
            }
            _ => {
                if let Some(result) = span.take()
                    && members.len() > 1
                {
                    groups.push(MergeGroup {
                        members: std::mem::take(&mut members),
                        result,
                    });
                }
                members.clear();
                members.push(window);
                span = Some(window);
            }
        }
    }
    if let Some(result) = span
        && members.len() > 1
    {
        groups.push(MergeGroup { members, result });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(window_fn: &WindowFn, ts: Timestamp) -> Vec<Window> {
        let mut out = AssignedWindows::new();
        window_fn.assign(ts, &mut out);
        out.into_vec()
    }

    #[test]
    fn global_window_covers_everything() {
        assert_eq!(assign(&WindowFn::Global, -5), vec![Window::Global]);
        assert_eq!(Window::Global.max_timestamp(), i64::MAX - 1);
        assert_eq!(Window::Global.gc_time(86_400_000), i64::MAX - 1);
    }

    #[test]
    fn fixed_windows_align_at_offset_including_negative_times() {
        let fixed = WindowFn::Fixed {
            size: 120_000,
            offset: 0,
        };
        assert_eq!(assign(&fixed, 26_000), vec![Window::interval(0, 120_000)]);
        assert_eq!(assign(&fixed, 119_999), vec![Window::interval(0, 120_000)]);
        assert_eq!(
            assign(&fixed, 120_000),
            vec![Window::interval(120_000, 240_000)]
        );
        assert_eq!(assign(&fixed, -1), vec![Window::interval(-120_000, 0)]);
        let shifted = WindowFn::Fixed {
            size: 60_000,
            offset: 15_000,
        };
        assert_eq!(
            assign(&shifted, 10_000),
            vec![Window::interval(-45_000, 15_000)]
        );
        assert_eq!(
            assign(&shifted, 15_000),
            vec![Window::interval(15_000, 75_000)]
        );
        assert_eq!(Window::interval(0, 120_000).max_timestamp(), 119_999);
    }

    #[test]
    fn sliding_windows_cover_each_instant_size_over_period_times() {
        let sliding = WindowFn::Sliding {
            size: 60_000,
            period: 20_000,
            offset: 0,
        };
        assert_eq!(
            assign(&sliding, 45_000),
            vec![
                Window::interval(40_000, 100_000),
                Window::interval(20_000, 80_000),
                Window::interval(0, 60_000),
            ]
        );
        assert_eq!(
            assign(&sliding, 40_000),
            vec![
                Window::interval(40_000, 100_000),
                Window::interval(20_000, 80_000),
                Window::interval(0, 60_000),
            ]
        );
        for ts in [-70_001, -1, 0, 1, 59_999, 1_000_000] {
            let windows = assign(&sliding, ts);
            assert_eq!(windows.len(), 3, "ts {ts}");
            assert!(windows.iter().all(|w| w.start() <= ts && ts < w.end()));
        }
    }

    #[test]
    fn sessions_open_a_gap_long_window_and_merge_only_when_overlapping() {
        let sessions = WindowFn::Sessions { gap: 60_000 };
        assert_eq!(
            assign(&sessions, 26_000),
            vec![Window::interval(26_000, 86_000)]
        );
        assert!(sessions.is_merging());
        // Touching windows do not merge.
        assert!(
            sessions
                .merge(&[
                    Window::interval(0, 60_000),
                    Window::interval(60_000, 120_000)
                ])
                .is_empty()
        );
        let groups = sessions.merge(&[
            Window::interval(219_000, 279_000),
            Window::interval(144_000, 204_000),
            Window::interval(186_000, 246_000),
            Window::interval(259_000, 319_000),
            Window::interval(399_000, 459_000),
        ]);
        assert_eq!(
            groups,
            vec![MergeGroup {
                members: vec![
                    Window::interval(144_000, 204_000),
                    Window::interval(186_000, 246_000),
                    Window::interval(219_000, 279_000),
                    Window::interval(259_000, 319_000),
                ],
                result: Window::interval(144_000, 319_000),
            }]
        );
    }

    #[test]
    fn non_merging_functions_never_merge() {
        let fixed = WindowFn::Fixed {
            size: 10,
            offset: 0,
        };
        assert!(
            fixed
                .merge(&[Window::interval(0, 10), Window::interval(5, 15)])
                .is_empty()
        );
    }

    #[test]
    fn windows_near_the_end_of_time_saturate() {
        let fixed = WindowFn::Fixed {
            size: 1000,
            offset: 0,
        };
        let windows = assign(&fixed, i64::MAX - 10);
        assert_eq!(windows[0].end(), i64::MAX);
        assert_eq!(windows[0].max_timestamp(), i64::MAX - 1);
    }
}
