//! The barrier stages (`train-student`, `train-classifier`, `eval`) as the
//! stream sees them: every record passes through unchanged, and the stage's
//! job runs on the phase's kept records once the stream is done (see
//! [`crate::pipeline::jobs`]).

use std::sync::Arc;

use super::{PhaseCx, PreparedStage, Shape, StageError, StageOp, StageOutput};
use crate::outcome::Outcome;
use crate::pipeline::jobs::Job;
use crate::record::Record;

/// A barrier and its job.
#[derive(Debug)]
pub struct Barrier {
    /// What runs when the phase is done.
    pub job: Job,
}

impl StageOp for Barrier {
    fn shape(&self) -> Shape {
        Shape::Barrier
    }

    fn job(&self) -> Option<&Job> {
        Some(&self.job)
    }

    fn references(&self) -> Vec<(&str, &'static str)> {
        match &self.job {
            Job::Eval(e) => e.students.iter().map(|s| (s.as_str(), "train-student")).collect(),
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
