//! Argument parsing and dispatch for the `kiln` binary.

mod check;
mod dedup;
mod filter;
mod inspect;
mod launch;
mod lock;
mod publish;
mod rounds_table;
mod run;
mod scaffold;
mod serve;
mod signing;
mod tasks;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln::plugin::{PluginKind, Sandbox, SandboxConfig};

/// Kiln: sandboxed, GPU-accelerated refinement of synthetic training data.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Where compiled plugins are cached (default: $KILN_CACHE_DIR, else ~/.cache/kiln).
    #[arg(long, global = true, env = "KILN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with plugins: inspect or check a component, scaffold a new one.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run one filter or mapper plugin over JSONL records (stdin to stdout).
    Filter(filter::FilterArgs),
    /// Cluster the near-duplicates of a whole JSONL file (MinHash LSH, like datatrove).
    Dedup(dedup::DedupArgs),
    /// Run a pipeline file (resuming an interrupted run of it).
    Run(run::RunArgs),
    /// Check a pipeline file (syntax, stages, plugins, inputs) without running it.
    Validate(validate::ValidateArgs),
    /// Resolve the published plugins a pipeline names and pin them in kiln.lock.
    Lock(lock::LockArgs),
    /// Run many tenants' pipelines as a service (HTTP API, fair queueing, durable state).
    Serve(serve::ServeArgs),
    /// Add, list or revoke the service's tenants.
    #[command(subcommand)]
    Tenant(serve::TenantCommand),
    /// Run one task of a run split into tasks, or merge the finished tasks.
    #[command(subcommand)]
    Task(tasks::TaskCommand),
    /// Split a run into tasks and run them (`local`: as processes on this machine).
    #[command(subcommand)]
    Launch(launch::LaunchCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Show a plugin's world, kind, name, version, sha256, size and imports.
    Inspect(inspect::InspectArgs),
    /// Check a plugin before publishing it: its imports (before compiling),
    /// that it starts with its config, and that a batch of non-ASCII records
    /// gets the same answers whole as one record per call.
    Check(check::CheckArgs),
    /// Publish a component to an OCI registry (CNCF Wasm artifact layout);
    /// prints the reference pinned to its digest.
    Push(publish::PushArgs),
    /// Resolve a published component into the local plugin store (verified
    /// by digest); prints its path.
    Pull(publish::PullArgs),
    /// Make an Ed25519 key pair for signing plugins (OUT.key, OUT.pub).
    Keygen(signing::KeygenArgs),
    /// Sign a component (the signature is embedded; it travels with the file).
    Sign(signing::SignArgs),
    /// Create a new plugin crate that builds and passes its test as generated.
    New {
        /// Crate name, e.g. `my-filter`.
        name: String,
        /// Which kind of plugin.
        #[arg(long, value_parser = kind_parser())]
        kind: PluginKind,
        /// Parent directory of the new crate (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// The kinds `plugin new` takes, each listed with what it does in `--help`.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = PluginKind> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let what = |kind: PluginKind| match kind {
        PluginKind::Filter => "keeps or drops each record, with a reason",
        PluginKind::Mapper => "rewrites records (text, metadata, scores)",
        PluginKind::Generator => "builds prompts for new records and parses the completions",
        PluginKind::Critic => "builds judge prompts and parses their scores",
        PluginKind::Refiner => "builds rewrite prompts and verifies the rewrites",
        PluginKind::Model => "an embedded model that completes prompts inside the sandbox",
    };
    PossibleValuesParser::new(PluginKind::ALL.map(|k| PossibleValue::new(k.as_str()).help(what(k))))
        .try_map(|s| s.parse::<PluginKind>())
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let sandbox = || -> anyhow::Result<Sandbox> {
        let mut config = SandboxConfig::default();
        if cli.cache_dir.is_some() {
            config.cache_dir = cli.cache_dir.clone();
        }
        Ok(Sandbox::new(config)?)
    };
    // Published plugins are kept beside the compiled-component cache.
    let plugin_store = cli.cache_dir.as_ref().map(|d| d.join("plugins"));
    match &cli.command {
        Command::Plugin(PluginCommand::Inspect(args)) => inspect::run(&sandbox()?, cli.cache_dir.as_deref(), args),
        Command::Plugin(PluginCommand::Check(args)) => check::run(&sandbox()?, args),
        Command::Plugin(PluginCommand::New { name, kind, dir }) => scaffold::run(name, *kind, dir),
        Command::Plugin(PluginCommand::Push(args)) => publish::push(&sandbox()?, cli.cache_dir.as_deref(), args),
        Command::Plugin(PluginCommand::Pull(args)) => publish::pull(cli.cache_dir.as_deref(), args),
        Command::Plugin(PluginCommand::Keygen(args)) => signing::keygen(args),
        Command::Plugin(PluginCommand::Sign(args)) => signing::sign(args),
        Command::Filter(args) => filter::run(&sandbox()?, args),
        Command::Validate(args) => validate::run(&sandbox()?, args, plugin_store.as_deref()),
        Command::Run(args) => run::run(&sandbox()?, args, plugin_store.as_deref()),
        Command::Dedup(args) => dedup::run(args),
        Command::Lock(args) => lock::run(&sandbox()?, args, plugin_store.as_deref()),
        Command::Serve(args) => serve::serve(sandbox()?, args),
        Command::Tenant(command) => serve::tenant(command),
        Command::Task(command) => tasks::task(&sandbox()?, command, plugin_store.as_deref()),
        Command::Launch(command) => launch::launch(&sandbox()?, command, plugin_store.as_deref()),
    }
}

/// Logs go to stderr; the level comes from `KILN_LOG` (e.g. `debug`,
/// `kiln=trace`), default `info`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
