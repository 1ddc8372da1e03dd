//! millrace: a stream processor that implements the Dataflow model.
//!
//! The host owns time — watermarks, windows, triggers, panes, accumulation and
//! retractions — while user computations run as sandboxed WebAssembly components.
//! This crate is the host: a library of the model's concepts, one module each, and the
//! `millrace` binary, a thin command-line layer over it.
//!
//! The pieces, in the order data meets them:
//!
//! - [`source`] reads input and turns it into [`pipeline::Event`]s: bundles of
//!   [`record::Record`]s, watermark advances ([`watermark`]) and processing-time
//!   advances.
//! - [`pipeline`] runs the steps a [`spec`] describes: [`window`] assignment, then
//!   [`group`]ing by key and window, where [`trigger`]s decide when each window emits a
//!   [`pane`] and a [`combine`] function computes its value.
//! - [`sink`] writes panes; [`dead_letter`] keeps what could not be processed.
//!
//! [`time`] and [`timer`] hold the vocabulary of event and processing time.
//! [`state`] and [`checkpoint`] make a run durable; [`plugin`] hosts user code;
//! [`server`] runs many tenants' pipelines behind an HTTP API, and [`client`]
//! talks to it.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod client;
pub mod combine;
pub mod dead_letter;
pub mod group;
pub mod pane;
pub mod pipeline;
pub mod plugin;
pub mod record;
pub mod runner;
pub mod server;
pub mod sink;
pub mod source;
pub mod spec;
pub mod state;
pub mod time;
pub mod timer;
pub mod trigger;
pub mod watermark;
pub mod window;
