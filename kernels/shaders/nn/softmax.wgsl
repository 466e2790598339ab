// Row-wise softmax, one workgroup of 64 threads per row, with the row max
// and the sum of exp(z - max) reduced through workgroup memory in a fixed
// tree. The twin of `softmax` in `src/nn/cpu.rs`.

struct Params {
    rows: u32,
    classes: u32,
    // Workgroups per row of the (folded) dispatch grid.
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

const THREADS: u32 = 64u;
const LOWEST: f32 = -3.40282347e38;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let row = wid.x + wid.y * params.groups_x;
    // Uniform across the workgroup, so the barriers below stay uniform.
    if row >= params.rows {
        return;
    }
    let base = row * params.classes;
    var mx = LOWEST;
    for (var j = t; j < params.classes; j += THREADS) {
        mx = max(mx, logits[base + j]);
    }
    partial[t] = mx;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if t < s {
            partial[t] = max(partial[t], partial[t + s]);
        }
        workgroupBarrier();
    }
    mx = partial[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = t; j < params.classes; j += THREADS) {
        sum += exp(logits[base + j] - mx);
    }
    partial[t] = sum;
    workgroupBarrier();
    for (var s = THREADS / 2u; s > 0u; s >>= 1u) {
        if t < s {
            partial[t] += partial[t + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    for (var j = t; j < params.classes; j += THREADS) {
        probs[base + j] = exp(logits[base + j] - mx) / total;
    }
}
