//! The CPU implementations of the [`super::Nn`] ops: the reference the GPU
//! kernels are tested against and the fallback without a GPU. Dense products
//! go through `matrixmultiply`'s sgemm (strided, so transposed operands cost
//! nothing); everything else is plain loops whose summation order matches the
//! WGSL twins where that is cheap (embedding bags, column sums).
//!
//! Callers ([`super::Nn`]) check every shape first; the functions here only
//! assert what the `unsafe` sgemm call relies on.

use super::{Activation, AdamScalars};

/// A strided view of a matrix: element (r, c) is at `r * row + c * col`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Strides {
    pub row: usize,
    pub col: usize,
}

impl Strides {
    /// A row-major matrix with `cols` columns.
    pub fn row_major(cols: usize) -> Strides {
        Strides { row: cols, col: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(cols: usize) -> Strides {
        Strides { row: 1, col: cols }
    }

    /// Whether a `rows × cols` view through these strides stays inside `len` elements.
    fn fits(self, rows: usize, cols: usize, len: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.row).zip((cols - 1).checked_mul(self.col));
        matches!(last, Some((r, c)) if r.checked_add(c).is_some_and(|i| i < len))
    }
}

/// `c = a · b` with `a` an `m × k` view, `b` a `k × n` view and `c` row-major `m × n` (overwritten).
pub(super) fn matmul(
    m: usize,
    k: usize,
    n: usize,
    (a, sa): (&[f32], Strides),
    (b, sb): (&[f32], Strides),
    c: &mut [f32],
) {
    assert!(sa.fits(m, k, a.len()) && sb.fits(k, n, b.len()) && c.len() == m * n, "matmul operands out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: the assertion above keeps every element sgemm reads inside `a`
    // and `b` and every element it writes inside `c` (row-major m × n); `c` is
    // a unique borrow, so it aliases neither input. With k == 0 sgemm only
    // writes `beta · c = 0` into `c`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            stride(sa.row),
            stride(sa.col),
            b.as_ptr(),
            stride(sb.row),
            stride(sb.col),
            0.0,
            c.as_mut_ptr(),
            stride(n),
            1,
        );
    }
}

/// `y = act(x · w + b)`; x `n × i`, w `i × o`, b `1 × o`, y `n × o`.
pub(super) fn dense_forward(x: &[f32], w: &[f32], b: &[f32], act: Activation, y: &mut [f32], i: usize, o: usize) {
    let n = y.len().checked_div(o).unwrap_or(0);
    matmul(n, i, o, (x, Strides::row_major(i)), (w, Strides::row_major(o)), y);
    for row in y.chunks_exact_mut(o.max(1)) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v = activate(*v + bias, act);
        }
    }
}

fn activate(v: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => v,
        // Written as in the shader: NaN becomes 0 on both.
        Activation::Relu => {
            if v > 0.0 {
                v
            } else {
                0.0
            }
        }
    }
}

/// The outputs of [`dense_backward`].
pub(super) struct DenseGrads<'a> {
    pub dx: Option<&'a mut [f32]>,
    pub dw: &'a mut [f32],
    pub db: &'a mut [f32],
}

/// Backward of [`dense_forward`]: masks `dy` through the activation, then
/// `dw = xᵀ·dy`, `db = Σ_rows dy`, `dx = dy·wᵀ`.
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    act: Activation,
    dy: &mut [f32],
    grads: DenseGrads<'_>,
    i: usize,
    o: usize,
) {
    let n = dy.len().checked_div(o).unwrap_or(0);
    if act == Activation::Relu {
        relu_backward(y, dy);
    }
    matmul(i, n, o, (x, Strides::transposed(i)), (dy, Strides::row_major(o)), grads.dw);
    column_sums(dy, o, grads.db);
    if let Some(dx) = grads.dx {
        matmul(n, o, i, (dy, Strides::row_major(o)), (w, Strides::transposed(o)), dx);
    }
}

/// `dy = 0` wherever the ReLU output `y` is not positive.
pub(super) fn relu_backward(y: &[f32], dy: &mut [f32]) {
    for (d, &y) in dy.iter_mut().zip(y) {
        // Not positive, NaN included (as in the shader).
        if y.is_nan() || y <= 0.0 {
            *d = 0.0;
        }
    }
}

