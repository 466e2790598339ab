//! `pii-redact`: replaces personal data in a record's text by typed
//! placeholders: emails → `[EMAIL]`, phone numbers → `[PHONE]`, IPv4 addresses
//! → `[IPV4]`, IPv6 addresses → `[IPV6]`, payment card numbers → `[CARD]`.
//!
//! # Config
//!
//! - `kinds`: which kinds to redact, any of `"email"`, `"phone"`, `"ipv4"`,
//!   `"ipv6"`, `"card"` (default: all five). An unknown kind or an empty list
//!   rejects the configuration.
//! - `placeholder`: what a match is replaced by (default `"[{KIND}]"`). Only
//!   `{KIND}` is substituted, by the upper-case kind (`EMAIL`, `PHONE`, `IPV4`,
//!   `IPV6`, `CARD`); any other text is copied as is. A placeholder without
//!   `{KIND}` is allowed and makes every kind look the same in the output.
//!
//! # Output
//!
//! The mapper never drops a record: it keeps it with the redacted text (the
//! same `id`, metadata and lineage), and sets the scores `pii_email`,
//! `pii_phone`, `pii_ipv4`, `pii_ipv6`, `pii_card` to the number of matches of
//! that kind it redacted — for every *enabled* kind, zeros included, so a
//! missing score means "not checked" and `0` means "checked, none found".
//!
#![doc = include_str!("../../kiln-pii/MATCHING.md")]
//!
//! The detectors live in the `kiln-pii` library, shared with `pii-rewrite`.

use std::borrow::Cow;

use kiln_pdk::{Mapped, Mapper, Plugin, Record};
use kiln_pii::{Detector, Placeholders};
use serde::Deserialize;

pub use kiln_pii::{Counts, Kind, Span, issuer_prefix_ok, luhn_valid};

/// What to redact, and with what.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The kinds to redact (default: all).
    pub kinds: Vec<Kind>,
    /// The replacement; `{KIND}` becomes the upper-case kind (default `[{KIND}]`).
    pub placeholder: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { kinds: Kind::ALL.to_vec(), placeholder: Placeholders::DEFAULT_TEMPLATE.into() }
    }
}

/// The mapper, configured: the detector's patterns are compiled once, here.
pub struct PiiRedact {
    detector: Detector,
    placeholders: Placeholders,
}

impl Plugin for PiiRedact {
    type Config = Config;
    const DESCRIPTION: &'static str =
        "replaces emails, phone numbers, IP addresses and payment card numbers by typed placeholders";

    fn new(c: Config) -> Result<Self, String> {
        if c.kinds.is_empty() {
            return Err("kinds is empty: list at least one of \"email\", \"phone\", \"ipv4\", \"ipv6\", \"card\", \
                        or leave it out to redact all"
                .into());
        }
        let detector = Detector::new(&c.kinds).map_err(|e| e.to_string())?;
        Ok(PiiRedact { detector, placeholders: Placeholders::new(&c.placeholder) })
    }
}

impl PiiRedact {
    /// The matches to redact in `text`, sorted and non-overlapping.
    pub fn find(&self, text: &str) -> Vec<Span> {
        self.detector.find(text)
    }

    /// `text` with every match replaced by its placeholder (borrowed when there
    /// is none), and the number of matches of each kind.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, Counts) {
        self.detector.redact(text, &self.placeholders)
    }
}

impl Mapper for PiiRedact {
    fn map(&self, mut record: Record) -> Mapped {
        let (text, counts) = self.redact(&record.text);
        if let Cow::Owned(text) = text {
            record.text = text;
        }
        for &kind in self.detector.kinds() {
            record.set_score(kind.score_name(), counts.get(kind) as f64);
        }
        Mapped::Keep(record)
    }
}

