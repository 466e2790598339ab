//! What can go wrong in the service, in terms its API and CLI can report.

/// A service error. API handlers map each to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A file of the service's data directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The request is wrong: the message says what to fix (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// No such thing for this tenant (HTTP 404): another tenant's run is
    /// indistinguishable from one that never existed.
    #[error("{0}")]
    NotFound(String),
    /// The tenant may not do this (HTTP 403): an administrator's request.
    #[error("{0}")]
    Forbidden(String),
    /// Over a quota (HTTP 429): the message names the quota.
    #[error("{0}")]
    Quota(String),
    /// A state change that is not possible now (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Randomness for a token was not available.
    #[error("no randomness for a token: {0}")]
    Random(String),
}

impl ServiceError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> ServiceError {
        ServiceError::Io { path: path.to_path_buf(), source }
    }
}
