//! Shingling shared by every text kernel: how a text becomes a sequence of
//! 64-bit shingle hashes, defined once here and mirrored by
//! `shaders/shingle.wgsl`.
//!
//! Two steps:
//! 1. [`prepare`] (always on the CPU) lower-cases the text. An ASCII text is
//!    passed through untouched — the scan lower-cases ASCII letters itself —
//!    while a text with any non-ASCII byte is lower-cased with Unicode rules
//!    and, in word mode, every Unicode whitespace character becomes a space.
//!    After this step the only word separators are the ASCII whitespace bytes
//!    `\t \n \x0B \x0C \r` and space, which a GPU can test byte by byte.
//! 2. [`scan`] (CPU reference; the WGSL scan is its bit-exact twin) cuts the
//!    prepared bytes into *units* — words (runs of non-separator bytes) or
//!    characters (UTF-8 scalar values) — hashes each unit to two 32-bit lanes,
//!    and combines every window of `n` consecutive units into one 64-bit
//!    shingle hash. A text with fewer than `n` units (an empty one included)
//!    yields exactly one shingle over all of its units, so every text has at
//!    least one shingle and short texts still compare.
//!
//! All arithmetic is 32-bit (wrapping multiplies, shifts, xors) so WGSL, which
//! has no 64-bit integers, computes the same values.

use std::borrow::Cow;

/// Longest window the kernels accept (WGSL keeps the window in a fixed array).
pub const MAX_NGRAM: usize = 32;

/// How a text is cut into shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shingle {
    /// Runs of `n` consecutive words (separated by whitespace, lower-cased).
    Words(usize),
    /// Runs of `n` consecutive characters of the lower-cased text.
    Chars(usize),
}

impl Shingle {
    /// The window length `n`.
    pub fn n(self) -> usize {
        match self {
            Shingle::Words(n) | Shingle::Chars(n) => n,
        }
    }

    /// Whether units are characters (else words).
    pub fn is_chars(self) -> bool {
        matches!(self, Shingle::Chars(_))
    }

    /// Checks `1 ≤ n ≤ MAX_NGRAM`.
    pub fn validate(self) -> Result<(), String> {
        match self.n() {
            1..=MAX_NGRAM => Ok(()),
            n => Err(format!("shingle length {n} is out of range: use 1 to {MAX_NGRAM}")),
        }
    }
}

impl std::fmt::Display for Shingle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shingle::Words(n) => write!(f, "words:{n}"),
            Shingle::Chars(n) => write!(f, "chars:{n}"),
        }
    }
}

impl std::str::FromStr for Shingle {
    type Err = String;

    /// `words:5` or `chars:24`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, n) = s.split_once(':').ok_or_else(|| format!("`{s}`: expected words:N or chars:N"))?;
        let n: usize = n.trim().parse().map_err(|_| format!("`{s}`: `{n}` is not a number"))?;
        let shingle = match kind.trim() {
            "words" | "word" => Shingle::Words(n),
            "chars" | "char" => Shingle::Chars(n),
            other => return Err(format!("`{s}`: unknown unit `{other}`; expected words or chars")),
        };
        shingle.validate()?;
        Ok(shingle)
    }
}

/// The bytes the scan reads: see the module docs.
pub fn prepare(text: &str, shingle: Shingle) -> Cow<'_, [u8]> {
    if text.is_ascii() {
        return Cow::Borrowed(text.as_bytes());
    }
    let lower = text.to_lowercase();
    if shingle.is_chars() {
        return Cow::Owned(lower.into_bytes());
    }
    let mut out = String::with_capacity(lower.len());
    out.extend(lower.chars().map(|c| if c.is_whitespace() { ' ' } else { c }));
    Cow::Owned(out.into_bytes())
}

