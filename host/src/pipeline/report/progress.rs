//! Progress of a run, delivered to a [`ProgressSink`] the caller chooses: a
//! terminal ([`Terminal`]: a bar per stage with records/s, kept % and the
//! ETA of the input; plain periodic log lines when stderr is not a
//! terminal), nothing ([`Silent`]), or the caller's own (a service's event
//! stream, a cluster task's log). While bars are drawn, all other stderr
//! output is routed above them ([`crate::pipeline::report::stderr_capture`]).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::human::{count, printable, rate};
use crate::pipeline::report::counts::StageStats;
use crate::pipeline::report::stderr_capture::StderrCapture;
use crate::pipeline::workdir::ChunkEntry;

/// How often the bars are redrawn, per second.
const REFRESH_HZ: u8 = 4;

/// How often plain log lines are written.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Where a run reports its progress.
pub trait ProgressSink: Send + Sync {
    /// Whether the sink wants the number of lines a phase will read (counting
    /// them reads the inputs once more, so the engine asks only when it is).
    fn wants_total(&self) -> bool {
        false
    }

    /// A phase starts streaming through `stages`: `total_lines` it will read
    /// (when known and wanted), `done_lines` already committed by an earlier run.
    fn phase(&self, stages: &[String], total_lines: Option<u64>, done_lines: u64) -> Box<dyn PhaseProgress>;
}

/// The progress of one phase.
pub trait PhaseProgress: Send {
    /// A chunk was committed (its counts are in `chunk.stages`).
    fn chunk_committed(&mut self, chunk: &ChunkEntry);
    /// The phase's stream is done.
    fn finish(&mut self);
}

/// Bars on a terminal, periodic log lines otherwise: what `kiln run` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal;

impl ProgressSink for Terminal {
    fn wants_total(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    fn phase(&self, stages: &[String], total_lines: Option<u64>, done_lines: u64) -> Box<dyn PhaseProgress> {
        Box::new(Progress::new(stages, total_lines, done_lines))
    }
}

/// No progress at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl ProgressSink for Silent {
    fn phase(&self, _: &[String], _: Option<u64>, _: u64) -> Box<dyn PhaseProgress> {
        Box::new(Silent)
    }
}

impl PhaseProgress for Silent {
    fn chunk_committed(&mut self, _: &ChunkEntry) {}
    fn finish(&mut self) {}
}

/// Live progress of one phase on the terminal (or as log lines).
pub struct Progress {
    bars: Option<(ProgressBar, Vec<ProgressBar>)>,
    /// Holds stderr while the bars are drawn; dropped after they are cleared.
    capture: Option<StderrCapture>,
    totals: Vec<StageStats>,
    lines: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    /// Progress over `total_lines` input lines (when known) through `stages`.
    pub fn new(stages: &[String], total_lines: Option<u64>, done_lines: u64) -> Self {
        let mut capture = None;
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
            capture = StderrCapture::start(&multi, REFRESH_HZ);
            if capture.is_none() {
                multi.set_draw_target(ProgressDrawTarget::stderr_with_hz(REFRESH_HZ));
            }
            let input = multi.add(match total_lines {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::no_length(),
            });
            input.set_style(
                ProgressStyle::with_template("{prefix:>16} [{bar:30}] {done}/{total} lines, {rate}/s, ETA {eta}")
                    .map(|style| {
                        style
                            .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                                let _ = w.write_str(&count(s.pos()));
                            })
                            .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                                let _ = w.write_str(&s.len().map_or("?".into(), count));
                            })
                            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                                let _ = w.write_str(&rate(s.per_sec()));
                            })
                    })
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            input.set_prefix("input");
            input.set_position(done_lines);
            let stage_bars = stages
                .iter()
                .map(|name| {
                    let bar = multi.add(ProgressBar::no_length());
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>16} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_prefix(printable(name));
                    bar
                })
                .collect();
            (input, stage_bars)
        });
        Progress {
            bars,
            capture,
            totals: stages.iter().map(|s| StageStats::new(s)).collect(),
            lines: 0,
            started: Instant::now(),
            last_log: Instant::now(),
        }
    }
}

impl PhaseProgress for Progress {
    /// Accounts for a committed chunk.
    fn chunk_committed(&mut self, chunk: &ChunkEntry) {
        self.lines += chunk.lines;
        for (total, s) in self.totals.iter_mut().zip(&chunk.stages) {
            total.add(s);
        }
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bars {
            Some((input, stage_bars)) => {
                input.inc(chunk.lines);
                for (bar, s) in stage_bars.iter().zip(&self.totals) {
                    bar.set_message(describe(s, elapsed));
                }
            }
            None if self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                tracing::info!(
                    "progress: {} lines this run ({} lines/s)",
                    count(self.lines),
                    rate(self.lines as f64 / elapsed)
                );
                for s in &self.totals {
                    tracing::info!("  {}: {}", printable(&s.name), describe(s, elapsed));
                }
            }
            None => {}
        }
    }

    /// Clears the bars and gives stderr back.
    fn finish(&mut self) {
        if let Some((input, stage_bars)) = &self.bars {
            input.finish_and_clear();
            for bar in stage_bars {
                bar.finish_and_clear();
            }
        }
        self.capture = None;
    }
}

fn describe(s: &StageStats, elapsed: f64) -> String {
    let kept = if s.input == 0 { 0.0 } else { 100.0 * s.kept as f64 / s.input as f64 };
    format!(
        "{} in, {:.1}% kept, {} rejected, {} quarantined, {} records/s",
        count(s.input),
        kept,
        count(s.rejected_total()),
        count(s.quarantined),
        rate(s.input as f64 / elapsed)
    )
}
