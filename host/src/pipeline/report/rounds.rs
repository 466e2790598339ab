//! The rounds part of `report.html`: the alarms first, a table of every
//! arm's final round, then one chart per monitor metric — x the round, one
//! line per arm (its mean over seeds) inside a band (its 95% interval) — and
//! the metrics that could not be computed, with the reason. Drawn from
//! `stats.json`'s `rounds` alone.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::pipeline::report::escape::{err, escape};
use crate::pipeline::rounds::summary::{CLASS_ACCURACY, RoundsReport};

const WIDTH: u32 = 860;
const PALETTE: [RGBColor; 8] = [
    RGBColor(52, 101, 164),
    RGBColor(204, 0, 0),
    RGBColor(78, 154, 6),
    RGBColor(245, 121, 0),
    RGBColor(117, 80, 123),
    RGBColor(193, 125, 17),
    RGBColor(6, 152, 154),
    RGBColor(85, 87, 83),
];

/// The charts, in the order a reader wants them, with their y-axis labels.
const CHARTS: [(&str, &str); 12] = [
    ("perplexity", "perplexity of the student on real held-out text"),
    ("accuracy", "exact-match accuracy on held-out problems"),
    ("tail_coverage", "share of the real data's rare n-grams the student still produces"),
    ("entropy_bits", "entropy of the student's samples (bits per n-gram)"),
    ("js_divergence", "JS divergence of samples from real text (bits)"),
    ("distinct_2", "distinct-2 of the round's data"),
    ("distinct_1", "distinct-1 of the round's data"),
    ("distinct_3", "distinct-3 of the round's data"),
    ("near_duplicate_rate", "near-duplicate rate of the round's data"),
    ("mean_pairwise_similarity", "mean pairwise MinHash similarity of the round's data"),
    ("nll", "negative log-likelihood (nats per character)"),
    ("pool_records", "records the round's student trained on"),
];

/// The HTML of the rounds.
pub fn render(r: &RoundsReport) -> Result<String, String> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<h2>Rounds</h2><p>{} round(s) after round 0, {} arm(s), {} seed(s) each ({}); in round <i>k</i> the model \
         <code>{}</code> is the student of round <i>k</i> − {}. Lines are means over seeds, bands their 95% intervals.</p>",
        r.count,
        r.arms.len(),
        r.seeds.len(),
        r.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        escape(&r.model),
        r.lag
    );
    let alarms: Vec<_> = r.arms.iter().flat_map(|a| a.alarms.iter()).collect();
    if alarms.is_empty() {
        html.push_str("<p>No alarm fired.</p>");
    } else {
        html.push_str("<h3>Alarms</h3><ul>");
        for a in alarms {
            let _ = write!(html, "<li style=\"color:#a40000\">{}</li>", escape(&a.message));
        }
        html.push_str("</ul>");
    }
    final_table(r, &mut html);
    let measured = |metric: &str| r.arms.iter().any(|a| a.rounds.iter().any(|round| round.mean.contains_key(metric)));
    for (metric, label) in CHARTS {
        if measured(metric) {
            html.push_str(&chart(r, metric, label, &reference_lines(r, metric))?);
        }
        if metric == "accuracy" {
            let mut classes: Vec<&str> = r
                .arms
                .iter()
                .flat_map(|a| a.rounds.iter().flat_map(|round| round.mean.keys()))
                .filter_map(|k| k.strip_prefix(CLASS_ACCURACY))
                .collect();
            classes.sort_unstable();
            classes.dedup();
            for class in classes {
                let key = format!("{CLASS_ACCURACY}{class}");
                let label = format!("accuracy on held-out problems of class `{class}`");
                html.push_str(&chart(r, &key, &label, &reference_lines(r, &key))?);
            }
        }
    }
    if !r.unavailable.is_empty() {
        html.push_str("<h3>Not measured</h3><table><tr><th>metric</th><th>why</th></tr>");
        for (metric, why) in &r.unavailable {
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td class=\"left\">{}</td></tr>",
                escape(metric),
                escape(why)
            );
        }
        html.push_str("</table>");
    }
    Ok(html)
}

