//! Kiln's build tasks, run as `cargo xtask <task>`:
//!
//! - `plugins`: installs the `wasm32-wasip2` target when missing and builds
//!   every plugin (first-party and test plugins) as a component;
//! - `test`: everything the README's test command needs — plugins, the `kiln`
//!   binary, then the whole test suite;
//! - `corpus`: extracts a JSONL corpus of real prose from the Rust
//!   documentation installed with the toolchain (for tests and benchmarks);
//! - `heldout`: writes the held-out arithmetic set of the GDR demo;
//! - `bench`: builds what the benchmarks need and runs them;
//! - `demo`: the README's main job — builds everything and runs the example
//!   pipelines: `pipelines/clean-web.toml` over the bundled sample corpus,
//!   `pipelines/gdr-arithmetic.toml` (the refinement demonstration), then
//!   shortened recursive rounds: `pipelines/student-overtakes.toml` (the
//!   student against its teacher) and `pipelines/collapse-prose.toml`
//!   (collapse under `replace`, held by `accumulate`);
//! - `llm-server`: a real model server on loopback (llama.cpp's, serving
//!   Gemma 3 270M), installed once per machine (module `llm`).

mod corpus;
mod heldout;
mod llm;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Kiln build tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every plugin for wasm32-wasip2.
    Plugins,
    /// Build plugins and the kiln binary, then run all tests.
    Test,
    /// Extract a JSONL corpus from the Rust documentation.
    Corpus(corpus::CorpusArgs),
    /// Build everything and run the example pipelines (cleaning, GDR, recursive rounds).
    Demo,
    /// Write the held-out arithmetic problems that `eval` stages score students on.
    Heldout(heldout::HeldoutArgs),
    /// Run the benchmarks (plugin throughput, WASM against native).
    Bench {
        /// Extra arguments for criterion, e.g. a filter.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Install (once per machine, about 8 minutes) and run llama.cpp's
    /// OpenAI-compatible server with Gemma 3 270M on loopback.
    LlmServer {
        /// The port to listen on, on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Only install, then print where the interpreter and the model are.
        #[arg(long)]
        prepare_only: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Plugins => build_plugins(),
        Task::Test => test(),
        Task::Corpus(args) => corpus::run(&args),
        Task::Heldout(args) => heldout::run(&args),
        Task::Bench { args } => bench(&args),
        Task::Demo => demo(),
        Task::LlmServer { port, prepare_only: false } => llm::serve(port),
        Task::LlmServer { prepare_only: true, .. } => {
            let server = llm::prepare()?;
            println!("KILN_LLAMA_PYTHON={}\nKILN_LLM_MODEL={}", server.python.display(), server.model.display());
            Ok(())
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace());
    c
}

fn run(mut command: Command) -> anyhow::Result<()> {
    eprintln!("xtask: {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Packages under `plugins/*` and `tests/plugins/*` that build a `cdylib`
/// (plugins); libraries there (the SDK, shared cores) are skipped.
fn plugin_crates() -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for dir in ["plugins", "tests/plugins"] {
        let mut manifests: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(workspace().join(dir)).with_context(|| format!("listing {dir}"))? {
            let manifest = entry.with_context(|| format!("listing {dir}"))?.path().join("Cargo.toml");
            if let Ok(text) = std::fs::read_to_string(&manifest)
                && text.contains("\"cdylib\"")
            {
                manifests
                    .push(package_name(&text).with_context(|| format!("{}: no package name", manifest.display()))?);
            }
        }
        manifests.sort();
        names.extend(manifests);
    }
    Ok(names)
}

/// The `name` of the `[package]` in a Cargo.toml.
fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    let line = package.lines().find(|l| l.trim_start().starts_with("name"))?;
    Some(line.split('"').nth(1)?.to_string())
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "wasm32-wasip2") => Ok(()),
        Ok(_) => {
            let mut add = Command::new("rustup");
            add.args(["target", "add", "wasm32-wasip2"]);
            run(add)
        }
        Err(e) => {
            eprintln!("xtask: rustup not found ({e}); assuming the wasm32-wasip2 target is installed");
            Ok(())
        }
    }
}

fn build_plugins() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let mut build = cargo();
    build.args(["build", "--release", "--target", "wasm32-wasip2"]);
    for name in plugin_crates()? {
        build.args(["-p", &name]);
    }
    run(build)
}

