//! GroupByKeyAndWindow: the operator that turns a stream of records into panes
//! (paper §2.2.2; Beam's ReduceFnRunner).
//!
//! Per key, the operator keeps the key's windows. A bundle of records is handled in
//! Beam's order: drop records whose window is past its allowed lateness, merge new
//! windows into the key's active ones (sessions), add every record to its window's
//! accumulator — one [`CombineFn`] call for the whole bundle — update watermark holds
//! and trigger state, then fire the windows whose trigger is ready.
//!
//! Time drives the rest. When the input watermark advances, windows whose timers
//! are due are activated once each: a window past its garbage-collection time emits
//! its final pane (if it has anything new, or owes its on-time pane) and is dropped;
//! any other window fires if its trigger is ready. Processing-time timers do the same
//! for triggers that wait on the clock.
//!
//! The output watermark is the minimum of the input watermark, the holds of buffered
//! elements and the pending end-of-window timers, so that a window's on-time pane is
//! never late for the next step. Garbage-collection timers do not hold it back: that
//! would delay every later step by the allowed lateness.

use std::mem;
use std::ops::Range;

use indexmap::IndexMap;
use smallvec::SmallVec;

use crate::combine::{CombineFn, CombineInput, Inversion};
use crate::dead_letter::DeadLetter;
use crate::pane::{AccumulationMode, PaneInfo, TimestampCombiner, Timing, next_pane};
use crate::pipeline::{Step, StepFault, StepOutput, StepStats};
use crate::record::{Key, Record, Value};
use crate::time::{MIN_TIMESTAMP, Timestamp};
use crate::timer::{TimeDomain, TimerEntry, TimerQueue, TimerRequest};
use crate::trigger::{Trigger, TriggerMachine, TriggerState, TriggerTime, TriggerTooLarge};
use crate::window::{Window, WindowFn};

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

/// The last pane a window emitted, kept in retracting mode to withdraw it later.
#[derive(Clone, Debug, PartialEq)]
struct EmittedPane {
    value: Value,
    timestamp: Timestamp,
    pane: PaneInfo,
}

/// Marks a window that has no input group in the bundle being processed.
const NO_GROUP: u32 = u32::MAX;

/// Everything kept for one (key, window).
#[derive(Clone, Debug)]
struct WindowState<A> {
    window: Window,
    /// The trigger finished: the window takes no more data until it is collected.
    closed: bool,
    acc: A,
    /// The window's inputs, kept when the combine function cannot subtract retractions.
    retained: Vec<Value>,
    /// `acc` no longer reflects `retained` and must be recomputed before use.
    acc_stale: bool,
    trigger: TriggerState,
    /// Something arrived since the last pane.
    has_new_content: bool,
    /// Where buffered elements hold the output watermark.
    element_hold: Option<Timestamp>,
    /// The hold of elements too late to hold at their own time (at the GC time).
    late_hold: Option<Timestamp>,
    last_pane: Option<PaneInfo>,
    last_emitted: Option<EmittedPane>,
    event_timers: SmallVec<[Timestamp; 1]>,
    processing_timers: SmallVec<[Timestamp; 1]>,
    gc_timer: Option<Timestamp>,
    /// This window's input group in the bundle being processed, or [`NO_GROUP`].
    group: u32,
}

impl<A> WindowState<A> {
    /// A window that was created but has seen nothing and done nothing.
    fn is_pristine(&self) -> bool {
        !self.has_new_content
            && self.last_pane.is_none()
            && self.last_emitted.is_none()
            && self.event_timers.is_empty()
            && self.processing_timers.is_empty()
            && self.retained.is_empty()
    }

    fn hold(&self) -> Option<Timestamp> {
        match (self.element_hold, self.late_hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Debug)]
struct KeyState<A> {
    /// Sorted by window (start, then end).
    windows: Vec<WindowState<A>>,
}

impl<A> Default for KeyState<A> {
    fn default() -> Self {
        KeyState {
            windows: Vec::new(),
        }
    }
}

impl<A> KeyState<A> {
    fn position(&self, window: &Window) -> Result<usize, usize> {
        self.windows.binary_search_by(|state| state.window.cmp(window))
    }

