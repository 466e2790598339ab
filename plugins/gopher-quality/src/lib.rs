//! `gopher-quality`: the Gopher quality rules (Rae et al. 2021, "Scaling
//! Language Models: Methods, Analysis & Insights from Training Gopher", appendix
//! A.1.1) as datatrove's `GopherQualityFilter` implements them, with the
//! published thresholds as defaults.
//!
//! # Config
//!
//! Every threshold has the published value as its default and can be disabled
//! by setting it to `null`. "Words" are the tokens of the word tokenizer
//! described below; "non-symbol words" are the words that contain at least one
//! character that is not punctuation (see [`is_punct`]).
//!
//! | field | default | drops a record when |
//! |---|---|---|
//! | `min_doc_words` | `50` | fewer non-symbol words |
//! | `max_doc_words` | `100000` | more non-symbol words |
//! | `min_avg_word_length` | `3` | mean length (in chars) of the non-symbol words is below |
//! | `max_avg_word_length` | `10` | that mean is above |
//! | `max_symbol_word_ratio` | `0.1` | `#` count / words is above, or (`...` count + `…` count) / words is above |
//! | `max_bullet_lines_ratio` | `0.9` | the share of lines starting (after leading whitespace) with `•` or `-` is above |
//! | `max_ellipsis_lines_ratio` | `0.3` | the share of lines ending (before trailing whitespace) with `...` or `…` is above |
//! | `max_non_alpha_words_ratio` | `0.8` | the share of words with at least one alphabetic char is *below* (datatrove's name, kept) |
//! | `min_stop_words` | `2` | fewer words are stop words |
//! | `stop_words` | `the be to of and that have with` | (the stop word list) |
//!
//! `#`, `...` and `…` are counted in the raw text (`...` non-overlapping, as
//! Python's `str.count`), the ratios divide by the number of all words, and
//! lines are split as Python's `str.splitlines` does. Stop words are matched
//! case-sensitively, as datatrove does: `The` is not the stop word `the`.
//!
//! # Drop reasons
//!
//! The rules are checked in this order, and the first that fails names the
//! drop, with datatrove's reason strings so that agreement can be measured:
//! `gopher_short_doc`, `gopher_long_doc`, `gopher_below_avg_threshold`,
//! `gopher_above_avg_threshold`, `gopher_too_many_hashes`,
//! `gopher_too_many_ellipsis`, `gopher_too_many_bullets`,
//! `gopher_too_many_end_ellipsis`, `gopher_below_alpha_threshold`,
//! `gopher_enough_stop_words`.
//!
//! A text without any word (empty, or whitespace only) is dropped as
//! `gopher_short_doc` when `min_doc_words` is set; when it is `null`, the rules
//! that divide by the number of words or lines are skipped for such a text
//! rather than dividing by zero, and so are the mean-length rules when there is
//! no non-symbol word.
//!
//! # Tokenisation
//!
//! datatrove tokenises English with NLTK's `word_tokenize` (Punkt sentence
//! splitting, then the Treebank word tokenizer). This crate uses a fast,
//! allocation-free approximation, [`for_each_token`], which yields `&str`
//! slices of the text:
//!
//! 1. the text is split on Unicode whitespace into chunks;
//! 2. inside a chunk, these are always tokens of their own wherever they
//!    appear: ``; @ # $ % & ? ! ( ) [ ] { } < > "``, `…`, a run of two or more
//!    `.` (an ellipsis, one token) and a run of two or more `-` (one token);
//!    `,` and `:` too, unless an ASCII digit follows (`1,000` and `12:30` stay
//!    whole);
//! 3. from each remaining piece, leading and trailing punctuation characters
//!    are split off, one token each (`(hello,` → `(`, `hello`, `,`); inner
//!    punctuation stays (`e.g`, `U.S.A`, `x-ray`, `o'clock` are one token);
//! 4. the English contraction suffixes `n't`, `'s`, `'m`, `'d`, `'ll`, `'re`,
//!    `'ve` (ASCII apostrophe, any case) are split off a word as NLTK does
//!    (`don't` → `do`, `n't`).
//!
//! # Differences from datatrove
//!
//! The rules, their order, thresholds and reasons are datatrove's; the
//! statistics they are computed from can differ on these classes of documents:
//!
//! - **Trailing periods.** Punkt keeps the period of a known abbreviation on
//!   the word (`Mr.`, `e.g.`, `U.S.A.`) and splits only a sentence's final
//!   period; here every trailing period is split off (`e.g.` → `e.g`, `.`).
//!   Texts dense in abbreviations get a few more (symbol) words here.
//! - **Contractions and quotes.** Only the ASCII-apostrophe contractions above
//!   are split; NLTK's other special cases (`cannot` → `can`, `not`; `gonna`;
//!   a typographic `’` inside a word, which recent NLTK splits off) are not.
//!   NLTK also rewrites quotes (`"` → ``` `` ``` / `''`); that changes no count.
//! - **Inner punctuation.** NLTK splits a few inner characters this tokenizer
//!   keeps (a `/` or `'` in some positions, `-` before a digit) and keeps a few
//!   it splits (`a,1`); URLs, file paths and code are where word counts and
//!   mean lengths differ most.
//! - **Unicode symbols.** datatrove's punctuation set is ASCII punctuation,
//!   control characters and a short list of CJK and typographic marks;
//!   [`is_punct`] also counts Unicode symbols and punctuation (currency signs,
//!   arrows, math operators, box drawing, dingbats, emoji...) as punctuation.
//!   A word made only of such symbols (`€`, `→`, `👍`) is a non-symbol word for
//!   datatrove and a symbol word here, and is split off a word's edges here.
//!   Emoji-heavy and symbol-heavy texts are judged differently.
//! - **Alphabetic.** datatrove uses Python's `str.isalpha` (letter categories);
//!   this uses Rust's `char::is_alphabetic` (the `Alphabetic` property), which
//!   also counts letter numbers (`Ⅻ`) and many combining vowel signs of Indic
//!   scripts. This only matters for `gopher_below_alpha_threshold` on such
//!   scripts, which the (English) Gopher rules are not meant for anyway.
//! - **Disabling.** In datatrove a threshold of `0` disables its rule (Python
//!   treats `0` as false); here only `null` disables, and `0` is a threshold.

