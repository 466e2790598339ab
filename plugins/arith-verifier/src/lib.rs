//! `arith-verifier`: a critic that checks arithmetic solutions exactly.
//!
//! The record's question may be a word problem or an equation (`What is
//! (47 + 38) * 2?`, worked out left to right), as `arith-problems` writes them.
//!
//! It needs no model. Run it with the judge model replaced by an identity
//! (the completion handed to `parse` is the text of the prompt's last user
//! message): `prompt` puts the record's text, verbatim, in the user message
//! (tag = record id), and `parse` verifies that text with
//! [`kiln_arith::verify`] — every step's arithmetic, the chain from the
//! question's first number through each operation in order, and the final
//! answer against the true one.
//!
//! Scores: `correct` (1 or 0), `steps_valid` (the fraction of valid steps,
//! 0 to 1), `steps` (how many step lines). The rationale says what checks out
//! or the first thing that is wrong, e.g. `step 2: 623 - 129 = 484 is wrong,
//! it is 494; answer 1452 is wrong, it is 1482 (1 of 2 steps valid)`. A text
//! without a readable `Question:` line is a parse error (so is an equation that
//! is not a left-to-right chain, like `What is 5 + 3 * 2?`).
//!
//! With an LLM as the judge model, the system message asks it to repeat the
//! record unchanged, and the verdict is computed from what it sends back:
//! quoting (`> `), code fences, markdown bold and a preamble are tolerated.
//! Limitation: the LLM's own opinion is ignored, and if it alters the record
//! (rewrites a step, adds its own `Step`/`Answer:` lines, drops the question)
//! the verdict is about its altered copy — so an identity model is the
//! intended setup.
//!
//! # Config
//! - `accept_wrong` (default 0): a *noisy* verifier for experiments on
//!   imperfect verification — the share of wrong solutions it accepts. The
//!   score `accepted` is 1 for every correct solution and for that share of
//!   wrong ones (chosen by a hash of the text, so the same text always gets
//!   the same verdict); `correct` stays the truth. Filter on
//!   `scores.accepted` to use the noisy verdict.

use kiln_arith::verify;
use kiln_pdk::{Completion, Critic, Critique, Message, Plugin, Prompt, Record, Score};
use serde::Deserialize;

/// `config` of the verifier.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Share of wrong solutions accepted, in [0, 1].
    #[serde(default)]
    pub accept_wrong: f64,
}

/// The verifier.
pub struct ArithVerifier {
    accept_wrong: f64,
}

impl Plugin for ArithVerifier {
    type Config = Config;
    const DESCRIPTION: &'static str =
        "checks every step of an arithmetic word-problem solution exactly (no model needed: use an identity judge)";

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.accept_wrong) {
            return Err(format!("`accept_wrong` must be in [0, 1], not {}", config.accept_wrong));
        }
        Ok(ArithVerifier { accept_wrong: config.accept_wrong })
    }
}

