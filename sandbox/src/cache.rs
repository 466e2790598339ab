//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes from milliseconds to seconds;
//! loading a precompiled artifact takes microseconds. Artifacts are keyed by the
//! sha256 of the component's bytes and a digest of the engine's configuration
//! (wasmtime version, target, settings), so a changed plugin or engine never
//! reuses a stale artifact. Only files this module wrote are deserialised, and
//! they are written atomically (temporary file, then rename).

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (none: compile every time) for artifacts of `engine`.
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        CompileCache { dir, engine_key }
    }

    /// The default directory: `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`,
    /// else `$HOME/.cache/kiln`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("KILN_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("kiln"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("kiln"))
    }

    /// The artifact path for a component with digest `sha256`.
    fn artifact(&self, sha256: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{sha256}-{}.cwasm", self.engine_key)))
    }

    /// The compiled component for `bytes`, from the cache when present.
    /// Returns the component and whether it came from the cache.
    pub fn load_or_compile(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> wasmtime::Result<(Component, bool)> {
        let artifact = self.artifact(sha256);
        if let Some(path) = artifact.as_deref().filter(|p| p.is_file()) {
            // Read into memory rather than map the file: a file changed under a
            // live mapping would crash the process (SIGBUS), a read copy cannot.
            let loaded = std::fs::read(path).map_err(wasmtime::Error::from).and_then(|artifact| {
                // SAFETY: the file was written by `store` below from `Component::serialize`
                // of a component with this digest, for an engine with this configuration;
                // wasmtime checks the header and version of the bytes before using them.
                unsafe { Component::deserialize(engine, &artifact) }
            });
            match loaded {
                Ok(component) => return Ok((component, true)),
                Err(e) => tracing::warn!(path = %path.display(), "ignoring unusable compiled artifact: {e}"),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = artifact
            && let Err(e) = store(&path, &component.serialize()?)
        {
            tracing::warn!(path = %path.display(), "cannot cache compiled plugin: {e}");
        }
        Ok((component, false))
    }
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Feeds `Hash` output into sha256, for a digest stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
