//! A plugin's config schema (`plugin-info.config-schema`), and the check of a
//! stage's `config` against it.
//!
//! A plugin's own `configure` stops at the first thing it dislikes and speaks
//! of JSON, while the user wrote TOML. The schema lets the host check the
//! whole `config` before `configure` runs and report every problem with the
//! JSON pointer of the value at fault, which the pipeline layer turns into a
//! line and column of the pipeline file. The schema is untrusted plugin output:
//! it is compiled without fetching anything (no remote or file `$ref`), and a
//! document that is not a JSON Schema refuses the plugin with a message for
//! its author.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// The most problems reported for one stage: past that, the config is
/// probably meant for another plugin.
const MAX_PROBLEMS: usize = 20;

/// A compiled config schema.
#[derive(Clone)]
pub struct ConfigSchema {
    document: Value,
    validator: std::sync::Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSchema").field("document", &self.document).finish_non_exhaustive()
    }
}

impl serde::Serialize for ConfigSchema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(serializer)
    }
}

/// One way a stage's `config` breaks the plugin's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// JSON pointer to the value at fault inside the config (`/aspects/0/name`);
    /// for a key the schema does not allow, the key itself; `""` for the
    /// whole table.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
    /// For an unknown key: the keys the schema allows there, to suggest one.
    pub allowed_keys: Vec<String>,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match display_path(&self.pointer) {
            Some(path) => write!(f, "at `{path}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A JSON pointer as a TOML-ish dotted path (`aspects[0].name`), or `None`
/// for the root.
pub fn display_path(pointer: &str) -> Option<String> {
    let segments = pointer_segments(pointer);
    if segments.is_empty() {
        return None;
    }
    let mut path = String::new();
    for segment in segments {
        if segment.parse::<usize>().is_ok() && !path.is_empty() {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    Some(path)
}

/// The unescaped segments of a JSON pointer (`~1` is `/`, `~0` is `~`).
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

impl ConfigSchema {
    /// Parses and compiles the schema a plugin published.
    pub fn parse(text: &str) -> Result<ConfigSchema, String> {
        let document: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
        if !document.is_object() && !document.is_boolean() {
            return Err("a JSON Schema is an object (or `true`/`false`)".into());
        }
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(&document)
            .map_err(|e| format!("it is not a valid JSON Schema: {e}"))?;
        Ok(ConfigSchema { document, validator: std::sync::Arc::new(validator) })
    }

    /// The schema as the plugin published it.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every way `config` breaks the schema (at most [`MAX_PROBLEMS`]), in
    /// document order of their pointers; empty when it conforms.
    pub fn check(&self, config: &Value) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for error in self.validator.iter_errors(config) {
            let at = error.instance_path().as_str().to_string();
            match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let allowed = self.allowed_keys(&at);
                    for key in unexpected {
                        problems.push(ConfigProblem {
                            pointer: format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                            message: format!("unknown key `{key}`"),
                            allowed_keys: allowed.clone(),
                        });
                    }
                }
                ValidationErrorKind::Required { property } => problems.push(ConfigProblem {
                    pointer: at,
                    message: format!("missing required key `{}`", property.as_str().unwrap_or("?")),
                    allowed_keys: Vec::new(),
                }),
                ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
                    let choices = self.schema_at(error.schema_path().as_str()).and_then(constant_choices);
                    let message = match choices {
                        Some(choices) => format!("{} is not one of {}", error.instance(), choices.join(", ")),
                        None => error.to_string(),
                    };
                    problems.push(ConfigProblem { pointer: at, message, allowed_keys: Vec::new() })
                }
                _ => problems.push(ConfigProblem { pointer: at, message: error.to_string(), allowed_keys: Vec::new() }),
            }
        }
        problems.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        problems.dedup();
        problems.truncate(MAX_PROBLEMS);
        problems
    }

    /// The schema node at the keyword `schema_path` of a validation error
    /// names (its parent node), following `$ref` segments.
    fn schema_at(&self, schema_path: &str) -> Option<&Value> {
        let mut segments = pointer_segments(schema_path);
        segments.pop();
        let mut node = &self.document;
        for segment in segments {
            node = match segment.as_str() {
                "$ref" => {
                    let reference = node.get("$ref")?.as_str()?;
                    self.document.pointer(reference.strip_prefix('#')?)?
                }
                _ => match node {
                    Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                    _ => node.get(&segment)?,
                },
            };
        }
        Some(node)
    }

    /// The keys the schema allows in the object at `pointer` of a config,
    /// following plain `properties`, `items` and local `$ref`s; empty when
    /// the schema is shaped otherwise.
    fn allowed_keys(&self, pointer: &str) -> Vec<String> {
        let mut schema = self.resolve(&self.document);
        for segment in pointer_segments(pointer) {
            let next = match segment.parse::<usize>() {
                Ok(_) => schema.get("items"),
                Err(_) => schema.get("properties").and_then(|p| p.get(&segment)),
            };
            match next {
                Some(next) => schema = self.resolve(next),
                None => return Vec::new(),
            }
        }
        let mut keys: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// `schema`, or what its local `$ref` (`#/$defs/…`) points at; an
    /// `anyOf` of a type and `null` (an optional field) is looked through.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..16 {
            if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                match reference.strip_prefix('#').and_then(|p| self.document.pointer(p)) {
                    Some(target) => schema = target,
                    None => return schema,
                }
            } else if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
                let mut objects = options.iter().filter(|o| o.get("type").and_then(Value::as_str) != Some("null"));
                match (objects.next(), objects.next()) {
                    (Some(only), None) => schema = only,
                    _ => return schema,
                }
            } else {
                return schema;
            }
        }
        schema
    }

    /// A schema's type in words.
    fn type_name(&self, original: &Value) -> String {
        let resolved = self.resolve(original);
        if let Some(values) = resolved.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values.iter().map(Value::to_string).collect();
            return format!("one of {}", values.join(", "));
        }
        let nullable = original
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|s| s.get("type").and_then(Value::as_str) == Some("null")));
        let mut name = match resolved.get("type") {
            Some(Value::String(t)) if t == "array" => match resolved.get("items") {
                Some(items) => format!("array of {}", self.type_name(items)),
                None => "array".into(),
            },
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
            _ if resolved.get("anyOf").is_some() || resolved.get("oneOf").is_some() => "one of several shapes".into(),
            _ => "any".into(),
        };
        if nullable && !name.contains("null") {
            name.push_str(" | null");
        }
        name
    }

    /// One line per top-level key of the config, for `kiln plugin inspect`:
    /// its name, type, default and description.
    pub fn fields(&self) -> Vec<ConfigField> {
        let root = self.resolve(&self.document);
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = root.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(name, property)| {
                let resolved = self.resolve(property);
                ConfigField {
                    name: name.clone(),
                    kind: self.type_name(property),
                    required: required.contains(&name.as_str()),
                    default: property.get("default").map(Value::to_string),
                    description: property
                        .get("description")
                        .or_else(|| resolved.get("description"))
                        .and_then(Value::as_str)
                        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" ")),
                }
            })
            .collect()
    }
}

