//! n-gram decontamination: an index of the n-gram hashes (13 words by default,
//! the GPT-3 method) of benchmark texts, and a lookup that counts, for each
//! record, how many of its n-gram positions occur in the index and which
//! benchmarks they come from. Lookup runs on the GPU (`shaders/decontam.wgsl`,
//! a binary search per n-gram) or on the CPU (the reference, same results).
//!
//! n-grams follow [`crate::shingle`]: case and whitespace do not matter, and a
//! text shorter than `n` words is one n-gram of all its words — so a short
//! benchmark item matches a record only when the whole record is that item.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::device::{Compute, Gpu, KernelError};
use crate::packing::plan;
use crate::shingle::{Shingle, prepare, scan};

const SOURCE: &str = concat!(include_str!("../shaders/shingle.wgsl"), include_str!("../shaders/decontam.wgsl"));

/// Benchmarks one index can attribute hits to (one bit each).
pub const MAX_BENCHMARKS: usize = 32;

/// Why an index could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    /// More benchmarks than [`MAX_BENCHMARKS`].
    #[error("{0} benchmarks given; one decontamination index attributes at most 32: split them over two stages")]
    TooManyBenchmarks(usize),
    /// Bad shingle parameters.
    #[error("{0}")]
    Shingle(String),
}

/// The first bytes of a serialized index (and its format's version).
const INDEX_MAGIC: &[u8; 8] = b"KLNIDX01";

/// Reads a serialized index front to back.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or("is truncated")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "is truncated".to_string())?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn usize(&mut self) -> Result<usize, String> {
        usize::try_from(self.u64()?).map_err(|e| e.to_string())
    }
}

/// One benchmark in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Benchmark {
    /// Its name.
    pub name: String,
    /// Texts indexed.
    pub texts: usize,
    /// Distinct n-grams it contributed.
    pub ngrams: usize,
}

/// Sorted n-gram hashes of benchmarks, each with the set of benchmarks holding it.
#[derive(Debug, Clone)]
pub struct NgramIndex {
    shingle: Shingle,
    seed: u64,
    hashes: Vec<u64>,
    masks: Vec<u32>,
    benchmarks: Vec<Benchmark>,
}

/// Builds an [`NgramIndex`] benchmark by benchmark.
#[derive(Debug)]
pub struct IndexBuilder {
    shingle: Shingle,
    seed: u64,
    masks: HashMap<u64, u32>,
    benchmarks: Vec<Benchmark>,
}

impl IndexBuilder {
    /// An empty index of `shingle` n-grams.
    pub fn new(shingle: Shingle, seed: u64) -> Result<Self, IndexError> {
        shingle.validate().map_err(IndexError::Shingle)?;
        Ok(IndexBuilder { shingle, seed, masks: HashMap::new(), benchmarks: Vec::new() })
    }

    /// Adds the texts of one benchmark.
    pub fn add<S: AsRef<str>>(&mut self, name: &str, texts: &[S]) -> Result<(), IndexError> {
        let bit = self.benchmarks.len();
        if bit >= MAX_BENCHMARKS {
            return Err(IndexError::TooManyBenchmarks(bit + 1));
        }
        let mut mine = std::collections::HashSet::new();
        for text in texts {
            scan(&prepare(text.as_ref(), self.shingle), self.shingle, self.seed, |h| {
                mine.insert(h);
            });
        }
        for &h in &mine {
            *self.masks.entry(h).or_default() |= 1 << bit;
        }
        self.benchmarks.push(Benchmark { name: name.to_string(), texts: texts.len(), ngrams: mine.len() });
        Ok(())
    }

    /// The finished index.
    pub fn build(self) -> NgramIndex {
        let mut entries: Vec<(u64, u32)> = self.masks.into_iter().collect();
        entries.sort_unstable();
        let (hashes, masks) = entries.into_iter().unzip();
        NgramIndex { shingle: self.shingle, seed: self.seed, hashes, masks, benchmarks: self.benchmarks }
    }
}

/// What the lookup found for one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Contamination {
    /// n-gram positions of the text found in the index.
    pub hits: u32,
    /// Bit `i` set when benchmark `i` holds one of them.
    pub benchmarks: u32,
}

impl NgramIndex {
    /// The benchmarks, in bit order.
    pub fn benchmarks(&self) -> &[Benchmark] {
        &self.benchmarks
    }

