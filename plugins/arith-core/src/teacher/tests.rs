use super::*;
use crate::problem::{ProblemClass, ProblemConfig, QuestionStyle};
use crate::solution::{StepLine, parse_solution, record_text};
use crate::verify::verify;

const N: u64 = 6000;

fn problems() -> impl Iterator<Item = Problem> {
    (0..N).map(|i| Problem::generate(11, i, &ProblemConfig::default()))
}

fn only(set: impl FnOnce(&mut ErrorProfile)) -> ErrorProfile {
    let mut p = ErrorProfile::perfect();
    set(&mut p);
    p
}

fn prompt(p: &Problem) -> String {
    format!("Solve step by step.\n\nQuestion: {}\n", p.question())
}

/// Runs the teacher on every problem; returns (problem, attempt) pairs.
fn attempts(profile: &ErrorProfile) -> Vec<(Problem, Attempt)> {
    problems()
        .enumerate()
        .map(|(i, p)| {
            let a = attempt(&p, &mut Rng::for_index(5, i as u64), profile);
            (p, a)
        })
        .collect()
}

fn is_wrong(p: &Problem, a: &Attempt) -> bool {
    a.solution.answer != p.answer()
}

/// Checks that `mistake` happens at about `rate` per opportunity, and that wrong
/// answers happen only in problems of `class`.
fn check_class(
    profile: ErrorProfile,
    rate: f64,
    mistake: Mistake,
    opportunity: impl Fn(&Step) -> bool,
    class: impl Fn(&ProblemClass) -> bool,
) {
    let (mut chances, mut hits, mut wrong_in_class) = (0usize, 0usize, 0usize);
    for (p, a) in attempts(&profile) {
        chances += a.solution.steps.iter().filter(|s| opportunity(s)).count();
        hits += a.mistakes.iter().filter(|(_, m)| *m == mistake).count();
        assert!(a.mistakes.iter().all(|(_, m)| *m == mistake), "{:?}", a.mistakes);
        if is_wrong(&p, &a) {
            assert!(class(&p.class()), "wrong answer outside the class: {}", p.question());
            wrong_in_class += 1;
        }
    }
    let measured = hits as f64 / chances as f64;
    assert!((measured - rate).abs() < 0.05, "{mistake:?}: {hits} of {chances} = {measured}, configured {rate}");
    assert!(wrong_in_class > 50, "{mistake:?} produced only {wrong_in_class} wrong answers");
}

#[test]
fn a_perfect_teacher_is_always_verified() {
    for p in problems().take(2000) {
        let text = answer(&prompt(&p), 1, &ErrorProfile::perfect());
        let v = verify(&record_text(&p.question(), &text)).expect("parses");
        assert!(v.correct, "{text}\n{:?}", v.first_error);
    }
}

#[test]
fn dropped_carries_happen_at_their_rate_and_only_on_carries_into_the_hundreds() {
    check_class(
        only(|p| p.carry_error_rate = 0.4),
        0.4,
        Mistake::DroppedCarry,
        |s| s.op == Op::Add && carry_columns(s.a, s.b).iter().any(|&c| c >= 2),
        |c| c.carries_into_hundreds,
    );
}

#[test]
fn borrow_slips_happen_at_their_rate_and_only_across_zeros() {
    check_class(
        only(|p| p.borrow_error_rate = 0.5),
        0.5,
        Mistake::BorrowAcrossZero,
        |s| s.op == Op::Sub && borrows(s.a, s.b).iter().any(|b| b.across_zero),
        |c| c.borrows_across_zero,
    );
}

#[test]
fn multiplication_slips_happen_at_their_rate_and_only_in_products() {
    check_class(
        only(|p| p.multiply_error_rate = 0.3),
        0.3,
        Mistake::Multiplication,
        |s| s.op == Op::Mul,
        |c| c.has_multiplication,
    );
}

#[test]
fn noise_hits_any_step_at_its_rate() {
    check_class(only(|p| p.noise_rate = 0.1), 0.1, Mistake::Slip, |_| true, |_| true);
}

#[test]
fn long_problems_lose_terms_at_their_rate_and_only_when_long() {
    let profile = only(|p| p.long_problem_error_rate = 0.3);
    let (mut long, mut lapses) = (0, 0);
    for (p, a) in attempts(&profile) {
        let lapsed = a.mistakes.iter().any(|(_, m)| matches!(m, Mistake::SkippedTerm | Mistake::RepeatedTerm));
        assert_eq!(lapsed, is_wrong(&p, &a), "{}", p.question());
        if p.terms() >= 4 {
            long += 1;
            lapses += usize::from(lapsed);
        } else {
            assert!(!lapsed);
        }
        let expected_steps = match a.mistakes.first() {
            Some((_, Mistake::SkippedTerm)) => p.operations.len() - 1,
            Some((_, Mistake::RepeatedTerm)) => p.operations.len() + 1,
            _ => p.operations.len(),
        };
        assert_eq!(a.solution.steps.len(), expected_steps);
    }
    let measured = lapses as f64 / long as f64;
    assert!((measured - 0.3).abs() < 0.04, "{lapses} of {long}");
}

