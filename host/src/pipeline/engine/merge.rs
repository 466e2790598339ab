//! Merging the tasks of a split run into the run's outputs.
//!
//! Once every task of `world` has finished (its `done` marker written after
//! its `stats.json`), the merge reads each task's manifest — checked against
//! the pipeline's fingerprint and the split, so tasks of another pipeline or
//! another split are refused — and assembles the outputs from the tasks'
//! committed chunks in rank order ([`assemble`](super::assemble)): the
//! records, their order and the counts of a one-process run. It copies and
//! changes nothing in the tasks' directories, so it can be run again.

use std::sync::Arc;
use std::time::Instant;

use super::assemble::{PhaseParts, Records, assemble};
use super::executor::RunSummary;
use super::fingerprint::fingerprint;
use super::run_error::RunError;
use super::shard::{DONE_MARKER, Shard};
use super::staged;
use crate::pipeline::build::Pipeline;
use crate::pipeline::workdir::{WorkDir, phase_dir};

/// The ranks of `world` whose task has not finished.
pub fn unfinished(pipeline: &Pipeline, world: u32) -> Vec<u32> {
    (0..world)
        .filter(|&rank| {
            let shard = Shard { rank, world };
            !shard.work_dir(&pipeline.work_dir).join("out").join(DONE_MARKER).is_file()
        })
        .collect()
}

/// Assembles the outputs of the `world` finished tasks of `pipeline`.
pub fn merge(pipeline: &Pipeline, world: u32) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    if world == 0 {
        return Err(RunError::Runtime("--world must be at least 1".into()));
    }
    let missing = unfinished(pipeline, world);
    if !missing.is_empty() {
        return Err(RunError::TasksUnfinished { missing, world });
    }
    let base = fingerprint(pipeline);
    // The run took as long as its slowest task, then the merge.
    let (mut slowest, mut resumed) = (0.0f64, 0);
    let tasks: Vec<(Shard, std::path::PathBuf)> = (0..world)
        .map(|rank| {
            let shard = Shard { rank, world };
            (shard, shard.work_dir(&pipeline.work_dir))
        })
        .collect();
    for (_, dir) in &tasks {
        if let Some(task) = task_stats(&dir.join("out").join("stats.json")) {
            slowest = slowest.max(task.seconds);
            resumed += task.resumed_chunks;
        }
    }
    let mut phases = Vec::new();
    for (k, phase) in staged::task_phases(pipeline, true).into_iter().enumerate() {
        let mut parts = Vec::new();
        for (shard, dir) in &tasks {
            let work = WorkDir::open(&phase_dir(dir, k))?;
            let manifest = work.manifest(&format!("{base}/task-{}", shard.label()), pipeline.chunk_size)?;
            parts.push((Arc::new(work), manifest));
        }
        phases.push(PhaseParts { parts, stages: phase.stages, continues: phase.continues });
    }
    let elapsed = started.elapsed() + std::time::Duration::from_secs_f64(slowest);
    let stats = assemble(pipeline, &phases, Vec::new(), resumed, elapsed, Records::Write)?;
    Ok(RunSummary { stats, output_dir: pipeline.output_dir.clone() })
}

/// A finished task's `stats.json` (its timing; the counts come from its manifest).
fn task_stats(path: &std::path::Path) -> Option<crate::pipeline::report::stats::RunStats> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
