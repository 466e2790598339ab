//! `kiln run` end to end: outputs and statistics of a real pipeline, and
//! exactly-once resumption after SIGKILL at many points of a run.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kiln_tests::{ObjectServer as _, assert_balanced, kiln_bin, lines, stats, target_dir, wasm, workspace};

/// A test input: the bundled sample, with malformed lines and cross-chunk
/// duplicates mixed in.
fn write_input(dir: &Path) -> PathBuf {
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let mut out = String::new();
    for (i, line) in sample.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i % 97 == 5 {
            out.push_str("{this is not json\n");
        }
        if i % 113 == 7 {
            // The same text again, under another id, far later in the input.
            let mut v: serde_json::Value = serde_json::from_str(line).expect("json");
            v["id"] = serde_json::Value::String(format!("dup-{i}"));
            out.push_str(&format!("{v}\n"));
        }
    }
    let path = dir.join("input.jsonl");
    std::fs::write(&path, out).expect("write input");
    path
}

fn write_pipeline(dir: &Path, input: &Path) -> PathBuf {
    let toml = format!(
        r#"[pipeline]
name = "resume-test"
seed = 3
chunk_size = 100
work_dir = "work"

[[input]]
path = "{input}"

[[stage]]
name = "length"
kind = "filter"
plugin = "{length}"
config = {{ min_words = 5 }}
batch_size = 32

[[stage]]
name = "pii"
kind = "map"
plugin = "{pii}"

[[stage]]
name = "no-email"
kind = "threshold"
config = {{ score = "pii_email", max = 0, missing = "keep" }}

[[stage]]
name = "half"
kind = "sample"
config = {{ fraction = 0.5 }}

[[stage]]
name = "dedup"
kind = "dedup"

[output]
dir = "out"
"#,
        input = input.display(),
        length = wasm("length-filter").display(),
        pii = wasm("pii-redact").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, toml).expect("write pipeline");
    path
}

fn kiln_run(pipeline: &Path, extra_env: Option<(&str, String)>, fresh: bool) -> Output {
    let mut cmd = Command::new(kiln_bin());
    cmd.arg("run").arg(pipeline).env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache")).env("KILN_LOG", "warn");
    if fresh {
        cmd.arg("--fresh");
    }
    if let Some((k, v)) = extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("kiln runs")
}

