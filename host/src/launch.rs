//! `kiln::run`: the engine as a library call — what a service, a cluster
//! launcher or a test calls to run a pipeline file with its own options and
//! progress sink (the `kiln run` command goes through the same two steps,
//! [`Pipeline::load_with`] and [`run_rounds`] — the engine's run, then the
//! file's recursive rounds when it has any — so that it can print a file's
//! problems its own way before anything runs).

use std::path::Path;

use crate::pipeline::engine::remote::{self, Role};
use crate::pipeline::engine::shard::{DONE_MARKER, Shard};
use crate::pipeline::engine::staged;
use crate::pipeline::{BuildOptions, Diagnostics, Pipeline, RunError, RunOptions, RunSummary, execute, run_rounds};
use crate::plugin::Sandbox;

/// Why [`run`] did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The pipeline file has problems (every one of them); nothing ran.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The run stopped; every chunk it committed is kept, and running again resumes.
    #[error(transparent)]
    Stopped(#[from] RunError),
}

/// Checks the pipeline file at `file` (its directories replaced by
/// `overrides`), loading its plugins into `sandbox`, then runs it with
/// `options` (fresh or resuming, progress to `options.progress`).
pub fn run(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    options: &RunOptions,
) -> Result<RunSummary, RunFailure> {
    let pipeline = Pipeline::load_with(file, sandbox, overrides).map_err(RunFailure::Invalid)?;
    Ok(run_loaded(pipeline, options)?)
}

/// Runs a loaded pipeline (the engine's run, then its rounds), bringing its
/// work directory down first and its last changes up after when it is on
/// object storage.
pub fn run_loaded(pipeline: Pipeline, options: &RunOptions) -> Result<RunSummary, RunError> {
    if options.fresh {
        // What starting over removes is deleted in the store, not downloaded first.
        remote::pull(&pipeline, &Role::Fresh)?;
        remote::start_over(&pipeline)?;
    } else {
        remote::pull(&pipeline, &Role::Whole)?;
    }
    // The scratch copy lives as long as a handle to its mirror.
    let store = pipeline.work_store.clone();
    let ran = run_rounds(pipeline, options);
    let flushed = store.as_deref().map_or(Ok(()), remote::flush_store);
    let summary = ran?;
    flushed?;
    Ok(summary)
}

/// Loads the pipeline at `file` for a process of a split run, and brings
/// down what `role` reads when its work directory is on object storage.
fn load_for(file: &Path, sandbox: &Sandbox, overrides: &BuildOptions, role: &Role) -> Result<Pipeline, RunFailure> {
    let pipeline = Pipeline::load_with(file, sandbox, overrides).map_err(RunFailure::Invalid)?;
    remote::pull(&pipeline, role)?;
    Ok(pipeline)
}

/// What running one task of a split run did.
#[derive(Debug)]
pub enum TaskRun {
    /// It ran (or resumed) to its end.
    Ran(Box<RunSummary>),
    /// It had finished before: nothing was done.
    AlreadyDone,
    /// It ran up to a dedup stage whose staged steps (band merges,
    /// clustering) have not run; run it again after them.
    Waiting {
        /// The stage.
        stage: String,
    },
}

/// Runs task `shard` of the pipeline at `file` ([`shard`](crate::pipeline::engine::shard)):
/// in its own work directory under the run's, resuming it unless
/// `options.fresh`; a finished task is not run again.
pub fn run_task(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    shard: Shard,
    options: &RunOptions,
) -> Result<TaskRun, RunFailure> {
    let mut pipeline = load_for(file, sandbox, overrides, &Role::Task(shard))?;
    if pipeline.rounds.is_some() {
        return Err(RunError::NotShardable(vec!["[rounds]".into()]).into());
    }
    let dir = shard.work_dir(&pipeline.work_dir);
    let marker = dir.join("out").join(DONE_MARKER);
    if marker.is_file() {
        if !options.fresh {
            return Ok(TaskRun::AlreadyDone);
        }
        crate::pipeline::workdir::remove_tree(&marker).map_err(RunError::from)?;
    }
    pipeline.output_dir = dir.join("out");
    pipeline.work_dir = dir;
    // The scratch copy lives as long as a handle to its mirror.
    let store = pipeline.work_store.clone();
    let ran = match execute(pipeline, &RunOptions { shard: Some(shard), ..options.clone() }) {
        Err(RunError::AwaitingGlobal { stage, .. }) => Ok(TaskRun::Waiting { stage }),
        Ok(summary) => crate::pipeline::workdir::write_atomic(&marker, b"")
            .map(|()| TaskRun::Ran(Box::new(summary)))
            .map_err(RunError::from),
        Err(e) => Err(e),
    };
    // The run's own error first; then the flush's.
    let ran = ran?;
    if let Some(store) = store {
        remote::flush_store(&store)?;
    }
    Ok(ran)
}

