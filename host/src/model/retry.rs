//! When and how long to wait before retrying a failed request.
//!
//! Exponential backoff with jitter: the n-th retry waits a random time in
//! `[½, 1] × min(max_delay, base_delay × 2ⁿ)`, so that many clients that failed
//! together do not retry together. A server's `Retry-After` (or OpenAI's
//! `retry-after-ms`) replaces the computed delay, capped at `max_delay`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Retry settings of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Longest delay, whatever the attempt or the server says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 6, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0 for the first), honouring the
    /// server's `retry_after` when it sent one. `jitter` is uniform in `[0, 1)`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(after) = retry_after {
            // Honour the server, plus a little jitter so clients spread out.
            return (after + self.base_delay.mul_f64(jitter * 0.1)).min(self.max_delay);
        }
        let exponential = self.base_delay.saturating_mul(1u32 << retry.min(20)).min(self.max_delay);
        exponential.mul_f64(0.5 + 0.5 * jitter)
    }
}

/// A cheap, thread-safe source of jitter (splitmix64 over a counter seeded
/// from the clock): statistical quality is all backoff needs.
#[derive(Debug)]
pub struct Jitter(AtomicU64);

impl Jitter {
    /// A source seeded from the clock.
    pub fn new() -> Jitter {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Jitter(AtomicU64::new(nanos as u64))
    }

    /// The next value, uniform in `[0, 1)`.
    pub fn next(&self) -> f64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::new()
    }
}

/// Parses `Retry-After` (seconds; HTTP dates are not used by model servers)
/// or `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    text("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let p =
            RetryPolicy { max_retries: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        assert_eq!(p.delay(0, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(0, None, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(2, None, 1.0), Duration::from_millis(400));
        assert_eq!(p.delay(9, None, 1.0), Duration::from_secs(1), "capped");
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p =
            RetryPolicy { max_retries: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2) };
        assert_eq!(p.delay(0, Some(Duration::from_secs(1)), 0.0), Duration::from_secs(1));
        assert_eq!(p.delay(0, Some(Duration::from_secs(60)), 0.0), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_headers_are_parsed() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut bad = reqwest::header::HeaderMap::new();
        bad.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"));
        assert_eq!(retry_after(&bad), None);
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let j = Jitter::new();
        let values: Vec<f64> = (0..10_000).map(|_| j.next()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }
}
