//! One run split into tasks (`kiln task run|band|cluster|merge`, `kiln
//! launch local|slurm|k8s`): the merged outputs are the one-process run's
//! byte for byte — dedup stages (exact and MinHash) included, run as staged
//! steps across the tasks — a killed task resumes alone, a corrupt line
//! stays in its task, and pipelines whose stages cannot be split yet are
//! refused with the stage named.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{ObjectServer as _, kiln_bin, target_dir, wasm, workspace};

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

/// clean-web whole: [`pipeline`]'s stages, then exact and MinHash dedup,
/// over the sample with planted duplicates: for 150 records of 40 words or more an exact
/// copy (other spacing) and a near copy (one word changed), each
/// placed far after it, so most land in another task's shard.
fn dedup_pipeline(dir: &Path) -> (PathBuf, Vec<String>) {
    let file = pipeline(dir);
    let input = read(dir.join("in.jsonl"));
    let mut lines: Vec<String> = input.lines().map(str::to_string).collect();
    let mut planted = Vec::new();
    let originals: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["text"].as_str().is_some_and(|t| t.split_whitespace().count() >= 40))
        .take(150)
        .collect();
    for (n, r) in originals.iter().enumerate() {
        let (id, text) = (r["id"].as_str().expect("id"), r["text"].as_str().expect("text"));
        let words: Vec<&str> = text.split_whitespace().collect();
        let near: Vec<&str> =
            words.iter().enumerate().map(|(i, w)| if i == words.len() / 2 { "CHANGED" } else { *w }).collect();
        let at = (lines.len() * 2 / 3 + n * 3).min(lines.len());
        let exact = serde_json::json!({"id": format!("{id}-exact"), "text": format!("{}  ", text.replace(' ', "  "))});
        lines.insert(at, serde_json::json!({"id": format!("{id}-near"), "text": near.join(" ")}).to_string());
        lines.insert(at, exact.to_string());
        planted.push(id.to_string());
    }
    std::fs::write(dir.join("in.jsonl"), lines.join("\n") + "\n").expect("input");
    let dedup = "[[stage]]\nname = \"exact\"\nkind = \"dedup\"\n\n[[stage]]\nname = \"near\"\nkind = \"dedup\"\n\
                 config = { method = \"minhash\", shingle = \"words:5\", bands = 14, rows = 8 }\n\n[output]";
    std::fs::write(&file, read(file.clone()).replace("[output]", dedup)).expect("pipeline");
    (file, planted)
}

/// Every planted copy of an original that was kept (the filters before
/// dedup may reject one, and its copies with it or not) is rejected as a
/// duplicate of it, exact or near.
fn planted_are_rejected(out: &Path, planted: &[String]) {
    let kept: std::collections::HashSet<String> = read(out.join("kept.jsonl"))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].as_str().unwrap_or("").to_string())
        .collect();
    let planted: Vec<&String> = planted.iter().filter(|id| kept.contains(*id)).collect();
    let rejected = read(out.join("rejected.jsonl"));
    let reasons: std::collections::HashMap<String, String> = rejected
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .map(|r| (r["id"].as_str().unwrap_or("").to_string(), r["rejected"]["reason"].to_string()))
        .collect();
    assert!(planted.len() >= 10, "too few planted duplicates of kept records: {}", planted.len());
    for id in planted {
        for copy in ["exact", "near"] {
            let reason = reasons.get(&format!("{id}-{copy}")).map(String::as_str).unwrap_or("kept");
            assert!(reason.contains(&format!("duplicate of {id}")), "{id}-{copy}: {reason}");
        }
    }
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
    assert!(launched.contains("task(s) 2 of 4 to run"), "{launched}");
    let log = |rank: u32| dir.path().join(format!("work/tasks/{rank:05}-of-00004.log"));
    for rank in [0, 1, 3] {
        assert!(!log(rank).exists(), "finished task {rank} was started again");
    }
    assert!(read(log(2)).contains("resuming an interrupted run"), "{}", read(log(2)));
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

    // The inputs were counted once for the run; changed under it, a task
    // refuses rather than cut other shards than its siblings did, and a
    // launch started over counts again.
    assert!(dir.path().join("work/tasks/input-counts.json").is_file());
    let input = dir.path().join("in.jsonl");
    let mut text = read(input.clone());
    text.push_str("{\"id\":\"late\",\"text\":\"a record added after the run was counted, long enough to be kept\"}\n");
    std::fs::write(&input, text).expect("append");
    let refused = kiln(&["task", "run", p, "--rank", "1", "--world", "5"], &[]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && why.contains("the inputs changed since this split run counted them"), "{why}");
    let again = dir.path().join("again");
    ok(kiln(&["launch", "local", p, "--tasks", "2", "--fresh", "--out", again.to_str().expect("utf-8")], &[]));
    let stats: serde_json::Value = serde_json::from_str(&read(again.join("stats.json"))).expect("stats");
    assert_eq!(stats["input_lines"].as_u64(), counts(&one)["input_lines"].as_u64().map(|n| n + 1), "{stats}");
}

