//! Per-plugin resource limits.

use std::time::Duration;

/// What one plugin instance may use. Every field has a safe default; a stage
/// may override them (`[stage.limits]` in a pipeline).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Cap on the instance's linear memory, in MiB (default 256).
    pub memory_mib: u64,
    /// CPU deadline for one call on one batch, in milliseconds (default 10 000).
    pub time_per_call_ms: u64,
    /// Largest single result (a reason, a rewritten record, a prompt) the host
    /// accepts, in bytes (default 16 MiB).
    pub max_output_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits { memory_mib: 256, time_per_call_ms: 10_000, max_output_bytes: 16 << 20 }
    }
}

impl PluginLimits {
    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The deadline per call.
    pub fn time_per_call(&self) -> Duration {
        Duration::from_millis(self.time_per_call_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let l = PluginLimits::default();
        assert_eq!(l.memory_bytes(), 256 << 20);
        assert_eq!(l.time_per_call(), Duration::from_secs(10));
    }

    #[test]
    fn partial_override_keeps_other_defaults() {
        let l: PluginLimits = serde_json::from_str(r#"{"memory_mib": 64}"#).expect("valid");
        assert_eq!(l.memory_mib, 64);
        assert_eq!(l.time_per_call_ms, 10_000);
        assert!(serde_json::from_str::<PluginLimits>(r#"{"memory": 1}"#).is_err());
    }
}
