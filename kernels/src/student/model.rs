//! The student's architecture and weights on the host: configuration,
//! seeded initialisation, and the checkpoint format.
//!
//! ## Checkpoint format (`kiln-char-mlp/1`)
//! A safetensors file of `F32` tensors:
//! - `embedding` `[V, embed]`;
//! - `layers.{i}.weight` `[in, out]` and `layers.{i}.bias` `[out]` for each
//!   hidden layer `i` (ReLU), where the first layer's `in` is `context × embed`;
//! - `output.weight` `[hidden_last, V]` and `output.bias` `[V]`.
//!
//! and string metadata: `format` = `kiln-char-mlp/1`, `context`, `embed`,
//! `hidden` (comma-separated sizes), `vocab` (the characters of ids 3…, in
//! order; ids 0, 1, 2 are BOS, EOS and UNK), plus whatever the trainer adds
//! (steps, seed, tokens). `y = x · W + b` with `x` a row vector.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::vocab::Vocab;
use crate::checkpoint::{self, CheckpointError, NamedTensor};

/// The checkpoint format this module writes and reads.
pub const FORMAT: &str = "kiln-char-mlp/1";

/// Sizes of a character-level MLP language model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharLmConfig {
    /// Characters of context the model sees.
    pub context: usize,
    /// Width of a character's embedding.
    pub embed: usize,
    /// Widths of the hidden (ReLU) layers.
    pub hidden: Vec<usize>,
}

impl Default for CharLmConfig {
    fn default() -> Self {
        CharLmConfig { context: 32, embed: 16, hidden: vec![256] }
    }
}

impl CharLmConfig {
    /// Checks the sizes, saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.context == 0 || self.embed == 0 || self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(format!(
                "context, embed and every hidden size must be at least 1, and there must be a hidden layer \
                 (got context {}, embed {}, hidden {:?})",
                self.context, self.embed, self.hidden
            ));
        }
        let too_big = self.context > 4096 || self.embed > 4096 || self.hidden.iter().any(|&h| h > 16384);
        if too_big {
            return Err("sizes are capped at context 4096, embed 4096, hidden 16384".into());
        }
        Ok(())
    }

    /// `(in, out)` of every dense layer, the output layer last.
    pub fn layer_dims(&self, vocab: usize) -> Vec<(usize, usize)> {
        let mut dims = vec![self.context * self.embed];
        dims.extend(&self.hidden);
        dims.push(vocab);
        dims.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Trainable values of a model of these sizes over `vocab` ids.
    pub fn parameters(&self, vocab: usize) -> usize {
        vocab * self.embed + self.layer_dims(vocab).iter().map(|&(i, o)| i * o + o).sum::<usize>()
    }
}

/// One dense layer's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// `[inputs × outputs]`, row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
}

/// A character-level MLP language model: its sizes, vocabulary and weights.
#[derive(Debug, Clone, PartialEq)]
pub struct CharLm {
    /// Sizes.
    pub config: CharLmConfig,
    /// Characters ↔ ids.
    pub vocab: Vocab,
    /// `[V × embed]`.
    pub embedding: Vec<f32>,
    /// Hidden layers, then the output layer.
    pub layers: Vec<Dense>,
}

impl CharLm {
    /// A freshly initialised model: embeddings from N(0, 1), weights from
    /// N(0, 2/fan_in) (He, for the ReLU layers; the output layer from
    /// N(0, 1/fan_in)), biases zero. Deterministic in `seed`.
    pub fn init(config: CharLmConfig, vocab: Vocab, seed: u64) -> CharLm {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = |n: usize, std: f32| -> Vec<f32> {
            let dist = Normal::new(0.0f32, std.max(f32::MIN_POSITIVE)).unwrap_or_else(|_| unreachable_normal());
            (0..n).map(|_| dist.sample(&mut rng)).collect()
        };
        let embedding = normal(vocab.len() * config.embed, 1.0);
        let dims = config.layer_dims(vocab.len());
        let last = dims.len() - 1;
        let layers = dims
            .iter()
            .enumerate()
            .map(|(i, &(inputs, outputs))| {
                let gain = if i == last { 1.0 } else { 2.0 };
                Dense {
                    weight: normal(inputs * outputs, (gain / inputs as f32).sqrt()),
                    bias: vec![0.0; outputs],
                    inputs,
                    outputs,
                }
            })
            .collect();
        CharLm { config, vocab, embedding, layers }
    }

    /// Trainable values in all.
    pub fn parameters(&self) -> usize {
        self.embedding.len() + self.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum::<usize>()
    }

