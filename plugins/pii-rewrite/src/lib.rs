//! `pii-rewrite`: a refiner for Generative Data Refinement. It asks a model to
//! rewrite a real record with its personal data replaced by typed placeholders
//! — `[EMAIL]`, `[PHONE]`, `[IPV4]`, `[IPV6]`, `[CARD]`, the placeholders of
//! the `pii-redact` mapper — keeping everything else as it is, and verifies
//! the rewrite with the same detectors as `pii-redact` (the `kiln-pii`
//! library).
//!
//! # Config
//!
//! - `kinds`: which kinds of personal data to replace and check, any of
//!   `"email"`, `"phone"`, `"ipv4"`, `"ipv6"`, `"card"` (default: all five).
//!   An unknown kind or an empty list rejects the configuration.
//! - `min_similarity`: the lowest similarity between the rewrite and the
//!   original that is accepted, from `0.0` (anything) to `1.0` (the words
//!   around the personal data must stay exactly the same); default `0.6`. See
//!   the measure below.
//! - `instructions`: replaces the default instructions of the prompt (which
//!   list the enabled kinds and their placeholders). The record's text is
//!   still appended after them, between `<<<BEGIN TEXT>>>` and
//!   `<<<END TEXT>>>` lines. Blank instructions are rejected.
//!
//! # Prompt
//!
//! One user message per record, tagged with the record id: the instructions
//! (replace each occurrence of the enabled kinds by its placeholder, delete
//! nothing, change nothing else, output only the rewritten text), then the
//! text between the markers.
//!
//! # Verification
//!
//! The host stores the rewrite exactly as the model returned it; a refiner can
//! accept or reject it but not clean it up. So wrapping that a model adds
//! around its answer is not a faithful rewrite and is rejected rather than
//! forgiven. A rewrite is rejected, with the first reason that applies, when:
//!
//! 1. it is empty (or only whitespace) while the original is not;
//! 2. personal data of an enabled kind remains, found by the `pii-redact`
//!    detectors: `still contains an email address (j…@…com)`. The reason
//!    names each kind and shows at most two masked snippets per kind;
//! 3. it has fewer placeholders of a kind than the original has personal data
//!    of that kind — the model deleted data instead of replacing it. More
//!    placeholders are fine: the model may have found data the detectors miss;
//! 4. it contains the prompt's text markers, starts with a ```` ``` ```` code
//!    fence, or is wrapped in quotation marks (`"…"`, `'…'`, `“…”`, `‘…’`,
//!    `«…»`), when the original does not start the same way; or its first line
//!    ends with `:` and is not a line of the original (a preamble such as
//!    `Here is the rewritten text:`);
//! 5. its similarity to the original is below `min_similarity`.
//!
//! Otherwise it is accepted.
//!
//! # Similarity
//!
//! The Dice coefficient of the two texts' bags of words, personal data and
//! placeholders left out: `2 × shared / (original words + rewrite words)`.
//! Words are runs of Unicode letters and digits, compared case-folded; each
//! CJK ideograph, kana or Hangul syllable is a word of its own. A perfect
//! rewrite scores 1.0; deleting a share of the words lowers the score by
//! about that share, padding it by about half the share added (so commentary
//! appended to a long text is caught only when it is long). Word order is
//! ignored. It is linear in the text's length.

mod mask;
mod prompt;
pub mod similarity;
mod verify;

use kiln_pdk::{Plugin, Prompt, Record, Refiner, RewriteCheck};
use kiln_pii::{Detector, Kind, Placeholders};
use serde::Deserialize;

pub use verify::Rejection;
use verify::Verifier;

/// What to replace, how strictly to check, and optionally what to say.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The kinds to replace and check (default: all).
    pub kinds: Vec<Kind>,
    /// The lowest accepted similarity to the original (default 0.6).
    pub min_similarity: f64,
    /// Instructions replacing the default ones.
    pub instructions: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config { kinds: Kind::ALL.to_vec(), min_similarity: 0.6, instructions: None }
    }
}

/// The refiner, configured.
pub struct PiiRewrite {
    instructions: String,
    verifier: Verifier,
}

