//! The built-in `dedup` stage, exact method: keeps the first record (in input
//! order) of each group with the same normalised text and rejects the others
//! with reason `duplicate of <id>`.
//!
//! Normalisation: lower case, Unicode whitespace runs collapsed to one space,
//! ends trimmed. The key is the 128-bit xxh3 hash of the normalised text (the
//! chance of a collision among 10⁹ texts is about 10⁻²¹). The state — keys seen
//! and the id that holds each — is saved with every committed chunk, so a
//! resumed run deduplicates against exactly what the interrupted run kept.

use std::collections::HashMap;

use serde::Deserialize;

use crate::record::Record;
use crate::run::{Outcome, Rejected, Rejection};

/// `config` of a `dedup` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// Only `exact` for now; `minhash` comes with the GPU kernels.
    #[serde(default = "default_method")]
    pub method: String,
}

fn default_method() -> String {
    "exact".into()
}

pub use kiln_kernels::exact::{key, normalise};

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
                    Some(first) => Outcome::Rejected(Rejected {
                        rejected: Rejection {
                            stage: stage.to_string(),
                            plugin: "builtin:dedup-exact".into(),
                            reason: format!("duplicate of {first}"),
                        },
                        record,
                    }),
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
