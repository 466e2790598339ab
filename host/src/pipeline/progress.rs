//! Progress of a run: a bar per stage on a terminal (records/s, kept %, and
//! the ETA of the input), plain periodic log lines when stderr is not one.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::stats::StageStats;
use super::workdir::ChunkEntry;

/// How often plain log lines are written.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Live progress of one invocation.
pub struct Progress {
    bars: Option<(ProgressBar, Vec<ProgressBar>)>,
    totals: Vec<StageStats>,
    lines: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    /// Progress over `total_lines` input lines (when known) through `stages`.
    pub fn new(stages: &[String], total_lines: Option<u64>, done_lines: u64) -> Self {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            let input = multi.add(match total_lines {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::no_length(),
            });
            input.set_style(
                ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} lines, {per_sec}, ETA {eta}")
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
                    bar.set_prefix(name.clone());
                    bar
                })
                .collect();
            (input, stage_bars)
        });
        Progress {
            bars,
            totals: stages.iter().map(|s| StageStats::new(s)).collect(),
            lines: 0,
            started: Instant::now(),
            last_log: Instant::now(),
        }
    }

    /// Accounts for a committed chunk.
    pub fn chunk_committed(&mut self, chunk: &ChunkEntry) {
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
                tracing::info!("progress: {} lines this run ({:.0} lines/s)", self.lines, self.lines as f64 / elapsed);
                for s in &self.totals {
                    tracing::info!("  {}: {}", s.name, describe(s, elapsed));
                }
            }
            None => {}
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Some((input, stage_bars)) = &self.bars {
            input.finish_and_clear();
            for bar in stage_bars {
                bar.finish_and_clear();
            }
        }
    }
}

fn describe(s: &StageStats, elapsed: f64) -> String {
    let kept = if s.input == 0 { 0.0 } else { 100.0 * s.kept as f64 / s.input as f64 };
    format!(
        "{} in, {:.1}% kept, {} rejected, {} quarantined, {:.0} records/s",
        s.input,
        kept,
        s.rejected_total(),
        s.quarantined,
        s.input as f64 / elapsed
    )
}
