//! The plain Rust types a plugin works with: mirrors of the WIT types of
//! `kiln:plugin/types`, independent of the generated bindings so that plugin
//! logic compiles and is tested natively.

use std::borrow::Cow;

/// A named score, e.g. `quality = 0.83`.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Score name, e.g. `correct`.
    pub name: String,
    /// Score value.
    pub value: f64,
}

/// Where a record came from and what touched it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lineage {
    /// `path/to/input.jsonl:12`, or `stage:<name>` for generated records.
    pub source: String,
    /// The record this one was derived from.
    pub parent: Option<String>,
    /// Generation round; 0 for real data.
    pub round: u32,
    /// Every stage that touched the record, as `stage=plugin@version`.
    pub steps: Vec<String>,
}

/// One unit of data flowing through a pipeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Stable identifier, unique within a run.
    pub id: String,
    /// The text stages work on.
    pub text: String,
    /// Metadata: a JSON object, serialised (`{}` when empty).
    pub metadata: String,
    /// Scores put on the record by earlier stages.
    pub scores: Vec<Score>,
    /// Provenance.
    pub lineage: Lineage,
}

impl Record {
    /// A record with the given id and text and nothing else.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Record { id: id.into(), text: text.into(), metadata: "{}".into(), ..Default::default() }
    }

    /// The value of the score `name`, if the record has one.
    pub fn score(&self, name: &str) -> Option<f64> {
        self.scores.iter().find(|s| s.name == name).map(|s| s.value)
    }

    /// Sets score `name` to `value`, replacing an earlier value.
    pub fn set_score(&mut self, name: &str, value: f64) {
        match self.scores.iter_mut().find(|s| s.name == name) {
            Some(s) => s.value = value,
            None => self.scores.push(Score { name: name.into(), value }),
        }
    }

    /// The metadata parsed as JSON (`Null` if it is not valid JSON).
    pub fn metadata_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.metadata).unwrap_or(serde_json::Value::Null)
    }
}

/// A filter's answer for one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep the record.
    Keep,
    /// Drop it; the reason names the rule, e.g. `gopher:too-few-words`.
    /// A fixed reason (`&'static str`) costs no allocation per record.
    Drop(Cow<'static, str>),
}

impl Verdict {
    /// A drop with the given reason: a `&'static str` (no allocation) or a `String`.
    pub fn drop(reason: impl Into<Cow<'static, str>>) -> Self {
        Verdict::Drop(reason.into())
    }
}

/// A mapper's answer for one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// The rewritten record; its id must not change.
    Keep(Record),
    /// Drop it, with a reason.
    Drop(String),
}

/// What a generator is asked to produce.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GenerationRequest {
    /// How many prompts to build.
    pub count: u32,
    /// Seed for every random choice.
    pub seed: u64,
    /// Optional examples or personas.
    pub seeds: Vec<Record>,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

/// A prompt for a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Opaque to the host; handed back with the completion.
    pub tag: String,
    /// The JSON Schema of the answer, as a JSON document, when the plugin
    /// expects JSON: a model with `structured_output` is asked to answer in
    /// it and the host checks the answer before `parse` (see `wit/README.md`).
    pub answer_schema: Option<String>,
}

impl Prompt {
    /// A prompt of a single user message.
    pub fn user(content: impl Into<String>, tag: impl Into<String>) -> Self {
        Prompt {
            messages: vec![Message { role: "user".into(), content: content.into() }],
            tag: tag.into(),
            answer_schema: None,
        }
    }

    /// The prompt with `schema` (a JSON Schema document) as the schema of its answer.
    pub fn with_answer_schema(mut self, schema: impl Into<String>) -> Self {
        self.answer_schema = Some(schema.into());
        self
    }
}

/// A model's answer to one prompt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// The tag of the prompt this answers.
    pub tag: String,
    /// The completion text.
    pub text: String,
}

/// A critic's judgement of one record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Critique {
    /// Named scores, e.g. `helpfulness = 4`.
    pub scores: Vec<Score>,
    /// Why.
    pub rationale: String,
}

/// A refiner's check of one rewrite.
#[derive(Debug, Clone, PartialEq)]
pub enum RewriteCheck {
    /// The rewrite satisfies the constraint.
    Accept,
    /// It does not; the reason says why.
    Reject(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_score_replaces() {
        let mut r = Record::new("a", "text");
        r.set_score("q", 1.0);
        r.set_score("q", 2.0);
        assert_eq!(r.scores.len(), 1);
        assert_eq!(r.score("q"), Some(2.0));
        assert_eq!(r.score("missing"), None);
    }

    #[test]
    fn metadata_json_parses() {
        let mut r = Record::new("a", "t");
        r.metadata = r#"{"lang":"en"}"#.into();
        assert_eq!(r.metadata_json()["lang"], "en");
    }
}
