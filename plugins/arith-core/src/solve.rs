//! The exact solver: the correct step-by-step solution of a problem.

use crate::problem::Problem;
use crate::solution::{Solution, Step};

impl Problem {
    /// The correct solution: one step per operation, each applied to the
    /// previous result, then the answer. Arithmetic saturates at the `i64`
    /// bounds, which only a hand-built problem can reach ([`Problem::generate`]
    /// and [`crate::parse_question`] never produce one that overflows).
    pub fn solve(&self) -> Solution {
        let mut value = self.start;
        let steps: Vec<Step> = self
            .operations
            .iter()
            .map(|o| {
                let a = value;
                value = o.op.apply(a, o.operand).unwrap_or(if a < 0 { i64::MIN } else { i64::MAX });
                Step { a, op: o.op, b: o.operand, result: value }
            })
            .collect();
        Solution { steps, answer: value }
    }

    /// The correct final answer.
    pub fn answer(&self) -> i64 {
        self.solve().answer
    }
}

#[cfg(test)]
mod tests {
    use crate::problem::{Problem, ProblemConfig};
    use crate::solution::parse_solution;

    #[test]
    fn solutions_chain_every_operation_and_end_in_the_answer() {
        for index in 0..2000 {
            let p = Problem::generate(7, index, &ProblemConfig::default());
            let s = p.solve();
            assert_eq!(s.steps.len(), p.operations.len());
            assert!(s.steps.iter().all(|st| st.is_correct()));
            assert_eq!(s.steps[0].a, p.start);
            for (w, o) in s.steps.windows(2).zip(&p.operations[1..]) {
                assert_eq!(w[1].a, w[0].result);
                assert_eq!((w[1].op, w[1].b), (o.op, o.operand));
            }
            assert_eq!(Some(s.answer), p.running_totals().and_then(|t| t.last().copied()));
            assert_eq!(p.answer(), s.answer);
            assert_eq!(parse_solution(&s.render()).answer, Some(s.answer));
        }
    }

    #[test]
    fn a_known_problem_has_its_known_answer() {
        let p = crate::parse_question(
            "Maya has 623 marbles. Maya gives away 129 marbles. Then Maya ends up with 3 times as many marbles. \
             How many marbles does Maya have now?",
        )
        .expect("parses");
        assert_eq!(p.solve().render(), "Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nAnswer: 1482");
    }
}