    fn get(&self, window: &Window) -> Option<&WindowState<A>> {
        self.position(window).ok().map(|pos| &self.windows[pos])
    }

    fn get_mut(&mut self, window: &Window) -> Option<&mut WindowState<A>> {
        self.position(window).ok().map(|pos| &mut self.windows[pos])
    }
}

type Keys<A> = IndexMap<Key, KeyState<A>, foldhash::fast::RandomState>;

/// A pane chosen to fire whose value is extracted in the next flush.
struct PendingPane<A> {
    key: Key,
    window: Window,
    pane: PaneInfo,
    timestamp: Timestamp,
    acc: A,
    /// The pane this one replaces, to retract first.
    replaces: Option<EmittedPane>,
    /// Remember this pane for retraction (retracting mode, window stays open).
    remember: bool,
}

/// The GroupByKeyAndWindow operator; see the module docs.
pub struct GroupByKeyAndWindow<C: CombineFn> {
    name: String,
    strategy: WindowingStrategy,
    trigger: TriggerMachine,
    combine: C,
    empty_acc: C::Accumulator,
    /// Keep inputs for recomputation: retractions may arrive and `combine` has no inverse.
    retain_inputs: bool,
    keys: Keys<C::Accumulator>,
    end_of_window_timers: TimerQueue,
    gc_timers: TimerQueue,
    processing_timers: TimerQueue,
    holds: TimerQueue,
    input_watermark: Timestamp,
    output_watermark: Timestamp,
    processing_time: Timestamp,
    stats: StepStats,
    pending: Vec<PendingPane<C::Accumulator>>,
    expired: Vec<(Key, Window)>,
    timer_requests: Vec<TimerRequest>,
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
        let trigger = TriggerMachine::new(&strategy.trigger, strategy.window_fn.is_merging())?;
        let empty_acc = combine.create_accumulator();
        let retain_inputs = retractions_possible && combine.inversion() == Inversion::None;
        Ok(GroupByKeyAndWindow {
            name: name.into(),
            strategy,
            trigger,
            combine,
            empty_acc,
            retain_inputs,
            keys: Keys::default(),
            end_of_window_timers: TimerQueue::default(),
            gc_timers: TimerQueue::default(),
            processing_timers: TimerQueue::default(),
            holds: TimerQueue::default(),
            input_watermark: MIN_TIMESTAMP,
            output_watermark: MIN_TIMESTAMP,
            processing_time: MIN_TIMESTAMP,
            stats: StepStats::default(),
            pending: Vec::new(),
            expired: Vec::new(),
            timer_requests: Vec::new(),
        })
    }

    /// How many (key, window) states are live, closed windows included.
    pub fn live_windows(&self) -> usize {
        self.keys.values().map(|key| key.windows.len()).sum()
    }

