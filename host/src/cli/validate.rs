//! `kiln validate`: every check a run makes before work starts, and nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln::pipeline::Pipeline;
use kiln::plugin::Sandbox;

/// Arguments of `kiln validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The pipeline file.
    file: PathBuf,
    #[command(flatten)]
    dirs: super::run::DirArgs,
}

pub fn run(sandbox: &Sandbox, args: &ValidateArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    match Pipeline::load_with(&args.file, sandbox, &args.dirs.overrides(plugin_store)) {
        Ok(p) => {
            let files: usize = p.inputs.iter().map(|i| i.files.len() + i.objects.len()).sum();
            println!(
                "{}: ok — pipeline `{}`, {} input file(s), {} stage(s)",
                args.file.display(),
                kiln::human::printable(&p.name),
                files,
                p.stages.len()
            );
            for stage in &p.stages {
                let plugin =
                    stage.op.plugin().map(|p| format!(" ({})", kiln::human::printable(&p.label()))).unwrap_or_default();
                println!("  {:<16} {:?}{plugin}", stage.name, stage.kind);
            }
            if let Some(r) = &p.rounds {
                println!(
                    "  then {} round(s), {} seed(s) each; `{}` is the student of round k - {}:",
                    r.count,
                    r.seeds.len(),
                    r.model,
                    r.lag
                );
                for arm in &r.arms {
                    let stages: Vec<&str> =
                        arm.rounds.first().map(|s| s.iter().map(|s| s.name.as_str()).collect()).unwrap_or_default();
                    println!(
                        "  arm {:<12} {} ({} -> {})",
                        arm.name,
                        arm.policy.describe(),
                        stages.join(" -> "),
                        r.train.0
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s)", args.file.display(), diagnostics.0.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
