// ReLU backward: dy = 0 wherever the layer's output y is not positive, one
// thread per element. The twin of `relu_backward` in `src/nn/cpu.rs`.

struct Params {
    len: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dy: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = gid.x + gid.y * params.row_stride;
    if id >= params.len {
        return;
    }
    if !(y[id] > 0.0) {
        dy[id] = 0.0;
    }
}
