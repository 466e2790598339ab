//! Model backends: how Kiln gets completions for the prompts that generator,
//! critic and refiner plugins build.
//!
//! A pipeline declares its models under `[models.<name>]` ([`ModelSpec`],
//! checked when the pipeline is loaded). At run time each becomes a [`Model`]:
//! - `openai` ([`openai`]): any OpenAI-compatible server, with a concurrency
//!   limit, retries with exponential backoff and jitter (honouring
//!   `Retry-After`), a per-request timeout, token accounting and an optional
//!   token budget;
//! - `wasm` (module `embedded`): a `model` plugin running in the sandbox, the
//!   offline default;
//! - `student` (module `student`): a character-level student trained by a
//!   `train-student` stage, continuing the last user message on the kernel
//!   device (recursive rounds: last round's student is this round's teacher).
//!
//! All sit behind the durable [`RequestCache`]: a completion is keyed by
//! backend, model (for a student, its checkpoint's sha256), sampling
//! parameters, prompt, attempt, sample index and slot, so a resumed or
//! repeated run pays for no completion twice.
//!
//! Every job carries its *slot* — which draw of its stage it is (a
//! generation slot, the record judged or rewritten) — and its seed is derived
//! from the model's seed and that slot. So when a generator builds the same
//! prompt for many slots (one instruction, sampled many times) each slot gets
//! its own completion, from the cache and from a deterministic server alike;
//! a stage with `dedupe_prompts = true` asks once per distinct prompt instead.
//!
//! Real servers have quirks, each detected and said once rather than retried
//! as if transient (module `openai`): a server that ignores `n` is asked for
//! each sample separately; an answer cut by `max_tokens` is flagged
//! ([`Sample::truncated`]); a prompt whose plugin declares the JSON Schema of
//! its answer is sent with it to a model with `structured_output`, and the
//! answers are checked against it ([`AnswerSchema`]). Every request paid
//! for is counted and charged to the budget, failed ones included ([`Failed`]).

mod activity;
mod answer_schema;
mod blocking;
mod cache;
mod embedded;
mod error;
mod key;
pub mod openai;
pub mod redact;
mod retry;
mod secrets;
mod spec;
mod student;
mod usage;

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

pub use activity::{Activity, ActivitySnapshot};
pub use answer_schema::{AnswerSchema, Checked, SchemaBook};
pub use cache::{CacheError, RequestCache};
pub use error::{KEPT_ANSWER_BYTES, ModelError, kept_answer};
pub use retry::RetryPolicy;
pub use secrets::{ApiKey, Secrets};
pub use spec::{
    BackendSpec, Endpoint, ModelSpec, OpenAiSettings, Sampling, StructuredOutput, StudentSettings, StudentSource,
    SystemPrompt,
};
pub use student::DEFAULT_MAX_TOKENS as STUDENT_MAX_TOKENS;
pub use usage::{Meter, Usage};

use crate::plugin::wit;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl From<&wit::Message> for Message {
    fn from(m: &wit::Message) -> Self {
        Message { role: m.role.clone(), content: m.content.clone() }
    }
}

/// What a stage asks of a model for one prompt.
#[derive(Debug, Clone)]
pub struct Job {
    /// The prompt.
    pub messages: Vec<Message>,
    /// How many completions (samples) it wants.
    pub samples: u32,
    /// Retry round of the stage (a refiner's second try is attempt 1): part of
    /// the seed and of the cache key, so each attempt gets a fresh sample.
    pub attempt: u32,
    /// Which draw of its stage this is (see [`slot_number`]): part of the
    /// seed and of the cache key, so that identical prompts of different slots
    /// get their own completions. `None` when the stage dedupes prompts.
    pub slot: Option<u64>,
    /// The JSON Schema the plugin declared for the answer: sent to a model
    /// with `structured_output` (and part of its cache key then), and every
    /// answer checked against it. Other models ignore it.
    pub answer_schema: Option<AnswerSchema>,
}

