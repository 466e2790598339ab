// One AdamW step (decoupled weight decay, bias-corrected), one thread per
// parameter; the per-step scalars come from the host so they equal the
// CPU's. The twin of `adamw` in `src/nn/cpu.rs`.

struct Params {
    len: u32,
    row_stride: u32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    // 1 - lr * weight_decay
    decay: f32,
    // lr / (1 - beta1^step)
    step_size: f32,
    // 1 / sqrt(1 - beta2^step)
    inv_sqrt_bc2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.row_stride;
    if i >= params.len {
        return;
    }
    let g = grad[i];
    let m1 = params.beta1 * m[i] + params.one_minus_beta1 * g;
    let v1 = params.beta2 * v[i] + params.one_minus_beta2 * (g * g);
    m[i] = m1;
    v[i] = v1;
    param[i] = param[i] * params.decay - params.step_size * m1 / (sqrt(v1) * params.inv_sqrt_bc2 + params.eps);
}