    fn new_window_state(&self, window: Window) -> WindowState<C::Accumulator> {
        WindowState {
            window,
            closed: false,
            acc: self.empty_acc.clone(),
            retained: Vec::new(),
            acc_stale: false,
            trigger: self.trigger.new_state(),
            has_new_content: false,
            element_hold: None,
            late_hold: None,
            last_pane: None,
            last_emitted: None,
            event_timers: SmallVec::new(),
            processing_timers: SmallVec::new(),
            gc_timer: None,
            group: NO_GROUP,
        }
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

    /// Queues the timers a trigger asked for and the window's GC timer.
    fn register_timers(
        queues: &mut TimerQueues<'_>,
        key: &Key,
        state: &mut WindowState<C::Accumulator>,
        requests: &[TimerRequest],
        allowed_lateness: i64,
    ) {
        for request in requests {
            let (registry, queue) = match request.domain {
                TimeDomain::EventTime => (&mut state.event_timers, &mut *queues.end_of_window),
                TimeDomain::ProcessingTime => {
                    (&mut state.processing_timers, &mut *queues.processing)
                }
            };
            if !registry.contains(&request.time) {
                registry.push(request.time);
                queue.push(request.time, key.clone(), state.window);
            }
        }
        if state.gc_timer.is_none() {
            let gc_time = state.window.gc_time(allowed_lateness);
            state.gc_timer = Some(gc_time);
            queues.gc.push(gc_time, key.clone(), state.window);
        }
    }

    /// Records that an element at `ts` arrived in `state`'s window (Beam's WatermarkHold).
    fn add_hold(&mut self, key: &Key, pos: (usize, usize), ts: Timestamp) {
        let combiner = self.strategy.timestamp_combiner;
        let lateness = self.strategy.allowed_lateness;
        let (output_wm, input_wm) = (self.output_watermark, self.input_watermark);
        let state = &mut self.keys[pos.0].windows[pos.1];
        let window_max = state.window.max_timestamp();
        let hold = combiner.hold_for(ts, window_max);
        if hold < output_wm || window_max < input_wm {
            // Too late to hold the output watermark at its own time: hold at the GC
            // time instead, so that the late pane is not late for the next step.
            if lateness > 0 && state.late_hold.is_none() {
                let gc_time = state.window.gc_time(lateness);
                state.late_hold = Some(gc_time);
                self.holds.push(gc_time, key.clone(), state.window);
            }
        } else {
            let combined = state
                .element_hold
                .map_or(hold, |current| combiner.combine(current, hold));
            if state.element_hold != Some(combined) {
                state.element_hold = Some(combined);
                self.holds.push(combined, key.clone(), state.window);
            }
        }
    }

    /// Recomputes the output watermark (never backwards).
    fn refresh_output_watermark(&mut self) {
        let keys = &self.keys;
        let hold = self.holds.peek_live(|entry| {
            lookup(keys, entry).is_some_and(|state| {
                state.element_hold == Some(entry.time) || state.late_hold == Some(entry.time)
            })
        });
        let timer = self.end_of_window_timers.peek_live(|entry| {
            lookup(keys, entry).is_some_and(|state| state.event_timers.contains(&entry.time))
        });
        let candidate = [Some(self.input_watermark), hold, timer]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.input_watermark);
        self.output_watermark = self.output_watermark.max(candidate);
    }

    /// Merges the key's windows with the windows of newly arrived records; returns
    /// which window each merged window became.
    fn merge_windows(
        &mut self,
        key_index: usize,
        arriving: &[Window],
        out: &mut StepOutput,
    ) -> Result<Vec<(Window, Window)>, StepFault> {
        let mut candidates: Vec<Window> = self.keys[key_index]
            .windows
            .iter()
            .filter(|state| !state.closed)
            .map(|state| state.window)
            .collect();
        candidates.extend_from_slice(arriving);
        let groups = self.strategy.window_fn.merge(&candidates);
        let mut mapping = Vec::new();
        for group in groups {
            for member in &group.members {
                mapping.push((*member, group.result));
            }
            self.merge_group(key_index, &group.members, group.result, out)?;
        }
        Ok(mapping)
    }

