//! `text-generation`: the plainest generator. Prompt `j` of a request is the
//! stage's `template` with `{text}` replaced by the text of seed record `j`
//! (the stage's `seeds` file, one instruction per record); the completion
//! becomes one record whose text is the answer and whose metadata holds the
//! `instruction` and the seed's id. Use it to answer a file of instructions
//! with a teacher, as distilabel's `TextGeneration` does.
//!
//! # Config
//! - `template`: the user message, with `{text}` where the seed's text goes
//!   (default `"{text}"`);
//! - `system`: an optional system message;
//! - `prefix_chars`: use only the first this many characters of each seed's
//!   text (e.g. to continue the opening words of real documents, as
//!   studies of model collapse sample their generations);
//! - `keep_prompt`: the record's text is the prompt followed by the answer
//!   (a whole document), not the answer alone (default false).
//!
//! A request without seeds is refused prompt by prompt: there is nothing to ask.

use kiln_pdk::{Completion, GenerationRequest, Generator, Message, Plugin, Prompt, Record};
use serde::Deserialize;

/// `config` of the plugin.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The user message; `{text}` is replaced by the seed's text.
    #[serde(default = "default_template")]
    pub template: String,
    /// An optional system message.
    #[serde(default)]
    pub system: Option<String>,
    /// Only the first this many characters of a seed's text.
    #[serde(default)]
    pub prefix_chars: Option<usize>,
    /// The record is the prompt followed by the answer.
    #[serde(default)]
    pub keep_prompt: bool,
}

fn default_template() -> String {
    "{text}".into()
}

/// The generator.
pub struct TextGeneration(Config);

impl Plugin for TextGeneration {
    type Config = Config;
    const DESCRIPTION: &'static str =
        "asks the model each seed record's instruction (from a template) and keeps its answer";

    fn new(config: Config) -> Result<Self, String> {
        if !config.template.contains("{text}") {
            return Err(format!(
                "`template` must contain `{{text}}` where the seed's text goes; got {:?}",
                config.template
            ));
        }
        Ok(TextGeneration(config))
    }
}

/// What `parse` needs back from a prompt: the instruction and the seed's id.
#[derive(serde::Serialize, Deserialize)]
struct Tag {
    seed: String,
    instruction: String,
}

impl Generator for TextGeneration {
    fn prompts(&self, request: &GenerationRequest) -> Vec<Prompt> {
        (0..request.count as usize)
            .map(|j| {
                let Some(seed) = request.seeds.get(j % request.seeds.len().max(1)) else {
                    return Prompt::user("", "");
                };
                let text: String = match self.0.prefix_chars {
                    Some(n) => seed.text.chars().take(n).collect(),
                    None => seed.text.clone(),
                };
                let instruction = self.0.template.replace("{text}", &text);
                let tag = serde_json::json!({ "seed": seed.id, "instruction": instruction }).to_string();
                let mut messages = Vec::new();
                if let Some(system) = &self.0.system {
                    messages.push(Message { role: "system".into(), content: system.clone() });
                }
                messages.push(Message { role: "user".into(), content: instruction });
                Prompt { messages, tag, answer_schema: None }
            })
            .collect()
    }

    fn parse(&self, completion: &Completion) -> Result<Vec<Record>, String> {
        let tag: Tag = serde_json::from_str(&completion.tag)
            .map_err(|_| "the prompt had no seed record: give the stage a `seeds` file".to_string())?;
        let answer = completion.text.trim();
        if answer.is_empty() {
            return Err("the model's answer is empty".into());
        }
        let text = if self.0.keep_prompt {
            format!("{}{}", tag.instruction, completion.text.trim_end())
        } else {
            answer.to_string()
        };
        let mut record = Record::new(String::new(), text);
        record.metadata = serde_json::json!({ "instruction": tag.instruction, "seed": tag.seed }).to_string();
        Ok(vec![record])
    }
}

kiln_pdk::export_generator!(TextGeneration);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(template: &str) -> TextGeneration {
        TextGeneration::new(Config {
            template: template.into(),
            system: Some("be brief".into()),
            prefix_chars: None,
            keep_prompt: false,
        })
        .expect("valid")
    }

    #[test]
    fn one_prompt_per_seed_from_the_template_and_back() {
        let p = plugin("Answer: {text}");
        let request = GenerationRequest {
            count: 3,
            seed: 1,
            seeds: vec![Record::new("a", "what is 2+2?"), Record::new("b", "name a colour")],
        };
        let prompts = p.prompts(&request);
        assert_eq!(prompts.len(), 3);
        assert_eq!(prompts[0].messages[1].content, "Answer: what is 2+2?");
        assert_eq!(prompts[2].messages[1].content, "Answer: what is 2+2?", "seeds cycle");
        assert_eq!(prompts[1].messages[0].role, "system");
        let records = p.parse(&Completion { tag: prompts[1].tag.clone(), text: " blue \n".into() }).expect("parses");
        assert_eq!(records[0].text, "blue");
        assert!(records[0].metadata.contains("\"seed\":\"b\"") && records[0].metadata.contains("name a colour"));
    }

    #[test]
    fn bad_config_empty_answers_and_missing_seeds_are_errors() {
        let config = Config { template: "no slot".into(), system: None, prefix_chars: None, keep_prompt: false };
        assert!(TextGeneration::new(config).is_err());
        let p = plugin("{text}");
        let prompts = p.prompts(&GenerationRequest { count: 1, seed: 0, seeds: vec![Record::new("a", "q")] });
        assert!(p.parse(&Completion { tag: prompts[0].tag.clone(), text: "  ".into() }).is_err());
        assert!(p.parse(&Completion { tag: String::new(), text: "x".into() }).expect_err("no seed").contains("seeds"));
    }

    #[test]
    fn a_prefix_of_the_seed_is_continued_and_kept() {
        let config = Config { template: "{text}".into(), system: None, prefix_chars: Some(4), keep_prompt: true };
        let p = TextGeneration::new(config).expect("valid");
        let prompts =
            p.prompts(&GenerationRequest { count: 1, seed: 0, seeds: vec![Record::new("a", "The quick fox")] });
        assert_eq!(prompts[0].messages[0].content, "The ");
        let records = p.parse(&Completion { tag: prompts[0].tag.clone(), text: "slow dog \n".into() }).expect("parses");
        assert_eq!(records[0].text, "The slow dog");
    }
}
