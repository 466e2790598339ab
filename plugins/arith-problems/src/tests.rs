use super::*;
use kiln_arith::{ErrorProfile, teacher, verify};

fn generator(config: &str) -> Result<ArithProblems, String> {
    ArithProblems::new(kiln_pdk::__parse_config::<Config>(config)?)
}

fn request(count: u32, seed: u64) -> GenerationRequest {
    GenerationRequest { count, seed, seeds: vec![] }
}

fn user(p: &Prompt) -> &str {
    &p.messages[1].content
}

/// The teacher's completion of a prompt (what an embedded teacher stage would give).
fn complete(p: &Prompt, profile: &ErrorProfile) -> Completion {
    Completion { tag: p.tag.clone(), text: teacher::answer(user(p), 1, profile) }
}

#[test]
fn prompts_are_exactly_count_and_problem_i_comes_from_seed_and_i() {
    let g = generator("").expect("defaults");
    let prompts = g.prompts(&request(25, 9));
    assert_eq!(prompts.len(), 25);
    assert!(g.prompts(&request(0, 9)).is_empty());
    for (i, p) in prompts.iter().enumerate() {
        let problem = Problem::generate(9, i as u64, &ProblemConfig::default());
        assert_eq!(p.messages[0].role, "system");
        assert!(p.messages[0].content.contains("careful math tutor"));
        assert_eq!(p.messages[1].role, "user");
        assert!(user(p).ends_with(&format!("\n\nQuestion: {}", problem.question())), "{}", user(p));
        assert!(user(p).contains("Step 1: <number> <operation> <number> = <result>"));
        assert!(user(p).contains("Answer: <number>"));
    }
    assert_eq!(prompts, g.prompts(&request(25, 9)), "deterministic");
    assert_eq!(g.prompts(&request(5, 9)), prompts[..5], "a prefix does not depend on the count");
    assert_ne!(g.prompts(&request(5, 10)), prompts[..5]);
}

#[test]
fn seed_records_set_the_student_and_the_name_but_not_the_arithmetic() {
    let g = generator("").expect("defaults");
    let mut zoe = Record::new("p1", "  Zoe, 9,\n loves   trains.  ");
    zoe.metadata = r#"{"name": "zoe"}"#.into();
    let mut odd = Record::new("p2", "A retired sailor.");
    odd.metadata = r#"{"name": "Mary Ann"}"#.into();
    let req = GenerationRequest { count: 4, seed: 3, seeds: vec![zoe, odd] };
    let plain = g.prompts(&request(4, 3));
    let with = g.prompts(&req);
    for (i, (p, q)) in plain.iter().zip(&with).enumerate() {
        let a = parse_question(kiln_arith::question_in(user(p)).expect("question")).expect("parses");
        let b = parse_question(kiln_arith::question_in(user(q)).expect("question")).expect("parses");
        assert_eq!(a.expression(), b.expression());
        if i % 2 == 0 {
            assert_eq!(b.name, "Zoe");
            assert!(q.messages[0].content.ends_with("The student you are tutoring: Zoe, 9, loves trains."));
        } else {
            assert_eq!(b.name, a.name, "a two-word name is not used");
            assert!(q.messages[0].content.ends_with("The student you are tutoring: A retired sailor."));
        }
    }
}

#[test]
fn a_completion_becomes_one_record_in_the_canonical_format() {
    let g = generator("").expect("defaults");
    let prompts = g.prompts(&request(40, 2));
    for p in &prompts {
        let records = g.parse(&complete(p, &ErrorProfile::perfect())).expect("parses");
        assert_eq!(records.len(), 1);
        let r = &records[0];
        let problem = parse_question(kiln_arith::question_in(user(p)).expect("question")).expect("parses");
        assert_eq!(r.text, record_text(&problem.question(), &problem.solve().render()));
        let m = r.metadata_json();
        assert_eq!(m["expected_answer"], problem.answer());
        assert_eq!(m["claimed_answer"], problem.answer());
        assert_eq!(m["terms"], problem.terms());
        assert_eq!(m["has_multiplication"], problem.class().has_multiplication);
        assert_eq!(m["expression"], problem.expression());
        assert!(m["classes"].is_array());
        assert!(verify(&r.text).expect("verifiable").correct);
    }
}

