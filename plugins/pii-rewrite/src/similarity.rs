//! How close a rewrite stays to its original: the Dice coefficient of their
//! bags of words.
//!
//! A word is a run of letters and digits (Unicode), compared case-folded; a
//! CJK ideograph, kana or Hangul syllable counts as a word of its own, since
//! those scripts do not separate words by spaces. Placeholder-like tags —
//! `[` an upper-case letter, then upper-case letters, digits or `_`, `]`, such
//! as `[EMAIL]` or a model's own `[NAME]` — are not words, and neither is the
//! personal data found in the original. So the measure compares the text
//! *around* the personal data: `2 × shared / (original words + rewrite words)`,
//! where `shared` counts each word as often as it occurs in both. It is 1.0
//! for a perfect rewrite, falls by about the share of words deleted when the
//! model drops text, and by about half the share added when it pads (a
//! preamble, a comment); it ignores word order. Two texts without any words
//! are identical (1.0).

use std::collections::HashMap;
use std::ops::Range;

/// The similarity of a rewrite to its original, with the counts behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Dice coefficient in `0.0..=1.0`.
    pub score: f64,
    /// Words in the original, personal data excluded.
    pub original_words: usize,
    /// Words in the rewrite.
    pub rewrite_words: usize,
    /// Words the two share (with multiplicity).
    pub shared: usize,
}

/// The similarity of `rewrite` to `original`, not counting the parts of the
/// original in `skip` (sorted, disjoint byte ranges: its personal data).
pub fn similarity(original: &str, skip: &[Range<usize>], rewrite: &str) -> Similarity {
    let mut bag: HashMap<String, usize> = HashMap::new();
    let mut original_words = 0;
    let mut last = 0;
    let ends = skip.iter().cloned().chain(std::iter::once(original.len()..original.len()));
    for range in ends {
        for word in words(original.get(last..range.start).unwrap_or("")) {
            *bag.entry(word).or_default() += 1;
            original_words += 1;
        }
        last = range.end;
    }
    let mut rewrite_words = 0;
    let mut shared = 0;
    for word in words(rewrite) {
        rewrite_words += 1;
        if let Some(n) = bag.get_mut(&word)
            && *n > 0
        {
            *n -= 1;
            shared += 1;
        }
    }
    let total = original_words + rewrite_words;
    let score = if total == 0 { 1.0 } else { 2.0 * shared as f64 / total as f64 };
    Similarity { score, original_words, rewrite_words, shared }
}

/// The words of `text`, case-folded, placeholder tags left out.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '['
            && let Some(len) = tag_len(&text[i..])
        {
            flush(&mut word, &mut out);
            while chars.next_if(|&(j, _)| j < i + len).is_some() {}
        } else if is_cjk(c) {
            flush(&mut word, &mut out);
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn flush(word: &mut String, out: &mut Vec<String>) {
    if !word.is_empty() {
        out.push(std::mem::take(word));
    }
}

/// The byte length of the placeholder tag `s` starts with (`[EMAIL]`), if any.
fn tag_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let close = bytes.iter().take(34).position(|&b| b == b']')?;
    let name = bytes.get(1..close)?;
    let first_is_letter = name.first().is_some_and(u8::is_ascii_uppercase);
    (first_is_letter && name.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
        .then_some(close + 1)
}

/// Characters of scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x3134F) // CJK Extensions B–G
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_skip_tags() {
        assert_eq!(words("Mail [EMAIL], or ring [PHONE]!"), ["mail", "or", "ring"]);
        assert_eq!(words("It's 9am: café"), ["it", "s", "9am", "café"]);
        assert_eq!(words("[not a tag] [X1_2] [x] []"), ["not", "a", "tag", "x"]);
        assert_eq!(words("联系我们 today"), ["联", "系", "我", "们", "today"]);
        assert_eq!(words("[EMAIL"), ["email"]);
        assert!(words("  ... ").is_empty());
    }

    #[test]
    fn identical_texts_score_one() {
        let s = similarity("Call me tomorrow.", &[], "Call me tomorrow.");
        assert_eq!(s.score, 1.0);
        assert_eq!((s.original_words, s.rewrite_words, s.shared), (3, 3, 3));
        assert_eq!(similarity("", &[], "").score, 1.0);
        assert_eq!(similarity("[EMAIL]", &[], "[EMAIL]").score, 1.0);
    }

    #[test]
    fn personal_data_and_placeholders_are_not_words() {
        let original = "Write to jane@example.org today";
        let email = 9..25;
        assert_eq!(&original[email.clone()], "jane@example.org");
        let s = similarity(original, std::slice::from_ref(&email), "Write to [EMAIL] today");
        assert_eq!(s.score, 1.0);
        assert_eq!(s.original_words, 3);
    }

    #[test]
    fn deletions_and_additions_lower_the_score() {
        let original = "one two three four five six seven eight nine ten";
        let half = similarity(original, &[], "one two three four five");
        assert!((half.score - 2.0 * 5.0 / 15.0).abs() < 1e-9, "{half:?}");
        let padded = similarity(original, &[], &format!("Sure, here is the rewritten text: {original}"));
        assert!(padded.score > 0.7 && padded.score < 1.0, "{padded:?}");
        assert_eq!(similarity("alpha beta", &[], "gamma delta").score, 0.0);
        assert_eq!(similarity("", &[], "something").score, 0.0);
    }

    #[test]
    fn repeated_words_count_once_per_occurrence() {
        let s = similarity("the the the cat", &[], "the cat");
        assert_eq!(s.shared, 2);
    }
}
