//! The CPU implementation of MinHash signatures: the reference the GPU kernel
//! must match bit for bit, and the fallback. Texts are spread over all cores.

use rayon::prelude::*;

use super::{MinHashParams, Signatures, mod_mersenne, permute};
use crate::shingle::{prepare, scan};

/// The signature of one text.
pub fn signature(text: &str, params: &MinHashParams, coefficients: &[(u64, u64)]) -> Vec<u64> {
    let mut mins = vec![u64::MAX; coefficients.len()];
    signature_into(text, params, coefficients, &mut mins);
    mins
}

fn signature_into(text: &str, params: &MinHashParams, coefficients: &[(u64, u64)], mins: &mut [u64]) {
    let mask = if params.hash_bits == 32 { u64::from(u32::MAX) } else { u64::MAX };
    mins.fill(u64::MAX);
    scan(&prepare(text, params.shingle), params.shingle, params.seed, |h| {
        let x = mod_mersenne(h);
        for (min, &(a, b)) in mins.iter_mut().zip(coefficients) {
            let v = permute(a, b, x) & mask;
            if v < *min {
                *min = v;
            }
        }
    });
}

/// The signatures of `texts`, computed in parallel.
pub fn signatures<S: AsRef<str> + Sync>(
    texts: &[S],
    params: &MinHashParams,
    coefficients: &[(u64, u64)],
) -> Signatures {
    let num_perm = coefficients.len();
    let mut values = vec![0u64; texts.len() * num_perm];
    values
        .par_chunks_mut(num_perm.max(1))
        .zip(texts.par_iter())
        .with_min_len(64)
        .for_each(|(out, text)| signature_into(text.as_ref(), params, coefficients, out));
    Signatures::from_flat(num_perm, values)
}

#[cfg(test)]
mod tests {
    use super::super::{coefficients, estimated_similarity};
    use super::*;
    use crate::shingle::{Shingle, shingle_hashes};

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
    fn parallel_signatures_equal_one_by_one_and_32_bit_values_fit() {
        let p = MinHashParams { hash_bits: 32, shingle: Shingle::Chars(4), ..MinHashParams::default() };
        let c = coefficients(&p);
        let texts: Vec<String> = (0..300).map(|i| format!("text number {i} with some words")).collect();
        let all = signatures(&texts, &p, &c);
        assert_eq!(all.len(), 300);
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(all.get(i), signature(t, &p, &c).as_slice());
            assert!(all.get(i).iter().all(|&v| v <= u64::from(u32::MAX)));
        }
    }
}
