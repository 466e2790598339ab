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
//! # What is matched
//!
//! Matches are found on the original text, kind by kind in the order email,
//! IPv6, IPv4, card, phone; a match that overlaps one of an earlier kind is
//! ignored, so an IPv4-mapped IPv6 address is one `[IPV6]` and a card number is
//! never also a phone number. Placeholders are inserted only at the end, so a
//! placeholder's own text is never matched again. "Word characters" in the
//! boundary rules below are ASCII letters, digits and `_`: a match may touch
//! any other character, e.g. CJK text without spaces.
//!
//! - **email**: a practical RFC 5322 subset, `local@domain.tld`. The local part
//!   is dot-separated runs of letters (Latin, Greek, Cyrillic scripts), ASCII
//!   digits, `_`, `%`, `+`, `-`; the domain is one or more dot-terminated labels
//!   of letters, digits and inner hyphens, then a top-level domain of two or
//!   more letters. No quoted local parts, no IP-literal domains, no `localhost`.
//!   An address glued to a following digit or `_` is left alone.
//! - **ipv4**: four dot-separated decimal octets, each `0`–`255` checked
//!   numerically (leading zeros allowed). Not when the address is part of a
//!   longer dotted number or a version string: no word character just before or
//!   after it, and no `.` followed (or preceded) by a digit (`1.2.3.4.5` and
//!   `v1.2.3.4` are kept).
//! - **ipv6**: a run of hex digits, `:` and `.` with at least two colons and at
//!   least one decimal digit that `std::net::Ipv6Addr` parses (full,
//!   compressed, IPv4-mapped forms; no zone ids), not touching a word character
//!   on either side (`[::1]:8080` → `[[IPV6]]:8080`; a trailing `.` is a full
//!   stop). Rust and C++ paths (`std::io::Read`, `Vec::new`, `foo::bar`) do not
//!   parse or touch a letter and are kept. **All-letter forms such as
//!   `dead::beef` or `cafe::` and a bare `::` are deliberately kept**: they
//!   parse as addresses, but in text they are far more often identifiers,
//!   Haskell or C++ operators than addresses. So are Python/NumPy slices that
//!   happen to parse: short all-decimal forms (`::2`, `1::2`, `::10`; the
//!   loopback `::1` excepted) and any candidate indexed right after an
//!   identifier or bracket (`a[::1]`, `f()[::1]`). Times (`12:30`,
//!   `12:30:45`) and MAC addresses do not parse.
//! - **card**: 13–19 digits, contiguous or in groups separated by one
//!   consistent single space or hyphen in a card layout (`4-4-4-1..4`,
//!   `4-4-4-4-1..3`, Amex `4-6-5`, Diners `4-6-4`), that pass the Luhn check
//!   and start with a payment network's issuer prefix (Visa `4`, Mastercard
//!   `51`–`55` / `2221`–`2720`, Maestro and others `5`, Amex `34`/`37`, Diners
//!   `300`–`305`/`36`/`38`/`39`, JCB `3528`–`3589`, Discover, UnionPay and
//!   others `6`). The prefix check keeps Luhn-valid timestamps and IDs (one
//!   random number in ten passes Luhn). Numbers that fail either check are left
//!   alone, and so are digits glued to word characters or part of a decimal
//!   number (`3.4111111111111111`). A card followed by other digit groups
//!   (`4111 1111 1111 1111 12/25`) is still found.
//! - **phone**, conservatively, as false positives destroy real text:
//!   North-American numbers with separators — `(555) 123-4567`,
//!   `555-123-4567`, `555.123.4567`, `555 123 4567`, optionally after `1` or
//!   `+1` (`+1 555 123 4567`, `1-800-555-1234`), the area code starting with
//!   `2`–`9`; and international numbers starting with `+` and a 1–3-digit
//!   country code, then groups separated by spaces, dots or hyphens (an
//!   optional parenthesised group, as in `+44 (0)20 7946 0958`), or contiguous
//!   (`+4915123456789`), 7–15 digits in all. Not matched: plain digit runs
//!   without `+` (`5551234567`), local numbers without an area code
//!   (`555-1234`), area codes starting with `0` or `1` (`123-456-7890`), dates
//!   (`2024-01-15`), numbers glued to a word character or continued by another
//!   separator and digit (`555-123-4567-89`).

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::str::FromStr;

