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
/// column, in order. An entry that names no reason breaks the contract; the
/// error says which (the host then isolates the record it belongs to).
pub fn decode(batch: wit::VerdictBatch) -> Result<Vec<Verdict>, String> {
    // Answer `n` is entry `n` of this table: 0 keeps, `n` drops for reason `n`.
    let answers: Vec<Verdict> =
        std::iter::once(Verdict::Keep).chain(batch.reasons.iter().map(|r| Verdict::Drop(Reason::new(r)))).collect();
    // Checked in one pass first, so that the pass that builds the answers
    // neither branches on errors nor carries a `Result` per entry.
    let highest = batch.verdicts.iter().copied().max().unwrap_or(0);
    if highest as usize >= answers.len() {
        return Err(format!(
            "verdict {highest} names no drop reason: the batch sent {} reasons (numbered from 1)",
            batch.reasons.len()
        ));
    }
    Ok(batch.verdicts.iter().map(|&n| answers[n as usize].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(reasons: &[&str], verdicts: &[u32]) -> wit::VerdictBatch {
        wit::VerdictBatch { reasons: reasons.iter().map(|r| r.to_string()).collect(), verdicts: verdicts.to_vec() }
    }

    #[test]
    fn numbers_pick_reasons_from_one_and_zero_keeps() {
        let out = decode(batch(&["short", "hashes"], &[0, 1, 2, 1])).expect("valid");
        assert_eq!(out, [Verdict::Keep, Verdict::drop("short"), Verdict::drop("hashes"), Verdict::drop("short")]);
        match (&out[1], &out[3]) {
            (Verdict::Drop(a), Verdict::Drop(b)) => assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()), "one reason, shared"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_number_past_the_reasons_fails_the_batch() {
        let err = decode(batch(&["short"], &[1, 2, 0])).expect_err("no reason 2");
        assert!(err.contains("verdict 2") && err.contains("1 reasons"), "{err}");
        assert!(decode(batch(&[], &[1])).is_err());
        assert_eq!(decode(batch(&[], &[0, 0])), Ok(vec![Verdict::Keep, Verdict::Keep]));
    }

    #[test]
    fn size_is_the_reason_length() {
        assert_eq!(Verdict::Keep.size(), 0);
        assert_eq!(Verdict::drop("abc").size(), 3);
    }
}
