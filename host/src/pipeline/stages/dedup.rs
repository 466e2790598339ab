//! The built-in `dedup` stage. Two methods, both keeping the first record (in
//! input order) of each group and rejecting the others:
//! - `exact` (this module): same normalised text, reason `duplicate of <id>`;
//! - `minhash` ([`super::near_dup`]): same LSH cluster, reason
//!   `near-duplicate of <id>`.
//!
//! Exact normalisation: lower case, Unicode whitespace runs collapsed to one space,
//! ends trimmed. The key is the 128-bit xxh3 hash of the normalised text (the
//! chance of a collision among 10⁹ texts is about 10⁻²¹). The state — keys seen
//! and the id that holds each — is saved with every committed chunk, so a
//! resumed run deduplicates against exactly what the interrupted run kept.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use std::sync::{Arc, Mutex, PoisonError};

use super::grouping::{Grouping, Joined};
use super::{PhaseCx, PreparedStage, Shape, StageError, StageOp, StageOutput};
use crate::outcome::{Outcome, Rejected, Rejection};
use crate::record::Record;

/// The `dedup` stage: ordered, its state committed with every chunk.
#[derive(Debug)]
pub struct DedupStage {
    /// Its configuration.
    pub config: DedupConfig,
}

impl StageOp for DedupStage {
    fn shape(&self) -> Shape {
        Shape::Ordered
    }

    fn lineage_step(&self, stage: &str) -> Option<String> {
        Some(format!("{stage}=builtin:dedup"))
    }

    fn grouping(&self) -> Option<&dyn Grouping> {
        Some(self)
    }

    /// Starts from what the committed chunks saw.
    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        let name = cx.stage.name.clone();
        let state = |message| StageError::State { stage: name.clone(), message };
        let mut dedup = Dedup::new(&self.config).map_err(state)?;
        for saved in cx.saved_states() {
            dedup.restore(&saved?).map_err(state)?;
        }
        Ok(Arc::new(PreparedDedup { name: name.clone(), dedup: Arc::new(Mutex::new(dedup)) }))
    }
}

/// In a split run: the same keys (the 128-bit key of the normalised text, or
/// the MinHash band keys) and the same outcomes as the streaming stage.
impl Grouping for DedupStage {
    fn bands(&self) -> usize {
        match self.config.method {
            Method::Exact => 1,
            Method::Minhash => self.config.bands,
        }
    }

    fn key_bytes(&self) -> usize {
        match self.config.method {
            Method::Exact => 16,
            Method::Minhash => 8,
        }
    }

    fn keys(&self, records: &[Record]) -> Result<Vec<Vec<u128>>, String> {
        match self.config.method {
            Method::Exact => Ok(records.iter().map(|r| vec![key(&r.text)]).collect()),
            Method::Minhash => {
                let near = super::near_dup::NearDup::new(self.config.minhash_params()?)?;
                let keys = near.band_keys(records)?;
                Ok(keys.into_iter().map(|k| k.into_iter().map(u128::from).collect()).collect())
            }
        }
    }

    fn decide(&self, stage: &str, records: Vec<Record>, joined: Vec<Option<Joined>>) -> StageOutput {
        let mut details = BTreeMap::new();
        let outcomes = records
            .into_iter()
            .zip(joined)
            .map(|(record, joined)| match (joined, self.config.method) {
                (None, _) => Outcome::Kept(record),
                (Some(j), Method::Exact) => exact_duplicate(stage, record, &j.first),
                (Some(j), Method::Minhash) => {
                    super::near_dup::near_duplicate(stage, record, &j.first, j.size, &mut details)
                }
            })
            .collect();
        StageOutput { outcomes, details, ..Default::default() }
    }
}

struct PreparedDedup {
    name: String,
    dedup: Arc<Mutex<Dedup>>,
}

#[async_trait::async_trait]
impl PreparedStage for PreparedDedup {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let (dedup, name) = (self.dedup.clone(), self.name.clone());
        let (outcomes, added, details) = tokio::task::spawn_blocking(move || {
            dedup.lock().unwrap_or_else(PoisonError::into_inner).apply(&name, records)
        })
        .await?;
        Ok(StageOutput { outcomes, details, state: Some(added), ..Default::default() })
    }
}

/// `config` of a `dedup` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// `exact` (default) or `minhash`.
    #[serde(default)]
    pub method: Method,
    /// minhash: `words:N` or `chars:N` (default `words:5`).
    #[serde(default = "default_shingle")]
    pub shingle: String,
    /// minhash: number of bands (default 14).
    #[serde(default = "default_bands")]
    pub bands: usize,
    /// minhash: rows per band (default 8).
    #[serde(default = "default_rows")]
    pub rows: usize,
    /// minhash: seed of the permutations (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// minhash: 32 or 64-bit signature values (default 64).
    #[serde(default = "default_hash_bits")]
    pub hash_bits: u32,
}

/// How `dedup` compares records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Same normalised text.
    #[default]
    Exact,
    /// Same MinHash LSH cluster.
    Minhash,
}

