//! How often the simulated teacher is wrong, per problem class.
//!
//! `cargo run --release -p kiln-arith --example teacher_report [COUNT] [SEED]`
//! generates COUNT default problems (10,000 by default), has the teacher
//! (default error profile) answer each, verifies every answer, and prints the
//! share of wrong answers overall and per class label. A problem counts in
//! every label it has, so the rows overlap.

use std::collections::BTreeMap;

use kiln_arith::{ErrorProfile, Problem, ProblemConfig, record_text, teacher, verify};

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let profile = ErrorProfile::default();
    let mut rows: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let (mut wrong, mut unparsed) = (0, 0);
    for index in 0..count {
        let problem = Problem::generate(seed, index, &ProblemConfig::default());
        let prompt = format!("Question: {}", problem.question());
        let completion = teacher::answer(&prompt, seed, &profile);
        let parsed = kiln_arith::parse_solution(&completion);
        let format_broken = parsed.answer.is_none() || parsed.steps.is_empty();
        let correct = match verify(&record_text(&problem.question(), &completion)) {
            Ok(v) => v.correct,
            Err(e) => {
                eprintln!("problem {index} does not verify: {e}");
                false
            }
        };
        wrong += u64::from(!correct);
        unparsed += u64::from(format_broken);
        let mut labels = problem.class().labels();
        labels.push("all");
        for label in labels {
            let row = rows.entry(label).or_default();
            row.0 += 1;
            row.1 += u64::from(!correct);
        }
    }
    println!("default profile: {profile:?}");
    println!(
        "{count} problems, seed {seed}: {wrong} wrong ({:.1}%), of which {unparsed} not in the answer format",
        pct(wrong, count)
    );
    println!("{:<12} {:>8} {:>8} {:>8}", "class", "problems", "wrong", "share");
    for (label, (n, w)) in rows {
        println!("{label:<12} {n:>8} {w:>8} {:>7.1}%", pct(w, n));
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}
