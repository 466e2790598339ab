//! Regression tests for defects found by trying Kiln as a new user and a
//! hostile tenant would (issue 20): a run never deletes or writes what it
//! does not own, never escapes its roots, and one bad byte never stops it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use kiln_tests::{
    assert_balanced, kiln_bin, lines, one_stage_pipeline as pipeline, stats, target_dir, wasm, write_records,
};

fn kiln(args: &[&str], dir: &Path) -> Output {
    Command::new(kiln_bin())
        .args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "warn")
        .output()
        .expect("kiln runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn fresh_never_deletes_files_kiln_did_not_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 5);
    std::fs::write(dir.path().join("notes.txt"), "my notes").expect("notes");
    // A work_dir or output dir that holds the pipeline file or an input is refused at validation.
    for (work, out) in [(".", "out"), ("work", "."), ("..", "out")] {
        let file = pipeline(dir.path(), "in.jsonl", work, out, "length");
        let path = file.to_str().expect("utf-8");
        for args in [&["validate", path][..], &["run", path, "--fresh"][..]] {
            let refused = kiln(args, dir.path());
            assert!(!refused.status.success(), "work_dir {work}, out {out}: {args:?} must refuse");
            assert!(stderr(&refused).contains("holds the pipeline file"), "{}", stderr(&refused));
        }
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).expect("kept"), "my notes");
    assert!(dir.path().join("in.jsonl").is_file() && dir.path().join("pipeline.toml").is_file());
    // A folder that is not a Kiln work dir is refused, with or without --fresh.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("thesis.tex"), "years of work").expect("write");
    pipeline(dir.path(), "in.jsonl", "foreign", "out", "length");
    for args in [&["run", "pipeline.toml"][..], &["run", "pipeline.toml", "--fresh"][..]] {
        let refused = kiln(args, dir.path());
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("is not a Kiln work directory") && stderr(&refused).contains("thesis.tex"));
    }
    assert_eq!(std::fs::read_to_string(foreign.join("thesis.tex")).expect("kept"), "years of work");
    // In Kiln's own work dir, --fresh removes Kiln's files and nothing else.
    let file = pipeline(dir.path(), "in.jsonl", "work", "out", "length");
    assert!(kiln(&["run", file.to_str().expect("utf-8")], dir.path()).status.success());
    std::fs::write(dir.path().join("work/README"), "what this folder is").expect("write");
    let again = kiln(&["run", "pipeline.toml", "--fresh"], dir.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(dir.path().join("work/README").is_file(), "--fresh left the user's file");
    assert!(dir.path().join("work/manifest.json").is_file());
    // Another pipeline file is refused the work dir, by name, and not told to use --fresh.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, std::fs::read_to_string(&file).expect("read").replace("\"safety\"", "\"other\""))
        .expect("write");
    let refused = kiln(&["run", "other.toml", "--fresh"], dir.path());
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("belongs to pipeline `safety`") && !message.contains("run with --fresh"), "{message}");
    assert!(dir.path().join("work/manifest.json").is_file(), "the other pipeline's work is intact");
}

#[test]
fn stage_names_cannot_become_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 3);
    for name in ["../../x", "a/b", "dedup\\u001b[31m", ""] {
        let file = pipeline(dir.path(), "in.jsonl", "work", "out", name);
        let out = kiln(&["validate", file.to_str().expect("utf-8")], dir.path());
        assert!(!out.status.success(), "stage name {name:?} must be refused");
        let message = stderr(&out);
        assert!(message.contains("is not allowed") && message.contains("letters, digits"), "{message}");
        assert!(!message.contains('\u{1b}'), "control characters are not printed: {message:?}");
    }
    let text = "[pipeline]\nname = \"m\"\n\n[models.\"../up\"]\nbackend = \"student\"\ncheckpoint = \"x\"\n\n\
                [[input]]\npath = \"in.jsonl\"\n\n[output]\ndir = \"out\"\n";
    std::fs::write(dir.path().join("models.toml"), text).expect("write");
    let out = kiln(&["validate", "models.toml"], dir.path());
    assert!(stderr(&out).contains("model name `../up` is not allowed"), "{}", stderr(&out));
}

