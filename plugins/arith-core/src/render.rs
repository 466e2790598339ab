//! Rendering problems as questions: English word problems (one sentence per
//! operation, then the question) or equations (`What is 47 + 38?`).

use crate::problem::{Op, Problem, QuestionStyle};
use crate::templates::{ADDITIONS, GROUPED_OPENINGS, MULTIPLICATIONS, OPENINGS, QUESTIONS, SUBTRACTIONS};

/// Fills a template in. `n` is the sentence's number (the item agrees with
/// it), `k` the multiplier of a grouped opening.
fn fill(template: &str, problem: &Problem, n: i64, k: i64) -> String {
    template
        .replace("{name}", &problem.name)
        .replace("{n}", &n.to_string())
        .replace("{k}", &k.to_string())
        .replace("{items}", problem.item.plural)
        .replace("{item}", problem.item.form(n))
}

/// `list[index]`, or the first template when a hand-built problem's index is out of range.
fn template(list: &'static [&'static str], index: usize) -> &'static str {
    list.get(index).or(list.first()).copied().unwrap_or_default()
}

impl Problem {
    /// The question, in the problem's [`QuestionStyle`].
    ///
    /// A word problem is one sentence for the start (which also states the
    /// first multiplier when the problem opens with one), one per further
    /// operation, and a closing question, separated by single spaces. An
    /// equation is `What is <expression>?` ([`Problem::expression`]).
    pub fn question(&self) -> String {
        if self.style == QuestionStyle::Equation {
            return format!("What is {}?", self.expression());
        }
        let mut sentences = Vec::with_capacity(self.operations.len() + 2);
        let mut rest = self.operations.as_slice();
        match rest.split_first() {
            Some((first, tail)) if first.op == Op::Mul => {
                sentences.push(fill(template(GROUPED_OPENINGS, self.opening), self, self.start, first.operand));
                rest = tail;
            }
            _ => sentences.push(fill(template(OPENINGS, self.opening), self, self.start, 0)),
        }
        for o in rest {
            let list = match o.op {
                Op::Add => ADDITIONS,
                Op::Sub => SUBTRACTIONS,
                Op::Mul => MULTIPLICATIONS,
            };
            sentences.push(fill(template(list, o.phrasing), self, o.operand, 0));
        }
        sentences.push(fill(template(QUESTIONS, self.closing), self, 0, 0));
        sentences.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use crate::problem::{Op, Operation, Problem, QuestionStyle};
    use crate::templates::ITEMS;

    fn problem(ops: &[(Op, i64, usize)], start: i64) -> Problem {
        Problem {
            style: QuestionStyle::Words,
            name: "Maya".into(),
            item: &ITEMS[0],
            start,
            opening: 0,
            operations: ops.iter().map(|&(op, operand, phrasing)| Operation { op, operand, phrasing }).collect(),
            closing: 0,
        }
    }

    #[test]
    fn renders_one_sentence_per_operation() {
        let p = problem(&[(Op::Add, 45, 0), (Op::Sub, 1, 0), (Op::Mul, 3, 0)], 120);
        assert_eq!(
            p.question(),
            "Maya has 120 marbles. Maya buys 45 more marbles. Maya gives away 1 marble. \
             Then Maya ends up with 3 times as many marbles. How many marbles does Maya have now?"
        );
    }

    #[test]
    fn an_opening_multiplication_is_stated_in_the_first_sentence() {
        let p = problem(&[(Op::Mul, 4, 0), (Op::Add, 2, 2)], 12);
        assert_eq!(
            p.question(),
            "Maya has 4 boxes, and each box holds 12 marbles. A friend gives Maya 2 marbles. \
             How many marbles does Maya have now?"
        );
    }

    #[test]
    fn out_of_range_phrasings_fall_back_instead_of_panicking() {
        let p = problem(&[(Op::Add, 2, 99)], 3);
        assert!(p.question().starts_with("Maya has 3 marbles. Maya buys 2 more marbles."));
    }

    #[test]
    fn equations_are_the_expression_with_the_parentheses_left_to_right_needs() {
        let q = |start, ops: &[(Op, i64)]| Problem::equation(start, ops.iter().copied()).question();
        assert_eq!(q(47, &[(Op::Add, 38)]), "What is 47 + 38?");
        assert_eq!(q(12, &[(Op::Mul, 4), (Op::Add, 7)]), "What is 12 * 4 + 7?");
        assert_eq!(q(600, &[(Op::Sub, 599), (Op::Sub, 3)]), "What is 600 - 599 - 3?");
        assert_eq!(q(5, &[(Op::Add, 3), (Op::Mul, 2)]), "What is (5 + 3) * 2?");
        assert_eq!(
            q(5, &[(Op::Sub, 3), (Op::Mul, 2), (Op::Mul, 3), (Op::Add, 1), (Op::Mul, 4)]),
            "What is ((5 - 3) * 2 * 3 + 1) * 4?"
        );
    }
}