    /// Merges the active windows among `members` into `result`.
    fn merge_group(
        &mut self,
        key_index: usize,
        members: &[Window],
        result: Window,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let key = self.keys.get_index(key_index).map(|(key, _)| key.clone()).unwrap_or_else(Key::null);
        let mut sources = Vec::new();
        {
            let key_state = &mut self.keys[key_index];
            for member in members {
                if let Ok(pos) = key_state.position(member)
                    && !key_state.windows[pos].closed
                {
                    sources.push(key_state.windows.remove(pos));
                }
            }
        }
        if sources.is_empty() {
            // Only new windows merge; their state is created as records arrive.
            return Ok(());
        }
        // Panes of merged-away windows are withdrawn.
        if self.strategy.accumulation == AccumulationMode::Retracting {
            for source in &mut sources {
                if source.window != result
                    && let Some(emitted) = source.last_emitted.take()
                {
                    self.stats.retractions_out += 1;
                    self.stats.records_out += 1;
                    out.records.push(retraction_record(&key, source.window, emitted));
                }
            }
        }
        if self.keys[key_index].get(&result).is_some_and(|state| state.closed) {
            // As in Beam, merging into a window whose trigger has finished closes the
            // merged state with it.
            self.stats.dropped_closed += sources.len() as u64;
            return Ok(());
        }
        let base_index = sources.iter().position(|source| source.window == result);
        let mut merged = self.new_window_state(result);
        if let Some(index) = base_index {
            // The result window was already active: it keeps its panes and timers.
            let base = &mut sources[index];
            merged.trigger = base.trigger.clone();
            merged.last_pane = base.last_pane;
            merged.last_emitted = base.last_emitted.take();
            merged.event_timers = mem::take(&mut base.event_timers);
            merged.processing_timers = mem::take(&mut base.processing_timers);
            merged.gc_timer = base.gc_timer;
        }
        // Accumulators: a lone source is renamed; several are merged by the function.
        let accs: Vec<C::Accumulator> = sources.iter_mut().map(|s| mem::take(&mut s.acc)).collect();
        merged.acc = if accs.len() == 1 {
            accs.into_iter().next().unwrap_or_default()
        } else {
            self.combine
                .merge_accumulators(accs)
                .map_err(|err| self.fault(format!("merging windows failed: {err}")))?
        };
        merged.retained = sources.iter_mut().flat_map(|s| mem::take(&mut s.retained)).collect();
        merged.acc_stale = sources.iter().any(|s| s.acc_stale);
        merged.has_new_content = sources.iter().any(|s| s.has_new_content);
        // Holds: end-of-window holds move to the merged window's end; element-time
        // holds combine.
        let combiner = self.strategy.timestamp_combiner;
        merged.element_hold = sources
            .iter()
            .filter_map(|s| s.element_hold)
            .reduce(|a, b| combiner.combine(a, b))
            .map(|hold| match combiner {
                TimestampCombiner::EndOfWindow => result.max_timestamp(),
                _ => hold,
            });
        merged.late_hold = sources
            .iter()
            .any(|s| s.late_hold.is_some())
            .then(|| result.gc_time(self.strategy.allowed_lateness));
        // Trigger state.
        let time = self.trigger_time(result);
        let source_triggers: Vec<&TriggerState> = sources.iter().map(|s| &s.trigger).collect();
        let mut requests = mem::take(&mut self.timer_requests);
        requests.clear();
        self.trigger
            .on_merge(&mut merged.trigger, &source_triggers, &time, &mut requests);
        let mut queues = TimerQueues {
            end_of_window: &mut self.end_of_window_timers,
            processing: &mut self.processing_timers,
            gc: &mut self.gc_timers,
        };
        Self::register_timers(
            &mut queues,
            &key,
            &mut merged,
            &requests,
            self.strategy.allowed_lateness,
        );
        self.timer_requests = requests;
        for hold in [merged.element_hold, merged.late_hold].into_iter().flatten() {
            self.holds.push(hold, key.clone(), result);
        }
        let key_state = &mut self.keys[key_index];
        match key_state.position(&result) {
            Ok(pos) => key_state.windows[pos] = merged,
            Err(pos) => key_state.windows.insert(pos, merged),
        }
        Ok(())
    }

    /// The position of `window` in the key's state, creating it if needed.
    fn ensure_window(&mut self, key_index: usize, window: Window) -> usize {
        match self.keys[key_index].position(&window) {
            Ok(pos) => pos,
            Err(pos) => {
                let mut state = self.new_window_state(window);
                let key = self.keys.get_index(key_index).map(|(k, _)| k.clone()).unwrap_or_else(Key::null);
                let mut queues = TimerQueues {
                    end_of_window: &mut self.end_of_window_timers,
                    processing: &mut self.processing_timers,
                    gc: &mut self.gc_timers,
                };
                Self::register_timers(&mut queues, &key, &mut state, &[], self.strategy.allowed_lateness);
                self.keys[key_index].windows.insert(pos, state);
                pos
            }
        }
    }

    fn fault(&self, message: String) -> StepFault {
        StepFault {
            step: self.name.clone(),
            message,
        }
    }

