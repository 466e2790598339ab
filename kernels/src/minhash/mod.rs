//! MinHash signatures and LSH banding, on the GPU (`shaders/minhash.wgsl`) or
//! the CPU ([`cpu`], the reference both must match bit for bit).
//!
//! A text becomes a set of shingle hashes ([`crate::shingle`]: word n-grams by
//! default, or character n-grams). A signature holds, for each of
//! `bands × rows` permutations `h ↦ (a·h + b) mod p` (p = 2⁶¹ − 1, `a` and `b`
//! drawn from the seed), the minimum over the shingles — masked to the low 32
//! bits when `hash_bits = 32`, as datatrove does at 32-bit precision. Two texts
//! agree on a signature position with probability equal to their Jaccard
//! similarity `s` (plus ~2⁻³² of chance collisions at 32 bits).
//!
//! LSH ([`lsh`]): the signature is cut into `bands` bands of `rows` positions;
//! two texts become candidates when any band is identical, which happens with
//! probability `1 − (1 − sʳ)ᵇ` ([`candidate_probability`]).
//!
//! | parameter | default | effect |
//! |---|---|---|
//! | `shingle` | `words:5` | longer shingles make similarity stricter (fewer shared shingles for the same edits); character shingles suit short or unsegmented text |
//! | `bands` | 14 | more bands raise recall and lower the threshold (≈ `(1/b)^(1/r)`) |
//! | `rows` | 8 | more rows make the curve steeper and raise the threshold |
//! | `seed` | 1 | another seed draws other permutations (and shingle hashes) |
//! | `hash_bits` | 64 | 32 halves the memory of signatures at the cost of rare false band matches |
//!
//! With datatrove's defaults (5-word shingles, 14 bands × 8 rows) the threshold
//! estimate `(1/b)^(1/r)` is s ≈ 0.72 (the probability is ½ at s ≈ 0.69 and
//! 0.65 at 0.72); a pair at s = 0.8 becomes a candidate with probability ≈ 0.92,
//! at s = 0.9 with ≈ 0.9996, and at s = 0.5 with ≈ 0.05.

pub mod cpu;
mod gpu;
pub mod lsh;

use crate::device::{Compute, KernelError};
pub use crate::shingle::Shingle;

/// The Mersenne prime 2⁶¹ − 1, the modulus of the permutations.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

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
    /// 32 or 64: the width of signature values.
    pub hash_bits: u32,
}

impl Default for MinHashParams {
    /// datatrove's defaults: 5-word shingles, 14 bands × 8 rows, 64-bit values.
    fn default() -> Self {
        MinHashParams { shingle: Shingle::Words(5), bands: 14, rows: 8, seed: 1, hash_bits: 64 }
    }
}

/// Parameters that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid MinHash parameters: {0}")]
pub struct InvalidParams(pub String);

impl MinHashParams {
    /// Signature length: `bands × rows`.
    pub fn num_perm(&self) -> usize {
        self.bands * self.rows
    }

    /// Checks every parameter, naming the wrong one.
    pub fn validate(&self) -> Result<(), InvalidParams> {
        self.shingle.validate().map_err(InvalidParams)?;
        if self.bands == 0 || self.rows == 0 {
            return Err(InvalidParams(format!("bands ({}) and rows ({}) must be at least 1", self.bands, self.rows)));
        }
        if self.num_perm() > 4096 {
            return Err(InvalidParams(format!("bands × rows = {} exceeds 4096", self.num_perm())));
        }
        if self.hash_bits != 32 && self.hash_bits != 64 {
            return Err(InvalidParams(format!("hash_bits is {}: use 32 or 64", self.hash_bits)));
        }
        Ok(())
    }

