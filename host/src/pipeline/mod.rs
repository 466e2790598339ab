//! Pipelines declared in one TOML file: the schema ([`config`]), its checks
//! (`validate`, reporting [`Diagnostics`]), and the streaming, resumable
//! executor ([`run`]) with its work directory and statistics.
//!
//! `kiln validate pipeline.toml` runs every check a run would run before any
//! work starts — syntax, unknown keys, duplicate stages, unknown kinds, missing
//! or mismatched plugins, rejected plugin configs, inputs that match nothing —
//! and reports them all at once, each with file, line and column.

pub mod builtin;
pub mod classify;
pub(crate) mod compute;
pub mod config;
mod critique;
pub mod decontaminate;
pub mod dedup;
mod diagnostic;
pub mod evaluate;
mod executor;
mod generate;
mod input;
pub mod jobs;
pub mod keep_if;
pub mod near_dup;
mod parquet_io;
pub mod phases;
mod progress;
mod prompting;
pub mod quarantine_summary;
mod refine;
pub mod report;
mod schema_errors;
pub mod stats;
mod stderr_capture;
pub mod train_classifier;
pub mod train_student;
mod training_report;
mod validate;
mod workdir;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use executor::{CHANNEL_CHUNKS, RunError, RunOptions, RunSummary, fingerprint, run};
pub use input::{InputError, InputItem, InputStream};
pub use stderr_capture::restore_now as restore_stderr;
pub use validate::{Input, ModelUse, PathOverrides, Pipeline, Stage, StageKind};
pub use workdir::{ChunkEntry, Manifest, WorkDir, WorkDirError};
