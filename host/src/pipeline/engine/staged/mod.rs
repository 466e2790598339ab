//! Staged global stages: how a run split into tasks runs the stages that
//! keep the first record of each group sharing a key (`dedup`, exact or
//! MinHash), which need the whole corpus, and still decides every record
//! exactly as one process would.
//!
//! The shape is datatrove's four MinHash stages, generalised to any
//! [`Grouping`](crate::pipeline::stages::grouping::Grouping) and made exact
//! for Kiln's streaming semantics (the first record of a group is kept, a
//! later one joins the earliest group among those first to hold one of its
//! keys):
//!
//! 1. **keys**, per task ([`keys`]): once a task's records have passed the
//!    stages before the dedup stage, it writes, per band, its records' keys
//!    sorted with their *positions* — rank and index, so that positions
//!    order records as the one-process run reads them — and their ids;
//! 2. **band merges**, one per band, in parallel ([`bands`]): a k-way merge
//!    of the tasks' sorted files finds the first position holding each key
//!    and writes an edge `later → first` for every other one, sorted;
//! 3. **one clustering** ([`cluster`]): the edges of every band, merged in
//!    position order, decide each record's group the way the streaming index
//!    does; what it holds is one entry per duplicate, never one per record;
//! 4. **a filter pass per task** ([`decided`]): the task continues from its
//!    committed chunks, chunk for chunk, the dedup stage applying the
//!    decisions to its records, then the stages after it.
//!
//! Barrier stages (training, evaluation) are simpler: each task runs up to
//! and through the barrier and records that it got there; the job runs once
//! (`kiln task job`) over every task's records in rank order — the records
//! one process would give it — and saves its report; then each task reads
//! every task's kept records on, owning its shard of them on the
//! one-process chunk grid, so the chunks after the barrier are the
//! one-process run's too.
//!
//! Continuing chunk for chunk (rather than re-reading the kept records in
//! new chunks) keeps the chunks of a one-process run, so the merge
//! interleaves each chunk's rejected records stage by stage and the outputs
//! are byte for byte those of one process. Files are written under a
//! temporary name and renamed; each step writes a `done` marker last and is
//! not run again once it has one.

pub mod bands;
pub mod cluster;
pub mod decided;
pub mod keys;
mod pairs;

use std::ops::Range;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::pipeline::build::Pipeline;
use crate::pipeline::stages::Stage;
use crate::pipeline::workdir::{Manifest, WorkDir, WorkDirError, path_component, phase_dir};

/// How a staged step went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StagedError {
    /// A file could not be read or written.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file a step needs is missing or damaged.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An earlier step has not finished.
    #[error("{0}")]
    NotReady(String),
    /// The stage could not compute keys.
    #[error("stage `{stage}`: {message}")]
    Keys {
        /// The stage.
        stage: String,
        /// Why.
        message: String,
    },
    /// The work directory failed.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
}

pub(crate) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StagedError + 'a {
    move |error| StagedError::Io { action, path: path.to_path_buf(), error }
}

/// One phase of a task: the stages it runs, and whether it continues the
/// previous phase's chunks one for one (it starts with a grouping stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPhase {
    /// Its stages.
    pub stages: Range<usize>,
    /// Whether its chunks are the previous phase's, continued.
    pub continues: bool,
}

impl TaskPhase {
    /// The barrier stage that ends it, if one does.
    pub fn barrier<'a>(&self, pipeline: &'a Pipeline) -> Option<&'a Stage> {
        self.stages.end.checked_sub(1).map(|i| &pipeline.stages[i]).filter(|s| s.is_barrier())
    }
}

/// The phases of `pipeline`: cut after each barrier and, in a split run,
/// before each grouping stage.
pub fn task_phases(pipeline: &Pipeline, split: bool) -> Vec<TaskPhase> {
    let mut out = Vec::new();
    let (mut start, mut continues) = (0, false);
    for (i, stage) in pipeline.stages.iter().enumerate() {
        if split && stage.op.grouping().is_some() {
            out.push(TaskPhase { stages: start..i, continues });
            (start, continues) = (i, true);
        }
        if stage.is_barrier() {
            out.push(TaskPhase { stages: start..i + 1, continues });
            (start, continues) = (i + 1, false);
        }
    }
    if start < pipeline.stages.len() || out.is_empty() {
        out.push(TaskPhase { stages: start..pipeline.stages.len(), continues });
    }
    out
}

/// One step of a split run, in order: what a launcher submits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every task runs as far as the steps before allow: up to the grouping
    /// stage `until` (its keys written) or through the barrier `until` (its
    /// records committed), or to its end.
    Tasks {
        /// The grouping stage the tasks stop before, if any.
        until: Option<String>,
    },
    /// The band merges of a grouping stage, one job per band.
    Bands {
        /// The stage.
        stage: String,
        /// How many bands.
        bands: usize,
    },
    /// The clustering of a grouping stage.
    Cluster {
        /// The stage.
        stage: String,
    },
    /// The job of a barrier stage (training, evaluation), once, over every
    /// task's records.
    Job {
        /// The stage.
        stage: String,
    },
}

