//! `[rounds]`: recursive training as written in a pipeline file — how many
//! rounds follow round 0 (the file's `[[stage]]`s), which declared model
//! each round's student replaces, the stages of every round, the arms run
//! side by side (each a policy for composing a round's training pool) and
//! the collapse monitor's settings and alarms.
//!
//! These are the file's words, with spans for errors; the checks and the
//! built plan are in [`build::rounds`](crate::pipeline::build) and
//! [`rounds`](crate::pipeline::rounds).

use serde::Deserialize;
use toml::Spanned;

use super::StageConfig;

/// `[rounds]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundsConfig {
    /// Rounds after round 0 (rounds `1..=count`).
    pub count: Spanned<u32>,
    /// The declared `student` model (`backend = "student"`, `stage = <round
    /// 0's train-student stage>`) that, in round `k`, is the student trained
    /// in round `k − lag`, of the chain's seed.
    pub model: Spanned<String>,
    /// How many rounds back the student a round uses was trained (default
    /// 1: the previous round's; a lag reaching before round 0 uses round 0's).
    #[serde(default)]
    pub lag: Option<Spanned<u32>>,
    /// One chain of rounds per seed (default: every seed round 0's stage trains).
    #[serde(default)]
    pub seeds: Option<Spanned<Vec<u64>>>,
    /// A JSONL file of **real** held-out items for the monitor, relative to
    /// the pipeline file: `text` (scored for perplexity), and optionally
    /// `prompt` + `answer` (exact-match accuracy) and `classes`.
    #[serde(default)]
    pub heldout: Option<Spanned<String>>,
    /// The collapse monitor's settings.
    #[serde(default)]
    pub monitor: MonitorConfig,
    /// Thresholds that warn or stop an arm.
    #[serde(default)]
    pub alarm: Vec<AlarmConfig>,
    /// The stages of every round `k ≥ 1`, in order; the last is the
    /// `train-student` stage that trains the round's student on its pool.
    #[serde(default)]
    pub stage: Vec<StageConfig>,
    /// The arms, run side by side from the same round 0.
    #[serde(default)]
    pub arm: Vec<ArmConfig>,
}

/// `[rounds.monitor]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Texts sampled from each round's student (default 128).
    pub samples: usize,
    /// Most characters per sample (default 256).
    pub sample_chars: usize,
    /// Sampling temperature of the monitor's samples (default 1.0).
    pub temperature: f64,
    /// Character n-gram length of entropy, divergence and tail coverage (default 3).
    pub ngram: usize,
    /// An n-gram is rare in the real data when it occurs at most this often (default 2).
    pub rare_max_count: u64,
    /// What precedes the answer in a completion (default `Answer:`).
    pub answer_prefix: String,
    /// Most characters a student writes per held-out prompt (default 96).
    pub max_new: usize,
    /// Most texts of a round's data measured for diversity (default 1000).
    pub diversity_sample: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            samples: 128,
            sample_chars: 256,
            temperature: 1.0,
            ngram: 3,
            rare_max_count: 2,
            answer_prefix: "Answer:".into(),
            max_new: 96,
            diversity_sample: 1000,
        }
    }
}

/// `[[rounds.alarm]]`: `metric` below or above a bound.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// A monitor metric (`tail_coverage`, `perplexity_rise`, …).
    pub metric: Spanned<String>,
    /// Fires when the arm's mean is below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// Fires when the arm's mean is above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// `warn` (default: recorded and reported) or `stop` (the arm runs no further round).
    #[serde(default)]
    pub action: AlarmAction,
}

/// What an alarm does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmAction {
    /// Record it; the arm goes on.
    #[default]
    Warn,
    /// Record it and stop the arm.
    Stop,
}

/// `[[rounds.arm]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmConfig {
    /// Unique name, used in reports and directories.
    pub name: Spanned<String>,
    /// `replace`, `accumulate`, `mix` or `accumulate-subsample`.
    pub policy: Spanned<String>,
    /// `mix`: the share of real records in the pool, in [0, 1].
    #[serde(default)]
    pub real_fraction: Option<Spanned<f64>>,
    /// `mix`, `accumulate-subsample`: records in the pool.
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
    /// Round stages this arm leaves out (e.g. the verifier, for a no-filter arm).
    #[serde(default)]
    pub skip: Vec<Spanned<String>>,
    /// Settings merged into round stages' `config`, by stage name.
    #[serde(default)]
    pub config: toml::Table,
}
