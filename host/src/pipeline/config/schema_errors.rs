//! Every structural error of a pipeline file at once.
//!
//! Serde stops at the first unknown key, wrong type or unknown variant of a
//! document, so a file with seven mistakes would need seven rounds of fixing.
//! Here the file is parsed once into TOML's spanned tree, and each section
//! (`[pipeline]`, each `[[input]]`, each `[models.<name>]`, each `[[stage]]`,
//! `[output]`, `[trust]`) is deserialised on its own; when a section fails, the key at
//! fault is recorded, removed and the section tried again, until it passes or
//! an error names no key of it (a missing field). Unknown top-level tables
//! and non-finite numbers (`nan`, `inf`), which no setting accepts, are
//! reported too. Spans are the file's, so every error keeps its line and
//! column.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use crate::pipeline::config::rounds::{AlarmConfig, ArmConfig, RoundsConfig};
use crate::pipeline::config::{InputConfig, ModelConfig, OutputConfig, PipelineSection, StageConfig, TrustConfig};

/// Attempts per section: each removes one key, so a section with more
/// mistakes than this reports the first ones.
const MAX_ERRORS_PER_SECTION: usize = 32;

/// The top-level keys of a pipeline file.
const SECTIONS: [&str; 7] = ["pipeline", "input", "models", "stage", "output", "rounds", "trust"];

/// A structural problem: its message and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// What is wrong (serde's words).
    pub message: String,
    /// Byte range in the file.
    pub span: Option<std::ops::Range<usize>>,
}

/// Every structural error of `text`, in file order; a syntax error alone
/// when the file is not TOML.
pub fn collect(text: &str) -> Vec<SchemaError> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => return vec![SchemaError { message: e.message().trim().to_string(), span: e.span() }],
    };
    let root_span = root.span();
    let root = root.into_inner();
    let mut errors = Vec::new();
    non_finite(&root, &mut errors);
    for (key, value) in root.iter() {
        let name = key.get_ref().as_ref();
        match name {
            "pipeline" => section::<PipelineSection>(value, &mut errors),
            "output" => section::<OutputConfig>(value, &mut errors),
            "rounds" => rounds(value, &mut errors),
            "trust" => section::<TrustConfig>(value, &mut errors),
            "input" | "stage" => match value.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if name == "input" {
                            section::<InputConfig>(item, &mut errors);
                        } else {
                            section::<StageConfig>(item, &mut errors);
                        }
                    }
                }
                other => errors.push(SchemaError {
                    message: format!("`{name}` must be an array of tables (`[[{name}]]`), not {}", other.type_str()),
                    span: Some(value.span()),
                }),
            },
            "models" => match value.get_ref() {
                DeValue::Table(models) => {
                    for (_, model) in models.iter() {
                        section::<ModelConfig>(model, &mut errors);
                    }
                }
                other => errors.push(SchemaError {
                    message: format!("`models` must be a table of `[models.<name>]`, not {}", other.type_str()),
                    span: Some(value.span()),
                }),
            },
            other => errors.push(SchemaError {
                message: format!(
                    "unknown field `{other}`, expected one of {}",
                    SECTIONS.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ),
                span: Some(key.span()),
            }),
        }
    }
    for required in ["pipeline", "output"] {
        if !root.iter().any(|(k, _)| k.get_ref().as_ref() == required) {
            errors.push(SchemaError {
                message: format!("missing the `[{required}]` table"),
                span: Some(root_span.start..root_span.start),
            });
        }
    }
    errors.sort_by_key(|e| e.span.as_ref().map_or(0, |s| s.start));
    errors
}

