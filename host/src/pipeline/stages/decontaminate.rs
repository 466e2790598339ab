//! The built-in `decontaminate` stage: flags records that share n-grams (13
//! words by default, the GPT-3 method) with benchmark texts, so evaluation
//! data does not leak into training data. Benchmarks are JSONL files named in
//! the stage's config; their texts are indexed when the pipeline is loaded
//! (a missing or malformed file is a validation error naming file and line).
//! Lookup runs on the GPU when there is one ([`crate::compute`]).
//!
//! A record with at least `min_hits` n-gram positions found is, with
//! `action = "reject"` (default), rejected with reason
//! `contaminated: <benchmarks> (<hits> <n>-gram hits)`; with `action = "tag"`
//! it is kept with score `contamination_hits` and metadata
//! `contaminated_with`. Statistics count flagged records per benchmark.
//!
//! The index is built once and kept in the cache directory
//! (`$KILN_CACHE_DIR/decontam/<sha256>.idx`), keyed by the sha256 of the
//! benchmark files' bytes, names and fields and of the n-gram settings:
//! every other process that loads the pipeline — each task of a split run,
//! each rerun — reads it instead of parsing and hashing the benchmarks again
//! (a cache on the cluster's shared file system makes it once per run). A
//! copy that fails its digest is rebuilt, never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_kernels::decontam::{IndexBuilder, NgramIndex};
use kiln_kernels::shingle::Shingle;
use serde::Deserialize;

use crate::compute;
use crate::outcome::{Outcome, Quarantined, Rejected, Rejection};
use crate::record::Record;

/// `config` of a `decontaminate` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontamConfig {
    /// The benchmarks to protect.
    pub benchmarks: Vec<BenchmarkConfig>,
    /// n-gram length in words (default 13).
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    /// n-gram positions that must match to flag a record (default 1).
    #[serde(default = "default_min_hits")]
    pub min_hits: u32,
    /// `reject` (default) or `tag`.
    #[serde(default)]
    pub action: Action,
}

/// One benchmark file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkConfig {
    /// Name used in reasons and statistics.
    pub name: String,
    /// JSONL file, relative to the pipeline file.
    pub path: String,
    /// Fields holding benchmark text (default `["text"]`).
    #[serde(default = "default_fields")]
    pub fields: Vec<String>,
}

/// What happens to a flagged record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject it.
    #[default]
    Reject,
    /// Keep it, with a score and metadata saying what it matched.
    Tag,
}

fn default_ngram() -> usize {
    13
}
fn default_min_hits() -> u32 {
    1
}
fn default_fields() -> Vec<String> {
    vec!["text".into()]
}

/// A loaded decontamination stage.
#[derive(Debug)]
pub struct Decontaminator {
    index: NgramIndex,
    config: DecontamConfig,
    from_cache: bool,
}

const PLUGIN: &str = "builtin:decontaminate";
/// Seed of the index's n-gram hashes.
const INDEX_SEED: u64 = 0x6b69_6c6e;

impl Decontaminator {
    /// Reads every benchmark (paths relative to `base`) and builds the
    /// index, or reads it from `cache` (a directory) when it was built there
    /// from the same benchmarks.
    pub fn load(config: DecontamConfig, base: &Path, cache: Option<&Path>) -> Result<Self, String> {
        if config.benchmarks.is_empty() {
            return Err("invalid config: `benchmarks` is empty; name at least one benchmark file".into());
        }
        if config.min_hits == 0 {
            return Err("invalid config: `min_hits` must be at least 1".into());
        }
        let mut builder = IndexBuilder::new(Shingle::Words(config.ngram), INDEX_SEED)
            .map_err(|e| format!("invalid config: ngram: {e}"))?;
        let files = config.benchmarks.iter().map(|b| read_benchmark_file(b, base)).collect::<Result<Vec<_>, _>>()?;
        let cached = cache.map(|dir| dir.join("decontam").join(format!("{}.idx", cache_key(&config, &files))));
        let expected = |index: &NgramIndex| {
            index.shingle() == Shingle::Words(config.ngram)
                && index.seed() == INDEX_SEED
                && index.benchmarks().iter().map(|b| &b.name).eq(config.benchmarks.iter().map(|b| &b.name))
        };
        if let Some(index) = cached.as_deref().and_then(read_cached).filter(expected) {
            tracing::debug!(ngrams = index.len(), "decontamination index from the cache");
            return Ok(Decontaminator { index, config, from_cache: true });
        }
        let started = std::time::Instant::now();
        for (bench, (path, data)) in config.benchmarks.iter().zip(&files) {
            let texts = benchmark_texts(bench, path, data)?;
            builder.add(&bench.name, &texts).map_err(|e| e.to_string())?;
        }
        let index = builder.build();
        tracing::info!(ngrams = index.len(), seconds = started.elapsed().as_secs_f64(), "decontamination index built");
        if let Some(path) = &cached
            && let Err(e) = crate::pipeline::workdir::write_shared(path, &index.to_bytes())
        {
            // Only a lost saving: the next process builds it again.
            tracing::warn!("cannot keep the decontamination index in {}: {e}", path.display());
        }
        Ok(Decontaminator { index, config, from_cache: false })
    }

