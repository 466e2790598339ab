//! The stage's `config` table and its validation into a [`Rubric`].

use serde::Deserialize;

use crate::aspect::{self, Aspect};

/// The `config` table of a `rubric-judge` stage.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The aspects to rate (default: UltraFeedback's four).
    #[serde(default)]
    pub aspects: Option<Vec<AspectConfig>>,
    /// The rating scale (default 1 to 5).
    #[serde(default)]
    pub scale: Scale,
    /// Free text put at the top of the prompt.
    #[serde(default)]
    pub instructions: Option<String>,
    /// An optional system message.
    #[serde(default)]
    pub system: Option<String>,
    /// Metadata keys whose values are shown to the judge as context.
    #[serde(default)]
    pub include_metadata_fields: Vec<String>,
    /// Whether to add an `overall` score, the mean of the aspects (default true).
    #[serde(default = "yes")]
    pub overall: bool,
    /// How the prompt asks the judge to answer: `lines` (default, one
    /// `aspect: rating - rationale` line per aspect) or `json` (an object of
    /// `{rating, rationale}` per aspect, the shape of the answer schema).
    #[serde(default)]
    pub answer_format: AnswerFormat,
    /// Worked examples shown in the prompt before the text (few-shot), for
    /// judges that do not follow the answer format from instructions alone.
    #[serde(default)]
    pub examples: Vec<ExampleConfig>,
}

/// How the judge is asked to answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerFormat {
    /// One `aspect: rating - rationale` line per aspect.
    #[default]
    Lines,
    /// A JSON object: `{"aspect": {"rating": 4, "rationale": "…"}, …}`.
    Json,
}

/// A worked example: a text and the answer it should get.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleConfig {
    /// The example text.
    pub text: String,
    /// Its rating on every aspect, by aspect name.
    pub ratings: std::collections::BTreeMap<String, u32>,
    /// A one-sentence rationale, given for every aspect (default: none shown).
    #[serde(default)]
    pub rationale: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config {
            aspects: None,
            scale: Scale::default(),
            instructions: None,
            system: None,
            include_metadata_fields: Vec::new(),
            overall: true,
            answer_format: AnswerFormat::Lines,
            examples: Vec::new(),
        }
    }
}

/// One aspect as written in the config.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AspectConfig {
    /// The score name.
    pub name: String,
    /// What the judge should look for.
    pub description: String,
}

/// The rating scale: whole numbers from `min` (worst) to `max` (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Scale {
    /// The worst rating (default 1).
    pub min: u32,
    /// The best rating (default 5).
    pub max: u32,
}

impl Default for Scale {
    fn default() -> Self {
        Scale { min: 1, max: 5 }
    }
}

impl Scale {
    /// The largest `max` allowed.
    pub const LIMIT: u32 = 100;

    /// Whether `value` lies on the scale (decimals included).
    pub fn contains(&self, value: f64) -> bool {
        (f64::from(self.min)..=f64::from(self.max)).contains(&value)
    }
}

