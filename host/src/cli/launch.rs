//! `kiln launch local|slurm|k8s`: a split run's steps on an engine.
//!
//! A split run is a sequence of steps (`kiln::pipeline::engine::staged::plan`):
//! the tasks, and for each dedup stage its band merges, its clustering and
//! the tasks again, then the merge. `local` runs each step's pieces as
//! processes on this machine; `slurm` submits each step as a job array that
//! depends on the one before; `k8s` writes one Indexed Job per step. All
//! three run only what has not finished, so the same command after a failure
//! reruns only the failed pieces.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use kiln::pipeline::LockMode;
use kiln::pipeline::engine::shard::{Shard, tasks_dir};
use kiln::pipeline::engine::staged::{Step, plan};
use kiln::plugin::Sandbox;
use kiln::{merge_tasks, pending};

use super::run::{DirArgs, load_or_report, print_summary};
use super::tasks::TaskFlags;

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
paths given here: put them on the volume (--volume-claim, mounted at --mount) at the same paths,
or on object storage (--work-dir s3://BUCKET/PREFIX, gs://… or az://…, --out likewise; pass the store's endpoint
with --env, its credentials from a Secret with --env-secret, and give --manifests).")]
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
    /// An environment variable for the pods, NAME=VALUE (repeatable;
    /// written in the manifests: use --env-secret for credentials).
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// An environment variable for the pods from a key of a Kubernetes
    /// Secret, NAME=SECRET/KEY (repeatable), e.g.
    /// `AWS_SECRET_ACCESS_KEY=s3-credentials/secret-key`: the value is never
    /// written in the manifests.
    #[arg(long, value_name = "NAME=SECRET/KEY")]
    env_secret: Vec<String>,
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
    /// More sbatch arguments for the training and evaluation jobs only,
    /// e.g. `--job-sbatch-arg=--gres=gpu:1` to run them on a GPU node (repeatable).
    #[arg(long = "job-sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    job_sbatch_args: Vec<String>,
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
run the same command again to rerun only the tasks that did not finish. With the work directory
on object storage (--work-dir s3://BUCKET/PREFIX, gs://… or az://…) every process works in a scratch copy of its
own (under $KILN_WORK_SCRATCH, else $TMPDIR) and the logs are put in the store.")]
pub struct LocalArgs {
    /// The pipeline file.
    file: PathBuf,
    /// How many tasks (processes) to split the run into.
    #[arg(long)]
    tasks: u32,
    #[command(flatten)]
    run: TaskFlags,
}

pub fn launch(sandbox: &Sandbox, command: &LaunchCommand, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        LaunchCommand::Local(args) => launch_local(sandbox, args, plugin_store),
        LaunchCommand::Slurm(args) => launch_slurm(sandbox, args, plugin_store),
        LaunchCommand::K8s(args) => launch_k8s(sandbox, args, plugin_store),
    }
}

/// The commands of a split run's pieces, as every launcher writes them.
struct Pieces {
    /// `task` and the rest, before the verb's own words: the pipeline file.
    file: String,
    /// `--world N`.
    world: u32,
    /// `--work-dir`, `--out`… as given.
    dirs: Vec<String>,
}

impl Pieces {
    fn new(file: &Path, world: u32, dirs: &DirArgs) -> Pieces {
        Pieces {
            file: file.display().to_string(),
            world,
            dirs: dirs.to_args().iter().map(|a| a.to_string_lossy().to_string()).collect(),
        }
    }

    /// The `kiln` arguments of piece `index` of `step` (`None`: the engine
    /// gives it in the environment, or the step has one piece).
    fn words(&self, step: &Step, index: Option<&str>) -> Vec<String> {
        let mut words: Vec<String> = match step {
            Step::Tasks { .. } => vec!["task".into(), "run".into(), self.file.clone()],
            Step::Bands { stage, .. } => {
                vec!["task".into(), "band".into(), self.file.clone(), "--stage".into(), stage.clone()]
            }
            Step::Cluster { stage } => {
                vec!["task".into(), "cluster".into(), self.file.clone(), "--stage".into(), stage.clone()]
            }
            Step::Job { stage } => {
                vec!["task".into(), "job".into(), self.file.clone(), "--stage".into(), stage.clone()]
            }
        };
        match (step, index) {
            (Step::Tasks { .. }, Some(i)) => words.extend(["--rank".to_string(), i.to_string()]),
            (Step::Bands { .. }, Some(i)) => words.extend(["--band".to_string(), i.to_string()]),
            _ => {}
        }
        words.extend(["--world".to_string(), self.world.to_string()]);
        words.extend(self.dirs.iter().cloned());
        words
    }

