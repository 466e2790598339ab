//! `kiln plugin inspect`: what a component is, without running a pipeline.
//!
//! The plugin is described in the sandbox (only its `info` export runs, no
//! configuration is needed): name, version, kind, licence, what it reads, its
//! config keys from the JSON Schema it publishes, and the signatures it
//! carries. A published plugin (`oci://…`) is resolved into the plugin store
//! first, like a pipeline would, and the manifest's reference and digest are
//! shown too. `--config` also checks a config against the schema and starts
//! the plugin with it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kiln::human::printable;
use kiln::plugin::{LoadOptions, PluginInfo, Sandbox};
use kiln_registry::OciReference;

/// Arguments of `kiln plugin inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The plugin: a component file (.wasm) or `oci://HOST/NS/NAME:TAG[@sha256:…]`.
    plugin: String,
    /// Print JSON instead of text (the whole config schema included).
    #[arg(long)]
    json: bool,
    /// Also check this config (JSON) against the plugin's schema and start the plugin with it.
    #[arg(long)]
    config: Option<String>,
}

pub fn run(sandbox: &Sandbox, cache_dir: Option<&Path>, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let (file, published) = locate(cache_dir, &args.plugin)?;
    let info = sandbox
        .describe(&file, &LoadOptions::new("inspect", None))
        .with_context(|| format!("inspecting {}", args.plugin))?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let signatures: Vec<serde_json::Value> = kiln_registry::signature::signatures(&bytes)
        .unwrap_or_default()
        .iter()
        .map(|s| serde_json::json!({ "key": s.key.id(), "public_key": s.key.encode(), "valid": s.valid }))
        .collect();
    let config_check = args.config.as_ref().map(|config| {
        let mut options = LoadOptions::new("inspect", None);
        options.config = config.clone();
        sandbox.load(&file, options).map(drop).map_err(|e| e.to_string())
    });
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("signatures".into(), signatures.into());
            if let Some(reference) = &published {
                object.insert("reference".into(), reference.as_str().into());
            }
            if let Some(check) = &config_check {
                let verdict = match check {
                    Ok(()) => serde_json::json!({ "ok": true }),
                    Err(e) => serde_json::json!({ "ok": false, "error": e }),
                };
                object.insert("config_check".into(), verdict);
            }
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_text(&file, published.as_deref(), &info, &signatures);
        match &config_check {
            Some(Ok(())) => println!("config:      accepted"),
            Some(Err(e)) => println!("config:      REFUSED: {}", printable(e)),
            None => {}
        }
    }
    Ok(match config_check {
        Some(Err(_)) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// The component file of `plugin`, and the pinned reference it was resolved
/// from when it is a published one.
fn locate(cache_dir: Option<&Path>, plugin: &str) -> anyhow::Result<(PathBuf, Option<String>)> {
    if !plugin.starts_with("oci://") {
        return Ok((PathBuf::from(plugin), None));
    }
    let reference = OciReference::parse(plugin)?;
    let pulled = super::publish::registry(cache_dir)?.pull(&reference)?;
    Ok((pulled.path, Some(pulled.reference.to_string())))
}

fn print_text(file: &Path, published: Option<&str>, info: &PluginInfo, signatures: &[serde_json::Value]) {
    if let Some(reference) = published {
        println!("reference:   {}", printable(reference));
    }
    println!("file:        {}", file.display());
    println!("world:       {}", info.world);
    println!("kind:        {}", info.kind);
    println!("name:        {}", printable(&info.name));
    println!("version:     {}", printable(&info.version));
    println!("description: {}", printable(&info.description));
    let license = if info.license.is_empty() { "not declared" } else { info.license.as_str() };
    println!("license:     {}", printable(license));
    println!("reads:       {}", info.reads);
    println!("sha256:      {}", info.sha256);
    println!("size:        {} bytes", info.size);
    println!("imports:     {}", printable(&info.imports.join(", ")));
    match &info.config_schema {
        None => println!("config:      no schema published (the plugin checks its config itself)"),
        Some(schema) => {
            let fields = schema.fields();
            if fields.is_empty() {
                println!("config:      schema published, no keys (`--json` shows it)");
            } else {
                println!("config keys:");
            }
            for field in fields {
                let mut line = format!("  {} ({}", field.name, field.kind);
                if field.required {
                    line.push_str(", required");
                }
                if let Some(default) = &field.default {
                    line.push_str(&format!(", default {default}"));
                }
                line.push(')');
                if let Some(description) = &field.description {
                    line.push_str(&format!(": {description}"));
                }
                println!("{}", printable(&line));
            }
        }
    }
    if signatures.is_empty() {
        println!("signatures:  none");
    }
    for s in signatures {
        let verdict = if s["valid"] == true { "valid" } else { "INVALID: changed after signing" };
        println!(
            "signature:   key {} ({}), {verdict}",
            s["key"].as_str().unwrap_or(""),
            s["public_key"].as_str().unwrap_or("")
        );
    }
}
