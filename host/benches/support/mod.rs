//! What both plugin benchmarks share: the corpus, the plugin components, and
//! a filter loaded both ways (sandboxed and native) over the same records,
//! checked to agree before anything is timed.

use std::path::{Path, PathBuf};

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

    /// Every record through the sandboxed plugin, `batch` at a time.
    pub fn run_wasm(&self, batch: usize) {
        for chunk in self.wit_records.chunks(batch) {
            std::hint::black_box(self.plugin.filter(chunk).expect("runs"));
        }
    }

    /// Every record through the native filter, `batch` at a time.
    pub fn run_native(&self, batch: usize) {
        for chunk in self.pdk_records.chunks(batch) {
            std::hint::black_box(self.native.filter_batch(chunk));
        }
    }
}
