//! The solution format, one operation per line, and the record format.
//!
//! ```text
//! Step 1: 120 + 45 = 165
//! Step 2: 165 - 30 = 135
//! Answer: 135
//! ```
//!
//! Parsing is lenient about what models add around it (a preamble, markdown
//! bullets or bold, `×` or `−`, thousands separators, units after a number)
//! and keeps a step line it cannot read as [`StepLine::Unreadable`] so that a
//! verifier can count it as wrong instead of silently skipping it.

use crate::parse::{strip_label, undecorated};
use crate::problem::Op;

/// One arithmetic step: `a op b = result`, as claimed (not necessarily true).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Left operand.
    pub a: i64,
    /// The operation.
    pub op: Op,
    /// Right operand.
    pub b: i64,
    /// The claimed result.
    pub result: i64,
}

impl Step {
    /// The true value of `a op b` (`None` on overflow).
    pub fn true_result(&self) -> Option<i64> {
        self.op.apply(self.a, self.b)
    }

    /// Whether the claimed result is the true one.
    pub fn is_correct(&self) -> bool {
        self.true_result() == Some(self.result)
    }

    /// `a op b = result`.
    pub fn equation(&self) -> String {
        format!("{} {} {} = {}", self.a, self.op.symbol(), self.b, self.result)
    }
}

/// A correct (or simulated) solution in the canonical format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// One step per operation.
    pub steps: Vec<Step>,
    /// The final answer.
    pub answer: i64,
}

impl Solution {
    /// `Step k: a op b = c` lines, then `Answer: n`, joined by newlines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("Step {}: {}\n", i + 1, step.equation()));
        }
        out.push_str(&format!("Answer: {}", self.answer));
        out
    }
}

/// A line of a solution that starts with `Step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLine {
    /// It reads as `a op b = c`.
    Parsed(Step),
    /// It does not; the text after its `Step k:` label, whitespace normalised.
    Unreadable(String),
}

/// What a solution text says: its step lines and its final answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedSolution {
    /// Every line that starts with `Step`, in order.
    pub steps: Vec<StepLine>,
    /// The number on the last `Answer:` line, if it has one.
    pub answer: Option<i64>,
    /// The text of the last `Answer:` line after its label, if there is one.
    pub answer_text: Option<String>,
}

impl ParsedSolution {
    /// The steps renumbered from 1 and an `Answer:` line if there is a numeric
    /// answer, in the canonical format; unreadable steps are kept as written.
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                StepLine::Parsed(step) => format!("Step {}: {}", i + 1, step.equation()),
                StepLine::Unreadable(body) => format!("Step {}: {body}", i + 1),
            })
            .collect();
        if let Some(answer) = self.answer {
            lines.push(format!("Answer: {answer}"));
        }
        lines.join("\n")
    }
}

/// An integer at the start of `s` (after spaces): optional sign, digits with
/// optional thousands commas. Returns it and the rest of `s`.
fn leading_integer(s: &str) -> Option<(i64, &str)> {
    let s = s.trim_start();
    let (negative, body) = match s.strip_prefix(['-', '−']) {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (c == ',' && body[i + 1..].starts_with(|d: char| d.is_ascii_digit()))))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 || !body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = body[..end].chars().filter(char::is_ascii_digit).collect();
    let value: i64 = digits.parse().ok()?;
    Some((if negative { -value } else { value }, &body[end..]))
}

/// Reads `a op b = c` (trailing words after `c`, like units, are ignored).
fn parse_equation(body: &str) -> Option<Step> {
    let body = body.replace("**", "");
    let (lhs, rhs) = body.split_once('=')?;
    let (a, rest) = leading_integer(lhs)?;
    let rest = rest.trim_start();
    let symbol = rest.chars().next()?;
    let op = Op::from_symbol(symbol.encode_utf8(&mut [0; 4]))?;
    let (b, tail) = leading_integer(&rest[symbol.len_utf8()..])?;
    if !tail.trim().is_empty() {
        return None;
    }
    let (result, _) = leading_integer(rhs.trim_start_matches([' ', '$']))?;
    Some(Step { a, op, b, result })
}

/// The text after a `Step k:` label, or `None` if the line is not a step.
fn step_body(line: &str) -> Option<&str> {
    let head = line.get(..4)?;
    if !head.eq_ignore_ascii_case("step") {
        return None;
    }
    let rest = line[4..].trim_start();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.trim_start().strip_prefix([':', '.', ')'])?;
    Some(rest.trim_start_matches(['*', ' ', '\t']).trim())
}

/// Parses the step lines and final answer out of a solution text (anything
/// else in it, such as a preamble or a restated question, is ignored).
pub fn parse_solution(text: &str) -> ParsedSolution {
    let mut parsed = ParsedSolution::default();
    for line in text.lines().map(undecorated) {
        if let Some(body) = step_body(line) {
            parsed.steps.push(match parse_equation(body) {
                Some(step) => StepLine::Parsed(step),
                None => StepLine::Unreadable(body.split_whitespace().collect::<Vec<_>>().join(" ")),
            });
        } else if let Some(rest) = strip_label(line, "answer").or_else(|| strip_label(line, "final answer")) {
            let rest = rest.trim_matches(['*', ' ']);
            parsed.answer = leading_integer(rest.trim_start_matches('$')).map(|(n, _)| n);
            parsed.answer_text = Some(rest.to_string());
        }
    }
    parsed
}