/// The steps of `pipeline` split into tasks (the merge comes after them).
pub fn plan(pipeline: &Pipeline) -> Vec<Step> {
    let mut steps = Vec::new();
    for stage in &pipeline.stages {
        if let Some(grouping) = stage.op.grouping() {
            steps.push(Step::Tasks { until: Some(stage.name.clone()) });
            steps.push(Step::Bands { stage: stage.name.clone(), bands: grouping.bands() });
            steps.push(Step::Cluster { stage: stage.name.clone() });
        } else if stage.is_barrier() {
            steps.push(Step::Tasks { until: Some(stage.name.clone()) });
            steps.push(Step::Job { stage: stage.name.clone() });
        }
    }
    steps.push(Step::Tasks { until: None });
    steps
}

/// Bits of a position that hold the record's index within its task.
const LOCAL_BITS: u32 = 40;

/// The position of a task's `local`-th record: positions order records as
/// one process reads them, since task `rank` owns the shard after `rank − 1`'s.
pub fn position(rank: u32, local: u64) -> u64 {
    (u64::from(rank) << LOCAL_BITS) | (local & ((1 << LOCAL_BITS) - 1))
}

/// The task and index of a position.
pub fn split_position(position: u64) -> (u32, u64) {
    ((position >> LOCAL_BITS) as u32, position & ((1 << LOCAL_BITS) - 1))
}

/// Where a split run's staged steps keep their files: each task's keys in
/// its own directory (`tasks/RANK-of-WORLD/staged/STAGE/`), the merges' and
/// the clustering's under `tasks/staged-of-WORLD/STAGE/`.
///
/// Each step's `done` marker records the run's fingerprint: a marker of
/// another version of the pipeline does not count as done.
#[derive(Debug, Clone)]
pub struct StagedDirs {
    tasks: PathBuf,
    world: u32,
    fingerprint: String,
}

/// The file a finished step writes last.
const DONE: &str = "done";

impl StagedDirs {
    /// The dirs of a run of `world` tasks whose tasks directory is `tasks`,
    /// of the pipeline whose fingerprint is `fingerprint`.
    pub fn new(tasks: &Path, world: u32, fingerprint: &str) -> StagedDirs {
        StagedDirs { tasks: tasks.to_path_buf(), world, fingerprint: fingerprint.to_string() }
    }

    /// Writes the marker of a finished step, with what it reports.
    pub(crate) fn mark_done(&self, path: &Path, report: impl serde::Serialize) -> Result<(), StagedError> {
        let marker = serde_json::json!({ "fingerprint": self.fingerprint, "report": report });
        write_file(path, marker.to_string().as_bytes())
    }

    /// Whether `path` marks a step of this pipeline as done.
    fn is_done(&self, path: &Path) -> bool {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|m| m["fingerprint"] == self.fingerprint.as_str())
    }

    /// The dirs of the run of `pipeline` (its own work directory, not a
    /// task's) split into `world` tasks.
    pub fn of_run(pipeline: &Pipeline, world: u32) -> StagedDirs {
        let fingerprint = super::fingerprint::fingerprint(pipeline);
        StagedDirs::new(&super::shard::tasks_dir(&pipeline.work_dir), world, &fingerprint)
    }

    /// How many tasks.
    pub fn world(&self) -> u32 {
        self.world
    }

    /// Phase `k` of every task, in rank order: each task's work directory
    /// and manifest (a task adds its split to the pipeline's fingerprint).
    pub fn every_task_phase(&self, k: usize, chunk_size: u64) -> Result<Vec<(Arc<WorkDir>, Manifest)>, WorkDirError> {
        (0..self.world)
            .map(|rank| {
                let task = super::shard::Shard { rank, world: self.world };
                let work = WorkDir::open(&phase_dir(&self.tasks.join(task.label()), k))?;
                let manifest = work.manifest(&format!("{}/task-{}", self.fingerprint, task.label()), chunk_size)?;
                Ok((Arc::new(work), manifest))
            })
            .collect()
    }

    /// Where task `rank` writes its keys for `stage`.
    pub fn keys_dir(&self, rank: u32, stage: &str) -> PathBuf {
        let task = super::shard::Shard { rank, world: self.world };
        self.tasks.join(task.label()).join("staged").join(path_component(stage).as_ref())
    }

    /// Where the merges and the clustering of `stage` write.
    pub fn global_dir(&self, stage: &str) -> PathBuf {
        self.tasks.join(format!("staged-of-{:05}", self.world)).join(path_component(stage).as_ref())
    }

    /// Whether task `rank` wrote its keys for `stage`.
    pub fn keys_done(&self, rank: u32, stage: &str) -> bool {
        self.is_done(&self.keys_dir(rank, stage).join(DONE))
    }

    /// The bands of `stage` not merged yet.
    pub fn bands_pending(&self, stage: &str, bands: usize) -> Vec<u32> {
        (0..bands as u32).filter(|&b| !self.is_done(&bands::done_path(&self.global_dir(stage), b))).collect()
    }

    /// Records that task `rank` reached barrier `stage` (its phase is finished).
    pub(crate) fn mark_reached(&self, rank: u32, stage: &str) -> Result<(), StagedError> {
        let dir = self.keys_dir(rank, stage);
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        self.mark_done(&dir.join(DONE), serde_json::json!({ "reached": stage }))
    }

    /// Where the job of barrier `stage` records that it ran.
    fn job_marker(&self, stage: &str) -> PathBuf {
        self.global_dir(stage).join("job.done")
    }

    /// What the job of barrier `stage` reported, once it ran.
    pub fn job_report(&self, stage: &str) -> Option<crate::pipeline::stages::JobReport> {
        let path = self.job_marker(stage);
        if !self.is_done(&path) {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let marker: serde_json::Value = serde_json::from_str(&text).ok()?;
        serde_json::from_value(marker["report"].clone()).ok()
    }

    /// Records the report of the job of barrier `stage`.
    pub(crate) fn mark_job_done(
        &self,
        stage: &str,
        report: &crate::pipeline::stages::JobReport,
    ) -> Result<(), StagedError> {
        let dir = self.global_dir(stage);
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        self.mark_done(&self.job_marker(stage), report)
    }

    /// Whether `stage` was clustered.
    pub fn cluster_done(&self, stage: &str) -> bool {
        self.is_done(&self.global_dir(stage).join("cluster").join(DONE))
    }
}

