//! The HTTP routes and their handlers: the two generation endpoints (auth,
//! parse, fault draw, latency, answer), `/v1/models`, and `/stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::completion::{Endpoint, complete};
use crate::config::{Fault, MockConfig};
use crate::draw::FaultDraw;
use crate::reply::{api_error, fault_response, json_ok};
use crate::request::ChatRequest;
use crate::responder::Responder;
use crate::server::ConnectionKill;
use crate::stats::{MockStats, Recorder};

/// The id `/v1/models` lists.
pub(crate) const MODEL_ID: &str = "mock-llm";

/// Everything the handlers share.
pub(crate) struct AppState {
    pub(crate) config: MockConfig,
    pub(crate) responder: Responder,
    pub(crate) draw: FaultDraw,
    pub(crate) stats: Recorder,
    next_id: AtomicU64,
}

impl AppState {
    pub(crate) fn new(config: MockConfig, responder: Responder) -> Self {
        let draw = FaultDraw::new(config.fault_rate, config.faults.clone(), config.seed);
        AppState { config, responder, draw, stats: Recorder::default(), next_id: AtomicU64::new(1) }
    }
}

/// The server's routes over `state`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completion))
        .route("/v1/models", get(models))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .fallback(unknown_route)
        .with_state(state)
}

async fn chat(
    State(state): State<Arc<AppState>>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    generate(&state, Endpoint::Chat, kill, &headers, &body).await
}

async fn completion(
    State(state): State<Arc<AppState>>,
    kill: Option<Extension<ConnectionKill>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    generate(&state, Endpoint::Completion, kill, &headers, &body).await
}

/// One generation request: authorisation, parsing and the fault draw happen
/// on arrival (so draws follow arrival order), then the latency, then the answer.
async fn generate(
    state: &AppState,
    endpoint: Endpoint,
    kill: Option<Extension<ConnectionKill>>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let flight = state.stats.start();
    if let Some(refusal) = refusal(&state.config, headers) {
        tokio::time::sleep(state.config.latency).await;
        flight.finish("unauthorized", 0, 0);
        return refusal;
    }
    let parsed = match endpoint {
        Endpoint::Chat => ChatRequest::from_chat_body(body),
        Endpoint::Completion => ChatRequest::from_completion_body(body),
    };
    let request = match parsed {
        // A server that ignores `n` (llama-cpp-python's) answers one choice.
        Ok(request) if state.config.ignore_n => ChatRequest { n: 1, ..request },
        Ok(request) => request,
        Err(bad) => {
            tokio::time::sleep(state.config.latency).await;
            flight.finish("bad_request", 0, 0);
            return api_error(StatusCode::BAD_REQUEST, "invalid_request_error", None, bad.param, bad.message);
        }
    };
    let fault = state.draw.next();
    tokio::time::sleep(state.config.latency).await;
    let answer = || {
        let id = state.next_id.fetch_add(1, Ordering::Relaxed);
        complete(endpoint, &request, &state.responder, id, unix_seconds())
    };
    match fault {
        None => {
            let done = answer();
            flight.finish("ok", done.prompt_tokens, done.completion_tokens);
            json_ok(&done.body)
        }
        Some(Fault::Disconnect) => match kill {
            Some(Extension(kill)) => {
                flight.finish(Fault::Disconnect.name(), 0, 0);
                kill.kill();
                // The connection, and this future with it, is dropped now.
                std::future::pending().await
            }
            None => {
                flight.finish("server_error", 0, 0);
                api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    None,
                    "mock-llm drew a disconnect fault outside its own server loop, which cannot drop connections",
                )
            }
        },
        Some(fault) => {
            // Counted before the stall: a client that times out drops this future.
            flight.finish(fault.name(), 0, 0);
            if fault == Fault::Timeout {
                tokio::time::sleep(state.config.hang).await;
            }
            fault_response(fault, state.config.retry_after, || answer().body)
        }
    }
}

/// Checks `Authorization: Bearer <key>` when the server has a key: the
/// refusal, if any, is a `401` with an OpenAI-style `invalid_api_key` error.
fn refusal(config: &MockConfig, headers: &HeaderMap) -> Option<Response> {
    let expected = config.api_key.as_ref()?;
    let sent = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let message = match sent.map(|value| value.strip_prefix("Bearer ").map(str::trim)) {
        Some(Some(key)) if key == expected => return None,
        None => "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
        Some(None) => "The Authorization header must be `Bearer <key>`.",
        Some(Some(_)) => "Incorrect API key provided.",
    };
    Some(api_error(StatusCode::UNAUTHORIZED, "invalid_request_error", Some("invalid_api_key"), None, message))
}

async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    tokio::time::sleep(state.config.latency).await;
    if let Some(refusal) = refusal(&state.config, &headers) {
        return refusal;
    }
    json_ok(&json!({
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "kiln-mock-llm"}],
    }))
}

async fn stats(State(state): State<Arc<AppState>>) -> Json<MockStats> {
    Json(state.stats.snapshot())
}

/// Resets the counters; answers with the stats as they were just before.
async fn reset_stats(State(state): State<Arc<AppState>>) -> Json<MockStats> {
    Json(state.stats.reset())
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        None,
        format!(
            "Unknown request URL: {method} {uri}. mock-llm serves POST /v1/chat/completions, POST /v1/completions, \
             GET /v1/models, GET /stats and POST /stats/reset."
        ),
    )
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}
