//! The student's character vocabulary: three reserved ids, then the distinct
//! characters of its training texts in code-point order.

use std::collections::HashMap;

/// Padding before the start of a text (the context of its first character).
pub const BOS: u32 = 0;
/// The end of a text: the student learns to emit it after an answer.
pub const EOS: u32 = 1;
/// A character the training texts never held.
pub const UNK: u32 = 2;
/// Ids below this are reserved.
pub const RESERVED: u32 = 3;

/// Characters ↔ ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl Vocab {
    /// The distinct characters of `texts`.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vocab {
        let mut chars: Vec<char> = texts.into_iter().flat_map(str::chars).collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab::from_chars(chars)
    }

    /// A vocabulary of exactly `chars` (distinct, in this order), as saved in a checkpoint.
    pub fn from_chars(chars: Vec<char>) -> Vocab {
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i as u32 + RESERVED)).collect();
        Vocab { chars, ids }
    }

    /// Ids in all, reserved ones included.
    pub fn len(&self) -> usize {
        self.chars.len() + RESERVED as usize
    }

    /// Whether the vocabulary holds no character (only the reserved ids).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in id order (ids from [`RESERVED`]).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The ids of `text`'s characters ([`UNK`] for unknown ones), without [`EOS`].
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().map(|c| self.ids.get(&c).copied().unwrap_or(UNK)).collect()
    }

    /// The text of `ids` up to the first [`EOS`]; reserved ids are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .take_while(|&&id| id != EOS)
            .filter_map(|&id| id.checked_sub(RESERVED).and_then(|i| self.chars.get(i as usize)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_with_reserved_ids() {
        let v = Vocab::from_texts(["ba", "ca\n"]);
        assert_eq!(v.chars(), &['\n', 'a', 'b', 'c']);
        assert_eq!(v.len(), 7);
        assert_eq!(v.encode("abz"), vec![4, 5, UNK]);
        assert_eq!(v.decode(&[4, 5, UNK, 6, EOS, 4]), "abc");
        assert_eq!(Vocab::from_chars(v.chars().to_vec()), v);
    }
}
