//! The pipeline file: serde types for `pipeline.toml`, exactly as written.
//!
//! Every table rejects unknown keys, and the fields whose later checks need a
//! position (stage names, kinds, plugin paths) keep their span, so that every
//! error can name the file, line and column. These types describe what the user
//! wrote; [`validate`](super::validate) turns them into checked values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::plugin::PluginLimits;

/// A whole pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// `[pipeline]`: name, seed, work directory.
    pub pipeline: PipelineSection,
    /// `[[input]]`: where records come from.
    #[serde(default)]
    pub input: Vec<InputConfig>,
    /// `[models.<name>]`: model backends.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// `[[stage]]`, in order.
    #[serde(default)]
    pub stage: Vec<StageConfig>,
    /// `[output]`: where kept, rejected and quarantined records go.
    pub output: OutputConfig,
}

/// `[pipeline]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// The pipeline's name, used in reports.
    pub name: String,
    /// Seed of every random choice (sampling, generation, ordering).
    #[serde(default)]
    pub seed: u64,
    /// Where state, caches and the resume manifest live (relative to the file).
    #[serde(default = "default_work_dir")]
    pub work_dir: PathBuf,
    /// Input lines per committed chunk: the unit of resumption (default 10 000).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u64,
}

fn default_chunk_size() -> u64 {
    10_000
}

fn default_work_dir() -> PathBuf {
    PathBuf::from("work")
}

/// `[[input]]`: one or more files of records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// A path or glob, relative to the pipeline file (`data/*.jsonl`).
    pub path: Spanned<String>,
    /// `jsonl` (also `.gz`, `.zst`) or `parquet`; by default from the extension.
    #[serde(default)]
    pub format: Option<InputFormat>,
    /// The field holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// The field holding the id (ids are derived when it is missing).
    #[serde(default = "default_id_field")]
    pub id_field: String,
}

fn default_text_field() -> String {
    "text".into()
}

fn default_id_field() -> String {
    "id".into()
}

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// One JSON object per line, optionally compressed.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// `[models.<name>]`: a model backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `wasm`: an embedded model plugin (the `model` world). Servers
    /// (`openai`) come with the model backends.
    pub backend: Spanned<String>,
    /// The model plugin, for `backend = "wasm"`.
    #[serde(default)]
    pub plugin: Option<PluginRef>,
    /// The backend's (or plugin's) configuration.
    #[serde(default)]
    pub config: toml::Table,
    /// Resource limits of the model plugin.
    #[serde(default)]
    pub limits: PluginLimits,
}

/// A plugin reference as written: a path, or a table with a path and a pinned
/// digest. Kept with its span (see [`PluginRef`]) for error positions.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PluginSpec {
    /// `plugin = "plugins/x.wasm"`.
    Path(String),
    /// `plugin = { path = "...", sha256 = "..." }`.
    Pinned(PinnedPlugin),
}

/// `plugin = { path = "...", sha256 = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedPlugin {
    /// The component, relative to the pipeline file.
    pub path: String,
    /// The sha256 the file must have.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// A plugin reference with the span of its value in the file.
pub type PluginRef = Spanned<PluginSpec>;

impl PluginSpec {
    /// The path as written.
    pub fn path(&self) -> &str {
        match self {
            PluginSpec::Path(p) | PluginSpec::Pinned(PinnedPlugin { path: p, .. }) => p,
        }
    }

    /// The pinned digest, if any.
    pub fn sha256(&self) -> Option<&str> {
        match self {
            PluginSpec::Path(_) => None,
            PluginSpec::Pinned(p) => p.sha256.as_deref(),
        }
    }
}

/// What happens to a record on which a stage fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Quarantine the record with its error and go on (default).
    #[default]
    Quarantine,
    /// Stop the run.
    Fail,
}

/// `[[stage]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Unique name, used in outputs, lineage and reports.
    pub name: Spanned<String>,
    /// What the stage does: `filter` or `map` (with a plugin), or a built-in:
    /// `dedup`, `threshold`, `sample`.
    pub kind: Spanned<String>,
    /// The plugin, for plugin-backed kinds.
    #[serde(default)]
    pub plugin: Option<PluginRef>,
    /// The plugin's (or built-in's) configuration.
    #[serde(default)]
    pub config: toml::Table,
    /// Records per plugin call.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Plugin instances working in parallel (default: the number of cores).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Resource limits of the plugin.
    #[serde(default)]
    pub limits: PluginLimits,
    /// Quarantine failing records (default) or stop the run.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_batch_size() -> usize {
    256
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Directory of `kept`, `rejected` and `quarantine` files (relative to the file).
    pub dir: PathBuf,
    /// `jsonl` (default) or `parquet`.
    #[serde(default)]
    pub format: OutputFormat,
}

/// Output formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// Apache Parquet.
    Parquet,
}
