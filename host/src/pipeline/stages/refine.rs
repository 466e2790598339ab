//! The `refine` stage (Generative Data Refinement): a refiner plugin builds a
//! rewrite prompt per real record, the model rewrites it, the plugin verifies
//! the rewrite (e.g. that no PII is left).
//!
//! A rejected rewrite is asked for again — each attempt is a fresh sample
//! (its own seed and cache entry) — up to `attempts` times; then the record is
//! rejected with `refine: <the last reason>`. An accepted rewrite becomes a new
//! record `<id>~<stage>` whose lineage parent is the original, with
//! `metadata.refine.<stage>.attempts` (and `truncated`, when the server cut
//! the accepted rewrite at `max_tokens`). A record whose every rewrite was
//! rejected carries the last one it was refused, in
//! `metadata.refine.<stage>.last_rewrite` of the rejected record. A record the
//! model fails on, or the plugin traps on, is quarantined with the error.

use serde_json::json;

use super::prompting::{ModelStage, annotate};
use super::{StageError, StageOutput};
use crate::model::Sample;
use crate::outcome::Outcome;
use crate::plugin::wit;
use crate::record::Record;

/// Runs the stage over a chunk.
pub async fn run<'a>(cx: &'a ModelStage<'a>, records: Vec<Record>) -> Result<StageOutput, StageError> {
    cx.in_batches(records, run_batch).await
}

/// Where one record stands.
enum State {
    Pending { prompt: wit::Prompt, last: Option<Refused> },
    Done(Box<Outcome>),
}

/// A rewrite the verifier refused, and why.
struct Refused {
    reason: String,
    rewrite: Sample,
}

async fn run_batch(cx: &ModelStage<'_>, records: Vec<Record>) -> Result<StageOutput, StageError> {
    let mut out = StageOutput::default();
    let quarantine = |record: &Record, error: String| State::Done(Box::new(cx.quarantine(record.clone(), error)));
    // The plugin reads the records in place; they come back with its prompts.
    let (prompts, records) = cx.call(move |p| Ok((p.refiner_prompts(&records)?, records))).await?;
    let mut states: Vec<State> = records
        .iter()
        .zip(prompts)
        .map(|(r, p)| match p {
            Ok(prompt) => State::Pending { prompt, last: None },
            Err(e) => quarantine(r, format!("building the rewrite prompt: {e}")),
        })
        .collect();
    let step = cx.step();
    for attempt in 0..cx.uses.attempts {
        let pending: Vec<usize> = (0..states.len()).filter(|&i| matches!(states[i], State::Pending { .. })).collect();
        if pending.is_empty() {
            break;
        }
        let prompts: Vec<&wit::Prompt> = pending
            .iter()
            .filter_map(|&i| match &states[i] {
                State::Pending { prompt, .. } => Some(prompt),
                State::Done(_) => None,
            })
            .collect();
        let labels: Vec<&str> = pending.iter().map(|&i| records[i].id.as_str()).collect();
        let answers = cx.complete(&prompts, &labels, attempt, &mut out.calls).await?;
        let mut rewrites = Vec::new();
        let mut asked = Vec::new();
        for (&i, answer) in pending.iter().zip(answers) {
            match answer.map(|samples| samples.into_iter().next()) {
                Ok(Some(sample)) => {
                    rewrites.push(wit::Rewrite { original: records[i].to_wit(), text: sample.text.clone() });
                    asked.push((i, sample));
                }
                Ok(None) => states[i] = quarantine(&records[i], "the model returned no completion".into()),
                Err(e) => states[i] = State::Done(Box::new(cx.quarantine_error(records[i].clone(), &e))),
            }
        }
        if rewrites.is_empty() {
            continue;
        }
        let checks = cx.call(move |p| p.refiner_verify(&rewrites)).await?;
        for ((i, sample), check) in asked.into_iter().zip(checks) {
            match check {
                Ok(wit::RewriteCheck::Accept) => {
                    let original = &records[i];
                    let mut r = original.clone();
                    r.id = format!("{}~{}", original.id, cx.name);
                    r.lineage.parent = Some(original.id.clone());
                    r.lineage.steps.push(step.clone());
                    let mut note = json!({ "attempts": attempt + 1 });
                    if sample.truncated {
                        note["truncated"] = json!(true);
                    }
                    annotate(&mut r.metadata, "refine", cx.name, note);
                    r.text = sample.text;
                    states[i] = State::Done(Box::new(Outcome::Kept(r)));
                }
                Ok(wit::RewriteCheck::Reject(reason)) => {
                    *out.details.entry("rewrites_rejected".into()).or_default() += 1;
                    if let State::Pending { last, .. } = &mut states[i] {
                        *last = Some(Refused { reason, rewrite: sample });
                    }
                }
                Err(e) => states[i] = quarantine(&records[i], format!("verifying the rewrite: {e}")),
            }
        }
    }
    let attempts = cx.uses.attempts;
    for (mut record, state) in records.into_iter().zip(states) {
        out.outcomes.push(match state {
            State::Done(outcome) => *outcome,
            State::Pending { last, .. } => {
                let reason = match last {
                    Some(Refused { reason, rewrite }) => {
                        let mut note = json!({ "last_rewrite": crate::model::kept_answer(&rewrite.text) });
                        if rewrite.truncated {
                            note["truncated"] = json!(true);
                        }
                        annotate(&mut record.metadata, "refine", cx.name, note);
                        reason
                    }
                    None => "no rewrite".into(),
                };
                let class = format!("refine: {}", crate::outcome::plugin_reason_class(&reason));
                cx.reject(record, class, format!("refine: {reason} (after {attempts} attempt(s))"))
            }
        });
    }
    Ok(out)
}
