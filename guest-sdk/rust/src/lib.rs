//! Write millrace plugins in Rust.
//!
//! A plugin is a WebAssembly component that gives a millrace pipeline one piece of
//! user logic. Implement one of four traits on a type, then call [`export!`]:
//!
//! - [`DoFn`]: turns each element into zero or more elements (`pardo` steps), with
//!   keyed state and timers when it needs them;
//! - [`CombineFn`]: folds a window's values into one (`combine` steps);
//! - [`WindowFn`]: a custom window function (`window: {custom: …}`);
//! - [`Trigger`]: a data-driven trigger that looks at arriving elements;
//! - [`Scorer`]: a model evaluator for `score` steps, which the host hands a
//!   trained model's bytes and batches of feature rows.
//!
//! The host owns time, windows, triggers and state; the SDK turns the host's batches
//! into typed values with serde and back. A complete sum combiner:
//!
//! ```
//! use millrace_sdk::{CombineFn, Config, Error, Inversion};
//!
//! struct Sum;
//!
//! impl CombineFn for Sum {
//!     type Input = i64;
//!     type Accumulator = i64;
//!     type Output = i64;
//!     const INVERSION: Inversion = Inversion::Subtract;
//!
//!     fn new(_config: &Config) -> Result<Self, Error> { Ok(Sum) }
//!     fn create_accumulator(&self) -> i64 { 0 }
//!     fn add_input(&self, acc: &mut i64, input: i64) -> Result<(), Error> { *acc += input; Ok(()) }
//!     fn merge_accumulators(&self, acc: &mut i64, other: i64) { *acc += other }
//!     fn extract_output(&self, acc: &i64) -> i64 { *acc }
//!     fn uncombine(&self, acc: &mut i64, input: i64) -> Result<(), Error> { *acc -= input; Ok(()) }
//! }
//!
//! millrace_sdk::export!(combine Sum);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component. `millrace plugin new NAME`
//! scaffolds a crate that builds as is.

pub mod bindings;
#[doc(hidden)]
pub mod glue;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Exports a type as the plugin: `export!(dofn T)`, `export!(combine T)`,
/// `export!(window T)`, `export!(trigger T)` or `export!(scorer T)`, where `T`
/// implements [`DoFn`], [`CombineFn`], [`WindowFn`], [`Trigger`] or [`Scorer`].
///
/// It only does something when compiling for WebAssembly, so a plugin crate can also
/// be built natively (for tests and benchmarks).
#[macro_export]
macro_rules! export {
    (dofn $ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type MillraceGlue = $crate::glue::DoFnGlue<$ty>;
            $crate::bindings::dofn::export_dofn!(MillraceGlue with_types_in $crate::bindings::dofn);
        };
    };
    (combine $ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type MillraceGlue = $crate::glue::CombineGlue<$ty>;
            $crate::bindings::combine::export_combine!(MillraceGlue with_types_in $crate::bindings::combine);
        };
    };
    (window $ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type MillraceGlue = $crate::glue::WindowGlue<$ty>;
            $crate::bindings::window::export_window!(MillraceGlue with_types_in $crate::bindings::window);
        };
    };
    (trigger $ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type MillraceGlue = $crate::glue::TriggerGlue<$ty>;
            $crate::bindings::trigger::export_trigger!(MillraceGlue with_types_in $crate::bindings::trigger);
        };
    };
    (scorer $ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type MillraceGlue = $crate::glue::ScorerGlue<$ty>;
            $crate::bindings::scorer::export_scorer!(MillraceGlue with_types_in $crate::bindings::scorer);
        };
    };
}

/// Something went wrong; the host sends the element to the dead-letter output with
/// this message, or fails the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(err: E) -> Self {
        Error::new(err.to_string())
    }
}

/// The step's configuration: the spec's `config` for the plugin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config(serde_json::Value);