/// `sums[j] = Σ_r m[r][j]`, rows in order (as the shader does).
pub(super) fn column_sums(m: &[f32], cols: usize, sums: &mut [f32]) {
    sums.fill(0.0);
    for row in m.chunks_exact(cols.max(1)) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// `1 / |bag|` for each bag (0 for an empty bag), shared with the GPU path.
pub(super) fn inverse_counts(offsets: &[u32]) -> Vec<f32> {
    offsets.windows(2).map(|w| if w[1] > w[0] { 1.0 / (w[1] - w[0]) as f32 } else { 0.0 }).collect()
}

/// `out[b] = mean of table[ids[offsets[b]..offsets[b+1]]]`; rows of width `d`.
pub(super) fn embedding_bag_forward(table: &[f32], ids: &[u32], offsets: &[u32], out: &mut [f32], d: usize) {
    let inverse = inverse_counts(offsets);
    for ((bag, row), scale) in offsets.windows(2).zip(out.chunks_exact_mut(d.max(1))).zip(inverse) {
        row.fill(0.0);
        for &id in &ids[bag[0] as usize..bag[1] as usize] {
            let src = &table[id as usize * d..(id as usize + 1) * d];
            for (o, s) in row.iter_mut().zip(src) {
                *o += s;
            }
        }
        for o in row.iter_mut() {
            *o *= scale;
        }
    }
}

/// `dtable = 0`, then each bag's `dout` row, scaled by `1 / |bag|`, is added
/// to the rows of its ids (bags in order, as the GPU's inverse index does).
pub(super) fn embedding_bag_backward(dout: &[f32], ids: &[u32], offsets: &[u32], dtable: &mut [f32], d: usize) {
    dtable.fill(0.0);
    let inverse = inverse_counts(offsets);
    for ((bag, grad), scale) in offsets.windows(2).zip(dout.chunks_exact(d.max(1))).zip(inverse) {
        for &id in &ids[bag[0] as usize..bag[1] as usize] {
            let dst = &mut dtable[id as usize * d..(id as usize + 1) * d];
            for (t, g) in dst.iter_mut().zip(grad) {
                *t += g * scale;
            }
        }
    }
}

/// The row's maximum and `Σ exp(z - max)`.
fn normaliser(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (max, row.iter().map(|&z| (z - max).exp()).sum())
}

/// Per-row cross-entropy losses and `dlogits = (softmax - onehot) / n`;
/// every target must be below `c` (the caller checks).
pub(super) fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[u32],
    losses: &mut [f32],
    dlogits: &mut [f32],
    c: usize,
) {
    let inv_n = 1.0 / targets.len().max(1) as f32;
    let rows = logits.chunks_exact(c.max(1)).zip(dlogits.chunks_exact_mut(c.max(1)));
    for (((row, grad), &target), loss) in rows.zip(targets).zip(losses.iter_mut()) {
        let (max, sum) = normaliser(row);
        let t = target as usize;
        *loss = sum.ln() - (row[t] - max);
        for (j, (g, &z)) in grad.iter_mut().zip(row).enumerate() {
            let onehot = if j == t { 1.0 } else { 0.0 };
            *g = ((z - max).exp() / sum - onehot) * inv_n;
        }
    }
}

/// Row-wise softmax.
pub(super) fn softmax(logits: &[f32], probs: &mut [f32], c: usize) {
    for (row, out) in logits.chunks_exact(c.max(1)).zip(probs.chunks_exact_mut(c.max(1))) {
        let (max, sum) = normaliser(row);
        for (p, &z) in out.iter_mut().zip(row) {
            *p = (z - max).exp() / sum;
        }
    }
}

/// One AdamW step with the scalars the GPU uses too.
pub(super) fn adamw(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamScalars) {
    for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = s.beta1 * *m + s.one_minus_beta1 * g;
        *v = s.beta2 * *v + s.one_minus_beta2 * (g * g);
        *p = *p * s.decay - s.step_size * *m / (v.sqrt() * s.inv_sqrt_bc2 + s.eps);
    }
}
