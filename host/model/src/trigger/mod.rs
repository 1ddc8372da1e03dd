//! Triggers: when a window emits a pane (paper §2.3, Beam's TriggerStateMachine).
//!
//! A [`Trigger`] is the declarative tree a spec describes. A [`TriggerMachine`] is its
//! executable form: the tree flattened in pre-order, with all per-window state —
//! which sub-triggers have finished, element counts, processing-time targets — kept
//! in a small [`TriggerState`] value that the grouping operator stores per window.
//! The machine never sees elements, accumulators or the operator itself, so every
//! trigger form is testable on its own.
//!
//! The semantics follow Beam's runners-core state machines, including how trigger
//! state merges when session windows merge.
//!
//! ```
//! use millrace_model::timer::ProcessingClock;
//! use millrace_model::trigger::{Trigger, TriggerMachine, TriggerTime};
//! use millrace_model::window::Window;
//!
//! let machine = TriggerMachine::new(&Trigger::AfterCount(2), false).unwrap();
//! let mut state = machine.new_state();
//! let time = TriggerTime {
//!     window: Window::Global,
//!     input_watermark: 0,
//!     processing_time: ProcessingClock::default(),
//! };
//! let mut timers = Vec::new();
//! machine.on_elements(&mut state, &time, &mut timers, 1, &[]);
//! assert!(!machine.should_fire(&state, &time));
//! machine.on_elements(&mut state, &time, &mut timers, 1, &[]);
//! assert!(machine.should_fire(&state, &time));
//! machine.on_fire(&mut state, &time);
//! assert!(machine.is_closed(&state));
//! ```

mod runner;

pub use runner::{DataWindow, TriggerRunner};

use std::fmt;

use smallvec::SmallVec;

use crate::time::{Timestamp, format_duration};
use crate::timer::{ProcessingClock, TimeDomain, TimerRequest};
use crate::window::Window;

/// A trigger as written in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Beam's default: fire when the watermark passes the end of the window, then
    /// again for every bundle of late data; never finishes.
    Default,
    /// Never fires; the window emits only when it is garbage-collected.
    Never,
    /// Fire when the watermark passes the end of the window, with optional early
    /// firings before and late firings after (each repeats implicitly).
    AfterWatermark {
        /// Fires repeatedly before the end of the window.
        early: Option<Box<Trigger>>,
        /// Fires repeatedly after the end of the window.
        late: Option<Box<Trigger>>,
    },
    /// Fire once the processing clock passes a target set by the pane's first element:
    /// its arrival time plus `delay`, then rounded up to the next `align` boundary.
    AfterProcessingTime {
        /// Added to the first element's arrival time.
        delay: i64,
        /// Rounds the target up to the next aligned boundary.
        align: Option<Alignment>,
    },
    /// Fire once the pane holds at least this many elements.
    AfterCount(u64),
    /// Fire every time the inner trigger fires, forever.
    Repeatedly(Box<Trigger>),
    /// Run the triggers in sequence, firing whenever the current one fires.
    AfterEach(Vec<Trigger>),
    /// Fire (once) as soon as any of the triggers fires.
    AfterAny(Vec<Trigger>),
    /// Fire (once) when all of the triggers have fired.
    AfterAll(Vec<Trigger>),
    /// Fire as `trigger` does until `until` fires, then finish.
    OrFinally {
        /// The trigger that fires.
        trigger: Box<Trigger>,
        /// The trigger that ends it.
        until: Box<Trigger>,
    },
    /// Fire (once) when data-driven trigger number `index` says so; the grouping asks
    /// it about every bundle of elements (see [`DataTrigger`]).
    Plugin {
        /// Which of the grouping's data-driven triggers.
        index: usize,
    },
}

/// A data-driven trigger: looks at the elements that arrive in windows and says which
/// windows should fire (paper §3.3.6). Implemented by plugins.
pub trait DataTrigger: Send {
    /// For each window — its bounds, the elements that just arrived and what this
    /// trigger kept for it (empty at first) — decides whether it fires now and what to
    /// keep. An error means the trigger cannot go on.
    fn on_elements(
        &mut self,
        windows: &[DataTriggerInput<'_>],
    ) -> Result<Vec<DataTriggerDecision>, String>;
}

/// What a [`DataTrigger`] is shown for one window.
pub struct DataTriggerInput<'a> {
    /// The window.
    pub window: Window,
    /// The elements that just arrived in it.
    pub elements: Vec<&'a crate::record::Record>,
    /// What the trigger kept for the window.
    pub state: &'a [u8],
}

/// What a [`DataTrigger`] decided for one window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataTriggerDecision {
    /// Fire now.
    pub fire: bool,
    /// What to keep for the window.
    pub state: Vec<u8>,
}

/// Boundaries every `period` milliseconds, shifted by `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alignment {
    /// Distance between boundaries.
    pub period: i64,
    /// Position of the boundaries relative to the epoch.
    pub offset: i64,
}

