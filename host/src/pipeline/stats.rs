//! Per-stage statistics of a run, summed over chunks, written as `stats.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::run::Outcome;

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
    /// Wall-clock seconds the stage spent on its chunks.
    pub seconds: f64,
}

impl StageStats {
    /// Empty statistics for stage `name`.
    pub fn new(name: &str) -> Self {
        StageStats { name: name.to_string(), ..Default::default() }
    }

    /// Counts one outcome.
    pub fn count(&mut self, outcome: &Outcome) {
        self.input += 1;
        match outcome {
            Outcome::Kept(_) => self.kept += 1,
            Outcome::Rejected(r) => *self.rejected.entry(reason_class(&r.rejected.reason)).or_default() += 1,
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
        self.seconds += other.seconds;
    }

    /// Records rejected, over all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// The reason without record-specific detail, for counting: `duplicate of r17`
/// counts as `duplicate`.
fn reason_class(reason: &str) -> String {
    match reason.split_once(" of ") {
        Some((class, _)) => class.to_string(),
        None => reason.to_string(),
    }
}

/// `stats.json`: the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Pipeline name.
    pub pipeline: String,
    /// Input lines read.
    pub input_lines: u64,
    /// Input lines that were not records (quarantined at `input`).
    pub unreadable: u64,
    /// Per stage, in order.
    pub stages: Vec<StageStats>,
    /// Records in the kept output.
    pub kept: u64,
    /// Records in the rejected output.
    pub rejected: u64,
    /// Records (and lines) in the quarantine output.
    pub quarantined: u64,
    /// Chunks committed.
    pub chunks: u64,
    /// Chunks that an earlier, interrupted run had committed.
    pub resumed_chunks: u64,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
}

impl RunStats {
    /// Whether every input line is accounted for: kept + rejected + quarantined == lines.
    pub fn balanced(&self) -> bool {
        self.kept + self.rejected + self.quarantined == self.input_lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_by_class() {
        assert_eq!(reason_class("duplicate of r17"), "duplicate");
        assert_eq!(reason_class("gopher_short_doc"), "gopher_short_doc");
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
