//! The work directory: committed chunks and the manifest that makes a run
//! resumable exactly once.
//!
//! A run processes its input in chunks of `chunk_size` lines. A chunk is
//! committed by writing each of its files (kept, rejected and quarantined
//! records, and the state stateful stages added) to a temporary file, syncing
//! it and renaming it into `chunks/`, and only then rewriting `manifest.json`
//! (again write, sync, rename) to list the chunk. A crash before the manifest
//! names a chunk leaves at most orphan chunk files, which the resumed run
//! overwrites; a crash after leaves a committed chunk, which the resumed run
//! skips. So every input line is processed into the outputs exactly once.
//!
//! Setting `KILN_FAULT_KILL_AT_STEP=n` kills the process (SIGKILL) at the n-th
//! durable step — a fault-injection hook for the resume tests.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::stats::{Histograms, StageStats};

/// The manifest file's format version.
const MANIFEST_VERSION: u32 = 1;

/// The request cache's directory inside the work directory.
const CACHE_DIR: &str = "cache";

/// A work-directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkDirError {
    /// Reading or writing failed (disk full, permissions...).
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The manifest is not one this version wrote.
    #[error(
        "{path} is not a Kiln manifest this version can read ({message}); remove the work directory or run with --fresh"
    )]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The work directory belongs to another pipeline or plugin version.
    #[error(
        "the work directory {dir} was made by a different pipeline (the pipeline file, its plugins or chunk size changed since); resuming would mix results: remove it or run with --fresh"
    )]
    Mismatch {
        /// The work directory.
        dir: PathBuf,
    },
}

/// One committed chunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkEntry {
    /// Chunk number, from 0.
    pub index: u64,
    /// First input line (0-based, over all inputs) of the chunk.
    pub first_line: u64,
    /// Number of input lines in the chunk.
    pub lines: u64,
    /// Unreadable input lines in the chunk.
    pub unreadable: u64,
    /// Per-stage counts of the chunk.
    pub stages: Vec<StageStats>,
    /// Distributions of the chunk's lengths and scores.
    #[serde(default)]
    pub histograms: Histograms,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Digest of the pipeline file, its plugins and the chunk size.
    pub fingerprint: String,
    /// Lines per chunk.
    pub chunk_size: u64,
    /// Committed chunks, in order.
    pub chunks: Vec<ChunkEntry>,
    /// Whether every chunk is committed and the outputs are assembled.
    pub finished: bool,
}

impl Manifest {
    /// Input lines covered by committed chunks.
    pub fn lines_done(&self) -> u64 {
        self.chunks.iter().map(|c| c.lines).sum()
    }
}

/// The files of one chunk, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkFile {
    /// Kept records.
    Kept,
    /// Rejected records.
    Rejected,
    /// Quarantined records.
    Quarantine,
}

impl ChunkFile {
    /// All roles, in output order.
    pub const ALL: [ChunkFile; 3] = [ChunkFile::Kept, ChunkFile::Rejected, ChunkFile::Quarantine];

    /// The role's file stem: `kept`, `rejected`, `quarantine`.
    pub fn name(self) -> &'static str {
        match self {
            ChunkFile::Kept => "kept",
            ChunkFile::Rejected => "rejected",
            ChunkFile::Quarantine => "quarantine",
        }
    }
}

/// A pipeline's work directory.
#[derive(Debug)]
pub struct WorkDir {
    dir: PathBuf,
}

static DURABLE_STEPS: AtomicU64 = AtomicU64::new(0);

/// Counts a durable step, and kills the process if the fault hook asks for it.
fn durable_step() {
    let step = DURABLE_STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    let target = std::env::var("KILN_FAULT_KILL_AT_STEP").ok().and_then(|v| v.parse::<u64>().ok());
    if target == Some(step) {
        // SAFETY: kill(2) on our own pid with SIGKILL has no memory-safety
        // preconditions; it does not return.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // Never go on past the fault point.
        std::process::abort();
    }
}

impl WorkDir {
    /// Opens (creating it if needed) the work directory `dir`.
    pub fn open(dir: &Path) -> Result<WorkDir, WorkDirError> {
        let chunks = dir.join("chunks");
        std::fs::create_dir_all(&chunks).map_err(|source| WorkDirError::Io {
            action: "cannot create",
            path: chunks,
            error: source,
        })?;
        Ok(WorkDir { dir: dir.to_path_buf() })
    }