    /// The merge's arguments.
    fn merge(&self) -> Vec<String> {
        let mut words =
            vec!["task".into(), "merge".into(), self.file.clone(), "--world".into(), self.world.to_string()];
        words.extend(self.dirs.iter().cloned());
        words
    }
}

/// A short name for `step`: its jobs' and scripts' names.
fn label(step: &Step) -> String {
    match step {
        Step::Tasks { until: Some(stage) } => format!("tasks-to-{stage}"),
        Step::Tasks { until: None } => "tasks".into(),
        Step::Bands { stage, .. } => format!("{stage}-bands"),
        Step::Cluster { stage } => format!("{stage}-cluster"),
        Step::Job { stage } => format!("{stage}-job"),
    }
}

/// The log of `step`'s pieces, `%a` for the index (a task's steps share one).
fn log_pattern(step: &Step) -> String {
    match step {
        Step::Tasks { .. } => "task-%a.log".into(),
        Step::Bands { stage, .. } => format!("{stage}-band-%a.log"),
        Step::Cluster { stage } => format!("{stage}-cluster.log"),
        Step::Job { stage } => format!("{stage}-job.log"),
    }
}

/// What piece `index` of `step` is, for messages.
fn describe(step: &Step, index: u32) -> String {
    match step {
        Step::Tasks { .. } => format!("task {index}"),
        Step::Bands { stage, .. } => format!("band {index} of dedup stage `{stage}`"),
        Step::Cluster { stage } => format!("the clustering of dedup stage `{stage}`"),
        Step::Job { stage } => format!("the job of stage `{stage}`"),
    }
}

/// How many pieces `step` has for a run of `world` tasks.
fn pieces(step: &Step, world: u32) -> u32 {
    match step {
        Step::Tasks { .. } => world,
        Step::Bands { bands, .. } => *bands as u32,
        Step::Cluster { .. } | Step::Job { .. } => 1,
    }
}

/// Prints the end of `log`, indented.
fn show_log_tail(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last: Vec<&str> = text.lines().rev().take(3).collect();
    for line in last.iter().rev() {
        eprintln!("  {line}");
    }
}

/// The environment variables `--env` gave, checked.
fn env_pairs(env: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    env.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--env `{kv}`: give NAME=VALUE"))
        })
        .collect()
}

/// `NAME=SECRET/KEY` arguments as (variable, secret, key).
fn secret_env(env: &[String]) -> anyhow::Result<Vec<(String, String, String)>> {
    env.iter()
        .map(|arg| {
            let (name, from) = arg.split_once('=').unwrap_or((arg, ""));
            match from.split_once('/') {
                Some((secret, key)) if !name.is_empty() && !secret.is_empty() && !key.is_empty() => {
                    Ok((name.to_string(), secret.to_string(), key.to_string()))
                }
                _ => anyhow::bail!("--env-secret `{arg}`: give NAME=SECRET/KEY (a key of a Kubernetes Secret)"),
            }
        })
        .collect()
}

