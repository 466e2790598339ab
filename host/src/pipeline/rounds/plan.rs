//! A checked `[rounds]` section, ready to run: the arms with their stages
//! built for every round, the training settings, the monitor and its alarms.
//! Built by [`build`](crate::pipeline::build) with the rest of the file, so
//! that every problem of every round is reported before round 0 starts.

use std::sync::Arc;

use crate::pipeline::config::rounds::{AlarmAction, MonitorConfig};
use crate::pipeline::stages::Stage;
use crate::pipeline::stages::train_student::StudentStageConfig;

/// How an arm composes the training pool of round `k`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Policy {
    /// Only round `k`'s synthetic records.
    Replace,
    /// The real records and every round's synthetic records so far.
    Accumulate,
    /// `size` records, `real_fraction` of them real, the rest round `k`'s synthetic ones.
    Mix {
        /// Share of real records, in [0, 1].
        real_fraction: f64,
        /// Records in the pool.
        size: u64,
    },
    /// `size` records sampled from the accumulated pool.
    AccumulateSubsample {
        /// Records in the pool.
        size: u64,
    },
}

impl Policy {
    /// The policy's name in a pipeline file.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Replace => "replace",
            Policy::Accumulate => "accumulate",
            Policy::Mix { .. } => "mix",
            Policy::AccumulateSubsample { .. } => "accumulate-subsample",
        }
    }

    /// `mix r=0.1 n=2000`-style summary for reports.
    pub fn describe(&self) -> String {
        match self {
            Policy::Mix { real_fraction, size } => format!("mix r={real_fraction} n={size}"),
            Policy::AccumulateSubsample { size } => format!("accumulate-subsample n={size}"),
            other => other.name().to_string(),
        }
    }
}

/// One arm: a policy and the stages of each of its rounds.
#[derive(Debug)]
pub struct ArmPlan {
    /// Its name.
    pub name: String,
    /// How it composes pools.
    pub policy: Policy,
    /// The data stages of round `k` at index `k − 1` (the round's
    /// `train-student` stage excluded; skipped stages left out).
    pub rounds: Vec<Vec<Stage>>,
    /// What of the file determines round `k`'s data (for its work
    /// directory's fingerprint), at index `k − 1`.
    pub sources: Vec<String>,
    /// Where the arm is declared (`file:line:col`), for errors found at run time.
    pub location: String,
}

/// A real held-out item of the monitor.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct MonitorItem {
    /// A real text, scored for perplexity.
    #[serde(default)]
    pub text: Option<String>,
    /// A prompt whose completion is checked against `answer`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The right final answer.
    #[serde(default)]
    pub answer: Option<serde_json::Value>,
    /// Problem classes, for per-class accuracy.
    #[serde(default)]
    pub classes: Vec<String>,
}

impl MonitorItem {
    /// The answer as text (numbers written as JSON writes them).
    pub fn answer_text(&self) -> Option<String> {
        match &self.answer {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        }
    }
}

/// An alarm: an arm's mean of `metric` below or above a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// The metric.
    pub metric: String,
    /// Fires below this.
    pub below: Option<f64>,
    /// Fires above this.
    pub above: Option<f64>,
    /// Warn or stop.
    pub action: AlarmAction,
}

/// A checked `[rounds]`.
#[derive(Debug)]
pub struct RoundsPlan {
    /// Rounds after round 0.
    pub count: u32,
    /// Round `k` uses the student of round `max(k − lag, 0)`.
    pub lag: u32,
    /// The model each round's student replaces.
    pub model: String,
    /// Round 0's `train-student` stage.
    pub first: String,
    /// One chain per seed.
    pub seeds: Vec<u64>,
    /// The rounds' `train-student` stage: its name and settings (one seed per chain).
    pub train: (String, StudentStageConfig),
    /// The real held-out items (empty: none given).
    pub heldout: Arc<Vec<MonitorItem>>,
    /// The held-out file as written (for messages).
    pub heldout_file: Option<String>,
    /// The monitor's settings.
    pub monitor: MonitorConfig,
    /// The alarms.
    pub alarms: Vec<Alarm>,
    /// The arms, in file order.
    pub arms: Vec<ArmPlan>,
    /// Round 0's `refine` stages: what they touched counts as refined, not real.
    pub refiners: Vec<String>,
}

impl RoundsPlan {
    /// A shortened run (`kiln run --rounds N --arms a,b`): the first `rounds`
    /// rounds only, the named arms only. Committed rounds do not depend on
    /// either, so a later full run reuses what a shortened one did.
    pub fn shorten(&mut self, rounds: Option<u32>, arms: Option<&[String]>) -> Result<(), String> {
        if let Some(n) = rounds {
            if n == 0 || n > self.count {
                return Err(format!("--rounds {n}: the pipeline declares rounds 1 to {}", self.count));
            }
            self.count = n;
            for arm in &mut self.arms {
                arm.rounds.truncate(n as usize);
                arm.sources.truncate(n as usize);
            }
        }
        if let Some(names) = arms {
            let known: Vec<&str> = self.arms.iter().map(|a| a.name.as_str()).collect();
            if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
                return Err(format!("--arms: no arm named `{unknown}`; the pipeline's arms: {}", known.join(", ")));
            }
            self.arms.retain(|a| names.contains(&a.name));
        }
        Ok(())
    }
}

/// The metrics an alarm may name (see `docs/rounds.md`).
pub const METRICS: [&str; 13] = [
    "nll",
    "perplexity",
    "perplexity_rise",
    "accuracy",
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "near_duplicate_rate",
    "mean_pairwise_similarity",
    "tail_coverage",
    "entropy_bits",
    "js_divergence",
    "pool_records",
];
