//! Neural-network training primitives: the ops Kiln's student language model
//! and its fastText-style classifier are built from — dense layers (forward
//! and backward, identity or ReLU), embedding bags, softmax cross-entropy,
//! softmax and AdamW — each on the CPU (module `cpu`: the reference and the
//! fallback, matrix products through `matrixmultiply`'s sgemm) and on the GPU
//! (WGSL compute shaders in `kernels/shaders/nn/`, one job per shader),
//! behind one method of [`Nn`] per op that dispatches on the device.
//!
//! # Design
//!
//! **Tensors live on one device and stay there.** A [`Tensor`] is a row-major
//! `f32` matrix held either in a `Vec` or in a GPU buffer; [`Nn::tensor`]
//! uploads, [`Nn::read`] downloads, and nothing else moves data between host
//! and device. [`Tensor::reshape`] only relabels the shape (a `[n·k × d]`
//! embedding output viewed as `[n × k·d]` costs nothing on either device).
//! Ids ([`Ids`]) and embedding bags ([`Bags`]) are uploaded once per batch.
//!
//! **Ops write into preallocated outputs.** Every op takes its outputs as
//! `&mut Tensor` of the right shape and overwrites them (gradients are never
//! accumulated into). A training step therefore allocates nothing: the
//! caller creates weights, activations, gradients and optimiser state once
//! and reuses them every step, which matters most on the GPU where buffer
//! creation is expensive. The borrow checker also guarantees that an op never
//! reads a buffer it writes, which wgpu would otherwise reject.
//!
//! **GPU work is batched.** On the GPU an op does not run when it is called:
//! it is recorded as one compute pass (a small uniform buffer with its sizes,
//! a bind group, a dispatch) into a command encoder the [`Nn`] keeps. Only
//! [`Nn::read`] and [`Nn::sync`] submit the encoder to the queue (and wait);
//! a long run of ops without a read is also submitted, without waiting, every
//! few hundred passes so the encoder stays small. Passes execute in the order
//! they were recorded, so a whole forward, backward and optimiser step is one
//! submission. [`Nn::write`] records its copy into the same encoder, so it is
//! ordered with the ops around it. wgpu errors are caught in error scopes and
//! returned as [`KernelError::Kernel`] naming the op (errors wgpu can only
//! detect when the batch is submitted name `nn_submit`).
//!
//! **Determinism.** Every op gives the same bits for the same inputs on the
//! same device, run after run: no float atomics, and every sum runs in a
//! fixed order (each matrix-product element sums k in order within a
//! thread; softmax reductions use a fixed tree; column sums run rows in
//! order; the embedding-bag gradient of a row adds its bags in order through
//! an inverse index built on the host). CPU and GPU agree to rounding, not
//! bit for bit (different summation orders, the GPU's `exp`/`sqrt`); the
//! tests in `kernels/tests/nn_gpu_matches_cpu.rs` state the tolerances.

mod cpu;
mod gpu;
pub mod optim;

use std::fmt;
use std::sync::Arc;

pub use crate::device::Compute;
use crate::device::{Gpu, KernelError};

/// A buffer on one GPU.
struct GpuBuffer {
    gpu: Arc<Gpu>,
    buffer: wgpu::Buffer,
}

enum Storage {
    Cpu(Vec<f32>),
    Gpu(GpuBuffer),
}

/// A row-major f32 matrix on the CPU or the GPU.
pub struct Tensor {
    rows: usize,
    cols: usize,
    storage: Storage,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let device = match self.storage {
            Storage::Cpu(_) => "cpu",
            Storage::Gpu(_) => "gpu",
        };
        write!(f, "Tensor({}×{} on {device})", self.rows, self.cols)
    }
}

impl Tensor {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the data lives on the GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self.storage, Storage::Gpu(_))
    }

    /// Same data, new shape (rows*cols must be equal) — e.g. [n*k, d] viewed as [n, k*d].
    /// Free on both devices: only the shape changes.
    pub fn reshape(self, rows: usize, cols: usize) -> Result<Tensor, KernelError> {
        if rows.checked_mul(cols) != Some(self.len()) {
            return Err(KernelError::Shape {
                op: "reshape",
                detail: format!("{}×{} has {} elements, {rows}×{cols} would not", self.rows, self.cols, self.len()),
            });
        }
        Ok(Tensor { rows, cols, ..self })
    }

    fn shape_str(&self) -> String {
        format!("{}×{}", self.rows, self.cols)
    }
}

