//! GroupByKeyAndWindow: the operator that turns a stream of records into panes
//! (paper §2.2.2; Beam's ReduceFnRunner).
//!
//! Per key, the operator keeps the key's windows. A bundle of records is handled in
//! Beam's order: drop records whose window is past its allowed lateness, merge new
//! windows into the key's active ones (sessions), add every record to its window's
//! accumulator — one [`CombineFn`] call for the whole bundle — update trigger state
//! and watermark holds, then fire the windows whose trigger is ready.
//!
//! Time drives the rest. When the input watermark advances, each window whose timer
//! is due is activated once: a window past its garbage-collection time emits its
//! final pane (if it has anything new, or owes its on-time pane) and is dropped; any
//! other window fires if its trigger is ready. Processing-time timers do the same
//! for triggers that wait on the clock.
//!
//! The output watermark is the minimum of the input watermark, the holds of buffered
//! elements and the pending end-of-window timers, so that a window's on-time pane is
//! never late for the next step. Garbage-collection timers do not hold it back: that
//! would delay every later step by the allowed lateness. Only the window whose
//! collection timer fires sees the watermark held at that timer while its final
//! pane is decided, as Beam's pending timers hold it (so, with no lateness, a
//! window that fired only early panes ends with an ON_TIME pane).
//!
//! As in Beam's runners-core, the operator only drives; each concept has one owner:
//! [`active`] (which windows each key has; merging), [`hold`] (every watermark
//! hold), [`timers`] (the timer queues), [`crate::trigger::TriggerRunner`] (all of
//! a window's trigger state), [`panes`] (pane info and retraction history),
//! [`emit`] (the emitting of panes), [`state`] (the per-window fields, each
//! documented with how it merges and when it is cleared) and [`persist`]
//! (checkpoints).

mod active;
mod emit;
mod hold;
mod panes;
mod persist;
mod state;
mod timers;

use std::mem;
use std::ops::Range;

use smallvec::SmallVec;

use crate::combine::{CombineFn, CombineInput, Inversion};
use crate::dead_letter::DeadLetter;
use crate::pane::{AccumulationMode, TimestampCombiner};
use crate::pipeline::{PluginStatus, Step, StepFault, StepOutput, StepStats, Swap, SwapError};
use crate::record::Record;
use crate::state::{LastPut, StateError, StepReader, StepWriter};
use crate::time::{MIN_TIMESTAMP, Timestamp};
use crate::timer::{ProcessingClock, TimerRequest};
use crate::trigger::{
    DataTrigger, DataWindow, Trigger, TriggerRunner, TriggerState, TriggerTime, TriggerTooLarge,
};
use crate::window::{Window, WindowFn};
use active::{ActiveWindows, Merging};
use emit::PendingPane;
use hold::{Arriving, WatermarkHold};
use panes::PaneTracker;
use state::{KeyId, NO_GROUP, QueueKind, Target, WindowState};
use timers::{Queues, dedup_activations, resolve, take_due};

/// Everything that decides how a grouping windows and fires.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowingStrategy {
    /// How records are assigned to windows (and whether windows merge).
    pub window_fn: WindowFn,
    /// When windows emit panes.
    pub trigger: Trigger,
    /// How successive panes relate.
    pub accumulation: AccumulationMode,
    /// How far behind the watermark a window still accepts data, in milliseconds.
    pub allowed_lateness: i64,
    /// How a pane's timestamp is chosen.
    pub timestamp_combiner: TimestampCombiner,
}

impl WindowingStrategy {
    /// The strategy as a checkpoint records it: a window's state is only resumed by
    /// a grouping with the same description. The trigger is in the spec's syntax.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "window_fn": self.window_fn,
            "trigger": self.trigger.to_string(),
            "accumulation": self.accumulation,
            "allowed_lateness": self.allowed_lateness,
            "timestamp_combiner": self.timestamp_combiner,
        })
    }
}