/// A number in [0, 1) fixed by `text` (FNV-1a, then its top 53 bits).
fn unit_hash(text: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 32;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

const SYSTEM: &str = "Repeat the record in the next message exactly as it is, character for character, \
                      without any comment, correction or formatting.";

impl Critic for ArithVerifier {
    fn prompt(&self, record: &Record) -> Prompt {
        Prompt {
            messages: vec![
                Message { role: "system".into(), content: SYSTEM.into() },
                Message { role: "user".into(), content: record.text.clone() },
            ],
            tag: record.id.clone(),
            answer_schema: None,
        }
    }

    fn parse(&self, completion: &Completion) -> Result<Critique, String> {
        let v = verify(&completion.text).map_err(|e| {
            format!("{e} (the record must contain a `Question:` line with an arith-problems word problem or equation)")
        })?;
        let score = |name: &str, value: f64| Score { name: name.into(), value };
        let accepted = v.correct || unit_hash(&completion.text) < self.accept_wrong;
        Ok(Critique {
            scores: vec![
                score("correct", if v.correct { 1.0 } else { 0.0 }),
                score("steps_valid", v.steps_valid_fraction()),
                score("steps", v.steps_total as f64),
                score("accepted", if accepted { 1.0 } else { 0.0 }),
            ],
            rationale: v.rationale(),
        })
    }
}

kiln_pdk::export_critic!(ArithVerifier);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_arith::{ErrorProfile, Problem, ProblemConfig, QuestionStyle, record_text, teacher};

    const QUESTION: &str = "Maya has 623 marbles. Maya gives away 129 marbles. Then Maya ends up with 3 times as many \
                            marbles. How many marbles does Maya have now?";

    /// What the host does with an identity judge: the completion is the prompt's last user message.
    fn judge(text: &str) -> Result<Critique, String> {
        let v = ArithVerifier { accept_wrong: 0.0 };
        let prompt = v.prompt(&Record::new("rec-1", text));
        assert_eq!(prompt.tag, "rec-1");
        let echoed = prompt.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        assert_eq!(echoed, text, "the record text goes in verbatim");
        v.parse(&Completion { tag: prompt.tag, text: echoed })
    }

    fn scores(c: &Critique) -> Vec<(&str, f64)> {
        c.scores.iter().map(|s| (s.name.as_str(), s.value)).collect()
    }

    #[test]
    fn a_correct_solution_scores_one() {
        let c = judge(&record_text(QUESTION, "Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nAnswer: 1482"))
            .expect("verifiable");
        assert_eq!(scores(&c), vec![("correct", 1.0), ("steps_valid", 1.0), ("steps", 2.0), ("accepted", 1.0)]);
        assert_eq!(c.rationale, "all 2 steps check out; answer 1482 is correct");
    }

    #[test]
    fn a_wrong_step_scores_zero_and_is_named() {
        let c = judge(&record_text(QUESTION, "Step 1: 623 - 129 = 484\nStep 2: 484 * 3 = 1452\nAnswer: 1452"))
            .expect("verifiable");
        assert_eq!(scores(&c), vec![("correct", 0.0), ("steps_valid", 0.5), ("steps", 2.0), ("accepted", 0.0)]);
        assert_eq!(
            c.rationale,
            "step 1: 623 - 129 = 484 is wrong, it is 494; answer 1452 is wrong, it is 1482 (1 of 2 steps valid)"
        );
    }

    #[test]
    fn a_record_without_a_question_is_a_parse_error() {
        let e = judge("Step 1: 1 + 1 = 2\nAnswer: 2").expect_err("no question");
        assert!(e.starts_with("cannot verify: no word problem found"), "{e}");
        assert!(judge("").is_err());
    }

    #[test]
    fn an_llm_judge_that_quotes_the_record_still_gets_a_verdict() {
        let record = record_text(QUESTION, "Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nAnswer: 1482");
        let quoted = format!("Sure, here it is:\n\n```\n{record}\n```");
        let c = ArithVerifier { accept_wrong: 0.0 }
            .parse(&Completion { tag: "r".into(), text: quoted })
            .expect("verifiable");
        assert_eq!(c.scores[0].value, 1.0);
    }

    #[test]
    fn agrees_with_the_true_answer_on_teacher_output() {
        let profile = ErrorProfile::default();
        let (mut right, mut wrong) = (0, 0);
        for i in 0..300 {
            let p = Problem::generate(4, i, &ProblemConfig::default());
            let completion = teacher::answer(&format!("Question: {}", p.question()), 4, &profile);
            let c = judge(&record_text(&p.question(), &completion)).expect("verifiable");
            let correct = c.scores[0].value == 1.0;
            if correct {
                assert_eq!(kiln_arith::extract_answer(&completion), Some(p.answer()), "{completion}");
                right += 1;
            } else {
                wrong += 1;
            }
        }
        assert!(right > 150 && wrong > 50, "{right} right, {wrong} wrong");
    }

    #[test]
    fn equations_are_verified_step_by_step() {
        let question = "What is 47 + 38?";
        let c = judge(&record_text(question, "Step 1: 47 + 38 = 85\nAnswer: 85")).expect("verifiable");
        assert_eq!(c.rationale, "the 1 step checks out; answer 85 is correct");
        assert_eq!(scores(&c), vec![("correct", 1.0), ("steps_valid", 1.0), ("steps", 1.0), ("accepted", 1.0)]);
        let c = judge(&record_text(question, "Step 1: 47 + 38 = 75\nAnswer: 75")).expect("verifiable");
        assert_eq!(scores(&c), vec![("correct", 0.0), ("steps_valid", 0.0), ("steps", 1.0), ("accepted", 0.0)]);
        assert_eq!(
            c.rationale,
            "step 1: 47 + 38 = 75 is wrong, it is 85; answer 75 is wrong, it is 85 (0 of 1 steps valid)"
        );
        let c = judge(&record_text("What is (5 + 3) * 2?", "Step 1: 3 * 2 = 6\nStep 2: 5 + 6 = 11\nAnswer: 11"))
            .expect("verifiable");
        assert_eq!(c.scores[0].value, 0.0, "left to right, not precedence: {}", c.rationale);
        let e = judge(&record_text("What is 5 + 3 * 2?", "Step 1: 5 + 3 = 8\nStep 2: 8 * 2 = 16\nAnswer: 16"))
            .expect_err("ambiguous");
        assert!(e.contains("is not a chain worked out left to right"), "{e}");
        assert!(e.ends_with("word problem or equation)"), "{e}");
    }

    #[test]
    fn agrees_with_the_true_answer_on_teacher_output_for_equations() {
        let profile = ErrorProfile::default();
        let config = ProblemConfig { style: QuestionStyle::Equation, ..Default::default() };
        let (mut right, mut wrong) = (0, 0);
        for i in 0..300 {
            let p = Problem::generate(4, i, &config);
            let completion = teacher::answer(&format!("Question: {}", p.question()), 4, &profile);
            let c = judge(&record_text(&p.question(), &completion)).expect("verifiable");
            if c.scores[0].value == 1.0 {
                assert_eq!(kiln_arith::extract_answer(&completion), Some(p.answer()), "{completion}");
                right += 1;
            } else {
                wrong += 1;
            }
        }
        assert!(right > 150 && wrong > 50, "{right} right, {wrong} wrong");
    }

    #[test]
    fn a_noisy_verifier_accepts_its_share_of_wrong_solutions_and_no_fewer_right_ones() {
        assert!(ArithVerifier::new(Config { accept_wrong: 1.5 }).is_err());
        let noisy = ArithVerifier::new(Config { accept_wrong: 0.2 }).expect("valid");
        let profile = ErrorProfile::default();
        let (mut wrong, mut accepted_wrong) = (0, 0);
        for i in 0..2000 {
            let p = Problem::generate(9, i, &ProblemConfig::default());
            let text =
                record_text(&p.question(), &teacher::answer(&format!("Question: {}", p.question()), 9, &profile));
            let c = noisy.parse(&Completion { tag: "r".into(), text: text.clone() }).expect("verifiable");
            let (correct, accepted) = (c.scores[0].value == 1.0, c.scores[3].value == 1.0);
            assert!(!correct || accepted, "every right solution is accepted");
            if !correct {
                wrong += 1;
                accepted_wrong += usize::from(accepted);
            }
            let again = noisy.parse(&Completion { tag: "r".into(), text }).expect("verifiable");
            assert_eq!(again.scores[3].value, c.scores[3].value, "the same text, the same verdict");
        }
        let share = accepted_wrong as f64 / wrong as f64;
        assert!(wrong > 100 && (0.15..0.25).contains(&share), "{accepted_wrong} of {wrong} wrong accepted");
    }
}
