//! Pipelines declared in one TOML file: the schema ([`config`]), its checks
//! (`validate`, reporting [`Diagnostics`]), the stage kinds behind one
//! interface ([`stages`]), and the streaming, resumable executor ([`run`])
//! with its work directory and statistics. `docs/architecture.md` follows a
//! record through them.
//!
//! `kiln validate pipeline.toml` runs every check a run would run before any
//! work starts — syntax, unknown keys, duplicate stages, unknown kinds, missing
//! or mismatched plugins, rejected plugin configs, inputs that match nothing —
//! and reports them all at once, each with file, line and column.

pub(crate) mod compute;
pub mod config;
mod diagnostic;
mod executor;
mod html;
mod input;
mod input_item;
pub mod jobs;
mod parquet_io;
pub mod phases;
mod progress;
pub mod quarantine_summary;
pub mod report;
mod schema_errors;
pub mod stages;
pub mod stats;
mod stderr_capture;
mod training_report;
mod validate;
mod workdir;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use executor::{CHANNEL_CHUNKS, RunError, RunOptions, RunSummary, fingerprint, run};
pub use input::{InputError, InputItem, InputStream};
pub use stages::{PreparedStage, Shape, StageError, StageOp, StageOutput};
pub use stderr_capture::restore_now as restore_stderr;
pub use validate::{Input, ModelUse, PathOverrides, Pipeline, Stage, StageKind};
pub use workdir::{ChunkEntry, Manifest, WorkDir, WorkDirError};
