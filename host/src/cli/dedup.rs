//! `kiln dedup`: clusters the near-duplicates (or exact duplicates) of a whole
//! JSONL file at once — union-find over LSH band matches, the way datatrove
//! does — and writes the clusters. Used to compare against other tools; the
//! pipeline's `dedup` stage streams instead (see `docs/pipeline.md`).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use kiln::record::Record;
use kiln_kernels::minhash::{MinHashParams, MinHasher, Shingle, lsh};
use kiln_kernels::{Compute, DevicePreference};

/// Arguments of `kiln dedup`.
#[derive(Debug, clap::Args)]
pub struct DedupArgs {
    /// JSONL input with `id` and `text` fields.
    input: PathBuf,
    /// `minhash` or `exact`.
    #[arg(long, default_value = "minhash")]
    method: String,
    /// Where signatures are computed: auto, gpu or cpu (default: $KILN_DEVICE, else auto).
    #[arg(long, env = "KILN_DEVICE", default_value = "auto")]
    device: String,
    /// Write the clusters here: one line `{"id", "cluster"}` per record in a
    /// cluster of two or more, `cluster` being the id of its first record.
    #[arg(long)]
    clusters: Option<PathBuf>,
    /// Shingles: `words:N` or `chars:N`.
    #[arg(long, default_value = "words:5")]
    shingle: Shingle,
    /// LSH bands.
    #[arg(long, default_value_t = 14)]
    bands: usize,
    /// Rows per band.
    #[arg(long, default_value_t = 8)]
    rows: usize,
    /// Seed of the permutations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// 32- or 64-bit signature values.
    #[arg(long, default_value_t = 64)]
    hash_bits: u32,
}

pub fn run(args: &DedupArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let name = args.input.display().to_string();
    let file = std::fs::File::open(&args.input).with_context(|| format!("opening {name}"))?;
    let (mut ids, mut texts, mut unreadable) = (Vec::new(), Vec::new(), 0u64);
    let reader = std::io::BufReader::with_capacity(kiln::record::JSONL_BUFFER_BYTES, file);
    let mut lines = kiln::jsonl::JsonlLines::new(reader, name.as_str());
    while let Some(line) = lines.next() {
        let record = line.map_err(|bad| bad.error).and_then(|l| Record::from_json_line(&l, &name, lines.line()));
        match record {
            Ok(record) => {
                ids.push(record.id);
                texts.push(record.text);
            }
            Err(e) => {
                // Clustering needs no record it cannot read; each one is named and counted.
                tracing::warn!("skipped: {e}");
                unreadable += 1;
            }
        }
    }
    let read = started.elapsed().as_secs_f64();
    let bytes: usize = texts.iter().map(String::len).sum();
    let (roots, device, signatures_s) = match args.method.as_str() {
        "minhash" => {
            let params = MinHashParams {
                shingle: args.shingle,
                bands: args.bands,
                rows: args.rows,
                seed: args.seed,
                hash_bits: args.hash_bits,
            };
            let preference: DevicePreference = args.device.parse()?;
            let compute = Compute::select(preference)?;
            let hasher = MinHasher::new(params, &compute)?;
            let t = Instant::now();
            let signatures = hasher.signatures(&texts)?;
            let signatures_s = t.elapsed().as_secs_f64();
            (lsh::clusters(&signatures, &params), compute.describe(), signatures_s)
        }
        "exact" => {
            let mut first = std::collections::HashMap::new();
            let roots =
                texts.iter().enumerate().map(|(i, t)| *first.entry(kiln_kernels::exact::key(t)).or_insert(i)).collect();
            (roots, "cpu".to_string(), 0.0)
        }
        other => anyhow::bail!("unknown method `{other}`: use minhash or exact"),
    };
    let mut sizes = vec![0u32; roots.len()];
    for &r in &roots {
        sizes[r] += 1;
    }
    let in_clusters = roots.iter().filter(|&&r| sizes[r] > 1).count();
    let removed = roots.iter().enumerate().filter(|(i, r)| *i != **r).count();
    if let Some(path) = &args.clusters {
        let out = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(kiln::record::JSONL_BUFFER_BYTES, out);
        for (i, &r) in roots.iter().enumerate() {
            if sizes[r] > 1 {
                serde_json::to_writer(&mut out, &serde_json::json!({"id": ids[i], "cluster": ids[r]}))?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
    }
    let summary = serde_json::json!({
        "tool": "kiln",
        "method": args.method,
        "device": device,
        "docs": texts.len(),
        "unreadable": unreadable,
        "bytes": bytes,
        "seconds": started.elapsed().as_secs_f64(),
        "read_seconds": read,
        "signature_seconds": signatures_s,
        "in_clusters": in_clusters,
        "removed": removed,
    });
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
