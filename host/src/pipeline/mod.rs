//! Pipelines declared in one TOML file, in the order a run goes through them:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the file as written (serde types with spans), the checks that need only the file, and [`Diagnostics`] |
//! | [`build`] | from a checked file to a runnable [`Pipeline`]: plugins loaded, models declared, benchmark and seed files read |
//! | [`stages`] | every stage kind behind one interface ([`StageOp`]); the one `match` on kinds |
//! | [`input`] | the inputs as one ordered stream of lines (JSONL, compressed, Parquet) |
//! | [`engine`] | the streaming executor (reader → stages → committer, [`execute`]), phases and barrier jobs, the run's fingerprint |
//! | [`workdir`] | the work directory: commits, the manifest, where phases, jobs and models live |
//! | [`report`] | what a run tells: `stats.json`, `report.html`, the training section, progress on the terminal |
//! | [`rounds`] | recursive rounds after round 0: arms, pools by policy, the collapse monitor ([`run_rounds`] runs a file with or without them) |
//!
//! Imports go down this table's dependencies only (config ← build ← engine;
//! stages and report below engine; workdir below stages): no module imports
//! one that imports it back. `docs/architecture.md` follows a record through
//! them.
//!
//! `kiln validate pipeline.toml` runs every check a run would run before any
//! work starts — syntax, unknown keys, duplicate stages, unknown kinds, missing
//! or mismatched plugins, rejected plugin configs, inputs that match nothing —
//! and reports them all at once, each with file, line and column.

pub mod build;
pub mod config;
pub mod engine;
pub mod input;
pub mod report;
pub mod rounds;
pub mod stages;
pub mod workdir;

pub use build::lock::{LOCK_FILE, Lockfile};
pub use build::plugin_source::{LockChange, LockMode};
pub use build::{BuildOptions, Pipeline};
pub use config::diagnostic::{Diagnostic, Diagnostics};
pub use engine::executor::{CHANNEL_CHUNKS, RunError, RunOptions, RunSummary, execute};
pub use engine::fingerprint::fingerprint;
pub use input::{Input, InputError, InputItem, InputStream};
pub use report::progress::{PhaseProgress, ProgressSink, Silent, Terminal, WatchedModel};
pub use report::stderr_capture::restore_now as restore_stderr;
pub use rounds::run as run_rounds;
pub use stages::{ModelUse, PreparedStage, Shape, Stage, StageError, StageKind, StageOp, StageOutput};
pub use workdir::{ChunkEntry, Manifest, WorkDir, WorkDirError};
