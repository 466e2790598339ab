//! `report.html`: one self-contained page about a run — the funnel of records
//! through the stages, the rejection reasons, and histograms of text lengths
//! and scores. Charts are drawn by `plotters` as inline SVG: no script, no
//! network, viewable offline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use crate::human::{count, rate};
use crate::pipeline::report::escape::{err, escape};
use crate::pipeline::report::stats::RunStats;

const WIDTH: u32 = 860;
const BAR: RGBColor = RGBColor(52, 101, 164);
const LIGHT: RGBColor = RGBColor(186, 189, 182);

type ChartResult<T> = Result<T, String>;

/// Bars of `values` over named categories (vertical), as an SVG string.
fn bars(title: &str, labels: &[String], values: &[u64], overlay: Option<&[u64]>) -> ChartResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max = values.iter().chain(overlay.unwrap_or(&[])).copied().max().unwrap_or(0).max(1);
        let n = labels.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            // A segmented range a..b has a segment for every value of a..=b.
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0u64..max + max / 10)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(err)?;
        if let Some(under) = overlay {
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(LIGHT.filled())
                        .margin(4)
                        .data(under.iter().enumerate().map(|(i, v)| (i as u32, *v))),
                )
                .map_err(err)?;
        }
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BAR.filled())
                    .margin(8)
                    .data(values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The histogram of one score: its values binned into at most 20 equal bins.
fn score_bins(values: &BTreeMap<String, u64>) -> (Vec<String>, Vec<u64>) {
    let parsed: Vec<(f64, u64)> = values.iter().filter_map(|(v, n)| v.parse::<f64>().ok().map(|v| (v, *n))).collect();
    let (lo, hi) = parsed.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (v, _)| (lo.min(*v), hi.max(*v)));
    if parsed.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let distinct = parsed.len();
    let bins = distinct.min(20);
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0u64; bins];
    for (v, n) in &parsed {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += n;
    }
    let labels = (0..bins).map(|i| format!("{:.3}", lo + width * i as f64)).collect();
    (labels, counts)
}

/// The funnel as labelled HTML bars: records left after each stage, with the
/// count and the share of what was read. When the smallest step is under 5%
/// of the largest (kept is a sliver), bar lengths follow a log scale, and the
/// caption says so.
fn funnel(labels: &[String], values: &[u64]) -> String {
    let read = values.first().copied().unwrap_or(0).max(1);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let smallest = values.iter().copied().filter(|v| *v > 0).min().unwrap_or(max);
    let log = (smallest as f64) < 0.05 * max as f64;
    let length = |v: u64| -> f64 {
        if v == 0 {
            0.0
        } else if log {
            100.0 * ((v as f64).ln_1p() / (max as f64).ln_1p()).max(0.01)
        } else {
            100.0 * v as f64 / max as f64
        }
    };
    let mut html = format!(
        "<p>Records left after each stage{}.</p><table class=\"funnel\">",
        if log { "; bar lengths on a log scale, so that small steps stay visible" } else { "" }
    );
    for (label, v) in labels.iter().zip(values) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"bar\"><div style=\"width:{:.1}%\"></div></td><td>{}</td><td>{:.1}%</td></tr>",
            escape(label),
            length(*v),
            count(*v),
            100.0 * *v as f64 / read as f64
        );
    }
    html.push_str("</table>");
    html
}

