//! `kiln lock FILE [--update]`: resolve every published plugin the pipeline
//! names and write `kiln.lock` beside it. Without `--update`, references
//! already in the lock keep their digest (only new ones are resolved); with
//! it, every tag is asked again and each one that moved is reported.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln::pipeline::{BuildOptions, LockMode, Lockfile};
use kiln::plugin::Sandbox;

/// Arguments of `kiln lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The pipeline file; the lock is `kiln.lock` in its directory.
    file: PathBuf,
    /// Resolve every tag again (a tag moved upstream moves the lock, and is
    /// reported); without it, locked references keep their digest.
    #[arg(long)]
    update: bool,
}

pub fn run(sandbox: &Sandbox, args: &LockArgs, plugin_store: Option<&Path>) -> anyhow::Result<ExitCode> {
    let overrides = BuildOptions {
        lock: if args.update { LockMode::Update } else { LockMode::Write },
        plugin_store: plugin_store.map(Path::to_path_buf),
        ..BuildOptions::default()
    };
    let Some(pipeline) = super::run::load_or_report(&args.file, sandbox, &overrides, "kiln.lock was not written")
    else {
        return Ok(ExitCode::FAILURE);
    };
    let dir = args.file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let path = Lockfile::path_in(dir);
    match Lockfile::read(&path) {
        Ok(Some(lock)) => {
            let what = if pipeline.lock_changes.is_empty() { "unchanged" } else { "written" };
            eprintln!("{}: {what}, {} plugin(s)", path.display(), lock.plugin.len());
            for entry in &lock.plugin {
                eprintln!("  {} -> {} ({})", entry.reference, entry.digest, entry.signer);
            }
        }
        Ok(None) => eprintln!("{}: no published plugins; nothing to lock", args.file.display()),
        Err(d) => eprintln!("{d}"),
    }
    Ok(ExitCode::SUCCESS)
}
