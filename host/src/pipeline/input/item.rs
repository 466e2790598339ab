//! What reading an input yields, shared by the stream over an input's files
//! (`input`) and the readers of each format (`parquet_io`), so that neither
//! has to import the other's module for it.

use std::path::PathBuf;

use crate::outcome::Quarantined;
use crate::record::Record;

/// An input file could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read input {path}: {error}")]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: std::io::Error,
}

impl InputError {
    /// The object `url` (`s3://…`) could not be read, for `reason`.
    pub fn object(url: &impl std::fmt::Display, reason: impl Into<String>) -> InputError {
        InputError { path: PathBuf::from(url.to_string()), error: std::io::Error::other(reason.into()) }
    }
}

/// One line of input, parsed or not.
#[derive(Debug)]
pub enum InputItem {
    /// A record.
    Record(Record),
    /// A line that is not a record, ready for quarantine.
    Unreadable(Quarantined),
}
