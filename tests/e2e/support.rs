//! Shared helpers of the end-to-end tests: where the built plugins and the
//! `kiln` binary are, and a sandbox with a private compile cache.
//!
//! The plugins are built for `wasm32-wasip2` by `cargo xtask plugins` (which
//! `cargo xtask test` runs first); a missing one fails the test with that
//! instruction rather than skipping it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod object_servers;

pub use object_servers::{LocalAzurite, LocalS3, ObjectServer};

use kiln::Record;
use kiln::plugin::{LoadOptions, Plugin, PluginError, PluginKind, Sandbox, SandboxConfig, wit};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"))
}

/// The built component of crate `name` (e.g. `length-filter`).
pub fn wasm(name: &str) -> PathBuf {
    let path = target_dir().join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} is missing: run `cargo xtask plugins` first", path.display());
    path
}

/// The release `kiln` binary.
pub fn kiln_bin() -> PathBuf {
    let path = target_dir().join("release/kiln");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --release -p kiln` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// A sandbox whose compile cache lives in `cache`.
pub fn sandbox_with_cache(cache: &Path) -> Sandbox {
    Sandbox::new(SandboxConfig { cache_dir: Some(cache.to_path_buf()), ..SandboxConfig::default() }).expect("sandbox")
}

/// A sandbox with a cache in the shared test cache directory.
pub fn sandbox() -> Sandbox {
    sandbox_with_cache(&target_dir().join("kiln-test-cache"))
}

/// Loads plugin crate `name` for stage `stage` with JSON `config`.
pub fn load(sandbox: &Sandbox, name: &str, kind: PluginKind, config: &str) -> Result<Plugin, PluginError> {
    let mut options = LoadOptions::new(format!("{name}-stage"), Some(kind));
    options.config = config.to_string();
    sandbox.load(&wasm(name), options)
}

/// WIT records with ids `r0, r1, ...` and the given texts.
pub fn records(texts: &[&str]) -> Vec<wit::DataRecord> {
    texts.iter().enumerate().map(|(i, t)| Record::new(format!("r{i}"), *t).to_wit()).collect()
}

/// The bundled sample corpus (real prose from the Rust documentation).
pub fn sample_records() -> Vec<Record> {
    let path = workspace().join("pipelines/data/rustdoc-sample.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| Record::from_json_line(line, "rustdoc-sample.jsonl", i + 1).expect("sample lines are records"))
        .collect()
}

/// The `stats.json` a run wrote into `dir/out`.
pub fn stats(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("out/stats.json")).expect("stats.json");
    serde_json::from_str(&text).expect("stats json")
}

/// The JSON records of a JSONL output file (none when it does not exist).
pub fn lines(path: PathBuf) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect()
}

/// Counter `key` of stage number `stage` in a `stats.json` (0 when absent).
pub fn detail(s: &serde_json::Value, stage: usize, key: &str) -> u64 {
    s["stages"][stage]["details"][key].as_u64().unwrap_or(0)
}

/// Every input line and generated record ended kept, rejected or quarantined.
pub fn assert_balanced(s: &serde_json::Value) {
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    assert_eq!(n("kept") + n("rejected") + n("quarantined"), n("input_lines") + n("generated"), "counts add up: {s}");
}

/// The `verify` stage (the arith-verifier critique) and the `verified` stage
/// (a threshold keeping `keep_if`) of an arithmetic pipeline, as TOML.
pub fn verify_stages(keep_if: &str) -> String {
    format!(
        r#"[[stage]]
name = "verify"
kind = "critique"
plugin = "{verifier}"

[[stage]]
name = "verified"
kind = "threshold"
config = {{ keep_if = "{keep_if}" }}
"#,
        verifier = wasm("arith-verifier").display(),
    )
}

/// `dir/pipeline.toml`: one `length-filter` stage named `stage` over `input`
/// (relative to `dir`), with `work_dir` and `out`, in chunks of 3 lines.
pub fn one_stage_pipeline(dir: &Path, input: &str, work_dir: &str, out: &str, stage: &str) -> PathBuf {
    let text = format!(
        r#"[pipeline]
name = "safety"
work_dir = "{work_dir}"
chunk_size = 3

[[input]]
path = "{input}"

[[stage]]
name = "{stage}"
kind = "filter"
plugin = "{length}"
config = {{ min_words = 1 }}

[output]
dir = "{out}"
"#,
        length = wasm("length-filter").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// `n` records `{"id": "rI", "text": "record number I"}` in JSONL at `path`.
pub fn write_records(path: &Path, n: usize) {
    let text: String = (0..n).map(|i| format!("{{\"id\":\"r{i}\",\"text\":\"record number {i}\"}}\n")).collect();
    std::fs::write(path, text).expect("write input");
}

/// The CNCF distribution registry (Debian's `docker-registry`) on loopback,
/// stopped on drop.
pub struct LocalRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Where it keeps blobs.
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    /// Starts one on a free port, with its storage in a temporary directory.
    pub fn start() -> LocalRegistry {
        let bin = std::env::var("KILN_TEST_REGISTRY_BIN").unwrap_or_else(|_| "/usr/bin/docker-registry".into());
        assert!(
            Path::new(&bin).is_file(),
            "{bin} is missing: the registry tests need the CNCF distribution registry \
             (`apt-get install docker-registry`, which .ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .expect("config");
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the registry");
        let host = format!("127.0.0.1:{port}");
        wait_listening(&host, Duration::from_secs(20), "the registry");
        LocalRegistry { child, host, storage, _dir: dir }
    }

    /// Stops it (the tests run on without the registry).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// llama.cpp's OpenAI-compatible server (PyPI `llama-cpp-python[server]`)
/// serving Gemma 3 270M on a free loopback port, its log in a file, stopped
/// on drop. `cargo xtask test` installs both once per machine and sets
/// `KILN_LLAMA_PYTHON` and `KILN_LLM_MODEL`.
pub struct LocalLlm {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    log: PathBuf,
}

impl LocalLlm {
    /// The model id the server answers as.
    pub const MODEL: &'static str = "gemma-3-270m";

    /// Starts one, its log in `log`; waits until the model is loaded.
    pub fn start(log: &Path) -> LocalLlm {
        let missing = |var: &str| {
            panic!("{var} is not set: the real-server tests need llama.cpp's server, run them with `cargo xtask test`")
        };
        let python = std::env::var("KILN_LLAMA_PYTHON").unwrap_or_else(|_| missing("KILN_LLAMA_PYTHON"));
        let model = std::env::var("KILN_LLM_MODEL").unwrap_or_else(|_| missing("KILN_LLM_MODEL"));
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let file = std::fs::File::create(log).expect("server log");
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--model", &model, "--model_alias", Self::MODEL, "--n_ctx", "2048", "--verbose", "false"])
            // uvicorn writes its access log (one line per request) to stdout.
            .stdout(file.try_clone().expect("server log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{python}: {e}"));
        let host = format!("127.0.0.1:{port}");
        wait_listening(&host, Duration::from_secs(120), "llama.cpp's server");
        LocalLlm { child, base_url: format!("http://{host}/v1"), log: log.to_path_buf() }
    }

    /// Generation requests the server has answered so far (from its access log).
    pub fn requests(&self) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().filter(|l| l.contains("POST /v1/chat/completions") || l.contains("POST /v1/completions")).count()
    }
}

impl Drop for LocalLlm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something listens on `host` (`127.0.0.1:PORT`); fails naming `what`.
pub fn wait_listening(host: &str, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(host).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {host} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
