//! `mock-llm`: serves the fault-injecting OpenAI-compatible mock from the
//! command line until SIGTERM or ctrl-c. The first line of stdout is
//! `listening on http://127.0.0.1:PORT/v1`; the final stats go to stderr.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kiln_mock_llm::{MockConfig, MockServer, lorem_responder, parse_faults};

/// A fault-injecting OpenAI-compatible model server on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "mock-llm", version)]
struct Args {
    /// Port to listen on; 0 lets the system pick one (see the first line of stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Latency added to every /v1 request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0 to 1) that a generation request gets a fault.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Comma-separated fault kinds to draw from, or `all`: rate_limited,
    /// server_error, unavailable, timeout, malformed, truncated, disconnect.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Seed of the fault draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Require `Authorization: Bearer <KEY>` on /v1 requests.
    #[arg(long, env = "MOCK_LLM_API_KEY")]
    api_key: Option<String>,
    /// Words in each answer (lorem ipsum).
    #[arg(long, default_value_t = 16)]
    words: usize,
    /// How long a `timeout` fault stalls before answering 504, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    hang_ms: u64,
    /// The wait a `rate_limited` fault asks for (Retry-After), in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    retry_after_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mock-llm: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = MockConfig {
        latency: Duration::from_millis(args.latency_ms),
        fault_rate: args.fault_rate,
        faults: parse_faults(&args.faults).map_err(|err| err.to_string())?,
        seed: args.seed,
        api_key: args.api_key,
        hang: Duration::from_millis(args.hang_ms),
        retry_after: Duration::from_millis(args.retry_after_ms),
        ignore_n: false,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let server = MockServer::start_on(addr, config, lorem_responder(args.words)).map_err(|err| err.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.base_url())
        .and_then(|()| stdout.flush())
        .map_err(|err| format!("cannot write to stdout: {err}"))?;
    drop(stdout);
    wait_for_termination()?;
    let stats = server.stats();
    drop(server);
    eprintln!("mock-llm: stopped; stats: {}", serde_json::to_string(&stats).unwrap_or_default());
    Ok(())
}

/// Blocks until SIGTERM or SIGINT (ctrl-c).
fn wait_for_termination() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|err| format!("cannot set up signal handling: {err}"))?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|err| format!("cannot listen for SIGTERM: {err}"))?;
        tokio::select! {
            _ = terminate.recv() => Ok(()),
            interrupted = tokio::signal::ctrl_c() => interrupted.map_err(|err| format!("cannot listen for ctrl-c: {err}")),
        }
    })
}
