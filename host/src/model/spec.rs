//! A checked `[models.<name>]` declaration.

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

/// Where and how to reach an OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// E.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The server's model id.
    pub model: String,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Chat or completions.
    pub endpoint: Endpoint,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
}

/// The backend of a model.
#[derive(Debug, Clone)]
pub enum BackendSpec {
    /// An OpenAI-compatible server.
    OpenAi(OpenAiSettings),
    /// A `model` plugin in the sandbox.
    Wasm(Plugin),
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
    /// parameters (never the key), e.g. `teacher=openai:gpt-4o-mini{"temperature":0.7}`.
    pub fn describe(&self) -> String {
        let what = match &self.backend {
            BackendSpec::OpenAi(s) => format!("openai:{}", s.model),
            BackendSpec::Wasm(p) => format!("wasm:{}#{}", p.label(), &p.info().sha256[..12.min(p.info().sha256.len())]),
        };
        let params = serde_json::to_string(&self.sampling).unwrap_or_default();
        format!("{}={what}{params}", self.name)
    }
}