impl Plugin for PiiRewrite {
    type Config = Config;
    const DESCRIPTION: &'static str =
        "asks a model to replace emails, phone numbers, IP addresses and card numbers by placeholders; verifies it";

    fn new(c: Config) -> Result<Self, String> {
        if c.kinds.is_empty() {
            return Err("kinds is empty: list at least one of \"email\", \"phone\", \"ipv4\", \"ipv6\", \"card\", \
                        or leave it out to rewrite all"
                .into());
        }
        if !(0.0..=1.0).contains(&c.min_similarity) {
            return Err(format!(
                "min_similarity is {}: it must lie between 0.0 (accept any rewrite) and 1.0 (the text around the \
                 personal data must stay the same)",
                c.min_similarity
            ));
        }
        let placeholders = Placeholders::default();
        let instructions = match c.instructions {
            Some(i) if i.trim().is_empty() => {
                return Err(
                    "instructions is blank: write the instructions, or leave the key out for the default".into()
                );
            }
            Some(i) => i,
            None => prompt::default_instructions(&c.kinds, &placeholders),
        };
        let detector = Detector::new(&c.kinds).map_err(|e| e.to_string())?;
        Ok(PiiRewrite { instructions, verifier: Verifier { detector, placeholders, min_similarity: c.min_similarity } })
    }
}

impl PiiRewrite {
    /// Why `rewrite` is not an acceptable rewrite of `original`, if it is not.
    pub fn check(&self, original: &str, rewrite: &str) -> Result<(), Rejection> {
        self.verifier.check(original, rewrite)
    }
}

impl Refiner for PiiRewrite {
    fn prompt(&self, record: &Record) -> Prompt {
        Prompt::user(prompt::prompt_text(&self.instructions, &record.text), record.id.clone())
    }

    fn verify(&self, original: &Record, rewrite: &str) -> RewriteCheck {
        match self.check(&original.text, rewrite) {
            Ok(()) => RewriteCheck::Accept,
            Err(rejection) => RewriteCheck::Reject(rejection.to_string()),
        }
    }
}

kiln_pdk::export_refiner!(PiiRewrite);

#[cfg(test)]
mod tests {
    use super::*;

    fn refiner() -> PiiRewrite {
        PiiRewrite::new(Config::default()).expect("valid config")
    }

    fn verify(original: &str, rewrite: &str) -> RewriteCheck {
        refiner().verify(&Record::new("r1", original), rewrite)
    }

    fn rejected(original: &str, rewrite: &str) -> String {
        match verify(original, rewrite) {
            RewriteCheck::Reject(reason) => reason,
            RewriteCheck::Accept => panic!("{rewrite:?} should be rejected"),
        }
    }

    const ORIGINAL: &str = "Hi team, please send the signed contract to jane.doe@example.com or call me at \
                            (555) 123-4567 before Friday. The VPN gateway is 10.20.30.40 and the backup \
                            host is fe80::1ff:fe23:4567:890a. Charge the deposit to 4111 1111 1111 1111.";

    const CLEAN: &str = "Hi team, please send the signed contract to [EMAIL] or call me at [PHONE] before \
                         Friday. The VPN gateway is [IPV4] and the backup host is [IPV6]. Charge the deposit \
                         to [CARD].";

