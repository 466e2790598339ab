//! `arith-problems`: arithmetic problems as prompts for a teacher model.
//!
//! `prompts` builds exactly `request.count` prompts; prompt `i` asks for a
//! step-by-step solution of problem `i` of the set seeded with `request.seed`
//! (see [`kiln_arith::Problem::generate`]): a system message (a careful math
//! tutor) and a user message with the answer format and a `Question:` line.
//! `parse` turns a completion into one record:
//!
//! ```text
//! Question: <question>
//! Solution:
//! Step 1: <a> <op> <b> = <c>
//! ...
//! Answer: <n>
//! ```
//!
//! with the steps renumbered and whitespace normalised (a step the parser
//! cannot read is kept as written, for the verifier to reject), and metadata:
//! the problem's class (`terms`, `max_digits`, `carries_into_hundreds`,
//! `borrows`, `borrows_across_zero`, `has_multiplication`, `classes`), the
//! `expression`, `expected_answer` (the true answer), `claimed_answer` (the
//! completion's), `problem_seed` and `problem_index`. A completion without
//! step lines or without a numeric `Answer:` line is a parse error.
//!
//! Seed records (`request.seeds`, e.g. personas): prompt `i` uses seed record
//! `i % len`. Its text (up to 300 characters) is added to the system message
//! as the student being tutored; if its metadata has a `"name"` that is a
//! single word of letters, the problem is about that person instead of a
//! stock name. The arithmetic never depends on the seed records.
//!
//! Config (every key optional): `min_terms` (2), `max_terms` (5, at most 8),
//! `min_digits` (1), `max_digits` (4, at most 6), `ops` (`["+", "-", "*"]`),
//! `max_multiplier` (9, at most 12), `style` (`"words"`, or `"equation"`).
//!
//! Style `"equation"` writes each question as its expression, `What is 47 +
//! 38?`, `What is (5 + 3) * 2?`: a chain worked out strictly left to right,
//! as the steps are, with parentheses only where left to right differs from
//! the usual precedence (see [`kiln_arith::QuestionStyle::Equation`]). Problem
//! `i` computes the same thing in either style; an equation has no story, so
//! seed records set only the student, never a name. The record format is the
//! same: `Question: What is 47 + 38?\nSolution:\nStep 1: 47 + 38 = 85\nAnswer: 85`.

use kiln_arith::{Op, Problem, ProblemConfig, QuestionStyle, parse_question, parse_solution, record_text};
use kiln_pdk::{Completion, GenerationRequest, Generator, Message, Plugin, Prompt, Record};
use serde::{Deserialize, Serialize};

/// What problems to generate, as written in the stage's `config` table.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Fewest terms per problem (the start counts as one).
    pub min_terms: usize,
    /// Most terms per problem.
    pub max_terms: usize,
    /// Fewest digits of a start amount or added/subtracted number.
    pub min_digits: u32,
    /// Most digits of such a number.
    pub max_digits: u32,
    /// Allowed operations: any of `"+"`, `"-"`, `"*"`.
    pub ops: Vec<String>,
    /// Largest multiplier.
    pub max_multiplier: i64,
    /// How questions are written: `"words"` or `"equation"`.
    pub style: QuestionStyle,
    /// A curriculum's focus: problem classes (`carry`, `borrow`, `plain`, …,
    /// as the held-out items label them) that `focus_share` of the problems
    /// are drawn from (default: none).
    pub focus: Vec<String>,
    /// The share of problems drawn from the `focus` classes, in [0, 1] (default 0.5).
    pub focus_share: f64,
}

impl Default for Config {
    fn default() -> Self {
        let c = ProblemConfig::default();
        Config {
            min_terms: c.min_terms,
            max_terms: c.max_terms,
            min_digits: c.min_digits,
            max_digits: c.max_digits,
            ops: c.ops.iter().map(|op| op.symbol().to_string()).collect(),
            max_multiplier: c.max_multiplier,
            style: c.style,
            focus: Vec::new(),
            focus_share: 0.5,
        }
    }
}

