//! # kiln-kernels: scoring and training kernels
//!
//! Kiln's performance-critical work — MinHash near-duplicate detection, n-gram
//! decontamination, diversity metrics, classifier and student training — runs
//! here as WGSL compute shaders through wgpu, each beside a CPU implementation
//! that is both the reference for tests and the fallback on machines without a
//! GPU. Shaders live in `kernels/shaders/` and are loaded with `include_str!`.
//!
//! - [`device`]: picks the GPU or the CPU, runs kernels, and falls back to the
//!   CPU when the GPU fails ([`Compute::with_fallback`]); every kernel takes the
//!   device as `&Compute` and fails with the one [`KernelError`].
//! - [`shingle`]: how texts become shingle hashes (shared by every text kernel).
//! - [`minhash`]: MinHash signatures (GPU + CPU), LSH banding and clustering.
//! - [`decontam`]: n-gram decontamination against benchmark texts (GPU + CPU).
//! - [`diversity`]: distinct-n, near-duplicate rate, mean pairwise similarity.
//! - [`drift`]: how far generated texts drift from real ones (character
//!   n-gram entropy, Jensen–Shannon divergence, coverage of the real tail).
//! - [`exact`]: the normalised-text key of exact deduplication.
//! - [`nn`]: training primitives (dense layers, embedding bags, softmax
//!   cross-entropy, AdamW) for the student model and the classifier (GPU + CPU).
//! - [`student`]: the character-level student language model (training, inference).
//! - [`checkpoint`]: safetensors checkpoints.

pub mod checkpoint;
pub mod classifier;
pub mod decontam;
pub mod device;
pub mod diversity;
pub mod drift;
pub mod exact;
pub mod minhash;
pub mod nn;
mod packing;
pub mod shingle;
pub mod student;

pub use device::{Compute, KernelError};

use std::str::FromStr;

/// Which implementation of the kernels to run (Kiln's host reads it from `KILN_DEVICE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePreference {
    /// A real GPU when there is one, else the CPU implementation.
    #[default]
    Auto,
    /// Any wgpu adapter, software ones included.
    Gpu,
    /// The CPU implementation.
    Cpu,
}

/// `KILN_DEVICE` held a value other than `auto`, `gpu` or `cpu`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown device `{0}`: expected auto, gpu or cpu")]
pub struct UnknownDevice(pub String);

impl FromStr for DevicePreference {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            _ => Err(UnknownDevice(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_preferences() {
        assert_eq!("GPU".parse(), Ok(DevicePreference::Gpu));
        assert_eq!("".parse(), Ok(DevicePreference::Auto));
        assert_eq!("tpu".parse::<DevicePreference>(), Err(UnknownDevice("tpu".into())));
    }
}
