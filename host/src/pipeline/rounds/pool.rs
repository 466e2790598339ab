//! A round's training pool, composed by its arm's [`Policy`] from the real
//! records and the synthetic records of every round so far, and where each
//! record came from ([`Origin`], read off its lineage).
//!
//! Sampling is a seeded hash order (xxh3 of seed, round and record id), so a
//! pool depends only on its inputs, never on the order records were
//! committed in, and a resumed run composes the same pool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::plan::Policy;
use crate::record::Record;

/// Where a record of a pool came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// An input record, untouched by a model.
    Real,
    /// An input record rewritten by a `refine` stage.
    Refined,
    /// Written by a model in round `k` (round 0: the teacher).
    Synthetic(u32),
}

/// The origin of `record`, kept by round `round` (`refiners`: round 0's `refine` stages).
pub fn origin(record: &Record, round: u32, refiners: &[String]) -> Origin {
    let lineage = &record.lineage;
    if lineage.source.starts_with("stage:") {
        return Origin::Synthetic(round);
    }
    let refined = lineage.steps.iter().any(|step| refiners.iter().any(|r| step.split('=').next() == Some(r.as_str())));
    if refined { Origin::Refined } else { Origin::Real }
}

/// What a pool holds, by origin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolCounts {
    /// Real records.
    pub real: u64,
    /// Refined records.
    pub refined: u64,
    /// Synthetic records by the round that wrote them.
    pub synthetic: BTreeMap<u32, u64>,
    /// Records the policy asked for that there were not (a `mix` whose
    /// round wrote fewer synthetic records than its share).
    #[serde(default)]
    pub short: u64,
}

impl PoolCounts {
    /// Every record of the pool.
    pub fn total(&self) -> u64 {
        self.real + self.refined + self.synthetic.values().sum::<u64>()
    }
}

/// The records a pool draws from: the real (and refined) ones, and each
/// round's synthetic ones (index 0: round 0's, e.g. the teacher's).
#[derive(Debug, Default)]
pub struct Sources {
    /// Real and refined records of round 0, with their origin.
    pub real: Vec<(Record, Origin)>,
    /// Synthetic records of round `j` at index `j`.
    pub synthetic: Vec<Vec<Record>>,
}

/// Why a pool cannot be composed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// `mix` asks for more real records than there are.
    #[error(
        "the mix asks for {wanted} real records ({fraction} of {size}), but round 0 kept only {have}: lower \
         `size` or `real_fraction`, or add real data"
    )]
    NotEnoughReal {
        /// Real records asked for.
        wanted: u64,
        /// Real records there are.
        have: u64,
        /// `real_fraction`.
        fraction: f64,
        /// `size`.
        size: u64,
    },
}

/// The pool of round `k` under `policy`, sampled with `seed`.
pub fn compose(policy: &Policy, sources: &Sources, k: u32, seed: u64) -> Result<(Vec<Record>, PoolCounts), PoolError> {
    let mut counts = PoolCounts::default();
    let round_k = sources.synthetic.get(k as usize).map(Vec::as_slice).unwrap_or_default();
    let accumulated = || {
        let real = sources.real.iter().map(|(r, o)| (r, *o));
        let synthetic = sources
            .synthetic
            .iter()
            .take(k as usize + 1)
            .enumerate()
            .flat_map(|(j, records)| records.iter().map(move |r| (r, Origin::Synthetic(j as u32))));
        real.chain(synthetic).collect::<Vec<_>>()
    };
    let chosen: Vec<(&Record, Origin)> = match *policy {
        Policy::Replace => round_k.iter().map(|r| (r, Origin::Synthetic(k))).collect(),
        Policy::Accumulate => accumulated(),
        Policy::AccumulateSubsample { size } => sample(accumulated(), size, seed, k),
        Policy::Mix { real_fraction, size } => {
            let wanted = (real_fraction * size as f64).round() as u64;
            let have = sources.real.len() as u64;
            if wanted > have {
                return Err(PoolError::NotEnoughReal { wanted, have, fraction: real_fraction, size });
            }
            let real = sample(sources.real.iter().map(|(r, o)| (r, *o)).collect(), wanted, seed, k);
            let synthetic_wanted = size - wanted;
            let synthetic =
                sample(round_k.iter().map(|r| (r, Origin::Synthetic(k))).collect(), synthetic_wanted, seed ^ 1, k);
            counts.short = synthetic_wanted - synthetic.len() as u64;
            real.into_iter().chain(synthetic).collect()
        }
    };
    let mut out = Vec::with_capacity(chosen.len());
    for (record, origin) in chosen {
        match origin {
            Origin::Real => counts.real += 1,
            Origin::Refined => counts.refined += 1,
            Origin::Synthetic(j) => *counts.synthetic.entry(j).or_default() += 1,
        }
        out.push(record.clone());
    }
    Ok((out, counts))
}