impl Default for WindowingStrategy {
    /// Beam's defaults: the global window, the default trigger, discarding, no lateness.
    fn default() -> Self {
        WindowingStrategy {
            window_fn: WindowFn::Global,
            trigger: Trigger::Default,
            accumulation: AccumulationMode::Discarding,
            allowed_lateness: 0,
            timestamp_combiner: TimestampCombiner::EndOfWindow,
        }
    }
}

/// The GroupByKeyAndWindow operator; see the module docs.
pub struct GroupByKeyAndWindow<C: CombineFn> {
    name: String,
    strategy: WindowingStrategy,
    /// When windows fire: the trigger machine and the data-driven triggers.
    trigger: TriggerRunner,
    combine: C,
    empty_acc: C::Accumulator,
    /// Keep inputs for recomputation: retractions may arrive and `combine` has no inverse.
    retain_inputs: bool,
    /// Every key's windows (see [`active`]).
    active: ActiveWindows<C::Accumulator>,
    queues: Queues,
    /// Every watermark hold's policy (see [`hold`]).
    holds: WatermarkHold,
    /// Pane bookkeeping and retraction history (see [`panes`]).
    panes: PaneTracker,
    input_watermark: Timestamp,
    output_watermark: Timestamp,
    processing_time: ProcessingClock,
    stats: StepStats,
    /// The step's meta as the last checkpoint holds it.
    meta_put: LastPut,
    pending: Vec<PendingPane<C::Accumulator>>,
    expired: Vec<Target>,
    requests: Vec<TimerRequest>,
}

impl<C: CombineFn> GroupByKeyAndWindow<C> {
    /// A grouping named `name` (for messages) that windows by `strategy` and combines
    /// with `combine`. `retractions_possible` says whether an earlier step can emit
    /// retractions.
    pub fn new(
        name: impl Into<String>,
        strategy: WindowingStrategy,
        mut combine: C,
        retractions_possible: bool,
    ) -> Result<Self, TriggerTooLarge> {
        let trigger = TriggerRunner::new(&strategy.trigger, strategy.window_fn.is_merging())?;
        let empty_acc = combine.create_accumulator();
        let retain_inputs = retractions_possible && combine.inversion() == Inversion::None;
        let holds = WatermarkHold::new(strategy.timestamp_combiner, strategy.allowed_lateness);
        let panes = PaneTracker::new(strategy.accumulation);
        Ok(GroupByKeyAndWindow {
            name: name.into(),
            strategy,
            trigger,
            combine,
            empty_acc,
            retain_inputs,
            active: ActiveWindows::default(),
            queues: Queues::default(),
            holds,
            panes,
            input_watermark: MIN_TIMESTAMP,
            output_watermark: MIN_TIMESTAMP,
            processing_time: ProcessingClock::default(),
            stats: StepStats::default(),
            meta_put: LastPut::default(),
            pending: Vec::new(),
            expired: Vec::new(),
            requests: Vec::new(),
        })
    }

    /// How many (key, window) states are live, closed windows included.
    pub fn live_windows(&self) -> usize {
        self.active.live()
    }

    fn trigger_time(&self, window: Window) -> TriggerTime {
        TriggerTime {
            window,
            input_watermark: self.input_watermark,
            processing_time: self.processing_time,
        }
    }

    fn is_expired(&self, window: &Window) -> bool {
        window.gc_time(self.strategy.allowed_lateness) < self.input_watermark
    }

    fn fault(&self, message: String) -> StepFault {
        StepFault {
            step: self.name.clone(),
            message,
        }
    }

    /// Recomputes the output watermark (never backwards).
    fn refresh_output_watermark(&mut self) {
        let keys = &mut self.active.keys;
        let hold = self
            .queues
            .holds
            .earliest_live(|time, target| resolve(keys, QueueKind::Hold, time, target));
        let timer = self
            .queues
            .event
            .earliest_live(|time, target| resolve(keys, QueueKind::Event, time, target));
        let candidate = hold::output_watermark(self.input_watermark, hold, timer);
        self.output_watermark = self.output_watermark.max(candidate);
    }

