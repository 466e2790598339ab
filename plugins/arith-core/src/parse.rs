//! Parsing questions back into problems.
//!
//! The teacher and the verifier only ever see text, so they read the problem
//! back from its rendering. A word problem is matched word by word against
//! the templates of [`crate::templates`]: case, punctuation, spacing and
//! thousands separators (`1,203`) do not matter, and an operation sentence may
//! carry an extra leading connective ("Then", "After that"). An equation
//! (`What is 47 + 38?`) is read as an expression with the usual precedence
//! and must be a chain evaluated left to right (see
//! [`QuestionStyle::Equation`]); spacing, a missing `?`, redundant
//! parentheses and the symbols `×`, `x` and `−` do not matter. Anything else
//! is refused with a [`ParseError`] that quotes what it could not read.

use crate::problem::{Op, Operation, Problem, QuestionStyle};
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
    #[error("the problem has no operation, only a starting amount")]
    NoOperations,
    /// A `What is ...?` question whose expression does not read as arithmetic.
    #[error("the question \"What is {expression}?\" is not arithmetic this parser knows: {reason}")]
    BadExpression {
        /// The text after `What is`.
        expression: String,
        /// What is wrong, e.g. `expected a number at "the capital of France"`.
        reason: String,
    },
    /// A `What is ...?` expression that is not a chain applied left to right,
    /// each operation to a single number: `5 + 3 * 2` (write `(5 + 3) * 2`).
    #[error(
        "\"{0}\" is not a chain worked out left to right: each `+`, `-` or `*` must apply a single number \
         to everything before it, like `(5 + 3) * 2 - 4`"
    )]
    NotAChain(String),
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

/// The deepest parentheses an equation may nest.
const MAX_NESTING: usize = 32;

/// A chain being read: its start and operations so far.
type Chain = (i64, Vec<(Op, i64)>);