/// The final answer a text gives, for exact-match evaluation: the number on
/// its last `Answer:` line, or else the last integer anywhere in it (so that
/// "... so she has 42 marbles." counts as 42). `None` if it has neither.
pub fn extract_answer(text: &str) -> Option<i64> {
    let parsed = parse_solution(text);
    if parsed.answer_text.is_some() {
        return parsed.answer;
    }
    let bytes = text.as_bytes();
    let (mut i, mut last) = (0, None);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A minus sign counts when it starts a word: "ends with -3", not "7-2".
        let signed = i > 0 && bytes[i - 1] == b'-' && (i < 2 || bytes[i - 2].is_ascii_whitespace());
        match leading_integer(&text[if signed { i - 1 } else { i }..]) {
            Some((n, tail)) => {
                last = Some(n);
                i = text.len() - tail.len();
            }
            None => i += 1,
        }
    }
    last
}

/// A record's text: `Question: <question>`, `Solution:`, then the solution body
/// (its step lines and `Answer:` line).
pub fn record_text(question: &str, solution: &str) -> String {
    format!("Question: {}\nSolution:\n{}", question.trim(), solution.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_canonical_format() {
        let text = "Step 1: 120 + 45 = 165\nStep 2: 165 - 30 = 135\nStep 3: 135 * 2 = 270\nAnswer: 270";
        let p = parse_solution(text);
        assert_eq!(p.steps.len(), 3);
        assert_eq!(p.steps[2], StepLine::Parsed(Step { a: 135, op: Op::Mul, b: 2, result: 270 }));
        assert_eq!(p.answer, Some(270));
        assert_eq!(p.render(), text);
    }

    #[test]
    fn tolerates_what_models_add() {
        let text = "Sure! Let's solve it.\n\n- **Step 1:** 1,203 − 7 = 1,196 marbles\n  step 2) 1196 × 3 = 3588\n\
                    STEP 3. 3588+12=3600\n**Final answer:** **3600 marbles**";
        let p = parse_solution(text);
        assert_eq!(
            p.steps,
            vec![
                StepLine::Parsed(Step { a: 1203, op: Op::Sub, b: 7, result: 1196 }),
                StepLine::Parsed(Step { a: 1196, op: Op::Mul, b: 3, result: 3588 }),
                StepLine::Parsed(Step { a: 3588, op: Op::Add, b: 12, result: 3600 }),
            ]
        );
        assert_eq!(p.answer, Some(3600));
    }

    #[test]
    fn step_labels_and_equations() {
        assert_eq!(step_body("Step 3: 1 + 1 = 2"), Some("1 + 1 = 2"));
        assert_eq!(step_body("Step: 1 + 1 = 2"), Some("1 + 1 = 2"));
        assert_eq!(step_body("Steps are easy"), None);
        assert_eq!(step_body("Stepping"), None);
        assert_eq!(parse_equation("3+2=5"), Some(Step { a: 3, op: Op::Add, b: 2, result: 5 }));
        assert_eq!(parse_equation("3 x 2 = 6"), Some(Step { a: 3, op: Op::Mul, b: 2, result: 6 }));
        assert_eq!(parse_equation("10 - 12 = -2"), Some(Step { a: 10, op: Op::Sub, b: 12, result: -2 }));
        assert_eq!(parse_equation("I add 3 and 2"), None);
        assert_eq!(parse_equation("523 + 4"), None);
        assert_eq!(parse_equation("3 + 2 + 1 = 6"), None, "one operation per step");
        assert_eq!(parse_equation("99999999999999999999 + 1 = 2"), None);
    }

    #[test]
    fn keeps_unreadable_steps_and_missing_answers_visible() {
        let p = parse_solution("Step 1: 3 + 2 = 5\nStep 2:   I   double it\nAnswer: five");
        assert_eq!(p.steps[1], StepLine::Unreadable("I double it".into()));
        assert_eq!(p.answer, None);
        assert_eq!(p.answer_text.as_deref(), Some("five"));
        assert_eq!(p.render(), "Step 1: 3 + 2 = 5\nStep 2: I double it");
        let p = parse_solution("Maya has 5 marbles in the end.");
        assert!(p.steps.is_empty() && p.answer.is_none() && p.answer_text.is_none());
    }

    #[test]
    fn correct_steps_are_recognised() {
        assert!(Step { a: 623, op: Op::Sub, b: 129, result: 494 }.is_correct());
        assert!(!Step { a: 623, op: Op::Sub, b: 129, result: 484 }.is_correct());
        assert!(!Step { a: i64::MAX, op: Op::Add, b: 1, result: 0 }.is_correct());
    }

    #[test]
    fn extracts_answers_for_exact_match() {
        assert_eq!(extract_answer("Step 1: 3 + 2 = 5\nAnswer: 5"), Some(5));
        assert_eq!(extract_answer("Answer: 1,234 stickers"), Some(1234));
        assert_eq!(extract_answer("So Maya has 42 marbles."), Some(42));
        assert_eq!(extract_answer("She ends with -3, which is odd"), Some(-3));
        assert_eq!(extract_answer("Answer: unsure, maybe 4"), None, "an Answer line without a number is no answer");
        assert_eq!(extract_answer("no idea"), None);
        assert_eq!(extract_answer("x-3 and 7-2"), Some(2));
    }

    #[test]
    fn solutions_render_and_records_compose() {
        let s = Solution { steps: vec![Step { a: 3, op: Op::Add, b: 2, result: 5 }], answer: 5 };
        assert_eq!(s.render(), "Step 1: 3 + 2 = 5\nAnswer: 5");
        assert_eq!(
            record_text(" Q? ", "Step 1: 3 + 2 = 5\nAnswer: 5\n"),
            "Question: Q?\nSolution:\nStep 1: 3 + 2 = 5\nAnswer: 5"
        );
    }
}