/// Writes `bytes` to `path` under a temporary name, then renames it.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StagedError> {
    crate::pipeline::workdir::write_atomic(path, bytes).map_err(StagedError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The staged steps decide exactly what the streaming index decides, on
    /// keys drawn from a small space (so groups chain and bridge) over three tasks.
    #[test]
    fn staged_steps_decide_what_the_streaming_index_decides() {
        use kiln_kernels::minhash::lsh::{Offer, StreamingIndex};
        let dir = tempfile::tempdir().expect("tempdir");
        let (world, per_task, bands) = (3u32, 300u64, 4usize);
        let dirs = StagedDirs::new(dir.path(), world, "fp");
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut all: Vec<(String, Vec<u64>)> = Vec::new();
        for rank in 0..world {
            let keys_dir = dirs.keys_dir(rank, "near");
            std::fs::create_dir_all(&keys_dir).expect("mkdir");
            let records: Vec<(String, Vec<u64>)> = (0..per_task)
                .map(|i| (format!("r{rank}-{i}"), (0..bands as u64).map(|b| b * 1000 + next() % 400).collect()))
                .collect();
            for band in 0..bands {
                let mut entries: Vec<(u128, u64)> = records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (u128::from(r.1[band]), position(rank, i as u64)))
                    .collect();
                entries.sort_unstable();
                let mut w = pairs::PairWriter::create(&keys::band_path(&keys_dir, band as u32), 8).expect("create");
                entries.iter().for_each(|&(k, p)| w.push(k, p).expect("push"));
                w.finish().expect("finish");
            }
            let ids: String = records.iter().map(|r| format!("\"{}\"\n", r.0)).collect();
            std::fs::write(keys::ids_path(&keys_dir), ids).expect("ids");
            dirs.mark_done(&keys_dir.join(DONE), 0).expect("mark");
            all.extend(records);
        }
        assert!(cluster::cluster(&dirs, "near", bands).is_err(), "clustering before the band merges");
        for band in 0..bands as u32 {
            bands::merge_band(&dirs, "near", 8, band).expect("band");
        }
        let report = cluster::cluster(&dirs, "near", bands).expect("cluster");
        let mut index = StreamingIndex::default();
        let mut duplicates = 0;
        for rank in 0..world {
            let mut decisions = cluster::Decisions::open(&dirs, "near", rank).expect("decisions");
            for i in 0..per_task {
                let (id, keys) = &all[(u64::from(rank) * per_task + i) as usize];
                let expected = match index.offer(id, keys).0 {
                    Offer::First => None,
                    Offer::DuplicateOf { first, size } => {
                        duplicates += 1;
                        Some(crate::pipeline::stages::grouping::Joined { first: first.to_string(), size })
                    }
                };
                assert_eq!(decisions.take(i).expect("take"), expected, "record {id}");
            }
        }
        assert!(duplicates > 100 && report.duplicates == duplicates, "{report:?} against {duplicates}");
    }

    #[test]
    fn positions_order_records_as_one_process_reads_them() {
        let a = position(0, 5_000_000);
        let b = position(1, 0);
        assert!(a < b);
        assert_eq!(split_position(position(7, 123)), (7, 123));
    }
}
