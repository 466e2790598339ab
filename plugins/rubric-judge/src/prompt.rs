//! The judge prompt: instructions, the aspects, optional context from the
//! record's metadata, worked examples, the text, and the exact answer format
//! — in words, and as the JSON Schema of the answer, which a model with
//! structured output answers in (the host sends it and checks the answer).

use kiln_pdk::{Message, Prompt, Record};
use serde_json::{Value, json};

use crate::config::{AnswerFormat, Example, Rubric};

/// The longest rationale the schema lets a judge write, in characters: a
/// grammar-constrained small model otherwise fills `max_tokens` with one.
pub const SCHEMA_RATIONALE_CHARS: u64 = 300;

/// The JSON Schema of an answer in the `json` format: one object per aspect
/// with a whole-number `rating` on the scale and a short `rationale`, every
/// aspect required and nothing else allowed.
pub fn answer_schema(rubric: &Rubric) -> String {
    let ratings: Vec<u32> = (rubric.scale.min..=rubric.scale.max).collect();
    let aspect = json!({
        "type": "object",
        "properties": {
            "rationale": { "type": "string", "maxLength": SCHEMA_RATIONALE_CHARS },
            "rating": { "enum": ratings },
        },
        "required": ["rationale", "rating"],
        "additionalProperties": false,
    });
    let properties: serde_json::Map<String, Value> =
        rubric.aspects.iter().map(|a| (a.name.clone(), aspect.clone())).collect();
    let names: Vec<&str> = rubric.aspects.iter().map(|a| a.name.as_str()).collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": names,
        "additionalProperties": false,
    })
    .to_string()
}

/// The line before the text to evaluate.
pub const BEGIN: &str = "<<<BEGIN TEXT>>>";
/// The line after it.
pub const END: &str = "<<<END TEXT>>>";

/// The judge prompt for `record`: an optional system message, then one user
/// message. The tag is the record id; the answer schema is `schema`.
pub fn build(rubric: &Rubric, record: &Record, schema: &str) -> Prompt {
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &rubric.system {
        messages.push(Message { role: "system".into(), content: system.clone() });
    }
    messages.push(Message { role: "user".into(), content: user_message(rubric, record) });
    Prompt { messages, tag: record.id.clone(), answer_schema: Some(schema.to_string()) }
}

fn user_message(rubric: &Rubric, record: &Record) -> String {
    let (min, max) = (rubric.scale.min, rubric.scale.max);
    let mut out = String::new();
    if let Some(instructions) = &rubric.instructions {
        out.push_str(instructions.trim_end());
        out.push_str("\n\n");
    }
    let n = rubric.aspects.len();
    out.push_str(&format!(
        "Evaluate the text between the markers below on {n} aspect{s}. For each aspect, give a whole-number \
         rating from {min} (worst) to {max} (best) and a one-sentence rationale.\n\nAspects:\n",
        s = if n == 1 { "" } else { "s" }
    ));
    for a in &rubric.aspects {
        out.push_str(&format!("- {}: {}\n", a.name, a.description.trim()));
    }
    let context = context(&rubric.metadata_fields, record);
    if !context.is_empty() {
        out.push_str("\nContext for the text (judge the text in its light; do not rate the context itself):\n");
        out.push_str(&context);
    }
    if !rubric.examples.is_empty() {
        out.push_str("\nExamples of texts and the answers they get:\n");
        for (i, example) in rubric.examples.iter().enumerate() {
            out.push_str(&format!("\nExample {}:\n{BEGIN}\n{}\n{END}\nAnswer:\n", i + 1, example.text.trim_end()));
            out.push_str(&rendered_answer(rubric, example));
        }
        out.push_str("\nNow the text to evaluate:\n");
    }
    out.push_str(&format!("\n{BEGIN}\n{}\n{END}\n\n", record.text));
    match rubric.answer_format {
        AnswerFormat::Lines => {
            out.push_str(&format!(
                "Answer with exactly one line per aspect, in this order and in the format `aspect: rating - rationale`, \
                 where rating is one whole number from {min} to {max}, and write nothing else:\n"
            ));
            for a in &rubric.aspects {
                out.push_str(&format!("{}: <rating> - <rationale>\n", a.name));
            }
        }
        AnswerFormat::Json => {
            out.push_str(&format!(
                "Answer with one JSON object and nothing else: for each aspect, in this order, an object with a \
                 one-sentence `rationale` and a `rating`, one whole number from {min} to {max}:\n"
            ));
            let shape: Vec<String> = rubric
                .aspects
                .iter()
                .map(|a| format!("\"{}\": {{\"rationale\": \"<rationale>\", \"rating\": <rating>}}", a.name))
                .collect();
            out.push_str(&format!("{{{}}}\n", shape.join(", ")));
        }
    }
    out
}