/// `n` of `items` (all when there are fewer), chosen by a seeded hash of
/// their ids, kept in their original order.
fn sample(items: Vec<(&Record, Origin)>, n: u64, seed: u64, k: u32) -> Vec<(&Record, Origin)> {
    if items.len() as u64 <= n {
        return items;
    }
    let key =
        |r: &Record| xxh3_64_with_seed(r.id.as_bytes(), seed.wrapping_mul(0x9E37_79B9).wrapping_add(u64::from(k)));
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (key(items[i].0), i));
    let mut keep: Vec<usize> = order.into_iter().take(n as usize).collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| items[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Lineage;

    fn real(n: usize) -> Vec<(Record, Origin)> {
        (0..n)
            .map(|i| {
                let mut r = Record::new(format!("real-{i}"), "real text");
                r.lineage = Lineage { source: format!("in.jsonl:{}", i + 1), ..Lineage::default() };
                (r, Origin::Real)
            })
            .collect()
    }

    fn synthetic(round: u32, n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let mut r = Record::new(format!("r{round}-{i}"), "made up");
                r.lineage = Lineage { source: "stage:gen".into(), round, ..Lineage::default() };
                r
            })
            .collect()
    }

    fn sources() -> Sources {
        Sources { real: real(100), synthetic: vec![Vec::new(), synthetic(1, 50), synthetic(2, 50), synthetic(3, 50)] }
    }

    #[test]
    fn each_policy_composes_its_pool() {
        let s = sources();
        let (pool, counts) = compose(&Policy::Replace, &s, 2, 7).expect("replace");
        assert_eq!((pool.len(), counts.real, counts.synthetic.clone()), (50, 0, BTreeMap::from([(2, 50)])));
        assert!(pool.iter().all(|r| r.id.starts_with("r2-")));

        let (pool, counts) = compose(&Policy::Accumulate, &s, 2, 7).expect("accumulate");
        assert_eq!(pool.len(), 200);
        assert_eq!((counts.real, counts.synthetic.clone()), (100, BTreeMap::from([(1, 50), (2, 50)])));

        let (pool, counts) = compose(&Policy::Mix { real_fraction: 0.25, size: 40 }, &s, 3, 7).expect("mix");
        assert_eq!((pool.len(), counts.real, counts.synthetic.get(&3).copied()), (40, 10, Some(30)));
        assert_eq!(counts.total(), 40);

        let (pool, counts) = compose(&Policy::AccumulateSubsample { size: 120 }, &s, 3, 7).expect("subsample");
        assert_eq!((pool.len() as u64, counts.total()), (120, 120));
        assert!(counts.real > 30 && counts.real < 70, "a fair share of the 100 of 250 are real: {counts:?}");
    }

    #[test]
    fn pools_are_seeded_and_honest_about_what_is_missing() {
        let s = sources();
        let mix = Policy::Mix { real_fraction: 0.5, size: 80 };
        let a = compose(&mix, &s, 1, 7).expect("mix").0;
        assert_eq!(a, compose(&mix, &s, 1, 7).expect("mix").0, "same seed, same pool");
        assert_ne!(a, compose(&mix, &s, 1, 8).expect("mix").0, "another seed, another sample");
        // 40 synthetic asked, 50 there: none short; 90 asked of 50: 40 short.
        let (_, counts) = compose(&Policy::Mix { real_fraction: 0.1, size: 100 }, &s, 1, 7).expect("mix");
        assert_eq!((counts.real, counts.short), (10, 40));
        let e = compose(&Policy::Mix { real_fraction: 0.5, size: 400 }, &s, 1, 7).expect_err("too few real");
        assert!(e.to_string().contains("asks for 200 real records"), "{e}");
    }

    #[test]
    fn origins_follow_the_lineage() {
        let mut r = Record::new("a", "x");
        r.lineage = Lineage { source: "in.jsonl:3".into(), steps: vec!["pii=refiner@1".into()], ..Lineage::default() };
        assert_eq!(origin(&r, 0, &["pii".to_string()]), Origin::Refined);
        assert_eq!(origin(&r, 0, &["other".to_string()]), Origin::Real);
        r.lineage.source = "stage:gen".into();
        assert_eq!(origin(&r, 4, &[]), Origin::Synthetic(4));
    }
}