    /// Whether the index was read from the cache rather than built.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// A digest of the benchmarks' n-grams: a run only resumes with the same.
    pub fn digest(&self) -> u64 {
        self.index.digest()
    }

    /// Names of the benchmarks whose bits are set in `mask`.
    fn names(&self, mask: u32) -> Vec<&str> {
        self.index
            .benchmarks()
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, b)| b.name.as_str())
            .collect()
    }

    /// Runs over records: outcomes, and flagged records per benchmark.
    pub fn apply(&self, stage: &str, records: Vec<Record>) -> (Vec<Outcome>, BTreeMap<String, i64>) {
        let mut details = BTreeMap::new();
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        let found = match compute::with_fallback("decontamination lookup", |c| self.index.lookup(&texts, c)) {
            Ok(found) => found,
            Err(message) => {
                let error = format!("no kernel device: {message}");
                let outcomes = records
                    .into_iter()
                    .map(|r| Outcome::Quarantined(Quarantined::record(r, stage, PLUGIN, error.clone())))
                    .collect();
                return (outcomes, details);
            }
        };
        let outcomes = records
            .into_iter()
            .zip(found)
            .map(|(mut record, hit)| {
                if hit.hits < self.config.min_hits {
                    return Outcome::Kept(record);
                }
                let names = self.names(hit.benchmarks);
                for name in &names {
                    *details.entry(format!("records matching {name}")).or_default() += 1;
                }
                match self.config.action {
                    Action::Reject => Outcome::Rejected(Rejected {
                        rejected: Rejection::new(
                            stage,
                            PLUGIN,
                            format!("contaminated: {}", names.join(", ")),
                            format!(
                                "contaminated: {} ({} {}-gram hits)",
                                names.join(", "),
                                hit.hits,
                                self.config.ngram
                            ),
                        ),
                        record,
                    }),
                    Action::Tag => {
                        record.scores.insert("contamination_hits".into(), f64::from(hit.hits));
                        record.metadata.insert("contaminated_with".into(), serde_json::json!(names));
                        Outcome::Kept(record)
                    }
                }
            })
            .collect();
        (outcomes, details)
    }
}

/// One benchmark file's path and text.
fn read_benchmark_file(bench: &BenchmarkConfig, base: &Path) -> Result<(PathBuf, String), String> {
    let path = base.join(&bench.path);
    let data = crate::files::read_capped_text(&path, crate::files::MAX_DATA_FILE_BYTES, "a benchmark file")
        .map_err(|e| format!("benchmark `{}`: {e}", bench.name))?;
    Ok((path, data))
}

