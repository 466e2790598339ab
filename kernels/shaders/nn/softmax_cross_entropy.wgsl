// Softmax cross-entropy, one workgroup of 64 threads per row: the row max
// and the sum of exp(z - max) come from `row_stats` (softmax_rows.wgsl,
// prepended), then loss = log(sum) - (z[target] - max) and
// dlogits = (softmax - onehot(target)) / rows. A target past the classes
// gets a NaN loss (and no one-hot). The twin of `softmax_cross_entropy` in
// `src/nn/cpu.rs`.

struct Params {
    rows: u32,
    classes: u32,
    // Workgroups per row of the (folded) dispatch grid.
    groups_x: u32,
    inv_rows: f32,
    // The bits of a quiet NaN (WGSL has no NaN literal).
    nan: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * params.groups_x;
    // Uniform across the workgroup, so the barriers of row_stats stay uniform.
    if row >= params.rows {
        return;
    }
    let base = row * params.classes;
    let stats = row_stats(base, params.classes, t);
    let label = targets[row];
    for (var j = t; j < params.classes; j += THREADS) {
        let onehot = select(0.0, 1.0, j == label);
        dlogits[base + j] = (exp(logits[base + j] - stats.max) / stats.total - onehot) * params.inv_rows;
    }
    if t == 0u {
        if label < params.classes {
            losses[row] = log(stats.total) - (logits[base + label] - stats.max);
        } else {
            losses[row] = bitcast<f32>(params.nan);
        }
    }
}
