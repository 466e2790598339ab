//! What the model-backed stages (`generate`, `critique`, `refine`) share:
//! running plugin calls on blocking threads, turning plugin prompts into model
//! jobs, accounting model usage per stage, and the lineage step they record.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{StageError, StageOutput};
use crate::model::{Failed, Job, Message, Model, ModelError, Reply, Sample, SchemaBook, slot_number};
use crate::outcome::{Outcome, Quarantined, Rejected, Rejection};
use crate::pipeline::report::counts::ModelCalls;
use crate::plugin::{Plugin, wit};
use crate::record::Record;

/// How a model-backed stage uses its model.
#[derive(Debug, Clone)]
pub struct ModelUse {
    /// The model's name (`None`: a critic that checks without a model).
    pub model: Option<String>,
    /// Completions per prompt.
    pub samples: u32,
    /// Rewrites tried per record (`refine`).
    pub attempts: u32,
    /// Prompts to generate (`generate`).
    pub count: u64,
    /// Seed records handed to the generator (`generate`).
    pub seeds: Vec<Record>,
    /// Round recorded on generated records.
    pub round: u32,
    /// Share of records judged (`critique`).
    pub fraction: f64,
    /// Ask once per distinct prompt: identical prompts share one completion
    /// (by default each slot gets its own).
    pub dedupe_prompts: bool,
}

/// A model-backed stage, ready to run over a chunk.
pub struct ModelStage<'a> {
    /// The stage's name.
    pub name: &'a str,
    /// Records per plugin call.
    pub batch_size: usize,
    /// Its plugin (generator, critic or refiner).
    pub plugin: &'a Plugin,
    /// How it uses its model.
    pub uses: &'a ModelUse,
    /// The model (`None`: a critic that checks without one).
    pub model: Option<Arc<Model>>,
    /// Bounds the stage's plugin calls in flight.
    pub semaphore: &'a Arc<Semaphore>,
    /// The pipeline's seed.
    pub seed: u64,
}

impl<'a> ModelStage<'a> {
    /// Runs `batch` over `records` cut into the stage's batches, concurrently,
    /// and joins the outputs in input order.
    pub async fn in_batches<F, Fut>(&'a self, records: Vec<Record>, batch: F) -> Result<StageOutput, StageError>
    where
        F: Fn(&'a ModelStage<'a>, Vec<Record>) -> Fut,
        Fut: std::future::Future<Output = Result<StageOutput, StageError>>,
    {
        let batches: Vec<Vec<Record>> = records.chunks(self.batch_size).map(<[Record]>::to_vec).collect();
        let results = futures::future::join_all(batches.into_iter().map(|b| batch(self, b))).await;
        let mut out = StageOutput::default();
        for result in results {
            out.extend(result?);
        }
        Ok(out)
    }

    /// Runs `f` with the plugin on a blocking thread, within the stage's concurrency.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Plugin) -> Result<T, crate::plugin::PluginError> + Send + 'static,
    ) -> Result<T, StageError> {
        let permit = self.semaphore.clone().acquire_owned().await.map_err(|e| StageError::Runtime(e.to_string()))?;
        let plugin = self.plugin.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&plugin)
        })
        .await
        .map_err(|e| StageError::Runtime(e.to_string()))?;
        Ok(result?)
    }

    /// `record` quarantined by this stage's plugin with `error`.
    pub fn quarantine(&self, record: Record, error: String) -> Outcome {
        Outcome::Quarantined(Quarantined::record(record, self.name, &self.plugin.label(), error))
    }

    /// `record` quarantined by this stage's plugin with `error`, keeping the
    /// model's `answer` (capped) that the error is about.
    pub fn quarantine_answer(&self, record: Record, error: String, answer: &str) -> Outcome {
        let mut q = Quarantined::record(record, self.name, &self.plugin.label(), error);
        q.answer = Some(crate::model::kept_answer(answer));
        Outcome::Quarantined(q)
    }

    /// `record` quarantined for a failed model call: with the answer the
    /// error is about, when it has one.
    pub fn quarantine_error(&self, record: Record, error: &ModelError) -> Outcome {
        match error.answer() {
            Some(answer) => self.quarantine_answer(record, error.to_string(), answer),
            None => self.quarantine(record, error.to_string()),
        }
    }

    /// `record` rejected by this stage's plugin for `reason`, counted as `class`.
    pub fn reject(&self, record: Record, class: String, reason: String) -> Outcome {
        Outcome::Rejected(Rejected { record, rejected: Rejection::new(self.name, self.plugin.label(), class, reason) })
    }

    /// Samples per prompt: the stage's `samples`, else the model's `n`.
    pub fn samples(&self) -> u32 {
        match (self.uses.samples, &self.model) {
            (0, Some(m)) => m.spec().n.max(1),
            (0, None) => 1,
            (n, _) => n,
        }
    }

    /// The model's completions for `prompts` at `attempt`; `slots` label
    /// which draw of the stage each prompt is (a generation slot's or a
    /// record's id), so that identical prompts of different slots get their
    /// own completions unless the stage has `dedupe_prompts`. Without a model,
    /// each prompt's last user message stands for the completion (a checker
    /// critic). A prompt's answer schema goes with its job (a model with
    /// `structured_output` answers in it); a schema that does not compile,
    /// like a prompt with no text, fails its prompt before anything is sent.
    /// Fatal model errors stop the run; others fail one prompt, what they
    /// cost counted all the same.
    pub async fn complete(
        &self,
        prompts: &[&wit::Prompt],
        slots: &[&str],
        attempt: u32,
        calls: &mut ModelCalls,
    ) -> Result<Vec<Result<Vec<Sample>, ModelError>>, StageError> {
        let Some(model) = &self.model else {
            return Ok(prompts.iter().map(|p| Ok(vec![Sample::whole(last_user_message(p))])).collect());
        };
        let samples = self.samples();
        let mut schemas = SchemaBook::default();
        // A prompt with no text, or with a schema that is not one, is the
        // plugin's fault: fail it here, not at the model.
        let jobs: Vec<Result<Job, ModelError>> = prompts
            .iter()
            .zip(slots)
            .map(|(p, slot)| {
                if p.messages.iter().all(|m| m.content.trim().is_empty()) {
                    return Err(ModelError::EmptyPrompt {
                        model: model.name().to_string(),
                        plugin: self.plugin.label(),
                    });
                }
                let answer_schema = match &p.answer_schema {
                    None => None,
                    Some(text) => Some(schemas.get(text).map_err(|message| ModelError::BadAnswerSchema {
                        model: model.name().to_string(),
                        plugin: self.plugin.label(),
                        message,
                    })?),
                };
                Ok(Job {
                    attempt,
                    slot: (!self.uses.dedupe_prompts).then(|| slot_number(self.name, slot)),
                    answer_schema,
                    ..Job::new(p.messages.iter().map(Message::from).collect(), samples)
                })
            })
            .collect();
        let sendable: Vec<Job> = jobs.iter().filter_map(|j| j.as_ref().ok().cloned()).collect();
        let mut replies = model.complete(sendable).await.into_iter();
        let replies = jobs.into_iter().map(|job| match job {
            Err(e) => Err(Failed::from(e)),
            Ok(_) => replies.next().unwrap_or(Err(Failed::from(ModelError::Internal("no reply".into())))),
        });
        let mut out = Vec::with_capacity(prompts.len());
        for reply in replies {
            match reply {
                Ok(reply) => {
                    account(calls, &reply);
                    out.push(Ok(reply.samples));
                }
                Err(failed) => {
                    account(calls, &failed.spent);
                    calls.model_errors += 1;
                    if failed.error.is_fatal() {
                        return Err(StageError::Model(*failed.error));
                    }
                    out.push(Err(*failed.error));
                }
            }
        }
        Ok(out)
    }

    /// The lineage step: `stage=plugin@version#sha256[..12]`, plus
    /// ` model=<name>=<backend>:<model>{sampling}` when a model answered.
    pub fn step(&self) -> String {
        let mut step = self.plugin.step();
        if let Some(model) = &self.model {
            step.push_str(" model=");
            step.push_str(&model.spec().describe());
        }
        step
    }
}

