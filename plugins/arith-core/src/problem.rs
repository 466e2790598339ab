//! Problems: the arithmetic behind a word problem, its class, and the seeded generator.
//!
//! A problem is a left-to-right chain: a starting amount, then two to four
//! operations (`+ n`, `- n`, `× k`), each applied to the running total, so
//! that a correct solution is one step per operation. Amounts never go
//! below 1, so results are never negative.
//!
//! A problem's question is written in one of two [`QuestionStyle`]s: an
//! English word problem, or the bare expression (`What is 47 + 38?`).

use crate::digits::{borrows, carry_columns, digit_count};
use crate::rng::Rng;
use crate::templates::{ADDITIONS, SUBTRACTIONS};
use crate::templates::{GROUPED_OPENINGS, ITEMS, Item, MULTIPLICATIONS, NAMES, OPENINGS, QUESTIONS};

/// An arithmetic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*` (a small multiplier)
    Mul,
}

impl Op {
    /// The ASCII symbol used in solutions: `+`, `-` or `*`.
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
        }
    }

    /// The operation a symbol stands for: `+`, `-` or `−`, `*`, `×`, `x` or `X`.
    pub fn from_symbol(symbol: &str) -> Option<Op> {
        match symbol {
            "+" => Some(Op::Add),
            "-" | "−" | "–" => Some(Op::Sub),
            "*" | "×" | "x" | "X" | "·" => Some(Op::Mul),
            _ => None,
        }
    }

    /// `a op b`, or `None` on overflow.
    pub fn apply(self, a: i64, b: i64) -> Option<i64> {
        match self {
            Op::Add => a.checked_add(b),
            Op::Sub => a.checked_sub(b),
            Op::Mul => a.checked_mul(b),
        }
    }

    /// Whether `a op b == b op a`.
    pub fn is_commutative(self) -> bool {
        self != Op::Sub
    }
}

/// How a problem's question is written.
///
/// It deserialises from `"words"` or `"equation"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuestionStyle {
    /// An English word problem: a sentence for the start, one per further
    /// operation, then a question (`Maya has 47 marbles. Maya buys 38 more
    /// marbles. How many marbles does Maya have now?`).
    #[default]
    Words,
    /// The expression itself: `What is 47 + 38?`, `What is 12 * 4 + 7?`,
    /// `What is (5 + 3) * 2?`.
    ///
    /// An equation is a chain evaluated strictly left to right, as the steps
    /// of its solution are. It is written with the usual precedence (`*`
    /// before `+` and `-`) and parentheses exactly where left to right
    /// differs from that precedence (a product of a sum or difference), so
    /// both readings give the same value ([`Problem::expression`]).
    ///
    /// An equation has no story: its problem has an empty `name`, the first
    /// of [`ITEMS`] as `item`, and `opening`, `closing` and every `phrasing`
    /// 0, so that [`crate::parse_question`] reads back exactly the problem
    /// that was rendered.
    Equation,
}

impl QuestionStyle {
    /// The config name: `words` or `equation`.
    pub fn name(self) -> &'static str {
        match self {
            QuestionStyle::Words => "words",
            QuestionStyle::Equation => "equation",
        }
    }
}

/// One operation of a problem: what it does to the running total and how its
/// sentence is phrased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The operation.
    pub op: Op,
    /// The number added, subtracted, or multiplied by.
    pub operand: i64,
    /// Index of the sentence template in the list for `op`
    /// ([`ADDITIONS`], [`SUBTRACTIONS`], [`MULTIPLICATIONS`]); for a
    /// multiplication that opens the problem, the index into [`GROUPED_OPENINGS`].
    pub phrasing: usize,
}

/// An arithmetic problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// How [`Problem::question`] writes it. The fields about the story
    /// (`name`, `item`, `opening`, `closing`, each `phrasing`) take fixed
    /// values in [`QuestionStyle::Equation`] (see there).
    pub style: QuestionStyle,
    /// Who the story is about (one word; empty for an equation).
    pub name: String,
    /// What is counted.
    pub item: &'static Item,
    /// The starting amount.
    pub start: i64,
    /// Index of the first sentence's template: into [`OPENINGS`], or into
    /// [`GROUPED_OPENINGS`] when the first operation is a multiplication (the
    /// sentence then states both the start and the multiplier, "3 boxes with 12
    /// marbles in each", and that operation's `phrasing` equals `opening`).
    pub opening: usize,
    /// The operations, applied left to right to the running total.
    pub operations: Vec<Operation>,
    /// Index of the question's template in [`QUESTIONS`].
    pub closing: usize,
}