use kiln_pdk::{Mapped, Mapper, Plugin, Record};
use regex::Regex;
use serde::Deserialize;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
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

    /// The name used in the config (`email`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Card => "card",
        }
    }

    /// The upper-case name substituted for `{KIND}` (`EMAIL`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Ipv4 => "IPV4",
            Kind::Ipv6 => "IPV6",
            Kind::Card => "CARD",
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

    fn index(self) -> usize {
        self as usize
    }
}

/// What to redact, and with what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The kinds to redact (default: all).
    pub kinds: Vec<Kind>,
    /// The replacement; `{KIND}` becomes the upper-case kind (default `[{KIND}]`).
    pub placeholder: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { kinds: Kind::ALL.to_vec(), placeholder: "[{KIND}]".into() }
    }
}

/// One match to redact: a byte range of the text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: Kind,
}

/// How many matches of each kind were redacted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([usize; 5]);

impl Counts {
    /// The count for `kind`.
    pub fn get(&self, kind: Kind) -> usize {
        self.0[kind.index()]
    }

    /// The total over all kinds.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// The mapper, configured: the regexes are compiled once, here.
pub struct PiiRedact {
    /// The enabled kinds, in redaction order.
    kinds: Vec<Kind>,
    /// The placeholder of each kind, by `Kind::index`.
    placeholders: [String; 5],
    email: Regex,
    ipv6: Regex,
    ipv4: Regex,
    card: Regex,
    phone: Regex,
}

/// Letters allowed in email addresses: scripts written with spaces between
/// words, so that an address glued to CJK text does not swallow it.
const EMAIL_LETTER: &str = r"\p{Latin}\p{Greek}\p{Cyrillic}\p{M}";

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("internal error compiling a pii-redact pattern: {e}"))
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
        let kinds = Kind::REDACTION_ORDER.into_iter().filter(|k| c.kinds.contains(k)).collect();
        let placeholders = Kind::ALL.map(|k| c.placeholder.replace("{KIND}", k.label()));
        let l = EMAIL_LETTER;
        Ok(PiiRedact {
            kinds,
            placeholders,
            email: compile(&format!(
                r"[{l}0-9_%+\-]+(?:\.[{l}0-9_%+\-]+)*@(?:[{l}0-9](?:[{l}0-9\-]*[{l}0-9])?\.)+[{l}]{{2,}}"
            ))?,
            ipv6: compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")?,
            ipv4: compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")?,
            card: compile(r"[0-9]+(?:[ \-][0-9]+)*")?,
            phone: compile(concat!(
                // North American: [+]1 prefix, area code, exchange, line.
                r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}",
                // International, grouped: +CC [(area)] groups.
                r"|\+[1-9][0-9]{0,2}(?:[ .\-]?\([0-9]{1,4}\)[ .\-]?[0-9]{1,6}(?:[ .\-][0-9]{1,6}){0,5}|(?:[ .\-][0-9]{1,6}){1,6})",
                // International, contiguous (E.164).
                r"|\+[1-9][0-9]{6,14}",
            ))?,
        })
    }
}

impl PiiRedact {
    /// The matches to redact in `text`, sorted and non-overlapping.
    pub fn find(&self, text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        let has_digit = text.bytes().any(|b| b.is_ascii_digit());
        for &kind in &self.kinds {
            match kind {
                Kind::Email if text.contains('@') => self.find_emails(text, &mut spans),
                Kind::Ipv6 if has_digit && text.contains(':') => self.find_ipv6(text, &mut spans),
                Kind::Ipv4 if has_digit && text.contains('.') => self.find_ipv4(text, &mut spans),
                Kind::Card if has_digit => self.find_cards(text, &mut spans),
                Kind::Phone if has_digit => self.find_phones(text, &mut spans),
                _ => {}
            }
        }
        spans
    }

    /// `text` with every match replaced by its placeholder (borrowed when there
    /// is none), and the number of matches of each kind.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, Counts) {
        let spans = self.find(text);
        let mut counts = Counts::default();
        if spans.is_empty() {
            return (Cow::Borrowed(text), counts);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for s in &spans {
            out.push_str(&text[last..s.start]);
            out.push_str(&self.placeholders[s.kind.index()]);
            counts.0[s.kind.index()] += 1;
            last = s.end;
        }
        out.push_str(&text[last..]);
        (Cow::Owned(out), counts)
    }

