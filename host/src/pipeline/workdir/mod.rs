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

use crate::pipeline::report::counts::{Histograms, StageStats};

mod layout;

pub use layout::{FinishedPhase, job_dir, phase_dir};

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
    /// The work directory was made by an earlier version of this pipeline.
    #[error(
        "the work directory {dir} was made by an earlier version of this pipeline (the pipeline file, its plugins or chunk size changed since); resuming would mix results: run with --fresh to start over (completions already paid for are kept)"
    )]
    Mismatch {
        /// The work directory.
        dir: PathBuf,
    },
    /// The work directory belongs to another pipeline file.
    #[error(
        "the work directory {dir} belongs to pipeline `{}` ({}); give this pipeline a `work_dir` of its own (or `kiln run --work-dir DIR`); if that pipeline is gone for good, remove {dir} yourself",
        owner.pipeline, owner.file.display(), dir = dir.display()
    )]
    Foreign {
        /// The work directory.
        dir: PathBuf,
        /// Who made it.
        owner: Owner,
    },
    /// The directory holds files Kiln did not write: it is not a work directory.
    #[error(
        "{} is not a Kiln work directory: it holds {} that Kiln did not write; Kiln never deletes what it did not write, so give the pipeline a `work_dir` that is new or empty (or `kiln run --work-dir DIR`)",
        dir.display(), list_entries(entries)
    )]
    NotAWorkDir {
        /// The directory.
        dir: PathBuf,
        /// What it holds that Kiln did not write (some of it).
        entries: Vec<String>,
    },
    /// A committed chunk holds a line that is not a record.
    #[error("{}:{line}: unreadable record ({message}); run with --fresh", path.display())]
    UnreadableRecord {
        /// The chunk file.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// Why.
        message: String,
    },
    /// The work directory is on object storage, and the store failed.
    #[error("the work directory on object storage, at {}: {message}", path.display())]
    Store {
        /// The object (`s3://…`) the store was asked about.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Another run holds the work directory.
    #[error(
        "the work directory {} is in use by another run ({holder}); wait for it to finish or stop it, then run again",
        dir.display()
    )]
    Busy {
        /// The work directory.
        dir: PathBuf,
        /// The process holding the lock, as it described itself.
        holder: String,
    },
}

/// `a, b, c and 4 more`, for messages.
fn list_entries(entries: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<String> = entries.iter().take(SHOWN).map(|e| format!("`{e}`")).collect();
    match entries.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Who a work directory belongs to: the pipeline file that made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Owner {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file, absolute.
    pub file: PathBuf,
}

/// The file naming a work directory's owner.
pub const OWNER_FILE: &str = "kiln-workdir.json";
/// The lock a run holds on its work directory.
const LOCK_FILE: &str = "run.lock";
/// Where the tasks of a split run of the same pipeline keep their work
/// directories ([`crate::pipeline::engine::shard::tasks_dir`]).
pub const TASKS_DIR: &str = "tasks";
/// What `--fresh` leaves in place (a split run's tasks are started over by
/// `kiln launch … --fresh`, not by a one-process run).
const KEPT_ON_FRESH: [&str; 4] = [CACHE_DIR, OWNER_FILE, LOCK_FILE, TASKS_DIR];

/// Whether `name`, an entry of a work directory, is one Kiln writes there
/// (or an output, when the output directory is the work directory).
fn written_by_kiln(name: &str) -> bool {
    // `out`: the outputs assembled before they are published to object storage.
    const FIXED: [&str; 11] = [
        "manifest.json",
        "chunks",
        "models",
        "staged",
        CACHE_DIR,
        OWNER_FILE,
        LOCK_FILE,
        "stats.json",
        "report.html",
        "out",
        TASKS_DIR,
    ];
    // Files are written to `NAME.tmp` and renamed, so a run stopped mid-write
    // leaves `NAME.tmp` behind; the write test leaves nothing or itself.
    let name = name.strip_suffix(".tmp").unwrap_or(name);
    let output = ["kept", "rejected", "quarantine"].iter().any(|role| {
        [".jsonl", ".parquet"]
            .iter()
            .any(|ext| name == format!("{role}{ext}") || name == format!("assembled-{role}{ext}"))
    });
    let phase = name.strip_prefix("phase-").is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
    FIXED.contains(&name) || output || phase || name == ".kiln-write-test"
}

/// Whether `--fresh` removes the entry `name` of a work directory: what
/// Kiln wrote there but the request cache, the owner file, the lock and a
/// split run's tasks.
pub fn cleared_on_fresh(name: &str) -> bool {
    written_by_kiln(name) && !KEPT_ON_FRESH.contains(&name)
}

/// The names in `dir` (none when it does not exist).
fn entries(dir: &Path) -> Result<Vec<std::ffi::OsString>, WorkDirError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(WorkDirError::Io { action: "cannot read", path: dir.to_path_buf(), error }),
    };
    let mut out = Vec::new();
    for entry in read {
        out.push(entry.map_err(io_error("cannot read", dir))?.file_name());
    }
    out.sort();
    Ok(out)
}

