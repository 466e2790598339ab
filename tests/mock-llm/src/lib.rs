//! # kiln-mock-llm
//!
//! A real OpenAI-compatible HTTP server on loopback that injects faults, for
//! Kiln's tests and benchmarks of its model client (concurrency limits,
//! retries honouring `Retry-After`, timeouts, token accounting, caching).
//!
//! ```no_run
//! use std::time::Duration;
//! use kiln_mock_llm::{Fault, MockConfig, MockServer, responder};
//!
//! let config = MockConfig {
//!     latency: Duration::from_millis(50),
//!     fault_rate: 0.1,
//!     faults: vec![Fault::RateLimited, Fault::Timeout],
//!     hang: Duration::from_secs(2),
//!     ..MockConfig::default()
//! };
//! // A teacher that answers arithmetic questions, ignoring the choice index.
//! let server = MockServer::start(config, responder(|request, _choice| {
//!     let question = request.last_user_message().unwrap_or_default();
//!     format!("You asked: {question}")
//! }))?;
//! let base_url = server.base_url(); // http://127.0.0.1:PORT/v1
//! // ... point the client at base_url, run the load ...
//! let stats = server.stats();
//! println!("{} requests, {:.0} requests/s", stats.requests, stats.requests_per_sec);
//! # Ok::<(), kiln_mock_llm::MockError>(())
//! ```
//!
//! ## Endpoints
//!
//! - `POST /v1/chat/completions`, `POST /v1/completions`: OpenAI response
//!   shapes; `n`, `stop` and `max_tokens` (`max_completion_tokens`) are
//!   honoured, tokens are whitespace-separated words (at least 1). A body
//!   that cannot be parsed is a `400`, a wrong or missing bearer key (when
//!   [`MockConfig::api_key`] is set) a `401`; neither is ever a fault. Other
//!   requests get a fault with probability [`MockConfig::fault_rate`].
//! - `GET /v1/models`: one model, `mock-llm` (any model name is accepted).
//! - `GET /stats`: [`MockStats`] as JSON; `POST /stats/reset`: resets them
//!   and answers with the stats as they were just before.
//!
//! Every `/v1` request waits [`MockConfig::latency`] (a timer: requests do
//! not wait for each other). Faults are drawn from a SplitMix64 generator
//! seeded with [`MockConfig::seed`], one draw per well-formed authorised
//! generation request in arrival order.
//!
//! The `mock-llm` binary serves the same from the command line
//! (`mock-llm --help`); its first line of stdout is
//! `listening on http://127.0.0.1:PORT/v1`.

mod completion;
mod config;
mod draw;
mod error;
mod reply;
mod request;
mod responder;
mod routes;
mod server;
mod stats;

pub use config::{Fault, MockConfig, parse_faults};
pub use error::MockError;
pub use request::{BadRequest, ChatRequest, MAX_CHOICES, Message};
pub use responder::{Responder, echo_responder, lorem_responder, responder};
pub use server::MockServer;
pub use stats::MockStats;