#[test]
fn one_bad_byte_does_not_stop_a_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    // a.jsonl: a BOM, a line of invalid UTF-8, CRLF endings.
    let mut a = b"\xEF\xBB\xBF{\"id\":\"a1\",\"text\":\"first line\"}\r\n".to_vec();
    a.extend_from_slice(b"{\"id\":\"a2\",\"text\":\"caf\xe9 latin-1\"}\r\n{\"id\":\"a3\",\"text\":\"third line\"}\r\n");
    std::fs::write(data.join("a.jsonl"), a).expect("write");
    // b.jsonl.gz: cut in the middle.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..2000 {
        writeln!(gz, "{{\"id\":\"b{i}\",\"text\":\"compressed record {i} with some words\"}}").expect("write");
    }
    let bytes = gz.finish().expect("gz");
    std::fs::write(data.join("b.jsonl.gz"), &bytes[..bytes.len() / 2]).expect("write");
    // c.jsonl: read after the truncated file.
    write_records(&data.join("c.jsonl"), 4);
    let file = pipeline(dir.path(), "data/*", "work", "out", "length");
    let text = std::fs::read_to_string(&file)
        .expect("read")
        .replace("path = \"data/*\"", "path = \"data/*\"\nformat = \"jsonl\"");
    std::fs::write(&file, text).expect("write");
    let out = kiln(&["run", file.to_str().expect("utf-8")], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stats(dir.path());
    assert_balanced(&s);
    let quarantined = lines(dir.path().join("out/quarantine.jsonl"));
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(quarantined[0]["source"].as_str().expect("source").ends_with("a.jsonl:2"));
    assert!(quarantined[0]["error"].as_str().expect("error").contains("not valid UTF-8"));
    assert_eq!(quarantined[0]["line"], "{\"id\":\"a2\",\"text\":\"caf\u{fffd} latin-1\"}");
    assert!(quarantined[1]["source"].as_str().expect("source").contains("b.jsonl.gz:"));
    assert!(quarantined[1]["error"].as_str().expect("error").contains("truncated or corrupt compressed file"));
    let kept = lines(dir.path().join("out/kept.jsonl"));
    let ids: Vec<&str> = kept.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(ids[..2], ["a1", "a3"], "the BOM was skipped, not quarantined");
    assert!(ids.contains(&"b0") && ids.ends_with(&["r0", "r1", "r2", "r3"]), "files after the truncation are read");
    // kiln filter reads by the same rule.
    let filter = Command::new(kiln_bin())
        .args(["filter", "--plugin", wasm("length-filter").to_str().expect("utf-8"), "--input", "data/a.jsonl"])
        .current_dir(dir.path())
        .env("KILN_LOG", "warn")
        .output()
        .expect("kiln filter");
    assert!(filter.status.success(), "{}", stderr(&filter));
    assert!(stderr(&filter).contains("3 in, 2 kept, 0 rejected, 1 quarantined"), "{}", stderr(&filter));
}

#[test]
fn a_corrupt_parquet_footer_fails_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.parquet"), b"PAR1 this is no parquet file at all PAR1").expect("write");
    let file = pipeline(dir.path(), "in.parquet", "work", "out", "length");
    let out = kiln(&["validate", file.to_str().expect("utf-8")], dir.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("in.parquet"), "{}", stderr(&out));
}

#[test]
fn a_second_run_on_a_work_dir_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 3);
    let file = pipeline(dir.path(), "in.jsonl", "work", "out", "length");
    assert!(kiln(&["run", file.to_str().expect("utf-8")], dir.path()).status.success());
    // Hold the lock as a running kiln would.
    let lock = std::fs::OpenOptions::new().write(true).open(dir.path().join("work/run.lock")).expect("lock file");
    lock.try_lock().expect("free after the run");
    std::fs::write(dir.path().join("work/run.lock"), "pid 4242, started at unix time 1").expect("write");
    for args in [&["run", "pipeline.toml"][..], &["run", "pipeline.toml", "--fresh"][..]] {
        let refused = kiln(args, dir.path());
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("is in use by another run (pid 4242"), "{}", stderr(&refused));
    }
    assert!(dir.path().join("work/manifest.json").is_file(), "nothing was removed");
    drop(lock);
    assert!(kiln(&["run", "pipeline.toml", "--fresh"], dir.path()).status.success());
}

#[test]
fn devices_and_huge_globs_are_refused_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 3);
    let file = pipeline(dir.path(), "in.jsonl", "work", "out", "length");
    let text = std::fs::read_to_string(&file).expect("read");
    let device = text.replace(&wasm("length-filter").display().to_string(), "/dev/zero");
    std::fs::write(&file, device).expect("write");
    let out = kiln(&["validate", "pipeline.toml"], dir.path());
    assert!(stderr(&out).contains("/dev/zero is not a regular file"), "{}", stderr(&out));
    std::fs::write(&file, text.replace("path = \"in.jsonl\"", "path = \"/dev/urandom\"")).expect("write");
    let out = kiln(&["validate", "pipeline.toml"], dir.path());
    assert!(stderr(&out).contains("/dev/urandom is not a regular file"), "{}", stderr(&out));
}
