//! The answers other than a normal completion: OpenAI-style error bodies
//! (`{"error": {"message", "type", "param", "code"}}`) and the HTTP answer of
//! each [`Fault`] that has one.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::Fault;

/// An OpenAI-style error response.
pub(crate) fn api_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: impl Into<String>,
) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "param": param, "code": code}});
    (status, axum::Json(body)).into_response()
}

/// A `200 OK` JSON response.
pub(crate) fn json_ok(body: &Value) -> Response {
    json_bytes(body.to_string())
}

fn json_bytes(body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.into()).into_response()
}

/// The body of a [`Fault::Malformed`] answer: what a misbehaving proxy might send.
pub(crate) const MALFORMED_BODY: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>mock-llm: upstream sent garbage</body></html>";

/// The answer of `fault`, for the faults that answer at all. `complete`
/// builds the normal response JSON (only [`Fault::Truncated`] needs it).
/// [`Fault::Timeout`]'s stall and [`Fault::Disconnect`] are the caller's to do.
pub(crate) fn fault_response(fault: Fault, retry_after: Duration, complete: impl FnOnce() -> Value) -> Response {
    match fault {
        Fault::RateLimited => rate_limited(retry_after),
        Fault::ServerError => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            None,
            "The server had an error while processing your request (injected by mock-llm).",
        ),
        Fault::Unavailable => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("service_unavailable"),
            None,
            "The server is overloaded or not ready yet (injected by mock-llm).",
        ),
        Fault::Timeout | Fault::Disconnect => api_error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            Some("timeout"),
            None,
            "The request timed out upstream (injected by mock-llm).",
        ),
        Fault::Malformed => json_bytes(MALFORMED_BODY),
        Fault::Truncated => json_bytes(truncate_in_the_middle(complete().to_string())),
    }
}

/// `429` with `Retry-After` in whole seconds (rounded up) and `retry-after-ms`, as OpenAI sends.
fn rate_limited(retry_after: Duration) -> Response {
    let millis = retry_after.as_nanos().div_ceil(1_000_000);
    let seconds = millis.div_ceil(1000);
    let mut response = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        "requests",
        Some("rate_limit_exceeded"),
        None,
        format!("Rate limit reached for requests (injected by mock-llm). Please try again in {millis}ms."),
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
    headers.insert("retry-after-ms", HeaderValue::from(millis as u64));
    response
}

/// The first half of `text`, cut at a character boundary.
fn truncate_in_the_middle(mut text: String) -> String {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_headers_round_up() {
        let response = rate_limited(Duration::from_millis(1500));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1500");
        let tiny = rate_limited(Duration::from_micros(1));
        assert_eq!(tiny.headers()[header::RETRY_AFTER], "1");
        assert_eq!(tiny.headers()["retry-after-ms"], "1");
        let zero = rate_limited(Duration::ZERO);
        assert_eq!(zero.headers()[header::RETRY_AFTER], "0");
    }

    #[test]
    fn truncation_leaves_invalid_json() {
        let whole = json!({"choices": [{"message": {"content": "héllo wörld ünïcode"}}], "usage": {}}).to_string();
        let cut = truncate_in_the_middle(whole.clone());
        assert!(cut.len() < whole.len() && whole.starts_with(&cut) && cut.starts_with('{'));
        assert!(serde_json::from_str::<Value>(&cut).is_err());
    }

    #[test]
    fn malformed_body_is_not_json() {
        assert!(serde_json::from_str::<Value>(MALFORMED_BODY).is_err());
    }

    #[test]
    fn statuses() {
        let status = |fault| fault_response(fault, Duration::ZERO, || json!({"a": 1})).status();
        assert_eq!(status(Fault::ServerError), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(Fault::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Fault::Timeout), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status(Fault::Malformed), StatusCode::OK);
        assert_eq!(status(Fault::Truncated), StatusCode::OK);
    }
}
