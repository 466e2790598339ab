//! MinHash signatures and LSH banding — the CPU reference implementation.
//!
//! A text becomes a set of shingles (word n-grams by default, or character
//! n-grams), each hashed to 64 bits with xxh3. A signature holds, for each of
//! `bands × rows` permutations `h ↦ (a·h + b) mod p` (p = 2⁶¹ − 1, `a` and `b`
//! drawn from the seed), the minimum over the shingles. Two texts agree on a
//! signature position with probability equal to their Jaccard similarity `s`.
//!
//! LSH: the signature is cut into `bands` bands of `rows` positions; two texts
//! become candidates when any band is identical, which happens with probability
//! `1 − (1 − sʳ)ᵇ` ([`candidate_probability`]). With datatrove's defaults
//! (5-word shingles, 14 bands × 8 rows) the usual threshold estimate
//! `(1/b)^(1/r)` is s ≈ 0.72 (the probability is ½ at s ≈ 0.69 and 0.65 at
//! 0.72), and a pair at s = 0.8 becomes a candidate with probability ≈ 0.92. More rows per band make the curve steeper and the
//! threshold higher; more bands lower it and raise recall.
//!
//! The GPU kernel (a later addition) must match [`signature`] bit for bit.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The Mersenne prime 2⁶¹ − 1, the modulus of the permutations.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// How a text is cut into shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shingle {
    /// Runs of `n` consecutive words (whitespace-separated, lower-cased).
    Words(usize),
    /// Runs of `n` consecutive characters of the lower-cased text.
    Chars(usize),
}

/// Parameters of signatures and banding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinHashParams {
    /// How texts are shingled.
    pub shingle: Shingle,
    /// Number of bands.
    pub bands: usize,
    /// Rows (signature positions) per band.
    pub rows: usize,
    /// Seed of the permutations and the shingle hash.
    pub seed: u64,
}

impl Default for MinHashParams {
    /// datatrove's defaults: 5-word shingles, 14 bands × 8 rows.
    fn default() -> Self {
        MinHashParams { shingle: Shingle::Words(5), bands: 14, rows: 8, seed: 1 }
    }
}

impl MinHashParams {
    /// Signature length: `bands × rows`.
    pub fn num_perm(&self) -> usize {
        self.bands * self.rows
    }
}

/// Probability that two texts of Jaccard similarity `s` share a band.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// `(a·x + b) mod (2⁶¹ − 1)` without overflow.
#[inline]
pub fn permute(a: u64, b: u64, x: u64) -> u64 {
    let product = u128::from(a) * u128::from(x % MERSENNE_61) + u128::from(b);
    let folded = (product & u128::from(MERSENNE_61)) + (product >> 61);
    let folded = (folded & u128::from(MERSENNE_61)) + (folded >> 61);
    (folded as u64) % MERSENNE_61
}

/// The `(a, b)` coefficients of the permutations, from the seed (splitmix64).
pub fn coefficients(params: &MinHashParams) -> Vec<(u64, u64)> {
    let mut state = params.seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..params.num_perm()).map(|_| ((next() % (MERSENNE_61 - 1)) + 1, next() % MERSENNE_61)).collect()
}

/// The 64-bit hashes of the text's shingles (possibly repeated). A text shorter
/// than one shingle yields one shingle: the whole (normalised) text.
pub fn shingle_hashes(text: &str, shingle: Shingle, seed: u64) -> Vec<u64> {
    let lower = text.to_lowercase();
    match shingle {
        Shingle::Words(n) => {
            let words: Vec<&str> = lower.split_whitespace().collect();
            let n = n.max(1);
            if words.len() <= n {
                return vec![xxh3_64_with_seed(words.join(" ").as_bytes(), seed)];
            }
            words.windows(n).map(|w| xxh3_64_with_seed(w.join(" ").as_bytes(), seed)).collect()
        }
        Shingle::Chars(n) => {
            let chars: Vec<(usize, char)> = lower.char_indices().collect();
            let n = n.max(1);
            if chars.len() <= n {
                return vec![xxh3_64_with_seed(lower.as_bytes(), seed)];
            }
            (0..=chars.len() - n)
                .map(|i| {
                    let start = chars[i].0;
                    let end = chars.get(i + n).map_or(lower.len(), |c| c.0);
                    xxh3_64_with_seed(&lower.as_bytes()[start..end], seed)
                })
                .collect()
        }
    }
}

/// The MinHash signature of `text`.
pub fn signature(text: &str, params: &MinHashParams, coefficients: &[(u64, u64)]) -> Vec<u64> {
    let hashes = shingle_hashes(text, params.shingle, params.seed);
    coefficients.iter().map(|&(a, b)| hashes.iter().map(|&h| permute(a, b, h)).min().unwrap_or(u64::MAX)).collect()
}

