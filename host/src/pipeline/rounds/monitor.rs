//! The collapse monitor: what one round's student and data look like,
//! measured the same way every round so that the curves are comparable.
//!
//! - on a fixed **real** held-out set: negative log-likelihood (nats per
//!   character) and perplexity of the student, and exact-match accuracy on
//!   items with a `prompt` and an `answer` (overall and per class);
//! - on the round's data (what its stages kept): distinct-1/2/3, the
//!   near-duplicate rate and the mean pairwise MinHash similarity;
//! - on samples drawn from the student (`monitor.samples` of them, at
//!   `monitor.temperature`, unconditioned or continuing held-out prompts):
//!   tail coverage (the share of the real reference's rare character n-grams
//!   they produce), their n-gram entropy, and the Jensen–Shannon divergence of
//!   their n-gram distribution from the reference's.
//!
//! The reference is the held-out texts, else round 0's real records. A
//! metric that cannot be computed is listed in `unavailable` with the reason,
//! never shown as zero.

use std::collections::BTreeMap;
use std::path::Path;

use aho_corasick::AhoCorasick;
use kiln_kernels::Compute;
use kiln_kernels::drift::{NgramProfile, js_divergence, tail_coverage};
use kiln_kernels::student::{CharLm, Predictor};
use serde::{Deserialize, Serialize};

use super::plan::MonitorItem;
use crate::pipeline::config::rounds::MonitorConfig;
use crate::pipeline::report::diversity::Diversity;

/// What the monitor measured in one round, for one chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Metric values by name (see [`METRICS`](super::plan::METRICS)).
    pub metrics: BTreeMap<String, f64>,
    /// Metrics that could not be computed, with the reason.
    pub unavailable: BTreeMap<String, String>,
    /// Accuracy per problem class of the held-out items.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_class: BTreeMap<String, f64>,
    /// Held-out items scored for accuracy, and those left out because the
    /// student trained on their prompt.
    pub heldout_scored: usize,
    /// See `heldout_scored`.
    pub heldout_left_out: usize,
    /// The first few of the student's samples.
    pub samples: Vec<String>,
}

/// What one measurement needs.
pub struct Input<'a> {
    /// The student's checkpoint.
    pub checkpoint: &'a Path,
    /// Where its forward passes run.
    pub compute: &'a Compute,
    /// The settings.
    pub config: &'a MonitorConfig,
    /// The real held-out items.
    pub heldout: &'a [MonitorItem],
    /// Round 0's real texts (the reference when there is no held-out text).
    pub real: &'a [String],
    /// The round's data.
    pub data: &'a [String],
    /// What the student trained on (held-out prompts found there are left out).
    pub trained_on: &'a [String],
    /// Seed of the samples.
    pub seed: u64,
}

/// Measures one round; an error only when the checkpoint cannot be used.
pub fn measure(input: &Input<'_>) -> Result<Measured, String> {
    let (lm, _) = CharLm::load(input.checkpoint, None).map_err(|e| e.to_string())?;
    let predictor = Predictor::new(input.compute, lm).map_err(|e| e.to_string())?;
    let mut out = Measured::default();
    likelihood(&predictor, input, &mut out)?;
    accuracy(&predictor, input, &mut out)?;
    diversity(input, &mut out);
    let samples = samples(&predictor, input)?;
    drift(input, &samples, &mut out);
    out.samples = samples.into_iter().take(3).collect();
    Ok(out)
}

fn unavailable(out: &mut Measured, metrics: &[&str], reason: &str) {
    for m in metrics {
        out.unavailable.insert((*m).to_string(), reason.to_string());
    }
}

fn likelihood(predictor: &Predictor, input: &Input<'_>, out: &mut Measured) -> Result<(), String> {
    let texts: Vec<&str> = input.heldout.iter().filter_map(|i| i.text.as_deref()).collect();
    if texts.is_empty() {
        let reason = if input.heldout.is_empty() {
            "no held-out file: set `rounds.heldout` to a JSONL file of real texts"
        } else {
            "the held-out items have no `text`"
        };
        unavailable(out, &["nll", "perplexity", "perplexity_rise"], reason);
        return Ok(());
    }
    let (nll, _) = predictor.cross_entropy(texts).map_err(|e| e.to_string())?;
    out.metrics.insert("nll".into(), nll);
    out.metrics.insert("perplexity".into(), nll.exp());
    Ok(())
}

