// Column sums of a row-major rows×cols matrix (the bias gradient), one thread
// per column adding the rows in order. The twin of `column_sums` in
// `src/nn/cpu.rs`.

struct Params {
    rows: u32,
    cols: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x + gid.y * params.row_stride;
    if col >= params.cols {
        return;
    }
    var s = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        s += m[r * params.cols + col];
    }
    sums[col] = s;
}
