//! Timers: requests to be woken when the watermark or the processing clock passes a
//! time.
//!
//! A [`TimerQueue`] orders `(time, target)` entries by time. Its owner keeps, per target,
//! the times it really wants and which of them is queued, and resolves each entry as
//! it surfaces: fire it, re-queue it later (the target's earliest time moved on, as
//! when a session grows), or drop it (the target is gone). That keeps one entry per
//! target however often its times change.
//!
//! A [`ProcessingClock`] is a step's reading of the processing clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::time::Timestamp;

/// Where every processing clock starts: the epoch. A test stream's virtual clock
/// starts here (docs/spec.md, test streams) and the wall clock is always past it.
pub const PROCESSING_TIME_START: Timestamp = 0;

/// A step's reading of the processing clock: it starts at [`PROCESSING_TIME_START`]
/// and never moves back.
///
/// The reading is never "unset": elements that arrive before a source first moves
/// the clock arrive at its start, as a test stream's first elements do. (A reading of
/// −∞ there once made a processing-time delay count from −∞, so that it fired at the
/// first clock advance whatever its length.) It is stored as its plain timestamp, so
/// checkpoints hold the same bytes as before the type existed; a stored time before
/// the start — what those checkpoints hold for a clock never moved — reads as the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Timestamp", into = "Timestamp")]
pub struct ProcessingClock(Timestamp);

impl ProcessingClock {
    /// The current processing time.
    pub fn now(self) -> Timestamp {
        self.0
    }

    /// Moves the clock to `now` unless it is already later; returns the current time.
    pub fn advance(&mut self, now: Timestamp) -> Timestamp {
        self.0 = self.0.max(now);
        self.0
    }
}

impl Default for ProcessingClock {
    fn default() -> Self {
        ProcessingClock(PROCESSING_TIME_START)
    }
}

impl From<Timestamp> for ProcessingClock {
    fn from(time: Timestamp) -> Self {
        let mut clock = ProcessingClock::default();
        clock.advance(time);
        clock
    }
}

impl From<ProcessingClock> for Timestamp {
    fn from(clock: ProcessingClock) -> Self {
        clock.0
    }
}

/// The clock a timer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Fires when the input watermark passes the time.
    EventTime,
    /// Fires when the processing clock passes the time.
    ProcessingTime,
}

/// A timer asked for by a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerRequest {
    /// Which clock.
    pub domain: TimeDomain,
    /// The time to pass.
    pub time: Timestamp,
}

/// What the owner of a queue decides about an entry that surfaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The entry stands for a live timer at its time.
    Live,
    /// The target's earliest time is now this, later: queue it again there.
    Later(Timestamp),
    /// The entry no longer stands for anything.
    Dead,
}

