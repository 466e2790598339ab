//! The key of exact deduplication: the 128-bit xxh3 hash of the normalised
//! text (lower case, Unicode whitespace runs collapsed to one space, ends
//! trimmed). The chance of a collision among 10⁹ texts is about 10⁻²¹.

use xxhash_rust::xxh3::xxh3_128;

/// The normalised form of `text` that exact dedup compares.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// The dedup key of `text`.
pub fn key(text: &str) -> u128 {
    xxh3_128(normalise(text).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_case_and_spacing() {
        assert_eq!(normalise("  Hello\n\tWORLD\u{3000}ÉTÉ "), "hello world été");
        assert_eq!(key("Hello world"), key("hello   WORLD"));
        assert_ne!(key("hello world"), key("hello, world"));
    }
}
