//! The trigger runner (Beam's `TriggerStateMachineRunner`): the one owner of what
//! decides when a window fires — the trigger machine, the data-driven triggers the
//! tree refers to, and how their per-window state starts, advances, merges and is
//! cleared. The grouping only asks it "on elements", "on merge", "should fire" and
//! "on fire", and keeps each window's [`TriggerState`] (the data-driven triggers'
//! kept bytes included) where it keeps the window.

use super::{
    DataTrigger, DataTriggerInput, Trigger, TriggerMachine, TriggerState, TriggerTime,
    TriggerTooLarge,
};
use crate::record::Record;
use crate::timer::TimerRequest;
use crate::window::Window;

/// A grouping's triggering.
pub struct TriggerRunner {
    machine: TriggerMachine,
    data: Vec<Box<dyn DataTrigger>>,
}

/// A window that a bundle reached, as the data-driven triggers see it: made by
/// [`TriggerRunner::data_window`], asked by [`TriggerRunner::ask`], and put back by
/// [`TriggerRunner::keep`].
pub struct DataWindow<'a> {
    window: Window,
    elements: Vec<&'a Record>,
    /// What each data-driven trigger kept for the window, taken out of its state
    /// while the triggers are asked.
    kept: Vec<Vec<u8>>,
}

impl TriggerRunner {
    /// The runner of `trigger`, for windows that merge if `merging`, with no
    /// data-driven triggers yet.
    pub fn new(trigger: &Trigger, merging: bool) -> Result<Self, TriggerTooLarge> {
        Ok(TriggerRunner {
            machine: TriggerMachine::new(trigger, merging)?,
            data: Vec::new(),
        })
    }

    /// Gives the runner the data-driven triggers its tree refers to
    /// (`Trigger::Plugin { index }` names `triggers[index]`).
    pub fn set_data_triggers(&mut self, triggers: Vec<Box<dyn DataTrigger>>) {
        self.data = triggers;
    }

    /// Whether any data-driven trigger is there to ask.
    pub fn has_data_triggers(&self) -> bool {
        !self.data.is_empty()
    }

    /// Fresh state for a window that has seen nothing.
    #[inline]
    pub fn new_state(&self) -> TriggerState {
        self.machine.new_state()
    }

    /// The window `window` with the `elements` that just arrived in it, taking
    /// what the data-driven triggers kept out of its `state` until [`Self::keep`].
    pub fn data_window<'a>(
        &self,
        state: &mut TriggerState,
        window: Window,
        elements: Vec<&'a Record>,
    ) -> DataWindow<'a> {
        DataWindow {
            window,
            elements,
            kept: state.take_kept(),
        }
    }

    /// Puts what the data-driven triggers keep for an asked window back into its
    /// state (also when asking failed: they keep what they had).
    pub fn keep(&self, state: &mut TriggerState, window: DataWindow<'_>) {
        state.put_kept(window.kept);
    }

    /// Asks each data-driven trigger, once for the whole bundle, about every window
    /// it reached; returns, per window, one signal per data-driven trigger ("fire"),
    /// and updates what each kept. An error means a trigger cannot go on.
    pub fn ask(&mut self, windows: &mut [DataWindow<'_>]) -> Result<Vec<Vec<bool>>, String> {
        let mut signals = vec![vec![false; self.data.len()]; windows.len()];
        for (index, trigger) in self.data.iter_mut().enumerate() {
            let inputs: Vec<DataTriggerInput<'_>> = windows
                .iter()
                .map(|window| DataTriggerInput {
                    window: window.window,
                    elements: window.elements.clone(),
                    state: window.kept.get(index).map_or(&[][..], Vec::as_slice),
                })
                .collect();
            let decisions = trigger.on_elements(&inputs)?;
            drop(inputs);
            for ((window, decision), signal) in windows.iter_mut().zip(decisions).zip(&mut signals)
            {
                signal[index] = decision.fire;
                if window.kept.len() <= index {
                    window.kept.resize(index + 1, Vec::new());
                }
                window.kept[index] = decision.state;
            }
        }
        Ok(signals)
    }

    /// Records `count` elements arriving in the window; `signals` are what
    /// [`TriggerRunner::ask`] answered for it (empty without data-driven triggers).
    #[inline]
    pub fn on_elements(
        &self,
        state: &mut TriggerState,
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
        count: u64,
        signals: &[bool],
    ) {
        self.machine
            .on_elements(state, time, timers, count, signals);
    }

    /// The state of a window that `sources` merged into: `state` starts as the
    /// result window's own if it was active, else fresh. The data-driven triggers
    /// keep what they kept for the window it grew from (`sources[donor]`), as Beam
    /// keeps the state of the window a merge grows from.
    #[inline]
    pub fn on_merge(
        &self,
        state: &mut TriggerState,
        sources: &[&TriggerState],
        donor: usize,
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
    ) {
        self.machine.on_merge(state, sources, time, timers);
        state.kept = sources.get(donor).and_then(|source| source.kept.clone());
    }

    /// Whether the window fires now.
    pub fn should_fire(&self, state: &TriggerState, time: &TriggerTime) -> bool {
        self.machine.should_fire(state, time)
    }

    /// Advances the state after the window fired; returns whether the trigger has
    /// finished (the window closes).
    pub fn on_fire(&self, state: &mut TriggerState, time: &TriggerTime) -> bool {
        self.machine.on_fire(state, time);
        self.machine.is_closed(state)
    }

    /// After the window's final pane: clears its per-pane state, keeping the
    /// finished bits. What data-driven triggers kept stays (the plugin decides).
    #[inline]
    pub fn clear(&self, state: &mut TriggerState) {
        self.machine.clear(state);
    }
}