/// The features of a problem that make it hard, for metadata and reporting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProblemClass {
    /// The number of terms (the start plus one per operation).
    pub terms: usize,
    /// The most digits of any number in the question.
    pub max_digits: u32,
    /// Whether some addition carries into the hundreds column or higher.
    pub carries_into_hundreds: bool,
    /// Whether some subtraction borrows.
    pub borrows: bool,
    /// Whether some subtraction borrows across a zero digit (`1003 - 7`).
    pub borrows_across_zero: bool,
    /// Whether the problem multiplies.
    pub has_multiplication: bool,
}

impl ProblemClass {
    /// Short labels of the hard features, for grouping: `carry`, `borrow`,
    /// `borrow-zero`, `multiply`, `long` (4 terms or more); `plain` when none applies.
    pub fn labels(&self) -> Vec<&'static str> {
        let mut labels = Vec::new();
        for (on, label) in [
            (self.carries_into_hundreds, "carry"),
            (self.borrows, "borrow"),
            (self.borrows_across_zero, "borrow-zero"),
            (self.has_multiplication, "multiply"),
            (self.terms >= 4, "long"),
        ] {
            if on {
                labels.push(label);
            }
        }
        if labels.is_empty() {
            labels.push("plain");
        }
        labels
    }
}

/// What problems to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemConfig {
    /// Fewest terms (at least 2).
    pub min_terms: usize,
    /// Most terms (at most [`ProblemConfig::MAX_TERMS`]).
    pub max_terms: usize,
    /// Fewest digits of a starting amount or an added or subtracted number (at least 1).
    pub min_digits: u32,
    /// Most digits of such a number (at most [`ProblemConfig::MAX_DIGITS`]).
    pub max_digits: u32,
    /// The operations problems may use (not empty).
    pub ops: Vec<Op>,
    /// The largest multiplier (2 to [`ProblemConfig::MAX_MULTIPLIER`]).
    pub max_multiplier: i64,
    /// How the questions are written.
    pub style: QuestionStyle,
}

impl Default for ProblemConfig {
    /// 2 to 5 terms of 1 to 4 digits, with `+`, `-` and `*` by 2 to 9, as word problems.
    fn default() -> Self {
        ProblemConfig {
            min_terms: 2,
            max_terms: 5,
            min_digits: 1,
            max_digits: 4,
            ops: vec![Op::Add, Op::Sub, Op::Mul],
            max_multiplier: 9,
            style: QuestionStyle::Words,
        }
    }
}

/// A [`ProblemConfig`] that cannot generate sensible problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid problem config: {0}")]
pub struct ConfigError(String);

/// The largest amount a generated problem reaches; multiplications that would
/// pass it are replaced by additions.
const MAX_VALUE: i64 = 10_000_000;

impl ProblemConfig {
    /// Upper bound of `max_terms`.
    pub const MAX_TERMS: usize = 8;
    /// Upper bound of `max_digits`.
    pub const MAX_DIGITS: u32 = 6;
    /// Upper bound of `max_multiplier`.
    pub const MAX_MULTIPLIER: i64 = 12;

    /// Checks the bounds, saying what to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        if self.min_terms < 2 || self.max_terms > Self::MAX_TERMS || self.min_terms > self.max_terms {
            return fail(format!(
                "terms must satisfy 2 <= min_terms <= max_terms <= {}, got {}..={}",
                Self::MAX_TERMS,
                self.min_terms,
                self.max_terms
            ));
        }
        if self.min_digits < 1 || self.max_digits > Self::MAX_DIGITS || self.min_digits > self.max_digits {
            return fail(format!(
                "digits must satisfy 1 <= min_digits <= max_digits <= {}, got {}..={}",
                Self::MAX_DIGITS,
                self.min_digits,
                self.max_digits
            ));
        }
        if self.ops.is_empty() {
            return fail("ops is empty: allow at least one of `+`, `-`, `*`".into());
        }
        if self.ops.contains(&Op::Mul) && !(2..=Self::MAX_MULTIPLIER).contains(&self.max_multiplier) {
            return fail(format!("max_multiplier must be 2..={}, got {}", Self::MAX_MULTIPLIER, self.max_multiplier));
        }
        Ok(())
    }
}

