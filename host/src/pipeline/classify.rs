//! The `classify` stage: scores every record with the classifier an earlier
//! `train-classifier` stage trained, on the kernel device (the GPU when there
//! is one, with the CPU as fallback), and keeps records scoring at least
//! `min_score`. The score is stored as `scores.<score>`; a record below the
//! threshold is rejected with `classify: <score> <p> < <min_score>`.

use std::sync::Arc;

use kiln_kernels::classifier::Classifier;
use serde::{Deserialize, Serialize};

use super::compute;
use crate::record::Record;
use crate::run::{Outcome, Rejected, Rejection};

/// `config` of a `classify` stage.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// The `train-classifier` stage whose classifier to use.
    pub classifier: String,
    /// Keep records scoring at least this (default 0.5).
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// Name of the score (default: the classifier stage's name).
    #[serde(default)]
    pub score: Option<String>,
}

fn default_min_score() -> f64 {
    0.5
}

impl ClassifyConfig {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(format!("min_score must be in [0, 1], got {}", self.min_score));
        }
        Ok(())
    }

    /// The score's name.
    pub fn score_name(&self) -> &str {
        self.score.as_deref().unwrap_or(&self.classifier)
    }
}

/// Scores and filters `records`.
pub fn apply(
    stage: &str,
    config: &ClassifyConfig,
    classifier: &Arc<Classifier>,
    records: Vec<Record>,
) -> Result<Vec<Outcome>, String> {
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let probs = compute::with_fallback("classify", |c| classifier.predict(c.clone(), &texts).map_err(into_device))?;
    let name = config.score_name().to_string();
    Ok(records
        .into_iter()
        .zip(probs)
        .map(|(mut record, p)| {
            let p = f64::from(p);
            record.scores.insert(name.clone(), p);
            if p >= config.min_score {
                Outcome::Kept(record)
            } else {
                Outcome::Rejected(Rejected {
                    record,
                    rejected: Rejection {
                        stage: stage.to_string(),
                        plugin: "builtin:classify".into(),
                        reason: format!("classify: {name} {p:.3} < {}", config.min_score),
                    },
                })
            }
        })
        .collect())
}

/// An [`NnError`](kiln_kernels::nn::NnError) as the device error `with_fallback` expects.
fn into_device(e: kiln_kernels::nn::NnError) -> kiln_kernels::DeviceError {
    match e {
        kiln_kernels::nn::NnError::Gpu(d) => d,
        other => kiln_kernels::DeviceError::Kernel { kernel: "classify", message: other.to_string() },
    }
}
