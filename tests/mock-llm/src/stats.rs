//! Server-side accounting of generation requests ([`MockStats`]): how many,
//! with which outcome, how many at once, and the requests per second between
//! the first request and the last response, which is what benchmarks compare.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A snapshot of what a server has seen since it started or was last reset.
///
/// Only generation requests (`POST /v1/chat/completions` and
/// `/v1/completions`) are counted; `/v1/models` and `/stats` are not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MockStats {
    /// Generation requests received, whatever their outcome.
    pub requests: u64,
    /// Requests per outcome: `ok`, `bad_request`, `unauthorized`, or a fault
    /// name (`rate_limited`, `server_error`, `unavailable`, `timeout`,
    /// `malformed`, `truncated`, `disconnect`). Sums to `requests` once
    /// nothing is in flight.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests answered normally (the `ok` outcome).
    pub ok_responses: u64,
    /// Requests being handled now.
    pub in_flight: u64,
    /// The most requests handled at the same time.
    pub max_in_flight: u64,
    /// Prompt tokens of the `ok` responses.
    pub prompt_tokens: u64,
    /// Completion tokens of the `ok` responses.
    pub completion_tokens: u64,
    /// Seconds from the arrival of the first request to the end of the last
    /// response (0 before any response).
    pub window_secs: f64,
    /// `requests / window_secs` (0 when the window is empty). Read it once the
    /// load has drained: requests still in flight count but have not answered.
    pub requests_per_sec: f64,
    /// `ok_responses / window_secs` (0 when the window is empty).
    pub ok_per_sec: f64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: u64,
    by_outcome: BTreeMap<&'static str, u64>,
    in_flight: u64,
    max_in_flight: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    first_request: Option<Instant>,
    last_response: Option<Instant>,
}

/// The live counters, shared by all request handlers.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counters: Mutex<Counters>,
}

impl Recorder {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // Counters are updated field by field under the lock with no code that
        // can panic in between, so a poisoned lock still holds consistent data.
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a request arriving; the returned guard marks it finished when
    /// [`InFlight::finish`] is called, or as in flight no more when dropped
    /// (a cancelled request).
    pub(crate) fn start(&self) -> InFlight<'_> {
        let mut counters = self.counters();
        counters.requests += 1;
        counters.in_flight += 1;
        counters.max_in_flight = counters.max_in_flight.max(counters.in_flight);
        counters.first_request.get_or_insert_with(Instant::now);
        InFlight { recorder: self, outcome: None }
    }

    /// The current snapshot.
    pub(crate) fn snapshot(&self) -> MockStats {
        Self::snapshot_of(&self.counters())
    }

    fn snapshot_of(counters: &Counters) -> MockStats {
        let window_secs = match (counters.first_request, counters.last_response) {
            (Some(first), Some(last)) => last.saturating_duration_since(first).as_secs_f64(),
            _ => 0.0,
        };
        let ok_responses = counters.by_outcome.get("ok").copied().unwrap_or(0);
        let per_sec = |count: u64| if window_secs > 0.0 { count as f64 / window_secs } else { 0.0 };
        MockStats {
            requests: counters.requests,
            by_outcome: counters.by_outcome.iter().map(|(outcome, count)| (outcome.to_string(), *count)).collect(),
            ok_responses,
            in_flight: counters.in_flight,
            max_in_flight: counters.max_in_flight,
            prompt_tokens: counters.prompt_tokens,
            completion_tokens: counters.completion_tokens,
            window_secs,
            requests_per_sec: per_sec(counters.requests),
            ok_per_sec: per_sec(ok_responses),
        }
    }

    /// Starts counting afresh and returns the snapshot taken just before.
    /// Requests in flight are carried over as new requests (arrived now), so
    /// that the outcomes still sum to `requests` once they finish.
    pub(crate) fn reset(&self) -> MockStats {
        let mut counters = self.counters();
        let before = Self::snapshot_of(&counters);
        let in_flight = counters.in_flight;
        *counters = Counters {
            requests: in_flight,
            in_flight,
            max_in_flight: in_flight,
            first_request: (in_flight > 0).then(Instant::now),
            ..Counters::default()
        };
        before
    }
}

/// A request being handled.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    recorder: &'a Recorder,
    outcome: Option<(&'static str, u64, u64)>,
}

impl InFlight<'_> {
    /// Records the request's outcome and, for `ok`, its tokens; the response
    /// counts as sent when this guard is dropped.
    pub(crate) fn finish(mut self, outcome: &'static str, prompt_tokens: u64, completion_tokens: u64) {
        self.outcome = Some((outcome, prompt_tokens, completion_tokens));
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut counters = self.recorder.counters();
        counters.in_flight = counters.in_flight.saturating_sub(1);
        if let Some((outcome, prompt_tokens, completion_tokens)) = self.outcome {
            *counters.by_outcome.entry(outcome).or_default() += 1;
            counters.prompt_tokens += prompt_tokens;
            counters.completion_tokens += completion_tokens;
            counters.last_response = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_in_flight_and_tokens() {
        let recorder = Recorder::default();
        let first = recorder.start();
        let second = recorder.start();
        assert_eq!(recorder.snapshot().in_flight, 2);
        first.finish("ok", 3, 5);
        second.finish("rate_limited", 0, 0);
        let cancelled = recorder.start();
        drop(cancelled);
        recorder.start().finish("ok", 1, 1);

        let stats = recorder.snapshot();
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.by_outcome.get("ok"), Some(&2));
        assert_eq!(stats.by_outcome.get("rate_limited"), Some(&1));
        assert_eq!(stats.by_outcome.values().sum::<u64>(), 3, "the cancelled request has no outcome");
        assert_eq!((stats.ok_responses, stats.in_flight, stats.max_in_flight), (2, 0, 2));
        assert_eq!((stats.prompt_tokens, stats.completion_tokens), (4, 6));
        assert!(stats.window_secs >= 0.0);
    }

    #[test]
    fn rate_uses_the_window() {
        let recorder = Recorder::default();
        assert_eq!(recorder.snapshot().requests_per_sec, 0.0);
        let guard = recorder.start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        guard.finish("ok", 1, 1);
        let stats = recorder.snapshot();
        assert!(stats.window_secs >= 0.02, "{}", stats.window_secs);
        assert!((stats.requests_per_sec - 1.0 / stats.window_secs).abs() < 1e-9);
        assert_eq!(stats.ok_per_sec, stats.requests_per_sec);
    }

    #[test]
    fn reset_keeps_requests_in_flight() {
        let recorder = Recorder::default();
        recorder.start().finish("ok", 1, 1);
        let pending = recorder.start();
        let before = recorder.reset();
        assert_eq!(before.requests, 2);
        let after = recorder.snapshot();
        assert_eq!((after.requests, after.in_flight, after.ok_responses, after.prompt_tokens), (1, 1, 0, 0));
        pending.finish("ok", 1, 1);
        let drained = recorder.snapshot();
        assert_eq!((drained.requests, drained.in_flight, drained.ok_responses), (1, 0, 1));
        recorder.reset();
        assert_eq!(recorder.snapshot(), MockStats::default());
    }
}
