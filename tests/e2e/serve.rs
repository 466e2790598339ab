//! `kiln serve` as its users meet it: the real binary on a loopback port,
//! tenants made with `kiln tenant add`, runs submitted over HTTP with their
//! inputs and plugins. Tenants cannot see each other's runs by any endpoint;
//! bad requests get a 4xx with a message, never a 500; a tenant with many
//! queued runs does not starve another; a service killed with SIGKILL takes
//! every queued and running run up again when restarted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{kiln_bin, wasm, workspace};
use reqwest::StatusCode;
use reqwest::blocking::{Client, multipart};
use serde_json::Value;

/// Where a service keeps its state: a data directory, and the SQLite file in
/// it or a fresh PostgreSQL database (dropped afterwards).
struct State {
    _dir: tempfile::TempDir,
    data: PathBuf,
    postgres: Option<(String, String)>,
}

/// The PostgreSQL server the tests use (`.ci/run` starts one on loopback).
fn postgres_admin_url() -> String {
    std::env::var("KILN_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://kiln:kiln@127.0.0.1:5432/postgres".into())
}

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql").arg(url).args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().expect(
        "psql runs (the PostgreSQL tests need a server on loopback: `.ci/run` installs and starts one; \
         set KILN_TEST_POSTGRES_URL to use another)",
    )
}

impl State {
    fn sqlite() -> State {
        let dir = tempfile::tempdir().expect("tempdir");
        State { data: dir.path().join("data"), _dir: dir, postgres: None }
    }