fn outputs(dir: &Path) -> Vec<(String, String)> {
    ["kept", "rejected", "quarantine"]
        .iter()
        .map(|name| {
            let path = dir.join("out").join(format!("{name}.jsonl"));
            (name.to_string(), std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        })
        .collect()
}

#[test]
fn a_run_accounts_for_every_line_and_deduplicates_across_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_input(dir.path());
    let pipeline = write_pipeline(dir.path(), &input);
    let out = kiln_run(&pipeline, None, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = stats(dir.path());
    let lines = std::fs::read_to_string(&input).expect("input").lines().count() as u64;
    assert_eq!(s["input_lines"], lines);
    let (kept, rejected, quarantined) =
        (s["kept"].as_u64().expect("n"), s["rejected"].as_u64().expect("n"), s["quarantined"].as_u64().expect("n"));
    assert_eq!(kept + rejected + quarantined, lines, "every line is kept, rejected or quarantined");
    let files = outputs(dir.path());
    assert_eq!(files[0].1.lines().count() as u64, kept);
    assert_eq!(files[1].1.lines().count() as u64, rejected);
    assert_eq!(files[2].1.lines().count() as u64, quarantined);
    assert!(quarantined >= 19, "the malformed lines are quarantined: {quarantined}");
    let dedup = &s["stages"][4];
    let half = &s["stages"][3];
    let (half_in, half_kept) = (half["input"].as_u64().expect("n"), half["kept"].as_u64().expect("n"));
    assert!(half_kept * 3 > half_in && half_kept * 3 < 2 * half_in, "sample keeps about half: {half}");
    assert!(dedup["rejected"]["duplicate"].as_u64().unwrap_or(0) > 0, "cross-chunk duplicates found: {dedup}");
    assert!(files[1].1.contains("\"reason\":\"duplicate of "), "rejections name the kept twin");
    // Kept records carry their lineage through every stage.
    let first: serde_json::Value =
        serde_json::from_str(files[0].1.lines().next().expect("a kept record")).expect("json");
    let steps: Vec<&str> =
        first["lineage"]["steps"].as_array().expect("steps").iter().filter_map(|s| s.as_str()).collect();
    // Plugin steps end with `#<sha256 prefix>`, which changes with the toolchain.
    let steps: Vec<&str> = steps.iter().map(|s| s.split('#').next().unwrap_or(s)).collect();
    assert_eq!(
        steps,
        [
            "length=length-filter@0.1.0",
            "pii=pii-redact@0.1.0",
            "no-email=builtin:threshold",
            "half=builtin:sample",
            "dedup=builtin:dedup"
        ],
        "every stage records its step: {first}"
    );

    // Running a finished pipeline again changes nothing.
    let again = kiln_run(&pipeline, None, false);
    assert!(again.status.success());
    assert_eq!(outputs(dir.path()), files);
}

#[test]
fn sigkill_at_any_point_then_resume_gives_the_uninterrupted_output() {
    let base = tempfile::tempdir().expect("tempdir");
    let input = write_input(base.path());
    let reference_dir = base.path().join("reference");
    std::fs::create_dir_all(&reference_dir).expect("mkdir");
    let out = kiln_run(&write_pipeline(&reference_dir, &input), None, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = outputs(&reference_dir);
    let expected_stats = stats(&reference_dir);

    // A run commits ~20 chunks of 10 durable steps each, then assembles the
    // outputs: kill at the first steps, inside commits, between chunks, in
    // the assembly and at the very end.
    let steps = [1u64, 2, 3, 4, 6, 9, 10, 11, 37, 58, 101, 150, 199, 204, 207, 210, 212, 215];
    let mut killed = 0;
    for step in steps {
        let dir = base.path().join(format!("kill-{step}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let pipeline = write_pipeline(&dir, &input);
        let crashed = kiln_run(&pipeline, Some(("KILN_FAULT_KILL_AT_STEP", step.to_string())), true);
        if crashed.status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(crashed.status.success(), "step {step}: {}", String::from_utf8_lossy(&crashed.stderr));
        }
        let resumed = kiln_run(&pipeline, None, false);
        assert!(resumed.status.success(), "resume after step {step}: {}", String::from_utf8_lossy(&resumed.stderr));
        assert_eq!(outputs(&dir), expected, "outputs after a kill at step {step} differ from an uninterrupted run");
        let s = stats(&dir);
        for key in ["input_lines", "kept", "rejected", "quarantined", "chunks"] {
            assert_eq!(s[key], expected_stats[key], "stats.{key} after a kill at step {step}");
        }
    }
    assert!(killed >= 10, "only {killed} of the fault points were reached");
}

#[test]
fn a_changed_pipeline_refuses_to_resume_a_foreign_work_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_input(dir.path());
    let pipeline = write_pipeline(dir.path(), &input);
    let crashed = kiln_run(&pipeline, Some(("KILN_FAULT_KILL_AT_STEP", "30".into())), true);
    assert_eq!(crashed.status.signal(), Some(9));
    let text = std::fs::read_to_string(&pipeline).expect("read").replace("min_words = 5", "min_words = 6");
    std::fs::write(&pipeline, text).expect("write");
    let refused = kiln_run(&pipeline, None, false);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was made by an earlier version of this pipeline"));
    assert!(kiln_run(&pipeline, None, true).status.success(), "--fresh starts over");
}

#[test]
fn an_unwritable_output_directory_stops_the_run_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_input(dir.path());
    let pipeline = write_pipeline(dir.path(), &input);
    // The output directory would have to live inside a regular file.
    let text = std::fs::read_to_string(&pipeline).expect("read").replace("dir = \"out\"", "dir = \"input.jsonl/out\"");
    std::fs::write(&pipeline, text).expect("write");
    let out = kiln_run(&pipeline, None, true);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot create the output directory") && stderr.contains("input.jsonl/out"), "{stderr}");
    assert!(!dir.path().join("work/manifest.json").exists(), "no chunk was committed");
}

#[test]
fn parquet_outputs_read_back_as_parquet_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_input(dir.path());
    let first = write_pipeline(dir.path(), &input);
    let text =
        std::fs::read_to_string(&first).expect("read").replace("dir = \"out\"", "dir = \"out\"\nformat = \"parquet\"");
    std::fs::write(&first, text).expect("write");
    let out = kiln_run(&first, None, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = dir.path().join("out/kept.parquet");
    assert!(kept.is_file() && dir.path().join("out/rejected.parquet").is_file());
    let kept_count = stats(dir.path())["kept"].as_u64().expect("n");

    // Read the Parquet output back as the input of a second pipeline.
    let second_dir = dir.path().join("second");
    std::fs::create_dir_all(&second_dir).expect("mkdir");
    let second = second_dir.join("pipeline.toml");
    let toml = format!(
        "[pipeline]\nname = \"reread\"\n\n[[input]]\npath = \"{}\"\n\n[[stage]]\nname = \"dedup\"\nkind = \"dedup\"\n\n[output]\ndir = \"out\"\n",
        kept.display()
    );
    std::fs::write(&second, toml).expect("write");
    let out = kiln_run(&second, None, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = stats(&second_dir);
    assert_eq!(s["input_lines"].as_u64(), Some(kept_count), "every kept row is read back");
    assert_eq!(s["kept"].as_u64(), Some(kept_count), "and none is a duplicate");
    let reread = std::fs::read_to_string(second_dir.join("out/kept.jsonl")).expect("kept");
    let first_kept: serde_json::Value = serde_json::from_str(reread.lines().next().expect("a record")).expect("json");
    assert!(
        first_kept["metadata"]["lineage"].is_string(),
        "the first run's fields come back as metadata: {first_kept}"
    );
}

#[test]
fn on_error_fail_stops_with_the_record_and_keeps_committed_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input = String::new();
    for i in 0..300 {
        let text = if i == 250 { "PANIC" } else { "fine" };
        input.push_str(&format!("{{\"id\":\"r{i}\",\"text\":\"{text}\"}}\n"));
    }
    std::fs::write(dir.path().join("input.jsonl"), input).expect("write");
    let toml = format!(
        "[pipeline]\nname = \"strict\"\nchunk_size = 100\n\n[[input]]\npath = \"input.jsonl\"\n\n[[stage]]\nname = \"strict\"\nkind = \"filter\"\nplugin = \"{}\"\non_error = \"fail\"\n\n[output]\ndir = \"out\"\n",
        wasm("hostile-filter").display()
    );
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, toml).expect("write");
    let out = kiln_run(&pipeline, None, true);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopping:") && stderr.contains("record `r250`") && stderr.contains("hostile-filter"),
        "{stderr}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("work/manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["chunks"].as_array().map(Vec::len),
        Some(2),
        "the chunks before the failing one stay committed"
    );
}

