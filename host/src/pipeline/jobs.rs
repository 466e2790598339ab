//! The jobs of barrier stages: what runs once every record has reached a
//! `train-student`, `train-classifier` or `eval` stage (see
//! [`phases`](super::phases)), and the reports they add to `stats.json`.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::stages::evaluate::{EvalReport, EvalStageConfig};
use super::stages::train_classifier::{ClassifierReport, ClassifierStageConfig};
use super::stages::train_student::{StudentReport, StudentStageConfig};
use super::validate::Pipeline;
use super::workdir::{ChunkFile, Manifest, WorkDir};
use crate::record::Record;

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

/// A job failed; the run stops, and resumes at the job.
#[derive(Debug, thiserror::Error)]
#[error("stage `{stage}`: {message}")]
pub struct JobError {
    /// The stage.
    pub stage: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl JobError {
    /// An error of `stage`.
    pub fn new(stage: &str, message: impl Into<String>) -> JobError {
        JobError { stage: stage.to_string(), message: message.into() }
    }
}

/// The records a phase kept, in order.
pub fn phase_records(stage: &str, work: &WorkDir, manifest: &Manifest) -> Result<Vec<Record>, JobError> {
    let mut out = Vec::new();
    for chunk in &manifest.chunks {
        let text = work
            .read_chunk_file(chunk.index, ChunkFile::Kept.name())
            .map_err(|e| JobError::new(stage, e.to_string()))?;
        let path = work.chunk_path(chunk.index, ChunkFile::Kept.name());
        for (i, line) in text.lines().enumerate() {
            let record: Record = serde_json::from_str(line).map_err(|e| {
                JobError::new(stage, format!("{}:{}: unreadable record ({e}); run with --fresh", path.display(), i + 1))
            })?;
            out.push(record);
        }
    }
    Ok(out)
}

/// A phase whose stream is done: where the records it kept are.
#[derive(Debug, Clone)]
pub struct FinishedPhase {
    /// Its work directory.
    pub work: Arc<WorkDir>,
    /// Its committed chunks.
    pub manifest: Manifest,
    /// The stages it ran (a barrier last, except for the final phase).
    pub stages: Range<usize>,
}

/// Runs the job of stage `index` on the records its phase kept; `earlier`
/// are the phases before it (an evaluation reads what its students trained on).
pub fn run(
    pipeline: &Pipeline,
    index: usize,
    work: &WorkDir,
    manifest: &Manifest,
    earlier: &[FinishedPhase],
) -> Result<JobReport, JobError> {
    let stage = &pipeline.stages[index];
    let name = stage.name.as_str();
    let Some(job) = stage.op.job() else {
        return Err(JobError::new(name, "has no job configuration"));
    };
    let dir = super::phases::job_dir(&pipeline.work_dir, name);
    let compute = super::compute::shared().map_err(|e| JobError::new(name, e))?;
    Ok(match job {
        Job::TrainStudent(config) => {
            let texts: Vec<String> = phase_records(name, work, manifest)?.into_iter().map(|r| r.text).collect();
            JobReport::TrainStudent(super::stages::train_student::run(name, config, &texts, &dir, &compute)?)
        }
        Job::TrainClassifier(config) => {
            let records = phase_records(name, work, manifest)?;
            JobReport::TrainClassifier(super::stages::train_classifier::run(name, config, &records, &dir, &compute)?)
        }
        Job::Eval(config) => JobReport::Eval(super::stages::evaluate::run(pipeline, name, config, earlier, &compute)?),
    })
}

/// Reads a JSON file, or `None` when it is missing or unreadable.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes a JSON file atomically.
pub(super) fn write_json<T: Serialize>(stage: &str, path: &Path, value: &T) -> Result<(), JobError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| JobError::new(stage, e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| JobError::new(stage, format!("cannot create {}: {e}", dir.display())))?;
    }
    super::workdir::write_atomic(path, &bytes).map_err(|e| JobError::new(stage, e.to_string()))
}