use kiln_pdk::{Filter, Plugin, Record, Verdict};
use serde::Deserialize;

/// The Gopher thresholds; `null` disables a rule. Defaults are the published values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Fewest non-symbol words kept (default 50).
    pub min_doc_words: Option<usize>,
    /// Most non-symbol words kept (default 100000).
    pub max_doc_words: Option<usize>,
    /// Lowest mean length, in chars, of the non-symbol words kept (default 3).
    pub min_avg_word_length: Option<f64>,
    /// Highest mean length, in chars, of the non-symbol words kept (default 10).
    pub max_avg_word_length: Option<f64>,
    /// Highest ratio of `#`, and of ellipses, to words kept (default 0.1).
    pub max_symbol_word_ratio: Option<f64>,
    /// Highest share of lines starting with a bullet (`•` or `-`) kept (default 0.9).
    pub max_bullet_lines_ratio: Option<f64>,
    /// Highest share of lines ending with an ellipsis kept (default 0.3).
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Lowest share of words containing an alphabetic char kept (default 0.8;
    /// datatrove's name, although it is a minimum).
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Fewest stop words kept (default 2).
    pub min_stop_words: Option<usize>,
    /// The stop words, matched case-sensitively against whole tokens
    /// (default `the be to of and that have with`).
    pub stop_words: Vec<String>,
}

/// datatrove's default stop words.
pub const STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

impl Default for Config {
    fn default() -> Self {
        Config {
            min_doc_words: Some(50),
            max_doc_words: Some(100_000),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2),
            stop_words: STOP_WORDS.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

/// The filter, configured.
pub struct GopherQuality {
    config: Config,
    /// Length in bytes of the longest stop word: longer tokens skip the lookup.
    max_stop_len: usize,
    /// Whether some stop word starts with this byte: other tokens skip the lookup.
    stop_first: [bool; 256],
}

impl Plugin for GopherQuality {
    type Config = Config;
    const DESCRIPTION: &'static str = "keeps records that pass the Gopher quality rules (Rae et al. 2021)";

    fn new(c: Config) -> Result<Self, String> {
        if let (Some(lo), Some(hi)) = (c.min_doc_words, c.max_doc_words)
            && lo > hi
        {
            return Err(format!("min_doc_words ({lo}) is greater than max_doc_words ({hi})"));
        }
        let ratios = [
            ("min_avg_word_length", c.min_avg_word_length),
            ("max_avg_word_length", c.max_avg_word_length),
            ("max_symbol_word_ratio", c.max_symbol_word_ratio),
            ("max_bullet_lines_ratio", c.max_bullet_lines_ratio),
            ("max_ellipsis_lines_ratio", c.max_ellipsis_lines_ratio),
            ("max_non_alpha_words_ratio", c.max_non_alpha_words_ratio),
        ];
        for (name, value) in ratios {
            if let Some(v) = value
                && (!v.is_finite() || v < 0.0)
            {
                return Err(format!("{name} must be a non-negative number or null, got {v}"));
            }
        }
        if let (Some(lo), Some(hi)) = (c.min_avg_word_length, c.max_avg_word_length)
            && lo > hi
        {
            return Err(format!("min_avg_word_length ({lo}) is greater than max_avg_word_length ({hi})"));
        }
        if c.stop_words.is_empty() && c.min_stop_words.is_some_and(|m| m > 0) {
            return Err("stop_words is empty, so min_stop_words would drop every record: \
                        give stop words or set min_stop_words to null"
                .into());
        }
        let max_stop_len = c.stop_words.iter().map(String::len).max().unwrap_or(0);
        let mut stop_first = [false; 256];
        for w in &c.stop_words {
            if let Some(&b) = w.as_bytes().first() {
                stop_first[usize::from(b)] = true;
            }
        }
        Ok(GopherQuality { config: c, max_stop_len, stop_first })
    }
}

/// The word-level statistics the rules are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WordStats {
    /// All word tokens.
    pub words: usize,
    /// Tokens with at least one char that is not punctuation.
    pub non_symbol_words: usize,
    /// Total length in chars of the non-symbol words.
    pub non_symbol_chars: usize,
    /// Tokens with at least one alphabetic char.
    pub alpha_words: usize,
    /// Tokens that are stop words.
    pub stop_words: usize,
    /// `#` in the text. Each is a token of its own, so they are counted here.
    pub hashes: usize,
    /// `...` (non-overlapping, as Python's `str.count`) and `…` in the text.
    /// Every run of dots and every `…` is a token, so they are counted here.
    pub ellipses: usize,
}

/// The line-level statistics the rules are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineStats {
    /// Lines, as Python's `str.splitlines`.
    pub lines: usize,
    /// Lines whose left-stripped text starts with `•` or `-`.
    pub bullet_lines: usize,
    /// Lines whose right-stripped text ends with `...` or `…`.
    pub ellipsis_lines: usize,
}