/// The answer `example` should get, in the rubric's answer format.
fn rendered_answer(rubric: &Rubric, example: &Example) -> String {
    let rationale = example.rationale.as_deref().unwrap_or("").trim();
    match rubric.answer_format {
        AnswerFormat::Lines => rubric
            .aspects
            .iter()
            .zip(&example.ratings)
            .map(|(a, r)| {
                if rationale.is_empty() {
                    format!("{}: {r}\n", a.name)
                } else {
                    format!("{}: {r} - {rationale}\n", a.name)
                }
            })
            .collect(),
        AnswerFormat::Json => {
            // In rubric order, shaped as the prompt's answer format says.
            let rationale = Value::from(rationale);
            let members: Vec<String> = rubric
                .aspects
                .iter()
                .zip(&example.ratings)
                .map(|(a, r)| format!("\"{}\": {{\"rationale\": {rationale}, \"rating\": {r}}}", a.name))
                .collect();
            format!("{{{}}}\n", members.join(", "))
        }
    }
}

/// The metadata fields present in `record`, one block each; missing ones are
/// left out.
fn context(fields: &[String], record: &Record) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let metadata = record.metadata_json();
    let mut out = String::new();
    for field in fields {
        let text = match metadata.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        out.push_str(&format!("{field}:\n{}\n", text.trim_end()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rubric(json: &str) -> Rubric {
        let config: Config = kiln_pdk::__parse_config(json).expect("parses");
        Rubric::try_from(config).expect("valid")
    }

    #[test]
    fn default_prompt() {
        let p = build(&rubric(""), &Record::new("rec-1", "The sky is blue."), "{}");
        assert_eq!(p.tag, "rec-1");
        assert_eq!(p.messages.len(), 1);
        let m = &p.messages[0];
        assert_eq!(m.role, "user");
        assert!(m.content.starts_with("Evaluate the text between the markers below on 4 aspects."), "{}", m.content);
        assert!(m.content.contains("from 1 (worst) to 5 (best)"));
        assert!(m.content.contains("- instruction_following: How closely"));
        assert!(m.content.contains("<<<BEGIN TEXT>>>\nThe sky is blue.\n<<<END TEXT>>>"));
        assert!(m.content.ends_with(
            "helpfulness: <rating> - <rationale>\nhonesty: <rating> - <rationale>\n\
             instruction_following: <rating> - <rationale>\ntruthfulness: <rating> - <rationale>\n"
        ));
        assert!(!m.content.contains("Context"));
    }

    #[test]
    fn system_instructions_and_context() {
        let r = rubric(
            r#"{"aspects": [{"name": "accuracy", "description": "Facts right?"}], "scale": {"min": 0, "max": 10},
                "system": "You are a strict grader.", "instructions": "Grade the answer.",
                "include_metadata_fields": ["instruction", "missing", "meta"]}"#,
        );
        let mut record = Record::new("r", "Paris.");
        record.metadata = r#"{"instruction": "Capital of France?\n", "meta": {"k": 1}, "other": "hidden"}"#.into();
        let p = build(&r, &record, "{}");
        assert_eq!(p.messages[0].role, "system");
        assert_eq!(p.messages[0].content, "You are a strict grader.");
        let user = &p.messages[1].content;
        assert!(user.starts_with("Grade the answer.\n\nEvaluate the text between the markers below on 1 aspect."));
        assert!(user.contains("instruction:\nCapital of France?\nmeta:\n{\"k\":1}\n"), "{user}");
        assert!(!user.contains("hidden") && !user.contains("missing:"), "{user}");
        assert!(user.contains("from 0 (worst) to 10 (best)"));
        assert!(user.ends_with("accuracy: <rating> - <rationale>\n"));
    }

    #[test]
    fn examples_and_the_json_format() {
        let r = rubric(
            r#"{"aspects": [{"name": "clarity", "description": "Clear?"}, {"name": "accuracy", "description": "Right?"}],
                "answer_format": "json",
                "examples": [{"text": "Water is wet.", "ratings": {"clarity": 5, "accuracy": 4}, "rationale": "Plain."}]}"#,
        );
        let p = build(&r, &Record::new("r", "Fire is cold."), &answer_schema(&r));
        let user = &p.messages[0].content;
        assert!(
            user.contains(
                "Example 1:\n<<<BEGIN TEXT>>>\nWater is wet.\n<<<END TEXT>>>\nAnswer:\n\
                 {\"clarity\": {\"rationale\": \"Plain.\", \"rating\": 5}, \"accuracy\": {\"rationale\": \"Plain.\", \"rating\": 4}}\n"
            ),
            "{user}"
        );
        assert!(user.contains("Now the text to evaluate:\n\n<<<BEGIN TEXT>>>\nFire is cold."), "{user}");
        assert!(user.ends_with("{\"clarity\": {\"rationale\": \"<rationale>\", \"rating\": <rating>}, \"accuracy\": {\"rationale\": \"<rationale>\", \"rating\": <rating>}}\n"), "{user}");
        let schema: Value = serde_json::from_str(p.answer_schema.as_deref().expect("declared")).expect("json");
        assert_eq!(schema["required"], json!(["clarity", "accuracy"]));
        assert_eq!(schema["properties"]["accuracy"]["properties"]["rating"]["enum"], json!([1, 2, 3, 4, 5]));
        let lines = rubric(
            r#"{"aspects": [{"name": "clarity", "description": "Clear?"}],
                "examples": [{"text": "Hi.", "ratings": {"clarity": 2}}]}"#,
        );
        let user = &build(&lines, &Record::new("r", "x"), "{}").messages[0].content;
        assert!(user.contains("<<<END TEXT>>>\nAnswer:\nclarity: 2\n"), "{user}");
    }
}
