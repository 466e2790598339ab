//! Kiln's plugin sandbox: WebAssembly components run with nothing granted.
//!
//! Kiln's policy stages are WebAssembly components implementing one world of
//! the contract in `wit/kiln.wit`. This crate loads them into a sandbox
//! ([`Sandbox`]) that grants no capability — no filesystem, network,
//! environment or stdio — caps memory, CPU time per call and wasm stack, and
//! never lets a misbehaving plugin take the host down: a trap discards the
//! instance, the batch is bisected to the records that cause it, and those come
//! back as [`CallError`]s while the rest of the batch gets its answers.
//!
//! It knows nothing of pipelines: it takes records through [`BatchRecord`]
//! (the host's `kiln::Record` implements it, and so does the contract's own
//! [`wit::DataRecord`]) and answers with [`Verdict`]s, mapped records and
//! [`CallError`]s. What a stage does with them — lineage, reasons, counts —
//! is the host's (`kiln::pipeline`). The host re-exports this crate as
//! `kiln::plugin`.
//!
//! ```no_run
//! use kiln_sandbox::{LoadOptions, PluginKind, Sandbox, SandboxConfig, wit};
//! # fn records() -> Vec<wit::DataRecord> { Vec::new() }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let plugin = sandbox.load("length_filter.wasm".as_ref(), LoadOptions::new("filter", Some(PluginKind::Filter)))?;
//! for verdict in plugin.filter(&records())? {
//!     println!("{verdict:?}");
//! }
//! # Ok(()) }
//! ```

mod batch;
pub mod bindings;
mod cache;
pub mod config_schema;
mod error;
pub mod files;
mod inspect;
mod isolate;
mod kind;
mod limits;
mod loaded;
mod parts;
mod reason;
mod sandbox;
mod state;
mod verdict;

pub use batch::{BatchRecord, LineageRef, capacity, empty_batch, pack, pack_into};
pub use bindings::wit;
pub use cache::CompileCache;
pub use config_schema::{ConfigField, ConfigProblem, ConfigSchema};
pub use error::{CallError, PluginError};
pub use inspect::{CONTRACT_VERSION, Contract, declared_imports, import_allowed, refused_imports};
pub use isolate::{Answers, BatchCall, run_isolated};
pub use kind::{PluginKind, UnknownKind};
pub use limits::PluginLimits;
pub use loaded::{Plugin, PluginInfo};
pub use parts::RecordParts;
pub use reason::Reason;
pub use sandbox::{EPOCH_TICK, LoadOptions, Sandbox, SandboxConfig};
pub use verdict::Verdict;
