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
//! | `min_stop_words` | `2` | fewer *distinct* stop words occur (`the the` counts once, as in datatrove) |
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

use kiln_pdk::{Plugin, TextFilter, Verdict};
use serde::Deserialize;

/// The Gopher thresholds; `null` disables a rule. Defaults are the published values.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// The stop words, arranged for a quick lookup.
    stop_words: StopWords,
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
        let stop_words = StopWords::new(&c.stop_words);
        Ok(GopherQuality { config: c, stop_words })
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
    /// Distinct stop words among the tokens (datatrove: `len(stop_words & set(words))`).
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
        let mut sink = StatsSink::new(&self.stop_words);
        scan_tokens(text, &mut sink);
        sink.finish()
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

impl TextFilter for GopherQuality {
    fn filter_text(&self, text: &str) -> Verdict {
        match self.check(text) {
            None => Verdict::Keep,
            Some(reason) => Verdict::drop(reason),
        }
    }
}

kiln_pdk::export_text_filter!(GopherQuality);

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

// # How the text is scanned
//
// The word statistics are counted while the text is tokenized, in one forward
// pass over its bytes ([`scan_tokens`]); the line statistics, which only the
// later rules need, take a second pass ([`for_each_line`]). Both are built for
// the WebAssembly build, where every loop iteration costs more than natively
// (Wasmtime checks for interruption at every loop header, and Cranelift's loop
// code is weaker than LLVM's), so they take as few iterations as they can:
//
// - a run of ASCII letters and digits is skipped 8 bytes at a time, and the
//   line pass looks for breaks 8 bytes at a time (SWAR, "SIMD within a
//   register": bit tricks on the 8 bytes of a `u64`);
// - ASCII bytes are classified from a table, without decoding UTF-8; only a
//   non-ASCII byte decodes its char, whose Unicode properties
//   (`char::is_whitespace`, [`is_punct`], `char::is_alphabetic`) decide as the
//   crate documentation says;
// - a token's statistics come from what the scan already knows of it (word or
//   symbol, ASCII or not, first byte, length) rather than from going over its
//   bytes again, and stop words are looked up in a small hash table.

// The byte classes are one bit each, and tested as bits: tested as small
// integers, a chain of tests becomes a jump table, whose indirect jump the CPU
// mispredicts at almost every token.

/// Byte class of an ASCII letter or digit: a word char.
const WORD: u8 = 1;
/// Byte class of an ASCII whitespace byte (`\t`, `\n`, `\v`, `\f`, `\r`, space):
/// a chunk boundary, as `char::is_whitespace`.
const SPACE: u8 = 2;
/// Byte class of ``; @ # $ % & ? ! ( ) [ ] { } < > "``: always a token of its own.
const SINGLE: u8 = 4;
/// Byte class of the other ASCII punctuation and control bytes, except those
/// below: never split, so inside a piece they are part of it.
const PUNCT: u8 = 8;
/// Byte class of `.` and `-`: a run of two or more is an always-split token.
const RUN: u8 = 16;
/// Byte class of `,` and `:`: an always-split token unless an ASCII digit follows.
const COMMA: u8 = 32;
/// Byte class of a byte of a non-ASCII char: decode the char to classify it.
const NON_ASCII: u8 = 64;

/// The class of every byte value, for [`scan_tokens`].
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = match b {
            b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ' => SPACE,
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => WORD,
            b'.' | b'-' => RUN,
            b',' | b':' => COMMA,
            b';' | b'@' | b'#' | b'$' | b'%' | b'&' | b'?' | b'!' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<'
            | b'>' | b'"' => SINGLE,
            0x80..=0xFF => NON_ASCII,
            _ => PUNCT,
        };
        i += 1;
    }
    table
};

/// `b` in every byte of a `u64`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of every byte.
const HIGH: u64 = splat(0x80);
/// The low seven bits of every byte.
const LOW7: u64 = splat(0x7F);

/// The 8 bytes of `b` from `i` as a little-endian `u64` (byte `i` lowest),
/// with zero bytes standing for those past the end.
#[inline]
fn load8(b: &[u8], i: usize) -> u64 {
    match b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        Some(chunk) => u64::from_le_bytes(*chunk),
        None => {
            let tail = b.get(i..).unwrap_or_default();
            let mut buf = [0u8; 8];
            buf[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(buf)
        }
    }
}

/// For `x` with every byte below 0x80: the high bit of each byte is set when
/// that byte is at least `lo` (1 ≤ `lo` ≤ 0x80). Adding `0x80 - lo` carries into
/// bit 7 exactly when the byte is ≥ `lo`, and never past it (at most
/// 0x7F + 0x7F), so bytes do not disturb each other. The low bits are garbage.
#[inline]
const fn bytes_at_least(x: u64, lo: u8) -> u64 {
    x + splat(0x80 - lo)
}

/// For `x` with every byte below 0x80: bit 7 of each byte is set when that
/// byte, read as ASCII, is a letter. The low bits are garbage.
#[inline]
const fn letter_bits(x: u64) -> u64 {
    // `| 0x20` maps `A`–`Z` to `a`–`z` and no other byte into that range.
    let folded = x | splat(0x20);
    bytes_at_least(folded, b'a') & !bytes_at_least(folded, b'z' + 1)
}

