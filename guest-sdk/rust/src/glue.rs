//! The glue between the generated bindings and the SDK's traits: decoding batches,
//! calling the plugin's code element by element, and encoding the results.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::{combine, dofn, scorer, trigger, window};
use crate::{
    CombineFn, Config, DoFn, Element, Emitter, Error, Inversion, Level, ModelKind, Scorer, Scores,
    Timer, Trigger, Window, WindowFn,
};

// -- Shared helpers ----------------------------------------------------------------

/// The items of a blobs buffer.
pub fn split<'a>(bytes: &'a [u8], ends: &'a [u32]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut start = 0usize;
    ends.iter().map(move |&end| {
        let end = (end as usize).min(bytes.len());
        let item = &bytes[start.min(end)..end];
        start = end;
        item
    })
}

/// Builds a blobs buffer.
#[derive(Default)]
struct BlobsBuilder {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl BlobsBuilder {
    fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.ends.push(self.bytes.len() as u32);
    }

    fn push_json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), Error> {
        serde_json::to_writer(&mut self.bytes, value)?;
        self.ends.push(self.bytes.len() as u32);
        Ok(())
    }

    fn push_postcard<T: serde::Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let bytes = postcard::to_allocvec(value).map_err(|err| Error::new(err.to_string()))?;
        self.push(&bytes);
        Ok(())
    }
}

fn decode_postcard<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|err| Error::new(format!("cannot read the {what}: {err}")))
}

fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|err| Error::new(format!("cannot read the value: {err}")))
}

fn decode_key(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
}

/// The group ranges `[ends[g-1], ends[g])`.
fn ranges(ends: &[u32]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0usize;
    ends.iter().map(move |&end| {
        let range = start..end as usize;
        start = end as usize;
        range
    })
}

thread_local! {
    /// The plugin's instance, built by `init`.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    /// The host functions of the exported world.
    static HOST: RefCell<&'static dyn HostApi> = const { RefCell::new(&NoHost) };
}

fn store<T: 'static>(instance: T) {
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(instance)));
}

fn with_instance<T: 'static, R>(f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let instance = slot
            .as_mut()
            .and_then(|boxed| boxed.downcast_mut::<T>())
            .ok_or_else(|| Error::new("the plugin was not initialized"))?;
        f(instance)
    })
}

/// The host functions every world imports.
pub trait HostApi {
    /// Writes to the host's log.
    fn log(&self, level: Level, message: &str);
    /// Adds to a counter.
    fn counter_add(&self, name: &str, delta: u64);
    /// Sets a gauge.
    fn gauge_set(&self, name: &str, value: f64);
}

/// Host functions outside WebAssembly (native tests): logs go to stderr.
struct NoHost;

impl HostApi for NoHost {
    fn log(&self, level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }
    fn counter_add(&self, _: &str, _: u64) {}
    fn gauge_set(&self, _: &str, _: f64) {}
}

/// The host functions of the exported world.
pub fn host() -> &'static dyn HostApi {
    HOST.with(|host| *host.borrow())
}

macro_rules! host_api {
    ($name:ident, $world:ident) => {
        struct $name;

        impl HostApi for $name {
            fn log(&self, level: Level, message: &str) {
                use $world::millrace::plugin::host;
                let level = match level {
                    Level::Trace => host::Level::Trace,
                    Level::Debug => host::Level::Debug,
                    Level::Info => host::Level::Info,
                    Level::Warn => host::Level::Warn,
                    Level::Error => host::Level::Error,
                };
                host::log(level, message);
            }
            fn counter_add(&self, name: &str, delta: u64) {
                $world::millrace::plugin::host::counter_add(name, delta);
            }
            fn gauge_set(&self, name: &str, value: f64) {
                $world::millrace::plugin::host::gauge_set(name, value);
            }
        }
    };
}

