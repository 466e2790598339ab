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
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let signatures: Vec<serde_json::Value> = kiln_registry::signature::signatures(&bytes)
        .unwrap_or_default()
        .iter()
        .map(|s| serde_json::json!({ "key": s.key.id(), "public_key": s.key.encode(), "valid": s.valid }))
        .collect();
    if args.json {
        let mut value = serde_json::to_value(info)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("signatures".into(), signatures.into());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
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
        if signatures.is_empty() {
            println!("signatures:  none");
        }
        for s in &signatures {
            let verdict = if s["valid"] == true { "valid" } else { "INVALID: changed after signing" };
            println!(
                "signature:   key {} ({}), {verdict}",
                s["key"].as_str().unwrap_or(""),
                s["public_key"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