fn launch_k8s(sandbox: &Sandbox, args: &K8sArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    use kiln::cluster::k8s;
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.dirs.overrides(plugin_store) };
    let Some(pipeline) = splittable(sandbox, &args.file, args.tasks, &overrides, Counting::Skip)? else {
        return Ok(ExitCode::FAILURE);
    };
    let words = Pieces::new(&args.file, args.tasks, &args.dirs);
    let volume = match (&args.volume_claim, &args.mount) {
        (Some(claim), Some(mount)) => Some((claim.clone(), mount.clone())),
        (None, None) => None,
        _ => anyhow::bail!("--volume-claim and --mount go together"),
    };
    let steps = plan(&pipeline)
        .iter()
        .map(|step| k8s::IndexedStep {
            label: label(step),
            completions: pieces(step, args.tasks),
            // Each pod's index is its rank or band (JOB_COMPLETION_INDEX).
            args: words.words(step, None),
        })
        .collect();
    let spec = k8s::JobSpec {
        name: pipeline.name.clone(),
        parallelism: args.parallelism,
        retries_per_task: args.retries,
        image: args.image.clone(),
        namespace: args.namespace.clone(),
        volume,
        steps,
        merge_args: words.merge(),
        env: env_pairs(&args.env)?,
        secret_env: secret_env(&args.env_secret)?,
    };
    let manifests = k8s::manifests(&spec);
    let dir = match &args.manifests {
        Some(dir) => dir.clone(),
        None if pipeline.work_store.is_some() => {
            anyhow::bail!("the work directory is on object storage: give --manifests DIR for the manifests")
        }
        None => tasks_dir(&pipeline.work_dir).join("k8s"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ns = args.namespace.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default();
    let mut commands = Vec::new();
    for (n, (label, manifest)) in manifests.iter().enumerate() {
        let path = dir.join(format!("{:02}-{label}.json", n + 1));
        let text = serde_json::to_string_pretty(manifest).context("manifest")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        commands.push(format!("kubectl apply{ns} -f {}", path.display()));
        if n + 1 < manifests.len() {
            let job = manifest["metadata"]["name"].as_str().unwrap_or_default();
            commands.push(format!("kubectl wait{ns} --for=condition=complete --timeout=-1s job/{job}"));
        }
    }
    eprintln!("kiln launch k8s: wrote {} manifest(s) to {}; apply them in turn:", manifests.len(), dir.display());
    for command in commands {
        eprintln!("  {command}");
    }
    eprintln!(
        "A failed index is retried {} time(s) on its own; delete a Job and apply it again to rerun only the \
         pieces that did not finish.",
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
    counting: Counting,
) -> anyhow::Result<Option<kiln::pipeline::Pipeline>> {
    Shard::new(0, tasks).map_err(|_| anyhow::anyhow!("--tasks must be at least 1"))?;
    let Some(pipeline) = load_or_report(file, sandbox, overrides, "nothing was run") else {
        return Ok(None);
    };
    if pipeline.rounds.is_some() {
        anyhow::bail!(
            "{}: a pipeline with [rounds] cannot be split into tasks yet; run it with `kiln run`",
            file.display()
        );
    }
    refresh(&pipeline, tasks)?;
    let tasks = kiln::pipeline::engine::shard::tasks_dir(&pipeline.work_dir);
    if counting == Counting::Again {
        kiln::pipeline::engine::shard::forget_input_counts(&tasks)?;
    }
    if counting != Counting::Skip && !pipeline.inputs.is_empty() {
        kiln::pipeline::engine::shard::input_counts(&pipeline.inputs, &tasks)
            .with_context(|| format!("counting the inputs of {}", file.display()))?;
    }
    Ok(Some(pipeline))
}

/// Brings down the markers of a split run of `world` tasks whose work
/// directory is on object storage, to decide what is left to run.
fn refresh(pipeline: &kiln::pipeline::Pipeline, world: u32) -> anyhow::Result<()> {
    use kiln::pipeline::engine::remote::{Role, pull};
    pull(pipeline, &Role::Launcher { world }).context("reading the work directory's markers")
}

/// Whether a launcher counts the inputs before any task starts (so that no
/// task has to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// No: the manifests are written where the work directory may not be (Kubernetes).
    Skip,
    /// Yes, keeping counts made before (the run goes on).
    Keep,
    /// Yes, forgetting counts made before (`--fresh`: the run starts over).
    Again,
}

fn launch_slurm(sandbox: &Sandbox, args: &SlurmArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    use kiln::cluster::slurm;
    let overrides = kiln::pipeline::BuildOptions { lock: LockMode::Write, ..args.dirs.overrides(plugin_store) };
    let on_store = |dir: Option<&Path>| dir.and_then(Path::to_str).is_some_and(kiln::objects::ObjectUrl::is_object);
    // Refused before anything is counted or put there (the file's own `work_dir` is seen once it loads).
    let refused = on_store(overrides.work_dir.as_deref());
    let pipeline = match refused {
        true => None,
        false => splittable(sandbox, &args.file, args.tasks, &overrides, Counting::Keep)?,
    };
    if refused || pipeline.as_ref().is_some_and(|p| p.work_store.is_some()) {
        anyhow::bail!(
            "the work directory of a Slurm launch must be on the file system every node sees (sbatch writes the \
             jobs' scripts and logs there): give --work-dir on it; the inputs, outputs and plugins can stay on \
             object storage"
        );
    }
    let Some(pipeline) = pipeline else { return Ok(ExitCode::FAILURE) };
    let exe = std::env::current_exe().context("cannot find the kiln executable for the jobs")?;
    let file = std::fs::canonicalize(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let words = Pieces::new(&file, args.tasks, &args.dirs);
    let mut common: Vec<String> = Vec::new();
    if let Some(cache) = plugin_store.and_then(Path::parent) {
        common.extend(["--cache-dir".into(), cache.display().to_string()]);
    }
    let command = |mut w: Vec<String>| {
        w.insert(0, exe.display().to_string());
        w.extend(common.iter().cloned());
        w
    };
    let dir = tasks_dir(&pipeline.work_dir).join("slurm");
    let steps = plan(&pipeline);
    // What each step has left; steps that finished are not submitted again.
    let left: Vec<Vec<u32>> = steps.iter().map(|step| pending(&pipeline, args.tasks, step)).collect();
    let submission = slurm::Submission {
        name: format!("kiln-{}", pipeline.name),
        steps: steps
            .iter()
            .zip(&left)
            .map(|(step, indices)| slurm::ArrayJob {
                label: label(step),
                indices: indices.clone(),
                command: command(words.words(step, Some("{index}"))),
                log: log_pattern(step),
                sbatch_args: match step {
                    Step::Job { .. } => args.job_sbatch_args.clone(),
                    _ => Vec::new(),
                },
            })
            .collect(),
        merge: command(words.merge()),
        dir: dir.clone(),
        partition: args.partition.clone(),
        sbatch_args: args.sbatch_args.clone(),
    };
    let jobs = slurm::submit(&submission)?;
    let mut submitted = jobs.steps.iter();
    for (step, indices) in steps.iter().zip(&left) {
        if indices.is_empty() {
            continue;
        }
        let Some((_, id)) = submitted.next() else { break };
        let shown: Vec<String> = indices.iter().map(u32::to_string).collect();
        match step {
            Step::Tasks { .. } => {
                eprintln!("kiln launch slurm: job array {id} runs task(s) {} of {}", shown.join(","), args.tasks)
            }
            Step::Bands { stage, bands } => eprintln!(
                "kiln launch slurm: job array {id} merges band(s) {} of {bands} of dedup stage `{stage}`",
                shown.join(",")
            ),
            Step::Cluster { stage } => eprintln!("kiln launch slurm: job {id} clusters dedup stage `{stage}`"),
            Step::Job { stage } => eprintln!("kiln launch slurm: job {id} runs the job of stage `{stage}`"),
        }
    }
    if jobs.steps.is_empty() {
        eprintln!("kiln launch slurm: every task had finished; merge job {}", jobs.merge);
    } else {
        eprintln!("kiln launch slurm: merge job {} after them", jobs.merge);
    }
    if args.no_wait {
        eprintln!("  watch them with `squeue -j {}`", jobs.ids().join(","));
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
        if queue.is_empty() {
            break;
        }
        // A job whose dependency failed would wait for ever, and the jobs
        // after it with it: once nothing before it is queued, cancel them.
        if let Some(stuck) = slurm::never_runnable(&jobs, &queue) {
            for id in stuck {
                slurm::cancel(&id)?;
            }
            break;
        }
        std::thread::sleep(slurm::POLL);
    }
    let failed = kiln::pipeline::engine::merge::unfinished(&pipeline, args.tasks);
    if !failed.is_empty() {
        // The first step with pieces left is where it went wrong.
        if let Some(step) = steps.iter().find(|s| !pending(&pipeline, args.tasks, s).is_empty()) {
            for index in pending(&pipeline, args.tasks, step) {
                let log = slurm::log_of(&dir, &log_pattern(step), index);
                eprintln!("kiln launch slurm: {} did not finish; {}:", describe(step, index), log.display());
                show_log_tail(&log);
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
            let summary = kiln::pipeline::RunSummary {
                stats,
                output_dir: pipeline.output_dir.clone(),
                published: pipeline.output_prefix.clone(),
            };
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
    let Some(pipeline) = splittable(
        sandbox,
        &args.file,
        args.tasks,
        &overrides,
        if args.run.fresh { Counting::Again } else { Counting::Keep },
    )?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let logs = tasks_dir(&pipeline.work_dir);
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let steps = plan(&pipeline);
    if args.run.fresh {
        // The staged steps' results, and what the jobs trained, belong to the run being started over.
        let staged = kiln::pipeline::engine::staged::StagedDirs::of_run(&pipeline, args.tasks);
        for step in &steps {
            let dirs = match step {
                Step::Cluster { stage } => vec![staged.global_dir(stage)],
                Step::Job { stage } => {
                    vec![staged.global_dir(stage), kiln::pipeline::workdir::job_dir(&pipeline.work_dir, stage)]
                }
                Step::Tasks { .. } | Step::Bands { .. } => Vec::new(),
            };
            for dir in &dirs {
                kiln::pipeline::workdir::remove_tree(dir)?;
            }
        }
    }
    let started = std::time::Instant::now();
    let words = Pieces::new(&args.file, args.tasks, &args.run.dirs);
    // A fresh run starts every task over once, in its first step.
    let mut fresh = args.run.fresh;
    for step in &steps {
        refresh(&pipeline, args.tasks)?;
        let left = if fresh { (0..args.tasks).collect() } else { pending(&pipeline, args.tasks, step) };
        let jobs: Vec<LocalJob> = left
            .iter()
            .map(|&i| {
                let mut w = words.words(step, Some(&i.to_string()));
                if let Step::Tasks { .. } = step {
                    if fresh {
                        w.push("--fresh".into());
                    }
                    if args.run.no_cache {
                        w.push("--no-cache".into());
                    }
                }
                let log = match step {
                    Step::Tasks { .. } => logs.join(format!("{}.log", Shard { rank: i, world: args.tasks }.label())),
                    _ => logs.join(log_pattern(step).replace("%a", &format!("{i:03}"))),
                };
                LocalJob { what: describe(step, i), words: w, log }
            })
            .collect();
        fresh = false;
        if !jobs.is_empty() {
            let shown: Vec<String> = left.iter().map(u32::to_string).collect();
            let what = match step {
                Step::Tasks { .. } => "task(s)".to_string(),
                Step::Bands { stage, .. } => format!("band merge(s) of `{stage}`"),
                Step::Cluster { stage } => format!("clustering of `{stage}`"),
                Step::Job { stage } => format!("the job of `{stage}`"),
            };
            eprintln!("kiln launch local: {what} {} of {} to run", shown.join(","), pieces(step, args.tasks));
        }
        let failed = run_local_jobs(jobs, args.tasks.max(1) as usize, plugin_store)?;
        // The logs, when the work directory is on object storage.
        kiln::pipeline::engine::remote::flush(&pipeline)?;
        if !failed.is_empty() {
            refresh(&pipeline, args.tasks)?;
            for (job, status) in &failed {
                let log = kiln::objects::mirror::shown(&job.log);
                eprintln!("kiln launch: {} failed ({status}); {}:", job.what, log.display());
                show_log_tail(&job.log);
            }
            let done = args.tasks as usize - kiln::pipeline::engine::merge::unfinished(&pipeline, args.tasks).len();
            eprintln!(
                "kiln launch: {done} of {} task(s) finished; run the same command again to rerun only what did not \
                 finish",
                args.tasks
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let mut summary = merge_tasks(&args.file, sandbox, &overrides, args.tasks)
        .with_context(|| format!("merging the tasks of {}", args.file.display()))?;
    summary.stats.seconds = started.elapsed().as_secs_f64();
    print_summary(&format!("kiln launch local ({} tasks)", args.tasks), &summary);
    Ok(ExitCode::SUCCESS)
}

/// A `kiln` process `launch local` starts: a task or a staged step.
struct LocalJob {
    what: String,
    words: Vec<String>,
    log: PathBuf,
}

/// Runs `jobs` as processes of this `kiln`, at most `at_once` at a time,
/// each appending to its log; returns the ones that failed.
fn run_local_jobs(
    jobs: Vec<LocalJob>,
    at_once: usize,
    plugin_store: Option<&Path>,
) -> anyhow::Result<Vec<(LocalJob, std::process::ExitStatus)>> {
    let exe = std::env::current_exe().context("cannot find the kiln executable to start the tasks")?;
    let mut waiting = jobs.into_iter();
    let mut running: Vec<(LocalJob, std::process::Child)> = Vec::new();
    let mut failed = Vec::new();
    loop {
        while running.len() < at_once {
            let Some(job) = waiting.next() else { break };
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&job.log)
                .with_context(|| format!("cannot open {}", job.log.display()))?;
            let mut command = Command::new(&exe);
            command.args(&job.words);
            // `--cache-dir` reaches the jobs as the variable it defaults to.
            if let Some(cache) = plugin_store.and_then(Path::parent) {
                command.env("KILN_CACHE_DIR", cache);
            }
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", job.what))?;
            running.push((job, child));
        }
        if running.is_empty() {
            return Ok(failed);
        }
        let mut still = Vec::new();
        for (job, mut child) in running {
            match child.try_wait().with_context(|| format!("waiting for {}", job.what))? {
                Some(status) if !status.success() => failed.push((job, status)),
                Some(_) => {}
                None => still.push((job, child)),
            }
        }
        running = still;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
