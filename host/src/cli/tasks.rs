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
pub struct TaskFlags {
    /// Start over: discard what the task(s) committed (their request caches are kept).
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
    /// Submit the tasks as a Slurm job array and the merge as a job after it.
    Slurm(SlurmArgs),
    /// Write Kubernetes manifests: the tasks as an Indexed Job, the merge as a Job.
    K8s(K8sArgs),
}

/// Arguments of `kiln launch k8s`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The pipeline file, its inputs, and the work and output directories are used in the pods by the
paths given here: put them on the volume (--volume-claim, mounted at --mount) at the same paths.")]
pub struct K8sArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks to split the run into.
    #[arg(long)]
    tasks: u32,
    /// The container image with `kiln` on its PATH.
    #[arg(long)]
    image: String,
    /// The namespace of the Jobs (default: the current one).
    #[arg(long)]
    namespace: Option<String>,
    /// A persistent volume claim holding the pipeline, its inputs and outputs.
    #[arg(long)]
    volume_claim: Option<String>,
    /// Where the claim is mounted in the pods.
    #[arg(long)]
    mount: Option<String>,
    /// Tasks running at once (default: all).
    #[arg(long)]
    parallelism: Option<u32>,
    /// Retries of each task before it counts as failed.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// An environment variable for the pods, NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Where to write the manifests (default: WORK_DIR/tasks/k8s).
    #[arg(long, value_name = "DIR")]
    manifests: Option<PathBuf>,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Arguments of `kiln launch slurm`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The tasks' logs are WORK_DIR/tasks/slurm/task-RANK.log. Tasks that finished are not submitted
again: after a failure (or `scancel`), run the same command to resubmit only the others.
The work and output directories must be on storage every node sees.")]
pub struct SlurmArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks to split the run into.
    #[arg(long)]
    tasks: u32,
    /// The partition to submit to (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// More arguments for sbatch, e.g. `--sbatch-arg=--time=01:00:00` (repeatable).
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Submit and return, without waiting for the jobs.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    dirs: DirArgs,
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
    #[command(flatten)]
    run: TaskFlags,
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

/// The rank a cluster engine gave this process.
fn rank_from_environment() -> anyhow::Result<u32> {
    for name in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(value) = std::env::var(name) {
            return value.trim().parse().with_context(|| format!("${name} is `{value}`, not a rank"));
        }
    }
    anyhow::bail!("give --rank (or run in a Kubernetes Indexed Job or a Slurm job array, which set it)")
}

pub fn launch(sandbox: &Sandbox, command: &LaunchCommand, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        LaunchCommand::Local(args) => launch_local(sandbox, args, plugin_store),
        LaunchCommand::Slurm(args) => launch_slurm(sandbox, args, plugin_store),
        LaunchCommand::K8s(args) => launch_k8s(sandbox, args, plugin_store),
    }
}