host_api!(DoFnHost, dofn);
host_api!(CombineHost, combine);
host_api!(WindowHost, window);
host_api!(TriggerHost, trigger);
host_api!(ScorerHost, scorer);

fn start(host: &'static dyn HostApi, config: &str) -> Result<Config, Error> {
    HOST.with(|slot| *slot.borrow_mut() = host);
    Config::from_json(config)
}

// -- State (DoFn world only) ---------------------------------------------------------

/// Reads state of the key and window of batch item `index`.
pub fn state_get(index: u32, name: &str) -> Option<Vec<u8>> {
    dofn::millrace::plugin::state::get(index, name)
}

/// Writes state of the key and window of batch item `index`.
pub fn state_set(index: u32, name: &str, value: &[u8]) {
    dofn::millrace::plugin::state::set(index, name, value);
}

/// Clears state of the key and window of batch item `index`.
pub fn state_clear(index: u32, name: &str) {
    dofn::millrace::plugin::state::clear(index, name);
}

/// Sets an event-time timer for the key and window of batch item `index`.
pub fn set_event_timer(index: u32, name: &str, time: i64) {
    dofn::millrace::plugin::state::set_event_timer(index, name, time);
}

/// Sets a processing-time timer for the key and window of batch item `index`.
pub fn set_processing_timer(index: u32, name: &str, time: i64) {
    dofn::millrace::plugin::state::set_processing_timer(index, name, time);
}

/// Cancels a timer of the key and window of batch item `index`.
pub fn clear_timer(index: u32, name: &str) {
    dofn::millrace::plugin::state::clear_timer(index, name);
}

// -- DoFn ------------------------------------------------------------------------------

/// Exports a [`DoFn`].
pub struct DoFnGlue<T>(PhantomData<T>);

mod dofn_types {
    pub use crate::bindings::dofn::exports::millrace::plugin::dofn::{FiredTimers, Output};
    pub use crate::bindings::dofn::millrace::plugin::types::{
        Blobs, ElementError, Elements, Error,
    };
}

fn wit_error_dofn(err: Error) -> dofn_types::Error {
    dofn_types::Error {
        message: err.message,
    }
}

impl Emitter {
    /// Runs `call` for input `index` (of `key`, at `timestamp`): what it emits is
    /// attributed to that input, and if it fails its emissions are taken back and
    /// the error is recorded against the input.
    fn attempt(
        &mut self,
        index: usize,
        key: &[u8],
        timestamp: i64,
        errors: &mut Vec<dofn_types::ElementError>,
        call: impl FnOnce(&mut Emitter) -> Result<(), Error>,
    ) {
        self.source = index as u32;
        self.key.clear();
        self.key.extend_from_slice(key);
        self.timestamp = timestamp;
        let mark = self.mark();
        if let Err(err) = call(self) {
            self.rollback(mark);
            errors.push(dofn_types::ElementError {
                index: index as u32,
                message: err.message,
            });
        }
    }

    fn mark(&self) -> (usize, usize, usize, usize) {
        (
            self.keys.len(),
            self.values.len(),
            self.tags.len(),
            self.timestamps.len(),
        )
    }

    fn rollback(&mut self, (keys, values, tags, count): (usize, usize, usize, usize)) {
        self.keys.truncate(keys);
        self.values.truncate(values);
        self.tags.truncate(tags);
        self.key_ends.truncate(count);
        self.value_ends.truncate(count);
        self.tag_ends.truncate(count);
        self.timestamps.truncate(count);
        self.sources.truncate(count);
    }

    fn into_output(self, errors: Vec<dofn_types::ElementError>) -> dofn_types::Output {
        dofn_types::Output {
            keys: dofn_types::Blobs {
                bytes: self.keys,
                ends: self.key_ends,
            },
            values: dofn_types::Blobs {
                bytes: self.values,
                ends: self.value_ends,
            },
            timestamps: self.timestamps,
            sources: self.sources,
            tags: dofn_types::Blobs {
                bytes: self.tags,
                ends: self.tag_ends,
            },
            errors,
        }
    }
}

