//! The emitting of panes (Beam's `ReduceFnRunner.onTrigger`): when a window fires,
//! its pane is decided at once — pane info from the [`PaneTracker`], timestamp and
//! hold release from the [`WatermarkHold`](super::hold::WatermarkHold), what the
//! accumulation mode keeps — and queued; [`GroupByKeyAndWindow::flush`] then
//! extracts the values of all queued panes in one call to the combine function and
//! writes them, each after the retraction of the pane it replaces.

use std::mem;

use super::GroupByKeyAndWindow;
use super::panes::{PaneTracker, retraction_record};
use super::state::{EmittedPane, Target};
use crate::combine::{CombineFn, CombineInput};
use crate::dead_letter::DeadLetter;
use crate::pane::{PaneInfo, Timing};
use crate::pipeline::{StepFault, StepOutput};
use crate::record::{Key, Record};
use crate::time::Timestamp;

/// A pane chosen to fire whose value is extracted in the next flush.
pub(super) struct PendingPane<A> {
    target: Target,
    key: Key,
    pane: PaneInfo,
    timestamp: Timestamp,
    acc: A,
    /// The pane this one replaces, to retract first.
    replaces: Option<EmittedPane>,
    /// Remember this pane for retraction (retracting mode, window stays open).
    remember: bool,
}

impl<C: CombineFn> GroupByKeyAndWindow<C> {
    /// Produces the window's next pane: computes pane info and the output
    /// timestamp, releases holds, and queues the pane for value extraction. A timer
    /// firing at `held_at` holds the output watermark there for the pane's timing.
    pub(super) fn emit_held(
        &mut self,
        target: Target,
        is_finished: bool,
        held_at: Option<Timestamp>,
    ) {
        if self
            .active
            .keys
            .window(&target)
            .is_some_and(|state| state.acc_stale)
        {
            self.recompute(target);
        }
        let input_wm = self.input_watermark;
        let output_wm = held_at.map_or(self.output_watermark, |held| {
            held.min(self.output_watermark)
        });
        let accumulates = self.strategy.accumulation.accumulates();
        let Some(slot) = self.active.keys.get_mut(target.key) else {
            return;
        };
        let key = slot.key().clone();
        let Some(state) = slot.get_mut(&target.window) else {
            return;
        };
        let timestamp = self.holds.release(state);
        let pane = self.panes.next(state, is_finished, input_wm, output_wm);
        // An empty pane is emitted only when it is the on-time one (Beam's
        // OnTimeBehavior.FIRE_ALWAYS); empty final panes are not (FIRE_IF_NON_EMPTY).
        let emit = state.has_new_content || pane.timing == Timing::OnTime;
        let discard = is_finished || !accumulates;
        if emit {
            let acc = if discard {
                mem::replace(&mut state.acc, self.empty_acc.clone())
            } else {
                state.acc.clone()
            };
            let replacing = self.panes.emitted(state, pane, is_finished);
            self.pending.push(PendingPane {
                target,
                key,
                pane,
                timestamp,
                acc,
                replaces: replacing.previous,
                remember: replacing.remember,
            });
        } else if discard {
            state.acc = self.empty_acc.clone();
        }
        if discard && let Some(rare) = &mut state.rare {
            rare.retained.clear();
        }
        state.has_new_content = false;
        if is_finished {
            // The window is closed until it is garbage-collected.
            state.closed = true;
            self.trigger.clear(&mut state.trigger);
            PaneTracker::close(state);
        }
    }

    /// Rebuilds a window's accumulator from its retained inputs.
    fn recompute(&mut self, target: Target) {
        let Some(state) = self.active.keys.window_mut(&target) else {
            return;
        };
        let inputs: Vec<CombineInput<'_>> = state
            .retained()
            .iter()
            .map(|value| CombineInput {
                value,
                retraction: false,
            })
            .collect();
        let mut accs = [self.empty_acc.clone()];
        let everything = 0..inputs.len();
        // These inputs were accepted once, so they are accepted again; a function that
        // stops working reports it on the next bundle.
        let _ = self
            .combine
            .add_inputs(&mut accs, std::slice::from_ref(&everything), &inputs);
        let [acc] = accs;
        state.acc = acc;
        state.acc_stale = false;
    }

    /// Extracts the values of queued panes, one call for all, and writes them out.
    pub(super) fn flush(&mut self, out: &mut StepOutput) -> Result<(), StepFault> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = mem::take(&mut self.pending);
        let accs: Vec<&C::Accumulator> = pending.iter().map(|p| &p.acc).collect();
        let values = self
            .combine
            .extract_outputs(&accs)
            .map_err(|err| self.fault(format!("extracting output failed: {err}")))?;
        if values.len() != pending.len() {
            return Err(self.fault(format!(
                "extracting output returned {} values for {} panes",
                values.len(),
                pending.len()
            )));
        }
        for (pane, value) in pending.into_iter().zip(values) {
            let value = match value {
                Ok(value) => value,
                Err(reason) => {
                    // The pane cannot be produced; say so rather than lose it silently.
                    self.stats.dead_lettered += 1;
                    let record = Record {
                        key: pane.key.clone(),
                        value: serde_json::Value::Null,
                        timestamp: pane.timestamp,
                        window: pane.target.window,
                        pane: pane.pane,
                        retraction: false,
                    };
                    let step = format!("{} ({})", self.name, self.combine.name());
                    out.dead_letters.push(DeadLetter::step(
                        &step,
                        &record,
                        format!(
                            "cannot extract the output of window {}: {reason}",
                            pane.target.window
                        ),
                    ));
                    continue;
                }
            };
            if let Some(previous) = pane.replaces {
                self.stats.retractions_out += 1;
                self.stats.records_out += 1;
                out.records
                    .push(retraction_record(&pane.key, pane.target.window, previous));
            }
            if pane.remember
                && let Some(state) = self.active.keys.window_mut(&pane.target)
            {
                PaneTracker::remember(
                    state,
                    EmittedPane {
                        value: value.clone(),
                        timestamp: pane.timestamp,
                        pane: pane.pane,
                    },
                );
            }
            self.stats.records_out += 1;
            out.records.push(Record {
                key: pane.key,
                value,
                timestamp: pane.timestamp,
                window: pane.target.window,
                pane: pane.pane,
                retraction: false,
            });
        }
        Ok(())
    }
}
