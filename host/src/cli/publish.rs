//! `kiln plugin push FILE REF` and `kiln plugin pull REF`: publish a
//! component to an OCI registry in the CNCF Wasm layout, and resolve one
//! into the machine's plugin store. Both print the reference pinned to its
//! manifest digest — what a pipeline should name to be reproducible.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kiln::plugin::{LoadOptions, PluginInfo, Sandbox};
use kiln_registry::artifact::PluginMetadata;
use kiln_registry::{OciReference, Registry, Store};

/// `kiln plugin push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The component to publish (`.wasm`, built for wasm32-wasip2).
    pub file: PathBuf,
    /// Where: `oci://HOST[:PORT]/NAMESPACE/NAME:TAG`.
    pub reference: String,
}

/// `kiln plugin pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// What: `oci://HOST[:PORT]/NAMESPACE/NAME:TAG` or `…@sha256:<hex>`.
    pub reference: String,
}

/// The store under `cache_dir` (else the default cache directory).
pub(super) fn registry(cache_dir: Option<&Path>) -> anyhow::Result<Registry> {
    let root = cache_dir
        .map(|d| d.join("plugins"))
        .or_else(Store::default_root)
        .context("no plugin store: pass --cache-dir or set KILN_CACHE_DIR")?;
    let store = kiln::objects::plugin_store::local_store(root).map_err(anyhow::Error::msg)?;
    Ok(Registry::new(store)?)
}

/// Publish a component. It is described in the sandbox first (only its
/// `info` runs): a file that is not a plugin of this contract is refused
/// before anything is sent, and what it says about itself (name, version,
/// kind, licence, config schema) goes on the manifest as annotations.
pub fn push(sandbox: &Sandbox, cache_dir: Option<&Path>, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let reference = OciReference::parse(&args.reference)?;
    if reference.tag.is_none() || reference.digest.is_some() {
        anyhow::bail!("`{}`: push to a tag (`oci://HOST/NS/NAME:TAG`), not a digest", args.reference);
    }
    let info = sandbox
        .describe(&args.file, &LoadOptions::new("push", None))
        .with_context(|| format!("{} is not a plugin Kiln can load; nothing was pushed", args.file.display()))?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let annotations = metadata(&info).annotations();
    let pushed = registry(cache_dir)?.push(&bytes, &args.file.display().to_string(), &reference, annotations)?;
    eprintln!("kiln plugin push: {} ({} bytes)", args.file.display(), bytes.len());
    eprintln!("  component {}", pushed.component_digest);
    eprintln!("  manifest  {}", pushed.manifest_digest);
    println!("{}", pushed.reference);
    Ok(ExitCode::SUCCESS)
}

/// Resolve a component into the store.
pub fn pull(cache_dir: Option<&Path>, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = OciReference::parse(&args.reference)?;
    let pulled = registry(cache_dir)?.pull(&reference)?;
    eprintln!(
        "kiln plugin pull: {} ({})",
        pulled.reference,
        if pulled.from_store { "already in the store" } else { "pulled and verified" }
    );
    eprintln!("  component {}", pulled.component_digest);
    println!("{}", pulled.path.display());
    Ok(ExitCode::SUCCESS)
}

/// What a plugin says about itself, as the registry crate carries it.
fn metadata(info: &PluginInfo) -> PluginMetadata {
    PluginMetadata {
        name: info.name.clone(),
        version: info.version.clone(),
        kind: info.kind.to_string(),
        description: info.description.clone(),
        license: info.license.clone(),
        reads: info.reads.to_string(),
        config_schema: info.config_schema.as_ref().map(|s| s.document().to_string()),
    }
}
