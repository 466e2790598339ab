//! The `critique` stage: a critic plugin builds a judge prompt per record, the
//! model answers (`samples` times), the plugin parses each answer into named
//! scores and a rationale.
//!
//! Scores are averaged over the samples that parsed and set on the record
//! under the critic's names (a later `threshold` stage filters on them); the
//! rationale, the samples asked and parsed go to
//! `metadata.critique.<stage>` (with `truncated`, the samples the server cut
//! at `max_tokens`, when there are any). A record none of whose samples
//! parsed, or whose judge the model failed to produce, is quarantined with
//! the error and the judge's first unparsed answer (capped at 4 KiB).
//! A critic that checks without a model (a verifier) gets its own prompt's
//! last user message back as the completion.

use std::collections::BTreeMap;

use serde_json::json;

use super::prompting::{ModelStage, annotate};
use super::{StageError, StageOutput};
use crate::outcome::Outcome;
use crate::plugin::wit;
use crate::record::Record;

/// Runs the stage over a chunk. With `fraction` below 1, only a seeded
/// sample of the records (chosen by id) is judged; the others pass on
/// unjudged, in place (the judge labels a sample, a classifier learns it).
pub async fn run<'a>(cx: &'a ModelStage<'a>, records: Vec<Record>) -> Result<StageOutput, StageError> {
    let fraction = cx.uses.fraction;
    if fraction >= 1.0 {
        return cx.in_batches(records, run_batch).await;
    }
    let mut slots: Vec<Option<Outcome>> = Vec::with_capacity(records.len());
    let (mut judged, mut positions) = (Vec::new(), Vec::new());
    for (i, record) in records.into_iter().enumerate() {
        if in_sample(cx.seed, cx.name, &record.id, fraction) {
            positions.push(i);
            judged.push(record);
            slots.push(None);
        } else {
            slots.push(Some(Outcome::Kept(record)));
        }
    }
    let unjudged = (slots.len() - judged.len()) as i64;
    let mut output = cx.in_batches(judged, run_batch).await?;
    for (position, outcome) in positions.into_iter().zip(output.outcomes.drain(..)) {
        slots[position] = Some(outcome);
    }
    output.outcomes = slots.into_iter().flatten().collect();
    *output.details.entry("unjudged".into()).or_default() += unjudged;
    Ok(output)
}

/// Whether record `id` is in the judged sample of `fraction` (seeded, stable across runs).
fn in_sample(seed: u64, stage: &str, id: &str, fraction: f64) -> bool {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(format!("{stage}\u{0}{id}").as_bytes(), seed);
    (h % 1_000_000) as f64 / 1_000_000.0 < fraction
}

async fn run_batch(cx: &ModelStage<'_>, records: Vec<Record>) -> Result<StageOutput, StageError> {
    let mut out = StageOutput::default();
    let quarantine = |record: Record, error: String| cx.quarantine(record, error);
    // The plugin reads the records in place; they come back with its prompts.
    let (prompts, records) = cx.call(move |p| Ok((p.critic_prompts(&records)?, records))).await?;
    let (ready, labels): (Vec<&wit::Prompt>, Vec<&str>) =
        prompts.iter().zip(&records).filter_map(|(p, r)| Some((p.as_ref().ok()?, r.id.as_str()))).unzip();
    let mut answers = cx.complete(&ready, &labels, 0, &mut out.calls).await?.into_iter();
    // Every sample of every answered record goes to `parse` in one call.
    let mut completions = Vec::new();
    let mut answered: Vec<Result<Answered, Outcome>> = Vec::with_capacity(records.len());
    for (prompt, record) in prompts.iter().zip(&records) {
        let answer = match prompt {
            Ok(prompt) => match answers.next() {
                Some(Ok(samples)) => {
                    let truncated = samples.iter().filter(|s| s.truncated).count();
                    let first = completions.len();
                    completions
                        .extend(samples.into_iter().map(|s| wit::Completion { tag: prompt.tag.clone(), text: s.text }));
                    Ok(Answered { first, samples: completions.len() - first, truncated })
                }
                Some(Err(e)) => Err(cx.quarantine_error(record.clone(), &e)),
                None => Err(quarantine(record.clone(), "no answer".to_string())),
            },
            Err(e) => Err(quarantine(record.clone(), format!("building the judge prompt: {e}"))),
        };
        answered.push(answer);
    }
    let texts: Vec<String> = completions.iter().map(|c| c.text.clone()).collect();
    let mut parsed =
        if completions.is_empty() { Vec::new() } else { cx.call(move |p| p.critic_parse(&completions)).await? }
            .into_iter();
    let model = cx.model.as_ref().map_or_else(|| "none".into(), |m| m.name().to_string());
    let step = cx.step();
    for (mut record, answer) in records.into_iter().zip(answered) {
        let Answered { first, samples, truncated } = match answer {
            Ok(answered) => answered,
            Err(outcome) => {
                out.outcomes.push(outcome);
                continue;
            }
        };
        let mut critiques = Vec::new();
        let mut errors = Vec::new();
        for k in first..first + samples {
            match parsed.next() {
                Some(Ok(Ok(c))) => critiques.push(c),
                Some(Ok(Err(reason))) => errors.push((k, reason)),
                Some(Err(e)) => errors.push((k, e.to_string())),
                None => errors.push((k, "no parse result".into())),
            }
        }
        if !errors.is_empty() {
            *out.details.entry("unparsed_judgements".into()).or_default() += errors.len() as i64;
        }
        if critiques.is_empty() {
            let (k, first_error) = errors.first().cloned().unwrap_or_default();
            let cut = if truncated > 0 { "; the answer was cut at max_tokens" } else { "" };
            let error =
                format!("cannot parse the judge's answer (model `{model}`, {samples} sample(s)): {first_error}{cut}");
            out.outcomes.push(cx.quarantine_answer(record, error, texts.get(k).map_or("", String::as_str)));
            continue;
        }
        for (name, value) in mean_scores(&critiques) {
            record.scores.insert(name, value);
        }
        let mut value = json!({
            "rationale": critiques[0].rationale,
            "samples": samples,
            "parsed": critiques.len(),
        });
        if truncated > 0 {
            value["truncated"] = json!(truncated);
        }
        annotate(&mut record.metadata, "critique", cx.name, value);
        record.lineage.steps.push(step.clone());
        out.outcomes.push(Outcome::Kept(record));
    }
    Ok(out)
}

/// Where a record's samples are among the batch's completions.
struct Answered {
    /// Index of its first completion.
    first: usize,
    /// How many.
    samples: usize,
    /// How many the server cut at `max_tokens`.
    truncated: usize,
}

/// Each score's mean over the critiques that gave it.
fn mean_scores(critiques: &[wit::Critique]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for c in critiques {
        for s in &c.scores {
            let e = sums.entry(s.name.clone()).or_default();
            e.0 += s.value;
            e.1 += 1;
        }
    }
    sums.into_iter().map(|(name, (sum, n))| (name, sum / f64::from(n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn critique(scores: &[(&str, f64)]) -> wit::Critique {
        wit::Critique {
            scores: scores.iter().map(|(n, v)| wit::Score { name: n.to_string(), value: *v }).collect(),
            rationale: String::new(),
        }
    }

    #[test]
    fn samples_are_averaged_per_score() {
        let m = mean_scores(&[critique(&[("a", 4.0), ("b", 1.0)]), critique(&[("a", 2.0)])]);
        assert_eq!(m["a"], 3.0);
        assert_eq!(m["b"], 1.0, "averaged over the samples that gave it");
    }
}