/// The values a `oneOf`/`anyOf` of constants allows (an enum whose
/// variants carry docs is derived so), as JSON; `None` when any option is
/// not a constant.
fn constant_choices(node: &Value) -> Option<Vec<String>> {
    let options = node.get("oneOf").or_else(|| node.get("anyOf"))?.as_array()?;
    let mut choices = Vec::new();
    for option in options {
        match (option.get("const"), option.get("enum").and_then(Value::as_array)) {
            (Some(value), _) => choices.push(value.to_string()),
            (None, Some(values)) => choices.extend(values.iter().map(Value::to_string)),
            (None, None) => return None,
        }
    }
    Some(choices)
}

/// A top-level key of a plugin's config, as its schema describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigField {
    /// The key.
    pub name: String,
    /// Its type in words (`integer`, `string | null`, `array of string`, `one of "words", "equation"`).
    pub kind: String,
    /// Whether the key must be given.
    pub required: bool,
    /// Its default, as JSON, when the schema says.
    pub default: Option<String>,
    /// The schema's description (the config field's doc comment).
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> ConfigSchema {
        let document = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["rubric"],
            "properties": {
                "rubric": { "type": "string", "description": "what to judge" },
                "min_words": { "type": ["integer", "null"], "minimum": 0, "default": null },
                "aspects": { "type": "array", "items": { "$ref": "#/$defs/Aspect" } },
                "style": { "enum": ["words", "equation"] }
            },
            "$defs": {
                "Aspect": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": { "name": { "type": "string" }, "weight": { "type": "number" } }
                }
            }
        });
        ConfigSchema::parse(&document.to_string()).expect("a valid schema")
    }

    #[test]
    fn a_conforming_config_has_no_problems() {
        let config = json!({ "rubric": "r", "min_words": 3, "aspects": [{ "name": "a", "weight": 1.0 }] });
        assert!(schema().check(&config).is_empty());
    }

    #[test]
    fn every_problem_is_named_with_the_pointer_of_its_value() {
        let config = json!({ "min_wrds": 3, "min_words": "many", "aspects": [{ "nme": "a" }], "style": "prose" });
        let problems = schema().check(&config);
        let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.pointer.as_str(), p.message.as_str())).collect();
        assert!(found.contains(&("", "missing required key `rubric`")), "{found:?}");
        assert!(found.contains(&("/min_wrds", "unknown key `min_wrds`")), "{found:?}");
        assert!(found.contains(&("/aspects/0/nme", "unknown key `nme`")), "{found:?}");
        assert!(found.iter().any(|(p, m)| *p == "/min_words" && m.contains("\"many\"")), "{found:?}");
        assert!(found.iter().any(|(p, _)| *p == "/style"), "{found:?}");
        let unknown = problems.iter().find(|p| p.pointer == "/aspects/0/nme").expect("found above");
        assert_eq!(unknown.allowed_keys, ["name", "weight"]);
        let top = problems.iter().find(|p| p.pointer == "/min_wrds").expect("found above");
        assert!(top.allowed_keys.contains(&"min_words".to_string()));
        assert_eq!(unknown.to_string(), "at `aspects[0].nme`: unknown key `nme`");
    }

    #[test]
    fn a_value_outside_a_documented_enum_lists_the_choices() {
        let document = json!({
            "type": "object",
            "properties": { "kinds": { "type": "array", "items": { "$ref": "#/$defs/Kind" } } },
            "$defs": { "Kind": { "oneOf": [
                { "description": "e-mail", "const": "email" },
                { "description": "phone", "enum": ["phone"] }
            ] } }
        });
        let schema = ConfigSchema::parse(&document.to_string()).expect("valid");
        let problems = schema.check(&json!({ "kinds": ["email", "ssn"] }));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pointer, "/kinds/1");
        assert_eq!(problems[0].message, r#""ssn" is not one of "email", "phone""#);
    }

    #[test]
    fn a_document_that_is_not_a_schema_is_refused() {
        assert!(ConfigSchema::parse("{").expect_err("not JSON").contains("not JSON"));
        assert!(ConfigSchema::parse("3").is_err());
        assert!(ConfigSchema::parse(r#"{"type": 7}"#).expect_err("bad type").contains("not a valid JSON Schema"));
    }

    #[test]
    fn a_remote_reference_is_not_fetched() {
        let document = r#"{"$ref": "http://127.0.0.1:9/schema.json"}"#;
        assert!(ConfigSchema::parse(document).is_err());
    }

    #[test]
    fn fields_describe_the_top_level_keys() {
        let fields = schema().fields();
        let rubric = fields.iter().find(|f| f.name == "rubric").expect("rubric");
        assert!(rubric.required);
        assert_eq!(rubric.kind, "string");
        assert_eq!(rubric.description.as_deref(), Some("what to judge"));
        let min = fields.iter().find(|f| f.name == "min_words").expect("min_words");
        assert_eq!(min.kind, "integer | null");
        assert_eq!(min.default.as_deref(), Some("null"));
        let style = fields.iter().find(|f| f.name == "style").expect("style");
        assert_eq!(style.kind, r#"one of "words", "equation""#);
        let aspects = fields.iter().find(|f| f.name == "aspects").expect("aspects");
        assert_eq!(aspects.kind, "array of object");
    }
}
