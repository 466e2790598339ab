//! The checks a rewrite must pass, in order: not empty; no personal data
//! left; a placeholder for every piece of personal data in the original; no
//! prompt markers, wrapping or preamble the original does not have; close
//! enough to the original.

use kiln_pii::{Counts, Detector, Kind, Placeholders, Span};

use crate::mask::mask;
use crate::prompt::{BEGIN, END};
use crate::similarity::similarity;

/// Why a rewrite is rejected. The message is the reject reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// Nothing left of a non-empty original.
    #[error("rewrite is empty")]
    Empty,
    /// Personal data survived; the string describes it, masked.
    #[error("still contains {0}")]
    Leak(String),
    /// Fewer placeholders of a kind than the original has personal data of it.
    #[error(
        "dropped personal data instead of replacing it: the original has {}, the rewrite {} `{placeholder}` \
         placeholder{}",
        count_phrase(*original, *kind),
        rewrite,
        if *rewrite == 1 { "" } else { "s" }
    )]
    Dropped {
        /// The kind.
        kind: Kind,
        /// How many the original has.
        original: usize,
        /// How many placeholders the rewrite has.
        rewrite: usize,
        /// The placeholder expected.
        placeholder: String,
    },
    /// The model echoed the prompt's markers.
    #[error("rewrite contains the prompt's `{BEGIN}`/`{END}` markers; the model must output only the rewritten text")]
    Markers,
    /// Wrapped in a fence or quotes the original does not have.
    #[error(
        "rewrite is wrapped in {0} that the original does not have; the host stores the rewrite as returned, \
         so the model must output only the rewritten text"
    )]
    Wrapped(&'static str),
    /// Starts with a line such as `Here is the rewritten text:`.
    #[error(
        "rewrite starts with a line the original does not have ({0:?}); the model must output only the \
         rewritten text"
    )]
    Preamble(String),
    /// Too many words deleted or added.
    #[error(
        "rewrite is too different from the original: similarity {score:.2} is below min_similarity {min} \
         ({shared} of the original's {original_words} words kept, {rewrite_words} words in the rewrite)"
    )]
    TooDifferent {
        /// The similarity.
        score: f64,
        /// The threshold.
        min: f64,
        /// Words shared.
        shared: usize,
        /// Words in the original (personal data excluded).
        original_words: usize,
        /// Words in the rewrite.
        rewrite_words: usize,
    },
}

/// Checks rewrites against the detectors and the similarity threshold.
pub struct Verifier {
    /// Finds personal data of the enabled kinds.
    pub detector: Detector,
    /// The placeholders the rewrite must use.
    pub placeholders: Placeholders,
    /// The lowest acceptable similarity (see [`crate::similarity`]).
    pub min_similarity: f64,
}

/// Quote pairs a model may wrap its answer in.
const QUOTES: [(char, char); 5] = [('"', '"'), ('\'', '\''), ('“', '”'), ('‘', '’'), ('«', '»')];

impl Verifier {
    /// `Ok` when `rewrite` is an acceptable rewrite of `original`.
    pub fn check(&self, original: &str, rewrite: &str) -> Result<(), Rejection> {
        let trimmed = rewrite.trim();
        if trimmed.is_empty() {
            return if original.trim().is_empty() { Ok(()) } else { Err(Rejection::Empty) };
        }
        let leaks = self.detector.find(rewrite);
        if !leaks.is_empty() {
            return Err(Rejection::Leak(describe_leaks(rewrite, &leaks)));
        }
        let found = self.detector.find(original);
        self.check_placeholders(&found, rewrite)?;
        self.check_wrapping(original, &found, trimmed)?;
        let skip: Vec<_> = found.iter().map(|s| s.start..s.end).collect();
        let s = similarity(original, &skip, rewrite);
        if s.score < self.min_similarity {
            return Err(Rejection::TooDifferent {
                score: s.score,
                min: self.min_similarity,
                shared: s.shared,
                original_words: s.original_words,
                rewrite_words: s.rewrite_words,
            });
        }
        Ok(())
    }