/// The high bit of each byte of `v` that is not an ASCII letter or digit.
/// Each range test is "at least the low end and not at least one past the high
/// end", on the low seven bits of each byte; the answers are in bit 7 only.
#[inline]
const fn non_alnum_bytes(v: u64) -> u64 {
    let x = v & LOW7;
    let digit = bytes_at_least(x, b'0') & !bytes_at_least(x, b'9' + 1);
    // Bytes with bit 7 set (non-ASCII) are never letters or digits.
    !((digit | letter_bits(x)) & !v) & HIGH
}

/// Whether one of the ASCII bytes in `v` is a letter (zero bytes are not).
#[inline]
const fn has_ascii_letter(v: u64) -> bool {
    letter_bits(v & LOW7) & !v & HIGH != 0
}

/// The index of the first byte at or after `i` that is not an ASCII letter or
/// digit (`b.len()` if none), 8 bytes per step.
#[inline(always)]
fn skip_alnum(b: &[u8], mut i: usize) -> usize {
    // Most runs end within 8 bytes: that first step is kept out of the loop,
    // whose every iteration costs an interruption check under Wasmtime.
    // Past the end `load8` reads zero bytes, which stop the run at `b.len()`.
    let mut stop = non_alnum_bytes(load8(b, i));
    while stop == 0 {
        i += 8;
        stop = non_alnum_bytes(load8(b, i));
    }
    // Little endian: the lowest set bit is the first stopping byte.
    i + (stop.trailing_zeros() / 8) as usize
}

/// The length of the run of `byte` starting at `b[i]` (which is `byte`).
#[inline]
fn run_len(b: &[u8], i: usize, byte: u8) -> usize {
    let mut j = i + 1;
    while b.get(j) == Some(&byte) {
        j += 1;
    }
    j - i
}

/// The char starting at byte `i` of `text` (a char boundary).
#[inline]
fn char_at(text: &str, i: usize) -> char {
    text.get(i..).and_then(|s| s.chars().next()).unwrap_or_default()
}

/// `char::is_alphabetic`, answering for the letters of the scripts most common
/// in web text (Latin, kana, CJK ideographs, Hangul) without its table search.
/// (The ranges are all letters: a test checks them against `char::is_alphabetic`.)
#[inline]
fn is_alphabetic(c: char) -> bool {
    matches!(c,
        '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{24F}' // Latin-1 letters, Latin Extended-A and B
        | '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}'            // hiragana, katakana
        | '\u{4E00}'..='\u{9FA5}'                                       // CJK unified ideographs
        | '\u{AC00}'..='\u{D7A3}'                                       // Hangul syllables
    ) || c.is_alphabetic()
}

/// What [`scan_tokens`] hands each token to: the token is `text[start..end]`.
trait TokenSink<'a> {
    /// A token without a non-punctuation char: an always-split token, or one
    /// punctuation char split off the edge of a piece.
    fn symbol(&mut self, text: &'a str, start: usize, end: usize);
    /// A token with a non-punctuation char: a word, or a contraction's stem or
    /// suffix. `ascii` is true when the token is known to be all ASCII.
    fn word(&mut self, text: &'a str, start: usize, end: usize, ascii: bool);
}

/// Hands every token to a closure, for [`for_each_token`].
struct FnSink<F>(F);

impl<'a, F: FnMut(&'a str)> TokenSink<'a> for FnSink<F> {
    #[inline]
    fn symbol(&mut self, text: &'a str, start: usize, end: usize) {
        (self.0)(&text[start..end])
    }
    #[inline]
    fn word(&mut self, text: &'a str, start: usize, end: usize, _ascii: bool) {
        (self.0)(&text[start..end])
    }
}

/// The stop words, arranged so that looking a token up is a few instructions.
struct StopWords {
    /// For each first byte, bit `n` is set when a stop word of `n` bytes starts
    /// with it (bit 63: of 63 bytes or more). Most tokens fail this test.
    lens: [u64; 256],
    /// The stop words of 1 to 8 bytes, as [`StopWords::key`]s in an
    /// open-addressing hash table (linear probing, at most a quarter full).
    keys: Vec<u64>,
    /// The length of the stop word in each slot of `keys` (keys alone do not
    /// tell `\0` from `\0\0`); 0 for an empty slot.
    key_lens: Vec<u8>,
    /// The stop words longer than 8 bytes.
    long: Vec<String>,
}

impl StopWords {
    fn new(words: &[String]) -> StopWords {
        let short = words.iter().filter(|w| (1..=8).contains(&w.len())).count();
        let size = (4 * short).next_power_of_two().max(8);
        let mut stop = StopWords { lens: [0; 256], keys: vec![0; size], key_lens: vec![0; size], long: Vec::new() };
        for w in words {
            let b = w.as_bytes();
            let Some(&first) = b.first() else { continue };
            stop.lens[usize::from(first)] |= 1 << b.len().min(63);
            if b.len() > 8 {
                stop.long.push(w.clone());
            } else if !stop.contains_short(b, 0, b.len()) {
                let mut slot = stop.slot(Self::key(b, 0, b.len()));
                while stop.key_lens[slot] != 0 {
                    slot = (slot + 1) & (size - 1);
                }
                stop.keys[slot] = Self::key(b, 0, b.len());
                stop.key_lens[slot] = b.len() as u8; // at most 8
            }
        }
        stop
    }