/// The cache key of the index of `files`: everything the index is made
/// of (format version, n-gram settings, each benchmark's name, fields and bytes).
fn cache_key(config: &DecontamConfig, files: &[(PathBuf, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(b"kiln decontamination index 1");
    // Another version of Kiln may cut or hash n-grams otherwise.
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(&(config.ngram as u64).to_le_bytes());
    field(&INDEX_SEED.to_le_bytes());
    for (bench, (_, data)) in config.benchmarks.iter().zip(files) {
        field(bench.name.as_bytes());
        field(bench.fields.join("\0").as_bytes());
        field(data.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The index kept at `path`, when there is one and it is whole.
fn read_cached(path: &Path) -> Option<NgramIndex> {
    let bytes = std::fs::read(path).ok()?;
    NgramIndex::from_bytes(&bytes)
        .inspect_err(|e| tracing::warn!("the decontamination index {} {e}: building it again", path.display()))
        .ok()
}

/// The texts of one benchmark file.
fn benchmark_texts(bench: &BenchmarkConfig, path: &Path, data: &str) -> Result<Vec<String>, String> {
    let mut texts = Vec::new();
    for (n, line) in data.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("benchmark `{}`: {}:{}", bench.name, path.display(), n + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}: not a JSON object: {e}", at()))?;
        for field in &bench.fields {
            match value.get(field) {
                Some(serde_json::Value::String(s)) => texts.push(s.clone()),
                Some(other) => texts.push(other.to_string()),
                None => {
                    return Err(format!(
                        "{}: no field `{field}`; set `fields` to the benchmark's text fields (it has: {})",
                        at(),
                        value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
                    ));
                }
            }
        }
    }
    if texts.is_empty() {
        return Err(format!("benchmark `{}`: {} holds no records", bench.name, path.display()));
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUESTION: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";

    fn setup(action: &str) -> (tempfile::TempDir, Result<Decontaminator, String>) {
        let dir = tempfile::tempdir().expect("test setup");
        std::fs::write(
            dir.path().join("gsm8k.jsonl"),
            format!("{}\n", serde_json::json!({"question": QUESTION, "answer": "72"})),
        )
        .expect("test setup");
        let config: DecontamConfig = toml::from_str(&format!(
            "benchmarks = [{{ name = \"gsm8k\", path = \"gsm8k.jsonl\", fields = [\"question\", \"answer\"] }}]\naction = \"{action}\""
        ))
        .expect("test setup");
        let d = Decontaminator::load(config, dir.path(), None);
        (dir, d)
    }

    #[test]
    fn leaked_benchmark_text_is_rejected_or_tagged() {
        let (_dir, d) = setup("reject");
        let d = d.expect("test setup");
        let leaked = format!("Solve this: {QUESTION}");
        let (out, details) =
            d.apply("dc", vec![Record::new("a", leaked.clone()), Record::new("b", "clean text about Rust")]);
        assert!(matches!(&out[0], Outcome::Rejected(r) if r.rejected.reason.starts_with("contaminated: gsm8k (")));
        assert!(matches!(&out[1], Outcome::Kept(_)));
        assert_eq!(details.get("records matching gsm8k"), Some(&1));
        let (_dir, tagging) = setup("tag");
        let (out, _) = tagging.expect("test setup").apply("dc", vec![Record::new("a", leaked)]);
        let Outcome::Kept(r) = &out[0] else { panic!("tagged records are kept") };
        assert!(r.scores["contamination_hits"] >= 1.0);
        assert_eq!(r.metadata["contaminated_with"], serde_json::json!(["gsm8k"]));
    }

    #[test]
    fn bad_benchmark_files_are_named() {
        let dir = tempfile::tempdir().expect("test setup");
        let config = |path: &str| DecontamConfig {
            benchmarks: vec![BenchmarkConfig { name: "b".into(), path: path.into(), fields: default_fields() }],
            ngram: 13,
            min_hits: 1,
            action: Action::Reject,
        };
        let missing = Decontaminator::load(config("nope.jsonl"), dir.path(), None).expect_err("must fail");
        assert!(missing.contains("benchmark `b`: cannot read") && missing.contains("nope.jsonl"), "{missing}");
        std::fs::write(dir.path().join("bad.jsonl"), "{\"text\": \"ok\"}\n{oops\n").expect("test setup");
        let bad = Decontaminator::load(config("bad.jsonl"), dir.path(), None).expect_err("must fail");
        assert!(bad.contains("bad.jsonl:2: not a JSON object"), "{bad}");
        std::fs::write(dir.path().join("field.jsonl"), "{\"question\": \"ok\"}\n").expect("test setup");
        let field = Decontaminator::load(config("field.jsonl"), dir.path(), None).expect_err("must fail");
        assert!(field.contains("no field `text`") && field.contains("it has: question"), "{field}");
    }

    #[test]
    fn the_index_is_built_once_and_read_from_the_cache() {
        let (dir, _) = setup("reject");
        let cache = dir.path().join("cache");
        let config = || -> DecontamConfig {
            toml::from_str("benchmarks = [{ name = \"gsm8k\", path = \"gsm8k.jsonl\", fields = [\"question\"] }]")
                .expect("test setup")
        };
        let built = Decontaminator::load(config(), dir.path(), Some(&cache)).expect("built");
        let read = Decontaminator::load(config(), dir.path(), Some(&cache)).expect("read");
        assert!(!built.from_cache() && read.from_cache());
        assert_eq!(read.digest(), built.digest());
        let leaked = vec![Record::new("a", format!("Solve: {QUESTION}"))];
        assert!(matches!(&read.apply("dc", leaked).0[0], Outcome::Rejected(_)));
        // Another benchmark file is another index; a damaged copy is rebuilt, never used.
        std::fs::write(dir.path().join("gsm8k.jsonl"), "{\"question\": \"What is two plus two?\"}\n").expect("write");
        let changed = Decontaminator::load(config(), dir.path(), Some(&cache)).expect("changed");
        assert!(!changed.from_cache() && changed.digest() != built.digest());
        let kept: Vec<PathBuf> =
            std::fs::read_dir(cache.join("decontam")).expect("cache").map(|e| e.expect("entry").path()).collect();
        assert_eq!(kept.len(), 2);
        for path in &kept {
            std::fs::write(path, b"KLNIDX01 damaged").expect("damage");
        }
        let rebuilt = Decontaminator::load(config(), dir.path(), Some(&cache)).expect("rebuilt");
        assert!(!rebuilt.from_cache() && rebuilt.digest() == changed.digest());
    }
}
