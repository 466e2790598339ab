//! The teacher: a simulated LLM that solves arithmetic problems (word
//! problems or equations, [`crate::QuestionStyle`]) step by step and errs
//! like one.
//!
//! Its mistakes are systematic, not uniform noise: it drops carries into the
//! hundreds column and beyond, slips when a subtraction borrows across a zero,
//! loses track of terms in long problems, is off by one group in
//! multiplications, now and then slips anywhere, and sometimes ignores the
//! answer format. Each kind has its own rate in an [`ErrorProfile`]. A mistake
//! propagates the way it would in a real transcript: later steps start from
//! the wrong intermediate value and the final answer follows from the wrong
//! steps.
//!
//! Randomness is drawn from a stream keyed on `(seed, prompt text)`, so the
//! same prompt with the same seed always gets the same completion, whatever
//! else is in the batch (this is what makes caching and resuming exact).

use crate::digits::{borrows, carry_columns, place_value};
use crate::parse::find_problem;
use crate::problem::{Op, Problem, QuestionStyle};
use crate::rng::Rng;
use crate::solution::{Solution, Step};

/// How often the teacher makes each kind of mistake. Every rate is a
/// probability in `0..=1`.
///
/// It deserialises from a config table in which every rate is optional
/// (missing ones keep their default) and unknown keys are refused.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorProfile {
    /// Per addition step that carries into the hundreds column or higher:
    /// the chance of dropping one such carry (`950 + 50 = 900`).
    pub carry_error_rate: f64,
    /// Per subtraction step that borrows across a zero: the chance that the
    /// borrow stops at the zero (`1003 - 7 = 1996`).
    pub borrow_error_rate: f64,
    /// Per problem of 4 terms or more: the chance of skipping a term or
    /// applying one twice.
    pub long_problem_error_rate: f64,
    /// Per multiplication step: the chance of being one group off (`12 * 4 = 36`).
    pub multiply_error_rate: f64,
    /// Per step without another mistake: the chance of a result off by 1 to 9.
    pub noise_rate: f64,
    /// Per completion: the chance of ignoring the format (no `Answer:` line,
    /// prose instead of steps, or a completion cut off mid-step).
    pub format_error_rate: f64,
}

impl Default for ErrorProfile {
    /// Rates under which about 30% of default problems come out wrong, most
    /// of them in the carry, borrow-across-zero, multiplication and long classes.
    fn default() -> Self {
        ErrorProfile {
            carry_error_rate: 0.25,
            borrow_error_rate: 0.6,
            long_problem_error_rate: 0.2,
            multiply_error_rate: 0.2,
            noise_rate: 0.01,
            format_error_rate: 0.03,
        }
    }
}

/// An [`ErrorProfile`] rate outside `0..=1`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}` must be a probability between 0 and 1, got {value}")]
pub struct ProfileError {
    /// The offending field.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
}

impl ErrorProfile {
    /// A teacher that never errs.
    pub fn perfect() -> Self {
        ErrorProfile {
            carry_error_rate: 0.0,
            borrow_error_rate: 0.0,
            long_problem_error_rate: 0.0,
            multiply_error_rate: 0.0,
            noise_rate: 0.0,
            format_error_rate: 0.0,
        }
    }

    /// The rates by field name, in declaration order.
    pub fn rates(&self) -> [(&'static str, f64); 6] {
        [
            ("carry_error_rate", self.carry_error_rate),
            ("borrow_error_rate", self.borrow_error_rate),
            ("long_problem_error_rate", self.long_problem_error_rate),
            ("multiply_error_rate", self.multiply_error_rate),
            ("noise_rate", self.noise_rate),
            ("format_error_rate", self.format_error_rate),
        ]
    }

    /// Checks that every rate is a probability.
    pub fn validate(&self) -> Result<(), ProfileError> {
        match self.rates().into_iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            Some((field, value)) => Err(ProfileError { field, value }),
            None => Ok(()),
        }
    }
}

/// A kind of mistake the teacher makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mistake {
    /// Dropped a carry into the hundreds column or higher.
    DroppedCarry,
    /// Stopped a borrow at a zero instead of passing it on.
    BorrowAcrossZero,
    /// Left out a term of a long problem.
    SkippedTerm,
    /// Applied a term of a long problem twice.
    RepeatedTerm,
    /// Multiplied by one more or one less than the multiplier.
    Multiplication,
    /// A small slip anywhere.
    Slip,
}