    /// The bytes of `b[start..end]` (1 to 8 of them) as a little-endian `u64`.
    #[inline(always)]
    fn key(b: &[u8], start: usize, end: usize) -> u64 {
        load8(b, start) & (u64::MAX >> (64 - 8 * (end - start)))
    }

    /// The hash table slot where the search for `key` starts (Fibonacci hashing:
    /// the top bits of the key times 2^64 / φ).
    #[inline(always)]
    fn slot(&self, key: u64) -> usize {
        let bits = self.keys.len().trailing_zeros();
        // The table has at least 8 slots, so `bits` is at least 3.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// Whether `b[start..end]` (1 to 8 bytes) is a stop word.
    fn contains_short(&self, b: &[u8], start: usize, end: usize) -> bool {
        self.find_short(b, start, end).is_some()
    }

    /// The slot of the stop word `b[start..end]` (1 to 8 bytes), if it is one.
    /// The first probe, which settles most lookups (the table is at most a
    /// quarter full), is inline; the rest of the search is not, as a loop
    /// inlined into the scanning loop makes it slower under Wasmtime.
    #[inline(always)]
    fn find_short(&self, b: &[u8], start: usize, end: usize) -> Option<usize> {
        let (key, len) = (Self::key(b, start, end), (end - start) as u8);
        let slot = self.slot(key);
        match self.key_lens.get(slot).copied() {
            Some(0) | None => None,
            Some(l) if l == len && self.keys.get(slot) == Some(&key) => Some(slot),
            Some(_) => self.probe(key, len, slot),
        }
    }

    /// The rest of [`StopWords::find_short`]: the search from `slot` on.
    #[inline(never)]
    fn probe(&self, key: u64, len: u8, mut slot: usize) -> Option<usize> {
        // The table is never full, so an empty slot ends the search.
        loop {
            slot = (slot + 1) & (self.keys.len() - 1);
            match self.key_lens[slot] {
                0 => return None,
                l if l == len && self.keys[slot] == key => return Some(slot),
                _ => {}
            }
        }
    }

    /// Which stop word the token `b[start..end]` is, as a number below
    /// [`StopWords::ids`], if it is one.
    #[inline(always)]
    fn find(&self, b: &[u8], start: usize, end: usize) -> Option<usize> {
        let first = b.get(start).copied().unwrap_or(0);
        let len = end - start;
        if self.lens[usize::from(first)] & (1 << len.min(63)) == 0 {
            return None;
        }
        if len <= 8 {
            self.find_short(b, start, end)
        } else {
            let t = b.get(start..end)?;
            self.long.iter().position(|w| w.as_bytes() == t).map(|i| self.keys.len() + i)
        }
    }

    /// Whether the token `b[start..end]` is a stop word.
    #[cfg(test)]
    fn contains(&self, b: &[u8], start: usize, end: usize) -> bool {
        self.find(b, start, end).is_some()
    }

    /// How many numbers [`StopWords::find`] can return.
    fn ids(&self) -> usize {
        self.keys.len() + self.long.len()
    }
}

/// Which stop words a document has shown: datatrove counts *distinct* stop
/// words (`len(stop_words & set(words))`), not stop-word tokens.
struct SeenStopWords {
    /// Stop words with an id below 128, a bit each (two words rather than a
    /// `u128`, whose shifts are library calls in WebAssembly).
    small: [u64; 2],
    /// The others (only for lists of more than ~30 stop words).
    big: Vec<bool>,
}

impl SeenStopWords {
    fn new(ids: usize) -> Self {
        SeenStopWords { small: [0; 2], big: if ids > 128 { vec![false; ids - 128] } else { Vec::new() } }
    }

    /// Marks `id` seen; true when it was not seen before.
    #[inline(always)]
    fn insert(&mut self, id: usize) -> bool {
        match self.small.get_mut(id / 64) {
            Some(word) => {
                let bit = 1u64 << (id % 64);
                let new = *word & bit == 0;
                *word |= bit;
                new
            }
            None => self.big.get_mut(id - 128).is_some_and(|seen| !std::mem::replace(seen, true)),
        }
    }
}

/// Counts the word statistics, for [`GopherQuality::word_stats`].
///
/// What nearly every token updates has a field of its own, that the compiler
/// can keep in a register. The rest is counted off the common path, in
/// functions of their own so as to keep the scanning loop small, and so is
/// counted the other way round where that is the rare case: words *without*
/// an alphabetic char, symbols *with* one.
struct StatsSink<'f> {
    stop_words: &'f StopWords,
    /// Symbol tokens.
    symbols: usize,
    /// Non-symbol tokens.
    words: usize,
    /// Total length in chars of the non-symbol tokens.
    chars: usize,
    /// Non-symbol tokens without an alphabetic char.
    non_alpha_words: usize,
    /// Symbol tokens with an alphabetic char (`ⁿ` is punctuation and a letter).
    alpha_symbols: usize,
    /// Distinct stop words seen.
    stop: usize,
    /// Which ones.
    seen: SeenStopWords,
    /// `#` tokens.
    hashes: usize,
    /// `...` in runs of dots, and `…`.
    ellipses: usize,
}

impl<'f> StatsSink<'f> {
    fn new(stop_words: &'f StopWords) -> Self {
        StatsSink {
            seen: SeenStopWords::new(stop_words.ids()),
            stop_words,
            symbols: 0,
            words: 0,
            chars: 0,
            non_alpha_words: 0,
            alpha_symbols: 0,
            stop: 0,
            hashes: 0,
            ellipses: 0,
        }
    }