impl<T: DoFn> dofn::exports::millrace::plugin::dofn::Guest for DoFnGlue<T> {
    fn init() -> Result<(), dofn_types::Error> {
        let config =
            start(&DoFnHost, &dofn::millrace::plugin::host::config()).map_err(wit_error_dofn)?;
        store(T::new(&config).map_err(wit_error_dofn)?);
        Ok(())
    }

    fn process(input: dofn_types::Elements) -> Result<dofn_types::Output, dofn_types::Error> {
        with_instance(|function: &mut T| {
            let mut out = Emitter::default();
            let mut errors = Vec::new();
            let keys = split(&input.keys.bytes, &input.keys.ends);
            let values = split(&input.values.bytes, &input.values.ends);
            for (index, (key, value)) in keys.zip(values).enumerate() {
                let element = decode_value::<T::Input>(value).map(|value| Element {
                    key: decode_key(key),
                    value,
                    timestamp: input.timestamps[index],
                    window: Window::new(input.window_starts[index], input.window_ends[index]),
                    index: index as u32,
                });
                out.attempt(index, key, input.timestamps[index], &mut errors, |out| {
                    element.and_then(|element| function.process(element, out))
                });
            }
            Ok(out.into_output(errors))
        })
        .map_err(wit_error_dofn)
    }

    fn on_timer(timers: dofn_types::FiredTimers) -> Result<dofn_types::Output, dofn_types::Error> {
        with_instance(|function: &mut T| {
            let mut out = Emitter::default();
            let mut errors = Vec::new();
            for (index, key) in split(&timers.keys.bytes, &timers.keys.ends).enumerate() {
                let timer = Timer {
                    key: decode_key(key),
                    window: Window::new(timers.window_starts[index], timers.window_ends[index]),
                    name: timers.names[index].clone(),
                    time: timers.times[index],
                    index: index as u32,
                };
                out.attempt(index, key, timers.times[index], &mut errors, |out| {
                    function.on_timer(timer, out)
                });
            }
            Ok(out.into_output(errors))
        })
        .map_err(wit_error_dofn)
    }
}

// -- CombineFn -------------------------------------------------------------------------

/// Exports a [`CombineFn`].
pub struct CombineGlue<T>(PhantomData<T>);

mod combine_types {
    pub use crate::bindings::combine::exports::millrace::plugin::combine_fn::{
        Added, Info, Inversion, UncombineError,
    };
    pub use crate::bindings::combine::millrace::plugin::types::{Blobs, ElementError, Error};
}

fn wit_error_combine(err: Error) -> combine_types::Error {
    combine_types::Error {
        message: err.message,
    }
}

impl From<BlobsBuilder> for combine_types::Blobs {
    fn from(builder: BlobsBuilder) -> Self {
        combine_types::Blobs {
            bytes: builder.bytes,
            ends: builder.ends,
        }
    }
}

/// Applies `step` to every input of every group: the shared shape of add-inputs and
/// uncombine.
fn fold_groups<T: CombineFn>(
    function: &T,
    accumulators: &combine_types::Blobs,
    inputs: &combine_types::Blobs,
    group_ends: &[u32],
    step: impl Fn(&T, &mut T::Accumulator, T::Input) -> Result<(), Error>,
) -> Result<combine_types::Added, Error> {
    let inputs: Vec<&[u8]> = split(&inputs.bytes, &inputs.ends).collect();
    let mut out = BlobsBuilder::default();
    let mut rejected = Vec::new();
    for (acc_bytes, range) in split(&accumulators.bytes, &accumulators.ends).zip(ranges(group_ends))
    {
        let mut acc: T::Accumulator = decode_postcard(acc_bytes, "accumulator")?;
        for index in range {
            let result = inputs
                .get(index)
                .ok_or_else(|| Error::new("group ends past the inputs"))
                .and_then(|bytes| decode_value::<T::Input>(bytes))
                .and_then(|input| step(function, &mut acc, input));
            if let Err(err) = result {
                rejected.push(combine_types::ElementError {
                    index: index as u32,
                    message: err.message,
                });
            }
        }
        out.push_postcard(&acc)?;
    }
    Ok(combine_types::Added {
        accumulators: out.into(),
        rejected,
    })
}