enum IdStorage {
    Cpu(Vec<u32>),
    Gpu(GpuBuffer),
}

/// u32 indices on the device (class targets, token ids).
pub struct Ids {
    len: usize,
    storage: IdStorage,
}

impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ids({})", self.len)
    }
}

impl Ids {
    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

enum BagStorage {
    Cpu { ids: Vec<u32>, offsets: Vec<u32> },
    Gpu(gpu::GpuBags),
}

/// Bags of ids for embedding_bag: bag `b` is `ids[offsets[b]..offsets[b+1]]`; mean of its rows.
/// Built on the host; for the GPU backward pass it also holds an inverse index (rows -> (bag) lists,
/// CSR sorted by row) so the gradient scatter is deterministic and needs no float atomics.
pub struct Bags {
    bags: usize,
    vocab: usize,
    storage: BagStorage,
}

impl fmt::Debug for Bags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bags({} over a vocabulary of {})", self.bags, self.vocab)
    }
}

impl Bags {
    /// Number of bags.
    pub fn len(&self) -> usize {
        self.bags
    }

    /// Whether there are no bags.
    pub fn is_empty(&self) -> bool {
        self.bags == 0
    }

    /// The vocabulary the ids index (every id is below it).
    pub fn vocab(&self) -> usize {
        self.vocab
    }
}

/// The activation after a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None: `y = x·w + b`.
    Identity,
    /// `y = max(x·w + b, 0)`.
    Relu,
}

/// AdamW hyperparameters (decoupled weight decay, as in PyTorch's `AdamW`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first-moment average.
    pub beta1: f32,
    /// Decay of the second-moment average.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Decoupled weight decay: each step multiplies the parameter by `1 - lr·weight_decay`.
    pub weight_decay: f32,
}

impl Default for AdamW {
    /// lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 (PyTorch's defaults).
    fn default() -> Self {
        AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// The per-step scalars of AdamW, computed once on the host so both devices
/// use the same values.
#[derive(Debug, Clone, Copy)]
struct AdamScalars {
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    /// `1 - lr·wd`.
    decay: f32,
    /// `lr / (1 - beta1^step)`.
    step_size: f32,
    /// `1 / sqrt(1 - beta2^step)`.
    inv_sqrt_bc2: f32,
}

impl AdamScalars {
    fn new(hp: &AdamW, step: u32) -> AdamScalars {
        let t = f64::from(step);
        let bc1 = 1.0 - f64::from(hp.beta1).powf(t);
        let bc2 = 1.0 - f64::from(hp.beta2).powf(t);
        AdamScalars {
            beta1: hp.beta1,
            beta2: hp.beta2,
            one_minus_beta1: 1.0 - hp.beta1,
            one_minus_beta2: 1.0 - hp.beta2,
            eps: hp.eps,
            decay: (1.0 - f64::from(hp.lr) * f64::from(hp.weight_decay)) as f32,
            step_size: (f64::from(hp.lr) / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        }
    }
}

/// The device the ops run on, plus (for the GPU) the command encoder that collects
/// ops until a read or sync submits them.
pub struct Nn {
    compute: Compute,
    gpu: Option<gpu::Recorder>,
}

impl fmt::Debug for Nn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nn({})", self.compute.describe())
    }
}

/// `Err(KernelError::Shape)` unless `ok`.
fn expect(op: &'static str, ok: bool, detail: impl FnOnce() -> String) -> Result<(), KernelError> {
    if ok { Ok(()) } else { Err(KernelError::Shape { op, detail: detail() }) }
}

/// Checks that `t` is `rows × cols`.
fn expect_shape(op: &'static str, name: &str, t: &Tensor, rows: usize, cols: usize) -> Result<(), KernelError> {
    expect(op, t.shape() == (rows, cols), || format!("{name} is {} but must be {rows}×{cols}", t.shape_str()))
}

fn host<'a>(op: &'static str, t: &'a Tensor) -> Result<&'a [f32], KernelError> {
    match &t.storage {
        Storage::Cpu(v) => Ok(v),
        Storage::Gpu(_) => Err(KernelError::Device { op }),
    }
}

fn host_mut<'a>(op: &'static str, t: &'a mut Tensor) -> Result<&'a mut [f32], KernelError> {
    match &mut t.storage {
        Storage::Cpu(v) => Ok(v),
        Storage::Gpu(_) => Err(KernelError::Device { op }),
    }
}

fn host_ids<'a>(op: &'static str, ids: &'a Ids) -> Result<&'a [u32], KernelError> {
    match &ids.storage {
        IdStorage::Cpu(v) => Ok(v),
        IdStorage::Gpu(_) => Err(KernelError::Device { op }),
    }
}

fn host_bags<'a>(op: &'static str, bags: &'a Bags) -> Result<(&'a [u32], &'a [u32]), KernelError> {
    match &bags.storage {
        BagStorage::Cpu { ids, offsets } => Ok((ids, offsets)),
        BagStorage::Gpu(_) => Err(KernelError::Device { op }),
    }
}

