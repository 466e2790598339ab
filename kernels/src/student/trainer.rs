//! Training the student: AdamW on mean next-character cross-entropy, one
//! seeded batch per step, the learning rate warmed up linearly and then
//! decayed along a cosine to `min_lr_ratio` of its peak (a tenth by default).
//!
//! All of a step — forward, backward, optimiser — is recorded on the device
//! without a read-back; the loss is read only every `log_every` steps (which
//! is when a non-finite loss is caught).

use super::corpus::Corpus;
use super::model::CharLm;
use super::network::{Activations, DeviceNet};
use crate::Compute;
use crate::KernelError;
use crate::nn::optim::{Moments, Optimizer, ParamShape};
use crate::nn::{Ids, Nn, Tensor};

/// How to train.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: u32,
    /// Predicted characters per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// The learning rate at the last step, as a fraction of `lr` (0: decay to zero).
    pub min_lr_ratio: f32,
    /// Decoupled weight decay (not applied to biases).
    pub weight_decay: f32,
    /// Steps between loss read-backs (the training curve's resolution).
    pub log_every: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { steps: 2000, batch: 256, lr: 2e-3, min_lr_ratio: 0.1, weight_decay: 0.01, log_every: 50 }
    }
}

impl TrainConfig {
    /// Checks the numbers, saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.steps == 0 || self.batch == 0 || self.log_every == 0 {
            return Err("steps, batch and log_every must be at least 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && self.lr < 10.0) {
            return Err(format!("lr must be a positive number below 10, got {}", self.lr));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(format!("min_lr_ratio must be in [0, 1], got {}", self.min_lr_ratio));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return Err(format!("weight_decay must be in [0, 1), got {}", self.weight_decay));
        }
        Ok(())
    }

    /// The learning rate at `step` (from 1).
    pub fn lr_at(&self, step: u32) -> f32 {
        let warmup = (self.steps / 20).clamp(1, 200);
        if step <= warmup {
            return self.lr * step as f32 / warmup as f32;
        }
        let progress = (step - warmup) as f32 / (self.steps.saturating_sub(warmup)).max(1) as f32;
        let cosine = 0.5 * (1.0 + (std::f32::consts::PI * progress.min(1.0)).cos());
        self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)
    }
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A kernel failed.
    #[error(transparent)]
    Nn(#[from] KernelError),
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {loss} at step {step}: training diverged; lower `lr` (now {lr}) or `batch` noise, \
         and run again (the last good checkpoint is kept)"
    )]
    NonFinite {
        /// The step.
        step: u32,
        /// The loss.
        loss: f32,
        /// The peak learning rate.
        lr: f32,
    },
    /// There is nothing to train on.
    #[error("the training set is empty: no text reached the training stage")]
    Empty,
}

/// A point of the training curve.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurvePoint {
    /// Steps done.
    pub step: u32,
    /// Mean cross-entropy (nats per character) of that step's batch.
    pub loss: f32,
}

/// Optimiser state, saved beside a checkpoint so that training resumes
/// exactly: the step count and the moments, in [`CharLm::tensors`] order.
pub type OptimizerState = Moments;

/// A student being trained on a device.
pub struct Trainer {
    nn: Nn,
    model: CharLm,
    net: DeviceNet,
    optimizer: Optimizer,
    acts: Activations,
    /// Gradient of each layer's output (the last is d logits).
    grads: Vec<Tensor>,
    dembedded: Option<Tensor>,
    losses: Tensor,
    config: TrainConfig,
    seed: u64,
}

impl Trainer {
    /// Prepares `model` for training on `compute`, resuming from `state` when given.
    pub fn new(
        compute: &Compute,
        model: CharLm,
        config: TrainConfig,
        seed: u64,
        state: Option<OptimizerState>,
    ) -> Result<Trainer, KernelError> {
        let nn = Nn::new(compute);
        let net = DeviceNet::upload(&nn, &model)?;
        // Weights decay, biases do not.
        let shapes: Vec<ParamShape> = std::iter::once(ParamShape::of(&net.embedding, true))
            .chain(net.layers.iter().flat_map(|(w, b)| [ParamShape::of(w, true), ParamShape::of(b, false)]))
            .collect();
        let optimizer = Optimizer::new(&nn, &shapes, state.as_ref())?;
        let n = config.batch;
        let acts = net.activations(&nn, n)?;
        let grads = net.layers.iter().map(|(w, _)| nn.zeros(n, w.cols())).collect::<Result<Vec<_>, _>>()?;
        let dembedded = Some(nn.zeros(n, net.context * net.embed)?);
        let losses = nn.zeros(n, 1)?;
        Ok(Trainer { nn, model, net, optimizer, acts, grads, dembedded, losses, config, seed })
    }