#[test]
fn a_review_stage_holds_records_until_labelled_and_only_what_reviewers_accepted_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input = String::new();
    for i in 0..90 {
        input.push_str(&format!("{{\"id\":\"r{i:02}\",\"text\":\"record number {i} says something\"}}\n"));
    }
    std::fs::write(dir.path().join("input.jsonl"), input).expect("write");
    // A dedup before the gate: what it saw in committed chunks must survive the stops.
    let toml = "[pipeline]\nname = \"reviewed\"\nchunk_size = 30\n\n[[input]]\npath = \"input.jsonl\"\n\n\
                [[stage]]\nname = \"dedup\"\nkind = \"dedup\"\n\n\
                [[stage]]\nname = \"people\"\nkind = \"review\"\nconfig = { labels = \"labels/people.jsonl\" }\n\n\
                [output]\ndir = \"out\"\n";
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, toml).expect("write");
    std::fs::create_dir(dir.path().join("labels")).expect("mkdir");
    let labels = dir.path().join("labels/people.jsonl");
    let pending = dir.path().join("work/review/people.pending.jsonl");
    let mut stops = 0;
    let mut labelled = String::new();
    loop {
        let out = kiln_run(&pipeline, None, false);
        if out.status.success() {
            break;
        }
        stops += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("30 record(s) await review") && stderr.contains("people.jsonl"), "{stderr}");
        // Held: the chunk's records, none of them in the outputs yet.
        let held: Vec<String> =
            lines(pending.clone()).iter().map(|r| r["id"].as_str().expect("id").to_string()).collect();
        assert_eq!(held.len(), 30);
        assert!(!dir.path().join("out/kept.jsonl").exists());
        // Reject every record whose number ends in 7, accept the rest.
        for id in held {
            let verdict = if id.ends_with('7') { "reject" } else { "accept" };
            labelled.push_str(&format!("{{\"id\":\"{id}\",\"review\":\"{verdict}\"}}\n"));
        }
        std::fs::write(&labels, &labelled).expect("labels");
        assert!(stops <= 3, "every chunk was labelled, yet the run stops: {stderr}");
    }
    assert_eq!(stops, 3, "one stop per chunk");
    let s = stats(dir.path());
    assert_balanced(&s);
    assert_eq!(s["kept"], 81);
    assert_eq!(s["stages"][1]["rejected"]["review:rejected"], 9);
    assert!(!pending.exists(), "nothing is held any more");
    let kept: Vec<String> =
        lines(dir.path().join("out/kept.jsonl")).iter().map(|r| r["id"].as_str().expect("id").to_string()).collect();
    assert!(kept.iter().all(|id| !id.ends_with('7')) && kept.len() == 81);

    // A bad label is refused at its line before anything runs.
    std::fs::write(&labels, "{\"id\":\"r00\",\"review\":\"maybe\"}\n").expect("labels");
    let out = kiln_run(&pipeline, None, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("people.jsonl:1") && stderr.contains("maybe"), "{stderr}");
}