    fn find_emails(&self, text: &str, spans: &mut Vec<Span>) {
        for m in self.email.find_iter(text) {
            if next_char(text, m.end()).is_some_and(|c| c.is_ascii_digit() || c == '_') {
                continue;
            }
            claim(spans, m.start(), m.end(), Kind::Email);
        }
    }

    fn find_ipv6(&self, text: &str, spans: &mut Vec<Span>) {
        for m in self.ipv6.find_iter(text) {
            if prev_char(text, m.start()).is_some_and(is_word) || next_char(text, m.end()).is_some_and(is_word) {
                continue;
            }
            // Dots at either end are punctuation, not part of the address.
            let candidate = m.as_str();
            let trimmed_start = candidate.trim_start_matches('.');
            let start = m.start() + (candidate.len() - trimmed_start.len());
            let address = trimmed_start.trim_end_matches('.');
            if address.bytes().filter(|&b| b == b':').count() < 2
                || !address.bytes().any(|b| b.is_ascii_digit())
                || looks_like_slice(text, start, start + address.len())
                || Ipv6Addr::from_str(address).is_err()
            {
                continue;
            }
            claim(spans, start, start + address.len(), Kind::Ipv6);
        }
    }

    fn find_ipv4(&self, text: &str, spans: &mut Vec<Span>) {
        for m in self.ipv4.find_iter(text) {
            if glued(text, m.start(), m.end(), &['.']) {
                continue;
            }
            if m.as_str().split('.').all(|octet| octet.parse::<u16>().is_ok_and(|v| v <= 255)) {
                claim(spans, m.start(), m.end(), Kind::Ipv4);
            }
        }
    }

    fn find_cards(&self, text: &str, spans: &mut Vec<Span>) {
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for m in self.card.find_iter(text) {
            if m.len() < 13 {
                continue; // too short to hold 13 digits
            }
            // Digits right after `+` are a phone number.
            let glued_left = glued_before(text, m.start(), &['.', ',']) || prev_char(text, m.start()) == Some('+');
            let glued_right = glued_after(text, m.end(), &['.', ',']);
            groups.clear();
            let mut start = m.start();
            for (i, b) in m.as_str().bytes().enumerate() {
                if b == b' ' || b == b'-' {
                    groups.push((start, m.start() + i));
                    start = m.start() + i + 1;
                }
            }
            groups.push((start, m.end()));

            let n = groups.len();
            let mut i = 0;
            while i < n {
                let found = (i + 1..=n.min(i + 5))
                    .rev()
                    .find(|&j| !(i == 0 && glued_left || j == n && glued_right) && is_card(text, &groups[i..j]));
                match found {
                    Some(j) => {
                        claim(spans, groups[i].0, groups[j - 1].1, Kind::Card);
                        i = j;
                    }
                    None => i += 1,
                }
            }
        }
    }

    fn find_phones(&self, text: &str, spans: &mut Vec<Span>) {
        for m in self.phone.find_iter(text) {
            if prev_char(text, m.start()).is_some_and(|c| is_word(c) || c == '+')
                || glued(text, m.start(), m.end(), &['.', '-', '/'])
            {
                continue;
            }
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            if (7..=15).contains(&digits) {
                claim(spans, m.start(), m.end(), Kind::Phone);
            }
        }
    }
}

impl Mapper for PiiRedact {
    fn map(&self, mut record: Record) -> Mapped {
        let (text, counts) = self.redact(&record.text);
        if let Cow::Owned(text) = text {
            record.text = text;
        }
        for &kind in &self.kinds {
            record.set_score(kind.score_name(), counts.get(kind) as f64);
        }
        Mapped::Keep(record)
    }
}

kiln_pdk::export_mapper!(PiiRedact);

/// Records `start..end` as a match unless it overlaps an earlier one; keeps
/// `spans` sorted.
fn claim(spans: &mut Vec<Span>, start: usize, end: usize, kind: Kind) -> bool {
    // Spans are sorted and disjoint, so their ends are sorted too.
    let i = spans.partition_point(|s| s.end <= start);
    if spans.get(i).is_some_and(|s| s.start < end) {
        return false;
    }
    spans.insert(i, Span { start, end, kind });
    true
}

