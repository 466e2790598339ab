//! A filter's answers for a batch in the contract's columnar form (the WIT
//! `verdict-batch`): each distinct drop reason once, and per record the
//! number of its reason, 0 for a kept record.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::Verdict;

/// The columns of a `verdict-batch`, built one [`Verdict`] at a time.
#[derive(Debug, Default)]
pub struct Verdicts {
    reasons: Vec<String>,
    verdicts: Vec<u32>,
    /// The number of each reason in `reasons`.
    numbers: BTreeMap<String, u32>,
    /// The number of the latest drop's reason (0 before the first drop).
    last: u32,
    /// That reason, when it was a `&'static str`: a drop for the same static
    /// string is numbered without comparing bytes or calling out of line.
    last_static: Option<&'static str>,
}

impl Verdicts {
    /// Room for `records` verdicts.
    pub fn with_capacity(records: usize) -> Self {
        Verdicts { verdicts: Vec::with_capacity(records), ..Verdicts::default() }
    }

    /// Appends the verdict on the next record.
    #[inline]
    pub fn push(&mut self, verdict: Verdict) {
        let number = match verdict {
            Verdict::Keep => 0,
            Verdict::Drop(Cow::Borrowed(reason)) if self.last_static.is_some_and(|last| std::ptr::eq(last, reason)) => {
                self.last
            }
            Verdict::Drop(reason) => self.number(reason),
        };
        self.verdicts.push(number);
    }

    /// The number of `reason`, which is added to the reasons if new.
    #[inline(never)]
    fn number(&mut self, reason: Cow<'static, str>) -> u32 {
        // Most drops repeat the reason of the drop before them.
        self.last_static = match reason {
            Cow::Borrowed(reason) => Some(reason),
            Cow::Owned(_) => None,
        };
        let last = self.last as usize;
        if last != 0 && same_bytes(self.reasons[last - 1].as_bytes(), reason.as_bytes()) {
            return self.last;
        }
        let number = match self.numbers.get(reason.as_ref()) {
            Some(&number) => number,
            None => {
                // At most one reason per record, and a batch's records number
                // fewer than 2^32 (its lists have u32 lengths).
                let number = self.reasons.len() as u32 + 1;
                let reason = reason.into_owned();
                self.numbers.insert(reason.clone(), number);
                self.reasons.push(reason);
                number
            }
        };
        self.last = number;
        number
    }

    /// The two columns: the distinct reasons, and one number per record.
    pub fn finish(self) -> (Vec<String>, Vec<u32>) {
        (self.reasons, self.verdicts)
    }
}

/// Whether `a` and `b` hold the same bytes, compared 8 at a time. (`==` on
/// strings calls `memcmp`, which in a wasm32-wasip2 guest is wasi-libc's loop
/// over single bytes, each round paying the runtime's interruption check.)
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a8, a_rest), (b8, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a8.iter().zip(b8).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
}

impl FromIterator<Verdict> for Verdicts {
    fn from_iter<I: IntoIterator<Item = Verdict>>(verdicts: I) -> Self {
        let verdicts = verdicts.into_iter();
        let mut columns = Verdicts::with_capacity(verdicts.size_hint().0);
        verdicts.for_each(|v| columns.push(v));
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_sent_once_and_numbered_from_one() {
        let columns: Verdicts = [
            Verdict::drop("short"),
            Verdict::Keep,
            Verdict::drop("short"),
            Verdict::drop("hashes"),
            Verdict::drop("short"),
            Verdict::drop("hashes"),
            Verdict::Keep,
        ]
        .into_iter()
        .collect();
        let (reasons, verdicts) = columns.finish();
        assert_eq!(reasons, ["short", "hashes"]);
        assert_eq!(verdicts, [1, 0, 1, 2, 1, 2, 0]);
    }

    #[test]
    fn static_and_owned_reasons_of_the_same_text_share_a_number() {
        let columns: Verdicts = [
            Verdict::drop("short"),
            Verdict::drop(String::from("short")),
            Verdict::drop("short"),
            Verdict::drop(String::from("long")),
            Verdict::drop("long"),
            Verdict::drop("short"),
        ]
        .into_iter()
        .collect();
        let (reasons, verdicts) = columns.finish();
        assert_eq!(reasons, ["short", "long"]);
        assert_eq!(verdicts, [1, 1, 1, 2, 2, 1]);
    }

    #[test]
    fn no_drops_send_no_reasons() {
        let (reasons, verdicts) = [Verdict::Keep, Verdict::Keep].into_iter().collect::<Verdicts>().finish();
        assert!(reasons.is_empty());
        assert_eq!(verdicts, [0, 0]);
        let (reasons, verdicts) = Verdicts::default().finish();
        assert!(reasons.is_empty() && verdicts.is_empty());
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        let long = "gopher_below_alpha_threshold";
        assert!(same_bytes(long.as_bytes(), long.to_string().as_bytes()));
        assert!(same_bytes(b"", b""));
        for i in 0..long.len() {
            let mut other = long.as_bytes().to_vec();
            other[i] ^= 1;
            assert!(!same_bytes(long.as_bytes(), &other), "byte {i}");
        }
        assert!(!same_bytes(b"short", b"shorter"));
    }

    #[test]
    fn an_empty_reason_is_a_reason() {
        let (reasons, verdicts) = [Verdict::drop(""), Verdict::drop("")].into_iter().collect::<Verdicts>().finish();
        assert_eq!(reasons, [""]);
        assert_eq!(verdicts, [1, 1]);
    }
}
