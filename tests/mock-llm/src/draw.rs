//! The seeded fault draw: for each request, in arrival order, whether it gets
//! a fault and which one. SplitMix64 is used (rather than a `rand` generator)
//! so that a seed gives the same sequence in every version of this crate.

use std::sync::Mutex;

use crate::config::Fault;

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and good enough to
/// decide fault draws.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Draws faults: each call is one request.
#[derive(Debug)]
pub(crate) struct FaultDraw {
    rate: f64,
    faults: Vec<Fault>,
    rng: Mutex<SplitMix64>,
}

impl FaultDraw {
    /// A draw of `faults` (equally weighted) with probability `rate`, seeded with `seed`.
    pub(crate) fn new(rate: f64, faults: Vec<Fault>, seed: u64) -> Self {
        FaultDraw { rate, faults, rng: Mutex::new(SplitMix64(seed)) }
    }

    /// The fault for the next request, or `None` for a normal answer. Two
    /// numbers are drawn for every request, fault or not, so that the
    /// sequence depends only on the seed and the number of requests.
    pub(crate) fn next(&self) -> Option<Fault> {
        let (roll, pick) = {
            // A panic while holding this lock cannot leave the generator
            // half-updated, so a poisoned lock is still good to use.
            let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (rng.next_f64(), rng.next_u64())
        };
        if self.faults.is_empty() || roll >= self.rate {
            return None;
        }
        self.faults.get((pick % self.faults.len() as u64) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 1234567 from the reference implementation.
        let mut rng = SplitMix64(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }

    #[test]
    fn same_seed_same_sequence() {
        let draws = |seed| {
            let draw = FaultDraw::new(0.5, Fault::ALL.to_vec(), seed);
            (0..200).map(|_| draw.next()).collect::<Vec<_>>()
        };
        assert_eq!(draws(9), draws(9));
        assert_ne!(draws(9), draws(10));
    }

    #[test]
    fn rate_and_weights_are_respected() {
        let draw = FaultDraw::new(0.25, vec![Fault::RateLimited, Fault::Timeout], 42);
        let outcomes: Vec<_> = (0..20_000).map(|_| draw.next()).collect();
        let faults = outcomes.iter().flatten().count();
        assert!((4_600..5_400).contains(&faults), "{faults} faults of 20000 at rate 0.25");
        let limited = outcomes.iter().flatten().filter(|fault| **fault == Fault::RateLimited).count();
        assert!((faults * 4 / 10..faults * 6 / 10).contains(&limited), "{limited} of {faults}");
        assert!(outcomes.iter().flatten().all(|fault| matches!(fault, Fault::RateLimited | Fault::Timeout)));
    }

    #[test]
    fn rates_zero_and_one() {
        let never = FaultDraw::new(0.0, Fault::ALL.to_vec(), 1);
        assert!((0..1000).all(|_| never.next().is_none()));
        let always = FaultDraw::new(1.0, vec![Fault::Malformed], 1);
        assert!((0..1000).all(|_| always.next() == Some(Fault::Malformed)));
    }
}
