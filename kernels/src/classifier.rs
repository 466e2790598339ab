//! # A hashed n-gram quality classifier (fastText-style)
//!
//! The phi-1 / FineWeb-Edu recipe: a judge labels a sample, and a cheap
//! classifier learns the label so that it can be applied to a whole corpus.
//! A text becomes the hashes of its lower-cased word n-grams (1 to
//! `word_ngrams`), bucketed into `buckets` rows of an embedding table; the
//! mean of its rows (`embedding_bag`) goes through one dense layer to two
//! logits (negative, positive). Training is AdamW on softmax cross-entropy
//! over seeded batches of documents, on the [`crate::nn`] kernels (GPU or CPU).
//!
//! Checkpoint (`kiln-ngram-classifier/1`, safetensors): `embedding`
//! `[buckets, dim]`, `output.weight` `[dim, 2]`, `output.bias` `[2]`; metadata
//! `format`, `buckets`, `dim`, `word_ngrams`.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::Compute;
use crate::KernelError;
use crate::checkpoint::{self, CheckpointError, NamedTensor};
use crate::nn::optim::{Optimizer, ParamShape};
use crate::nn::{Activation, Nn};

/// The checkpoint format.
pub const FORMAT: &str = "kiln-ngram-classifier/1";

/// Features and sizes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NgramConfig {
    /// Rows of the hashed embedding table.
    pub buckets: usize,
    /// Embedding width.
    pub dim: usize,
    /// Longest word n-gram hashed (1 = bag of words).
    pub word_ngrams: usize,
}

impl Default for NgramConfig {
    fn default() -> Self {
        NgramConfig { buckets: 1 << 18, dim: 32, word_ngrams: 2 }
    }
}

