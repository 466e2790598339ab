//! Filter expressions over a record's scores and metadata, for `threshold`
//! stages: `keep_if = "scores.correct >= 1 && scores.steps_valid > 0.5"`.
//!
//! The expression language is [evalexpr]'s (arithmetic, comparisons, `&&`,
//! `||`, `!`, parentheses, string literals). Variables are `scores.<name>`
//! (numbers) and `metadata.<key>` (a top-level number, string or boolean of
//! the record's metadata). The expression is parsed, and its variables
//! checked, when the pipeline is loaded.

use evalexpr::{ContextWithMutableVariables, DefaultNumericTypes, HashMapContext, Node, Value};

use crate::record::Record;

/// A parsed `keep_if` expression.
#[derive(Debug, Clone)]
pub struct KeepIf {
    source: String,
    tree: Node<DefaultNumericTypes>,
    variables: Vec<String>,
}

/// What keeping a record by the expression decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The expression is true.
    Keep,
    /// The expression is false.
    Drop,
    /// The record lacks this variable.
    Missing(String),
    /// The expression cannot be evaluated on the record (e.g. a string compared with a number).
    Error(String),
}

impl KeepIf {
    /// Parses `source`, checking that every variable is `scores.*` or `metadata.*`.
    pub fn parse(source: &str) -> Result<KeepIf, String> {
        let tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(source)
            .map_err(|e| format!("`keep_if = \"{source}\"` is not a valid expression: {e}"))?;
        let mut variables: Vec<String> = tree.iter_read_variable_identifiers().map(str::to_string).collect();
        variables.sort();
        variables.dedup();
        if let Some(bad) = variables.iter().find(|v| !(v.starts_with("scores.") || v.starts_with("metadata."))) {
            return Err(format!(
                "`keep_if` reads `{bad}`; variables are `scores.<name>` or `metadata.<key>`, e.g. `scores.correct >= 1`"
            ));
        }
        if tree.iter_variable_identifiers().count() > tree.iter_read_variable_identifiers().count() {
            return Err("`keep_if` may not assign variables".into());
        }
        let expr = KeepIf { source: source.to_string(), tree, variables };
        expr.check_shape()?;
        Ok(expr)
    }

    /// evalexpr builds trees with a missing operand (`a >=`) and fails only
    /// when evaluating: try the expression with every variable a number, then
    /// a string, and refuse it if neither gives true or false.
    fn check_shape(&self) -> Result<(), String> {
        let mut last = String::new();
        for probe in [Value::Float(0.0), Value::String(String::new())] {
            let mut context = HashMapContext::<DefaultNumericTypes>::new();
            for variable in &self.variables {
                context.set_value(variable.clone(), probe.clone()).map_err(|e| e.to_string())?;
            }
            match self.tree.eval_with_context(&context) {
                Ok(Value::Boolean(_)) => return Ok(()),
                Ok(other) => last = format!("it gives {other}, not true or false"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("`keep_if = \"{}\"` is not a valid expression: {last}", self.source))
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression on `record`.
    pub fn decide(&self, record: &Record) -> Decision {
        let mut context = HashMapContext::<DefaultNumericTypes>::new();
        for variable in &self.variables {
            let value = if let Some(name) = variable.strip_prefix("scores.") {
                record.scores.get(name).map(|v| Value::Float(*v))
            } else if let Some(key) = variable.strip_prefix("metadata.") {
                record.metadata.get(key).and_then(json_value)
            } else {
                None
            };
            let Some(value) = value else {
                return Decision::Missing(variable.clone());
            };
            if let Err(e) = context.set_value(variable.clone(), value) {
                return Decision::Error(e.to_string());
            }
        }
        match self.tree.eval_boolean_with_context(&context) {
            Ok(true) => Decision::Keep,
            Ok(false) => Decision::Drop,
            Err(e) => Decision::Error(e.to_string()),
        }
    }
}

fn json_value(v: &serde_json::Value) -> Option<Value<DefaultNumericTypes>> {
    match v {
        serde_json::Value::Bool(b) => Some(Value::Boolean(*b)),
        serde_json::Value::Number(n) => n.as_f64().map(Value::Float),
        serde_json::Value::String(s) => Some(Value::String(s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(correct: f64, lang: &str) -> Record {
        let mut r = Record::new("r", "t");
        r.scores.insert("correct".into(), correct);
        r.scores.insert("steps_valid".into(), 0.75);
        r.metadata.insert("lang".into(), serde_json::json!(lang));
        r
    }

    #[test]
    fn scores_and_metadata_decide() {
        let e = KeepIf::parse("scores.correct >= 1 && metadata.lang == \"en\"").expect("valid");
        assert_eq!(e.decide(&record(1.0, "en")), Decision::Keep);
        assert_eq!(e.decide(&record(0.0, "en")), Decision::Drop);
        assert_eq!(e.decide(&record(1.0, "fr")), Decision::Drop);
        let e = KeepIf::parse("scores.steps_valid > 0.5 || scores.correct == 1").expect("valid");
        assert_eq!(e.decide(&record(0.0, "en")), Decision::Keep);
    }

    #[test]
    fn missing_variables_and_type_errors_are_named() {
        let e = KeepIf::parse("scores.quality > 3").expect("valid");
        assert_eq!(e.decide(&record(1.0, "en")), Decision::Missing("scores.quality".into()));
        let e = KeepIf::parse("metadata.lang > 3").expect("valid");
        assert!(matches!(e.decide(&record(1.0, "en")), Decision::Error(_)));
    }

    #[test]
    fn bad_expressions_are_refused_when_loading() {
        assert!(KeepIf::parse("scores.correct >=").expect_err("syntax").contains("not a valid expression"));
        assert!(KeepIf::parse("correct >= 1").expect_err("bare").contains("scores.<name>"));
        assert!(KeepIf::parse("scores.x = 1").is_err());
        assert!(KeepIf::parse("scores.x + 1").expect_err("number").contains("not a valid expression"));
    }
}