    /// Steps done.
    pub fn step_count(&self) -> u32 {
        self.optimizer.step_count()
    }

    /// Runs one optimiser step on the next batch of `corpus`.
    pub fn step(&mut self, corpus: &Corpus) -> Result<(), TrainError> {
        if corpus.is_empty() {
            return Err(TrainError::Empty);
        }
        let nn = &self.nn;
        let (n, k, d) = (self.config.batch, self.net.context, self.net.embed);
        let batch = corpus.batch(k, n, self.seed, u64::from(self.optimizer.step_count()));
        let bags = self.net.bags(nn, &batch.contexts)?;
        let targets: Ids = nn.ids(&batch.targets)?;
        self.net.forward(nn, &bags, &mut self.acts)?;
        let last = self.net.layers.len() - 1;
        nn.softmax_cross_entropy(&self.acts.outputs[last], &targets, &mut self.losses, &mut self.grads[last])?;
        let embedded =
            self.acts.embedded.take().ok_or(KernelError::Shape { op: "student", detail: "no buffer".into() })?;
        let mut dembedded =
            self.dembedded.take().ok_or(KernelError::Shape { op: "student", detail: "no buffer".into() })?;
        // Parameter gradients: the embedding, then each layer's weight and bias.
        let mut param_grads = self.optimizer.grads_mut();
        let (dembedding, layer_grads) = param_grads.split_at_mut(1);
        for i in (0..=last).rev() {
            let (before, rest) = self.grads.split_at_mut(i);
            let dy = &mut rest[0];
            let input = if i == 0 { &embedded } else { &self.acts.outputs[i - 1] };
            let dx = if i == 0 { &mut dembedded } else { &mut before[i - 1] };
            let (w, _) = &self.net.layers[i];
            let (dw, db) = layer_grads[2 * i..].split_at_mut(1);
            nn.dense_backward(input, w, &self.acts.outputs[i], self.net.activation(i), dy, Some(dx), dw[0], db[0])?;
        }
        let flat = dembedded.reshape(n * k, d)?;
        let result = nn.embedding_bag_backward(&flat, &bags, dembedding[0]);
        self.dembedded = Some(flat.reshape(n, k * d)?);
        self.acts.embedded = Some(embedded);
        result?;
        let lr = self.config.lr_at(self.optimizer.step_count() + 1);
        let values =
            std::iter::once(&mut self.net.embedding).chain(self.net.layers.iter_mut().flat_map(|(w, b)| [w, b]));
        self.optimizer.update(nn, values, lr, self.config.weight_decay)?;
        Ok(())
    }

    /// The mean loss of the last step's batch (waits for the device).
    pub fn last_loss(&self) -> Result<f32, TrainError> {
        let losses = self.nn.read(&self.losses)?;
        let loss = losses.iter().sum::<f32>() / losses.len().max(1) as f32;
        if !loss.is_finite() {
            return Err(TrainError::NonFinite { step: self.step_count(), loss, lr: self.config.lr });
        }
        Ok(loss)
    }

    /// Runs steps until `config.steps`, calling `on_log` with every logged
    /// point (and after the last step) — where the caller checkpoints.
    pub fn train(
        &mut self,
        corpus: &Corpus,
        mut on_log: impl FnMut(&Trainer, CurvePoint) -> Result<(), TrainError>,
    ) -> Result<(), TrainError> {
        while self.step_count() < self.config.steps {
            self.step(corpus)?;
            let step = self.step_count();
            if step.is_multiple_of(self.config.log_every) || step == self.config.steps {
                let point = CurvePoint { step, loss: self.last_loss()? };
                on_log(self, point)?;
            }
        }
        Ok(())
    }

