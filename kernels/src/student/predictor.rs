//! A trained student answering: held-out perplexity and completion of
//! prompts (greedy, or sampled at a temperature), in batches on a device.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, weighted::WeightedIndex};

use super::corpus::Corpus;
use super::model::CharLm;
use super::network::DeviceNet;
use super::vocab::{BOS, EOS};
use crate::Compute;
use crate::KernelError;
use crate::nn::Nn;

/// Examples per forward pass.
const BATCH: usize = 512;

/// A student loaded on a device for inference.
pub struct Predictor {
    nn: Nn,
    model: CharLm,
    net: DeviceNet,
}

impl Predictor {
    /// Uploads `model` to `compute`.
    pub fn new(compute: &Compute, model: CharLm) -> Result<Predictor, KernelError> {
        let nn = Nn::new(compute);
        let net = DeviceNet::upload(&nn, &model)?;
        Ok(Predictor { nn, model, net })
    }

    /// The model.
    pub fn model(&self) -> &CharLm {
        &self.model
    }

    /// Logits `[n × V]` after each of `n` contexts (`n × k` ids).
    pub fn logits(&self, contexts: &[u32]) -> Result<Vec<f32>, KernelError> {
        let n = contexts.len() / self.net.context;
        let mut acts = self.net.activations(&self.nn, n)?;
        let bags = self.net.bags(&self.nn, contexts)?;
        self.net.forward(&self.nn, &bags, &mut acts)?;
        match acts.outputs.last() {
            Some(logits) => self.nn.read(logits),
            None => Ok(Vec::new()),
        }
    }

    /// Mean cross-entropy in nats per character of `texts` (each closed by
    /// EOS), and the number of characters scored. Perplexity is its `exp`.
    pub fn cross_entropy<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Result<(f64, usize), KernelError> {
        let corpus = Corpus::new(&self.model.vocab, texts);
        let v = self.net.vocab;
        let mut total = 0.0f64;
        for batch in corpus.all_positions(self.net.context, BATCH) {
            let logits = self.logits(&batch.contexts)?;
            for (row, &target) in logits.chunks_exact(v).zip(&batch.targets) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
                total += f64::from(max) + sum.ln() - f64::from(row[target as usize]);
            }
        }
        Ok((total / corpus.len().max(1) as f64, corpus.len()))
    }

    /// Continues every prompt by up to `max_new` characters, stopping at the
    /// end-of-text token: greedily when `temperature` is 0 (`seeds` may then
    /// be empty), else sampling from softmax(logits / temperature) with one
    /// random stream per prompt, seeded by its entry of `seeds`. Either way a
    /// prompt's completion depends only on the prompt and its seed, never on
    /// the other prompts of the batch.
    pub fn complete(
        &self,
        prompts: &[&str],
        max_new: usize,
        temperature: f32,
        seeds: &[u64],
    ) -> Result<Vec<String>, KernelError> {
        let sampled = temperature > 0.0;
        if sampled && seeds.len() != prompts.len() {
            return Err(KernelError::Invalid {
                op: "complete",
                detail: format!("{} seeds for {} prompts", seeds.len(), prompts.len()),
            });
        }
        let k = self.net.context;
        let mut out = Vec::with_capacity(prompts.len());
        for (g, group) in prompts.chunks(BATCH).enumerate() {
            let mut rngs: Vec<ChaCha8Rng> = match sampled {
                true => {
                    seeds[g * BATCH..g * BATCH + group.len()].iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect()
                }
                false => Vec::new(),
            };
            let mut histories: Vec<Vec<u32>> = group.iter().map(|p| self.model.vocab.encode(p)).collect();
            let starts: Vec<usize> = histories.iter().map(Vec::len).collect();
            let mut open: Vec<usize> = (0..group.len()).collect();
            for _ in 0..max_new {
                if open.is_empty() {
                    break;
                }
                let mut contexts = Vec::with_capacity(open.len() * k);
                for &i in &open {
                    let h = &histories[i];
                    contexts.extend((0..k).map(|j| (h.len() + j).checked_sub(k).map_or(BOS, |p| h[p])));
                }
                let logits = self.logits(&contexts)?;
                let v = self.net.vocab;
                let mut still = Vec::with_capacity(open.len());
                for (row, &i) in logits.chunks_exact(v).zip(&open) {
                    let next = match rngs.get_mut(i) {
                        Some(rng) => sample(row, temperature, rng),
                        None => argmax(row),
                    };
                    histories[i].push(next);
                    if next != EOS {
                        still.push(i);
                    }
                }
                open = still;
            }
            for (h, start) in histories.iter().zip(starts) {
                out.push(self.model.vocab.decode(&h[start..]));
            }
        }
        Ok(out)
    }
}

/// The id of the largest logit (the first of equals).
fn argmax(row: &[f32]) -> u32 {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0 as u32
}

/// An id drawn from softmax(row / temperature).
fn sample(row: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> u32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = row.iter().map(|&x| f64::from((x - max) / temperature).exp()).collect();
    match WeightedIndex::new(&weights) {
        Ok(dist) => dist.sample(rng) as u32,
        Err(_) => argmax(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::{CharLmConfig, Vocab};

    fn predictor() -> Predictor {
        let vocab = Vocab::from_texts(["0123456789 +="]);
        // An untrained model: its next-character distribution is close to uniform.
        let model = CharLm::init(CharLmConfig { context: 4, embed: 4, hidden: vec![8] }, vocab, 3);
        Predictor::new(&Compute::Cpu, model).expect("predictor")
    }

    #[test]
    fn a_sampled_answer_depends_on_its_prompt_and_seed_alone() {
        let p = predictor();
        let alone = p.complete(&["1 + 2 ="], 12, 1.0, &[42]).expect("alone");
        let batch = p.complete(&["9 =", "1 + 2 =", "3"], 12, 1.0, &[7, 42, 9]).expect("in a batch");
        assert_eq!(alone[0], batch[1]);
        let other = p.complete(&["1 + 2 ="], 12, 1.0, &[43]).expect("another seed");
        let again = p.complete(&["1 + 2 ="], 12, 1.0, &[43]).expect("the same seed");
        assert_eq!(other, again);
        assert_ne!(alone, other, "another seed, another sample (12 characters of a near-uniform model)");
        let e = p.complete(&["a", "b"], 4, 1.0, &[1]).expect_err("one seed for two prompts");
        assert!(e.to_string().contains("1 seeds for 2 prompts"), "{e}");
        // Greedy needs no seeds.
        assert_eq!(p.complete(&["1"], 4, 0.0, &[]).expect("greedy").len(), 1);
    }
}
