//! The rounds' part of `kiln run`'s summary on stderr: per arm, one line per
//! round with the monitor's headline metrics (mean ± 95% half-width over
//! seeds), the final round's accuracy per problem class, the reference
//! models a student is compared with, and the alarms. The full curves are in
//! `report.html` and every value in `stats.json`; this is what a user reads
//! in the terminal to know how the arms went without opening either.

use kiln::pipeline::rounds::summary::{ArmReport, CLASS_ACCURACY, RoundsReport};
use kiln::pipeline::stages::evaluate::Interval;

/// The metrics shown per round, in this order, when measured: (key, label,
/// shown as a percentage).
const HEADLINE: [(&str, &str, bool); 5] = [
    ("perplexity", "perplexity", false),
    ("accuracy", "accuracy", true),
    ("tail_coverage", "tail coverage", false),
    ("js_divergence", "JS div", false),
    ("pool_records", "pool", false),
];

/// Print every arm's rounds.
pub fn print(r: &RoundsReport) {
    eprintln!(
        "  rounds: {} after round 0, {} arm(s), seeds {:?}, {:.0}s (\"stats.json\" → rounds; curves in report.html)",
        r.count,
        r.arms.len(),
        r.seeds,
        r.seconds
    );
    for reference in &r.references {
        eprintln!(
            "    reference {:<14} accuracy {}{}",
            reference.model,
            percent(&reference.accuracy),
            classes(reference.by_class.iter().map(|(class, i)| (class.as_str(), i)))
        );
    }
    for arm in &r.arms {
        print_arm(arm);
    }
    for (metric, why) in &r.unavailable {
        eprintln!("    {metric}: not measured: {why}");
    }
}

fn print_arm(arm: &ArmReport) {
    eprintln!("    arm `{}` ({})", arm.name, arm.policy);
    for round in &arm.rounds {
        let cells: Vec<String> = HEADLINE
            .iter()
            .filter_map(|(key, label, as_percent)| {
                let i = round.mean.get(*key)?;
                Some(if *as_percent {
                    format!("{label} {}", percent(i))
                } else if *key == "pool_records" {
                    format!("{label} {:.0}", i.mean)
                } else {
                    format!("{label} {:.3} ± {:.3}", i.mean, i.half_width)
                })
            })
            .collect();
        eprintln!("      round {:<2} {}", round.round, cells.join("  "));
    }
    if let Some(last) = arm.rounds.last() {
        let by_class = last.mean.iter().filter_map(|(k, i)| Some((k.strip_prefix(CLASS_ACCURACY)?, i)));
        let line = classes(by_class);
        if !line.is_empty() {
            eprintln!("      round {}{line}", last.round);
        }
    }
    for alarm in &arm.alarms {
        eprintln!("      {}", alarm.message);
    }
    if let Some(k) = arm.stopped_after {
        eprintln!("      stopped after round {k} by a `stop` alarm");
    }
}

/// `79.2% ± 2.5`.
fn percent(i: &Interval) -> String {
    format!("{:.1}% ± {:.1}", 100.0 * i.mean, 100.0 * i.half_width)
}

/// `  by class: carry 47.2%, plain 92.4%`, or nothing without classes.
fn classes<'a>(by_class: impl Iterator<Item = (&'a str, &'a Interval)>) -> String {
    let cells: Vec<String> = by_class.map(|(class, i)| format!("{class} {:.1}%", 100.0 * i.mean)).collect();
    if cells.is_empty() { String::new() } else { format!("  by class: {}", cells.join(", ")) }
}
