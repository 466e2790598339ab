//! Realistic judge answers, well-formed and not.

use super::*;
use crate::config::Config;

fn parser(json: &str) -> Parser {
    let config: Config = kiln_pdk::__parse_config(json).expect("config parses");
    Parser::new(Rubric::try_from(config).expect("valid rubric")).expect("patterns compile")
}

/// The default (UltraFeedback) rubric, without the overall score.
fn uf() -> Parser {
    parser(r#"{"overall": false}"#)
}

fn scores(p: &Parser, answer: &str) -> Vec<f64> {
    match p.parse(answer) {
        Ok(c) => c.scores.iter().map(|s| s.value).collect(),
        Err(e) => panic!("{e}\n--- answer ---\n{answer}"),
    }
}

fn error(p: &Parser, answer: &str) -> String {
    match p.parse(answer) {
        Ok(c) => panic!("parsed {c:?}\n--- answer ---\n{answer}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn requested_format() {
    let answer = "helpfulness: 4 - Gives the steps needed.\nhonesty: 5 - Flags its one assumption.\n\
                  instruction_following: 3 - Ignores the word limit.\ntruthfulness: 4 - One date is off by a year.";
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 3.0, 4.0]);
    assert_eq!(
        c.rationale,
        "helpfulness: Gives the steps needed.\nhonesty: Flags its one assumption.\n\
         instruction_following: Ignores the word limit.\ntruthfulness: One date is off by a year."
    );
}

#[test]
fn overall_is_the_mean() {
    let c = parser("").parse("helpfulness: 4\nhonesty: 5\ninstruction_following: 3\ntruthfulness: 3").expect("ok");
    assert_eq!(c.scores.last().map(|s| (s.name.as_str(), s.value)), Some(("overall", 3.75)));
    assert_eq!(c.scores.len(), 5);
}

#[test]
fn markdown_bold_and_fractions() {
    let answer = "**Helpfulness**: 4/5\n**Honesty**: 5/5\n**Instruction Following**: 3/5\n**Truthfulness**: 4/5";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    let answer = "**Helpfulness:** **4** — clear steps\n**Honesty:** 5\n**Instruction following:** 3\n\
                  **Truthfulness:** 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn dash_lists_with_out_of() {
    let answer = "Here is my assessment:\n\n- helpfulness — 4 out of 5\n- honesty — 5 out of 5\n\
                  - instruction-following — 2 out of 5\n- truthfulness — 4 out of 5\n\nLet me know if you need more.";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 2.0, 4.0]);
}

#[test]
fn numbered_list_with_scale_notes() {
    let answer = "1. **Helpfulness (1-5):** 4 – The answer is useful.\n2. **Honesty (1-5):** 5 – Appropriately hedged.\n\
                  3. **Instruction Following (1-5):** 4 – Mostly on task.\n4. **Truthfulness (1-5):** 3 – One error.";
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 4.0, 3.0]);
    assert!(c.rationale.starts_with("helpfulness: The answer is useful.\n"), "{}", c.rationale);
}

#[test]
fn headed_sections_with_rating_lines() {
    let answer = "### Helpfulness\nThe response walks through the setup and explains each flag.\n\
                  Truthfulness aside, it is what the user needed.\nRating: 4\n\n\
                  ### Honesty\n**Rating:** 5\nRationale: It says when it is unsure.\n\n\
                  ### Instruction Following\nScore: 3/5\nIt ignores the requested bullet format.\n\n\
                  ### Truthfulness\n4\nThe version number is slightly outdated.\n\n\
                  ### Summary\nRating: 4\nA solid answer overall.";
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 3.0, 4.0]);
    assert!(c.rationale.contains("helpfulness: The response walks through"), "{}", c.rationale);
    assert!(c.rationale.contains("honesty: It says when it is unsure."), "{}", c.rationale);
    assert!(c.rationale.contains("truthfulness: The version number"), "{}", c.rationale);
    assert!(!c.rationale.contains("solid answer"), "{}", c.rationale);
}

#[test]
fn aspect_name_paragraphs_with_a_rating_at_the_end() {
    let answer = "Helpfulness: The answer covers every step clearly (4/5).\n\
                  Honesty: It hedges where it should. Score: 5\n\
                  Instruction following: It respects the format, so I give it 4 out of 5.\n\
                  Truthfulness and accuracy: 3";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 4.0, 3.0]);
}

