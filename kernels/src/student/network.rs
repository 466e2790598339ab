//! The student on a device: its weights as [`Tensor`]s, and the forward pass
//! shared by training and inference.
//!
//! The previous `context` characters are embedded with `embedding_bag` over
//! bags of one id each (`[n·k × d]`), viewed as `[n × k·d]` (a free reshape)
//! and fed through the dense layers; the last layer gives the logits.

use super::model::CharLm;
use crate::KernelError;
use crate::nn::{Activation, Bags, Nn, Tensor};

/// The model's weights on `nn`'s device.
pub(crate) struct DeviceNet {
    pub embedding: Tensor,
    /// `(weight, bias)` per dense layer, the output layer last.
    pub layers: Vec<(Tensor, Tensor)>,
    pub context: usize,
    pub embed: usize,
    pub vocab: usize,
}

/// Buffers of one forward pass over `n` examples.
pub(crate) struct Activations {
    pub n: usize,
    /// The embedded contexts, as `[n × k·d]`.
    pub embedded: Option<Tensor>,
    /// Each dense layer's output; the last holds the logits.
    pub outputs: Vec<Tensor>,
}

impl DeviceNet {
    /// Uploads `model`.
    pub fn upload(nn: &Nn, model: &CharLm) -> Result<DeviceNet, KernelError> {
        let embedding = nn.tensor(model.vocab.len(), model.config.embed, &model.embedding)?;
        let layers = model
            .layers
            .iter()
            .map(|l| Ok((nn.tensor(l.inputs, l.outputs, &l.weight)?, nn.tensor(1, l.outputs, &l.bias)?)))
            .collect::<Result<Vec<_>, KernelError>>()?;
        Ok(DeviceNet {
            embedding,
            layers,
            context: model.config.context,
            embed: model.config.embed,
            vocab: model.vocab.len(),
        })
    }

    /// The weights back on the host, in [`CharLm::tensors`] order.
    pub fn download(&self, nn: &Nn) -> Result<Vec<Vec<f32>>, KernelError> {
        let mut out = vec![nn.read(&self.embedding)?];
        for (w, b) in &self.layers {
            out.push(nn.read(w)?);
            out.push(nn.read(b)?);
        }
        Ok(out)
    }

    /// Buffers for a pass over `n` examples.
    pub fn activations(&self, nn: &Nn, n: usize) -> Result<Activations, KernelError> {
        let embedded = Some(nn.zeros(n, self.context * self.embed)?);
        let outputs = self.layers.iter().map(|(w, _)| nn.zeros(n, w.cols())).collect::<Result<Vec<_>, _>>()?;
        Ok(Activations { n, embedded, outputs })
    }

    /// The activation after dense layer `i`.
    pub fn activation(&self, i: usize) -> Activation {
        if i + 1 == self.layers.len() { Activation::Identity } else { Activation::Relu }
    }

    /// The bags of `contexts` (`n × k` ids, one id per bag).
    pub fn bags(&self, nn: &Nn, contexts: &[u32]) -> Result<Bags, KernelError> {
        let offsets: Vec<u32> = (0..=contexts.len() as u32).collect();
        nn.bags(contexts, &offsets, self.vocab)
    }

    /// Runs the forward pass; the logits end in `acts.outputs.last()`.
    pub fn forward(&self, nn: &Nn, bags: &Bags, acts: &mut Activations) -> Result<(), KernelError> {
        let (n, k, d) = (acts.n, self.context, self.embed);
        let embedded = acts.embedded.take().ok_or(KernelError::Shape { op: "student", detail: "no buffer".into() })?;
        let mut flat = embedded.reshape(n * k, d)?;
        let result = nn.embedding_bag_forward(&self.embedding, bags, &mut flat);
        let embedded = flat.reshape(n, k * d)?;
        result?;
        for i in 0..self.layers.len() {
            let (before, rest) = acts.outputs.split_at_mut(i);
            let input = if i == 0 { &embedded } else { &before[i - 1] };
            let (w, b) = &self.layers[i];
            nn.dense_forward(input, w, b, self.activation(i), &mut rest[0])?;
        }
        acts.embedded = Some(embedded);
        Ok(())
    }
}
