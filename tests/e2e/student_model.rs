//! The `student` model backend end to end: a tiny student trained by a
//! `train-student` stage answers prompts — in the same pipeline (`stage =`)
//! and in another one (`checkpoint =`) — through the request cache; broken
//! checkpoints and misordered stages are refused before any work starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kiln_tests::{assert_balanced, detail, kiln_bin, lines, stats, target_dir, verify_stages, wasm};

fn kiln(dir: &Path, pipeline: &str, args: &[&str]) -> Output {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, pipeline).expect("write pipeline");
    Command::new(kiln_bin())
        .args(args)
        .arg(&file)
        .env("KILN_LOG", "warn")
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .output()
        .expect("run kiln")
}

fn run(dir: &Path, pipeline: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    kiln(dir, pipeline, &args)
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "kiln failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `config` of the `generate` stage: 2-digit sums and differences, as in
/// pipelines/gdr-arithmetic.toml.
const PROBLEMS: &str =
    r#"{ min_terms = 2, max_terms = 2, min_digits = 2, max_digits = 2, ops = ["+", "-"], style = "equation" }"#;

/// A pipeline that generates 300 solutions with the embedded teacher, trains
/// a tiny student on them (stage `student`), then has that student — named
/// by `stage` — answer the rewrite prompts of a `refine` stage.
fn training_pipeline() -> String {
    format!(
        r#"[pipeline]
name = "student-train"
seed = 5
chunk_size = 100
work_dir = "work"

[models.teacher]
backend = "wasm"
plugin = "{teacher}"
config = {{ carry_error_rate = 0.1, noise_rate = 0.0 }}

[models.own]
backend = "student"
stage = "student"
max_tokens = 40

[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "teacher"
count = 300
batch_size = 50
config = {PROBLEMS}

[[stage]]
name = "student"
kind = "train-student"
config = {{ context = 16, embed = 8, hidden = [64], steps = 400, batch = 64, lr = 0.01, seeds = [1], log_every = 50 }}

[[stage]]
name = "rewrite"
kind = "refine"
plugin = "{rewrite}"
model = "own"
attempts = 1
config = {{ min_similarity = 0.0 }}

[output]
dir = "out"
"#,
        teacher = wasm("arith_teacher").display(),
        problems = wasm("arith_problems").display(),
        rewrite = wasm("pii_rewrite").display(),
    )
}

/// The student the training pipeline trains (trained once per test process).
fn trained_student() -> PathBuf {
    static STUDENT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = STUDENT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = run(dir.path(), &training_pipeline(), &[]);
        ok(&output);
        let s = stats(dir.path());
        assert_balanced(&s);
        let path = dir.path().join("work/models/student/seed-1/model.safetensors");
        assert!(path.is_file(), "the stage saved its student at {}", path.display());
        // The stage's own student answered the refine stage, started after it was trained.
        assert!(detail(&s, 2, "requests") > 0, "the student answered the rewrite prompts: {}", s["stages"][2]);
        assert!(detail(&s, 2, "completion_tokens") > 0, "{}", s["stages"][2]);
        // Any rewrite is accepted (`min_similarity = 0`): kept rewrites name the stage's student.
        let kept = lines(dir.path().join("out/kept.jsonl"));
        assert!(!kept.is_empty(), "{}", s["stages"][2]);
        for r in &kept {
            let step = r["lineage"]["steps"][1].as_str().expect("the rewrite step");
            assert!(step.starts_with("rewrite=pii-rewrite@"), "{step}");
            assert!(step.contains(" model=own=student:student/seed-1#"), "{step}");
        }
        (dir, path)
    });
    path.clone()
}

