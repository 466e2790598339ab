//! Reading a judge's answer: the ratings and rationales it gives each aspect,
//! checked against the rubric.
//!
//! An answer is first searched for a JSON object ([`json`]); when that holds
//! no aspect, it is read line by line ([`text`]). Either way the result is a
//! set of [`Readings`], which [`Parser::parse`] turns into scores — or into
//! an error when an aspect has no rating, a rating off the scale, or two
//! different ratings.

mod json;
mod rating;
mod text;

use kiln_pdk::{Critique, Score};

use crate::aspect::key;
use crate::config::Rubric;
use rating::{Rating, RatingSyntax};
use text::LabelPatterns;

/// The longest rationale kept, in characters.
pub const MAX_RATIONALE_CHARS: usize = 1000;
/// The longest snippet of the answer quoted in an error, in characters.
const SNIPPET_CHARS: usize = 80;

/// Why an answer does not parse. The message quotes a short snippet of it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("the judge's answer is empty")]
    Empty,
    /// Aspects without any rating.
    #[error("no rating for {aspects} in the judge's answer {snippet:?}")]
    Missing {
        /// The aspects, comma-separated.
        aspects: String,
        /// The start of the answer.
        snippet: String,
    },
    /// A rating off the scale.
    #[error("{aspect} is rated {value}, outside the scale {min} to {max}, in {snippet:?}")]
    OutOfScale {
        /// The aspect.
        aspect: String,
        /// The rating read.
        value: f64,
        /// The scale's minimum.
        min: u32,
        /// The scale's maximum.
        max: u32,
        /// Where it was read.
        snippet: String,
    },
    /// A rating out of another maximum (`4/10` on a 1–5 scale).
    #[error("{aspect} is rated out of {out_of}, but the scale goes up to {max}, in {snippet:?}")]
    OtherScale {
        /// The aspect.
        aspect: String,
        /// The denominator read.
        out_of: f64,
        /// The scale's maximum.
        max: u32,
        /// Where it was read.
        snippet: String,
    },
    /// Two different ratings for one aspect.
    #[error("{aspect} has two different ratings, {first} and {second}, in {snippet:?}")]
    Ambiguous {
        /// The aspect.
        aspect: String,
        /// The first rating read.
        first: f64,
        /// The other one.
        second: f64,
        /// Where the second was read.
        snippet: String,
    },
    /// `3-4`, `4 or 5`.
    #[error("{aspect} is given a range or a choice instead of one rating, in {snippet:?}")]
    Range {
        /// The aspect.
        aspect: String,
        /// Where it was read.
        snippet: String,
    },
    /// A JSON rating that is not a number (`"high"`, `null`).
    #[error("{aspect} has a rating that is not a number, in {snippet:?}")]
    NotANumber {
        /// The aspect.
        aspect: String,
        /// Where it was read.
        snippet: String,
    },
}

/// One rating read for an aspect, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The rating.
    pub rating: Rating,
    /// The line or JSON member it was read from.
    pub snippet: String,
}

/// A problem met while reading an aspect's rating.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A range or a choice.
    Range(String),
    /// Not a number.
    NotANumber(String),
}

/// What was read for one aspect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AspectReadings {
    /// Ratings, in answer order.
    pub ratings: Vec<Reading>,
    /// Ratings inferred from prose (`I would rate it a 4.`), used only when
    /// there is no explicit rating.
    pub inferred: Vec<Reading>,
    /// Problems, in answer order.
    pub problems: Vec<Problem>,
    /// Rationale fragments, in answer order.
    pub rationale: Vec<String>,
}

/// What was read from one answer: per aspect (in rubric order), and the text
/// that belongs to no aspect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Readings {
    /// One entry per rubric aspect.
    pub aspects: Vec<AspectReadings>,
    /// Free text outside any aspect.
    pub general: Vec<String>,
}

impl Readings {
    fn new(aspects: usize) -> Self {
        Readings { aspects: vec![AspectReadings::default(); aspects], general: Vec::new() }
    }

    /// Whether anything was read for any aspect.
    fn any_aspect(&self) -> bool {
        self.aspects.iter().any(|a| !a.ratings.is_empty() || !a.inferred.is_empty() || !a.problems.is_empty())
    }
}