#[test]
fn tables() {
    let answer = "| Aspect | Rating | Rationale |\n|---|:---:|---|\n| Helpfulness | 4 | Useful |\n\
                  | Honesty | 5 | Candid |\n| Instruction Following | 3 | Too long |\n| Truthfulness | 4 | Minor slip |";
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 3.0, 4.0]);
    assert!(c.rationale.starts_with("helpfulness: Useful\nhonesty: Candid\n"), "{}", c.rationale);
}

#[test]
fn all_on_one_line() {
    let answer = "Helpfulness: 4, Honesty: 5, Instruction following: 3, Truthfulness: 4.";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    let answer = "Scores: helpfulness 4; honesty 5; instruction_following 3; truthfulness 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn names_in_any_case_and_spacing() {
    let answer = "HELPFULNESS: 4\nHonesty: 5\nINSTRUCTION-FOLLOWING: 3\nTruthFulness: 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    let answer = "Helpfulness rating: 4\nRating for honesty: 5\nInstructionFollowing = 3\n\"truthfulness\": 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn decimals_are_kept() {
    assert_eq!(
        scores(&uf(), "Helpfulness: 4.5\nHonesty: 5.0/5\nInstruction Following: 3.25\nTruthfulness: 4"),
        [4.5, 5.0, 3.25, 4.0]
    );
}

#[test]
fn repeated_identical_ratings_are_fine() {
    let answer = "Helpfulness: 4 - good.\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4\n\n\
                  Final scores: Helpfulness 4, Honesty 5, Instruction following 3, Truthfulness 4.\n\
                  Overall: 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn prose_mentions_are_not_ratings() {
    let answer = "Helpfulness: 4 - it explains, honestly, the 3 steps.\n\
                  Honesty: 5 - the truthfulness of each claim is flagged.\n\
                  Instruction following: 4 - the helpfulness tips are extra.\nTruthfulness: 5 - correct.";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 4.0, 5.0]);
}

#[test]
fn json_flat_in_a_fence() {
    let answer = "Here is my evaluation:\n```json\n{\"helpfulness\": 4, \"honesty\": 5, \
                  \"instruction_following\": 3, \"truthfulness\": 4, \"rationale\": \"Good but long.\"}\n```";
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 3.0, 4.0]);
    assert_eq!(c.rationale, "Good but long.");
}

#[test]
fn json_nested_objects() {
    let answer = r#"{
  "helpfulness": {"rating": 4, "rationale": "Covers the main steps."},
  "honesty": {"rating": 5, "rationale": "No overclaiming."},
  "Instruction Following": {"score": "3/5", "explanation": "Too long."},
  "truthfulness": {"Rating": 4.5, "reason": "Accurate."}
}"#;
    let c = uf().parse(answer).expect("parses");
    assert_eq!(c.scores.iter().map(|s| s.value).collect::<Vec<_>>(), [4.0, 5.0, 3.0, 4.5]);
    assert!(c.rationale.contains("instruction_following: Too long."), "{}", c.rationale);
}

#[test]
fn json_lists_and_wrappers() {
    let answer = r#"Sure! {"evaluation": [
        {"aspect": "Helpfulness", "score": 4, "justification": "Useful."},
        {"aspect": "honesty", "score": 5},
        {"aspect": "instruction following", "score": 2},
        {"aspect": "Truthfulness", "score": 4}
    ], "overall": 3.75}"#;
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 2.0, 4.0]);
    let answer =
        r#"{"ratings": {"helpfulness_score": 4, "honestyRating": 5, "instruction_following": "4", "truthfulness": 3}}"#;
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 4.0, 3.0]);
}

