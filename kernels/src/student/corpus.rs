//! Training texts as one flat token array, and the seeded batches drawn from it.
//!
//! Every position of every text (its closing [`EOS`] included) is one
//! training example: predict the token there from the `context` tokens
//! before it, with [`BOS`] padding before the text's start. A batch is drawn
//! uniformly over all positions by a generator keyed on `(seed, step)`, so a
//! run resumed at step `s` draws exactly the batches an uninterrupted one
//! would have.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::vocab::{BOS, EOS, Vocab};

/// Tokenised training texts.
#[derive(Debug, Clone)]
pub struct Corpus {
    tokens: Vec<u32>,
    /// For each token, the index of the first token of its text.
    starts: Vec<u32>,
}

/// One batch: `contexts` holds `context` ids per example, `targets` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `examples × context` ids, row-major.
    pub contexts: Vec<u32>,
    /// The id to predict, per example.
    pub targets: Vec<u32>,
}

impl Corpus {
    /// `texts` encoded with `vocab`, each closed by [`EOS`].
    pub fn new<'a>(vocab: &Vocab, texts: impl IntoIterator<Item = &'a str>) -> Corpus {
        let mut tokens = Vec::new();
        let mut starts = Vec::new();
        for text in texts {
            let start = tokens.len() as u32;
            tokens.extend(vocab.encode(text));
            tokens.push(EOS);
            starts.resize(tokens.len(), start);
        }
        Corpus { tokens, starts }
    }

    /// Training positions (tokens) in all.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there is nothing to train on.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The `context` ids before position `p`, padded with [`BOS`].
    pub fn context_of(&self, p: usize, context: usize, out: &mut Vec<u32>) {
        let start = self.starts[p] as usize;
        for back in (1..=context).rev() {
            out.push(if p >= start + back { self.tokens[p - back] } else { BOS });
        }
    }

    /// The batch of `examples` positions for `step` of the run seeded `seed`.
    pub fn batch(&self, context: usize, examples: usize, seed: u64, step: u64) -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut contexts = Vec::with_capacity(examples * context);
        let mut targets = Vec::with_capacity(examples);
        for _ in 0..examples {
            let p = rng.random_range(0..self.tokens.len().max(1));
            if self.tokens.is_empty() {
                break;
            }
            self.context_of(p, context, &mut contexts);
            targets.push(self.tokens[p]);
        }
        Batch { contexts, targets }
    }

    /// Every position in order, in batches of at most `examples` (for perplexity).
    pub fn all_positions(&self, context: usize, examples: usize) -> impl Iterator<Item = Batch> + '_ {
        (0..self.tokens.len()).step_by(examples.max(1)).map(move |first| {
            let last = (first + examples.max(1)).min(self.tokens.len());
            let mut contexts = Vec::with_capacity((last - first) * context);
            for p in first..last {
                self.context_of(p, context, &mut contexts);
            }
            Batch { contexts, targets: self.tokens[first..last].to_vec() }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_padded_at_each_text_start() {
        let v = Vocab::from_texts(["ab", "c"]);
        let c = Corpus::new(&v, ["ab", "c"]);
        // tokens: a b EOS c EOS
        assert_eq!(c.len(), 5);
        let mut out = Vec::new();
        c.context_of(3, 2, &mut out);
        assert_eq!(out, vec![BOS, BOS], "the second text starts fresh");
        out.clear();
        c.context_of(2, 2, &mut out);
        assert_eq!(out, v.encode("ab"));
    }

    #[test]
    fn batches_depend_only_on_seed_and_step() {
        let v = Vocab::from_texts(["hello world"]);
        let c = Corpus::new(&v, ["hello world", "world"]);
        assert_eq!(c.batch(4, 16, 7, 3), c.batch(4, 16, 7, 3));
        assert_ne!(c.batch(4, 16, 7, 3), c.batch(4, 16, 7, 4));
        let b = c.batch(4, 16, 7, 3);
        assert_eq!((b.contexts.len(), b.targets.len()), (64, 16));
        let all: usize = c.all_positions(4, 5).map(|b| b.targets.len()).sum();
        assert_eq!(all, c.len());
    }
}