impl<T: CombineFn> combine::exports::millrace::plugin::combine_fn::Guest for CombineGlue<T> {
    fn init() -> Result<combine_types::Info, combine_types::Error> {
        let config = start(&CombineHost, &combine::millrace::plugin::host::config())
            .map_err(wit_error_combine)?;
        store(T::new(&config).map_err(wit_error_combine)?);
        Ok(combine_types::Info {
            // The accumulator's type names its shape, so that a version with
            // another accumulator type is refused a hot swap even when its author
            // forgot to change ACCUMULATOR_FORMAT.
            accumulator_format: format!(
                "postcard/{}/{}",
                std::any::type_name::<T::Accumulator>(),
                T::ACCUMULATOR_FORMAT
            ),
            inversion: match T::INVERSION {
                Inversion::Subtract => combine_types::Inversion::Subtract,
                Inversion::Remove => combine_types::Inversion::Remove,
                Inversion::None => combine_types::Inversion::None,
            },
        })
    }

    fn create_accumulator() -> Vec<u8> {
        with_instance(|function: &mut T| {
            postcard::to_allocvec(&function.create_accumulator())
                .map_err(|err| Error::new(err.to_string()))
        })
        .unwrap_or_default()
    }

    fn add_inputs(
        accumulators: combine_types::Blobs,
        inputs: combine_types::Blobs,
        group_ends: Vec<u32>,
    ) -> Result<combine_types::Added, combine_types::Error> {
        with_instance(|function: &mut T| {
            fold_groups(
                function,
                &accumulators,
                &inputs,
                &group_ends,
                |f, acc, input| f.add_input(acc, input),
            )
        })
        .map_err(wit_error_combine)
    }

    fn uncombine(
        accumulators: combine_types::Blobs,
        inputs: combine_types::Blobs,
        group_ends: Vec<u32>,
    ) -> Result<combine_types::Added, combine_types::UncombineError> {
        if T::INVERSION == Inversion::None {
            return Err(combine_types::UncombineError::NotInvertible);
        }
        with_instance(|function: &mut T| {
            fold_groups(
                function,
                &accumulators,
                &inputs,
                &group_ends,
                |f, acc, input| f.uncombine(acc, input),
            )
        })
        .map_err(|err| combine_types::UncombineError::Failed(wit_error_combine(err)))
    }

    fn merge_accumulators(
        accumulators: combine_types::Blobs,
        group_ends: Vec<u32>,
    ) -> Result<combine_types::Blobs, combine_types::Error> {
        with_instance(|function: &mut T| {
            let accs: Vec<&[u8]> = split(&accumulators.bytes, &accumulators.ends).collect();
            let mut out = BlobsBuilder::default();
            for range in ranges(&group_ends) {
                let mut merged = function.create_accumulator();
                for bytes in accs.get(range).unwrap_or_default() {
                    function
                        .merge_accumulators(&mut merged, decode_postcard(bytes, "accumulator")?);
                }
                out.push_postcard(&merged)?;
            }
            Ok(out.into())
        })
        .map_err(wit_error_combine)
    }

    fn extract_outputs(
        accumulators: combine_types::Blobs,
    ) -> Result<combine_types::Blobs, combine_types::Error> {
        with_instance(|function: &mut T| {
            let mut out = BlobsBuilder::default();
            for bytes in split(&accumulators.bytes, &accumulators.ends) {
                let acc: T::Accumulator = decode_postcard(bytes, "accumulator")?;
                out.push_json(&function.extract_output(&acc))?;
            }
            Ok(out.into())
        })
        .map_err(wit_error_combine)
    }
}

