//! What every barrier job may use: its context ([`JobCx`]: the phase's
//! records, the phases before it, where to keep what it makes, the kernels'
//! device), its error type, and saving its results as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::model::{ModelSpec, RequestCache};
use crate::pipeline::workdir::{FinishedPhase, WorkDirError, job_dir};
use crate::record::Record;

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

    /// A work-directory error met by `stage`'s job.
    pub fn work_dir(stage: &str) -> impl Fn(WorkDirError) -> JobError + '_ {
        move |e| JobError::new(stage, e.to_string())
    }
}

/// What a job may use: its phase's records, the phases before it, where to
/// keep what it makes, and the kernels' device.
pub struct JobCx<'a> {
    /// The barrier stage's name.
    pub stage: &'a str,
    /// The run's work directory.
    pub work_dir: &'a Path,
    /// The phase the barrier ends.
    pub phase: &'a FinishedPhase,
    /// The phases before it (an evaluation reads what its students trained on).
    pub earlier: &'a [FinishedPhase],
    /// The device the kernels run on.
    pub compute: &'a kiln_kernels::Compute,
    /// The pipeline's declared models (an evaluation may score one).
    pub models: &'a BTreeMap<String, Arc<ModelSpec>>,
    /// The run's request cache (`None` with `--no-cache`).
    pub cache: Option<Arc<RequestCache>>,
}

impl JobCx<'_> {
    /// Where the job keeps its models and results.
    pub fn dir(&self) -> PathBuf {
        job_dir(self.work_dir, self.stage)
    }

    /// The records the phase kept, in order.
    pub fn records(&self) -> Result<Vec<Record>, JobError> {
        self.phase.kept_records().map_err(JobError::work_dir(self.stage))
    }
}

/// Reads a JSON file, or `None` when it is missing or unreadable.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes a JSON file atomically.
pub fn write_json<T: Serialize>(stage: &str, path: &Path, value: &T) -> Result<(), JobError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| JobError::new(stage, e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| JobError::new(stage, format!("cannot create {}: {e}", dir.display())))?;
    }
    crate::pipeline::workdir::write_atomic(path, &bytes).map_err(JobError::work_dir(stage))
}
