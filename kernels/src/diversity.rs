//! Diversity metrics of a set of texts, for run reports and the collapse
//! monitor: distinct-n (distinct word n-grams over all n-grams, n = 1, 2, 3),
//! the near-duplicate rate (share of texts that LSH places in a cluster with an
//! earlier text) and the mean pairwise MinHash similarity (an estimate of the
//! mean Jaccard similarity of 5-word shingle sets over all pairs).
//!
//! Meant for a sample (a few thousand texts): pairwise similarity is quadratic.

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use crate::device::KernelError;
use crate::minhash::{MinHasher, estimated_similarity, lsh};

/// Diversity of a set of texts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Diversity {
    /// Texts measured.
    pub texts: usize,
    /// distinct-1, distinct-2, distinct-3.
    pub distinct: [f64; 3],
    /// Share of texts that are near-duplicates of an earlier one.
    pub near_duplicate_rate: f64,
    /// Mean estimated Jaccard similarity over all pairs.
    pub mean_pairwise_similarity: f64,
}

/// distinct-n for n = 1, 2, 3 over lower-cased, whitespace-split words.
pub fn distinct_n<S: AsRef<str>>(texts: &[S]) -> [f64; 3] {
    let mut seen: [HashSet<u64>; 3] = Default::default();
    let mut total = [0usize; 3];
    let mut key = Vec::new();
    for text in texts {
        let lower = text.as_ref().to_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        for n in 1..=3 {
            for gram in words.windows(n) {
                key.clear();
                for w in gram {
                    key.extend_from_slice(w.as_bytes());
                    key.push(0);
                }
                seen[n - 1].insert(xxh3_64(&key));
                total[n - 1] += 1;
            }
        }
    }
    std::array::from_fn(|i| if total[i] == 0 { 0.0 } else { seen[i].len() as f64 / total[i] as f64 })
}

/// All metrics of `texts`, signatures computed by `hasher`.
pub fn measure<S: AsRef<str> + Sync>(texts: &[S], hasher: &MinHasher) -> Result<Diversity, KernelError> {
    let signatures = hasher.signatures(texts)?;
    let roots = lsh::clusters(&signatures, hasher.params());
    let duplicates = roots.iter().enumerate().filter(|(i, r)| *i != **r).count();
    let (mut sum, mut pairs) = (0.0, 0u64);
    for i in 0..signatures.len() {
        for j in i + 1..signatures.len() {
            sum += estimated_similarity(signatures.get(i), signatures.get(j));
            pairs += 1;
        }
    }
    Ok(Diversity {
        texts: texts.len(),
        distinct: distinct_n(texts),
        near_duplicate_rate: if texts.is_empty() { 0.0 } else { duplicates as f64 / texts.len() as f64 },
        mean_pairwise_similarity: if pairs == 0 { 0.0 } else { sum / pairs as f64 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Compute;
    use crate::minhash::MinHashParams;

    #[test]
    fn distinct_n_counts_repeats() {
        let d = distinct_n(&["a b a b", "A B"]);
        assert_eq!(d[0], 2.0 / 6.0);
        assert_eq!(d[1], 2.0 / 4.0, "ab, ba, ab and ab: two distinct of four");
        assert_eq!(d[2], 2.0 / 2.0);
        assert_eq!(distinct_n::<&str>(&[]), [0.0; 3]);
    }

    #[test]
    fn repeated_texts_are_less_diverse() {
        let hasher = MinHasher::new(MinHashParams::default(), &Compute::Cpu).expect("test setup");
        let varied: Vec<String> =
            (0..20).map(|i| (0..60).map(|w| format!("t{i}w{w}")).collect::<Vec<_>>().join(" ")).collect();
        let repeated: Vec<String> = (0..20).map(|_| varied[0].clone()).collect();
        let (v, r) = (measure(&varied, &hasher).expect("test setup"), measure(&repeated, &hasher).expect("test setup"));
        assert_eq!(v.near_duplicate_rate, 0.0);
        assert_eq!(r.near_duplicate_rate, 19.0 / 20.0);
        assert!(v.mean_pairwise_similarity < 0.05 && r.mean_pairwise_similarity == 1.0);
        assert!(v.distinct[0] > r.distinct[0]);
    }
}
