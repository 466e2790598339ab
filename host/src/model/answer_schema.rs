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
//!
//! One quirk is repaired rather than refused: llama.cpp's grammars let raw
//! control characters (line breaks, tabs) into JSON strings, which JSON
//! forbids; such an answer is checked (and handed on) with them escaped, the
//! content unchanged.

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

    /// Whether `answer` is a JSON document that conforms (possibly once its
    /// raw control characters are escaped); else what is wrong (the first
    /// few problems, each with where it is).
    pub fn check(&self, answer: &str) -> Result<Checked, String> {
        let (value, checked) = match serde_json::from_str::<Value>(answer.trim()) {
            Ok(value) => (value, Checked::Conforms),
            Err(e) => {
                let not_json = || format!("the answer is not JSON: {e}");
                let repaired = escape_raw_controls(answer.trim()).ok_or_else(not_json)?;
                let value = serde_json::from_str::<Value>(&repaired).map_err(|_| not_json())?;
                (value, Checked::Repaired(repaired))
            }
        };
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
            Ok(checked)
        } else {
            Err(format!("the answer does not match the declared schema: {}", problems.join("; ")))
        }
    }
}

/// How an answer conforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// As it is.
    Conforms,
    /// Once the raw control characters in its strings are escaped: the
    /// answer to use.
    Repaired(String),
}

/// `text` with every raw control character inside a JSON string escaped
/// (`\n`, `\t`, `\r`, else `\u00XX`); `None` when there is none.
fn escape_raw_controls(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    for c in text.chars() {
        if in_string && !escaped && (c as u32) < 0x20 {
            changed = true;
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                other => out.push_str(&format!("\\u{:04x}", other as u32)),
            }
            continue;
        }
        if c == '"' && !escaped {
            in_string = !in_string;
        }
        escaped = in_string && !escaped && c == '\\';
        out.push(c);
    }
    changed.then_some(out)
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
        assert_eq!(schema.check(r#" {"rating": 2} "#), Ok(Checked::Conforms));
        let e = schema.check(r#"{"rating": 7}"#).expect_err("off the enum");
        assert!(e.contains("/rating") && e.contains("does not match the declared schema"), "{e}");
        let e = schema.check(r#"{"rating": 2"#).expect_err("cut short");
        assert!(e.starts_with("the answer is not JSON"), "{e}");
        let e = schema.check(r#"{}"#).expect_err("missing");
        assert!(e.contains("rating"), "{e}");
    }

    #[test]
    fn raw_line_breaks_in_strings_are_escaped_not_refused() {
        let schema = AnswerSchema::parse(
            r#"{"type": "object", "properties": {"why": {"type": "string"}, "rating": {"enum": [1, 2]}}}"#,
        )
        .expect("valid");
        let answer = "{\"why\": \"line one\n\tline \\\"two\\\"\", \"rating\": 1}\n";
        let Ok(Checked::Repaired(text)) = schema.check(answer) else { panic!("{:?}", schema.check(answer)) };
        assert_eq!(text, r#"{"why": "line one\n\tline \"two\"", "rating": 1}"#);
        let value: Value = serde_json::from_str(&text).expect("json now");
        assert_eq!(value["why"], "line one\n\tline \"two\"");
        // Line breaks between members are JSON's own whitespace: untouched.
        assert_eq!(schema.check("{\n\"rating\": 2\n}"), Ok(Checked::Conforms));
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