impl Problem {
    /// Problem `index` of the set seeded with `seed`: the same arguments always
    /// give the same problem, independently of any other index.
    ///
    /// The config should pass [`ProblemConfig::validate`]; out-of-range values
    /// are clamped rather than trusted. Amounts stay at 1 or more: a
    /// subtraction that cannot fit becomes an addition (or, with only `-`
    /// allowed, ends the problem early). The arithmetic does not depend on
    /// `config.style`: both styles of problem `index` compute the same thing.
    pub fn generate(seed: u64, index: u64, config: &ProblemConfig) -> Problem {
        let mut rng = Rng::for_index(seed, index);
        let max_terms = config.max_terms.clamp(2, ProblemConfig::MAX_TERMS);
        let min_terms = config.min_terms.clamp(2, max_terms);
        let max_digits = config.max_digits.clamp(1, ProblemConfig::MAX_DIGITS);
        let min_digits = config.min_digits.clamp(1, max_digits);
        let max_multiplier = config.max_multiplier.clamp(2, ProblemConfig::MAX_MULTIPLIER);
        let ops: &[Op] = if config.ops.is_empty() { &[Op::Add] } else { &config.ops };
        let number = |rng: &mut Rng, at_most: i64| {
            let digits = rng.range(i64::from(min_digits), i64::from(max_digits)) as u32;
            let hi = (10i64.pow(digits) - 1).min(at_most);
            let lo = 10i64.pow(digits - 1).min(hi).max(1);
            rng.range(lo, hi)
        };

        let terms = rng.range(min_terms as i64, max_terms as i64) as usize;
        let name = rng.pick(NAMES).copied().unwrap_or("Maya").to_string();
        let item = rng.pick(ITEMS).unwrap_or(&ITEMS[0]);
        let start = number(&mut rng, i64::MAX).max(2);
        let mut operations: Vec<Operation> = Vec::with_capacity(terms - 1);
        let mut value = start;
        for _ in 1..terms {
            // Multiplication is drawn half as often as the others: "small ×".
            let weights: Vec<(Op, u64)> = ops.iter().map(|&op| (op, if op == Op::Mul { 1 } else { 2 })).collect();
            let mut roll = rng.below(weights.iter().map(|w| w.1).sum());
            let mut op = Op::Add;
            for (candidate, weight) in weights {
                if roll < weight {
                    op = candidate;
                    break;
                }
                roll -= weight;
            }
            if op == Op::Mul && value.saturating_mul(max_multiplier) > MAX_VALUE {
                op = Op::Add;
            }
            if op == Op::Sub && value < 2 {
                op = if ops.iter().any(|&o| o != Op::Sub) { Op::Add } else { break };
            }
            let operand = match op {
                Op::Add => number(&mut rng, i64::MAX),
                Op::Sub => number(&mut rng, value - 1),
                Op::Mul => rng.range(2, max_multiplier),
            };
            let templates = match op {
                Op::Add => ADDITIONS.len(),
                Op::Sub => SUBTRACTIONS.len(),
                Op::Mul if operations.is_empty() => GROUPED_OPENINGS.len(),
                Op::Mul => MULTIPLICATIONS.len(),
            };
            let phrasing = rng.below(templates as u64) as usize;
            value = op.apply(value, operand).unwrap_or(value);
            operations.push(Operation { op, operand, phrasing });
        }
        let opening = match operations.first() {
            Some(Operation { op: Op::Mul, phrasing, .. }) => *phrasing,
            _ => rng.below(OPENINGS.len() as u64) as usize,
        };
        let closing = rng.below(QUESTIONS.len() as u64) as usize;
        match config.style {
            QuestionStyle::Words => {
                Problem { style: QuestionStyle::Words, name, item, start, opening, operations, closing }
            }
            QuestionStyle::Equation => Problem::equation(start, operations.iter().map(|o| (o.op, o.operand))),
        }
    }

