//! Timers: requests to be woken when the watermark or the processing clock passes a
//! time, queued per (key, window).
//!
//! Queues are min-heaps with lazy deletion: cancelling a timer only removes it from
//! its window's registry, and a heap entry whose window no longer holds that timer is
//! skipped when it surfaces. This keeps merging and garbage collection O(1) per
//! window while the earliest live timer stays cheap to find.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::record::Key;
use crate::time::Timestamp;
use crate::window::Window;

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

/// A queued timer: fire at `time` for `key` in `window`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerEntry {
    /// The time the clock must pass.
    pub time: Timestamp,
    /// The key the timer belongs to.
    pub key: Key,
    /// The window the timer belongs to.
    pub window: Window,
}

/// A min-heap of timers with lazy deletion.
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
}

impl TimerQueue {
    /// Queues a timer. The caller records it in the window's registry.
    pub fn push(&mut self, time: Timestamp, key: Key, window: Window) {
        self.heap.push(Reverse(TimerEntry { time, key, window }));
    }

    /// The earliest timer for which `is_live` holds, discarding dead ones on the way.
    pub fn peek_live(&mut self, mut is_live: impl FnMut(&TimerEntry) -> bool) -> Option<Timestamp> {
        while let Some(Reverse(entry)) = self.heap.peek() {
            if is_live(entry) {
                return Some(entry.time);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the earliest timer strictly before `bound`, if any. Dead
    /// entries are returned too; the caller checks them against its registry.
    pub fn pop_before(&mut self, bound: Timestamp) -> Option<TimerEntry> {
        match self.heap.peek() {
            Some(Reverse(entry)) if entry.time < bound => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// The number of queued entries, dead ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_skips_dead_entries() {
        let mut queue = TimerQueue::default();
        let key = Key::from_str_value("k");
        queue.push(30, key.clone(), Window::Global);
        queue.push(10, key.clone(), Window::Global);
        queue.push(20, key.clone(), Window::interval(0, 5));
        assert_eq!(queue.peek_live(|entry| entry.time != 10), Some(20));
        assert_eq!(queue.pop_before(25).map(|e| e.time), Some(20));
        assert_eq!(queue.pop_before(25), None);
        assert_eq!(queue.pop_before(31).map(|e| e.time), Some(30));
        assert!(queue.is_empty());
    }
}