    /// The model with its current weights, and the optimiser state.
    pub fn snapshot(&self) -> Result<(CharLm, OptimizerState), KernelError> {
        let mut model = self.model.clone();
        model.set_values(self.net.download(&self.nn)?.into_iter());
        Ok((model, self.optimizer.moments(&self.nn)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::{CharLmConfig, Predictor, Vocab};

    fn setup() -> (CharLm, Corpus, Vec<String>) {
        let texts: Vec<String> = (0..40).map(|i| format!("{} + 1 = {}", i % 10, i % 10 + 1)).collect();
        let vocab = Vocab::from_texts(texts.iter().map(String::as_str));
        let corpus = Corpus::new(&vocab, texts.iter().map(String::as_str));
        let model = CharLm::init(CharLmConfig { context: 8, embed: 4, hidden: vec![32] }, vocab, 5);
        (model, corpus, texts)
    }

    fn config(steps: u32) -> TrainConfig {
        TrainConfig { steps, batch: 32, lr: 5e-3, weight_decay: 0.01, log_every: 10, ..TrainConfig::default() }
    }

    #[test]
    fn the_loss_falls_and_the_student_learns_the_pattern() {
        let (model, corpus, _) = setup();
        let mut t = Trainer::new(&Compute::Cpu, model, config(400), 1, None).expect("trainer");
        let mut curve = Vec::new();
        t.train(&corpus, |_, p| {
            curve.push(p);
            Ok(())
        })
        .expect("train");
        let (first, last) = (curve[0].loss, curve.last().expect("curve").loss);
        assert!(last < first * 0.5, "{first} -> {last}");
        let (trained, _) = t.snapshot().expect("snapshot");
        let p = Predictor::new(&Compute::Cpu, trained).expect("predictor");
        let out = p.complete(&["3 + 1 = "], 4, 0.0, &[]).expect("complete");
        assert_eq!(out[0], "4", "{out:?}");
    }

    #[test]
    fn a_resumed_run_matches_an_uninterrupted_one() {
        let (model, corpus, _) = setup();
        let mut straight = Trainer::new(&Compute::Cpu, model.clone(), config(40), 2, None).expect("trainer");
        straight.train(&corpus, |_, _| Ok(())).expect("train");
        let mut first = Trainer::new(&Compute::Cpu, model, config(40), 2, None).expect("trainer");
        for _ in 0..20 {
            first.step(&corpus).expect("step");
        }
        let (half, state) = first.snapshot().expect("snapshot");
        let mut resumed = Trainer::new(&Compute::Cpu, half, config(40), 2, Some(state)).expect("trainer");
        resumed.train(&corpus, |_, _| Ok(())).expect("train");
        let (a, _) = straight.snapshot().expect("a");
        let (b, _) = resumed.snapshot().expect("b");
        assert_eq!(a, b);
    }

    #[test]
    fn the_learning_rate_warms_up_then_decays_to_its_floor() {
        let c = TrainConfig { steps: 1000, lr: 1.0, min_lr_ratio: 0.0, ..TrainConfig::default() };
        assert!((c.lr_at(1) - 0.02).abs() < 1e-6, "warmup over 50 steps");
        assert!((c.lr_at(50) - 1.0).abs() < 1e-6);
        assert!(c.lr_at(500) < 1.0 && c.lr_at(500) > c.lr_at(900));
        assert!(c.lr_at(1000).abs() < 1e-6);
        let floor = TrainConfig { min_lr_ratio: 0.1, ..c.clone() };
        assert!((floor.lr_at(1000) - 0.1).abs() < 1e-6);
        assert!(TrainConfig { min_lr_ratio: 1.5, ..c }.check().is_err());
    }

    #[test]
    fn a_diverging_run_stops_with_a_clear_error() {
        let (model, corpus, _) = setup();
        let mut t =
            Trainer::new(&Compute::Cpu, model, TrainConfig { lr: 1e30, ..config(50) }, 3, None).expect("trainer");
        let e = t.train(&corpus, |_, _| Ok(())).expect_err("diverges");
        assert!(matches!(e, TrainError::NonFinite { .. }), "{e}");
        assert!(e.to_string().contains("lower `lr`"), "{e}");
        let empty = Corpus::new(&Vocab::from_texts(["a"]), std::iter::empty());
        assert!(matches!(t.step(&empty), Err(TrainError::Empty)));
    }
}
