//! Reading one rating: `4`, `4/5`, `4.5 out of 5`, `Rating: 4`, `[4]`,
//! `is rated 4`, and telling them apart from ranges (`3-4`, `4 or 5`) and from
//! numbers that are not ratings (`4th`, `80%`, `2023`).

use regex::Regex;

/// A rating as written: the number and, when given, what it is out of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// The number.
    pub value: f64,
    /// The denominator of `4/5` or `4 out of 5`.
    pub out_of: Option<f64>,
}

/// What the start of a text says.
#[derive(Debug, Clone, PartialEq)]
pub enum Leading<'a> {
    /// A rating, then the rest of the text.
    Rating(Rating, &'a str),
    /// Two numbers where one is expected: `3-4`, `4 or 5`.
    Range,
    /// No rating here.
    Nothing,
}

/// Whether a rating keyword (`rating`, `score`, `grade`) must come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `4` and `Rating: 4` both read.
    Optional,
    /// Only `Rating: 4` reads.
    Required,
}

/// The compiled patterns.
#[derive(Debug, Clone)]
pub struct RatingSyntax {
    optional: Regex,
    required: Regex,
    scale_note: Regex,
    range: Regex,
    keyword_anywhere: Regex,
    fraction_anywhere: Regex,
    verb_phrase: Regex,
}

/// A number as a rating: up to three ASCII digits, optional decimals.
const NUMBER: &str = r"([0-9]{1,3}(?:\.[0-9]+)?)";
/// `rating:`, `score =`, `rated`, `grade is`…
const KEYWORD: &str = r#"(?:rating|score|grade|rated|rate)s?["*]*\s*(?:[:=\-]|is\b|of\b|as\b|at\b)?[\s*"]*"#;

impl RatingSyntax {
    /// Compiles the patterns.
    pub fn new() -> Result<Self, regex::Error> {
        let verb = r"(?:(?:is|was|gets|receives|deserves|earns)\s+)?(?:an?\s+)?";
        let out_of = format!(r"(?:\s*\(?\s*(?:/|out\s+of|of)\s*{NUMBER}\)?)?");
        let tail = format!(r"(?:an?\s+)?[(\[]?\s*{NUMBER}{out_of}");
        Ok(RatingSyntax {
            optional: Regex::new(&format!(r"(?i)^{verb}(?:{KEYWORD})?{tail}"))?,
            required: Regex::new(&format!(r"(?i)^{KEYWORD}{tail}"))?,
            scale_note: Regex::new(
                r"(?i)^[(\[]\s*(?:on\s+a\s+)?(?:scale\s*(?:of\s*)?:?\s*)?[0-9]{1,3}\s*(?:-|–|to)\s*[0-9]{1,3}\s*[)\]]",
            )?,
            range: Regex::new(r"(?i)^(?:[-–][0-9]|,[0-9]|\s+(?:to|or|and)\s+[0-9])")?,
            keyword_anywhere: Regex::new(&format!(
                r"(?i)\b(?:rating|score|grade)s?\s*(?:[:=]|is\b)?\s*{NUMBER}{out_of}"
            ))?,
            fraction_anywhere: Regex::new(&format!(r"(?i){NUMBER}\s*(?:/|out\s+of)\s*{NUMBER}"))?,
            verb_phrase: Regex::new(&format!(
                r"(?i)\b(?:rate|rated|give|gave|giving|assign|assigned|award|awarded|scored?)\b(?:\s+[\w']+){{0,3}}?\s+(?:as\s+)?(?:an?\s+)?{NUMBER}{out_of}\s*(?:$|[.,;!)\]])"
            ))?,
        })
    }

    /// The rating at the start of `text`, after separators (`:`, `-`, `|`…)
    /// and a scale note such as `(1-5)`.
    pub fn leading<'a>(&self, text: &'a str, keyword: Keyword) -> Leading<'a> {
        let mut text = trim_separators(text);
        if let Some(m) = self.scale_note.find(text) {
            text = trim_separators(&text[m.end()..]);
        }
        let re = match keyword {
            Keyword::Optional => &self.optional,
            Keyword::Required => &self.required,
        };
        let Some(caps) = re.captures(text) else { return Leading::Nothing };
        let (Some(all), Some(value)) = (caps.get(0), caps.get(1).and_then(|m| m.as_str().parse::<f64>().ok())) else {
            return Leading::Nothing;
        };
        let rest = &text[all.end()..];
        if self.range.is_match(rest) {
            return Leading::Range;
        }
        // `1 = poor, 5 = excellent`: the scale explained, not a rating.
        if rest.trim_start().starts_with('=') {
            return Leading::Nothing;
        }
        // `4th`, `80%`, `2023`, `4.5.1`: a number, but not a rating.
        if glued(text, all.end()) || rest.strip_prefix('.').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Leading::Nothing;
        }
        let out_of = caps.get(2).and_then(|m| m.as_str().parse::<f64>().ok());
        Leading::Rating(Rating { value, out_of }, rest)
    }

    /// Ratings stated anywhere in `text`: after a keyword (`… score: 4`), in
    /// a phrase that ends a clause (`I would rate it a 4.`, `I give it 4/5`),
    /// or as a fraction of `max` (`… 4/5`). Fractions of another denominator
    /// are taken for counts (`3/4 of the claims`) and left alone.
    pub fn anywhere(&self, text: &str, max: u32) -> Vec<Rating> {
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for caps in self.keyword_anywhere.captures_iter(text).chain(self.verb_phrase.captures_iter(text)) {
            if let (Some(all), Some(value)) = (caps.get(0), caps.get(1).and_then(|m| m.as_str().parse().ok()))
                && !glued(text, all.end())
                && !taken.iter().any(|r: &std::ops::Range<usize>| r.start < all.end() && all.start() < r.end)
            {
                let out_of = caps.get(2).and_then(|m| m.as_str().parse().ok());
                out.push(Rating { value, out_of });
                taken.push(all.range());
            }
        }
        for caps in self.fraction_anywhere.captures_iter(text) {
            let (Some(all), Some(value), Some(out_of)) = (
                caps.get(0),
                caps.get(1).and_then(|m| m.as_str().parse().ok()),
                caps.get(2).and_then(|m| m.as_str().parse::<f64>().ok()),
            ) else {
                continue;
            };
            if out_of == f64::from(max)
                && !glued(text, all.end())
                && !taken.iter().any(|r| r.start < all.end() && all.start() < r.end)
            {
                out.push(Rating { value, out_of: Some(out_of) });
            }
        }
        out
    }
}

