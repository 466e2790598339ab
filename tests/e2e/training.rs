//! Training stages end to end through the `kiln` binary: the refinement
//! demonstration (`pipelines/gdr-arithmetic.toml` as shipped: a student
//! trained on verified data beats one trained on raw teacher output with the
//! same compute, over five seeds, on held-out problems), small pipelines for
//! resumption and the classifier, and bad input — an empty training set, a
//! single class, a diverged run, corrupt and mis-shaped checkpoints — each
//! stopping the run with a clear error from which a rerun resumes.

use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::{assert_balanced, kiln_bin, stats, verify_stages, wasm, workspace};

fn kiln(args: &[&str], file: &Path) -> Output {
    let mut command = Command::new(kiln_bin());
    command.args(args).arg(file).env("KILN_LOG", "warn").env("KILN_DEVICE", "cpu");
    command.output().expect("run kiln")
}

fn run(dir: &Path, pipeline: &str) -> Output {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, pipeline).expect("write pipeline");
    kiln(&["run"], &file)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn job<'a>(s: &'a serde_json::Value, stage: &str) -> &'a serde_json::Value {
    s["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["stage"] == stage))
        .unwrap_or_else(|| panic!("no job report for `{stage}` in {s}"))
}

/// The start of an arithmetic pipeline: the embedded teacher with settings
/// `teacher` and a `generate` stage of `count` two-digit equations over `ops`.
fn arithmetic(name: &str, chunk_size: usize, teacher: &str, count: usize, ops: &str) -> String {
    format!(
        r#"[pipeline]
name = "{name}"
seed = 3
chunk_size = {chunk_size}
work_dir = "work"

[models.teacher]
backend = "wasm"
plugin = "{plugin}"
config = {{ {teacher} }}

[[stage]]
name = "generate"
kind = "generate"
plugin = "{problems}"
model = "teacher"
count = {count}
config = {{ min_terms = 2, max_terms = 2, min_digits = 2, max_digits = 2, ops = {ops}, style = "equation" }}
"#,
        plugin = wasm("arith-teacher").display(),
        problems = wasm("arith-problems").display(),
    )
}

/// The first 60 items of the shipped held-out set, as `dir/heldout.jsonl`.
fn write_heldout(dir: &Path) {
    let heldout: Vec<String> = std::fs::read_to_string(workspace().join("pipelines/data/arith-heldout.jsonl"))
        .expect("held-out file")
        .lines()
        .take(60)
        .map(str::to_string)
        .collect();
    std::fs::write(dir.join("heldout.jsonl"), heldout.join("\n")).expect("write held-out");
}

/// A small generate → train → verify → threshold → train → eval pipeline.
fn small(dir: &Path, student: &str, threshold: &str) -> String {
    write_heldout(dir);
    format!(
        r#"{start}
[[stage]]
name = "raw"
kind = "train-student"
config = {student}

{verify}
[[stage]]
name = "refined"
kind = "train-student"
config = {student}

[[stage]]
name = "eval"
kind = "eval"
config = {{ students = ["raw", "refined"], heldout = "heldout.jsonl" }}

[output]
dir = "out"
"#,
        start = arithmetic("small-gdr", 100, "carry_error_rate = 0.5, noise_rate = 0.05", 300, r#"["+", "-"]"#),
        verify = verify_stages(threshold),
    )
}

const TINY: &str =
    "{ context = 16, embed = 8, hidden = [64], steps = 150, batch = 64, log_every = 25, seeds = [1, 2] }";

#[test]
fn the_refined_student_beats_the_raw_one_with_the_same_compute() {
    let pipeline = workspace().join("pipelines/gdr-arithmetic.toml");
    let out = kiln(&["run", "--fresh"], &pipeline);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("target/pipelines/gdr-arithmetic/out/stats.json")).expect("stats"),
    )
    .expect("json");
    assert_balanced(&s);
    let eval = job(&s, "eval");
    assert!(eval["items"].as_u64().expect("items") >= 300, "{eval}");
    let students = eval["students"].as_array().expect("students");
    let score = |name: &str| students.iter().find(|x| x["student"] == name).expect("student").clone();
    let (raw, refined) = (score("student-raw"), score("student-refined"));
    for s in [&raw, &refined] {
        assert_eq!(s["seeds"].as_array().expect("seeds").len(), 5, "{s}");
        assert!(s["accuracy"]["half_width"].as_f64().expect("ci") > 0.0, "{s}");
    }
    assert_eq!(raw["training_tokens"], refined["training_tokens"], "same compute");
    assert!(
        raw["training_records"].as_u64() > refined["training_records"].as_u64(),
        "the refined set is smaller: {raw} {refined}"
    );
    // A clear margin: ten points at least, and the 95% intervals over the
    // seeds do not overlap.
    let (mean, half) = (
        |s: &serde_json::Value| s["accuracy"]["mean"].as_f64().expect("mean"),
        |s: &serde_json::Value| s["accuracy"]["half_width"].as_f64().expect("half width"),
    );
    assert!(mean(&refined) > mean(&raw) + 0.10, "refined {} vs raw {}", mean(&refined), mean(&raw));
    assert!(mean(&refined) - half(&refined) > mean(&raw) + half(&raw), "intervals overlap: {refined} vs {raw}");
    let html =
        std::fs::read_to_string(workspace().join("target/pipelines/gdr-arithmetic/out/report.html")).expect("report");
    assert!(html.contains("Held-out evaluation") && html.contains("Training loss"), "report shows the comparison");
}