fn accuracy(predictor: &Predictor, input: &Input<'_>, out: &mut Measured) -> Result<(), String> {
    let checkable: Vec<(&str, String, &[String])> = input
        .heldout
        .iter()
        .filter_map(|i| Some((i.prompt.as_deref()?, i.answer_text()?, i.classes.as_slice())))
        .collect();
    if checkable.is_empty() {
        unavailable(out, &["accuracy"], "no checkable answers: held-out items need `prompt` and `answer`");
        return Ok(());
    }
    let seen = match AhoCorasick::new(checkable.iter().map(|(p, _, _)| *p)) {
        Ok(ac) => {
            let mut seen = vec![false; checkable.len()];
            for text in input.trained_on {
                for m in ac.find_overlapping_iter(text.as_str()) {
                    seen[m.pattern().as_usize()] = true;
                }
            }
            seen
        }
        Err(_) => vec![false; checkable.len()],
    };
    let scored: Vec<&(&str, String, &[String])> =
        checkable.iter().zip(&seen).filter(|(_, s)| !**s).map(|(c, _)| c).collect();
    out.heldout_left_out = checkable.len() - scored.len();
    out.heldout_scored = scored.len();
    if scored.is_empty() {
        unavailable(out, &["accuracy"], "the student trained on every held-out prompt");
        return Ok(());
    }
    let prompts: Vec<&str> = scored.iter().map(|(p, _, _)| *p).collect();
    let answers = predictor.complete(&prompts, input.config.max_new, 0.0, &[]).map_err(|e| e.to_string())?;
    let mut classes: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut right = 0u64;
    for ((_, answer, item_classes), completion) in scored.iter().zip(&answers) {
        let ok = crate::pipeline::stages::evaluate::extract(completion, &input.config.answer_prefix).as_deref()
            == Some(answer.as_str());
        right += u64::from(ok);
        for class in item_classes.iter() {
            let c = classes.entry(class.as_str()).or_default();
            c.0 += u64::from(ok);
            c.1 += 1;
        }
    }
    out.metrics.insert("accuracy".into(), right as f64 / scored.len() as f64);
    out.by_class = classes.into_iter().map(|(k, (r, n))| (k.to_string(), r as f64 / n as f64)).collect();
    Ok(())
}

fn diversity(input: &Input<'_>, out: &mut Measured) {
    let keys = ["distinct_1", "distinct_2", "distinct_3", "near_duplicate_rate", "mean_pairwise_similarity"];
    if input.data.len() < 2 {
        unavailable(out, &keys, "the round kept fewer than two records");
        return;
    }
    let step = input.data.len().div_ceil(input.config.diversity_sample).max(1);
    let sample: Vec<String> = input.data.iter().step_by(step).cloned().collect();
    match Diversity::measure(&sample) {
        Some(d) => {
            for (key, value) in keys.into_iter().zip([
                d.distinct_1,
                d.distinct_2,
                d.distinct_3,
                d.near_duplicate_rate,
                d.mean_pairwise_similarity,
            ]) {
                out.metrics.insert(key.into(), value);
            }
        }
        None => unavailable(out, &keys, "the MinHash kernel is unavailable"),
    }
}

/// The student's samples: continuations of held-out prompts when there are
/// some (prompt included), else unconditioned texts.
fn samples(predictor: &Predictor, input: &Input<'_>) -> Result<Vec<String>, String> {
    let n = input.config.samples;
    let prompts: Vec<&str> = {
        let held: Vec<&str> = input.heldout.iter().filter_map(|i| i.prompt.as_deref()).collect();
        if held.is_empty() { vec![""; n] } else { held.iter().cycle().take(n).copied().collect() }
    };
    let seeds: Vec<u64> = (0..n as u64).map(|i| input.seed.wrapping_mul(1_000_003).wrapping_add(i)).collect();
    let temperature = input.config.temperature as f32;
    let seeds = if temperature > 0.0 { seeds } else { Vec::new() };
    let completions =
        predictor.complete(&prompts, input.config.sample_chars, temperature, &seeds).map_err(|e| e.to_string())?;
    Ok(prompts.iter().zip(completions).map(|(p, c)| format!("{p}{c}")).collect())
}

fn drift(input: &Input<'_>, samples: &[String], out: &mut Measured) {
    let held: Vec<&str> = input.heldout.iter().filter_map(|i| i.text.as_deref()).collect();
    let reference: Vec<&str> = if held.is_empty() { input.real.iter().map(String::as_str).collect() } else { held };
    let n = input.config.ngram;
    let sampled = NgramProfile::of(samples, n);
    if sampled.total > 0 {
        out.metrics.insert("entropy_bits".into(), sampled.entropy_bits());
    } else {
        unavailable(out, &["entropy_bits"], "the student's samples are empty");
    }
    if reference.is_empty() {
        unavailable(
            out,
            &["tail_coverage", "js_divergence"],
            "no real text to compare with: give `rounds.heldout` (texts) or real `[[input]]` data",
        );
        return;
    }
    let real = NgramProfile::of(&reference, n);
    match tail_coverage(&real, &sampled, input.config.rare_max_count).share() {
        Some(share) => {
            out.metrics.insert("tail_coverage".into(), share);
        }
        None => unavailable(out, &["tail_coverage"], "the real reference has no rare n-gram"),
    }
    match js_divergence(&real, &sampled) {
        Some(js) => {
            out.metrics.insert("js_divergence".into(), js);
        }
        None => unavailable(out, &["js_divergence"], "the student's samples are empty"),
    }
}
