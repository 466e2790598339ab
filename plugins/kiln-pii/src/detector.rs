//! The detector: one compiled pattern per kind, and the per-kind rules that
//! decide whether a pattern match is personal data (see the crate docs).

use std::net::Ipv6Addr;
use std::str::FromStr;

use regex::Regex;

use crate::boundary::{glued, glued_after, glued_before, is_word, looks_like_slice, next_char, prev_char};
use crate::card::is_card;
use crate::kind::{Kind, Span};

/// Why a [`Detector`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kind was asked for.
    #[error("kinds is empty: list at least one of \"email\", \"phone\", \"ipv4\", \"ipv6\", \"card\"")]
    NoKinds,
    /// A built-in pattern does not compile (a bug in this crate).
    #[error("internal error compiling a PII pattern: {0}")]
    Pattern(#[from] regex::Error),
}

/// Finds personal data of the enabled kinds. The patterns are compiled once,
/// in [`Detector::new`]; build one per plugin instance, not per record.
#[derive(Debug, Clone)]
pub struct Detector {
    /// The enabled kinds, in redaction order.
    kinds: Vec<Kind>,
    email: Regex,
    ipv6: Regex,
    ipv4: Regex,
    card: Regex,
    phone: Regex,
}

/// Letters allowed in email addresses: scripts written with spaces between
/// words, so that an address glued to CJK text does not swallow it.
const EMAIL_LETTER: &str = r"\p{Latin}\p{Greek}\p{Cyrillic}\p{M}";

impl Detector {
    /// A detector for `kinds` (duplicates are ignored).
    pub fn new(kinds: &[Kind]) -> Result<Self, Error> {
        if kinds.is_empty() {
            return Err(Error::NoKinds);
        }
        let l = EMAIL_LETTER;
        Ok(Detector {
            kinds: Kind::REDACTION_ORDER.into_iter().filter(|k| kinds.contains(k)).collect(),
            email: Regex::new(&format!(
                r"[{l}0-9_%+\-]+(?:\.[{l}0-9_%+\-]+)*@(?:[{l}0-9](?:[{l}0-9\-]*[{l}0-9])?\.)+[{l}]{{2,}}"
            ))?,
            ipv6: Regex::new(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")?,
            ipv4: Regex::new(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")?,
            card: Regex::new(r"[0-9]+(?:[ \-][0-9]+)*")?,
            phone: Regex::new(concat!(
                // North American: [+]1 prefix, area code, exchange, line.
                r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}",
                // International, grouped: +CC [(area)] groups.
                r"|\+[1-9][0-9]{0,2}(?:[ .\-]?\([0-9]{1,4}\)[ .\-]?[0-9]{1,6}(?:[ .\-][0-9]{1,6}){0,5}|(?:[ .\-][0-9]{1,6}){1,6})",
                // International, contiguous (E.164).
                r"|\+[1-9][0-9]{6,14}",
            ))?,
        })
    }

    /// The enabled kinds, in redaction order.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// The matches in `text`, sorted and non-overlapping.
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

            // The longest card layout starting at each group wins.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Counts;
    use crate::redact::Placeholders;

    fn detector() -> Detector {
        Detector::new(&Kind::ALL).expect("valid kinds")
    }

    fn redact(text: &str) -> String {
        detector().redact(text, &Placeholders::default()).0.into_owned()
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
        let (text, counts) = detector().redact("4111 1111 1111 1111 and 192.168.100.200", &Placeholders::default());
        assert_eq!(text, "[CARD] and [IPV4]");
        assert_eq!(counts.get(Kind::Phone), 0);
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
        let d = Detector::new(&[Kind::Card, Kind::Email, Kind::Card]).expect("valid kinds");
        assert_eq!(d.kinds(), [Kind::Email, Kind::Card]);
        let (text, counts) = d.redact("a@b.io 555-123-4567 4111111111111111 ::1 1.2.3.4", &Placeholders::default());
        assert_eq!(text, "[EMAIL] 555-123-4567 [CARD] ::1 1.2.3.4");
        assert_eq!(counts, Counts::of(&d.find("x@y.io 4111111111111111")));
    }

    #[test]
    fn empty_kinds_is_rejected() {
        let err = Detector::new(&[]).expect_err("rejected");
        assert!(err.to_string().contains("kinds is empty"), "{err}");
    }

    #[test]
    fn spans_are_sorted_and_disjoint() {
        let text = "x@y.io 555-123-4567 ::ffff:10.0.0.1 4111111111111111 1.2.3.4 +44 20 7946 0958";
        let spans = detector().find(text);
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
        let d = detector();
        for s in samples {
            let _ = d.redact(s, &Placeholders::default());
            let _ = d.redact(&s.repeat(5), &Placeholders::default());
        }
    }
}
