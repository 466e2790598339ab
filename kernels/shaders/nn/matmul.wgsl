// Dense matrix product with bias and activation: c = act(a·b + bias), the
// forward pass of a dense layer and (without bias) both products of its
// backward pass. `a` (m×k) and `b` (k×n) are read through (row, column)
// strides, so aᵀ·b and a·bᵀ are the same kernel; `c` is row-major m×n.
//
// Each workgroup of 16×16 threads computes a 128×128 tile of `c`, stepping
// through k in slices of 8 that the workgroup stages in workgroup memory
// (zero-padded past the edges). Thread (x, y) accumulates an 8×8 block:
// rows 4y..4y+3 and 64+4y..64+4y+3 of the tile times columns 4x..4x+3 and
// 64+4x..64+4x+3, i.e. 64 multiply-adds per 4 vec4 reads of workgroup
// memory. (On Mesa's lavapipe every memory access is a per-lane loop, so the
// reads per multiply-add set the speed; a 4×4 block per thread was 30% slower.)
// Every element sums k in order 0, 1, …, so results do not depend on the
// schedule. The twin of `matmul` and `dense_forward` in `src/nn/cpu.rs`
// (which use matrixmultiply's sgemm: the two agree to rounding, not bit for
// bit).

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

const TILE: u32 = 128u;
const SLICE: u32 = 8u;
// vec4s across a tile.
const QUADS: u32 = 32u;
// Half a tile: the offset of a thread's second row (column) quad.
const HALF: u32 = 64u;

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

// The bias of columns col..col+3 (zeros without bias or past the edge).
fn bias_quad(col: u32) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    if params.has_bias != 0u {
        for (var j = 0u; j < 4u; j++) {
            if col + j < params.n {
                s[j] = bias[col + j];
            }
        }
    }
    return s;
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
    // What this thread stages each slice: a at k0 + a_kk for rows a_row0..+3,
    // b at k0 + b_kk for columns b_col0..+3.
    let a_kk = li % SLICE;
    let a_q = li / SLICE;
    let a_row0 = m0 + a_q * 4u;
    let b_kk = li / QUADS;
    let b_q = li % QUADS;
    let b_col0 = n0 + b_q * 4u;
    // lo[i]: row i of the thread's block (0..3: 4y+i, 4..7: 64+4y+i-4) times
    // columns 4x..4x+3; hi[i]: the same rows times columns 64+4x..64+4x+3.
    var lo: array<vec4<f32>, 8>;
    var hi: array<vec4<f32>, 8>;
    for (var k0 = 0u; k0 < params.k; k0 += SLICE) {
        var av = vec4<f32>(0.0);
        let ka = k0 + a_kk;
        if ka < params.k {
            av = vec4<f32>(load_a(a_row0, ka), load_a(a_row0 + 1u, ka), load_a(a_row0 + 2u, ka), load_a(a_row0 + 3u, ka));
        }
        a_tile[a_kk * QUADS + a_q] = av;
        var bv = vec4<f32>(0.0);
        let kb = k0 + b_kk;
        if kb < params.k {
            bv = vec4<f32>(load_b(kb, b_col0), load_b(kb, b_col0 + 1u), load_b(kb, b_col0 + 2u), load_b(kb, b_col0 + 3u));
        }
        b_tile[b_kk * QUADS + b_q] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < SLICE; kk++) {
            let x0 = a_tile[kk * QUADS + lid.y];
            let x1 = a_tile[kk * QUADS + 16u + lid.y];
            let y0 = b_tile[kk * QUADS + lid.x];
            let y1 = b_tile[kk * QUADS + 16u + lid.x];
            lo[0] += x0.x * y0;
            hi[0] += x0.x * y1;
            lo[1] += x0.y * y0;
            hi[1] += x0.y * y1;
            lo[2] += x0.z * y0;
            hi[2] += x0.z * y1;
            lo[3] += x0.w * y0;
            hi[3] += x0.w * y1;
            lo[4] += x1.x * y0;
            hi[4] += x1.x * y1;
            lo[5] += x1.y * y0;
            hi[5] += x1.y * y1;
            lo[6] += x1.z * y0;
            hi[6] += x1.z * y1;
            lo[7] += x1.w * y0;
            hi[7] += x1.w * y1;
        }
        workgroupBarrier();
    }
    let col0 = n0 + lid.x * 4u;
    let col1 = col0 + HALF;
    let s0 = bias_quad(col0);
    let s1 = bias_quad(col1);
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + lid.y * 4u + i;
        store(row, col0, lo[i] + s0);
        store(row, col1, hi[i] + s1);
        store(row + HALF, col0, lo[4u + i] + s0);
        store(row + HALF, col1, hi[4u + i] + s1);
    }
}
