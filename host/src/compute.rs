//! The one kernel device of a process, chosen from `KILN_DEVICE` the first
//! time a stage needs it (so `kiln validate` never opens a GPU). A GPU that
//! fails mid-run is not fatal: callers fall back to the CPU implementation,
//! which gives the same results.

use std::sync::OnceLock;

use kiln_kernels::Compute;

static DEVICE: OnceLock<Result<Compute, String>> = OnceLock::new();

/// The shared device, or why none could be opened.
pub fn shared() -> Result<Compute, String> {
    DEVICE
        .get_or_init(|| {
            let compute = Compute::from_env().map_err(|e| e.to_string());
            if let Ok(c) = &compute {
                tracing::info!(device = %c.describe(), "kernel device");
            }
            compute
        })
        .clone()
}

/// Runs `on` with the shared device, and again on the CPU if the GPU fails.
pub fn with_fallback<T>(
    what: &str,
    on: impl Fn(&Compute) -> Result<T, kiln_kernels::DeviceError>,
) -> Result<T, String> {
    let compute = shared()?;
    match on(&compute) {
        Ok(v) => Ok(v),
        Err(e) if matches!(compute, Compute::Gpu(_)) => {
            tracing::warn!("{what} failed on the GPU ({e}); computing it on the CPU");
            on(&Compute::Cpu).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}