    fn finish(&self) -> WordStats {
        WordStats {
            words: self.symbols + self.words,
            non_symbol_words: self.words,
            non_symbol_chars: self.chars,
            alpha_words: self.words - self.non_alpha_words + self.alpha_symbols,
            stop_words: self.stop,
            hashes: self.hashes,
            ellipses: self.ellipses,
        }
    }

    /// The rest of [`TokenSink::symbol`] for a token starting with a non-ASCII char.
    #[inline(never)]
    fn non_ascii_symbol(&mut self, tok: &str) {
        if tok == "…" {
            self.ellipses += 1;
        } else if tok.chars().any(is_alphabetic) {
            self.alpha_symbols += 1;
        }
    }

    /// The rest of [`TokenSink::word`] for a token that is not ASCII or does
    /// not start with an ASCII letter.
    #[inline(never)]
    fn unusual_word(&mut self, tok: &str, ascii: bool) {
        let (chars, alpha) = if ascii {
            (tok.len(), tok.bytes().any(|b| b.is_ascii_alphabetic()))
        } else {
            tok.chars().fold((0, false), |(n, a), c| (n + 1, a || is_alphabetic(c)))
        };
        self.chars += chars;
        if !alpha {
            self.non_alpha_words += 1;
        }
    }
}

impl<'a> TokenSink<'a> for StatsSink<'_> {
    #[inline(always)]
    fn symbol(&mut self, text: &'a str, start: usize, end: usize) {
        self.symbols += 1;
        let b = text.as_bytes();
        let first = b.get(start).copied().unwrap_or(0);
        // `#` is always a token of its own, and every run of dots is one token.
        if first == b'#' {
            self.hashes += 1;
        } else if first == b'.' {
            self.ellipses += (end - start) / 3;
        } else if first >= 0x80 {
            self.non_ascii_symbol(&text[start..end]);
        }
        if let Some(id) = self.stop_words.find(b, start, end)
            && self.seen.insert(id)
        {
            self.stop += 1;
        }
    }

    #[inline(always)]
    fn word(&mut self, text: &'a str, start: usize, end: usize, ascii: bool) {
        self.words += 1;
        let b = text.as_bytes();
        if ascii && b.get(start).is_some_and(u8::is_ascii_alphabetic) {
            self.chars += end - start;
        } else if ascii && end - start <= 8 {
            // A number, or a word led by punctuation: at most 8 bytes are
            // looked at in one step rather than by a call.
            self.chars += end - start;
            if !has_ascii_letter(StopWords::key(b, start, end)) {
                self.non_alpha_words += 1;
            }
        } else {
            self.unusual_word(&text[start..end], ascii);
        }
        if let Some(id) = self.stop_words.find(b, start, end)
            && self.seen.insert(id)
        {
            self.stop += 1;
        }
    }
}

/// Calls `f` on each word token of `text`, in order, as slices of `text`.
/// The tokenisation is described in the crate documentation.
pub fn for_each_token<'a>(text: &'a str, f: impl FnMut(&'a str)) {
    scan_tokens(text, &mut FnSink(f));
}

/// The word tokens of `text` (see [`for_each_token`]).
pub fn tokenize(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for_each_token(text, |t| tokens.push(t));
    tokens
}

/// The tokenizer: one forward pass over `text`, handing each token to `out`.
///
/// The crate documentation describes the tokens as whitespace chunks, split at
/// the always-split tokens into pieces, with the punctuation at a piece's edges
/// split off. The same tokens come out of a single scan, because at any point
/// between tokens the next one is decided by the next char alone (and the byte
/// after it):
///
/// - whitespace separates tokens and is skipped;
/// - an always-split token (`;`, a run of `..`, `…` ...) is a token;
/// - any other punctuation char is a token of its own: it is either leading
///   punctuation of a piece or trailing punctuation after a word;
/// - a non-punctuation char starts a word, which [`scan_word`] scans to the
///   end of its piece; the word ends after its last non-punctuation char, and
///   the scan resumes there, at the piece's trailing punctuation.
///
/// A `,`, `:` or lone `.` or `-` between tokens is a one-char token whether or
/// not it is an always-split token, and so is a whole run of `.` or `-`.
fn scan_tokens<'a>(text: &'a str, out: &mut impl TokenSink<'a>) {
    let b = text.as_bytes();
    let mut i = 0;
    // Tested most frequent first: an if-chain is cheaper than a jump table here.
    while let Some(&byte) = b.get(i) {
        // Every index sliced at below is that of an ASCII byte or of the first
        // byte of a char: a char boundary.
        let class = BYTE_CLASS[usize::from(byte)];
        if class & WORD != 0 {
            // The word's first run of ASCII letters and digits is skipped here.
            let run_end = skip_alnum(b, i + 1);
            i = scan_alnum_word(text, i, run_end, out);
        } else if class & SPACE != 0 {
            i += 1;
        } else if class & NON_ASCII == 0 {
            let len = if class & RUN != 0 { run_len(b, i, byte) } else { 1 };
            out.symbol(text, i, i + len);
            i += len;
        } else {
            let c = char_at(text, i);
            let len = c.len_utf8();
            if c.is_whitespace() {
                i += len;
            } else if c == '…' || is_punct(c) {
                out.symbol(text, i, i + len);
                i += len;
            } else {
                i = scan_word(text, i, i + len, i, out);
            }
        }
    }
}

