//! The `kiln` command line, run as a user runs it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use kiln_tests::{kiln_bin, target_dir, wasm, workspace};

fn kiln(args: &[&str], stdin: &str, cwd: &Path) -> Output {
    let mut child = Command::new(kiln_bin())
        .args(args)
        .current_dir(cwd)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("kiln exits")
}

fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

#[test]
fn filter_accounts_for_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = wasm("length-filter");
    let input = "{\"id\":\"a\",\"text\":\"three small words\"}\n{\"id\":\"b\",\"text\":\"one\"}\nnot json at all\n\n{\"text\":\"no id but fine here\"}\n";
    let out = kiln(
        &["filter", "--plugin", plugin.to_str().expect("utf-8"), "--config", r#"{"min_words": 2}"#],
        input,
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kept = jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(kept.iter().map(|r| r["id"].as_str().expect("id")).collect::<Vec<_>>(), vec!["a", "stdin:5"]);
    let step = kept[0]["lineage"]["steps"][0].as_str().expect("step");
    assert!(step.starts_with("filter=length-filter@0.1.0#") && step.len() == "filter=length-filter@0.1.0#".len() + 12);
    let rejected = jsonl(&std::fs::read_to_string(dir.path().join("kiln-rejected.jsonl")).expect("rejected file"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["id"], "b");
    assert_eq!(rejected[0]["rejected"]["reason"], "length:too-few-words");
    assert_eq!(rejected[0]["rejected"]["plugin"], "length-filter@0.1.0");
    let quarantined =
        jsonl(&std::fs::read_to_string(dir.path().join("kiln-quarantine.jsonl")).expect("quarantine file"));
    assert_eq!(quarantined.len(), 2, "the bad line and the blank one");
    assert_eq!(quarantined[0]["source"], "stdin:3");
    assert_eq!(quarantined[0]["line"], "not json at all");
    assert!(quarantined[0]["error"].as_str().expect("error").contains("not valid JSON"));
    assert_eq!(quarantined[1]["source"], "stdin:4");
    assert!(quarantined[1]["error"].as_str().expect("error").starts_with("blank line"));
    assert!(stderr.contains("5 in, 2 kept, 1 rejected"), "{stderr}");
    assert!(stderr.contains("2 quarantined"), "{stderr}");
}

#[test]
fn guest_output_never_reaches_kiln_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = wasm("hostile-filter");
    let input = "{\"id\":\"l\",\"text\":\"LOG\"}\n{\"id\":\"p\",\"text\":\"PANIC\"}\n";
    let out =
        kiln(&["filter", "--plugin", plugin.to_str().expect("utf-8"), "--time-per-call-ms", "500"], input, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = jsonl(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(kept.len(), 1, "only the kept record is on stdout");
    let quarantined = jsonl(&std::fs::read_to_string(dir.path().join("kiln-quarantine.jsonl")).expect("quarantine"));
    assert_eq!(quarantined[0]["record_id"], "p");
    assert_eq!(quarantined[0]["stage"], "filter");
    assert_eq!(quarantined[0]["plugin"], "hostile-filter@0.1.0");
    assert!(quarantined[0]["error"].as_str().expect("error").contains("panics on record p"));
}

#[test]
fn inspect_shows_identity_and_digest() {
    let plugin = wasm("gopher-quality");
    let out = kiln(&["plugin", "inspect", plugin.to_str().expect("utf-8")], "", &workspace());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "world:       kiln:plugin/filter-plugin@0.1.0",
        "kind:        filter",
        "name:        gopher-quality",
        "version:     0.1.0",
        "reads:       text\n",
        "sha256:      ",
        "size:        ",
        "license:     Apache-2.0",
        "config keys:",
        "  min_doc_words (integer | null, default 50): Fewest non-symbol words kept",
    ] {
        assert!(stdout.contains(needle), "missing `{needle}` in\n{stdout}");
    }
    let out = kiln(&["plugin", "inspect", "--json", wasm("pii-redact").to_str().expect("utf-8")], "", &workspace());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(info["kind"], "mapper");
    assert_eq!(info["sha256"].as_str().map(str::len), Some(64));
    let every_part = serde_json::json!({"id": true, "metadata": true, "scores": true, "lineage": true});
    assert_eq!(info["reads"], every_part, "a mapper is sent every part");
    assert_eq!(info["config_schema"]["additionalProperties"], false, "{info}");
    assert!(info["config_schema"]["properties"]["kinds"].is_object(), "{info}");

    // `--config` checks a config against the schema and fails when it does not fit.
    let out = kiln(
        &["plugin", "inspect", plugin.to_str().expect("utf-8"), "--config", r#"{"min_doc_wrds": 3}"#],
        "",
        &workspace(),
    );
    assert!(!out.status.success());
    let refused = String::from_utf8_lossy(&out.stdout);
    assert!(refused.contains("config:      REFUSED") && refused.contains("unknown key `min_doc_wrds`"), "{refused}");
}

#[test]
fn bad_plugin_files_get_a_clear_error_and_a_failing_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("readme.wasm"), "# not wasm").expect("write");
    let out = kiln(&["plugin", "inspect", "readme.wasm"], "", dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("readme.wasm is not a WebAssembly component"), "{stderr}");

    let out = kiln(
        &["filter", "--plugin", wasm("pii-redact").to_str().expect("utf-8"), "--sha256", &"ab".repeat(32)],
        "",
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("but the pipeline pins abab"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = kiln(
        &["filter", "--plugin", wasm("length-filter").to_str().expect("utf-8"), "--config", "{min_words: 2}"],
        "",
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config is not valid JSON"));
}

#[test]
fn plugin_new_scaffolds_crates_that_build_and_pass_their_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Shared across runs so that the SDK's dependencies compile once.
    let scaffold_target = target_dir().join("scaffold-test");
    for kind in ["filter", "mapper", "generator", "critic", "refiner", "model"] {
        let name = format!("my-{kind}");
        let out = kiln(&["plugin", "new", &name, "--kind", kind], "", dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let root = dir.path().join(&name);
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            manifest.contains("kiln-pdk = { path = \"kiln-pdk\" }")
                && !manifest.contains(&*workspace().to_string_lossy()),
            "the scaffold must build away from this checkout:\n{manifest}"
        );
        for args in [vec!["test", "--quiet"], vec!["build", "--release", "--quiet", "--target", "wasm32-wasip2"]] {
            let out = Command::new(env!("CARGO"))
                .args(&args)
                .current_dir(&root)
                .env("CARGO_TARGET_DIR", &scaffold_target)
                .output()
                .expect("cargo runs");
            assert!(
                out.status.success(),
                "`cargo {}` failed for the {kind} scaffold:\n{}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let component = scaffold_target.join("wasm32-wasip2/release").join(format!("my_{kind}.wasm"));
        let out = kiln(&["plugin", "inspect", "--json", component.to_str().expect("utf-8")], "", dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(info["kind"], kind);
        assert_eq!(info["name"], name);
    }
}

#[test]
fn validate_accepts_the_example_and_lists_every_error_of_a_bad_pipeline() {
    wasm("gopher-quality");
    let out = kiln(&["validate", "pipelines/clean-web.toml"], "", &workspace());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok — pipeline `clean-web`") && stdout.contains("gopher-quality@0.1.0"), "{stdout}");

    let out = kiln(&["validate", "tests/ui/many-errors.toml"], "", &workspace());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "tests/ui/many-errors.toml:9:8: stage `quality`: unknown stage kind `filtr` (did you mean `filter`?)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("8 error(s)"), "{stderr}");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn plugin_check_lists_refused_imports_before_compiling_and_passes_a_correct_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = wasm("foreign-import");
    let out = kiln(&["plugin", "check", foreign.to_str().expect("utf-8")], "", dir.path());
    assert!(!out.status.success());
    assert!(stdout(&out).contains("REFUSED") && stdout(&out).contains("nothing else was checked"), "{}", stdout(&out));

    let length = wasm("length-filter");
    let out = kiln(
        &["plugin", "check", length.to_str().expect("utf-8"), "--config", r#"{"min_words": 2, "max_words": 3}"#],
        "",
        dir.path(),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("12 records, whole batch and one per call agree"), "{}", stdout(&out));
}

/// componentize-py, from `cargo xtask test` (which installs it) or PATH.
fn componentize_py() -> String {
    let bin = std::env::var("KILN_COMPONENTIZE_PY").unwrap_or_else(|_| "componentize-py".into());
    let found = Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "componentize-py not found ({bin}): run the tests with `cargo xtask test`, which installs it");
    bin
}

#[test]
fn the_python_reference_filter_agrees_with_the_rust_one_and_plugin_check_catches_char_slicing() {
    let componentize = componentize_py();
    let example = workspace().join("examples/python-length-filter");
    let check = Command::new(example.join("check.sh"))
        .env("KILN", kiln_bin())
        .env("RUST_PLUGIN", wasm("length-filter"))
        .env("COMPONENTIZE_PY", &componentize)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .output()
        .expect("check.sh runs");
    assert!(
        check.status.success(),
        "the Python filter disagrees with the Rust one:\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The same plugin slicing the column string by the byte offsets, as the
    // trap in wit/README.md describes: `kiln plugin check` must name it.
    let dir = tempfile::tempdir().expect("tempdir");
    let app = std::fs::read_to_string(example.join("app.py")).expect("app.py");
    let naive = app
        .replace(r#"data = column.encode("utf-8")"#, "data = column")
        .replace(r#"parts.append(data[start:end].decode("utf-8"))"#, "parts.append(data[start:end])");
    assert_ne!(naive, app, "app.py's unpack changed: update this test's rewrite");
    std::fs::write(dir.path().join("app.py"), naive).expect("write naive app.py");
    let wit = workspace().join("wit");
    let built = Command::new(&componentize)
        .arg("-d")
        .arg(&wit)
        .args(["-w", "kiln:plugin/filter-plugin@0.1.0", "componentize", "app", "-p", ".", "-o", "naive.wasm"])
        .current_dir(dir.path())
        .output()
        .expect("componentize-py runs");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let out =
        kiln(&["plugin", "check", "naive.wasm", "--config", r#"{"min_words": 2, "max_words": 3}"#], "", dir.path());
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("answered differently in a batch than alone") && stdout(&out).contains("byte offsets"),
        "{}",
        stdout(&out)
    );
}
