//! Hostile plugins: each misbehaviour ends as a clear error on the offending
//! record alone, within its deadline; the host stays up and the other records
//! of the batch get their answers.

use std::time::{Duration, Instant};

use kiln::Record;
use kiln::outcome::{Outcome, apply};
use kiln::plugin::{CallError, LoadOptions, Plugin, PluginKind, PluginLimits, Sandbox, Verdict};
use kiln_tests::{records, sandbox, wasm};

const DEADLINE_MS: u64 = 300;

fn hostile(sb: &Sandbox, memory_mib: u64) -> Plugin {
    let mut options = LoadOptions::new("hostile-stage", Some(PluginKind::Filter));
    options.limits = PluginLimits { memory_mib, time_per_call_ms: DEADLINE_MS, ..PluginLimits::default() };
    sb.load(&wasm("hostile-filter"), options).expect("hostile plugin loads")
}

/// Runs `bad` in the middle of seven good records; returns its error and
/// checks that every good record was kept.
fn isolate(plugin: &Plugin, bad: &str) -> (CallError, Duration) {
    let texts = ["a", "b", "c", bad, "d", "e", "f", "g"];
    let started = Instant::now();
    let out = plugin.filter(&records(&texts)).expect("plugin as a whole keeps working");
    let elapsed = started.elapsed();
    assert_eq!(out.len(), texts.len(), "one result per record");
    let mut error = None;
    for (i, r) in out.into_iter().enumerate() {
        if i == 3 {
            error = Some(r.expect_err("the hostile record fails"));
        } else {
            assert_eq!(r, Ok(Verdict::Keep), "good record {i} is answered");
        }
    }
    // The instance is replaced: a clean batch runs right after.
    let again = plugin.filter(&records(&["x", "y"])).expect("runs");
    assert!(again.iter().all(|r| r == &Ok(Verdict::Keep)));
    (error.expect("set"), elapsed)
}

/// Bisection over 8 records retries the bad one in at most 4 calls (a timed
/// out batch: one call, then the record alone).
fn bisection_bound() -> Duration {
    Duration::from_millis(DEADLINE_MS * 4 + 3000)
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let sb = sandbox();
    let (err, elapsed) = isolate(&hostile(&sb, 64), "LOOP");
    assert_eq!(err, CallError::Deadline(Duration::from_millis(DEADLINE_MS)));
    assert!(err.to_string().contains("time limit of 300 ms"), "{err}");
    assert!(elapsed < bisection_bound(), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(DEADLINE_MS), "the deadline was honoured, not skipped: {elapsed:?}");
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    let sb = sandbox();
    let (err, elapsed) = isolate(&hostile(&sb, 64), "GROW");
    assert!(matches!(err, CallError::MemoryLimit { limit_mib: 64, .. }), "{err}");
    assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
    assert!(elapsed < bisection_bound(), "took {elapsed:?}");
}

#[test]
fn unbounded_recursion_overflows_the_stack_not_the_host() {
    let sb = sandbox();
    let (err, _) = isolate(&hostile(&sb, 64), "RECURSE");
    assert_eq!(err, CallError::StackOverflow);
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let sb = sandbox();
    let (err, _) = isolate(&hostile(&sb, 64), "PANIC");
    let msg = err.to_string();
    assert!(matches!(err, CallError::Panic(_)), "{msg}");
    assert!(msg.contains("hostile plugin panics on record r3"), "{msg}");
}

#[test]
fn a_wrong_number_of_results_is_pinned_on_the_record() {
    let sb = sandbox();
    let (err, _) = isolate(&hostile(&sb, 64), "EXTRA");
    assert_eq!(err, CallError::WrongCount { expected: 1, got: 2 });
}

#[test]
fn an_enormous_result_is_refused() {
    let sb = sandbox();
    let (err, _) = isolate(&hostile(&sb, 256), "HUGE");
    assert!(matches!(err, CallError::OutputTooLarge { bytes, .. } if bytes == 64 << 20), "{err}");
}