/// Timers ordered by time; see the module docs. Timers cluster (every fixed window
/// of a minute ends at the same instant), so entries are bucketed by time, with room
/// for a couple of targets inline.
#[derive(Debug)]
pub struct TimerQueue<T> {
    buckets: BTreeMap<Timestamp, SmallVec<[T; 2]>>,
    len: usize,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            buckets: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<T: Copy> TimerQueue<T> {
    /// Queues `target` at `time`.
    pub fn push(&mut self, time: Timestamp, target: T) {
        self.buckets.entry(time).or_default().push(target);
        self.len += 1;
    }

    /// Removes the last entry of the earliest bucket, if its time is before `bound`.
    fn take_first(&mut self, bound: Timestamp) -> Option<(Timestamp, T)> {
        let mut entry = self.buckets.first_entry()?;
        let time = *entry.key();
        if time >= bound {
            return None;
        }
        let target = entry.get_mut().pop();
        if entry.get().is_empty() {
            entry.remove();
        }
        let target = target?;
        self.len -= 1;
        Some((time, target))
    }

    /// Pops the earliest live entry strictly before `bound`, resolving the entries
    /// that surface on the way.
    pub fn pop_before(
        &mut self,
        bound: Timestamp,
        mut resolve: impl FnMut(Timestamp, &T) -> Resolution,
    ) -> Option<(Timestamp, T)> {
        while let Some((time, target)) = self.take_first(bound) {
            match resolve(time, &target) {
                Resolution::Live => return Some((time, target)),
                Resolution::Later(later) => self.push(later, target),
                Resolution::Dead => {}
            }
        }
        None
    }

    /// The earliest live time, resolving the entries that surface on the way.
    pub fn earliest_live(
        &mut self,
        mut resolve: impl FnMut(Timestamp, &T) -> Resolution,
    ) -> Option<Timestamp> {
        loop {
            let (&time, targets) = self.buckets.first_key_value()?;
            let target = *targets.last()?;
            match resolve(time, &target) {
                Resolution::Live => return Some(time),
                Resolution::Later(later) => {
                    self.take_first(Timestamp::MAX);
                    self.push(later, target);
                }
                Resolution::Dead => {
                    self.take_first(Timestamp::MAX);
                }
            }
        }
    }

    /// Drops every entry that `is_dead` says is dead.
    pub fn compact(&mut self, mut is_dead: impl FnMut(Timestamp, &T) -> bool) {
        let mut len = 0;
        self.buckets.retain(|&time, targets| {
            targets.retain(|target| !is_dead(time, target));
            len += targets.len();
            !targets.is_empty()
        });
        self.len = len;
    }

    /// The number of queued entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_before_the_bound() {
        let mut queue = TimerQueue::default();
        queue.push(30, 'c');
        queue.push(10, 'a');
        queue.push(10, 'b');
        let live = |_: Timestamp, _: &char| Resolution::Live;
        assert_eq!(
            queue.pop_before(10, live),
            None,
            "strictly before the bound"
        );
        let mut first = [queue.pop_before(11, live), queue.pop_before(11, live)];
        first.sort();
        assert_eq!(first, [Some((10, 'a')), Some((10, 'b'))]);
        assert_eq!(queue.pop_before(31, live), Some((30, 'c')));
        assert!(queue.is_empty());
    }

    #[test]
    fn surfacing_entries_are_moved_later_or_dropped() {
        let mut queue = TimerQueue::default();
        queue.push(10, 1);
        queue.push(10, 2);
        queue.push(20, 3);
        // 1 moved to 25, 2 is gone.
        let resolve = |time: Timestamp, target: &i32| match (time, *target) {
            (10, 1) => Resolution::Later(25),
            (_, 2) => Resolution::Dead,
            _ => Resolution::Live,
        };
        assert_eq!(queue.earliest_live(resolve), Some(20));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop_before(100, resolve), Some((20, 3)));
        assert_eq!(queue.pop_before(100, resolve), Some((25, 1)));
        queue.push(5, 9);
        queue.compact(|_, &t| t == 9);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_processing_clock_starts_at_the_epoch_and_never_moves_back() {
        let mut clock = ProcessingClock::default();
        assert_eq!(clock.now(), PROCESSING_TIME_START);
        assert_eq!(clock.advance(20), 20);
        assert_eq!(clock.advance(5), 20, "never backwards");
        assert_eq!(clock.advance(i64::MIN), 20);
    }

    #[test]
    fn a_stored_processing_clock_is_its_plain_timestamp() {
        let clock = ProcessingClock::from(299_000);
        let bytes = postcard::to_stdvec(&clock).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&299_000_i64).unwrap());
        assert_eq!(
            postcard::from_bytes::<ProcessingClock>(&bytes).unwrap(),
            clock
        );
        // What a checkpoint holds for a clock that was never moved, before this type.
        let unset = postcard::to_stdvec(&i64::MIN).unwrap();
        assert_eq!(
            postcard::from_bytes::<ProcessingClock>(&unset).unwrap(),
            ProcessingClock::default()
        );
    }
}