#[test]
fn training_resumes_and_a_changed_learning_rate_retrains_without_regenerating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &small(dir.path(), TINY, "scores.correct >= 1"));
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stats(dir.path());
    assert_balanced(&first);
    let model = dir.path().join("work/models/refined/seed-1/model.safetensors");
    assert!(model.is_file(), "checkpoint at {}", model.display());
    // The same run again: every phase and job is done, nothing retrains.
    let again = run(dir.path(), &small(dir.path(), TINY, "scores.correct >= 1"));
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(job(&stats(dir.path()), "raw"), job(&first, "raw"));
    // A new learning rate: the work directory still fits; the students retrain.
    let changed = TINY.replace("batch = 64", "batch = 64, lr = 0.001");
    let out = run(dir.path(), &small(dir.path(), &changed, "scores.correct >= 1"));
    assert!(out.status.success(), "{}", stderr(&out));
    let second = stats(dir.path());
    assert_eq!(second["stages"][0], first["stages"][0], "generation was not redone");
    assert_ne!(job(&second, "raw")["key"], job(&first, "raw")["key"]);
}

#[test]
fn an_empty_training_set_stops_the_run_naming_the_stage_and_resumes_when_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &small(dir.path(), TINY, "scores.correct >= 2"));
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("stage `refined`") && e.contains("no record reached this stage"), "{e}");
    assert!(dir.path().join("work/models/raw/report.json").is_file(), "the first student is kept");
}