#[test]
fn format_errors_happen_at_their_rate_and_break_the_format_not_the_arithmetic() {
    let profile = only(|p| p.format_error_rate = 0.2);
    let mut broken = 0;
    for (i, p) in problems().enumerate().take(3000) {
        let text = answer(&prompt(&p), i as u64, &profile);
        let parsed = parse_solution(&text);
        let readable_steps = parsed.steps.iter().filter(|s| matches!(s, StepLine::Parsed(_))).count();
        if parsed.answer.is_none() {
            broken += 1;
            assert!(!verify(&record_text(&p.question(), &text)).expect("parses").correct);
        } else {
            assert_eq!(parsed.answer, Some(p.answer()));
            assert_eq!(readable_steps, p.operations.len());
        }
    }
    let measured = broken as f64 / 3000.0;
    assert!((measured - 0.2).abs() < 0.03, "{measured}");
}

#[test]
fn mistakes_propagate_through_later_steps_to_the_answer() {
    let profile = ErrorProfile { noise_rate: 0.05, ..ErrorProfile::default() };
    let mut single = 0;
    for (p, a) in attempts(&profile) {
        let steps = &a.solution.steps;
        assert_eq!(steps.first().map(|s| s.a), Some(p.start));
        assert!(steps.windows(2).all(|w| w[1].a == w[0].result), "each step starts from the previous result");
        assert_eq!(steps.last().map(|s| s.result), Some(a.solution.answer));
        for &(k, m) in &a.mistakes {
            if !matches!(m, Mistake::SkippedTerm | Mistake::RepeatedTerm) {
                assert!(!steps[k - 1].is_correct(), "{m:?} at step {k}");
            }
        }
        if a.mistakes.len() == 1 {
            single += 1;
            assert!(is_wrong(&p, &a), "one mistake always changes the answer: {:?}", a.mistakes);
        }
    }
    assert!(single > 500);
}

#[test]
fn the_verifier_finds_the_step_the_teacher_got_wrong() {
    let profile = ErrorProfile { format_error_rate: 0.0, long_problem_error_rate: 0.0, ..ErrorProfile::default() };
    for (p, a) in attempts(&profile).into_iter().filter(|(_, a)| !a.mistakes.is_empty()).take(500) {
        let v = verify(&record_text(&p.question(), &a.solution.render())).expect("parses");
        let first = a.mistakes[0].0;
        assert!(!v.correct);
        assert!(
            v.first_error.as_deref().is_some_and(|e| e.starts_with(&format!("step {first}:"))),
            "{:?}",
            v.first_error
        );
        assert_eq!(v.steps_total - v.steps_valid, a.mistakes.len());
    }
}

#[test]
fn completions_are_deterministic_per_prompt_and_seed_whatever_the_batch() {
    let profile = ErrorProfile { format_error_rate: 0.2, noise_rate: 0.2, ..ErrorProfile::default() };
    let prompts: Vec<String> = problems().take(300).map(|p| prompt(&p)).collect();
    let forward: Vec<String> = prompts.iter().map(|t| answer(t, 9, &profile)).collect();
    let backward: Vec<String> = prompts.iter().rev().map(|t| answer(t, 9, &profile)).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    let reseeded = prompts.iter().map(|t| answer(t, 10, &profile)).zip(&forward).filter(|(a, b)| a != *b).count();
    assert!(reseeded > 30, "another seed changes some completions ({reseeded})");
}

#[test]
fn a_prompt_without_a_problem_gets_a_refusal() {
    for text in ["", "Write a poem about the sea.", "Question: what is the meaning of life?"] {
        let reply = answer(text, 1, &ErrorProfile::default());
        assert!(REFUSALS.contains(&reply.as_str()), "{reply}");
        assert_eq!(reply, answer(text, 1, &ErrorProfile::default()));
    }
}