/// Word separators after [`prepare`].
#[inline]
pub fn is_separator(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// murmur3's 32-bit finaliser.
#[inline]
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Running hash of one unit's bytes, two 32-bit lanes.
#[derive(Debug, Clone, Copy)]
struct UnitHasher {
    a: u32,
    b: u32,
    len: u32,
}

impl UnitHasher {
    #[inline]
    fn new(seed: u64) -> Self {
        UnitHasher { a: 0x811C_9DC5 ^ seed as u32, b: 0x9E37_79B9 ^ (seed >> 32) as u32, len: 0 }
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        let c = u32::from(byte.to_ascii_lowercase());
        self.a = (self.a ^ c).wrapping_mul(0x0100_0193);
        self.b = (self.b ^ c).wrapping_mul(0x5BD1_E995).rotate_left(13);
        self.len = self.len.wrapping_add(1);
    }

    #[inline]
    fn finish(self) -> [u32; 2] {
        let a = fmix32(self.a ^ self.len);
        let b = fmix32(self.b.wrapping_add(a.wrapping_mul(0x27D4_EB2F)));
        [a, b]
    }
}

/// The 64-bit hash of a window of unit hashes (oldest first).
#[inline]
pub fn combine<'a>(units: impl Iterator<Item = &'a [u32; 2]>, seed: u64) -> u64 {
    let mut lo = 0x243F_6A88 ^ seed as u32;
    let mut hi = 0x85A3_08D3 ^ (seed >> 32) as u32;
    for u in units {
        lo = fmix32((lo ^ u[0]).wrapping_mul(0xCC9E_2D51).wrapping_add(0xE654_6B64));
        hi = fmix32((hi ^ u[1]).wrapping_mul(0x1B87_3593).wrapping_add(0x7FEB_352D));
    }
    let lo = lo ^ hi.rotate_left(16);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Calls `emit` with every shingle hash of prepared bytes, in order (the CPU
/// reference of the WGSL scan). Emits at least once.
pub fn scan(prepared: &[u8], shingle: Shingle, seed: u64, mut emit: impl FnMut(u64)) {
    let n = shingle.n().clamp(1, MAX_NGRAM);
    let mut ring = [[0u32; 2]; MAX_NGRAM];
    let mut count = 0usize;
    let mut push = |unit: [u32; 2], count: &mut usize| {
        ring[*count % n] = unit;
        *count += 1;
        if *count >= n {
            let start = *count % n;
            emit(combine(ring[start..n].iter().chain(&ring[..start]), seed));
        }
    };
    let mut unit: Option<UnitHasher> = None;
    for &byte in prepared {
        if shingle.is_chars() {
            if byte & 0xC0 != 0x80
                && let Some(done) = unit.take()
            {
                push(done.finish(), &mut count);
            }
            unit.get_or_insert_with(|| UnitHasher::new(seed)).push(byte);
        } else if is_separator(byte) {
            if let Some(done) = unit.take() {
                push(done.finish(), &mut count);
            }
        } else {
            unit.get_or_insert_with(|| UnitHasher::new(seed)).push(byte);
        }
    }
    if let Some(done) = unit.take() {
        push(done.finish(), &mut count);
    }
    if count < n {
        emit(combine(ring[..count].iter(), seed));
    }
}

/// All shingle hashes of `text` (prepare + scan).
pub fn shingle_hashes(text: &str, shingle: Shingle, seed: u64) -> Vec<u64> {
    let mut out = Vec::new();
    scan(&prepare(text, shingle), shingle, seed, |h| out.push(h));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_whitespace_do_not_matter_in_word_mode() {
        let a = shingle_hashes("The quick  brown\tfox jumps over", Shingle::Words(3), 1);
        let b = shingle_hashes("the QUICK brown fox\u{3000}jumps\u{a0}over", Shingle::Words(3), 1);
        assert_eq!(a.len(), 4);
        assert_eq!(a, b, "Unicode spaces separate words too");
        let c = shingle_hashes("the QUICK brown fox jumps\u{a0}over", Shingle::Words(3), 1);
        assert_eq!(a, c);
        assert_eq!(
            shingle_hashes("Ünïcödé WORDS here", Shingle::Words(2), 1),
            shingle_hashes("ünïcödé words here", Shingle::Words(2), 1)
        );
    }

    #[test]
    fn short_and_empty_texts_have_one_shingle() {
        for shingle in [Shingle::Words(5), Shingle::Chars(3)] {
            for text in ["", " ", "a", "日本", "é\u{301}"] {
                assert_eq!(shingle_hashes(text, shingle, 1).len(), 1, "{text:?} {shingle}");
            }
        }
        assert_eq!(shingle_hashes("", Shingle::Words(5), 1), shingle_hashes("  \n", Shingle::Words(5), 1));
        assert_ne!(shingle_hashes("a b", Shingle::Words(5), 1), shingle_hashes("a b c", Shingle::Words(5), 1));
    }

    #[test]
    fn character_shingles_count_scalar_values_not_bytes() {
        assert_eq!(shingle_hashes("abcd", Shingle::Chars(3), 1).len(), 2);
        assert_eq!(shingle_hashes("日本語の", Shingle::Chars(3), 1).len(), 2);
        assert_eq!(shingle_hashes("AbC", Shingle::Chars(2), 1), shingle_hashes("aBc", Shingle::Chars(2), 1));
    }

    #[test]
    fn order_and_seed_matter() {
        assert_ne!(shingle_hashes("a b", Shingle::Words(2), 1), shingle_hashes("b a", Shingle::Words(2), 1));
        assert_ne!(shingle_hashes("a b", Shingle::Words(2), 1), shingle_hashes("a b", Shingle::Words(2), 2));
    }

    #[test]
    fn parses_shingle_specs() {
        assert_eq!("words:5".parse(), Ok(Shingle::Words(5)));
        assert_eq!("chars:24".parse(), Ok(Shingle::Chars(24)));
        assert!("words:0".parse::<Shingle>().is_err());
        assert!("words:33".parse::<Shingle>().expect_err("must fail").contains("1 to 32"));
        assert!("bytes:3".parse::<Shingle>().expect_err("must fail").contains("unknown unit"));
    }
}