impl TryFrom<Config> for ProblemConfig {
    type Error = String;

    fn try_from(c: Config) -> Result<Self, String> {
        let mut ops = Vec::new();
        for symbol in &c.ops {
            let op = Op::from_symbol(symbol.trim()).ok_or_else(|| {
                format!("invalid config at `ops`: unknown operation `{symbol}`; use \"+\", \"-\" or \"*\"")
            })?;
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
        let config = ProblemConfig {
            min_terms: c.min_terms,
            max_terms: c.max_terms,
            min_digits: c.min_digits,
            max_digits: c.max_digits,
            ops,
            max_multiplier: c.max_multiplier,
            style: c.style,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// What a prompt's tag carries to `parse`: where the problem came from and its text.
#[derive(Debug, Serialize, Deserialize)]
struct Tag {
    seed: u64,
    index: u64,
    question: String,
}

/// The generator, configured.
pub struct ArithProblems {
    config: ProblemConfig,
    focus: Vec<String>,
    focus_share: f64,
}

/// Draws per problem when looking for one of the focus classes.
const FOCUS_TRIES: u64 = 64;

const CLASSES: [&str; 6] = ["plain", "carry", "borrow", "borrow-zero", "multiply", "long"];

impl Plugin for ArithProblems {
    type Config = Config;
    const DESCRIPTION: &'static str =
        "arithmetic word problems as step-by-step prompts; completions parsed into Question/Solution/Answer records";

    fn new(config: Config) -> Result<Self, String> {
        if let Some(unknown) = config.focus.iter().find(|c| !CLASSES.contains(&c.as_str())) {
            return Err(format!(
                "invalid config at `focus`: unknown class `{unknown}`; classes: {}",
                CLASSES.join(", ")
            ));
        }
        if !(0.0..=1.0).contains(&config.focus_share) {
            return Err(format!("invalid config at `focus_share`: {} is not in [0, 1]", config.focus_share));
        }
        let (focus, focus_share) = (config.focus.clone(), config.focus_share);
        Ok(ArithProblems { config: config.try_into()?, focus, focus_share })
    }
}

/// A number in [0, 1) fixed by `(seed, index)` (splitmix64).
fn unit(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

const SYSTEM: &str = "You are a careful math tutor. You solve arithmetic word problems step by step, \
                      one operation per line, and check every calculation.";

/// How to read the question, per style; [`FORMAT`] follows.
fn instructions(style: QuestionStyle) -> &'static str {
    match style {
        QuestionStyle::Words => {
            "Solve the word problem below. Apply the operations in the order the story tells them, "
        }
        QuestionStyle::Equation => "Work out the expression below operation by operation, from left to right, ",
    }
}

const FORMAT: &str = "one per line, exactly in this format:\n\
                            Step 1: <number> <operation> <number> = <result>\n\
                            Step 2: <result of step 1> <operation> <number> = <result>\n\
                            Use + to add, - to subtract and * to multiply. After the last step, write one final line:\n\
                            Answer: <number>";

/// Most characters of a seed record's text put into the system message.
const PERSONA_CHARS: usize = 300;

/// A name from a seed record's metadata, if it is one word of letters.
fn persona_name(record: &Record) -> Option<String> {
    let metadata = record.metadata_json();
    let name = metadata.get("name")?.as_str()?.trim();
    if !(2..=20).contains(&name.chars().count()) || !name.chars().all(char::is_alphabetic) {
        return None;
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

impl ArithProblems {
    /// Problem `index`: `focus_share` of them of a focus class (when one
    /// turns up within [`FOCUS_TRIES`] draws), the others as they come.
    fn draw(&self, seed: u64, index: u64) -> Problem {
        let first = Problem::generate(seed, index, &self.config);
        if self.focus.is_empty() || unit(seed, index) >= self.focus_share {
            return first;
        }
        let focused = |p: &Problem| p.class().labels().iter().any(|l| self.focus.iter().any(|f| f == l));
        if focused(&first) {
            return first;
        }
        (1..FOCUS_TRIES)
            .map(|j| Problem::generate(seed, index.wrapping_mul(FOCUS_TRIES).wrapping_add(j) ^ (1 << 62), &self.config))
            .find(focused)
            .unwrap_or(first)
    }

    /// Prompt `index` of `request`.
    fn prompt(&self, request: &GenerationRequest, index: u64) -> Prompt {
        let mut problem = self.draw(request.seed, index);
        let mut system = SYSTEM.to_string();
        let persona =
            (!request.seeds.is_empty()).then(|| &request.seeds[(index % request.seeds.len() as u64) as usize]);
        if let Some(persona) = persona {
            let text: String = persona.text.chars().take(PERSONA_CHARS).collect();
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                system.push_str(&format!("\nThe student you are tutoring: {text}"));
            }
            // An equation has no story to put the name in.
            if let Some(name) = persona_name(persona).filter(|_| problem.style == QuestionStyle::Words) {
                let renamed = Problem { name, ..problem.clone() };
                // Only a name the question still parses back with is used.
                if parse_question(&renamed.question()).as_ref() == Ok(&renamed) {
                    problem = renamed;
                }
            }
        }
        let question = problem.question();
        let user = format!("{}{FORMAT}\n\nQuestion: {question}", instructions(problem.style));
        let tag = Tag { seed: request.seed, index, question };
        Prompt {
            messages: vec![
                Message { role: "system".into(), content: system },
                Message { role: "user".into(), content: user },
            ],
            // Serialising a struct of a number and strings cannot fail.
            tag: serde_json::to_string(&tag).unwrap_or_default(),
            answer_schema: None,
        }
    }
}

/// The first characters of a completion, for error messages.
fn opening(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut head: String = flat.chars().take(60).collect();
    if head.len() < flat.len() {
        head.push('…');
    }
    head
}

impl Generator for ArithProblems {
    fn prompts(&self, request: &GenerationRequest) -> Vec<Prompt> {
        (0..u64::from(request.count)).map(|i| self.prompt(request, i)).collect()
    }

    fn parse(&self, completion: &Completion) -> Result<Vec<Record>, String> {
        let tag: Tag = serde_json::from_str(&completion.tag)
            .map_err(|e| format!("the completion's tag is not one arith-problems made ({e})"))?;
        let problem = parse_question(&tag.question)
            .map_err(|e| format!("the question in the completion's tag does not parse: {e}"))?;
        let solution = parse_solution(&completion.text);
        if solution.steps.is_empty() {
            return Err(format!("the completion has no `Step k: a op b = c` lines: \"{}\"", opening(&completion.text)));
        }
        let Some(claimed) = solution.answer else {
            return Err(match &solution.answer_text {
                Some(text) => format!("the completion's `Answer:` line has no number: \"{}\"", opening(text)),
                None => "the completion has no `Answer: <number>` line".to_string(),
            });
        };
        let class = problem.class();
        let metadata = serde_json::json!({
            "terms": class.terms,
            "max_digits": class.max_digits,
            "carries_into_hundreds": class.carries_into_hundreds,
            "borrows": class.borrows,
            "borrows_across_zero": class.borrows_across_zero,
            "has_multiplication": class.has_multiplication,
            "classes": class.labels(),
            "expression": problem.expression(),
            "expected_answer": problem.answer(),
            "claimed_answer": claimed,
            "problem_seed": tag.seed,
            "problem_index": tag.index,
        });
        let mut record =
            Record::new(format!("arith-{}-{}", tag.seed, tag.index), record_text(&tag.question, &solution.render()));
        record.metadata = metadata.to_string();
        Ok(vec![record])
    }
}

kiln_pdk::export_generator!(ArithProblems);

#[cfg(test)]
mod tests;
