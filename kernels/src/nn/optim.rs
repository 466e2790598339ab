//! An AdamW optimiser over a list of parameters: their gradient buffers,
//! first and second moments and the step count, kept on the [`Nn`]'s device.
//! The student trainer and the classifier both train with it.

use super::{AdamW, KernelError, Nn, Tensor};

/// One parameter's optimiser buffers.
struct Slot {
    grad: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

/// A parameter the optimiser updates: its shape and whether weight decay
/// applies to it (biases usually are not decayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamShape {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Whether weight decay applies.
    pub decay: bool,
}

impl ParamShape {
    /// The shape of `t`, decayed or not.
    pub fn of(t: &Tensor, decay: bool) -> ParamShape {
        ParamShape { rows: t.rows(), cols: t.cols(), decay }
    }
}

/// Moments saved from an [`Optimizer`], in parameter order.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Steps done.
    pub step: u32,
    /// First moments.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
}

/// AdamW state for a fixed list of parameters.
pub struct Optimizer {
    slots: Vec<Slot>,
    step: u32,
}

impl Optimizer {
    /// Zero gradients for `params`, and their moments from `resume` (where a
    /// saved moment has the parameter's size) or zero.
    pub fn new(nn: &Nn, params: &[ParamShape], resume: Option<&Moments>) -> Result<Optimizer, KernelError> {
        let mut slots = Vec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            let moment = |saved: Option<&Vec<Vec<f32>>>| match saved.and_then(|s| s.get(i)) {
                Some(values) if values.len() == p.rows * p.cols => nn.tensor(p.rows, p.cols, values),
                _ => nn.zeros(p.rows, p.cols),
            };
            slots.push(Slot {
                grad: nn.zeros(p.rows, p.cols)?,
                m: moment(resume.map(|s| &s.m))?,
                v: moment(resume.map(|s| &s.v))?,
                decay: p.decay,
            });
        }
        Ok(Optimizer { slots, step: resume.map_or(0, |s| s.step) })
    }

    /// Steps taken.
    pub fn step_count(&self) -> u32 {
        self.step
    }

    /// The gradient buffers, in parameter order, for the backward pass to fill.
    pub fn grads_mut(&mut self) -> Vec<&mut Tensor> {
        self.slots.iter_mut().map(|s| &mut s.grad).collect()
    }

    /// The gradient buffers of exactly `N` parameters.
    pub fn grads_array<const N: usize>(&mut self) -> Result<[&mut Tensor; N], KernelError> {
        self.grads_mut().try_into().map_err(|grads: Vec<_>| KernelError::Invalid {
            op: "optimizer",
            detail: format!("{} parameters, not {N}", grads.len()),
        })
    }

    /// One AdamW step of every parameter (in the order given at creation)
    /// with the gradients the backward pass left: learning rate `lr`, and
    /// `weight_decay` on the parameters that decay.
    pub fn update<'a>(
        &mut self,
        nn: &Nn,
        params: impl IntoIterator<Item = &'a mut Tensor>,
        lr: f32,
        weight_decay: f32,
    ) -> Result<(), KernelError> {
        self.step += 1;
        let mut count = 0;
        for (param, slot) in params.into_iter().zip(&mut self.slots) {
            let hp = AdamW { lr, weight_decay: if slot.decay { weight_decay } else { 0.0 }, ..AdamW::default() };
            nn.adamw(param, &slot.grad, &mut slot.m, &mut slot.v, &hp, self.step)?;
            count += 1;
        }
        if count != self.slots.len() {
            return Err(KernelError::Invalid {
                op: "optimizer",
                detail: format!("{count} parameters given for {} slots", self.slots.len()),
            });
        }
        Ok(())
    }

    /// The moments and step count (reads the device).
    pub fn moments(&self, nn: &Nn) -> Result<Moments, KernelError> {
        let m = self.slots.iter().map(|s| nn.read(&s.m)).collect::<Result<Vec<_>, _>>()?;
        let v = self.slots.iter().map(|s| nn.read(&s.v)).collect::<Result<Vec<_>, _>>()?;
        Ok(Moments { step: self.step, m, v })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Compute;

    /// Two parameters pulled towards zero by their own value as gradient.
    fn run(nn: &Nn, optimizer: &mut Optimizer, params: &mut [Tensor; 2], steps: u32) {
        for _ in 0..steps {
            let values = params.each_ref().map(|p| nn.read(p).expect("read"));
            for (grad, value) in optimizer.grads_mut().into_iter().zip(&values) {
                nn.write(grad, value).expect("write");
            }
            optimizer.update(nn, params.iter_mut(), 0.1, 0.5).expect("update");
        }
    }

    #[test]
    fn resuming_from_saved_moments_continues_the_same_run() {
        let nn = Nn::new(&Compute::Cpu);
        let fresh = || [nn.tensor(2, 2, &[1.0, -2.0, 3.0, 0.5]).expect("w"), nn.tensor(1, 2, &[1.0, 1.0]).expect("b")];
        let shapes = |p: &[Tensor; 2]| [ParamShape::of(&p[0], true), ParamShape::of(&p[1], false)];
        let mut straight = fresh();
        let mut opt = Optimizer::new(&nn, &shapes(&straight), None).expect("optimizer");
        run(&nn, &mut opt, &mut straight, 6);
        assert_eq!(opt.step_count(), 6);

        let mut halves = fresh();
        let mut first = Optimizer::new(&nn, &shapes(&halves), None).expect("optimizer");
        run(&nn, &mut first, &mut halves, 3);
        let saved = first.moments(&nn).expect("moments");
        let mut second = Optimizer::new(&nn, &shapes(&halves), Some(&saved)).expect("optimizer");
        run(&nn, &mut second, &mut halves, 3);
        for (a, b) in straight.iter().zip(&halves) {
            assert_eq!(nn.read(a).expect("a"), nn.read(b).expect("b"));
        }
        // Pulled towards zero without overshooting.
        let w = nn.read(&straight[0]).expect("w");
        assert!(w[0] < 1.0 && w[0] > 0.0, "{w:?}");
    }

    #[test]
    fn a_wrong_number_of_parameters_is_an_error() {
        let nn = Nn::new(&Compute::Cpu);
        let mut p = nn.zeros(1, 3).expect("p");
        let mut opt = Optimizer::new(&nn, &[ParamShape::of(&p, true), ParamShape::of(&p, true)], None).expect("opt");
        assert!(matches!(opt.update(&nn, [&mut p], 0.1, 0.0), Err(KernelError::Invalid { op: "optimizer", .. })));
        assert!(opt.grads_array::<3>().is_err());
        assert_eq!(opt.grads_array::<2>().expect("two").len(), 2);
    }
}
