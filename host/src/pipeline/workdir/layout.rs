//! Where a run keeps what it made under its work directory, in one place:
//! each phase's chunks (phase 0 in the work directory itself, phase `k` in
//! `phase-<k>/`), each barrier job's models and reports (`models/<stage>/`),
//! and a finished phase's kept records, which the jobs read.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ChunkFile, Manifest, WorkDir, WorkDirError, path_component};
use crate::record::Record;

/// The work directory of phase `k`.
pub fn phase_dir(work_dir: &Path, k: usize) -> PathBuf {
    if k == 0 { work_dir.to_path_buf() } else { work_dir.join(format!("phase-{k}")) }
}

/// Where the job of barrier stage `stage` keeps its models and results.
pub fn job_dir(work_dir: &Path, stage: &str) -> PathBuf {
    work_dir.join("models").join(path_component(stage).as_ref())
}

/// A phase whose stream is done: where the records it kept are — one work
/// directory, or in a split run's job every task's, in rank order.
#[derive(Debug, Clone)]
pub struct FinishedPhase {
    /// Its work directory (the first task's, in a split run's job).
    pub work: Arc<WorkDir>,
    /// Its committed chunks there.
    pub manifest: Manifest,
    /// The other tasks' work directories and chunks, in rank order (empty
    /// but in a split run's job, which reads every task's records).
    pub other_parts: Vec<(Arc<WorkDir>, Manifest)>,
    /// The stages it ran (a barrier last, except for the final phase).
    pub stages: Range<usize>,
    /// The barrier stage that ended it (`None` for a final phase without one).
    pub barrier: Option<String>,
}

impl FinishedPhase {
    /// The records the phase kept, in order.
    pub fn kept_records(&self) -> Result<Vec<Record>, WorkDirError> {
        let mut out = Vec::new();
        let parts = std::iter::once((&self.work, &self.manifest)).chain(self.other_parts.iter().map(|(w, m)| (w, m)));
        for (work, chunk) in parts.flat_map(|(w, m)| m.chunks.iter().map(move |c| (w, c))) {
            let text = work.read_chunk_file(chunk.index, ChunkFile::Kept.name())?;
            let path = work.chunk_path(chunk.index, ChunkFile::Kept.name());
            for (i, line) in text.lines().enumerate() {
                let record: Record = serde_json::from_str(line).map_err(|e| WorkDirError::UnreadableRecord {
                    path: path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })?;
                out.push(record);
            }
        }
        Ok(out)
    }
}
