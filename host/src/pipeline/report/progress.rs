//! Progress of a run, delivered to a [`ProgressSink`] the caller chooses: a
//! terminal ([`Terminal`]: a bar per stage with records/s, kept % and the
//! ETA of the input; plain periodic log lines when stderr is not a
//! terminal), nothing ([`Silent`]), or the caller's own (a service's event
//! stream, a cluster task's log). While bars are drawn, all other stderr
//! output is routed above them ([`crate::pipeline::report::stderr_capture`]).
//!
//! Chunks commit when every record of them is done, which for a stage that
//! asks a model can take minutes; so the terminal also shows each model a
//! phase asks live — requests in flight, done, tokens per second — from its
//! [`Activity`] counters, redrawn by a ticker thread ([`PhaseProgress::watch`]).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::human::{count, printable, rate};
use crate::model::{Activity, ActivitySnapshot};
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
    /// The models the phase's stages ask, to show live until `finish`
    /// (ignored by default).
    fn watch(&mut self, _models: Vec<WatchedModel>) {}
}

/// A model a phase asks, shown live while the phase runs.
pub struct WatchedModel {
    /// Its name in the pipeline file.
    pub name: String,
    /// Its live counters.
    pub activity: Arc<Activity>,
}

/// One line about a model's requests: `2 in flight, 14 done, 37.5 tokens/s`.
pub fn describe_activity(a: &ActivitySnapshot) -> String {
    format!(
        "{} requests in flight, {} done, {} completion tokens ({} tokens/s)",
        count(a.in_flight),
        count(a.done),
        count(a.completion_tokens),
        rate(a.tokens_per_second)
    )
}

/// Redraws the watched models' lines (or logs them) until stopped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(models: Vec<WatchedModel>, bars: Option<Vec<ProgressBar>>) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-progress".into())
            .spawn(move || {
                let mut last_log = Instant::now();
                let mut logged: Vec<u64> = vec![u64::MAX; models.len()];
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let log_now = bars.is_none() && last_log.elapsed() >= LOG_EVERY;
                    for (i, model) in models.iter().enumerate() {
                        let now = model.activity.snapshot();
                        match &bars {
                            Some(bars) => bars[i].set_message(describe_activity(&now)),
                            // A log line only when something moved since the last.
                            None if log_now && (now.in_flight > 0 || now.done != logged[i]) => {
                                logged[i] = now.done;
                                tracing::info!("  model `{}`: {}", printable(&model.name), describe_activity(&now));
                            }
                            None => {}
                        }
                    }
                    if log_now {
                        last_log = Instant::now();
                    }
                }
                for bar in bars.iter().flatten() {
                    bar.finish_and_clear();
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    multi: Option<MultiProgress>,
    bars: Option<(ProgressBar, Vec<ProgressBar>)>,
    ticker: Option<Ticker>,
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
        let mut shown = None;
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
            shown = Some(multi.clone());
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
            multi: shown,
            bars,
            ticker: None,
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

    /// Shows each model's requests on a line of its own (a log line every
    /// few seconds without a terminal).
    fn watch(&mut self, models: Vec<WatchedModel>) {
        if models.is_empty() {
            return;
        }
        let bars = self.multi.as_ref().map(|multi| {
            models
                .iter()
                .map(|m| {
                    let bar = multi.add(ProgressBar::no_length());
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>16} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_prefix(format!("model {}", printable(&m.name)));
                    bar
                })
                .collect::<Vec<_>>()
        });
        self.ticker = Some(Ticker::start(models, bars));
    }

    /// Clears the bars and gives stderr back.
    fn finish(&mut self) {
        self.ticker = None;
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
