//! `length-filter`: keeps records whose length lies within bounds.
//!
//! Config (every bound optional): `min_chars`, `max_chars`, `min_words`,
//! `max_words`. Characters are Unicode scalar values; words are runs of
//! non-whitespace. Drop reasons: `length:too-few-chars`, `length:too-many-chars`,
//! `length:too-few-words`, `length:too-many-words`.

use kiln_pdk::{Plugin, TextFilter, Verdict};
use serde::Deserialize;

/// Bounds on a record's length; a missing bound is not checked.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fewest characters kept.
    pub min_chars: Option<usize>,
    /// Most characters kept.
    pub max_chars: Option<usize>,
    /// Fewest words kept.
    pub min_words: Option<usize>,
    /// Most words kept.
    pub max_words: Option<usize>,
}

/// The filter, configured.
pub struct LengthFilter(Config);

impl Plugin for LengthFilter {
    type Config = Config;
    const DESCRIPTION: &'static str = "keeps records whose length in characters and words lies within bounds";

    fn new(c: Config) -> Result<Self, String> {
        for (what, min, max) in [("chars", c.min_chars, c.max_chars), ("words", c.min_words, c.max_words)] {
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                return Err(format!("min_{what} ({lo}) is greater than max_{what} ({hi})"));
            }
        }
        Ok(LengthFilter(c))
    }
}

impl TextFilter for LengthFilter {
    fn filter_text(&self, text: &str) -> Verdict {
        let c = &self.0;
        if c.min_chars.is_some() || c.max_chars.is_some() {
            let chars = text.chars().count();
            if c.min_chars.is_some_and(|m| chars < m) {
                return Verdict::drop("length:too-few-chars");
            }
            if c.max_chars.is_some_and(|m| chars > m) {
                return Verdict::drop("length:too-many-chars");
            }
        }
        if c.min_words.is_some() || c.max_words.is_some() {
            let words = text.split_whitespace().count();
            if c.min_words.is_some_and(|m| words < m) {
                return Verdict::drop("length:too-few-words");
            }
            if c.max_words.is_some_and(|m| words > m) {
                return Verdict::drop("length:too-many-words");
            }
        }
        Verdict::Keep
    }
}

kiln_pdk::export_text_filter!(LengthFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_pdk::{Filter, Record};

    fn filter(c: Config, text: &str) -> Verdict {
        LengthFilter::new(c).expect("valid config").filter(&Record::new("r", text))
    }

    #[test]
    fn bounds_on_chars_count_unicode_scalars() {
        let c = Config { min_chars: Some(3), max_chars: Some(4), ..Default::default() };
        assert_eq!(filter(c.clone(), "ab"), Verdict::drop("length:too-few-chars"));
        assert_eq!(filter(c.clone(), "äöü"), Verdict::Keep); // 3 chars, 6 bytes
        assert_eq!(filter(c, "abcde"), Verdict::drop("length:too-many-chars"));
    }

    #[test]
    fn bounds_on_words() {
        let c = Config { min_words: Some(2), max_words: Some(3), ..Default::default() };
        assert_eq!(filter(c.clone(), "one"), Verdict::drop("length:too-few-words"));
        assert_eq!(filter(c.clone(), "  one \n two\t"), Verdict::Keep);
        assert_eq!(filter(c, "a b c d"), Verdict::drop("length:too-many-words"));
    }

    #[test]
    fn no_bounds_keeps_everything() {
        assert_eq!(filter(Config::default(), ""), Verdict::Keep);
    }

    #[test]
    fn inverted_bounds_are_rejected() {
        let err = LengthFilter::new(Config { min_words: Some(5), max_words: Some(1), ..Default::default() })
            .err()
            .expect("rejected");
        assert!(err.contains("min_words (5)"), "{err}");
    }
}