    /// The equation-style problem `start op operand ...`, with the fixed
    /// story fields of [`QuestionStyle::Equation`].
    pub fn equation(start: i64, operations: impl IntoIterator<Item = (Op, i64)>) -> Problem {
        Problem {
            style: QuestionStyle::Equation,
            name: String::new(),
            item: &ITEMS[0],
            start,
            opening: 0,
            operations: operations.into_iter().map(|(op, operand)| Operation { op, operand, phrasing: 0 }).collect(),
            closing: 0,
        }
    }

    /// The number of terms: the start plus one per operation.
    pub fn terms(&self) -> usize {
        self.operations.len() + 1
    }

    /// The running totals after each operation (the last is the answer), or
    /// `None` if the arithmetic overflows.
    pub fn running_totals(&self) -> Option<Vec<i64>> {
        let mut value = self.start;
        self.operations
            .iter()
            .map(|o| {
                value = o.op.apply(value, o.operand)?;
                Some(value)
            })
            .collect()
    }

    /// The expression, evaluated left to right, with the parentheses a reader
    /// needs: `(120 + 45) * 3 - 7`. Read with the usual precedence it has the
    /// same value; an equation-style question is `What is <expression>?`.
    pub fn expression(&self) -> String {
        let mut expr = self.start.to_string();
        let mut compound = false;
        for o in &self.operations {
            if o.op == Op::Mul && compound {
                expr = format!("({expr})");
            }
            expr = format!("{expr} {} {}", o.op.symbol(), o.operand);
            compound = o.op != Op::Mul;
        }
        expr
    }

