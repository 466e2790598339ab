// Shingling shared by the text kernels: the WGSL twin of `src/shingle.rs`
// (read its docs for the definition). A kernel that includes this file
// declares `text: array<u32>` (the prepared bytes, little-endian packed), a
// struct `State` and a function `on_shingle(state: ptr<function, State>,
// h: vec2<u32>)` that receives each shingle hash as (low, high) 32-bit halves,
// in order. State lives in function-local variables, not `var<private>`
// (lavapipe loses private-array writes in long divergent loops).

const MAX_NGRAM: u32 = 32u;

alias Ring = array<vec2<u32>, 32>;

fn fmix32(h0: u32) -> u32 {
    var h = h0;
    h ^= h >> 16u;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13u;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16u);
}

fn rotl(x: u32, r: u32) -> u32 {
    return (x << r) | (x >> (32u - r));
}

fn read_byte(i: u32) -> u32 {
    return (text[i >> 2u] >> ((i & 3u) * 8u)) & 0xFFu;
}

fn is_separator(c: u32) -> bool {
    return c == 32u || (c >= 9u && c <= 13u);
}

fn lower(c: u32) -> u32 {
    return select(c, c + 32u, c >= 65u && c <= 90u);
}

// The 64-bit hash of `len` unit hashes in `ring`, oldest at `start`.
fn combine(ring: ptr<function, Ring>, start: u32, len: u32, n: u32, seed: vec2<u32>) -> vec2<u32> {
    var lo = 0x243F6A88u ^ seed.x;
    var hi = 0x85A308D3u ^ seed.y;
    for (var k = 0u; k < len; k++) {
        let u = (*ring)[(start + k) % n];
        lo = fmix32((lo ^ u.x) * 0xCC9E2D51u + 0xE6546B64u);
        hi = fmix32((hi ^ u.y) * 0x1B873593u + 0x7FEB352Du);
    }
    return vec2<u32>(lo ^ rotl(hi, 16u), hi);
}

// Calls `on_shingle` with every shingle of the prepared bytes
// `text[offset .. offset + len]` (word units, or characters when `chars`).
fn scan(state: ptr<function, State>, offset: u32, len: u32, n: u32, chars: bool, seed: vec2<u32>) {
    var ring: Ring;
    var count = 0u;
    var in_unit = false;
    var a = 0u;
    var b = 0u;
    var unit_len = 0u;
    for (var i = 0u; i <= len; i++) {
        // One step past the end flushes the last unit.
        let at_end = i == len;
        var c = 0u;
        if !at_end {
            c = read_byte(offset + i);
        }
        var boundary = at_end;
        if !at_end {
            if chars {
                boundary = (c & 0xC0u) != 0x80u;
            } else {
                boundary = is_separator(c);
            }
        }
        if boundary && in_unit {
            let ua = fmix32(a ^ unit_len);
            let ub = fmix32(b + ua * 0x27D4EB2Fu);
            ring[count % n] = vec2<u32>(ua, ub);
            count++;
            in_unit = false;
            if count >= n {
                on_shingle(state, combine(&ring, count % n, n, n, seed));
            }
        }
        let starts_unit = !at_end && (chars || !is_separator(c));
        if starts_unit {
            if !in_unit {
                a = 0x811C9DC5u ^ seed.x;
                b = 0x9E3779B9u ^ seed.y;
                unit_len = 0u;
                in_unit = true;
            }
            let l = lower(c);
            a = (a ^ l) * 0x01000193u;
            b = rotl((b ^ l) * 0x5BD1E995u, 13u);
            unit_len++;
        }
    }
    if count < n {
        on_shingle(state, combine(&ring, 0u, count, n, seed));
    }
}