impl Config {
    /// Configuration from JSON text.
    pub fn from_json(text: &str) -> Result<Config, Error> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        Ok(Config(value))
    }

    /// Configuration from a JSON value (for tests and native use).
    pub fn from_value(value: serde_json::Value) -> Config {
        Config(value)
    }

    /// The whole configuration as a JSON value.
    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }

    /// The setting `name`, deserialized; `None` when absent.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.0.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|err| Error::new(format!("config {name:?}: {err}"))),
        }
    }

    /// The setting `name`, which must be present.
    pub fn require<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        self.get(name)?
            .ok_or_else(|| Error::new(format!("config {name:?} is required")))
    }

    /// The whole configuration, deserialized into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.0.clone()).map_err(|err| Error::new(format!("config: {err}")))
    }
}

/// A window of event time: the global window or `[start, end)` in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// First instant in the window (`i64::MIN` for the global window).
    pub start: i64,
    /// First instant after the window (`i64::MAX` for the global window).
    pub end: i64,
}

impl Window {
    /// The global window.
    pub const GLOBAL: Window = Window {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// The window `[start, end)`.
    pub fn new(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    /// Whether this is the global window.
    pub fn is_global(&self) -> bool {
        *self == Window::GLOBAL
    }
}

/// An element handed to a plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct Element<T> {
    /// The element's key (JSON `null` when it has none).
    pub key: serde_json::Value,
    /// The element's value.
    pub value: T,
    /// The element's event time, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The element's window.
    pub window: Window,
    /// The element's position in its batch, which names its key and window to the host.
    pub(crate) index: u32,
}

impl<T> Element<T> {
    /// An element, for tests and native use.
    pub fn new(key: serde_json::Value, value: T, timestamp: i64, window: Window) -> Element<T> {
        Element {
            key,
            value,
            timestamp,
            window,
            index: 0,
        }
    }
}

/// How a [`CombineFn`] takes back a retracted input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inversion {
    /// [`CombineFn::uncombine`] can subtract any input, even one the accumulator
    /// never held (sums, counts, means).
    Subtract,
    /// [`CombineFn::uncombine`] removes an input the accumulator holds (collections).
    Remove,
    /// Inputs cannot be taken back; the host recomputes from the window's inputs.
    None,
}

/// How important a log message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Detail for tracing a problem.
    Trace,
    /// Detail for developers.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something that went wrong.
    Error,
}

/// Writes `message` to the host's log.
pub fn log(level: Level, message: &str) {
    glue::host().log(level, message);
}

/// Adds `delta` to the step's counter `name`.
pub fn counter_add(name: &str, delta: u64) {
    glue::host().counter_add(name, delta);
}

/// Sets the step's gauge `name`.
pub fn gauge_set(name: &str, value: f64) {
    glue::host().gauge_set(name, value);
}

/// Folds the values of a (key, window) into an accumulator and the accumulator into
/// the pane's value.
pub trait CombineFn: Sized + 'static {
    /// The values being combined.
    type Input: DeserializeOwned;
    /// The running state; stored by the host as bytes between calls.
    type Accumulator: Serialize + DeserializeOwned;
    /// The pane's value.
    type Output: Serialize;

    /// Names the accumulator's encoding; change it whenever `Accumulator` changes
    /// shape, so that the host refuses to hot-swap between incompatible versions.
    /// (The host also sees the accumulator's type name.)
    const ACCUMULATOR_FORMAT: &'static str = "1";

    /// Whether and how [`Self::uncombine`] takes inputs back.
    const INVERSION: Inversion = Inversion::None;

    /// Builds the function from the step's configuration.
    fn new(config: &Config) -> Result<Self, Error>;

    /// A fresh accumulator.
    fn create_accumulator(&self) -> Self::Accumulator;

    /// Adds one input. On error, leave `acc` unchanged: the input is dead-lettered.
    fn add_input(&self, acc: &mut Self::Accumulator, input: Self::Input) -> Result<(), Error>;

    /// Merges `other` into `acc` (for windows that merge).
    fn merge_accumulators(&self, acc: &mut Self::Accumulator, other: Self::Accumulator);

    /// The output for an accumulator.
    fn extract_output(&self, acc: &Self::Accumulator) -> Self::Output;

    /// Takes a retracted input back out. Only called when [`Self::INVERSION`] is not
    /// [`Inversion::None`]; on error leave `acc` unchanged.
    fn uncombine(&self, acc: &mut Self::Accumulator, input: Self::Input) -> Result<(), Error> {
        let _ = (acc, input);
        Err(Error::new("this combine function cannot take inputs back"))
    }
}

