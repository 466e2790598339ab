//! Model stages against a real model server: llama.cpp's OpenAI-compatible
//! server (PyPI `llama-cpp-python[server]`) serving Gemma 3 270M, a small
//! base model, on loopback (`cargo xtask test` installs both once per
//! machine; see `cargo xtask llm-server`).
//!
//! What a 270M base model can do is asserted honestly: every record ends
//! kept, rejected or quarantined and the counts add up; the judge's answers
//! parse when the server is asked for structured output (grammar-constrained
//! decoding to the schema `rubric-judge` declares); the server's quirks are
//! handled (it ignores `n`: each sample is asked for separately and counted);
//! and a rerun, `--fresh` included, sends the server no request at all.

use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::{LocalLlm, assert_balanced, detail, kiln_bin, lines, stats, wasm};

fn run(dir: &Path, pipeline: &str, args: &[&str]) -> Output {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, pipeline).expect("write pipeline");
    Command::new(kiln_bin()).arg("run").arg(&file).args(args).env("KILN_LOG", "warn").output().expect("run kiln")
}

fn ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "kiln failed:\n{stderr}");
    stderr
}

/// A model table for the server: Gemma's chat template drops system
/// messages, so they are merged into the user's.
fn model(server: &LocalLlm, name: &str, extra: &str) -> String {
    format!(
        r#"[models.{name}]
backend = "openai"
base_url = "{}"
model = "{}"
system_prompt = "merge"
seed = 7
concurrency = 2
timeout_secs = 300
max_retries = 1
{extra}
"#,
        server.base_url,
        LocalLlm::MODEL
    )
}

const INSTRUCTIONS: [&str; 6] = [
    "Name three fruits.",
    "Write one sentence about the sea.",
    "What is the capital of France?",
    "Give a synonym of happy.",
    "Describe a cat in five words.",
    "Say hello in Spanish.",
];

/// Writes `texts` as records `{prefix}0, {prefix}1, …` to `path`.
fn write_records(path: &Path, prefix: &str, texts: &[&str]) {
    let text: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}\n", serde_json::json!({ "id": format!("{prefix}{i}"), "text": t })))
        .collect();
    std::fs::write(path, text).expect("write records");
}

