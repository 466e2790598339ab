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
    /// Stage-specific counters (cluster sizes of `dedup`, matches per
    /// benchmark of `decontaminate`); chunk values add up to the run's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, i64>,
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
        for (key, n) in &other.details {
            *self.details.entry(key.clone()).or_default() += n;
        }
        self.details.retain(|_, n| *n != 0);
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