#[test]
fn steps_are_normalised_and_unreadable_ones_kept_for_the_verifier() {
    let g = generator("").expect("defaults");
    let p = &g.prompts(&request(1, 0))[0];
    let problem = parse_question(kiln_arith::question_in(user(p)).expect("question")).expect("parses");
    let steps: Vec<String> = problem.solve().steps.iter().map(|s| s.equation()).collect();
    let mut text = String::from("Sure! Let's go.\n\n");
    for (i, s) in steps.iter().enumerate() {
        text.push_str(&format!("  **Step {}:**   {}  \n", i + 1, s.replace(' ', "  ")));
    }
    text.push_str("Step 99:   and   that is   all\n**Answer:** 12");
    let r = &g.parse(&Completion { tag: p.tag.clone(), text }).expect("parses")[0];
    let body: Vec<&str> = r.text.lines().collect();
    assert_eq!(body[1], "Solution:");
    assert_eq!(body[2], format!("Step 1: {}", steps[0]));
    assert_eq!(body[body.len() - 2], format!("Step {}: and that is all", steps.len() + 1));
    assert_eq!(body[body.len() - 1], "Answer: 12");
    assert_eq!(r.metadata_json()["claimed_answer"], 12);
    assert!(!verify(&r.text).expect("verifiable").correct);
}

#[test]
fn malformed_completions_are_parse_errors_with_a_reason() {
    let g = generator("").expect("defaults");
    let tag = g.prompts(&request(1, 0))[0].tag.clone();
    let parse = |text: &str| g.parse(&Completion { tag: tag.clone(), text: text.into() });
    let e = parse("Maya starts with 5; adding 3 gives 8. So the answer is 8.").expect_err("prose");
    assert_eq!(
        e,
        "the completion has no `Step k: a op b = c` lines: \"Maya starts with 5; adding 3 gives 8. So the answer is 8.\""
    );
    assert_eq!(
        parse("Step 1: 5 + 3 = 8\nSo she has 8.").expect_err("no answer"),
        "the completion has no `Answer: <number>` line"
    );
    assert_eq!(
        parse("Step 1: 5 + 3 = 8\nAnswer: eight").expect_err("words"),
        "the completion's `Answer:` line has no number: \"eight\""
    );
    let e = g.parse(&Completion { tag: "42".into(), text: "Step 1: 1 + 1 = 2\nAnswer: 2".into() }).expect_err("tag");
    assert!(e.starts_with("the completion's tag is not one arith-problems made"), "{e}");
    let long = "I am not sure. ".repeat(20);
    let e = parse(&long).expect_err("refusal");
    assert!(e.ends_with("…\""), "long completions are cut in messages: {e}");
}

#[test]
fn with_the_default_teacher_some_parse_and_verify_and_some_do_not() {
    let g = generator("").expect("defaults");
    let (mut verified, mut rejected, mut unparsed) = (0, 0, 0);
    for p in g.prompts(&request(1000, 5)) {
        match g.parse(&complete(&p, &ErrorProfile::default())) {
            Ok(records) => {
                let r = &records[0];
                let m = r.metadata_json();
                let v = verify(&r.text).expect("verifiable");
                assert_eq!(v.expected_answer, m["expected_answer"]);
                if v.correct {
                    assert_eq!(m["claimed_answer"], m["expected_answer"]);
                    verified += 1;
                } else {
                    rejected += 1;
                }
            }
            Err(_) => unparsed += 1,
        }
    }
    assert!((600..=800).contains(&verified), "{verified} verified, {rejected} rejected, {unparsed} unparsed");
    assert!((5..=60).contains(&unparsed), "{unparsed} unparsed");
}

