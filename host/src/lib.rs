//! millrace: a stream processor that implements the Dataflow model.
//!
//! The host owns time — watermarks, windows, triggers, panes, accumulation and
//! retractions — while user computations run as sandboxed WebAssembly components.
//! It is built in layers, one crate each, every crate naming only those below it:
//!
//! - `millrace-model` (`host/model`): time, windows, triggers, panes, watermarks,
//!   timers, the state interface and the operators — no WebAssembly, RocksDB or async
//!   runtime;
//! - `millrace-state` (`host/state`): the RocksDB backend and checkpoints;
//! - `millrace-wasm` (`host/wasm`): the engine, sandbox and the adapters that make
//!   components CombineFns, DoFns, window functions and triggers of the model;
//! - `millrace-runner` (`host/runner`): specs, sources, sinks, and the driver of a run;
//! - `millrace-server` (`host/server`): tenants, the registry, pipelines and the HTTP
//!   API of `millrace serve`;
//! - this crate: the `millrace` binary — the command line ([`cli`]), the server's
//!   [`client`], [`bench`]marks and plugin [`scaffold`]s.
//!
//! `docs/architecture.md` draws the layers and says where each concept lives.

pub mod bench;
pub mod cli;
pub mod client;
pub mod scaffold;
