// Embedding bag backward, without atomics: one thread per (touched row,
// dimension) walks the row's entries in the inverse index built on the host
// (the bags the row occurs in, ascending, once per occurrence) and writes
// Σ dout[bag] / |bag|. Rows in no bag were cleared before this pass. The
// twin of `embedding_bag_backward` in `src/nn/cpu.rs`, in the same order.

struct Params {
    touched: u32,
    dim: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inverse_counts: array<f32>;
// The distinct rows that occur in some bag.
@group(0) @binding(3) var<storage, read> rows: array<u32>;
// touched + 1 offsets into `entries`.
@group(0) @binding(4) var<storage, read> row_offsets: array<u32>;
// The bag of each occurrence, grouped by row.
@group(0) @binding(5) var<storage, read> entries: array<u32>;
@group(0) @binding(6) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = gid.x + gid.y * params.row_stride;
    if id >= params.touched * params.dim {
        return;
    }
    let r = id / params.dim;
    let j = id % params.dim;
    var s = 0.0;
    for (var e = row_offsets[r]; e < row_offsets[r + 1u]; e++) {
        let bag = entries[e];
        s += dout[bag * params.dim + j] * inverse_counts[bag];
    }
    dtable[rows[r] * params.dim + j] = s;
}