/// Scans the word whose first run of ASCII letters and digits is
/// `start..run_end`, as far as it is ASCII letters and digits joined by
/// single inner punctuation bytes (`snake_case`, `x.len`, `x-ray`, `1,000`),
/// and ends at whitespace, a one-byte token, an always-split token or one
/// punctuation byte before either. That is most words, handled here inline;
/// the rest (apostrophes, non-ASCII chars, runs of punctuation) by
/// [`scan_word`], out of line. Under Wasmtime a call of `scan_word` costs 1.5
/// to 1.6 times what it costs natively, so the more words end here, the
/// closer the plugin runs to native speed; keeping the rest out of line keeps
/// the scanning loop small (the whole of `scan_word` inlined was 3–4% slower,
/// natively and in WebAssembly alike).
#[inline(always)]
fn scan_alnum_word<'a>(text: &'a str, start: usize, run_end: usize, out: &mut impl TokenSink<'a>) -> usize {
    let b = text.as_bytes();
    let mut end = run_end;
    loop {
        let Some(&byte) = b.get(end) else {
            // The text ends with the word.
            out.word(text, start, end, true);
            return end;
        };
        let class = BYTE_CLASS[usize::from(byte)];
        if class & (SPACE | SINGLE) != 0 {
            // No apostrophe, so no contraction; all ASCII.
            out.word(text, start, end, true);
            if class == SINGLE {
                out.symbol(text, end, end + 1);
            }
            return end + 1;
        }
        let next = b.get(end + 1).copied();
        let after = next.map_or(SPACE, |next| BYTE_CLASS[usize::from(next)]);
        let digit_after = next.is_some_and(|next| next.is_ascii_digit());
        if (class & (PUNCT | RUN) != 0 && after & WORD != 0 && byte != b'\'') || (class & COMMA != 0 && digit_after) {
            // Inner punctuation: the word goes on after it.
            end = skip_alnum(b, end + 2);
            continue;
        }
        // The punctuation is a token of its own, which the caller scans next,
        // when it is always split (`,` `:` `..` `--`) or is the piece's last.
        let ends_here = if class & COMMA != 0 {
            true
        } else if class & (PUNCT | RUN) != 0 {
            after & (SPACE | SINGLE) != 0 || (class & RUN != 0 && next == Some(byte))
        } else {
            false
        };
        if ends_here {
            out.word(text, start, end, true);
            return end;
        }
        return scan_word(text, start, end, usize::MAX, out);
    }
}

/// Scans the word starting at `start` to the end of its piece, hands it to
/// `out` (split into stem and contraction suffix if it has one), and returns
/// where the scan goes on: where the word ends, after its last
/// non-punctuation char, or past the ASCII whitespace byte right there.
///
/// The caller has scanned `start..i`: the word so far, whose last char is not
/// punctuation and which has no apostrophe; `non_ascii` is where its first
/// non-ASCII char is, or `usize::MAX`.
#[inline(never)]
fn scan_word<'a>(
    text: &'a str,
    start: usize,
    mut i: usize,
    mut non_ascii: usize,
    out: &mut impl TokenSink<'a>,
) -> usize {
    let b = text.as_bytes();
    // `i` is the scan position, `end` the end of the last non-punctuation char
    // seen, `non_ascii` the first non-ASCII char seen (if any).
    let mut end = i;
    // The class of the byte that ended the piece, if ASCII whitespace or an
    // always-split one-byte token.
    let mut ended_by = 0;
    while let Some(&byte) = b.get(i) {
        let class = BYTE_CLASS[usize::from(byte)];
        if class & WORD != 0 {
            i = skip_alnum(b, i + 1);
            end = i;
        } else if class & (SPACE | SINGLE) != 0 {
            ended_by = class;
            break;
        } else if class & PUNCT != 0
            || (class & RUN != 0 && b.get(i + 1) != Some(&byte))
            || (class & COMMA != 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            // Inner or trailing punctuation: part of the piece.
            i += 1;
        } else if class & NON_ASCII != 0 {
            let c = char_at(text, i);
            if c.is_whitespace() || c == '…' {
                break;
            }
            non_ascii = non_ascii.min(i);
            i += c.len_utf8();
            if !is_punct(c) {
                end = i;
            }
        } else {
            // An always-split `,`, `:`, `..` or `--`: the piece ends.
            break;
        }
    }
    let ascii = non_ascii >= end;
    match contraction_split(&b[start..end]) {
        Some(at) => {
            out.word(text, start, start + at, ascii);
            out.word(text, start + at, end, true);
        }
        None => out.word(text, start, end, ascii),
    }
    // Saves the caller a round for the whitespace or one-byte token that
    // most often follows a word (it has no trailing punctuation then).
    if i != end || ended_by == 0 {
        return end;
    }
    if ended_by == SINGLE {
        out.symbol(text, end, end + 1);
    }
    end + 1
}

