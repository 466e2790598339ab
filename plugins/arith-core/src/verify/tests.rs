use super::*;
use crate::problem::{ProblemConfig, QuestionStyle};
use crate::solution::record_text;

const QUESTION: &str = "Maya has 623 marbles. Maya gives away 129 marbles. Then Maya ends up with 3 times as many marbles. \
                        Maya buys 18 more marbles. How many marbles does Maya have now?";

fn check(solution: &str) -> Verification {
    verify(&record_text(QUESTION, solution)).expect("the question parses")
}

#[test]
fn the_correct_solution_always_verifies() {
    for config in [ProblemConfig::default(), ProblemConfig { min_terms: 8, max_terms: 8, ..Default::default() }] {
        for index in 0..3000 {
            let p = Problem::generate(3, index, &config);
            let v = verify(&record_text(&p.question(), &p.solve().render())).expect("parses");
            assert!(v.correct, "{:?}\n{}", v.first_error, p.question());
            assert_eq!((v.steps_valid, v.steps_total), (p.operations.len(), p.operations.len()));
            assert_eq!(v.claimed_answer, Some(p.answer()));
            assert_eq!(v.steps_valid_fraction(), 1.0);
        }
    }
}

#[test]
fn a_correct_solution_gets_a_short_rationale() {
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nAnswer: 1500");
    assert!(v.correct);
    assert_eq!(v.rationale(), "all 3 steps check out; answer 1500 is correct");
    assert_eq!(v.first_error, None);
}

#[test]
fn a_wrong_step_is_named_and_its_consequences_are_not_double_counted() {
    let v = check("Step 1: 623 - 129 = 484\nStep 2: 484 * 3 = 1452\nStep 3: 1452 + 18 = 1470\nAnswer: 1470");
    assert!(!v.correct);
    assert_eq!(v.steps_valid, 2, "later steps that carry the wrong value correctly are valid");
    assert_eq!(v.first_error.as_deref(), Some("step 1: 623 - 129 = 484 is wrong, it is 494"));
    assert_eq!(
        v.rationale(),
        "step 1: 623 - 129 = 484 is wrong, it is 494; answer 1470 is wrong, it is 1500 (2 of 3 steps valid)"
    );
}

#[test]
fn compensating_errors_do_not_make_a_solution_correct() {
    let v = check("Step 1: 623 - 129 = 484\nStep 2: 484 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nAnswer: 1500");
    assert!(!v.correct);
    assert_eq!(v.steps_valid, 1);
    assert_eq!(v.first_error.as_deref(), Some("step 1: 623 - 129 = 484 is wrong, it is 494"));
}

#[test]
fn the_chain_must_follow_the_problem() {
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 + 18 = 512\nAnswer: 512");
    assert_eq!(v.first_error.as_deref(), Some("step 2 skips the operation * 3 and goes on with + 18"));
    assert_eq!(v.steps_valid, 1);
    let v = check(
        "Step 1: 623 - 129 = 494\nStep 2: 494 - 129 = 365\nStep 3: 365 * 3 = 1095\nStep 4: 1095 + 18 = 1113\nAnswer: 1113",
    );
    assert_eq!(v.first_error.as_deref(), Some("step 2 repeats the operation - 129"));
    assert_eq!(v.steps_valid, 3);
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nAnswer: 1482");
    assert_eq!(v.first_error.as_deref(), Some("the solution never applies the operation + 18"));
    let v = check(
        "Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nStep 4: 1500 + 1 = 1501\nAnswer: 1501",
    );
    assert_eq!(v.first_error.as_deref(), Some("step 4 is one too many: the problem has only 3 operations"));
    let v = check("Step 1: 600 - 129 = 471\nStep 2: 471 * 3 = 1413\nStep 3: 1413 + 18 = 1431\nAnswer: 1431");
    assert_eq!(v.first_error.as_deref(), Some("step 1 starts from 600, but the running total is 623"));
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 4 = 1976\nStep 3: 1976 + 18 = 1994\nAnswer: 1994");
    assert_eq!(v.first_error.as_deref(), Some("step 2 applies * 4, but the problem's next operation is * 3"));
    assert_eq!(v.steps_valid, 2);
}

#[test]
fn commutative_operands_may_be_swapped_but_subtraction_may_not() {
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 3 * 494 = 1482\nStep 3: 18 + 1482 = 1500\nAnswer: 1500");
    assert!(v.correct, "{:?}", v.first_error);
    let v = check("Step 1: 129 - 623 = -494\nStep 2: -494 * 3 = -1482\nStep 3: -1482 + 18 = -1464\nAnswer: -1464");
    assert!(!v.correct);
    assert_eq!(v.first_error.as_deref(), Some("step 1 starts from 129, but the running total is 623"));
}