    /// Fires the window at `pos` if its trigger is ready.
    fn fire_if_ready(&mut self, key: &Key, window: &Window) {
        let time = self.trigger_time(*window);
        let Some(state) = self.keys.get_mut(key).and_then(|k| k.get_mut(window)) else {
            return;
        };
        if state.closed || !self.trigger.should_fire(&state.trigger, &time) {
            return;
        }
        self.trigger.on_fire(&mut state.trigger, &time);
        let finished = self.trigger.is_closed(&state.trigger);
        self.emit(key, window, finished);
    }

    /// Produces the window's next pane (Beam's onTrigger): computes pane info and the
    /// output timestamp, releases holds, and queues the pane for value extraction.
    fn emit(&mut self, key: &Key, window: &Window, is_finished: bool) {
        let (input_wm, output_wm) = (self.input_watermark, self.output_watermark);
        let accumulation = self.strategy.accumulation;
        if self
            .keys
            .get(key)
            .and_then(|k| k.get(window))
            .is_some_and(|state| state.acc_stale)
        {
            self.recompute(key, window);
        }
        let empty_acc = self.empty_acc.clone();
        let Some(state) = self.keys.get_mut(key).and_then(|k| k.get_mut(window)) else {
            return;
        };
        let window_max = window.max_timestamp();
        let timestamp = match state.hold() {
            Some(hold) if hold <= window_max => hold,
            _ => window_max,
        };
        state.element_hold = None;
        state.late_hold = None;
        let pane = next_pane(
            state.last_pane.as_ref(),
            window_max,
            is_finished,
            input_wm,
            output_wm,
        );
        // An empty pane is emitted only when it is the on-time one (Beam's
        // OnTimeBehavior.FIRE_ALWAYS); empty final panes are not (FIRE_IF_NON_EMPTY).
        let emit = state.has_new_content || pane.timing == Timing::OnTime;
        let discard = is_finished || !accumulation.accumulates();
        if emit {
            let acc = if discard {
                mem::replace(&mut state.acc, empty_acc)
            } else {
                state.acc.clone()
            };
            let retracting = accumulation == AccumulationMode::Retracting;
            self.pending.push(PendingPane {
                key: key.clone(),
                window: *window,
                pane,
                timestamp,
                acc,
                replaces: if retracting { state.last_emitted.take() } else { None },
                remember: retracting && !is_finished,
            });
            state.last_pane = Some(pane);
        } else if discard {
            state.acc = empty_acc;
        }
        if discard {
            state.retained.clear();
        }
        state.has_new_content = false;
        if is_finished {
            // The window is closed until it is garbage-collected.
            state.closed = true;
            self.trigger.clear(&mut state.trigger);
            state.last_pane = None;
            state.last_emitted = None;
        }
    }

    /// Rebuilds a window's accumulator from its retained inputs.
    fn recompute(&mut self, key: &Key, window: &Window) {
        let Some(state) = self.keys.get_mut(key).and_then(|k| k.get_mut(window)) else {
            return;
        };
        let inputs: Vec<CombineInput<'_>> = state
            .retained
            .iter()
            .map(|value| CombineInput {
                value,
                retraction: false,
            })
            .collect();
        let mut accs = [self.empty_acc.clone()];
        // These inputs were accepted once, so they are accepted again.
        let _ = self.combine.add_inputs(&mut accs, &[0..inputs.len()], &inputs);
        let [acc] = accs;
        state.acc = acc;
        state.acc_stale = false;
    }

