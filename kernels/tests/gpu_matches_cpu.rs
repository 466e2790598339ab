//! Every GPU kernel against its CPU reference, bit for bit, on fresh random
//! inputs (ASCII, Unicode, odd whitespace, empty and very short texts) and on
//! real text (the Rust documentation sample in `pipelines/data`).
//!
//! These tests need a wgpu adapter — a software one is fine (CI installs
//! Mesa's lavapipe). Without one they fail, on purpose: a skipped GPU test
//! would hide a broken CI machine.

mod support;

use kiln_kernels::Compute;
use kiln_kernels::decontam::IndexBuilder;
use kiln_kernels::minhash::{MinHashParams, MinHasher, Shingle};
use support::{Rng, gpu};

const PIECES: &[&str] = &[
    "the",
    "The",
    "QUICK",
    "brown",
    "fox",
    "jumps",
    "über",
    "Straße",
    "日本語",
    "テキスト",
    "ß",
    "İstanbul",
    "é\u{301}",
    "🦀",
    "Ω",
    "x",
    "a",
    "1234",
    "fn",
    "main()",
    "{",
    "}",
    "ΣΑΣ",
    "\u{0}",
];
const SPACES: &[&str] =
    &[" ", " ", " ", "  ", "\n", "\t", "\r\n", "\u{a0}", "\u{3000}", "\u{2028}", "\u{b}", "\u{c}", ""];

fn random_texts(rng: &mut Rng, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let words = match i % 10 {
                0 => 0,
                1 => rng.below(4) as usize,
                9 => 200 + rng.below(800) as usize,
                _ => rng.below(120) as usize,
            };
            let mut text = String::new();
            for _ in 0..words {
                text.push_str(PIECES[rng.below(PIECES.len() as u64) as usize]);
                text.push_str(SPACES[rng.below(SPACES.len() as u64) as usize]);
            }
            text
        })
        .collect()
}

fn real_texts() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/data/rustdoc-sample.jsonl");
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    data.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            v["text"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn assert_signatures_match(texts: &[String], params: MinHashParams, gpu: &Compute) {
    let on_cpu = MinHasher::new(params, &Compute::Cpu).expect("kernel call").signatures(texts).expect("kernel call");
    let on_gpu = MinHasher::new(params, gpu).expect("kernel call").signatures(texts).expect("kernel call");
    assert_eq!(on_cpu.len(), texts.len());
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            on_gpu.get(i),
            on_cpu.get(i),
            "text {i} {:?} with {params:?}",
            text.chars().take(80).collect::<String>()
        );
    }
}

#[test]
fn minhash_signatures_match_the_cpu_on_random_texts() {
    let gpu = gpu();
    let mut rng = Rng::fresh();
    let texts = random_texts(&mut rng, 400);
    for params in [
        MinHashParams::default(),
        MinHashParams { shingle: Shingle::Chars(5), hash_bits: 32, ..Default::default() },
        MinHashParams { shingle: Shingle::Words(1), bands: 3, rows: 5, seed: rng.next(), hash_bits: 64 },
        MinHashParams { shingle: Shingle::Words(32), bands: 20, rows: 13, seed: u64::MAX, hash_bits: 64 },
    ] {
        assert_signatures_match(&texts, params, &gpu);
    }
}

#[test]
fn minhash_signatures_match_the_cpu_on_real_text() {
    let gpu = gpu();
    let texts = real_texts();
    assert!(texts.len() > 1000);
    assert_signatures_match(&texts, MinHashParams::default(), &gpu);
    assert_signatures_match(
        &texts,
        MinHashParams { shingle: Shingle::Chars(24), bands: 20, rows: 13, ..Default::default() },
        &gpu,
    );
}

#[test]
fn decontamination_lookup_matches_the_cpu() {
    let gpu = gpu();
    let mut rng = Rng::fresh();
    let real = real_texts();
    // Benchmarks: some real sections (so real records hit them) and random texts.
    let mut builder = IndexBuilder::new(Shingle::Words(13), 1).expect("kernel call");
    let picked: Vec<String> = real.iter().filter(|t| t.split_whitespace().count() > 30).step_by(37).cloned().collect();
    builder.add("real", &picked).expect("kernel call");
    builder.add("random", &random_texts(&mut rng, 50)).expect("kernel call");
    let index = builder.build();
    let mut texts = real;
    texts.extend(random_texts(&mut rng, 300));
    let on_cpu = index.lookup(&texts, &Compute::Cpu).expect("kernel call");
    let on_gpu = index.lookup(&texts, &gpu).expect("kernel call");
    assert_eq!(on_gpu, on_cpu);
    let hit = on_cpu.iter().filter(|c| c.hits > 0).count();
    assert!(hit >= picked.len(), "each indexed real section at least finds itself: {hit}");
}

#[test]
fn long_texts_and_huge_words_match_the_cpu() {
    let gpu = gpu();
    let texts = vec![
        (0..30000).map(|w| format!("w{w} ")).collect::<String>(),
        format!("start {} end", "x".repeat(100_000)),
        "日本語のテキスト ".repeat(3000),
        "y".repeat(20_000),
    ];
    for params in [MinHashParams::default(), MinHashParams { shingle: Shingle::Chars(24), ..Default::default() }] {
        assert_signatures_match(&texts, params, &gpu);
    }
}
