//! `kiln run`: check a pipeline, then run it (resuming an interrupted run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kiln::pipeline::stages::JobReport;
use kiln::pipeline::{BuildOptions, LockMode, Pipeline, RunOptions};
use kiln::plugin::Sandbox;

use kiln::cluster::shell_quote;
use kiln::human::{count, printable, rate};

/// Arguments of `kiln run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Environment:
  KILN_LOG     log level or filter: error, warn, info (default), debug, trace, or e.g. `kiln=debug`
  KILN_DEVICE  where the GPU kernels run: auto (default: a GPU if wgpu finds one, else the CPU), gpu, cpu

An interrupted run (Ctrl-C, a crash, a lost machine) keeps every chunk it committed:
run the same command again, without --fresh, to resume where it stopped.")]
pub struct RunArgs {
    /// The pipeline file.
    file: PathBuf,
    /// Start over: discard what an earlier run of this pipeline left in its
    /// work directory (completions in its request cache are kept and reused).
    #[arg(long)]
    fresh: bool,
    /// Bypass the request cache: ask the models again, and store nothing.
    #[arg(long)]
    no_cache: bool,
    /// A pipeline with `[rounds]`: run only its first N rounds (a shortened
    /// experiment; a later full run reuses every round this one committed).
    #[arg(long, value_name = "N")]
    rounds: Option<u32>,
    /// A pipeline with `[rounds]`: run only these arms (comma-separated).
    #[arg(long, value_name = "ARMS", value_delimiter = ',')]
    arms: Option<Vec<String>>,
    /// Fail if kiln.lock would change (a published plugin it lacks, or one
    /// pinned in the file to another digest), as `cargo --locked` does.
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Directories that replace the pipeline file's own, shared by `run` and `validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArgs {
    /// Use DIR as the work directory instead of the file's `work_dir` (or
    /// s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX: the
    /// work directory on object storage).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Write the outputs to DIR instead of the file's `[output] dir`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl DirArgs {
    /// The same directories as command-line arguments (for a child process).
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        for (flag, dir) in [("--work-dir", &self.work_dir), ("--out", &self.out)] {
            if let Some(dir) = dir {
                args.push(flag.into());
                args.push(dir.clone().into_os_string());
            }
        }
        args
    }

    /// The overrides, with published plugins kept in `plugin_store`.
    pub fn overrides(&self, plugin_store: Option<&Path>) -> BuildOptions {
        BuildOptions {
            work_dir: self.work_dir.clone(),
            output_dir: self.out.clone(),
            lock: LockMode::Read,
            plugin_store: plugin_store.map(Path::to_path_buf),
            ..BuildOptions::default()
        }
    }
}

impl RunArgs {
    /// The command that resumes this run: the same one without `--fresh`.
    fn resume_command(&self) -> String {
        let mut words = vec!["kiln".to_string(), "run".into(), shell_quote(&self.file.to_string_lossy())];
        if self.no_cache {
            words.push("--no-cache".into());
        }
        if self.locked {
            words.push("--locked".into());
        }
        if let Some(n) = self.rounds {
            words.extend(["--rounds".to_string(), n.to_string()]);
        }
        if let Some(arms) = &self.arms {
            words.extend(["--arms".to_string(), shell_quote(&arms.join(","))]);
        }
        for (flag, dir) in [("--work-dir", &self.dirs.work_dir), ("--out", &self.dirs.out)] {
            if let Some(dir) = dir {
                words.extend([flag.to_string(), shell_quote(&dir.to_string_lossy())]);
            }
        }
        words.join(" ")
    }
}

/// On Ctrl-C (or SIGTERM), says how to resume and exits with 130, as shells
/// expect of an interrupted command. Exiting at once is safe: a chunk is
/// committed by an atomic rename, so a stop at any point loses only the work
/// of the chunks in flight, which the next run redoes (the same guarantee as
/// for `kill -9`, which the resume tests exercise).
fn on_interrupt_explain_resume(args: &RunArgs) {
    let resume = args.resume_command();
    let installed = ctrlc::set_handler(move || {
        kiln::pipeline::restore_stderr();
        eprintln!(
            "\nkiln run: interrupted. Every committed chunk is kept; to resume where it stopped, run:\n  {resume}"
        );
        std::process::exit(130);
    });
    if let Err(e) = installed {
        tracing::debug!("no Ctrl-C handler: {e}");
    }
}

/// Build the pipeline at `file`, saying what it changed in `kiln.lock`; or
/// print every problem in it and that `not_done` (e.g. "nothing was run").
pub(super) fn load_or_report(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    not_done: &str,
) -> Option<Pipeline> {
    match Pipeline::load_with(file, sandbox, overrides) {
        Ok(pipeline) => {
            for change in &pipeline.lock_changes {
                eprintln!("kiln.lock: {change}");
            }
            Some(pipeline)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s); {not_done}", file.display(), diagnostics.0.len());
            None
        }
    }
}

