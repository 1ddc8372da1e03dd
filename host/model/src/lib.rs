//! The Dataflow model of millrace: everything the host knows about time, and the
//! operators that apply it.
//!
//! The host owns time — watermarks, windows, triggers, panes, accumulation and
//! retractions — while user computations run as sandboxed WebAssembly components.
//! This crate is that model alone: no WebAssembly, no RocksDB and no async runtime, so
//! it can be tested and benchmarked by itself. User code reaches it through traits
//! ([`combine::CombineFn`], [`pardo::DoFn`], [`window::WindowAssigner`],
//! [`trigger::DataTrigger`]) that
//! the `millrace-wasm` crate implements for components.
//!
//! The pieces, in the order data meets them:
//!
//! - [`graph`] runs a pipeline — sources, [`pipeline::Step`]s that read them and
//!   each other, sinks — over [`pipeline::Event`]s: bundles of [`record::Record`]s,
//!   watermark advances ([`watermark`]) and processing-time advances.
//! - [`window`] assigns records to windows; [`group`] groups them by key and window,
//!   where [`trigger`]s decide when each window emits a [`pane`] and a [`combine`]
//!   function computes its value; [`cogroup`] groups several inputs at once.
//! - [`pardo`] runs a DoFn over every record; [`keyed`] keeps the keyed state and
//!   timers of stateful DoFns, and [`isolate`] finds the inputs a batch call fails on.
//! - [`dead_letter`] describes what could not be processed, and why.
//!
//! [`time`] and [`timer`] hold the vocabulary of event and processing time;
//! [`state`] is the interface every operator writes its durable state through.

pub mod cogroup;
pub mod combine;
pub mod dead_letter;
pub mod field;
pub mod graph;
pub mod group;
pub mod isolate;
pub mod keyed;
pub mod pane;
pub mod pardo;
pub mod pipeline;
pub mod record;
pub mod score;
pub mod state;
pub mod time;
pub mod timer;
pub mod trigger;
pub mod watermark;
pub mod window;
