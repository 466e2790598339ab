//! Plugin limits under a cap: `kiln serve` gives each tenant the most memory
//! and time per call its plugins may have (quotas `plugin_memory_mib` and
//! `plugin_call_ms`). A stage or model that asks for more is refused at its
//! line; one that asks nothing gets the defaults lowered to the caps.

use std::ops::Range;

use kiln_sandbox::PluginLimits;

use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap};

/// `requested` within `caps`, or why it cannot be.
pub(super) fn apply(
    map: &SourceMap<'_>,
    span: Range<usize>,
    owner: &str,
    requested: &PluginLimits,
    caps: Option<&PluginLimits>,
) -> Result<PluginLimits, Diagnostic> {
    let Some(caps) = caps else { return Ok(requested.clone()) };
    let defaults = PluginLimits::default();
    let mut limits = requested.clone();
    let fields = [
        ("memory_mib", "plugin_memory_mib", &mut limits.memory_mib, defaults.memory_mib, caps.memory_mib),
        (
            "time_per_call_ms",
            "plugin_call_ms",
            &mut limits.time_per_call_ms,
            defaults.time_per_call_ms,
            caps.time_per_call_ms,
        ),
    ];
    for (key, quota, value, default, cap) in fields {
        if *value <= cap {
            continue;
        }
        if *value != default {
            let mut d = map.at(
                Some(span),
                None,
                format!("{owner}: `limits.{key} = {value}` is over your tenant's quota `{quota}` ({cap})"),
            );
            d.hint = Some(format!("ask for at most {cap}, or ask the operator to raise `{quota}`"));
            return Err(d);
        }
        *value = cap;
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn defaults_are_lowered_and_explicit_excess_is_refused() {
        let map = SourceMap::new(Path::new("p.toml"), "[[stage]]\n");
        let caps = PluginLimits { memory_mib: 64, time_per_call_ms: 2_000, ..PluginLimits::default() };
        let lowered = apply(&map, 0..1, "stage `a`", &PluginLimits::default(), Some(&caps)).expect("lowered");
        assert_eq!((lowered.memory_mib, lowered.time_per_call_ms), (64, 2_000));
        let modest = PluginLimits { memory_mib: 32, ..PluginLimits::default() };
        assert_eq!(apply(&map, 0..1, "stage `a`", &modest, Some(&caps)).expect("within").memory_mib, 32);
        let greedy = PluginLimits { memory_mib: 512, ..PluginLimits::default() };
        let refused = apply(&map, 0..1, "stage `a`", &greedy, Some(&caps)).expect_err("over");
        assert!(refused.message.contains("quota `plugin_memory_mib` (64)"), "{}", refused.message);
        assert_eq!(apply(&map, 0..1, "stage `a`", &greedy, None).expect("uncapped"), greedy);
    }
}
