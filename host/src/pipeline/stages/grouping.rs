//! Stages that keep the first record of each group of records sharing a key
//! (`dedup`), as a split run sees them.
//!
//! In one process such a stage streams: each record is offered to an index
//! of the keys seen so far. A run split into tasks cannot do that — no task
//! sees the records before its shard — so the engine runs it in the staged
//! jobs of [`engine::staged`](crate::pipeline::engine::staged): every task
//! computes its records' [`keys`](Grouping::keys), merges across tasks find
//! which record is first with each key, one clustering decides every
//! record's group, and each task then applies the decisions to its own
//! records ([`decide`](Grouping::decide)) — the same outcomes, reasons and
//! counters the streaming stage gives, record for record.

use serde::{Deserialize, Serialize};

use super::StageOutput;
use crate::record::Record;

/// A stage that keeps the first record of each group sharing a key.
///
/// The group of a record is decided the way the streaming stage decides it:
/// a record none of whose keys was seen before is kept and starts a group;
/// any other record joins the *earliest* group among those first to hold
/// one of its keys (groups ordered by their first record), and is rejected
/// as a duplicate of that group's first record.
pub trait Grouping: Send + Sync {
    /// Keys per record (MinHash bands; 1 for exact duplicates).
    fn bands(&self) -> usize;

    /// Bytes each key needs, 8 or 16 (how the staged files store it).
    fn key_bytes(&self) -> usize;

    /// The keys of each record, [`bands`](Self::bands) each, band by band.
    fn keys(&self, records: &[Record]) -> Result<Vec<Vec<u128>>, String>;

    /// The outcomes of one chunk's records, given for each whether it joined
    /// a group it is not the first of — what the streaming stage would have
    /// said of it, details (cluster sizes) included.
    fn decide(&self, stage: &str, records: Vec<Record>, joined: Vec<Option<Joined>>) -> StageOutput;
}

/// A record that joined an earlier record's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The id of the group's first (kept) record.
    pub first: String,
    /// Members of the group once this record joined it (2 for the first duplicate).
    pub size: u64,
}
