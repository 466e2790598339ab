//! The sandbox: one shared wasmtime [`Engine`] and [`Linker`] for every plugin.
//!
//! The engine is configured once for untrusted code: epoch interruption (a
//! background thread advances the epoch every [`EPOCH_TICK`], and every call
//! gets a deadline), a bounded wasm stack, and the pooling instance allocator
//! when the machine can reserve its address space (on-demand allocation
//! otherwise). The linker provides the `kiln:plugin/log` import and the WASI
//! interfaces a `wasm32-wasip2` std links against, backed by a context that
//! grants nothing (see [`state`](super::state)).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::CompileCache;
use super::error::PluginError;
use super::inspect::Contract;
use super::kind::PluginKind;
use super::limits::PluginLimits;
use super::state::GuestState;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled components are cached (`None`: no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// Maximum wasm stack per call, in bytes (default 1 MiB).
    pub max_wasm_stack: usize,
    /// Use the pooling allocator when possible (default true).
    pub pooling: bool,
    /// Largest memory cap any plugin may be given, in MiB (default 4096).
    pub max_memory_mib: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: CompileCache::default_dir(),
            max_wasm_stack: 1 << 20,
            pooling: true,
            max_memory_mib: 4096,
        }
    }
}

/// What a stage asks of a plugin when loading it.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The stage (or command) the plugin serves, for messages.
    pub stage: String,
    /// The kind the stage needs; `None` accepts any (e.g. `plugin inspect`).
    pub expect_kind: Option<PluginKind>,
    /// A pinned sha256 (hex); a mismatch refuses to load.
    pub sha256: Option<String>,
    /// The plugin's configuration as JSON (`{}` when none).
    pub config: String,
    /// Resource limits.
    pub limits: PluginLimits,
}

impl LoadOptions {
    /// Options for stage `stage` needing a plugin of `kind`, default limits, no config.
    pub fn new(stage: impl Into<String>, kind: Option<PluginKind>) -> Self {
        LoadOptions {
            stage: stage.into(),
            expect_kind: kind,
            sha256: None,
            config: "{}".into(),
            limits: PluginLimits::default(),
        }
    }
}

/// The shared engine, linker and compile cache.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<SandboxInner>,
}

pub(crate) struct SandboxInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<GuestState>,
    cache: CompileCache,
    pub(crate) config: SandboxConfig,
    pooling: bool,
    ticker: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Drop for SandboxInner {
    fn drop(&mut self) {
        let ticker = self.ticker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((stop, handle)) = ticker {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

impl Sandbox {
    /// Creates the engine (pooling allocator if possible), the linker and the
    /// epoch ticker.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, PluginError> {
        let (engine, pooling) = match config.pooling.then(|| Engine::new(&engine_config(&config, true))) {
            Some(Ok(engine)) => (engine, true),
            other => {
                if let Some(Err(e)) = other {
                    tracing::info!("pooling allocator unavailable ({e}); using on-demand allocation");
                }
                let engine =
                    Engine::new(&engine_config(&config, false)).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
                (engine, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        linker.allow_shadowing(true);
        super::state::add_instant_sleep(&mut linker).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        linker.allow_shadowing(false);
        super::bindings::wit_log::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::new(config.cache_dir.clone(), &engine);
        let ticker =
            spawn_ticker(&engine).map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Sandbox {
            inner: Arc::new(SandboxInner { engine, linker, cache, config, pooling, ticker: Mutex::new(Some(ticker)) }),
        })
    }

    /// The cache directory (compiled components, and what else the host
    /// caches beside them), if there is one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.config.cache_dir.as_deref()
    }

    /// Whether instances come from the pooling allocator.
    pub fn uses_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Reads, verifies, compiles (or fetches from the cache) and checks
    /// against the contract the component at `path`: everything of loading
    /// a plugin but starting it (see `Sandbox::load` in [`super::loaded`]).
    pub(super) fn compile(&self, path: &Path, options: &LoadOptions) -> Result<Compiled, PluginError> {
        let bytes =
            crate::files::read_capped(path, crate::files::MAX_PLUGIN_BYTES, "a plugin").map_err(|e| match e {
                crate::files::FileError::Io { path, error } => PluginError::Read { path, error },
                other => {
                    PluginError::Read { path: path.to_path_buf(), error: std::io::Error::other(other.to_string()) }
                }
            })?;
        check_magic(path, &bytes)?;
        // Refused imports fail before the (slow) compile; bytes that do not
        // parse are left for the compiler to describe.
        if let Ok(imports) = super::inspect::declared_imports(&bytes) {
            let refused = super::inspect::refused_imports(&imports);
            if !refused.is_empty() {
                return Err(PluginError::ForbiddenImport { path: path.to_path_buf(), imports: refused });
            }
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = &options.sha256 {
            let expected = expected.trim().trim_start_matches("sha256:").to_ascii_lowercase();
            if expected != sha256 {
                return Err(PluginError::DigestMismatch { path: path.to_path_buf(), expected, actual: sha256 });
            }
        }
        if options.limits.memory_mib > self.inner.config.max_memory_mib {
            return Err(PluginError::Start {
                plugin: path.display().to_string(),
                stage: options.stage.clone(),
                message: format!(
                    "memory limit of {} MiB is above the sandbox's maximum of {} MiB",
                    options.limits.memory_mib, self.inner.config.max_memory_mib
                ),
            });
        }
        let started = std::time::Instant::now();
        let (component, cached) = self
            .inner
            .cache
            .load_or_compile(&self.inner.engine, &bytes, &sha256)
            .map_err(|e| PluginError::Compile { path: path.to_path_buf(), message: format!("{e:#}") })?;
        tracing::debug!(path = %path.display(), cached, elapsed = ?started.elapsed(), "plugin compiled");
        let contract = Contract::of(path, &component, &self.inner.engine)?;
        Ok(Compiled { size: bytes.len(), sha256, component, contract })
    }
}

/// A component that passed every check but starting it.
pub(super) struct Compiled {
    /// Its size in bytes.
    pub size: usize,
    /// Its digest, hex.
    pub sha256: String,
    /// The compiled component.
    pub component: wasmtime::component::Component,
    /// What it implements.
    pub contract: Contract,
}

fn engine_config(config: &SandboxConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        let max_memory = usize::try_from(config.max_memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(512)
            .max_memories_per_component(8)
            .max_memory_size(max_memory);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Starts the thread that advances the engine's epoch every [`EPOCH_TICK`]; it
/// stops when the sandbox is dropped.
fn spawn_ticker(engine: &Engine) -> std::io::Result<(Arc<AtomicBool>, JoinHandle<()>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let weak = engine.weak();
    let flag = stop.clone();
    let handle = std::thread::Builder::new().name("kiln-epoch".into()).spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    })?;
    Ok((stop, handle))
}

/// Tells a core module or random bytes apart from a component.
fn check_magic(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(PluginError::NotWasm { path: path.to_path_buf() });
    }
    // Core modules have layer 0 (bytes 6..8), components layer 1.
    if bytes[6..8] == [0, 0] {
        return Err(PluginError::CoreModule { path: path.to_path_buf() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_tells_modules_from_components() {
        let p = Path::new("x.wasm");
        assert!(matches!(check_magic(p, b"hello world"), Err(PluginError::NotWasm { .. })));
        assert!(matches!(check_magic(p, b"\0asm\x01\0\0\0"), Err(PluginError::CoreModule { .. })));
        assert!(check_magic(p, b"\0asm\x0d\0\x01\0").is_ok());
    }
}
