//! Steps: what every node of a pipeline implements ([`Step`]), what it emits
//! ([`StepOutput`]), counts ([`StepStats`]) and how its plugin is swapped
//! ([`Swap`]); the events sources produce ([`Event`]); the `window` step
//! ([`AssignWindows`]); and the order records reach a sink in ([`output_order`]).
//! [`crate::graph`] runs steps as a pipeline.

use std::cmp::Ordering;

use smallvec::SmallVec;

use crate::dead_letter::DeadLetter;
use crate::record::Record;
use crate::state::{StateError, StepReader, StepWriter};
use crate::time::{MIN_TIMESTAMP, Timestamp};
use crate::window::{AssignedWindows, WindowFn};

/// What a step emitted while handling one event.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Records of the step's main output.
    pub records: Vec<Record>,
    /// Records of its side outputs, by side output (a step without any leaves it
    /// empty; a DoFn emits to the side outputs its spec declares).
    pub side: Vec<Vec<Record>>,
    /// Records set aside.
    pub dead_letters: Vec<DeadLetter>,
}

/// A step that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct StepFault {
    /// The step, as named in the spec.
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// Counters a step keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// Records received.
    pub records_in: u64,
    /// Records emitted (panes and retractions included).
    pub records_out: u64,
    /// Retractions emitted.
    pub retractions_out: u64,
    /// Records dropped because their window was past its allowed lateness.
    pub dropped_late: u64,
    /// Records dropped because their window's trigger had finished.
    pub dropped_closed: u64,
    /// Records sent to the dead-letter output.
    pub dead_lettered: u64,
}

impl StepStats {
    /// Adds another step's counters.
    pub fn add(&mut self, other: &StepStats) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.retractions_out += other.retractions_out;
        self.dropped_late += other.dropped_late;
        self.dropped_closed += other.dropped_closed;
        self.dead_lettered += other.dead_lettered;
    }
}

/// The replacement type of a pipeline none of whose steps can be swapped: it has no
/// values, so such a pipeline's `swap` cannot be called.
///
/// A pipeline is generic over the type `R` of the replacements its steps take
/// ([`Step::swap`]); the WebAssembly layer's is a plugin compiled, instantiated and
/// started off the hot path. The model itself never names it.
#[derive(Debug)]
pub enum NoSwap {}

/// A function whose plugin can be replaced by an `R` while it runs, keeping the state
/// it works on (a combine function's accumulators, a DoFn's keyed state).
pub trait Swap<R> {
    /// Replaces the plugin with `replacement`; on an error the function is unchanged.
    fn swap(&mut self, replacement: R) -> Result<(), SwapError>;
}

/// Why a step's plugin was not swapped; the step is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    /// The pipeline has no step of that name.
    #[error("the pipeline has no step {step}")]
    NoSuchStep {
        /// The name asked for.
        step: String,
    },
    /// The step runs no plugin, or one that cannot be swapped.
    #[error("{step} runs no plugin that can be swapped")]
    NotSwappable {
        /// The step's (or function's) name.
        step: String,
    },
    /// The replacement is another kind of plugin than the step runs.
    #[error("the new version is not a {expected} plugin")]
    WrongKind {
        /// The kind the step runs, e.g. `CombineFn`.
        expected: &'static str,
    },
    /// The new version could not read the state the step holds.
    #[error(
        "the new version's accumulators are {theirs:?}, not {ours:?}: it could not read \
         the accumulators the step holds"
    )]
    AccumulatorFormat {
        /// The step's accumulator format.
        ours: String,
        /// The new version's.
        theirs: String,
    },
    /// A model cannot take the place it was offered (another kind, other features
    /// or classes), or the step has no candidate to promote.
    #[error("{message}")]
    Model {
        /// Why.
        message: String,
    },
    /// The new version takes back inputs another way than the step's plugin.
    #[error("the new version takes back inputs by {theirs:?}, not {ours:?}")]
    Inversion {
        /// How the step's plugin takes back inputs.
        ours: crate::combine::Inversion,
        /// How the new version does.
        theirs: crate::combine::Inversion,
    },
}

/// The plugin a step runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PluginStatus {
    /// The sha256 of its component.
    pub version: String,
    /// Calls that faulted so far.
    pub faults: u64,
}

/// Where a step is, for status reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepStatus {
    /// The step's name in the spec.
    pub name: String,
    /// Its counters.
    pub stats: StepStats,
    /// Its output watermark.
    pub watermark: Timestamp,
    /// The plugin it runs, if any.
    pub plugin: Option<PluginStatus>,
    /// The models it scores with, for a `score` step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::score::monitor::ModelStatus>,
}