/// `dir/NAME.toml`: the length filter over `input` (a path or an `s3://`
/// URL) into `out`, with its own work directory.
fn length_filtered(dir: &Path, name: &str, input: &str, out: &str) -> PathBuf {
    let toml = format!(
        "[pipeline]\nname = \"objects\"\nchunk_size = 64\nwork_dir = \"work-{name}\"\n\n[[input]]\npath = \"{input}\"\n\n\
         [[stage]]\nname = \"length\"\nkind = \"filter\"\nplugin = \"{}\"\nconfig = {{ min_words = 20 }}\n\n\
         [output]\ndir = \"{out}\"\n",
        wasm("length-filter").display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).expect("pipeline");
    path
}

#[test]
fn an_input_on_object_storage_gives_what_the_same_file_gives() {
    use std::io::Write;
    let s3 = kiln_tests::LocalS3::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let text: String = sample.lines().take(400).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("in.jsonl"), &text).expect("write");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).expect("gzip");
    s3.put("corpus", "web/part-0.jsonl.gz", gz.finish().expect("gzip"));
    let pipeline = |input: &str, out: &str| length_filtered(dir.path(), out, input, out);
    let run = |file: &Path| {
        let mut cmd = Command::new(kiln_bin());
        cmd.arg("run").arg(file).env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache")).env("KILN_LOG", "warn");
        cmd.envs(s3.env());
        cmd.output().expect("kiln runs")
    };
    let local = run(&pipeline("in.jsonl", "local"));
    assert!(local.status.success(), "{}", String::from_utf8_lossy(&local.stderr));
    let remote = run(&pipeline("s3://corpus/web/part-0.jsonl.gz", "remote"));
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    // The same records, decided the same way; their lineage names where they were read.
    for file in ["kept.jsonl", "rejected.jsonl", "quarantine.jsonl"] {
        let read = |out: &str| -> Vec<serde_json::Value> {
            lines(dir.path().join(out).join(file))
                .into_iter()
                .map(|mut r| {
                    if let Some(source) = r["lineage"]["source"].as_str() {
                        let line = source.rsplit(':').next().unwrap_or_default().to_string();
                        r["lineage"]["source"] = serde_json::Value::String(line);
                    }
                    r
                })
                .collect()
        };
        assert_eq!(read("local"), read("remote"), "{file} differs");
    }
    let kept = lines(dir.path().join("remote/kept.jsonl"));
    assert!(kept.len() > 10 && kept[0]["lineage"]["source"].as_str().is_some_and(|s| s.starts_with("s3://corpus/")));
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("remote/stats.json")).expect("stats"))
            .expect("json");
    assert_eq!(stats["input_lines"], 400);

    // A missing object is refused before anything runs, at its line.
    let missing = run(&pipeline("s3://corpus/web/missing.jsonl", "missing"));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{stderr}");
    assert!(
        stderr.contains("missing.toml:7:") && stderr.contains("cannot read `s3://corpus/web/missing.jsonl`"),
        "{stderr}"
    );
}

