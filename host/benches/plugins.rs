//! Plugin throughput: `length-filter` and `gopher-quality` run as sandboxed
//! WASM components through the host, against the very same Rust logic called
//! natively, at batch sizes 1, 64, 1024 and 8192, over a corpus of real text;
//! plus the cost of loading a plugin from the compile cache and of starting an
//! instance.
//!
//! Run with `cargo xtask bench` (builds the plugins and extracts the corpus),
//! or `KILN_BENCH_CORPUS=path.jsonl cargo bench -p kiln --bench plugins`.
//! `KILN_BENCH_RECORDS` caps the number of records (default: all);
//! `KILN_BENCH_WARM=1` reads each batch's texts into the cache before it is
//! filtered, untimed (see `support::warm_batches`).

#![allow(missing_docs)] // criterion_group! generates undocumented items

mod support;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use kiln::Record;
use kiln::plugin::{Sandbox, SandboxConfig};
use kiln_pdk::Filter;
use support::{Pair, corpus, load, warm_batches};

const BATCH_SIZES: [usize; 4] = [1, 64, 1024, 8192];

/// Runs `name` with `config` over the corpus in WASM and natively, at every batch size.
fn compare<F: Filter>(c: &mut Criterion, name: &str, config: &str, sandbox: &Sandbox, records: &[Record]) {
    let pair = Pair::<F>::new(sandbox, name, config, records);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(records.len() as u64));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let warm = warm_batches();
    for batch in BATCH_SIZES {
        group.bench_with_input(BenchmarkId::new("wasm", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| (0..iters).map(|_| pair.time_wasm(batch, warm)).sum())
        });
        group.bench_with_input(BenchmarkId::new("native", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| (0..iters).map(|_| pair.time_native(batch, warm)).sum())
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
    // Instantiation alone (no call into the guest), with the pooling
    // allocator and, side by side, with on-demand allocation.
    group.bench_function("instantiate only (pooling allocator)", |b| {
        b.iter(|| plugin.check_instantiate().expect("instantiates"))
    });
    let on_demand_cache = tempfile::tempdir().expect("tempdir");
    let on_demand = Sandbox::new(SandboxConfig {
        cache_dir: Some(on_demand_cache.path().to_path_buf()),
        pooling: false,
        ..SandboxConfig::default()
    })
    .expect("sandbox");
    let on_demand_plugin = load(&on_demand, "gopher-quality", "{}");
    group.bench_function("instantiate only (on-demand allocation)", |b| {
        b.iter(|| on_demand_plugin.check_instantiate().expect("instantiates"))
    });
    // A fresh engine each time would measure engine start-up; one engine, loaded
    // again from the disk cache, measures what `kiln` pays per stage.
    let warm = Sandbox::new(config).expect("sandbox");
    group.bench_function("load from disk cache", |b| b.iter(|| load(&warm, "gopher-quality", "{}")));
    group.finish();
}

criterion_group!(benches, instantiation, throughput);
criterion_main!(benches);
