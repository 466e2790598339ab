//! The kernel-backed stages end to end: `dedup` with `method = "minhash"` and
//! `decontaminate`, over real text with planted near-duplicates and planted
//! benchmark leaks — on the GPU (any adapter; lavapipe in CI) and on the CPU,
//! which must agree exactly, and across a SIGKILL and resume.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{kiln_bin, target_dir, workspace};

/// The bundled sample with near-duplicates (one word changed) of every 50th
/// long section planted later, and benchmark questions leaked into a few.
fn write_inputs(dir: &Path) -> (PathBuf, usize, usize) {
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let records: Vec<serde_json::Value> = sample.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let mut out: Vec<serde_json::Value> = records.clone();
    let mut planted = 0;
    for (i, r) in records
        .iter()
        .enumerate()
        .filter(|(_, r)| r["text"].as_str().unwrap_or("").split_whitespace().count() > 80)
        .step_by(50)
    {
        let text = r["text"].as_str().unwrap_or("");
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let middle = words.len() / 2;
        words[middle] = "CHANGED";
        out.push(serde_json::json!({"id": format!("near-{i}"), "text": words.join(" ")}));
        planted += 1;
    }
    let questions = [
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
    ];
    let bench: String =
        questions.iter().map(|q| format!("{}\n", serde_json::json!({"question": q, "answer": "42"}))).collect();
    std::fs::write(dir.join("gsm8k.jsonl"), bench).expect("write benchmark");
    for (i, q) in questions.iter().enumerate() {
        out.push(serde_json::json!({"id": format!("leak-{i}"), "text": format!("Here is a practice problem for you. {q} Think step by step.")}));
    }
    let input = dir.join("input.jsonl");
    std::fs::write(&input, out.iter().map(|v| format!("{v}\n")).collect::<String>()).expect("write input");
    (input, planted, questions.len())
}

fn write_pipeline(dir: &Path, input: &Path) -> PathBuf {
    let toml = format!(
        r#"[pipeline]
name = "kernels-test"
chunk_size = 300
work_dir = "work"

[[input]]
path = "{input}"

[[stage]]
name = "decontam"
kind = "decontaminate"
config = {{ benchmarks = [{{ name = "gsm8k", path = "gsm8k.jsonl", fields = ["question", "answer"] }}] }}

[[stage]]
name = "near-dedup"
kind = "dedup"
config = {{ method = "minhash" }}

[output]
dir = "out"
"#,
        input = input.display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).expect("write pipeline");
    path
}

fn kiln_run(pipeline: &Path, device: &str, kill_at: Option<u64>) -> Output {
    let mut cmd = Command::new(kiln_bin());
    cmd.arg("run")
        .arg(pipeline)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "warn")
        .env("KILN_DEVICE", device);
    if let Some(step) = kill_at {
        cmd.arg("--fresh").env("KILN_FAULT_KILL_AT_STEP", step.to_string());
    }
    cmd.output().expect("kiln runs")
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("out").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn minhash_dedup_and_decontamination_agree_on_gpu_and_cpu_and_survive_a_kill() {
    let base = tempfile::tempdir().expect("tempdir");
    let (input, planted, leaks) = write_inputs(base.path());
    let mut results = Vec::new();
    for device in ["gpu", "cpu"] {
        let dir = base.path().join(device);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::copy(base.path().join("gsm8k.jsonl"), dir.join("gsm8k.jsonl")).expect("copy");
        let out = kiln_run(&write_pipeline(&dir, &input), device, None);
        assert!(out.status.success(), "{device}: {}", String::from_utf8_lossy(&out.stderr));
        results.push((read(&dir, "kept.jsonl"), read(&dir, "rejected.jsonl")));
        if device == "gpu" {
            let stats: serde_json::Value = serde_json::from_str(&read(&dir, "stats.json")).expect("json");
            let lines = input
                .metadata()
                .map(|_| std::fs::read_to_string(&input).expect("input").lines().count())
                .expect("input");
            let total = ["kept", "rejected", "quarantined"].iter().map(|k| stats[k].as_u64().expect("n")).sum::<u64>();
            assert_eq!(total, lines as u64, "every record is accounted for");
            let decontam = &stats["stages"][0];
            assert_eq!(decontam["details"]["records matching gsm8k"], leaks as u64, "{decontam}");
            assert_eq!(decontam["rejected"]["contaminated: gsm8k"], leaks as u64, "{decontam}");
            let dedup = &stats["stages"][1];
            let near = dedup["rejected"]["near-duplicate"].as_u64().unwrap_or(0);
            assert!(near >= planted as u64, "every planted near-duplicate is found: {near} of {planted}: {dedup}");
            let sizes: i64 =
                dedup["details"].as_object().expect("cluster sizes").values().filter_map(|v| v.as_i64()).sum();
            assert!(sizes > 0, "cluster sizes are reported: {dedup}");
            let rejected = read(&dir, "rejected.jsonl");
            for line in rejected.lines().filter(|l| l.contains("\"id\":\"near-")) {
                assert!(line.contains("\"reason\":\"near-duplicate of "), "{line}");
            }
            assert!(rejected.contains("\"reason\":\"contaminated: gsm8k ("));
        }
    }
    assert_eq!(results[0], results[1], "GPU and CPU runs give the same outputs");

    // Killed in the middle, then resumed: the same outputs as without a kill.
    let dir = base.path().join("killed");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(base.path().join("gsm8k.jsonl"), dir.join("gsm8k.jsonl")).expect("copy");
    let pipeline = write_pipeline(&dir, &input);
    let crashed = kiln_run(&pipeline, "cpu", Some(25));
    assert_eq!(crashed.status.signal(), Some(9), "{}", String::from_utf8_lossy(&crashed.stderr));
    let resumed = kiln_run(&pipeline, "gpu", None);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!((read(&dir, "kept.jsonl"), read(&dir, "rejected.jsonl")), results[0]);
}

#[test]
fn a_missing_benchmark_file_is_a_validation_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (input, _, _) = write_inputs(dir.path());
    std::fs::remove_file(dir.path().join("gsm8k.jsonl")).expect("rm");
    let out = Command::new(kiln_bin()).arg("validate").arg(write_pipeline(dir.path(), &input)).output().expect("kiln");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("benchmark `gsm8k`: cannot read") && err.contains("gsm8k.jsonl"), "{err}");
    assert!(err.contains("pipeline.toml:"), "the error names the pipeline file and line: {err}");
}
