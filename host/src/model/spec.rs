//! A checked `[models.<name>]` declaration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::RetryPolicy;
use crate::plugin::Plugin;

/// Sampling parameters sent with every request; part of the cache key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sampling {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Most tokens per completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Seed of the model's sampling (a stage's retry round is added to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

/// Which OpenAI endpoint a model is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `POST {base_url}/chat/completions` with messages.
    Chat,
    /// `POST {base_url}/completions` with the messages joined into one prompt.
    Completions,
}

/// How a server is asked to constrain an answer to the JSON Schema a plugin
/// declares for its prompt (`structured_output` of an `openai` model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `response_format = {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`:
    /// OpenAI, vLLM, llama.cpp's own `llama-server`, TGI.
    JsonSchema,
    /// `response_format = {"type": "json_object", "schema": …}` (the Anyscale
    /// form): the Python `llama-cpp-python` server, which turns the schema
    /// into a grammar.
    JsonObject,
}

/// What to do with a prompt's system messages (`system_prompt` of an `openai` model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemPrompt {
    /// Send them as they are.
    #[default]
    Keep,
    /// Fold them into the first user message (a blank line apart): for chat
    /// templates that drop system messages without a word (Gemma's).
    Merge,
}

/// Where and how to reach an OpenAI-compatible server. Its `Debug` shows the
/// URL without credentials.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// E.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The server's model id.
    pub model: String,
    /// The API key (`api_key_env`), read when the pipeline was built.
    pub api_key: Option<super::ApiKey>,
    /// Chat or completions.
    pub endpoint: Endpoint,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// How to ask for answers in a plugin's declared JSON Schema (`None`: the
    /// server is not asked, and answers are not checked against it).
    pub structured_output: Option<StructuredOutput>,
    /// What to do with system messages.
    pub system_prompt: SystemPrompt,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &super::redact::display_url(&self.base_url))
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("structured_output", &self.structured_output)
            .field("system_prompt", &self.system_prompt)
            .finish()
    }
}

/// Where a `student` model's checkpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StudentSource {
    /// `checkpoint = "..."`: a file (absolute once checked).
    Checkpoint(PathBuf),
    /// `stage = "..."`: the student a `train-student` stage of this pipeline
    /// trains, for `seed` (`None` until the pipeline is checked: its first seed).
    Stage {
        /// The `train-student` stage.
        stage: String,
        /// Which of its seeds (`student_seed`).
        seed: Option<u64>,
    },
}

/// A trained character-level student (`kiln_kernels::student`) answering prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentSettings {
    /// Where it comes from.
    pub source: StudentSource,
    /// The checkpoint file (absolute): `source`'s file, or where the stage
    /// saves the seed's model in the work directory.
    pub checkpoint: PathBuf,
    /// The checkpoint's sha256 (hex): part of the cache key and the lineage.
    /// Known once the file exists: when the pipeline is checked for a
    /// `checkpoint`, when the model starts for a `stage`.
    pub sha256: Option<String>,
}

impl StudentSettings {
    /// A student read from `source`, whose file is `checkpoint`.
    pub fn new(source: StudentSource, checkpoint: PathBuf) -> StudentSettings {
        StudentSettings { source, checkpoint, sha256: None }
    }

    /// `<file name>` for a checkpoint, `<stage>/seed-<s>` for a stage's student.
    pub fn label(&self) -> String {
        match &self.source {
            StudentSource::Checkpoint(path) => {
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
            }
            StudentSource::Stage { stage, seed } => match seed {
                Some(seed) => format!("{stage}/seed-{seed}"),
                None => stage.clone(),
            },
        }
    }

    /// The sha256 of the file at `path`, hex.
    pub fn digest(path: &Path) -> std::io::Result<String> {
        use sha2::Digest;
        let bytes = std::fs::read(path)?;
        Ok(hex::encode(sha2::Sha256::digest(&bytes)))
    }
}

/// The backend of a model.
#[derive(Debug, Clone)]
pub enum BackendSpec {
    /// An OpenAI-compatible server.
    OpenAi(OpenAiSettings),
    /// A `model` plugin in the sandbox.
    Wasm(Plugin),
    /// A student trained by a `train-student` stage.
    Student(StudentSettings),
}

/// A checked model declaration.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Its name in the pipeline file.
    pub name: String,
    /// How to reach it.
    pub backend: BackendSpec,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Completions per prompt when a stage does not say (`n`).
    pub n: u32,
    /// Requests (or plugin calls) in flight at once.
    pub concurrency: usize,
    /// Tokens (prompt + completion) the run may spend on this model.
    pub token_budget: Option<u64>,
}

impl ModelSpec {
    /// One line for lineage and reports: backend, model and sampling
    /// parameters (never the key), e.g. `teacher=openai:gpt-4o-mini{"temperature":0.7}`;
    /// a student is `student:<file name>#<sha256 prefix>`.
    pub fn describe(&self) -> String {
        let what = match &self.backend {
            BackendSpec::OpenAi(s) => format!("openai:{}", s.model),
            BackendSpec::Wasm(p) => format!("wasm:{}#{}", p.label(), &p.info().sha256[..12.min(p.info().sha256.len())]),
            BackendSpec::Student(s) => match &s.sha256 {
                Some(sha) => format!("student:{}#{}", s.label(), &sha[..12.min(sha.len())]),
                None => format!("student:{}", s.label()),
            },
        };
        let params = serde_json::to_string(&self.sampling).unwrap_or_default();
        format!("{}={what}{params}", self.name)
    }
}