#[test]
fn objects_by_glob_in_and_outputs_published_to_object_storage() {
    let s3 = kiln_tests::LocalS3::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = std::fs::read_to_string(workspace().join("pipelines/data/rustdoc-sample.jsonl")).expect("sample");
    let lines_of = |from: usize| -> String { sample.lines().skip(from).take(150).map(|l| format!("{l}\n")).collect() };
    // Three parts in two "directories", and an object that is no input.
    for (k, key) in ["web/a/part-0.jsonl", "web/a/part-1.jsonl", "web/b/part-2.jsonl"].iter().enumerate() {
        s3.put("corpus", key, lines_of(k * 150).into_bytes());
        let local = dir.path().join("local").join(key);
        std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
        std::fs::write(&local, lines_of(k * 150)).expect("write");
    }
    s3.put("corpus", "web/README.txt", b"not records".to_vec());
    // What an earlier run in another format left, and what is not Kiln's.
    s3.put("curated", "runs/web/kept.parquet", b"stale".to_vec());
    s3.put("curated", "runs/web/notes.txt", b"the team's".to_vec());
    let pipeline = |name: &str, input: &str, out: &str| length_filtered(dir.path(), name, input, out);
    let kiln = |args: &[&str]| {
        let mut cmd = Command::new(kiln_bin());
        cmd.args(args).current_dir(dir.path());
        cmd.env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache")).env("KILN_LOG", "warn").envs(s3.env());
        cmd.output().expect("kiln runs")
    };
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let local = pipeline("local", "local/web/*/part-*.jsonl", "out-local");
    ok(kiln(&["run", local.to_str().expect("utf-8")]));
    let remote = pipeline("remote", "s3://corpus/web/*/part-*.jsonl", "s3://curated/runs/web");
    let printed = ok(kiln(&["run", remote.to_str().expect("utf-8")]));
    assert!(printed.contains("outputs: s3://curated/runs/web/{kept"), "{printed}");

    // The glob read the three parts in key order: the same records as the local glob.
    let ids = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].as_str().expect("id").to_string()
            })
            .collect()
    };
    let object = |key: &str| String::from_utf8(s3.get("curated", key).expect(key)).expect("utf-8");
    let kept = object("runs/web/kept.jsonl");
    assert_eq!(ids(&kept), ids(&std::fs::read_to_string(dir.path().join("out-local/kept.jsonl")).expect("kept")));
    assert!(kept.contains("s3://corpus/web/b/part-2.jsonl"), "lineage names the object");
    let published: serde_json::Value = serde_json::from_str(&object("runs/web/stats.json")).expect("stats");
    assert_eq!(published["input_lines"], 450);
    assert_balanced(&published);
    assert_eq!(published["kept"].as_u64(), Some(ids(&kept).len() as u64));
    assert!(object("runs/web/report.html").contains("<html"));
    // Published whole; the stale output of another format is gone, the team's object stays.
    assert_eq!(
        s3.keys("curated", "runs/web"),
        [
            "runs/web/kept.jsonl",
            "runs/web/notes.txt",
            "runs/web/quarantine.jsonl",
            "runs/web/rejected.jsonl",
            "runs/web/report.html",
            "runs/web/stats.json"
        ]
    );
    // Assembled under the work directory first, byte for byte what was put.
    assert_eq!(std::fs::read_to_string(dir.path().join("work-remote/out/kept.jsonl")).expect("staged"), kept);

    // Split into tasks and merged, to another prefix given with --out: the same bytes.
    let split = pipeline("split", "s3://corpus/web/*/part-*.jsonl", "out-unused");
    let p = split.to_str().expect("utf-8");
    ok(kiln(&["launch", "local", p, "--tasks", "2", "--out", "s3://curated/runs/split"]));
    assert_eq!(object("runs/split/kept.jsonl"), kept);
    assert_eq!(object("runs/split/rejected.jsonl"), object("runs/web/rejected.jsonl"));
    assert!(!dir.path().join("out-unused").exists(), "--out replaced the file's directory");

    // Parquet outputs published, then read back as a Parquet object: the same records.
    let parquet = pipeline("parquet", "s3://corpus/web/*/part-*.jsonl", "s3://curated/runs/pq");
    let text =
        std::fs::read_to_string(&parquet).expect("read").replace("[output]\n", "[output]\nformat = \"parquet\"\n");
    std::fs::write(&parquet, text).expect("write");
    ok(kiln(&["run", parquet.to_str().expect("utf-8")]));
    assert!(s3.keys("curated", "runs/pq").contains(&"runs/pq/kept.parquet".to_string()));
    let again = pipeline("again", "s3://curated/runs/pq/kept.parquet", "out-again");
    ok(kiln(&["run", again.to_str().expect("utf-8")]));
    assert_eq!(ids(&std::fs::read_to_string(dir.path().join("out-again/kept.jsonl")).expect("kept")), ids(&kept));
    // A corrupt Parquet object is refused from its footer, before anything runs.
    s3.put("curated", "runs/bad/part.parquet", b"PAR1 truncated".to_vec());
    let bad =
        kiln(&["validate", pipeline("bad", "s3://curated/runs/bad/*.parquet", "out-bad").to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("bad.toml:7:"), "{stderr}");
    assert!(stderr.contains("`s3://curated/runs/bad/part.parquet`"), "{stderr}");

    // A prefix takes every object under it: one whose format cannot be told is refused at its line.
    let prefixed = kiln(&["validate", pipeline("prefix", "s3://corpus/web/", "out-prefix").to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&prefixed.stderr);
    assert!(!prefixed.status.success() && stderr.contains("prefix.toml:7:"), "{stderr}");
    assert!(stderr.contains("cannot tell the format of `s3://corpus/web/README.txt`"), "{stderr}");
    // A glob that matches nothing, and an output bucket that does not exist, are refused before anything runs.
    let nothing =
        kiln(&["run", pipeline("none", "s3://corpus/web/*/*.parquet.gz", "out-none").to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(!nothing.status.success() && stderr.contains("matches no object"), "{stderr}");
    let missing = kiln(&[
        "run",
        pipeline("nobucket", "s3://corpus/web/a/part-0.jsonl", "s3://absent/x").to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("[output] dir `s3://absent/x` cannot be written"), "{stderr}");
    assert!(stderr.contains("the bucket `absent` does not exist"), "{stderr}");
}