    /// Drops queue entries of windows that are gone once they clearly outnumber the
    /// live windows, so that memory follows live state.
    fn compact_queues(&mut self) {
        let limit = 4 * self.active.live() + 65_536;
        let keys = &self.active.keys;
        for kind in [
            QueueKind::Event,
            QueueKind::Gc,
            QueueKind::Processing,
            QueueKind::Hold,
        ] {
            let queue = self.queues.queue(kind);
            if queue.len() > limit {
                queue.compact(|time, target| {
                    keys.queued_window(target)
                        .is_none_or(|state| state.queued[kind as usize] != time)
                });
            }
        }
    }

    /// Merges the active windows among `members` into `result` (Beam's onMerge):
    /// the active-window set takes them out, each per-window field is merged by its
    /// owner, and the result goes back.
    fn merge_group(
        &mut self,
        key: KeyId,
        members: &[Window],
        result: Window,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let mut sources: SmallVec<[WindowState<C::Accumulator>; 2]> = SmallVec::new();
        let Some(Merging {
            key: key_value,
            result_closed,
        }) = self
            .active
            .take_merging(key, members, &result, &mut sources)
        else {
            return Ok(());
        };
        let base = active::base(&sources, &result);
        self.panes
            .withdraw_merged(&key_value, &mut sources, &result, out, &mut self.stats);
        if result_closed {
            // As in Beam, merging into a window whose trigger has finished closes the
            // merged state with it.
            self.stats.dropped_closed += sources.len() as u64;
            return Ok(());
        }
        let mut merged = WindowState::new(
            result,
            0,
            C::Accumulator::default(),
            self.trigger.new_state(),
        );
        timers::merge(&mut merged, &mut sources, base);
        if let Some(base) = base.map(|index| &mut sources[index]) {
            // The result window was already active: it keeps its panes and triggering.
            panes::merge(&mut merged, base);
            merged.trigger = base.trigger.clone();
        }
        // Accumulators: a lone source is renamed; several are merged by the function.
        merged.acc = if sources.len() == 1 {
            mem::take(&mut sources[0].acc)
        } else {
            let accs = sources.iter_mut().map(|s| mem::take(&mut s.acc)).collect();
            self.combine
                .merge_accumulators(accs)
                .map_err(|err| self.fault(format!("merging windows failed: {err}")))?
        };
        for source in &mut sources {
            if let Some(rare) = &mut source.rare
                && !rare.retained.is_empty()
            {
                merged.rare().retained.append(&mut rare.retained);
            }
        }
        merged.acc_stale = sources.iter().any(|s| s.acc_stale);
        merged.has_new_content = sources.iter().any(|s| s.has_new_content);
        self.holds.merge(&mut merged, &sources, &result);
        let time = self.trigger_time(result);
        let source_triggers: SmallVec<[&TriggerState; 2]> =
            sources.iter().map(|s| &s.trigger).collect();
        let mut requests = mem::take(&mut self.requests);
        requests.clear();
        self.trigger.on_merge(
            &mut merged.trigger,
            &source_triggers,
            base.unwrap_or(0),
            &time,
            &mut requests,
        );
        self.queues
            .register(key, &mut merged, &requests, self.strategy.allowed_lateness);
        self.requests = requests;
        hold::schedule(&mut self.queues, key, &mut merged);
        self.active.put_merged(key, merged);
        Ok(())
    }

    /// Fires the window if its trigger is ready.
    fn fire_if_ready(&mut self, target: Target) {
        let time = self.trigger_time(target.window);
        let Some(state) = self.active.keys.window_mut(&target) else {
            return;
        };
        if state.closed || !self.trigger.should_fire(&state.trigger, &time) {
            return;
        }
        let finished = self.trigger.on_fire(&mut state.trigger, &time);
        self.emit_held(target, finished, None);
    }

    /// Drops the state of windows listed for removal.
    fn drop_expired(&mut self) {
        for target in mem::take(&mut self.expired) {
            self.active.remove(&target);
        }
    }