/// What a [`DoFn`] emits.
#[derive(Debug, Default)]
pub struct Emitter {
    pub(crate) keys: Vec<u8>,
    pub(crate) key_ends: Vec<u32>,
    pub(crate) values: Vec<u8>,
    pub(crate) value_ends: Vec<u32>,
    pub(crate) timestamps: Vec<i64>,
    pub(crate) sources: Vec<u32>,
    pub(crate) tags: Vec<u8>,
    pub(crate) tag_ends: Vec<u32>,
    pub(crate) source: u32,
    pub(crate) key: Vec<u8>,
    pub(crate) timestamp: i64,
}

impl Emitter {
    /// Emits `value` with the current element's key and timestamp.
    pub fn emit<V: Serialize>(&mut self, value: &V) -> Result<(), Error> {
        self.push_current(value, "")
    }

    /// Emits `value` under `key`, with the current element's timestamp.
    pub fn emit_keyed<K: Serialize, V: Serialize>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        self.emit_at(key, value, self.timestamp)
    }

    /// Emits `value` under `key` at event time `timestamp`.
    pub fn emit_at<K: Serialize, V: Serialize>(
        &mut self,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<(), Error> {
        self.push_keyed(key, value, timestamp, "")
    }

    /// Emits `value` with the current element's key and timestamp to the side
    /// output `output`, one of those the step's spec declares
    /// (`pardo: {plugin: …, outputs: [rejects]}`); `""` is the main output.
    /// [`Emitter::to`] emits there under another key or time.
    pub fn emit_to<V: Serialize>(&mut self, output: &str, value: &V) -> Result<(), Error> {
        self.push_current(value, output)
    }

    /// The side output `output` (as in [`Emitter::emit_to`]), to emit there under
    /// a key or at a time of the plugin's choosing:
    /// `out.to("rejects").emit_keyed(&reason, &element.value)`.
    pub fn to<'a>(&'a mut self, output: &'a str) -> SideOutput<'a> {
        SideOutput {
            emitter: self,
            output,
        }
    }

    fn push_current<V: Serialize>(&mut self, value: &V, output: &str) -> Result<(), Error> {
        let key = std::mem::take(&mut self.key);
        let result = self.push_raw(&key, value, self.timestamp, output);
        self.key = key;
        result
    }

    fn push_keyed<K: Serialize, V: Serialize>(
        &mut self,
        key: &K,
        value: &V,
        timestamp: i64,
        output: &str,
    ) -> Result<(), Error> {
        let key = serde_json::to_vec(key)?;
        self.push_raw(&key, value, timestamp, output)
    }

    fn push_raw<V: Serialize>(
        &mut self,
        key: &[u8],
        value: &V,
        timestamp: i64,
        output: &str,
    ) -> Result<(), Error> {
        serde_json::to_writer(&mut self.values, value)?;
        self.keys.extend_from_slice(key);
        self.key_ends.push(self.keys.len() as u32);
        self.value_ends.push(self.values.len() as u32);
        self.timestamps.push(timestamp);
        self.sources.push(self.source);
        self.tags.extend_from_slice(output.as_bytes());
        self.tag_ends.push(self.tags.len() as u32);
        Ok(())
    }

    /// How many elements were emitted so far.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether nothing was emitted yet.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The emitted values, decoded (for tests and native use).
    pub fn values(&self) -> Vec<serde_json::Value> {
        glue::split(&self.values, &self.value_ends)
            .map(|bytes| serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    /// The emitted elements' event times (for tests and native use).
    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    /// The side output each emitted element goes to, `""` for the main output (for
    /// tests and native use).
    pub fn outputs(&self) -> Vec<&str> {
        glue::split(&self.tags, &self.tag_ends)
            .map(|bytes| std::str::from_utf8(bytes).unwrap_or_default())
            .collect()
    }

    /// The emitted keys, decoded (for tests and native use).
    pub fn keys(&self) -> Vec<serde_json::Value> {
        glue::split(&self.keys, &self.key_ends)
            .map(|bytes| serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null))
            .collect()
    }
}

/// One side output of an [`Emitter`], from [`Emitter::to`].
#[derive(Debug)]
pub struct SideOutput<'a> {
    emitter: &'a mut Emitter,
    output: &'a str,
}

