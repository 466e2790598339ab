//! A hostile filter for the sandbox's end-to-end tests.
//!
//! It keeps every record, except that a record whose text is one of these
//! words makes it misbehave:
//! - `LOOP`: loops forever;
//! - `GROW`: allocates memory without bound;
//! - `RECURSE`: recurses until the stack overflows;
//! - `PANIC`: panics;
//! - `EXTRA`: returns one result too many for the batch;
//! - `HUGE`: drops the record with a 64 MiB reason;
//! - `LOG`: writes to stdout and stderr (which must not reach the host's).
//! - `FS`, `ENV`: tries to read a host file / the environment, and drops the
//!   record with what it got (the sandbox must grant nothing).
//! - `SLEEP`: sleeps an hour, then keeps the record (sleeping must not hold
//!   the host: under the sandbox's frozen clock it returns at once);
//! - `NAP-LOOP`: sleeps a second, forever (must hit the call's deadline);
//! - `SPAM`: writes 100,000 lines to stdout (must be capped, not logged);
//! - `TRACEBACK`: writes a Python-style traceback to stderr, then aborts.

use kiln_pdk::{Filter, NoConfig, Plugin, Record, Verdict};

/// The misbehaving filter.
pub struct Hostile;

impl Plugin for Hostile {
    type Config = NoConfig;
    const DESCRIPTION: &'static str = "misbehaves on command, for tests";

    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Hostile)
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, sink: &mut [u64; 64]) -> u64 {
    sink[(depth % 64) as usize] = depth;
    let next = recurse(depth + 1, sink);
    std::hint::black_box(next) + sink[(depth % 7) as usize]
}

impl Filter for Hostile {
    fn filter(&self, _record: &Record) -> Verdict {
        Verdict::Keep
    }

    fn filter_batch(&self, records: &[Record]) -> Vec<Verdict> {
        let mut out = Vec::with_capacity(records.len() + 1);
        for r in records {
            match r.text.as_str() {
                "LOOP" => {
                    let mut x: u64 = 0;
                    loop {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
                "GROW" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "RECURSE" => {
                    let mut sink = [0u64; 64];
                    std::hint::black_box(recurse(0, &mut sink));
                }
                "PANIC" => panic!("hostile plugin panics on record {}", r.id),
                "EXTRA" => out.push(Verdict::Keep),
                "HUGE" => {
                    out.push(Verdict::drop("x".repeat(64 << 20)));
                    continue;
                }
                "LOG" => {
                    println!("hostile stdout line");
                    eprintln!("hostile stderr line");
                    kiln_pdk::log::warn("hostile log line");
                }
                "FS" => {
                    let got = match std::fs::read("/etc/hostname") {
                        Ok(bytes) => format!("read {} bytes", bytes.len()),
                        Err(e) => format!("denied: {e}"),
                    };
                    out.push(Verdict::drop(got));
                    continue;
                }
                "SLEEP" => std::thread::sleep(std::time::Duration::from_secs(3600)),
                "NAP-LOOP" => loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                },
                "SPAM" => {
                    for i in 0..100_000 {
                        println!("spam line {i}");
                    }
                }
                "TRACEBACK" => {
                    eprintln!("Traceback (most recent call last):");
                    eprintln!("  File \"filter.py\", line 12, in filter_batch");
                    eprintln!("ValueError: cannot judge record {}", r.id);
                    std::process::abort();
                }
                "ENV" => {
                    out.push(Verdict::drop(format!("{} variables", std::env::vars().count())));
                    continue;
                }
                _ => {}
            }
            out.push(Verdict::Keep);
        }
        out
    }
}

kiln_pdk::export_filter!(Hostile);