/// The reference models' level of `metric` (accuracy and per-class accuracy only).
fn reference_lines(r: &RoundsReport, metric: &str) -> Vec<(String, f64)> {
    r.references
        .iter()
        .filter_map(|reference| {
            let value = match metric.strip_prefix(CLASS_ACCURACY) {
                Some(class) => reference.by_class.get(class)?.mean,
                None if metric == "accuracy" => reference.accuracy.mean,
                None => return None,
            };
            Some((format!("{} (reference)", reference.model), value))
        })
        .collect()
}

/// Every arm's last round: the headline metrics with their intervals.
fn final_table(r: &RoundsReport, html: &mut String) {
    let metrics: Vec<&str> = ["perplexity", "accuracy", "tail_coverage", "entropy_bits", "js_divergence", "distinct_2"]
        .into_iter()
        .filter(|m| r.arms.iter().any(|a| a.rounds.last().is_some_and(|l| l.mean.contains_key(*m))))
        .collect();
    html.push_str("<h3>Final round</h3><table><tr><th>arm</th><th>policy</th><th>round</th>");
    for m in &metrics {
        let _ = write!(html, "<th>{}</th>", escape(m));
    }
    html.push_str("</tr>");
    for arm in &r.arms {
        let Some(last) = arm.rounds.last() else { continue };
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"left\">{}</td><td>{}{}</td>",
            escape(&arm.name),
            escape(&arm.policy),
            last.round,
            if arm.stopped_after.is_some() { " (stopped)" } else { "" }
        );
        for m in &metrics {
            match last.mean.get(*m) {
                Some(i) => {
                    let _ = write!(html, "<td>{:.3} ± {:.3}</td>", i.mean, i.half_width);
                }
                None => html.push_str("<td>–</td>"),
            }
        }
        html.push_str("</tr>");
    }
    for reference in &r.references {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"left\">reference (eval stage <code>{}</code>)</td><td>–</td>",
            escape(&reference.model),
            escape(&reference.stage)
        );
        for m in &metrics {
            if *m == "accuracy" {
                let _ = write!(html, "<td>{:.3} ± {:.3}</td>", reference.accuracy.mean, reference.accuracy.half_width);
            } else {
                html.push_str("<td>–</td>");
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

/// One point of a chart: the round, the interval's low and high ends.
type Band = (f64, f64, f64);

/// One metric over the rounds: a line and a band per arm, as SVG.
fn chart(r: &RoundsReport, metric: &str, label: &str, references: &[(String, f64)]) -> Result<String, String> {
    let series: Vec<(String, Vec<Band>)> = r
        .arms
        .iter()
        .map(|a| {
            let points = a
                .rounds
                .iter()
                .filter_map(|round| {
                    let i = round.mean.get(metric)?;
                    let hw = if i.half_width.is_finite() { i.half_width } else { 0.0 };
                    i.mean.is_finite().then_some((f64::from(round.round), i.mean - hw, i.mean + hw))
                })
                .collect();
            (a.name.clone(), points)
        })
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter().map(|p| (p.1, p.2)));
    let levels = references.iter().map(|(_, v)| (*v, *v));
    let (lo, hi) = all.chain(levels).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.0), hi.max(p.1)));
    if !lo.is_finite() || !hi.is_finite() {
        return Ok(String::new());
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{metric}: {label}"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..f64::from(r.count.max(1)), (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("round")
            .x_labels(r.count as usize + 1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(err)?;
        for (i, (_, points)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let band: Vec<(f64, f64)> =
                points.iter().map(|p| (p.0, p.2)).chain(points.iter().rev().map(|p| (p.0, p.1))).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.15).filled()))).map_err(err)?;
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (p.0, (p.1 + p.2) / 2.0)), color.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(points.iter().map(|p| Circle::new((p.0, (p.1 + p.2) / 2.0), 3, color.filled())))
                .map_err(err)?;
        }
        for (_, level) in references {
            let color = RGBColor(46, 52, 54);
            let dashes = (0..r.count.max(1) * 4).map(|i| {
                let x = f64::from(i) / 4.0;
                PathElement::new(vec![(x, *level), (x + 0.15, *level)], color.stroke_width(2))
            });
            chart.draw_series(dashes).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(format!("{}{svg}", legend(&series, references)))
}