    /// The similarity at which a pair becomes a candidate with probability ½
    /// (found numerically), a more honest "threshold" than `(1/b)^(1/r)`.
    pub fn half_probability_similarity(&self) -> f64 {
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..50 {
            let mid = (lo + hi) / 2.0;
            if candidate_probability(mid, self.bands, self.rows) < 0.5 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }
}

/// Probability that two texts of Jaccard similarity `s` share a band.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// `(a·x + b) mod (2⁶¹ − 1)` without overflow.
#[inline]
pub fn permute(a: u64, b: u64, x: u64) -> u64 {
    let product = u128::from(a) * u128::from(x) + u128::from(b);
    let folded = (product & u128::from(MERSENNE_61)) + (product >> 61);
    let folded = (folded & u128::from(MERSENNE_61)) + (folded >> 61);
    let folded = folded as u64;
    if folded >= MERSENNE_61 { folded - MERSENNE_61 } else { folded }
}

/// `x mod (2⁶¹ − 1)`.
#[inline]
pub fn mod_mersenne(x: u64) -> u64 {
    let folded = (x & MERSENNE_61) + (x >> 61);
    if folded >= MERSENNE_61 { folded - MERSENNE_61 } else { folded }
}

/// The `(a, b)` coefficients of the permutations, from the seed (splitmix64);
/// `1 ≤ a < p`, `0 ≤ b < p`.
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

/// Signatures of many texts, stored flat (`num_perm` values per text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    num_perm: usize,
    values: Vec<u64>,
}

impl Signatures {
    /// Wraps flat values.
    pub fn from_flat(num_perm: usize, values: Vec<u64>) -> Self {
        Signatures { num_perm, values }
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.num_perm).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The signature of text `i`.
    pub fn get(&self, i: usize) -> &[u64] {
        &self.values[i * self.num_perm..(i + 1) * self.num_perm]
    }

    /// All signatures in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u64]> {
        self.values.chunks(self.num_perm.max(1))
    }
}

/// Computes signatures with fixed parameters on the selected device.
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    coefficients: Vec<(u64, u64)>,
    compute: Compute,
}

impl MinHasher {
    /// A hasher for `params` running on `compute`.
    pub fn new(params: MinHashParams, compute: &Compute) -> Result<Self, InvalidParams> {
        params.validate()?;
        Ok(MinHasher { coefficients: coefficients(&params), params, compute: compute.clone() })
    }

    /// The same hasher (parameters, permutations) on another device.
    pub fn on(&self, compute: &Compute) -> Self {
        MinHasher { compute: compute.clone(), ..self.clone() }
    }

    /// The parameters.
    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// Where signatures are computed.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// The signatures of `texts`, in order.
    pub fn signatures<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Signatures, KernelError> {
        match &self.compute {
            Compute::Cpu => Ok(cpu::signatures(texts, &self.params, &self.coefficients)),
            Compute::Gpu(gpu) => gpu::signatures(gpu, texts, &self.params, &self.coefficients),
        }
    }
}

/// Estimated Jaccard similarity of two signatures: the share of equal positions.
pub fn estimated_similarity(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_matches_big_integer_arithmetic() {
        for (a, b, x) in
            [(1, 0, 5), (MERSENNE_61 - 1, MERSENNE_61 - 1, MERSENNE_61 - 1), (123_456_789, 987_654_321, 1 << 60)]
        {
            let expected = ((u128::from(a) * u128::from(x) + u128::from(b)) % u128::from(MERSENNE_61)) as u64;
            assert_eq!(permute(a, b, x), expected, "{a} {b} {x}");
        }
        for x in [0, MERSENNE_61, MERSENNE_61 + 1, u64::MAX] {
            assert_eq!(mod_mersenne(x), x % MERSENNE_61);
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
        assert!((p.half_probability_similarity() - 0.69).abs() < 0.01);
    }

    #[test]
    fn bad_parameters_are_named() {
        let bad = |p: MinHashParams| p.validate().expect_err("must fail").0;
        assert!(bad(MinHashParams { bands: 0, ..Default::default() }).contains("bands (0)"));
        assert!(bad(MinHashParams { hash_bits: 16, ..Default::default() }).contains("hash_bits is 16"));
        assert!(bad(MinHashParams { shingle: Shingle::Words(0), ..Default::default() }).contains("shingle length 0"));
    }
}
