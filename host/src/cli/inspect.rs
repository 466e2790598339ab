//! `kiln plugin inspect`: what a component is, without running a pipeline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln::human::printable;
use kiln::plugin::{LoadOptions, Sandbox};

/// Arguments of `kiln plugin inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The plugin component (.wasm).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The plugin's config as JSON, if it needs one to start.
    #[arg(long, default_value = "{}")]
    config: String,
}

pub fn run(sandbox: &Sandbox, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let mut options = LoadOptions::new("inspect", None);
    options.config = args.config.clone();
    let plugin = sandbox.load(&args.file, options).with_context(|| format!("inspecting {}", args.file.display()))?;
    let info = plugin.info();
    if args.json {
        println!("{}", serde_json::to_string_pretty(info)?);
    } else {
        println!("file:        {}", args.file.display());
        println!("world:       {}", info.world);
        println!("kind:        {}", info.kind);
        println!("name:        {}", printable(&info.name));
        println!("version:     {}", printable(&info.version));
        println!("description: {}", printable(&info.description));
        println!("reads:       {}", info.reads);
        println!("sha256:      {}", info.sha256);
        println!("size:        {} bytes", info.size);
        println!("imports:     {}", printable(&info.imports.join(", ")));
    }
    Ok(ExitCode::SUCCESS)
}
