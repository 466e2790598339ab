//! # kiln-kernels: scoring and training kernels
//!
//! Kiln's performance-critical work — MinHash near-duplicate detection, n-gram
//! decontamination, diversity metrics, classifier and student training — runs
//! here as WGSL compute shaders through wgpu, each beside a CPU implementation
//! that is both the reference for tests and the fallback on machines without a
//! GPU. Shaders live in `kernels/shaders/` and are loaded with `include_str!`.
//!
//! So far: the device-selection vocabulary, and the CPU reference of MinHash
//! signatures and LSH banding ([`minhash`]); the WGSL kernels come next.

pub mod minhash;

use std::str::FromStr;

/// Which implementation of the kernels to run, from `KILN_DEVICE`.
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