#[test]
fn config_is_validated_with_clear_messages() {
    let g = generator(r#"{"ops": ["+"], "min_digits": 3, "max_digits": 3, "min_terms": 3, "max_terms": 3}"#)
        .expect("valid");
    for p in g.prompts(&request(20, 1)) {
        let problem = parse_question(kiln_arith::question_in(user(&p)).expect("q")).expect("parses");
        assert_eq!(problem.terms(), 3);
        assert!(problem.operations.iter().all(|o| o.op == Op::Add && (100..1000).contains(&o.operand)));
    }
    let e = generator(r#"{"ops": ["+", "/"]}"#).err().expect("division");
    assert_eq!(e, "invalid config at `ops`: unknown operation `/`; use \"+\", \"-\" or \"*\"");
    let e = generator(r#"{"max_terms": 9}"#).err().expect("too many");
    assert_eq!(e, "invalid problem config: terms must satisfy 2 <= min_terms <= max_terms <= 8, got 2..=9");
    let e = generator(r#"{"digits": 3}"#).err().expect("unknown key");
    assert!(e.contains("unknown field `digits`"), "{e}");
    assert!(generator(r#"{"ops": ["×", "-"]}"#).is_ok());
}

#[test]
fn equation_style_asks_what_is_the_expression_and_records_it_verbatim() {
    let g = generator(r#"{"style": "equation", "min_terms": 2, "max_terms": 3, "max_digits": 2}"#).expect("valid");
    let words = generator(r#"{"min_terms": 2, "max_terms": 3, "max_digits": 2}"#).expect("valid");
    let mut zoe = Record::new("p1", "Zoe, 9.");
    zoe.metadata = r#"{"name": "Zoe"}"#.into();
    let req = GenerationRequest { count: 300, seed: 4, seeds: vec![zoe] };
    let (mut verified, mut rejected) = (0, 0);
    for (p, w) in g.prompts(&req).iter().zip(words.prompts(&req)) {
        let question = kiln_arith::question_in(user(p)).expect("question");
        assert!(question.starts_with("What is ") && question.ends_with('?'), "{question}");
        assert!(!question.contains("Zoe"), "an equation has no name");
        assert!(user(p).starts_with("Work out the expression below operation by operation, from left to right,"));
        assert!(p.messages[0].content.ends_with("The student you are tutoring: Zoe, 9."));
        let problem = parse_question(question).expect("parses");
        assert_eq!(problem.style, QuestionStyle::Equation);
        assert_eq!(question, format!("What is {}?", problem.expression()));
        let same = parse_question(kiln_arith::question_in(user(&w)).expect("question")).expect("parses");
        assert_eq!(same.expression(), problem.expression(), "the style does not change the arithmetic");

        let r = &g.parse(&complete(p, &ErrorProfile::perfect())).expect("parses")[0];
        assert_eq!(r.text, record_text(question, &problem.solve().render()));
        assert!(r.text.starts_with(&format!("Question: {question}\nSolution:\nStep 1: ")), "{}", r.text);
        assert_eq!(r.metadata_json()["expression"], problem.expression());
        assert!(verify(&r.text).expect("verifiable").correct);
        if let Ok(records) = g.parse(&complete(p, &ErrorProfile::default())) {
            if verify(&records[0].text).expect("verifiable").correct {
                verified += 1;
            } else {
                rejected += 1;
            }
        }
    }
    assert!(verified > 200 && rejected > 8, "{verified} verified, {rejected} rejected");
    let first = &g.prompts(&request(1, 0))[0];
    let r =
        &g.parse(&Completion { tag: first.tag.clone(), text: "Step 1: 1 + 1 = 2\nAnswer: 2".into() }).expect("parses");
    assert!(!verify(&r[0].text).expect("verifiable").correct, "a wrong solution is kept, for the verifier to reject");
}

#[test]
fn an_unknown_style_names_the_allowed_ones() {
    let e = generator(r#"{"style": "latex"}"#).err().expect("unknown style");
    assert_eq!(e, "invalid config at `style`: unknown variant `latex`, expected `words` or `equation`");
    let e = generator(r#"{"style": 2}"#).err().expect("not a string");
    assert!(e.starts_with("invalid config at `style`:"), "{e}");
    assert_eq!(generator(r#"{"style": "words"}"#).expect("valid").config, ProblemConfig::default());
    assert_eq!(generator("").expect("defaults").config.style, QuestionStyle::Words);
}

#[test]
fn a_focus_draws_its_share_of_problems_from_the_hard_classes() {
    let config = r#"{"min_terms":2,"max_terms":2,"min_digits":2,"max_digits":2,"ops":["+","-"],"style":"equation"}"#;
    let focused = r#"{"min_terms":2,"max_terms":2,"min_digits":2,"max_digits":2,"ops":["+","-"],"style":"equation","focus":["carry"],"focus_share":0.8}"#;
    let share = |g: &ArithProblems| {
        let prompts = g.prompts(&request(1000, 3));
        let carries = prompts
            .iter()
            .filter(|p| {
                let question = user(p).rsplit("Question: ").next().unwrap_or("");
                parse_question(question).map(|q| q.class().labels().contains(&"carry")).unwrap_or(false)
            })
            .count();
        carries as f64 / 1000.0
    };
    let (plain, focus) = (share(&generator(config).expect("valid")), share(&generator(focused).expect("valid")));
    assert!(plain < 0.4 && focus > 0.8, "carry share {plain:.2} without focus, {focus:.2} with");
    assert!(generator(r#"{"focus":["carries"]}"#).err().is_some_and(|e| e.contains("unknown class `carries`")));
    assert!(generator(r#"{"focus_share":1.5}"#).is_err());
}
