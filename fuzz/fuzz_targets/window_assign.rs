//! Window assignment with any settings and any event time, then session merging.
//! Assignment must be total: an event time outside the supported range, settings no
//! spec can give, or more than `MAX_WINDOWS_PER_ELEMENT` sliding windows are errors,
//! and everything else gives exactly the windows of a reference computed in 128-bit
//! arithmetic, each containing its element; merges must be disjoint spans of their
//! members.

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace_model::time::{MAX_DURATION, MAX_EVENT_TIME, MIN_EVENT_TIME};
use millrace_model::window::{
    AssignedWindows, MAX_WINDOWS_PER_ELEMENT, MergeGroup, Window, WindowFn,
};

/// A window function and the elements' event times.
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
                size: duration(u)?,
                offset: duration(u)?,
            },
            1 => WindowFn::Sliding {
                size: duration(u)?,
                period: duration(u)?,
                offset: duration(u)?,
            },
            _ => WindowFn::Sessions { gap: duration(u)? },
        };
        let count = u.int_in_range(1..=32)?;
        let timestamps = (0..count).map(|_| timestamp(u)).collect::<Result<_>>()?;
        Ok(Input {
            function,
            timestamps,
            allowed_lateness: duration(u)?.clamp(0, MAX_DURATION),
        })
    }
}

/// Any `i64`, biased to the sizes people write and to the ends of the supported and
/// representable ranges.
fn duration(u: &mut Unstructured<'_>) -> Result<i64> {
    const UNITS: [i64; 5] = [1, 1_000, 60_000, 3_600_000, 86_400_000];
    Ok(match u.int_in_range(0..=4)? {
        0 => u.arbitrary::<i64>()?,
        1 => i64::from(u.arbitrary::<u16>()?) * UNITS[u.choose_index(UNITS.len())?],
        2 => MAX_DURATION - i64::from(u.arbitrary::<i8>()?),
        3 => i64::MAX - i64::from(u.arbitrary::<u16>()?),
        _ => i64::from(u.arbitrary::<u8>()?),
    })
}

/// Any `i64`, biased to the ends of the supported range and of `i64`.
fn timestamp(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=4)? {
        0 => u.arbitrary::<i64>()?,
        1 => MIN_EVENT_TIME + i64::from(u.arbitrary::<i16>()?),
        2 => MAX_EVENT_TIME + i64::from(u.arbitrary::<i16>()?),
        3 => i64::MIN + i64::from(u.arbitrary::<u16>()?),
        _ => i64::from(u.arbitrary::<i32>()?),
    })
}

fuzz_target!(|input: Input| {
    let mut sessions = Vec::new();
    for &ts in &input.timestamps {
        let mut assigned = AssignedWindows::new();
        let result = input.function.assign(ts, &mut assigned);
        match reference(&input.function, ts) {
            None => {
                assert!(
                    result.is_err() && assigned.is_empty(),
                    "{:?} assigned {ts}, which it must refuse",
                    input.function
                );
                continue;
            }
            Some(expected) => {
                assert!(
                    result.is_ok(),
                    "{:?} refused {ts}: {result:?}",
                    input.function
                );
                assert_eq!(
                    assigned.as_slice(),
                    expected.as_slice(),
                    "{:?} assigned {ts} to other windows than the reference",
                    input.function
                );
            }
        }
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

/// The windows of `ts` computed in 128-bit arithmetic, latest start first; `None`
/// where assignment must be refused.
fn reference(function: &WindowFn, ts: i64) -> Option<Vec<Window>> {
    let duration = |millis: i64| (0..=MAX_DURATION).contains(&millis);
    let positive = |millis: i64| millis > 0 && duration(millis);
    if !(MIN_EVENT_TIME..=MAX_EVENT_TIME).contains(&ts) {
        return None;
    }
    let ts = i128::from(ts);
    let window = |start: i128, size: i128| {
        let end = start + size;
        Window::interval(i64::try_from(start).ok()?, i64::try_from(end).ok()?).into()
    };
    let aligned = |size: i64, offset: i64| {
        let (size, offset) = (i128::from(size), i128::from(offset));
        ts - (ts - offset).rem_euclid(size)
    };
    match *function {
        WindowFn::Fixed { size, offset } => {
            if !positive(size) || !duration(offset) {
                return None;
            }
            Some(vec![window(aligned(size, offset), i128::from(size))?])
        }
        WindowFn::Sliding {
            size,
            period,
            offset,
        } => {
            if !positive(size) || !positive(period) || period > size || !duration(offset) {
                return None;
            }
            let count = (size as u64).div_ceil(period as u64);
            if count > MAX_WINDOWS_PER_ELEMENT {
                return None;
            }
            let latest = aligned(period, offset);
            let (size, period) = (i128::from(size), i128::from(period));
            (0..)
                .map(|k| latest - k * period)
                .take_while(|&start| start > ts - size)
                .map(|start| window(start, size))
                .collect()
        }
        WindowFn::Sessions { gap } => {
            if !positive(gap) {
                return None;
            }
            Some(vec![window(ts, i128::from(gap))?])
        }
        WindowFn::Global | WindowFn::Custom(_) => None,
    }
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
