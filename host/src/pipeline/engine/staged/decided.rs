//! Step 4, per task: a grouping stage applying the clustering's decisions.
//!
//! The task's next phase continues its committed chunks one for one; this
//! stage takes their records in order (counting from the records committed
//! chunks already decided, so a resumed task picks up at the right index)
//! and hands the stage each record's decision, so outcomes, reasons and
//! counters are the streaming stage's. The decisions are read as the
//! records come, from the file sorted by record: memory holds one chunk's,
//! not the task's.

use std::sync::{Arc, Mutex, PoisonError};

use super::cluster::Decisions;
use crate::pipeline::stages::grouping::Joined;
use crate::pipeline::stages::{PreparedStage, StageError, StageOp, StageOutput};
use crate::record::Record;

/// A grouping stage of a split run, its groups decided.
pub struct Decided {
    stage: String,
    op: Arc<dyn StageOp>,
    /// The index of the next record, and the decisions not yet applied.
    state: Mutex<(u64, Decisions)>,
}

impl Decided {
    /// Stage `stage` (`op`) with `decisions`, starting at record `next`.
    pub fn new(stage: &str, op: Arc<dyn StageOp>, decisions: Decisions, next: u64) -> Decided {
        Decided { stage: stage.to_string(), op, state: Mutex::new((next, decisions)) }
    }
}

#[async_trait::async_trait]
impl PreparedStage for Decided {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let joined: Vec<Option<Joined>> = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let start = state.0;
            state.0 += records.len() as u64;
            let end = state.0;
            (start..end)
                .map(|i| state.1.take(i))
                .collect::<Result<_, _>>()
                .map_err(|e| StageError::State { stage: self.stage.clone(), message: e.to_string() })?
        };
        let Some(grouping) = self.op.grouping() else {
            return Err(StageError::State { stage: self.stage.clone(), message: "does not group records".into() });
        };
        Ok(grouping.decide(&self.stage, records, joined))
    }
}