/// Renders the report of a finished run.
pub fn render(stats: &RunStats) -> Result<String, String> {
    let mut html = String::new();
    let title = format!("Kiln run report: {}", escape(&stats.pipeline));
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}td.left{{text-align:left}}\
         table.funnel{{width:100%}}td.bar{{width:60%}}td.bar div{{background:#3465a4;height:1.1em}}\
         </style></head><body><h1>{title}</h1>"
    );
    let _ = write!(
        html,
        "<p>{} input lines{}: <b>{} kept</b>, {} rejected, {} quarantined ({} unreadable lines); {} chunks{}; {:.1} s in this invocation.</p>",
        count(stats.input_lines),
        if stats.generated > 0 { format!(" (+{} generated)", count(stats.generated)) } else { String::new() },
        count(stats.kept),
        count(stats.rejected),
        count(stats.quarantined),
        count(stats.unreadable),
        count(stats.chunks),
        if stats.resumed_chunks > 0 {
            format!(" ({} committed by an earlier run)", count(stats.resumed_chunks))
        } else {
            String::new()
        },
        stats.seconds
    );
    if let Some(rounds) = &stats.rounds {
        html.push_str(&crate::pipeline::report::rounds::render(rounds)?);
        html.push_str("<h2>Round 0</h2>");
    }
    html.push_str("<h2>Stages</h2><table><tr><th>stage</th><th>in</th><th>kept</th><th>rejected</th><th>quarantined</th><th>records/s</th></tr>");
    for s in &stats.stages {
        let speed = if s.barrier { "–".to_string() } else { rate(s.input as f64 / s.seconds.max(1e-9)) };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{speed}</td></tr>",
            escape(&s.name),
            count(s.input),
            count(s.kept),
            count(s.rejected_total()),
            count(s.quarantined),
        );
    }
    html.push_str("</table>");
    if stats.stages.iter().any(|s| s.barrier) {
        html.push_str(
            "<p>–: a training or evaluation stage; records pass it untouched, its work is the job reported below.</p>",
        );
    }

    let mut labels = vec!["read".to_string()];
    let mut values = vec![stats.input_lines.saturating_sub(stats.unreadable) + stats.generated];
    for s in &stats.stages {
        labels.push(s.name.clone());
        values.push(s.kept);
    }
    html.push_str("<h2>Funnel</h2>");
    html.push_str(&funnel(&labels, &values));

    let reasons: Vec<(String, u64)> = stats
        .stages
        .iter()
        .flat_map(|s| s.rejected.iter().map(move |(r, n)| (format!("{}: {r}", s.name), *n)))
        .collect();
    if !reasons.is_empty() {
        html.push_str(
            "<h2>Rejection reasons</h2><table><tr><th>#</th><th class=\"left\">stage: reason</th><th>records</th></tr>",
        );
        for (i, (r, n)) in reasons.iter().enumerate() {
            let _ =
                write!(html, "<tr><td>#{}</td><td class=\"left\">{}</td><td>{}</td></tr>", i + 1, escape(r), count(*n));
        }
        html.push_str("</table>");
        if reasons.len() > 1 {
            let labels: Vec<String> = (1..=reasons.len()).map(|i| format!("#{i}")).collect();
            let values: Vec<u64> = reasons.iter().map(|(_, n)| *n).collect();
            html.push_str(&bars("Rejections by reason (numbered as in the table)", &labels, &values, None)?);
        }
    }

    if !stats.quarantine.is_empty() {
        let _ = write!(
            html,
            "<h2>Quarantine</h2><p>{} records could not be processed; they are in <code>quarantine.jsonl</code> with \
             their full error. Grouped by stage and kind of error:</p><table><tr><th>stage</th><th>records</th>\
             <th class=\"left\">error (first of the group)</th><th class=\"left\">examples</th></tr>",
            count(stats.quarantined)
        );
        for g in &stats.quarantine {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"left\"><code>{}</code></td><td class=\"left\">{}</td></tr>",
                escape(&g.stage),
                count(g.count),
                escape(&g.error),
                escape(&g.examples.join(", "))
            );
        }
        html.push_str("</table>");
    }

    if let Some(d) = &stats.diversity {
        let _ = write!(
            html,
            "<h2>Diversity of the kept records</h2><p>Sample of {}: distinct-1 {:.3}, distinct-2 {:.3}, distinct-3 {:.3}; \
             near-duplicate rate {:.3}; mean pairwise MinHash similarity {:.3}.</p>",
            d.sample, d.distinct_1, d.distinct_2, d.distinct_3, d.near_duplicate_rate, d.mean_pairwise_similarity
        );
    }

    // Counters of different units (requests, tokens, clusters): a table, not one chart.
    for stage in stats.stages.iter().filter(|s| !s.details.is_empty()) {
        let _ = write!(html, "<h2>{}: details</h2><table><tr><th>what</th><th>count</th></tr>", escape(&stage.name));
        for (what, n) in &stage.details.entries() {
            let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(what), count((*n).max(0) as u64));
        }
        html.push_str("</table>");
    }

    let h = &stats.histograms;
    let n = h.input_lengths.len().max(h.kept_lengths.len());
    if n > 0 {
        let labels: Vec<String> = (0..n).map(|k| count(1u64 << k)).collect();
        let pad = |v: &[u64]| (0..n).map(|i| v.get(i).copied().unwrap_or(0)).collect::<Vec<_>>();
        let (caption, under) = if h.input_lengths.is_empty() {
            ("blue: records kept (the pipeline generates its records, so there is no input to compare)", None)
        } else {
            ("grey: all records read, blue: records kept", Some(pad(&h.input_lengths)))
        };
        let _ = write!(html, "<h2>Text lengths</h2><p>Characters per record, power-of-two bins; {caption}.</p>");
        html.push_str(&bars(
            "Text length (characters, bin starts)",
            &labels[first_used(h)..],
            &pad(&h.kept_lengths)[first_used(h)..],
            under.as_deref().map(|u| &u[first_used(h)..]),
        )?);
    }
    let mut constant = Vec::new();
    for (name, values) in &h.scores {
        match values.len() {
            0 => {}
            1 => constant.push((name, values.keys().next().map_or(String::new(), |v| score_text(v)))),
            _ => {
                let (labels, counts) = score_bins(values);
                let _ = write!(html, "<h2>Score <code>{}</code></h2>", escape(name));
                html.push_str(&bars(&format!("{name} on kept records (bin starts)"), &labels, &counts, None)?);
            }
        }
    }
    if !constant.is_empty() {
        html.push_str("<h2>Scores every kept record shares</h2><table><tr><th>score</th><th>value</th></tr>");
        for (name, value) in constant {
            let _ = write!(html, "<tr><td><code>{}</code></td><td>{}</td></tr>", escape(name), escape(&value));
        }
        html.push_str("</table>");
    }
    html.push_str(&crate::pipeline::report::training::render(&stats.jobs)?);
    html.push_str("</body></html>\n");
    Ok(html)
}

