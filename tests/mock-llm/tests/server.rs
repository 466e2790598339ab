//! The mock server over real HTTP on loopback: response shapes, every fault
//! kind, the fault rate and its determinism, auth, concurrency under latency,
//! the stats, and the `mock-llm` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_mock_llm::{Fault, MockConfig, MockServer, echo_responder, lorem_responder, responder};
use serde_json::{Value, json};

fn chat_body(content: &str) -> Value {
    json!({"model": "teacher", "messages": [{"role": "user", "content": content}]})
}

async fn post(server: &MockServer, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .json(body)
        .send()
        .await
        .expect("the server answers")
}

fn faulty(fault: Fault) -> MockConfig {
    MockConfig { fault_rate: 1.0, faults: vec![fault], ..MockConfig::default() }
}

fn start(config: MockConfig) -> MockServer {
    MockServer::start(config, echo_responder()).expect("server starts")
}

#[tokio::test]
async fn chat_completion_has_the_openai_shape() {
    let server = start(MockConfig::default());
    assert!(server.base_url().starts_with("http://127.0.0.1:") && server.base_url().ends_with("/v1"));
    let response = post(&server, "/chat/completions", &chat_body("what is 12 + 7?")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON");
    assert!(body["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "teacher");
    assert!(body["created"].as_u64().expect("created") > 1_600_000_000);
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"], json!({"role": "assistant", "content": "what is 12 + 7?"}));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"], json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}));
}

#[tokio::test]
async fn text_completion_models_and_unknown_routes() {
    let server = start(MockConfig::default());
    let body = json!({"model": "m", "prompt": "one two three four", "max_tokens": 2});
    let answer: Value = post(&server, "/completions", &body).await.json().await.expect("JSON");
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["choices"][0]["text"], "one two");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");

    let client = reqwest::Client::new();
    let models: Value =
        client.get(format!("{}/models", server.base_url())).send().await.expect("answers").json().await.expect("JSON");
    assert_eq!(models["data"][0]["id"], "mock-llm");
    let missing = client.get(format!("{}/embeddings", server.base_url())).send().await.expect("answers");
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "unknown_url");
    assert_eq!(server.stats().requests, 1, "only generation requests are counted");
}

#[tokio::test]
async fn n_stop_and_max_tokens() {
    let server = MockServer::start(
        MockConfig::default(),
        responder(|_, index| format!("choice {index} says hello. And then more words")),
    )
    .expect("starts");
    let mut body = chat_body("hi");
    body["n"] = json!(3);
    body["stop"] = json!(["."]);
    let answer: Value = post(&server, "/chat/completions", &body).await.json().await.expect("JSON");
    let choices = answer["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3);
    for (index, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], index);
        assert_eq!(choice["message"]["content"], format!("choice {index} says hello"));
        assert_eq!(choice["finish_reason"], "stop");
    }
    assert_eq!(answer["usage"]["completion_tokens"], 12);

    body["stop"] = json!("nowhere");
    body["max_tokens"] = json!(2);
    body["n"] = json!(1);
    let answer: Value = post(&server, "/chat/completions", &body).await.json().await.expect("JSON");
    assert_eq!(answer["choices"][0]["message"]["content"], "choice 0");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn bad_bodies_are_400_never_a_fault() {
    let server = start(faulty(Fault::RateLimited));
    let response = post(&server, "/chat/completions", &json!({"model": "m", "messages": "nope"})).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().expect("message").contains("not a valid request"));
    let response = post(&server, "/chat/completions", &json!({"model": "m", "messages": [], "n": 2})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(server.stats().by_outcome.get("bad_request"), Some(&2));
}