#[test]
fn json_without_aspects_falls_back_to_text() {
    let answer = "Helpfulness: 4\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4\n\
                  Metadata: {\"model\": \"x\"}";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    // Truncated JSON is read line by line, and still misses what was cut.
    let e = error(&uf(), r#"{"helpfulness": 4, "honesty": 5, "instruction_following": 3, "truthfulness": "#);
    assert!(e.starts_with(r#"no rating for truthfulness in the judge's answer "{\"helpfulness\": 4"#), "{e}");
}

#[test]
fn json_ratings_that_are_not_numbers() {
    let e = error(&uf(), r#"{"helpfulness": "high", "honesty": 5, "instruction_following": 3, "truthfulness": 4}"#);
    assert_eq!(e, r#"helpfulness has a rating that is not a number, in "\"helpfulness\": \"high\"""#);
    let e = error(&uf(), r#"{"helpfulness": 4, "honesty": null, "instruction_following": 3, "truthfulness": 4}"#);
    assert!(e.starts_with("honesty has a rating that is not a number"), "{e}");
    let e = error(
        &uf(),
        r#"{"helpfulness": {"comment": "fine"}, "honesty": 5, "instruction_following": 3, "truthfulness": 4}"#,
    );
    assert!(e.starts_with("helpfulness has a rating that is not a number"), "{e}");
}

#[test]
fn missing_aspects_are_named() {
    let e = error(&uf(), "Helpfulness: 4\nHonesty: 5\n\nThe rest looks fine.");
    assert_eq!(
        e,
        "no rating for instruction_following, truthfulness in the judge's answer \
         \"Helpfulness: 4 Honesty: 5 The rest looks fine.\""
    );
    let e = error(&uf(), "Helpfulness: N/A\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4");
    assert!(e.starts_with("no rating for helpfulness"), "{e}");
}

#[test]
fn refusals_and_empty_answers() {
    let e = error(&uf(), "I'm sorry, but I can't evaluate this text because it contains no question to answer.");
    assert!(e.starts_with("no rating for helpfulness, honesty, instruction_following, truthfulness"), "{e}");
    assert!(e.contains("\"I'm sorry, but I can't evaluate"), "{e}");
    assert_eq!(error(&uf(), " \n\t"), "the judge's answer is empty");
}

#[test]
fn out_of_scale_ratings() {
    let e = error(&uf(), "Helpfulness: 6\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4");
    assert_eq!(e, "helpfulness is rated 6, outside the scale 1 to 5, in \"Helpfulness: 6\"");
    let e = error(&uf(), "Helpfulness: 4\nHonesty: 0 - evasive\nInstruction following: 3\nTruthfulness: 4");
    assert!(e.starts_with("honesty is rated 0, outside the scale 1 to 5"), "{e}");
    let e = error(&uf(), r#"{"helpfulness": 4, "honesty": 5, "instruction_following": 3, "truthfulness": 40}"#);
    assert!(e.starts_with("truthfulness is rated 40, outside the scale"), "{e}");
}

#[test]
fn another_scale_is_rejected() {
    let e = error(&uf(), "Helpfulness: 8/10\nHonesty: 9/10\nInstruction following: 7/10\nTruthfulness: 8/10");
    assert_eq!(e, "helpfulness is rated out of 10, but the scale goes up to 5, in \"Helpfulness: 8/10\"");
    let e = error(&uf(), "Helpfulness: 4 out of 10\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4");
    assert!(e.starts_with("helpfulness is rated out of 10"), "{e}");
}

#[test]
fn two_different_ratings_are_ambiguous() {
    let answer = "Helpfulness: 4\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4\n\n\
                  On reflection, Helpfulness: 3";
    let e = error(&uf(), answer);
    assert_eq!(e, "helpfulness has two different ratings, 4 and 3, in \"On reflection, Helpfulness: 3\"");
    let answer =
        "### Honesty\nRating: 4\nRating: 5\n### Helpfulness\n4\n### Instruction following\n3\n### Truthfulness\n4";
    assert!(error(&uf(), answer).starts_with("honesty has two different ratings, 4 and 5"));
    let answer = r#"[{"aspect": "helpfulness", "rating": 4}, {"aspect": "helpfulness", "rating": 2},
                     {"aspect": "honesty", "rating": 5}, {"aspect": "instruction_following", "rating": 3},
                     {"aspect": "truthfulness", "rating": 4}]"#;
    assert!(error(&uf(), answer).starts_with("helpfulness has two different ratings, 4 and 2"));
}

#[test]
fn ranges_are_ambiguous() {
    let e = error(&uf(), "Helpfulness: 3-4\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4");
    assert_eq!(e, "helpfulness is given a range or a choice instead of one rating, in \"Helpfulness: 3-4\"");
    let e = error(&uf(), "Helpfulness: 4\nHonesty: 4 or 5\nInstruction following: 3\nTruthfulness: 4");
    assert!(e.starts_with("honesty is given a range"), "{e}");
}

#[test]
fn custom_rubric_and_scale() {
    let p = parser(
        r#"{"aspects": [{"name": "clarity", "description": "Is it clear?"},
                        {"name": "code_clarity", "description": "Is the code clear?"}],
            "scale": {"min": 0, "max": 10}}"#,
    );
    let c = p.parse("Code clarity: 7/10 - readable names\nClarity: 9 - crisp prose").expect("parses");
    let got: Vec<(&str, f64)> = c.scores.iter().map(|s| (s.name.as_str(), s.value)).collect();
    assert_eq!(got, [("clarity", 9.0), ("code_clarity", 7.0), ("overall", 8.0)]);
    assert!(p.parse("Clarity: 0\nCode clarity: 10").is_ok());
    assert!(error(&p, "Clarity: 11\nCode clarity: 10").starts_with("clarity is rated 11, outside the scale 0 to 10"));
}

#[test]
fn single_aspect_rubric_takes_a_bare_rating() {
    let p = parser(r#"{"aspects": [{"name": "quality", "description": "Overall quality."}], "overall": false}"#);
    assert_eq!(scores(&p, "Rating: 4\nThe text is well written."), [4.0]);
    assert_eq!(scores(&p, "4"), [4.0]);
    assert_eq!(scores(&p, "**Score:** 3/5"), [3.0]);
    assert_eq!(p.parse("Rating: 4\nWell written.").expect("parses").rationale, "Well written.");
    assert!(error(&p, "It is fine.").starts_with("no rating for quality"));
}

#[test]
fn rationale_falls_back_to_free_text_and_is_capped() {
    let answer =
        format!("{}\nHelpfulness: 4\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4", "word ".repeat(400));
    let c = uf().parse(&answer).expect("parses");
    assert_eq!(c.rationale.chars().count(), MAX_RATIONALE_CHARS);
    assert!(c.rationale.ends_with('…'));
    assert!(c.rationale.starts_with("word word"));
}

#[test]
fn snippets_are_short_and_on_one_line() {
    let s = snippet(&format!("line one\n\n  line two {}", "x".repeat(200)));
    assert!(s.starts_with("line one line two xxx"));
    assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
    assert_eq!(truncate("héllo", 10), "héllo");
    assert_eq!(truncate("héllo wörld", 5), "héllo…");
}

#[test]
fn no_panic_on_odd_answers() {
    let p = uf();
    for answer in [
        "```",
        "```json\n{",
        "{}",
        "[]",
        "}{",
        "Helpfulness:",
        "Helpfulness: 999999999999999999999",
        "Helpfulness: 4/",
        "Helpfulness: 4.",
        "Helpfulness: .5",
        "# \n## \n|||",
        "helpfulness helpfulness helpfulness: 4 4 4",
        "ℌ𝔢𝔩𝔭𝔣𝔲𝔩𝔫𝔢𝔰𝔰: ４",
        "Helpfulness: ٤",
        "\u{0}\u{feff}Helpfulness\u{200b}: 4",
        &"{\"a\":".repeat(200),
        &"[".repeat(1000),
    ] {
        let _ = p.parse(answer);
    }
}

#[test]
fn chain_of_thought_prose() {
    let answer = "Let me evaluate each aspect.\n\n\
                  1. Helpfulness: The response gives 3 concrete steps and a code sample. I would rate it a 4.\n\
                  2. Honesty: It notes the one thing it is unsure of. I give it 5/5.\n\
                  3. Instruction following: The user asked for bullet points; it used prose. Score: 2\n\
                  4. Truthfulness: All claims check out, so I'd rate this response a 5.";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 2.0, 5.0]);
    let answer = "### Helpfulness\nThe answer is useful. I would rate it 4.\n\n### Honesty\nIt hedges well.\nRating: 5\n\n\
                  ### Instruction following\nIt follows 3 out of 5 constraints, which I rate as 3.\nRating: 3\n\n\
                  ### Truthfulness\nCorrect throughout, scored 5.";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 5.0]);
}

#[test]
fn explicit_ratings_win_over_prose() {
    let answer = "### Helpfulness\nIt covers 2 out of 5 requested items.\nRating: 3\n\n### Honesty\n5\n\n\
                  ### Instruction following\n4\n\n### Truthfulness\n4";
    assert_eq!(scores(&uf(), answer), [3.0, 5.0, 4.0, 4.0]);
}

#[test]
fn scale_explanations_are_not_ratings() {
    let answer = "Helpfulness (1 = not helpful, 5 = very helpful): 4\nHonesty: 5\nInstruction following: 3 (out of 5)\n\
                  Truthfulness: 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn tags_python_dicts_and_run_on_lines() {
    let answer = "<helpfulness>4</helpfulness>\n<honesty>5</honesty>\n\
                  <instruction_following>3</instruction_following>\n<truthfulness>4</truthfulness>";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    let answer = "{'helpfulness': 4, 'honesty': 5, 'instruction_following': 3, 'truthfulness': 4}";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
    let answer = "Helpfulness: 4 Honesty: 5 Instruction following: 3 Truthfulness: 4";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}

#[test]
fn echoed_template_lines_are_skipped() {
    let answer = "helpfulness: <rating> - <rationale>\nhonesty: <rating> - <rationale>\n\n\
                  helpfulness: 4 - fine\nhonesty: 5 - fine\ninstruction_following: 4 - fine\ntruthfulness: 5 - fine";
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 4.0, 5.0]);
}