/// One step of a pipeline, taking replacements of type `R` for its plugin (see
/// [`NoSwap`]).
pub trait Step<R = NoSwap>: Send {
    /// The step's name in the spec, e.g. `steps[1].combine`.
    fn name(&self) -> &str;

    /// Processes a bundle of records.
    fn process(&mut self, input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault>;

    /// Advances the step's input watermark (never backwards) and fires what is due.
    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault>;

    /// Advances the processing clock and fires what is due (nothing, for a step
    /// without processing-time timers).
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut StepOutput,
    ) -> Result<(), StepFault> {
        let _ = (now, out);
        Ok(())
    }

    /// The watermark the next step sees.
    fn output_watermark(&self) -> Timestamp;

    /// The earliest pending processing-time timer, if any.
    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        None
    }

    /// The step's counters.
    fn stats(&self) -> StepStats;

    /// What the step's state depends on (its settings, its functions' state
    /// formats): a run only resumes state written by a step with the same
    /// description.
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::from(self.name())
    }

    /// At a checkpoint: writes what changed in the step's state since the last one.
    fn snapshot(&mut self, _state: &mut StepWriter<'_>) -> Result<(), StateError> {
        Ok(())
    }

    /// When a run resumes: replaces the step's state with the checkpoint's.
    fn restore(&mut self, _state: &StepReader<'_>) -> Result<(), StateError> {
        Ok(())
    }

    /// The plugin the step runs, if it runs one that can be swapped.
    fn plugin(&self) -> Option<PluginStatus> {
        None
    }

    /// The models a `score` step scores with, and what they did.
    fn model(&self) -> Option<crate::score::monitor::ModelStatus> {
        None
    }

    /// Replaces the step's plugin with `replacement`, keeping the step's state. On
    /// an error (the replacement does not fit) the step is unchanged.
    fn swap(&mut self, replacement: R) -> Result<(), SwapError> {
        drop(replacement);
        Err(SwapError::NotSwappable {
            step: self.name().to_owned(),
        })
    }
}

/// An event from a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Records that arrive together, as one bundle.
    Records(Vec<Record>),
    /// The source watermark advances.
    Watermark(Timestamp),
    /// The processing clock advances.
    ProcessingTime(Timestamp),
}

/// Puts records in output order: retractions first, then by window end, window start
/// and key text. The sort is stable, so one window's records keep emission order.
pub fn sort_for_output(records: &mut [Record]) {
    records.sort_by(output_order);
}

/// The `window` step: assigns each record to its windows.
pub struct AssignWindows {
    name: String,
    window_fn: WindowFn,
    watermark: Timestamp,
    stats: StepStats,
}

impl AssignWindows {
    /// A step that assigns windows with `window_fn`.
    pub fn new(name: impl Into<String>, window_fn: WindowFn) -> Self {
        AssignWindows {
            name: name.into(),
            window_fn,
            watermark: MIN_TIMESTAMP,
            stats: StepStats::default(),
        }
    }
}

impl<R> Step<R> for AssignWindows {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, mut input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        if let WindowFn::Custom(custom) = &self.window_fn {
            let assigned = custom.assign(&input).map_err(|message| StepFault {
                step: self.name.clone(),
                message,
            })?;
            let step = format!("{} ({})", self.name, custom.name());
            for (record, windows) in input.into_iter().zip(assigned) {
                match windows {
                    Ok(windows) => {
                        for window in windows {
                            self.stats.records_out += 1;
                            out.records.push(Record {
                                window,
                                ..record.clone()
                            });
                        }
                    }
                    Err(reason) => {
                        self.stats.dead_lettered += 1;
                        out.dead_letters
                            .push(DeadLetter::step(&step, &record, reason));
                    }
                }
            }
            return Ok(());
        }
        // A record the function gives no windows (its time is out of range, say) is
        // a dead letter, as for a custom function.
        let mut windows: AssignedWindows = SmallVec::new();
        let (name, window_fn, stats) = (&self.name, &self.window_fn, &mut self.stats);
        if !matches!(window_fn, WindowFn::Sliding { .. }) {
            // One window per record: assign in place.
            input.retain_mut(|record| {
                windows.clear();
                match window_fn.assign(record.timestamp, &mut windows) {
                    Ok(()) => {
                        record.window = windows[0];
                        true
                    }
                    Err(err) => {
                        stats.dead_lettered += 1;
                        out.dead_letters
                            .push(DeadLetter::step(name, record, err.to_string()));
                        false
                    }
                }
            });
            stats.records_out += input.len() as u64;
            out.records.append(&mut input);
            return Ok(());
        }
        for record in input {
            windows.clear();
            if let Err(err) = window_fn.assign(record.timestamp, &mut windows) {
                stats.dead_lettered += 1;
                out.dead_letters
                    .push(DeadLetter::step(name, &record, err.to_string()));
                continue;
            }
            for window in &windows {
                stats.records_out += 1;
                out.records.push(Record {
                    window: *window,
                    ..record.clone()
                });
            }
        }
        Ok(())
    }

    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        _: &mut StepOutput,
    ) -> Result<(), StepFault> {
        self.watermark = self.watermark.max(watermark);
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.watermark
    }

    fn stats(&self) -> StepStats {
        self.stats
    }
}

