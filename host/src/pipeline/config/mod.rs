//! The pipeline file: serde types for `pipeline.toml`, exactly as written.
//!
//! Every table rejects unknown keys, and the fields whose later checks need a
//! position (stage names, kinds, plugin paths) keep their span, so that every
//! error can name the file, line and column. These types describe what the user
//! wrote; [`build`](crate::pipeline::build) turns them into runnable values.

pub mod checks;
pub(crate) mod config_location;
pub mod diagnostic;
mod kind;
pub mod rounds;
pub mod schema_errors;

pub use kind::StageKind;

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
    /// `[rounds]`: recursive rounds after the stages above (round 0).
    #[serde(default)]
    pub rounds: Option<rounds::RoundsConfig>,
    /// `[trust]`: which keys may sign which plugins.
    #[serde(default)]
    pub trust: Option<TrustConfig>,
}

/// `[trust]`: the plugin trust policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Refuse plugins without a valid signature by a key trusted for them.
    #[serde(default)]
    pub require_signature: bool,
    /// `[[trust.key]]`: the trusted keys.
    #[serde(default)]
    pub key: Vec<TrustedKeyConfig>,
}

/// `[[trust.key]]`: a public key and the plugins it may sign.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKeyConfig {
    /// A name for messages and the lockfile.
    pub name: Spanned<String>,
    /// `kiln-ed25519-public:<base64>`, inline.
    #[serde(default)]
    pub public_key: Option<Spanned<String>>,
    /// Or a `.pub` file made by `kiln plugin keygen`, relative to the pipeline file.
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    /// Globs over plugin references or paths as written (default: every plugin).
    #[serde(default = "every_plugin")]
    pub plugins: Vec<String>,
}

fn every_plugin() -> Vec<String> {
    vec!["*".into()]
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
    /// `openai` (an OpenAI-compatible server), `wasm` (a `model` plugin) or
    /// `student` (a student trained by a `train-student` stage).
    pub backend: Spanned<String>,
    /// The student's checkpoint file, relative to the pipeline file (`student` only).
    #[serde(default)]
    pub checkpoint: Option<Spanned<String>>,
    /// The `train-student` stage of this pipeline whose student answers (`student` only).
    #[serde(default)]
    pub stage: Option<Spanned<String>>,
    /// Which of that stage's seeds (default: its first; `student` with `stage` only).
    #[serde(default)]
    pub student_seed: Option<Spanned<u64>>,
    /// The model plugin, for `backend = "wasm"`.
    #[serde(default)]
    pub plugin: Option<PluginRef>,
    /// The model plugin's configuration (`wasm` only).
    #[serde(default)]
    pub config: toml::Table,
    /// Resource limits of the model plugin (`wasm` only).
    #[serde(default)]
    pub limits: PluginLimits,
    /// Server URL up to the API version, e.g. `http://127.0.0.1:8000/v1` (`openai` only).
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    /// The server's model id (`openai` only).
    #[serde(default)]
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (`openai` only).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// `chat` (default) or `completions` (`openai` only).
    #[serde(default)]
    pub endpoint: Option<crate::model::Endpoint>,
    /// Ask the server to answer in the JSON Schema a plugin declares for its
    /// prompt: `true` (or `"json_schema"`, OpenAI's form), `"json_object"`
    /// (llama-cpp-python's form), `false` (default; `openai` only).
    #[serde(default)]
    pub structured_output: Option<StructuredOutputConfig>,
    /// `keep` (default) or `merge`: fold system messages into the first user
    /// message, for chat templates that drop them (`openai` only).
    #[serde(default)]
    pub system_prompt: Option<crate::model::SystemPrompt>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Most tokens per completion.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sampling seed (default: the pipeline's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Completions per prompt when a stage does not say (default 1).
    #[serde(default)]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Requests in flight at once (default 16 for servers, the cores for
    /// plugins, 1 batch for students).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Retries after a failed request (default 6; `openai` only).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Seconds before a request times out (default 60; `openai` only).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Milliseconds before the first retry; doubles each retry (default 500).
    #[serde(default)]
    pub backoff_ms: Option<u64>,
    /// Longest wait between retries in seconds (default 30).
    #[serde(default)]
    pub max_backoff_secs: Option<f64>,
    /// Tokens (prompt + completion) the run may spend; the run stops cleanly
    /// and resumably when they are spent.
    #[serde(default)]
    pub token_budget: Option<u64>,
}

/// `structured_output` as written: a switch, or the form of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StructuredOutputConfig {
    /// `true` (OpenAI's `json_schema` form) or `false`.
    Switch(bool),
    /// `"json_schema"` or `"json_object"`.
    Form(crate::model::StructuredOutput),
}