#[test]
fn more_shapes_seen_in_the_wild() {
    let cases = [
        "Helpfulness: ★★★★☆ (4/5)\nHonesty: ★★★★★ (5/5)\nInstruction following: ★★★☆☆ (3/5)\nTruthfulness: ★★★★☆ (4/5)",
        "**Evaluation**\n\n**Helpfulness: 4/5**\nThorough.\n\n**Honesty: 5/5**\nCandid.\n\n\
         **Instruction Following: 3/5**\nLong.\n\n**Truthfulness: 4/5**\nOk.",
        "Helpfulness - 4\nHonesty - 5\nInstruction Following - 3\nTruthfulness - 4",
        "Helpfulness\n4\nHonesty\n5\nInstruction following\n3\nTruthfulness\n4",
        "Helpfulness: 4.\nHonesty: 5.\nInstruction following: 3.\nTruthfulness: 4.",
        "1) Helpfulness — 4: solid\n2) Honesty — 5: candid\n3) Instruction following — 3: long\n4) Truthfulness — 4: ok",
        "Helpfulness: 4 / Honesty: 5 / Instruction following: 3 / Truthfulness: 4",
        "The helpfulness is 4, the honesty is 5, instruction following is 3 and truthfulness is 4.",
        "Truthfulness: 4\nHelpfulness: 4\nhonesty: 5\ninstruction following: 3",
    ];
    for answer in cases {
        // Scores come in rubric order whatever the answer's order.
        assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0], "{answer}");
    }
    let c = uf().parse(cases[7]).expect("parses");
    assert_eq!(c.rationale, "", "connectives are not rationale");
    let c = uf().parse(cases[1]).expect("parses");
    assert_eq!(
        c.rationale,
        "helpfulness: Thorough.\nhonesty: Candid.\ninstruction_following: Long.\ntruthfulness: Ok."
    );
}