    #[test]
    fn prompt_carries_the_text_and_the_record_id() {
        let p = refiner().prompt(&Record::new("rec-9", ORIGINAL));
        assert_eq!(p.tag, "rec-9");
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.messages[0].role, "user");
        let content = &p.messages[0].content;
        assert!(content.contains(&format!("<<<BEGIN TEXT>>>\n{ORIGINAL}\n<<<END TEXT>>>")), "{content}");
        for placeholder in ["[EMAIL]", "[PHONE]", "[IPV4]", "[IPV6]", "[CARD]"] {
            assert!(content.contains(placeholder), "{placeholder} missing from {content}");
        }
    }

    #[test]
    fn custom_instructions_replace_the_default() {
        let c = Config { instructions: Some("Anonymise this.".into()), ..Config::default() };
        let p = PiiRewrite::new(c).expect("valid").prompt(&Record::new("r", "x"));
        assert_eq!(p.messages[0].content, "Anonymise this.\n\n<<<BEGIN TEXT>>>\nx\n<<<END TEXT>>>");
    }

    #[test]
    fn clean_rewrites_are_accepted() {
        assert_eq!(verify(ORIGINAL, CLEAN), RewriteCheck::Accept);
        assert_eq!(verify("Nothing personal here.", "Nothing personal here."), RewriteCheck::Accept);
        assert_eq!(verify("Mail a@b.io!", "Mail [EMAIL]!\n"), RewriteCheck::Accept);
        // A model that also hides a name keeps enough of the text.
        let extra = CLEAN.replace("Hi team", "Hi [NAME]");
        assert_eq!(verify(ORIGINAL, &extra), RewriteCheck::Accept);
        assert_eq!(verify("   ", ""), RewriteCheck::Accept);
        assert_eq!(verify("jane@example.com", "[EMAIL]"), RewriteCheck::Accept);
    }

    #[test]
    fn leaked_pii_of_each_kind_is_rejected() {
        let cases = [
            ("[EMAIL]", "jane.doe@example.com", "still contains an email address (j…@…com)"),
            ("[PHONE]", "(555) 123-4567", "still contains a phone number ((5…67)"),
            ("[IPV4]", "10.20.30.40", "still contains an IPv4 address (10…40)"),
            ("[IPV6]", "fe80::1ff:fe23:4567:890a", "still contains an IPv6 address (fe…0a)"),
            ("[CARD]", "4111 1111 1111 1111", "still contains a payment card number (41…11)"),
        ];
        for (placeholder, value, reason) in cases {
            let leaky = CLEAN.replacen(placeholder, value, 1);
            assert_eq!(rejected(ORIGINAL, &leaky), reason, "{placeholder}");
        }
    }

    #[test]
    fn several_leaks_are_all_named() {
        let reason = rejected(ORIGINAL, ORIGINAL);
        assert!(reason.starts_with("still contains an email address (j…@…com), a phone number"), "{reason}");
        assert!(reason.ends_with("and a payment card number (41…11)"), "{reason}");
    }

    #[test]
    fn deleted_pii_is_rejected() {
        let deleted = CLEAN.replace(" to [EMAIL] or", " or");
        assert_eq!(
            rejected(ORIGINAL, &deleted),
            "dropped personal data instead of replacing it: the original has an email address, the rewrite 0 \
             `[EMAIL]` placeholders"
        );
        let reason = rejected("a@b.io and c@d.io", "[EMAIL] and someone");
        assert!(reason.contains("the original has 2 email addresses, the rewrite 1 `[EMAIL]` placeholder"), "{reason}");
        // Placeholders must be written exactly.
        let reason = rejected("Mail a@b.io", "Mail [Email]");
        assert!(reason.starts_with("dropped personal data"), "{reason}");
    }

    #[test]
    fn destroyed_text_is_rejected() {
        assert_eq!(rejected(ORIGINAL, "  \n"), "rewrite is empty");
        let summary = "Send the contract to [EMAIL] or call [PHONE]; VPN [IPV4], backup [IPV6], card [CARD].";
        let reason = rejected(ORIGINAL, summary);
        assert!(reason.starts_with("rewrite is too different from the original: similarity 0."), "{reason}");
        assert!(reason.contains("below min_similarity 0.6"), "{reason}");
        let translated = "Hallo Team, bitte schickt den Vertrag an [EMAIL] oder ruft mich unter [PHONE] an. \
                          Gateway [IPV4], Backup [IPV6], Karte [CARD].";
        assert!(rejected(ORIGINAL, translated).starts_with("rewrite is too different"));
    }

    #[test]
    fn threshold_is_configurable() {
        let summary = "Send the contract to [EMAIL] or call [PHONE]; VPN [IPV4], backup [IPV6], card [CARD].";
        let lax = PiiRewrite::new(Config { min_similarity: 0.0, ..Config::default() }).expect("valid");
        assert_eq!(lax.check(ORIGINAL, summary), Ok(()));
        let strict = PiiRewrite::new(Config { min_similarity: 1.0, ..Config::default() }).expect("valid");
        assert_eq!(strict.check(ORIGINAL, CLEAN), Ok(()));
        assert!(strict.check(ORIGINAL, &CLEAN.replace("signed ", "")).is_err());
    }

    #[test]
    fn wrapped_answers_are_rejected() {
        let fenced = format!("```\n{CLEAN}\n```");
        assert!(rejected(ORIGINAL, &fenced).starts_with("rewrite is wrapped in a ``` code fence"));
        let quoted = format!("\"{CLEAN}\"");
        assert!(rejected(ORIGINAL, &quoted).starts_with("rewrite is wrapped in quotation marks"));
        let curly = format!("“{CLEAN}”");
        assert!(rejected(ORIGINAL, &curly).starts_with("rewrite is wrapped in quotation marks"));
        let preamble = format!("Here is the rewritten text:\n\n{CLEAN}");
        assert_eq!(
            rejected(ORIGINAL, &preamble),
            "rewrite starts with a line the original does not have (\"Here is the rewritten text:\"); the model \
             must output only the rewritten text"
        );
        let echoed = format!("<<<BEGIN TEXT>>>\n{CLEAN}\n<<<END TEXT>>>");
        assert!(rejected(ORIGINAL, &echoed).starts_with("rewrite contains the prompt's"));
    }

    #[test]
    fn wrapping_the_original_has_is_kept() {
        let original = "\"Write to me at bob@example.org\", she said.";
        assert_eq!(verify(original, "\"Write to me at [EMAIL]\", she said."), RewriteCheck::Accept);
        let code = "```\nHOST = \"10.0.0.1\"\n```";
        assert_eq!(verify(code, "```\nHOST = \"[IPV4]\"\n```"), RewriteCheck::Accept);
        let heading = "Contacts:\n- ops@example.org";
        assert_eq!(verify(heading, "Contacts:\n- [EMAIL]"), RewriteCheck::Accept);
        let pii_heading = "Reach ops@example.org:\nany time";
        assert_eq!(verify(pii_heading, "Reach [EMAIL]:\nany time"), RewriteCheck::Accept);
    }

    #[test]
    fn only_enabled_kinds_are_checked() {
        let c = Config { kinds: vec![Kind::Email], ..Config::default() };
        let r = PiiRewrite::new(c).expect("valid");
        let original = "Mail a@b.io or call 555-123-4567";
        assert_eq!(r.check(original, "Mail [EMAIL] or call 555-123-4567"), Ok(()));
        let p = r.prompt(&Record::new("r", original));
        assert!(!p.messages[0].content.contains("[PHONE]"));
    }

    #[test]
    fn config_is_validated() {
        let err = |c: Config| PiiRewrite::new(c).err().expect("rejected");
        assert!(err(Config { kinds: vec![], ..Config::default() }).starts_with("kinds is empty"));
        assert!(err(Config { min_similarity: 1.5, ..Config::default() }).starts_with("min_similarity is 1.5"));
        assert!(err(Config { min_similarity: f64::NAN, ..Config::default() }).starts_with("min_similarity is NaN"));
        assert!(err(Config { instructions: Some(" \n".into()), ..Config::default() }).starts_with("instructions"));
        let parsed: Config = kiln_pdk::__parse_config(r#"{"kinds": ["card"], "min_similarity": 0.8}"#).expect("parses");
        assert_eq!(parsed.kinds, [Kind::Card]);
        assert_eq!(parsed.min_similarity, 0.8);
        let e = kiln_pdk::__parse_config::<Config>(r#"{"min_similarty": 0.8}"#).expect_err("typo");
        assert!(e.contains("unknown field `min_similarty`"), "{e}");
        let e = kiln_pdk::__parse_config::<Config>(r#"{"kinds": ["ssn"]}"#).expect_err("unknown kind");
        assert!(e.contains("unknown variant `ssn`"), "{e}");
    }
}