// -- Window functions --------------------------------------------------------------------

/// Exports a [`WindowFn`].
pub struct WindowGlue<T>(PhantomData<T>);

mod window_types {
    pub use crate::bindings::window::exports::millrace::plugin::window_fn::{
        Assignment, Info, Merges,
    };
    pub use crate::bindings::window::millrace::plugin::types::{Elements, Error};
}

fn wit_error_window(err: Error) -> window_types::Error {
    window_types::Error {
        message: err.message,
    }
}

impl<T: WindowFn> window::exports::millrace::plugin::window_fn::Guest for WindowGlue<T> {
    fn init() -> Result<window_types::Info, window_types::Error> {
        let config = start(&WindowHost, &window::millrace::plugin::host::config())
            .map_err(wit_error_window)?;
        store(T::new(&config).map_err(wit_error_window)?);
        Ok(window_types::Info {
            merging: T::MERGING,
        })
    }

    fn assign(
        input: window_types::Elements,
    ) -> Result<window_types::Assignment, window_types::Error> {
        with_instance(|function: &mut T| {
            let mut assignment = window_types::Assignment {
                starts: Vec::new(),
                ends: Vec::new(),
                sources: Vec::new(),
            };
            let keys = split(&input.keys.bytes, &input.keys.ends);
            let values = split(&input.values.bytes, &input.values.ends);
            for (index, (key, value)) in keys.zip(values).enumerate() {
                let element = Element {
                    key: decode_key(key),
                    value: decode_value::<T::Input>(value)
                        .map_err(|err| Error::new(format!("element {index}: {err}")))?,
                    timestamp: input.timestamps[index],
                    window: Window::new(input.window_starts[index], input.window_ends[index]),
                    index: index as u32,
                };
                for window in function
                    .assign(&element)
                    .map_err(|err| Error::new(format!("element {index}: {err}")))?
                {
                    assignment.starts.push(window.start);
                    assignment.ends.push(window.end);
                    assignment.sources.push(index as u32);
                }
            }
            Ok(assignment)
        })
        .map_err(wit_error_window)
    }

    fn merge(
        starts: Vec<i64>,
        ends: Vec<i64>,
        key_ends: Vec<u32>,
    ) -> Result<window_types::Merges, window_types::Error> {
        with_instance(|function: &mut T| {
            let mut merges = window_types::Merges {
                starts: Vec::new(),
                ends: Vec::new(),
                members: Vec::new(),
                member_ends: Vec::new(),
            };
            for range in ranges(&key_ends) {
                let windows: Vec<Window> = range
                    .clone()
                    .map(|i| Window::new(starts[i], ends[i]))
                    .collect();
                for (members, result) in function.merge(&windows) {
                    merges.starts.push(result.start);
                    merges.ends.push(result.end);
                    merges
                        .members
                        .extend(members.iter().map(|m| (range.start + m) as u32));
                    merges.member_ends.push(merges.members.len() as u32);
                }
            }
            Ok(merges)
        })
        .map_err(wit_error_window)
    }
}

// -- Triggers ------------------------------------------------------------------------------

/// Exports a [`Trigger`].
pub struct TriggerGlue<T>(PhantomData<T>);

mod trigger_types {
    pub use crate::bindings::trigger::exports::millrace::plugin::trigger::Decision;
    pub use crate::bindings::trigger::millrace::plugin::types::{Blobs, Elements, Error};
}

fn wit_error_trigger(err: Error) -> trigger_types::Error {
    trigger_types::Error {
        message: err.message,
    }
}