/// A step that changes each record in place and keeps nothing: a `flatten` (which
/// changes nothing: the graph has merged its inputs), a cogroup's tagging and
/// layout ([`crate::cogroup`]).
pub struct MapRecords<F> {
    name: String,
    map: F,
    watermark: Timestamp,
    stats: StepStats,
}

impl<F: FnMut(&mut Record) + Send> MapRecords<F> {
    /// A step named `name` applying `map` to every record.
    pub fn new(name: impl Into<String>, map: F) -> Self {
        MapRecords {
            name: name.into(),
            map,
            watermark: MIN_TIMESTAMP,
            stats: StepStats::default(),
        }
    }
}

/// A `flatten` step named `name`: the graph gives it all its inputs' records, and
/// the minimum of their watermarks.
pub fn flatten(name: impl Into<String>) -> MapRecords<impl FnMut(&mut Record) + Send> {
    MapRecords::new(name, |_: &mut Record| {})
}

impl<R, F: FnMut(&mut Record) + Send> Step<R> for MapRecords<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn process(&mut self, mut input: Vec<Record>, out: &mut StepOutput) -> Result<(), StepFault> {
        self.stats.records_in += input.len() as u64;
        self.stats.records_out += input.len() as u64;
        for record in &mut input {
            self.stats.retractions_out += u64::from(record.retraction);
            (self.map)(record);
        }
        out.records.append(&mut input);
        Ok(())
    }

    fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        _: &mut StepOutput,
    ) -> Result<(), StepFault> {
        self.watermark = self.watermark.max(watermark);
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.watermark
    }

    fn stats(&self) -> StepStats {
        self.stats
    }
}

/// The order of [`sort_for_output`].
pub fn output_order(a: &Record, b: &Record) -> Ordering {
    b.retraction
        .cmp(&a.retraction)
        .then_with(|| a.window.output_order(&b.window))
        .then_with(|| a.key.as_json().cmp(b.key.as_json()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pane::PaneInfo;
    use crate::record::Key;
    use crate::window::Window;
    use serde_json::json;

    #[test]
    fn assign_windows_duplicates_records_into_sliding_windows() {
        let mut step: Box<dyn Step> = Box::new(AssignWindows::new(
            "steps[0].window",
            WindowFn::Sliding {
                size: 60,
                period: 30,
                offset: 0,
            },
        ));
        let mut out = StepOutput::default();
        step.process(
            vec![Record::new(Key::from_str_value("a"), json!(1), 45)],
            &mut out,
        )
        .unwrap();
        let windows: Vec<Window> = out.records.iter().map(|r| r.window).collect();
        assert_eq!(
            windows,
            vec![Window::interval(30, 90), Window::interval(0, 60)]
        );
    }

    #[test]
    fn output_order_puts_retractions_first_then_window_end_start_and_key() {
        let record = |key: &str, start, end, retraction| Record {
            key: Key::from_str_value(key),
            value: json!(0),
            timestamp: 0,
            window: Window::interval(start, end),
            pane: PaneInfo::NO_FIRING,
            retraction,
        };
        let mut records = vec![
            record("b", 0, 10, false),
            record("a", 5, 10, false),
            record("a", 0, 10, false),
            record("z", 0, 20, true),
            record("a", 0, 5, false),
        ];
        sort_for_output(&mut records);
        let order: Vec<(String, i64, i64, bool)> = records
            .iter()
            .map(|r| {
                (
                    r.key.to_string(),
                    r.window.start(),
                    r.window.end(),
                    r.retraction,
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                ("\"z\"".into(), 0, 20, true),
                ("\"a\"".into(), 0, 5, false),
                ("\"a\"".into(), 0, 10, false),
                ("\"b\"".into(), 0, 10, false),
                ("\"a\"".into(), 5, 10, false),
            ]
        );
    }
}