fn student_pipeline(checkpoint: &Path, extra: &str) -> String {
    format!(
        r#"[pipeline]
name = "student-answers"
seed = 9
chunk_size = 40
work_dir = "work"

[models.student]
backend = "student"
checkpoint = "{checkpoint}"
temperature = 0.0
max_tokens = 60
{extra}
[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "student"
count = 120
batch_size = 32
round = 2
config = {PROBLEMS}

{verify}
[output]
dir = "out"
"#,
        checkpoint = checkpoint.display(),
        problems = wasm("arith_problems").display(),
        verify = verify_stages("scores.correct >= 1"),
    )
}

#[test]
fn a_trained_student_answers_prompts_through_the_cache() {
    let checkpoint = trained_student();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = student_pipeline(&checkpoint, "");
    ok(&kiln(dir.path(), &pipeline, &["validate"]));
    ok(&run(dir.path(), &pipeline, &[]));
    let s = stats(dir.path());
    assert_balanced(&s);
    assert_eq!(s["input_lines"], 120);
    // One completion per prompt; a problem asked twice is answered once (greedy: same key).
    let (requests, hits) = (detail(&s, 0, "requests"), detail(&s, 0, "cache_hits"));
    assert_eq!(requests + hits, 120, "{}", s["stages"][0]);
    assert!(requests >= 100, "{}", s["stages"][0]);
    let (prompt, completion) = (detail(&s, 0, "prompt_tokens"), detail(&s, 0, "completion_tokens"));
    assert!(prompt > requests * 30, "prompt characters are counted: {prompt}");
    assert!(completion > 0 && completion <= requests * 60, "at most max_tokens characters each: {completion}");

    // Whatever the student wrote is accounted for; what parsed names the student in its lineage.
    let outcomes: Vec<serde_json::Value> =
        ["kept", "rejected"].iter().flat_map(|f| lines(dir.path().join(format!("out/{f}.jsonl")))).collect();
    assert!(!outcomes.is_empty(), "the tiny student writes some parseable solutions: {s}");
    for r in &outcomes {
        let step = r["lineage"]["steps"][0].as_str().expect("step");
        assert!(step.starts_with("generate=arith-problems@"), "{step}");
        assert!(step.contains(" model=student=student:model.safetensors#"), "{step}");
        assert!(step.contains("\"temperature\":0.0") && step.contains("\"max_tokens\":60"), "{step}");
        assert_eq!(r["lineage"]["round"], 2);
    }
    for q in lines(dir.path().join("out/quarantine.jsonl")) {
        assert_eq!(q["stage"], "generate", "{q}");
    }

    // From scratch again: every answer comes from the request cache, and the same.
    let kept = std::fs::read(dir.path().join("out/kept.jsonl")).expect("kept");
    ok(&run(dir.path(), &pipeline, &["--fresh"]));
    let again = stats(dir.path());
    assert_balanced(&again);
    assert_eq!(detail(&again, 0, "cache_hits"), 120, "{}", again["stages"][0]);
    assert_eq!(detail(&again, 0, "requests"), 0);
    assert_eq!(detail(&again, 0, "completion_tokens"), 0);
    assert_eq!(std::fs::read(dir.path().join("out/kept.jsonl")).expect("kept"), kept, "greedy answers repeat");

    // Another temperature is another set of answers: not served from the cache.
    let sampled = pipeline.replace("temperature = 0.0", "temperature = 0.8");
    ok(&run(dir.path(), &sampled, &["--fresh"]));
    let s3 = stats(dir.path());
    assert_balanced(&s3);
    assert_eq!(detail(&s3, 0, "requests"), requests, "asked afresh: {}", s3["stages"][0]);
    assert_eq!(detail(&s3, 0, "cache_hits"), hits, "only a problem asked twice hits the cache");
}

#[test]
fn a_retrained_student_is_not_served_stale_answers() {
    let trained = trained_student();
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = dir.path().join("copy.safetensors");
    std::fs::copy(&trained, &checkpoint).expect("copy");
    let pipeline = student_pipeline(&checkpoint, "").replace("count = 120", "count = 20");
    ok(&run(dir.path(), &pipeline, &[]));
    assert_eq!(detail(&stats(dir.path()), 0, "requests"), 20);
    // Other weights in the same file (one weight's sign flipped): its digest
    // changes, so the cache misses.
    let mut bytes = std::fs::read(&checkpoint).expect("read");
    let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    bytes[8 + header + 3] ^= 0x80;
    std::fs::write(&checkpoint, &bytes).expect("write");
    ok(&kiln(dir.path(), &pipeline, &["validate"]));
    ok(&run(dir.path(), &pipeline, &["--fresh"]));
    let s = stats(dir.path());
    assert_eq!(detail(&s, 0, "cache_hits"), 0, "{}", s["stages"][0]);
    assert_eq!(detail(&s, 0, "requests"), 20);
}

#[test]
fn a_corrupt_checkpoint_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoint = dir.path().join("garbage.safetensors");
    std::fs::write(&checkpoint, b"\x07\x00\x00\x00\x00\x00\x00\x00not a safetensors file at all").expect("write");
    let pipeline = student_pipeline(&checkpoint, "");
    for command in ["validate", "run"] {
        let output = kiln(dir.path(), &pipeline, &[command]);
        assert!(!output.status.success(), "`kiln {command}` refuses a corrupt checkpoint");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("garbage.safetensors") && stderr.contains("corrupt"), "{command}: {stderr}");
        assert!(stderr.contains("model `student`"), "{command}: {stderr}");
    }
    assert!(!dir.path().join("out/stats.json").exists(), "nothing ran");

    let missing = student_pipeline(&dir.path().join("nowhere/model.safetensors"), "");
    let output = kiln(dir.path(), &missing, &["validate"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nowhere/model.safetensors") && stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("train it first with a pipeline that has a train-student stage"), "{stderr}");
}

#[test]
fn a_student_stage_must_come_before_the_stages_it_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `own` is trained by `student`, which comes after `judge`, the stage it should answer.
    let pipeline = training_pipeline().replace(
        "[[stage]]\nname = \"student\"",
        "[[stage]]\nname = \"judge\"\nkind = \"refine\"\nplugin = \"PLUGIN\"\nmodel = \"own\"\n\n[[stage]]\nname = \"student\"",
    );
    let pipeline = pipeline.replace("PLUGIN", &wasm("pii_rewrite").display().to_string());
    let output = kiln(dir.path(), &pipeline, &["validate"]);
    assert!(!output.status.success(), "refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = pipeline.lines().position(|l| l == "model = \"own\"").expect("the judge's model line") + 1;
    assert!(stderr.contains(&format!("pipeline.toml:{line}:")), "points at line {line}: {stderr}");
    assert!(
        stderr.contains("model `own` is the student that stage `student` trains, which comes after this stage"),
        "{stderr}"
    );

    // A stage that is not a train-student stage, and a seed it does not train.
    let wrong = training_pipeline().replace("stage = \"student\"", "stage = \"generate\"");
    let stderr = String::from_utf8_lossy(&kiln(dir.path(), &wrong, &["validate"]).stderr).into_owned();
    assert!(stderr.contains("`generate` is not a `train-student` stage of this pipeline"), "{stderr}");
    let seed = training_pipeline().replace("stage = \"student\"", "stage = \"student\"\nstudent_seed = 4");
    let stderr = String::from_utf8_lossy(&kiln(dir.path(), &seed, &["validate"]).stderr).into_owned();
    assert!(stderr.contains("stage `student` trains no seed 4"), "{stderr}");
    // Keys of other backends are refused.
    let keys = student_pipeline(Path::new("x.safetensors"), "base_url = \"http://127.0.0.1:1/v1\"\n");
    let stderr = String::from_utf8_lossy(&kiln(dir.path(), &keys, &["validate"]).stderr).into_owned();
    assert!(stderr.contains("model `student`: `base_url` is for `openai` models"), "{stderr}");
}
