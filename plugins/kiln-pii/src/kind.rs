//! The kinds of personal data, the spans where they were found, and counts per kind.

use serde::Deserialize;

/// A kind of personal data.
///
/// Deserialises from its lower-case name (`"email"`), as plugin configs list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Email address.
    Email,
    /// Phone number.
    Phone,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// Payment card number.
    Card,
}

impl Kind {
    /// Every kind, in configuration order.
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Ipv4, Kind::Ipv6, Kind::Card];
    /// The order in which kinds claim text: an overlapping later match is ignored.
    pub const REDACTION_ORDER: [Kind; 5] = [Kind::Email, Kind::Ipv6, Kind::Ipv4, Kind::Card, Kind::Phone];

    /// The name used in configs (`email`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Card => "card",
        }
    }

    /// The upper-case name used in placeholders (`EMAIL`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Ipv4 => "IPV4",
            Kind::Ipv6 => "IPV6",
            Kind::Card => "CARD",
        }
    }

    /// What it is, in words, for messages (`email address`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Email => "email address",
            Kind::Phone => "phone number",
            Kind::Ipv4 => "IPv4 address",
            Kind::Ipv6 => "IPv6 address",
            Kind::Card => "payment card number",
        }
    }

    /// The score holding this kind's count (`pii_email`).
    pub fn score_name(self) -> &'static str {
        match self {
            Kind::Email => "pii_email",
            Kind::Phone => "pii_phone",
            Kind::Ipv4 => "pii_ipv4",
            Kind::Ipv6 => "pii_ipv6",
            Kind::Card => "pii_card",
        }
    }

    /// Position in [`Kind::ALL`], for per-kind arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One match: a byte range of the text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: Kind,
}

/// How many matches of each kind were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([usize; 5]);

impl Counts {
    /// The counts of the kinds of `spans`.
    pub fn of(spans: &[Span]) -> Self {
        let mut counts = Counts::default();
        for s in spans {
            counts.0[s.kind.index()] += 1;
        }
        counts
    }

    /// The count for `kind`.
    pub fn get(&self, kind: Kind) -> usize {
        self.0[kind.index()]
    }

    /// The total over all kinds.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_follows_index_order() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
    }

    #[test]
    fn counts_of_spans() {
        let span = |kind| Span { start: 0, end: 1, kind };
        let counts = Counts::of(&[span(Kind::Email), span(Kind::Card), span(Kind::Email)]);
        assert_eq!(counts.get(Kind::Email), 2);
        assert_eq!(counts.get(Kind::Card), 1);
        assert_eq!(counts.get(Kind::Phone), 0);
        assert_eq!(counts.total(), 3);
    }
}