    /// Handles one window whose event-time timer fired.
    fn activate(&mut self, target: Target) {
        let Some(state) = self.active.keys.window(&target) else {
            return;
        };
        if self.is_expired(&target.window) {
            if !state.closed {
                // The garbage-collection timer firing now holds the output watermark
                // at its time while its pane is decided, as a pending timer holds it
                // in Beam: with no lateness, a window that only fired early panes
                // fires its final pane ON_TIME (and, by FIRE_ALWAYS, even empty).
                let gc_time = target.window.gc_time(self.strategy.allowed_lateness);
                self.emit_held(target, true, Some(gc_time));
            }
            self.expired.push(target);
            return;
        }
        self.fire_if_ready(target);
        // A hold that the fired timer covered must now hold on its own.
        if let Some(state) = self.active.keys.window_mut(&target) {
            hold::schedule(&mut self.queues, target.key, state);
        }
    }
}

/// The routed records of one bundle, grouped per window.
struct Routed {
    /// The window of each group.
    groups: Vec<Target>,
    /// Windows that merges produced, to consider for firing.
    merge_results: Vec<Target>,
    /// Record indices, grouped: group `g` owns `members[starts[g]..starts[g + 1]]`.
    members: Vec<usize>,
    starts: Vec<usize>,
}

impl Routed {
    #[inline]
    fn group(&self, g: usize) -> &[usize] {
        &self.members[self.starts[g]..self.starts[g + 1]]
    }
}

impl<C: CombineFn> GroupByKeyAndWindow<C> {
    /// Steps 1–2 of a bundle: merge windows and route each record to its window.
    fn route(
        &mut self,
        records: &[Record],
        ids: &[KeyId],
        out: &mut StepOutput,
    ) -> Result<Routed, StepFault> {
        let merging = self.strategy.window_fn.is_merging();
        let mut order: Vec<u32> = (0..records.len() as u32).collect();
        if merging {
            // Beam merges all of a key's new windows before processing its records.
            order.sort_by_key(|&i| ids[i as usize]);
        }
        // Runs of records with the same key (one run per record when nothing merges).
        let mut runs: Vec<(KeyId, Range<usize>)> = Vec::new();
        let mut run_start = 0;
        while run_start < order.len() {
            let key = ids[order[run_start] as usize];
            let run_end = if merging {
                order[run_start..]
                    .iter()
                    .position(|&i| ids[i as usize] != key)
                    .map_or(order.len(), |len| run_start + len)
            } else {
                run_start + 1
            };
            runs.push((key, run_start..run_end));
            run_start = run_end;
        }
        // One merge call for every key of the bundle.
        let merges = if merging {
            let candidates: Vec<Vec<Window>> = runs
                .iter()
                .map(|(key, run)| {
                    let mut arriving: Vec<Window> = order[run.clone()]
                        .iter()
                        .map(|&i| records[i as usize].window)
                        .collect();
                    arriving.sort_unstable();
                    arriving.dedup();
                    self.active.merge_candidates(*key, &arriving)
                })
                .collect();
            self.strategy
                .window_fn
                .merge_batch(&candidates)
                .map_err(|message| self.fault(format!("merging windows failed: {message}")))?
        } else {
            Vec::new()
        };
        let mut groups: Vec<Target> = Vec::new();
        let mut merge_results: Vec<Target> = Vec::new();
        let mut group_of: Vec<u32> = vec![NO_GROUP; records.len()];
        for (run_index, (key, run)) in runs.into_iter().enumerate() {
            let mut mapping: SmallVec<[(Window, Window); 4]> = SmallVec::new();
            for group in merges.get(run_index).into_iter().flatten() {
                for member in &group.members {
                    mapping.push((*member, group.result));
                }
                merge_results.push(Target {
                    key,
                    window: group.result,
                });
                self.merge_group(key, &group.members, group.result, out)?;
            }
            for &i in &order[run] {
                let record = &records[i as usize];
                let window = mapping
                    .iter()
                    .find(|(from, _)| *from == record.window)
                    .map_or(record.window, |(_, to)| *to);
                let (empty_acc, trigger) = (&self.empty_acc, &self.trigger);
                let pos = self
                    .active
                    .ensure(key, window, || (empty_acc.clone(), trigger.new_state()));
                let Some(state) = self
                    .active
                    .keys
                    .get_mut(key)
                    .and_then(|slot| slot.windows.get_mut(pos))
                else {
                    continue;
                };
                if state.closed {
                    self.stats.dropped_closed += 1;
                    continue;
                }
                if state.group == NO_GROUP {
                    state.group = groups.len() as u32;
                    groups.push(Target { key, window });
                }
                group_of[i as usize] = state.group;
            }
        }
        // Counting sort of records by group, keeping arrival order within a group.
        let mut starts = vec![0usize; groups.len() + 1];
        for &group in &group_of {
            if group != NO_GROUP {
                starts[group as usize + 1] += 1;
            }
        }
        for g in 0..groups.len() {
            starts[g + 1] += starts[g];
        }
        let mut next = starts.clone();
        let mut members = vec![0usize; starts[groups.len()]];
        for (i, &group) in group_of.iter().enumerate() {
            if group != NO_GROUP {
                members[next[group as usize]] = i;
                next[group as usize] += 1;
            }
        }
        Ok(Routed {
            groups,
            merge_results,
            members,
            starts,
        })
    }

