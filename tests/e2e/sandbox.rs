//! The first-party plugins through the sandbox, and every kind of bad plugin
//! input: not a component, a component of another world or contract, a bad
//! config, a digest pin that does not match.

use kiln::Record;
use kiln::plugin::{LoadOptions, PluginError, PluginKind, RecordParts, Verdict, wit};
use kiln_pdk::{Filter, Plugin as _};
use kiln_tests::{load, records, sample_records, sandbox, sandbox_with_cache, wasm};

fn verdicts(results: Vec<Result<Verdict, kiln::plugin::CallError>>) -> Vec<Option<String>> {
    results
        .into_iter()
        .map(|r| match r.expect("no call error") {
            Verdict::Keep => None,
            Verdict::Drop(reason) => Some(reason.to_string()),
        })
        .collect()
}

#[test]
fn length_filter_keeps_and_drops_with_reasons() {
    let sb = sandbox();
    let plugin = load(&sb, "length-filter", PluginKind::Filter, r#"{"min_words": 2, "max_chars": 20}"#).expect("loads");
    assert_eq!(plugin.info().name, "length-filter");
    let out =
        verdicts(plugin.filter(&records(&["one", "two words", "this one is far too long to keep"])).expect("runs"));
    assert_eq!(out, vec![Some("length:too-few-words".to_string()), None, Some("length:too-many-chars".to_string())]);
}

#[test]
fn gopher_quality_in_wasm_agrees_with_native_on_real_text() {
    let sb = sandbox();
    let plugin = load(&sb, "gopher-quality", PluginKind::Filter, "{}").expect("loads");
    let sample = sample_records();
    assert!(sample.len() >= 200, "sample corpus too small: {}", sample.len());
    let native = gopher_quality::GopherQuality::new(Default::default()).expect("default config");
    let inputs: Vec<wit::DataRecord> = sample.iter().map(Record::to_wit).collect();
    let wasm_verdicts = verdicts(plugin.filter(&inputs).expect("runs"));
    let mut kept = 0;
    for (record, from_wasm) in sample.iter().zip(&wasm_verdicts) {
        let pdk_record = kiln_pdk::Record::new(record.id.clone(), record.text.clone());
        let from_native = match native.filter(&pdk_record) {
            kiln_pdk::Verdict::Keep => None,
            kiln_pdk::Verdict::Drop(reason) => Some(reason.into_owned()),
        };
        assert_eq!(from_wasm, &from_native, "record {}", record.id);
        kept += usize::from(from_native.is_none());
    }
    // Real documentation prose: some sections pass, some (short ones, code) do not.
    assert!(kept > 0 && kept < sample.len(), "kept {kept} of {}", sample.len());
}

#[test]
fn text_filters_are_sent_texts_only_and_mappers_every_part() {
    let sb = sandbox();
    let gopher = load(&sb, "gopher-quality", PluginKind::Filter, "{}").expect("loads");
    assert_eq!(gopher.info().reads, RecordParts::TEXT);
    let pii = load(&sb, "pii-redact", PluginKind::Mapper, "{}").expect("loads");
    assert_eq!(pii.info().reads, RecordParts::ALL);
    // Sent every part, a mapper hands back what it did not rewrite.
    let mut record = Record::new("r1", "mail jane@example.org");
    record.metadata.insert("lang".into(), "en".into());
    record.scores.insert("quality".into(), 0.5);
    record.lineage.steps.push("filter=gopher-quality@0.1.0".into());
    let out = pii.transform(&[record.to_wit()]).expect("runs");
    match &out[0] {
        Ok(wit::Mapped::Keep(r)) => {
            assert_eq!(r.metadata, r#"{"lang":"en"}"#);
            assert!(r.scores.iter().any(|s| s.name == "quality" && s.value == 0.5), "{r:?}");
            assert_eq!(r.lineage.steps, ["filter=gopher-quality@0.1.0"]);
            assert!(!r.text.contains("jane@example.org"), "{}", r.text);
        }
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[test]
fn pii_redact_rewrites_text_and_keeps_ids() {
    let sb = sandbox();
    let plugin = load(&sb, "pii-redact", PluginKind::Mapper, "{}").expect("loads");
    let input = records(&[
        "Mail jane.doe@example.org or call (555) 123-4567.",
        "Server 192.168.10.20 and card 4111 1111 1111 1111.",
        "Nothing to see here: std::io::Read and Vec::new.",
    ]);
    let out = plugin.transform(&input).expect("runs");
    let texts: Vec<String> = out
        .into_iter()
        .zip(&input)
        .map(|(r, i)| match r.expect("no call error") {
            wit::Mapped::Keep(rec) => {
                assert_eq!(rec.id, i.id);
                rec.text
            }
            wit::Mapped::Drop(reason) => panic!("dropped: {reason}"),
        })
        .collect();
    assert_eq!(texts[0], "Mail [EMAIL] or call [PHONE].");
    assert_eq!(texts[1], "Server [IPV4] and card [CARD].");
    assert_eq!(texts[2], "Nothing to see here: std::io::Read and Vec::new.");
}

#[test]
fn regex_filter_drops_by_pattern() {
    let sb = sandbox();
    let plugin =
        load(&sb, "regex-filter", PluginKind::Filter, r#"{"drop": [{"name": "lorem", "pattern": "(?i)lorem ipsum"}]}"#)
            .expect("loads");
    let out = verdicts(plugin.filter(&records(&["Lorem Ipsum dolor", "real text"])).expect("runs"));
    assert_eq!(out[1], None);
    assert!(out[0].as_deref().is_some_and(|r| r.contains("lorem")), "{out:?}");
}

#[test]
fn a_bad_config_is_rejected_with_plugin_stage_and_message() {
    let sb = sandbox();
    // Against the plugin's published schema, before `configure`: every problem.
    let err = load(&sb, "length-filter", PluginKind::Filter, r#"{"min_words": "many", "min_wrds": 2}"#)
        .expect_err("rejected");
    let msg = err.to_string();
    let PluginError::ConfigInvalid { problems, .. } = &err else { panic!("not a schema error: {msg}") };
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(pointers, ["/min_words", "/min_wrds"], "{msg}");
    assert!(msg.contains("length-filter") && msg.contains("length-filter-stage"), "{msg}");
    assert!(msg.contains("unknown key `min_wrds`") && msg.contains(r#""many" is not of types"#), "{msg}");
    // What the schema cannot say, the plugin's `configure` still refuses.
    let err =
        load(&sb, "length-filter", PluginKind::Filter, r#"{"min_words": 5, "max_words": 2}"#).expect_err("rejected");
    assert!(matches!(err, PluginError::ConfigRejected { .. }), "{err}");
}

#[test]
fn a_plugin_describes_itself_without_a_config() {
    let sb = sandbox();
    let info = sb.describe(&wasm("rubric-judge"), &kiln::plugin::LoadOptions::new("inspect", None)).expect("described");
    assert_eq!(info.license, "Apache-2.0");
    let schema = info.config_schema.expect("kiln-pdk publishes a schema");
    assert!(schema.fields().iter().any(|f| f.name == "aspects"), "{:?}", schema.fields());
}

#[test]
fn a_component_of_another_world_is_refused() {
    let sb = sandbox();
    let err = load(&sb, "pii-redact", PluginKind::Filter, "{}").expect_err("refused");
    assert!(
        matches!(err, PluginError::WrongKind { actual: PluginKind::Mapper, expected: PluginKind::Filter, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is a mapper plugin, but pii-redact-stage needs a filter plugin"), "{err}");
}

#[test]
fn files_that_are_not_components_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sb = sandbox();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").expect("write");
    let err = sb.load(&text, LoadOptions::new("s", None)).expect_err("refused");
    assert!(matches!(err, PluginError::NotWasm { .. }), "{err}");
    assert!(err.to_string().contains("notes.wasm"), "{err}");

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let err = sb.load(&core, LoadOptions::new("s", None)).expect_err("refused");
    assert!(err.to_string().contains("core WebAssembly module, not a component"), "{err}");

    let missing = dir.path().join("missing.wasm");
    let err = sb.load(&missing, LoadOptions::new("s", None)).expect_err("refused");
    assert!(matches!(err, PluginError::Read { .. }) && err.to_string().contains("missing.wasm"), "{err}");
}

/// The error loading test plugin `name` fails with, and its message.
fn refusal(name: &str) -> (PluginError, String) {
    let err = sandbox().load(&wasm(name), LoadOptions::new("s", None)).expect_err("refused");
    let msg = err.to_string();
    (err, msg)
}

#[test]
fn a_plugin_built_against_another_contract_version_is_refused() {
    let (err, msg) = refusal("future-contract");
    assert!(matches!(err, PluginError::IncompatibleContract { .. }), "{msg}");
    assert!(msg.contains("kiln:plugin@0.2.0") && msg.contains("kiln:plugin@0.1.0"), "{msg}");
}

#[test]
fn a_plugin_built_against_an_earlier_build_of_the_contract_is_told_to_rebuild() {
    let (err, msg) = refusal("stale-contract");
    assert!(matches!(err, PluginError::ContractTypes { .. }), "{msg}");
    assert!(msg.contains("stale_contract.wasm") && msg.contains("rebuild the plugin"), "{msg}");
}

#[test]
fn a_plugin_importing_what_the_host_lacks_is_refused() {
    let (err, msg) = refusal("foreign-import");
    assert!(matches!(err, PluginError::ForbiddenImport { .. }), "{msg}");
    assert!(msg.contains("kiln-test:vault/secrets"), "{msg}");
}

#[test]
fn sha256_pins_are_enforced_and_show_both_digests() {
    let sb = sandbox();
    let good = load(&sb, "length-filter", PluginKind::Filter, "{}").expect("loads").info().sha256.clone();
    let mut options = LoadOptions::new("s", Some(PluginKind::Filter));
    options.sha256 = Some(good.clone());
    assert!(sb.load(&wasm("length-filter"), options.clone()).is_ok());
    let wrong = "0".repeat(64);
    options.sha256 = Some(wrong.clone());
    let err = sb.load(&wasm("length-filter"), options).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains(&good) && msg.contains(&wrong), "{msg}");
}

#[test]
fn compiled_plugins_are_cached_on_disk_and_reused() {
    let cache = tempfile::tempdir().expect("tempdir");
    let first = sandbox_with_cache(cache.path());
    load(&first, "length-filter", PluginKind::Filter, "{}").expect("loads");
    let artifacts: Vec<_> = std::fs::read_dir(cache.path()).expect("cache dir").collect();
    assert_eq!(artifacts.len(), 1, "one artifact per plugin");
    // A fresh engine with the same configuration loads the artifact.
    let second = sandbox_with_cache(cache.path());
    let plugin = load(&second, "length-filter", PluginKind::Filter, r#"{"min_words": 1}"#).expect("loads from cache");
    assert_eq!(
        verdicts(plugin.filter(&records(&["", "a"])).expect("runs")),
        vec![Some("length:too-few-words".into()), None]
    );
    // A corrupt artifact is recompiled, not trusted.
    let artifact = std::fs::read_dir(cache.path()).expect("dir").next().expect("one").expect("entry").path();
    std::fs::write(&artifact, b"garbage").expect("corrupt it");
    let third = sandbox_with_cache(cache.path());
    assert!(load(&third, "length-filter", PluginKind::Filter, "{}").is_ok());
}

#[test]
fn instances_are_reused_and_shared_across_threads() {
    let sb = sandbox();
    let plugin = load(&sb, "length-filter", PluginKind::Filter, r#"{"min_words": 2}"#).expect("loads");
    std::thread::scope(|s| {
        for t in 0..4 {
            let plugin = plugin.clone();
            s.spawn(move || {
                for _ in 0..20 {
                    let out = verdicts(plugin.filter(&records(&["a b", "a"])).expect("runs"));
                    assert_eq!(out, vec![None, Some("length:too-few-words".to_string())], "thread {t}");
                }
            });
        }
    });
}
