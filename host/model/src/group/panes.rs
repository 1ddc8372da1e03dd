//! Pane bookkeeping and retraction history (Beam's `PaneInfoTracker`), computed
//! here and nowhere else.
//!
//! A window remembers the last pane it fired ([`WindowState::last_pane`]), from which
//! the next pane's timing and indices follow ([`next_pane`]); in retracting mode it
//! also remembers the value of the pane standing downstream
//! ([`Rare::last_emitted`](super::state::Rare::last_emitted)), so that the next pane,
//! or a merge that absorbs the window, withdraws it first. A window whose trigger
//! finishes forgets both: nothing follows its final pane.

use super::state::{EmittedPane, WindowState};
use crate::pane::{AccumulationMode, PaneInfo, follows, next_pane};
use crate::pipeline::{StepOutput, StepStats};
use crate::record::{Key, Record};
use crate::time::Timestamp;
use crate::window::Window;

/// The pane policy of one grouping.
#[derive(Clone, Copy, Debug)]
pub(super) struct PaneTracker {
    retracting: bool,
}

/// What a firing does to the pane standing downstream.
pub(super) struct Replacing {
    /// The standing pane, to retract before the new one.
    pub(super) previous: Option<EmittedPane>,
    /// The new pane stands until it is retracted in turn: remember its value.
    pub(super) remember: bool,
}

impl PaneTracker {
    /// The tracker for a grouping in `accumulation` mode.
    pub(super) fn new(accumulation: AccumulationMode) -> Self {
        PaneTracker {
            retracting: accumulation == AccumulationMode::Retracting,
        }
    }

    /// The pane the window fires now, given the grouping's watermarks.
    pub(super) fn next<A>(
        &self,
        state: &WindowState<A>,
        is_finished: bool,
        input_watermark: Timestamp,
        output_watermark: Timestamp,
    ) -> PaneInfo {
        let pane = next_pane(
            state.last_pane.as_ref(),
            state.window.max_timestamp(),
            is_finished,
            input_watermark,
            output_watermark,
        );
        debug_assert!(
            follows(state.last_pane.as_ref(), &pane),
            "{pane:?} cannot follow {:?} in {:?}",
            state.last_pane,
            state.window
        );
        pane
    }

    /// Records that the window emits `pane`.
    pub(super) fn emitted<A>(
        &self,
        state: &mut WindowState<A>,
        pane: PaneInfo,
        is_finished: bool,
    ) -> Replacing {
        state.last_pane = Some(pane);
        Replacing {
            previous: if self.retracting {
                state.take_last_emitted()
            } else {
                None
            },
            remember: self.retracting && !is_finished,
        }
    }

    /// Remembers the value of the pane now standing for the window.
    pub(super) fn remember<A>(state: &mut WindowState<A>, standing: EmittedPane) {
        state.rare().last_emitted = Some(standing);
    }

    /// The window's trigger finished: nothing follows its final pane.
    pub(super) fn close<A>(state: &mut WindowState<A>) {
        state.last_pane = None;
        state.take_last_emitted();
    }

    /// In retracting mode, withdraws the standing panes of the `sources` that merge
    /// into another window `result`.
    pub(super) fn withdraw_merged<A>(
        &self,
        key: &Key,
        sources: &mut [WindowState<A>],
        result: &Window,
        out: &mut StepOutput,
        stats: &mut StepStats,
    ) {
        if !self.retracting {
            return;
        }
        for source in sources {
            if source.window != *result
                && let Some(standing) = source.take_last_emitted()
            {
                stats.retractions_out += 1;
                stats.records_out += 1;
                out.records
                    .push(retraction_record(key, source.window, standing));
            }
        }
    }
}

/// The pane history of a merged window: that of the result window when it was
/// already active (`base`); a new window starts without one.
pub(super) fn merge<A>(merged: &mut WindowState<A>, base: &mut WindowState<A>) {
    merged.last_pane = base.last_pane;
    if let Some(standing) = base.take_last_emitted() {
        merged.rare().last_emitted = Some(standing);
    }
}

/// The record that withdraws `standing`, the pane `window` of `key` showed.
pub(super) fn retraction_record(key: &Key, window: Window, standing: EmittedPane) -> Record {
    Record {
        key: key.clone(),
        value: standing.value,
        timestamp: standing.timestamp,
        window,
        pane: standing.pane,
        retraction: true,
    }
}