#[test]
fn corrupt_and_mis_shaped_checkpoints_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = small(dir.path(), TINY, "scores.correct >= 1");
    assert!(run(dir.path(), &pipeline).status.success());
    let model = dir.path().join("work/models/refined/seed-1/model.safetensors");
    let eval_report = dir.path().join("work/models/eval/report.json");
    // Garbage instead of the refined student.
    std::fs::write(&model, b"definitely not safetensors").expect("corrupt");
    std::fs::remove_file(&eval_report).expect("forget the evaluation");
    let out = run(dir.path(), &pipeline);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("model.safetensors") && e.contains("corrupt"), "{e}");
    // A student of another shape in its place.
    let other = tempfile::tempdir().expect("tempdir");
    let wide = TINY.replace("hidden = [64]", "hidden = [32]");
    assert!(run(other.path(), &small(other.path(), &wide, "scores.correct >= 1")).status.success());
    std::fs::copy(other.path().join("work/models/refined/seed-1/model.safetensors"), &model).expect("swap");
    let out = run(dir.path(), &pipeline);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("hidden [32]") && e.contains("hidden [64]"), "{e}");
    // Forgetting the student's report retrains it: the run recovers.
    std::fs::remove_file(dir.path().join("work/models/refined/report.json")).expect("forget");
    let out = run(dir.path(), &pipeline);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_judge_distilled_classifier_reports_agreement_and_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = format!(
        r#"{start}
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
        start = arithmetic("classifier", 200, "carry_error_rate = 0.9, noise_rate = 0.0", 600, r#"["+"]"#),
        verifier = wasm("arith-verifier").display(),
    );
    let out = run(dir.path(), &pipeline);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stats(dir.path());
    assert_balanced(&s);
    let report = job(&s, "quality");
    let unlabelled = report["unlabelled"].as_u64().expect("unlabelled");
    let records = report["records"].as_u64().expect("records");
    assert!(unlabelled > records / 4 && unlabelled < records * 3 / 4, "about half judged: {report}");
    let agreement = &report["agreement"];
    assert!(agreement["records"].as_u64().expect("held out") > 20, "{report}");
    assert!(agreement["accuracy"].as_f64().expect("accuracy") > 0.0, "{report}");
    let classify = &s["stages"][3];
    assert_eq!(classify["input"].as_u64(), Some(records), "every record is scored: {classify}");
    let kept = std::fs::read_to_string(dir.path().join("out/kept.jsonl")).expect("kept");
    let first: serde_json::Value = serde_json::from_str(kept.lines().next().expect("a kept record")).expect("json");
    assert!(first["scores"]["quality"].as_f64().expect("score") >= 0.5, "{first}");
    // One class only: every answer right.
    let perfect = pipeline.replace(
        "carry_error_rate = 0.9, noise_rate = 0.0",
        "carry_error_rate = 0.0, noise_rate = 0.0, format_error_rate = 0.0",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &perfect);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("stage `quality`") && e.contains("both classes"), "{e}");
}

#[test]
fn a_declared_model_is_scored_beside_the_students_by_the_same_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_heldout(dir.path());
    let pipeline = |models: &str| {
        format!(
            r#"{start}
[[stage]]
name = "student"
kind = "train-student"
config = {TINY}

[[stage]]
name = "eval"
kind = "eval"
config = {{ students = ["student"], models = {models}, heldout = "heldout.jsonl" }}

[output]
dir = "out"
"#,
            start = arithmetic("eval-models", 100, "carry_error_rate = 0.0, noise_rate = 0.0", 100, r#"["+", "-"]"#),
        )
    };
    // A teacher that makes no mistake answers every held-out item right.
    let out = run(dir.path(), &pipeline(r#"["teacher"]"#));
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stats(dir.path());
    assert_balanced(&s);
    let eval = job(&s, "eval");
    let models = eval["models"].as_array().expect("models scored");
    assert_eq!(models.len(), 1, "{eval}");
    let teacher = &models[0];
    assert_eq!(teacher["model"], "teacher");
    assert_eq!(teacher["accuracy"]["mean"].as_f64(), Some(1.0), "{teacher}");
    assert_eq!(teacher["failed"], 0);
    assert!(teacher["describe"].as_str().expect("describe").starts_with("teacher=wasm:"), "{teacher}");
    let examples = teacher["examples"].as_array().expect("examples");
    assert!(!examples.is_empty() && examples.iter().all(|x| x["correct"] == true), "{teacher}");
    assert_eq!(eval["students"].as_array().expect("students").len(), 1, "the students are still scored");
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).expect("report");
    assert!(html.contains("Declared models on the same items"), "the report shows the model");
    assert!(
        html.contains("Accuracy per problem class") && html.contains("<th>carry ("),
        "the report splits accuracy by the held-out items' classes"
    );
    assert!(teacher["by_class"]["carry"]["accuracy"]["mean"].as_f64() == Some(1.0), "{teacher}");
    assert!(stderr(&out).contains("teacher") && stderr(&out).contains("100.0%"), "{}", stderr(&out));

    // A model the file does not declare is refused before any work.
    let out = run(dir.path(), &pipeline(r#"["techer"]"#));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("stage `eval`: no model named `techer`") && err.contains("did you mean `teacher`"), "{err}");
}