/// Adds a reply's requests, cache hits and tokens to a stage's counters.
fn account(calls: &mut ModelCalls, reply: &Reply) {
    calls.add(&ModelCalls {
        requests: u64::from(reply.requests),
        retries: u64::from(reply.retries),
        cache_hits: u64::from(reply.cache_hits),
        prompt_tokens: reply.usage.prompt_tokens,
        completion_tokens: reply.usage.completion_tokens,
        model_errors: 0,
        separate_samples: u64::from(reply.separate_samples),
        truncated: reply.samples.iter().filter(|s| s.truncated).count() as u64,
    });
}

/// The text of the last user message (or of the last message) of a prompt.
fn last_user_message(prompt: &wit::Prompt) -> String {
    prompt
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or(prompt.messages.last())
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

/// Puts `value` at `metadata[group][stage]`, keeping what else is there.
pub fn annotate(
    metadata: &mut serde_json::Map<String, serde_json::Value>,
    group: &str,
    stage: &str,
    value: serde_json::Value,
) {
    let entry = metadata.entry(group.to_string()).or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !entry.is_object() {
        *entry = serde_json::Value::Object(Default::default());
    }
    if let Some(map) = entry.as_object_mut() {
        map.insert(stage.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checker_critic_gets_its_prompt_back() {
        let p = wit::Prompt {
            messages: vec![
                wit::Message { role: "system".into(), content: "be strict".into() },
                wit::Message { role: "user".into(), content: "Question: 1+1".into() },
            ],
            tag: "r1".into(),
            answer_schema: None,
        };
        assert_eq!(last_user_message(&p), "Question: 1+1");
    }

    #[test]
    fn annotations_nest_by_stage() {
        let mut m = serde_json::Map::new();
        annotate(&mut m, "critique", "judge", serde_json::json!({"rationale": "ok"}));
        annotate(&mut m, "critique", "verify", serde_json::json!({"rationale": "fine"}));
        assert_eq!(m["critique"]["judge"]["rationale"], "ok");
        assert_eq!(m["critique"]["verify"]["rationale"], "fine");
    }

    #[test]
    fn usage_is_accounted() {
        let mut calls = ModelCalls::default();
        let reply = Reply {
            samples: vec![Sample::whole("a"), Sample { text: "b".into(), truncated: true }],
            usage: crate::model::Usage { prompt_tokens: 5, completion_tokens: 7 },
            cache_hits: 0,
            requests: 3,
            retries: 2,
            separate_samples: 1,
        };
        account(&mut calls, &reply);
        account(&mut calls, &reply);
        let d = crate::pipeline::report::counts::Details { calls, counters: Default::default() }.entries();
        assert_eq!((d["requests"], d["retries"], d["prompt_tokens"], d["completion_tokens"]), (6, 4, 10, 14));
        assert_eq!((d["separate_samples"], d["truncated"]), (2, 2));
        assert!(!d.contains_key("cache_hits"));
    }
}