impl GopherQuality {
    /// The word statistics of `text` under this filter's stop words.
    pub fn word_stats(&self, text: &str) -> WordStats {
        let stop_words = &self.config.stop_words;
        let mut s = WordStats::default();
        for_each_token(text, |tok| {
            s.words += 1;
            // Most tokens are ASCII: classify them byte by byte from a table.
            let class = tok.bytes().fold(0, |acc, b| acc | BYTE_CLASS[usize::from(b)]);
            let (chars, non_punct, alpha) = if class & NON_ASCII == 0 {
                (tok.len(), class & NON_PUNCT != 0, class & ALPHA != 0)
            } else {
                tok.chars().fold((0, false, false), |(n, p, a), c| (n + 1, p || !is_punct(c), a || c.is_alphabetic()))
            };
            if non_punct {
                s.non_symbol_words += 1;
                s.non_symbol_chars += chars;
            }
            if alpha {
                s.alpha_words += 1;
            }
            let first = tok.as_bytes().first().copied().unwrap_or(0);
            if tok.len() <= self.max_stop_len
                && self.stop_first[usize::from(first)]
                && stop_words.iter().any(|w| w == tok)
            {
                s.stop_words += 1;
            }
            match first {
                b'#' => s.hashes += 1,
                b'.' => s.ellipses += tok.len() / 3,
                0xE2 if tok == "…" => s.ellipses += 1,
                _ => {}
            }
        });
        s
    }

    /// Why `text` fails the Gopher rules (datatrove's reason), or `None` if it passes.
    pub fn check(&self, text: &str) -> Option<&'static str> {
        let c = &self.config;
        let s = self.word_stats(text);

        if c.min_doc_words.is_some_and(|m| s.non_symbol_words < m) {
            return Some("gopher_short_doc");
        }
        if c.max_doc_words.is_some_and(|m| s.non_symbol_words > m) {
            return Some("gopher_long_doc");
        }

        if s.non_symbol_words > 0 {
            let avg = s.non_symbol_chars as f64 / s.non_symbol_words as f64;
            if c.min_avg_word_length.is_some_and(|m| avg < m) {
                return Some("gopher_below_avg_threshold");
            }
            if c.max_avg_word_length.is_some_and(|m| avg > m) {
                return Some("gopher_above_avg_threshold");
            }
        }

        if s.words > 0 {
            let words = s.words as f64;
            if let Some(max) = c.max_symbol_word_ratio {
                if s.hashes as f64 / words > max {
                    return Some("gopher_too_many_hashes");
                }
                if s.ellipses as f64 / words > max {
                    return Some("gopher_too_many_ellipsis");
                }
            }

            if c.max_bullet_lines_ratio.is_some() || c.max_ellipsis_lines_ratio.is_some() {
                let l = line_stats(text);
                if l.lines > 0 {
                    let lines = l.lines as f64;
                    if c.max_bullet_lines_ratio.is_some_and(|m| l.bullet_lines as f64 / lines > m) {
                        return Some("gopher_too_many_bullets");
                    }
                    if c.max_ellipsis_lines_ratio.is_some_and(|m| l.ellipsis_lines as f64 / lines > m) {
                        return Some("gopher_too_many_end_ellipsis");
                    }
                }
            }

            if c.max_non_alpha_words_ratio.is_some_and(|m| (s.alpha_words as f64 / words) < m) {
                return Some("gopher_below_alpha_threshold");
            }
        }

        if c.min_stop_words.is_some_and(|m| s.stop_words < m) {
            return Some("gopher_enough_stop_words");
        }
        None
    }
}

impl Filter for GopherQuality {
    fn filter(&self, record: &Record) -> Verdict {
        match self.check(&record.text) {
            None => Verdict::Keep,
            Some(reason) => Verdict::drop(reason),
        }
    }
}

kiln_pdk::export_filter!(GopherQuality);

