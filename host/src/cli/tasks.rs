//! `kiln task run|merge` and `kiln launch local`: one run split into tasks.
//!
//! A task is one process running its contiguous shard of the input in its
//! own work directory (`kiln::pipeline::engine::shard`); `merge` assembles
//! the finished tasks' outputs. `launch local` starts the tasks as processes
//! on this machine, waits, reruns nothing that finished, and merges — the
//! same task model a Slurm array or a Kubernetes Indexed Job runs, with the
//! rank given on the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use kiln::pipeline::engine::shard::{Shard, global_stages, tasks_dir};
use kiln::pipeline::{LockMode, RunOptions};
use kiln::plugin::Sandbox;
use kiln::{TaskRun, merge_tasks, run_task};

use super::run::{DirArgs, load_or_report, print_summary};

/// `kiln task …`.
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Run one task of a split run: its shard of the input, in its own work
    /// directory (a finished task is not run again; an interrupted one resumes).
    Run(TaskRunArgs),
    /// Assemble the outputs of a split run whose tasks have all finished.
    Merge(MergeArgs),
}

/// Arguments of `kiln task run`.
#[derive(Debug, clap::Args)]
pub struct TaskRunArgs {
    /// The pipeline file.
    file: PathBuf,
    /// This task, from 0.
    #[arg(long)]
    rank: u32,
    /// How many tasks the run is split into.
    #[arg(long)]
    world: u32,
    /// Start this task over (its work directory only).
    #[arg(long)]
    fresh: bool,
    /// Bypass the request cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    dirs: DirArgs,
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

/// `kiln launch …`.
#[derive(Debug, clap::Subcommand)]
pub enum LaunchCommand {
    /// Run the tasks as processes on this machine, then merge them.
    Local(LocalArgs),
}

/// Arguments of `kiln launch local`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each task logs to WORK_DIR/tasks/RANK-of-WORLD.log. A task that fails leaves the others' work:
run the same command again to rerun only the tasks that did not finish.")]
pub struct LocalArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks (processes) to split the run into.
    #[arg(long)]
    tasks: u32,
    /// Start every task over.
    #[arg(long)]
    fresh: bool,
    /// Bypass the request cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    dirs: DirArgs,
}

pub fn task(sandbox: &Sandbox, command: &TaskCommand, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        TaskCommand::Run(args) => {
            let shard = Shard::new(args.rank, args.world).map_err(anyhow::Error::msg)?;
            let overrides = args.dirs.overrides(plugin_store);
            let options = RunOptions { fresh: args.fresh, no_cache: args.no_cache, ..RunOptions::default() };
            let what = format!("task {} of {}", args.rank, args.world);
            match run_task(&args.file, sandbox, &overrides, shard, &options)
                .with_context(|| format!("{what} of {}", args.file.display()))?
            {
                TaskRun::AlreadyDone => eprintln!("kiln task: {what} had finished; nothing to do"),
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
    }
}

pub fn launch(sandbox: &Sandbox, command: &LaunchCommand, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    let LaunchCommand::Local(args) = command;
    Shard::new(0, args.tasks).map_err(|_| anyhow::anyhow!("--tasks must be at least 1"))?;
    // One check of the file, not one per task.
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.dirs.overrides(plugin_store) };
    let Some(pipeline) = load_or_report(&args.file, sandbox, &overrides, "nothing was run") else {
        return Ok(ExitCode::FAILURE);
    };
    let global = global_stages(&pipeline);
    if !global.is_empty() || pipeline.rounds.is_some() {
        let names: Vec<String> = global.iter().map(|s| format!("`{s}`")).collect();
        anyhow::bail!(
            "{}: stage(s) {} need every record of the corpus and cannot be split into tasks yet; run it with `kiln run`",
            args.file.display(),
            if names.is_empty() { "[rounds]".to_string() } else { names.join(", ") }
        );
    }
    let logs = tasks_dir(&pipeline.work_dir);
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let exe = std::env::current_exe().context("cannot find the kiln executable to start the tasks")?;
    let started = std::time::Instant::now();
    let mut children = Vec::new();
    for rank in 0..args.tasks {
        let shard = Shard { rank, world: args.tasks };
        let log_path = logs.join(format!("{}.log", shard.label()));
        let log = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(&exe);
        command.arg("task").arg("run").arg(&args.file);
        command.args(["--rank", &rank.to_string(), "--world", &args.tasks.to_string()]);
        command.args(args.dirs.to_args());
        if args.fresh {
            command.arg("--fresh");
        }
        if args.no_cache {
            command.arg("--no-cache");
        }
        // `--cache-dir` reaches the tasks as the variable it defaults to.
        if let Some(cache) = plugin_store.and_then(Path::parent) {
            command.env("KILN_CACHE_DIR", cache);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start task {rank}"))?;
        children.push((rank, child, log_path));
    }
    let mut failed = Vec::new();
    for (rank, mut child, log) in children {
        let status = child.wait().with_context(|| format!("waiting for task {rank}"))?;
        if !status.success() {
            failed.push((rank, status, log));
        }
    }
    if !failed.is_empty() {
        for (rank, status, log) in &failed {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            eprintln!("kiln launch: task {rank} failed ({status}); {}:", log.display());
            for line in last.iter().rev() {
                eprintln!("  {line}");
            }
        }
        eprintln!(
            "kiln launch: {} of {} task(s) finished; run the same command again to rerun only the others",
            args.tasks as usize - failed.len(),
            args.tasks
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut summary = merge_tasks(&args.file, sandbox, &overrides, args.tasks)
        .with_context(|| format!("merging the tasks of {}", args.file.display()))?;
    summary.stats.seconds = started.elapsed().as_secs_f64();
    print_summary(&format!("kiln launch local ({} tasks)", args.tasks), &summary);
    Ok(ExitCode::SUCCESS)
}
