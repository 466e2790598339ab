//! `kiln task run|band|cluster|merge`: the pieces of one run split into tasks.
//!
//! A task is one process running its contiguous shard of the input in its
//! own work directory (`kiln::pipeline::engine::shard`); `band` and
//! `cluster` are the staged steps of a dedup stage between the tasks'
//! phases (`kiln::pipeline::engine::staged`); `merge` assembles the finished
//! tasks' outputs. Whatever starts them — a shell, `kiln launch`, Slurm,
//! Kubernetes — gives the rank or band on the command line or in the
//! environment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kiln::pipeline::RunOptions;
use kiln::pipeline::engine::shard::Shard;
use kiln::plugin::Sandbox;
use kiln::{StagedStep, TaskRun, merge_tasks, run_staged_step, run_task};

use super::run::{DirArgs, print_summary};

/// `kiln task …`.
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Run one task of a split run: its shard of the input, in its own work
    /// directory (a finished task is not run again; an interrupted one resumes).
    Run(TaskRunArgs),
    /// Assemble the outputs of a split run whose tasks have all finished.
    Merge(MergeArgs),
    /// Merge one band of a dedup stage's keys across the tasks (a staged step).
    Band(StagedArgs),
    /// Decide the groups of a dedup stage from its merged bands (a staged step).
    Cluster(StagedArgs),
    /// Run a training or evaluation stage's job over every task's records,
    /// once every task reached it (a staged step; on a GPU node where there is one).
    Job(StagedArgs),
}

/// Arguments of `kiln task band|cluster`.
#[derive(Debug, clap::Args)]
pub struct StagedArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks the run is split into.
    #[arg(long)]
    world: u32,
    /// The dedup stage (`band`, `cluster`) or training or evaluation stage (`job`).
    #[arg(long)]
    stage: String,
    /// The band to merge (`band` only; default: $JOB_COMPLETION_INDEX or
    /// $SLURM_ARRAY_TASK_ID, as for a rank).
    #[arg(long)]
    band: Option<u32>,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Arguments of `kiln task run`.
#[derive(Debug, clap::Args)]
pub struct TaskRunArgs {
    /// The pipeline file.
    file: PathBuf,
    /// This task, from 0 (default: $JOB_COMPLETION_INDEX in a Kubernetes
    /// Indexed Job, else $SLURM_ARRAY_TASK_ID in a Slurm job array).
    #[arg(long)]
    rank: Option<u32>,
    /// How many tasks the run is split into.
    #[arg(long)]
    world: u32,
    #[command(flatten)]
    run: TaskFlags,
}

/// What `task run` and `launch local` share with `kiln run`.
#[derive(Debug, clap::Args)]
pub(super) struct TaskFlags {
    /// Start over: discard what the task(s) committed (their request caches are kept).
    #[arg(long)]
    pub(super) fresh: bool,
    /// Bypass the request cache.
    #[arg(long)]
    pub(super) no_cache: bool,
    #[command(flatten)]
    pub(super) dirs: DirArgs,
}

/// Arguments of `kiln task merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks the run was split into.
    #[arg(long)]
    world: u32,
    #[command(flatten)]
    dirs: DirArgs,
}

pub fn task(sandbox: &Sandbox, command: &TaskCommand, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        TaskCommand::Run(args) => {
            let rank = match args.rank {
                Some(rank) => rank,
                None => rank_from_environment()?,
            };
            let shard = Shard::new(rank, args.world).map_err(anyhow::Error::msg)?;
            let overrides = args.run.dirs.overrides(plugin_store);
            let options = RunOptions { fresh: args.run.fresh, no_cache: args.run.no_cache, ..RunOptions::default() };
            let what = format!("task {rank} of {}", args.world);
            match run_task(&args.file, sandbox, &overrides, shard, &options)
                .with_context(|| format!("{what} of {}", args.file.display()))?
            {
                TaskRun::AlreadyDone => eprintln!("kiln task: {what} had finished; nothing to do"),
                TaskRun::Waiting { stage } => eprintln!(
                    "kiln task: {what} ran up to stage `{stage}`, which needs every task's records; it goes on when \
                     run again after the stage's staged steps (`kiln task band` and `kiln task cluster` for a dedup \
                     stage, `kiln task job` for training or evaluation)"
                ),
                TaskRun::Ran(summary) => {
                    let s = &summary.stats;
                    eprintln!(
                        "kiln task: {what} done in {:.2}s: {} lines -> {} kept, {} rejected, {} quarantined",
                        s.seconds, s.input_lines, s.kept, s.rejected, s.quarantined
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Merge(args) => {
            let overrides = args.dirs.overrides(plugin_store);
            let summary = merge_tasks(&args.file, sandbox, &overrides, args.world)
                .with_context(|| format!("merging the tasks of {}", args.file.display()))?;
            print_summary("kiln task merge", &summary);
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Band(args) | TaskCommand::Cluster(args) | TaskCommand::Job(args) => {
            let step = match command {
                TaskCommand::Band(_) => StagedStep::Band(match args.band {
                    Some(band) => band,
                    None => rank_from_environment().context("give --band")?,
                }),
                TaskCommand::Job(_) => StagedStep::Job,
                _ => StagedStep::Cluster,
            };
            let what = match step {
                StagedStep::Band(band) => format!("band {band} of stage `{}`", args.stage),
                StagedStep::Cluster => format!("clustering of stage `{}`", args.stage),
                StagedStep::Job => format!("the job of stage `{}`", args.stage),
            };
            let overrides = args.dirs.overrides(plugin_store);
            let started = std::time::Instant::now();
            match run_staged_step(&args.file, sandbox, &overrides, args.world, &args.stage, step)
                .with_context(|| format!("{what} of {}", args.file.display()))?
            {
                None => eprintln!("kiln task: {what} had been done; nothing to do"),
                Some(report) => {
                    eprintln!("kiln task: {what} done in {:.2}s: {report}", started.elapsed().as_secs_f64())
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The rank a cluster engine gave this process.
pub(super) fn rank_from_environment() -> anyhow::Result<u32> {
    for name in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(value) = std::env::var(name) {
            return value.trim().parse().with_context(|| format!("${name} is `{value}`, not a rank"));
        }
    }
    anyhow::bail!("give --rank (or run in a Kubernetes Indexed Job or a Slurm job array, which set it)")
}