/// How the teacher lays out its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Steps and an `Answer:` line (maybe with a preamble or a closing remark).
    Canonical,
    /// Steps, then a sentence instead of the `Answer:` line.
    NoAnswerLine,
    /// A paragraph of prose instead of steps, no `Answer:` line.
    Prose,
    /// Cut off in the middle of a step, as if it ran out of tokens.
    Truncated,
}

/// What the teacher did on one problem: its solution (with any mistakes),
/// which mistakes it made at which step (1-based), and its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The steps as the teacher computed them; `answer` follows from them.
    pub solution: Solution,
    /// Each mistake with the 1-based number of the step it happened in.
    pub mistakes: Vec<(usize, Mistake)>,
    /// How the completion is laid out.
    pub layout: Layout,
}

/// One step of the teacher's arithmetic: `a op b` with the mistakes for its class.
fn compute(a: i64, op: Op, b: i64, rng: &mut Rng, profile: &ErrorProfile) -> (i64, Option<Mistake>) {
    let truth = op.apply(a, b).unwrap_or(a);
    let mistake = match op {
        Op::Add => {
            let columns: Vec<u32> = carry_columns(a, b).into_iter().filter(|&c| c >= 2).collect();
            (!columns.is_empty() && rng.chance(profile.carry_error_rate)).then(|| {
                let column = rng.pick(&columns).copied().unwrap_or(2);
                (truth - place_value(column), Mistake::DroppedCarry)
            })
        }
        Op::Sub => {
            let zeros = borrows(a, b).into_iter().filter(|b| b.across_zero).map(|b| b.column).max();
            zeros.filter(|_| rng.chance(profile.borrow_error_rate)).map(|column| {
                // The borrow stops at the zero: the digit left of it is never decremented.
                (truth + place_value(column + 1), Mistake::BorrowAcrossZero)
            })
        }
        Op::Mul => rng.chance(profile.multiply_error_rate).then(|| {
            // One group too many or too few; never down to zero groups.
            let plus = b <= 1 || rng.chance(0.5);
            (if plus { truth + a } else { truth - a }, Mistake::Multiplication)
        }),
    };
    mistake.map_or_else(
        || {
            if rng.chance(profile.noise_rate) {
                let off = rng.range(1, 9);
                let result = if truth >= off && rng.chance(0.5) { truth - off } else { truth + off };
                (result, Some(Mistake::Slip))
            } else {
                (truth, None)
            }
        },
        |(result, m)| (result, Some(m)),
    )
}

/// Solves `problem` as the teacher would, drawing every choice from `rng`.
pub fn attempt(problem: &Problem, rng: &mut Rng, profile: &ErrorProfile) -> Attempt {
    // A long problem may lose track of one term: skip it, or apply it twice.
    let lapse = (problem.terms() >= 4 && rng.chance(profile.long_problem_error_rate)).then(|| {
        let index = rng.below(problem.operations.len() as u64) as usize;
        let mistake = if rng.chance(0.5) { Mistake::SkippedTerm } else { Mistake::RepeatedTerm };
        (index, mistake)
    });
    let mut steps = Vec::new();
    let mut mistakes = Vec::new();
    let mut value = problem.start;
    for (index, o) in problem.operations.iter().enumerate() {
        let mut times = 1;
        match lapse {
            Some((i, Mistake::SkippedTerm)) if i == index => times = 0,
            Some((i, Mistake::RepeatedTerm)) if i == index => times = 2,
            _ => {}
        }
        if times == 2 && o.op == Op::Sub && value < 2 * o.operand {
            times = 0; // applying it twice would go negative; a model would rather lose it
        }
        match times {
            0 => mistakes.push((steps.len() + 1, Mistake::SkippedTerm)),
            2 => mistakes.push((steps.len() + 2, Mistake::RepeatedTerm)),
            _ => {}
        }
        for _ in 0..times {
            let (result, mistake) = compute(value, o.op, o.operand, rng, profile);
            steps.push(Step { a: value, op: o.op, b: o.operand, result });
            if let Some(m) = mistake {
                mistakes.push((steps.len(), m));
            }
            value = result;
        }
    }
    let layout = if rng.chance(profile.format_error_rate) {
        match rng.below(3) {
            0 => Layout::NoAnswerLine,
            1 => Layout::Prose,
            _ => Layout::Truncated,
        }
    } else {
        Layout::Canonical
    };
    Attempt { solution: Solution { steps, answer: value }, mistakes, layout }
}