    /// Every piece of personal data in the original (`found`) has its placeholder.
    fn check_placeholders(&self, found: &[Span], rewrite: &str) -> Result<(), Rejection> {
        let counts = Counts::of(found);
        for &kind in self.detector.kinds() {
            let placeholder = self.placeholders.get(kind);
            let (original, rewrite) = (counts.get(kind), rewrite.matches(placeholder).count());
            if rewrite < original {
                return Err(Rejection::Dropped { kind, original, rewrite, placeholder: placeholder.into() });
            }
        }
        Ok(())
    }

    /// No markers, fence, quotes or preamble line that the original lacks.
    fn check_wrapping(&self, original: &str, found: &[Span], trimmed: &str) -> Result<(), Rejection> {
        if (trimmed.contains(BEGIN) || trimmed.contains(END)) && !(original.contains(BEGIN) || original.contains(END)) {
            return Err(Rejection::Markers);
        }
        let original_trimmed = original.trim();
        if trimmed.starts_with("```") && !original_trimmed.starts_with("```") {
            return Err(Rejection::Wrapped("a ``` code fence"));
        }
        let mut chars = trimmed.chars();
        if let (Some(first), Some(last)) = (chars.next(), chars.next_back())
            && QUOTES.contains(&(first, last))
            && !original_trimmed.starts_with(first)
        {
            return Err(Rejection::Wrapped("quotation marks"));
        }
        let first_line = trimmed.lines().next().unwrap_or_default().trim();
        if first_line.ends_with(':') && !has_line(original, first_line) {
            let in_redacted =
                !found.is_empty() && has_line(&self.detector.redact(original, &self.placeholders).0, first_line);
            if !in_redacted {
                return Err(Rejection::Preamble(first_line.chars().take(60).collect()));
            }
        }
        Ok(())
    }
}

/// Whether `text` has a line that, trimmed, is `line`.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim() == line)
}

/// `an email address (j…@…com) and 2 phone numbers (+1…67, 55…67)`.
fn describe_leaks(rewrite: &str, spans: &[Span]) -> String {
    let mut parts = Vec::new();
    for kind in Kind::ALL {
        let of_kind: Vec<&Span> = spans.iter().filter(|s| s.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let mut masks: Vec<String> =
            of_kind.iter().take(2).map(|s| mask(kind, rewrite.get(s.start..s.end).unwrap_or_default())).collect();
        if of_kind.len() > 2 {
            masks.push("…".into());
        }
        parts.push(format!("{} ({})", count_phrase(of_kind.len(), kind), masks.join(", ")));
    }
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `an email address`, `2 phone numbers`, `no payment card number`.
fn count_phrase(n: usize, kind: Kind) -> String {
    let noun = kind.noun();
    match n {
        0 => format!("no {noun}"),
        1 => {
            let article = if matches!(kind, Kind::Email | Kind::Ipv4 | Kind::Ipv6) { "an" } else { "a" };
            format!("{article} {noun}")
        }
        n if noun.ends_with("ss") => format!("{n} {noun}es"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_phrases() {
        assert_eq!(count_phrase(1, Kind::Email), "an email address");
        assert_eq!(count_phrase(3, Kind::Email), "3 email addresses");
        assert_eq!(count_phrase(1, Kind::Card), "a payment card number");
        assert_eq!(count_phrase(2, Kind::Phone), "2 phone numbers");
        assert_eq!(count_phrase(0, Kind::Ipv6), "no IPv6 address");
    }

    #[test]
    fn leaks_are_grouped_by_kind_and_masked() {
        let text = "a@b.io, c@d.org, e@f.net and 10.0.0.1";
        let detector = Detector::new(&Kind::ALL).expect("valid kinds");
        let described = describe_leaks(text, &detector.find(text));
        assert_eq!(described, "3 email addresses (a…@…io, c…@…org, …) and an IPv4 address (10….1)");
    }
}
