//! Pipelines declared in one TOML file: the schema ([`config`]), its checks
//! ([`validate`]) and the errors they report ([`Diagnostics`]).
//!
//! `kiln validate pipeline.toml` runs every check a run would run before any
//! work starts — syntax, unknown keys, duplicate stages, unknown kinds, missing
//! or mismatched plugins, rejected plugin configs, inputs that match nothing —
//! and reports them all at once, each with file, line and column.

pub mod config;
mod diagnostic;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use validate::{Input, Pipeline, Stage, StageKind};