const PREAMBLES: &[&str] = &[
    "Let's solve this step by step.",
    "Sure! Here is the solution, one operation per line.",
    "We keep a running total and apply each change in order.",
];

const REFUSALS: &[&str] = &[
    "I'm not sure what you are asking. Could you give me the word problem you would like me to solve?",
    "I couldn't find a word problem in your message. Please share the question and I'll solve it step by step.",
    "Sorry, I don't see a math problem here. What would you like me to calculate?",
];

/// What the teacher says about one step in prose.
fn prose_clause(step: &Step) -> String {
    match step.op {
        Op::Add => format!("adding {} gives {}", step.b, step.result),
        Op::Sub => format!("taking away {} leaves {}", step.b, step.result),
        Op::Mul => format!("multiplying by {} makes {}", step.b, step.result),
    }
}

/// Writes an attempt out as the teacher's completion text.
fn write(problem: &Problem, attempt: &Attempt, rng: &mut Rng) -> String {
    let steps = &attempt.solution.steps;
    let answer = attempt.solution.answer;
    // A closing sentence in place of, or after, the `Answer:` line.
    let conclusion = match problem.style {
        QuestionStyle::Words => format!("So {} has {answer} {} in the end.", problem.name, problem.item.form(answer)),
        QuestionStyle::Equation => format!("So the result is {answer}."),
    };
    let lines = || steps.iter().enumerate().map(|(i, s)| format!("Step {}: {}", i + 1, s.equation()));
    match attempt.layout {
        Layout::Canonical => {
            let mut out = String::new();
            if rng.chance(0.3) {
                out.push_str(rng.pick(PREAMBLES).copied().unwrap_or_default());
                out.push_str("\n\n");
            }
            out.push_str(&attempt.solution.render());
            if rng.chance(0.2) {
                out.push_str(&format!("\n\n{conclusion}"));
            }
            out
        }
        Layout::NoAnswerLine => {
            let mut out: Vec<String> = lines().collect();
            out.push(conclusion);
            out.join("\n")
        }
        Layout::Prose => {
            let clauses = steps.iter().map(prose_clause).collect::<Vec<_>>().join(", ");
            let start = match problem.style {
                QuestionStyle::Words => {
                    format!("{} starts with {} {}", problem.name, problem.start, problem.item.form(problem.start))
                }
                QuestionStyle::Equation => format!("We start from {}", problem.start),
            };
            format!("{start}; {clauses}. So the answer is {answer}.")
        }
        Layout::Truncated => {
            let mut out: Vec<String> = lines().collect();
            let keep = rng.below(out.len() as u64) as usize + 1;
            out.truncate(keep);
            if let Some(last) = out.last_mut() {
                // Cut just before the `=`: "Step 3: 523 + 4".
                let cut = last.find(" = ").unwrap_or(last.len());
                last.truncate(cut);
            }
            out.join("\n")
        }
    }
}

/// The teacher's completion for the user message of an arithmetic prompt.
///
/// The problem (a word problem or an equation) is read from the message's
/// `Question:` line (or from the whole message when it has none); the
/// mistakes depend only on its arithmetic, not on how it is written. A
/// message with no problem in it gets a
/// polite refusal, as a chat model would give. Deterministic in
/// `(prompt_user_text, seed, profile)`.
pub fn answer(prompt_user_text: &str, seed: u64, profile: &ErrorProfile) -> String {
    let mut rng = Rng::for_text(seed, prompt_user_text);
    match find_problem(prompt_user_text) {
        Ok(problem) => {
            let attempt = attempt(&problem, &mut rng, profile);
            write(&problem, &attempt, &mut rng)
        }
        Err(_) => rng.pick(REFUSALS).copied().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests;