#[test]
fn dedup_runs_as_staged_steps_across_tasks_exactly_as_in_one_process_and_a_killed_filter_pass_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, planted) = dedup_pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));
    planted_are_rejected(&one, &planted);

    // Step by step: each task runs up to the first dedup stage and writes its keys.
    for rank in ["0", "1", "2"] {
        let said = ok(kiln(&["task", "run", p, "--rank", rank, "--world", "3"], &[]));
        assert!(said.contains("ran up to stage `exact`"), "{said}");
    }
    let early = kiln(&["task", "cluster", p, "--world", "3", "--stage", "exact"], &[]);
    let why = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success() && why.contains("band(s) 0 of stage `exact` are not merged"), "{why}");
    let merged = ok(kiln(&["task", "band", p, "--world", "3", "--stage", "exact", "--band", "0"], &[]));
    assert!(merged.contains("band 0 of stage `exact` done"), "{merged}");
    ok(kiln(&["task", "cluster", p, "--world", "3", "--stage", "exact"], &[]));
    let again = ok(kiln(&["task", "cluster", p, "--world", "3", "--stage", "exact"], &[]));
    assert!(again.contains("had been done; nothing to do"), "{again}");

    // Task 0's filter pass is killed after a few durable steps; the launch
    // resumes it from its last committed chunk and runs what is left.
    let killed = kiln(&["task", "run", p, "--rank", "0", "--world", "3"], &[("KILN_FAULT_KILL_AT_STEP", "25")]);
    assert_eq!(killed.status.signal(), Some(9), "{}", String::from_utf8_lossy(&killed.stderr));
    let launched = ok(kiln(&["launch", "local", p, "--tasks", "3"], &[]));
    assert!(launched.contains("kiln launch local (3 tasks)"), "{launched}");
    let task0 = read(dir.path().join("work/tasks/00000-of-00003.log"));
    assert!(task0.contains("resuming an interrupted run"), "{task0}");
    let exact_log = dir.path().join("work/tasks/exact-band-000.log");
    assert!(!exact_log.exists(), "the merged band of `exact` was run again");
    same_outputs(&one, &dir.path().join("out"));
    planted_are_rejected(&dir.path().join("out"), &planted);

    // A fresh launch with another split gives the same again.
    let two = dir.path().join("two");
    ok(kiln(&["launch", "local", p, "--tasks", "2", "--fresh", "--out", two.to_str().expect("utf-8")], &[]));
    same_outputs(&one, &two);
}