impl Nn {
    /// Ops on `compute`.
    pub fn new(compute: &Compute) -> Nn {
        let gpu = match compute {
            Compute::Cpu => None,
            Compute::Gpu(gpu) => Some(gpu::Recorder::new(gpu.clone())),
        };
        Nn { compute: compute.clone(), gpu }
    }

    /// The device.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// Whether the ops run on the GPU.
    pub fn is_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// The buffer of `t` on this `Nn`'s GPU.
    fn buf<'a>(&self, op: &'static str, t: &'a Tensor) -> Result<&'a wgpu::Buffer, KernelError> {
        match (&t.storage, &self.gpu) {
            (Storage::Gpu(b), Some(rec)) if Arc::ptr_eq(&b.gpu, rec.gpu()) => Ok(&b.buffer),
            _ => Err(KernelError::Device { op }),
        }
    }

    fn id_buf<'a>(&self, op: &'static str, ids: &'a Ids) -> Result<&'a wgpu::Buffer, KernelError> {
        match (&ids.storage, &self.gpu) {
            (IdStorage::Gpu(b), Some(rec)) if Arc::ptr_eq(&b.gpu, rec.gpu()) => Ok(&b.buffer),
            _ => Err(KernelError::Device { op }),
        }
    }

    fn gpu_bags<'a>(&self, op: &'static str, bags: &'a Bags) -> Result<&'a gpu::GpuBags, KernelError> {
        match (&bags.storage, &self.gpu) {
            (BagStorage::Gpu(b), Some(rec)) if Arc::ptr_eq(&b.gpu, rec.gpu()) => Ok(b),
            _ => Err(KernelError::Device { op }),
        }
    }

    fn gpu_tensor(rec: &gpu::Recorder, rows: usize, cols: usize, buffer: wgpu::Buffer) -> Tensor {
        Tensor { rows, cols, storage: Storage::Gpu(GpuBuffer { gpu: rec.gpu().clone(), buffer }) }
    }

    /// Uploads `data` (row-major, `data.len() == rows * cols`) as a tensor.
    pub fn tensor(&self, rows: usize, cols: usize, data: &[f32]) -> Result<Tensor, KernelError> {
        const OP: &str = "tensor";
        expect(OP, rows.checked_mul(cols) == Some(data.len()), || {
            format!("{} values for a {rows}×{cols} tensor", data.len())
        })?;
        Ok(match &self.gpu {
            None => Tensor { rows, cols, storage: Storage::Cpu(data.to_vec()) },
            Some(rec) => Self::gpu_tensor(rec, rows, cols, rec.upload(OP, bytemuck::cast_slice(data))?),
        })
    }

    /// A `rows × cols` tensor of zeros.
    pub fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor, KernelError> {
        const OP: &str = "zeros";
        let len =
            rows.checked_mul(cols).ok_or_else(|| KernelError::Shape { op: OP, detail: format!("{rows}×{cols}") })?;
        Ok(match &self.gpu {
            None => Tensor { rows, cols, storage: Storage::Cpu(vec![0.0; len]) },
            Some(rec) => Self::gpu_tensor(rec, rows, cols, rec.zeros(OP, len as u64 * 4)?),
        })
    }

    /// Uploads u32 indices (class targets, token ids).
    pub fn ids(&self, data: &[u32]) -> Result<Ids, KernelError> {
        let storage = match &self.gpu {
            None => IdStorage::Cpu(data.to_vec()),
            Some(rec) => IdStorage::Gpu(GpuBuffer {
                gpu: rec.gpu().clone(),
                buffer: rec.upload("ids", bytemuck::cast_slice(data))?,
            }),
        };
        Ok(Ids { len: data.len(), storage })
    }