/// Whether `c` counts as punctuation: ASCII punctuation and control characters
/// (datatrove's set includes both), and the Unicode punctuation and symbol
/// blocks in common use — Latin-1 punctuation and signs, general punctuation
/// and invisible format characters, currency signs, arrows, math operators,
/// technical symbols, box drawing, geometric shapes, dingbats, CJK and
/// full-width punctuation, the punctuation of a few other scripts, variation
/// selectors and emoji.
#[inline]
pub fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() || c.is_ascii_control();
    }
    matches!(c,
        '\u{80}'..='\u{9F}'           // C1 controls
        | '\u{A1}'..='\u{A9}'         // ¡ ¢ £ ¤ ¥ ¦ § ¨ ©
        | '\u{AB}'..='\u{B1}'         // « ¬ soft hyphen ® ¯ ° ±
        | '\u{B4}' | '\u{B6}'..='\u{B8}' | '\u{BB}' | '\u{BF}' // ´ ¶ · ¸ » ¿
        | '\u{D7}' | '\u{F7}'         // × ÷
        | '\u{37E}' | '\u{387}'       // Greek question mark, ano teleia
        | '\u{55A}'..='\u{55F}' | '\u{589}' | '\u{58A}' // Armenian
        | '\u{5BE}' | '\u{5C0}' | '\u{5C3}' | '\u{5C6}' | '\u{5F3}' | '\u{5F4}' // Hebrew
        | '\u{60C}' | '\u{60D}' | '\u{61B}' | '\u{61F}' | '\u{66A}'..='\u{66D}' | '\u{6D4}' // Arabic
        | '\u{964}' | '\u{965}' | '\u{970}' // Devanagari dandas, abbreviation sign
        | '\u{E4F}' | '\u{E5A}' | '\u{E5B}' // Thai
        | '\u{10FB}' | '\u{1361}'..='\u{1368}' // Georgian, Ethiopic
        | '\u{166E}' | '\u{1680}' | '\u{169B}' | '\u{169C}' // Canadian syllabics, Ogham
        | '\u{200B}'..='\u{2027}'     // zero-width chars, dashes, quotes, bullets, …
        | '\u{202A}'..='\u{205E}'     // bidi controls, ‰ ′ ‹ › ※ ‼ ⁇ ...
        | '\u{2060}'..='\u{206F}'     // word joiner, invisible operators
        | '\u{2070}'..='\u{209F}'     // super- and subscripts
        | '\u{20A0}'..='\u{20CF}'     // currency signs
        | '\u{2190}'..='\u{245F}'     // arrows, math operators, technical, control pictures, OCR
        | '\u{2500}'..='\u{2775}'     // box drawing, blocks, shapes, misc symbols, dingbats
        | '\u{2794}'..='\u{2BFF}'     // dingbat arrows, math, supplemental arrows, misc symbols
        | '\u{2E00}'..='\u{2E7F}'     // supplemental punctuation
        | '\u{3001}'..='\u{3004}' | '\u{3008}'..='\u{3020}' | '\u{3030}' | '\u{303D}'..='\u{303F}' // CJK
        | '\u{30FB}'                  // katakana middle dot
        | '\u{FE00}'..='\u{FE0F}'     // variation selectors
        | '\u{FE10}'..='\u{FE19}' | '\u{FE30}'..='\u{FE6B}' // vertical, compatibility, small forms
        | '\u{FEFF}'                  // byte-order mark
        | '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}' // full-width punctuation
        | '\u{FF3B}'..='\u{FF40}' | '\u{FF5B}'..='\u{FF65}'
        | '\u{FFE0}'..='\u{FFEE}'     // full-width signs
        | '\u{FFF9}'..='\u{FFFD}'     // interlinear annotation, replacement character
        | '\u{1F000}'..='\u{1FAFF}'   // game symbols, enclosed supplements, emoji, pictographs
        | '\u{E0020}'..='\u{E007F}'   // emoji tag characters
    )
}

/// [`BYTE_CLASS`] bit: an ASCII byte that is not punctuation.
const NON_PUNCT: u8 = 1;
/// [`BYTE_CLASS`] bit: an ASCII letter.
const ALPHA: u8 = 2;
/// [`BYTE_CLASS`] bit: a byte of a non-ASCII char.
const NON_ASCII: u8 = 4;
/// [`BYTE_CLASS`] bit: an ASCII byte that may start an always-split token, or
/// the lead byte of `…`.
const SPLIT: u8 = 8;

/// The class bits of every byte value.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b >= 0x80 {
            NON_ASCII | if b == 0xE2 { SPLIT } else { 0 }
        } else if b.is_ascii_punctuation() || b.is_ascii_control() {
            match b {
                b';' | b'@' | b'#' | b'$' | b'%' | b'&' | b'?' | b'!' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
                | b'<' | b'>' | b'"' | b',' | b':' | b'.' | b'-' => SPLIT,
                _ => 0,
            }
        } else if b.is_ascii_alphabetic() {
            NON_PUNCT | ALPHA
        } else {
            NON_PUNCT
        };
        i += 1;
    }
    table
};

/// Calls `f` on each word token of `text`, in order, as slices of `text`.
/// The tokenisation is described in the crate documentation.
pub fn for_each_token<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    for chunk in text.split_whitespace() {
        split_chunk(chunk, &mut f);
    }
}

/// The word tokens of `text` (see [`for_each_token`]).
pub fn tokenize(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for_each_token(text, |t| tokens.push(t));
    tokens
}

/// Splits a whitespace-free chunk at the characters that are always tokens of
/// their own, and hands each piece between them to [`split_piece`].
fn split_chunk<'a>(chunk: &'a str, f: &mut impl FnMut(&'a str)) {
    let bytes = chunk.as_bytes();
    let mut piece_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Only ASCII bytes and the lead byte of `…` start a split, so every index
        // sliced at below is a char boundary.
        let len = if BYTE_CLASS[usize::from(bytes[i])] & SPLIT == 0 { 0 } else { split_len(bytes, i) };
        if len == 0 {
            i += 1;
            continue;
        }
        if piece_start < i {
            split_piece(&chunk[piece_start..i], f);
        }
        f(&chunk[i..i + len]);
        i += len;
        piece_start = i;
    }
    if piece_start < bytes.len() {
        split_piece(&chunk[piece_start..], f);
    }
}

/// The length in bytes of the always-split token starting at `bytes[i]`, or 0.
#[inline]
fn split_len(bytes: &[u8], i: usize) -> usize {
    let run = |b: u8| bytes[i..].iter().take_while(|&&x| x == b).count();
    match bytes[i] {
        b';' | b'@' | b'#' | b'$' | b'%' | b'&' | b'?' | b'!' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<'
        | b'>' | b'"' => 1,
        b',' | b':' => usize::from(!bytes.get(i + 1).is_some_and(u8::is_ascii_digit)),
        b @ (b'.' | b'-') => {
            let n = run(b);
            if n >= 2 { n } else { 0 }
        }
        0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA6) => 3, // …
        _ => 0,
    }
}