#[test]
fn generate_critique_threshold_against_llama_cpp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LocalLlm::start(&dir.path().join("server.log"));
    let seeds = dir.path().join("instructions.jsonl");
    write_records(&seeds, "i", &INSTRUCTIONS);
    let seeds = seeds.display();
    let pipeline = format!(
        r#"[pipeline]
name = "real-server"
seed = 7
work_dir = "work"

{writer}
{judge}
[[stage]]
name = "answer"
kind = "generate"
plugin = "{generator}"
model = "writer"
seeds = "{seeds}"
count = {count}
samples = 2
config = {{ template = "Question: {{text}}\nAnswer:" }}

[[stage]]
name = "judge"
kind = "critique"
plugin = "{judge_plugin}"
model = "judge"
config = {{ aspects = [{{ name = "relevance", description = "Does the answer address the question?" }}], overall = false, answer_format = "json", include_metadata_fields = ["instruction"] }}

[[stage]]
name = "relevant"
kind = "threshold"
config = {{ keep_if = "scores.relevance >= 3" }}

[output]
dir = "out"
"#,
        // A base model continues text: the writer completes a prompt (no
        // chat template), one paragraph; the judge chats, under the schema.
        writer = model(
            &server,
            "writer",
            "temperature = 0.8\nmax_tokens = 40\nendpoint = \"completions\"\nstop = [\"\\n\\n\", \"Question:\"]"
        ),
        judge = model(&server, "judge", "temperature = 0.0\nmax_tokens = 200\nstructured_output = \"json_object\""),
        generator = wasm("text-generation").display(),
        judge_plugin = wasm("rubric-judge").display(),
        count = INSTRUCTIONS.len(),
    );
    let out = run(dir.path(), &pipeline, &[]);
    let log = ok(&out);
    let s = stats(dir.path());
    assert_balanced(&s);

    // The server ignores `n`: detected once, said once, and each second
    // sample asked for in a request of its own, nothing quarantined for it.
    assert_eq!(log.matches("ignores `n`").count(), 1, "said once:\n{log}");
    let answers = INSTRUCTIONS.len() as u64 * 2;
    assert_eq!(detail(&s, 0, "separate_samples"), INSTRUCTIONS.len() as u64, "one extra request per prompt");
    // What a small base model does fail at: an empty answer now and then,
    // quarantined with the plugin's error, never retried as a server fault.
    for q in lines(dir.path().join("out/quarantine.jsonl")) {
        assert_eq!(q["stage"], "answer", "only empty answers are quarantined: {q}");
        assert!(q["error"].as_str().is_some_and(|e| e.contains("empty")), "{q}");
    }
    let rejected: u64 =
        s["stages"][0]["rejected"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
    assert_eq!(s["stages"][0]["kept"].as_u64().unwrap_or(0) + rejected, answers, "{s:#}");
    // Every paid request and its tokens are counted.
    assert_eq!(detail(&s, 0, "requests"), answers);
    assert!(detail(&s, 0, "completion_tokens") > 0 && detail(&s, 0, "prompt_tokens") > 0, "{s:#}");
    let judged = s["stages"][1]["input"].as_u64().expect("judge input");
    assert_eq!(detail(&s, 1, "requests"), judged, "one request per record judged");
    assert_eq!(server.requests() as u64, answers + judged, "every request the server saw was counted");

    // Structured output: the judge's answers are JSON in the declared schema,
    // so every one parses (the grammar leaves the model no other choice).
    assert_eq!(s["stages"][1]["quarantined"], 0, "the judge's answers parse under the schema: {s:#}");
    // Every judged record carries its rating (on the scale: the schema's
    // enum) and rationale; the threshold keeps exactly those rated 3 or more.
    // (Gemma 3 270M, a base model, rates nearly everything 1: the schema
    // makes its answers parse, not its judgement good.)
    let kept = lines(dir.path().join("out/kept.jsonl"));
    let rejected = lines(dir.path().join("out/rejected.jsonl"));
    for record in kept.iter().chain(rejected.iter().filter(|r| r["rejected"]["stage"] == "relevant")) {
        let relevance = record["scores"]["relevance"].as_f64().expect("rated");
        assert!([1.0, 2.0, 3.0, 4.0, 5.0].contains(&relevance), "{record}");
        assert_eq!(relevance >= 3.0, record["rejected"].is_null(), "{record}");
        assert!(record["metadata"]["critique"]["judge"]["rationale"].is_string(), "{record}");
    }

    // Nothing is paid twice: a rerun over the work directory, and a `--fresh`
    // one (which keeps the request cache), send the server no request.
    let before = server.requests();
    ok(&run(dir.path(), &pipeline, &[]));
    ok(&run(dir.path(), &pipeline, &["--fresh"]));
    assert_eq!(server.requests(), before, "a rerun sent requests");
    let again = stats(dir.path());
    assert_eq!(detail(&again, 0, "requests") + detail(&again, 1, "requests"), 0, "{again:#}");
    assert_eq!(again["stages"][2]["kept"], s["stages"][2]["kept"], "the same records, from the cache");
}

#[test]
fn refine_against_llama_cpp_keeps_what_the_model_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LocalLlm::start(&dir.path().join("server.log"));
    let input = dir.path().join("people.jsonl");
    let people = [
        "Write to ana.silva@example.com for the minutes of the meeting.",
        "Call me on +1 415 555 0134 after six.",
        "The server at 10.0.4.21 restarts every night.",
        "Send the invoice to billing@example.org by Friday.",
    ];
    write_records(&input, "p", &people);
    let pipeline = format!(
        r#"[pipeline]
name = "real-refine"
seed = 7
work_dir = "work"

[[input]]
path = "{input}"

{rewriter}
[[stage]]
name = "rewrite"
kind = "refine"
plugin = "{refiner}"
model = "rewriter"
attempts = 2

[output]
dir = "out"
"#,
        input = input.display(),
        rewriter = model(&server, "rewriter", "temperature = 0.7\nmax_tokens = 60"),
        refiner = wasm("pii-rewrite").display(),
    );
    ok(&run(dir.path(), &pipeline, &[]));
    let s = stats(dir.path());
    assert_balanced(&s);
    let stage = &s["stages"][0];
    assert_eq!(stage["input"], people.len(), "{s:#}");
    assert_eq!(stage["quarantined"], 0, "{s:#}");
    // Each record took one or two requests (a refused rewrite is asked again).
    let requests = detail(&s, 0, "requests");
    assert!((people.len() as u64..=2 * people.len() as u64).contains(&requests), "{s:#}");
    assert_eq!(server.requests() as u64, requests);
    // A refused record carries the last rewrite it was refused.
    for record in lines(dir.path().join("out/rejected.jsonl")) {
        let last = &record["metadata"]["refine"]["rewrite"]["last_rewrite"];
        assert!(last.is_string(), "no last rewrite on {record}");
        assert!(record["rejected"]["reason"].as_str().is_some_and(|r| r.starts_with("refine:")), "{record}");
    }
}
