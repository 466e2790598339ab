//! The `classify` stage: scores every record with the classifier an earlier
//! `train-classifier` stage trained, on the kernel device (the GPU when there
//! is one, with the CPU as fallback), and keeps records scoring at least
//! `min_score`. The score is stored as `scores.<score>`; a record below the
//! threshold is rejected with `classify: <score> <p> < <min_score>`.

use std::sync::Arc;

use kiln_kernels::classifier::Classifier;
use serde::{Deserialize, Serialize};

use super::{PhaseCx, PreparedStage, StageError, StageKind, StageOp, StageOutput};
use crate::compute;
use crate::outcome::{Outcome, Rejected, Rejection};
use crate::record::Record;

/// The `classify` stage.
#[derive(Debug)]
pub struct ClassifyStage {
    /// Its configuration.
    pub config: ClassifyConfig,
}

impl StageOp for ClassifyStage {
    fn references(&self) -> Vec<(&str, StageKind)> {
        vec![(self.config.classifier.as_str(), StageKind::TrainClassifier)]
    }

    fn lineage_step(&self, stage: &str) -> Option<String> {
        Some(format!("{stage}=builtin:classify"))
    }

    /// Loads the classifier an earlier phase trained.
    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        let name = cx.stage.name.clone();
        let dir = crate::pipeline::workdir::job_dir(cx.work_dir, &self.config.classifier);
        let classifier = Classifier::load(&super::train_classifier::checkpoint_path(&dir))
            .map_err(|e| StageError::State { stage: name.clone(), message: e.to_string() })?;
        Ok(Arc::new(PreparedClassify { name, config: self.config.clone(), classifier: Arc::new(classifier) }))
    }
}

struct PreparedClassify {
    name: String,
    config: ClassifyConfig,
    classifier: Arc<Classifier>,
}

#[async_trait::async_trait]
impl PreparedStage for PreparedClassify {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let (name, config, classifier) = (self.name.clone(), self.config.clone(), self.classifier.clone());
        let outcomes = tokio::task::spawn_blocking(move || apply(&name, &config, &classifier, records))
            .await?
            .map_err(|message| StageError::Failed { stage: self.name.clone(), message })?;
        Ok(StageOutput { outcomes, ..Default::default() })
    }
}

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
    let probs = compute::with_fallback("classify", |c| classifier.predict(c, &texts))?;
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
                    rejected: Rejection::new(
                        stage,
                        "builtin:classify",
                        format!("classify:{name}:below-min"),
                        format!("classify: {name} {p:.3} < {}", config.min_score),
                    ),
                })
            }
        })
        .collect())
}