    /// Extracts the values of queued panes and writes them out.
    fn flush(&mut self, out: &mut StepOutput) -> Result<(), StepFault> {
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
            if let Some(previous) = pane.replaces {
                self.stats.retractions_out += 1;
                self.stats.records_out += 1;
                out.records.push(retraction_record(&pane.key, pane.window, previous));
            }
            if pane.remember
                && let Some(state) = self.keys.get_mut(&pane.key).and_then(|k| k.get_mut(&pane.window))
            {
                state.last_emitted = Some(EmittedPane {
                    value: value.clone(),
                    timestamp: pane.timestamp,
                    pane: pane.pane,
                });
            }
            self.stats.records_out += 1;
            out.records.push(Record {
                key: pane.key,
                value,
                timestamp: pane.timestamp,
                window: pane.window,
                pane: pane.pane,
                retraction: false,
            });
        }
        Ok(())
    }

    /// Drops the state of windows past their garbage-collection time.
    fn drop_expired(&mut self) {
        for (key, window) in mem::take(&mut self.expired) {
            if let Some(index) = self.keys.get_index_of(&key) {
                let key_state = &mut self.keys[index];
                if let Ok(pos) = key_state.position(&window) {
                    key_state.windows.remove(pos);
                }
                if key_state.windows.is_empty() {
                    self.keys.swap_remove_index(index);
                }
            }
        }
    }

    /// Handles one window whose timer fired.
    fn activate(&mut self, key: &Key, window: &Window) {
        let Some(state) = self.keys.get(key).and_then(|k| k.get(window)) else {
            return;
        };
        if self.is_expired(window) {
            if !state.closed {
                self.emit(key, window, true);
            }
            self.expired.push((key.clone(), *window));
        } else {
            self.fire_if_ready(key, window);
        }
    }

    /// Pops every due entry of `queue` whose window still holds it.
    fn due_windows(
        queue: &mut TimerQueue,
        bound: Timestamp,
        keys: &mut Keys<C::Accumulator>,
        domain: Domain,
        due: &mut Vec<TimerEntry>,
    ) {
        while let Some(entry) = queue.pop_before(bound) {
            let Some(state) = keys.get_mut(&entry.key).and_then(|k| k.get_mut(&entry.window)) else {
                continue;
            };
            let live = match domain {
                Domain::EndOfWindow => remove_timer(&mut state.event_timers, entry.time),
                Domain::Processing => remove_timer(&mut state.processing_timers, entry.time),
                Domain::GarbageCollection => {
                    let live = state.gc_timer == Some(entry.time);
                    if live {
                        state.gc_timer = None;
                    }
                    live
                }
            };
            if live {
                due.push(entry);
            }
        }
    }
}

/// Which timer queue an entry came from.
#[derive(Clone, Copy)]
enum Domain {
    EndOfWindow,
    GarbageCollection,
    Processing,
}

struct TimerQueues<'a> {
    end_of_window: &'a mut TimerQueue,
    processing: &'a mut TimerQueue,
    gc: &'a mut TimerQueue,
}

fn remove_timer(registry: &mut SmallVec<[Timestamp; 1]>, time: Timestamp) -> bool {
    match registry.iter().position(|&t| t == time) {
        Some(index) => {
            registry.swap_remove(index);
            true
        }
        None => false,
    }
}

fn lookup<'a, A>(keys: &'a Keys<A>, entry: &TimerEntry) -> Option<&'a WindowState<A>> {
    keys.get(&entry.key).and_then(|k| k.get(&entry.window))
}

fn retraction_record(key: &Key, window: Window, emitted: EmittedPane) -> Record {
    Record {
        key: key.clone(),
        value: emitted.value,
        timestamp: emitted.timestamp,
        window,
        pane: emitted.pane,
        retraction: true,
    }
}

/// Sorts due entries by time, then key and window, and keeps one per window.
fn dedup_activations(due: &mut Vec<TimerEntry>) {
    due.sort();
    let mut seen = std::collections::HashSet::with_capacity(due.len());
    due.retain(|entry| seen.insert((entry.key.clone(), entry.window)));
}