impl Alignment {
    /// The first boundary at or after `time`.
    pub fn align(&self, time: Timestamp) -> Timestamp {
        let since =
            (i128::from(time) - i128::from(self.offset)).rem_euclid(i128::from(self.period)) as i64;
        if since == 0 {
            time
        } else {
            time.saturating_add(self.period - since)
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, name: &str, triggers: &[Trigger]) -> fmt::Result {
            write!(f, "{name}[")?;
            for (i, trigger) in triggers.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{trigger}")?;
            }
            f.write_str("]")
        }
        match self {
            Trigger::Default => f.write_str("default"),
            Trigger::Never => f.write_str("never"),
            Trigger::AfterWatermark { early, late } => {
                f.write_str("after_watermark")?;
                if let Some(early) = early {
                    write!(f, " early({early})")?;
                }
                if let Some(late) = late {
                    write!(f, " late({late})")?;
                }
                Ok(())
            }
            Trigger::AfterProcessingTime { delay, align } => {
                write!(f, "after_processing_time(delay {}", format_duration(*delay))?;
                if let Some(align) = align {
                    write!(
                        f,
                        ", align {} offset {}",
                        format_duration(align.period),
                        format_duration(align.offset)
                    )?;
                }
                f.write_str(")")
            }
            Trigger::AfterCount(count) => write!(f, "after_count({count})"),
            Trigger::Repeatedly(inner) => write!(f, "repeatedly({inner})"),
            Trigger::AfterEach(triggers) => list(f, "after_each", triggers),
            Trigger::AfterAny(triggers) => list(f, "after_any", triggers),
            Trigger::AfterAll(triggers) => list(f, "after_all", triggers),
            Trigger::OrFinally { trigger, until } => {
                write!(f, "or_finally({trigger} until {until})")
            }
            Trigger::Plugin { index } => write!(f, "plugin #{index}"),
        }
    }
}

/// A trigger tree too large to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trigger has {nodes} parts; at most {MAX_NODES} are supported")]
pub struct TriggerTooLarge {
    /// How many parts the tree has.
    pub nodes: usize,
}

/// The largest trigger tree, in parts, that a [`TriggerMachine`] runs.
pub const MAX_NODES: usize = 64;

/// Marks an unset processing-time target in [`TriggerState`]'s slots. No target is
/// ever this: a target is a processing time, which a [`ProcessingClock`] never puts
/// before [`crate::timer::PROCESSING_TIME_START`], plus a delay. Only
/// [`TriggerState::target`] and [`TriggerState::set_target`] see this encoding.
const UNSET: i64 = i64::MIN;

/// What arrived in a window: how many elements, and what data-driven triggers said.
struct Arrivals<'a> {
    count: u64,
    signals: &'a [bool],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Default,
    Never,
    EndOfWindow,
    EarlyAndLate {
        has_late: bool,
    },
    ProcessingTime {
        delay: i64,
        align: Option<Alignment>,
    },
    Count(u64),
    Repeatedly,
    AfterEach,
    AfterAny,
    AfterAll,
    OrFinally,
    Plugin(usize),
}

impl Kind {
    fn initial_slot(self) -> i64 {
        match self {
            Kind::ProcessingTime { .. } => UNSET,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    children: SmallVec<[usize; 2]>,
    /// One past the last node of this node's subtree (pre-order numbering).
    subtree_end: usize,
    /// Index of this node's data in [`TriggerState`], for parts that keep data.
    slot: Option<usize>,
}

/// The per-window state of a trigger: finished bits, one slot for each part that
/// keeps data (counts and processing-time targets), and what the data-driven
/// triggers kept for the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TriggerState {
    finished: u64,
    slots: SmallVec<[i64; 2]>,
    /// Boxed: most pipelines have no data-driven trigger, and every window has a
    /// trigger state.
    kept: Option<Box<Kept>>,
}

/// What each data-driven trigger kept for one window, by trigger index.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Kept(Vec<Vec<u8>>);

impl TriggerState {
    /// Takes what the data-driven triggers kept, leaving nothing.
    fn take_kept(&mut self) -> Vec<Vec<u8>> {
        self.kept.take().map(|kept| kept.0).unwrap_or_default()
    }

    /// Stores what the data-driven triggers keep now.
    fn put_kept(&mut self, kept: Vec<Vec<u8>>) {
        self.kept = (!kept.is_empty()).then(|| Box::new(Kept(kept)));
    }

    fn is_finished(&self, node: usize) -> bool {
        self.finished & (1 << node) != 0
    }

    fn set_finished(&mut self, node: usize, finished: bool) {
        if finished {
            self.finished |= 1 << node;
        } else {
            self.finished &= !(1 << node);
        }
    }

    /// A processing-time part's target: the time its delay is up, once a pane's
    /// first element has set it.
    fn target(&self, slot: usize) -> Option<Timestamp> {
        Some(self.slots[slot]).filter(|&target| target != UNSET)
    }

    fn set_target(&mut self, slot: usize, target: Option<Timestamp>) {
        debug_assert_ne!(target, Some(UNSET), "a target is a processing time");
        self.slots[slot] = target.unwrap_or(UNSET);
    }

    /// Whether a data-driven part's plugin said "fire" and no pane has fired since.
    fn signal(&self, slot: usize) -> bool {
        self.slots[slot] != 0
    }

    fn set_signal(&mut self, slot: usize, signal: bool) {
        self.slots[slot] = i64::from(signal);
    }
}

/// The times a trigger looks at, for one window.
#[derive(Clone, Copy, Debug)]
pub struct TriggerTime {
    /// The window being triggered.
    pub window: Window,
    /// The grouping step's input watermark.
    pub input_watermark: Timestamp,
    /// The current processing time.
    pub processing_time: ProcessingClock,
}

impl TriggerTime {
    fn end_of_window_reached(&self) -> bool {
        self.input_watermark > self.window.max_timestamp()
    }
}

/// An executable trigger tree; see the module docs.
#[derive(Clone, Debug)]
pub struct TriggerMachine {
    nodes: Vec<Node>,
    merging: bool,
}

impl TriggerMachine {
    /// Builds the machine for `trigger`. `merging` says whether windows can merge, in
    /// which case composite triggers keep every sub-trigger's state up to date.
    pub fn new(trigger: &Trigger, merging: bool) -> Result<Self, TriggerTooLarge> {
        let mut nodes = Vec::new();
        flatten(trigger, &mut nodes);
        if nodes.len() > MAX_NODES {
            return Err(TriggerTooLarge { nodes: nodes.len() });
        }
        Ok(TriggerMachine { nodes, merging })
    }