fn default_shingle() -> String {
    "words:5".into()
}
fn default_bands() -> usize {
    14
}
fn default_rows() -> usize {
    8
}
fn default_seed() -> u64 {
    1
}
fn default_hash_bits() -> u32 {
    64
}

impl DedupConfig {
    /// Checks the settings (the MinHash parameters, for `method = "minhash"`).
    pub fn check(&self) -> Result<(), String> {
        if self.method == Method::Minhash {
            self.minhash_params()?;
        }
        Ok(())
    }

    /// The MinHash parameters, checked.
    pub fn minhash_params(&self) -> Result<kiln_kernels::minhash::MinHashParams, String> {
        let params = kiln_kernels::minhash::MinHashParams {
            shingle: self.shingle.parse().map_err(|e| format!("invalid config: shingle {e}"))?,
            bands: self.bands,
            rows: self.rows,
            seed: self.seed,
            hash_bits: self.hash_bits,
        };
        params.validate().map_err(|e| e.to_string())?;
        Ok(params)
    }
}

/// The state of a `dedup` stage across a run.
#[derive(Debug)]
pub enum Dedup {
    /// `method = "exact"`.
    Exact(ExactDedup),
    /// `method = "minhash"`.
    MinHash(super::near_dup::NearDup),
}

impl Dedup {
    /// Fresh state for `config`.
    pub fn new(config: &DedupConfig) -> Result<Self, String> {
        match config.method {
            Method::Minhash => Ok(Dedup::MinHash(super::near_dup::NearDup::new(config.minhash_params()?)?)),
            Method::Exact => Ok(Dedup::Exact(ExactDedup::default())),
        }
    }

    /// Runs over one chunk: outcomes, state to commit, and details for the stats.
    pub fn apply(&mut self, stage: &str, records: Vec<Record>) -> (Vec<Outcome>, String, BTreeMap<String, i64>) {
        match self {
            Dedup::Exact(d) => {
                let (outcomes, state) = d.apply(stage, records);
                (outcomes, state, BTreeMap::new())
            }
            Dedup::MinHash(d) => d.apply(stage, records),
        }
    }

    /// Restores state saved by [`apply`](Self::apply).
    pub fn restore(&mut self, saved: &str) -> Result<(), String> {
        match self {
            Dedup::Exact(d) => d.restore(saved),
            Dedup::MinHash(d) => d.restore(saved),
        }
    }
}

pub use kiln_kernels::exact::{key, normalise};

/// The outcome of `record`, whose normalised text is `first`'s.
fn exact_duplicate(stage: &str, record: Record, first: &str) -> Outcome {
    Outcome::Rejected(Rejected {
        rejected: Rejection::new(stage, "builtin:dedup-exact", "duplicate", format!("duplicate of {first}")),
        record,
    })
}

/// Exact deduplication across a whole run.
#[derive(Debug, Default)]
pub struct ExactDedup {
    seen: HashMap<u128, Box<str>>,
}

impl ExactDedup {
    /// Keys already seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing was seen yet.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Runs over one chunk's records: one outcome per record, and the state the
    /// chunk added (`key<TAB>id` lines) to commit with it.
    pub fn apply(&mut self, stage: &str, records: Vec<Record>) -> (Vec<Outcome>, String) {
        let mut added = String::new();
        let outcomes = records
            .into_iter()
            .map(|record| {
                let k = key(&record.text);
                match self.seen.get(&k) {
                    Some(first) => exact_duplicate(stage, record, first),
                    None => {
                        added.push_str(&format!("{k:032x}\t{}\n", record.id));
                        self.seen.insert(k, record.id.clone().into_boxed_str());
                        Outcome::Kept(record)
                    }
                }
            })
            .collect();
        (outcomes, added)
    }

    /// Restores state saved by [`apply`](Self::apply).
    pub fn restore(&mut self, saved: &str) -> Result<(), String> {
        for (n, line) in saved.lines().enumerate() {
            let (k, id) = line.split_once('\t').ok_or_else(|| format!("line {}: expected `key<TAB>id`", n + 1))?;
            let k = u128::from_str_radix(k, 16).map_err(|e| format!("line {}: bad key: {e}", n + 1))?;
            self.seen.insert(k, id.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_rejects_later_and_state_survives_a_restart() {
        let mut d = ExactDedup::default();
        let (out, saved) =
            d.apply("dd", vec![Record::new("a", "x y"), Record::new("b", "X  y"), Record::new("c", "z")]);
        assert!(matches!(&out[0], Outcome::Kept(r) if r.id == "a"));
        assert!(matches!(&out[1], Outcome::Rejected(r) if r.rejected.reason == "duplicate of a"));
        assert!(matches!(&out[2], Outcome::Kept(_)));
        let mut resumed = ExactDedup::default();
        resumed.restore(&saved).expect("valid state");
        let (out, _) = resumed.apply("dd", vec![Record::new("d", "z")]);
        assert!(matches!(&out[0], Outcome::Rejected(r) if r.rejected.reason == "duplicate of c"));
        assert!(resumed.restore("garbage").is_err());
    }
}
