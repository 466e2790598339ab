//! The judge prompt: instructions, the aspects, optional context from the
//! record's metadata, the text, and the exact answer format.

use kiln_pdk::{Message, Prompt, Record};
use serde_json::Value;

use crate::config::Rubric;

/// The line before the text to evaluate.
pub const BEGIN: &str = "<<<BEGIN TEXT>>>";
/// The line after it.
pub const END: &str = "<<<END TEXT>>>";

/// The judge prompt for `record`: an optional system message, then one user
/// message. The tag is the record id.
pub fn build(rubric: &Rubric, record: &Record) -> Prompt {
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &rubric.system {
        messages.push(Message { role: "system".into(), content: system.clone() });
    }
    messages.push(Message { role: "user".into(), content: user_message(rubric, record) });
    Prompt { messages, tag: record.id.clone() }
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
    out.push_str(&format!("\n{BEGIN}\n{}\n{END}\n\n", record.text));
    out.push_str(&format!(
        "Answer with exactly one line per aspect, in this order and in the format `aspect: rating - rationale`, \
         where rating is one whole number from {min} to {max}, and write nothing else:\n"
    ));
    for a in &rubric.aspects {
        out.push_str(&format!("{}: <rating> - <rationale>\n", a.name));
    }
    out
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
        let p = build(&rubric(""), &Record::new("rec-1", "The sky is blue."));
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
        let p = build(&r, &record);
        assert_eq!(p.messages[0].role, "system");
        assert_eq!(p.messages[0].content, "You are a strict grader.");
        let user = &p.messages[1].content;
        assert!(user.starts_with("Grade the answer.\n\nEvaluate the text between the markers below on 1 aspect."));
        assert!(user.contains("instruction:\nCapital of France?\nmeta:\n{\"k\":1}\n"), "{user}");
        assert!(!user.contains("hidden") && !user.contains("missing:"), "{user}");
        assert!(user.contains("from 0 (worst) to 10 (best)"));
        assert!(user.ends_with("accuracy: <rating> - <rationale>\n"));
    }
}