/// Where NLTK would split an English contraction suffix off the word `b`, if
/// anywhere. The returned index is that of an ASCII byte, hence a char boundary.
#[inline(always)]
fn contraction_split(b: &[u8]) -> Option<usize> {
    let n = b.len();
    // Every suffix has its apostrophe second or third from the end.
    if n < 3 || (b[n - 2] != b'\'' && b[n - 3] != b'\'') {
        return None;
    }
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
    if b[n - 2] == b'\'' && matches!(lower(n - 1), b's' | b'm' | b'd') {
        return Some(n - 2);
    }
    None
}

/// Whether Python's `str.isspace` holds for `c` (as `str.strip` uses it).
#[inline]
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// Whether Python's `str.isspace` holds for the ASCII byte `b`.
#[inline]
fn is_py_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0x1C..=0x1F | b' ')
}

/// The high bit of each byte of `v` that may be part of a line break: an ASCII
/// control byte (`\n`, `\v`, `\f`, `\r`, `\x1c`–`\x1e` and a few more that
/// are not) or a non-ASCII byte (`\x85`, U+2028 and U+2029, and many more).
/// Adding 0x60 to the low seven bits carries into bit 7 unless they are below
/// 0x20; the byte's own bit 7 marks it non-ASCII.
#[inline(always)]
const fn break_bytes(v: u64) -> u64 {
    (v | !((v & LOW7) + splat(0x60))) & HIGH
}

/// Calls `f` on each line of `text` as Python's `str.splitlines` splits it:
/// at `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`–`\x1e`, `\x85`, U+2028 and U+2029,
/// with no empty last line after a final line break.
pub fn for_each_line<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    let mut start = 0;
    // One call site for `f`, so that the compiler inlines it.
    while start < text.len() {
        let (at, len) = next_line_break(text.as_bytes(), start);
        f(&text[start..at]);
        start = at + len;
    }
}

/// Where the first line break at or after `i` is, and its length in bytes;
/// `(b.len(), 0)` if there is none.
#[inline(always)]
fn next_line_break(b: &[u8], mut i: usize) -> (usize, usize) {
    while i < b.len() {
        // Find the next byte that may start a break, 16 bytes per round (two
        // steps of 8: each round costs an interruption check under Wasmtime).
        let mut candidates = break_bytes(load8(b, i));
        if candidates == 0 {
            i += 8;
            candidates = break_bytes(load8(b, i));
            if candidates == 0 {
                i += 8;
                continue;
            }
        }
        i += (candidates.trailing_zeros() / 8) as usize;
        // Each break starts with an ASCII byte or a lead byte: a char boundary.
        // (The zero bytes `load8` reads past the end are candidates too.)
        let Some(&byte) = b.get(i) else { break };
        let len = match byte {
            b'\n' | 0x0B | 0x0C | 0x1C | 0x1D | 0x1E => 1,
            b'\r' if b.get(i + 1) == Some(&b'\n') => 2,
            b'\r' => 1,
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => 0,
        };
        if len != 0 {
            return (i, len);
        }
        // Not a break: skip the byte, or the whole char (the count of leading
        // ones of a lead byte is the length of its char).
        i += (byte.leading_ones() as usize).max(1);
    }
    (b.len(), 0)
}

/// The line statistics of `text`.
pub fn line_stats(text: &str) -> LineStats {
    let mut s = LineStats::default();
    for_each_line(text, |line| count_line(&mut s, line));
    s
}

