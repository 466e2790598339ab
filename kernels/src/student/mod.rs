//! # The student: a character-level MLP language model
//!
//! Bengio-style: the previous `context` characters are embedded, concatenated
//! and fed through ReLU hidden layers to a softmax over the vocabulary. It is
//! small enough to train in seconds on a CPU and big enough to learn
//! short-range structure (the arithmetic of `Step 1: 47 + 38 = 85`), which is
//! what Kiln's refinement demonstration needs: two students with the same
//! compute, one trained on raw teacher output and one on refined output,
//! compared on held-out problems.
//!
//! - [`vocab`]: characters ↔ ids (BOS, EOS, UNK reserved).
//! - [`corpus`]: texts as one token array; seeded batches per step.
//! - [`model`]: sizes, initialisation, the safetensors checkpoint format.
//! - [`trainer`]: AdamW training on the [`crate::nn`] kernels (GPU or CPU).
//! - [`predictor`]: perplexity and completion.

pub mod corpus;
pub mod model;
mod network;
pub mod predictor;
pub mod trainer;
pub mod vocab;

pub use corpus::Corpus;
pub use model::{CharLm, CharLmConfig};
pub use predictor::Predictor;
pub use trainer::{CurvePoint, OptimizerState, TrainConfig, TrainError, Trainer};
pub use vocab::Vocab;

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::{self, CheckpointError, NamedTensor};

impl OptimizerState {
    /// Saves the moments of `model`'s tensors to `path` (safetensors: `m.<name>`, `v.<name>`, metadata `step`).
    pub fn save(&self, path: &Path, model: &CharLm) -> Result<(), CheckpointError> {
        let mut tensors = Vec::new();
        for (t, (m, v)) in model.tensors().into_iter().zip(self.m.iter().zip(&self.v)) {
            tensors.push(NamedTensor { name: format!("m.{}", t.name), shape: t.shape.clone(), data: m.clone() });
            tensors.push(NamedTensor { name: format!("v.{}", t.name), shape: t.shape, data: v.clone() });
        }
        let meta = BTreeMap::from([("step".to_string(), self.step.to_string())]);
        checkpoint::save(path, &tensors, &meta)
    }

    /// Loads the moments saved for `model` at `path`.
    pub fn load(path: &Path, model: &CharLm) -> Result<OptimizerState, CheckpointError> {
        let mut file = checkpoint::load(path)?;
        let step = file.meta_parsed("step")?;
        let (mut m, mut v) = (Vec::new(), Vec::new());
        for t in model.tensors() {
            m.push(file.take(&format!("m.{}", t.name), &t.shape)?);
            v.push(file.take(&format!("v.{}", t.name), &t.shape)?);
        }
        Ok(OptimizerState { step, m, v })
    }
}