    /// Fresh state for a window that has seen nothing.
    #[inline]
    pub fn new_state(&self) -> TriggerState {
        TriggerState {
            finished: 0,
            slots: self
                .nodes
                .iter()
                .filter(|node| node.slot.is_some())
                .map(|node| node.kind.initial_slot())
                .collect(),
            kept: None,
        }
    }

    /// Whether the trigger has finished: the window is closed.
    pub fn is_closed(&self, state: &TriggerState) -> bool {
        state.is_finished(0)
    }

    /// How many data-driven triggers the tree has.
    pub fn data_triggers(&self) -> usize {
        self.nodes
            .iter()
            .filter_map(|node| match node.kind {
                Kind::Plugin(index) => Some(index + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether the trigger ever looks at the watermark (it fires at the end of the window).
    pub fn watches_watermark(&self) -> bool {
        self.nodes.iter().any(|node| {
            matches!(
                node.kind,
                Kind::Default | Kind::EndOfWindow | Kind::EarlyAndLate { .. }
            )
        })
    }

    /// Records `count` elements arriving in the window; `signals[i]` says whether
    /// data-driven trigger `i` wants the window to fire.
    #[inline]
    pub fn on_elements(
        &self,
        state: &mut TriggerState,
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
        count: u64,
        signals: &[bool],
    ) {
        self.element(0, state, time, timers, &Arrivals { count, signals });
    }

    /// Sets the state of a window produced by a merge. `state` starts as the result
    /// window's own state if it was already active, else as [`Self::new_state`];
    /// `sources` are the states of all active windows being merged.
    #[inline]
    pub fn on_merge(
        &self,
        state: &mut TriggerState,
        sources: &[&TriggerState],
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
    ) {
        self.merge(0, state, sources, time, timers);
    }

    /// Whether the window should emit a pane now.
    pub fn should_fire(&self, state: &TriggerState, time: &TriggerTime) -> bool {
        self.fire_ready(0, state, time)
    }

    /// Advances the state after the window emitted a pane.
    pub fn on_fire(&self, state: &mut TriggerState, time: &TriggerTime) {
        self.fire(0, state, time);
    }

    /// Clears all per-pane data but keeps the finished bits.
    #[inline]
    pub fn clear(&self, state: &mut TriggerState) {
        self.clear_node(0, state);
    }

    fn first_unfinished(&self, node: usize, state: &TriggerState) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .copied()
            .find(|&child| !state.is_finished(child))
    }

    fn request_end_of_window(&self, time: &TriggerTime, timers: &mut Vec<TimerRequest>) {
        if !time.end_of_window_reached() {
            timers.push(TimerRequest {
                domain: TimeDomain::EventTime,
                time: time.window.max_timestamp(),
            });
        }
    }

    fn element(
        &self,
        n: usize,
        state: &mut TriggerState,
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
        arrivals: &Arrivals<'_>,
    ) {
        let node = &self.nodes[n];
        match node.kind {
            Kind::Default | Kind::EndOfWindow => self.request_end_of_window(time, timers),
            Kind::Never => {}
            Kind::EarlyAndLate { .. } => {
                self.request_end_of_window(time, timers);
                if self.merging {
                    // A merge may revive either sub-trigger, so both keep counting.
                    for &child in &node.children {
                        self.element(child, state, time, timers, arrivals);
                    }
                } else if let Some(child) = self.first_unfinished(n, state) {
                    self.element(child, state, time, timers, arrivals);
                }
            }
            Kind::ProcessingTime { delay, align } => {
                let slot = self.slot(n);
                if state.target(slot).is_none() {
                    let mut target = time.processing_time.now().saturating_add(delay);
                    if let Some(align) = align {
                        target = align.align(target);
                    }
                    state.set_target(slot, Some(target));
                    timers.push(TimerRequest {
                        domain: TimeDomain::ProcessingTime,
                        time: target,
                    });
                }
            }
            Kind::Count(_) => {
                let slot = self.slot(n);
                state.slots[slot] = state.slots[slot].saturating_add(arrivals.count as i64);
            }
            Kind::Plugin(index) => {
                if arrivals.signals.get(index).copied().unwrap_or(false) {
                    state.set_signal(self.slot(n), true);
                }
            }
            Kind::Repeatedly | Kind::AfterAny | Kind::OrFinally => {
                for &child in &node.children {
                    self.element(child, state, time, timers, arrivals);
                }
            }
            Kind::AfterEach => {
                if self.merging {
                    for &child in &node.children {
                        self.element(child, state, time, timers, arrivals);
                    }
                } else if let Some(child) = self.first_unfinished(n, state) {
                    self.element(child, state, time, timers, arrivals);
                }
            }
            Kind::AfterAll => {
                for &child in &node.children {
                    if !state.is_finished(child) {
                        self.element(child, state, time, timers, arrivals);
                    }
                }
            }
        }
    }

    fn merge(
        &self,
        n: usize,
        state: &mut TriggerState,
        sources: &[&TriggerState],
        time: &TriggerTime,
        timers: &mut Vec<TimerRequest>,
    ) {
        let finished_in_all = |node: usize| sources.iter().all(|s| s.is_finished(node));
        let finished_in_any = |node: usize| sources.iter().any(|s| s.is_finished(node));
        let node = &self.nodes[n];
        match node.kind {
            Kind::Default => self.request_end_of_window(time, timers),
            Kind::Never => {}
            Kind::EndOfWindow => {
                // Still active if any merged window had not fired, or the new window's
                // end has not been reached.
                let finished = finished_in_all(n) && time.end_of_window_reached();
                state.set_finished(n, finished);
            }
            Kind::EarlyAndLate { has_late } => {
                let early = node.children[0];
                if !finished_in_all(early) || !time.end_of_window_reached() {
                    self.merge(early, state, sources, time, timers);
                    state.set_finished(early, false);
                    if has_late {
                        let late = node.children[1];
                        state.set_finished(late, false);
                        self.clear_node(late, state);
                    }
                } else {
                    state.set_finished(early, true);
                    if has_late {
                        self.merge(node.children[1], state, sources, time, timers);
                    }
                }
            }
            Kind::ProcessingTime { .. } => {
                let slot = self.slot(n);
                if state.is_finished(n) {
                    state.set_target(slot, None);
                    return;
                }
                // The earliest pending target across the merged windows wins.
                let earliest = sources.iter().filter_map(|s| s.target(slot)).min();
                state.set_target(slot, earliest);
                if let Some(target) = earliest {
                    timers.push(TimerRequest {
                        domain: TimeDomain::ProcessingTime,
                        time: target,
                    });
                }
            }
            Kind::Plugin(_) => {
                let slot = self.slot(n);
                if finished_in_any(n) {
                    state.set_finished(n, true);
                    state.set_signal(slot, false);
                } else {
                    let pending = sources.iter().any(|s| s.signal(slot));
                    state.set_signal(slot, pending);
                }
            }
            Kind::Count(_) => {
                if finished_in_any(n) {
                    state.set_finished(n, true);
                    state.slots[self.slot(n)] = 0;
                } else {
                    state.slots[self.slot(n)] = sources
                        .iter()
                        .map(|s| s.slots[self.slot(n)])
                        .fold(0, i64::saturating_add);
                }
            }
            Kind::Repeatedly => self.merge(node.children[0], state, sources, time, timers),
            Kind::AfterEach => {
                let mut prior_all_finished = true;
                for &child in &node.children {
                    if prior_all_finished {
                        self.merge(child, state, sources, time, timers);
                        prior_all_finished &= state.is_finished(child);
                    } else {
                        self.clear_node(child, state);
                    }
                }
                let done = self.first_unfinished(n, state).is_none();
                state.set_finished(n, done);
            }
            Kind::AfterAny | Kind::OrFinally => {
                for &child in &node.children {
                    self.merge(child, state, sources, time, timers);
                }
                let any = node.children.iter().any(|&child| state.is_finished(child));
                state.set_finished(n, any);
            }
            Kind::AfterAll => {
                for &child in &node.children {
                    self.merge(child, state, sources, time, timers);
                }
                let all = node.children.iter().all(|&child| state.is_finished(child));
                state.set_finished(n, all);
            }
        }
    }

    fn fire_ready(&self, n: usize, state: &TriggerState, time: &TriggerTime) -> bool {
        let node = &self.nodes[n];
        match node.kind {
            Kind::Default | Kind::EndOfWindow => time.end_of_window_reached(),
            Kind::Never => false,
            Kind::EarlyAndLate { has_late } => {
                let early = node.children[0];
                if !state.is_finished(early) {
                    self.fire_ready(early, state, time) || time.end_of_window_reached()
                } else {
                    has_late && self.fire_ready(node.children[1], state, time)
                }
            }
            Kind::ProcessingTime { .. } => {
                // Strictly after, as Beam's AfterDelayFromFirstElement.
                state
                    .target(self.slot(n))
                    .is_some_and(|target| time.processing_time.now() > target)
            }
            Kind::Count(count) => state.slots[self.slot(n)] >= count as i64,
            Kind::Plugin(_) => state.signal(self.slot(n)),
            Kind::Repeatedly => self.fire_ready(node.children[0], state, time),
            Kind::AfterEach => self
                .first_unfinished(n, state)
                .is_some_and(|child| self.fire_ready(child, state, time)),
            Kind::AfterAny => node
                .children
                .iter()
                .any(|&c| state.is_finished(c) || self.fire_ready(c, state, time)),
            Kind::AfterAll => node
                .children
                .iter()
                .all(|&c| state.is_finished(c) || self.fire_ready(c, state, time)),
            Kind::OrFinally => node
                .children
                .iter()
                .any(|&c| self.fire_ready(c, state, time)),
        }
    }

    fn fire(&self, n: usize, state: &mut TriggerState, time: &TriggerTime) {
        let node = &self.nodes[n];
        match node.kind {
            Kind::Default | Kind::Never => {}
            Kind::EndOfWindow => state.set_finished(n, true),
            Kind::EarlyAndLate { has_late } => {
                let early = node.children[0];
                if !state.is_finished(early) {
                    if !time.end_of_window_reached() {
                        // An early firing; the early trigger repeats implicitly.
                        self.fire(early, state, time);
                        self.clear_node(early, state);
                        state.set_finished(early, false);
                    } else {
                        // The on-time firing: early firings end, late ones begin afresh.
                        if self.fire_ready(early, state, time) {
                            self.fire(early, state, time);
                        }
                        state.set_finished(early, true);
                        self.clear_node(early, state);
                        if has_late {
                            self.clear_node(node.children[1], state);
                        } else {
                            state.set_finished(n, true);
                        }
                    }
                } else if has_late {
                    // A late firing; the late trigger repeats implicitly.
                    let late = node.children[1];
                    self.fire(late, state, time);
                    self.clear_node(late, state);
                    state.set_finished(late, false);
                } else {
                    state.set_finished(n, true);
                }
            }
            Kind::ProcessingTime { .. } | Kind::Count(_) | Kind::Plugin(_) => {
                self.clear_node(n, state);
                state.set_finished(n, true);
            }
            Kind::Repeatedly => {
                let child = node.children[0];
                self.fire(child, state, time);
                if state.is_finished(child) {
                    self.reset_tree(child, state);
                }
            }
            Kind::AfterEach => {
                if let Some(child) = self.first_unfinished(n, state) {
                    self.fire(child, state, time);
                }
                if self.merging {
                    for &child in &node.children {
                        self.clear_node(child, state);
                    }
                }
                let done = self.first_unfinished(n, state).is_none();
                state.set_finished(n, done);
            }
            Kind::AfterAny => {
                for &child in &node.children {
                    if self.fire_ready(child, state, time) {
                        self.fire(child, state, time);
                    } else {
                        self.clear_node(child, state);
                    }
                }
                state.set_finished(n, true);
            }
            Kind::AfterAll => {
                for &child in &node.children {
                    self.fire(child, state, time);
                }
                state.set_finished(n, true);
            }
            Kind::OrFinally => {
                let (actual, until) = (node.children[0], node.children[1]);
                if self.fire_ready(until, state, time) {
                    self.fire(until, state, time);
                    self.clear_node(actual, state);
                } else {
                    self.fire(actual, state, time);
                }
                let any = state.is_finished(actual) || state.is_finished(until);
                state.set_finished(n, any);
            }
        }
    }

    /// Resets the data of `n`'s subtree to its initial values.
    fn clear_node(&self, n: usize, state: &mut TriggerState) {
        for node in &self.nodes[n..self.nodes[n].subtree_end] {
            if let Some(slot) = node.slot {
                state.slots[slot] = node.kind.initial_slot();
            }
        }
    }

    /// Where node `n` keeps its data; only called for parts that have some.
    fn slot(&self, n: usize) -> usize {
        self.nodes[n].slot.unwrap_or_default()
    }

    /// Clears `n`'s subtree entirely, finished bits included, as if it never ran.
    fn reset_tree(&self, n: usize, state: &mut TriggerState) {
        for node in n..self.nodes[n].subtree_end {
            state.set_finished(node, false);
        }
        self.clear_node(n, state);
    }
}

/// Appends `trigger`'s subtree to `nodes` in pre-order and returns its root index.
fn flatten(trigger: &Trigger, nodes: &mut Vec<Node>) -> usize {
    let index = nodes.len();
    let (kind, children): (Kind, Vec<&Trigger>) = match trigger {
        Trigger::Default => (Kind::Default, vec![]),
        Trigger::Never => (Kind::Never, vec![]),
        Trigger::AfterWatermark {
            early: None,
            late: None,
        } => (Kind::EndOfWindow, vec![]),
        Trigger::AfterWatermark { early, late } => {
            const NEVER: &Trigger = &Trigger::Never;
            let early = early.as_deref().unwrap_or(NEVER);
            match late {
                Some(late) => (Kind::EarlyAndLate { has_late: true }, vec![early, late]),
                None => (Kind::EarlyAndLate { has_late: false }, vec![early]),
            }
        }
        Trigger::AfterProcessingTime { delay, align } => (
            Kind::ProcessingTime {
                delay: *delay,
                align: *align,
            },
            vec![],
        ),
        Trigger::AfterCount(count) => (Kind::Count(*count), vec![]),
        Trigger::Repeatedly(inner) => (Kind::Repeatedly, vec![inner]),
        Trigger::AfterEach(list) => (Kind::AfterEach, list.iter().collect()),
        Trigger::AfterAny(list) => (Kind::AfterAny, list.iter().collect()),
        Trigger::AfterAll(list) => (Kind::AfterAll, list.iter().collect()),
        Trigger::OrFinally { trigger, until } => (Kind::OrFinally, vec![trigger, until]),
        Trigger::Plugin { index } => (Kind::Plugin(*index), vec![]),
    };
    let slot = matches!(
        kind,
        Kind::ProcessingTime { .. } | Kind::Count(_) | Kind::Plugin(_)
    )
    .then(|| nodes.iter().filter(|node| node.slot.is_some()).count());
    nodes.push(Node {
        kind,
        children: SmallVec::new(),
        subtree_end: index + 1,
        slot,
    });
    for child in children {
        let child_index = flatten(child, nodes);
        nodes[index].children.push(child_index);
    }
    nodes[index].subtree_end = nodes.len();
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    /// Drives one window's trigger as the grouping operator would.
    struct Harness {
        machine: TriggerMachine,
        state: TriggerState,
        time: TriggerTime,
        timers: Vec<TimerRequest>,
    }

    impl Harness {
        fn new(trigger: Trigger) -> Self {
            Self::with_merging(trigger, false)
        }

        fn with_merging(trigger: Trigger, merging: bool) -> Self {
            let machine = TriggerMachine::new(&trigger, merging).unwrap();
            let state = machine.new_state();
            Harness {
                machine,
                state,
                time: TriggerTime {
                    window: Window::interval(0, 2 * MINUTE),
                    input_watermark: i64::MIN,
                    processing_time: ProcessingClock::default(),
                },
                timers: Vec::new(),
            }
        }

        fn elements(&mut self, count: u64) -> &mut Self {
            self.machine
                .on_elements(&mut self.state, &self.time, &mut self.timers, count, &[]);
            self
        }

        fn watermark(&mut self, wm: i64) -> &mut Self {
            self.time.input_watermark = wm;
            self
        }

        fn clock(&mut self, now: i64) -> &mut Self {
            self.time.processing_time = ProcessingClock::from(now);
            self
        }

        /// Fires if ready, as the operator does; reports whether it fired.
        fn poll(&mut self) -> bool {
            if self.machine.should_fire(&self.state, &self.time) {
                self.machine.on_fire(&mut self.state, &self.time);
                true
            } else {
                false
            }
        }

        fn closed(&self) -> bool {
            self.machine.is_closed(&self.state)
        }
    }

    fn count(n: u64) -> Trigger {
        Trigger::AfterCount(n)
    }

    fn delay(ms: i64) -> Trigger {
        Trigger::AfterProcessingTime {
            delay: ms,
            align: None,
        }
    }

    fn boxed(trigger: Trigger) -> Option<Box<Trigger>> {
        Some(Box::new(trigger))
    }

    #[test]
    fn default_fires_at_end_of_window_and_for_late_data_forever() {
        let mut h = Harness::new(Trigger::Default);
        h.elements(1);
        assert_eq!(
            h.timers,
            vec![TimerRequest {
                domain: TimeDomain::EventTime,
                time: 2 * MINUTE - 1
            }]
        );
        assert!(!h.poll());
        h.watermark(2 * MINUTE - 1);
        assert!(!h.poll(), "the watermark must pass the max timestamp");
        h.watermark(2 * MINUTE);
        assert!(h.poll());
        assert!(!h.closed());
        h.elements(1);
        assert!(h.poll(), "late data fires again at once");
        assert!(!h.closed());
    }

    #[test]
    fn never_never_fires() {
        let mut h = Harness::new(Trigger::Never);
        h.elements(5).watermark(i64::MAX).clock(i64::MAX);
        assert!(!h.poll());
        assert!(h.timers.is_empty());
    }

    #[test]
    fn bare_after_watermark_fires_once_at_end_of_window() {
        let mut h = Harness::new(Trigger::AfterWatermark {
            early: None,
            late: None,
        });
        h.elements(1);
        assert!(!h.poll());
        h.watermark(2 * MINUTE);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn early_and_late_firings_repeat_around_the_on_time_one() {
        let mut h = Harness::new(Trigger::AfterWatermark {
            early: boxed(count(2)),
            late: boxed(count(1)),
        });
        h.elements(1);
        assert!(!h.poll());
        h.elements(1);
        assert!(h.poll(), "early firing after two elements");
        h.elements(1);
        assert!(!h.poll(), "the early count restarted");
        h.watermark(2 * MINUTE);
        assert!(h.poll(), "on-time firing");
        assert!(!h.poll());
        h.elements(1);
        assert!(h.poll(), "late firing per element");
        h.elements(1);
        assert!(h.poll());
        assert!(!h.closed());
    }

    #[test]
    fn early_only_finishes_at_end_of_window() {
        let mut h = Harness::new(Trigger::AfterWatermark {
            early: boxed(delay(MINUTE)),
            late: None,
        });
        h.clock(1000).elements(1);
        h.clock(MINUTE + 1000);
        assert!(!h.poll(), "fires only strictly after the target");
        h.clock(MINUTE + 1001);
        assert!(h.poll());
        h.watermark(2 * MINUTE);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn late_only_waits_for_the_watermark() {
        let mut h = Harness::new(Trigger::AfterWatermark {
            early: None,
            late: boxed(count(1)),
        });
        h.elements(3);
        assert!(!h.poll(), "no early firings");
        h.watermark(2 * MINUTE);
        assert!(h.poll());
        assert!(!h.poll());
        h.elements(1);
        assert!(h.poll());
    }

    #[test]
    fn processing_time_delay_counts_from_the_first_element_of_the_pane() {
        let mut h = Harness::new(delay(2 * MINUTE));
        h.clock(299_000).elements(1);
        h.clock(339_000).elements(1);
        assert_eq!(
            h.timers,
            vec![TimerRequest {
                domain: TimeDomain::ProcessingTime,
                time: 419_000
            }]
        );
        h.clock(419_000);
        assert!(!h.poll());
        h.clock(419_001);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn a_delay_set_at_the_clock_start_is_a_real_target() {
        // The harness's clock starts at 0, where a test stream's does.
        let mut h = Harness::new(delay(25));
        h.elements(1);
        assert_eq!(
            h.timers,
            vec![TimerRequest {
                domain: TimeDomain::ProcessingTime,
                time: 25
            }]
        );
        h.clock(20);
        assert!(!h.poll(), "20 is before 0 + 25");
        h.clock(25);
        assert!(!h.poll());
        h.clock(26);
        assert!(h.poll());
        // A delay of 0 from the start is a target of 0, not "no target".
        let mut h = Harness::new(delay(0));
        h.elements(1);
        assert!(!h.poll(), "the clock is not past 0 yet");
        h.clock(1);
        assert!(h.poll());
    }

    #[test]
    fn a_target_set_at_the_clock_start_survives_a_merge() {
        let h = Harness::with_merging(delay(25), true);
        let machine = &h.machine;
        let mut timers = Vec::new();
        let mut early = machine.new_state();
        machine.on_elements(&mut early, &h.time, &mut timers, 1, &[]);
        let fresh = machine.new_state();
        let mut merged = machine.new_state();
        timers.clear();
        let at = |now| TriggerTime {
            processing_time: ProcessingClock::from(now),
            ..h.time
        };
        machine.on_merge(&mut merged, &[&early, &fresh], &at(20), &mut timers);
        assert_eq!(timers[0].time, 25);
        assert!(!machine.should_fire(&merged, &at(25)));
        assert!(machine.should_fire(&merged, &at(26)));
    }

    #[test]
    fn trigger_state_keeps_its_checkpoint_encoding() {
        // Checkpoints hold a window's trigger state as (finished bits, slots, kept
        // bytes), an unset target as i64::MIN (checkpoint format 3).
        let machine =
            TriggerMachine::new(&Trigger::AfterAll(vec![delay(25), count(2)]), false).unwrap();
        let mut state = machine.new_state();
        let unset =
            postcard::to_stdvec(&(0_u64, vec![i64::MIN, 0_i64], None::<Vec<Vec<u8>>>)).unwrap();
        assert_eq!(postcard::to_stdvec(&state).unwrap(), unset);
        let time = TriggerTime {
            window: Window::interval(0, 40),
            input_watermark: i64::MIN,
            processing_time: ProcessingClock::default(),
        };
        machine.on_elements(&mut state, &time, &mut Vec::new(), 2, &[]);
        let written = postcard::to_stdvec(&(0_u64, vec![25_i64, 2], None::<Vec<Vec<u8>>>)).unwrap();
        assert_eq!(postcard::to_stdvec(&state).unwrap(), written);
        let read: TriggerState = postcard::from_bytes(&written).unwrap();
        assert_eq!(read, state);
        let later = TriggerTime {
            processing_time: ProcessingClock::from(26),
            ..time
        };
        assert!(machine.should_fire(&read, &later));
    }

    #[test]
    fn processing_time_alignment_rounds_up_to_the_next_boundary() {
        let aligned = Trigger::AfterProcessingTime {
            delay: 0,
            align: Some(Alignment {
                period: 2 * MINUTE,
                offset: 5 * MINUTE,
            }),
        };
        let mut h = Harness::new(aligned);
        h.clock(299_000).elements(1);
        assert_eq!(h.timers[0].time, 300_000, "boundaries at 5m + k·2m");
        let align = Alignment {
            period: 2 * MINUTE,
            offset: 5 * MINUTE,
        };
        assert_eq!(align.align(300_000), 300_000);
        assert_eq!(align.align(-1), 60_000);
        // Delay applies before alignment.
        let both = Trigger::AfterProcessingTime {
            delay: MINUTE,
            align: Some(align),
        };
        let mut h = Harness::new(both);
        h.clock(299_000).elements(1);
        assert_eq!(h.timers[0].time, 420_000);
    }

    #[test]
    fn after_count_fires_once_then_closes() {
        let mut h = Harness::new(count(3));
        h.elements(2);
        assert!(!h.poll());
        h.elements(2);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn repeatedly_restarts_its_trigger() {
        let mut h = Harness::new(Trigger::Repeatedly(Box::new(count(2))));
        for _ in 0..3 {
            h.elements(1);
            assert!(!h.poll());
            h.elements(1);
            assert!(h.poll());
        }
        assert!(!h.closed());
    }

    #[test]
    fn after_each_runs_its_triggers_in_sequence() {
        let mut h = Harness::new(Trigger::AfterEach(vec![count(1), count(2)]));
        h.elements(1);
        assert!(h.poll(), "first trigger");
        assert!(!h.closed());
        h.elements(1);
        assert!(!h.poll());
        h.elements(1);
        assert!(h.poll(), "second trigger");
        assert!(h.closed());
    }

    #[test]
    fn after_any_fires_on_the_first_and_finishes() {
        let mut h = Harness::new(Trigger::AfterAny(vec![count(3), delay(MINUTE)]));
        h.clock(0).elements(1);
        h.clock(MINUTE + 1);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn after_all_waits_for_every_trigger() {
        let mut h = Harness::new(Trigger::AfterAll(vec![count(2), delay(MINUTE)]));
        h.clock(0).elements(1);
        h.clock(MINUTE + 1);
        assert!(!h.poll(), "count not reached");
        h.elements(1);
        assert!(h.poll());
        assert!(h.closed());
    }

    #[test]
    fn or_finally_stops_when_until_fires() {
        let mut h = Harness::new(Trigger::OrFinally {
            trigger: Box::new(Trigger::Repeatedly(Box::new(count(1)))),
            until: Box::new(count(3)),
        });
        h.elements(1);
        assert!(h.poll());
        h.elements(1);
        assert!(h.poll());
        assert!(!h.closed());
        h.elements(1);
        assert!(h.poll(), "the until trigger's firing is the last");
        assert!(h.closed());
    }

    #[test]
    fn counts_sum_when_windows_merge() {
        let h = Harness::with_merging(count(3), true);
        let machine = &h.machine;
        let mut a = machine.new_state();
        let mut b = machine.new_state();
        let time = h.time;
        let mut timers = Vec::new();
        machine.on_elements(&mut a, &time, &mut timers, 1, &[]);
        machine.on_elements(&mut b, &time, &mut timers, 1, &[]);
        let mut merged = machine.new_state();
        machine.on_merge(&mut merged, &[&a, &b], &time, &mut timers);
        assert!(!machine.should_fire(&merged, &time));
        machine.on_elements(&mut merged, &time, &mut timers, 1, &[]);
        assert!(machine.should_fire(&merged, &time));
    }

    #[test]
    fn processing_time_targets_merge_to_the_earliest() {
        let h = Harness::with_merging(delay(MINUTE), true);
        let machine = &h.machine;
        let mut timers = Vec::new();
        let mut a = machine.new_state();
        let mut b = machine.new_state();
        let at = |now| TriggerTime {
            processing_time: ProcessingClock::from(now),
            ..h.time
        };
        machine.on_elements(&mut a, &at(373_000), &mut timers, 1, &[]);
        machine.on_elements(&mut b, &at(399_000), &mut timers, 1, &[]);
        let mut merged = machine.new_state();
        timers.clear();
        machine.on_merge(&mut merged, &[&a, &b], &at(426_000), &mut timers);
        assert_eq!(timers[0].time, 433_000);
        assert!(machine.should_fire(&merged, &at(433_001)));
    }

    #[test]
    fn early_late_merge_revives_early_firing_before_end_of_window() {
        let trigger = Trigger::AfterWatermark {
            early: boxed(delay(MINUTE)),
            late: boxed(count(1)),
        };
        let h = Harness::with_merging(trigger, true);
        let machine = &h.machine;
        let mut timers = Vec::new();
        // A window past its end, in late mode.
        let past = TriggerTime {
            window: Window::interval(0, 1000),
            input_watermark: 5000,
            processing_time: ProcessingClock::default(),
        };
        let mut late_window = machine.new_state();
        machine.on_elements(&mut late_window, &past, &mut timers, 1, &[]);
        assert!(machine.should_fire(&late_window, &past));
        machine.on_fire(&mut late_window, &past);
        // It merges into a window whose end is still ahead: early firings resume.
        let ahead = TriggerTime {
            window: Window::interval(0, 10_000),
            ..past
        };
        let mut merged = machine.new_state();
        machine.on_merge(&mut merged, &[&late_window], &ahead, &mut timers);
        machine.on_elements(&mut merged, &ahead, &mut timers, 1, &[]);
        assert!(!machine.should_fire(&merged, &ahead));
        let later = TriggerTime {
            processing_time: ProcessingClock::from(MINUTE + 1),
            ..ahead
        };
        assert!(machine.should_fire(&merged, &later));
        // Both past their end: the merged window stays in late mode and counts.
        let mut merged_late = machine.new_state();
        machine.on_merge(&mut merged_late, &[&late_window], &past, &mut timers);
        assert!(!machine.should_fire(&merged_late, &past));
        machine.on_elements(&mut merged_late, &past, &mut timers, 1, &[]);
        assert!(machine.should_fire(&merged_late, &past));
    }

    #[test]
    fn end_of_window_merge_reopens_a_finished_trigger_if_the_end_moved() {
        let h = Harness::with_merging(
            Trigger::AfterWatermark {
                early: None,
                late: None,
            },
            true,
        );
        let machine = &h.machine;
        let mut timers = Vec::new();
        let fired_time = TriggerTime {
            window: Window::interval(0, 1000),
            input_watermark: 1000,
            processing_time: ProcessingClock::default(),
        };
        let mut fired = machine.new_state();
        machine.on_fire(&mut fired, &fired_time);
        assert!(machine.is_closed(&fired));
        let mut merged = machine.new_state();
        let moved = TriggerTime {
            window: Window::interval(0, 5000),
            ..fired_time
        };
        machine.on_merge(&mut merged, &[&fired], &moved, &mut timers);
        assert!(!machine.is_closed(&merged));
    }

    #[test]
    fn data_driven_triggers_fire_once_when_their_plugin_says_so() {
        let mut h = Harness::new(Trigger::Repeatedly(Box::new(Trigger::Plugin { index: 0 })));
        assert_eq!(h.machine.data_triggers(), 1);
        h.machine
            .on_elements(&mut h.state, &h.time, &mut h.timers, 3, &[false]);
        assert!(!h.poll());
        h.machine
            .on_elements(&mut h.state, &h.time, &mut h.timers, 1, &[true]);
        assert!(h.poll());
        assert!(!h.poll(), "the signal is consumed by the firing");
        let early = Trigger::AfterWatermark {
            early: boxed(Trigger::Plugin { index: 1 }),
            late: None,
        };
        let mut h = Harness::with_merging(early, true);
        h.machine
            .on_elements(&mut h.state, &h.time, &mut h.timers, 1, &[false, true]);
        let mut merged = h.machine.new_state();
        let mut timers = Vec::new();
        h.machine
            .on_merge(&mut merged, &[&h.state], &h.time, &mut timers);
        assert!(
            h.machine.should_fire(&merged, &h.time),
            "a pending signal survives a merge"
        );
    }

    #[test]
    fn oversized_trees_are_refused() {
        let wide = Trigger::AfterAny((0..70).map(|_| count(1)).collect());
        assert_eq!(
            TriggerMachine::new(&wide, false).unwrap_err(),
            TriggerTooLarge { nodes: 71 }
        );
    }

    #[test]
    fn display_reads_like_the_spec() {
        let trigger = Trigger::AfterWatermark {
            early: boxed(delay(MINUTE)),
            late: boxed(count(1)),
        };
        assert_eq!(
            trigger.to_string(),
            "after_watermark early(after_processing_time(delay 1m)) late(after_count(1))"
        );
    }
}
