//! The GPU implementations of the [`super::Nn`] ops: each op records one or
//! a few compute passes (shaders in `kernels/shaders/nn/`) into the pending
//! command encoder of a [`Recorder`]; [`Recorder::read`] and
//! [`Recorder::flush`] submit it.
//!
//! Every wgpu call runs inside validation and out-of-memory error scopes
//! ([`Recorder::scoped`]), so a failure becomes a [`KernelError::Kernel`]
//! naming the op instead of wgpu's default panic. An op creates its uniform
//! buffer and bind group first and records its pass only if they were valid,
//! so a rejected op leaves the batch recorded so far intact.
//!
//! Lengths are passed to the shaders as u32: every buffer is at most the
//! device's largest storage binding (checked when it is created), far below
//! 2³² elements.

use std::sync::{Arc, Mutex, PoisonError};

use wgpu::util::DeviceExt;

use super::AdamScalars;
use super::cpu::{Strides, inverse_counts};
use crate::device::{Gpu, KernelError};

const MATMUL: &str = include_str!("../../shaders/nn/matmul.wgsl");
const RELU_BACKWARD: &str = include_str!("../../shaders/nn/relu_backward.wgsl");
const COLUMN_SUM: &str = include_str!("../../shaders/nn/column_sum.wgsl");
const EMBEDDING_BAG_FORWARD: &str = include_str!("../../shaders/nn/embedding_bag_forward.wgsl");
const EMBEDDING_BAG_BACKWARD: &str = include_str!("../../shaders/nn/embedding_bag_backward.wgsl");
// Both softmax shaders share the row reduction of softmax_rows.wgsl.
const SOFTMAX_CROSS_ENTROPY: &str = concat!(
    include_str!("../../shaders/nn/softmax_rows.wgsl"),
    include_str!("../../shaders/nn/softmax_cross_entropy.wgsl")
);
const SOFTMAX: &str =
    concat!(include_str!("../../shaders/nn/softmax_rows.wgsl"), include_str!("../../shaders/nn/softmax.wgsl"));
const ADAMW: &str = include_str!("../../shaders/nn/adamw.wgsl");

/// Output tile of one matmul workgroup (a square, `TILE × TILE`); must match `matmul.wgsl`.
const TILE: usize = 128;
/// Passes recorded before the encoder is submitted without waiting.
const MAX_PENDING_PASSES: usize = 256;
/// The name errors found at submission carry.
const SUBMIT: &str = "nn_submit";

/// The command encoder ops are recorded into, and how many passes it holds.
#[derive(Default)]
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    passes: usize,
}

/// Records ops for one GPU.
pub(super) struct Recorder {
    gpu: Arc<Gpu>,
    pending: Mutex<Pending>,
    /// Bound where a kernel's optional input is absent (no bias).
    placeholder: wgpu::Buffer,
}

/// Embedding bags on the GPU: the bags themselves for the forward pass and
/// their inverse (which bags each touched row appears in, bags ascending,
/// once per occurrence) for the backward pass.
pub(super) struct GpuBags {
    pub gpu: Arc<Gpu>,
    bags: usize,
    ids: wgpu::Buffer,
    offsets: wgpu::Buffer,
    /// `1 / |bag|` per bag (0 for an empty bag).
    inverse_counts: wgpu::Buffer,
    /// Distinct rows that occur in some bag, ascending.
    rows: wgpu::Buffer,
    touched: usize,
    /// CSR offsets into `entries` per touched row (`touched + 1`).
    row_offsets: wgpu::Buffer,
    /// Bag of each occurrence, grouped by row, bags ascending.
    entries: wgpu::Buffer,
}

/// `c = act(a·b + bias)`: `a` an `m × k` view, `b` a `k × n` view, `c` row-major `m × n`.
pub(super) struct Product<'a> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: &'a wgpu::Buffer,
    pub sa: Strides,
    pub b: &'a wgpu::Buffer,
    pub sb: Strides,
    pub bias: Option<&'a wgpu::Buffer>,
    pub relu: bool,
    pub c: &'a wgpu::Buffer,
}

fn u(x: usize) -> u32 {
    x as u32
}

