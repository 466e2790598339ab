//! `arith-teacher`: an embedded teacher model for arithmetic problems.
//!
//! For every prompt it reads the problem from the `Question:` line of the
//! last user message (the one `arith-problems` writes) — a word problem or an
//! equation such as `What is (47 + 38) * 2?`, worked out left to right, with
//! the same mistakes either way — and answers with
//! a step-by-step solution in the canonical format (`Step k: a op b = c`
//! lines, then `Answer: n`) — with the systematic mistakes of a real model:
//! dropped carries, borrows that stop at a zero, lost or repeated terms in
//! long problems, multiplications one group off, small slips, and now and
//! then an answer that ignores the format. A message without a word problem
//! gets a polite refusal. See [`kiln_arith::teacher`] for the error model.
//!
//! Completions are deterministic per `(user message, seed)`: the same prompt
//! with the same seed gets the same answer whatever else is in the batch.
//! System messages do not influence the answer.
//!
//! Config (every key optional, each a probability in `0..=1`; defaults give
//! about 30% wrong answers on default problems): `carry_error_rate` (0.25),
//! `borrow_error_rate` (0.6), `long_problem_error_rate` (0.2),
//! `multiply_error_rate` (0.2), `noise_rate` (0.01), `format_error_rate` (0.03).

use kiln_arith::{ErrorProfile, teacher};
use kiln_pdk::{Completion, Model, Plugin, Prompt};

/// The teacher, configured.
pub struct ArithTeacher {
    profile: ErrorProfile,
}

impl Plugin for ArithTeacher {
    type Config = ErrorProfile;
    const DESCRIPTION: &'static str = "embedded teacher: solves arithmetic word problems and equations step by step, with an LLM's systematic mistakes";

    fn new(profile: ErrorProfile) -> Result<Self, String> {
        profile.validate().map_err(|e| format!("invalid config: {e}"))?;
        Ok(ArithTeacher { profile })
    }
}

/// The text the teacher answers: the last user message, or the last message
/// of any role when there is no user message.
fn user_text(prompt: &Prompt) -> &str {
    prompt
        .messages
        .iter()
        .rev()
        .find(|m| m.role.eq_ignore_ascii_case("user"))
        .or(prompt.messages.last())
        .map_or("", |m| m.content.as_str())
}

impl Model for ArithTeacher {
    fn complete(&mut self, prompts: &[Prompt], seed: u64) -> Vec<Completion> {
        prompts
            .iter()
            .map(|p| Completion { tag: p.tag.clone(), text: teacher::answer(user_text(p), seed, &self.profile) })
            .collect()
    }
}