    /// Step 3 of a bundle: adds the routed records to their accumulators in one call.
    /// Returns the reasons records were rejected, by record index.
    fn add_to_accumulators(
        &mut self,
        records: &[Record],
        routed: &Routed,
    ) -> Result<Vec<(usize, String)>, StepFault> {
        let subtract = self.combine.inversion() != Inversion::None;
        let mut flat: Vec<usize> = Vec::with_capacity(routed.members.len());
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(routed.groups.len());
        for g in 0..routed.groups.len() {
            let start = flat.len();
            // Without an inverse, retractions are recomputed from retained inputs.
            flat.extend(
                routed
                    .group(g)
                    .iter()
                    .filter(|&&i| subtract || !records[i].retraction),
            );
            ranges.push(start..flat.len());
        }
        let inputs: Vec<CombineInput<'_>> = flat
            .iter()
            .map(|&i| CombineInput {
                value: &records[i].value,
                retraction: records[i].retraction,
            })
            .collect();
        let mut accs: Vec<C::Accumulator> = routed
            .groups
            .iter()
            .map(|target| {
                self.active
                    .keys
                    .window_mut(target)
                    .map(|state| mem::take(&mut state.acc))
                    .unwrap_or_default()
            })
            .collect();
        let rejections = self.combine.add_inputs(&mut accs, &ranges, &inputs);
        for (target, acc) in routed.groups.iter().zip(accs) {
            if let Some(state) = self.active.keys.window_mut(target) {
                state.acc = acc;
            }
        }
        let rejections = rejections.map_err(|err| self.fault(err.to_string()))?;
        Ok(rejections
            .into_iter()
            .filter_map(|rejection| flat.get(rejection.input).map(|&i| (i, rejection.reason)))
            .collect())
    }