impl<C: CombineFn> Step for GroupByKeyAndWindow<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        let lateness = self.strategy.allowed_lateness;
        let merging = self.strategy.window_fn.is_merging();

        // 1. Drop records whose window is past its allowed lateness; find each key.
        let mut records = Vec::with_capacity(input.len());
        let mut key_of = Vec::with_capacity(input.len());
        for record in input {
            if record.window.gc_time(lateness) < self.input_watermark {
                self.stats.dropped_late += 1;
                continue;
            }
            let index = match self.keys.get_index_of(&record.key) {
                Some(index) => index,
                None => self.keys.insert_full(record.key.clone(), KeyState::default()).0,
            };
            key_of.push(index as u32);
            records.push(record);
        }

        // 2. Per key, merge windows (Beam merges all of a key's new windows before
        //    processing its records), then route each record to its window's group.
        let mut order: Vec<u32> = (0..records.len() as u32).collect();
        if merging {
            order.sort_by_key(|&i| key_of[i as usize]);
        }
        let mut groups: Vec<(usize, Window)> = Vec::new();
        let mut merge_results: Vec<(usize, Window)> = Vec::new();
        let mut group_of: Vec<u32> = vec![NO_GROUP; records.len()];
        let mut run_start = 0;
        while run_start < order.len() {
            let key_index = key_of[order[run_start] as usize] as usize;
            let run_end = if merging {
                order[run_start..]
                    .iter()
                    .position(|&i| key_of[i as usize] as usize != key_index)
                    .map_or(order.len(), |len| run_start + len)
            } else {
                run_start + 1
            };
            let mapping = if merging {
                let mut arriving: Vec<Window> = order[run_start..run_end]
                    .iter()
                    .map(|&i| records[i as usize].window)
                    .collect();
                arriving.sort();
                arriving.dedup();
                let mapping = self.merge_windows(key_index, &arriving, out)?;
                merge_results.extend(mapping.iter().map(|(_, result)| (key_index, *result)));
                mapping
            } else {
                Vec::new()
            };
            for &i in &order[run_start..run_end] {
                let record = &records[i as usize];
                let window = mapping
                    .iter()
                    .find(|(from, _)| *from == record.window)
                    .map_or(record.window, |(_, to)| *to);
                let pos = self.ensure_window(key_index, window);
                let state = &mut self.keys[key_index].windows[pos];
                if state.closed {
                    self.stats.dropped_closed += 1;
                    continue;
                }
                if state.group == NO_GROUP {
                    state.group = groups.len() as u32;
                    groups.push((key_index, window));
                }
                group_of[i as usize] = state.group;
            }
            run_start = run_end;
        }

        // 3. Add every routed record to its window's accumulator, one call for the bundle.
        let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
        for (i, group) in group_of.iter().enumerate() {
            if *group != NO_GROUP {
                by_group[*group as usize].push(i);
            }
        }
        let mut flat: Vec<usize> = Vec::with_capacity(records.len());
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(groups.len());
        let mut rejected = vec![false; records.len()];
        let mut reasons: Vec<(usize, String)> = Vec::new();
        let can_invert = self.combine.inversion() != Inversion::None;
        for members in &by_group {
            let start = flat.len();
            for &i in members {
                let record = &records[i];
                if record.retraction && !can_invert {
                    // Recomputed from retained inputs instead of subtracted.
                    continue;
                }
                flat.push(i);
            }
            ranges.push(start..flat.len());
        }
        let inputs: Vec<CombineInput<'_>> = flat
            .iter()
            .map(|&i| CombineInput {
                value: &records[i].value,
                retraction: records[i].retraction,
            })
            .collect();
        let mut accs: Vec<C::Accumulator> = groups
            .iter()
            .map(|(key_index, window)| {
                self.keys[*key_index]
                    .get_mut(window)
                    .map(|state| mem::take(&mut state.acc))
                    .unwrap_or_default()
            })
            .collect();
        for rejection in self.combine.add_inputs(&mut accs, &ranges, &inputs) {
            if let Some(&i) = flat.get(rejection.input) {
                rejected[i] = true;
                reasons.push((i, rejection.reason));
            }
        }
        drop(inputs);
        for ((key_index, window), acc) in groups.iter().zip(accs) {
            if let Some(state) = self.keys[*key_index].get_mut(window) {
                state.acc = acc;
            }
        }

        // 4. Bookkeeping for accepted records: retained inputs, holds, trigger state.
        let combine_name = self.combine.name().to_owned();
        for (group_index, members) in by_group.iter().enumerate() {
            let (key_index, window) = groups[group_index];
            let key = self.keys.get_index(key_index).map(|(k, _)| k.clone()).unwrap_or_else(Key::null);
            let Ok(pos) = self.keys[key_index].position(&window) else {
                continue;
            };
            let mut accepted = 0u64;
            for &i in members {
                if rejected[i] {
                    continue;
                }
                let record = &records[i];
                if self.retain_inputs {
                    let state = &mut self.keys[key_index].windows[pos];
                    if record.retraction {
                        match state.retained.iter().position(|v| *v == record.value) {
                            Some(found) => {
                                state.retained.swap_remove(found);
                                state.acc_stale = true;
                            }
                            None => {
                                rejected[i] = true;
                                reasons.push((
                                    i,
                                    format!(
                                        "{combine_name} cannot retract {}: the window does not hold it",
                                        record.value
                                    ),
                                ));
                                continue;
                            }
                        }
                    } else {
                        state.retained.push(record.value.clone());
                    }
                } else if record.retraction && !can_invert {
                    rejected[i] = true;
                    reasons.push((
                        i,
                        format!("{combine_name} cannot subtract a retraction"),
                    ));
                    continue;
                }
                accepted += 1;
                self.add_hold(&key, (key_index, pos), record.timestamp);
            }
            let time = self.trigger_time(window);
            let mut requests = mem::take(&mut self.timer_requests);
            requests.clear();
            let state = &mut self.keys[key_index].windows[pos];
            state.group = NO_GROUP;
            if accepted == 0 && state.is_pristine() {
                // Everything routed here was rejected: forget the window again.
                self.expired.push((key.clone(), window));
            }
            if accepted > 0 {
                state.has_new_content = true;
                self.trigger
                    .on_elements(&mut state.trigger, &time, &mut requests, accepted);
                let mut queues = TimerQueues {
                    end_of_window: &mut self.end_of_window_timers,
                    processing: &mut self.processing_timers,
                    gc: &mut self.gc_timers,
                };
                Self::register_timers(&mut queues, &key, state, &requests, lateness);
            }
            self.timer_requests = requests;
        }
        reasons.sort_by_key(|(i, _)| *i);
        for (i, reason) in reasons {
            self.stats.dead_lettered += 1;
            let step = format!("{} ({combine_name})", self.name);
            out.dead_letters.push(DeadLetter::step(&step, &records[i], reason));
        }

        // 5. Fire the windows whose trigger is ready: every window that received
        //    records and every merge result (Beam's windowsToConsider).
        let mut to_consider = groups;
        to_consider.extend(merge_results);
        to_consider.sort_by_key(|(key_index, window)| (*key_index, *window));
        to_consider.dedup();
        for (key_index, window) in &to_consider {
            if let Some((key, _)) = self.keys.get_index(*key_index) {
                let key = key.clone();
                self.fire_if_ready(&key, window);
            }
        }
        self.flush(out)?;
        self.drop_expired();
        self.refresh_output_watermark();
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
        loop {
            // Pane timing sees the output watermark held by the timers about to fire.
            self.refresh_output_watermark();
            let mut due = Vec::new();
            Self::due_windows(
                &mut self.end_of_window_timers,
                watermark,
                &mut self.keys,
                Domain::EndOfWindow,
                &mut due,
            );
            Self::due_windows(
                &mut self.gc_timers,
                watermark,
                &mut self.keys,
                Domain::GarbageCollection,
                &mut due,
            );
            if due.is_empty() {
                break;
            }
            dedup_activations(&mut due);
            for entry in due {
                self.activate(&entry.key, &entry.window);
            }
            self.flush(out)?;
            self.drop_expired();
        }
        self.refresh_output_watermark();
        Ok(())
    }

    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        self.processing_time = self.processing_time.max(now);
        let mut due = Vec::new();
        Self::due_windows(
            &mut self.processing_timers,
            self.processing_time,
            &mut self.keys,
            Domain::Processing,
            &mut due,
        );
        dedup_activations(&mut due);
        for entry in due {
            // Processing-time timers of expired windows are ignored, like late records.
            if !self.is_expired(&entry.window) {
                self.fire_if_ready(&entry.key, &entry.window);
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
        let keys = &self.keys;
        self.processing_timers.peek_live(|entry| {
            lookup(keys, entry).is_some_and(|state| state.processing_timers.contains(&entry.time))
        })
    }

    fn stats(&self) -> StepStats {
        self.stats
    }
}