#[tokio::test]
async fn api_key_is_checked_before_any_fault() {
    let server = start(MockConfig { api_key: Some("sekrit".into()), ..faulty(Fault::RateLimited) });
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    for auth in [None, Some("Bearer wrong"), Some("sekrit")] {
        let mut request = client.post(&url).json(&chat_body("hi"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("answers");
        assert_eq!(response.status(), 401, "{auth:?}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["code"], "invalid_api_key");
    }
    let models = client.get(format!("{}/models", server.base_url())).send().await.expect("answers");
    assert_eq!(models.status(), 401);
    let authorised = client.post(&url).bearer_auth("sekrit").json(&chat_body("hi")).send().await.expect("answers");
    assert_eq!(authorised.status(), 429, "an authorised request gets the fault");
    let stats = server.stats();
    assert_eq!((stats.by_outcome.get("unauthorized"), stats.by_outcome.get("rate_limited")), (Some(&3), Some(&1)));
}

#[tokio::test]
async fn rate_limited_sends_retry_after() {
    let server = start(MockConfig { retry_after: Duration::from_millis(1500), ..faulty(Fault::RateLimited) });
    let response = post(&server, "/chat/completions", &chat_body("hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["retry-after-ms"], "1500");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert_eq!(error["error"]["type"], "requests");
}

#[tokio::test]
async fn server_errors_are_openai_errors() {
    for (fault, status) in [(Fault::ServerError, 500), (Fault::Unavailable, 503)] {
        let server = start(faulty(fault));
        let response = post(&server, "/completions", &json!({"model": "m", "prompt": "x"})).await;
        assert_eq!(response.status(), status);
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"]["type"], "server_error");
        assert_eq!(server.stats().by_outcome.get(fault.name()), Some(&1));
    }
}

#[tokio::test]
async fn timeout_stalls_then_504() {
    let server = start(MockConfig { hang: Duration::from_millis(300), ..faulty(Fault::Timeout) });
    let started = Instant::now();
    let response = post(&server, "/chat/completions", &chat_body("hi")).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(response.status(), 504);

    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().expect("client");
    let err = impatient
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&chat_body("hi"))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn malformed_and_truncated_bodies_do_not_parse() {
    let server = start(faulty(Fault::Malformed));
    let response = post(&server, "/chat/completions", &chat_body("hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let server = start(faulty(Fault::Truncated));
    let response = post(&server, "/chat/completions", &chat_body("a long enough question to cut")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(text.starts_with("{\"") && text.len() > 40, "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn disconnect_drops_the_connection_without_a_response() {
    let server =
        start(MockConfig { fault_rate: 0.5, faults: vec![Fault::Disconnect], seed: 3, ..MockConfig::default() });
    let client = reqwest::Client::new();
    let (mut dropped, mut answered) = (0, 0);
    for _ in 0..20 {
        match client.post(format!("{}/chat/completions", server.base_url())).json(&chat_body("hi")).send().await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                answered += 1;
            }
            Err(err) => {
                assert!(!err.is_timeout() && err.status().is_none(), "{err}");
                dropped += 1;
            }
        }
    }
    assert!(dropped > 0 && answered > 0, "{dropped} dropped, {answered} answered");
    let stats = server.stats();
    assert_eq!(stats.by_outcome.get("disconnect"), Some(&dropped));
    assert_eq!(stats.ok_responses, answered);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn fault_rate_matches_over_1000_requests() {
    let faults = vec![Fault::RateLimited, Fault::ServerError, Fault::Unavailable, Fault::Malformed];
    let server = start(MockConfig { fault_rate: 0.2, faults, seed: 11, ..MockConfig::default() });
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    for _ in 0..1000 {
        client.post(&url).json(&chat_body("hi")).send().await.expect("answers").bytes().await.expect("body");
    }
    let stats = server.stats();
    let faults = stats.requests - stats.ok_responses;
    // Binomial(1000, 0.2): sd 12.6; ±4 sd.
    assert!((150..=250).contains(&faults), "{faults} faults: {:?}", stats.by_outcome);
    for kind in ["rate_limited", "server_error", "unavailable", "malformed"] {
        let count = stats.by_outcome.get(kind).copied().unwrap_or(0);
        assert!((20..=90).contains(&count), "{kind}: {count} of {faults}");
    }
}

#[tokio::test]
async fn same_seed_same_faults() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let server = start(MockConfig {
            fault_rate: 0.5,
            faults: vec![Fault::RateLimited, Fault::ServerError],
            seed,
            ..MockConfig::default()
        });
        let mut statuses = Vec::new();
        for _ in 0..60 {
            statuses.push(post(&server, "/chat/completions", &chat_body("hi")).await.status().as_u16());
        }
        statuses
    }
    let first = statuses(5).await;
    assert_eq!(first, statuses(5).await);
    assert_ne!(first, statuses(6).await);
    assert!(first.contains(&200) && first.contains(&429) && first.contains(&500), "{first:?}");
}

#[tokio::test]
async fn latency_does_not_serialise_requests() {
    let server = MockServer::start(
        MockConfig { latency: Duration::from_millis(50), ..MockConfig::default() },
        lorem_responder(8),
    )
    .expect("starts");
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let started = Instant::now();
    let requests: Vec<_> = (0..64)
        .map(|index| {
            let request = client.post(&url).json(&chat_body(&format!("question {index}")));
            tokio::spawn(async move { request.send().await.expect("answers").status() })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("task"), 200);
    }
    let elapsed = started.elapsed();
    // Serially this would take 64 × 50 ms = 3.2 s.
    assert!(elapsed < Duration::from_millis(800), "64 requests took {elapsed:?}");
    let stats = server.stats();
    assert_eq!(stats.ok_responses, 64);
    assert!(stats.max_in_flight >= 16, "max in flight {}", stats.max_in_flight);
    assert!(stats.window_secs >= 0.05 && stats.requests_per_sec > 80.0, "{stats:?}");
}

#[tokio::test]
async fn stats_add_up_and_reset() {
    let server = start(MockConfig {
        fault_rate: 0.3,
        faults: vec![Fault::RateLimited, Fault::Truncated],
        api_key: Some("k".into()),
        ..MockConfig::default()
    });
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let (mut prompt_tokens, mut completion_tokens) = (0, 0);
    for index in 0..50 {
        let content = "word ".repeat(index % 5 + 1);
        let response = client.post(&url).bearer_auth("k").json(&chat_body(&content)).send().await.expect("answers");
        let text = response.text().await.expect("body");
        if let Ok(body) = serde_json::from_str::<Value>(&text)
            && body.get("usage").is_some()
        {
            prompt_tokens += body["usage"]["prompt_tokens"].as_u64().expect("tokens");
            completion_tokens += body["usage"]["completion_tokens"].as_u64().expect("tokens");
        }
    }
    client.post(&url).json(&chat_body("no key")).send().await.expect("answers");
    client.post(&url).bearer_auth("k").body("{").send().await.expect("answers");

    let stats = server.stats();
    assert_eq!(stats.requests, 52);
    assert_eq!(stats.by_outcome.values().sum::<u64>(), 52);
    assert_eq!(stats.by_outcome.get("ok").copied(), Some(stats.ok_responses));
    assert_eq!((stats.by_outcome.get("unauthorized"), stats.by_outcome.get("bad_request")), (Some(&1), Some(&1)));
    assert!(stats.by_outcome.contains_key("rate_limited") && stats.by_outcome.contains_key("truncated"));
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (prompt_tokens, completion_tokens));
    assert_eq!(stats.completion_tokens, stats.prompt_tokens, "the echo answers with the prompt");

    let served: Value = client
        .get(format!("http://{}/stats", server.addr()))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(served["requests"], 52);
    let before: Value = client
        .post(format!("http://{}/stats/reset", server.addr()))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(before["ok_responses"], stats.ok_responses);
    assert_eq!(server.stats().requests, 0);
}

/// One request over a raw HTTP/1.1 connection: the status line and the body.
fn raw_post(addr: std::net::SocketAddr, path: &str, body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").expect("a full response");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

#[test]
fn works_from_a_synchronous_test_and_stops_on_drop() {
    let server = start(MockConfig::default());
    let addr = server.addr();
    let (status, body) = raw_post(addr, "/v1/chat/completions", &chat_body("sync").to_string());
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["choices"][0]["message"]["content"], "sync");
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "nothing listens after the drop");
}

#[test]
fn binary_prints_its_url_first_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
        .args(["--latency-ms", "1", "--words", "5", "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mock-llm starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("a first line");
    let url = first.trim().strip_prefix("listening on ").expect("the URL line").to_string();
    let addr = url.strip_prefix("http://").and_then(|rest| rest.strip_suffix("/v1")).expect("http://ADDR/v1");
    let addr: std::net::SocketAddr = addr.parse().expect("an address");
    let (status, body) = raw_post(addr, "/v1/completions", r#"{"model":"m","prompt":"hi"}"#);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["choices"][0]["text"], "lorem ipsum dolor sit amet");

    // SIGTERM, as a benchmark script stops it.
    let killed = Command::new("kill").arg(child.id().to_string()).status().expect("kill runs");
    assert!(killed.success());
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"ok_responses\":1"), "{output:?}");
}

#[test]
fn binary_rejects_unknown_faults() {
    let output = Command::new(env!("CARGO_BIN_EXE_mock-llm"))
        .args(["--fault-rate", "0.1", "--faults", "slow"])
        .output()
        .expect("mock-llm runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown fault kind `slow`"), "{stderr}");
}
