//! The verifier: checks a worked solution against its problem, step by step, exactly.
//!
//! A solution is correct when every step's arithmetic is right, the steps
//! chain from the problem's starting amount through each of its operations
//! in order (no term skipped, repeated or invented; `+` and `*` may name
//! their operands in either order), and the `Answer:` line gives the true
//! answer. Everything is checked with exact integer arithmetic; nothing is
//! estimated.

use crate::parse::{ParseError, find_problem, question_in};
use crate::problem::{Operation, Problem};
use crate::solution::{StepLine, parse_solution};

/// The verdict on one worked solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The problem the solution was checked against.
    pub problem: Problem,
    /// Whether the solution is right in every respect.
    pub correct: bool,
    /// How many step lines the solution has.
    pub steps_total: usize,
    /// How many of them are right: true arithmetic, and the operation the
    /// problem calls for next applied to the previous step's result.
    pub steps_valid: usize,
    /// The true answer.
    pub expected_answer: i64,
    /// The number on the solution's `Answer:` line, if any.
    pub claimed_answer: Option<i64>,
    /// The first thing wrong, in words (`None` when correct).
    pub first_error: Option<String>,
}

impl Verification {
    /// `steps_valid / steps_total`, 0 when there are no steps.
    pub fn steps_valid_fraction(&self) -> f64 {
        if self.steps_total == 0 { 0.0 } else { self.steps_valid as f64 / self.steps_total as f64 }
    }

    /// A one-line explanation of the verdict, e.g. `all 3 steps check out;
    /// answer 494 is correct` or `step 2: 623 - 129 = 484 is wrong, it is 494;
    /// answer 1452 is wrong, it is 1482 (1 of 2 steps valid)`.
    pub fn rationale(&self) -> String {
        if self.correct {
            let steps = if self.steps_total == 1 {
                "the 1 step checks out".into()
            } else {
                format!("all {} steps check out", self.steps_total)
            };
            return format!("{steps}; answer {} is correct", self.expected_answer);
        }
        let mut parts: Vec<String> = self.first_error.iter().cloned().collect();
        if let Some(claimed) = self.claimed_answer.filter(|&c| c != self.expected_answer) {
            let verdict = format!("answer {claimed} is wrong, it is {}", self.expected_answer);
            if !parts.contains(&verdict) {
                parts.push(verdict);
            }
        }
        format!("{} ({} of {} steps valid)", parts.join("; "), self.steps_valid, self.steps_total)
    }
}

/// Why a text could not be verified at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The text states no problem to check the solution against.
    #[error("cannot verify: {0}")]
    NoProblem(#[from] ParseError),
}

/// `+ 45`, for messages.
fn describe(o: &Operation) -> String {
    format!("{} {}", o.op.symbol(), o.operand)
}

/// Checks a record of the form `Question: ...\nSolution:\n<steps>\nAnswer: <n>`.
/// Only a text without a readable question is an `Err`; every flaw of the
/// solution (no steps, no answer, wrong arithmetic) is a verdict.
pub fn verify(record_text: &str) -> Result<Verification, VerifyError> {
    let problem = find_problem(record_text)?;
    // The solution is what follows the question; the question line itself holds no steps.
    let solution = if question_in(record_text).is_some() { after_question(record_text) } else { record_text };
    Ok(verify_solution(&problem, solution))
}

/// The text after the first `Question:` line.
fn after_question(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if question_in(line).is_some() {
            return &text[offset..];
        }
    }
    ""
}

/// Checks a solution text (step lines and an `Answer:` line) against `problem`.
pub fn verify_solution(problem: &Problem, solution_text: &str) -> Verification {
    let parsed = parse_solution(solution_text);
    let ops = &problem.operations;
    let expected_answer = problem.answer();
    let mut errors: Vec<String> = Vec::new();
    let mut valid = 0;
    let mut next = 0; // the next operation of the problem to be used
    let mut running = problem.start;
    let mut last_result = None;
    for (i, line) in parsed.steps.iter().enumerate() {
        let k = i + 1;
        let step = match line {
            StepLine::Parsed(step) => *step,
            StepLine::Unreadable(body) => {
                errors.push(format!("step {k}: \"{body}\" is not an equation of the form `a op b = c`"));
                next += 1;
                last_result = None;
                continue;
            }
        };
        let swapped = step.op.is_commutative() && step.a != running && step.b == running;
        let term = Operation { op: step.op, operand: if swapped { step.a } else { step.b }, phrasing: 0 };
        let is = |j: usize| ops.get(j).is_some_and(|o| o.op == term.op && o.operand == term.operand);
        let chain_error = if step.a != running && !swapped {
            Some(format!("step {k} starts from {}, but the running total is {running}", step.a))
        } else if is(next) {
            next += 1;
            None
        } else if is(next + 1) {
            next += 2;
            Some(format!(
                "step {k} skips the operation {} and goes on with {}",
                describe(&ops[next - 2]),
                describe(&term)
            ))
        } else if next > 0 && is(next - 1) {
            Some(format!("step {k} repeats the operation {}", describe(&term)))
        } else if next >= ops.len() {
            Some(format!("step {k} is one too many: the problem has only {} operations", ops.len()))
        } else {
            let message = format!(
                "step {k} applies {}, but the problem's next operation is {}",
                describe(&term),
                describe(&ops[next])
            );
            next += 1;
            Some(message)
        };
        let arithmetic_error = (!step.is_correct()).then(|| match step.true_result() {
            Some(truth) => format!("step {k}: {} is wrong, it is {truth}", step.equation()),
            None => format!("step {k}: {} overflows", step.equation()),
        });
        match chain_error.or(arithmetic_error) {
            Some(e) => errors.push(e),
            None => valid += 1,
        }
        running = step.result;
        last_result = Some(step.result);
    }
    if parsed.steps.is_empty() {
        errors.push("the solution has no `Step k: a op b = c` lines".into());
    } else if next < ops.len() {
        errors.push(format!("the solution never applies the operation {}", describe(&ops[next])));
    }
    match (parsed.answer, &parsed.answer_text) {
        (None, None) => errors.push("the solution has no `Answer:` line".into()),
        (None, Some(text)) => errors.push(format!("the `Answer:` line has no number: \"{text}\"")),
        (Some(claimed), _) => {
            if let Some(last) = last_result.filter(|&last| last != claimed) {
                errors.push(format!("the answer {claimed} does not follow from the last step, which gives {last}"));
            }
            if claimed != expected_answer {
                errors.push(format!("answer {claimed} is wrong, it is {expected_answer}"));
            }
        }
    }
    Verification {
        problem: problem.clone(),
        correct: errors.is_empty(),
        steps_total: parsed.steps.len(),
        steps_valid: valid,
        expected_answer,
        claimed_answer: parsed.answer,
        first_error: errors.into_iter().next(),
    }
}

#[cfg(test)]
mod tests;