    /// Step 4 of a bundle: for each window, keep retained inputs, update its trigger,
    /// timers and holds for the records it accepted.
    fn record_arrivals(
        &mut self,
        records: &[Record],
        routed: &Routed,
        rejected: &mut [Option<String>],
    ) -> Result<(), StepFault> {
        let combine_name = self.combine.name().to_owned();
        let holds = self.holds;
        let lateness = self.strategy.allowed_lateness;
        let (input_wm, output_wm) = (self.input_watermark, self.output_watermark);
        let can_subtract = self.combine.inversion() != Inversion::None;
        let mut arrivals: Vec<Arrival> = Vec::with_capacity(routed.groups.len());
        for (g, &target) in routed.groups.iter().enumerate() {
            let mut arrival = Arrival {
                group: g,
                accepted: Vec::new(),
                holds: Arriving::default(),
            };
            let Some(state) = self.active.keys.window_mut(&target) else {
                continue;
            };
            state.group = NO_GROUP;
            for &i in routed.group(g) {
                if rejected[i].is_some() {
                    continue;
                }
                let record = &records[i];
                if self.retain_inputs {
                    if record.retraction {
                        match state.retained().iter().position(|v| *v == record.value) {
                            Some(found) => {
                                state.rare().retained.swap_remove(found);
                                state.acc_stale = true;
                            }
                            None => {
                                rejected[i] = Some(format!(
                                    "{combine_name} cannot retract {}: the window does not hold it",
                                    record.value
                                ));
                                continue;
                            }
                        }
                    } else {
                        state.rare().retained.push(record.value.clone());
                    }
                } else if record.retraction && !can_subtract {
                    rejected[i] = Some(format!("{combine_name} cannot subtract a retraction"));
                    continue;
                }
                arrival.accepted.push(i);
                holds.arrive(
                    &mut arrival.holds,
                    record.timestamp,
                    &target.window,
                    input_wm,
                    output_wm,
                );
            }
            if arrival.accepted.is_empty() {
                if state.is_pristine() {
                    // Everything routed here was rejected: forget the window again.
                    self.expired.push(target);
                }
                continue;
            }
            arrivals.push(arrival);
        }
        let signals = self.ask_data_triggers(records, routed, &arrivals)?;
        for (arrival, signals) in arrivals.iter().zip(signals) {
            let target = routed.groups[arrival.group];
            let time = self.trigger_time(target.window);
            let mut requests = mem::take(&mut self.requests);
            requests.clear();
            if let Some(state) = self.active.keys.window_mut(&target) {
                state.has_new_content = true;
                self.trigger.on_elements(
                    &mut state.trigger,
                    &time,
                    &mut requests,
                    arrival.accepted.len() as u64,
                    &signals,
                );
                self.queues.register(target.key, state, &requests, lateness);
                holds.add(&mut self.queues, target.key, state, &arrival.holds);
            }
            self.requests = requests;
        }
        Ok(())
    }

    /// Asks the data-driven triggers about the windows of a bundle; returns, per
    /// arrival, one signal per data-driven trigger.
    fn ask_data_triggers(
        &mut self,
        records: &[Record],
        routed: &Routed,
        arrivals: &[Arrival],
    ) -> Result<Vec<Vec<bool>>, StepFault> {
        if !self.trigger.has_data_triggers() {
            return Ok(vec![Vec::new(); arrivals.len()]);
        }
        // Arrivals are of windows that exist; `absent` only keeps the lists aligned.
        let mut absent = TriggerState::default();
        let mut windows: Vec<DataWindow<'_>> = Vec::with_capacity(arrivals.len());
        for arrival in arrivals {
            let target = &routed.groups[arrival.group];
            let elements = arrival.accepted.iter().map(|&i| &records[i]).collect();
            let state = match self.active.keys.window_mut(target) {
                Some(state) => &mut state.trigger,
                None => &mut absent,
            };
            windows.push(self.trigger.data_window(state, target.window, elements));
        }
        let asked = self.trigger.ask(&mut windows);
        for (arrival, window) in arrivals.iter().zip(windows) {
            if let Some(state) = self.active.keys.window_mut(&routed.groups[arrival.group]) {
                self.trigger.keep(&mut state.trigger, window);
            }
        }
        asked.map_err(|message| self.fault(message))
    }

    /// Gives the grouping the data-driven triggers its trigger tree refers to
    /// (`Trigger::Plugin { index }` names `triggers[index]`).
    pub fn with_data_triggers(mut self, triggers: Vec<Box<dyn DataTrigger>>) -> Self {
        self.trigger.set_data_triggers(triggers);
        self
    }
}

/// What one window accepted in a bundle.
struct Arrival {
    /// The window's group in the bundle.
    group: usize,
    /// The records it accepted.
    accepted: Vec<usize>,
    /// The holds they add.
    holds: Arriving,
}

