//! Parsing word problems back into problems.
//!
//! The teacher and the verifier only ever see text, so they read the problem
//! back from its English rendering. Matching is word by word against the
//! templates of [`crate::templates`]: case, punctuation, spacing and
//! thousands separators (`1,203`) do not matter, and an operation sentence may
//! carry an extra leading connective ("Then", "After that"). Anything else is
//! refused with a [`ParseError`] that quotes the sentence it could not read.

use crate::problem::{Op, Operation, Problem};
use crate::templates::{
    ADDITIONS, CONNECTIVES, GROUPED_OPENINGS, Item, MULTIPLICATIONS, OPENINGS, QUESTIONS, SUBTRACTIONS, item_named,
};

/// Why a text is not a word problem this crate can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// There was nothing to parse.
    #[error("the question is empty")]
    Empty,
    /// The text has no `Question:` line and is not itself a word problem.
    #[error("no word problem found: expected a line starting with `Question:`")]
    NotFound,
    /// The first sentence does not state a starting amount.
    #[error("the first sentence does not say how many there are to start with: \"{0}\"")]
    NoOpening(String),
    /// The last sentence is not a question the parser knows.
    #[error("the problem does not end with a question like \"How many marbles does Maya have now?\": \"{0}\"")]
    NoQuestion(String),
    /// A sentence between the first and the question is not an operation.
    #[error("sentence {index} is not an operation this parser knows: \"{sentence}\"")]
    UnknownSentence {
        /// 1-based position of the sentence.
        index: usize,
        /// The sentence.
        sentence: String,
    },
    /// Sentences disagree about who or what the problem is about.
    #[error("sentence {index} is about {found}, but the problem is about {expected}")]
    Inconsistent {
        /// 1-based position of the sentence.
        index: usize,
        /// What the first sentence names.
        expected: String,
        /// What this sentence names.
        found: String,
    },
    /// There is nothing to compute.
    #[error("the problem has no operation between its first sentence and its question")]
    NoOperations,
    /// The numbers are too large for exact 64-bit arithmetic.
    #[error("the numbers in the problem are too large to compute exactly")]
    Overflow,
}

/// What a template matched in a sentence.
#[derive(Debug, Default)]
struct Captures {
    name: Option<String>,
    n: Option<i64>,
    k: Option<i64>,
    item: Option<&'static Item>,
}

/// Punctuation that may surround a word.
fn is_punctuation(c: char) -> bool {
    matches!(c, '.' | ',' | '?' | '!' | ';' | ':' | '"' | '\'' | '(' | ')' | '*' | '_' | '`' | '“' | '”')
}

/// The words of a text, without surrounding punctuation; empty words vanish.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().map(|w| w.trim_matches(is_punctuation)).filter(|w| !w.is_empty()).collect()
}

/// A count: digits, optionally grouped by commas (`1,203`).
fn number(word: &str) -> Option<i64> {
    let digits: String = word.chars().filter(|&c| c != ',').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Matches `sentence` against `template` word by word.
fn match_template(template: &str, sentence: &[&str]) -> Option<Captures> {
    let pattern = words(template);
    if pattern.len() != sentence.len() {
        return None;
    }
    let mut caps = Captures::default();
    for (&slot, &word) in pattern.iter().zip(sentence) {
        match slot {
            "{name}" if word.chars().all(|c| c.is_alphabetic() || c == '-') => caps.name = Some(word.to_string()),
            "{n}" => caps.n = Some(number(word)?),
            "{k}" => caps.k = Some(number(word)?),
            "{item}" | "{items}" => {
                let item = item_named(word)?;
                if caps.item.is_some_and(|seen| seen != item) {
                    return None;
                }
                caps.item = Some(item);
            }
            literal if literal.eq_ignore_ascii_case(word) => {}
            _ => return None,
        }
    }
    Some(caps)
}

/// The first template of `list` that matches, with its index.
fn match_any(list: &[&str], sentence: &[&str]) -> Option<(usize, Captures)> {
    list.iter().enumerate().find_map(|(i, t)| match_template(t, sentence).map(|c| (i, c)))
}

/// Like [`match_any`], also trying without a leading connective ("Then ...").
fn match_operation(list: &[&str], sentence: &[&str]) -> Option<(usize, Captures)> {
    match_any(list, sentence).or_else(|| {
        CONNECTIVES.iter().find_map(|connective| {
            let lead = words(connective);
            let starts =
                sentence.len() > lead.len() && lead.iter().zip(sentence).all(|(a, b)| a.eq_ignore_ascii_case(b));
            if starts { match_any(list, &sentence[lead.len()..]) } else { None }
        })
    })
}

/// The sentences of a text: split after `.`, `?` and `!`.
fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(['.', '?', '!']).map(str::trim).filter(|s| !words(s).is_empty()).collect()
}

