// MinHash signatures: one invocation per (document, group of PERMS
// permutations). Each invocation scans its document (shingle.wgsl) and keeps,
// for each of its permutations h -> (a*h + b) mod (2^61 - 1), the minimum.
// 64-bit values travel as vec2<u32>(low, high). The twin of `src/minhash/cpu.rs`.

struct Params {
    num_docs: u32,
    num_perm: u32,
    groups: u32,
    n: u32,
    chars: u32,
    seed_lo: u32,
    seed_hi: u32,
    mask32: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> text: array<u32>;
// (byte offset, byte length) of each document in `text`.
@group(0) @binding(2) var<storage, read> docs: array<vec2<u32>>;
// (a.lo, a.hi, b.lo, b.hi) of each permutation, padded to groups * PERMS.
@group(0) @binding(3) var<storage, read> coeffs: array<vec4<u32>>;
// num_docs * groups * PERMS values, document-major (the host drops the padding).
@group(0) @binding(4) var<storage, read_write> signatures: array<vec2<u32>>;

const PERMS: u32 = 8u;
const P_LO: u32 = 0xFFFFFFFFu;
const P_HI: u32 = 0x1FFFFFFFu;

struct State {
    mins: array<vec2<u32>, 8>,
    coeff: array<vec4<u32>, 8>,
}

// Full 32 x 32 -> 64-bit product as (low, high).
fn mul32(u: u32, v: u32) -> vec2<u32> {
    let u0 = u & 0xFFFFu;
    let u1 = u >> 16u;
    let v0 = v & 0xFFFFu;
    let v1 = v >> 16u;
    let p00 = u0 * v0;
    let p01 = u0 * v1;
    let p10 = u1 * v0;
    let p11 = u1 * v1;
    let mid = p01 + p10;
    let mid_carry = select(0u, 0x10000u, mid < p01);
    let lo = p00 + (mid << 16u);
    let lo_carry = select(0u, 1u, lo < p00);
    return vec2<u32>(lo, p11 + (mid >> 16u) + mid_carry + lo_carry);
}

fn add64(x: vec2<u32>, y: vec2<u32>) -> vec2<u32> {
    let lo = x.x + y.x;
    return vec2<u32>(lo, x.y + y.y + select(0u, 1u, lo < x.x));
}

// x < 2^63 folded to [0, p): (x & p) + (x >> 61), then one conditional subtraction.
fn reduce(x: vec2<u32>) -> vec2<u32> {
    var r = add64(vec2<u32>(x.x, x.y & P_HI), vec2<u32>(x.y >> 29u, 0u));
    if r.y > P_HI || (r.y == P_HI && r.x == P_LO) {
        // r - p = r - 2^61 + 1
        r = add64(vec2<u32>(r.x, r.y - 0x20000000u), vec2<u32>(1u, 0u));
    }
    return r;
}

// A 64-bit value mod p.
fn mod_p(h: vec2<u32>) -> vec2<u32> {
    return reduce(add64(vec2<u32>(h.x, h.y & P_HI), vec2<u32>(h.y >> 29u, 0u)));
}

// (a*x + b) mod p for a, x, b < p.
fn permute(c: vec4<u32>, x: vec2<u32>) -> vec2<u32> {
    let ll = mul32(c.x, x.x);
    let lh = mul32(c.x, x.y);
    let hl = mul32(c.y, x.x);
    let hh = mul32(c.y, x.y);
    let mid = add64(lh, hl);
    // The product as four words w0..w3.
    let w0 = ll.x;
    let w1 = ll.y + mid.x;
    let c1 = select(0u, 1u, w1 < ll.y);
    let t = hh.x + mid.y;
    let c2 = select(0u, 1u, t < hh.x);
    let w2 = t + c1;
    let c3 = select(0u, 1u, w2 < t);
    let w3 = hh.y + c2 + c3;
    // + b
    let s0 = w0 + c.z;
    let d0 = select(0u, 1u, s0 < w0);
    let s1a = w1 + c.w;
    let d1a = select(0u, 1u, s1a < w1);
    let s1 = s1a + d0;
    let d1 = d1a + select(0u, 1u, s1 < s1a);
    let s2 = w2 + d1;
    let d2 = select(0u, 1u, s2 < w2);
    let s3 = w3 + d2;
    // (P & p) + (P >> 61), both < 2^62.
    let low = vec2<u32>(s0, s1 & P_HI);
    let high = vec2<u32>((s1 >> 29u) | (s2 << 3u), (s2 >> 29u) | (s3 << 3u));
    return reduce(add64(low, high));
}

fn less(x: vec2<u32>, y: vec2<u32>) -> bool {
    return x.y < y.y || (x.y == y.y && x.x < y.x);
}

fn on_shingle(state: ptr<function, State>, h: vec2<u32>) {
    let x = mod_p(h);
    for (var k = 0u; k < PERMS; k++) {
        var v = permute((*state).coeff[k], x);
        if params.mask32 != 0u {
            v.y = 0u;
        }
        if less(v, (*state).mins[k]) {
            (*state).mins[k] = v;
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = gid.x + gid.y * params.row_stride;
    if id >= params.num_docs * params.groups {
        return;
    }
    let doc = id / params.groups;
    let first = (id % params.groups) * PERMS;
    var state: State;
    for (var k = 0u; k < PERMS; k++) {
        state.coeff[k] = coeffs[first + k];
        state.mins[k] = vec2<u32>(0xFFFFFFFFu, 0xFFFFFFFFu);
    }
    let span = docs[doc];
    scan(&state, span.x, span.y, params.n, params.chars != 0u, vec2<u32>(params.seed_lo, params.seed_hi));
    let base = doc * params.groups * PERMS + first;
    for (var k = 0u; k < PERMS; k++) {
        signatures[base + k] = state.mins[k];
    }
}
