//! The one kernel device of a process, chosen from `KILN_DEVICE` the first
//! time a stage needs it (so `kiln validate` never opens a GPU). The host is
//! what reads the environment; `kiln-kernels` is told the preference. A GPU
//! that fails mid-run is not fatal: the kernels' own fallback
//! ([`Compute::with_fallback`]) computes the same results on the CPU.

use std::sync::OnceLock;

use kiln_kernels::{Compute, DevicePreference, KernelError};

static DEVICE: OnceLock<Result<Compute, String>> = OnceLock::new();

/// The shared device, or why none could be opened.
pub fn shared() -> Result<Compute, String> {
    DEVICE
        .get_or_init(|| {
            let compute = std::env::var("KILN_DEVICE")
                .unwrap_or_default()
                .parse::<DevicePreference>()
                .map_err(|e| format!("KILN_DEVICE: {e}"))
                .and_then(|preference| Compute::select(preference).map_err(|e| e.to_string()));
            if let Ok(c) = &compute {
                tracing::info!(device = %c.describe(), "kernel device");
            }
            compute
        })
        .clone()
}

/// Runs `on` with the shared device, and again on the CPU if the GPU fails.
pub fn with_fallback<T>(what: &str, on: impl Fn(&Compute) -> Result<T, KernelError>) -> Result<T, String> {
    shared()?.with_fallback(what, on).map_err(|e| e.to_string())
}