/// A recursive-descent reader of an equation's expression (the usual
/// precedence, left associative), which accepts only left-to-right chains.
struct Expression<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Expression<'a> {
    fn rest(&self) -> &'a str {
        self.text[self.at..].trim_start()
    }

    fn fail(&self, reason: String) -> ParseError {
        ParseError::BadExpression { expression: self.text.to_string(), reason }
    }

    /// `expected <what> at "<rest>"`, or `at the end`.
    fn expected(&self, what: &str) -> ParseError {
        let rest = self.rest();
        if rest.is_empty() {
            return self.fail(format!("expected {what} at the end"));
        }
        let mut shown: String = rest.chars().take(24).collect();
        if shown.len() < rest.len() {
            shown.push('…');
        }
        self.fail(format!("expected {what} at \"{shown}\""))
    }

    fn skip_spaces(&mut self) {
        self.at = self.text.len() - self.rest().len();
    }

    /// The next character if it is one of `ops`, consumed.
    fn operator(&mut self, ops: &[Op]) -> Option<Op> {
        self.skip_spaces();
        let c = self.rest().chars().next()?;
        let op = Op::from_symbol(c.encode_utf8(&mut [0; 4])).filter(|op| ops.contains(op))?;
        self.at += c.len_utf8();
        Some(op)
    }

    /// A term the operator before it applies to: it must be a single number.
    fn operand(&self, chain: Chain) -> Result<i64, ParseError> {
        match chain {
            (n, ops) if ops.is_empty() => Ok(n),
            _ => Err(ParseError::NotAChain(self.text.to_string())),
        }
    }

    /// `sum := product (('+' | '-') product)*`
    fn sum(&mut self, depth: usize) -> Result<Chain, ParseError> {
        let mut chain = self.product(depth)?;
        while let Some(op) = self.operator(&[Op::Add, Op::Sub]) {
            let operand = self.product(depth)?;
            chain.1.push((op, self.operand(operand)?));
        }
        Ok(chain)
    }

    /// `product := factor ('*' factor)*`
    fn product(&mut self, depth: usize) -> Result<Chain, ParseError> {
        let mut chain = self.factor(depth)?;
        while let Some(op) = self.operator(&[Op::Mul]) {
            let operand = self.factor(depth)?;
            chain.1.push((op, self.operand(operand)?));
        }
        Ok(chain)
    }

    /// `factor := number | '(' sum ')'`; a number may group thousands with commas.
    fn factor(&mut self, depth: usize) -> Result<Chain, ParseError> {
        self.skip_spaces();
        let rest = self.rest();
        if let Some(inner) = rest.strip_prefix('(') {
            if depth >= MAX_NESTING {
                return Err(self.fail(format!("parentheses nest deeper than {MAX_NESTING}")));
            }
            self.at = self.text.len() - inner.len();
            let chain = self.sum(depth + 1)?;
            self.skip_spaces();
            match self.rest().strip_prefix(')') {
                Some(after) => self.at = self.text.len() - after.len(),
                None => return Err(self.expected("`)`")),
            }
            return Ok(chain);
        }
        let bytes = rest.as_bytes();
        let len = (0..bytes.len())
            .find(|&i| {
                !(bytes[i].is_ascii_digit()
                    || (bytes[i] == b',' && i > 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
            })
            .unwrap_or(bytes.len());
        if len == 0 {
            return Err(self.expected("a number"));
        }
        let n = number(&rest[..len]).ok_or(ParseError::Overflow)?;
        self.at += len;
        Ok((n, Vec::new()))
    }
}

/// The equation-style problem in `expression` (the text after `What is`).
fn parse_equation(expression: &str) -> Result<Problem, ParseError> {
    let expression = expression.trim().trim_end_matches(['?', '=', ' ', '\t', '\n', '\r']).trim_end();
    let mut reader = Expression { text: expression, at: 0 };
    let (start, operations) = reader.sum(0)?;
    if !reader.rest().is_empty() {
        return Err(reader.expected("`+`, `-`, `*` or the end"));
    }
    if operations.is_empty() {
        return Err(ParseError::NoOperations);
    }
    let problem = Problem::equation(start, operations);
    problem.running_totals().ok_or(ParseError::Overflow)?;
    Ok(problem)
}

/// The text after a leading `What is` (any case), if `text` starts with it.
fn after_what_is(text: &str) -> Option<&str> {
    let rest = text.get(..4).filter(|w| w.eq_ignore_ascii_case("what"))?;
    let rest = text[rest.len()..].strip_prefix(char::is_whitespace)?.trim_start();
    let is = rest.get(..2).filter(|w| w.eq_ignore_ascii_case("is"))?;
    let after = &rest[is.len()..];
    (after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || c.is_ascii_digit() || c == '('))
        .then_some(after)
}