/// Splits leading and trailing punctuation off a piece, one token per char,
/// and the contraction suffix off the rest.
fn split_piece<'a>(piece: &'a str, f: &mut impl FnMut(&'a str)) {
    let mut rest = piece;
    loop {
        let n = first_punct_len(rest);
        if n == 0 {
            break;
        }
        let (head, tail) = rest.split_at(n);
        f(head);
        rest = tail;
    }
    if rest.is_empty() {
        return;
    }
    // `rest` starts with a non-punctuation char, so the trailing run stops before it.
    let mut end = rest.len();
    loop {
        let n = last_punct_len(&rest[..end]);
        if n == 0 {
            break;
        }
        end -= n;
    }
    let (word, mut trailing) = rest.split_at(end);
    match contraction_split(word) {
        Some(at) => {
            let (stem, suffix) = word.split_at(at);
            f(stem);
            f(suffix);
        }
        None => f(word),
    }
    while let Some(c) = trailing.chars().next() {
        let (head, tail) = trailing.split_at(c.len_utf8());
        f(head);
        trailing = tail;
    }
}

/// The length in bytes of the first char of `s` if it is punctuation, else 0.
#[inline]
fn first_punct_len(s: &str) -> usize {
    match s.as_bytes().first() {
        None => 0,
        Some(&b) if b < 0x80 => usize::from(BYTE_CLASS[usize::from(b)] & NON_PUNCT == 0),
        Some(_) => s.chars().next().filter(|&c| is_punct(c)).map_or(0, char::len_utf8),
    }
}

/// The length in bytes of the last char of `s` if it is punctuation, else 0.
#[inline]
fn last_punct_len(s: &str) -> usize {
    match s.as_bytes().last() {
        None => 0,
        Some(&b) if b < 0x80 => usize::from(BYTE_CLASS[usize::from(b)] & NON_PUNCT == 0),
        Some(_) => s.chars().next_back().filter(|&c| is_punct(c)).map_or(0, char::len_utf8),
    }
}

/// Where NLTK would split an English contraction suffix off `word`, if anywhere.
/// The returned index is that of an ASCII byte, hence a char boundary.
fn contraction_split(word: &str) -> Option<usize> {
    let b = word.as_bytes();
    let n = b.len();
    let lower = |i: usize| b[i].to_ascii_lowercase();
    if n >= 4 && lower(n - 3) == b'n' && b[n - 2] == b'\'' && lower(n - 1) == b't' {
        return Some(n - 3);
    }
    if n >= 4 && b[n - 3] == b'\'' {
        let suffix = [lower(n - 2), lower(n - 1)];
        if matches!(&suffix, b"ll" | b"re" | b"ve") {
            return Some(n - 3);
        }
    }
    if n >= 3 && b[n - 2] == b'\'' && matches!(lower(n - 1), b's' | b'm' | b'd') {
        return Some(n - 2);
    }
    None
}

/// Whether Python's `str.isspace` holds for `c` (as `str.strip` uses it).
#[inline]
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// Calls `f` on each line of `text` as Python's `str.splitlines` splits it:
/// at `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`–`\x1e`, `\x85`, U+2028 and U+2029,
/// with no empty last line after a final line break.
pub fn for_each_line<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let b = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // Each break starts with an ASCII byte or a lead byte: a char boundary.
        let len = match b[i] {
            b'\n' | 0x0B | 0x0C | 0x1C | 0x1D | 0x1E => 1,
            b'\r' if b.get(i + 1) == Some(&b'\n') => 2,
            b'\r' => 1,
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => 0,
        };
        if len == 0 {
            i += 1;
        } else {
            f(&text[start..i]);
            i += len;
            start = i;
        }
    }
    if start < b.len() {
        f(&text[start..]);
    }
}