    /// The features that make this problem hard, from its correct solution.
    pub fn class(&self) -> ProblemClass {
        let mut class = ProblemClass {
            terms: self.terms(),
            max_digits: self
                .operations
                .iter()
                .filter(|o| o.op != Op::Mul)
                .map(|o| digit_count(o.operand))
                .fold(digit_count(self.start), u32::max),
            carries_into_hundreds: false,
            borrows: false,
            borrows_across_zero: false,
            has_multiplication: false,
        };
        let mut value = self.start;
        for o in &self.operations {
            match o.op {
                Op::Add => class.carries_into_hundreds |= carry_columns(value, o.operand).iter().any(|&c| c >= 2),
                Op::Sub => {
                    let b = borrows(value, o.operand);
                    class.borrows |= !b.is_empty();
                    class.borrows_across_zero |= b.iter().any(|b| b.across_zero);
                }
                Op::Mul => class.has_multiplication = true,
            }
            value = o.op.apply(value, o.operand).unwrap_or(value);
        }
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64, config: &ProblemConfig) -> impl Iterator<Item = Problem> + '_ {
        (0..n).map(move |i| Problem::generate(42, i, config))
    }

    #[test]
    fn generation_is_deterministic_per_seed_and_index() {
        let c = ProblemConfig::default();
        assert_eq!(Problem::generate(1, 5, &c), Problem::generate(1, 5, &c));
        assert_ne!(Problem::generate(1, 5, &c), Problem::generate(1, 6, &c));
        assert_ne!(Problem::generate(1, 5, &c), Problem::generate(2, 5, &c));
    }

    #[test]
    fn generated_problems_respect_the_config_and_never_go_negative() {
        let c = ProblemConfig::default();
        let mut terms_seen = [false; 6];
        for p in sample(5000, &c) {
            assert!((2..=5).contains(&p.terms()), "{p:?}");
            terms_seen[p.terms()] = true;
            assert!(p.class().max_digits <= 4);
            let totals = p.running_totals().expect("no overflow");
            assert!(totals.iter().all(|&v| v >= 1), "{p:?}");
            for o in p.operations.iter().filter(|o| o.op == Op::Mul) {
                assert!((2..=9).contains(&o.operand));
            }
        }
        assert!(terms_seen[2..].iter().all(|&s| s));
    }

    #[test]
    fn every_class_occurs_in_a_default_sample() {
        let classes: Vec<ProblemClass> = sample(2000, &ProblemConfig::default()).map(|p| p.class()).collect();
        let share = |f: fn(&ProblemClass) -> bool| classes.iter().filter(|c| f(c)).count() as f64 / 2000.0;
        assert!(share(|c| c.carries_into_hundreds) > 0.2);
        assert!(share(|c| c.borrows) > 0.2);
        assert!(share(|c| c.borrows_across_zero) > 0.02);
        assert!(share(|c| c.has_multiplication) > 0.2);
        assert!(share(|c| c.terms >= 4) > 0.3);
    }

    #[test]
    fn ops_restrict_generation() {
        let c = ProblemConfig { ops: vec![Op::Sub], min_terms: 3, max_terms: 3, ..Default::default() };
        for p in sample(500, &c) {
            assert!(p.operations.iter().all(|o| o.op == Op::Sub));
            assert!(p.running_totals().expect("small").iter().all(|&v| v >= 1));
        }
        let c = ProblemConfig { ops: vec![Op::Add], min_digits: 3, max_digits: 3, ..Default::default() };
        for p in sample(200, &c) {
            assert!((100..=999).contains(&p.start));
            assert!(p.operations.iter().all(|o| o.op == Op::Add && (100..=999).contains(&o.operand)));
        }
    }

    #[test]
    fn class_detects_each_feature() {
        let p = |start, ops: &[(Op, i64)]| Problem {
            style: QuestionStyle::Words,
            name: "Maya".into(),
            item: &ITEMS[0],
            start,
            opening: 0,
            operations: ops.iter().map(|&(op, operand)| Operation { op, operand, phrasing: 0 }).collect(),
            closing: 0,
        };
        let c = p(950, &[(Op::Add, 50)]).class();
        assert!(c.carries_into_hundreds && !c.borrows && !c.has_multiplication);
        assert_eq!(c.max_digits, 3);
        let c = p(45, &[(Op::Add, 39)]).class();
        assert!(!c.carries_into_hundreds, "a carry into the tens only does not count");
        let c = p(1003, &[(Op::Sub, 7), (Op::Mul, 3), (Op::Add, 1)]).class();
        assert!(c.borrows && c.borrows_across_zero && c.has_multiplication && !c.carries_into_hundreds);
        assert_eq!(c.terms, 4);
        assert_eq!(c.labels(), vec!["borrow", "borrow-zero", "multiply", "long"]);
        assert_eq!(p(12, &[(Op::Add, 3)]).class().labels(), vec!["plain"]);
    }

    #[test]
    fn expression_parenthesises_left_to_right_products() {
        let p = Problem {
            style: QuestionStyle::Words,
            name: "Maya".into(),
            item: &ITEMS[0],
            start: 120,
            opening: 0,
            operations: vec![
                Operation { op: Op::Add, operand: 45, phrasing: 0 },
                Operation { op: Op::Mul, operand: 3, phrasing: 0 },
                Operation { op: Op::Sub, operand: 7, phrasing: 0 },
            ],
            closing: 0,
        };
        assert_eq!(p.expression(), "(120 + 45) * 3 - 7");
        assert_eq!(p.running_totals(), Some(vec![165, 495, 488]));
    }

    #[test]
    fn invalid_configs_say_what_to_fix() {
        let bad = ProblemConfig { min_terms: 1, ..Default::default() };
        assert!(bad.validate().expect_err("1 term").to_string().contains("min_terms"));
        let bad = ProblemConfig { min_digits: 3, max_digits: 2, ..Default::default() };
        assert!(bad.validate().expect_err("inverted").to_string().contains("3..=2"));
        let bad = ProblemConfig { ops: vec![], ..Default::default() };
        assert!(bad.validate().expect_err("no ops").to_string().contains("ops is empty"));
        let bad = ProblemConfig { max_multiplier: 40, ..Default::default() };
        assert!(bad.validate().expect_err("big").to_string().contains("max_multiplier"));
        assert!(ProblemConfig::default().validate().is_ok());
    }

    #[test]
    fn symbols_round_trip() {
        for op in [Op::Add, Op::Sub, Op::Mul] {
            assert_eq!(Op::from_symbol(&op.symbol().to_string()), Some(op));
        }
        assert_eq!(Op::from_symbol("×"), Some(Op::Mul));
        assert_eq!(Op::from_symbol("−"), Some(Op::Sub));
        assert_eq!(Op::from_symbol("/"), None);
    }
}
