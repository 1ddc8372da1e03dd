//! Watermark holds (Beam's `WatermarkHold`): every hold of the grouping on its
//! output watermark, computed here and nowhere else.
//!
//! A window holds the output watermark so that the pane it will emit is not late
//! for the next step:
//!
//! - an **element hold** at each buffered element's output time — its window's max
//!   timestamp for `end_of_window`, its own timestamp for `earliest` and `latest` —
//!   combined per window by the timestamp combiner ([`WindowState::element_hold`]);
//! - a **late hold** at the window's garbage-collection time, for elements too late
//!   to hold at their own output time (that time is behind the output watermark, or
//!   the window's end is behind the input watermark), when lateness is allowed
//!   ([`Rare::late_hold`](super::state::Rare::late_hold));
//! - an **end-of-window timer hold**: pending event-time trigger timers hold the
//!   output watermark at their time (they are in the event queue, not here, but
//!   [`output_watermark`] counts them).
//!
//! Garbage-collection timers do not hold: that would delay every later step by the
//! allowed lateness (the window a collection timer expires decides its final pane
//! with the watermark held at that timer; see the grouping's docs). A pane's timestamp is the window's hold, capped at its max
//! timestamp; emitting the pane releases both holds. When windows merge, element
//! holds combine (an end-of-window hold moves to the merged window's end) and a
//! late hold moves to the merged window's GC time.

use super::state::{KeyId, QueueKind, WindowState};
use super::timers::Queues;
use crate::pane::TimestampCombiner;
use crate::time::Timestamp;
use crate::window::Window;

/// The hold policy of one grouping.
#[derive(Clone, Copy, Debug)]
pub(super) struct WatermarkHold {
    combiner: TimestampCombiner,
    allowed_lateness: i64,
}

/// The holds a bundle's elements add to one window.
#[derive(Debug, Default)]
pub(super) struct Arriving {
    /// The combined element hold of those that hold at their own output time.
    element: Option<Timestamp>,
    /// Some were too late to.
    late: bool,
}

impl WatermarkHold {
    /// The policy for a grouping with these settings.
    pub(super) fn new(combiner: TimestampCombiner, allowed_lateness: i64) -> Self {
        WatermarkHold {
            combiner,
            allowed_lateness,
        }
    }

    /// Adds an element at `ts` in `window` to what a bundle brings the window, given
    /// the grouping's watermarks.
    #[inline]
    pub(super) fn arrive(
        &self,
        arriving: &mut Arriving,
        ts: Timestamp,
        window: &Window,
        input_watermark: Timestamp,
        output_watermark: Timestamp,
    ) {
        let window_max = window.max_timestamp();
        let hold = self.combiner.hold_for(ts, window_max);
        if hold < output_watermark || window_max < input_watermark {
            arriving.late = true;
        } else {
            arriving.element = Some(self.combine(arriving.element, hold));
        }
    }

    /// Adds what a bundle brought to the window's holds, and queues the hold.
    #[inline]
    pub(super) fn add<A>(
        &self,
        queues: &mut Queues,
        key: KeyId,
        state: &mut WindowState<A>,
        arriving: &Arriving,
    ) {
        if let Some(hold) = arriving.element {
            state.element_hold = Some(self.combine(state.element_hold, hold));
        }
        if arriving.late && self.allowed_lateness > 0 && state.late_hold().is_none() {
            // Too late to hold at its own time: hold at the GC time, so that the
            // late pane is not late for the next step.
            state.rare().late_hold = Some(state.window.gc_time(self.allowed_lateness));
        }
        schedule(queues, key, state);
    }

    /// The holds of the window `result` that `sources` merged into.
    pub(super) fn merge<A>(
        &self,
        merged: &mut WindowState<A>,
        sources: &[WindowState<A>],
        result: &Window,
    ) {
        // End-of-window holds move to the merged window's end; element holds combine.
        merged.element_hold = sources
            .iter()
            .filter_map(|s| s.element_hold)
            .reduce(|a, b| self.combiner.combine(a, b))
            .map(|hold| match self.combiner {
                TimestampCombiner::EndOfWindow => result.max_timestamp(),
                _ => hold,
            });
        if sources.iter().any(|s| s.late_hold().is_some()) {
            merged.rare().late_hold = Some(result.gc_time(self.allowed_lateness));
        }
    }

    /// The timestamp of the pane the window emits now — its hold, capped at its max
    /// timestamp — and the release of its holds.
    pub(super) fn release<A>(&self, state: &mut WindowState<A>) -> Timestamp {
        let window_max = state.window.max_timestamp();
        let timestamp = match state.hold() {
            Some(hold) if hold <= window_max => hold,
            _ => window_max,
        };
        state.element_hold = None;
        if let Some(rare) = &mut state.rare {
            rare.late_hold = None;
        }
        timestamp
    }

    fn combine(&self, held: Option<Timestamp>, hold: Timestamp) -> Timestamp {
        held.map_or(hold, |held| self.combiner.combine(held, hold))
    }
}

/// Queues the window's current hold, unless a pending event timer no later than
/// the hold already holds the output watermark for it (the usual case: an
/// end-of-window hold and an end-of-window timer). Called whenever the window's
/// holds or its event timers change.
pub(super) fn schedule<A>(queues: &mut Queues, key: KeyId, state: &mut WindowState<A>) {
    if let Some(hold) = state.hold()
        && !state.event_timers.iter().any(|&time| time <= hold)
    {
        queues.schedule(QueueKind::Hold, key, state, hold);
    }
}

/// The grouping's output watermark: the minimum of its input watermark, the
/// earliest live hold and the earliest live end-of-window (event-time) timer.
pub(super) fn output_watermark(
    input_watermark: Timestamp,
    earliest_hold: Option<Timestamp>,
    earliest_event_timer: Option<Timestamp>,
) -> Timestamp {
    [Some(input_watermark), earliest_hold, earliest_event_timer]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(input_watermark)
}
