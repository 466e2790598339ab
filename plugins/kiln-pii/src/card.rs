//! Payment card checks: the card layouts, issuer prefixes and the Luhn checksum.

/// Whether the digit groups `groups` (byte ranges of `text`, separated by one
/// byte each) form a payment card number.
pub(crate) fn is_card(text: &str, groups: &[(usize, usize)]) -> bool {
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
    let mut seps = groups.iter().skip(1).filter_map(|&(s, _)| s.checked_sub(1).and_then(|i| bytes.get(i)));
    if let Some(first) = seps.next()
        && !seps.all(|b| b == first)
    {
        return false;
    }
    let (Some(&(start, _)), Some(&(_, end))) = (groups.first(), groups.last()) else {
        return false;
    };
    let number = text.get(start..end).unwrap_or("");
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
    fn card_layouts() {
        let groups = |text: &str| {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, b) in text.bytes().enumerate() {
                if b == b' ' || b == b'-' {
                    out.push((start, i));
                    start = i + 1;
                }
            }
            out.push((start, text.len()));
            out
        };
        for card in ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005"] {
            assert!(is_card(card, &groups(card)), "{card}");
        }
        for not_card in ["4111 1111-1111 1111", "41111 1111 1111 111", "4111 1111 1111 1112"] {
            assert!(!is_card(not_card, &groups(not_card)), "{not_card}");
        }
    }
}