impl SideOutput<'_> {
    /// Emits `value` with the current element's key and timestamp.
    pub fn emit<V: Serialize>(self, value: &V) -> Result<(), Error> {
        self.emitter.push_current(value, self.output)
    }

    /// Emits `value` under `key`, with the current element's timestamp.
    pub fn emit_keyed<K: Serialize, V: Serialize>(self, key: &K, value: &V) -> Result<(), Error> {
        let timestamp = self.emitter.timestamp;
        self.emitter.push_keyed(key, value, timestamp, self.output)
    }

    /// Emits `value` under `key` at event time `timestamp`.
    pub fn emit_at<K: Serialize, V: Serialize>(
        self,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<(), Error> {
        self.emitter.push_keyed(key, value, timestamp, self.output)
    }
}

/// A timer that fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Timer {
    /// The key it was set for.
    pub key: serde_json::Value,
    /// The window it was set for.
    pub window: Window,
    /// Its name.
    pub name: String,
    /// The time it was set for.
    pub time: i64,
    pub(crate) index: u32,
}

/// Keyed state and timers of the current element's (or timer's) key and window.
///
/// Values are stored with a compact binary encoding.
pub trait KeyedState {
    /// The index naming the key and window to the host.
    #[doc(hidden)]
    fn state_index(&self) -> u32;

    /// The value stored under `name`, if any.
    fn state<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        match glue::state_get(self.state_index(), name) {
            None => Ok(None),
            Some(bytes) => postcard::from_bytes(&bytes)
                .map(Some)
                .map_err(|err| Error::new(format!("state {name:?}: {err}"))),
        }
    }

    /// Stores `value` under `name`.
    fn set_state<T: Serialize>(&self, name: &str, value: &T) -> Result<(), Error> {
        let bytes = postcard::to_allocvec(value).map_err(|err| Error::new(err.to_string()))?;
        glue::state_set(self.state_index(), name, &bytes);
        Ok(())
    }

    /// Removes what is stored under `name`.
    fn clear_state(&self, name: &str) {
        glue::state_clear(self.state_index(), name);
    }

    /// Sets (or moves) the event-time timer `name`: [`DoFn::on_timer`] is called once
    /// the watermark passes `time`.
    fn set_event_timer(&self, name: &str, time: i64) {
        glue::set_event_timer(self.state_index(), name, time);
    }

    /// Sets (or moves) the processing-time timer `name`.
    fn set_processing_timer(&self, name: &str, time: i64) {
        glue::set_processing_timer(self.state_index(), name, time);
    }

    /// Cancels the timer `name`.
    fn clear_timer(&self, name: &str) {
        glue::clear_timer(self.state_index(), name);
    }
}

impl<T> KeyedState for Element<T> {
    fn state_index(&self) -> u32 {
        self.index
    }
}

impl KeyedState for Timer {
    fn state_index(&self) -> u32 {
        self.index
    }
}

/// Turns each element into zero or more elements.
pub trait DoFn: Sized + 'static {
    /// The values it reads.
    type Input: DeserializeOwned;

    /// Builds the function from the step's configuration.
    fn new(config: &Config) -> Result<Self, Error>;

    /// Handles one element; an error dead-letters it.
    fn process(&mut self, element: Element<Self::Input>, out: &mut Emitter) -> Result<(), Error>;

    /// Handles a timer this function set; by default nothing happens.
    fn on_timer(&mut self, timer: Timer, out: &mut Emitter) -> Result<(), Error> {
        let _ = (timer, out);
        Ok(())
    }
}