/// `[rounds]`: its own keys, then each of its `[[rounds.stage]]`,
/// `[[rounds.arm]]` and `[[rounds.alarm]]` on its own, so that a mistake in
/// one stage does not hide the others.
fn rounds(value: &Spanned<DeValue<'_>>, errors: &mut Vec<SchemaError>) {
    let DeValue::Table(table) = value.get_ref() else {
        errors.push(SchemaError {
            message: format!("`rounds` must be a table (`[rounds]`), not {}", value.get_ref().type_str()),
            span: Some(value.span()),
        });
        return;
    };
    // Its own keys first, the nested arrays emptied (each is checked below).
    let mut own = DeTable::new();
    for (key, v) in table.iter() {
        let nested =
            matches!(key.get_ref().as_ref(), "stage" | "arm" | "alarm") && matches!(v.get_ref(), DeValue::Array(_));
        let v = if nested { Spanned::new(v.span(), DeValue::Array(DeArray::new())) } else { v.clone() };
        own.insert(key.clone(), v);
    }
    let shallow = Spanned::new(value.span(), DeValue::Table(own));
    section::<RoundsConfig>(&shallow, errors);
    for (key, items) in table.iter() {
        let DeValue::Array(items) = items.get_ref() else {
            if matches!(key.get_ref().as_ref(), "stage" | "arm" | "alarm") {
                errors.push(SchemaError {
                    message: format!("`rounds.{}` must be an array of tables", key.get_ref()),
                    span: Some(items.span()),
                });
            }
            continue;
        };
        for item in items.iter() {
            match key.get_ref().as_ref() {
                "stage" => section::<StageConfig>(item, errors),
                "arm" => section::<ArmConfig>(item, errors),
                "alarm" => section::<AlarmConfig>(item, errors),
                _ => {}
            }
        }
    }
}

/// Deserialises one section as `T`, recording each error and dropping the
/// key it names, until the section passes or an error names no key.
fn section<T: DeserializeOwned>(value: &Spanned<DeValue<'_>>, errors: &mut Vec<SchemaError>) {
    let mut value = value.clone();
    for _ in 0..MAX_ERRORS_PER_SECTION {
        let Err(e) = T::deserialize(ValueDeserializer::from(value.clone())) else { return };
        let span = e.span();
        errors.push(SchemaError { message: e.message().trim().to_string(), span: span.clone() });
        let (Some(span), DeValue::Table(table)) = (span, value.get_mut()) else { return };
        let at_fault = table.iter().find(|(k, v)| within(&span, &k.span()) || within(&span, &v.span()));
        let Some(key) = at_fault.map(|(k, _)| k.clone()) else { return };
        table.remove(&key);
    }
}

/// Whether `inner` lies within `outer`.
fn within(inner: &std::ops::Range<usize>, outer: &std::ops::Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Records every `nan` and `inf` in `table`, at any depth.
fn non_finite(table: &DeTable<'_>, errors: &mut Vec<SchemaError>) {
    for (_, value) in table.iter() {
        non_finite_value(value, errors);
    }
}

fn non_finite_value(value: &Spanned<DeValue<'_>>, errors: &mut Vec<SchemaError>) {
    match value.get_ref() {
        DeValue::Float(f) if f.as_str().contains("nan") || f.as_str().contains("inf") => errors.push(SchemaError {
            message: format!("`{}` is not a finite number; every number in a pipeline must be finite", f.as_str()),
            span: Some(value.span()),
        }),
        DeValue::Table(t) => non_finite(t, errors),
        DeValue::Array(items) => items.iter().for_each(|v| non_finite_value(v, errors)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_mistakes_are_seven_errors() {
        let text = r#"[pipeline]
name = "x"
sed = 3
chunk_size = "many"

[[input]]
pathh = "a.jsonl"

[models.m]
backend = "openai"
temprature = 0.5

[[stage]]
name = "a"
kind = "filter"
on_error = "explode"
batchsize = 3

[[stage]]
name = "b"
kind = "threshold"
config = { min = nan }

[output]
dir = "out"
fromat = "jsonl"

[extra]
"#;
        let errors = collect(text);
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        for expected in [
            "unknown field `sed`",
            "invalid type: string \"many\"",
            "unknown field `pathh`",
            "unknown field `temprature`",
            "unknown variant `explode`",
            "unknown field `batchsize`",
            "`nan` is not a finite number",
            "unknown field `fromat`",
            "unknown field `extra`",
        ] {
            assert!(messages.iter().any(|m| m.starts_with(expected)), "missing {expected:?} in {messages:#?}");
        }
        assert!(errors.windows(2).all(|w| w[0].span.as_ref().map(|s| s.start) <= w[1].span.as_ref().map(|s| s.start)));
    }

    #[test]
    fn a_correct_file_has_none() {
        let text = "[pipeline]\nname = \"x\"\n\n[[input]]\npath = \"a.jsonl\"\n\n[output]\ndir = \"out\"\n";
        assert_eq!(collect(text), []);
    }
}
