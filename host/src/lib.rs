//! # Kiln
//!
//! Kiln is an engine for synthetic-data refinement: a teacher model generates
//! examples, critics score them, filters drop what is wrong, duplicated or
//! contaminated, and real data is rewritten to remove what must not stay. This
//! crate is the host: it runs policy stages as sandboxed WebAssembly components
//! ([`plugin`]), moves records through them ([`record`], [`outcome`]) and keeps
//! account of every record — kept, rejected with a reason, or quarantined with
//! an error.
//!
//! The `kiln` binary is a thin command-line layer over this library.

pub mod cluster;
pub mod compute;
pub mod files;
pub mod human;
pub mod jsonl;
mod launch;
pub mod model;
pub mod objects;
pub mod outcome;
pub mod pipeline;
pub mod record;
pub mod service;

pub use launch::{RunFailure, StagedStep, TaskRun, merge_tasks, pending, run, run_loaded, run_staged_step, run_task};
pub use record::Record;

/// The plugin sandbox (the `kiln-sandbox` crate), under the name the host
/// has always used for it.
pub use kiln_sandbox as plugin;