#[test]
fn the_sandbox_grants_no_filesystem_and_no_environment() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    let out = plugin.filter(&records(&["FS", "ENV", "LOG"])).expect("runs");
    match &out[0] {
        Ok(Verdict::Drop(reason)) => assert!(reason.starts_with("denied"), "file read: {reason}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(out[1], Ok(Verdict::drop("0 variables")));
    assert_eq!(out[2], Ok(Verdict::Keep), "guest output is captured, not fatal");
}

#[test]
fn several_bad_records_in_one_large_batch_are_all_isolated() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    let mut texts: Vec<String> = (0..500).map(|i| format!("good {i}")).collect();
    for (i, bad) in [(17, "PANIC"), (250, "RECURSE"), (499, "EXTRA")] {
        texts[i] = bad.to_string();
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let out = plugin.filter(&records(&texts)).expect("runs");
    let failed: Vec<usize> = out.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
    assert_eq!(failed, vec![17, 250, 499]);
}

#[test]
fn quarantined_records_name_plugin_stage_and_record() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    let input = vec![Record::new("keep-me", "fine"), Record::new("bad-one", "PANIC")];
    let outcomes = apply(&plugin, input).expect("runs");
    assert!(matches!(&outcomes[0], Outcome::Kept(r) if r.id == "keep-me"));
    match &outcomes[1] {
        Outcome::Quarantined(q) => {
            let line = q.describe();
            assert!(line.contains("hostile-filter@0.1.0"), "{line}");
            assert!(line.contains("hostile-stage"), "{line}");
            assert!(line.contains("bad-one"), "{line}");
            assert!(line.contains("panics on record bad-one"), "{line}");
        }
        other => panic!("expected quarantine, got {other:?}"),
    }
}

#[test]
fn many_traps_in_a_row_do_not_exhaust_the_instance_pool() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    for _ in 0..300 {
        let out = plugin.filter(&records(&["PANIC"])).expect("runs");
        assert!(out[0].is_err());
    }
    assert_eq!(plugin.filter(&records(&["ok"])).expect("runs"), vec![Ok(Verdict::Keep)]);
}

#[test]
fn a_sleeping_plugin_cannot_escape_its_deadline() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    // An hour's sleep returns at once under the frozen clock: the record is answered.
    let started = Instant::now();
    let out = plugin.filter(&records(&["a", "SLEEP", "b"])).expect("runs");
    assert!(out.iter().all(|r| r == &Ok(Verdict::Keep)), "{out:?}");
    assert!(started.elapsed() < Duration::from_millis(DEADLINE_MS), "took {:?}", started.elapsed());
    // Sleeping forever is spinning: the deadline fires, and says which limit.
    let (err, elapsed) = isolate(&plugin, "NAP-LOOP");
    assert_eq!(err, CallError::Deadline(Duration::from_millis(DEADLINE_MS)));
    assert!(err.to_string().contains("wall-clock"), "{err}");
    assert!(elapsed < Duration::from_millis(DEADLINE_MS * 3 + 2000), "took {elapsed:?}");
}

#[test]
fn bisection_does_not_rerun_a_record_that_timed_out() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    let mut texts: Vec<String> = (0..256).map(|i| format!("good {i}")).collect();
    texts[100] = "LOOP".into();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = plugin.filter(&records(&texts)).expect("runs");
    let elapsed = started.elapsed();
    assert_eq!(out[100], Err(CallError::Deadline(Duration::from_millis(DEADLINE_MS))));
    assert!(out.iter().enumerate().all(|(i, r)| i == 100 || r == &Ok(Verdict::Keep)));
    assert!(elapsed < Duration::from_millis(DEADLINE_MS * 3), "one looping record in 256 took {elapsed:?}");
}

#[test]
fn plugin_output_is_capped_per_call() {
    let sb = sandbox();
    let plugin = hostile(&sb, 64);
    let started = Instant::now();
    let out = plugin.filter(&records(&["SPAM", "SPAM", "ok"])).expect("runs");
    assert!(out.iter().all(|r| r == &Ok(Verdict::Keep)));
    assert!(started.elapsed() < Duration::from_secs(2), "200,000 lines of output took {:?}", started.elapsed());
}

#[test]
fn a_trap_carries_the_last_lines_the_plugin_wrote() {
    let sb = sandbox();
    let (err, _) = isolate(&hostile(&sb, 64), "TRACEBACK");
    let msg = err.to_string();
    assert!(msg.contains("ValueError: cannot judge record r3"), "{msg}");
    assert!(msg.contains("Traceback (most recent call last)"), "{msg}");
    assert_eq!(msg.matches("ValueError").count(), 1, "once: {msg}");
}