/// Merges the `world` finished tasks of the pipeline at `file` into its outputs.
pub fn merge_tasks(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    world: u32,
) -> Result<RunSummary, RunFailure> {
    let pipeline = load_for(file, sandbox, overrides, &Role::Merge { world })?;
    Ok(crate::pipeline::engine::merge::merge(&pipeline, world)?)
}

/// A staged step of a split run ([`staged`]): one band merge or the
/// clustering of a dedup stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedStep {
    /// Merge band `band` across the tasks.
    Band(u32),
    /// Decide every record's group.
    Cluster,
    /// Run a barrier stage's job over every task's records.
    Job,
}

/// Runs `step` of stage `stage` (a dedup stage, or a barrier for
/// [`StagedStep::Job`]) of the pipeline at `file` split into `world` tasks;
/// a step already done is not run again. Returns what it reported, as JSON
/// (`None` when it had been done).
pub fn run_staged_step(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    world: u32,
    stage: &str,
    step: StagedStep,
) -> Result<Option<serde_json::Value>, RunFailure> {
    let role = match step {
        StagedStep::Band(band) => Role::Band { world, stage: stage.to_string(), band },
        StagedStep::Cluster => Role::Cluster { world, stage: stage.to_string() },
        StagedStep::Job => Role::Job { world },
    };
    let pipeline = load_for(file, sandbox, overrides, &role)?;
    let dirs = staged::StagedDirs::of_run(&pipeline, world);
    let band = match step {
        StagedStep::Job => {
            return Ok(run_job(&pipeline, &dirs, stage)?.map(|r| serde_json::to_value(r).unwrap_or_default()));
        }
        StagedStep::Band(band) => Some(band),
        StagedStep::Cluster => None,
    };
    let Some(grouping) = pipeline.stages.iter().find(|s| s.name == stage).and_then(|s| s.op.grouping()) else {
        let names: Vec<&str> =
            pipeline.stages.iter().filter(|s| s.op.grouping().is_some()).map(|s| s.name.as_str()).collect();
        return Err(RunError::Runtime(format!(
            "{} has no dedup stage `{stage}` (its dedup stages: {})",
            file.display(),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ))
        .into());
    };
    let report = match band {
        Some(band) => {
            if band as usize >= grouping.bands() {
                return Err(RunError::Runtime(format!(
                    "stage `{stage}` has {} band(s): --band {band} is not one (bands count from 0)",
                    grouping.bands()
                ))
                .into());
            }
            if !dirs.bands_pending(stage, grouping.bands()).contains(&band) {
                return Ok(None);
            }
            let report = staged::bands::merge_band(&dirs, stage, grouping.key_bytes(), band).map_err(RunError::from)?;
            serde_json::to_value(report)
        }
        None => {
            if dirs.cluster_done(stage) {
                return Ok(None);
            }
            serde_json::to_value(staged::cluster::cluster(&dirs, stage, grouping.bands()).map_err(RunError::from)?)
        }
    };
    Ok(Some(report.unwrap_or_default()))
}

/// Runs the job of barrier `stage` once every task reached it, over every
/// task's records in rank order (and the phases before, for an evaluation),
/// and records its report; `None` when it had run.
fn run_job(
    pipeline: &Pipeline,
    dirs: &staged::StagedDirs,
    stage: &str,
) -> Result<Option<crate::pipeline::stages::JobReport>, RunError> {
    if dirs.job_report(stage).is_some() {
        return Ok(None);
    }
    let phases = staged::task_phases(pipeline, true);
    let Some(k) = phases.iter().position(|p| p.barrier(pipeline).is_some_and(|s| s.name == stage)) else {
        return Err(RunError::Runtime(format!("the pipeline has no training or evaluation stage `{stage}`")));
    };
    let waiting: Vec<String> =
        (0..dirs.world()).filter(|&r| !dirs.keys_done(r, stage)).map(|r| r.to_string()).collect();
    if !waiting.is_empty() {
        return Err(staged::StagedError::NotReady(format!(
            "task(s) {} of {} have not reached stage `{stage}`: run the tasks first",
            waiting.join(","),
            dirs.world()
        ))
        .into());
    }
    let mut finished = Vec::new();
    for (j, phase) in phases.iter().enumerate().take(k + 1) {
        let mut parts = dirs.every_task_phase(j, pipeline.chunk_size)?.into_iter();
        let Some((work, manifest)) = parts.next() else {
            return Err(RunError::Runtime("a split run has at least one task".into()));
        };
        finished.push(crate::pipeline::workdir::FinishedPhase {
            work,
            manifest,
            other_parts: parts.collect(),
            stages: phase.stages.clone(),
            barrier: phase.barrier(pipeline).map(|s| s.name.clone()),
        });
    }
    let report = crate::pipeline::engine::jobs::run(pipeline, &finished[k], &finished[..k], false)?;
    dirs.mark_job_done(stage, &report)?;
    Ok(Some(report))
}