/// The line statistics of `text`.
pub fn line_stats(text: &str) -> LineStats {
    let mut s = LineStats::default();
    for_each_line(text, |line| {
        s.lines += 1;
        let left = line.trim_start_matches(is_py_space);
        if left.starts_with('•') || left.starts_with('-') {
            s.bullet_lines += 1;
        }
        let right = line.trim_end_matches(is_py_space);
        if right.ends_with("...") || right.ends_with('…') {
            s.ellipsis_lines += 1;
        }
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: [&str; 10] = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "runs"];

    /// `n` ordinary words (mean length 3.9, one stop word in five).
    fn words(n: usize) -> String {
        (0..n).map(|i| WORDS[i % WORDS.len()]).collect::<Vec<_>>().join(" ")
    }

    fn check(text: &str) -> Option<&'static str> {
        GopherQuality::new(Config::default()).expect("valid config").check(text)
    }

    fn check_with(c: Config, text: &str) -> Option<&'static str> {
        GopherQuality::new(c).expect("valid config").check(text)
    }

    const PROSE: &str = "The history of the town goes back to the twelfth century, when a small \
        community of farmers settled on the banks of the river. Over the following centuries it grew \
        into a busy market town with a stone bridge, a church and a weekly fair that drew traders from \
        the surrounding villages. Today the old centre is a quiet place to walk, and the museum near \
        the square tells the story of the people who have lived and worked here for more than eight \
        hundred years.";

    #[test]
    fn english_prose_is_kept() {
        assert!(tokenize(PROSE).len() > 80);
        assert_eq!(check(PROSE), None);
        let r = Record::new("r", PROSE);
        assert_eq!(GopherQuality::new(Config::default()).expect("valid").filter(&r), Verdict::Keep);
    }

    #[test]
    fn filter_reports_the_reason() {
        let r = Record::new("r", "too short");
        let f = GopherQuality::new(Config::default()).expect("valid");
        assert_eq!(f.filter(&r), Verdict::drop("gopher_short_doc"));
    }

    #[test]
    fn empty_and_blank_texts_are_short() {
        assert_eq!(check(""), Some("gopher_short_doc"));
        assert_eq!(check(" \n\t\r\n "), Some("gopher_short_doc"));
    }

    #[test]
    fn empty_text_without_min_doc_words_does_not_divide_by_zero() {
        let c = Config { min_doc_words: None, ..Config::default() };
        assert_eq!(check_with(c.clone(), ""), Some("gopher_enough_stop_words"));
        assert_eq!(check_with(c, "\n\n"), Some("gopher_enough_stop_words"));
        let none = Config {
            min_doc_words: None,
            max_doc_words: None,
            min_avg_word_length: None,
            max_avg_word_length: None,
            max_symbol_word_ratio: None,
            max_bullet_lines_ratio: None,
            max_ellipsis_lines_ratio: None,
            max_non_alpha_words_ratio: None,
            min_stop_words: None,
            stop_words: vec![],
        };
        assert_eq!(check_with(none.clone(), ""), None);
        assert_eq!(check_with(none, "!!! ###"), None);
    }

    #[test]
    fn pure_symbol_text_is_short() {
        let text = "!!! ### ... ??? --- *** → ★ 👍 «» (), ;;".repeat(20);
        assert_eq!(check(&text), Some("gopher_short_doc"));
        let c = Config { min_doc_words: None, ..Config::default() };
        // No non-symbol word: the mean-length rules are skipped, the ratios are not.
        assert_eq!(check_with(c, &text), Some("gopher_too_many_hashes"));
    }

    #[test]
    fn short_doc_threshold() {
        assert_eq!(check(&words(49)), Some("gopher_short_doc"));
        assert_eq!(check(&words(50)), None);
        // Symbol words do not count.
        assert_eq!(check(&format!("{} , . ; ( )", words(49))), Some("gopher_short_doc"));
    }

    #[test]
    fn long_doc_threshold() {
        let c = Config { max_doc_words: Some(60), ..Config::default() };
        assert_eq!(check_with(c.clone(), &words(61)), Some("gopher_long_doc"));
        assert_eq!(check_with(c, &words(60)), None);
        assert_eq!(check(&words(100_001)), Some("gopher_long_doc"));
        assert_eq!(check(&words(100_000)), None);
    }

    #[test]
    fn below_average_word_length_threshold() {
        // 50 words of three letters: mean exactly 3.
        let base: Vec<&str> = (0..50).map(|i| ["the", "and", "cat", "dog", "sat"][i % 5]).collect();
        assert_eq!(check(&base.join(" ")), None);
        let mut short = base.clone();
        short[2] = "is";
        assert_eq!(check(&short.join(" ")), Some("gopher_below_avg_threshold"));
    }

    #[test]
    fn above_average_word_length_threshold() {
        // 2 × 3 + 2 × 17 + 46 × 10 = 500 chars over 50 words: mean exactly 10.
        let mut w = vec!["the", "the", "abcdefghijklmnopq", "abcdefghijklmnopq"];
        w.extend(std::iter::repeat_n("abcdefghij", 46));
        assert_eq!(check(&w.join(" ")), None);
        w[10] = "abcdefghijk";
        assert_eq!(check(&w.join(" ")), Some("gopher_above_avg_threshold"));
    }

    #[test]
    fn average_word_length_counts_chars_not_bytes() {
        // "äöü" has 3 chars and 6 bytes.
        let w: Vec<&str> = (0..50).map(|i| if i < 2 { "the" } else { "äöü" }).collect();
        assert_eq!(check(&w.join(" ")), None);
    }

    #[test]
    fn hash_ratio_threshold() {
        // Each `#` is a word of its own: 10 / (90 + 10) = 0.1 is kept, 11 / 101 is not.
        let ok = format!("{} {}", words(90), "# ".repeat(10));
        assert_eq!(check(&ok), None);
        let bad = format!("{} {}", words(90), "# ".repeat(11));
        assert_eq!(check(&bad), Some("gopher_too_many_hashes"));
        // `#tag` is two words: 12 / (90 + 24) is above 0.1.
        let tags = format!("{} {}", words(90), "#tag ".repeat(12));
        assert_eq!(check(&tags), Some("gopher_too_many_hashes"));
    }

    #[test]
    fn ellipsis_ratio_threshold() {
        let ok = format!("{} {} end", words(89), "... ".repeat(10));
        assert_eq!(tokenize(&ok).len(), 100);
        assert_eq!(check(&ok), None);
        let bad = format!("{} {} end", words(89), "... ".repeat(11));
        assert_eq!(check(&bad), Some("gopher_too_many_ellipsis"));
        let unicode = format!("{} {} end", words(89), "… ".repeat(11));
        assert_eq!(check(&unicode), Some("gopher_too_many_ellipsis"));
    }

    #[test]
    fn bullet_lines_threshold() {
        let line = format!("- {}", words(10));
        let plain = words(10);
        // 9 of 10 lines are bullets: 0.9 is kept.
        let mut lines = vec![line.as_str(); 9];
        lines.push(&plain);
        assert_eq!(check(&lines.join("\n")), None);
        // 19 of 20: 0.95 is not.
        let mut lines = vec![line.as_str(); 19];
        lines.push(&plain);
        assert_eq!(check(&lines.join("\n")), Some("gopher_too_many_bullets"));
        let dots = format!("  • {}", words(10));
        assert_eq!(check(&[dots.as_str(); 10].join("\r\n")), Some("gopher_too_many_bullets"));
    }

    #[test]
    fn end_ellipsis_lines_threshold() {
        let trailing = format!("{} ...", words(12));
        let plain = words(12);
        let text = |n: usize| {
            let mut lines = vec![trailing.as_str(); n];
            lines.extend(vec![plain.as_str(); 10 - n]);
            lines.join("\n")
        };
        assert_eq!(check(&text(3)), None);
        assert_eq!(check(&text(4)), Some("gopher_too_many_end_ellipsis"));
        let unicode = format!("{}…  ", words(12));
        let mut lines = vec![unicode.as_str(); 4];
        lines.extend(vec![plain.as_str(); 6]);
        assert_eq!(check(&lines.join("\n")), Some("gopher_too_many_end_ellipsis"));
    }

    #[test]
    fn alpha_words_threshold() {
        // 80 of 100 words have a letter: 0.8 is kept; 80 of 101 is not.
        let ok = format!("{} {}", words(80), "123 ".repeat(20));
        assert_eq!(check(&ok), None);
        let bad = format!("{} {}", words(80), "123 ".repeat(21));
        assert_eq!(check(&bad), Some("gopher_below_alpha_threshold"));
    }

    #[test]
    fn stop_words_threshold_is_case_sensitive() {
        let base: Vec<&str> = (0..60).map(|i| ["quick", "brown", "fox", "jumps"][i % 4]).collect();
        let mut one = base.clone();
        one[5] = "the";
        assert_eq!(check(&one.join(" ")), Some("gopher_enough_stop_words"));
        let mut two = one.clone();
        two[9] = "with";
        assert_eq!(check(&two.join(" ")), None);
        let mut capital = one.clone();
        capital[9] = "The";
        assert_eq!(check(&capital.join(" ")), Some("gopher_enough_stop_words"));
        // Punctuation around a stop word is split off.
        let mut quoted = one;
        quoted[9] = "(and,";
        assert_eq!(check(&quoted.join(" ")), None);
    }

    #[test]
    fn custom_stop_words() {
        let c = Config { stop_words: vec!["le".into(), "la".into()], ..Config::default() };
        let text = format!("{} le la", words(50).replace("the", "cat").replace("and", "cow"));
        assert_eq!(check_with(c, &text), None);
    }

    #[test]
    fn null_disables_a_rule() {
        let c = Config { min_doc_words: None, min_stop_words: None, ..Config::default() };
        assert_eq!(check_with(c, "hello world"), None);
        let hashes = format!("{} {}", words(90), "# ".repeat(20));
        let c = Config { max_symbol_word_ratio: None, ..Config::default() };
        assert_eq!(check_with(c, &hashes), None);
    }

    #[test]
    fn checks_run_in_datatrove_order() {
        // Short and too many hashes: short wins.
        assert_eq!(check("# # # # the cat"), Some("gopher_short_doc"));
        // Hashes and bullets: hashes win.
        let line = format!("- {} # #", words(10));
        assert_eq!(check(&[line.as_str(); 10].join("\n")), Some("gopher_too_many_hashes"));
    }

    #[test]
    fn config_parses_with_defaults_nulls_and_rejects_unknown_fields() {
        let c: Config = kiln_pdk::__parse_config("").expect("empty config");
        assert_eq!(c.min_doc_words, Some(50));
        assert_eq!(c.stop_words.len(), 8);
        let c: Config =
            kiln_pdk::__parse_config(r#"{"min_doc_words": null, "max_symbol_word_ratio": 0.2}"#).expect("parses");
        assert_eq!(c.min_doc_words, None);
        assert_eq!(c.max_symbol_word_ratio, Some(0.2));
        assert_eq!(c.max_doc_words, Some(100_000));
        let err = kiln_pdk::__parse_config::<Config>(r#"{"min_words": 3}"#).expect_err("rejected");
        assert!(err.contains("min_words"), "{err}");
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let err = GopherQuality::new(Config { min_doc_words: Some(10), max_doc_words: Some(5), ..Config::default() })
            .err()
            .expect("rejected");
        assert!(err.contains("min_doc_words (10)"), "{err}");
        let err = GopherQuality::new(Config { max_bullet_lines_ratio: Some(f64::NAN), ..Config::default() })
            .err()
            .expect("rejected");
        assert!(err.contains("max_bullet_lines_ratio"), "{err}");
        let err = GopherQuality::new(Config { stop_words: vec![], ..Config::default() }).err().expect("rejected");
        assert!(err.contains("stop_words"), "{err}");
    }

    #[test]
    fn tokenizer_splits_edge_punctuation_and_keeps_inner() {
        assert_eq!(tokenize("(hello,"), ["(", "hello", ","]);
        assert_eq!(tokenize("e.g. U.S.A x-ray"), ["e.g", ".", "U.S.A", "x-ray"]);
        assert_eq!(tokenize("\"Hi!\" she said."), ["\"", "Hi", "!", "\"", "she", "said", "."]);
        assert_eq!(tokenize("'quoted'"), ["'", "quoted", "'"]);
        assert_eq!(tokenize("  spaced\tout\n"), ["spaced", "out"]);
        assert_eq!(tokenize(""), Vec::<&str>::new());
    }

    #[test]
    fn tokenizer_always_splits_some_punctuation() {
        assert_eq!(tokenize("AT&T #tag a;b"), ["AT", "&", "T", "#", "tag", "a", ";", "b"]);
        assert_eq!(tokenize("Wait...what?"), ["Wait", "...", "what", "?"]);
        assert_eq!(tokenize("so.. yes--no"), ["so", "..", "yes", "--", "no"]);
        assert_eq!(tokenize("well…"), ["well", "…"]);
        assert_eq!(tokenize("a,b 1,000 note: 12:30"), ["a", ",", "b", "1,000", "note", ":", "12:30"]);
        assert_eq!(tokenize("f(x)"), ["f", "(", "x", ")"]);
    }

    #[test]
    fn tokenizer_splits_contractions() {
        assert_eq!(tokenize("don't"), ["do", "n't"]);
        assert_eq!(tokenize("CAN'T"), ["CA", "N'T"]);
        assert_eq!(
            tokenize("it's we'll they're I'm I'd we've"),
            ["it", "'s", "we", "'ll", "they", "'re", "I", "'m", "I", "'d", "we", "'ve"]
        );
        assert_eq!(tokenize("o'clock rock'n'roll"), ["o'clock", "rock'n'roll"]);
        assert_eq!(tokenize("'s n't"), ["'", "s", "n't"]);
    }

    #[test]
    fn tokenizer_handles_unicode() {
        assert_eq!(tokenize("«Bonjour», dit-il."), ["«", "Bonjour", "»", ",", "dit-il", "."]);
        assert_eq!(tokenize("naïve café"), ["naïve", "café"]);
        assert_eq!(tokenize("日本語。"), ["日本語", "。"]);
        assert_eq!(tokenize("“quoted”"), ["“", "quoted", "”"]);
        assert_eq!(tokenize("great👍 €5"), ["great", "👍", "€", "5"]);
        assert_eq!(tokenize("a\u{3000}b"), ["a", "b"]);
    }

    #[test]
    fn punctuation_set() {
        for c in [
            '.', ',', '#', '~', '\u{0}', '\u{7f}', '«', '»', '—', '…', '€', '→', '★', '👍', '、', '。', '％',
            '\u{200D}',
        ] {
            assert!(is_punct(c), "{c:?} should be punctuation");
        }
        for c in ['a', 'Z', '0', 'é', 'ß', 'µ', 'ª', '日', 'Ж', '٣', ' '] {
            assert!(!is_punct(c), "{c:?} should not be punctuation");
        }
    }

    #[test]
    fn lines_split_as_python_splitlines() {
        let lines = |t| {
            let mut v = Vec::new();
            for_each_line(t, |l| v.push(l));
            v
        };
        assert_eq!(lines(""), Vec::<&str>::new());
        assert_eq!(lines("a"), ["a"]);
        assert_eq!(lines("a\n"), ["a"]);
        assert_eq!(lines("\n"), [""]);
        assert_eq!(lines("a\r\nb\rc\n\nd"), ["a", "b", "c", "", "d"]);
        assert_eq!(lines("a\u{2028}b\u{85}c\u{0b}d"), ["a", "b", "c", "d"]);
        assert_eq!(lines("é\u{2029}ü"), ["é", "ü"]);
    }

    #[test]
    fn line_stats_strip_whitespace() {
        let s = line_stats("  - a\n\t• b\nc...  \nd…\ne. . .\n-");
        assert_eq!(s, LineStats { lines: 6, bullet_lines: 3, ellipsis_lines: 2 });
    }

    #[test]
    fn word_stats_counts() {
        let f = GopherQuality::new(Config::default()).expect("valid");
        let s = f.word_stats("The cat, and the 42 dogs!");
        // The cat , and the 42 dogs !
        assert_eq!(
            s,
            WordStats {
                words: 8,
                non_symbol_words: 6,
                non_symbol_chars: 3 + 3 + 3 + 3 + 2 + 4,
                alpha_words: 5,
                stop_words: 2,
                hashes: 0,
                ellipses: 0,
            }
        );
    }

    #[test]
    fn hashes_and_ellipses_counted_from_tokens_match_the_text() {
        let f = GopherQuality::new(Config::default()).expect("valid");
        for text in [
            "a#b ## #tag# .. ... .... ...... ....... x...y …… a…b ...… # . ",
            "C# and F# ... e.g. .NET ..profile. U.S.A... ok…",
            "#.#.#...#",
        ] {
            let s = f.word_stats(text);
            assert_eq!(s.hashes, text.matches('#').count(), "{text:?}");
            assert_eq!(s.ellipses, text.matches("...").count() + text.matches('…').count(), "{text:?}");
        }
    }

    #[test]
    fn no_panic_on_tricky_unicode() {
        let samples = [
            "…………",
            "..…..",
            "\u{2028}\u{2029}\u{85}",
            "e\u{301}\u{301}",
            "👨‍👩‍👧‍👦 family",
            "\u{FEFF}bom",
            "x\u{E2}",
            "n't",
            "'",
            "''s",
            "a'",
            "—-—",
            "،؛؟",
            "\u{10FFFF}\u{E0001}",
            "ä,ö:ü;",
            "日本,語:1",
            "\r\r\n\n",
            "¿Qué? ¡Sí!",
            "🇫🇷🇩🇪",
            "\u{0}\u{1}\u{1f}",
            "-...-",
            "'n't",
            "N'T'S",
        ];
        let f = GopherQuality::new(Config::default()).expect("valid");
        for s in samples {
            let _ = f.check(s);
            let _ = f.check(&s.repeat(60));
            for t in tokenize(s) {
                assert!(!t.is_empty(), "empty token in {s:?}");
            }
        }
    }

    #[test]
    fn tokens_cover_all_non_whitespace() {
        for s in [PROSE, "«Bonjour», dit-il... f(x)=y; AT&T don't 1,000 12:30 e.g. 👍🏽!"] {
            let joined: String = tokenize(s).concat();
            let expected: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(joined, expected);
        }
    }
}