/// Why a configuration is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `aspects = []`.
    #[error("aspects is empty: list at least one {{ name, description }}, or leave it out for the default aspects")]
    NoAspects,
    /// A name that is not a score name.
    #[error(
        "aspects[{index}].name {name:?} is not a valid score name: use lower-case letters, digits and `_`, \
         starting with a letter, at most 64 characters (e.g. {suggestion:?})"
    )]
    BadName {
        /// Position in `aspects`.
        index: usize,
        /// The name given.
        name: String,
        /// A valid name close to it.
        suggestion: String,
    },
    /// Two names the parser could not tell apart.
    #[error(
        "aspects[{index}].name {name:?} duplicates aspects[{first}].name {first_name:?}: names are matched in the \
         judge's answer ignoring case, spaces, `-` and `_`, so they must differ in their letters or digits"
    )]
    DuplicateName {
        /// Position of the duplicate.
        index: usize,
        /// Its name.
        name: String,
        /// Position of the first one.
        first: usize,
        /// Its name.
        first_name: String,
    },
    /// An aspect named like the `overall` score.
    #[error(
        "aspects[{0}] is named `overall`, which clashes with the overall score: rename the aspect or set \
         overall = false"
    )]
    OverallClash(usize),
    /// A blank description.
    #[error("aspects[{0}].description is empty: say what the judge should look for")]
    NoDescription(usize),
    /// `min >= max`.
    #[error("scale.min ({min}) must be less than scale.max ({max})")]
    EmptyScale {
        /// The minimum given.
        min: u32,
        /// The maximum given.
        max: u32,
    },
    /// `max` too large.
    #[error("scale.max ({0}) is too large: at most {limit}", limit = Scale::LIMIT)]
    ScaleTooLarge(u32),
    /// A blank or repeated metadata field.
    #[error("include_metadata_fields[{0}] is {1}: list each metadata key once")]
    BadMetadataField(usize, &'static str),
    /// Blank `instructions` or `system`.
    #[error("{0} is blank: write it, or leave the key out")]
    Blank(&'static str),
    /// An example that does not rate exactly the rubric's aspects on its scale.
    #[error("examples[{index}]: {problem}")]
    BadExample {
        /// Position in `examples`.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

/// A validated rubric: what the prompt asks for and the parser looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Rubric {
    /// The aspects, in prompt order; their names differ in more than case, spaces, `-` and `_`.
    pub aspects: Vec<Aspect>,
    /// The scale.
    pub scale: Scale,
    /// Text put at the top of the prompt.
    pub instructions: Option<String>,
    /// The system message.
    pub system: Option<String>,
    /// Metadata keys shown as context.
    pub metadata_fields: Vec<String>,
    /// Whether to add the `overall` score.
    pub overall: bool,
    /// How the judge is asked to answer.
    pub answer_format: AnswerFormat,
    /// Worked examples, each with one rating per aspect in rubric order.
    pub examples: Vec<Example>,
}

/// A checked worked example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The example text.
    pub text: String,
    /// One rating per aspect, in rubric order.
    pub ratings: Vec<u32>,
    /// Its rationale, if given.
    pub rationale: Option<String>,
}

impl TryFrom<Config> for Rubric {
    type Error = ConfigError;

    fn try_from(c: Config) -> Result<Self, ConfigError> {
        let aspects = match c.aspects {
            None => aspect::ultrafeedback(),
            Some(list) if list.is_empty() => return Err(ConfigError::NoAspects),
            Some(list) => list.into_iter().map(|a| Aspect::new(a.name, a.description)).collect(),
        };
        check_aspects(&aspects, c.overall)?;
        let Scale { min, max } = c.scale;
        if min >= max {
            return Err(ConfigError::EmptyScale { min, max });
        }
        if max > Scale::LIMIT {
            return Err(ConfigError::ScaleTooLarge(max));
        }
        for (i, field) in c.include_metadata_fields.iter().enumerate() {
            if field.trim().is_empty() {
                return Err(ConfigError::BadMetadataField(i, "blank"));
            }
            if c.include_metadata_fields[..i].contains(field) {
                return Err(ConfigError::BadMetadataField(i, "listed twice"));
            }
        }
        for (what, text) in [("instructions", &c.instructions), ("system", &c.system)] {
            if text.as_ref().is_some_and(|t| t.trim().is_empty()) {
                return Err(ConfigError::Blank(what));
            }
        }
        let examples = c
            .examples
            .into_iter()
            .enumerate()
            .map(|(index, e)| {
                check_example(&aspects, c.scale, e).map_err(|problem| ConfigError::BadExample { index, problem })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rubric {
            aspects,
            scale: c.scale,
            instructions: c.instructions,
            system: c.system,
            metadata_fields: c.include_metadata_fields,
            overall: c.overall,
            answer_format: c.answer_format,
            examples,
        })
    }
}

/// An example rating every aspect (by exact name) on the scale, and nothing else.
fn check_example(aspects: &[Aspect], scale: Scale, e: ExampleConfig) -> Result<Example, String> {
    if e.text.trim().is_empty() {
        return Err("text is blank".into());
    }
    if let Some(unknown) = e.ratings.keys().find(|k| !aspects.iter().any(|a| &a.name == *k)) {
        let names: Vec<&str> = aspects.iter().map(|a| a.name.as_str()).collect();
        return Err(format!("rates {unknown:?}, which is not an aspect (the aspects are {})", names.join(", ")));
    }
    let mut ratings = Vec::with_capacity(aspects.len());
    for a in aspects {
        let Some(&r) = e.ratings.get(&a.name) else {
            return Err(format!("has no rating for {}: rate every aspect", a.name));
        };
        if !(scale.min..=scale.max).contains(&r) {
            return Err(format!("rates {} {r}, outside the scale {} to {}", a.name, scale.min, scale.max));
        }
        ratings.push(r);
    }
    Ok(Example { text: e.text, ratings, rationale: e.rationale.filter(|r| !r.trim().is_empty()) })
}

fn check_aspects(aspects: &[Aspect], overall: bool) -> Result<(), ConfigError> {
    let mut keys: Vec<String> = Vec::with_capacity(aspects.len());
    for (index, a) in aspects.iter().enumerate() {
        if !aspect::is_valid_name(&a.name) {
            return Err(ConfigError::BadName {
                index,
                name: a.name.clone(),
                suggestion: aspect::suggest_name(&a.name),
            });
        }
        let key = aspect::key(&a.name);
        if let Some(first) = keys.iter().position(|k| *k == key) {
            return Err(ConfigError::DuplicateName {
                index,
                name: a.name.clone(),
                first,
                first_name: aspects[first].name.clone(),
            });
        }
        if overall && key == "overall" {
            return Err(ConfigError::OverallClash(index));
        }
        if a.description.trim().is_empty() {
            return Err(ConfigError::NoDescription(index));
        }
        keys.push(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Rubric, String> {
        let config: Config = kiln_pdk::__parse_config(json)?;
        Rubric::try_from(config).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_config_is_the_ultrafeedback_rubric() {
        let r = parse("").expect("valid");
        assert_eq!(r.aspects, aspect::ultrafeedback());
        assert_eq!(r.scale, Scale { min: 1, max: 5 });
        assert!(r.overall);
        assert!(r.metadata_fields.is_empty());
    }

    #[test]
    fn full_config() {
        let r = parse(
            r#"{"aspects": [{"name": "clarity", "description": "Is it clear?"},
                            {"name": "correctness", "description": "Is it right?"}],
                "scale": {"min": 0, "max": 10}, "instructions": "Be strict.", "system": "You are a judge.",
                "include_metadata_fields": ["instruction"], "overall": false}"#,
        )
        .expect("valid");
        assert_eq!(r.aspects.len(), 2);
        assert_eq!(r.scale, Scale { min: 0, max: 10 });
        assert_eq!(r.instructions.as_deref(), Some("Be strict."));
        assert_eq!(r.system.as_deref(), Some("You are a judge."));
        assert_eq!(r.metadata_fields, ["instruction"]);
        assert!(!r.overall);
        assert_eq!(parse(r#"{"scale": {"max": 10}}"#).expect("valid").scale, Scale { min: 1, max: 10 });
    }

    #[test]
    fn invalid_configs_say_what_to_fix() {
        let err = |json: &str| parse(json).expect_err("invalid");
        assert!(err(r#"{"aspects": []}"#).starts_with("aspects is empty"));
        let e = err(r#"{"aspects": [{"name": "Instruction Following", "description": "d"}]}"#);
        assert!(e.contains("not a valid score name") && e.contains("\"instruction_following\""), "{e}");
        let e = err(r#"{"aspects": [{"name": "a_b", "description": "d"}, {"name": "ab", "description": "d"}]}"#);
        assert!(e.starts_with("aspects[1].name \"ab\" duplicates aspects[0].name \"a_b\""), "{e}");
        let e = err(r#"{"aspects": [{"name": "overall", "description": "d"}]}"#);
        assert!(e.contains("clashes with the overall score"), "{e}");
        assert!(parse(r#"{"aspects": [{"name": "overall", "description": "d"}], "overall": false}"#).is_ok());
        assert!(err(r#"{"aspects": [{"name": "x", "description": " "}]}"#).contains("description is empty"));
        assert_eq!(err(r#"{"scale": {"min": 5, "max": 5}}"#), "scale.min (5) must be less than scale.max (5)");
        assert!(err(r#"{"scale": {"min": 1, "max": 1000}}"#).contains("too large"));
        assert!(err(r#"{"scale": {"min": -1, "max": 5}}"#).contains("scale.min"));
        assert!(err(r#"{"scale": {"min": 1.5, "max": 5}}"#).contains("scale.min"));
        assert!(err(r#"{"include_metadata_fields": ["a", "a"]}"#).contains("listed twice"));
        assert!(err(r#"{"include_metadata_fields": [""]}"#).contains("blank"));
        assert!(err(r#"{"system": ""}"#).starts_with("system is blank"));
        assert!(err(r#"{"aspects": [{"name": "x"}]}"#).contains("missing field `description`"));
        assert!(err(r#"{"aspect": []}"#).contains("unknown field `aspect`"));
        let one = r#""aspects": [{"name": "clarity", "description": "d"}]"#;
        let e = err(&format!(r#"{{{one}, "examples": [{{"text": "t", "ratings": {{"clarity": 9}}}}]}}"#));
        assert_eq!(e, "examples[0]: rates clarity 9, outside the scale 1 to 5");
        let e = err(&format!(r#"{{{one}, "examples": [{{"text": "t", "ratings": {{"clarty": 3}}}}]}}"#));
        assert!(e.starts_with("examples[0]: rates \"clarty\", which is not an aspect"), "{e}");
        let e = err(&format!(r#"{{{one}, "examples": [{{"text": "t", "ratings": {{}}}}]}}"#));
        assert!(e.contains("no rating for clarity"), "{e}");
        assert!(err(r#"{"answer_format": "xml"}"#).contains("answer_format"));
    }
}