impl Recorder {
    pub fn new(gpu: Arc<Gpu>) -> Recorder {
        let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
        let placeholder = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("nn-placeholder"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        // A 16-byte storage buffer is always valid; the scope only keeps an
        // impossible failure from reaching wgpu's panicking default handler.
        drop(pollster::block_on(scope.pop()));
        Recorder { gpu, pending: Mutex::new(Pending::default()), placeholder }
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Runs `f` inside validation and out-of-memory error scopes; an error
    /// either reports becomes [`KernelError::Kernel`] named `op`.
    fn scoped<T>(&self, op: &'static str, f: impl FnOnce() -> Result<T, KernelError>) -> Result<T, KernelError> {
        let device = self.gpu.device();
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let result = f();
        let oom = pollster::block_on(oom.pop());
        let validation = pollster::block_on(validation.pop());
        match (oom, validation) {
            (Some(e), _) | (None, Some(e)) => Err(KernelError::Kernel { kernel: op, message: e.to_string() }),
            (None, None) => result,
        }
    }

    fn check_size(&self, op: &'static str, bytes: u64) -> Result<(), KernelError> {
        let max = self.gpu.max_binding_bytes();
        if bytes > max {
            return Err(KernelError::Kernel {
                kernel: op,
                message: format!("{bytes} bytes exceed the device's largest storage binding ({max} bytes)"),
            });
        }
        Ok(())
    }

    /// A storage buffer holding `bytes` (at least 4 bytes, so it can be bound).
    pub fn upload(&self, op: &'static str, bytes: &[u8]) -> Result<wgpu::Buffer, KernelError> {
        self.check_size(op, bytes.len() as u64)?;
        let mut contents = bytes.to_vec();
        contents.resize(bytes.len().next_multiple_of(4).max(4), 0);
        self.scoped(op, || {
            Ok(self.gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(op),
                contents: &contents,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            }))
        })
    }