fn test() -> anyhow::Result<()> {
    build_plugins()?;
    // One build of everything the tests need, `kiln` binary included, in a
    // single feature resolution: `build -p kiln` alone resolves features
    // without the dev-dependencies, which changes the features of serde_json,
    // syn and friends and so compiled the whole dependency tree (wasmtime,
    // wgpu, sqlx…) a second time for the tests — a quarter of a fresh CI run.
    let mut bin = cargo();
    bin.args(["build", "--release", "--workspace", "--lib", "--bins", "--tests", "--examples"]);
    run(bin)?;
    let mut test = cargo();
    test.args(["test", "--release", "--workspace"]);
    test.env("KILN_COMPONENTIZE_PY", componentize_py()?);
    test.env("KILN_KUBERNETES_VALIDATE", kubernetes_validate()?);
    test.env("KILN_MOTO_SERVER", python_tool("moto[server]", "5.2.6", "moto_server")?);
    test.env("KILN_AZURITE", npm_tool("azurite", "3.35.0", "azurite-blob")?);
    let llm = llm::prepare()?;
    test.env("KILN_LLAMA_PYTHON", &llm.python);
    test.env("KILN_LLM_MODEL", &llm.model);
    run(test)
}

/// componentize-py, which builds the Python example plugin, in a virtualenv
/// under `target/tools` made on first use (a 17 MB wheel; seconds).
fn componentize_py() -> anyhow::Result<PathBuf> {
    python_tool("componentize-py", "0.25.1", "componentize-py")
}

/// kubernetes-validate, which checks the manifests `kiln launch k8s` writes
/// against the Kubernetes JSON schemas it bundles (offline, strict).
fn kubernetes_validate() -> anyhow::Result<PathBuf> {
    python_tool("kubernetes-validate", "1.37.0", "kubernetes-validate")
}

/// `package==version` from PyPI in a virtualenv under `target/tools` made on
/// first use; returns its executable `bin`. (moto's server, `moto[server]`,
/// is the S3-compatible server of the object-storage tests.)
fn python_tool(package: &str, version: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let venv = workspace().join("target/tools").join(package.split('[').next().unwrap_or(package));
    let exe = venv.join("bin").join(bin);
    let installed = venv.join(format!("installed-{version}"));
    if !installed.is_file() {
        println!("installing {package} {version} into {}", venv.display());
        let mut make = Command::new("python3");
        make.args(["-m", "venv", "--clear"]).arg(&venv);
        run(make).context("cannot make a Python virtualenv: install python3 and python3-venv")?;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", "--disable-pip-version-check", &format!("{package}=={version}")]);
        run(install)?;
        std::fs::write(&installed, version)?;
    }
    Ok(exe)
}

/// `package@version` from npm in a folder under `target/tools` made on first
/// use; returns its executable `bin`. (Azurite, Microsoft's Blob Storage
/// emulator, is the Azure server of the object-storage tests.)
fn npm_tool(package: &str, version: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let dir = workspace().join("target/tools").join(package);
    let exe = dir.join("node_modules/.bin").join(bin);
    let installed = dir.join(format!("installed-{version}"));
    if !installed.is_file() {
        println!("installing {package} {version} into {}", dir.display());
        std::fs::create_dir_all(&dir)?;
        let mut install = Command::new("npm");
        install.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(&dir);
        install.arg(format!("{package}@{version}"));
        run(install).context("cannot install from npm: install nodejs and npm")?;
        std::fs::write(&installed, version)?;
    }
    Ok(exe)
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    build_plugins()?;
    let corpus = workspace().join("target/corpus/rustdoc-100k.jsonl");
    if !corpus.is_file() {
        corpus::run(&corpus::CorpusArgs {
            out: corpus.clone(),
            limit: 100_000,
            stride: 1,
            max_per_page: usize::MAX,
            min_chars: 0,
            exclude: None,
        })?;
    }
    let mut bench = cargo();
    bench.args(["bench", "--workspace", "--bench", "plugins", "--"]).args(args);
    bench.env("KILN_BENCH_CORPUS", &corpus);
    run(bench)
}

fn demo() -> anyhow::Result<()> {
    build_plugins()?;
    let mut bin = cargo();
    bin.args(["build", "--release", "-p", "kiln"]);
    run(bin)?;
    // The GDR comparison, then shortened recursive rounds (the full
    // experiments are one `kiln run pipelines/<file>.toml` each; see docs/rounds.md).
    let runs: [&[&str]; 4] = [
        &["pipelines/clean-web.toml"],
        &["pipelines/gdr-arithmetic.toml"],
        &["pipelines/student-overtakes.toml", "--rounds", "1"],
        &["pipelines/collapse-prose.toml", "--rounds", "3", "--arms", "replace,accumulate"],
    ];
    for args in runs {
        let mut kiln = Command::new(workspace().join("target/release/kiln"));
        kiln.current_dir(workspace()).arg("run").args(args).arg("--fresh");
        run(kiln)?;
    }
    Ok(())
}
