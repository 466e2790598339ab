//! Isolating the records that make a batch call fail.
//!
//! A call on a batch fails as a whole: one poisoned record makes a trap, a
//! deadline or a wrong answer for all of them. Bisection finds the culprits:
//! the failing batch is split in halves and each half retried, down to single
//! records, which are then failed alone while every other record gets its
//! answer. For `k` bad records in a batch of `n` this costs `O(k log n)` calls.
//!
//! A call that ran out of time is not bisected: halving would pay the full
//! deadline again at every level for the same looping record (ten deadlines
//! for a batch of 256). Its records are called one at a time instead, so a
//! batch with `k` records that loop costs `k + 1` deadlines in all, and the
//! others only their own time.

use super::error::CallError;

/// One call of a plugin on a batch: one output per item, or why not.
pub type BatchCall<'a, I, O> = dyn FnMut(&[I]) -> Result<Vec<O>, CallError> + 'a;

/// One result per item: the answer, or the error raised on that item alone.
pub type Answers<O> = Vec<Result<O, CallError>>;

/// Calls `call` on `items`, bisecting on failure. Returns one result per item,
/// in order, or the first fatal error (one that [`CallError::is_fatal`] says
/// bisection cannot isolate).
pub fn run_isolated<I, O>(items: &[I], call: &mut BatchCall<'_, I, O>) -> Result<Answers<O>, CallError> {
    let mut out = Vec::with_capacity(items.len());
    bisect(items, call, &mut out)?;
    Ok(out)
}

fn bisect<I, O>(items: &[I], call: &mut BatchCall<'_, I, O>, out: &mut Answers<O>) -> Result<(), CallError> {
    if items.is_empty() {
        return Ok(());
    }
    match call(items) {
        Ok(results) if results.len() == items.len() => {
            out.extend(results.into_iter().map(Ok));
            Ok(())
        }
        Ok(results) => {
            fail_or_split(items, CallError::WrongCount { expected: items.len(), got: results.len() }, call, out)
        }
        Err(e) => fail_or_split(items, e, call, out),
    }
}

fn fail_or_split<I, O>(
    items: &[I],
    error: CallError,
    call: &mut BatchCall<'_, I, O>,
    out: &mut Answers<O>,
) -> Result<(), CallError> {
    if error.is_fatal() {
        return Err(error);
    }
    if items.len() == 1 {
        out.push(Err(error));
        return Ok(());
    }
    if matches!(error, CallError::Deadline(_)) {
        for item in items {
            let result = match call(std::slice::from_ref(item)) {
                Ok(mut results) if results.len() == 1 => {
                    results.pop().ok_or(CallError::WrongCount { expected: 1, got: 0 })
                }
                Ok(results) => Err(CallError::WrongCount { expected: 1, got: results.len() }),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => Err(e),
            };
            out.push(result);
        }
        return Ok(());
    }
    let (left, right) = items.split_at(items.len() / 2);
    bisect(left, call, out)?;
    bisect(right, call, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that fails whenever the batch holds a negative number, and counts calls.
    fn doubling(calls: &mut usize) -> impl FnMut(&[i32]) -> Result<Vec<i32>, CallError> + '_ {
        move |batch| {
            *calls += 1;
            if batch.iter().any(|&x| x < 0) {
                Err(CallError::Panic("negative".into()))
            } else {
                Ok(batch.iter().map(|x| x * 2).collect())
            }
        }
    }

    #[test]
    fn clean_batch_is_one_call() {
        let mut calls = 0;
        let out = run_isolated(&[1, 2, 3], &mut doubling(&mut calls)).expect("no fatal error");
        assert_eq!(out, vec![Ok(2), Ok(4), Ok(6)]);
        assert_eq!(calls, 1);
    }

    #[test]
    fn bad_records_are_isolated_and_others_answered() {
        let items: Vec<i32> = (0..64).map(|i| if i == 5 || i == 40 { -1 } else { i }).collect();
        let mut calls = 0;
        let out = run_isolated(&items, &mut doubling(&mut calls)).expect("no fatal error");
        assert_eq!(out.len(), 64);
        for (i, r) in out.iter().enumerate() {
            if i == 5 || i == 40 {
                assert_eq!(r, &Err(CallError::Panic("negative".into())));
            } else {
                assert_eq!(r, &Ok(items[i] * 2));
            }
        }
        assert!(calls <= 1 + 2 * 2 * 6, "calls = {calls}");
    }

    #[test]
    fn wrong_counts_are_isolated_too() {
        let mut call = |batch: &[i32]| -> Result<Vec<i32>, CallError> {
            let mut v: Vec<i32> = batch.to_vec();
            if batch.contains(&7) {
                v.push(0);
            }
            Ok(v)
        };
        let out = run_isolated(&[1, 7, 3], &mut call).expect("no fatal error");
        assert_eq!(out[0], Ok(1));
        assert_eq!(out[1], Err(CallError::WrongCount { expected: 1, got: 2 }));
        assert_eq!(out[2], Ok(3));
    }

    #[test]
    fn a_looping_record_costs_two_deadlines_not_one_per_level() {
        // One "looping" record (-1) in a batch of 256: every call that holds
        // it runs out of time.
        let items: Vec<i32> = (0..256).map(|i| if i == 200 { -1 } else { i }).collect();
        let (mut calls, mut deadlines) = (0, 0);
        let mut call = |batch: &[i32]| -> Result<Vec<i32>, CallError> {
            calls += 1;
            if batch.contains(&-1) {
                deadlines += 1;
                return Err(CallError::Deadline(std::time::Duration::from_millis(10)));
            }
            Ok(batch.to_vec())
        };
        let out = run_isolated(&items, &mut call).expect("no fatal error");
        assert_eq!(deadlines, 2, "the batch, then the record alone");
        assert_eq!(calls, 1 + 256);
        assert!(matches!(out[200], Err(CallError::Deadline(_))));
        assert!(out.iter().enumerate().all(|(i, r)| i == 200 || r == &Ok(i as i32)));
    }

    #[test]
    fn fatal_errors_stop_bisection() {
        let mut call = |_: &[i32]| -> Result<Vec<i32>, CallError> { Err(CallError::Restart("gone".into())) };
        assert_eq!(run_isolated(&[1, 2], &mut call), Err(CallError::Restart("gone".into())));
    }
}
