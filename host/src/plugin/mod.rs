//! The sandboxed plugin host.
//!
//! Kiln's policy stages are WebAssembly components implementing one world of
//! the contract in `wit/kiln.wit`. This module loads them into a sandbox
//! ([`Sandbox`]) that grants no capability — no filesystem, network,
//! environment or stdio — caps memory, CPU time per call and wasm stack, and
//! never lets a misbehaving plugin take the host down: a trap discards the
//! instance, the batch is bisected to the records that cause it, and those come
//! back as [`CallError`]s while the rest of the batch gets its answers.
//!
//! ```no_run
//! use kiln::plugin::{LoadOptions, PluginKind, Sandbox, SandboxConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let plugin = sandbox.load("length_filter.wasm".as_ref(), LoadOptions::new("filter", Some(PluginKind::Filter)))?;
//! let records = vec![kiln::Record::new("r1", "some text")];
//! for verdict in plugin.filter(&records)? {
//!     println!("{verdict:?}");
//! }
//! # Ok(()) }
//! ```

mod batch;
pub mod bindings;
mod cache;
mod error;
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

pub use batch::{BatchRecord, LineageRef, pack, pack_into};
pub use bindings::wit;
pub use cache::CompileCache;
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