/// A custom window function.
pub trait WindowFn: Sized + 'static {
    /// The values it reads (use `serde_json::Value` to accept anything).
    type Input: DeserializeOwned;

    /// Whether windows can merge; if so, implement [`Self::merge`].
    const MERGING: bool = false;

    /// Builds the function from the step's configuration.
    fn new(config: &Config) -> Result<Self, Error>;

    /// The windows of one element.
    fn assign(&self, element: &Element<Self::Input>) -> Result<Vec<Window>, Error>;

    /// Which of one key's windows merge: groups of indexes into `windows`, each with
    /// the window it becomes.
    fn merge(&self, windows: &[Window]) -> Vec<(Vec<usize>, Window)> {
        let _ = windows;
        Vec::new()
    }
}

/// A data-driven trigger: decides from arriving elements when a window fires.
pub trait Trigger: Sized + 'static {
    /// The values it reads.
    type Input: DeserializeOwned;
    /// What it remembers per window. It lives as long as the window, across firings
    /// (so a trigger can re-arm only after values fall back); reset it when firing
    /// if it describes one pane.
    type State: Serialize + DeserializeOwned + Default;

    /// Builds the trigger from the step's configuration.
    fn new(config: &Config) -> Result<Self, Error>;

    /// New elements arrived in `window`'s pane; returns whether it should fire now.
    fn on_elements(
        &self,
        state: &mut Self::State,
        window: Window,
        elements: &[Element<Self::Input>],
    ) -> Result<bool, Error>;
}

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// One class out of several, with a probability for each.
    Classifier,
    /// One number (or several) per row.
    Regressor,
}

/// What a [`Scorer`] tells the host about the model it loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// What it predicts.
    pub kind: ModelKind,
    /// How many features a row has.
    pub features: usize,
    /// A classifier's class labels as JSON text (`0`, `"fraud"`); empty for a
    /// regressor.
    pub classes: Vec<String>,
    /// How many numbers a row's prediction has (classes, or regression targets).
    pub outputs: usize,
    /// The operators the model runs, for people.
    pub operators: Vec<String>,
    /// Who made the model file, for people.
    pub producer: String,
    /// The model's key/value metadata.
    pub metadata: Vec<(String, String)>,
}

/// A batch's predictions, which a [`Scorer`] fills.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// A classifier's predicted class per row, as an index into
    /// [`ModelInfo::classes`]; empty for a regressor.
    pub labels: Vec<u32>,
    /// [`ModelInfo::outputs`] numbers per row, row after row.
    pub values: Vec<f64>,
}

/// A model evaluator: loads a trained model from bytes and scores batches of rows.
pub trait Scorer: Sized + 'static {
    /// Loads `model`, with the step's configuration.
    fn load(model: &[u8], config: &Config) -> Result<(Self, ModelInfo), Error>;

    /// Scores `rows` rows laid end to end in `features` (row-major), appending to
    /// `scores`.
    fn score(&self, features: &[f32], rows: usize, scores: &mut Scores) -> Result<(), Error>;
}

// Plugins are single-threaded; Talc spends far less time per allocation than
// dlmalloc, which shows in every (de)serializing call.
#[cfg(all(
    feature = "allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(test)]
mod tests {
    use super::*;

    fn emitter() -> Emitter {
        Emitter {
            key: b"\"k\"".to_vec(),
            timestamp: 7,
            ..Emitter::default()
        }
    }

    #[test]
    fn side_outputs_take_the_current_key_and_time_unless_given() {
        let mut out = emitter();
        out.emit(&1).unwrap();
        out.emit_to("rejects", &2).unwrap();
        out.to("rejects").emit_keyed(&"other", &3).unwrap();
        out.to("late").emit_at(&"other", &4, 99).unwrap();
        assert_eq!(out.values(), [1, 2, 3, 4].map(serde_json::Value::from));
        assert_eq!(
            out.keys(),
            ["k", "k", "other", "other"].map(serde_json::Value::from)
        );
        assert_eq!(out.timestamps(), [7, 7, 7, 99]);
        assert_eq!(out.outputs(), ["", "rejects", "rejects", "late"]);
    }
}