/// Generate → judge → train a classifier on the judged records (a barrier)
/// → classify: the classifier must be trained once, on every task's
/// records, before any task classifies.
fn training_pipeline(dir: &Path) -> PathBuf {
    let toml = format!(
        r#"[pipeline]
name = "split-training"
seed = 3
chunk_size = 100
work_dir = "work"

[models.teacher]
backend = "wasm"
plugin = "{teacher}"
config = {{ carry_error_rate = 0.9, noise_rate = 0.0 }}

[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "teacher"
count = 600
config = {{ min_terms = 2, max_terms = 2, min_digits = 2, max_digits = 2, ops = ["+"], style = "equation" }}

[[stage]]
name = "judge"
kind = "critique"
plugin = "{verifier}"
fraction = 0.5

[[stage]]
name = "quality"
kind = "train-classifier"
config = {{ label = "scores.correct", positive_at = 1.0, buckets = 4096, dim = 16, steps = 300, batch = 32, lr = 0.02 }}

[[stage]]
name = "classify"
kind = "classify"
config = {{ classifier = "quality", min_score = 0.5 }}

[output]
dir = "out"
"#,
        teacher = wasm("arith-teacher").display(),
        problems = wasm("arith-problems").display(),
        verifier = wasm("arith-verifier").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).expect("pipeline");
    path
}

#[test]
fn a_training_stage_runs_once_over_every_tasks_records_and_the_tasks_go_on_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = training_pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));

    // Each task stops at the barrier; the job refuses to run before all got there.
    let said = ok(kiln(&["task", "run", p, "--rank", "0", "--world", "3"], &[]));
    assert!(said.contains("ran up to stage `quality`"), "{said}");
    let early = kiln(&["task", "job", p, "--world", "3", "--stage", "quality"], &[]);
    let why = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success() && why.contains("task(s) 1,2 of 3 have not reached stage `quality`"), "{why}");
    let launched = ok(kiln(&["launch", "local", p, "--tasks", "3"], &[]));
    assert!(launched.contains("task(s) 1,2 of 3 to run") && launched.contains("the job of `quality`"), "{launched}");
    let trained = read(dir.path().join("work/tasks/quality-job.log"));
    assert!(trained.contains("the job of stage `quality` done"), "{trained}");
    same_outputs(&one, &dir.path().join("out"));
    let stats: serde_json::Value = serde_json::from_str(&read(dir.path().join("out/stats.json"))).expect("stats");
    assert_eq!(stats["jobs"][0]["job"], "train-classifier", "{stats}");

    // Started over with another split, the job trains again and gives the same.
    let two = dir.path().join("two");
    let again =
        ok(kiln(&["launch", "local", p, "--tasks", "2", "--fresh", "--out", two.to_str().expect("utf-8")], &[]));
    assert!(again.contains("the job of `quality`"), "{again}");
    same_outputs(&one, &two);
}

