//! Rubric aspects: their names, how names are matched in a judge's answer,
//! and the default rubric.

/// One thing the judge rates, e.g. `helpfulness`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aspect {
    /// The score name: lower-case letters, digits and `_`, starting with a letter.
    pub name: String,
    /// What the judge should look for, shown in the prompt.
    pub description: String,
}

impl Aspect {
    /// An aspect from its name and description.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Aspect { name: name.into(), description: description.into() }
    }
}

/// The key a name is matched by: its letters and digits, lower-cased, so that
/// `Instruction Following`, `instruction-following` and
/// `instruction_following` are the same aspect.
pub fn key(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Whether `name` can be a score name: `[a-z][a-z0-9_]*`, at most 64 bytes.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A valid score name close to `name`, to suggest when `name` is not one.
pub fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
    if out.is_empty() { "aspect".into() } else { out.chars().take(64).collect() }
}

/// The default rubric: the four aspects UltraFeedback rates responses on,
/// described in our own words.
pub fn ultrafeedback() -> Vec<Aspect> {
    vec![
        Aspect::new(
            "helpfulness",
            "How well the text serves the person who asked for it: it addresses the actual request, is correct \
             and relevant, gives useful detail and reasoning without padding or repetition, and is clear enough \
             to act on.",
        ),
        Aspect::new(
            "honesty",
            "Whether the text is candid about what it knows: its confidence matches how certain its claims \
             really are, it admits uncertainty or the limits of its knowledge where appropriate, and it does not \
             bluff or present guesses as facts.",
        ),
        Aspect::new(
            "instruction_following",
            "How closely the text does what the instruction asked: it meets the goal of the task and respects \
             every stated constraint (format, length, style, scope), without drifting off-task or ignoring part \
             of the request.",
        ),
        Aspect::new(
            "truthfulness",
            "Whether the text is free of hallucination: its facts are accurate, it invents no entities, events \
             or details, it contradicts neither the instruction nor itself, and it does not go along with false \
             premises.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_spaces_and_separators() {
        assert_eq!(key("Instruction Following"), "instructionfollowing");
        assert_eq!(key("instruction-following"), "instructionfollowing");
        assert_eq!(key("instruction_following"), "instructionfollowing");
        assert_eq!(key("**Honesty**"), "honesty");
    }

    #[test]
    fn valid_names() {
        assert!(is_valid_name("helpfulness"));
        assert!(is_valid_name("code_quality_2"));
        for bad in ["", "Helpfulness", "2fast", "with space", "dash-ed", "_x", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn suggestions_are_valid_names() {
        assert_eq!(suggest_name("Instruction Following"), "instruction_following");
        assert_eq!(suggest_name(" Code-Quality! "), "code_quality");
        assert_eq!(suggest_name("2 fast"), "fast");
        assert_eq!(suggest_name("!!!"), "aspect");
        for name in ["Instruction Following", " Code-Quality! ", "2 fast", "!!!", "Ünïcode"] {
            assert!(is_valid_name(&suggest_name(name)), "{name}");
        }
    }

    #[test]
    fn default_rubric_has_the_four_ultrafeedback_aspects() {
        let names: Vec<_> = ultrafeedback().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["helpfulness", "honesty", "instruction_following", "truthfulness"]);
        assert!(ultrafeedback().iter().all(|a| is_valid_name(&a.name) && a.description.len() > 100));
    }
}