    /// The tensors in checkpoint order and naming.
    pub fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![NamedTensor {
            name: "embedding".into(),
            shape: vec![self.vocab.len(), self.config.embed],
            data: self.embedding.clone(),
        }];
        for (i, layer) in self.layers.iter().enumerate() {
            let prefix = tensor_prefix(i, self.layers.len());
            out.push(NamedTensor {
                name: format!("{prefix}.weight"),
                shape: vec![layer.inputs, layer.outputs],
                data: layer.weight.clone(),
            });
            out.push(NamedTensor {
                name: format!("{prefix}.bias"),
                shape: vec![layer.outputs],
                data: layer.bias.clone(),
            });
        }
        out
    }

    /// Replaces the weights with `tensors` in [`CharLm::tensors`] order (no checks: same model).
    pub(crate) fn set_values(&mut self, mut values: impl Iterator<Item = Vec<f32>>) {
        self.embedding = values.next().unwrap_or_default();
        for layer in &mut self.layers {
            layer.weight = values.next().unwrap_or_default();
            layer.bias = values.next().unwrap_or_default();
        }
    }

    /// Saves the model to `path`, with `extra` metadata (training facts).
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), CheckpointError> {
        let mut meta = extra.clone();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("context".into(), self.config.context.to_string());
        meta.insert("embed".into(), self.config.embed.to_string());
        let hidden: Vec<String> = self.config.hidden.iter().map(usize::to_string).collect();
        meta.insert("hidden".into(), hidden.join(","));
        meta.insert("vocab".into(), self.vocab.chars().iter().collect());
        checkpoint::save(path, &self.tensors(), &meta)
    }

    /// Loads the model at `path`, with its metadata. When `expect` is given,
    /// a checkpoint of other sizes is refused, naming both.
    pub fn load(
        path: &Path,
        expect: Option<&CharLmConfig>,
    ) -> Result<(CharLm, BTreeMap<String, String>), CheckpointError> {
        let mut file = checkpoint::load(path)?;
        let format = file.meta("format")?;
        if format != FORMAT {
            return Err(file.bad_meta("format", format!("`{format}` is not `{FORMAT}`; this is not a Kiln student")));
        }
        let hidden = file
            .meta("hidden")?
            .split(',')
            .map(|h| h.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file.bad_meta("hidden", e.to_string()))?;
        let config = CharLmConfig { context: file.meta_parsed("context")?, embed: file.meta_parsed("embed")?, hidden };
        config.check().map_err(|e| file.bad_meta("context/embed/hidden", e))?;
        if let Some(expected) = expect.filter(|e| **e != config) {
            return Err(file.bad_meta(
                "context/embed/hidden",
                format!(
                    "the checkpoint is context {}, embed {}, hidden {:?} but the stage asks for context {}, embed {}, \
                     hidden {:?}; train again (run with --fresh) or set the sizes it was trained with",
                    config.context, config.embed, config.hidden, expected.context, expected.embed, expected.hidden
                ),
            ));
        }
        let vocab = Vocab::from_chars(file.meta("vocab")?.chars().collect());
        let mut model = CharLm::init(config, vocab, 0);
        let shapes: Vec<(String, Vec<usize>)> = model.tensors().into_iter().map(|t| (t.name, t.shape)).collect();
        let values = shapes.iter().map(|(name, shape)| file.take(name, shape)).collect::<Result<Vec<_>, _>>()?;
        if values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(file.bad_meta("weights", "holds NaN or infinite values; train again".into()));
        }
        model.set_values(values.into_iter());
        Ok((model, file.metadata))
    }
}

/// `layers.{i}` for hidden layers, `output` for the last.
pub(crate) fn tensor_prefix(i: usize, layers: usize) -> String {
    if i + 1 == layers { "output".into() } else { format!("layers.{i}") }
}

/// `Normal::new` only fails for a negative or NaN deviation, which `init` never passes.
fn unreachable_normal() -> Normal<f32> {
    Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!("N(0, 1) is a valid distribution"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> CharLm {
        CharLm::init(CharLmConfig { context: 4, embed: 3, hidden: vec![5] }, Vocab::from_texts(["ab\n"]), 9)
    }

    #[test]
    fn init_is_seeded_and_shaped() {
        let m = tiny();
        assert_eq!(m, tiny());
        assert_eq!(m.layers.len(), 2);
        assert_eq!((m.layers[0].inputs, m.layers[0].outputs), (12, 5));
        assert_eq!((m.layers[1].inputs, m.layers[1].outputs), (5, 6));
        assert_eq!(m.parameters(), 6 * 3 + 12 * 5 + 5 + 5 * 6 + 6);
        assert_eq!(m.config.parameters(m.vocab.len()), m.parameters());
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_other_shapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.safetensors");
        let m = tiny();
        m.save(&path, &BTreeMap::from([("steps".into(), "3".into())])).expect("save");
        let (back, meta) = CharLm::load(&path, Some(&m.config)).expect("load");
        assert_eq!(back, m);
        assert_eq!(meta["steps"], "3");
        let other = CharLmConfig { context: 8, ..m.config.clone() };
        let e = CharLm::load(&path, Some(&other)).expect_err("other shape");
        assert!(e.to_string().contains("context 4"), "{e}");
    }
}