/// Parses a word problem (with or without a leading `Question:`) into the
/// exact problem it states. The inverse of [`Problem::question`]:
/// `parse_question(&p.question()) == Ok(p)`.
pub fn parse_question(text: &str) -> Result<Problem, ParseError> {
    let text = text.trim();
    let text = strip_label(text, "question").unwrap_or(text);
    let sentences = sentences(text);
    let (Some(first), Some(last)) = (sentences.first(), sentences.last()) else {
        return Err(ParseError::Empty);
    };
    let mut operations = Vec::new();
    let (opening, opened) = if let Some((i, caps)) = match_any(OPENINGS, &words(first)) {
        (i, caps)
    } else if let Some((i, caps)) = match_any(GROUPED_OPENINGS, &words(first)) {
        operations.push(Operation { op: Op::Mul, operand: caps.k.unwrap_or_default(), phrasing: i });
        (i, caps)
    } else {
        return Err(ParseError::NoOpening(first.to_string()));
    };
    let (Some(name), Some(item), Some(start)) = (opened.name, opened.item, opened.n) else {
        return Err(ParseError::NoOpening(first.to_string()));
    };
    let (closing, question) =
        match_any(QUESTIONS, &words(last)).ok_or_else(|| ParseError::NoQuestion(last.to_string()))?;
    let consistent = |index: usize, caps: &Captures| -> Result<(), ParseError> {
        if let Some(found) = caps.name.as_deref().filter(|found| !found.eq_ignore_ascii_case(&name)) {
            return Err(ParseError::Inconsistent { index, expected: name.clone(), found: found.to_string() });
        }
        if let Some(found) = caps.item.filter(|found| *found != item) {
            let (expected, found) = (item.plural.to_string(), found.plural.to_string());
            return Err(ParseError::Inconsistent { index, expected, found });
        }
        Ok(())
    };
    let middle = &sentences[1..sentences.len().saturating_sub(1).max(1)];
    for (offset, sentence) in middle.iter().enumerate() {
        let index = offset + 2;
        let w = words(sentence);
        let (op, (phrasing, caps)) = [(Op::Add, ADDITIONS), (Op::Sub, SUBTRACTIONS), (Op::Mul, MULTIPLICATIONS)]
            .into_iter()
            .find_map(|(op, list)| match_operation(list, &w).map(|m| (op, m)))
            .ok_or_else(|| ParseError::UnknownSentence { index, sentence: sentence.to_string() })?;
        consistent(index, &caps)?;
        operations.push(Operation { op, operand: caps.n.unwrap_or_default(), phrasing });
    }
    consistent(sentences.len(), &question)?;
    if operations.is_empty() || sentences.len() < 2 {
        return Err(ParseError::NoOperations);
    }
    let problem = Problem { name, item, start, opening, operations, closing };
    problem.running_totals().ok_or(ParseError::Overflow)?;
    Ok(problem)
}

/// `text` without a leading `label:` (case-insensitive), or `None` if it has none.
pub(crate) fn strip_label<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let head = text.get(..label.len())?;
    let rest = text[label.len()..].trim_start().strip_prefix(':')?;
    head.eq_ignore_ascii_case(label).then(|| rest.trim_start_matches(['*', ' ', '\t']).trim())
}

/// Markdown decoration a model may put in front of a line: quote markers,
/// list bullets, headings, bold.
pub(crate) fn undecorated(line: &str) -> &str {
    line.trim().trim_start_matches(['>', '#', '-', ' ', '\t']).trim_start_matches("**").trim()
}

/// The text of the first `Question:` line in `text`, if there is one.
pub fn question_in(text: &str) -> Option<&str> {
    text.lines().find_map(|line| strip_label(undecorated(line), "question")).map(|q| q.trim_end_matches("**").trim())
}