/// Estimated Jaccard similarity of two signatures: the share of equal positions.
pub fn estimated_similarity(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// One 64-bit key per band of a signature (band index mixed in, so equal keys
/// mean the same band is equal).
pub fn band_keys(signature: &[u64], params: &MinHashParams) -> Vec<u64> {
    signature
        .chunks(params.rows.max(1))
        .take(params.bands)
        .enumerate()
        .map(|(band, rows)| {
            let mut bytes = Vec::with_capacity(8 * (rows.len() + 1));
            bytes.extend_from_slice(&(band as u64).to_le_bytes());
            for r in rows {
                bytes.extend_from_slice(&r.to_le_bytes());
            }
            xxh3_64_with_seed(&bytes, 0)
        })
        .collect()
}

/// Clusters of near-duplicates among signatures: union-find over documents
/// sharing any band. Returns, per document, the index of its cluster's first
/// (lowest-index) member.
pub fn clusters(signatures: &[Vec<u64>], params: &MinHashParams) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..signatures.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_with_key: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for (doc, sig) in signatures.iter().enumerate() {
        for key in band_keys(sig, params) {
            match first_with_key.get(&key) {
                Some(&other) => {
                    let (ra, rb) = (find(&mut parent, doc), find(&mut parent, other));
                    // The lower index becomes the root, so roots are first members.
                    let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
                    parent[hi] = lo;
                }
                None => {
                    first_with_key.insert(key, doc);
                }
            }
        }
    }
    (0..signatures.len()).map(|d| find(&mut parent, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_matches_big_integer_arithmetic() {
        for (a, b, x) in [(1, 0, 5), (MERSENNE_61 - 1, MERSENNE_61 - 1, u64::MAX), (123_456_789, 987_654_321, 1 << 63)]
        {
            let expected =
                ((u128::from(a) * u128::from(x % MERSENNE_61) + u128::from(b)) % u128::from(MERSENNE_61)) as u64;
            assert_eq!(permute(a, b, x), expected, "{a} {b} {x}");
        }
    }

    #[test]
    fn defaults_follow_datatrove_and_its_published_probability() {
        let p = MinHashParams::default();
        assert_eq!((p.shingle, p.bands, p.rows, p.num_perm()), (Shingle::Words(5), 14, 8, 112));
        let at_08 = candidate_probability(0.8, 14, 8);
        assert!((at_08 - 0.92).abs() < 0.01, "{at_08}");
        let threshold = (1.0f64 / 14.0).powf(1.0 / 8.0);
        assert!((threshold - 0.72).abs() < 0.005, "{threshold}");
        let half = candidate_probability(0.685, 14, 8);
        assert!((half - 0.5).abs() < 0.02, "{half}");
    }

    #[test]
    fn signatures_estimate_jaccard_similarity() {
        let p = MinHashParams { bands: 32, rows: 8, ..MinHashParams::default() };
        let c = coefficients(&p);
        let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let a = words.join(" ");
        let mut changed = words.clone();
        for w in changed.iter_mut().step_by(40) {
            *w = "x".into();
        }
        let b = changed.join(" ");
        let (sa, sb) = (signature(&a, &p, &c), signature(&b, &p, &c));
        let exact = {
            let ha: std::collections::HashSet<u64> = shingle_hashes(&a, p.shingle, p.seed).into_iter().collect();
            let hb: std::collections::HashSet<u64> = shingle_hashes(&b, p.shingle, p.seed).into_iter().collect();
            ha.intersection(&hb).count() as f64 / ha.union(&hb).count() as f64
        };
        let estimate = estimated_similarity(&sa, &sb);
        assert!((estimate - exact).abs() < 0.1, "estimate {estimate}, exact {exact}");
        assert_eq!(signature(&a, &p, &c), sa, "deterministic");
    }

    #[test]
    fn near_duplicates_cluster_and_distinct_texts_do_not() {
        let p = MinHashParams::default();
        let c = coefficients(&p);
        let base: String = (0..200).map(|i| format!("word{i} ")).collect();
        let near = base.replacen("word100", "changed", 1);
        let other: String = (0..200).map(|i| format!("other{i} ")).collect();
        let sigs: Vec<Vec<u64>> = [&base, &other, &near].iter().map(|t| signature(t, &p, &c)).collect();
        assert_eq!(clusters(&sigs, &p), vec![0, 1, 0]);
    }

    #[test]
    fn short_empty_and_unicode_texts_are_defined() {
        for shingle in [Shingle::Words(5), Shingle::Chars(3)] {
            for text in ["", "a", "日本語のテキスト", "é\u{301}"] {
                assert!(!shingle_hashes(text, shingle, 1).is_empty(), "{text:?}");
            }
        }
        assert_eq!(shingle_hashes("ab cd", Shingle::Words(5), 1), shingle_hashes("AB  cd", Shingle::Words(5), 1));
        assert_eq!(shingle_hashes("abcd", Shingle::Chars(3), 1).len(), 2);
    }
}
