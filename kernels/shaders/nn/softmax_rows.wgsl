// Shared by softmax.wgsl and softmax_cross_entropy.wgsl (prepended to each):
// one workgroup of 64 threads per row reduces the row's max and the sum of
// exp(z - max) through workgroup memory in a fixed tree, so every run sums
// in the same order. The including shader declares `logits`.

const THREADS: u32 = 64u;
const LOWEST: f32 = -3.40282347e38;

var<workgroup> partial: array<f32, 64>;

struct RowStats {
    max: f32,
    // Sum over the row of exp(z - max).
    total: f32,
}

// The statistics of logits[base .. base + classes], seen by thread `t`. Must
// be called in uniform control flow (it has barriers).
fn row_stats(base: u32, classes: u32, t: u32) -> RowStats {
    var mx = LOWEST;
    for (var j = t; j < classes; j += THREADS) {
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
    for (var j = t; j < classes; j += THREADS) {
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
    return RowStats(mx, partial[0]);
}