impl Job {
    /// A job of `samples` completions of `messages`, at attempt 0, with no
    /// slot and no answer schema.
    pub fn new(messages: Vec<Message>, samples: u32) -> Job {
        Job { messages, samples, attempt: 0, slot: None, answer_schema: None }
    }
}

/// The slot number of the draw labelled `label` (a record id, a generation
/// slot) in stage `stage`: stable across runs, resumes and chunk sizes.
pub fn slot_number(stage: &str, label: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{stage}\u{0}{label}").as_bytes())
}

/// The base seed of a job: the model's seed mixed with the job's slot, so
/// that every slot of a stage samples differently, and the same slot the same
/// way on every run. A mixed seed has 31 bits, so that it fits the `seed` of
/// every server (llama.cpp reads 32 bits, others a signed integer).
pub fn slot_seed(seed: u64, slot: Option<u64>) -> u64 {
    match slot {
        None => seed,
        Some(slot) => xxhash_rust::xxh3::xxh3_64_with_seed(&slot.to_le_bytes(), seed) & 0x7FFF_FFFF,
    }
}

/// One completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// Its text.
    pub text: String,
    /// The server stopped it at `max_tokens` (finish reason `length`): the
    /// text is cut short, and the record it makes is flagged.
    pub truncated: bool,
}

impl Sample {
    /// A completion that ended on its own.
    pub fn whole(text: impl Into<String>) -> Sample {
        Sample { text: text.into(), truncated: false }
    }
}

/// The completions for one [`Job`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// One per sample, in sample order.
    pub samples: Vec<Sample>,
    /// Tokens paid for (zero when every sample came from the cache).
    pub usage: Usage,
    /// Samples served from the cache.
    pub cache_hits: u32,
    /// Requests sent (retries included).
    pub requests: u32,
    /// Requests that were retries.
    pub retries: u32,
    /// Samples beyond the first asked for in requests of their own because
    /// the server ignored `n`.
    pub separate_samples: u32,
}

impl Reply {
    /// The samples' texts.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.samples.iter().map(|s| s.text.as_str())
    }
}

/// A job the model could not answer: why, and what the attempt cost (a
/// server bills an answer Kiln cannot use, a filtered or unusable one, as
/// much as a good one).
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    /// Why (boxed: a job's result is mostly a reply).
    pub error: Box<ModelError>,
    /// What its requests cost, counted as a reply's are (no samples): tokens,
    /// requests, retries, separate samples.
    pub spent: Reply,
}

impl From<ModelError> for Failed {
    fn from(error: ModelError) -> Failed {
        Failed { error: Box::new(error), spent: Reply::default() }
    }
}

/// A model ready to serve completions during a run.
pub struct Model {
    spec: Arc<ModelSpec>,
    backend: Backend,
    cache: Option<Arc<RequestCache>>,
    meter: Arc<Meter>,
    limit: Arc<Semaphore>,
    activity: Arc<Activity>,
    /// A JSON answer needed its raw control characters escaped (said once).
    repaired_json: std::sync::atomic::AtomicBool,
}

enum Backend {
    OpenAi(Box<openai::Client>),
    Wasm(embedded::Embedded),
    Student(student::Student),
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.spec.name).finish_non_exhaustive()
    }
}

impl Model {
    /// Starts `spec` for a run: resolves its API key, opens its HTTP client
    /// (or loads a student's checkpoint on the kernel device), and charges
    /// `prior` (tokens spent by committed work of an earlier invocation)
    /// against its budget. `cache` is `None` with `--no-cache`.
    pub fn start(
        mut spec: Arc<ModelSpec>,
        cache: Option<Arc<RequestCache>>,
        prior: Usage,
    ) -> Result<Model, ModelError> {
        let mut loaded = None;
        let backend = match &spec.backend {
            BackendSpec::OpenAi(settings) => Backend::OpenAi(Box::new(openai::Client::new(&spec.name, settings)?)),
            BackendSpec::Wasm(plugin) => Backend::Wasm(embedded::Embedded::new(plugin.clone())),
            BackendSpec::Student(settings) => {
                let student = student::Student::load(&spec.name, settings)?;
                // The digest of the file as loaded (a stage's student only exists
                // now) keys the cache and names the model in lineage.
                if settings.sha256.as_deref() != Some(student.sha256()) {
                    let settings = StudentSettings { sha256: Some(student.sha256().to_string()), ..settings.clone() };
                    loaded = Some(Arc::new(ModelSpec { backend: BackendSpec::Student(settings), ..(*spec).clone() }));
                }
                Backend::Student(student)
            }
        };
        if let Some(loaded) = loaded {
            spec = loaded;
        }
        let meter = Arc::new(Meter::new(spec.token_budget, prior));
        let limit = Arc::new(Semaphore::new(spec.concurrency.max(1)));
        Ok(Model { spec, backend, cache, meter, limit, activity: Arc::default(), repaired_json: Default::default() })
    }

