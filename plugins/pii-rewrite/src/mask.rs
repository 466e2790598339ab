//! Masked snippets of personal data for rejection reasons: enough to find the
//! leak in the record, too little to reveal it (reasons end up in logs and
//! reports).

use kiln_pii::Kind;

/// `found` (a match of `kind`) with most of it hidden: an email keeps the
/// first character of its local part and its top-level domain (`j…@…com`);
/// anything else keeps its first two and last two characters (`+1…67`), or
/// only its first character when it is six characters or shorter.
pub fn mask(kind: Kind, found: &str) -> String {
    if kind == Kind::Email
        && let Some((local, domain)) = found.split_once('@')
    {
        let first = local.chars().next().map(String::from).unwrap_or_default();
        let tld = domain.rsplit('.').next().unwrap_or_default();
        return format!("{first}…@…{tld}");
    }
    let chars: Vec<char> = found.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [first, ..] if chars.len() <= 6 => format!("{first}…"),
        [a, b, .., y, z] => format!("{a}{b}…{y}{z}"),
        [first, ..] => format!("{first}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_keep_first_letter_and_tld() {
        assert_eq!(mask(Kind::Email, "jane.doe@mail.example.com"), "j…@…com");
        assert_eq!(mask(Kind::Email, "é@x.io"), "é…@…io");
    }

    #[test]
    fn others_keep_their_ends() {
        assert_eq!(mask(Kind::Phone, "+1 555 123 4567"), "+1…67");
        assert_eq!(mask(Kind::Card, "4111 1111 1111 1111"), "41…11");
        assert_eq!(mask(Kind::Ipv4, "10.0.0.1"), "10….1");
        assert_eq!(mask(Kind::Ipv6, "::1"), ":…");
        assert_eq!(mask(Kind::Ipv6, ""), "");
    }

    #[test]
    fn masks_never_contain_the_whole_value() {
        for (kind, value) in [(Kind::Email, "a@b.io"), (Kind::Ipv4, "1.2.3.4"), (Kind::Card, "4111111111111111")] {
            assert!(!mask(kind, value).contains(value), "{value}");
        }
    }
}
