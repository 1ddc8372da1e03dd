//! Windows and window functions: how event time is cut into finite pieces.
//!
//! A window is the global window or a half-open interval `[start, end)`; its max
//! timestamp, the last instant it contains, is `end − 1`. A [`WindowFn`] assigns each
//! element to windows by its timestamp and, for merging functions such as sessions,
//! says which windows become one (paper §2.2).
//!
//! ```
//! use millrace_model::window::{Window, WindowFn};
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

use crate::time::{
    END_OF_GLOBAL_WINDOW, MAX_DURATION, MAX_TIMESTAMP, MIN_TIMESTAMP, OutOfRange, Timestamp,
    event_time, format_duration,
};

/// How many windows one element may be in unless the spec's window step says
/// otherwise (`max_windows_per_element`). Each window costs the element a copy and a
/// state update, so a bundle of 1000 records makes at most a million; it covers
/// sliding windows such as 1h every 1m (60) or 1d every 2m (720).
pub const DEFAULT_MAX_WINDOWS_PER_ELEMENT: u64 = 1000;

/// The most windows per element a spec may allow, and the bound that
/// [`WindowFn::assign`] itself enforces whatever it is given.
pub const MAX_WINDOWS_PER_ELEMENT: u64 = 100_000;

/// Why an element gets no windows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// The element's timestamp is outside the supported range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// The function's settings are outside what a spec can give (a zero size, a
    /// period longer than the size, a duration past [`MAX_DURATION`]).
    #[error("the window function {0:?} has settings outside the supported range")]
    Invalid(WindowFn),
    /// The element would be in more windows than allowed.
    #[error("{windows} windows per element; at most {max}")]
    TooManyWindows {
        /// How many windows the element would be in.
        windows: u64,
        /// The bound.
        max: u64,
    },
}

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
    #[inline]
    pub fn max_timestamp(&self) -> Timestamp {
        match *self {
            Window::Global => END_OF_GLOBAL_WINDOW,
            Window::Interval { end, .. } => end.saturating_sub(1).min(END_OF_GLOBAL_WINDOW),
        }
    }

    /// The window's start, −∞ for the global window.
    #[inline]
    pub fn start(&self) -> Timestamp {
        match *self {
            Window::Global => MIN_TIMESTAMP,
            Window::Interval { start, .. } => start,
        }
    }

    /// The window's end, +∞ for the global window.
    #[inline]
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
    #[inline]
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

/// How elements are assigned to windows. It serializes as the spec writes it (a
/// custom function as its name), for the descriptions a checkpoint is checked by.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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
    max_windows: u64,
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
            max_windows: DEFAULT_MAX_WINDOWS_PER_ELEMENT,
            assigner: Arc::new(Mutex::new(assigner)),
        }
    }

    /// The same function, assigning at most `max` windows to an element: an element
    /// given more is that element's fault (a dead letter), not the pipeline's.
    pub fn with_max_windows(mut self, max: u64) -> Self {
        self.max_windows = max;
        self
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Assigns a batch of records; a record given more windows than the bound gets
    /// an error instead.
    pub fn assign(
        &self,
        records: &[Record],
    ) -> Result<Vec<Result<AssignedWindows, String>>, String> {
        let mut assigned = self
            .assigner
            .lock()
            .map_err(|_| format!("{} failed earlier", self.name))?
            .assign(records)?;
        for windows in &mut assigned {
            if let Ok(list) = windows
                && list.len() as u64 > self.max_windows
            {
                *windows = Err(AssignError::TooManyWindows {
                    windows: list.len() as u64,
                    max: self.max_windows,
                }
                .to_string());
            }
        }
        Ok(assigned)
    }
}

impl fmt::Debug for CustomWindowFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomWindowFn({})", self.name)
    }
}

