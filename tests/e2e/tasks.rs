//! One run split into tasks (`kiln task run|merge`, `kiln launch local`):
//! the merged outputs are the one-process run's byte for byte, a killed task
//! resumes alone, a corrupt line stays in its task, and pipelines whose
//! stages need the whole corpus are refused with the stage named.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{kiln_bin, target_dir, wasm, workspace};

/// clean-web's streaming stages (decontamination, length, Gopher quality,
/// PII redaction) over the sample, with a bad line planted near the end, in
/// chunks of 100.
fn pipeline(dir: &Path) -> PathBuf {
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let mut lines: Vec<&str> = sample.lines().collect();
    lines.insert(lines.len() - 20, "{\"id\": \"broken\", \"text\": ");
    std::fs::write(dir.join("in.jsonl"), lines.join("\n") + "\n").expect("input");
    let data = workspace().join("pipelines/data");
    let toml = format!(
        r#"[pipeline]
name = "split"
chunk_size = 100

[[input]]
path = "in.jsonl"

[[stage]]
name = "decontam"
kind = "decontaminate"
config = {{ benchmarks = [{{ name = "heldout", path = "{heldout}", fields = ["question"] }}] }}

[[stage]]
name = "length"
kind = "filter"
plugin = "{length}"
config = {{ min_words = 20, max_chars = 100000 }}

[[stage]]
name = "quality"
kind = "filter"
plugin = "{quality}"

[[stage]]
name = "pii"
kind = "map"
plugin = "{pii}"

[output]
dir = "out"
"#,
        heldout = data.join("heldout-eval.jsonl").display(),
        length = wasm("length-filter").display(),
        quality = wasm("gopher-quality").display(),
        pii = wasm("pii-redact").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).expect("pipeline");
    path
}

fn kiln(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(kiln_bin())
        .args(args)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .expect("kiln runs")
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `stats.json` without timings.
fn counts(dir: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("seconds");
                map.remove("resumed_chunks");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(&read(dir.join("stats.json"))).expect("stats");
    strip(&mut v);
    v
}

fn same_outputs(a: &Path, b: &Path) {
    for file in ["kept.jsonl", "rejected.jsonl", "quarantine.jsonl"] {
        assert!(read(a.join(file)) == read(b.join(file)), "{file} differs between {} and {}", a.display(), b.display());
    }
    assert_eq!(counts(a), counts(b));
}

#[test]
fn four_local_tasks_give_the_one_process_run_byte_for_byte_and_a_killed_task_resumes_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));
    let stats: serde_json::Value = serde_json::from_str(&read(one.join("stats.json"))).expect("stats");
    assert_eq!(stats["quarantined"], 1, "the planted line: {stats}");
    assert!(stats["kept"].as_u64().unwrap_or(0) > 10 && stats["chunks"].as_u64().unwrap_or(0) >= 16, "{stats}");

    // Tasks 0, 1 and 3 run; task 2 is killed (SIGKILL) after a few durable steps.
    for rank in ["0", "1", "3"] {
        ok(kiln(&["task", "run", p, "--rank", rank, "--world", "4"], &[]));
    }
    let killed = kiln(&["task", "run", p, "--rank", "2", "--world", "4"], &[("KILN_FAULT_KILL_AT_STEP", "25")]);
    assert_eq!(killed.status.signal(), Some(9), "{}", String::from_utf8_lossy(&killed.stderr));
    let merge = kiln(&["task", "merge", p, "--world", "4"], &[]);
    assert!(!merge.status.success());
    let why = String::from_utf8_lossy(&merge.stderr);
    assert!(why.contains("task(s) 2 of 4 have not finished"), "{why}");

    // Launching the split again reruns only task 2, from its last committed chunk.
    let launched = ok(kiln(&["launch", "local", p, "--tasks", "4"], &[]));
    assert!(launched.contains("kiln launch local (4 tasks)"), "{launched}");
    let log = |rank: u32| read(dir.path().join(format!("work/tasks/{rank:05}-of-00004.log")));
    for rank in [0, 1, 3] {
        assert!(log(rank).contains("had finished; nothing to do"), "task {rank}: {}", log(rank));
    }
    assert!(log(2).contains("resuming an interrupted run"), "{}", log(2));
    same_outputs(&one, &dir.path().join("out"));

    // The planted line is quarantined by the task that owns it, and only there.
    let quarantined: Vec<u64> = (0..4)
        .map(|rank| {
            let task = dir.path().join(format!("work/tasks/{rank:05}-of-00004/out/stats.json"));
            serde_json::from_str::<serde_json::Value>(&read(task)).expect("task stats")["quarantined"]
                .as_u64()
                .expect("count")
        })
        .collect();
    assert_eq!(quarantined, [0, 0, 0, 1]);

    // Another split is another run: its tasks never resume these.
    let three = dir.path().join("three");
    ok(kiln(&["launch", "local", p, "--tasks", "3", "--out", three.to_str().expect("utf-8")], &[]));
    same_outputs(&one, &three);
}

