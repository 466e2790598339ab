//! What both plugin benchmarks share: the corpus, the plugin components, and
//! a filter loaded both ways (sandboxed and native) over the same records,
//! checked to agree before anything is timed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln::Record;
use kiln::plugin::{LoadOptions, Plugin, PluginKind, Sandbox, Verdict, wit};
use kiln_pdk::Filter;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The records of `KILN_BENCH_CORPUS` (default: the bundled sample), at most
/// `KILN_BENCH_RECORDS` of them.
pub fn corpus() -> Vec<Record> {
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

/// Plugin `name` loaded into `sandbox` with `config`.
pub fn load(sandbox: &Sandbox, name: &str, config: &str) -> Plugin {
    let mut options = LoadOptions::new("bench", Some(PluginKind::Filter));
    options.config = config.to_string();
    sandbox.load(&wasm(name), options).expect("plugin loads")
}

/// One filter, sandboxed and native, with the records in the form each takes.
pub struct Pair<F> {
    plugin: Plugin,
    native: F,
    wit_records: Vec<wit::DataRecord>,
    pdk_records: Vec<kiln_pdk::Record>,
}

impl<F: Filter> Pair<F> {
    /// Loads filter `name` with `config` both ways, and checks that both give
    /// the same verdict on every record: only then does their speed mean
    /// anything.
    pub fn new(sandbox: &Sandbox, name: &str, config: &str, records: &[Record]) -> Self {
        let pair = Pair {
            plugin: load(sandbox, name, config),
            native: F::new(serde_json::from_str(config).expect("config parses")).expect("config accepted"),
            wit_records: records.iter().map(Record::to_wit).collect(),
            pdk_records: records.iter().map(|r| kiln_pdk::Record::new(r.id.clone(), r.text.clone())).collect(),
        };
        let from_wasm = pair.plugin.filter(&pair.wit_records).expect("runs");
        let from_native = pair.native.filter_batch(&pair.pdk_records);
        for (w, n) in from_wasm.iter().zip(&from_native) {
            let same = matches!((w, n), (Ok(Verdict::Keep), kiln_pdk::Verdict::Keep))
                || matches!((w, n), (Ok(Verdict::Drop(a)), kiln_pdk::Verdict::Drop(b)) if **a == **b);
            assert!(same, "WASM and native disagree: {w:?} vs {n:?}");
        }
        pair
    }

    /// The time to filter every record through the sandboxed plugin, `batch`
    /// at a time (see [`time_batches`] for `warm`).
    pub fn time_wasm(&self, batch: usize, warm: bool) -> Duration {
        time_batches(
            &self.wit_records,
            batch,
            warm,
            |r| &r.text,
            |chunk| {
                std::hint::black_box(self.plugin.filter(chunk).expect("runs"));
            },
        )
    }

    /// The time to filter every record through the native filter, `batch` at
    /// a time (see [`time_batches`] for `warm`).
    pub fn time_native(&self, batch: usize, warm: bool) -> Duration {
        time_batches(
            &self.pdk_records,
            batch,
            warm,
            |r| &r.text,
            |chunk| {
                std::hint::black_box(self.native.filter_batch(chunk));
            },
        )
    }
}

/// Whether `KILN_BENCH_WARM` is set: each batch's texts are then read into the
/// cache, untimed, before the batch is filtered, as they are in a pipeline
/// that filters each batch right after parsing it. Otherwise every pass reads
/// the whole corpus from memory.
pub fn warm_batches() -> bool {
    let warm = std::env::var_os("KILN_BENCH_WARM").is_some();
    if warm {
        eprintln!("each batch's texts are read into the cache before it is filtered (untimed)");
    }
    warm
}

/// Runs `filter` on `records`, `batch` at a time, and returns the time it
/// took. With `warm`, each batch's texts are first read into the cache, and
/// only the filter calls are timed.
fn time_batches<R>(
    records: &[R],
    batch: usize,
    warm: bool,
    text: impl Fn(&R) -> &str,
    mut filter: impl FnMut(&[R]),
) -> Duration {
    if !warm {
        let started = Instant::now();
        records.chunks(batch).for_each(&mut filter);
        return started.elapsed();
    }
    records
        .chunks(batch)
        .map(|chunk| {
            warm_up(chunk.iter().map(&text));
            let started = Instant::now();
            filter(chunk);
            started.elapsed()
        })
        .sum()
}

/// Reads every cache line of `texts`, so that they are in the cache.
fn warm_up<'a>(texts: impl Iterator<Item = &'a str>) {
    let mut sum = 0u8;
    for text in texts {
        sum ^= text.as_bytes().iter().step_by(64).fold(0, |a, &b| a ^ b);
        sum ^= text.as_bytes().last().copied().unwrap_or(0);
    }
    std::hint::black_box(sum);
}