/// What of `step` of `pipeline` split into `world` tasks is left to run:
/// the ranks, the bands, or `[0]` for a clustering not done.
pub fn pending(pipeline: &Pipeline, world: u32, step: &staged::Step) -> Vec<u32> {
    let dirs = staged::StagedDirs::of_run(pipeline, world);
    let unfinished = || crate::pipeline::engine::merge::unfinished(pipeline, world);
    // A step of one piece: `[0]` until it is done.
    let single = |done: bool| if done { Vec::new() } else { vec![0] };
    match step {
        staged::Step::Tasks { until: None } => unfinished(),
        staged::Step::Tasks { until: Some(stage) } => {
            unfinished().into_iter().filter(|&rank| !dirs.keys_done(rank, stage)).collect()
        }
        staged::Step::Bands { stage, bands } => dirs.bands_pending(stage, *bands),
        staged::Step::Cluster { stage } => single(dirs.cluster_done(stage)),
        staged::Step::Job { stage } => single(dirs.job_report(stage).is_some()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::pipeline::report::progress::{PhaseProgress, ProgressSink};
    use crate::pipeline::workdir::ChunkEntry;
    use crate::plugin::SandboxConfig;

    /// Counts the lines of committed chunks, as a service's event stream would.
    #[derive(Default)]
    struct Lines(Arc<AtomicU64>);

    impl ProgressSink for Lines {
        fn phase(&self, _: &[String], _: Option<u64>, _: u64) -> Box<dyn PhaseProgress> {
            Box::new(Lines(self.0.clone()))
        }
    }

    impl PhaseProgress for Lines {
        fn chunk_committed(&mut self, chunk: &ChunkEntry) {
            self.0.fetch_add(chunk.lines, Ordering::Relaxed);
        }
        fn finish(&mut self) {}
    }

    #[test]
    fn a_library_caller_runs_a_pipeline_with_its_own_progress_sink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String = ["a", "b", "a", "c"]
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{{\"id\":\"{i}\",\"text\":\"{t}\"}}\n"))
            .collect();
        std::fs::write(dir.path().join("in.jsonl"), lines).expect("write");
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "[pipeline]\nname = \"lib\"\nchunk_size = 2\n[[input]]\npath = \"in.jsonl\"\n[[stage]]\nname = \"d\"\nkind = \"dedup\"\n[output]\ndir = \"out\"\n",
        )
        .expect("write");
        let sandbox = Sandbox::new(SandboxConfig { cache_dir: None, ..SandboxConfig::default() }).expect("sandbox");
        let seen = Arc::new(AtomicU64::new(0));
        let options = RunOptions { progress: Arc::new(Lines(seen.clone())), ..RunOptions::default() };
        let summary = run(&file, &sandbox, &BuildOptions::default(), &options).expect("runs");
        assert_eq!((summary.stats.kept, summary.stats.rejected), (3, 1));
        assert_eq!(seen.load(Ordering::Relaxed), 4, "the sink saw every committed line");

        std::fs::write(
            &file,
            "[pipeline]\nname = \"lib\"\n[[stage]]\nname = \"d\"\nkind = \"nope\"\n[output]\ndir = \"out\"\n",
        )
        .expect("write");
        match run(&file, &sandbox, &BuildOptions::default(), &options) {
            Err(RunFailure::Invalid(d)) => assert!(d.to_string().contains("unknown stage kind `nope`"), "{d}"),
            other => panic!("expected the file's problems, got {other:?}"),
        }
    }
}
