//! `rubric-judge`: a generic LLM-as-judge critic. It asks a judge model to
//! rate each record on the aspects of a rubric, and reads the ratings and
//! rationales back from the judge's answer, however the model formats it.
//!
//! # Config
//!
//! - `aspects`: a list of `{ name, description }`. Each name becomes a score
//!   name, so it must be lower-case letters, digits and `_`, starting with a
//!   letter; names must differ in more than case, spaces, `-` and `_` (the
//!   parser ignores those). Default: the four aspects UltraFeedback rates —
//!   `helpfulness`, `honesty`, `instruction_following`, `truthfulness`.
//! - `scale`: `{ min, max }`, whole numbers with `0 <= min < max <= 100`;
//!   default `{ min = 1, max = 5 }` (either bound may be given alone).
//! - `instructions`: free text put at the top of the prompt.
//! - `system`: a system message sent before the prompt.
//! - `include_metadata_fields`: metadata keys (e.g. `"instruction"`) whose
//!   values are shown to the judge as context for the text. A key missing
//!   from a record's metadata is left out of that record's prompt.
//! - `overall` (default `true`): add an `overall` score, the mean of the
//!   aspects' ratings. An aspect may be called `overall` only when this is
//!   `false`.
//! - `answer_format`: `lines` (default) or `json` — how the prompt asks the
//!   judge to answer (below).
//! - `examples`: worked examples shown before the text (few-shot), each
//!   `{ text, ratings = { aspect = n, … }, rationale }` rating every aspect on
//!   the scale; they are rendered in the answer format. Small models that do
//!   not follow the format from instructions alone often do after two or three.
//!
//! # Prompt
//!
//! An optional system message, then one user message, tagged with the
//! record id: the instructions, the aspects with their descriptions, the
//! context, the examples, the text between `<<<BEGIN TEXT>>>` and
//! `<<<END TEXT>>>`, and the answer format — one line per aspect,
//! `aspect: rating - rationale`, or with `answer_format = "json"` one JSON
//! object, `{"aspect": {"rationale": "…", "rating": 4}, …}`.
//!
//! Every prompt declares the JSON Schema of that object (each aspect's
//! `rating` one of the scale's whole numbers, its `rationale` at most 300
//! characters): a model with `structured_output` answers in it under
//! grammar-constrained decoding, and the host checks the answer against it.
//! Other models ignore it, so use `answer_format = "json"` with such a model,
//! and keep the prompt saying in words what the schema says.
//!
//! # Parsing
//!
//! Judges rarely follow a format exactly, so the parser reads the common
//! shapes of an answer: `aspect: rating` lines with Markdown decoration,
//! `4/5` or `4 out of 5`, tables, headed sections with `Rating:` lines, and
//! JSON objects (see the `parse` module for the full list). Decimal ratings
//! are kept as they are. An answer is rejected — with a message naming the
//! aspect and quoting the answer — when an aspect has no rating, a rating off
//! the scale or out of another maximum (`8/10` on a 1–5 scale), a range
//! (`3-4`), or two different ratings. The rationale is each aspect's
//! rationale as `aspect: …` lines, or the answer's free text when it gives
//! none per aspect, cut to 1000 characters.

mod aspect;
mod config;
mod parse;
mod prompt;

use kiln_pdk::{Completion, Critic, Critique, Plugin, Prompt, Record};

pub use aspect::Aspect;
pub use config::{AnswerFormat, AspectConfig, Config, ConfigError, Example, ExampleConfig, Rubric, Scale};
pub use parse::{MAX_RATIONALE_CHARS, ParseError, Parser};

/// The critic, configured.
pub struct RubricJudge {
    parser: Parser,
    /// The JSON Schema of an answer, declared with every prompt.
    schema: String,
}

impl Plugin for RubricJudge {
    type Config = Config;
    const DESCRIPTION: &'static str = "LLM-as-judge: rates records on a configurable rubric of aspects";

    fn new(config: Config) -> Result<Self, String> {
        let rubric = Rubric::try_from(config).map_err(|e| e.to_string())?;
        let schema = prompt::answer_schema(&rubric);
        let parser =
            Parser::new(rubric).map_err(|e| format!("internal error compiling the rubric-judge patterns: {e}"))?;
        Ok(RubricJudge { parser, schema })
    }
}

impl RubricJudge {
    /// The validated rubric.
    pub fn rubric(&self) -> &Rubric {
        self.parser.rubric()
    }
}

impl Critic for RubricJudge {
    fn prompt(&self, record: &Record) -> Prompt {
        prompt::build(self.parser.rubric(), record, &self.schema)
    }

    fn parse(&self, completion: &Completion) -> Result<Critique, String> {
        self.parser.parse(&completion.text).map_err(|e| e.to_string())
    }
}

kiln_pdk::export_critic!(RubricJudge);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_a_record_end_to_end() {
        let judge = RubricJudge::new(Config::default()).expect("valid");
        let prompt = judge.prompt(&Record::new("r-42", "Water boils at 100 °C at sea level."));
        assert_eq!(prompt.tag, "r-42");
        let answer = "helpfulness: 4 - Answers the question directly.\n\
                      honesty: 5 - States the fact without hedging, as it should.\n\
                      instruction_following: 4 - Short, as asked.\n\
                      truthfulness: 5 - Correct.";
        let critique = judge.parse(&Completion { tag: prompt.tag, text: answer.into() }).expect("parses");
        let scores: Vec<(&str, f64)> = critique.scores.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(
            scores,
            [
                ("helpfulness", 4.0),
                ("honesty", 5.0),
                ("instruction_following", 4.0),
                ("truthfulness", 5.0),
                ("overall", 4.5)
            ]
        );
        assert!(critique.rationale.starts_with("helpfulness: Answers the question directly.\nhonesty: States"));
    }

    #[test]
    fn bad_config_is_rejected_with_its_message() {
        let config: Config = kiln_pdk::__parse_config(r#"{"scale": {"min": 3, "max": 2}}"#).expect("parses");
        let err = RubricJudge::new(config).err().expect("rejected");
        assert_eq!(err, "scale.min (3) must be less than scale.max (2)");
    }

    #[test]
    fn parse_errors_are_strings_for_the_host() {
        let judge = RubricJudge::new(Config::default()).expect("valid");
        let err = judge.parse(&Completion { tag: "t".into(), text: "I cannot rate this.".into() }).expect_err("no");
        assert_eq!(
            err,
            "no rating for helpfulness, honesty, instruction_following, truthfulness in the judge's answer \
             \"I cannot rate this.\""
        );
    }
}