/// Whether the number ending at `end` goes on (`2023`, `4th`, `80%`).
fn glued(text: &str, end: usize) -> bool {
    text.get(end..).is_some_and(|rest| rest.starts_with(|c: char| c.is_alphanumeric() || c == '%' || c == '_'))
}

/// `text` without the separators and decorations that come between a label
/// and its rating or rationale.
pub fn trim_separators(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || ":=|-—–>*_{}\"',;.)]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax() -> RatingSyntax {
        RatingSyntax::new().expect("patterns compile")
    }

    fn leading(text: &str) -> Option<(f64, Option<f64>, String)> {
        match syntax().leading(text, Keyword::Optional) {
            Leading::Rating(r, rest) => Some((r.value, r.out_of, trim_separators(rest).to_string())),
            Leading::Range => Some((-1.0, None, "range".into())),
            Leading::Nothing => None,
        }
    }

    #[test]
    fn plain_and_decorated_ratings() {
        assert_eq!(leading(": 4"), Some((4.0, None, String::new())));
        assert_eq!(leading(": 4 - Clear and complete."), Some((4.0, None, "Clear and complete.".into())));
        assert_eq!(leading(" — 4 out of 5"), Some((4.0, Some(5.0), String::new())));
        assert_eq!(leading(": 4/5"), Some((4.0, Some(5.0), String::new())));
        assert_eq!(leading(": 4.5 / 5."), Some((4.5, Some(5.0), String::new())));
        assert_eq!(leading(" (4/5): good"), Some((4.0, Some(5.0), "good".into())));
        assert_eq!(leading(": [4]"), Some((4.0, None, String::new())));
        assert_eq!(leading(" | 3 | Some errors |"), Some((3.0, None, "Some errors |".into())));
        assert_eq!(leading(": Rating: 2"), Some((2.0, None, String::new())));
        assert_eq!(leading(" score = 5"), Some((5.0, None, String::new())));
        assert_eq!(leading(" is rated 3 because"), Some((3.0, None, "because".into())));
        assert_eq!(leading(" gets a 4."), Some((4.0, None, String::new())));
        assert_eq!(leading(" (1-5): 4 – fine"), Some((4.0, None, "fine".into())));
        assert_eq!(leading("\": 4,"), Some((4.0, None, String::new())));
        assert_eq!(leading(" 4 of 5"), Some((4.0, Some(5.0), String::new())));
        assert_eq!(leading(" 4 (out of 5) - ok"), Some((4.0, Some(5.0), "ok".into())));
        assert_eq!(leading(" 4 - 3 of the 4 claims hold"), Some((4.0, None, "3 of the 4 claims hold".into())));
    }

    #[test]
    fn ranges_are_flagged() {
        for text in [": 3-4", ": 3–4", ": 4 or 5", ": 3 to 4", ": 4,5"] {
            assert_eq!(syntax().leading(text, Keyword::Optional), Leading::Range, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_ratings() {
        for text in
            [" (1 = poor, 5 = great)", ": 4th place", ": 80%", ": 2023 was a year", ": 1.2.3", ": N/A", ": good", ""]
        {
            assert_eq!(syntax().leading(text, Keyword::Optional), Leading::Nothing, "{text}");
        }
    }

    #[test]
    fn keyword_can_be_required() {
        let s = syntax();
        assert!(matches!(s.leading("Rating: 4", Keyword::Required), Leading::Rating(Rating { value: 4.0, .. }, _)));
        assert!(matches!(s.leading("**Score:** 4/5", Keyword::Required), Leading::Rating(_, _)));
        assert_eq!(s.leading("4", Keyword::Required), Leading::Nothing);
        assert_eq!(s.leading("Reasoning: 4 claims", Keyword::Required), Leading::Nothing);
    }

    #[test]
    fn ratings_anywhere() {
        let s = syntax();
        let r = s.anywhere("The answer is thorough and accurate, so I give it 4/5.", 5);
        assert_eq!(r, [Rating { value: 4.0, out_of: Some(5.0) }]);
        let r = s.anywhere("Mostly right (score: 3).", 5);
        assert_eq!(r, [Rating { value: 3.0, out_of: None }]);
        assert!(s.anywhere("Only 3/4 of the claims hold.", 5).is_empty());
        let r = s.anywhere("Score: 4/5", 5);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(s.anywhere("Ratings 2023 and 4/50", 5).is_empty());
        for phrase in ["Therefore, I rate it 4.", "I would rate this response a 4", "I'd give it 4/5!", "scored 4."] {
            assert_eq!(s.anywhere(phrase, 5).first().map(|r| r.value), Some(4.0), "{phrase}");
        }
        for prose in ["It gives 3 examples.", "I rate it 4 because", "rated 3rd", "awarded 2023 prizes."] {
            assert!(s.anywhere(prose, 5).is_empty(), "{prose}");
        }
    }
}