impl<R, C: CombineFn + Swap<R>> Step<R> for GroupByKeyAndWindow<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        let lateness = self.strategy.allowed_lateness;

        // 1. Drop records whose window is past its allowed lateness; find each key.
        let mut records = Vec::with_capacity(input.len());
        let mut ids = Vec::with_capacity(input.len());
        for record in input {
            if record.window.gc_time(lateness) < self.input_watermark {
                self.stats.dropped_late += 1;
                continue;
            }
            ids.push(self.active.keys.resolve(&record.key));
            records.push(record);
        }

        // 2. Merge windows and route each record to its window's group.
        let routed = self.route(&records, &ids, out)?;

        // 3. One combine call for the whole bundle.
        let mut rejected: Vec<Option<String>> = vec![None; records.len()];
        for (i, reason) in self.add_to_accumulators(&records, &routed)? {
            rejected[i] = Some(reason);
        }

        // 4. Triggers, timers and holds.
        self.record_arrivals(&records, &routed, &mut rejected)?;
        let step = format!("{} ({})", self.name, self.combine.name());
        for (record, reason) in records.iter().zip(&rejected) {
            if let Some(reason) = reason {
                self.stats.dead_lettered += 1;
                out.dead_letters
                    .push(DeadLetter::step(&step, record, reason.clone()));
            }
        }

        // 5. Fire the windows whose trigger is ready: every window that received
        //    records and every merge result (Beam's windowsToConsider).
        let mut to_consider = routed.groups;
        to_consider.extend(routed.merge_results);
        to_consider.sort_unstable();
        to_consider.dedup();
        for target in to_consider {
            self.fire_if_ready(target);
        }
        self.flush(out)?;
        self.drop_expired();
        self.refresh_output_watermark();
        self.compact_queues();
        Ok(())
    }

    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        if watermark <= self.input_watermark {
            self.refresh_output_watermark();
            return Ok(());
        }
        self.input_watermark = watermark;
        let mut due = Vec::new();
        loop {
            // Pane timing sees the output watermark held by the timers about to fire.
            self.refresh_output_watermark();
            due.clear();
            for kind in [QueueKind::Event, QueueKind::Gc] {
                take_due(
                    &mut self.active.keys,
                    &mut self.queues,
                    kind,
                    watermark,
                    &mut due,
                );
            }
            if due.is_empty() {
                break;
            }
            dedup_activations(&mut due);
            for &(_, target) in &due {
                self.activate(target);
            }
            self.flush(out)?;
            self.drop_expired();
        }
        self.refresh_output_watermark();
        self.compact_queues();
        Ok(())
    }

    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let now = self.processing_time.advance(now);
        let mut due = Vec::new();
        take_due(
            &mut self.active.keys,
            &mut self.queues,
            QueueKind::Processing,
            now,
            &mut due,
        );
        dedup_activations(&mut due);
        for (_, target) in due {
            // Processing-time timers of expired windows are ignored, like late records.
            if !self.is_expired(&target.window) {
                self.fire_if_ready(target);
            }
        }
        self.flush(out)?;
        self.refresh_output_watermark();
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.output_watermark
    }

    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        let keys = &mut self.active.keys;
        self.queues
            .processing
            .earliest_live(|time, target| resolve(keys, QueueKind::Processing, time, target))
    }

    fn stats(&self) -> StepStats {
        self.stats
    }

    fn describe(&self) -> serde_json::Value {
        self.description()
    }

    fn snapshot(&mut self, state: &mut StepWriter<'_>) -> Result<(), StateError> {
        self.write_state(state)
    }

    fn restore(&mut self, state: &StepReader<'_>) -> Result<(), StateError> {
        self.read_state(state)
    }

    fn plugin(&self) -> Option<PluginStatus> {
        self.combine.plugin()
    }

    fn swap(&mut self, replacement: R) -> Result<(), SwapError> {
        self.combine.swap(replacement)
    }
}

#[cfg(test)]
mod tests;
