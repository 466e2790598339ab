//! Plugin throughput: `length-filter` and `gopher-quality` run as sandboxed
//! WASM components through the host, against the very same Rust logic called
//! natively, at batch sizes 1, 64, 1024 and 8192, over a corpus of real text;
//! plus the cost of loading a plugin from the compile cache and of starting an
//! instance.
//!
//! Run with `cargo xtask bench` (builds the plugins and extracts the corpus),
//! or `KILN_BENCH_CORPUS=path.jsonl cargo bench -p kiln --bench plugins`.
//! `KILN_BENCH_RECORDS` caps the number of records (default: all).

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use kiln::Record;
use kiln::plugin::{LoadOptions, Plugin, PluginKind, Sandbox, SandboxConfig, Verdict, wit};
use kiln_pdk::Filter;

const BATCH_SIZES: [usize; 4] = [1, 64, 1024, 8192];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> Vec<Record> {
    let path = std::env::var_os("KILN_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("pipelines/data/rustdoc-sample.jsonl"));
    let limit: usize = std::env::var("KILN_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", path.display()));
    let records: Vec<Record> = text
        .lines()
        .take(limit)
        .enumerate()
        .filter_map(|(i, line)| Record::from_json_line(line, "corpus", i + 1).ok())
        .collect();
    let bytes: usize = records.iter().map(|r| r.text.len()).sum();
    eprintln!("corpus: {} records, {:.1} MB of text from {}", records.len(), bytes as f64 / 1e6, path.display());
    records
}

/// The component of plugin `name`, from `KILN_BENCH_WASM_DIR` when set.
fn wasm(name: &str) -> PathBuf {
    let dir = std::env::var_os("KILN_BENCH_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/wasm32-wasip2/release"));
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} is missing: run `cargo xtask plugins`", path.display());
    path
}

fn load(sandbox: &Sandbox, name: &str, config: &str) -> Plugin {
    let mut options = LoadOptions::new("bench", Some(PluginKind::Filter));
    options.config = config.to_string();
    sandbox.load(&wasm(name), options).expect("plugin loads")
}

/// Runs `name` with `config` over the corpus in WASM and natively, at every batch size.
fn compare<F: Filter>(c: &mut Criterion, name: &str, config: &str, sandbox: &Sandbox, records: &[Record]) {
    let plugin = load(sandbox, name, config);
    let native = F::new(serde_json::from_str(config).expect("config parses")).expect("config accepted");
    let wit_records: Vec<wit::DataRecord> = records.iter().map(Record::to_wit).collect();
    let pdk_records: Vec<kiln_pdk::Record> =
        records.iter().map(|r| kiln_pdk::Record::new(r.id.clone(), r.text.clone())).collect();

    // Both paths must agree before their speed means anything.
    let from_wasm = plugin.filter(&wit_records).expect("runs");
    let from_native = native.filter_batch(&pdk_records);
    for (w, n) in from_wasm.iter().zip(&from_native) {
        let same = matches!((w, n), (Ok(Verdict::Keep), kiln_pdk::Verdict::Keep))
            || matches!((w, n), (Ok(Verdict::Drop(a)), kiln_pdk::Verdict::Drop(b)) if **a == **b);
        assert!(same, "WASM and native disagree: {w:?} vs {n:?}");
    }

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(records.len() as u64));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for batch in BATCH_SIZES {
        group.bench_with_input(BenchmarkId::new("wasm", batch), &batch, |b, &batch| {
            b.iter(|| {
                for chunk in wit_records.chunks(batch) {
                    std::hint::black_box(plugin.filter(chunk).expect("runs"));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("native", batch), &batch, |b, &batch| {
            b.iter(|| {
                for chunk in pdk_records.chunks(batch) {
                    std::hint::black_box(native.filter_batch(chunk));
                }
            })
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let records = corpus();
    let cache = tempfile::tempdir().expect("tempdir");
    let sandbox =
        Sandbox::new(SandboxConfig { cache_dir: Some(cache.path().to_path_buf()), ..SandboxConfig::default() })
            .expect("sandbox");
    let length = r#"{"min_chars": 200, "min_words": 50, "max_words": 100000}"#;
    compare::<length_filter::LengthFilter>(c, "length-filter", length, &sandbox, &records);
    compare::<gopher_quality::GopherQuality>(c, "gopher-quality", "{}", &sandbox, &records);
}

fn instantiation(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig { cache_dir: Some(cache.path().to_path_buf()), ..SandboxConfig::default() };
    let sandbox = Sandbox::new(config.clone()).expect("sandbox");
    let plugin = load(&sandbox, "gopher-quality", "{}");
    eprintln!("pooling allocator: {}", sandbox.uses_pooling());
    let mut group = c.benchmark_group("instantiate");
    group.bench_function("new instance (pre-instantiated, configured)", |b| {
        b.iter(|| plugin.check_start().expect("starts"))
    });
    // A fresh engine each time would measure engine start-up; one engine, loaded
    // again from the disk cache, measures what `kiln` pays per stage.
    let warm = Sandbox::new(config).expect("sandbox");
    group.bench_function("load from disk cache", |b| b.iter(|| load(&warm, "gopher-quality", "{}")));
    group.finish();
}

criterion_group!(benches, instantiation, throughput);
criterion_main!(benches);
