//! What lies around a candidate match: the boundary rules that keep the
//! detectors from matching inside longer numbers, identifiers and slices.

/// ASCII letter, digit or underscore.
pub(crate) fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The character ending just before byte `i`.
pub(crate) fn prev_char(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

/// The character starting at byte `i`.
pub(crate) fn next_char(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Whether the text before `start` is a word char, or one of `joiners`
/// preceded by an ASCII digit (the match continues a longer number).
pub(crate) fn glued_before(text: &str, start: usize, joiners: &[char]) -> bool {
    let mut before = text.get(..start).unwrap_or("").chars().rev();
    match before.next() {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => before.next().is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// Whether the text after `end` is a word char, or one of `joiners` followed
/// by an ASCII digit.
pub(crate) fn glued_after(text: &str, end: usize, joiners: &[char]) -> bool {
    let mut after = text.get(end..).unwrap_or("").chars();
    match after.next() {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => after.next().is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// Whether `text[start..end]` is glued on either side (see [`glued_before`]).
pub(crate) fn glued(text: &str, start: usize, end: usize, joiners: &[char]) -> bool {
    glued_before(text, start, joiners) || glued_after(text, end, joiners)
}

/// Whether the IPv6-looking `text[start..end]` is more likely a Python or
/// NumPy slice: an index expression `x[::2]` (brackets right after an
/// identifier or a closing bracket), or a short all-decimal form such as `::2`
/// or `1::2` other than the loopback `::1`.
pub(crate) fn looks_like_slice(text: &str, start: usize, end: usize) -> bool {
    let candidate = text.get(start..end).unwrap_or("");
    if candidate != "::1" {
        let mut parts = candidate.split("::");
        if let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next())
            && a.len() <= 3
            && b.len() <= 3
            && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        {
            return true;
        }
    }
    let mut before = text.get(..start).unwrap_or("").chars().rev();
    before.next() == Some('[')
        && next_char(text, end) == Some(']')
        && before.next().is_some_and(|c| is_word(c) || c == ')' || c == ']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_needs_a_word_char_or_a_joined_digit() {
        assert!(glued_before("x1", 1, &[]));
        assert!(glued_before("3.4", 2, &['.']));
        assert!(!glued_before("a.4", 2, &['.']));
        assert!(!glued_before(" 4", 1, &['.']));
        assert!(glued_after("4a", 1, &[]));
        assert!(glued_after("4-5", 1, &['-']));
        assert!(!glued_after("4- ", 1, &['-']));
        assert!(!glued("é4é", 2, 3, &[]));
    }

    #[test]
    fn slices() {
        let t = "a[::2] ::1 1::2 fe80::1 x[::1]";
        assert!(looks_like_slice(t, 2, 5));
        assert!(!looks_like_slice(t, 7, 10));
        assert!(looks_like_slice(t, 11, 15));
        assert!(!looks_like_slice(t, 16, 23));
        assert!(looks_like_slice(t, 26, 29));
    }

    #[test]
    fn chars_around_multibyte_text() {
        assert_eq!(prev_char("é1", 2), Some('é'));
        assert_eq!(next_char("1é", 1), Some('é'));
        assert_eq!(prev_char("é", 1), None);
        assert_eq!(next_char("é", 5), None);
    }
}