#[test]
fn format_flaws_are_verdicts_not_errors() {
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500");
    assert!(!v.correct);
    assert_eq!(v.first_error.as_deref(), Some("the solution has no `Answer:` line"));
    assert_eq!(v.steps_valid, 3);
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nAnswer: fifteen hundred");
    assert_eq!(v.first_error.as_deref(), Some("the `Answer:` line has no number: \"fifteen hundred\""));
    let v = check("Maya ends with 1500 marbles.\nAnswer: 1500");
    assert_eq!(v.first_error.as_deref(), Some("the solution has no `Step k: a op b = c` lines"));
    assert_eq!(v.steps_valid_fraction(), 0.0);
    let v = check("Step 1: 623 - 129 = 494\nStep 2: I triple it\nStep 3: 1482 + 18 = 1500\nAnswer: 1500");
    assert_eq!(v.first_error.as_deref(), Some("step 2: \"I triple it\" is not an equation of the form `a op b = c`"));
    assert_eq!((v.steps_valid, v.steps_total), (1, 3), "step 3 starts from a value no step produced");
    let v = check("Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nAnswer: 1482");
    assert_eq!(v.first_error.as_deref(), Some("the answer 1482 does not follow from the last step, which gives 1500"));
}

#[test]
fn text_without_a_question_is_an_error() {
    assert!(matches!(verify("Step 1: 1 + 1 = 2\nAnswer: 2"), Err(VerifyError::NoProblem(ParseError::NotFound))));
    let e = verify("Question: how much is 1 + 1?\nSolution:\nStep 1: 1 + 1 = 2\nAnswer: 2").expect_err("unreadable");
    assert_eq!(
        e.to_string(),
        "cannot verify: the first sentence does not say how many there are to start with: \"how much is 1 + 1?\""
    );
    let e = verify("Question: What is 5 + 3 * 2?\nSolution:\nStep 1: 5 + 3 = 8\nAnswer: 8").expect_err("ambiguous");
    assert!(e.to_string().starts_with("cannot verify: \"5 + 3 * 2\" is not a chain worked out left to right"), "{e}");
}

#[test]
fn equations_verify_like_word_problems() {
    let config = ProblemConfig { style: QuestionStyle::Equation, ..Default::default() };
    for index in 0..2000 {
        let p = Problem::generate(3, index, &config);
        let v = verify(&record_text(&p.question(), &p.solve().render())).expect("parses");
        assert!(v.correct, "{:?}\n{}", v.first_error, p.question());
        assert_eq!(v.problem, p);
    }
    let check = |solution: &str| verify(&record_text("What is (47 + 38) * 2 - 5?", solution)).expect("parses");
    let v = check("Step 1: 47 + 38 = 85\nStep 2: 85 * 2 = 170\nStep 3: 170 - 5 = 165\nAnswer: 165");
    assert!(v.correct);
    assert_eq!(v.rationale(), "all 3 steps check out; answer 165 is correct");
    let v = check("Step 1: 47 + 38 = 75\nStep 2: 75 * 2 = 150\nStep 3: 150 - 5 = 145\nAnswer: 145");
    assert!(!v.correct);
    assert_eq!(
        v.rationale(),
        "step 1: 47 + 38 = 75 is wrong, it is 85; answer 145 is wrong, it is 165 (2 of 3 steps valid)"
    );
    let v = check("Step 1: 47 + 38 = 85\nStep 2: 85 - 5 = 80\nAnswer: 80");
    assert_eq!(v.first_error.as_deref(), Some("step 2 skips the operation * 2 and goes on with - 5"));
    let v = check("Step 1: 38 * 2 = 76\nStep 2: 47 + 76 = 123\nStep 3: 123 - 5 = 118\nAnswer: 118");
    assert!(!v.correct, "precedence is not how an equation is worked out: left to right is");
}

#[test]
fn an_echoing_judge_that_quotes_or_fences_the_record_still_verifies() {
    let record = record_text(
        QUESTION,
        "Step 1: 623 - 129 = 494\nStep 2: 494 * 3 = 1482\nStep 3: 1482 + 18 = 1500\nAnswer: 1500",
    );
    let quoted: String = record.lines().map(|l| format!("> {l}\n")).collect();
    let echo = format!("Here is the record you gave me:\n\n```\n{record}\n```\n");
    for text in [quoted, echo] {
        let v = verify(&text).expect("parses");
        assert!(v.correct, "{text}\n{:?}", v.first_error);
    }
}
