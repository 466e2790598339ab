//! The rounds' part of `stats.json`: for every arm and round, each chain's
//! measurements, pool and data counts, the mean of every metric over seeds
//! with its 95% interval, and the alarms that fired. The report draws its
//! curves from these values alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::monitor::Measured;
use super::pool::PoolCounts;
use crate::pipeline::config::rounds::AlarmAction;
use crate::pipeline::stages::evaluate::Interval;

/// `stats.json` → `rounds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundsReport {
    /// Rounds after round 0.
    pub count: u32,
    /// Round `k` used the student of round `max(k − lag, 0)`.
    pub lag: u32,
    /// The model each round's student replaced.
    pub model: String,
    /// The chains' seeds.
    pub seeds: Vec<u64>,
    /// The monitor's held-out file, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout: Option<String>,
    /// Every arm, in file order; each starts with the shared round 0.
    pub arms: Vec<ArmReport>,
    /// Metrics that could not be computed, with the reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
    /// Declared models evaluated by round 0's `eval` stages (the teacher):
    /// the level each round's student is compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Wall-clock seconds spent on rounds `1..=count` in this invocation.
    pub seconds: f64,
}

/// A model's held-out accuracy, as round 0's `eval` stage measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The model.
    pub model: String,
    /// The `eval` stage that measured it.
    pub stage: String,
    /// Its accuracy with a 95% interval over items.
    pub accuracy: Interval,
    /// Per problem class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_class: BTreeMap<String, Interval>,
}

/// One arm's rounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmReport {
    /// Its name.
    pub name: String,
    /// Its policy, e.g. `mix r=0.1 n=2000`.
    pub policy: String,
    /// Round 0 (shared) and every round it ran.
    pub rounds: Vec<RoundSummary>,
    /// The round after which a `stop` alarm ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_after: Option<u32>,
    /// Alarms that fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmEvent>,
}

/// One round of one arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// The round.
    pub round: u32,
    /// Each chain (seed).
    pub chains: Vec<ChainRound>,
    /// Mean of each metric over the chains, with its 95% interval (and of
    /// each class's accuracy, as `accuracy:<class>`).
    pub mean: BTreeMap<String, Interval>,
}

/// One round of one chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainRound {
    /// The chain's seed.
    pub seed: u64,
    /// What the monitor measured.
    pub measured: Measured,
    /// What the student trained on.
    pub pool: PoolCounts,
    /// The round's data: generation slots, and what its stages kept,
    /// rejected and quarantined (0 for round 0: see the run's own counts).
    pub data: DataCounts,
    /// The student it trained: `<round dir>/…/model.safetensors`.
    pub student: String,
}

/// A round's data, as its stages left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataCounts {
    /// Slots and generated records.
    pub records: u64,
    /// Kept.
    pub kept: u64,
    /// Rejected.
    pub rejected: u64,
    /// Quarantined.
    pub quarantined: u64,
}

/// An alarm that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// The round.
    pub round: u32,
    /// The metric.
    pub metric: String,
    /// The arm's mean.
    pub value: f64,
    /// `< 0.5` or `> 0.1`.
    pub bound: String,
    /// Warn or stop.
    pub action: AlarmAction,
    /// One line for logs and the report.
    pub message: String,
}

/// The prefix of per-class accuracy in [`RoundSummary::mean`]: `accuracy:carry`.
pub const CLASS_ACCURACY: &str = "accuracy:";

impl RoundSummary {
    /// A round of `chains`, with the mean of every metric each chain measured.
    pub fn of(round: u32, chains: Vec<ChainRound>) -> RoundSummary {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for chain in &chains {
            for (name, value) in &chain.measured.metrics {
                values.entry(name.clone()).or_default().push(*value);
            }
            for (class, value) in &chain.measured.by_class {
                values.entry(format!("{CLASS_ACCURACY}{class}")).or_default().push(*value);
            }
            values.entry("pool_records".into()).or_default().push(chain.pool.total() as f64);
        }
        let mean = values.into_iter().map(|(k, v)| (k, Interval::of(&v))).collect();
        RoundSummary { round, chains, mean }
    }
}