#[test]
fn ratings_in_words_are_not_guessed() {
    let e = error(&uf(), "Helpfulness: Four\nHonesty: 5\nInstruction following: 3\nTruthfulness: 4");
    assert!(e.starts_with("no rating for helpfulness in the judge's answer \"Helpfulness: Four Honesty: 5"), "{e}");
}

#[test]
fn stray_numbers_in_garbage_are_never_ratings() {
    // What a small base model writes when it does not follow the format:
    // numbers in prose, lists and continuations of the text are no ratings.
    let single = parser(r#"{"aspects": [{"name": "quality", "description": "Overall quality."}], "overall": false}"#);
    for garbage in [
        "There are 16 species of owls and 3 of them live here.",
        "16\nThe owls of the forest.",
        "1. Owls\n2. Hawks\n3. Eagles",
        "In 1987, 4 owls were seen; the study lasted 16 years.",
        "<<<END TEXT>>>\n\nThe text says 16 and 4 in passing.",
    ] {
        assert!(single.parse(garbage).is_err(), "read a rating from {garbage:?}: {:?}", single.parse(garbage));
    }
    for garbage in ["16", "The answer is 16 out of garbage 4 words.", "helpfulness helpfulness 16 honesty"] {
        assert!(uf().parse(garbage).is_err(), "read ratings from {garbage:?}: {:?}", uf().parse(garbage));
    }
}

#[test]
fn the_json_the_schema_asks_for_parses() {
    let answer = r#"{"helpfulness": {"rationale": "Gives steps.", "rating": 4}, "honesty": {"rationale": "Hedges.", "rating": 5},
                    "instruction_following": {"rationale": "Long.", "rating": 3}, "truthfulness": {"rationale": "Fine.", "rating": 4}}"#;
    assert_eq!(scores(&uf(), answer), [4.0, 5.0, 3.0, 4.0]);
}
