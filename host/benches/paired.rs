//! Paired WASM/native rounds of `gopher-quality` at one batch size: each
//! round runs the whole corpus once through the sandboxed plugin and once
//! natively, back to back, so that the noise of a shared machine (which
//! shifts criterion's separate wasm and native runs by tens of percent) falls
//! on both alike. Prints every round, the medians, the minima and their ratios.
//!
//! `KILN_BENCH_CORPUS=path.jsonl cargo bench -p kiln --bench paired`
//! (`cargo xtask corpus` extracts the corpus); `KILN_BENCH_BATCH` (default
//! 1024) and `KILN_BENCH_ROUNDS` (default 25) change the batch size and the
//! number of rounds; `KILN_BENCH_WASM_DIR` takes `gopher_quality.wasm` from
//! another build.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln::Record;
use kiln::plugin::{LoadOptions, PluginKind, Sandbox, SandboxConfig, wit};
use kiln_pdk::{Filter, Plugin};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = std::env::var_os("KILN_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("pipelines/data/rustdoc-sample.jsonl"));
    let batch = env_number("KILN_BENCH_BATCH", 1024).max(1);
    let rounds = env_number("KILN_BENCH_ROUNDS", 25).max(1);
    let text = std::fs::read_to_string(&corpus).unwrap_or_else(|e| panic!("cannot read {}: {e}", corpus.display()));
    let records: Vec<Record> =
        text.lines().enumerate().filter_map(|(i, l)| Record::from_json_line(l, "corpus", i + 1).ok()).collect();
    let wasm = std::env::var_os("KILN_BENCH_WASM_DIR")
        .map_or_else(|| workspace.join("target/wasm32-wasip2/release"), PathBuf::from)
        .join("gopher_quality.wasm");
    assert!(wasm.is_file(), "{} is missing: run `cargo xtask plugins`", wasm.display());

    let cache = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig { cache_dir: Some(cache.path().to_path_buf()), ..SandboxConfig::default() };
    let sandbox = Sandbox::new(config).expect("sandbox");
    let mut options = LoadOptions::new("bench", Some(PluginKind::Filter));
    options.config = "{}".into();
    let plugin = sandbox.load(&wasm, options).expect("plugin loads");
    let native = gopher_quality::GopherQuality::new(gopher_quality::Config::default()).expect("default config");
    let wit_records: Vec<wit::DataRecord> = records.iter().map(Record::to_wit).collect();
    let pdk_records: Vec<kiln_pdk::Record> =
        records.iter().map(|r| kiln_pdk::Record::new(r.id.clone(), r.text.clone())).collect();
    eprintln!("{} records from {}, batch {batch}, {rounds} rounds", records.len(), corpus.display());

    let (mut in_wasm, mut natively) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        for chunk in wit_records.chunks(batch) {
            std::hint::black_box(plugin.filter(chunk).expect("runs"));
        }
        in_wasm.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        for chunk in pdk_records.chunks(batch) {
            std::hint::black_box(native.filter_batch(chunk));
        }
        natively.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let per_round: Vec<f64> = natively.iter().zip(&in_wasm).map(|(n, w)| n / w).collect();
    println!("wasm ms:   {:?}", in_wasm.iter().map(|t| t.round()).collect::<Vec<_>>());
    println!("native ms: {:?}", natively.iter().map(|t| t.round()).collect::<Vec<_>>());
    let (wm, nm) = (median(in_wasm.clone()), median(natively.clone()));
    println!("median: wasm {wm:.1} ms, native {nm:.1} ms, native/wasm {:.3}", nm / wm);
    println!(
        "min:    wasm {:.1} ms, native {:.1} ms, native/wasm {:.3}",
        min(&in_wasm),
        min(&natively),
        min(&natively) / min(&in_wasm)
    );
    println!("median of the per-round ratios: {:.3}", median(per_round));
}