    /// Builds embedding bags: bag `b` is `ids[offsets[b]..offsets[b+1]]`, so
    /// `offsets` has one more entry than there are bags, starts at 0, never
    /// decreases and ends at `ids.len()`. `vocab` = rows of the table the ids
    /// index; every id must be < vocab (error otherwise). An id may repeat
    /// within a bag (it then counts twice in the mean).
    pub fn bags(&self, ids: &[u32], offsets: &[u32], vocab: usize) -> Result<Bags, KernelError> {
        const OP: &str = "bags";
        expect(OP, offsets.first() == Some(&0), || "offsets must start at 0".into())?;
        expect(OP, offsets.windows(2).all(|w| w[0] <= w[1]), || "offsets must not decrease".into())?;
        expect(OP, offsets.last().map(|&l| l as usize) == Some(ids.len()), || {
            format!("offsets end at {:?} but there are {} ids", offsets.last(), ids.len())
        })?;
        if let Some((i, id)) = ids.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
            return Err(KernelError::Invalid {
                op: OP,
                detail: format!("id {id} at {i} is not below the vocabulary {vocab}"),
            });
        }
        let storage = match &self.gpu {
            None => BagStorage::Cpu { ids: ids.to_vec(), offsets: offsets.to_vec() },
            Some(rec) => BagStorage::Gpu(rec.bags(OP, ids, offsets)?),
        };
        Ok(Bags { bags: offsets.len() - 1, vocab, storage })
    }

    /// Overwrites `t` with `data` (same length). On the GPU the copy is
    /// recorded in order with the pending ops.
    pub fn write(&self, t: &mut Tensor, data: &[f32]) -> Result<(), KernelError> {
        const OP: &str = "write";
        expect(OP, data.len() == t.len(), || format!("{} values for a {} tensor", data.len(), t.shape_str()))?;
        match &self.gpu {
            None => host_mut(OP, t)?.copy_from_slice(data),
            Some(rec) => rec.write(OP, self.buf(OP, t)?, bytemuck::cast_slice(data))?,
        }
        Ok(())
    }

    /// The tensor's data, row-major. On the GPU this submits the pending work
    /// first and waits for it.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>, KernelError> {
        const OP: &str = "read";
        match &self.gpu {
            None => Ok(host(OP, t)?.to_vec()),
            Some(rec) => {
                let bytes = rec.read(OP, self.buf(OP, t)?, t.len() as u64 * 4)?;
                Ok(bytemuck::pod_collect_to_vec(&bytes))
            }
        }
    }

    /// Submits the pending GPU work and waits for it to finish (nothing on the CPU).
    pub fn sync(&self) -> Result<(), KernelError> {
        if let Some(rec) = &self.gpu {
            rec.flush(true)?;
        }
        Ok(())
    }

    /// y = act(x·w + b); x [n×i], w [i×o], b [1×o], y [n×o] (preallocated).
    pub fn dense_forward(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        act: Activation,
        y: &mut Tensor,
    ) -> Result<(), KernelError> {
        const OP: &str = "dense_forward";
        let (n, i) = x.shape();
        let o = w.cols;
        expect_shape(OP, "w", w, i, o)?;
        expect_shape(OP, "b", b, 1, o)?;
        expect_shape(OP, "y", y, n, o)?;
        match &self.gpu {
            None => cpu::dense_forward(host(OP, x)?, host(OP, w)?, host(OP, b)?, act, host_mut(OP, y)?, i, o),
            Some(rec) => rec.matmul(
                OP,
                gpu::Product {
                    m: n,
                    k: i,
                    n: o,
                    a: self.buf(OP, x)?,
                    sa: cpu::Strides::row_major(i),
                    b: self.buf(OP, w)?,
                    sb: cpu::Strides::row_major(o),
                    bias: Some(self.buf(OP, b)?),
                    relu: act == Activation::Relu,
                    c: self.buf(OP, y)?,
                },
            )?,
        }
        Ok(())
    }

    /// Backward of dense_forward. `y` is the forward output (for the ReLU mask). `dy` [n×o] holds dL/dy on
    /// entry and is overwritten with dL/d(pre-activation). Writes (overwrites, not accumulates)
    /// dw = xᵀ·dy [i×o], db = column sums of dy [1×o], and dx = dy·wᵀ [n×i] when `dx` is Some.
    #[allow(clippy::too_many_arguments)]
    pub fn dense_backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        y: &Tensor,
        act: Activation,
        dy: &mut Tensor,
        dx: Option<&mut Tensor>,
        dw: &mut Tensor,
        db: &mut Tensor,
    ) -> Result<(), KernelError> {
        const OP: &str = "dense_backward";
        let (n, i) = x.shape();
        let o = w.cols;
        expect_shape(OP, "w", w, i, o)?;
        expect_shape(OP, "y", y, n, o)?;
        expect_shape(OP, "dy", dy, n, o)?;
        expect_shape(OP, "dw", dw, i, o)?;
        expect_shape(OP, "db", db, 1, o)?;
        if let Some(dx) = &dx {
            expect_shape(OP, "dx", dx, n, i)?;
        }
        match &self.gpu {
            None => {
                let dx = match dx {
                    Some(dx) => Some(host_mut(OP, dx)?),
                    None => None,
                };
                let grads = cpu::DenseGrads { dx, dw: host_mut(OP, dw)?, db: host_mut(OP, db)? };
                cpu::dense_backward(host(OP, x)?, host(OP, w)?, host(OP, y)?, act, host_mut(OP, dy)?, grads, i, o);
            }
            Some(rec) => {
                let (x, w, y, dy) = (self.buf(OP, x)?, self.buf(OP, w)?, self.buf(OP, y)?, self.buf(OP, dy)?);
                let (dw, db) = (self.buf(OP, dw)?, self.buf(OP, db)?);
                let dx = match dx {
                    Some(dx) => Some(self.buf(OP, dx)?),
                    None => None,
                };
                if act == Activation::Relu {
                    rec.relu_backward(OP, y, dy, n * o)?;
                }
                rec.matmul(
                    OP,
                    gpu::Product {
                        m: i,
                        k: n,
                        n: o,
                        a: x,
                        sa: cpu::Strides::transposed(i),
                        b: dy,
                        sb: cpu::Strides::row_major(o),
                        bias: None,
                        relu: false,
                        c: dw,
                    },
                )?;
                rec.column_sums(OP, dy, db, n, o)?;
                if let Some(dx) = dx {
                    rec.matmul(
                        OP,
                        gpu::Product {
                            m: n,
                            k: o,
                            n: i,
                            a: dy,
                            sa: cpu::Strides::row_major(o),
                            b: w,
                            sb: cpu::Strides::transposed(o),
                            bias: None,
                            relu: false,
                            c: dx,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }

    fn check_table(op: &'static str, name: &str, table: &Tensor, bags: &Bags) -> Result<(), KernelError> {
        expect(op, table.rows >= bags.vocab, || {
            format!("{name} is {} but the bags index {} rows", table.shape_str(), bags.vocab)
        })
    }

    /// `out[b]` = mean of table rows of bag `b` (an empty bag gives zeros); table [v×d]
    /// (v at least the bags' vocabulary), out [bags×d].
    pub fn embedding_bag_forward(&self, table: &Tensor, bags: &Bags, out: &mut Tensor) -> Result<(), KernelError> {
        const OP: &str = "embedding_bag_forward";
        let d = table.cols;
        Self::check_table(OP, "table", table, bags)?;
        expect_shape(OP, "out", out, bags.bags, d)?;
        match &self.gpu {
            None => {
                let (ids, offsets) = host_bags(OP, bags)?;
                cpu::embedding_bag_forward(host(OP, table)?, ids, offsets, host_mut(OP, out)?, d);
            }
            Some(rec) => {
                rec.embedding_bag_forward(OP, self.buf(OP, table)?, self.gpu_bags(OP, bags)?, self.buf(OP, out)?, d)?
            }
        }
        Ok(())
    }

    /// dtable = gradient of the table (overwritten, rows not in any bag are zero); dout [bags×d],
    /// dtable [v×d] (v at least the bags' vocabulary).
    pub fn embedding_bag_backward(&self, dout: &Tensor, bags: &Bags, dtable: &mut Tensor) -> Result<(), KernelError> {
        const OP: &str = "embedding_bag_backward";
        let d = dtable.cols;
        Self::check_table(OP, "dtable", dtable, bags)?;
        expect_shape(OP, "dout", dout, bags.bags, d)?;
        match &self.gpu {
            None => {
                let (ids, offsets) = host_bags(OP, bags)?;
                cpu::embedding_bag_backward(host(OP, dout)?, ids, offsets, host_mut(OP, dtable)?, d);
            }
            Some(rec) => {
                rec.embedding_bag_backward(OP, self.buf(OP, dout)?, self.gpu_bags(OP, bags)?, self.buf(OP, dtable)?, d)?
            }
        }
        Ok(())
    }

    /// Mean softmax cross-entropy over rows: writes per-row losses [n×1] and dlogits [n×c] =
    /// (softmax(logits) - onehot(target)) / n. Numerically stable (subtract the row max).
    /// A target >= c is an error on the CPU ([`KernelError::Invalid`]); the GPU cannot check without a
    /// read-back, so its shader writes a NaN loss for that row instead (and no one-hot in its gradient).
    pub fn softmax_cross_entropy(
        &self,
        logits: &Tensor,
        targets: &Ids,
        losses: &mut Tensor,
        dlogits: &mut Tensor,
    ) -> Result<(), KernelError> {
        const OP: &str = "softmax_cross_entropy";
        let (n, c) = logits.shape();
        expect(OP, targets.len == n, || format!("{} targets for {n} rows of logits", targets.len))?;
        expect_shape(OP, "losses", losses, n, 1)?;
        expect_shape(OP, "dlogits", dlogits, n, c)?;
        match &self.gpu {
            None => {
                let targets = host_ids(OP, targets)?;
                if let Some((r, t)) = targets.iter().enumerate().find(|&(_, &t)| t as usize >= c) {
                    return Err(KernelError::Invalid {
                        op: OP,
                        detail: format!("target {t} of row {r} is not below the {c} classes"),
                    });
                }
                cpu::softmax_cross_entropy(
                    host(OP, logits)?,
                    targets,
                    host_mut(OP, losses)?,
                    host_mut(OP, dlogits)?,
                    c,
                );
            }
            Some(rec) => rec.softmax_cross_entropy(
                OP,
                self.buf(OP, logits)?,
                self.id_buf(OP, targets)?,
                self.buf(OP, losses)?,
                self.buf(OP, dlogits)?,
                n,
                c,
            )?,
        }
        Ok(())
    }

    /// Row-wise softmax probabilities (for inference): probs [n×c].
    pub fn softmax(&self, logits: &Tensor, probs: &mut Tensor) -> Result<(), KernelError> {
        const OP: &str = "softmax";
        let (n, c) = logits.shape();
        expect_shape(OP, "probs", probs, n, c)?;
        match &self.gpu {
            None => cpu::softmax(host(OP, logits)?, host_mut(OP, probs)?, c),
            Some(rec) => rec.softmax(OP, self.buf(OP, logits)?, self.buf(OP, probs)?, n, c)?,
        }
        Ok(())
    }

    /// One AdamW step (decoupled weight decay, bias-corrected), `step` counts from 1; m and v same shape as
    /// param (start them at zero). Per element, with `t = step`:
    /// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `p ← p·(1 − lr·wd) − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε)` (PyTorch's `AdamW`).
    pub fn adamw(
        &self,
        param: &mut Tensor,
        grad: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        hp: &AdamW,
        step: u32,
    ) -> Result<(), KernelError> {
        const OP: &str = "adamw";
        let (rows, cols) = param.shape();
        expect_shape(OP, "grad", grad, rows, cols)?;
        expect_shape(OP, "m", m, rows, cols)?;
        expect_shape(OP, "v", v, rows, cols)?;
        if step == 0 {
            return Err(KernelError::Invalid { op: OP, detail: "step counts from 1".into() });
        }
        let scalars = AdamScalars::new(hp, step);
        match &self.gpu {
            None => cpu::adamw(host_mut(OP, param)?, host(OP, grad)?, host_mut(OP, m)?, host_mut(OP, v)?, &scalars),
            Some(rec) => rec.adamw(
                OP,
                self.buf(OP, param)?,
                self.buf(OP, grad)?,
                self.buf(OP, m)?,
                self.buf(OP, v)?,
                rows * cols,
                &scalars,
            )?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
