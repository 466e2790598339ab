//! The training part of `report.html`: loss curves of every student and
//! classifier, the held-out comparison of students (accuracy and perplexity
//! with 95% intervals over seeds), and a few of their completions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use crate::human::{count, rate};
use crate::pipeline::stages::JobReport;
use crate::pipeline::stages::evaluate::{ClassScore, EvalReport, Interval};

const WIDTH: u32 = 860;
const PALETTE: [RGBColor; 6] = [
    RGBColor(52, 101, 164),
    RGBColor(204, 0, 0),
    RGBColor(78, 154, 6),
    RGBColor(245, 121, 0),
    RGBColor(117, 80, 123),
    RGBColor(193, 125, 17),
];

use crate::pipeline::report::escape::{err, escape};

/// `base` lightened towards white: shade `k` of `n` (0 is `base` itself), so
/// that the seeds of one student share its colour and stay apart.
fn shade(base: RGBColor, k: usize, n: usize) -> RGBColor {
    let t = if n > 1 { 0.45 * k as f64 / (n - 1) as f64 } else { 0.0 };
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * t).round() as u8;
    RGBColor(mix(base.0), mix(base.1), mix(base.2))
}

/// A named, coloured `(x, y)` series.
type Series = (String, RGBColor, Vec<(f64, f64)>);

/// Line chart of named `(x, y)` series, as SVG.
fn lines(title: &str, y_label: &str, series: &[Series]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let points = series.iter().flat_map(|(_, _, s)| s.iter());
        let (x_max, y_max) = points.fold((1.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..(y_max * 1.05).max(1e-6))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| count(*x as u64))
            .y_desc(y_label)
            .draw()
            .map_err(err)?;
        for (name, color, points) in series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The HTML of every job's report.
pub fn render(jobs: &[JobReport]) -> Result<String, String> {
    let mut html = String::new();
    let students: Vec<_> = jobs
        .iter()
        .filter_map(|j| match j {
            JobReport::TrainStudent(s) => Some(s),
            _ => None,
        })
        .collect();
    if !students.is_empty() {
        html.push_str("<h2>Students</h2><table><tr><th>stage</th><th>records</th><th>characters</th><th>parameters</th><th>steps × batch</th><th>seeds</th><th>final loss (mean)</th><th>chars/s</th></tr>");
        let mut series = Vec::new();
        for (i, s) in students.iter().enumerate() {
            let finals: Vec<f64> = s.seeds.iter().filter_map(|r| r.curve.last().map(|p| f64::from(p.loss))).collect();
            let speed: f64 = s.seeds.iter().map(|r| r.tokens_per_second).sum::<f64>() / s.seeds.len().max(1) as f64;
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} × {}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
                escape(&s.stage),
                count(s.records),
                count(s.characters),
                count(s.parameters as u64),
                count(u64::from(s.config.steps)),
                s.config.batch,
                s.seeds.len(),
                finals.iter().sum::<f64>() / finals.len().max(1) as f64,
                rate(speed)
            );
            for (k, run) in s.seeds.iter().enumerate() {
                let points = run.curve.iter().map(|p| (f64::from(p.step), f64::from(p.loss))).collect();
                let color = shade(PALETTE[i % PALETTE.len()], k, s.seeds.len());
                series.push((format!("{} seed {}", s.stage, run.seed), color, points));
            }
        }
        html.push_str("</table>");
        html.push_str(&lines(
            "Training loss (nats per character; one colour per student, its seeds as shades)",
            "loss",
            &series,
        )?);
    }
    for job in jobs {
        match job {
            JobReport::Eval(e) => html.push_str(&render_eval(e)),
            JobReport::TrainClassifier(c) => {
                let _ = write!(
                    html,
                    "<h2>Classifier <code>{}</code></h2><p>{} records reached the stage, {} without the label; trained on {} \
                     in {:.1} s on {}.</p>",
                    escape(&c.stage),
                    c.records,
                    c.unlabelled,
                    c.trained_on,
                    c.seconds,
                    escape(&c.device)
                );
                if let Some(a) = &c.agreement {
                    let _ = write!(
                        html,
                        "<table><tr><th>held-out labels</th><th>agreement</th><th>precision</th><th>recall</th><th>Cohen's κ</th><th>judge positive rate</th></tr>\
                         <tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr></table>",
                        a.records, a.accuracy, a.precision, a.recall, a.kappa, a.positive_rate
                    );
                }
                let points = c.curve.iter().map(|(s, l)| (f64::from(*s), f64::from(*l))).collect();
                html.push_str(&lines("Classifier training loss", "loss", &[(c.stage.clone(), PALETTE[0], points)])?);
            }
            JobReport::TrainStudent(_) => {}
        }
    }
    Ok(html)
}