/// The exclusive lock a run holds on its work directory (released when
/// dropped, or by the kernel when the process dies, so a killed run never
/// leaves a stale lock).
#[derive(Debug)]
pub struct WorkDirLock {
    _file: File,
}

/// Takes the lock of `dir`, writing who holds it into the lock file.
fn lock(dir: &Path) -> Result<WorkDirLock, WorkDirError> {
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error("cannot open", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let holder =
                if holder.is_empty() { "a process that has not said which".to_string() } else { holder.to_string() };
            return Err(WorkDirError::Busy { dir: dir.to_path_buf(), holder });
        }
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(WorkDirError::Io { action: "cannot lock", path, error });
        }
    }
    let me = format!("pid {}, started at unix time {}", std::process::id(), unix_seconds());
    file.set_len(0).map_err(io_error("cannot write", &path))?;
    file.write_all(me.as_bytes()).map_err(io_error("cannot write", &path))?;
    Ok(WorkDirLock { _file: file })
}

/// Seconds since the Unix epoch, for the lock file.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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

impl ChunkEntry {
    /// The records the chunk kept: out of its last stage, or every readable
    /// line when its phase ran no stage.
    pub fn kept(&self) -> u64 {
        self.stages.last().map_or(self.lines - self.unreadable, |s| s.kept)
    }
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

    /// Removes what an earlier run wrote (its manifest, chunks, phases,
    /// models and assembled files) but the request cache, the owner file and
    /// the lock. Nothing else in the directory is touched: entries Kiln does
    /// not write are left where they are.
    pub fn clear(dir: &Path) -> Result<(), WorkDirError> {
        for entry in entries(dir)? {
            let name = entry.to_string_lossy();
            if !cleared_on_fresh(&name) {
                continue;
            }
            let path = dir.join(&entry);
            remove_tree(&path)?;
        }
        Ok(())
    }

