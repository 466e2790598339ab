//! Counts of one stage, over one chunk or summed over a run: what the
//! manifest saves with every committed chunk and what `stats.json` and the
//! report are made of. A leaf module: the work directory stores these, so
//! they depend on nothing of the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::record::Record;

/// Counts and timing of one stage (over one chunk, or summed over a run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    /// Stage name.
    pub name: String,
    /// Records that reached the stage.
    pub input: u64,
    /// Records it kept.
    pub kept: u64,
    /// Records it rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Records it quarantined.
    pub quarantined: u64,
    /// Records it created beyond one per input (a `generate` stage's slot may
    /// yield several); input + generated = kept + rejected + quarantined.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generated: u64,
    /// Wall-clock seconds the stage spent on its chunks.
    pub seconds: f64,
    /// The stage is a barrier (training, evaluation): records pass through it
    /// untouched and its work is a job, so a records-per-second rate means
    /// nothing for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub barrier: bool,
    /// What its model calls cost, and stage-specific counters (cluster
    /// sizes of `dedup`, matches per benchmark of `decontaminate`); chunk
    /// values add up to the run's.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// What a model-backed stage's calls cost, as typed counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelCalls {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
    /// Completions answered from the request cache.
    pub cache_hits: u64,
    /// Prompt tokens paid for.
    pub prompt_tokens: u64,
    /// Completion tokens paid for.
    pub completion_tokens: u64,
    /// Records whose model call failed for good.
    pub model_errors: u64,
    /// Samples beyond each prompt's first asked for in requests of their
    /// own because the server ignored `n`: the requests the quirk cost.
    pub separate_samples: u64,
    /// Completions the server cut at `max_tokens` (finish reason `length`).
    pub truncated: u64,
}

impl ModelCalls {
    /// Every counter with the key it has in `details`.
    fn fields(&mut self) -> [(&'static str, &mut u64); 8] {
        [
            ("requests", &mut self.requests),
            ("retries", &mut self.retries),
            ("cache_hits", &mut self.cache_hits),
            ("prompt_tokens", &mut self.prompt_tokens),
            ("completion_tokens", &mut self.completion_tokens),
            ("model_errors", &mut self.model_errors),
            ("separate_samples", &mut self.separate_samples),
            ("truncated", &mut self.truncated),
        ]
    }

    /// Adds another chunk's (or reply's) counts.
    pub fn add(&mut self, other: &ModelCalls) {
        let mut other = *other;
        for ((_, mine), (_, theirs)) in self.fields().into_iter().zip(other.fields()) {
            *mine += *theirs;
        }
    }

    /// The tokens paid for.
    pub fn usage(&self) -> crate::model::Usage {
        crate::model::Usage { prompt_tokens: self.prompt_tokens, completion_tokens: self.completion_tokens }
    }
}

/// A stage's counters: its model calls as typed fields and its own
/// counters by name. Written as one map (`details` in `stats.json` and in
/// the manifest, the form earlier versions wrote, so their work directories
/// resume): the model counters under their field names, when not zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// What its model calls cost.
    pub calls: ModelCalls,
    /// Stage-specific counters, by name.
    pub counters: BTreeMap<String, i64>,
}

impl Details {
    /// Every counter that is not zero, by name.
    pub fn entries(&self) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> =
            self.counters.iter().filter(|(_, n)| **n != 0).map(|(k, n)| (k.clone(), *n)).collect();
        let mut calls = self.calls;
        for (key, n) in calls.fields() {
            if *n != 0 {
                out.insert(key.to_string(), i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        out
    }

    /// Whether every counter is zero.
    pub fn is_empty(&self) -> bool {
        self.calls == ModelCalls::default() && self.counters.values().all(|n| *n == 0)
    }

    /// Adds another chunk's counters.
    pub fn add(&mut self, other: &Details) {
        self.calls.add(&other.calls);
        for (key, n) in &other.counters {
            *self.counters.entry(key.clone()).or_default() += n;
        }
        self.counters.retain(|_, n| *n != 0);
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut counters = BTreeMap::<String, i64>::deserialize(deserializer)?;
        let mut calls = ModelCalls::default();
        for (key, n) in calls.fields() {
            if let Some(v) = counters.remove(key) {
                *n = u64::try_from(v).unwrap_or(0);
            }
        }
        Ok(Details { calls, counters })
    }
}

impl StageStats {
    /// Empty statistics for stage `name`.
    pub fn new(name: &str) -> Self {
        StageStats { name: name.to_string(), ..Default::default() }
    }

    /// Counts one outcome. Inputs are counted apart ([`StageStats::input`]):
    /// a `generate` stage may turn one slot into several outcomes.
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Kept(_) => self.kept += 1,
            Outcome::Rejected(r) => *self.rejected.entry(r.rejected.reason_class.clone()).or_default() += 1,
            Outcome::Quarantined(_) => self.quarantined += 1,
        }
    }