#[test]
fn stages_that_need_the_whole_corpus_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline(dir.path());
    let text = read(file.clone()) + "";
    let text = text.replace("[output]", "[[stage]]\nname = \"exact\"\nkind = \"dedup\"\n\n[output]");
    std::fs::write(&file, text).expect("pipeline");
    let p = file.to_str().expect("utf-8");
    for args in [vec!["launch", "local", p, "--tasks", "2"], vec!["task", "run", p, "--rank", "0", "--world", "2"]] {
        let out = kiln(&args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("`exact`") && stderr.contains("kiln run"), "{stderr}");
    }
    let out = kiln(&["task", "run", p, "--rank", "2", "--world", "2"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ranks count from 0"));
}

/// Slurm's tools, or a failure saying how to get them.
fn require_slurm() {
    let up = Command::new("sinfo").arg("-h").output();
    assert!(
        up.as_ref().is_ok_and(|o| o.status.success()),
        "the Slurm tests need a running cluster: `apt-get install slurmctld slurmd slurm-client munge` and \
         `.ci/slurm-up.sh` (which .ci/run does) — {up:?}"
    );
}

#[test]
fn a_slurm_job_array_gives_the_one_process_run_and_a_failed_task_is_resubmitted_alone() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));

    // Task 2 cannot make its work directory (a file is in the way): it fails,
    // the others finish, and the merge — which depends on all of them — is
    // cancelled rather than left pending for ever.
    let blocker = dir.path().join("work/tasks/00002-of-00004");
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("mkdir");
    std::fs::write(&blocker, "in the way").expect("blocker");
    let failed = kiln(&["launch", "slurm", p, "--tasks", "4"], &[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("runs task(s) 0,1,2,3 of 4"), "{stderr}");
    assert!(stderr.contains("task 2 did not finish") && stderr.contains("00002-of-00004"), "{stderr}");
    assert!(stderr.contains("3 of 4 task(s) finished"), "{stderr}");
    assert!(!dir.path().join("out/kept.jsonl").exists(), "no merge without every task");
    let queue = Command::new("squeue").args(["-h", "-n", "kiln-split-merge"]).output().expect("squeue");
    assert!(String::from_utf8_lossy(&queue.stdout).trim().is_empty(), "the merge job was left in the queue");

    // Fixed and launched again: only task 2 is submitted; the merged outputs are the one-process run's.
    std::fs::remove_file(&blocker).expect("remove");
    let stderr = ok(kiln(&["launch", "slurm", p, "--tasks", "4"], &[]));
    assert!(stderr.contains("runs task(s) 2 of 4"), "{stderr}");
    assert!(stderr.contains("kiln launch slurm (4 tasks)"), "{stderr}");
    same_outputs(&one, &dir.path().join("out"));
}

/// kubernetes-validate (from PyPI; `cargo xtask test` installs it and sets
/// the variable) on `files`, strict, against Kubernetes 1.33.
fn kubernetes_validate(files: &[PathBuf]) -> Output {
    let bin = std::env::var("KILN_KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    Command::new(&bin).args(["--strict", "-k", "1.33.0"]).args(files).output().unwrap_or_else(|e| {
        panic!("{bin}: {e} (the Kubernetes test needs kubernetes-validate: run the tests with `cargo xtask test`)")
    })
}

#[test]
fn kubernetes_manifests_validate_and_their_commands_give_the_one_process_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));
    let manifests = dir.path().join("k8s");
    let stderr = ok(kiln(
        &[
            "launch",
            "k8s",
            p,
            "--tasks",
            "3",
            "--image",
            "registry.example.com/kiln:0.1",
            "--volume-claim",
            "corpus",
            "--mount",
            "/data",
            "--env",
            "KILN_LOG=info",
            "--manifests",
            manifests.to_str().expect("utf-8"),
        ],
        &[],
    ));
    assert!(stderr.contains("kubectl wait --for=condition=complete"), "{stderr}");
    let files = [manifests.join("tasks.json"), manifests.join("merge.json")];
    let checked = kubernetes_validate(&files);
    let said = String::from_utf8_lossy(&checked.stdout).to_string() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.matches("passed").count() == 2, "{said}");
    // The validator is strict: a misspelt field fails it.
    let tasks: serde_json::Value = serde_json::from_str(&read(files[0].clone())).expect("json");
    let misspelt = dir.path().join("misspelt.json");
    std::fs::write(&misspelt, read(files[0].clone()).replace("completionMode", "completionMod")).expect("write");
    assert!(!kubernetes_validate(&[misspelt]).status.success(), "kubernetes-validate accepts anything");

    // Each index runs the Job's command with the rank Kubernetes gives it; then the merge.
    assert_eq!(tasks["spec"]["completionMode"], "Indexed");
    assert_eq!(tasks["spec"]["backoffLimitPerIndex"], 2);
    let args = |manifest: &serde_json::Value| -> Vec<String> {
        let container = &manifest["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][0], "kiln");
        container["args"].as_array().expect("args").iter().map(|a| a.as_str().expect("text").to_string()).collect()
    };
    let task_args = args(&tasks);
    let words: Vec<&str> = task_args.iter().map(String::as_str).collect();
    for index in ["0", "1", "2"] {
        ok(kiln(&words, &[("JOB_COMPLETION_INDEX", index)]));
    }
    let merge: serde_json::Value = serde_json::from_str(&read(files[1].clone())).expect("json");
    let merge_args = args(&merge);
    ok(kiln(&merge_args.iter().map(String::as_str).collect::<Vec<_>>(), &[]));
    same_outputs(&one, &dir.path().join("out"));
}
