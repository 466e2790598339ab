//! `stats.json`: the whole run — every stage's counts, the outputs' sizes,
//! the jobs' reports and the diversity of what was kept.

use serde::{Deserialize, Serialize};

use crate::pipeline::report::counts::{Histograms, StageStats, is_zero};

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
    /// Records created by `generate` stages beyond one per slot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generated: u64,
    /// Chunks committed.
    pub chunks: u64,
    /// Chunks that an earlier, interrupted run had committed.
    pub resumed_chunks: u64,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// Distributions of lengths and scores.
    pub histograms: Histograms,
    /// Diversity of the kept output, measured on an evenly spaced sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<crate::pipeline::report::diversity::Diversity>,
    /// What the barrier stages' jobs (training, evaluation) reported, in stage order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<crate::pipeline::stages::JobReport>,
    /// Quarantined records by stage and kind of error, largest group first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<crate::pipeline::report::quarantine::QuarantineGroup>,
    /// Recursive rounds after the stages (`[rounds]`): every arm's curves and alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<crate::pipeline::rounds::summary::RoundsReport>,
}

impl RunStats {
    /// Whether every input line (or generation slot) is accounted for:
    /// kept + rejected + quarantined == lines + generated.
    pub fn balanced(&self) -> bool {
        self.kept + self.rejected + self.quarantined == self.input_lines + self.generated
    }
}
