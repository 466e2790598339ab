// Embedding bag forward: out[b] = mean of the table rows of bag b (zeros for
// an empty bag), one thread per (bag, dimension), adding the bag's ids in
// order. The twin of `embedding_bag_forward` in `src/nn/cpu.rs`.

struct Params {
    bags: u32,
    dim: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
// bags + 1 offsets into `ids`.
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
// 1 / |bag| (0 for an empty bag).
@group(0) @binding(4) var<storage, read> inverse_counts: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = gid.x + gid.y * params.row_stride;
    if id >= params.bags * params.dim {
        return;
    }
    let bag = id / params.dim;
    let j = id % params.dim;
    var s = 0.0;
    for (var p = offsets[bag]; p < offsets[bag + 1u]; p++) {
        s += table[ids[p] * params.dim + j];
    }
    out[id] = s * inverse_counts[bag];
}
