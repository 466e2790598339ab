//! Running a barrier stage's job once its phase's stream is done (see
//! [`phases`](super::phases)): the engine hands the job its phase and the
//! phases before it; what the job does is the stage's own
//! ([`Job::run`](crate::pipeline::stages::Job::run)).

use crate::pipeline::build::Pipeline;
use crate::pipeline::stages::{JobCx, JobError, JobReport};
use crate::pipeline::workdir::FinishedPhase;

/// Runs the job of the barrier that ends `phase`; `earlier` are the phases
/// before it; `no_cache` keeps the job's model requests out of the cache.
pub fn run(
    pipeline: &Pipeline,
    phase: &FinishedPhase,
    earlier: &[FinishedPhase],
    no_cache: bool,
) -> Result<JobReport, JobError> {
    let index = phase.stages.end.saturating_sub(1);
    let stage = &pipeline.stages[index];
    let name = stage.name.as_str();
    let Some(job) = stage.op.job() else {
        return Err(JobError::new(name, "has no job configuration"));
    };
    let compute = crate::compute::shared().map_err(|e| JobError::new(name, e))?;
    // Only a job that asks models (an evaluation of the teacher) opens the cache.
    let cache = super::request_cache(pipeline, no_cache || stage.op.model_references().is_empty())
        .map_err(|e| JobError::new(name, e.to_string()))?;
    job.run(&JobCx {
        stage: name,
        work_dir: &pipeline.work_dir,
        phase,
        earlier,
        compute: &compute,
        models: &pipeline.models,
        cache,
    })
}