kiln_pdk::export_mapper!(PiiRedact);

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> PiiRedact {
        PiiRedact::new(Config::default()).expect("valid config")
    }

    #[test]
    fn mixed_text_and_scores() {
        let text = "Contact jane@corp.example or (555) 123-4567; server 10.1.2.3 / fe80::2; \
                    paid with 4111 1111 1111 1111, backup mail bob@corp.example.";
        let out = match redactor().map(Record::new("r7", text)) {
            Mapped::Keep(r) => r,
            Mapped::Drop(why) => panic!("dropped: {why}"),
        };
        assert_eq!(out.id, "r7");
        assert_eq!(
            out.text,
            "Contact [EMAIL] or [PHONE]; server [IPV4] / [IPV6]; paid with [CARD], backup mail [EMAIL]."
        );
        assert_eq!(out.score("pii_email"), Some(2.0));
        assert_eq!(out.score("pii_phone"), Some(1.0));
        assert_eq!(out.score("pii_ipv4"), Some(1.0));
        assert_eq!(out.score("pii_ipv6"), Some(1.0));
        assert_eq!(out.score("pii_card"), Some(1.0));
    }

    #[test]
    fn clean_record_is_kept_with_zero_scores() {
        let mut rec = Record::new("r", "Nothing to see here.");
        rec.metadata = r#"{"lang":"en"}"#.into();
        rec.set_score("quality", 0.5);
        let out = match redactor().map(rec.clone()) {
            Mapped::Keep(r) => r,
            Mapped::Drop(why) => panic!("dropped: {why}"),
        };
        assert_eq!(out.text, rec.text);
        assert_eq!(out.metadata, rec.metadata);
        assert_eq!(out.score("quality"), Some(0.5));
        for k in Kind::ALL {
            assert_eq!(out.score(k.score_name()), Some(0.0), "{k:?}");
        }
    }

    #[test]
    fn subset_of_kinds() {
        let c = Config { kinds: vec![Kind::Email, Kind::Card], ..Config::default() };
        let r = PiiRedact::new(c).expect("valid");
        let rec = Record::new("r", "a@b.io 555-123-4567 4111111111111111 ::1 1.2.3.4");
        let Mapped::Keep(out) = r.map(rec) else { panic!("dropped") };
        assert_eq!(out.text, "[EMAIL] 555-123-4567 [CARD] ::1 1.2.3.4");
        assert_eq!(out.score("pii_email"), Some(1.0));
        assert_eq!(out.score("pii_card"), Some(1.0));
        assert_eq!(out.score("pii_phone"), None);
        assert_eq!(out.score("pii_ipv4"), None);
        assert_eq!(out.score("pii_ipv6"), None);
    }

    #[test]
    fn config_from_json() {
        let c: Config = kiln_pdk::__parse_config(r#"{"kinds": ["phone", "ipv4", "phone"]}"#).expect("parses");
        assert_eq!(c.kinds, [Kind::Phone, Kind::Ipv4, Kind::Phone]);
        assert_eq!(c.placeholder, "[{KIND}]");
        let r = PiiRedact::new(c).expect("valid");
        assert_eq!(r.redact("1.2.3.4 or 555-123-4567").0, "[IPV4] or [PHONE]");
        let c: Config = kiln_pdk::__parse_config("").expect("empty config");
        assert_eq!(c.kinds, Kind::ALL);
    }

    #[test]
    fn unknown_kind_is_rejected() {
        let err = kiln_pdk::__parse_config::<Config>(r#"{"kinds": ["email", "ssn"]}"#).expect_err("rejected");
        assert!(err.contains("unknown variant `ssn`"), "{err}");
        assert!(err.contains("`email`, `phone`, `ipv4`, `ipv6`, `card`"), "{err}");
        let err = kiln_pdk::__parse_config::<Config>(r#"{"kind": ["email"]}"#).expect_err("rejected");
        assert!(err.contains("unknown field `kind`"), "{err}");
    }

    #[test]
    fn empty_kinds_is_rejected() {
        let err = PiiRedact::new(Config { kinds: vec![], ..Config::default() }).err().expect("rejected");
        assert!(err.contains("kinds is empty"), "{err}");
    }

    #[test]
    fn custom_placeholders() {
        let c = Config { placeholder: "<{KIND}:{KIND}>".into(), ..Config::default() };
        let r = PiiRedact::new(c).expect("valid");
        assert_eq!(r.redact("a@b.io").0, "<EMAIL:EMAIL>");
        let c = Config { placeholder: "***".into(), ..Config::default() };
        let r = PiiRedact::new(c).expect("valid");
        assert_eq!(r.redact("a@b.io, 1.2.3.4").0, "***, ***");
    }

    #[test]
    fn placeholders_are_not_matched_again() {
        let c = Config { placeholder: "{KIND} 555-123-4567 10.0.0.1".into(), ..Config::default() };
        let r = PiiRedact::new(c).expect("valid");
        let (text, counts) = r.redact("a@b.io");
        assert_eq!(text, "EMAIL 555-123-4567 10.0.0.1");
        assert_eq!(counts.total(), 1);
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(redactor().redact("no pii at all").0, Cow::Borrowed(_)));
    }
}