/// The problem stated in `text`: on its `Question:` line if it has one,
/// otherwise in the whole text.
pub fn find_problem(text: &str) -> Result<Problem, ParseError> {
    match question_in(text) {
        Some(question) => parse_question(question),
        None => parse_question(text).map_err(|_| ParseError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ProblemConfig;
    use crate::templates::ITEMS;

    #[test]
    fn render_then_parse_is_the_identity_for_thousands_of_problems() {
        for config in [
            ProblemConfig::default(),
            ProblemConfig { min_terms: 8, max_terms: 8, min_digits: 6, max_digits: 6, ..Default::default() },
        ] {
            for seed in 0..3 {
                for index in 0..2000 {
                    let p = Problem::generate(seed, index, &config);
                    assert_eq!(parse_question(&p.question()), Ok(p.clone()), "{}", p.question());
                }
            }
        }
    }

    #[test]
    fn parsing_tolerates_case_spacing_separators_and_connectives() {
        let p = parse_question(
            "  question:  MAYA has 1,203 marbles.\n Then   Maya buys 45 more marbles!  and maya gives away 7 marbles. \
             how many marbles does Maya have now?",
        )
        .expect("parses");
        assert_eq!(p.start, 1203);
        assert_eq!(p.name, "MAYA");
        assert_eq!(p.item, &ITEMS[0]);
        assert_eq!(p.expression(), "1203 + 45 - 7");
        assert_eq!(p.operations[0].phrasing, 0, "matched without its connective");
    }

    #[test]
    fn grouped_opening_yields_a_first_multiplication() {
        let p = parse_question(
            "Omar fills 3 jars with 12 coins each. Omar sells 5 of the coins. How many coins does Omar have now?",
        )
        .expect("parses");
        assert_eq!(p.expression(), "12 * 3 - 5");
        assert_eq!(p.operations[0].phrasing, p.opening);
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_where() {
        assert_eq!(parse_question("   "), Err(ParseError::Empty));
        assert!(matches!(
            parse_question("Maya has 3 marbles. Maya buys 2 more marbles."),
            Err(ParseError::NoQuestion(_))
        ));
        assert!(matches!(
            parse_question("Maya wants 3 marbles. Maya buys 2 more marbles. How many marbles does Maya have now?"),
            Err(ParseError::NoOpening(_))
        ));
        assert_eq!(
            parse_question("Maya has 3 marbles. Maya divides them by 2. How many marbles does Maya have now?"),
            Err(ParseError::UnknownSentence { index: 2, sentence: "Maya divides them by 2.".into() })
        );
        assert_eq!(
            parse_question("Maya has 3 marbles. Liam buys 2 more marbles. How many marbles does Maya have now?"),
            Err(ParseError::Inconsistent { index: 2, expected: "Maya".into(), found: "Liam".into() })
        );
        assert!(matches!(
            parse_question("Maya has 3 marbles. Maya buys 2 more coins. How many marbles does Maya have now?"),
            Err(ParseError::Inconsistent { index: 2, .. })
        ));
        assert_eq!(
            parse_question("Maya has 3 marbles. How many marbles does Maya have now?"),
            Err(ParseError::NoOperations)
        );
        assert_eq!(
            parse_question("How many marbles does Maya have now?"),
            Err(ParseError::NoOpening("How many marbles does Maya have now?".into()))
        );
        assert_eq!(
            parse_question(
                "Maya has 9999999999 marbles. Maya now has 9999999999 times as many marbles as before. \
                 How many marbles does Maya have now?"
            ),
            Err(ParseError::Overflow)
        );
        assert!(parse_question("Maya has 99999999999999999999999 marbles. Maya buys 1 more marble. How many marbles does Maya have now?").is_err());
    }

    #[test]
    fn finds_the_question_line_in_a_prompt_or_record() {
        let text = "Solve this.\n\n> **Question:** Maya has 3 marbles. Maya buys 2 more marbles. How many marbles does Maya have now?\nSolution:";
        assert_eq!(find_problem(text).map(|p| p.expression()), Ok("3 + 2".into()));
        assert_eq!(
            find_problem("Maya has 3 marbles. Maya buys 2 more marbles. How many marbles does Maya have now?")
                .map(|p| p.start),
            Ok(3)
        );
        assert_eq!(find_problem("What is the capital of France?"), Err(ParseError::NotFound));
        assert_eq!(find_problem("Question: what is 2 + 2?"), Err(ParseError::NoOpening("what is 2 + 2?".into())));
    }
}