/// Whether the IPv6-looking `text[start..end]` is more likely a Python or
/// NumPy slice: an index expression `x[::2]` (brackets right after an
/// identifier or a closing bracket), or a short all-decimal form such as `::2`
/// or `1::2` other than the loopback `::1`.
fn looks_like_slice(text: &str, start: usize, end: usize) -> bool {
    let candidate = &text[start..end];
    if candidate != "::1" {
        let mut parts = candidate.split("::");
        if let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next())
            && a.len() <= 3
            && b.len() <= 3
            && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        {
            return true;
        }
    }
    let mut before = text[..start].chars().rev();
    before.next() == Some('[')
        && next_char(text, end) == Some(']')
        && before.next().is_some_and(|c| is_word(c) || c == ')' || c == ']')
}

/// ASCII letter, digit or underscore.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn prev_char(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

fn next_char(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Whether the text before `start` is a word char, or one of `joiners`
/// preceded by an ASCII digit (the match continues a longer number).
fn glued_before(text: &str, start: usize, joiners: &[char]) -> bool {
    let mut before = text.get(..start).unwrap_or("").chars().rev();
    match before.next() {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => before.next().is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// Whether the text after `end` is a word char, or one of `joiners` followed
/// by an ASCII digit.
fn glued_after(text: &str, end: usize, joiners: &[char]) -> bool {
    let mut after = text.get(end..).unwrap_or("").chars();
    match after.next() {
        Some(c) if is_word(c) => true,
        Some(c) if joiners.contains(&c) => after.next().is_some_and(|d| d.is_ascii_digit()),
        _ => false,
    }
}

fn glued(text: &str, start: usize, end: usize, joiners: &[char]) -> bool {
    glued_before(text, start, joiners) || glued_after(text, end, joiners)
}

/// Whether the digit groups `groups` (byte ranges of `text`, separated by one
/// byte each) form a payment card number.
fn is_card(text: &str, groups: &[(usize, usize)]) -> bool {
    let lens: Vec<usize> = groups.iter().map(|&(s, e)| e - s).collect();
    let layout_ok = match lens.as_slice() {
        [n] => (13..=19).contains(n),
        [4, 4, 4, last] => (1..=4).contains(last),
        [4, 4, 4, 4, last] => (1..=3).contains(last),
        [4, 6, 4] | [4, 6, 5] => true,
        _ => false,
    };
    if !layout_ok {
        return false;
    }
    let bytes = text.as_bytes();
    // One consistent separator.
    let mut seps = groups.iter().skip(1).map(|&(s, _)| bytes[s - 1]);
    if let Some(first) = seps.next()
        && !seps.all(|b| b == first)
    {
        return false;
    }
    let (Some(&(start, _)), Some(&(_, end))) = (groups.first(), groups.last()) else {
        return false;
    };
    let number = &text[start..end];
    issuer_prefix_ok(number) && luhn_valid(number)
}

/// Whether the digits of `number` (spaces and hyphens ignored) start with the
/// issuer prefix of a payment card network.
pub fn issuer_prefix_ok(number: &str) -> bool {
    let mut digits = number.bytes().filter(u8::is_ascii_digit).map(|b| u32::from(b - b'0'));
    let mut prefix = [0u32; 4];
    for p in &mut prefix {
        match digits.next() {
            Some(d) => *p = d,
            None => return false,
        }
    }
    let [a, b, c, d] = prefix;
    let p2 = a * 10 + b;
    let p3 = p2 * 10 + c;
    let p4 = p3 * 10 + d;
    match a {
        4..=6 => true,
        3 => matches!(p2, 34 | 36..=39) || (300..=305).contains(&p3) || (3528..=3589).contains(&p4),
        2 => (2221..=2720).contains(&p4),
        _ => false,
    }
}

/// Whether `number` passes the Luhn checksum. Spaces and hyphens are ignored;
/// any other non-digit, or no digit at all, fails.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for b in number.bytes().rev() {
        match b {
            b'0'..=b'9' => {
                let mut d = u32::from(b - b'0');
                if n % 2 == 1 {
                    d *= 2;
                    if d > 9 {
                        d -= 9;
                    }
                }
                sum += d;
                n += 1;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    n > 0 && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> PiiRedact {
        PiiRedact::new(Config::default()).expect("valid config")
    }

    fn redact(text: &str) -> String {
        redactor().redact(text).0.into_owned()
    }

    fn kept(text: &str) {
        assert_eq!(redact(text), text, "{text:?} should be kept");
    }

    #[test]
    fn emails() {
        assert_eq!(redact("Write to john.doe+news@example.co.uk today."), "Write to [EMAIL] today.");
        assert_eq!(redact("first-last_1@sub.domain-x.org"), "[EMAIL]");
        assert_eq!(redact("<Jane.Roe@Example.COM>"), "<[EMAIL]>");
        assert_eq!(redact("josé.garcía@correo.es"), "[EMAIL]");
        assert_eq!(redact("mail a@b.io, c@d.io"), "mail [EMAIL], [EMAIL]");
    }

    #[test]
    fn non_emails_are_kept() {
        kept("user@localhost");
        kept("@example.com is a handle");
        kept("a@b.c");
        kept("john@ example.com");
        kept("meet @ 5pm at the café");
        kept("a@b.com1");
    }

    #[test]
    fn ipv4() {
        assert_eq!(redact("server 192.168.0.1 is down"), "server [IPV4] is down");
        assert_eq!(redact("ping 8.8.8.8."), "ping [IPV4].");
        assert_eq!(redact("(10.0.0.255)"), "([IPV4])");
        assert_eq!(redact("0.0.0.0:8080"), "[IPV4]:8080");
        assert_eq!(redact("at 010.001.000.001"), "at [IPV4]");
    }

    #[test]
    fn non_ipv4_is_kept() {
        kept("version 1.2.3.4.5");
        kept("999.1.1.1");
        kept("1.1.1.256");
        kept("v1.2.3.4");
        kept("1.2.3");
        kept("1234.1.2.3");
        kept("1.2.3.4567");
        kept("1.2.3.4.5.6.7.8");
        kept("pi is 3.14159");
    }

    #[test]
    fn ipv6() {
        assert_eq!(redact("localhost is ::1"), "localhost is [IPV6]");
        assert_eq!(redact("link fe80::1."), "link [IPV6].");
        assert_eq!(redact("2001:db8::8a2e:370:7334"), "[IPV6]");
        assert_eq!(redact("2001:0db8:85a3:0000:0000:8a2e:0370:7334"), "[IPV6]");
        assert_eq!(redact("mapped ::ffff:192.0.2.1 here"), "mapped [IPV6] here");
        assert_eq!(redact("[::1]:8080"), "[[IPV6]]:8080");
        assert_eq!(redact("http://[::1]:8080/"), "http://[[IPV6]]:8080/");
        assert_eq!(redact("2001::1 and 1::abc"), "[IPV6] and [IPV6]");
        assert_eq!(redact("FE80::ABCD:1%eth0"), "[IPV6]%eth0");
    }

    #[test]
    fn non_ipv6_is_kept() {
        kept("use std::io::Read;");
        kept("let v = Vec::new();");
        kept("foo::bar and a::b");
        kept("at 12:30 or 12:30:45");
        kept("dead::beef");
        kept("f :: Int -> Int");
        kept("mac 00:1A:2B:3C:4D:5E");
        kept("Note: 3 items: a, b, c");
        kept("ratio 1:2:3:4:5");
        kept("C++ ::operator new and std::vector<int>");
        kept("a[::2] + b[1::2] + c[:, ::10] + d[::1] + e()[::1]");
    }

    #[test]
    fn cards() {
        assert_eq!(redact("card 4111 1111 1111 1111 exp"), "card [CARD] exp");
        assert_eq!(redact("4111-1111-1111-1111"), "[CARD]");
        assert_eq!(redact("4111111111111111"), "[CARD]");
        assert_eq!(redact("amex 3782 822463 10005."), "amex [CARD].");
        assert_eq!(redact("mc 5555555555554444, visa 4012888888881881"), "mc [CARD], visa [CARD]");
        assert_eq!(redact("4111 1111 1111 1111 12/25"), "[CARD] 12/25");
        assert_eq!(redact("2 cards: 4111 1111 1111 1111 5555 5555 5555 4444"), "2 cards: [CARD] [CARD]");
    }

    #[test]
    fn non_cards_are_kept() {
        kept("4111 1111 1111 1112"); // fails Luhn
        kept("4111111111111112");
        kept("4111 1111-1111 1111"); // mixed separators
        kept("ID4111111111111111");
        kept("x = 3.4111111111111111");
        kept("ts 1700000000009"); // passes Luhn, no card prefix
        kept("41111 1111 1111 111"); // not a card layout
        kept("year list 2019 2020 2021 2022");
    }

    #[test]
    fn phones() {
        assert_eq!(redact("call (555) 123-4567 now"), "call [PHONE] now");
        assert_eq!(redact("555-123-4567"), "[PHONE]");
        assert_eq!(redact("555.123.4567"), "[PHONE]");
        assert_eq!(redact("tel: +1 555 123 4567."), "tel: [PHONE].");
        assert_eq!(redact("1-800-555-1234"), "[PHONE]");
        assert_eq!(redact("London +44 20 7946 0958"), "London [PHONE]");
        assert_eq!(redact("+44 (0)20 7946 0958"), "[PHONE]");
        assert_eq!(redact("Paris +33 1 23 45 67 89"), "Paris [PHONE]");
        assert_eq!(redact("+4915123456789"), "[PHONE]");
    }

    #[test]
    fn non_phones_are_kept() {
        kept("on 2024-01-15 at 10:30");
        kept("5551234567");
        kept("123456789");
        kept("555-1234");
        kept("123-456-7890");
        kept("555-123-4567-89");
        kept("+5 3 = 8");
        kept("+1 2");
        kept("ISBN 978-3-16-148410-0");
        kept("x555-123-4567");
    }

    #[test]
    fn cards_and_ips_are_not_phones() {
        let r = redactor();
        let (text, counts) = r.redact("4111 1111 1111 1111 and 192.168.100.200");
        assert_eq!(text, "[CARD] and [IPV4]");
        assert_eq!(counts.get(Kind::Phone), 0);
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
    fn unicode_around_matches() {
        assert_eq!(redact("联系john@example.com谢谢"), "联系[EMAIL]谢谢");
        assert_eq!(redact("服务器192.168.1.1已关闭"), "服务器[IPV4]已关闭");
        assert_eq!(redact("地址：fe80::1。"), "地址：[IPV6]。");
        assert_eq!(redact("Карта «4111 1111 1111 1111» — ок"), "Карта «[CARD]» — ок");
        assert_eq!(redact("☎ (555) 123-4567 😀"), "☎ [PHONE] 😀");
        assert_eq!(redact("Ünïcödé only ✓"), "Ünïcödé only ✓");
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

    #[test]
    fn luhn_and_prefix() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111x1111"));
        assert!(issuer_prefix_ok("4111"));
        assert!(issuer_prefix_ok("3782"));
        assert!(issuer_prefix_ok("2221 0000"));
        assert!(!issuer_prefix_ok("2220"));
        assert!(!issuer_prefix_ok("3312"));
        assert!(!issuer_prefix_ok("1700"));
        assert!(!issuer_prefix_ok("41"));
    }

    #[test]
    fn spans_are_sorted_and_disjoint() {
        let text = "x@y.io 555-123-4567 ::ffff:10.0.0.1 4111111111111111 1.2.3.4 +44 20 7946 0958";
        let spans = redactor().find(text);
        assert_eq!(spans.len(), 6);
        for w in spans.windows(2) {
            assert!(w[0].end <= w[1].start, "{spans:?}");
        }
    }

    #[test]
    fn no_panic_on_tricky_unicode() {
        let samples = [
            "é@é.éé",
            "@@@",
            "::",
            ":::::",
            "::ffff:",
            "1.2.3.4\u{301}",
            "١٢٣.١.١.١",
            "４１１１ １１１１ １１１１ １１１１",
            "+\u{301}1 555 123 4567",
            "a@b.c\u{0}",
            "…:…:…",
            "📞+1-555-123-4567📞",
            "\u{2028}4111111111111111\u{2029}",
            "1-",
            "+",
            "(",
            "(555",
            "9999999999999999999999999999999999999",
            "a.b.c.d@e.f.gh",
            "é1.2.3.4é",
        ];
        let r = redactor();
        for s in samples {
            let _ = r.redact(s);
            let _ = r.redact(&s.repeat(5));
        }
    }
}
