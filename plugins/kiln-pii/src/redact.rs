//! Replacing found personal data by placeholders.

use std::borrow::Cow;

use crate::detector::Detector;
use crate::kind::{Counts, Kind};

/// What each kind of match is replaced by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders([String; 5]);

impl Placeholders {
    /// The default template: `[EMAIL]`, `[PHONE]`, `[IPV4]`, `[IPV6]`, `[CARD]`.
    pub const DEFAULT_TEMPLATE: &'static str = "[{KIND}]";

    /// Placeholders made from `template`, in which `{KIND}` becomes the
    /// upper-case kind ([`Kind::label`]); any other text is copied as is.
    pub fn new(template: &str) -> Self {
        Placeholders(Kind::ALL.map(|k| template.replace("{KIND}", k.label())))
    }

    /// The placeholder of `kind`.
    pub fn get(&self, kind: Kind) -> &str {
        &self.0[kind.index()]
    }
}

impl Default for Placeholders {
    fn default() -> Self {
        Placeholders::new(Self::DEFAULT_TEMPLATE)
    }
}

impl Detector {
    /// `text` with every match replaced by its placeholder (borrowed when
    /// there is none), and the number of matches of each kind. Placeholders
    /// are inserted after all matches are found, so they are never matched.
    pub fn redact<'a>(&self, text: &'a str, placeholders: &Placeholders) -> (Cow<'a, str>, Counts) {
        let spans = self.find(text);
        let counts = Counts::of(&spans);
        if spans.is_empty() {
            return (Cow::Borrowed(text), counts);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for s in &spans {
            out.push_str(&text[last..s.start]);
            out.push_str(placeholders.get(s.kind));
            last = s.end;
        }
        out.push_str(&text[last..]);
        (Cow::Owned(out), counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        Detector::new(&Kind::ALL).expect("valid kinds")
    }

    #[test]
    fn default_placeholders() {
        let p = Placeholders::default();
        assert_eq!(Kind::ALL.map(|k| p.get(k).to_string()), ["[EMAIL]", "[PHONE]", "[IPV4]", "[IPV6]", "[CARD]"]);
    }

    #[test]
    fn custom_placeholders() {
        let d = detector();
        assert_eq!(d.redact("a@b.io", &Placeholders::new("<{KIND}:{KIND}>")).0, "<EMAIL:EMAIL>");
        assert_eq!(d.redact("a@b.io, 1.2.3.4", &Placeholders::new("***")).0, "***, ***");
    }

    #[test]
    fn placeholders_are_not_matched_again() {
        let p = Placeholders::new("{KIND} 555-123-4567 10.0.0.1");
        let (text, counts) = detector().redact("a@b.io", &p);
        assert_eq!(text, "EMAIL 555-123-4567 10.0.0.1");
        assert_eq!(counts.total(), 1);
    }

    #[test]
    fn clean_text_is_borrowed() {
        let (text, counts) = detector().redact("no pii at all", &Placeholders::default());
        assert!(matches!(text, Cow::Borrowed(_)));
        assert_eq!(counts.total(), 0);
    }

    #[test]
    fn counts_per_kind() {
        let (text, counts) = detector().redact("a@b.io c@d.io 1.2.3.4", &Placeholders::default());
        assert_eq!(text, "[EMAIL] [EMAIL] [IPV4]");
        assert_eq!(counts.get(Kind::Email), 2);
        assert_eq!(counts.get(Kind::Ipv4), 1);
        assert_eq!(counts.total(), 3);
    }
}
