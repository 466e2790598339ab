//! The durable request cache: completions already paid for, in the work
//! directory, so that a resumed or repeated run makes no request twice.
//!
//! An SQLite database (`<work_dir>/cache/completions.sqlite`) in WAL mode with
//! `synchronous = NORMAL`: every insert is its own transaction, and a committed
//! one survives the process being killed the instant after (it is in the WAL
//! through `write`; only a power loss may drop the last ones). Keys are
//! [`cache_key`](super::key::cache_key)s. `kiln run --fresh` keeps the cache;
//! `--no-cache` neither reads nor writes it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use super::Sample;

/// The cache cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("request cache {}: {message}", path.display())]
pub struct CacheError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// Completions by key.
#[derive(Debug)]
pub struct RequestCache {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl RequestCache {
    /// Opens (or creates) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<RequestCache, CacheError> {
        let path = dir.join("completions.sqlite");
        let fail = |e: &dyn std::fmt::Display| CacheError { path: path.clone(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let db = Connection::open(&path).map_err(|e| fail(&e))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS completions (
                 key BLOB PRIMARY KEY, text TEXT NOT NULL, truncated INTEGER NOT NULL DEFAULT 0
             ) WITHOUT ROWID;",
        )
        .map_err(|e| fail(&format!("{e}; delete the file to start an empty cache")))?;
        // Caches written before `truncated` existed get the column (every
        // completion in them counts as whole, as it did then).
        let has_truncated = db
            .prepare("SELECT 1 FROM pragma_table_info('completions') WHERE name = 'truncated'")
            .and_then(|mut q| q.exists([]))
            .map_err(|e| fail(&e))?;
        if !has_truncated {
            db.execute_batch("ALTER TABLE completions ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;")
                .map_err(|e| fail(&e))?;
        }
        Ok(RequestCache { path, db: Mutex::new(db) })
    }

    /// The completion stored under `key`.
    pub fn get(&self, key: &[u8; 32]) -> Result<Option<Sample>, CacheError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.query_row("SELECT text, truncated FROM completions WHERE key = ?1", params![&key[..]], |row| {
            Ok(Sample { text: row.get(0)?, truncated: row.get::<_, i64>(1)? != 0 })
        })
        .optional()
        .map_err(|e| self.error(e))
    }

    /// Stores `sample` under `key` (durably once this returns).
    pub fn put(&self, key: &[u8; 32], sample: &Sample) -> Result<(), CacheError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.execute(
            "INSERT OR REPLACE INTO completions (key, text, truncated) VALUES (?1, ?2, ?3)",
            params![&key[..], sample.text, i64::from(sample.truncated)],
        )
        .map(drop)
        .map_err(|e| self.error(e))
    }

    /// Completions stored.
    pub fn len(&self) -> Result<u64, CacheError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.query_row("SELECT COUNT(*) FROM completions", [], |row| row.get(0)).map_err(|e| self.error(e))
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        self.len().map(|n| n == 0)
    }

    fn error(&self, e: rusqlite::Error) -> CacheError {
        CacheError { path: self.path.clone(), message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = RequestCache::open(dir.path()).expect("opens");
        assert!(cache.is_empty().expect("reads"));
        cache.put(&[1; 32], &Sample::whole("four")).expect("writes");
        cache.put(&[3; 32], &Sample { text: "fi".into(), truncated: true }).expect("writes");
        assert_eq!(cache.get(&[1; 32]).expect("reads"), Some(Sample::whole("four")));
        assert_eq!(cache.get(&[2; 32]).expect("reads"), None);
        drop(cache);
        let cache = RequestCache::open(dir.path()).expect("reopens");
        assert_eq!(cache.get(&[1; 32]).expect("reads"), Some(Sample::whole("four")));
        assert_eq!(cache.get(&[3; 32]).expect("reads"), Some(Sample { text: "fi".into(), truncated: true }));
        assert_eq!(cache.len().expect("counts"), 2);
    }

    #[test]
    fn a_cache_written_before_truncation_flags_still_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Connection::open(dir.path().join("completions.sqlite")).expect("opens");
        db.execute_batch(
            "CREATE TABLE completions (key BLOB PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID;
             INSERT INTO completions VALUES (x'0101010101010101010101010101010101010101010101010101010101010101', 'old');",
        )
        .expect("old layout");
        drop(db);
        let cache = RequestCache::open(dir.path()).expect("migrates");
        assert_eq!(cache.get(&[1; 32]).expect("reads"), Some(Sample::whole("old")));
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("completions.sqlite"), b"this is not a database, not at all....")
            .expect("write");
        let e = RequestCache::open(dir.path()).expect_err("corrupt");
        assert!(e.to_string().contains("completions.sqlite"), "{e}");
    }
}