/// Parses a question (with or without a leading `Question:`) into the exact
/// problem it states: an equation (`What is 47 + 38?`) or a word problem. The
/// inverse of [`Problem::question`] in either style:
/// `parse_question(&p.question()) == Ok(p)`.
pub fn parse_question(text: &str) -> Result<Problem, ParseError> {
    let text = text.trim();
    let text = strip_label(text, "question").unwrap_or(text);
    if let Some(expression) = after_what_is(text) {
        return parse_equation(expression);
    }
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
    let problem = Problem { style: QuestionStyle::Words, name, item, start, opening, operations, closing };
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
        assert_eq!(find_problem("Question: what is 2 + 2?"), Ok(Problem::equation(2, [(Op::Add, 2)])));
        assert_eq!(
            find_problem("Question: What is the capital of France?").map_err(|e| e.to_string()),
            Err("the question \"What is the capital of France?\" is not arithmetic this parser knows: \
                 expected a number at \"the capital of France\""
                .into())
        );
    }

    #[test]
    fn equations_round_trip_for_thousands_of_problems() {
        for config in [
            ProblemConfig { style: QuestionStyle::Equation, ..Default::default() },
            ProblemConfig {
                style: QuestionStyle::Equation,
                min_terms: 8,
                max_terms: 8,
                min_digits: 6,
                max_digits: 6,
                max_multiplier: 12,
                ..Default::default()
            },
            ProblemConfig {
                style: QuestionStyle::Equation,
                min_terms: 2,
                max_terms: 3,
                max_digits: 2,
                ..Default::default()
            },
        ] {
            for seed in 0..3 {
                for index in 0..2000 {
                    let p = Problem::generate(seed, index, &config);
                    let q = p.question();
                    assert!(q.starts_with("What is ") && q.ends_with('?'), "{q}");
                    assert_eq!(parse_question(&q), Ok(p.clone()), "{q}");
                    assert_eq!(parse_question(&format!("Question: {q}")), Ok(p.clone()), "{q}");
                    assert_eq!(find_problem(&format!("Solve it.\nQuestion: {q}\nSolution:")), Ok(p.clone()), "{q}");
                    let words = Problem::generate(
                        seed,
                        index,
                        &ProblemConfig { style: QuestionStyle::Words, ..config.clone() },
                    );
                    assert_eq!(words.expression(), p.expression(), "the style does not change the arithmetic");
                }
            }
        }
    }

    #[test]
    fn equations_tolerate_spacing_case_symbols_and_redundant_parentheses() {
        let p = |start, ops: &[(Op, i64)]| Ok(Problem::equation(start, ops.iter().copied()));
        assert_eq!(parse_question("What is 47+38?"), p(47, &[(Op::Add, 38)]));
        assert_eq!(parse_question("  question:   WHAT IS   47 +38  ?  "), p(47, &[(Op::Add, 38)]));
        assert_eq!(parse_question("What is 47 + 38"), p(47, &[(Op::Add, 38)]));
        assert_eq!(parse_question("What is 47 + 38 = ?"), p(47, &[(Op::Add, 38)]));
        assert_eq!(parse_question("what is 12×4 − 7?"), p(12, &[(Op::Mul, 4), (Op::Sub, 7)]));
        assert_eq!(parse_question("What is 12 x 4?"), p(12, &[(Op::Mul, 4)]));
        assert_eq!(parse_question("What is 1,203 - 7?"), p(1203, &[(Op::Sub, 7)]));
        assert_eq!(parse_question("What is(5+3)*2?"), p(5, &[(Op::Add, 3), (Op::Mul, 2)]));
        assert_eq!(parse_question("What is ((12 * 4)) + (7)?"), p(12, &[(Op::Mul, 4), (Op::Add, 7)]));
        assert_eq!(parse_question("What is 600 - 599 - 3?"), p(600, &[(Op::Sub, 599), (Op::Sub, 3)]));
    }

    #[test]
    fn equations_that_are_not_left_to_right_chains_are_refused_clearly() {
        let err = |q: &str| parse_question(q).expect_err(q).to_string();
        assert_eq!(
            parse_question("What is 5 + 3 * 2?"),
            Err(ParseError::NotAChain("5 + 3 * 2".into())),
            "read with precedence, 3 * 2 comes first: not a chain"
        );
        assert!(err("What is 5 + 3 * 2?").contains("like `(5 + 3) * 2 - 4`"));
        assert_eq!(parse_question("What is 10 - (3 + 2)?"), Err(ParseError::NotAChain("10 - (3 + 2)".into())));
        assert_eq!(parse_question("What is 7?"), Err(ParseError::NoOperations));
        assert!(err("What is 5 + ?").ends_with("expected a number at the end"), "{}", err("What is 5 + ?"));
        assert!(err("What is 5 / 2?").ends_with("expected `+`, `-`, `*` or the end at \"/ 2\""));
        assert_eq!(parse_question("What is (5 + 2 * 3)?"), Err(ParseError::NotAChain("(5 + 2 * 3)".into())));
        assert!(err("What is (5 + 2?").ends_with("expected `)` at the end"));
        assert!(err("What is 5 + -3?").ends_with("expected a number at \"-3\""));
        assert!(err("What is 5 + 3)?").ends_with("at \")\""));
        assert_eq!(parse_question("What is 99999999999999999999 + 1?"), Err(ParseError::Overflow));
        assert_eq!(parse_question("What is 9999999999 * 9999999999?"), Err(ParseError::Overflow));
        assert!(err(&format!("What is {}1{}?", "(".repeat(100), ")".repeat(100))).contains("nest deeper"));
        let long = format!("What is {}?", ["1"; 20_000].join(" + "));
        assert_eq!(parse_question(&long).map(|p| p.answer()), Ok(20_000), "long chains need no deep recursion");
    }
}
