//! Shared by the GPU-against-CPU test crates: the GPU adapter they require,
//! and a random source seeded from the clock whose seed is printed, so that a
//! failure can be replayed with `KILN_TEST_SEED=<seed>`.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use kiln_kernels::{Compute, DevicePreference};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The GPU (a software adapter is fine). Without one the tests fail, on
/// purpose: a skipped GPU test would hide a broken CI machine.
pub fn gpu() -> Compute {
    match Compute::select(DevicePreference::Gpu) {
        Ok(c) => c,
        Err(e) => panic!("no GPU adapter for the GPU kernel tests: {e}"),
    }
}

/// Random test inputs.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// Seeded from `KILN_TEST_SEED`, else from the clock; prints the seed.
    pub fn fresh() -> Rng {
        let seed = std::env::var("KILN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7));
        eprintln!("KILN_TEST_SEED={seed}");
        Rng::seeded(seed)
    }

    /// A fixed sequence.
    pub fn seeded(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Any u64.
    pub fn next(&mut self) -> u64 {
        self.0.random()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n.max(1))
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        self.0.random_range(-1.0..1.0)
    }

    /// `len` values uniform in [-1, 1).
    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.unit()).collect()
    }
}