    /// Removes everything a previous run left but the request cache.
    pub fn clear(dir: &Path) -> Result<(), WorkDirError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(WorkDirError::Io { action: "cannot read", path: dir.to_path_buf(), error: source });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| WorkDirError::Io {
                action: "cannot read",
                path: dir.to_path_buf(),
                error: source,
            })?;
            let path = entry.path();
            // Completions already paid for stay: a fresh run reuses them.
            if entry.file_name() == CACHE_DIR {
                continue;
            }
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.map_err(|source| WorkDirError::Io {
                action: "cannot remove",
                path: path.clone(),
                error: source,
            })?;
        }
        Ok(())
    }

    /// Where the request cache lives (kept by [`WorkDir::clear`]).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join(CACHE_DIR)
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// The manifest of an earlier run, checked against `fingerprint`, or a new one.
    pub fn manifest(&self, fingerprint: &str, chunk_size: u64) -> Result<Manifest, WorkDirError> {
        let path = self.manifest_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: MANIFEST_VERSION,
                    fingerprint: fingerprint.to_string(),
                    chunk_size,
                    chunks: Vec::new(),
                    finished: false,
                });
            }
            Err(source) => return Err(WorkDirError::Io { action: "cannot read", path, error: source }),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| WorkDirError::BadManifest { path: path.clone(), message: e.to_string() })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(WorkDirError::BadManifest { path, message: format!("version {}", manifest.version) });
        }
        if manifest.fingerprint != fingerprint || manifest.chunk_size != chunk_size {
            return Err(WorkDirError::Mismatch { dir: self.dir.clone() });
        }
        Ok(manifest)
    }

    /// Atomically replaces the manifest.
    pub fn save_manifest(&self, manifest: &Manifest) -> Result<(), WorkDirError> {
        let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| WorkDirError::Io {
            action: "cannot serialise",
            path: self.manifest_path(),
            error: std::io::Error::other(e),
        })?;
        write_atomic(&self.manifest_path(), &bytes)
    }

    /// The path of chunk `index`'s file of `role`.
    pub fn chunk_path(&self, index: u64, role: &str) -> PathBuf {
        self.dir.join("chunks").join(format!("{index:08}.{role}.jsonl"))
    }

    /// Atomically writes chunk `index`'s file of `role`.
    pub fn write_chunk_file(&self, index: u64, role: &str, bytes: &[u8]) -> Result<(), WorkDirError> {
        write_atomic(&self.chunk_path(index, role), bytes)
    }

    /// Reads chunk `index`'s file of `role`.
    pub fn read_chunk_file(&self, index: u64, role: &str) -> Result<String, WorkDirError> {
        let path = self.chunk_path(index, role);
        std::fs::read_to_string(&path).map_err(io_error("cannot read", &path))
    }

    /// Concatenates the `role` files of every committed chunk into `target`, atomically.
    pub fn assemble(&self, manifest: &Manifest, role: &str, target: &Path) -> Result<u64, WorkDirError> {
        WorkDir::assemble_parts(&[(self, manifest)], role, target)
    }

    /// Concatenates the `role` files of every committed chunk of every part
    /// (work directories of successive phases, in order) into `target`, atomically.
    pub fn assemble_parts(parts: &[(&WorkDir, &Manifest)], role: &str, target: &Path) -> Result<u64, WorkDirError> {
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| WorkDirError::Io {
            action: "cannot create",
            path: dir.to_path_buf(),
            error: source,
        })?;
        let tmp = tmp_path(target);
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io_error("cannot create", &tmp))?);
        let mut bytes = 0;
        for (work, manifest) in parts {
            for chunk in &manifest.chunks {
                let path = work.chunk_path(chunk.index, role);
                let mut file = File::open(&path).map_err(io_error("cannot open", &path))?;
                bytes += std::io::copy(&mut file, &mut out).map_err(io_error("cannot copy", &path))?;
            }
        }
        let file = out.into_inner().map_err(|e| WorkDirError::Io {
            action: "cannot write",
            path: tmp.clone(),
            error: e.into_error(),
        })?;
        file.sync_all().map_err(io_error("cannot sync", &tmp))?;
        durable_step();
        std::fs::rename(&tmp, target).map_err(io_error("cannot rename into", target))?;
        durable_step();
        Ok(bytes)
    }
}

/// Wraps an I/O error with what was being done to which file.
fn io_error<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> WorkDirError + 'p {
    move |source| WorkDirError::Io { action, path: path.to_path_buf(), error: source }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Write to a temporary file, sync, rename over `path`, sync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorkDirError> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(io_error("cannot create", &tmp))?;
    file.write_all(bytes).map_err(io_error("cannot write", &tmp))?;
    file.sync_all().map_err(io_error("cannot sync", &tmp))?;
    drop(file);
    durable_step();
    std::fs::rename(&tmp, path).map_err(io_error("cannot rename into", path))?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    durable_step();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_refuse_other_pipelines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wd = WorkDir::open(dir.path()).expect("open");
        let mut m = wd.manifest("abc", 10).expect("new");
        assert!(m.chunks.is_empty());
        m.chunks.push(ChunkEntry {
            index: 0,
            first_line: 0,
            lines: 10,
            unreadable: 1,
            stages: vec![],
            histograms: Histograms::default(),
        });
        wd.save_manifest(&m).expect("save");
        assert_eq!(wd.manifest("abc", 10).expect("reload"), m);
        assert_eq!(m.lines_done(), 10);
        assert!(matches!(wd.manifest("other", 10), Err(WorkDirError::Mismatch { .. })));
        assert!(matches!(wd.manifest("abc", 20), Err(WorkDirError::Mismatch { .. })));
    }

    #[test]
    fn assembly_concatenates_committed_chunks_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wd = WorkDir::open(dir.path()).expect("open");
        let mut m = wd.manifest("f", 1).expect("new");
        for i in 0..3 {
            wd.write_chunk_file(i, "kept", format!("line {i}\n").as_bytes()).expect("write");
            m.chunks.push(ChunkEntry {
                index: i,
                first_line: i,
                lines: 1,
                unreadable: 0,
                stages: vec![],
                histograms: Histograms::default(),
            });
        }
        wd.write_chunk_file(3, "kept", b"orphan of a crashed commit\n").expect("write");
        let out = dir.path().join("out/kept.jsonl");
        wd.assemble(&m, "kept", &out).expect("assemble");
        assert_eq!(std::fs::read_to_string(out).expect("read"), "line 0\nline 1\nline 2\n");
    }
}