/// Parses judge answers for one rubric; the patterns are compiled once.
#[derive(Debug, Clone)]
pub struct Parser {
    rubric: Rubric,
    /// `key()` of each aspect, in rubric order.
    keys: Vec<String>,
    ratings: RatingSyntax,
    labels: LabelPatterns,
}

impl Parser {
    /// A parser for `rubric`.
    pub fn new(rubric: Rubric) -> Result<Self, regex::Error> {
        let names: Vec<&str> = rubric.aspects.iter().map(|a| a.name.as_str()).collect();
        let labels = LabelPatterns::new(&names)?;
        let keys = names.iter().map(|n| key(n)).collect();
        Ok(Parser { keys, ratings: RatingSyntax::new()?, labels, rubric })
    }

    /// The rubric.
    pub fn rubric(&self) -> &Rubric {
        &self.rubric
    }

    /// The index of the aspect called `name` (any case, spacing or separators).
    fn aspect_index(&self, name: &str) -> Option<usize> {
        let k = key(name);
        self.keys.iter().position(|a| *a == k)
    }

    /// The scores (one per aspect, then `overall` if enabled) and rationale in `answer`.
    pub fn parse(&self, answer: &str) -> Result<Critique, ParseError> {
        if answer.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        let readings =
            json::read(self, answer).filter(Readings::any_aspect).unwrap_or_else(|| text::read(self, answer));
        self.critique(readings, answer)
    }

    fn critique(&self, readings: Readings, answer: &str) -> Result<Critique, ParseError> {
        let scale = self.rubric.scale;
        let mut scores = Vec::with_capacity(self.rubric.aspects.len() + 1);
        let mut missing = Vec::new();
        for (aspect, read) in self.rubric.aspects.iter().zip(&readings.aspects) {
            let name = aspect.name.clone();
            match read.problems.first() {
                Some(Problem::Range(snippet)) => {
                    return Err(ParseError::Range { aspect: name, snippet: snippet.clone() });
                }
                Some(Problem::NotANumber(snippet)) => {
                    return Err(ParseError::NotANumber { aspect: name, snippet: snippet.clone() });
                }
                None => {}
            }
            let ratings = if read.ratings.is_empty() { &read.inferred } else { &read.ratings };
            let Some(first) = ratings.first() else {
                missing.push(name);
                continue;
            };
            for r in ratings {
                if let Some(out_of) = r.rating.out_of
                    && out_of != f64::from(scale.max)
                {
                    return Err(ParseError::OtherScale {
                        aspect: name,
                        out_of,
                        max: scale.max,
                        snippet: r.snippet.clone(),
                    });
                }
                if !scale.contains(r.rating.value) {
                    return Err(ParseError::OutOfScale {
                        aspect: name,
                        value: r.rating.value,
                        min: scale.min,
                        max: scale.max,
                        snippet: r.snippet.clone(),
                    });
                }
                if r.rating.value != first.rating.value {
                    return Err(ParseError::Ambiguous {
                        aspect: name,
                        first: first.rating.value,
                        second: r.rating.value,
                        snippet: r.snippet.clone(),
                    });
                }
            }
            scores.push(Score { name, value: first.rating.value });
        }
        if !missing.is_empty() {
            return Err(ParseError::Missing { aspects: missing.join(", "), snippet: snippet(answer) });
        }
        if self.rubric.overall && !scores.is_empty() {
            let mean = scores.iter().map(|s| s.value).sum::<f64>() / scores.len() as f64;
            scores.push(Score { name: "overall".into(), value: mean });
        }
        Ok(Critique { scores, rationale: self.rationale(&readings) })
    }

    /// `aspect: rationale` lines, or the free text when no aspect has one,
    /// cut to [`MAX_RATIONALE_CHARS`].
    fn rationale(&self, readings: &Readings) -> String {
        let per_aspect: Vec<String> = self
            .rubric
            .aspects
            .iter()
            .zip(&readings.aspects)
            .filter(|(_, r)| !r.rationale.is_empty())
            .map(|(a, r)| format!("{}: {}", a.name, r.rationale.join(" ")))
            .collect();
        let text = if per_aspect.is_empty() { readings.general.join(" ") } else { per_aspect.join("\n") };
        truncate(text.trim(), MAX_RATIONALE_CHARS)
    }
}

/// `text` cut to `max` characters, with `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
    }
}

/// A short, one-line excerpt of `text` for error messages.
pub fn snippet(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&one_line, SNIPPET_CHARS)
}

#[cfg(test)]
mod tests;