/// Counts `line` into `s`. Leading and trailing whitespace is stripped bytewise
/// while it is ASCII; only a non-ASCII char after it needs decoding.
#[inline(always)]
fn count_line(s: &mut LineStats, line: &str) {
    s.lines += 1;
    let b = line.as_bytes();
    let lead = b.iter().position(|&c| !is_py_space_byte(c)).unwrap_or(b.len());
    let bullet = match b.get(lead) {
        Some(b'-') => true,
        Some(0x80..) => line[lead..].trim_start_matches(is_py_space).starts_with(['•', '-']),
        _ => false,
    };
    let trail = b.iter().rposition(|&c| !is_py_space_byte(c)).map_or(0, |p| p + 1);
    let ellipsis = match b.get(trail.wrapping_sub(1)) {
        Some(b'.') => b[..trail].ends_with(b"..."),
        Some(0x80..) => {
            let right = line[..trail].trim_end_matches(is_py_space);
            right.ends_with("...") || right.ends_with('…')
        }
        _ => false,
    };
    s.bullet_lines += usize::from(bullet);
    s.ellipsis_lines += usize::from(ellipsis);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_pdk::{Filter, Record};

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

    /// The straightforward tokenizer and line splitter the fast scans replace,
    /// following the crate documentation step by step: the fast ones must
    /// give the same tokens, lines and statistics.
    mod reference {
        use super::super::{is_punct, is_py_space};

        pub fn tokenize(text: &str) -> Vec<&str> {
            let mut out = Vec::new();
            for chunk in text.split_whitespace() {
                let b = chunk.as_bytes();
                let (mut piece_start, mut i) = (0, 0);
                while i < b.len() {
                    let run = b[i..].iter().take_while(|&&x| x == b[i]).count();
                    let len = match b[i] {
                        b';' | b'@' | b'#' | b'$' | b'%' | b'&' | b'?' | b'!' | b'(' | b')' | b'[' | b']' | b'{'
                        | b'}' | b'<' | b'>' | b'"' => 1,
                        b',' | b':' => usize::from(!b.get(i + 1).is_some_and(u8::is_ascii_digit)),
                        b'.' | b'-' if run >= 2 => run,
                        _ if b[i..].starts_with("…".as_bytes()) => 3,
                        _ => 0,
                    };
                    if len == 0 {
                        i += 1;
                        continue;
                    }
                    split_piece(&chunk[piece_start..i], &mut out);
                    out.push(&chunk[i..i + len]);
                    i += len;
                    piece_start = i;
                }
                split_piece(&chunk[piece_start..], &mut out);
            }
            out
        }

        fn split_piece<'a>(piece: &'a str, out: &mut Vec<&'a str>) {
            let word_start = piece.find(|c| !is_punct(c)).unwrap_or(piece.len());
            let word_end =
                piece.rfind(|c| !is_punct(c)).map_or(0, |i| i + piece[i..].chars().next().map_or(0, char::len_utf8));
            let chars = |s: &'a str, out: &mut Vec<&'a str>| {
                s.char_indices().for_each(|(i, c)| out.push(&s[i..i + c.len_utf8()]))
            };
            chars(&piece[..word_start], out);
            if word_start < word_end {
                let word = &piece[word_start..word_end];
                let lower = word.to_ascii_lowercase();
                let suffix = ["n't", "'ll", "'re", "'ve", "'s", "'m", "'d"]
                    .into_iter()
                    .find(|s| lower.ends_with(s) && word.len() > s.len());
                match suffix {
                    Some(s) => {
                        out.push(&word[..word.len() - s.len()]);
                        out.push(&word[word.len() - s.len()..]);
                    }
                    None => out.push(word),
                }
                chars(&piece[word_end..], out);
            }
        }

        pub fn lines(text: &str) -> Vec<&str> {
            let mut out = Vec::new();
            let mut start = 0;
            let mut chars = text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if matches!(
                    c,
                    '\n' | '\r'
                        | '\u{b}'
                        | '\u{c}'
                        | '\u{1c}'
                        | '\u{1d}'
                        | '\u{1e}'
                        | '\u{85}'
                        | '\u{2028}'
                        | '\u{2029}'
                ) {
                    out.push(&text[start..i]);
                    start = i + c.len_utf8();
                    if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                        chars.next();
                        start += 1;
                    }
                }
            }
            if start < text.len() {
                out.push(&text[start..]);
            }
            out
        }

        pub fn line_stats(text: &str) -> [usize; 3] {
            let lines = lines(text);
            let bullets = lines.iter().filter(|l| l.trim_start_matches(is_py_space).starts_with(['•', '-'])).count();
            let ellipses = lines
                .iter()
                .map(|l| l.trim_end_matches(is_py_space))
                .filter(|l| l.ends_with("...") || l.ends_with('…'))
                .count();
            [lines.len(), bullets, ellipses]
        }
    }

    /// Pieces that random test texts are made of: every byte class, the
    /// always-split tokens, contractions, stop words, Unicode whitespace,
    /// punctuation, letters and line breaks, and runs long enough for the
    /// 8-byte steps.
    #[rustfmt::skip]
    const ATOMS: &[&str] = &[
        "a", "z", "Q", "0", "9", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e",
        "\x1f", "\0", "\x7f", ".", "..", "...", "....", ",", ":", ";", "#", "?", "(", ")", "<", ">", "\"", "'", "`",
        "*", "_", "/", "-", "--", "…", "n't", "N'T", "'s", "'LL", "'re", "'ve", "'m", "'d", "don", "the", "The",
        "and", "of", "é", "ß", "日本", "한국어", "Ж", "٣", "👍", "€", "→", "«", "»", "—", "’", "•", "\u{85}", "\u{a0}",
        "\u{2028}", "\u{2029}", "\u{3000}", "\u{2009}", "\u{200b}", "\u{feff}", "\u{80}", "ⁿ", "Ⅻ", "\u{301}", "ª",
        "\u{10FFFF}", "1,000", "12:30", "e.g", "x-ray", "abcdefgh", "ijklmnopqrstu", "0123456789", "        ", "- ",
        "• ", "...\n",
    ];

    /// Random texts from [`ATOMS`], from a fixed seed.
    fn random_texts(count: usize) -> Vec<String> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        (0..count)
            .map(|_| {
                let len = [8, 40, 300][next(3)];
                // Each text favours a few atoms, so that some are dense in one kind.
                let (base, spread) = (next(ATOMS.len()), 1 + next(ATOMS.len()));
                (0..next(len))
                    .map(|_| {
                        if next(3) == 0 { ATOMS[next(ATOMS.len())] } else { ATOMS[(base + next(spread)) % ATOMS.len()] }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn scans_agree_with_the_reference_on_random_texts() {
        let configs = [
            Config::default(),
            Config {
                stop_words: ["...", "#", "n't", "'s", "é", "日本", "a", "-", "\0", "abcdefghijklmnop", "ijklmnopqrstu"]
                    .map(String::from)
                    .to_vec(),
                ..Config::default()
            },
        ];
        let filters: Vec<_> = configs.iter().map(|c| GopherQuality::new(c.clone()).expect("valid")).collect();
        for text in random_texts(4000) {
            let tokens = tokenize(&text);
            assert_eq!(tokens, reference::tokenize(&text), "{text:?}");
            let mut lines = Vec::new();
            for_each_line(&text, |l| lines.push(l));
            assert_eq!(lines, reference::lines(&text), "{text:?}");
            let l = line_stats(&text);
            assert_eq!([l.lines, l.bullet_lines, l.ellipsis_lines], reference::line_stats(&text), "{text:?}");
            for (f, c) in filters.iter().zip(&configs) {
                // The statistics as the crate documentation defines them, from the tokens.
                let symbol = |t: &&str| t.chars().all(is_punct);
                let expected = WordStats {
                    words: tokens.len(),
                    non_symbol_words: tokens.iter().filter(|t| !symbol(t)).count(),
                    non_symbol_chars: tokens.iter().filter(|t| !symbol(t)).map(|t| t.chars().count()).sum(),
                    alpha_words: tokens.iter().filter(|t| t.chars().any(char::is_alphabetic)).count(),
                    stop_words: c
                        .stop_words
                        .iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .filter(|w| tokens.contains(&w.as_str()))
                        .count(),
                    hashes: text.matches('#').count(),
                    ellipses: text.matches("...").count() + text.matches('…').count(),
                };
                assert_eq!(f.word_stats(&text), expected, "{text:?}");
            }
        }
    }

    #[test]
    fn fast_alphabetic_ranges_are_letters() {
        for c in ('\u{80}'..='\u{D7A3}').filter(|&c| is_alphabetic(c)) {
            assert!(c.is_alphabetic(), "{c:?}");
        }
        for c in ['é', 'Ā', 'ɏ', 'ぁ', 'ヺ', '一', '龥', '가', '힣'] {
            assert!(is_alphabetic(c), "{c:?}");
        }
        assert!(!is_alphabetic('×') && !is_alphabetic('÷') && !is_alphabetic('’'));
    }

    #[test]
    fn stop_words_lookup() {
        let words: Vec<String> =
            ["the", "the", "a", "\0", "\0\0", "abcdefgh", "abcdefghi", "é", ""].map(String::from).to_vec();
        let stop = StopWords::new(&words);
        let is_stop = |t: &str| {
            // The token at the end of a longer text, and alone.
            let text = format!("xyzxyzxyz{t}");
            let at = text.len() - t.len();
            let alone = stop.contains(t.as_bytes(), 0, t.len());
            assert_eq!(stop.contains(text.as_bytes(), at, text.len()), alone, "{t:?}");
            alone
        };
        for w in ["the", "a", "\0", "\0\0", "abcdefgh", "abcdefghi", "é"] {
            assert!(is_stop(w), "{w:?}");
        }
        for w in ["th", "thee", "The", "b", "\0\0\0", "abcdefg", "abcdefghij", "e", "ab"] {
            assert!(!is_stop(w), "{w:?}");
        }
        // Many stop words: the table grows and still finds each.
        let many: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        let stop = StopWords::new(&many);
        assert!(many.iter().all(|w| stop.contains(w.as_bytes(), 0, w.len())));
        assert!(!stop.contains(b"w500", 0, 4));
    }

    #[test]
    fn swar_helpers() {
        assert_eq!(skip_alnum(b"abc", 0), 3);
        assert_eq!(skip_alnum(b"abcdefghijklmnop q", 0), 16);
        assert_eq!(skip_alnum(b"ab\xC3\xA9", 0), 2);
        assert_eq!(skip_alnum(b"ab", 2), 2);
        for (i, byte) in (0..=255u8).enumerate() {
            let alnum = non_alnum_bytes(u64::from(byte)) & 0x80 == 0;
            assert_eq!(alnum, byte.is_ascii_alphanumeric(), "{i}");
            let candidate = break_bytes(u64::from(byte) << 8) & 0x8000 != 0;
            assert_eq!(candidate, !(0x20..0x80).contains(&byte), "{i}");
            // In every byte position, among other bytes that are not letters.
            for at in 0..8 {
                let v = u64::from_le_bytes(*b"1_2-3.4:") & !(0xFF << (8 * at)) | u64::from(byte) << (8 * at);
                assert_eq!(has_ascii_letter(v), byte.is_ascii_alphabetic(), "{i} at {at}");
            }
        }
        assert_eq!(load8(b"abc", 1), u64::from_le_bytes(*b"bc\0\0\0\0\0\0"));
        assert_eq!(load8(b"abc", 3), 0);
    }

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
        let mut w = vec!["the", "and", "abcdefghijklmnopq", "abcdefghijklmnopq"];
        w.extend(std::iter::repeat_n("abcdefghij", 46));
        assert_eq!(check(&w.join(" ")), None);
        w[10] = "abcdefghijk";
        assert_eq!(check(&w.join(" ")), Some("gopher_above_avg_threshold"));
    }

    #[test]
    fn average_word_length_counts_chars_not_bytes() {
        // "äöü" has 3 chars and 6 bytes.
        let w: Vec<&str> = (0..50).map(|i| ["the", "and"].get(i).copied().unwrap_or("äöü")).collect();
        assert_eq!(check(&w.join(" ")), None);
    }

    #[test]
    fn stop_words_count_once_each_as_in_datatrove() {
        // Fifty words, two of them stop words: `the the` is one distinct stop word.
        let text = |a: &str, b: &str| {
            let mut w = vec![a, b];
            w.extend(std::iter::repeat_n("word", 48));
            w.join(" ")
        };
        assert_eq!(check(&text("the", "the")), Some("gopher_enough_stop_words"));
        assert_eq!(check(&text("the", "of")), None);
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