/// The chart's legend as a line of HTML above it, so that it never hides
/// the curves' last points (a legend inside the plot sat on them).
fn legend(series: &[(String, Vec<Band>)], references: &[(String, f64)]) -> String {
    let mut cells: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
            format!("<span style=\"color:rgb({r},{g},{b})\">━━</span>&nbsp;{}", escape(name))
        })
        .collect();
    cells.extend(references.iter().map(|(name, level)| {
        format!("<span style=\"color:rgb(46,52,54)\">╌╌</span>&nbsp;{} ({})", escape(name), format_level(*level))
    }));
    format!("<p class=\"legend\" style=\"margin:1em 0 0 70px;font-size:90%\">{}</p>", cells.join(" &nbsp; "))
}

/// A reference level as the charts' axes show it.
fn format_level(level: f64) -> String {
    if (0.0..=1.0).contains(&level) { format!("{:.1}%", 100.0 * level) } else { format!("{level:.3}") }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pipeline::config::rounds::AlarmAction;
    use crate::pipeline::rounds::summary::{AlarmEvent, ArmReport, Reference, RoundSummary};
    use crate::pipeline::stages::evaluate::Interval;

    fn round(k: u32, accuracy: f64) -> RoundSummary {
        let mean = BTreeMap::from([
            ("accuracy".to_string(), Interval { mean: accuracy, half_width: 0.02 }),
            ("accuracy:carry".to_string(), Interval { mean: accuracy / 2.0, half_width: 0.05 }),
        ]);
        RoundSummary { round: k, chains: Vec::new(), mean }
    }

    #[test]
    fn curves_alarms_references_and_what_was_not_measured() {
        let arm = ArmReport {
            name: "verified<b>".into(),
            policy: "accumulate".into(),
            rounds: vec![round(0, 0.6), round(1, 0.7), round(2, 0.8)],
            stopped_after: None,
            alarms: vec![AlarmEvent {
                round: 2,
                metric: "accuracy".into(),
                value: 0.8,
                bound: "> 0.75".into(),
                action: AlarmAction::Warn,
                message: "collapse alarm: accuracy 0.800 > 0.75 at round 2 (arm `verified<b>`)".into(),
            }],
        };
        let report = RoundsReport {
            count: 2,
            lag: 1,
            model: "solver".into(),
            seeds: vec![1, 2, 3],
            arms: vec![arm],
            unavailable: BTreeMap::from([("perplexity".to_string(), "no held-out file".to_string())]),
            references: vec![Reference {
                model: "teacher".into(),
                stage: "teacher-eval".into(),
                accuracy: Interval { mean: 0.75, half_width: 0.03 },
                by_class: BTreeMap::from([("carry".to_string(), Interval { mean: 0.45, half_width: 0.05 })]),
            }],
            ..RoundsReport::default()
        };
        let html = render(&report).expect("renders");
        assert!(html.contains("collapse alarm: accuracy 0.800 &gt; 0.75"), "alarms, escaped");
        assert!(html.contains("verified&lt;b&gt;") && !html.contains("verified<b>"));
        assert_eq!(html.matches("<svg").count(), 2, "overall and per-class accuracy");
        assert!(html.contains("accuracy on held-out problems of class `carry`"));
        assert!(html.contains("teacher (reference)"), "the teacher's level is drawn");
        assert!(html.contains("0.750 ± 0.030"), "and tabled");
        assert!(html.contains("<code>perplexity</code></td><td class=\"left\">no held-out file"));
    }
}
