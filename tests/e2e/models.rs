//! Model-backed stages end to end against a real OpenAI-compatible server on
//! loopback ([`kiln_mock_llm`]) that injects faults — latency, 429 with
//! Retry-After, 500/503, stalls past the client's timeout, malformed and
//! truncated JSON, dropped connections — at a 30% rate.
//!
//! Every record must end kept, rejected with a reason, or quarantined with an
//! error that names model, stage, plugin and record; the counts must add up;
//! and a second run over the same work directory must make no request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kiln_arith::teacher::{ErrorProfile, answer};
use kiln_mock_llm::{ChatRequest, MockConfig, MockServer, responder};
use kiln_tests::{assert_balanced, detail, kiln_bin, lines, stats, verify_stages, wasm};

/// The fault mix of the issue: every kind, 30% of requests.
fn faulty(seed: u64) -> MockConfig {
    MockConfig {
        latency: Duration::from_millis(5),
        fault_rate: 0.3,
        seed,
        hang: Duration::from_millis(1500),
        retry_after: Duration::from_millis(40),
        ..MockConfig::default()
    }
}

/// An `[models.teacher]` table for `server`, with fast retries for tests.
/// The request timeout is short only where the server injects faults (hangs
/// among them); a fault-free server gets a generous one, so that a loaded
/// machine never turns a slow answer into a retry that the server counts twice.
fn openai_model(server: &MockServer, extra: &str) -> String {
    let timeout = if server.config().fault_rate > 0.0 { 0.5 } else { 30.0 };
    format!(
        r#"[models.teacher]
backend = "openai"
base_url = "{}"
model = "mock-teacher"
temperature = 0.7
max_tokens = 400
concurrency = 16
max_retries = 8
timeout_secs = {timeout:.1}
backoff_ms = 10
max_backoff_secs = 0.2
{extra}
"#,
        server.base_url(),
    )
}

fn run(dir: &Path, pipeline: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, pipeline).expect("write pipeline");
    let mut command = Command::new(kiln_bin());
    command.arg("run").arg(&file).args(args).env("KILN_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run kiln")
}