fn render_eval(e: &EvalReport) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<h2>Held-out evaluation <code>{}</code></h2><p>{} held-out items from <code>{}</code> ({} left out because a \
         student trained on them). Accuracy: exact match of the final answer, greedy decoding; mean over seeds ± 95% \
         interval (Student's t).</p><table><tr><th>student</th><th>trained on</th><th>chars trained</th><th>accuracy</th>\
         <th>perplexity</th><th>per seed</th></tr>",
        escape(&e.stage),
        e.items,
        escape(&e.heldout),
        e.contaminated
    );
    for s in &e.students {
        let per_seed: Vec<String> = s.seeds.iter().map(|x| format!("{}: {:.1}%", x.seed, 100.0 * x.accuracy)).collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{} records</td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td></tr>",
            escape(&s.student),
            count(s.training_records),
            count(s.training_tokens),
            percent(&s.accuracy),
            s.perplexity.map_or("–".into(), |p| format!("{:.3} ± {:.3}", p.mean, p.half_width)),
            per_seed.join(", ")
        );
    }
    html.push_str("</table>");
    if !e.models.is_empty() {
        html.push_str(
            "<p>Declared models on the same items, by the same rule (each prompt sent as one user message; ± 95% \
             interval over items):</p><table><tr><th>model</th><th>accuracy</th><th>failed requests</th></tr>",
        );
        for m in &e.models {
            let _ = write!(
                html,
                "<tr><td>{} <small><code>{}</code></small></td><td><b>{}</b></td><td>{}</td></tr>",
                escape(&m.model),
                escape(&m.describe),
                percent(&m.accuracy),
                count(m.failed)
            );
        }
        html.push_str("</table>");
    }
    html.push_str(&class_table(e));
    let examples =
        e.students.iter().map(|s| (&s.student, &s.examples)).chain(e.models.iter().map(|m| (&m.model, &m.examples)));
    for (who, shown) in examples {
        let _ = write!(
            html,
            "<h3>{}: first completions</h3><table><tr><th>prompt</th><th>completion</th><th>right answer</th></tr>",
            escape(who)
        );
        for x in shown {
            let _ = write!(
                html,
                "<tr><td><pre>{}</pre></td><td><pre>{}</pre></td><td>{}{}</td></tr>",
                escape(x.prompt.trim()),
                escape(&x.completion),
                escape(&x.answer),
                if x.correct { " ✓" } else { " ✗" }
            );
        }
        html.push_str("</table>");
    }
    html
}

/// Accuracy per problem class, a row per student and model ("" when no item
/// names a class).
fn class_table(e: &EvalReport) -> String {
    let rows: Vec<(&String, &BTreeMap<String, ClassScore>)> = e
        .students
        .iter()
        .map(|s| (&s.student, &s.by_class))
        .chain(e.models.iter().map(|m| (&m.model, &m.by_class)))
        .collect();
    let mut classes: BTreeMap<&String, u64> = BTreeMap::new();
    for (_, scores) in &rows {
        for (class, score) in scores.iter() {
            classes.insert(class, score.items);
        }
    }
    if classes.is_empty() {
        return String::new();
    }
    let mut html =
        String::from("<p>Accuracy per problem class (items of the class; ± 95% interval):</p><table><tr><th></th>");
    for (class, items) in &classes {
        let _ = write!(html, "<th>{} ({})</th>", escape(class), count(*items));
    }
    html.push_str("</tr>");
    for (who, scores) in rows {
        let _ = write!(html, "<tr><td>{}</td>", escape(who));
        for class in classes.keys() {
            let cell = scores.get(*class).map_or("–".to_string(), |c| percent(&c.accuracy));
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// An accuracy and its interval in percent: `65.9% ± 3.8`.
fn percent(i: &Interval) -> String {
    format!("{:.1}% ± {:.1}", 100.0 * i.mean, 100.0 * i.half_width)
}
