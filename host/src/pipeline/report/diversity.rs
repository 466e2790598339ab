//! Diversity of a sample of texts (distinct-n, near-duplicate rate, mean
//! pairwise MinHash similarity): measured on a run's kept records for
//! `stats.json` and on every round's data by the collapse monitor. Its own
//! module so that both can use it without importing each other.

use serde::{Deserialize, Serialize};

/// Diversity metrics of the kept records (see `kiln_kernels::diversity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diversity {
    /// Records in the sample.
    pub sample: usize,
    /// Distinct word unigrams / all unigrams.
    pub distinct_1: f64,
    /// Distinct bigrams / all bigrams.
    pub distinct_2: f64,
    /// Distinct trigrams / all trigrams.
    pub distinct_3: f64,
    /// Share of sampled records that are near-duplicates (MinHash LSH) of an earlier one.
    pub near_duplicate_rate: f64,
    /// Mean estimated Jaccard similarity (5-word shingles) over all sampled pairs.
    pub mean_pairwise_similarity: f64,
}

impl Diversity {
    /// Measures `texts` (on the CPU: a sample is small).
    pub fn measure(texts: &[String]) -> Option<Diversity> {
        let hasher = kiln_kernels::minhash::MinHasher::new(Default::default(), &kiln_kernels::Compute::Cpu).ok()?;
        let d = kiln_kernels::diversity::measure(texts, &hasher).ok()?;
        Some(Diversity {
            sample: d.texts,
            distinct_1: d.distinct[0],
            distinct_2: d.distinct[1],
            distinct_3: d.distinct[2],
            near_duplicate_rate: d.near_duplicate_rate,
            mean_pairwise_similarity: d.mean_pairwise_similarity,
        })
    }
}
