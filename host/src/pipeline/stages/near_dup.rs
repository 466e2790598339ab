//! The `dedup` stage with `method = "minhash"`: near-duplicate removal in
//! input order. Each chunk's signatures are computed at once (on the GPU when
//! there is one, see [`crate::compute`]); then, record by record, the band
//! keys are offered to a [`StreamingIndex`]: the first record of a cluster is
//! kept, later ones are rejected with reason `near-duplicate of <id>` where
//! `<id>` is the cluster's kept record.
//!
//! State committed with each chunk: one line per record, `<first id>\t<new
//! band keys in hex, comma-separated>`, enough to rebuild the index exactly
//! on resume. Statistics: the distribution of cluster sizes (as changes per
//! chunk that add up over the run).

use std::collections::BTreeMap;

use kiln_kernels::minhash::lsh::{Offer, StreamingIndex, band_keys};
use kiln_kernels::minhash::{MinHashParams, MinHasher};

use crate::compute;
use crate::outcome::{Outcome, Quarantined, Rejected, Rejection};
use crate::record::Record;

/// Near-duplicate state across a run.
#[derive(Debug)]
pub struct NearDup {
    hasher: MinHasher,
    index: StreamingIndex,
}

/// The stats key of a cluster size (power-of-two bins).
fn size_bin(size: u64) -> String {
    match size {
        0 | 1 => "cluster size 1".into(),
        2 => "cluster size 2".into(),
        n => {
            let hi = n.next_power_of_two();
            format!("cluster size {}-{}", hi / 2 + 1, hi)
        }
    }
}

impl NearDup {
    /// Fresh state, or why the parameters cannot work.
    pub fn new(params: MinHashParams) -> Result<Self, String> {
        let hasher = MinHasher::new(params, &kiln_kernels::Compute::Cpu).map_err(|e| e.to_string())?;
        Ok(NearDup { hasher, index: StreamingIndex::default() })
    }

    /// The band keys of each record (signatures on the GPU when there is one).
    pub fn band_keys(&self, records: &[Record]) -> Result<Vec<Vec<u64>>, String> {
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        let signatures = compute::with_fallback("MinHash signatures", |c| self.hasher.on(c).signatures(&texts))?;
        Ok((0..records.len()).map(|i| band_keys(signatures.get(i), self.hasher.params())).collect())
    }

    /// Runs over one chunk: outcomes, state lines, cluster-size changes.
    pub fn apply(&mut self, stage: &str, records: Vec<Record>) -> (Vec<Outcome>, String, BTreeMap<String, i64>) {
        let mut details = BTreeMap::new();
        let keys = match self.band_keys(&records) {
            Ok(keys) => keys,
            Err(message) => {
                // No device at all: every record is quarantined, none lost.
                let outcomes = records
                    .into_iter()
                    .map(|record| {
                        Outcome::Quarantined(Quarantined::record(
                            record,
                            stage,
                            "builtin:dedup-minhash",
                            format!("no kernel device: {message}"),
                        ))
                    })
                    .collect();
                return (outcomes, String::new(), details);
            }
        };
        let mut state = String::new();
        let outcomes = records
            .into_iter()
            .zip(keys)
            .map(|(record, keys)| {
                let (offer, new_keys) = self.index.offer(&record.id, &keys);
                let first: &str = match &offer {
                    Offer::First => &record.id,
                    Offer::DuplicateOf { first, .. } => first,
                };
                state.push_str(first);
                state.push('\t');
                let hex: Vec<String> = new_keys.iter().map(|k| format!("{k:016x}")).collect();
                state.push_str(&hex.join(","));
                state.push('\n');
                match offer {
                    Offer::First => Outcome::Kept(record),
                    Offer::DuplicateOf { first, size } => near_duplicate(stage, record, &first, size, &mut details),
                }
            })
            .collect();
        (outcomes, state, details)
    }

    /// Restores the state lines of committed chunks.
    pub fn restore(&mut self, saved: &str) -> Result<(), String> {
        for (n, line) in saved.lines().enumerate() {
            let (first, keys) =
                line.split_once('\t').ok_or_else(|| format!("line {}: expected `first-id<TAB>keys`", n + 1))?;
            let keys = keys
                .split(',')
                .filter(|k| !k.is_empty())
                .map(|k| u64::from_str_radix(k, 16).map_err(|e| format!("line {}: bad key `{k}`: {e}", n + 1)))
                .collect::<Result<Vec<u64>, String>>()?;
            self.index.restore(first, &keys);
        }
        Ok(())
    }
}

/// The outcome of `record`, a near-duplicate of `first` whose cluster now
/// has `size` members, and the change it makes to the cluster sizes counted
/// in `details` (a cluster is counted from 2 members; it grew from size − 1).
pub fn near_duplicate(
    stage: &str,
    record: Record,
    first: &str,
    size: u64,
    details: &mut BTreeMap<String, i64>,
) -> Outcome {
    if size > 2 {
        *details.entry(size_bin(size - 1)).or_default() -= 1;
    }
    *details.entry(size_bin(size)).or_default() += 1;
    Outcome::Rejected(Rejected {
        rejected: Rejection::new(
            stage,
            "builtin:dedup-minhash",
            "near-duplicate",
            format!("near-duplicate of {first}"),
        ),
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, text: &str) -> Record {
        Record::new(id, text)
    }

    fn text(seed: usize, changed: Option<usize>) -> String {
        (0..120).map(|w| if Some(w) == changed { "changed ".to_string() } else { format!("t{seed}w{w} ") }).collect()
    }

    #[test]
    fn near_duplicates_are_rejected_naming_the_kept_record_and_state_resumes() {
        let params = MinHashParams::default();
        let mut d = NearDup::new(params).expect("test setup");
        let (out, saved, details) = d.apply(
            "nd",
            vec![record("a", &text(1, None)), record("b", &text(2, None)), record("c", &text(1, Some(60)))],
        );
        assert!(matches!(&out[0], Outcome::Kept(r) if r.id == "a"));
        assert!(matches!(&out[1], Outcome::Kept(r) if r.id == "b"));
        assert!(matches!(&out[2], Outcome::Rejected(r) if r.rejected.reason == "near-duplicate of a"));
        assert_eq!(details.get("cluster size 2"), Some(&1));
        let mut resumed = NearDup::new(params).expect("test setup");
        resumed.restore(&saved).expect("test setup");
        let (out, _, details) = resumed.apply("nd", vec![record("d", &text(1, Some(10)))]);
        assert!(matches!(&out[0], Outcome::Rejected(r) if r.rejected.reason == "near-duplicate of a"));
        assert_eq!(details.get("cluster size 2"), Some(&-1));
        assert_eq!(details.get("cluster size 3-4"), Some(&1));
        assert!(resumed.restore("no tab here").expect_err("must fail").contains("line 1"));
    }

    #[test]
    fn empty_and_short_texts_are_defined() {
        let mut d = NearDup::new(MinHashParams::default()).expect("test setup");
        let (out, _, _) = d.apply("nd", vec![record("a", ""), record("b", "  "), record("c", "short text")]);
        assert!(matches!(&out[0], Outcome::Kept(_)));
        assert!(matches!(&out[1], Outcome::Rejected(r) if r.rejected.reason == "near-duplicate of a"));
        assert!(matches!(&out[2], Outcome::Kept(_)));
    }
}