    fn postgres() -> State {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let admin = postgres_admin_url();
        let name =
            format!("kiln_test_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let out = psql(&admin, &format!("CREATE DATABASE {name}"));
        assert!(out.status.success(), "cannot create a database on {admin}: {}", String::from_utf8_lossy(&out.stderr));
        let (base, _) = admin.rsplit_once('/').expect("a database URL");
        let mut state = State::sqlite();
        state.postgres = Some((admin.clone(), format!("{base}/{name}")));
        state
    }

    /// `--data-dir DIR [--database URL]`.
    fn args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_string(), self.data.display().to_string()];
        if let Some((_, url)) = &self.postgres {
            args.extend(["--database".to_string(), url.clone()]);
        }
        args
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some((admin, url)) = &self.postgres {
            let name = url.rsplit('/').next().unwrap_or_default();
            let _ = psql(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A service on a loopback port; killed on drop.
struct LocalService {
    child: Child,
    url: String,
    log: PathBuf,
}

impl LocalService {
    // The child is moved into the returned service, whose `Drop` kills and
    // waits for it; the lint does not follow the move out of the loop.
    #[allow(clippy::zombie_processes)]
    fn start(state: &State, extra: &[&str]) -> LocalService {
        let data = &state.data;
        std::fs::create_dir_all(data).expect("data dir");
        let log = data.with_extension(format!("log-{}", std::process::id()));
        let mut args: Vec<String> = vec!["serve".into(), "--addr".into(), "127.0.0.1:0".into()];
        args.extend(state.args());
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut child = Command::new(kiln_bin())
            .args(&args)
            .env("KILN_CACHE_DIR", data.join("cache"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start kiln serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let url = text.split("listening on ").nth(1).and_then(|rest| rest.split_whitespace().next());
            if let Some(url) = url {
                return LocalService { child, url: url.to_string(), log };
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kiln serve did not start:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for LocalService {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn add_tenant(state: &State, name: &str, extra: &[&str]) -> String {
    let mut args: Vec<String> = vec!["tenant".into(), "add".into(), name.into()];
    args.extend(state.args());
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = Command::new(kiln_bin()).args(&args).output().expect("kiln tenant add");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A small filter run, shared with `benches/serve-load.py`.
const PIPELINE: &str = include_str!("../data/serve-pipeline.toml");

/// The pipeline, its input (the first `lines` records of the sample) and the plugin, as a submission.
fn submission(pipeline: &str, lines: usize) -> multipart::Form {
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let input: String = sample.lines().take(lines).map(|l| format!("{l}\n")).collect();
    multipart::Form::new()
        .text("pipeline", pipeline.to_string())
        .part("file", multipart::Part::bytes(input.into_bytes()).file_name("data/in.jsonl"))
        .part(
            "file",
            multipart::Part::bytes(std::fs::read(wasm("length-filter")).expect("plugin"))
                .file_name("plugins/length_filter.wasm"),
        )
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(120)).build().expect("client")
}

fn submit(service: &LocalService, token: &str, form: multipart::Form) -> (StatusCode, Value) {
    let response =
        client().post(format!("{}/v1/runs", service.url)).bearer_auth(token).multipart(form).send().expect("submit");
    let status = response.status();
    (status, response.json().unwrap_or(Value::Null))
}

fn get(service: &LocalService, token: &str, path: &str) -> (StatusCode, String) {
    let response = client().get(format!("{}{path}", service.url)).bearer_auth(token).send().expect("get");
    (response.status(), response.text().unwrap_or_default())
}

/// Waits until run `id` is final; returns it.
fn wait_final(service: &LocalService, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, body) = get(service, token, &format!("/v1/runs/{id}"));
        assert_eq!(status, StatusCode::OK, "{body}");
        let run: Value = serde_json::from_str(&body).expect("json");
        if ["done", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or("")) {
            return run;
        }
        assert!(Instant::now() < deadline, "run {id} did not finish: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `kiln run` keeps of the same pipeline and input, on its own.
fn kept_by_kiln_run(lines: usize) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("plugins")).expect("mkdir");
    let input: String = sample.lines().take(lines).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("data/in.jsonl"), input).expect("input");
    std::fs::copy(wasm("length-filter"), dir.path().join("plugins/length_filter.wasm")).expect("plugin");
    std::fs::write(dir.path().join("p.toml"), PIPELINE).expect("pipeline");
    let out = Command::new(kiln_bin())
        .args(["run", "p.toml"])
        .current_dir(dir.path())
        .env("KILN_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("kiln run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    kiln_tests::stats(dir.path())["kept"].as_u64().expect("kept")
}

#[test]
fn runs_finish_as_kiln_run_does_and_no_tenant_reaches_another_tenants_run() {
    isolated_runs(&State::sqlite());
}

#[test]
fn on_postgres_runs_finish_and_stay_isolated() {
    isolated_runs(&State::postgres());
}

fn isolated_runs(state: &State) {
    let (a, b) = (add_tenant(state, "team-a", &[]), add_tenant(state, "team-b", &[]));
    let service = LocalService::start(state, &[]);

    let (status, run) = submit(&service, &a, submission(PIPELINE, 300));
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let id = run["id"].as_str().expect("an id").to_string();
    let run = wait_final(&service, &a, &id);
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["kept"].as_u64(), Some(kept_by_kiln_run(300)), "{run}");
    assert_eq!(run["kept"].as_u64().unwrap_or(0) + run["rejected"].as_u64().unwrap_or(0), 300, "{run}");

    let (status, kept) = get(&service, &a, &format!("/v1/runs/{id}/files/kept.jsonl"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept.lines().count() as u64, run["kept"].as_u64().expect("kept"));
    let (status, events) = get(&service, &a, &format!("/v1/runs/{id}/events"));
    assert_eq!(status, StatusCode::OK);
    assert!(events.contains("event: end") && events.contains("\"status\":\"done\""), "{events}");

    // Submissions at once (a benchmark found them failing with 500 on SQLite): all accepted, all done.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (status, run) = submit(&service, &a, submission(PIPELINE, 50));
                    assert_eq!(status, StatusCode::CREATED, "{run}");
                    run["id"].as_str().expect("id").to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("submitted")).collect()
    });
    for id in &ids {
        assert_eq!(wait_final(&service, &a, id)["status"], "done");
    }

    // Tenant B: every endpoint answers as if the run did not exist.
    for path in ["", "/files/kept.jsonl", "/files/stats.json", "/events"] {
        let (status, body) = get(&service, &b, &format!("/v1/runs/{id}{path}"));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.contains("team-a"), "{body}");
    }
    let cancel = client().post(format!("{}/v1/runs/{id}/cancel", service.url)).bearer_auth(&b).send().expect("cancel");
    assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&service, &b, "/v1/runs"), (StatusCode::OK, "[]".to_string()));
    // Guessing ids, or climbing out of the outputs, finds nothing either.
    let guessed = format!("{}{}", &id[..id.len() - 1], if id.ends_with('0') { '1' } else { '0' });
    assert_eq!(get(&service, &a, &format!("/v1/runs/{guessed}")).0, StatusCode::NOT_FOUND);
    assert_eq!(get(&service, &a, &format!("/v1/runs/{id}/files/..%2F..%2Fkiln.db")).0, StatusCode::NOT_FOUND);

    // A revoked token stops working at once.
    let out =
        Command::new(kiln_bin()).args(["tenant", "revoke", "team-b"]).args(state.args()).output().expect("revoke");
    assert!(out.status.success());
    assert_eq!(get(&service, &b, "/v1/runs").0, StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_requests_get_a_4xx_with_a_clear_message_never_a_500() {
    let state = State::sqlite();
    let a = add_tenant(&state, "team-a", &["--max-queued", "1"]);
    let service = LocalService::start(&state, &["--max-body-mib", "1", "--workers", "1"]);
    let url = format!("{}/v1/runs", service.url);
    let error = |response: reqwest::blocking::Response| -> (StatusCode, String) {
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        (status, body["error"].as_str().unwrap_or("").to_string())
    };

    let (status, message) = error(client().get(&url).send().expect("no token"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("Authorization: Bearer"), "{message}");
    assert_eq!(
        error(client().get(&url).bearer_auth("kiln_not-a-token").send().expect("bad token")).0,
        StatusCode::UNAUTHORIZED
    );

    let cases: Vec<(multipart::Form, StatusCode, &str)> = vec![
        (multipart::Form::new().text("pipeline", "[pipeline\nname = 1"), StatusCode::BAD_REQUEST, "pipeline.toml:1:"),
        (submission(&PIPELINE.replace("data/in.jsonl", "/etc/passwd"), 5), StatusCode::BAD_REQUEST, "absolute path"),
        (submission(&PIPELINE.replace("data/in.jsonl", "../../x.jsonl"), 5), StatusCode::BAD_REQUEST, "`..`"),
        (
            submission(&PIPELINE.replace("min_words = 5", "min_wrds = 5"), 5),
            StatusCode::BAD_REQUEST,
            "unknown key `min_wrds`",
        ),
        (
            multipart::Form::new().part("file", multipart::Part::bytes(vec![1]).file_name("x")),
            StatusCode::BAD_REQUEST,
            "no `pipeline` part",
        ),
        (
            multipart::Form::new()
                .text("pipeline", PIPELINE)
                .part("file", multipart::Part::bytes(vec![1]).file_name("../x")),
            StatusCode::BAD_REQUEST,
            "upload `../x`",
        ),
    ];
    for (form, expected, needle) in cases {
        let (status, message) = error(client().post(&url).bearer_auth(&a).multipart(form).send().expect("send"));
        assert_eq!(status, expected, "{message}");
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    let (status, message) = error(
        client().post(&url).bearer_auth(&a).header("content-type", "application/json").body("{}").send().expect("json"),
    );
    assert!(status.is_client_error(), "{status}: {message}");
    assert!(message.contains("multipart/form-data"), "{message}");
    assert_eq!(error(client().get(format!("{}/nope", service.url)).send().expect("404")).0, StatusCode::NOT_FOUND);
    let openapi: Value =
        client().get(format!("{}/v1/openapi.json", service.url)).send().expect("openapi").json().expect("json");
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/v1/runs"]["post"].is_object(), "{openapi}");

    // A body over --max-body-mib is refused from its Content-Length, before it is read.
    let address = service.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    let head = format!(
        "POST /v1/runs HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {a}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
        2 << 20
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).expect("send the head");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut answer = [0u8; 64];
    let n = std::io::Read::read(&mut stream, &mut answer).expect("an answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Quotas: one queued run at most (the one worker is held by the first run).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, body) = submit(&service, &a, submission(PIPELINE, 1500));
        statuses.push((status, body));
    }
    let refused: Vec<&Value> =
        statuses.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).map(|(_, b)| b).collect();
    assert!(!refused.is_empty(), "{statuses:?}");
    assert!(refused[0]["error"].as_str().unwrap_or("").contains("max_queued"), "{refused:?}");
}

#[test]
fn a_tenant_with_many_queued_runs_does_not_starve_another_and_a_killed_service_resumes_them_all() {
    fair_and_crash_safe(&State::sqlite());
}

#[test]
fn on_postgres_a_killed_service_resumes_every_run_fairly() {
    fair_and_crash_safe(&State::postgres());
}

fn fair_and_crash_safe(state: &State) {
    let (a, b) = (add_tenant(state, "busy", &["--max-running", "1"]), add_tenant(state, "quiet", &[]));
    let mut service = LocalService::start(state, &["--workers", "1"]);
    let lines = 1500;
    let mut busy = Vec::new();
    for _ in 0..5 {
        let (status, run) = submit(&service, &a, submission(PIPELINE, lines));
        assert_eq!(status, StatusCode::CREATED, "{run}");
        busy.push(run["id"].as_str().expect("id").to_string());
    }
    let (_, listed) = get(&service, &a, "/v1/runs");
    let started_before: usize = serde_json::from_str::<Vec<Value>>(&listed)
        .expect("json")
        .iter()
        .filter(|r| !r["start_order"].is_null())
        .count();
    let (status, run) = submit(&service, &b, submission(PIPELINE, lines));
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let quiet = run["id"].as_str().expect("id").to_string();

    // Kill the service while a run is on its worker, then start it again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, listed) = get(&service, &a, "/v1/runs");
        if listed.contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline, "nothing started: {listed}");
        std::thread::sleep(Duration::from_millis(20));
    }
    service.kill();
    let service = LocalService::start(state, &["--workers", "1"]);

    let expected = kept_by_kiln_run(lines);
    for id in &busy {
        let run = wait_final(&service, &a, id);
        assert_eq!((run["status"].as_str(), run["kept"].as_u64()), (Some("done"), Some(expected)), "{run}");
    }
    let run = wait_final(&service, &b, &quiet);
    assert_eq!((run["status"].as_str(), run["kept"].as_u64()), (Some("done"), Some(expected)), "{run}");
    let order = run["start_order"].as_u64().expect("started") as usize;
    assert!(
        order <= started_before + 2,
        "the quiet tenant's one run started {order}th, after {started_before} busy run(s) had started before it was submitted"
    );
}
