//! What a model is doing right now: requests in flight, requests done and
//! the tokens they brought, since the model started.
//!
//! A model-bound stage can spend minutes on a chunk before the chunk commits
//! and the progress line moves; these counters let the line show the
//! requests as they go (in flight, done, tokens per second) in the meantime.
//! They are live figures for people, not accounting: `stats.json` counts
//! from committed chunks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Usage;

/// Live counters of one model's requests.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicU64,
    done: AtomicU64,
    completion_tokens: AtomicU64,
    since: Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicU64::new(0),
            done: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            since: Instant::now(),
        }
    }
}

/// A request in flight; it stops counting as in flight when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Activity);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ActivitySnapshot {
    /// Requests sent and not answered yet.
    pub in_flight: u64,
    /// Requests answered (or failed for good).
    pub done: u64,
    /// Completion tokens received.
    pub completion_tokens: u64,
    /// Completion tokens per second since the model started.
    pub tokens_per_second: f64,
}

impl Activity {
    /// Counts a request as in flight until the guard drops.
    pub fn started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Counts a request as done, with what it brought.
    pub fn finished(&self, usage: Usage) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ActivitySnapshot {
        let completion_tokens = self.completion_tokens.load(Ordering::Relaxed);
        let seconds = self.since.elapsed().as_secs_f64();
        ActivitySnapshot {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            completion_tokens,
            tokens_per_second: if seconds > 0.0 { completion_tokens as f64 / seconds } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_while_in_flight_and_when_done() {
        let a = Activity::default();
        {
            let _one = a.started();
            let _two = a.started();
            assert_eq!(a.snapshot().in_flight, 2);
        }
        a.finished(Usage { prompt_tokens: 10, completion_tokens: 7 });
        let s = a.snapshot();
        assert_eq!((s.in_flight, s.done, s.completion_tokens), (0, 1, 7));
    }
}
