//! The rewrite prompt: instructions, then the record's text between markers.

use kiln_pii::{Kind, Placeholders};

/// The line before the record's text.
pub const BEGIN: &str = "<<<BEGIN TEXT>>>";
/// The line after the record's text.
pub const END: &str = "<<<END TEXT>>>";

/// The default instructions for the enabled `kinds`.
pub fn default_instructions(kinds: &[Kind], placeholders: &Placeholders) -> String {
    let mut out = String::from(
        "Rewrite the text between the markers below so that it contains no personal data of these kinds, \
         replacing each occurrence by its placeholder:\n",
    );
    for kind in Kind::ALL.into_iter().filter(|k| kinds.contains(k)) {
        out.push_str(&format!("- every {} → {}\n", kind.noun(), placeholders.get(kind)));
    }
    out.push_str(
        "\nWrite each placeholder exactly as shown (square brackets, upper case), once per occurrence. \
         Do not delete personal data and do not invent other values for it. Change nothing else: keep the \
         wording, spelling, language, punctuation, line breaks, formatting and all other content exactly as \
         they are, mistakes included. If the text contains none of these kinds, return it unchanged.\n\
         \n\
         Output only the rewritten text: no introduction, no explanation, no quotation marks, no code fences \
         and no markers.",
    );
    out
}

/// The prompt text for `text` under `instructions`.
pub fn prompt_text(instructions: &str, text: &str) -> String {
    format!("{}\n\n{BEGIN}\n{text}\n{END}", instructions.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_instructions_list_only_enabled_kinds() {
        let text = default_instructions(&[Kind::Card, Kind::Email], &Placeholders::default());
        assert!(text.contains("- every email address → [EMAIL]\n- every payment card number → [CARD]\n"), "{text}");
        assert!(!text.contains("[PHONE]"), "{text}");
        assert!(text.contains("Output only the rewritten text"), "{text}");
    }

    #[test]
    fn text_sits_between_markers() {
        let p = prompt_text("Do it.\n", "a\nb");
        assert_eq!(p, "Do it.\n\n<<<BEGIN TEXT>>>\na\nb\n<<<END TEXT>>>");
    }
}
