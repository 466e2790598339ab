//! The `wasm` backend: a `model` plugin answering prompts inside the sandbox
//! (the offline default, e.g. the `arith-teacher` plugin).
//!
//! Prompts are sent to the plugin in batches of [`BATCH`], spread over up to
//! `concurrency` instances on blocking threads. Sample `s` of a prompt at the
//! stage's attempt `a` is drawn with seed `slot_seed + a·1 000 003 + s`
//! (`slot_seed`: the model's seed mixed with the job's slot), so every slot,
//! sample and retry differs and the same slot always gets the same answer.
//! Tokens are counted as whitespace-separated words.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Job, Meter, ModelError, Reply, Sample, Usage};
use crate::plugin::{Plugin, wit};

/// Prompts per plugin call.
const BATCH: usize = 64;

/// A model plugin serving a run.
#[derive(Debug, Clone)]
pub struct Embedded {
    plugin: Plugin,
}

impl Embedded {
    /// Serves completions with `plugin`.
    pub fn new(plugin: Plugin) -> Embedded {
        Embedded { plugin }
    }

    /// One reply per job, in order; `model` names the model in errors.
    pub async fn complete(
        &self,
        model: &str,
        jobs: &[&Job],
        seed: u64,
        limit: &Arc<Semaphore>,
        meter: &Meter,
    ) -> Vec<Result<Reply, ModelError>> {
        let mut replies: Vec<Result<Reply, ModelError>> = jobs
            .iter()
            .map(|job| Ok(Reply { samples: Vec::with_capacity(job.samples as usize), ..Reply::default() }))
            .collect();
        let (name, label) = (model.to_string(), self.plugin.label());
        let fail = move |message: String| ModelError::Plugin { model: name.clone(), plugin: label.clone(), message };
        // (job, sample) pairs grouped by the seed they are drawn with.
        let mut groups: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
        for (i, job) in jobs.iter().enumerate() {
            for s in 0..job.samples {
                let seed =
                    super::slot_seed(seed, job.slot).wrapping_add(u64::from(job.attempt) * 1_000_003 + u64::from(s));
                groups.entry(seed).or_default().push(i);
            }
        }
        let mut batches = Vec::new();
        for (seed, members) in groups {
            for batch in members.chunks(BATCH) {
                let prompts: Vec<wit::Prompt> = batch
                    .iter()
                    .map(|&i| wit::Prompt {
                        messages: jobs[i]
                            .messages
                            .iter()
                            .map(|m| wit::Message { role: m.role.clone(), content: m.content.clone() })
                            .collect(),
                        tag: i.to_string(),
                        answer_schema: jobs[i].answer_schema.as_ref().map(|s| s.document().to_string()),
                    })
                    .collect();
                let plugin = self.plugin.clone();
                let fail = fail.clone();
                batches.push((batch.to_vec(), move || {
                    plugin.model_complete(&prompts, seed).map_err(|e| fail(e.to_string()))
                }));
            }
        }
        for (members, answers) in super::blocking::run_batches(model, meter, limit, batches).await {
            let answers = match answers {
                Ok(answers) => answers,
                Err(e) => {
                    members.iter().for_each(|&i| replies[i] = Err(e.clone()));
                    continue;
                }
            };
            for (&i, answer) in members.iter().zip(answers) {
                let Ok(reply) = &mut replies[i] else { continue };
                match answer {
                    Ok(c) if c.tag == i.to_string() => {
                        let usage = Usage {
                            prompt_tokens: jobs[i].messages.iter().map(|m| words(&m.content)).sum(),
                            completion_tokens: words(&c.text),
                        };
                        meter.charge(usage);
                        reply.usage.add(usage);
                        reply.requests += 1;
                        reply.samples.push(Sample::whole(c.text));
                    }
                    Ok(c) => {
                        replies[i] = Err(fail(format!("answered with tag `{}` for the prompt tagged `{i}`", c.tag)))
                    }
                    Err(e) => replies[i] = Err(fail(e.to_string())),
                }
            }
        }
        replies
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