    /// A digest of the index's content (n-grams and their benchmarks).
    pub fn digest(&self) -> u64 {
        let mut bytes = Vec::with_capacity(self.hashes.len() * 12);
        for (h, m) in self.hashes.iter().zip(&self.masks) {
            bytes.extend_from_slice(&h.to_le_bytes());
            bytes.extend_from_slice(&m.to_le_bytes());
        }
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// The index as bytes ([`NgramIndex::from_bytes`] reads them back): a
    /// header (magic, shingle, seed, benchmarks), the sorted hashes and their
    /// masks, little-endian, then a checksum (xxh3) of all of it, so that a
    /// damaged copy — header included — is refused.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.hashes.len() * 12);
        out.extend_from_slice(INDEX_MAGIC);
        out.push(u8::from(self.shingle.is_chars()));
        out.extend_from_slice(&(self.shingle.n() as u64).to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&(self.benchmarks.len() as u64).to_le_bytes());
        for b in &self.benchmarks {
            out.extend_from_slice(&(b.name.len() as u64).to_le_bytes());
            out.extend_from_slice(b.name.as_bytes());
            out.extend_from_slice(&(b.texts as u64).to_le_bytes());
            out.extend_from_slice(&(b.ngrams as u64).to_le_bytes());
        }
        out.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        self.hashes.iter().for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
        self.masks.iter().for_each(|m| out.extend_from_slice(&m.to_le_bytes()));
        let checksum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// How its texts are cut into n-grams.
    pub fn shingle(&self) -> Shingle {
        self.shingle
    }

    /// The seed of its n-gram hashes.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Reads what [`NgramIndex::to_bytes`] wrote; refuses anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<NgramIndex, String> {
        let body_len = bytes.len().checked_sub(8).ok_or("is truncated")?;
        let (body, sum) = bytes.split_at(body_len);
        let sum: [u8; 8] = sum.try_into().map_err(|_| "is truncated".to_string())?;
        if bytes.get(..INDEX_MAGIC.len()) != Some(INDEX_MAGIC.as_slice()) {
            return Err("not a Kiln decontamination index (or another version of one)".into());
        }
        if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(sum) {
            return Err("is damaged (its checksum does not match its content)".into());
        }
        let mut r = Cursor { bytes: body, at: INDEX_MAGIC.len() };
        let chars = match r.take(1)?[0] {
            0 => false,
            1 => true,
            other => return Err(format!("names an unknown shingle kind {other}")),
        };
        let n = r.usize()?;
        let shingle = if chars { Shingle::Chars(n) } else { Shingle::Words(n) };
        shingle.validate()?;
        let seed = r.u64()?;
        let count = r.usize()?;
        if count > MAX_BENCHMARKS {
            return Err(format!("names {count} benchmarks"));
        }
        let mut benchmarks = Vec::with_capacity(count);
        for _ in 0..count {
            let len = r.usize()?;
            let name = String::from_utf8(r.take(len)?.to_vec()).map_err(|e| e.to_string())?;
            benchmarks.push(Benchmark { name, texts: r.usize()?, ngrams: r.usize()? });
        }
        let len = r.usize()?;
        if len.checked_mul(12).is_none_or(|size| size > bytes.len()) {
            return Err(format!("names {len} n-grams in {} bytes", bytes.len()));
        }
        let hashes: Vec<u64> =
            r.take(len * 8)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
        let masks: Vec<u32> =
            r.take(len * 4)?.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default())).collect();
        if r.at != body.len() {
            return Err("has bytes after its end".into());
        }
        if !hashes.windows(2).all(|w| w[0] < w[1]) {
            return Err("is damaged (its n-grams are not strictly increasing)".into());
        }
        Ok(NgramIndex { shingle, seed, hashes, masks, benchmarks })
    }

    /// Distinct n-grams indexed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Looks up every text.
    pub fn lookup<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        compute: &Compute,
    ) -> Result<Vec<Contamination>, KernelError> {
        match compute {
            Compute::Cpu => Ok(texts.par_iter().with_min_len(64).map(|t| self.lookup_one(t.as_ref())).collect()),
            Compute::Gpu(gpu) => self.lookup_gpu(gpu, texts),
        }
    }

    /// The CPU reference for one text.
    pub fn lookup_one(&self, text: &str) -> Contamination {
        let mut found = Contamination::default();
        scan(&prepare(text, self.shingle), self.shingle, self.seed, |h| {
            if let Ok(i) = self.hashes.binary_search(&h) {
                found.hits += 1;
                found.benchmarks |= self.masks[i];
            }
        });
        found
    }

    fn lookup_gpu<S: AsRef<str> + Sync>(&self, gpu: &Gpu, texts: &[S]) -> Result<Vec<Contamination>, KernelError> {
        let prepared: Vec<_> = texts.par_iter().map(|t| prepare(t.as_ref(), self.shingle)).collect();
        let index_budget = (self.hashes.len() * 8) as u64;
        if index_budget > gpu.max_binding_bytes() || self.hashes.len() > u32::MAX as usize {
            tracing::info!(
                ngrams = self.hashes.len(),
                "the n-gram index exceeds the GPU's buffer limit; looking up on the CPU"
            );
            return self.lookup(texts, &Compute::Cpu);
        }
        let words: Vec<u32> = self.hashes.iter().flat_map(|&h| [h as u32, (h >> 32) as u32]).collect();
        let hashes = gpu.buffer("decontam-index", bytemuck::cast_slice(&words), false);
        let masks = gpu.buffer("decontam-masks", bytemuck::cast_slice(&self.masks), false);
        let mut out = vec![Contamination::default(); texts.len()];
        let budget = gpu.max_binding_bytes().min(1 << 30);
        let plan = plan(&prepared, self.shingle, budget, (budget / 8) as usize);
        for chunk in plan.chunks {
            let grid = gpu.grid(chunk.spans.len() as u64);
            let uniform = [
                chunk.spans.len() as u32,
                self.shingle.n() as u32,
                u32::from(self.shingle.is_chars()),
                self.seed as u32,
                (self.seed >> 32) as u32,
                self.hashes.len() as u32,
                grid.row_stride,
            ];
            let params = gpu.buffer("decontam-params", bytemuck::cast_slice(&uniform), true);
            let text = gpu.buffer("decontam-text", &chunk.bytes, false);
            let pieces = gpu.buffer("decontam-pieces", bytemuck::cast_slice(&chunk.spans), false);
            let result = gpu.run(
                "decontam",
                SOURCE,
                &[&params, &text, &pieces, &hashes, &masks],
                chunk.spans.len() as u64 * 8,
                grid,
            )?;
            let result: &[u32] = bytemuck::cast_slice(&result);
            // Pieces own disjoint windows: hits add up, benchmarks combine.
            for (&owner, pair) in chunk.owners.iter().zip(result.chunks_exact(2)) {
                out[owner].hits += pair[0];
                out[owner].benchmarks |= pair[1];
            }
        }
        for i in plan.on_cpu {
            out[i] = self.lookup_one(texts[i].as_ref());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> NgramIndex {
        let mut b = IndexBuilder::new(Shingle::Words(13), 1).expect("test setup");
        b.add("gsm8k", &["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"]).expect("test setup");
        b.add("tiny", &["What is two plus two?"]).expect("test setup");
        b.build()
    }

    #[test]
    fn records_sharing_ngrams_are_found_and_attributed() {
        let idx = index();
        assert_eq!(idx.benchmarks()[1].ngrams, 1);
        let leaked = "Here is a problem. natalia sold clips to 48 of her friends in april, and then she sold half as many clips in may. Solve it.";
        let c = idx.lookup_one(leaked);
        assert_eq!(c.hits, 8, "20 shared words hold 8 windows of 13: {c:?}");
        assert_eq!(c.benchmarks, 0b01);
        assert_eq!(idx.lookup_one("what is TWO plus   two?"), Contamination { hits: 1, benchmarks: 0b10 });
        assert_eq!(idx.lookup_one("An unrelated text about Rust borrowing and lifetimes."), Contamination::default());
        assert_eq!(idx.lookup_one(""), Contamination::default());
    }

    #[test]
    fn too_many_benchmarks_is_an_error() {
        let mut b = IndexBuilder::new(Shingle::Words(13), 1).expect("test setup");
        for i in 0..MAX_BENCHMARKS {
            b.add(&format!("b{i}"), &["x"]).expect("test setup");
        }
        assert_eq!(b.add("one-more", &["x"]), Err(IndexError::TooManyBenchmarks(33)));
    }

    #[test]
    fn an_index_round_trips_through_bytes_and_a_damaged_copy_is_refused() {
        let idx = index();
        let bytes = idx.to_bytes();
        let back = NgramIndex::from_bytes(&bytes).expect("round trip");
        assert_eq!((back.digest(), back.benchmarks(), back.len()), (idx.digest(), idx.benchmarks(), idx.len()));
        assert_eq!(back.lookup_one("what is TWO plus   two?"), idx.lookup_one("what is two plus two?"));
        let mut flipped = bytes.clone();
        let middle = bytes.len() - 20;
        flipped[middle] ^= 1;
        assert!(NgramIndex::from_bytes(&flipped).expect_err("damaged").contains("damaged"));
        let mut header = bytes.clone();
        header[INDEX_MAGIC.len() + 1] ^= 1;
        assert!(NgramIndex::from_bytes(&header).expect_err("damaged header").contains("damaged"));
        assert!(NgramIndex::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(NgramIndex::from_bytes(b"KLNIDX00").is_err());
    }
}
