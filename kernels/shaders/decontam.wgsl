// n-gram decontamination lookup: one invocation per document. Each shingle
// hash of the document (shingle.wgsl) is binary-searched in the sorted index
// of benchmark n-gram hashes; the invocation writes (hits, benchmark mask):
// how many of the document's n-gram positions are in the index, and the OR of
// the benchmarks they come from. The twin of `src/decontam.rs`.

struct Params {
    num_docs: u32,
    n: u32,
    chars: u32,
    seed_lo: u32,
    seed_hi: u32,
    index_len: u32,
    row_stride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> text: array<u32>;
@group(0) @binding(2) var<storage, read> docs: array<vec2<u32>>;
// Sorted by (high, low), no repeats.
@group(0) @binding(3) var<storage, read> index_hashes: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> index_masks: array<u32>;
@group(0) @binding(5) var<storage, read_write> result: array<vec2<u32>>;

struct State {
    hits: u32,
    mask: u32,
}

fn less(x: vec2<u32>, y: vec2<u32>) -> bool {
    return x.y < y.y || (x.y == y.y && x.x < y.x);
}

fn on_shingle(state: ptr<function, State>, h: vec2<u32>) {
    var lo = 0u;
    var hi = params.index_len;
    while lo < hi {
        let mid = lo + (hi - lo) / 2u;
        if less(index_hashes[mid], h) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    if lo < params.index_len && all(index_hashes[lo] == h) {
        (*state).hits++;
        (*state).mask |= index_masks[lo];
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let doc = gid.x + gid.y * params.row_stride;
    if doc >= params.num_docs {
        return;
    }
    var state = State(0u, 0u);
    let span = docs[doc];
    scan(&state, span.x, span.y, params.n, params.chars != 0u, vec2<u32>(params.seed_lo, params.seed_hi));
    result[doc] = vec2<u32>(state.hits, state.mask);
}
