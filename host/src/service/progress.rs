//! A run's live progress, for the API's event stream: updated by the engine
//! at every committed chunk, read by any number of watchers. Each chunk's
//! usage (records, stage time, tokens) also goes to the run's quota keeper.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::quotas::{RunBudget, Usage};
use crate::pipeline::{ChunkEntry, PhaseProgress, ProgressSink};

/// What a run has committed so far (in its current phase).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Chunks committed.
    pub chunks: u64,
    /// Input lines committed.
    pub lines: u64,
    /// Records kept by the phase's last stage.
    pub kept: u64,
}

/// The engine's progress sink for one run.
pub struct LiveProgress {
    tx: Arc<watch::Sender<Progress>>,
    usage: mpsc::UnboundedSender<Usage>,
    budget: Arc<RunBudget>,
}

impl LiveProgress {
    /// A sink charging `budget`, the receiver watchers clone, and the stream
    /// of chunks' usage (for the database).
    pub fn new(budget: Arc<RunBudget>) -> (LiveProgress, watch::Receiver<Progress>, mpsc::UnboundedReceiver<Usage>) {
        let (tx, rx) = watch::channel(Progress::default());
        let (usage, usage_rx) = mpsc::unbounded_channel();
        (LiveProgress { tx: Arc::new(tx), usage, budget }, rx, usage_rx)
    }
}

impl ProgressSink for LiveProgress {
    fn phase(&self, _stages: &[String], _total: Option<u64>, done_lines: u64) -> Box<dyn PhaseProgress> {
        self.tx.send_modify(|p| p.lines = done_lines);
        Box::new(Phase { tx: self.tx.clone(), usage: self.usage.clone(), budget: self.budget.clone() })
    }
}

struct Phase {
    tx: Arc<watch::Sender<Progress>>,
    usage: mpsc::UnboundedSender<Usage>,
    budget: Arc<RunBudget>,
}

/// What committing `chunk` used.
fn chunk_usage(chunk: &ChunkEntry) -> Usage {
    let seconds: f64 = chunk.stages.iter().map(|s| s.seconds).sum();
    let tokens =
        chunk.stages.iter().map(|s| s.details.calls.usage()).map(|u| u.prompt_tokens + u.completion_tokens).sum();
    Usage { records: chunk.lines, stage_ms: (seconds * 1000.0) as u64, wall_ms: 0, tokens }
}

impl PhaseProgress for Phase {
    fn chunk_committed(&mut self, chunk: &ChunkEntry) {
        self.tx.send_modify(|p| {
            p.chunks += 1;
            p.lines += chunk.lines;
            p.kept += chunk.stages.last().map_or(0, |s| s.kept);
        });
        let used = chunk_usage(chunk);
        self.budget.charge(&used);
        // The keeper is gone only when the run is over.
        let _ = self.usage.send(used);
    }

    fn finish(&mut self) {}
}
