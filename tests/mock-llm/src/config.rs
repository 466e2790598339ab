//! What a mock server does: its latency, how often and how it fails, and its
//! API key ([`MockConfig`]), and the kinds of failure it can inject ([`Fault`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::MockError;

/// One kind of failure the server injects in place of a normal answer.
///
/// Its [`name`](Fault::name) is the key it is counted under in
/// [`MockStats::by_outcome`](crate::MockStats::by_outcome) and the name it is
/// parsed from (`--faults` of the binary; `-` and `_` are interchangeable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After` (whole seconds, rounded up),
    /// `retry-after-ms` and an OpenAI-style `rate_limit_exceeded` error body.
    RateLimited,
    /// `500 Internal Server Error` with an OpenAI-style `server_error` body.
    ServerError,
    /// `503 Service Unavailable` (an overloaded server) with an OpenAI-style body.
    Unavailable,
    /// Stalls for [`MockConfig::hang`], then answers `504 Gateway Timeout`;
    /// a client whose timeout is shorter than `hang` sees a timeout.
    Timeout,
    /// `200 OK`, `Content-Type: application/json`, with a body that is not JSON.
    Malformed,
    /// `200 OK` with the real response JSON cut off in the middle.
    Truncated,
    /// Closes the connection without sending any response.
    Disconnect,
}

impl Fault {
    /// Every fault kind, in declaration order.
    pub const ALL: [Fault; 7] = [
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::Timeout,
        Fault::Malformed,
        Fault::Truncated,
        Fault::Disconnect,
    ];

    /// The snake-case name: `rate_limited`, `server_error`, `unavailable`,
    /// `timeout`, `malformed`, `truncated` or `disconnect`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "rate_limited",
            Fault::ServerError => "server_error",
            Fault::Unavailable => "unavailable",
            Fault::Timeout => "timeout",
            Fault::Malformed => "malformed",
            Fault::Truncated => "truncated",
            Fault::Disconnect => "disconnect",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = MockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Fault::ALL.into_iter().find(|fault| fault.name() == wanted).ok_or_else(|| {
            let known: Vec<&str> = Fault::ALL.iter().map(|fault| fault.name()).collect();
            MockError::InvalidConfig(format!("unknown fault kind `{s}`; expected one of {}", known.join(", ")))
        })
    }
}

/// Parses a comma-separated list of fault names (`"rate_limited,timeout"`);
/// `"all"` means every kind. Empty items are ignored.
pub fn parse_faults(list: &str) -> Result<Vec<Fault>, MockError> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(Fault::ALL.to_vec());
    }
    list.split(',').filter(|item| !item.trim().is_empty()).map(Fault::from_str).collect()
}

/// How a [`MockServer`](crate::MockServer) behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Added to every `/v1` request before it is answered (faults, `400` and
    /// `401` included). It is a timer, so it does not hold back other requests.
    pub latency: Duration,
    /// Probability, in `[0, 1]`, that a well-formed, authorised generation
    /// request gets a fault instead of an answer.
    pub fault_rate: f64,
    /// The fault kinds drawn from, equally weighted. Must not be empty when
    /// `fault_rate > 0`. Default: [`Fault::ALL`].
    pub faults: Vec<Fault>,
    /// Seed of the fault draws: the same seed and the same request order give
    /// the same sequence of faults.
    pub seed: u64,
    /// When set, every `/v1` request must carry `Authorization: Bearer <key>`,
    /// otherwise it gets `401` (never a fault).
    pub api_key: Option<String>,
    /// How long a [`Fault::Timeout`] stalls before answering `504`. Default 30 s.
    pub hang: Duration,
    /// The wait a [`Fault::RateLimited`] answer asks for. Default 1 s.
    pub retry_after: Duration,
    /// Answer one choice whatever `n` asks, as llama-cpp-python's server does.
    pub ignore_n: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency: Duration::ZERO,
            fault_rate: 0.0,
            faults: Fault::ALL.to_vec(),
            seed: 0,
            api_key: None,
            hang: Duration::from_secs(30),
            retry_after: Duration::from_secs(1),
            ignore_n: false,
        }
    }
}

impl MockConfig {
    /// Checks that the fault rate is a probability and that there is a fault
    /// kind to draw when it is not zero.
    pub fn validate(&self) -> Result<(), MockError> {
        if !(0.0..=1.0).contains(&self.fault_rate) {
            return Err(MockError::InvalidConfig(format!(
                "fault_rate must be a probability between 0 and 1, got {}",
                self.fault_rate
            )));
        }
        if self.fault_rate > 0.0 && self.faults.is_empty() {
            return Err(MockError::InvalidConfig(
                "fault_rate is above 0 but the list of faults is empty; name at least one fault kind".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>().expect("parses"), fault);
        }
        assert_eq!("Rate-Limited".parse::<Fault>().expect("parses"), Fault::RateLimited);
    }

    #[test]
    fn unknown_fault_names_the_known_ones() {
        let err = "slow".parse::<Fault>().expect_err("unknown");
        assert!(err.to_string().contains("`slow`") && err.to_string().contains("disconnect"), "{err}");
    }

    #[test]
    fn fault_lists() {
        assert_eq!(parse_faults("all").expect("all"), Fault::ALL.to_vec());
        assert_eq!(parse_faults("timeout, malformed,").expect("list"), vec![Fault::Timeout, Fault::Malformed]);
        assert!(parse_faults("timeout,nope").is_err());
    }

    #[test]
    fn validation() {
        assert!(MockConfig::default().validate().is_ok());
        for rate in [-0.1, 1.5, f64::NAN] {
            assert!(MockConfig { fault_rate: rate, ..MockConfig::default() }.validate().is_err(), "{rate}");
        }
        let no_kinds = MockConfig { fault_rate: 0.5, faults: vec![], ..MockConfig::default() };
        assert!(no_kinds.validate().is_err());
        assert!(MockConfig { fault_rate: 0.0, faults: vec![], ..MockConfig::default() }.validate().is_ok());
    }
}