    /// Adds another chunk's statistics of the same stage.
    pub fn add(&mut self, other: &StageStats) {
        self.input += other.input;
        self.kept += other.kept;
        for (reason, n) in &other.rejected {
            *self.rejected.entry(reason.clone()).or_default() += n;
        }
        self.quarantined += other.quarantined;
        self.generated += other.generated;
        self.seconds += other.seconds;
        self.details.add(&other.details);
    }

    /// Records rejected, over all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Outcomes beyond one per input: kept + rejected + quarantined − input.
    pub fn extra_outcomes(&self) -> u64 {
        (self.kept + self.rejected_total() + self.quarantined).saturating_sub(self.input)
    }
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Distributions for the report: text lengths and scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Text lengths (characters) of the records read, by power-of-two bin:
    /// bin `k` counts lengths in `[2^k, 2^(k+1))`; bin 0 also counts 0.
    pub input_lengths: Vec<u64>,
    /// The same for the records kept.
    pub kept_lengths: Vec<u64>,
    /// Scores on kept records: score name, then value (3 significant digits), then count.
    pub scores: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Histograms {
    /// The power-of-two bin of a length.
    pub fn length_bin(chars: usize) -> usize {
        (usize::BITS - chars.max(1).leading_zeros() - 1) as usize
    }

    fn bump(bins: &mut Vec<u64>, bin: usize) {
        if bins.len() <= bin {
            bins.resize(bin + 1, 0);
        }
        bins[bin] += 1;
    }

    /// Counts a record read.
    pub fn count_input(&mut self, record: &Record) {
        Self::bump(&mut self.input_lengths, Self::length_bin(record.text.chars().count()));
    }

    /// Counts a record kept.
    pub fn count_kept(&mut self, record: &Record) {
        Self::bump(&mut self.kept_lengths, Self::length_bin(record.text.chars().count()));
        for (name, value) in &record.scores {
            *self.scores.entry(name.clone()).or_default().entry(format!("{value:.3e}")).or_default() += 1;
        }
    }

    /// Adds another chunk's distributions.
    pub fn add(&mut self, other: &Histograms) {
        for (mine, theirs) in
            [(&mut self.input_lengths, &other.input_lengths), (&mut self.kept_lengths, &other.kept_lengths)]
        {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        for (name, values) in &other.scores {
            let mine = self.scores.entry(name.clone()).or_default();
            for (v, n) in values {
                *mine.entry(v.clone()).or_default() += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_by_class_not_by_text() {
        let mut stats = StageStats::new("classify");
        for p in ["0.123", "0.456"] {
            stats.count(&Outcome::Rejected(crate::outcome::Rejected {
                record: Record::new("r", "text"),
                rejected: crate::outcome::Rejection::new(
                    "classify",
                    "builtin:classify",
                    "classify:quality:below-min",
                    format!("classify: quality {p} < 0.5"),
                ),
            }));
        }
        assert_eq!(stats.rejected.into_iter().collect::<Vec<_>>(), [("classify:quality:below-min".to_string(), 2)]);
    }

    #[test]
    fn lengths_fall_in_power_of_two_bins() {
        assert_eq!(Histograms::length_bin(0), 0);
        assert_eq!(Histograms::length_bin(1), 0);
        assert_eq!(Histograms::length_bin(3), 1);
        assert_eq!(Histograms::length_bin(1024), 10);
        let mut h = Histograms::default();
        let mut r = Record::new("a", "abcd");
        r.scores.insert("q".into(), 0.5);
        h.count_kept(&r);
        let mut total = Histograms::default();
        total.add(&h);
        total.add(&h);
        assert_eq!(total.kept_lengths, vec![0, 0, 2]);
        assert_eq!(total.scores["q"]["5.000e-1"], 2);
    }

    #[test]
    fn model_calls_are_typed_and_written_as_the_details_map_they_were() {
        let old = r#"{"cluster size 2":3,"completion_tokens":7,"prompt_tokens":5,"requests":2}"#;
        let details: Details = serde_json::from_str(old).expect("an earlier manifest's details read");
        assert_eq!(
            details.calls,
            ModelCalls { requests: 2, prompt_tokens: 5, completion_tokens: 7, ..Default::default() }
        );
        assert_eq!(details.counters.into_iter().collect::<Vec<_>>(), [("cluster size 2".to_string(), 3)]);
        let again: Details = serde_json::from_str(old).expect("reads");
        assert_eq!(serde_json::to_string(&again).expect("writes"), old, "written back byte for byte");
        assert!(Details::default().is_empty());
    }

    #[test]
    fn chunk_stats_add_up() {
        let mut a = StageStats::new("s");
        a.input = 3;
        a.kept = 2;
        a.rejected.insert("r".into(), 1);
        let mut total = StageStats::new("s");
        total.add(&a);
        total.add(&a);
        assert_eq!((total.input, total.kept, total.rejected_total()), (6, 4, 2));
    }
}