    /// Claims `dir` for the pipeline `owner`, for as long as the returned
    /// lock lives: takes an exclusive lock (a second run on the same
    /// directory is refused, naming the process that holds it), refuses a
    /// directory that holds files Kiln did not write or that another pipeline
    /// file made, and records `owner` in it.
    pub fn claim(dir: &Path, owner: &Owner) -> Result<WorkDirLock, WorkDirError> {
        std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
        let lock = lock(dir)?;
        let owner_path = dir.join(OWNER_FILE);
        match std::fs::read(&owner_path) {
            Ok(bytes) => {
                let recorded: Owner = serde_json::from_slice(&bytes)
                    .map_err(|e| WorkDirError::BadManifest { path: owner_path.clone(), message: e.to_string() })?;
                if recorded.file != owner.file {
                    return Err(WorkDirError::Foreign { dir: dir.to_path_buf(), owner: recorded });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let foreign: Vec<String> = entries(dir)?
                    .iter()
                    .map(|e| e.to_string_lossy().into_owned())
                    .filter(|name| !written_by_kiln(name))
                    .collect();
                if !foreign.is_empty() {
                    return Err(WorkDirError::NotAWorkDir { dir: dir.to_path_buf(), entries: foreign });
                }
            }
            Err(error) => return Err(WorkDirError::Io { action: "cannot read", path: owner_path, error }),
        }
        let bytes = serde_json::to_vec_pretty(owner).map_err(|e| WorkDirError::Io {
            action: "cannot serialise",
            path: owner_path.clone(),
            error: std::io::Error::other(e),
        })?;
        write_atomic(&owner_path, &bytes)?;
        Ok(lock)
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
        self.dir.join("chunks").join(format!("{index:08}.{}.jsonl", path_component(role)))
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
        let chunks: Vec<(&WorkDir, u64)> =
            parts.iter().flat_map(|(w, m)| m.chunks.iter().map(move |c| (*w, c.index))).collect();
        WorkDir::assemble_chunks(&chunks, role, target)
    }

    /// Concatenates the `role` files of `chunks` (work directory, chunk
    /// index), in that order, into `target`, atomically.
    pub fn assemble_chunks(chunks: &[(&WorkDir, u64)], role: &str, target: &Path) -> Result<u64, WorkDirError> {
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| WorkDirError::Io {
            action: "cannot create",
            path: dir.to_path_buf(),
            error: source,
        })?;
        let tmp = tmp_path(target);
        let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io_error("cannot create", &tmp))?);
        let mut bytes = 0;
        for (work, index) in chunks {
            let path = work.chunk_path(*index, role);
            let mut file = File::open(&path).map_err(io_error("cannot open", &path))?;
            bytes += std::io::copy(&mut file, &mut out).map_err(io_error("cannot copy", &path))?;
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
        mirrored(target)?;
        Ok(bytes)
    }
}

/// Longest stage or model name.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a stage or a model: 1 to [`MAX_NAME_LEN`] ASCII
/// letters, digits, `_` and `-`. Such names become file names in the work
/// directory, so nothing else (no `/`, no `..`, no control characters) is allowed.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `name` as one file-name component that cannot leave its directory: the
/// name itself when [`is_valid_name`] accepts it (validation refuses every
/// other), else `x` and its bytes in hex. Every path Kiln derives from a
/// name goes through here, so a name that slipped past validation still
/// stays inside its root.
pub fn path_component(name: &str) -> std::borrow::Cow<'_, str> {
    if is_valid_name(name) { name.into() } else { format!("x{}", hex::encode(name.as_bytes())).into() }
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

/// Writes `bytes` to `path` (creating its directory) through a temporary
/// file of its own, renamed into place: for a file that several processes
/// may write at once (the same content, as a cache), where the fixed
/// `NAME.tmp` of [`write_atomic`] would let one rename another's
/// half-written file. Not synced: losing it costs only its recomputation.
pub fn write_shared(path: &Path, bytes: &[u8]) -> Result<(), WorkDirError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error("cannot create a file in", dir))?;
    file.write_all(bytes).map_err(io_error("cannot write", path))?;
    file.persist(path).map_err(|e| WorkDirError::Io {
        action: "cannot rename into",
        path: path.to_path_buf(),
        error: e.error,
    })?;
    mirrored(path)
}

/// Puts `path`, just committed, to the work directory's object storage when
/// it lies in a work directory kept there ([`crate::objects::mirror`]).
fn mirrored(path: &Path) -> Result<(), WorkDirError> {
    crate::objects::mirror::committed(path).map_err(|message| store_error(path, message))
}

/// Says that `path`, written whole by other means than [`write_atomic`] (a
/// checkpoint saved by the kernels), is complete: put to the work
/// directory's object storage when it is kept there, before anything that
/// names it is committed.
pub fn saved(path: &Path) -> Result<(), WorkDirError> {
    mirrored(path)
}

/// A failure of the work directory's object storage about `path`, named as
/// a user finds it (its object, not the scratch copy).
fn store_error(path: &Path, message: String) -> WorkDirError {
    WorkDirError::Store { path: crate::objects::mirror::shown(path), message }
}

/// Removes the file or directory `path` (nothing when it is not there), and
/// its copy on object storage when its work directory is kept there.
pub fn remove_tree(path: &Path) -> Result<(), WorkDirError> {
    let removed = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match removed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(WorkDirError::Io { action: "cannot remove", path: path.to_path_buf(), error }),
    }
    crate::objects::mirror::removed(path).map_err(|message| store_error(path, message))
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
    mirrored(path)
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