fn ok(output: &Output) {
    assert!(output.status.success(), "kiln failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

/// The arithmetic teacher, answering like the embedded one but over HTTP.
fn arithmetic_teacher() -> kiln_mock_llm::Responder {
    responder(|request: &ChatRequest, choice| {
        let seed = request.seed.unwrap_or(0) as u64 + choice as u64;
        answer(request.last_user_message().unwrap_or_default(), seed, &ErrorProfile::default())
    })
}

fn generation_pipeline(server: &MockServer, count: u32) -> String {
    format!(
        r#"[pipeline]
name = "gen-faults"
seed = 11
chunk_size = 50
work_dir = "work"

{model}
[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "teacher"
count = {count}
batch_size = 16

{verify}
[output]
dir = "out"
"#,
        model = openai_model(server, ""),
        problems = wasm("arith_problems").display(),
        verify = verify_stages("scores.correct >= 1"),
    )
}

#[test]
fn generation_survives_faults_and_a_rerun_makes_no_request() {
    let server = MockServer::start(faulty(3), arithmetic_teacher()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = generation_pipeline(&server, 240);
    let first = run(dir.path(), &pipeline, &[], &[]);
    ok(&first);
    let s = stats(dir.path());
    assert_balanced(&s);
    assert_eq!(s["input_lines"], 240);
    let seen = server.stats();
    for fault in ["rate_limited", "server_error", "timeout", "malformed", "truncated"] {
        assert!(seen.by_outcome.get(fault).copied().unwrap_or(0) > 0, "the server injected no {fault}: {seen:?}");
    }
    let faults = seen.requests - seen.ok_responses;
    assert!(faults as f64 > 0.15 * seen.requests as f64, "about 30% faults: {seen:?}");
    assert!(detail(&s, 0, "retries") > 0, "retries are counted");
    // Kiln counts every attempt; the server sees all but those lost before arriving.
    let sent = detail(&s, 0, "requests");
    assert!(sent >= seen.requests && sent <= seen.requests + seen.requests / 20, "sent {sent}, seen {}", seen.requests);
    // Generated records carry their lineage: stage, plugin digest, model and its parameters.
    let kept = lines(dir.path().join("out/kept.jsonl"));
    assert!(kept.len() > 100, "most problems are solved correctly: {}", kept.len());
    let step = kept[0]["lineage"]["steps"][0].as_str().expect("step");
    assert!(step.starts_with("generate=arith-problems@"), "{step}");
    assert!(step.contains("model=teacher=openai:mock-teacher") && step.contains("\"temperature\":0.7"), "{step}");
    assert_eq!(kept[0]["lineage"]["source"], "stage:generate");
    assert_eq!(kept[0]["lineage"]["round"], 1);
    // Quarantined slots name the model's failure or the unparseable completion.
    for q in lines(dir.path().join("out/quarantine.jsonl")) {
        let error = q["error"].as_str().expect("error");
        assert!(error.contains("teacher"), "names the model: {error}");
        assert_eq!(q["stage"], "generate");
        assert!(q["record_id"].as_str().is_some_and(|id| id.starts_with("generate-")));
    }
    // Rejected records say why.
    for r in lines(dir.path().join("out/rejected.jsonl")) {
        assert!(r["rejected"]["reason"].as_str().is_some_and(|x| !x.is_empty()));
    }

    // A second run over the same work directory (from scratch) pays for nothing.
    server.reset_stats();
    let before = std::fs::read(dir.path().join("out/kept.jsonl")).expect("kept");
    let second = run(dir.path(), &pipeline, &["--fresh"], &[]);
    ok(&second);
    assert_eq!(server.stats().requests, 0, "all answers come from the request cache");
    let s2 = stats(dir.path());
    assert_eq!(detail(&s2, 0, "requests"), 0);
    assert!(detail(&s2, 0, "cache_hits") > 0);
    let quarantined_first = s["quarantined"].as_u64().unwrap_or(0);
    if quarantined_first == 0 {
        assert_eq!(std::fs::read(dir.path().join("out/kept.jsonl")).expect("kept"), before, "same output");
    }
}

#[test]
fn no_cache_asks_again() {
    let server = MockServer::start(MockConfig::default(), arithmetic_teacher()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = generation_pipeline(&server, 20);
    ok(&run(dir.path(), &pipeline, &[], &[]));
    assert_eq!(server.reset_stats().requests, 20);
    ok(&run(dir.path(), &pipeline, &["--fresh", "--no-cache"], &[]));
    assert_eq!(server.stats().requests, 20, "--no-cache bypasses the cache");
}

/// A judge that answers the rubric in a different style per sample.
fn judge() -> kiln_mock_llm::Responder {
    responder(|request: &ChatRequest, choice| {
        let text = request.last_user_message().unwrap_or_default();
        let base = 2 + (text.len() % 3) as u32; // 2..=4, differs by record
        let r = |k: u32| (base + k + choice as u32).min(5);
        match choice % 3 {
            0 => format!(
                "Helpfulness: {} - clear\nHonesty: {} - fine\nInstruction following: {} - ok\nTruthfulness: {} - accurate",
                r(0),
                r(1),
                r(0),
                r(1)
            ),
            1 => format!(
                "**Helpfulness**: {}/5\n**Honesty**: {}/5\n**Instruction Following**: {}/5\n**Truthfulness**: {}/5",
                r(0),
                r(1),
                r(0),
                r(1)
            ),
            _ => format!(
                "```json\n{{\"helpfulness\": {}, \"honesty\": {}, \"instruction_following\": {}, \"truthfulness\": {}}}\n```",
                r(0),
                r(1),
                r(0),
                r(1)
            ),
        }
    })
}

fn write_input(dir: &Path, texts: &[String]) -> PathBuf {
    let path = dir.join("input.jsonl");
    let body: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}\n", serde_json::json!({"id": format!("r{i}"), "text": t})))
        .collect();
    std::fs::write(&path, body).expect("write input");
    path
}

/// A pipeline over `input` with the model of `server` and `stages`.
fn input_pipeline(settings: &str, input: &Path, server: &MockServer, stages: &str) -> String {
    format!(
        "[pipeline]\n{settings}\nwork_dir = \"work\"\n\n[[input]]\npath = \"{}\"\n\n{}\n{stages}\n[output]\ndir = \"out\"\n",
        input.display(),
        openai_model(server, ""),
    )
}

#[test]
fn critique_averages_judge_samples_under_faults() {
    let server = MockServer::start(faulty(5), judge()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let texts: Vec<String> = (0..60)
        .map(|i| format!("Answer {i}: the borrow checker rejects {} aliasing.", "mutable ".repeat(i % 4)))
        .collect();
    let input = write_input(dir.path(), &texts);
    let stages = format!(
        r#"[[stage]]
name = "judge"
kind = "critique"
plugin = "{}"
model = "teacher"
samples = 3
batch_size = 8

[[stage]]
name = "good"
kind = "threshold"
config = {{ keep_if = "scores.overall >= 3" }}
"#,
        wasm("rubric_judge").display(),
    );
    let pipeline = input_pipeline("name = \"judge\"\nchunk_size = 25", &input, &server, &stages);
    ok(&run(dir.path(), &pipeline, &[], &[]));
    let s = stats(dir.path());
    assert_balanced(&s);
    assert_eq!(s["input_lines"], 60);
    let judged: Vec<serde_json::Value> = lines(dir.path().join("out/kept.jsonl"))
        .into_iter()
        .chain(lines(dir.path().join("out/rejected.jsonl")))
        .collect();
    assert!(judged.len() >= 55, "almost every record is judged: {}", judged.len());
    for r in &judged {
        let scores = &r["scores"];
        for aspect in ["helpfulness", "honesty", "instruction_following", "truthfulness", "overall"] {
            assert!(scores[aspect].as_f64().is_some(), "{aspect} on {r}");
        }
        assert_eq!(r["metadata"]["critique"]["judge"]["samples"], 3);
        // Three samples rated base, base+1, base+2 (capped at 5): the mean is fractional or capped.
        let h = scores["helpfulness"].as_f64().unwrap_or(0.0);
        assert!((2.0..=5.0).contains(&h), "{h}");
    }
    let averaged = judged.iter().filter(|r| r["metadata"]["critique"]["judge"]["parsed"] == 3).count();
    assert!(averaged > 40, "most records average three samples");
}

/// A model that redacts PII, but leaves it in on a record's first attempt when
/// the text says "leaky", and always when it says "stubborn". Attempt `a` of a
/// record is sent with its slot's seed plus `a`, and attempts come one after
/// another: a request is a first attempt unless its seed minus one was seen
/// for the same text (a retried request repeats its seed).
fn rewriter() -> kiln_mock_llm::Responder {
    let seen: std::sync::Mutex<std::collections::HashSet<(String, i64)>> = Default::default();
    responder(move |request: &ChatRequest, _| {
        let prompt = request.last_user_message().unwrap_or_default();
        let text = prompt
            .split_once("<<<BEGIN TEXT>>>\n")
            .and_then(|(_, rest)| rest.rsplit_once("\n<<<END TEXT>>>"))
            .map_or(prompt, |(t, _)| t);
        let seed = request.seed.unwrap_or(0);
        let first_attempt = {
            let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.insert((text.to_string(), seed));
            !seen.contains(&(text.to_string(), seed - 1))
        };
        if text.contains("stubborn") || (text.contains("leaky") && first_attempt) {
            return text.to_string();
        }
        let detector = kiln_pii::Detector::new(&kiln_pii::Kind::ALL).expect("detector");
        detector.redact(text, &kiln_pii::Placeholders::default()).0.into_owned()
    })
}

#[test]
fn refine_retries_rejected_rewrites_then_rejects_with_the_reason() {
    let server = MockServer::start(faulty(9), rewriter()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut texts = Vec::new();
    for i in 0..30 {
        let kind = match i % 3 {
            0 => "plain",
            1 => "leaky",
            _ => "stubborn",
        };
        texts.push(format!(
            "Ticket {i} ({kind}): the customer wrote from jane.doe{i}@example.com about the borrow checker and asked us to call back."
        ));
    }
    let input = write_input(dir.path(), &texts);
    let stages = format!(
        r#"[[stage]]
name = "scrub"
kind = "refine"
plugin = "{}"
model = "teacher"
attempts = 3
batch_size = 8
"#,
        wasm("pii_rewrite").display(),
    );
    let pipeline = input_pipeline("name = \"refine\"\nseed = 7", &input, &server, &stages);
    ok(&run(dir.path(), &pipeline, &[], &[]));
    let s = stats(dir.path());
    assert_balanced(&s);
    let kept = lines(dir.path().join("out/kept.jsonl"));
    let rejected = lines(dir.path().join("out/rejected.jsonl"));
    for r in &kept {
        let text = r["text"].as_str().expect("text");
        assert!(!text.contains('@') && text.contains("[EMAIL]"), "{text}");
        let parent = r["lineage"]["parent"].as_str().expect("parent");
        assert_eq!(r["id"].as_str().expect("id"), format!("{parent}~scrub"));
        let attempts = r["metadata"]["refine"]["scrub"]["attempts"].as_u64().expect("attempts");
        assert_eq!(attempts > 1, text.contains("leaky"), "leaky records need a second attempt: {r}");
    }
    for r in &rejected {
        let reason = r["rejected"]["reason"].as_str().expect("reason");
        assert!(r["text"].as_str().is_some_and(|t| t.contains("stubborn")), "{r}");
        assert!(
            reason.starts_with("refine: still contains an email address") && reason.ends_with("(after 3 attempt(s))"),
            "{reason}"
        );
    }
    let quarantined = s["quarantined"].as_u64().unwrap_or(0) as usize;
    assert!(
        kept.len() + quarantined >= 20 && rejected.len() + quarantined >= 10,
        "kept {} rejected {}",
        kept.len(),
        rejected.len()
    );
    assert!(detail(&s, 0, "rewrites_rejected") >= 10 * 3 - quarantined as u64);
}

#[test]
fn a_rejected_key_stops_the_run_without_showing_the_key() {
    let config = MockConfig { api_key: Some("right-key".into()), ..MockConfig::default() };
    let server = MockServer::start(config, arithmetic_teacher()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = generation_pipeline(&server, 10)
        .replace("model = \"mock-teacher\"", "model = \"mock-teacher\"\napi_key_env = \"KILN_TEST_KEY\"");
    let out = run(dir.path(), &pipeline, &[], &[("KILN_TEST_KEY", "wrong-secret-key")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rejected the credentials (HTTP 401)") && stderr.contains("$KILN_TEST_KEY"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-key"), "the key never appears: {stderr}");
    // With the right key the same work directory runs to the end.
    ok(&run(dir.path(), &pipeline, &[], &[("KILN_TEST_KEY", "right-key")]));
    assert_balanced(&stats(dir.path()));
    // A missing variable is a validation error before any work.
    let out = run(dir.path(), &pipeline, &[], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`KILN_TEST_KEY` (api_key_env) is not set"));
}

#[test]
fn a_spent_token_budget_stops_cleanly_and_the_run_resumes() {
    let server = MockServer::start(MockConfig::default(), arithmetic_teacher()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let budgeted = |budget: u64| {
        generation_pipeline(&server, 200)
            .replace("max_tokens = 400", &format!("max_tokens = 400\ntoken_budget = {budget}"))
    };
    // About 135 tokens a request, and up to 50 requests for a chunk of 50
    // records (fewer with cache hits): 10,000 tokens, about 70 requests,
    // always complete the first chunk and never the whole run (about 21,000).
    // (6000 left the first chunk unfinished in some runs: the answers' lengths
    // vary, and requests in flight when the budget runs out still count.)
    let out = run(dir.path(), &budgeted(10_000), &[], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token budget spent") && stderr.contains("raise `token_budget`"), "{stderr}");
    let paid = server.stats().requests;
    assert!(paid < 200, "stopped early: {paid}");
    // Raise the budget and run again: the committed chunks are resumed and
    // the cache answers what the stopped chunk had paid for.
    ok(&run(dir.path(), &budgeted(1_000_000), &[], &[]));
    assert_eq!(server.stats().requests, 200, "no completion is paid for twice");
    let s = stats(dir.path());
    assert_balanced(&s);
    assert!(s["resumed_chunks"].as_u64().unwrap_or(0) >= 1, "committed chunks are kept: {s}");
}

#[test]
fn a_server_that_is_down_quarantines_with_a_clear_error() {
    // Bind and drop a listener: nothing serves this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = MockServer::start(MockConfig::default(), arithmetic_teacher()).expect("server");
    let pipeline = generation_pipeline(&server, 8)
        .replace(&server.base_url(), &format!("http://127.0.0.1:{port}/v1"))
        .replace("max_retries = 8", "max_retries = 2");
    ok(&run(dir.path(), &pipeline, &[], &[]));
    let s = stats(dir.path());
    assert_balanced(&s);
    assert_eq!(s["quarantined"], 8);
    let q = lines(dir.path().join("out/quarantine.jsonl"));
    let error = q[0]["error"].as_str().expect("error");
    assert!(error.contains("model `teacher`") && error.contains("after 3 attempt(s)"), "{error}");
    let by_stage: BTreeMap<String, usize> = q.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r["stage"].as_str().unwrap_or("").to_string()).or_default() += 1;
        m
    });
    assert_eq!(by_stage["generate"], 8);
}

#[test]
fn an_empty_prompt_is_never_sent_and_names_the_plugin() {
    let server = MockServer::start(MockConfig::default(), kiln_mock_llm::echo_responder()).expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("seeds.jsonl"),
        "{\"id\":\"q1\",\"text\":\"name a colour\"}\n{\"id\":\"q2\",\"text\":\"  \"}\n",
    )
    .expect("seeds");
    let pipeline = format!(
        r#"[pipeline]
name = "empty-prompt"
work_dir = "work"

{model}
[[stage]]
name = "answer"
kind = "generate"
plugin = "{plugin}"
model = "teacher"
count = 2
seeds = "seeds.jsonl"

[output]
dir = "out"
"#,
        model = openai_model(&server, ""),
        plugin = wasm("text_generation").display(),
    );
    ok(&run(dir.path(), &pipeline, &[], &[]));
    assert_eq!(server.stats().requests, 1, "only the prompt with text is sent");
    let s = stats(dir.path());
    assert_balanced(&s);
    let kept = lines(dir.path().join("out/kept.jsonl"));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["lineage"]["parent"], "q1", "the seed record is the parent");
    assert_eq!(kept[0]["metadata"]["instruction"], "name a colour");
    let q = lines(dir.path().join("out/quarantine.jsonl"));
    let error = q[0]["error"].as_str().expect("error");
    assert!(error.contains("text-generation@0.1.0 built an empty prompt"), "{error}");
}

/// A server that echoes the request's `Authorization` header back in every
/// answer: as a 401's OpenAI-style error, a 500's JSON, or a 200 that is not
/// JSON. Returns its address.
fn echoing_server(status: u16, json: bool) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let (mut auth, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                } else if let Some(n) = lower.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let reply = if json {
                format!(r#"{{"error":{{"message":"Incorrect API key provided: {auth}. You sent {auth}","type":"x"}}}}"#)
            } else {
                format!("<html>proxy error: your header was {auth}</html>")
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    address
}

#[test]
fn a_server_echoing_the_key_never_gets_it_shown_or_written() {
    const KEY: &str = "sk-echo-0123456789abcdef";
    const PASSWORD: &str = "url-pw-9876";
    for (status, json) in [(401, true), (500, true), (200, false)] {
        let address = echoing_server(status, json);
        let dir = tempfile::tempdir().expect("tempdir");
        let pipeline = format!(
            r#"[pipeline]
name = "echo"
work_dir = "work"

[models.teacher]
backend = "openai"
base_url = "http://alice:{PASSWORD}@{address}/v1"
model = "m"
api_key_env = "KILN_TEST_KEY"
max_retries = 1
backoff_ms = 1

[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "teacher"
count = 3

[output]
dir = "out"
"#,
            problems = wasm("arith_problems").display(),
        );
        let out = run(dir.path(), &pipeline, &[], &[("KILN_TEST_KEY", KEY), ("KILN_LOG", "debug")]);
        if status == 401 {
            let error = String::from_utf8_lossy(&out.stderr);
            let error = error.lines().find(|l| l.starts_with("error:")).expect("an error line");
            assert_eq!(error.matches("rejected the credentials").count(), 1, "said once: {error}");
        }
        let mut shown = String::from_utf8_lossy(&out.stderr).into_owned();
        shown.push_str(&String::from_utf8_lossy(&out.stdout));
        for file in walk(dir.path()) {
            if file.ends_with("pipeline.toml") {
                continue; // the user's own file, which holds the URL as written
            }
            if file.extension().is_some_and(|e| e == "sqlite" || e == "sqlite-wal") {
                continue; // the request cache holds only completions that succeeded
            }
            shown.push_str(&String::from_utf8_lossy(&std::fs::read(&file).expect("read")));
        }
        assert!(shown.contains("REDACTED"), "HTTP {status}: the echo was seen and scrubbed:\n{shown}");
        for secret in [KEY, PASSWORD, "alice:"] {
            assert!(!shown.contains(secret), "HTTP {status}: `{secret}` leaked:\n{shown}");
        }
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

/// A pipeline whose generator asks the same instruction for every slot.
fn one_instruction_pipeline(dir: &Path, server: &MockServer, extra: &str) -> String {
    std::fs::write(dir.join("instruction.jsonl"), "{\"id\":\"i\",\"text\":\"Write a haiku.\"}\n").expect("seeds");
    format!(
        r#"[pipeline]
name = "same-prompt"
seed = 5
work_dir = "work"

{model}
[[stage]]
name = "generate"
kind = "generate"
plugin = "{generator}"
model = "teacher"
count = 20
seeds = "instruction.jsonl"
{extra}

[output]
dir = "out"
"#,
        model = openai_model(server, ""),
        generator = wasm("text_generation").display(),
    )
}

#[test]
fn identical_prompts_get_their_own_completions() {
    // A deterministic server: the same prompt and seed give the same text.
    let server = MockServer::start(
        MockConfig::default(),
        responder(|request: &ChatRequest, choice| format!("haiku for seed {:?}/{choice}", request.seed)),
    )
    .expect("server");
    let distinct = |dir: &Path| {
        let texts: std::collections::BTreeSet<String> =
            lines(dir.join("out/kept.jsonl")).iter().map(|r| r["text"].as_str().expect("text").to_string()).collect();
        texts.len()
    };
    for args in [&[][..], &["--no-cache"][..]] {
        let dir = tempfile::tempdir().expect("tempdir");
        let pipeline = one_instruction_pipeline(dir.path(), &server, "");
        ok(&run(dir.path(), &pipeline, args, &[]));
        assert_eq!(distinct(dir.path()), 20, "{args:?}: every slot has its own completion");
        assert_eq!(detail(&stats(dir.path()), 0, "cache_hits"), 0);
        // A rerun pays for nothing and gives the same texts.
        let before = std::fs::read_to_string(dir.path().join("out/kept.jsonl")).expect("kept");
        let requests = server.stats().requests;
        ok(&run(dir.path(), &pipeline, &["--fresh"], &[]));
        if args.is_empty() {
            assert_eq!(server.stats().requests, requests, "the cache answered every slot");
        }
        assert_eq!(std::fs::read_to_string(dir.path().join("out/kept.jsonl")).expect("kept"), before);
    }
    // Asking once per distinct prompt is still possible, by choice.
    let dir = tempfile::tempdir().expect("tempdir");
    ok(&run(dir.path(), &one_instruction_pipeline(dir.path(), &server, "dedupe_prompts = true"), &[], &[]));
    assert_eq!(distinct(dir.path()), 1);
}

/// A server that ignores `n`, cuts at `max_tokens` and (for the judge)
/// answers in a schema only half the time: each quirk handled, said once
/// and counted; nothing retried as if transient, nothing lost.
#[test]
fn server_quirks_are_detected_counted_and_kept() {
    let server = MockServer::start(
        MockConfig { ignore_n: true, ..MockConfig::default() },
        responder(|request: &ChatRequest, _| {
            let prompt = request.last_user_message().unwrap_or_default();
            if prompt.contains("Evaluate the text") {
                // The judge: JSON in the schema for even seeds, prose off it otherwise.
                if request.seed.unwrap_or(0) % 2 == 0 {
                    r#"{"clarity": {"rationale": "Clear enough.", "rating": 4}}"#.to_string()
                } else {
                    "I think clarity is 16 out of 5 because the sky is blue.".to_string()
                }
            } else {
                format!("haiku for seed {:?} one two three four five six seven eight", request.seed)
            }
        }),
    )
    .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("instruction.jsonl"), "{\"id\":\"i\",\"text\":\"Write a haiku.\"}\n")
        .expect("seeds");
    let pipeline = format!(
        r#"[pipeline]
name = "quirks"
seed = 5
work_dir = "work"

{model}
[models.judge]
backend = "openai"
base_url = "{url}"
model = "mock-judge"
structured_output = true
seed = 3
timeout_secs = 30

[[stage]]
name = "generate"
kind = "generate"
plugin = "{generator}"
model = "teacher"
count = 10
samples = 3
seeds = "instruction.jsonl"

[[stage]]
name = "judge"
kind = "critique"
plugin = "{judge}"
model = "judge"
config = {{ aspects = [{{ name = "clarity", description = "Is it clear?" }}], overall = false, answer_format = "json" }}

[output]
dir = "out"
"#,
        model = openai_model(&server, "").replace("max_tokens = 400", "max_tokens = 6"),
        url = server.base_url(),
        generator = wasm("text_generation").display(),
        judge = wasm("rubric_judge").display(),
    );
    let out = run(dir.path(), &pipeline, &[], &[]);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("ignores `n`").count(), 1, "said once: {log}");
    let s = stats(dir.path());
    assert_balanced(&s);
    // `n` ignored: 10 prompts × 3 samples, two of each asked separately.
    assert_eq!(s["stages"][0]["input"], 10);
    assert_eq!(detail(&s, 0, "separate_samples"), 20);
    assert_eq!(detail(&s, 0, "requests"), 30, "no retries: {s:#}");
    assert_eq!(s["stages"][0]["quarantined"], 0, "{s:#}");
    // Every answer was cut at max_tokens: flagged on the records and counted.
    assert_eq!(detail(&s, 0, "truncated"), 30);
    let kept = lines(dir.path().join("out/kept.jsonl"));
    let quarantined = lines(dir.path().join("out/quarantine.jsonl"));
    assert!(!kept.is_empty() && !quarantined.is_empty(), "both schema outcomes happen: {s:#}");
    for r in &kept {
        assert_eq!(r["metadata"]["truncated"]["generate"], true, "{r}");
        assert_eq!(r["scores"]["clarity"], 4.0, "{r}");
    }
    // Off the schema: a typed error on the record, the answer kept whole,
    // and never a stray number taken as a rating.
    for q in &quarantined {
        let error = q["error"].as_str().expect("error");
        assert!(error.contains("does not match the declared schema") || error.contains("not JSON"), "{error}");
        assert_eq!(q["answer"], "I think clarity is 16 out of 5 because the sky is blue.", "{q}");
        assert_eq!(q["stage"], "judge");
    }
    assert_eq!(detail(&s, 1, "requests"), s["stages"][1]["input"].as_u64().expect("judged"), "one request each");
}
