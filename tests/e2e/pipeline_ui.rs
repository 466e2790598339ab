//! Golden tests of pipeline validation: each `tests/ui/*.toml` beside the
//! exact errors it must produce (`.err`), or validating cleanly when it has
//! none. `KILN_BLESS=1` rewrites the `.err` files from the current output.

use std::path::{Path, PathBuf};

use kiln::pipeline::Pipeline;
use kiln_tests::{sandbox, wasm};

/// Replaces every sha256 (64 hex digits) but the all-zero pin by `<sha256>`:
/// a plugin's digest changes with the toolchain that built it.
fn normalise_digests(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let run = rest[start..].find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(rest.len() - start);
        let word = &rest[start..start + run];
        out.push_str(&rest[..start]);
        out.push_str(if run == 64 && word.chars().any(|c| c != '0') { "<sha256>" } else { word });
        rest = &rest[start + run..];
    }
    out.push_str(rest);
    out
}

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

#[test]
fn every_bad_pipeline_gets_its_exact_errors() {
    wasm("length-filter"); // fails with a clear message when plugins are not built
    let sb = sandbox();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(ui_dir())
        .expect("tests/ui")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "ui cases: {cases:?}");
    // Relative paths keep the messages the same on every machine.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd tests/");
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().expect("name").to_string_lossy().into_owned();
        let relative = Path::new("ui").join(&name);
        let expected_file = case.with_extension("err");
        let actual = match Pipeline::load(&relative, &sb) {
            Ok(_) => None,
            Err(d) => Some(normalise_digests(&format!("{d}\n"))),
        };
        if std::env::var_os("KILN_BLESS").is_some() {
            match &actual {
                Some(text) => std::fs::write(&expected_file, text).expect("bless"),
                None => {
                    let _ = std::fs::remove_file(&expected_file);
                }
            }
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file).ok();
        if actual != expected {
            failures.push(format!(
                "{name}:\n--- expected\n{}\n--- actual\n{}",
                expected.unwrap_or("(valid)".into()),
                actual.unwrap_or("(valid)".into())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_valid_pipeline_loads_its_plugins_in_order() {
    wasm("length-filter");
    let sb = sandbox();
    let pipeline = Pipeline::load(&ui_dir().join("ok.toml"), &sb).expect("ok.toml is valid");
    assert_eq!(pipeline.name, "ok");
    let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["length", "pii"]);
    assert_eq!(pipeline.stages[1].op.plugin().map(|p| p.info().name.as_str()), Some("pii-redact"));
    assert_eq!(pipeline.inputs[0].files.len(), 1);
}