kiln_pdk::export_model!(ArithTeacher);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_arith::{Problem, ProblemConfig, QuestionStyle, parse_solution, record_text, verify};
    use kiln_pdk::Message;

    fn teacher(config: &str) -> Result<ArithTeacher, String> {
        ArithTeacher::new(kiln_pdk::__parse_config::<ErrorProfile>(config)?)
    }

    fn prompt(question: &str, tag: &str) -> Prompt {
        Prompt {
            messages: vec![
                Message { role: "system".into(), content: "You are a careful math tutor.".into() },
                Message { role: "user".into(), content: format!("Solve it.\n\nQuestion: {question}") },
            ],
            tag: tag.into(),
            answer_schema: None,
        }
    }

    #[test]
    fn config_defaults_and_validation() {
        assert_eq!(teacher("").expect("empty config").profile, ErrorProfile::default());
        let t = teacher(r#"{"noise_rate": 0.5}"#).expect("valid");
        assert_eq!(t.profile.noise_rate, 0.5);
        assert_eq!(t.profile.carry_error_rate, ErrorProfile::default().carry_error_rate);
        let e = teacher(r#"{"carry_error_rate": 2}"#).err().expect("out of range");
        assert_eq!(e, "invalid config: `carry_error_rate` must be a probability between 0 and 1, got 2");
        let e = teacher(r#"{"carry_rate": 0.1}"#).err().expect("typo");
        assert!(e.contains("unknown field `carry_rate`"), "{e}");
    }

    #[test]
    fn a_perfect_teacher_answers_every_prompt_correctly_and_keeps_tags() {
        let mut t = teacher(
            r#"{"carry_error_rate": 0, "borrow_error_rate": 0, "long_problem_error_rate": 0,
                "multiply_error_rate": 0, "noise_rate": 0, "format_error_rate": 0}"#,
        )
        .expect("valid");
        let problems: Vec<Problem> = (0..50).map(|i| Problem::generate(1, i, &ProblemConfig::default())).collect();
        let prompts: Vec<Prompt> =
            problems.iter().enumerate().map(|(i, p)| prompt(&p.question(), &format!("t{i}"))).collect();
        let out = t.complete(&prompts, 7);
        assert_eq!(out.len(), prompts.len());
        for ((c, p), problem) in out.iter().zip(&prompts).zip(&problems) {
            assert_eq!(c.tag, p.tag);
            assert_eq!(parse_solution(&c.text).answer, Some(problem.answer()), "{}", c.text);
        }
    }

    #[test]
    fn answers_do_not_depend_on_the_rest_of_the_batch() {
        let mut t = teacher(r#"{"noise_rate": 0.5}"#).expect("valid");
        let prompts: Vec<Prompt> = (0..20)
            .map(|i| prompt(&Problem::generate(2, i, &ProblemConfig::default()).question(), &i.to_string()))
            .collect();
        let whole = t.complete(&prompts, 3);
        let single: Vec<Completion> = prompts.iter().flat_map(|p| t.complete(std::slice::from_ref(p), 3)).collect();
        assert_eq!(whole, single);
        assert_ne!(whole, t.complete(&prompts, 4), "the seed matters");
    }

    #[test]
    fn the_user_message_is_what_counts() {
        let question = Problem::generate(3, 0, &ProblemConfig::default()).question();
        let mut with_system = prompt(&question, "a");
        let mut other_system = with_system.clone();
        other_system.messages[0].content = "Something else entirely.".into();
        let mut t = teacher("").expect("valid");
        assert_eq!(t.complete(std::slice::from_ref(&with_system), 1), t.complete(&[other_system], 1));
        with_system.messages.truncate(1);
        let refusal = t.complete(&[with_system], 1);
        assert!(
            refusal[0].text.contains("word problem") || refusal[0].text.contains("math problem"),
            "{}",
            refusal[0].text
        );
        assert_eq!(user_text(&Prompt::default()), "");
    }

    #[test]
    fn equations_are_answered_step_by_step_with_mistakes_the_verifier_catches() {
        let config = ProblemConfig { style: QuestionStyle::Equation, ..Default::default() };
        let problems: Vec<Problem> = (0..400).map(|i| Problem::generate(5, i, &config)).collect();
        let prompts: Vec<Prompt> =
            problems.iter().enumerate().map(|(i, p)| prompt(&p.question(), &i.to_string())).collect();
        assert_eq!(prompts[0].messages[1].content, format!("Solve it.\n\nQuestion: {}", problems[0].question()));
        let mut perfect = teacher(
            r#"{"carry_error_rate": 0, "borrow_error_rate": 0, "long_problem_error_rate": 0,
                "multiply_error_rate": 0, "noise_rate": 0, "format_error_rate": 0}"#,
        )
        .expect("valid");
        for (c, problem) in perfect.complete(&prompts, 2).iter().zip(&problems) {
            assert_eq!(parse_solution(&c.text).answer, Some(problem.answer()), "{}", c.text);
            assert!(verify(&record_text(&problem.question(), &c.text)).expect("verifiable").correct);
        }
        let (mut right, mut wrong) = (0, 0);
        for (c, problem) in teacher("").expect("valid").complete(&prompts, 2).iter().zip(&problems) {
            let parsed = parse_solution(&c.text);
            assert!(!parsed.steps.is_empty() || c.text.starts_with("We start from "), "{}", c.text);
            let v = verify(&record_text(&problem.question(), &c.text)).expect("verifiable");
            if v.correct {
                assert_eq!(parsed.answer, Some(problem.answer()));
                right += 1;
            } else {
                wrong += 1;
            }
        }
        assert!(right > 200 && wrong > 60, "{right} right, {wrong} wrong");
    }
}
