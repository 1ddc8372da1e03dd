//! The grouping's timer and hold queues, and how a surfacing queue entry is
//! resolved against the window it names. Each window has at most one live entry per
//! queue, at the earliest time it wants there (see [`crate::timer`]); stale entries
//! are recognised when they surface and dropped.

use std::mem;

use smallvec::SmallVec;

use super::state::{KeyId, Keys, NOT_QUEUED, QueueKind, Target, TimerTarget, WindowState};
use crate::time::Timestamp;
use crate::timer::{Resolution, TimeDomain, TimerQueue, TimerRequest};

/// The operator's timer and hold queues. Each window has at most one live entry per
/// queue, at the earliest time it wants there (see [`crate::timer`]).
#[derive(Debug, Default)]
pub(super) struct Queues {
    /// Trigger timers on the watermark; they hold the output watermark.
    pub(super) event: TimerQueue<TimerTarget>,
    /// Garbage-collection times; they do not hold the output watermark.
    pub(super) gc: TimerQueue<TimerTarget>,
    /// Trigger timers on the processing clock.
    pub(super) processing: TimerQueue<TimerTarget>,
    /// Holds of buffered elements on the output watermark.
    pub(super) holds: TimerQueue<TimerTarget>,
}

impl Queues {
    pub(super) fn queue(&mut self, kind: QueueKind) -> &mut TimerQueue<TimerTarget> {
        match kind {
            QueueKind::Event => &mut self.event,
            QueueKind::Gc => &mut self.gc,
            QueueKind::Processing => &mut self.processing,
            QueueKind::Hold => &mut self.holds,
        }
    }

    /// Makes sure the window has an entry no later than `time` in the queue of `kind`.
    pub(super) fn schedule<A>(
        &mut self,
        kind: QueueKind,
        key: KeyId,
        state: &mut WindowState<A>,
        time: Timestamp,
    ) {
        let queued = &mut state.queued[kind as usize];
        if time < *queued {
            *queued = time;
            self.queue(kind)
                .push(time, TimerTarget { key, id: state.id });
        }
    }

    /// Queues the timers a trigger asked for, and the window's GC timer.
    pub(super) fn register<A>(
        &mut self,
        key: KeyId,
        state: &mut WindowState<A>,
        requests: &[TimerRequest],
        allowed_lateness: i64,
    ) {
        for request in requests {
            let (registry, kind) = match request.domain {
                TimeDomain::EventTime => (&mut state.event_timers, QueueKind::Event),
                TimeDomain::ProcessingTime => {
                    (&mut state.rare().processing_timers, QueueKind::Processing)
                }
            };
            if !registry.contains(&request.time) {
                registry.push(request.time);
                self.schedule(kind, key, state, request.time);
            }
        }
        if state.gc_timer.is_none() {
            let gc_time = state.window.gc_time(allowed_lateness);
            state.gc_timer = Some(gc_time);
            // An end-of-window timer at the same instant wakes the window for
            // collection just as well.
            if !state.event_timers.contains(&gc_time) {
                self.schedule(QueueKind::Gc, key, state, gc_time);
            }
        }
    }
}

/// Decides what a surfacing queue entry of `kind` stands for, keeping the window's
/// queue marks up to date.
pub(super) fn resolve<A>(
    keys: &mut Keys<A>,
    kind: QueueKind,
    time: Timestamp,
    target: &TimerTarget,
) -> Resolution {
    let Some(state) = keys.queued_window_mut(target) else {
        return Resolution::Dead;
    };
    let queued = &mut state.queued[kind as usize];
    if *queued != time {
        // Superseded by an earlier entry for the same window.
        return Resolution::Dead;
    }
    match state.earliest(kind) {
        None => {
            state.queued[kind as usize] = NOT_QUEUED;
            Resolution::Dead
        }
        Some(earliest) if earliest <= time => Resolution::Live,
        Some(earliest) => {
            state.queued[kind as usize] = earliest;
            Resolution::Later(earliest)
        }
    }
}

/// Removes `time` from a window's timer registry; whether it was there.
#[inline]
fn remove_timer(registry: &mut SmallVec<[Timestamp; 1]>, time: Timestamp) -> bool {
    match registry.iter().position(|&t| t == time) {
        Some(index) => {
            registry.swap_remove(index);
            true
        }
        None => false,
    }
}

/// Keeps one activation per window (its earliest), ordered by time.
pub(super) fn dedup_activations(due: &mut Vec<(Timestamp, Target)>) {
    due.sort_unstable_by_key(|(time, target)| (*target, *time));
    due.dedup_by_key(|(_, target)| *target);
    due.sort_unstable();
}

/// The timers of a merged window. It keeps the id, and so the queue entries, of the
/// window it grew from — the result window's own earlier state (`base`) when it was
/// active, else the first source — so that a session that grows keeps one entry per
/// queue; and it keeps the base's trigger and collection timers. The merged trigger
/// state asks for any others it needs.
pub(super) fn merge<A>(
    merged: &mut WindowState<A>,
    sources: &mut [WindowState<A>],
    base: Option<usize>,
) {
    let donor = &sources[base.unwrap_or(0)];
    merged.id = donor.id;
    merged.queued = donor.queued;
    if let Some(base) = base.map(|index| &mut sources[index]) {
        merged.event_timers = mem::take(&mut base.event_timers);
        merged.gc_timer = base.gc_timer;
        if let Some(rare) = &mut base.rare
            && !rare.processing_timers.is_empty()
        {
            merged.rare().processing_timers = mem::take(&mut rare.processing_timers);
        }
    }
}

/// Pops every due timer of the queue of `kind`, queueing each window's next one,
/// and lists the windows woken with the time of their timer.
#[inline]
pub(super) fn take_due<A>(
    keys: &mut Keys<A>,
    queues: &mut Queues,
    kind: QueueKind,
    bound: Timestamp,
    due: &mut Vec<(Timestamp, Target)>,
) {
    let queue = queues.queue(kind);
    while let Some((time, target)) = queue.pop_before(bound, |t, tt| resolve(keys, kind, t, tt)) {
        let Some(state) = keys.queued_window_mut(&target) else {
            continue;
        };
        match kind {
            QueueKind::Event => {
                remove_timer(&mut state.event_timers, time);
            }
            QueueKind::Processing => {
                if let Some(rare) = &mut state.rare {
                    remove_timer(&mut rare.processing_timers, time);
                }
            }
            QueueKind::Gc => state.gc_timer = None,
            QueueKind::Hold => {}
        }
        state.queued[kind as usize] = NOT_QUEUED;
        if let Some(next) = state.earliest(kind) {
            state.queued[kind as usize] = next;
            queue.push(next, target);
        }
        due.push((
            time,
            Target {
                key: target.key,
                window: state.window,
            },
        ));
    }
}
