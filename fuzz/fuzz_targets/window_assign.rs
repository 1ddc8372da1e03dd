//! Window assignment with the parameters a valid spec can give (fixed, sliding and
//! sessions sizes, periods, offsets, gaps: whole milliseconds, sizes and gaps of at
//! least 1, a period no longer than the size) and every event time a source accepts,
//! then session merging. The windows must be exactly those of a reference computed in
//! 128-bit arithmetic, each must contain its element, and merges must be disjoint
//! spans of their members.
//!
//! The inputs of two known bugs (issue 9, found 2 and 3) are skipped unless
//! `MILLRACE_FUZZ_KNOWN_BUGS` is set: an aligned window start below the first
//! representable instant (an event time near −2^63 overflows `aligned_start`), and
//! more than [`MAX_WINDOWS`] sliding windows per element (nothing bounds size/period).
//! Once window.rs bounds both, `reference` should expect its errors instead.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace::time::{END_OF_GLOBAL_WINDOW, MAX_TIMESTAMP, MIN_TIMESTAMP};
use millrace::window::{AssignedWindows, MergeGroup, Window, WindowFn};

/// More sliding windows per element than this is the unbounded-assignment bug.
const MAX_WINDOWS: i128 = 1024;

/// A window function as a valid spec gives it, and the elements' event times.
#[derive(Debug)]
struct Input {
    function: WindowFn,
    timestamps: Vec<i64>,
    allowed_lateness: i64,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let function = match u.int_in_range(0..=2)? {
            0 => WindowFn::Fixed {
                size: positive(u)?,
                offset: duration(u)?,
            },
            1 => {
                let (a, b) = (positive(u)?, positive(u)?);
                WindowFn::Sliding {
                    size: a.max(b),
                    period: a.min(b),
                    offset: duration(u)?,
                }
            }
            _ => WindowFn::Sessions { gap: positive(u)? },
        };
        let count = u.int_in_range(1..=32)?;
        let timestamps = (0..count).map(|_| timestamp(u)).collect::<Result<_>>()?;
        Ok(Input {
            function,
            timestamps,
            allowed_lateness: duration(u)?,
        })
    }
}

/// A duration a spec accepts (`0` to `i64::MAX` ms), biased to the sizes people write
/// and to the ends of the range.
fn duration(u: &mut Unstructured<'_>) -> Result<i64> {
    const UNITS: [i64; 5] = [1, 1_000, 60_000, 3_600_000, 86_400_000];
    Ok(match u.int_in_range(0..=3)? {
        0 => u.int_in_range(0..=i64::MAX)?,
        1 => i64::from(u.arbitrary::<u16>()?) * UNITS[u.choose_index(UNITS.len())?],
        2 => i64::MAX - i64::from(u.arbitrary::<u16>()?),
        _ => i64::from(u.arbitrary::<u8>()?),
    })
}

fn positive(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(duration(u)?.max(1))
}

/// An event time a source accepts: above −∞ and at most the end of the global window.
fn timestamp(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.int_in_range(MIN_TIMESTAMP + 1..=END_OF_GLOBAL_WINDOW)?,
        1 => MIN_TIMESTAMP + 1 + i64::from(u.arbitrary::<u16>()?),
        2 => END_OF_GLOBAL_WINDOW - i64::from(u.arbitrary::<u16>()?),
        _ => i64::from(u.arbitrary::<i32>()?),
    })
}

fuzz_target!(|input: Input| {
    let mut sessions = Vec::new();
    for &ts in &input.timestamps {
        let mut assigned = AssignedWindows::new();
        let Some(expected) = reference(&input.function, ts) else {
            if show_known_bugs() {
                input.function.assign(ts, &mut assigned);
            }
            continue;
        };
        input.function.assign(ts, &mut assigned);
        assert_eq!(
            assigned.as_slice(),
            expected.as_slice(),
            "{:?} assigned {ts} to other windows than the reference",
            input.function
        );
        for window in &assigned {
            assert!(
                window.start() <= ts && ts < window.end() && ts <= window.max_timestamp(),
                "{window} does not contain {ts}"
            );
            assert!(window.gc_time(input.allowed_lateness) >= window.max_timestamp());
        }
        sessions.extend(assigned);
    }
    if input.function.is_merging() {
        check_merges(&sessions, &input.function.merge(&sessions));
    }
});

/// The windows of `ts` computed in 128-bit arithmetic, latest start first; `None` for
/// the inputs of a known bug.
fn reference(function: &WindowFn, ts: i64) -> Option<Vec<Window>> {
    let (min, max, ts) = (
        i128::from(MIN_TIMESTAMP),
        i128::from(MAX_TIMESTAMP),
        i128::from(ts),
    );
    let window = |start: i128, size: i128| {
        // Ends saturate at +∞, as window.rs does.
        Window::interval(start as i64, (start + size).min(max) as i64)
    };
    let aligned = |size: i64, offset: i64| {
        let (size, offset) = (i128::from(size), i128::from(offset));
        ts - (ts - offset).rem_euclid(size)
    };
    match *function {
        WindowFn::Fixed { size, offset } => {
            let start = aligned(size, offset);
            if start < min {
                return None;
            }
            Some(vec![window(start, i128::from(size))])
        }
        WindowFn::Sliding {
            size,
            period,
            offset,
        } => {
            let latest = aligned(period, offset);
            let (size, period) = (i128::from(size), i128::from(period));
            let count = (latest - (ts - size) + period - 1) / period;
            if latest < min || count > MAX_WINDOWS {
                return None;
            }
            // A window starting at −∞ itself is not an interval the engine makes.
            Some(
                (0..count)
                    .map(|k| latest - k * period)
                    .take_while(|&start| start > min)
                    .map(|start| window(start, size))
                    .collect(),
            )
        }
        WindowFn::Sessions { gap } => Some(vec![window(ts, i128::from(gap))]),
        WindowFn::Global | WindowFn::Custom(_) => None,
    }
}

/// Whether to run the engine on the inputs of the known bugs anyway.
fn show_known_bugs() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("MILLRACE_FUZZ_KNOWN_BUGS").is_some())
}

/// Merges combine two or more of the given windows into their span, no window is in
/// two merges, and nothing left overlaps.
fn check_merges(windows: &[Window], merges: &[MergeGroup]) {
    let mut seen: Vec<Window> = Vec::new();
    for merge in merges {
        assert!(merge.members.len() >= 2, "a merge of one window: {merge:?}");
        let span = merge.members[1..]
            .iter()
            .fold(merge.members[0], |span, window| span.span(window));
        assert_eq!(
            span, merge.result,
            "a merge's result is not its members' span"
        );
        for member in &merge.members {
            assert!(windows.contains(member), "{member} was not given to merge");
            assert!(!seen.contains(member), "{member} is in two merges");
            seen.push(*member);
        }
    }
    // After merging, what is left (results and unmerged windows) overlaps nothing else.
    let mut left: Vec<Window> = merges.iter().map(|merge| merge.result).collect();
    left.extend(windows.iter().filter(|window| !seen.contains(window)));
    left.sort();
    left.dedup();
    for (i, a) in left.iter().enumerate() {
        for b in &left[i + 1..] {
            assert!(!a.intersects(b), "{a} and {b} overlap after merging");
        }
    }
}