    /// A zeroed storage buffer of `bytes` (at least 4).
    pub fn zeros(&self, op: &'static str, bytes: u64) -> Result<wgpu::Buffer, KernelError> {
        self.check_size(op, bytes)?;
        self.scoped(op, || {
            Ok(self.gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some(op),
                size: bytes.next_multiple_of(4).max(4),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        })
    }

    /// Runs `record` on the pending encoder (created on first use).
    fn record(&self, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<(), KernelError> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let device = self.gpu.device();
        let encoder = pending.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("nn") })
        });
        record(encoder);
        pending.passes += 1;
        if pending.passes >= MAX_PENDING_PASSES {
            self.submit(&mut pending);
        }
        Ok(())
    }

    fn submit(&self, pending: &mut Pending) {
        pending.passes = 0;
        if let Some(encoder) = pending.encoder.take() {
            self.gpu.queue().submit([encoder.finish()]);
        }
    }

    /// Submits the pending work; with `wait`, also waits for the queue to drain.
    pub fn flush(&self, wait: bool) -> Result<(), KernelError> {
        self.scoped(SUBMIT, || {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            self.submit(&mut pending);
            drop(pending);
            if wait {
                self.gpu
                    .device()
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| KernelError::Kernel { kernel: SUBMIT, message: e.to_string() })?;
            }
            Ok(())
        })
    }

    /// Records a copy of `bytes` into `dst`, ordered with the pending ops.
    pub fn write(&self, op: &'static str, dst: &wgpu::Buffer, bytes: &[u8]) -> Result<(), KernelError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let staging = self.scoped(op, || {
            Ok(self.gpu.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("nn-staging"),
                contents: bytes,
                usage: wgpu::BufferUsages::COPY_SRC,
            }))
        })?;
        self.scoped(op, || {
            self.record(|encoder| encoder.copy_buffer_to_buffer(&staging, 0, dst, 0, bytes.len() as u64))
        })
    }

    /// Submits the pending work with a copy of the first `bytes` of `src`
    /// appended, waits, and returns them.
    pub fn read(&self, op: &'static str, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, KernelError> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let fail = |message: String| KernelError::Kernel { kernel: op, message };
        let readback = self.scoped(op, || {
            Ok(self.gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("nn-readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        })?;
        self.scoped(op, || self.record(|encoder| encoder.copy_buffer_to_buffer(src, 0, &readback, 0, bytes)))?;
        self.flush(false)?;
        let (sender, receiver) = std::sync::mpsc::channel();
        self.scoped(op, || {
            readback.map_async(wgpu::MapMode::Read, .., move |result| {
                let _ = sender.send(result);
            });
            self.gpu.device().poll(wgpu::PollType::wait_indefinitely()).map_err(|e| fail(e.to_string()))?;
            receiver
                .recv()
                .map_err(|_| fail("the read-back was dropped".into()))?
                .map_err(|e| fail(format!("read-back failed: {e}")))?;
            let bytes = readback.get_mapped_range(..).map_err(|e| fail(e.to_string()))?.to_vec();
            readback.unmap();
            Ok(bytes)
        })
    }

    /// Records one pass of `kernel` with `params` in a uniform at binding 0
    /// and `buffers` at 1, 2, …, over `groups` workgroups (folded into a 2-D
    /// grid; the kernel gets the folded row length as a parameter).
    fn dispatch(
        &self,
        op: &'static str,
        kernel: &'static str,
        source: &str,
        params: &[u32],
        buffers: &[&wgpu::Buffer],
        grid: (u32, u32),
    ) -> Result<(), KernelError> {
        let (pipeline, bind_group) = self.scoped(op, || {
            let pipeline = self.gpu.pipeline(kernel, source);
            let uniform = self.gpu.buffer(kernel, bytemuck::cast_slice(params), true);
            let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(&uniform)
                .chain(buffers.iter().copied())
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
                .collect();
            let bind_group = self.gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            Ok((pipeline, bind_group))
        })?;
        self.scoped(op, || {
            self.record(|encoder| {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel), ..Default::default() });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(grid.0, grid.1, 1);
            })
        })
    }

    /// `groups` workgroups folded into a grid the device accepts: `(x, y)`.
    fn fold(&self, groups: usize) -> (u32, u32) {
        let max = self.gpu.limits().max_compute_workgroups_per_dimension.max(1) as usize;
        let x = groups.clamp(1, max);
        (u(x), u(groups.div_ceil(x).max(1)))
    }

    /// One thread per element of an `len`-long 1-D job: the grid and its row stride.
    fn threads(&self, len: usize) -> ((u32, u32), u32) {
        let grid = self.gpu.grid(len as u64);
        ((grid.x, grid.y), grid.row_stride)
    }

    pub fn matmul(&self, op: &'static str, p: Product<'_>) -> Result<(), KernelError> {
        if p.m == 0 || p.n == 0 {
            return Ok(());
        }
        let tiles_n = p.n.div_ceil(TILE);
        let grid = self.fold(p.m.div_ceil(TILE) * tiles_n);
        let params = [
            u(p.m),
            u(p.n),
            u(p.k),
            u(p.sa.row),
            u(p.sa.col),
            u(p.sb.row),
            u(p.sb.col),
            u32::from(p.bias.is_some()),
            u32::from(p.relu),
            u(tiles_n),
            grid.0,
        ];
        let bias = p.bias.unwrap_or(&self.placeholder);
        self.dispatch(op, "nn_matmul", MATMUL, &params, &[p.a, p.b, bias, p.c], grid)
    }

    pub fn relu_backward(
        &self,
        op: &'static str,
        y: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        len: usize,
    ) -> Result<(), KernelError> {
        if len == 0 {
            return Ok(());
        }
        let (grid, stride) = self.threads(len);
        self.dispatch(op, "nn_relu_backward", RELU_BACKWARD, &[u(len), stride], &[y, dy], grid)
    }

    pub fn column_sums(
        &self,
        op: &'static str,
        m: &wgpu::Buffer,
        sums: &wgpu::Buffer,
        rows: usize,
        cols: usize,
    ) -> Result<(), KernelError> {
        if cols == 0 {
            return Ok(());
        }
        let (grid, stride) = self.threads(cols);
        self.dispatch(op, "nn_column_sum", COLUMN_SUM, &[u(rows), u(cols), stride], &[m, sums], grid)
    }

    pub fn bags(&self, op: &'static str, ids: &[u32], offsets: &[u32]) -> Result<GpuBags, KernelError> {
        // The inverse index: (row, bag) for every occurrence, sorted by row
        // then bag, as CSR over the distinct rows.
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(ids.len());
        for (bag, range) in offsets.windows(2).enumerate() {
            pairs.extend(ids[range[0] as usize..range[1] as usize].iter().map(|&id| (id, bag as u32)));
        }
        pairs.sort_unstable();
        let mut rows = Vec::new();
        let mut row_offsets = Vec::new();
        for (i, &(row, _)) in pairs.iter().enumerate() {
            if rows.last() != Some(&row) {
                rows.push(row);
                row_offsets.push(i as u32);
            }
        }
        row_offsets.push(pairs.len() as u32);
        let entries: Vec<u32> = pairs.iter().map(|&(_, bag)| bag).collect();
        Ok(GpuBags {
            gpu: self.gpu.clone(),
            bags: offsets.len() - 1,
            ids: self.upload(op, bytemuck::cast_slice(ids))?,
            offsets: self.upload(op, bytemuck::cast_slice(offsets))?,
            inverse_counts: self.upload(op, bytemuck::cast_slice(&inverse_counts(offsets)))?,
            touched: rows.len(),
            rows: self.upload(op, bytemuck::cast_slice(&rows))?,
            row_offsets: self.upload(op, bytemuck::cast_slice(&row_offsets))?,
            entries: self.upload(op, bytemuck::cast_slice(&entries))?,
        })
    }

    pub fn embedding_bag_forward(
        &self,
        op: &'static str,
        table: &wgpu::Buffer,
        bags: &GpuBags,
        out: &wgpu::Buffer,
        d: usize,
    ) -> Result<(), KernelError> {
        let len = bags.bags * d;
        if len == 0 {
            return Ok(());
        }
        let (grid, stride) = self.threads(len);
        self.dispatch(
            op,
            "nn_embedding_bag_forward",
            EMBEDDING_BAG_FORWARD,
            &[u(bags.bags), u(d), stride],
            &[table, &bags.ids, &bags.offsets, &bags.inverse_counts, out],
            grid,
        )
    }

    pub fn embedding_bag_backward(
        &self,
        op: &'static str,
        dout: &wgpu::Buffer,
        bags: &GpuBags,
        dtable: &wgpu::Buffer,
        d: usize,
    ) -> Result<(), KernelError> {
        self.scoped(op, || self.record(|encoder| encoder.clear_buffer(dtable, 0, None)))?;
        let len = bags.touched * d;
        if len == 0 {
            return Ok(());
        }
        let (grid, stride) = self.threads(len);
        self.dispatch(
            op,
            "nn_embedding_bag_backward",
            EMBEDDING_BAG_BACKWARD,
            &[u(bags.touched), u(d), stride],
            &[dout, &bags.inverse_counts, &bags.rows, &bags.row_offsets, &bags.entries, dtable],
            grid,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn softmax_cross_entropy(
        &self,
        op: &'static str,
        logits: &wgpu::Buffer,
        targets: &wgpu::Buffer,
        losses: &wgpu::Buffer,
        dlogits: &wgpu::Buffer,
        n: usize,
        c: usize,
    ) -> Result<(), KernelError> {
        if n == 0 {
            return Ok(());
        }
        let grid = self.fold(n);
        let inv_n = 1.0 / n as f32;
        self.dispatch(
            op,
            "nn_softmax_cross_entropy",
            SOFTMAX_CROSS_ENTROPY,
            &[u(n), u(c), grid.0, inv_n.to_bits(), f32::NAN.to_bits()],
            &[logits, targets, losses, dlogits],
            grid,
        )
    }

    pub fn softmax(
        &self,
        op: &'static str,
        logits: &wgpu::Buffer,
        probs: &wgpu::Buffer,
        n: usize,
        c: usize,
    ) -> Result<(), KernelError> {
        if n == 0 || c == 0 {
            return Ok(());
        }
        let grid = self.fold(n);
        self.dispatch(op, "nn_softmax", SOFTMAX, &[u(n), u(c), grid.0], &[logits, probs], grid)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn adamw(
        &self,
        op: &'static str,
        param: &wgpu::Buffer,
        grad: &wgpu::Buffer,
        m: &wgpu::Buffer,
        v: &wgpu::Buffer,
        len: usize,
        s: &AdamScalars,
    ) -> Result<(), KernelError> {
        if len == 0 {
            return Ok(());
        }
        let (grid, stride) = self.threads(len);
        let params = [
            u(len),
            stride,
            s.beta1.to_bits(),
            s.beta2.to_bits(),
            s.one_minus_beta1.to_bits(),
            s.one_minus_beta2.to_bits(),
            s.eps.to_bits(),
            s.decay.to_bits(),
            s.step_size.to_bits(),
            s.inv_sqrt_bc2.to_bits(),
        ];
        self.dispatch(op, "nn_adamw", ADAMW, &params, &[grad, param, m, v], grid)
    }
}

impl Drop for Recorder {
    /// Submits what is still pending, so outputs written by recorded ops reach
    /// their buffers even when the `Nn` goes first.
    fn drop(&mut self) {
        let _ = self.flush(false);
    }
}