impl<T: Trigger> trigger::exports::millrace::plugin::trigger::Guest for TriggerGlue<T> {
    fn init() -> Result<(), trigger_types::Error> {
        let config = start(&TriggerHost, &trigger::millrace::plugin::host::config())
            .map_err(wit_error_trigger)?;
        store(T::new(&config).map_err(wit_error_trigger)?);
        Ok(())
    }

    fn on_elements(
        states: trigger_types::Blobs,
        input: trigger_types::Elements,
        element_ends: Vec<u32>,
    ) -> Result<trigger_types::Decision, trigger_types::Error> {
        with_instance(|function: &mut T| {
            let keys: Vec<&[u8]> = split(&input.keys.bytes, &input.keys.ends).collect();
            let values: Vec<&[u8]> = split(&input.values.bytes, &input.values.ends).collect();
            let mut out_states = BlobsBuilder::default();
            let mut fire = Vec::new();
            for (state_bytes, range) in
                split(&states.bytes, &states.ends).zip(ranges(&element_ends))
            {
                let mut state: T::State = if state_bytes.is_empty() {
                    T::State::default()
                } else {
                    decode_postcard(state_bytes, "trigger state")?
                };
                let mut elements = Vec::with_capacity(range.len());
                for index in range {
                    elements.push(Element {
                        key: decode_key(keys[index]),
                        value: decode_value::<T::Input>(values[index])
                            .map_err(|err| Error::new(format!("element {index}: {err}")))?,
                        timestamp: input.timestamps[index],
                        window: Window::new(input.window_starts[index], input.window_ends[index]),
                        index: index as u32,
                    });
                }
                let window = elements.first().map_or(Window::GLOBAL, |e| e.window);
                fire.push(function.on_elements(&mut state, window, &elements)?);
                out_states.push_postcard(&state)?;
            }
            Ok(trigger_types::Decision {
                states: trigger_types::Blobs {
                    bytes: out_states.bytes,
                    ends: out_states.ends,
                },
                fire,
            })
        })
        .map_err(wit_error_trigger)
    }
}

// -- Scorer ------------------------------------------------------------------------

/// Exports a [`Scorer`] (see [`crate::export!`]).
pub struct ScorerGlue<T>(PhantomData<T>);

mod scorer_types {
    pub use crate::bindings::scorer::exports::millrace::plugin::scorer::{
        ModelInfo, ModelKind, Scores,
    };
    pub use crate::bindings::scorer::millrace::plugin::types::Error;
}

fn wit_error_scorer(err: Error) -> scorer_types::Error {
    scorer_types::Error {
        message: err.message,
    }
}

impl<T: Scorer> scorer::exports::millrace::plugin::scorer::Guest for ScorerGlue<T> {
    fn init(model: Vec<u8>) -> Result<scorer_types::ModelInfo, scorer_types::Error> {
        let config = start(&ScorerHost, &scorer::millrace::plugin::host::config())
            .map_err(wit_error_scorer)?;
        let (instance, info) = T::load(&model, &config).map_err(wit_error_scorer)?;
        store(instance);
        let count = |n: usize| u32::try_from(n).map_err(|_| Error::new("the model is too large"));
        Ok(scorer_types::ModelInfo {
            kind: match info.kind {
                ModelKind::Classifier => scorer_types::ModelKind::Classifier,
                ModelKind::Regressor => scorer_types::ModelKind::Regressor,
            },
            features: count(info.features).map_err(wit_error_scorer)?,
            classes: info.classes,
            outputs: count(info.outputs).map_err(wit_error_scorer)?,
            operators: info.operators,
            producer: info.producer,
            metadata: info.metadata,
        })
    }

    fn score(features: Vec<f32>, rows: u32) -> Result<scorer_types::Scores, scorer_types::Error> {
        with_instance(|model: &mut T| {
            let mut scores = Scores::default();
            model.score(&features, rows as usize, &mut scores)?;
            Ok(scorer_types::Scores {
                labels: scores.labels,
                values: scores.values,
            })
        })
        .map_err(wit_error_scorer)
    }
}