/// A work directory on object storage: every process (each task, band
/// merge, clustering, job and the merge) works in a scratch copy of its own,
/// so the store is all they share — as pods or nodes without a shared file
/// system would.
#[test]
fn a_work_directory_on_object_storage_is_all_the_processes_share() {
    let s3 = kiln_tests::LocalS3::start();
    s3.create_bucket("runs");
    let env: Vec<(&str, String)> = s3.env();
    let scratch = tempfile::tempdir().expect("scratch");
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("KILN_WORK_SCRATCH", scratch.path().to_str().expect("utf-8")));
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        env.iter().copied().chain(extra.iter().copied()).collect()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, planted) = dedup_pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));

    // A task killed after some twenty commits left its committed chunks in the store (at most
    // the last nine, still queued for upload, were lost with it)...
    let work = "s3://runs/dedup/work";
    let killed = kiln(
        &["task", "run", p, "--rank", "0", "--world", "3", "--work-dir", work],
        &with(&[("KILN_FAULT_KILL_AT_STEP", "40")]),
    );
    assert_eq!(killed.status.signal(), Some(9), "{}", String::from_utf8_lossy(&killed.stderr));
    let keys = s3.keys("runs", "dedup/work");
    assert!(keys.contains(&"dedup/work/tasks/00000-of-00003/manifest.json".to_string()), "{keys:?}");
    // ...and the launch resumes it from there in another scratch copy.
    let out = dir.path().join("out-s3");
    let launched = ok(kiln(
        &["launch", "local", p, "--tasks", "3", "--work-dir", work, "--out", out.to_str().expect("utf-8")],
        &env,
    ));
    assert!(launched.contains("kiln launch local (3 tasks)"), "{launched}");
    same_outputs(&one, &out);
    planted_are_rejected(&out, &planted);
    let object = |key: &str| String::from_utf8(s3.get("runs", key).unwrap_or_else(|| panic!("{key}"))).expect("utf-8");
    let log = object("dedup/work/tasks/00000-of-00003.log");
    assert!(log.contains("resuming an interrupted run"), "{log}");
    // (The one-process run above used the local `work`; the split run left nothing there.)
    assert!(!dir.path().join("work/tasks").exists(), "nothing of the split run is on the local file system");
    let keys = s3.keys("runs", "dedup/work");
    for key in &keys {
        assert!(
            !key.contains("/cache/") && !key.ends_with("run.lock") && !key.contains(".tmp"),
            "{key} left the machine"
        );
    }
    for marker in
        ["tasks/staged-of-00003/near/cluster/done", "tasks/00002-of-00003/out/done", "tasks/input-counts.json"]
    {
        assert!(keys.contains(&format!("dedup/work/{marker}")), "{marker}: {keys:?}");
    }
    // Only the killed task's scratch copy is left behind: the others were removed.
    let left = std::fs::read_dir(scratch.path()).expect("scratch").count();
    assert_eq!(left, 1, "one scratch copy per killed process");
    // Run again: every piece had finished, so nothing runs but the merge.
    let again = ok(kiln(
        &["launch", "local", p, "--tasks", "3", "--work-dir", work, "--out", out.to_str().expect("utf-8")],
        &env,
    ));
    assert!(!again.contains("to run"), "{again}");
    same_outputs(&one, &out);

    // A training stage's job trains once and the tasks read what it trained from the store.
    let training_dir = dir.path().join("training");
    std::fs::create_dir_all(&training_dir).expect("mkdir");
    let training = training_pipeline(&training_dir);
    let t = training.to_str().expect("utf-8");
    let trained_once = dir.path().join("trained-one");
    ok(kiln(&["run", t, "--out", trained_once.to_str().expect("utf-8")], &[]));
    let trained = dir.path().join("trained-s3");
    ok(kiln(
        &[
            "launch",
            "local",
            t,
            "--tasks",
            "2",
            "--work-dir",
            "s3://runs/training/work",
            "--out",
            trained.to_str().expect("utf-8"),
        ],
        &env,
    ));
    let published = |dir: &Path| {
        let mut stats = counts(dir);
        let checkpoint = stats["jobs"][0]["checkpoint"].take();
        (stats, checkpoint.as_str().unwrap_or_default().to_string())
    };
    let ((once, _), (split, shown)) = (published(&trained_once), published(&trained));
    assert_eq!(once, split);
    assert_eq!(shown, "s3://runs/training/work/models/quality/classifier.safetensors", "where a user finds it");
    for file in ["kept.jsonl", "rejected.jsonl", "quarantine.jsonl"] {
        assert!(read(trained_once.join(file)) == read(trained.join(file)), "{file} differs");
    }

    // One process resumes from the store as well.
    let single = "s3://runs/single/work";
    let resumed_out = dir.path().join("single");
    let o = resumed_out.to_str().expect("utf-8");
    let killed = kiln(&["run", p, "--work-dir", single, "--out", o], &with(&[("KILN_FAULT_KILL_AT_STEP", "40")]));
    assert_eq!(killed.status.signal(), Some(9), "{}", String::from_utf8_lossy(&killed.stderr));
    let resumed = ok(kiln(&["run", p, "--work-dir", single, "--out", o], &env));
    assert!(resumed.contains("resumed from an earlier run"), "{resumed}");
    same_outputs(&one, &resumed_out);
    // Started over: Kiln's objects are deleted in the store (an orphan chunk
    // with them), not brought down; an object Kiln did not write stays.
    s3.put("runs", "single/work/chunks/99999999.kept.jsonl", b"orphan".to_vec());
    s3.put("runs", "single/work/notes.txt", b"the team's".to_vec());
    let fresh = ok(kiln(&["run", p, "--fresh", "--work-dir", single, "--out", o], &env));
    assert!(!fresh.contains("resumed from an earlier run"), "{fresh}");
    same_outputs(&one, &resumed_out);
    assert!(s3.get("runs", "single/work/chunks/99999999.kept.jsonl").is_none(), "the orphan chunk was removed");
    assert!(s3.get("runs", "single/work/notes.txt").is_some(), "what Kiln did not write stays");

    // Slurm's jobs write their scripts and logs in the work directory: it must be on a shared file system.
    let slurm = kiln(&["launch", "slurm", p, "--tasks", "2", "--work-dir", work], &env);
    let why = String::from_utf8_lossy(&slurm.stderr);
    assert!(!slurm.status.success() && why.contains("must be on the file system every node sees"), "{why}");
}