pub fn run(sandbox: &Sandbox, args: &RunArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    let overrides = BuildOptions {
        lock: if args.locked { LockMode::Locked } else { LockMode::Write },
        ..args.dirs.overrides(plugin_store)
    };
    let Some(mut pipeline) = load_or_report(&args.file, sandbox, &overrides, "nothing was run") else {
        return Ok(ExitCode::FAILURE);
    };
    if args.rounds.is_some() || args.arms.is_some() {
        let Some(plan) = pipeline.rounds.as_mut() else {
            eprintln!(
                "{}: --rounds and --arms apply to a pipeline with `[rounds]`; this one has none",
                args.file.display()
            );
            return Ok(ExitCode::FAILURE);
        };
        if let Err(e) = plan.shorten(args.rounds, args.arms.as_deref()) {
            eprintln!("{}: {e}", args.file.display());
            return Ok(ExitCode::FAILURE);
        }
    }
    let name = pipeline.name.clone();
    on_interrupt_explain_resume(args);
    let options = RunOptions { fresh: args.fresh, no_cache: args.no_cache, ..RunOptions::default() };
    let summary = kiln::run_loaded(pipeline, &options)
        .with_context(|| format!("running pipeline `{name}` ({})", args.file.display()))?;
    print_summary("kiln run", &summary);
    Ok(ExitCode::SUCCESS)
}

/// What a finished run made: counts per stage, jobs, rounds, where the outputs are.
pub(super) fn print_summary(command: &str, summary: &kiln::pipeline::RunSummary) {
    let s = &summary.stats;
    eprintln!(
        "{command}: `{}` done in {:.2}s: {} lines{} -> {} kept, {} rejected, {} quarantined{}",
        printable(&s.pipeline),
        s.seconds,
        count(s.input_lines),
        if s.generated > 0 { format!(" (+{} generated)", count(s.generated)) } else { String::new() },
        count(s.kept),
        count(s.rejected),
        count(s.quarantined),
        if s.resumed_chunks > 0 {
            format!(" ({} chunk(s) resumed from an earlier run)", s.resumed_chunks)
        } else {
            String::new()
        }
    );
    for stage in &s.stages {
        eprintln!(
            "  {:<16} in {:>9}  kept {:>9}  rejected {:>9}  quarantined {:>6}  {:>12}",
            stage.name,
            count(stage.input),
            count(stage.kept),
            count(stage.rejected_total()),
            count(stage.quarantined),
            if stage.barrier {
                String::new()
            } else {
                format!("{} rec/s", rate(stage.input as f64 / stage.seconds.max(1e-9)))
            }
        );
        let calls = &stage.details.calls;
        if calls.requests + calls.cache_hits > 0 {
            eprintln!(
                "  {:<16} model: {} requests ({} retries), {} cache hits, {} prompt + {} completion tokens",
                "",
                count(calls.requests),
                count(calls.retries),
                count(calls.cache_hits),
                count(calls.prompt_tokens),
                count(calls.completion_tokens)
            );
        }
    }
    print_jobs(&s.jobs);
    if let Some(rounds) = &s.rounds {
        super::rounds_table::print(rounds);
    }
    let (outputs, report) = match &summary.published {
        Some(prefix) => (prefix.to_string(), prefix.child("report.html").to_string()),
        None => {
            (summary.output_dir.display().to_string(), summary.output_dir.join("report.html").display().to_string())
        }
    };
    eprintln!("  outputs: {outputs}/{{kept,rejected,quarantine}}.jsonl");
    eprintln!("  report:  {report}");
}

/// A scorer's accuracy per problem class, on one line (nothing without classes).
fn print_classes(by_class: &std::collections::BTreeMap<String, kiln::pipeline::stages::evaluate::ClassScore>) {
    if by_class.is_empty() {
        return;
    }
    let cells: Vec<String> =
        by_class.iter().map(|(class, c)| format!("{class} {:.1}% ({})", 100.0 * c.accuracy.mean, c.items)).collect();
    eprintln!("  {:<16}   {:<18} by class: {}", "", "", cells.join(", "));
}

/// One line per trained model, and the held-out comparison.
fn print_jobs(jobs: &[JobReport]) {
    for job in jobs {
        match job {
            JobReport::TrainStudent(r) => {
                let speed = r.seeds.iter().map(|s| s.tokens_per_second).sum::<f64>() / r.seeds.len().max(1) as f64;
                eprintln!(
                    "  {:<16} trained {} student(s) on {} records ({} chars): {} steps x {} chars, {} chars/s",
                    r.stage,
                    r.seeds.len(),
                    count(r.records),
                    count(r.characters),
                    count(u64::from(r.config.steps)),
                    r.config.batch,
                    rate(speed)
                );
            }
            JobReport::TrainClassifier(r) => {
                let agreement = r.agreement.map_or("no held-out labels".to_string(), |a| {
                    format!(
                        "agreement with the judge {:.3} (kappa {:.3}) on {} held-out labels",
                        a.accuracy, a.kappa, a.records
                    )
                });
                eprintln!("  {:<16} classifier trained on {} labels: {agreement}", r.stage, r.trained_on);
            }
            JobReport::Eval(r) => {
                eprintln!(
                    "  {:<16} {} held-out items ({} left out: seen in training)",
                    r.stage, r.items, r.contaminated
                );
                for s in &r.students {
                    eprintln!(
                        "  {:<16}   {:<18} accuracy {:5.1}% +/- {:4.1}  perplexity {}",
                        "",
                        s.student,
                        100.0 * s.accuracy.mean,
                        100.0 * s.accuracy.half_width,
                        s.perplexity.map_or("-".into(), |p| format!("{:.3} +/- {:.3}", p.mean, p.half_width))
                    );
                    print_classes(&s.by_class);
                }
                for m in &r.models {
                    eprintln!(
                        "  {:<16}   {:<18} accuracy {:5.1}% +/- {:4.1}  (model{})",
                        "",
                        m.model,
                        100.0 * m.accuracy.mean,
                        100.0 * m.accuracy.half_width,
                        if m.failed > 0 { format!(", {} failed requests", m.failed) } else { String::new() }
                    );
                    print_classes(&m.by_class);
                }
            }
        }
    }
}
