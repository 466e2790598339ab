// Dense matrix product with bias and activation: c = act(a·b + bias), the
// forward pass of a dense layer and (without bias) both products of its
// backward pass. `a` (m×k) and `b` (k×n) are read through (row, column)
// strides, so aᵀ·b and a·bᵀ are the same kernel; `c` is row-major m×n.
//
// Each workgroup of 16×16 threads computes a 64×64 tile of `c`, each thread
// a 4×4 block of it, stepping through k in slices of 16 staged in workgroup
// memory (zero-padded past the edges). Every element sums k in order
// 0, 1, …, so results do not depend on the schedule. The twin of `matmul`
// and `dense_forward` in `src/nn/cpu.rs` (which use matrixmultiply's sgemm:
// the two agree to rounding, not bit for bit).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    // 1: add bias[column]; 0: `bias` is a placeholder.
    has_bias: u32,
    // 1: ReLU after the bias.
    relu: u32,
    // Tiles across n.
    tiles_n: u32,
    // Workgroups per row of the (folded) dispatch grid.
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;
const QUADS: u32 = 16u; // TILE / 4

// The current k-slice: a_tile[kk * QUADS + q] holds rows 4q..4q+3 of the
// tile at k = k0 + kk; b_tile[kk * QUADS + q] columns 4q..4q+3.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

fn load_a(row: u32, kk: u32) -> f32 {
    if row < params.m {
        return a[row * params.a_row + kk * params.a_col];
    }
    return 0.0;
}

fn load_b(kk: u32, col: u32) -> f32 {
    if col < params.n {
        return b[kk * params.b_row + col * params.b_col];
    }
    return 0.0;
}

fn store(row: u32, col: u32, v: vec4<f32>) {
    if row >= params.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if col + j < params.n {
            var x = v[j];
            if params.relu != 0u && !(x > 0.0) {
                x = 0.0;
            }
            c[row * params.n + col + j] = x;
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let tile = wid.x + wid.y * params.groups_x;
    let tiles_m = (params.m + TILE - 1u) / TILE;
    // Uniform across the workgroup, so the barriers below stay uniform.
    if tile >= tiles_m * params.tiles_n {
        return;
    }
    let m0 = (tile / params.tiles_n) * TILE;
    let n0 = (tile % params.tiles_n) * TILE;
    // What this thread stages: a at (k0 + a_kk, rows a_row0..+4), b at (k0 + b_kk, columns b_col0..+4).
    let a_kk = li % SLICE;
    let a_row0 = m0 + (li / SLICE) * 4u;
    let b_kk = li / QUADS;
    let b_col0 = n0 + (li % QUADS) * 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < params.k; k0 += SLICE) {
        var av = vec4<f32>(0.0);
        let ka = k0 + a_kk;
        if ka < params.k {
            av = vec4<f32>(load_a(a_row0, ka), load_a(a_row0 + 1u, ka), load_a(a_row0 + 2u, ka), load_a(a_row0 + 3u, ka));
        }
        a_tile[a_kk * QUADS + li / SLICE] = av;
        var bv = vec4<f32>(0.0);
        let kb = k0 + b_kk;
        if kb < params.k {
            bv = vec4<f32>(load_b(kb, b_col0), load_b(kb, b_col0 + 1u), load_b(kb, b_col0 + 2u), load_b(kb, b_col0 + 3u));
        }
        b_tile[b_kk * QUADS + li % QUADS] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < SLICE; kk++) {
            let x = a_tile[kk * QUADS + lid.y];
            let y = b_tile[kk * QUADS + lid.x];
            acc0 += x.x * y;
            acc1 += x.y * y;
            acc2 += x.z * y;
            acc3 += x.w * y;
        }
        workgroupBarrier();
    }
    let row = m0 + lid.y * 4u;
    let col = n0 + lid.x * 4u;
    var shift = vec4<f32>(0.0);
    if params.has_bias != 0u {
        for (var j = 0u; j < 4u; j++) {
            if col + j < params.n {
                shift[j] = bias[col + j];
            }
        }
    }
    store(row, col, acc0 + shift);
    store(row + 1u, col, acc1 + shift);
    store(row + 2u, col, acc2 + shift);
    store(row + 3u, col, acc3 + shift);
}
