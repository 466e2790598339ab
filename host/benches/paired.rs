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
//! another build. Before timing, both paths must agree on every record.
//!
//! `KILN_BENCH_WARM=1` reads each batch's texts into the cache, untimed,
//! before each side filters it, as a pipeline that filters each batch right
//! after parsing it finds them; only the filter calls are timed. Without it
//! every round reads the whole corpus from memory, on both sides.
//!
//! `KILN_BENCH_TINY=1` replaces every text by one letter, so that the plugin
//! has next to nothing to do (it drops every record as too short): what is
//! left is the cost per record of crossing into the sandbox and back.

mod support;

use kiln::plugin::{Sandbox, SandboxConfig};
use support::{Pair, corpus, warm_batches};

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
    let batch = env_number("KILN_BENCH_BATCH", 1024).max(1);
    let rounds = env_number("KILN_BENCH_ROUNDS", 25).max(1);
    let mut records = corpus();
    if std::env::var_os("KILN_BENCH_TINY").is_some() {
        records.iter_mut().for_each(|r| r.text = "x".into());
        eprintln!("every text replaced by one letter");
    }
    let cache = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig { cache_dir: Some(cache.path().to_path_buf()), ..SandboxConfig::default() };
    let sandbox = Sandbox::new(config).expect("sandbox");
    let pair = Pair::<gopher_quality::GopherQuality>::new(&sandbox, "gopher-quality", "{}", &records);
    eprintln!("batch {batch}, {rounds} rounds");

    let warm = warm_batches();
    let (mut in_wasm, mut natively) = (Vec::new(), Vec::new());
    let wasm_ms = || pair.time_wasm(batch, warm).as_secs_f64() * 1e3;
    let native_ms = || pair.time_native(batch, warm).as_secs_f64() * 1e3;
    for round in 0..rounds {
        // Each side goes first in every other round, so that neither always
        // finds the caches as the other left them.
        if round % 2 == 0 {
            in_wasm.push(wasm_ms());
            natively.push(native_ms());
        } else {
            natively.push(native_ms());
            in_wasm.push(wasm_ms());
        }
    }
    let per_round: Vec<f64> = natively.iter().zip(&in_wasm).map(|(n, w)| n / w).collect();
    let by_order = |first: usize| median(per_round.iter().skip(first).step_by(2).copied().collect());
    if rounds >= 2 {
        println!("median ratio, wasm first: {:.3}; native first: {:.3}", by_order(0), by_order(1));
    }
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
