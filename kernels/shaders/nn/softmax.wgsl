// Row-wise softmax, one workgroup of 64 threads per row (the reduction is
// `row_stats` of softmax_rows.wgsl, prepended). The twin of `softmax` in
// `src/nn/cpu.rs`.

struct Params {
    rows: u32,
    classes: u32,
    // Workgroups per row of the (folded) dispatch grid.
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * params.groups_x;
    // Uniform across the workgroup, so the barriers of row_stats stay uniform.
    if row >= params.rows {
        return;
    }
    let base = row * params.classes;
    let stats = row_stats(base, params.classes, t);
    for (var j = t; j < params.classes; j += THREADS) {
        probs[base + j] = exp(logits[base + j] - stats.max) / stats.total;
    }
}
