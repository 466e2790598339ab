//! The JSON Schema a plugin declares for the answer to its prompt
//! (`prompt.answer-schema` in the contract), compiled once per distinct
//! schema, and the check of an answer against it.
//!
//! With a model that declares `structured_output`, the schema goes to the
//! server (which constrains its decoding to it) and every answer is checked
//! here before a plugin sees it: a server that ignores the request (some do,
//! silently) or an answer cut by `max_tokens` gives a typed error on the
//! record instead of a confusing parse error in the plugin. The schema is
//! untrusted plugin output; only local references resolve.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// A compiled answer schema.
#[derive(Clone)]
pub struct AnswerSchema {
    document: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for AnswerSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnswerSchema").field(&self.document).finish()
    }
}

impl AnswerSchema {
    /// Parses and compiles a schema a plugin declared.
    pub fn parse(text: &str) -> Result<AnswerSchema, String> {
        let document: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
        if !document.is_object() {
            return Err("a JSON Schema of an answer is an object".into());
        }
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(&document)
            .map_err(|e| format!("it is not a valid JSON Schema: {e}"))?;
        Ok(AnswerSchema { document: Arc::new(document), validator: Arc::new(validator) })
    }

    /// The schema as declared.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Whether `answer` is a JSON document that conforms; else what is wrong
    /// (the first few problems, each with where it is).
    pub fn check(&self, answer: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(answer.trim()).map_err(|e| format!("the answer is not JSON: {e}"))?;
        let problems: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(3)
            .map(|e| {
                let at = e.instance_path().as_str().to_string();
                if at.is_empty() { e.to_string() } else { format!("at {at}: {e}") }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("the answer does not match the declared schema: {}", problems.join("; ")))
        }
    }
}

/// Schemas compiled so far, by their text: a stage's prompts usually share one.
#[derive(Debug, Default)]
pub struct SchemaBook {
    compiled: HashMap<String, Result<AnswerSchema, String>>,
}

impl SchemaBook {
    /// The compiled schema of `text` (compiled on first sight).
    pub fn get(&mut self, text: &str) -> Result<AnswerSchema, String> {
        self.compiled.entry(text.to_string()).or_insert_with(|| AnswerSchema::parse(text)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATING: &str = r#"{"type": "object", "properties": {"rating": {"enum": [1, 2, 3]}}, "required": ["rating"]}"#;

    #[test]
    fn answers_are_checked() {
        let schema = AnswerSchema::parse(RATING).expect("valid");
        assert!(schema.check(r#" {"rating": 2} "#).is_ok());
        let e = schema.check(r#"{"rating": 7}"#).expect_err("off the enum");
        assert!(e.contains("/rating") && e.contains("does not match the declared schema"), "{e}");
        let e = schema.check(r#"{"rating": 2"#).expect_err("cut short");
        assert!(e.starts_with("the answer is not JSON"), "{e}");
        let e = schema.check(r#"{}"#).expect_err("missing");
        assert!(e.contains("rating"), "{e}");
    }

    #[test]
    fn bad_schemas_say_why() {
        assert!(AnswerSchema::parse("{").expect_err("not json").starts_with("it is not JSON"));
        assert!(AnswerSchema::parse("[1]").is_err());
        assert!(AnswerSchema::parse(r#"{"type": 12}"#).expect_err("bad").contains("not a valid JSON Schema"));
        let mut book = SchemaBook::default();
        assert!(book.get(RATING).is_ok());
        assert!(book.get("nope").is_err());
    }
}
