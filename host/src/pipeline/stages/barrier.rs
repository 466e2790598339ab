//! The barrier stages (`train-student`, `train-classifier`, `eval`) as the
//! stream sees them: every record passes through unchanged, and the stage's
//! job runs on the phase's kept records once the stream is done (the engine's
//! phases call [`Job::run`]). The reports jobs write go into `stats.json`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::evaluate::{EvalReport, EvalStageConfig};
use super::job::{JobCx, JobError};
use super::train_classifier::{ClassifierReport, ClassifierStageConfig};
use super::train_student::{StudentReport, StudentStageConfig};
use super::{PhaseCx, PreparedStage, Shape, StageError, StageKind, StageOp, StageOutput};
use crate::outcome::Outcome;
use crate::record::Record;

/// A barrier and its job.
#[derive(Debug)]
pub struct Barrier {
    /// What runs when the phase is done.
    pub job: Job,
}

/// A barrier stage's job, as configured.
#[derive(Debug, Clone)]
pub enum Job {
    /// Train students on the records.
    TrainStudent(StudentStageConfig),
    /// Train a quality classifier on the labelled records.
    TrainClassifier(ClassifierStageConfig),
    /// Evaluate students on held-out items.
    Eval(EvalStageConfig),
}

/// What a job reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "kebab-case")]
pub enum JobReport {
    /// From `train-student`.
    TrainStudent(StudentReport),
    /// From `train-classifier`.
    TrainClassifier(ClassifierReport),
    /// From `eval`.
    Eval(EvalReport),
}

impl Job {
    /// Runs the job on its phase (a job whose results are saved returns them).
    pub fn run(&self, cx: &JobCx<'_>) -> Result<JobReport, JobError> {
        Ok(match self {
            Job::TrainStudent(config) => {
                let texts: Vec<String> = cx.records()?.into_iter().map(|r| r.text).collect();
                JobReport::TrainStudent(super::train_student::run(cx.stage, config, &texts, &cx.dir(), cx.compute)?)
            }
            Job::TrainClassifier(config) => JobReport::TrainClassifier(super::train_classifier::run(
                cx.stage,
                config,
                &cx.records()?,
                &cx.dir(),
                cx.compute,
            )?),
            Job::Eval(config) => JobReport::Eval(super::evaluate::run(cx, config)?),
        })
    }

    /// The seeds a `train-student` job trains (a `student` model may name one).
    pub fn student_seeds(&self) -> Option<&[u64]> {
        match self {
            Job::TrainStudent(config) => Some(&config.seeds),
            Job::TrainClassifier(_) | Job::Eval(_) => None,
        }
    }
}

impl StageOp for Barrier {
    fn shape(&self) -> Shape {
        Shape::Barrier
    }

    fn job(&self) -> Option<&Job> {
        Some(&self.job)
    }

    fn model_references(&self) -> Vec<&str> {
        match &self.job {
            Job::Eval(e) => e.models.iter().map(String::as_str).collect(),
            Job::TrainStudent(_) | Job::TrainClassifier(_) => Vec::new(),
        }
    }

    fn references(&self) -> Vec<(&str, StageKind)> {
        match &self.job {
            Job::Eval(e) => e.students.iter().map(|s| (s.as_str(), StageKind::TrainStudent)).collect(),
            Job::TrainStudent(_) | Job::TrainClassifier(_) => Vec::new(),
        }
    }

    fn prepare(&self, _cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        Ok(Arc::new(PassThrough))
    }
}

/// Keeps every record.
struct PassThrough;

#[async_trait::async_trait]
impl PreparedStage for PassThrough {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        Ok(StageOutput { outcomes: records.into_iter().map(Outcome::Kept).collect(), ..Default::default() })
    }
}