impl NgramConfig {
    /// Checks the sizes, saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        if !(16..=1 << 24).contains(&self.buckets) || !(1..=1024).contains(&self.dim) {
            return Err(format!(
                "buckets must be 16..=16777216 and dim 1..=1024 (got {} and {})",
                self.buckets, self.dim
            ));
        }
        if !(1..=5).contains(&self.word_ngrams) {
            return Err(format!("word_ngrams must be 1..=5, got {}", self.word_ngrams));
        }
        Ok(())
    }

    /// The bucket ids of `text`'s word n-grams (at least one: an empty text
    /// hashes the empty string).
    pub fn features(&self, text: &str) -> Vec<u32> {
        let words: Vec<String> =
            text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        let mut out = Vec::with_capacity(words.len() * self.word_ngrams);
        for n in 1..=self.word_ngrams {
            for gram in words.windows(n) {
                let joined = gram.join(" ");
                out.push((xxh3_64_with_seed(joined.as_bytes(), n as u64) % self.buckets as u64) as u32);
            }
        }
        if out.is_empty() {
            out.push((xxh3_64_with_seed(b"", 0) % self.buckets as u64) as u32);
        }
        out
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierTraining {
    /// Optimiser steps.
    pub steps: u32,
    /// Documents per step.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// Seed of initialisation and batches.
    pub seed: u64,
}

impl Default for ClassifierTraining {
    fn default() -> Self {
        ClassifierTraining { steps: 400, batch: 64, lr: 0.01, seed: 1 }
    }
}

/// A trained (or fresh) classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    /// Features and sizes.
    pub config: NgramConfig,
    /// `[buckets × dim]`.
    pub embedding: Vec<f32>,
    /// `[dim × 2]`.
    pub weight: Vec<f32>,
    /// `[2]`.
    pub bias: Vec<f32>,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A kernel failed.
    #[error(transparent)]
    Nn(#[from] KernelError),
    /// No labelled document.
    #[error("no labelled document to train on")]
    Empty,
    /// Every label is the same.
    #[error("every labelled document is {0}: a classifier needs both classes")]
    SingleClass(&'static str),
    /// The loss became NaN or infinite.
    #[error("the loss became {loss} at step {step}: training diverged; lower `lr` and run again")]
    NonFinite {
        /// The step.
        step: u32,
        /// The loss.
        loss: f32,
    },
}

impl Classifier {
    /// A fresh classifier: embeddings from N(0, 0.1), the output layer from N(0, 1/dim).
    pub fn init(config: NgramConfig, seed: u64) -> Classifier {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = |n: usize, std: f32| -> Vec<f32> {
            match Normal::new(0.0f32, std) {
                Ok(d) => (0..n).map(|_| d.sample(&mut rng)).collect(),
                Err(_) => vec![0.0; n],
            }
        };
        let embedding = normal(config.buckets * config.dim, 0.1);
        let weight = normal(config.dim * 2, (1.0 / config.dim as f32).sqrt());
        Classifier { embedding, weight, bias: vec![0.0; 2], config }
    }

    /// Trains on `(features, positive)` documents; returns the classifier
    /// and the loss curve `(step, loss)` read every `steps / 20` steps.
    pub fn train(
        compute: &Compute,
        config: NgramConfig,
        docs: &[(Vec<u32>, bool)],
        training: &ClassifierTraining,
    ) -> Result<(Classifier, Vec<(u32, f32)>), ClassifierError> {
        if docs.is_empty() {
            return Err(ClassifierError::Empty);
        }
        if docs.iter().all(|d| d.1) {
            return Err(ClassifierError::SingleClass("positive"));
        }
        if docs.iter().all(|d| !d.1) {
            return Err(ClassifierError::SingleClass("negative"));
        }
        let fresh = Classifier::init(config.clone(), training.seed);
        let nn = Nn::new(compute);
        let (b, d) = (training.batch.max(1), config.dim);
        let mut table = nn.tensor(config.buckets, d, &fresh.embedding)?;
        let mut weight = nn.tensor(d, 2, &fresh.weight)?;
        let mut bias = nn.tensor(1, 2, &fresh.bias)?;
        let shapes = [&table, &weight, &bias].map(|t| ParamShape::of(t, false));
        let mut optimizer = Optimizer::new(&nn, &shapes, None)?;
        let mut pooled = nn.zeros(b, d)?;
        let mut dpooled = nn.zeros(b, d)?;
        let mut logits = nn.zeros(b, 2)?;
        let mut dlogits = nn.zeros(b, 2)?;
        let mut losses = nn.zeros(b, 1)?;
        let log_every = (training.steps / 20).max(1);
        let mut curve = Vec::new();
        for step in 1..=training.steps {
            let mut rng =
                ChaCha8Rng::seed_from_u64(training.seed ^ u64::from(step).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (mut ids, mut offsets, mut targets) = (Vec::new(), vec![0u32], Vec::with_capacity(b));
            for _ in 0..b {
                let (features, positive) = &docs[rng.random_range(0..docs.len())];
                ids.extend_from_slice(features);
                offsets.push(ids.len() as u32);
                targets.push(u32::from(*positive));
            }
            let bags = nn.bags(&ids, &offsets, config.buckets)?;
            let targets = nn.ids(&targets)?;
            nn.embedding_bag_forward(&table, &bags, &mut pooled)?;
            nn.dense_forward(&pooled, &weight, &bias, Activation::Identity, &mut logits)?;
            nn.softmax_cross_entropy(&logits, &targets, &mut losses, &mut dlogits)?;
            let [dtable, dweight, dbias] = optimizer.grads_array()?;
            nn.dense_backward(
                &pooled,
                &weight,
                &logits,
                Activation::Identity,
                &mut dlogits,
                Some(&mut dpooled),
                dweight,
                dbias,
            )?;
            nn.embedding_bag_backward(&dpooled, &bags, dtable)?;
            optimizer.update(&nn, [&mut table, &mut weight, &mut bias], training.lr, 0.0)?;
            if step % log_every == 0 || step == training.steps {
                let l = nn.read(&losses)?;
                let loss = l.iter().sum::<f32>() / l.len().max(1) as f32;
                if !loss.is_finite() {
                    return Err(ClassifierError::NonFinite { step, loss });
                }
                curve.push((step, loss));
            }
        }
        let trained =
            Classifier { embedding: nn.read(&table)?, weight: nn.read(&weight)?, bias: nn.read(&bias)?, config };
        Ok((trained, curve))
    }

    /// The probability that each text is positive.
    pub fn predict(&self, compute: &Compute, texts: &[&str]) -> Result<Vec<f32>, KernelError> {
        const BATCH: usize = 1024;
        let nn = Nn::new(compute);
        let d = self.config.dim;
        let table = nn.tensor(self.config.buckets, d, &self.embedding)?;
        let weight = nn.tensor(d, 2, &self.weight)?;
        let bias = nn.tensor(1, 2, &self.bias)?;
        let mut out = Vec::with_capacity(texts.len());
        for group in texts.chunks(BATCH) {
            let (mut ids, mut offsets) = (Vec::new(), vec![0u32]);
            for text in group {
                ids.extend(self.config.features(text));
                offsets.push(ids.len() as u32);
            }
            let bags = nn.bags(&ids, &offsets, self.config.buckets)?;
            let n = group.len();
            let mut pooled = nn.zeros(n, d)?;
            let mut logits = nn.zeros(n, 2)?;
            let mut probs = nn.zeros(n, 2)?;
            nn.embedding_bag_forward(&table, &bags, &mut pooled)?;
            nn.dense_forward(&pooled, &weight, &bias, Activation::Identity, &mut logits)?;
            nn.softmax(&logits, &mut probs)?;
            out.extend(nn.read(&probs)?.chunks_exact(2).map(|p| p[1]));
        }
        Ok(out)
    }

    /// Saves to `path` with `extra` metadata.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), CheckpointError> {
        let mut meta = extra.clone();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("buckets".into(), self.config.buckets.to_string());
        meta.insert("dim".into(), self.config.dim.to_string());
        meta.insert("word_ngrams".into(), self.config.word_ngrams.to_string());
        let tensors = [
            NamedTensor {
                name: "embedding".into(),
                shape: vec![self.config.buckets, self.config.dim],
                data: self.embedding.clone(),
            },
            NamedTensor { name: "output.weight".into(), shape: vec![self.config.dim, 2], data: self.weight.clone() },
            NamedTensor { name: "output.bias".into(), shape: vec![2], data: self.bias.clone() },
        ];
        checkpoint::save(path, &tensors, &meta)
    }

    /// Loads the classifier at `path`.
    pub fn load(path: &Path) -> Result<Classifier, CheckpointError> {
        let mut file = checkpoint::load(path)?;
        let format = file.meta("format")?;
        if format != FORMAT {
            return Err(file.bad_meta("format", format!("`{format}` is not `{FORMAT}`; this is not a Kiln classifier")));
        }
        let config = NgramConfig {
            buckets: file.meta_parsed("buckets")?,
            dim: file.meta_parsed("dim")?,
            word_ngrams: file.meta_parsed("word_ngrams")?,
        };
        config.check().map_err(|e| file.bad_meta("buckets/dim/word_ngrams", e))?;
        let embedding = file.take("embedding", &[config.buckets, config.dim])?;
        let weight = file.take("output.weight", &[config.dim, 2])?;
        let bias = file.take("output.bias", &[2])?;
        Ok(Classifier { config, embedding, weight, bias })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_hash_word_ngrams_into_buckets() {
        let c = NgramConfig { buckets: 64, dim: 4, word_ngrams: 2 };
        let f = c.features("Hello, hello world");
        assert_eq!(f.len(), 3 + 2);
        assert_eq!(f[0], f[1], "case-folded");
        assert!(f.iter().all(|&b| b < 64));
        assert_eq!(c.features("").len(), 1);
    }

    #[test]
    fn learns_a_separable_label_and_refuses_one_class() {
        let config = NgramConfig { buckets: 1024, dim: 8, word_ngrams: 1 };
        let docs: Vec<(Vec<u32>, bool)> = (0..200)
            .map(|i| {
                let good = i % 2 == 0;
                let text = if good { format!("clear careful answer {i}") } else { format!("sloppy wrong junk {i}") };
                (config.features(&text), good)
            })
            .collect();
        let training = ClassifierTraining { steps: 150, batch: 32, lr: 0.05, seed: 3 };
        let (model, curve) = Classifier::train(&Compute::Cpu, config.clone(), &docs, &training).expect("train");
        assert!(curve.last().expect("curve").1 < 0.2, "{curve:?}");
        let p = model.predict(&Compute::Cpu, &["a clear careful answer", "sloppy junk"]).expect("predict");
        assert!(p[0] > 0.8 && p[1] < 0.2, "{p:?}");
        let one: Vec<_> = docs.iter().filter(|d| d.1).cloned().collect();
        assert!(matches!(
            Classifier::train(&Compute::Cpu, config, &one, &training),
            Err(ClassifierError::SingleClass(_))
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.safetensors");
        model.save(&path, &BTreeMap::new()).expect("save");
        assert_eq!(Classifier::load(&path).expect("load"), model);
    }
}
