//! A run's live progress, for the API's event stream: updated by the engine
//! at every committed chunk, read by any number of watchers.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

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
}

impl LiveProgress {
    /// A sink, and the receiver watchers clone.
    pub fn new() -> (LiveProgress, watch::Receiver<Progress>) {
        let (tx, rx) = watch::channel(Progress::default());
        (LiveProgress { tx: Arc::new(tx) }, rx)
    }
}

impl ProgressSink for LiveProgress {
    fn phase(&self, _stages: &[String], _total: Option<u64>, done_lines: u64) -> Box<dyn PhaseProgress> {
        self.tx.send_modify(|p| p.lines = done_lines);
        Box::new(Phase { tx: self.tx.clone() })
    }
}

struct Phase {
    tx: Arc<watch::Sender<Progress>>,
}

impl PhaseProgress for Phase {
    fn chunk_committed(&mut self, chunk: &ChunkEntry) {
        self.tx.send_modify(|p| {
            p.chunks += 1;
            p.lines += chunk.lines;
            p.kept += chunk.stages.last().map_or(0, |s| s.kept);
        });
    }

    fn finish(&mut self) {}
}
