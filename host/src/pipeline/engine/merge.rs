//! Merging the tasks of a split run into the run's outputs.
//!
//! Once every task of `world` has finished (its `done` marker written after
//! its `stats.json`), the merge reads each task's manifest — checked against
//! the pipeline's fingerprint and the split, so tasks of another pipeline or
//! another split are refused — and assembles the outputs from the tasks'
//! committed chunks in rank order ([`assemble`](super::assemble)): the
//! records, their order and the counts of a one-process run. It copies and
//! changes nothing in the tasks' directories, so it can be run again.

use std::time::Instant;

use super::assemble::{PhaseParts, Records, assemble};
use super::executor::RunSummary;
use super::fingerprint::fingerprint;
use super::publish::publish;
use super::run_error::RunError;
use super::shard::{DONE_MARKER, Shard};
use super::staged;
use crate::pipeline::build::Pipeline;

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
    for rank in 0..world {
        let dir = Shard { rank, world }.work_dir(&pipeline.work_dir);
        if let Some(task) = task_stats(&dir.join("out").join("stats.json")) {
            slowest = slowest.max(task.seconds);
            resumed += task.resumed_chunks;
        }
    }
    let dirs = staged::StagedDirs::new(&super::shard::tasks_dir(&pipeline.work_dir), world, &base);
    let mut phases = Vec::new();
    for (k, phase) in staged::task_phases(pipeline, true).into_iter().enumerate() {
        let parts = dirs.every_task_phase(k, pipeline.chunk_size)?;
        phases.push(PhaseParts { parts, stages: phase.stages, continues: phase.continues });
    }
    // What each barrier's job reported when it ran, in order.
    let mut reports = Vec::new();
    for stage in pipeline.stages.iter().filter(|s| s.is_barrier()) {
        let report = dirs.job_report(&stage.name).ok_or_else(|| {
            RunError::Runtime(format!("the job of stage `{}` has not run: run `kiln task job` first", stage.name))
        })?;
        reports.push(report);
    }
    let elapsed = started.elapsed() + std::time::Duration::from_secs_f64(slowest);
    let stats = assemble(pipeline, &phases, reports, resumed, elapsed, Records::Write)?;
    publish(
        pipeline.output_prefix.as_ref(),
        RunSummary { stats, output_dir: pipeline.output_dir.clone(), published: None },
    )
}

/// A finished task's `stats.json` (its timing; the counts come from its manifest).
fn task_stats(path: &std::path::Path) -> Option<crate::pipeline::report::stats::RunStats> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