/// Azure Blob Storage through `az://` URLs, against Azurite (Microsoft's
/// emulator), with an account key as in Azure: a run split in two tasks
/// with its work directory and its outputs in containers gives the
/// one-process run's outputs byte for byte, and a run reading its input by
/// a glob over blobs keeps the same records.
#[test]
fn azure_blob_storage_holds_inputs_outputs_and_the_work_directory() {
    let azure = kiln_tests::LocalAzurite::start();
    for container in ["runs", "curated"] {
        azure.create_bucket(container);
    }
    let scratch = tempfile::tempdir().expect("scratch");
    let env: Vec<(&str, String)> = azure.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("KILN_WORK_SCRATCH", scratch.path().to_str().expect("utf-8")));
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, planted) = dedup_pipeline(dir.path());
    let p = file.to_str().expect("utf-8");
    let one = dir.path().join("one");
    ok(kiln(&["run", p, "--out", one.to_str().expect("utf-8")], &[]));

    let launched = ok(kiln(
        &["launch", "local", p, "--tasks", "2", "--work-dir", "az://runs/dedup", "--out", "az://curated/dedup"],
        &env,
    ));
    assert!(launched.contains("az://curated/dedup/"), "the outputs are named by their blobs: {launched}");
    let published = dir.path().join("published");
    std::fs::create_dir_all(&published).expect("mkdir");
    for name in ["kept.jsonl", "rejected.jsonl", "quarantine.jsonl", "stats.json"] {
        let blob = azure.get("curated", &format!("dedup/{name}")).unwrap_or_else(|| panic!("{name} was not published"));
        std::fs::write(published.join(name), blob).expect("write");
    }
    same_outputs(&one, &published);
    planted_are_rejected(&published, &planted);
    let keys = azure.keys("runs", "dedup");
    for marker in ["tasks/staged-of-00002/near/cluster/done", "tasks/00001-of-00002/out/done"] {
        assert!(keys.contains(&format!("dedup/{marker}")), "{marker}: {keys:?}");
    }
    assert!(keys.iter().all(|k| !k.contains("/cache/") && !k.ends_with("run.lock") && !k.contains(".tmp")), "{keys:?}");

    // The input read from blobs by a glob: the same records kept, their lineage naming the blob.
    azure.put("corpus", "web/2026/in.jsonl", read(dir.path().join("in.jsonl")).into_bytes());
    let globbed = dir.path().join("globbed.toml");
    std::fs::write(
        &globbed,
        read(file.clone()).replace("path = \"in.jsonl\"", "path = \"az://corpus/web/*/in.jsonl\""),
    )
    .expect("pipeline");
    let from_blobs = dir.path().join("from-blobs");
    let g = globbed.to_str().expect("utf-8");
    ok(kiln(&["run", g, "--work-dir", "az://runs/globbed", "--out", from_blobs.to_str().expect("utf-8")], &env));
    let ids_and_sources = |out: &Path| -> Vec<(String, String)> {
        read(out.join("kept.jsonl"))
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).expect("json");
                let source = r["lineage"]["source"].as_str().unwrap_or_default().to_string();
                (r["id"].as_str().unwrap_or_default().to_string(), source)
            })
            .collect()
    };
    let (local, blobs) = (ids_and_sources(&one), ids_and_sources(&from_blobs));
    assert_eq!(local.iter().map(|r| &r.0).collect::<Vec<_>>(), blobs.iter().map(|r| &r.0).collect::<Vec<_>>());
    assert!(blobs.iter().all(|(_, source)| source.starts_with("az://corpus/web/2026/in.jsonl")), "{:?}", blobs[0]);

    // A container that is not there is named as one, before anything runs.
    let missing = kiln(&["run", p, "--out", "az://nosuch/out"], &env);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("the container `nosuch` does not exist"), "{stderr}");

    // A wrong account key is refused by kind, with where credentials come from; no key is ever printed.
    let key = env.iter().find(|(name, _)| *name == "AZURE_STORAGE_ACCOUNT_KEY").map(|(_, key)| *key).expect("a key");
    let wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let wrong: Vec<(&str, &str)> = env
        .iter()
        .map(|&(name, value)| if name == "AZURE_STORAGE_ACCOUNT_KEY" { (name, wrong_key) } else { (name, value) })
        .collect();
    let refused = kiln(&["run", g, "--work-dir", "az://runs/refused"], &wrong);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("denied") || stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("AZURE_STORAGE_ACCOUNT_KEY"), "the hint names the variables: {stderr}");
    for printed in [&stderr, launched.as_str()] {
        assert!(!printed.contains(wrong_key) && !printed.contains(key), "a key was printed: {printed}");
    }
}

