//! The `filter` and `map` stages: a record-at-a-time plugin over the chunk's
//! batches, up to `concurrency` instances at once (see [`crate::outcome::apply`]).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{PhaseCx, PreparedStage, StageError, StageOp, StageOutput};
use crate::plugin::Plugin;
use crate::record::Record;

/// A filter or mapper plugin, configured for its stage.
#[derive(Debug)]
pub struct PluginBatches {
    /// The plugin.
    pub plugin: Plugin,
}

impl StageOp for PluginBatches {
    fn fingerprint(&self, hash: &mut Sha256) {
        hash.update(self.plugin.info().sha256.as_bytes());
    }

    fn plugin(&self) -> Option<&Plugin> {
        Some(&self.plugin)
    }

    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        let stage = cx.stage;
        Ok(Arc::new(Prepared {
            plugin: self.plugin.clone(),
            batch_size: stage.batch_size,
            semaphore: Arc::new(Semaphore::new(stage.concurrency)),
        }))
    }
}

struct Prepared {
    plugin: Plugin,
    batch_size: usize,
    semaphore: Arc<Semaphore>,
}

#[async_trait::async_trait]
impl PreparedStage for Prepared {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let mut handles = Vec::new();
        let mut records = records.into_iter();
        loop {
            let batch: Vec<Record> = records.by_ref().take(self.batch_size).collect();
            if batch.is_empty() {
                break;
            }
            let permit =
                self.semaphore.clone().acquire_owned().await.map_err(|e| StageError::Runtime(e.to_string()))?;
            let plugin = self.plugin.clone();
            handles.push(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                crate::outcome::apply(&plugin, batch)
            }));
        }
        let mut out = StageOutput::default();
        for handle in handles {
            out.outcomes.extend(handle.await??);
        }
        Ok(out)
    }
}