impl StructuredOutputConfig {
    /// The form to ask for, if any.
    pub fn form(self) -> Option<crate::model::StructuredOutput> {
        match self {
            StructuredOutputConfig::Switch(false) => None,
            StructuredOutputConfig::Switch(true) => Some(crate::model::StructuredOutput::JsonSchema),
            StructuredOutputConfig::Form(form) => Some(form),
        }
    }
}

/// A plugin reference as written: a path (or `oci://…` reference), a table
/// with a path and a pinned digest, or a table with a published artifact and
/// its manifest digest. Kept with its span (see [`PluginRef`]) for error
/// positions.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PluginSpec {
    /// `plugin = "plugins/x.wasm"` or `plugin = "oci://HOST/NS/NAME:TAG"`.
    Path(String),
    /// `plugin = { path = "...", sha256 = "..." }`.
    Pinned(PinnedPlugin),
    /// `plugin = { oci = "oci://HOST/NS/NAME:TAG", digest = "sha256:..." }`.
    Published(PublishedPlugin),
}

/// `plugin = { oci = "oci://…", digest = "sha256:…" }`: a published plugin
/// pinned to its manifest digest, so a moved tag changes nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedPlugin {
    /// The reference, `oci://HOST[:PORT]/NAMESPACE/NAME[:TAG]`.
    pub oci: String,
    /// The manifest digest it must resolve to.
    #[serde(default)]
    pub digest: Option<String>,
}

/// `plugin = { path = "...", sha256 = "..." }`.
#[derive(Debug, Clone, Deserialize)]
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
    /// The path or `oci://` reference as written.
    pub fn path(&self) -> &str {
        match self {
            PluginSpec::Path(p)
            | PluginSpec::Pinned(PinnedPlugin { path: p, .. })
            | PluginSpec::Published(PublishedPlugin { oci: p, .. }) => p,
        }
    }

    /// The pinned digest of a file, if any.
    pub fn sha256(&self) -> Option<&str> {
        match self {
            PluginSpec::Path(_) | PluginSpec::Published(_) => None,
            PluginSpec::Pinned(p) => p.sha256.as_deref(),
        }
    }

    /// A published plugin: its reference as written and the manifest digest
    /// the file pins (if any).
    pub fn published(&self) -> Option<(&str, Option<&str>)> {
        match self {
            PluginSpec::Path(p) if p.starts_with(kiln_registry::reference::SCHEME) => Some((p, None)),
            PluginSpec::Published(p) => Some((&p.oci, p.digest.as_deref())),
            PluginSpec::Path(_) | PluginSpec::Pinned(_) => None,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Unique name, used in outputs, lineage and reports.
    pub name: Spanned<String>,
    /// What the stage does: `filter`, `map`, `generate`, `critique`, `refine`
    /// (with a plugin), or a built-in: `dedup`, `threshold`, `sample`,
    /// `decontaminate`, `classify`, or a barrier: `train-student`,
    /// `train-classifier`, `eval`.
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
    /// The model answering the plugin's prompts (`generate`, `critique`, `refine`).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// Prompts to generate (`generate`).
    #[serde(default)]
    pub count: Option<u64>,
    /// Seed records or personas handed to the generator (`generate`): a JSONL
    /// file; prompt `i` of a request is conditioned on seed `i mod len`.
    #[serde(default)]
    pub seeds: Option<Spanned<String>>,
    /// Generation round recorded in the lineage of generated records (default 1).
    #[serde(default)]
    pub round: Option<u32>,
    /// Completions per prompt (`generate`, `critique`: judge samples averaged);
    /// default: the model's `n`.
    #[serde(default)]
    pub samples: Option<u32>,
    /// Rewrites tried per record before it is rejected (`refine`, default 3).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Share of records judged (`critique`, default 1): a seeded sample by
    /// record id; the others pass on unjudged (to label a sample for `train-classifier`).
    #[serde(default)]
    pub fraction: Option<f64>,
    /// `generate`, `critique`, `refine`: ask the model once per distinct
    /// prompt, so identical prompts share one completion (default false: every
    /// slot or record gets its own, with its own seed).
    #[serde(default)]
    pub dedupe_prompts: Option<bool>,
}

impl StageConfig {
    /// The stage's kind, when the file names a known one.
    pub fn kind(&self) -> Option<StageKind> {
        StageKind::from_name(self.kind.get_ref())
    }
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