fn launch_k8s(sandbox: &Sandbox, args: &K8sArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    use kiln::cluster::k8s;
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.dirs.overrides(plugin_store) };
    let Some(pipeline) = splittable(sandbox, &args.file, args.tasks, &overrides)? else {
        return Ok(ExitCode::FAILURE);
    };
    let file = args.file.display().to_string();
    let world = args.tasks.to_string();
    let dirs: Vec<String> = args.dirs.to_args().iter().map(|a| a.to_string_lossy().to_string()).collect();
    let with = |verb: &str| -> Vec<String> {
        let mut words = vec!["task".to_string(), verb.to_string(), file.clone(), "--world".into(), world.clone()];
        words.extend(dirs.iter().cloned());
        words
    };
    let volume = match (&args.volume_claim, &args.mount) {
        (Some(claim), Some(mount)) => Some((claim.clone(), mount.clone())),
        (None, None) => None,
        _ => anyhow::bail!("--volume-claim and --mount go together"),
    };
    let env = args
        .env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--env `{kv}`: give NAME=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = k8s::JobSpec {
        name: pipeline.name.clone(),
        tasks: args.tasks,
        parallelism: args.parallelism,
        retries_per_task: args.retries,
        image: args.image.clone(),
        namespace: args.namespace.clone(),
        volume,
        task_args: with("run"),
        merge_args: with("merge"),
        env,
    };
    let (tasks, merge) = k8s::manifests(&spec);
    let dir = args.manifests.clone().unwrap_or_else(|| tasks_dir(&pipeline.work_dir).join("k8s"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, manifest) in [("tasks.json", &tasks), ("merge.json", &merge)] {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(manifest).context("manifest")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    let job = |m: &serde_json::Value| m["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let ns = args.namespace.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default();
    eprintln!("kiln launch k8s: wrote {0}/tasks.json and {0}/merge.json; apply them in turn:", dir.display());
    eprintln!("  kubectl apply{ns} -f {}/tasks.json", dir.display());
    eprintln!("  kubectl wait{ns} --for=condition=complete --timeout=-1s job/{}", job(&tasks));
    eprintln!("  kubectl apply{ns} -f {}/merge.json", dir.display());
    eprintln!(
        "A failed index is retried {} time(s) on its own; delete the Job and apply it again to rerun only the \
         tasks that did not finish.",
        args.retries
    );
    Ok(ExitCode::SUCCESS)
}

/// The pipeline at `file`, checked once (not once per task) and refused if
/// a stage needs the whole corpus; `None` when the file has problems (printed).
fn splittable(
    sandbox: &Sandbox,
    file: &Path,
    tasks: u32,
    overrides: &kiln::pipeline::BuildOptions,
) -> anyhow::Result<Option<kiln::pipeline::Pipeline>> {
    Shard::new(0, tasks).map_err(|_| anyhow::anyhow!("--tasks must be at least 1"))?;
    let Some(pipeline) = load_or_report(file, sandbox, overrides, "nothing was run") else {
        return Ok(None);
    };
    let global = global_stages(&pipeline);
    if !global.is_empty() || pipeline.rounds.is_some() {
        let names: Vec<String> = global.iter().map(|s| format!("`{s}`")).collect();
        anyhow::bail!(
            "{}: stage(s) {} need every record of the corpus and cannot be split into tasks yet; run it with `kiln run`",
            file.display(),
            if names.is_empty() { "[rounds]".to_string() } else { names.join(", ") }
        );
    }
    Ok(Some(pipeline))
}

fn launch_slurm(sandbox: &Sandbox, args: &SlurmArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    use kiln::cluster::slurm;
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.dirs.overrides(plugin_store) };
    let Some(pipeline) = splittable(sandbox, &args.file, args.tasks, &overrides)? else {
        return Ok(ExitCode::FAILURE);
    };
    let exe = std::env::current_exe().context("cannot find the kiln executable for the jobs")?;
    let file = std::fs::canonicalize(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let mut common: Vec<String> = Vec::new();
    if let Some(cache) = plugin_store.and_then(Path::parent) {
        common.extend(["--cache-dir".into(), cache.display().to_string()]);
    }
    let dirs: Vec<String> = args.dirs.to_args().iter().map(|a| a.to_string_lossy().to_string()).collect();
    let world = args.tasks.to_string();
    let word = |s: &str| s.to_string();
    let mut task = vec![exe.display().to_string(), word("task"), word("run"), file.display().to_string()];
    task.extend(["--rank".into(), "{rank}".into(), "--world".into(), world.clone()]);
    task.extend(dirs.iter().cloned());
    task.extend(common.iter().cloned());
    let mut merge = vec![exe.display().to_string(), word("task"), word("merge"), file.display().to_string()];
    merge.extend(["--world".into(), world]);
    merge.extend(dirs);
    merge.extend(common);
    let dir = tasks_dir(&pipeline.work_dir).join("slurm");
    let ranks = kiln::pipeline::engine::merge::unfinished(&pipeline, args.tasks);
    let submission = slurm::Submission {
        name: format!("kiln-{}", pipeline.name),
        ranks: ranks.clone(),
        task,
        merge,
        dir: dir.clone(),
        partition: args.partition.clone(),
        sbatch_args: args.sbatch_args.clone(),
    };
    let jobs = slurm::submit(&submission)?;
    let shown: Vec<String> = ranks.iter().map(u32::to_string).collect();
    match &jobs.tasks {
        Some(id) => eprintln!(
            "kiln launch slurm: job array {id} runs task(s) {} of {}; merge job {} after it",
            shown.join(","),
            args.tasks,
            jobs.merge
        ),
        None => eprintln!("kiln launch slurm: every task had finished; merge job {}", jobs.merge),
    }
    if args.no_wait {
        eprintln!(
            "  watch them with `squeue -j {}`",
            jobs.tasks.iter().chain([&jobs.merge]).cloned().collect::<Vec<_>>().join(",")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = usize::MAX;
    loop {
        let queue = slurm::queued(&jobs)?;
        let left = kiln::pipeline::engine::merge::unfinished(&pipeline, args.tasks).len();
        if left != last {
            eprintln!("kiln launch slurm: {} of {} task(s) done", args.tasks as usize - left, args.tasks);
            last = left;
        }
        let tasks_queued = queue.iter().any(|q| Some(q.id.split('_').next().unwrap_or("")) == jobs.tasks.as_deref());
        let merge = queue.iter().find(|q| q.id == jobs.merge);
        if let Some(m) = merge
            && !tasks_queued
            && m.reason.contains("DependencyNeverSatisfied")
        {
            slurm::cancel(&jobs.merge)?;
            break;
        }
        if queue.is_empty() {
            break;
        }
        std::thread::sleep(slurm::POLL);
    }
    let failed = kiln::pipeline::engine::merge::unfinished(&pipeline, args.tasks);
    if !failed.is_empty() {
        for rank in &failed {
            let log = slurm::task_log(&dir, *rank);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!("kiln launch slurm: task {rank} did not finish; {}:", log.display());
            for line in text.lines().rev().take(3).collect::<Vec<_>>().iter().rev() {
                eprintln!("  {line}");
            }
        }
        eprintln!(
            "kiln launch slurm: {} of {} task(s) finished; the merge was not run. Run the same command again to \
             resubmit only the others",
            args.tasks as usize - failed.len(),
            args.tasks
        );
        return Ok(ExitCode::FAILURE);
    }
    let stats = pipeline.output_dir.join("stats.json");
    let merged: Option<kiln::pipeline::report::stats::RunStats> =
        std::fs::read_to_string(&stats).ok().and_then(|t| serde_json::from_str(&t).ok());
    let merge_log = dir.join(format!("merge-{}.log", jobs.merge));
    match merged {
        Some(stats) if stats_are_fresh(&pipeline.output_dir, &merge_log) => {
            let summary = kiln::pipeline::RunSummary { stats, output_dir: pipeline.output_dir.clone() };
            print_summary(&format!("kiln launch slurm ({} tasks)", args.tasks), &summary);
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let text = std::fs::read_to_string(&merge_log).unwrap_or_default();
            eprintln!("kiln launch slurm: the merge job {} failed; {}:\n{text}", jobs.merge, merge_log.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether this merge job (its own log) finished, so `stats.json` in `out`
/// is its work, not left by an earlier run.
fn stats_are_fresh(out: &Path, merge_log: &Path) -> bool {
    out.join("stats.json").is_file()
        && std::fs::read_to_string(merge_log).is_ok_and(|t| t.contains("kiln task merge:") && t.contains("done in"))
}

fn launch_local(sandbox: &Sandbox, args: &LocalArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.run.dirs.overrides(plugin_store) };
    let Some(pipeline) = splittable(sandbox, &args.file, args.tasks, &overrides)? else {
        return Ok(ExitCode::FAILURE);
    };
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
        command.args(args.run.dirs.to_args());
        if args.run.fresh {
            command.arg("--fresh");
        }
        if args.run.no_cache {
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