    /// The model's name in the pipeline file.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The declaration it was started from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Whether it is a server asked over HTTP (whose requests are worth
    /// watching live), not an in-process model.
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::OpenAi(_))
    }

    /// Its requests right now (servers only; in-process models answer a
    /// batch at once).
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Tokens spent so far (including the committed work it started with).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Completes every job: one result per job, in order. Cached samples are
    /// served without a request; the rest go to the backend, at most
    /// `concurrency` at a time. Fails a job alone when the backend fails on it
    /// after its retries; [`ModelError::is_fatal`] errors (a rejected key, a
    /// spent budget) mean the run should stop.
    pub async fn complete(&self, jobs: Vec<Job>) -> Vec<Result<Reply, Failed>> {
        // Keys only matter with a cache (`--no-cache` skips hashing every prompt).
        let keys: Vec<Vec<[u8; 32]>> = match &self.cache {
            Some(_) => jobs
                .iter()
                .map(|job| (0..job.samples).map(|i| key::cache_key(&self.spec, job, i, self.constrains())).collect())
                .collect(),
            None => vec![Vec::new(); jobs.len()],
        };
        let mut replies: Vec<Option<Result<Reply, Failed>>> =
            jobs.iter().zip(&keys).map(|(job, keys)| self.cached(job, keys)).collect();
        let missing: Vec<usize> = (0..jobs.len()).filter(|&i| replies[i].is_none()).collect();
        if missing.is_empty() {
            return self.checked(&jobs, replies.into_iter().flatten().collect());
        }
        // The server's answers are stored the moment each arrives, so a run
        // killed mid-batch pays again only for what was still in flight; the
        // in-process backends answer the whole batch at once, stored after.
        let (fresh, stored) = match &self.backend {
            Backend::OpenAi(client) => {
                let (jobs, keys) = (&jobs, &keys);
                let calls = missing.iter().map(|&i| async move {
                    let reply = self.request(client, &jobs[i]).await;
                    self.store(&keys[i], &reply);
                    reply
                });
                (futures::future::join_all(calls).await, true)
            }
            Backend::Wasm(embedded) => {
                let wanted: Vec<&Job> = missing.iter().map(|&i| &jobs[i]).collect();
                let seed = self.spec.sampling.seed.unwrap_or(0);
                let replies = embedded.complete(&self.spec.name, &wanted, seed, &self.limit, &self.meter).await;
                (replies.into_iter().map(|r| r.map_err(Failed::from)).collect(), false)
            }
            Backend::Student(student) => {
                let wanted: Vec<&Job> = missing.iter().map(|&i| &jobs[i]).collect();
                let sampling = &self.spec.sampling;
                let replies = student.complete(&self.spec.name, &wanted, sampling, &self.limit, &self.meter).await;
                (replies.into_iter().map(|r| r.map_err(Failed::from)).collect::<Vec<_>>(), false)
            }
        };
        if !stored {
            for (&i, reply) in missing.iter().zip(&fresh) {
                self.store(&keys[i], reply);
            }
        }
        for (&i, reply) in missing.iter().zip(fresh) {
            replies[i] = Some(reply);
        }
        let replies = replies.into_iter().map(|r| r.unwrap_or(Err(ModelError::Internal("no reply".into()).into())));
        self.checked(&jobs, replies.collect())
    }

    /// Whether answers are constrained to the plugins' answer schemas: an
    /// `openai` model with `structured_output`.
    fn constrains(&self) -> bool {
        matches!(&self.spec.backend, BackendSpec::OpenAi(s) if s.structured_output.is_some())
    }

    /// The replies, each sample checked against its job's answer schema when
    /// the model was asked to answer in it: a sample that does not conform
    /// fails its job, keeping the answer for the quarantine file.
    fn checked(&self, jobs: &[Job], replies: Vec<Result<Reply, Failed>>) -> Vec<Result<Reply, Failed>> {
        if !self.constrains() {
            return replies;
        }
        jobs.iter()
            .zip(replies)
            .map(|(job, reply)| {
                let Some(schema) = &job.answer_schema else { return reply };
                let mut reply = reply?;
                let mut mismatch = None;
                for sample in &mut reply.samples {
                    match schema.check(&sample.text) {
                        Ok(Checked::Conforms) => {}
                        Ok(Checked::Repaired(text)) => {
                            if !self.repaired_json.swap(true, std::sync::atomic::Ordering::Relaxed) {
                                tracing::warn!(
                                    model = %self.spec.name,
                                    "the server's JSON answers hold raw control characters (line breaks, tabs) inside \
                                     strings, which JSON forbids (llama.cpp's grammars let them through): they are \
                                     escaped before the answer is checked and parsed"
                                );
                            }
                            sample.text = text;
                        }
                        Err(message) => {
                            let cut = if sample.truncated { " (the answer was cut at max_tokens)" } else { "" };
                            mismatch = Some(ModelError::SchemaMismatch {
                                model: self.spec.name.clone(),
                                message: format!("{message}{cut}"),
                                answer: error::kept_answer(&sample.text),
                            });
                            break;
                        }
                    }
                }
                if let Some(error) = mismatch {
                    return Err(Failed { error: Box::new(error), spent: Reply { samples: Vec::new(), ..reply } });
                }
                Ok(reply)
            })
            .collect()
    }

    /// Stores a successful reply's samples under their keys (no-op without a cache).
    fn store(&self, keys: &[[u8; 32]], reply: &Result<Reply, Failed>) {
        let (Some(cache), Ok(reply)) = (&self.cache, reply) else { return };
        for (key, sample) in keys.iter().zip(&reply.samples) {
            if let Err(e) = cache.put(key, sample) {
                tracing::warn!(model = %self.spec.name, "cannot write the request cache: {e}");
            }
        }
    }

    /// The job's reply when every sample is cached.
    fn cached(&self, job: &Job, keys: &[[u8; 32]]) -> Option<Result<Reply, Failed>> {
        let cache = self.cache.as_ref()?;
        let mut samples = Vec::with_capacity(keys.len());
        for key in keys {
            match cache.get(key) {
                Ok(Some(sample)) => samples.push(sample),
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(model = %self.spec.name, "cannot read the request cache: {e}");
                    return None;
                }
            }
        }
        Some(Ok(Reply { samples, cache_hits: job.samples, ..Reply::default() }))
    }

    /// One request (with its retries) to an OpenAI-compatible server. What
    /// it cost is charged to the budget whether or not it answered.
    async fn request(&self, client: &openai::Client, job: &Job) -> Result<Reply, Failed> {
        let _permit = self.limit.acquire().await.map_err(|e| Failed::from(ModelError::Internal(e.to_string())))?;
        self.meter.check(&self.spec.name)?;
        let seed = self.spec.sampling.seed.map(|s| slot_seed(s, job.slot).wrapping_add(u64::from(job.attempt)));
        let schema = if self.constrains() { job.answer_schema.as_ref().map(AnswerSchema::document) } else { None };
        let _active = self.activity.started();
        let ask = openai::Ask { messages: &job.messages, sampling: &self.spec.sampling, n: job.samples, seed, schema };
        let result = client.complete(ask).await;
        let usage = match &result {
            Ok(answer) => answer.usage,
            Err(failed) => failed.spent.usage,
        };
        self.meter.charge(usage);
        self.activity.finished(usage);
        result
    }
}