impl serde::Serialize for CustomWindowFn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
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
    ///
    /// Total on every input: a timestamp outside the supported range, settings no
    /// spec can give, or more than [`MAX_WINDOWS_PER_ELEMENT`] windows are errors,
    /// and the arithmetic is checked (it cannot overflow once those are excluded).
    pub fn assign(&self, ts: Timestamp, out: &mut AssignedWindows) -> Result<(), AssignError> {
        let before = out.len();
        let assigned = self.assign_checked(ts, out);
        if assigned.is_err() {
            out.truncate(before);
        }
        assigned
    }

    fn assign_checked(&self, ts: Timestamp, out: &mut AssignedWindows) -> Result<(), AssignError> {
        let invalid = || AssignError::Invalid(self.clone());
        if matches!(self, WindowFn::Custom(_)) {
            return Ok(());
        }
        let ts = event_time(ts)?;
        if !self.has_supported_settings() {
            return Err(invalid());
        }
        match *self {
            WindowFn::Custom(_) => {}
            WindowFn::Global => out.push(Window::Global),
            WindowFn::Fixed { size, offset } => {
                let start = aligned_start(ts, size, offset).ok_or_else(invalid)?;
                out.push(Window::interval(
                    start,
                    start.checked_add(size).ok_or_else(invalid)?,
                ));
            }
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => {
                let windows = (size as u64).div_ceil(period as u64);
                if windows > MAX_WINDOWS_PER_ELEMENT {
                    return Err(AssignError::TooManyWindows {
                        windows,
                        max: MAX_WINDOWS_PER_ELEMENT,
                    });
                }
                // Latest start first, as Beam's SlidingWindows does; at most
                // ⌈size / period⌉ windows.
                let mut start = aligned_start(ts, period, offset).ok_or_else(invalid)?;
                let earliest_excluded = ts.checked_sub(size).ok_or_else(invalid)?;
                while start > earliest_excluded {
                    out.push(Window::interval(
                        start,
                        start.checked_add(size).ok_or_else(invalid)?,
                    ));
                    start = start.checked_sub(period).ok_or_else(invalid)?;
                }
            }
            WindowFn::Sessions { gap } => out.push(Window::interval(
                ts,
                ts.checked_add(gap).ok_or_else(invalid)?,
            )),
        }
        Ok(())
    }

    /// How many windows an element can be in at most, for non-custom functions.
    pub fn windows_per_element(&self) -> Option<u64> {
        match *self {
            WindowFn::Sliding { size, period, .. } if period > 0 => {
                Some((size.max(0) as u64).div_ceil(period as u64))
            }
            WindowFn::Custom(_) => None,
            _ => Some(1),
        }
    }

    /// Whether every duration is one a spec can give (see [`crate::time::MAX_DURATION`]).
    fn has_supported_settings(&self) -> bool {
        let duration = |millis: i64| (0..=MAX_DURATION).contains(&millis);
        let positive = |millis: i64| millis > 0 && duration(millis);
        match *self {
            WindowFn::Global | WindowFn::Custom(_) => true,
            WindowFn::Fixed { size, offset } => positive(size) && duration(offset),
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => positive(size) && positive(period) && period <= size && duration(offset),
            WindowFn::Sessions { gap } => positive(gap),
        }
    }

    /// Why a spec's window function is refused with at most `max` windows per
    /// element, e.g. "size 100000d over period 1ms makes 8640000000000 windows per
    /// element; at most 1000".
    pub fn check_windows_per_element(&self, max: u64) -> Result<(), String> {
        match (self, self.windows_per_element()) {
            (WindowFn::Sliding { size, period, .. }, Some(windows)) if windows > max => {
                Err(format!(
                    "size {} over period {} makes {windows} windows per element; at most {max} \
                     (max_windows_per_element, which can be raised to {MAX_WINDOWS_PER_ELEMENT})",
                    format_duration(*size),
                    format_duration(*period),
                ))
            }
            _ => Ok(()),
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

/// The start of the window of `size` aligned at `offset` that contains `ts`, if it
/// is a time (`size` is positive).
fn aligned_start(ts: Timestamp, size: i64, offset: i64) -> Option<Timestamp> {
    let into_window = (i128::from(ts) - i128::from(offset)).checked_rem_euclid(i128::from(size))?;
    i64::try_from(i128::from(ts) - into_window).ok()
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
        window_fn.assign(ts, &mut out).unwrap();
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
    fn timestamps_outside_the_supported_range_get_no_windows() {
        use crate::time::{MAX_EVENT_TIME, MIN_EVENT_TIME};
        let functions = [
            WindowFn::Global,
            WindowFn::Fixed {
                size: 1000,
                offset: 0,
            },
            WindowFn::Sliding {
                size: 60_000,
                period: 1000,
                offset: 7,
            },
            WindowFn::Sessions { gap: 1000 },
        ];
        for window_fn in &functions {
            for ts in [
                i64::MIN,
                -9_223_372_036_854_775_807,
                MIN_EVENT_TIME - 1,
                MAX_EVENT_TIME + 1,
                i64::MAX,
            ] {
                let mut out = AssignedWindows::new();
                let err = window_fn.assign(ts, &mut out).unwrap_err();
                assert_eq!(err, AssignError::OutOfRange(OutOfRange(ts)));
                assert!(out.is_empty());
            }
            for ts in [MIN_EVENT_TIME, MAX_EVENT_TIME] {
                let windows = assign(window_fn, ts);
                assert!(!windows.is_empty());
                assert!(
                    windows.iter().all(|w| w.start() <= ts && ts < w.end()),
                    "{window_fn:?} at {ts}"
                );
            }
        }
    }

    #[test]
    fn assignment_is_bounded_whatever_the_settings() {
        let huge = WindowFn::Sliding {
            size: MAX_DURATION,
            period: 1,
            offset: 0,
        };
        let mut out = AssignedWindows::new();
        assert!(matches!(
            huge.assign(0, &mut out),
            Err(AssignError::TooManyWindows { .. })
        ));
        for invalid in [
            WindowFn::Fixed { size: 0, offset: 0 },
            WindowFn::Fixed {
                size: i64::MAX,
                offset: 0,
            },
            WindowFn::Fixed {
                size: 10,
                offset: i64::MIN,
            },
            WindowFn::Sliding {
                size: 10,
                period: 20,
                offset: 0,
            },
            WindowFn::Sliding {
                size: -10,
                period: -20,
                offset: 0,
            },
            WindowFn::Sessions { gap: i64::MAX },
        ] {
            assert!(matches!(
                invalid.assign(0, &mut out),
                Err(AssignError::Invalid(_))
            ));
        }
        assert!(out.is_empty());
    }

    #[test]
    fn too_many_sliding_windows_are_named_for_the_spec() {
        let sliding = WindowFn::Sliding {
            size: 100_000 * 86_400_000,
            period: 1,
            offset: 0,
        };
        assert_eq!(
            sliding.check_windows_per_element(1000).unwrap_err(),
            "size 100000d over period 1ms makes 8640000000000 windows per element; at most 1000 \
             (max_windows_per_element, which can be raised to 100000)"
        );
        let ok = WindowFn::Sliding {
            size: 3_600_000,
            period: 60_000,
            offset: 0,
        };
        assert_eq!(ok.windows_per_element(), Some(60));
        assert!(ok.check_windows_per_element(60).is_ok());
        assert!(ok.check_windows_per_element(59).is_err());
    }
}