/// A score as stats.json keys it (`1.000e0`) written plainly (`1`).
fn score_text(key: &str) -> String {
    key.parse::<f64>().map_or_else(|_| key.to_string(), |v| v.to_string())
}

/// The first length bin that holds any record (empty bins below it are not drawn).
fn first_used(h: &crate::pipeline::report::counts::Histograms) -> usize {
    let first = |v: &[u64]| v.iter().position(|n| *n > 0).unwrap_or(usize::MAX);
    first(&h.input_lengths)
        .min(first(&h.kept_lengths))
        .min(h.input_lengths.len().max(h.kept_lengths.len()).saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::report::counts::StageStats;

    #[test]
    fn renders_a_self_contained_page() {
        let mut stats =
            RunStats { pipeline: "p<1>".into(), input_lines: 10, kept: 4, rejected: 6, ..Default::default() };
        let mut s = StageStats::new("quality");
        s.input = 10;
        s.kept = 4;
        s.rejected.insert("gopher_short_doc".into(), 5);
        s.rejected.insert("gopher_symbol_ratio".into(), 1);
        stats.stages.push(s);
        stats.stages.push(StageStats { barrier: true, input: 4, kept: 4, seconds: 9.0, ..StageStats::new("train") });
        stats.quarantine.push(crate::pipeline::report::quarantine::QuarantineGroup {
            stage: "quality".into(),
            error: "exceeded its time limit of 150 ms per call".into(),
            count: 2,
            examples: vec!["r7".into(), "r9".into()],
        });
        stats.histograms.input_lengths = vec![1, 2, 7];
        stats.histograms.kept_lengths = vec![0, 1, 3];
        stats
            .histograms
            .scores
            .insert("pii_email".into(), [("0.000e0".to_string(), 3), ("2.000e0".to_string(), 1)].into());
        stats.histograms.scores.insert("constant".into(), [("1.000e0".to_string(), 4)].into());
        let html = render(&stats).expect("renders");
        assert!(html.contains("Kiln run report: p&lt;1&gt;"));
        assert_eq!(html.matches("<svg").count(), 3, "reasons, lengths, one score; no chart of a single value");
        assert!(html.contains("<tr><td><code>constant</code></td><td>1</td></tr>"), "{html}");
        assert!(html.contains("<td>4</td><td>40.0%</td>"), "funnel bars carry counts and shares");
        assert!(html.contains("<td>#2</td><td class=\"left\">quality: gopher_symbol_ratio"), "reasons numbered");
        assert!(html.contains("<h2>Quarantine</h2>") && html.contains("r7, r9"));
        assert!(
            html.contains("<td>train</td><td>4</td><td>4</td><td>0</td><td>0</td><td>–</td>"),
            "no rate for barriers"
        );
        assert!(html.contains("gopher_short_doc"));
        assert!(!html.contains("<script"), "no script needed");
    }

    #[test]
    fn a_sliver_of_kept_records_puts_the_funnel_on_a_log_scale() {
        let html = funnel(&["read".into(), "quality".into()], &[100_000, 12]);
        assert!(html.contains("log scale") && html.contains("100,000") && html.contains("0.0%"), "{html}");
        assert!(!funnel(&["read".into(), "q".into()], &[100, 60]).contains("log scale"));
    }

    #[test]
    fn scores_are_binned() {
        let values: BTreeMap<String, u64> = (0..100).map(|i| (format!("{:.3e}", i as f64), 1)).collect();
        let (labels, counts) = score_bins(&values);
        assert_eq!(labels.len(), 20);
        assert_eq!(counts.iter().sum::<u64>(), 100);
    }
}
