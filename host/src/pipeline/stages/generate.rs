//! The `generate` stage: a generator plugin builds prompts, the model answers,
//! the plugin parses each answer into records.
//!
//! A pipeline that starts with `generate` reads no input: the executor feeds
//! the stage `count` *slots* ([`slot`]), numbered from 0 and chunked like input
//! lines, so resumption works as for files. Slots are grouped into requests of
//! `batch_size`; request `k` is seeded from the pipeline seed and its first
//! slot, so the prompts are the same whatever was committed before. With
//! `seeds`, prompt `j` of a request gets seed record `(slot mod len)`, passed
//! in `seeds` in prompt order.
//!
//! Each slot ends as one or more outcomes: every record parsed from each of
//! its `samples` completions is kept (ids `<slot>` for a single record,
//! `<slot>-<k>` otherwise); a completion that yields no record is rejected; one
//! the plugin cannot parse, or that the model failed to produce, is
//! quarantined with the error. The stage counts the extra outcomes as
//! `generated`, so input + generated = kept + rejected + quarantined. Records
//! parsed from a completion the server cut at `max_tokens` carry
//! `metadata.truncated.<stage> = true`.

use serde_json::{Value, json};

use super::prompting::{ModelStage, annotate};
use super::{StageError, StageOutput};
use crate::model::Sample;
use crate::outcome::Outcome;
use crate::plugin::wit;
use crate::record::{Lineage, Record};

/// Slot `index` of generate stage `stage`; `width` digits pad the id so ids sort.
pub fn slot(stage: &str, index: u64, width: usize) -> Record {
    let mut r = Record::new(format!("{stage}-{index:0width$}"), "");
    r.metadata.insert("slot".into(), json!(index));
    r.lineage = Lineage { source: format!("stage:{stage}"), ..Lineage::default() };
    r
}

fn slot_index(r: &Record) -> u64 {
    r.metadata.get("slot").and_then(Value::as_u64).unwrap_or(0)
}

/// The seed of the request whose first slot is `first`.
fn request_seed(pipeline_seed: u64, stage: &str, first: u64) -> u64 {
    let mut h = pipeline_seed ^ 0x6b69_6c6e_6765_6e00; // "kilngen"
    for b in stage.bytes().chain(first.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One completion of a slot and what the generator made of it.
type Parsed = (Sample, Result<Vec<wit::DataRecord>, String>);

/// Runs the stage over a chunk of slots.
pub async fn run<'a>(cx: &'a ModelStage<'a>, slots: Vec<Record>) -> Result<StageOutput, StageError> {
    cx.in_batches(slots, run_batch).await
}

async fn run_batch(cx: &ModelStage<'_>, slots: Vec<Record>) -> Result<StageOutput, StageError> {
    let mut out = StageOutput::default();
    let quarantine = |record: Record, error: String| cx.quarantine(record, error);
    let first = slots.first().map_or(0, slot_index);
    let request = wit::GenerationRequest {
        count: slots.len() as u32,
        seed: request_seed(cx.seed, cx.name, first),
        seeds: if cx.uses.seeds.is_empty() {
            Vec::new()
        } else {
            slots
                .iter()
                .map(|s| cx.uses.seeds[(slot_index(s) % cx.uses.seeds.len() as u64) as usize].to_wit())
                .collect()
        },
    };
    let seed_ids: Vec<Option<String>> = request.seeds.iter().map(|s| Some(s.id.clone())).collect();
    let prompts = match cx.call(move |p| p.generator_prompts(&request)).await? {
        Ok(prompts) => prompts,
        Err(e) => {
            out.outcomes = slots.into_iter().map(|s| quarantine(s, format!("building prompts: {e}"))).collect();
            return Ok(out);
        }
    };
    let refs: Vec<&wit::Prompt> = prompts.iter().collect();
    let labels: Vec<&str> = slots.iter().map(|s| s.id.as_str()).collect();
    let answers = cx.complete(&refs, &labels, 0, &mut out.calls).await?;
    // Every sample of every answered slot goes to `parse` in one call.
    let mut completions = Vec::new();
    let mut owner = Vec::new();
    let mut samples = Vec::new();
    for (i, (prompt, answer)) in prompts.iter().zip(&answers).enumerate() {
        if let Ok(answer) = answer {
            for sample in answer {
                completions.push(wit::Completion { tag: prompt.tag.clone(), text: sample.text.clone() });
                samples.push(sample.clone());
                owner.push(i);
            }
        }
    }
    let parsed = if completions.is_empty() {
        Vec::new()
    } else {
        let batch = completions.clone();
        cx.call(move |p| p.generator_parse(&batch)).await?
    };
    let mut per_slot: Vec<Vec<Parsed>> = vec![Vec::new(); slots.len()];
    for ((i, sample), result) in owner.iter().zip(samples).zip(parsed) {
        let result = result
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|reason| format!("cannot parse the completion: {reason}")));
        per_slot[*i].push((sample, result));
    }
    let step = cx.step();
    for (i, (slot, answer)) in slots.into_iter().zip(answers).enumerate() {
        let parent = seed_ids.get(i).cloned().flatten();
        if let Err(e) = answer {
            out.outcomes.push(cx.quarantine_error(slot, &e));
            continue;
        }
        let total: usize = per_slot[i].iter().map(|(_, r)| r.as_ref().map_or(1, |v| v.len().max(1))).sum();
        let mut k = 0;
        for (Sample { text, truncated }, result) in std::mem::take(&mut per_slot[i]) {
            let failed = |error: String, out: &mut StageOutput| {
                let mut r = slot.clone();
                r.text = text.clone();
                let cut = if truncated { "; the completion was cut at max_tokens" } else { "" };
                out.outcomes.push(quarantine(r, format!("{error} (model `{}`){cut}", model_name(cx))));
            };
            match result {
                Err(error) => failed(error, &mut out),
                Ok(records) if records.is_empty() => {
                    let mut r = slot.clone();
                    r.text = text.clone();
                    out.outcomes.push(cx.reject(
                        r,
                        "no record in the completion".into(),
                        "no record in the completion".into(),
                    ));
                }
                Ok(records) => {
                    for record in records {
                        k += 1;
                        match Record::from_wit(record) {
                            Ok(mut r) => {
                                r.id = if total == 1 { slot.id.clone() } else { format!("{}-{k}", slot.id) };
                                r.lineage = Lineage {
                                    source: format!("stage:{}", cx.name),
                                    parent: parent.clone(),
                                    round: cx.uses.round,
                                    steps: vec![step.clone()],
                                };
                                if truncated {
                                    annotate(&mut r.metadata, "truncated", cx.name, json!(true));
                                }
                                out.outcomes.push(Outcome::Kept(r));
                            }
                            Err(e) => failed(format!("the plugin returned a bad record: {e}"), &mut out),
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn model_name(cx: &ModelStage<'_>) -> String {
    cx.model.as_ref().map_or_else(|| "none".into(), |m| m.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_sort_and_carry_their_index() {
        let s = slot("gen", 42, 5);
        assert_eq!(s.id, "gen-00042");
        assert_eq!(slot_index(&s), 42);
        assert_eq!(s.lineage.source, "stage:gen");
    }

    #[test]
    fn request_seeds_differ_by_stage_and_slot() {
        assert_ne!(request_seed(1, "a", 0), request_seed(1, "a", 64));
        assert_ne!(request_seed(1, "a", 0), request_seed(1, "b", 0));
        assert_ne!(request_seed(1, "a", 0), request_seed(2, "a", 0));
        assert_eq!(request_seed(1, "a", 0), request_seed(1, "a", 0));
    }
}
