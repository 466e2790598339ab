//! A filter's verdicts as the host hands them on, decoded from the contract's
//! columnar `verdict-batch`: each drop reason is lifted once per batch, and
//! the records dropped for it share one copy (an interned [`Reason`]).

use super::bindings::wit;
use super::reason::Reason;

/// A filter's answer for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the record.
    Keep,
    /// Drop the record for this reason (e.g. `gopher_short_doc`).
    Drop(Reason),
}

impl Verdict {
    /// A drop for `reason`.
    pub fn drop(reason: impl Into<Reason>) -> Self {
        Verdict::Drop(reason.into())
    }

    /// The bytes of output this answer stands for (its reason), as counted
    /// against a plugin's `max_output_bytes`.
    pub fn size(&self) -> usize {
        match self {
            Verdict::Keep => 0,
            Verdict::Drop(reason) => reason.len(),
        }
    }
}

/// Decodes a batch of verdicts: one answer per entry of its `verdicts`
/// column, in order. An entry that names no reason breaks the contract: that
/// record's answer is the error, the others stand.
pub fn decode(batch: wit::VerdictBatch) -> Vec<Result<Verdict, String>> {
    let reasons: Vec<Reason> = batch.reasons.iter().map(|r| Reason::new(r)).collect();
    batch
        .verdicts
        .iter()
        .map(|&number| match number {
            0 => Ok(Verdict::Keep),
            n => reasons.get(n as usize - 1).map(|r| Verdict::Drop(r.clone())).ok_or_else(|| {
                format!("verdict {n} names no drop reason: the batch sent {} reasons (numbered from 1)", reasons.len())
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(reasons: &[&str], verdicts: &[u32]) -> wit::VerdictBatch {
        wit::VerdictBatch { reasons: reasons.iter().map(|r| r.to_string()).collect(), verdicts: verdicts.to_vec() }
    }

    #[test]
    fn numbers_pick_reasons_from_one_and_zero_keeps() {
        let out = decode(batch(&["short", "hashes"], &[0, 1, 2, 1]));
        assert_eq!(
            out,
            [Ok(Verdict::Keep), Ok(Verdict::drop("short")), Ok(Verdict::drop("hashes")), Ok(Verdict::drop("short"))]
        );
        match (&out[1], &out[3]) {
            (Ok(Verdict::Drop(a)), Ok(Verdict::Drop(b))) => {
                assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()), "one reason, shared")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_number_past_the_reasons_is_an_error_for_that_record_only() {
        let out = decode(batch(&["short"], &[1, 2, 0]));
        assert_eq!(out[0], Ok(Verdict::drop("short")));
        let err = out[1].clone().expect_err("no reason 2");
        assert!(err.contains("verdict 2") && err.contains("1 reasons"), "{err}");
        assert_eq!(out[2], Ok(Verdict::Keep));
        assert_eq!(decode(batch(&[], &[1])).len(), 1);
    }

    #[test]
    fn size_is_the_reason_length() {
        assert_eq!(Verdict::Keep.size(), 0);
        assert_eq!(Verdict::drop("abc").size(), 3);
    }
}