#[test]
fn default_rates_make_about_a_third_wrong_and_mostly_in_the_hard_classes() {
    let profile = ErrorProfile::default();
    let (mut wrong, mut plain, mut plain_wrong) = (0, 0, 0);
    for (i, p) in problems().enumerate() {
        let text = answer(&prompt(&p), i as u64, &profile);
        let ok = verify(&record_text(&p.question(), &text)).expect("parses").correct;
        wrong += usize::from(!ok);
        if p.class().labels() == ["plain"] || p.class().labels() == ["borrow"] {
            plain += 1;
            plain_wrong += usize::from(!ok);
        }
    }
    let overall = wrong as f64 / N as f64;
    assert!((0.25..=0.35).contains(&overall), "{overall}");
    let easy = plain_wrong as f64 / plain as f64;
    assert!(easy < 0.1, "easy problems are wrong {easy} of the time");
}

#[test]
fn invalid_rates_are_rejected_by_name() {
    assert!(ErrorProfile::default().validate().is_ok());
    let e = ErrorProfile { borrow_error_rate: 1.5, ..ErrorProfile::default() }.validate().expect_err("1.5");
    assert_eq!(e.to_string(), "`borrow_error_rate` must be a probability between 0 and 1, got 1.5");
    let e = ErrorProfile { noise_rate: f64::NAN, ..ErrorProfile::default() }.validate().expect_err("NaN");
    assert_eq!(e.field, "noise_rate");
}

fn equation(config: ProblemConfig) -> ProblemConfig {
    ProblemConfig { style: QuestionStyle::Equation, ..config }
}

#[test]
fn equations_get_the_same_mistakes_as_the_word_problems_they_compute() {
    let profile = ErrorProfile { noise_rate: 0.05, ..ErrorProfile::default() };
    let config = ProblemConfig::default();
    for i in 0..3000 {
        let words = Problem::generate(11, i, &config);
        let eq = Problem::generate(11, i, &equation(config.clone()));
        assert_eq!(words.expression(), eq.expression());
        let a = attempt(&words, &mut Rng::for_index(5, i), &profile);
        assert_eq!(a, attempt(&eq, &mut Rng::for_index(5, i), &profile), "{}", eq.question());
    }
}

#[test]
fn the_teacher_answers_equations_in_the_canonical_format_and_the_verifier_agrees() {
    let config = equation(ProblemConfig::default());
    for i in 0..1000 {
        let p = Problem::generate(12, i, &config);
        let text = answer(&prompt(&p), i, &ErrorProfile::perfect());
        assert_eq!(parse_solution(&text).answer, Some(p.answer()), "{text}");
        assert!(verify(&record_text(&p.question(), &text)).expect("parses").correct, "{text}");
    }
    let profile = ErrorProfile { format_error_rate: 0.2, ..ErrorProfile::default() };
    let (mut right, mut wrong, mut unformatted) = (0, 0, 0);
    for i in 0..3000 {
        let p = Problem::generate(12, i, &config);
        let text = answer(&prompt(&p), i, &profile);
        assert!(!REFUSALS.contains(&text.as_str()), "an equation is a problem: {}", p.question());
        assert!(!text.contains(" has "), "no story in an equation's answer: {text}");
        let parsed = parse_solution(&text);
        let v = verify(&record_text(&p.question(), &text)).expect("parses");
        if v.correct {
            assert_eq!(parsed.answer, Some(p.answer()), "{text}");
            right += 1;
        } else {
            wrong += 1;
        }
        if parsed.answer.is_none() {
            unformatted += 1;
            assert!(!v.correct);
            let truncated = text.lines().last().is_some_and(|l| l.starts_with("Step ") && !l.contains(" = "));
            assert!(text.contains("So the result is ") || text.starts_with("We start from ") || truncated, "{text}");
        }
    }
    assert!(
        right > 1500 && wrong > 600 && unformatted > 300,
        "{right} right, {wrong} wrong, {unformatted} unformatted"
    );
}

#[test]
fn small_equations_need_a_harsher_profile_for_a_third_wrong() {
    // With two-digit numbers the only systematic mistakes are carries into the
    // hundreds (sums of 100 or more) and multiplications; subtractions cannot
    // borrow across a zero, so they only slip.
    let config =
        equation(ProblemConfig { min_terms: 2, max_terms: 2, min_digits: 2, max_digits: 2, ..Default::default() });
    let wrong_share = |profile: &ErrorProfile| {
        let wrong = (0..4000)
            .filter(|&i| {
                let p = Problem::generate(13, i, &config);
                let text = answer(&prompt(&p), i, profile);
                !verify(&record_text(&p.question(), &text)).expect("parses").correct
            })
            .count();
        wrong as f64 / 4000.0
    };
    let default = wrong_share(&ErrorProfile::default());
    assert!((0.1..0.2).contains(&default), "{default}");
    let harsh =
        ErrorProfile { carry_error_rate: 0.5, multiply_error_rate: 0.4, noise_rate: 0.08, ..Default::default() };
    let harsh = wrong_share(&harsh);
    assert!((0.25..0.35).contains(&harsh), "{harsh}");
}
