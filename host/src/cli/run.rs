//! `kiln run`: check a pipeline, then run it (resuming an interrupted run).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln::pipeline::jobs::JobReport;
use kiln::pipeline::{Pipeline, RunOptions, run as run_pipeline};
use kiln::plugin::Sandbox;

/// Arguments of `kiln run`.
#[derive(Debug, clap::Args)]
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
}

pub fn run(sandbox: &Sandbox, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = match Pipeline::load(&args.file, sandbox) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s); nothing was run", args.file.display(), diagnostics.0.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let name = pipeline.name.clone();
    let summary = run_pipeline(pipeline, &RunOptions { fresh: args.fresh, no_cache: args.no_cache })
        .with_context(|| format!("running pipeline `{name}` ({})", args.file.display()))?;
    let s = &summary.stats;
    eprintln!(
        "kiln run: `{}` done in {:.2}s: {} lines{} -> {} kept, {} rejected, {} quarantined{}",
        s.pipeline,
        s.seconds,
        s.input_lines,
        if s.generated > 0 { format!(" (+{} generated)", s.generated) } else { String::new() },
        s.kept,
        s.rejected,
        s.quarantined,
        if s.resumed_chunks > 0 {
            format!(" ({} chunk(s) resumed from an earlier run)", s.resumed_chunks)
        } else {
            String::new()
        }
    );
    for stage in &s.stages {
        eprintln!(
            "  {:<16} in {:>9}  kept {:>9}  rejected {:>9}  quarantined {:>6}  {:>8.0} rec/s",
            stage.name,
            stage.input,
            stage.kept,
            stage.rejected_total(),
            stage.quarantined,
            stage.input as f64 / stage.seconds.max(1e-9)
        );
        let d = |k: &str| stage.details.get(k).copied().unwrap_or(0);
        if d("requests") + d("cache_hits") > 0 {
            eprintln!(
                "  {:<16} model: {} requests ({} retries), {} cache hits, {} prompt + {} completion tokens",
                "",
                d("requests"),
                d("retries"),
                d("cache_hits"),
                d("prompt_tokens"),
                d("completion_tokens")
            );
        }
    }
    print_jobs(&s.jobs);
    eprintln!("  outputs: {}/{{kept,rejected,quarantine}}.jsonl", summary.output_dir.display());
    eprintln!("  report:  {}", summary.output_dir.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

/// One line per trained model, and the held-out comparison.
fn print_jobs(jobs: &[JobReport]) {
    for job in jobs {
        match job {
            JobReport::TrainStudent(r) => {
                let speed = r.seeds.iter().map(|s| s.tokens_per_second).sum::<f64>() / r.seeds.len().max(1) as f64;
                eprintln!(
                    "  {:<16} trained {} student(s) on {} records ({} chars): {} steps x {} chars, {:.0} chars/s",
                    r.stage,
                    r.seeds.len(),
                    r.records,
                    r.characters,
                    r.config.steps,
                    r.config.batch,
                    speed
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
                }
            }
        }
    }
}