#[test]
fn a_pipeline_with_rounds_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = workspace().join("pipelines/self-verify.toml");
    let p = file.to_str().expect("utf-8");
    let work = dir.path().join("work");
    let dirs = ["--work-dir", work.to_str().expect("utf-8")];
    for args in [vec!["launch", "local", p, "--tasks", "2"], vec!["task", "run", p, "--rank", "0", "--world", "2"]] {
        let out = kiln(&[&args[..], &dirs[..]].concat(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("[rounds]") && stderr.contains("kiln run"), "{stderr}");
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
fn slurm_job_arrays_give_the_one_process_run_of_clean_web_and_a_failed_task_is_resubmitted_alone() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, planted) = dedup_pipeline(dir.path());
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
    assert!(stderr.contains("resubmit only"), "{stderr}");
    assert!(!dir.path().join("out/kept.jsonl").exists(), "no merge without every task");
    let queue = Command::new("squeue").args(["-h", "-o", "%j"]).output().expect("squeue");
    let left = String::from_utf8_lossy(&queue.stdout).to_string();
    assert!(!left.contains("kiln-split"), "jobs that can never run were left in the queue: {left}");

    // Fixed and launched again: only task 2 is submitted; the merged outputs are the one-process run's.
    std::fs::remove_file(&blocker).expect("remove");
    let stderr = ok(kiln(&["launch", "slurm", p, "--tasks", "4"], &[]));
    assert!(stderr.contains("runs task(s) 2 of 4"), "{stderr}");
    assert!(stderr.contains("merges band(s) 0,1,2,3,4,5,6,7,8,9,10,11,12,13 of 14 of dedup stage `near`"), "{stderr}");
    assert!(stderr.contains("kiln launch slurm (4 tasks)"), "{stderr}");
    same_outputs(&one, &dir.path().join("out"));
    planted_are_rejected(&dir.path().join("out"), &planted);
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
    let (file, _) = dedup_pipeline(dir.path());
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
            "--env-secret",
            "AWS_SECRET_ACCESS_KEY=s3-credentials/secret-key",
            "--manifests",
            manifests.to_str().expect("utf-8"),
        ],
        &[],
    ));
    assert!(stderr.contains("kubectl wait --for=condition=complete"), "{stderr}");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&manifests).expect("manifests").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.file_name().expect("name").to_string_lossy().to_string()).collect();
    assert_eq!(
        names,
        [
            "01-tasks-to-exact.json",
            "02-exact-bands.json",
            "03-exact-cluster.json",
            "04-tasks-to-near.json",
            "05-near-bands.json",
            "06-near-cluster.json",
            "07-tasks.json",
            "08-merge.json"
        ]
    );
    let checked = kubernetes_validate(&files);
    let said = String::from_utf8_lossy(&checked.stdout).to_string() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.matches("passed").count() == files.len(), "{said}");
    // The validator is strict: a misspelt field fails it.
    let misspelt = dir.path().join("misspelt.json");
    std::fs::write(&misspelt, read(files[0].clone()).replace("completionMode", "completionMod")).expect("write");
    assert!(!kubernetes_validate(&[misspelt]).status.success(), "kubernetes-validate accepts anything");

    // Each Job's indices run its command with the index Kubernetes gives them, in order; then the merge.
    let args = |manifest: &serde_json::Value| -> Vec<String> {
        let container = &manifest["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][0], "kiln");
        container["args"].as_array().expect("args").iter().map(|a| a.as_str().expect("text").to_string()).collect()
    };
    for file in &files {
        let job: serde_json::Value = serde_json::from_str(&read(file.clone())).expect("json");
        let words = args(&job);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if job["spec"]["completionMode"] == "Indexed" {
            assert_eq!(job["spec"]["backoffLimitPerIndex"], 2);
            for index in 0..job["spec"]["completions"].as_u64().expect("completions") {
                ok(kiln(&words, &[("JOB_COMPLETION_INDEX", &index.to_string())]));
            }
        } else {
            ok(kiln(&words, &[]));
        }
    }
    same_outputs(&one, &dir.path().join("out"));
}
