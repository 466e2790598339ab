//! The model-backed kinds (`generate`, `critique`, `refine`) as stages: a
//! plugin that writes prompts and reads replies, and the model it asks. The
//! model is bound when the stage prepares for a phase (the engine starts
//! each model once per invocation, charged with what committed chunks spent).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::prompting::{ModelStage, ModelUse};
use super::{PhaseCx, PreparedStage, StageError, StageOp, StageOutput};
use crate::model::Model;
use crate::plugin::Plugin;
use crate::record::Record;

/// Which conversation with the model the stage holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// Prompts from nothing (or seeds) → parsed records.
    Generate,
    /// Judge prompts → scores.
    Critique,
    /// Rewrite prompts → verified rewrites.
    Refine,
}

/// A model-backed stage: its plugin and how it uses its model.
#[derive(Debug)]
pub struct ModelBacked {
    /// What it asks for.
    pub asks: Asks,
    /// Its generator, critic or refiner plugin.
    pub plugin: Plugin,
    /// How it uses its model.
    pub uses: ModelUse,
}

impl StageOp for ModelBacked {
    fn fingerprint(&self, hash: &mut Sha256) {
        hash.update(self.plugin.info().sha256.as_bytes());
        for seed in &self.uses.seeds {
            hash.update(seed.id.as_bytes());
            hash.update(seed.text.as_bytes());
        }
    }

    fn plugin(&self) -> Option<&Plugin> {
        Some(&self.plugin)
    }

    fn model_use(&self) -> Option<&ModelUse> {
        Some(&self.uses)
    }

    fn slots(&self) -> Option<u64> {
        (self.asks == Asks::Generate).then_some(self.uses.count)
    }

    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        let stage = cx.stage;
        Ok(Arc::new(Prepared {
            asks: self.asks,
            name: stage.name.clone(),
            batch_size: stage.batch_size,
            plugin: self.plugin.clone(),
            uses: self.uses.clone(),
            model: self.uses.model.as_ref().and_then(|m| cx.models.get(m)).cloned(),
            semaphore: Arc::new(Semaphore::new(stage.concurrency)),
            seed: cx.seed,
        }))
    }
}

struct Prepared {
    asks: Asks,
    name: String,
    batch_size: usize,
    plugin: Plugin,
    uses: ModelUse,
    model: Option<Arc<Model>>,
    semaphore: Arc<Semaphore>,
    seed: u64,
}

#[async_trait::async_trait]
impl PreparedStage for Prepared {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let cx = ModelStage {
            name: &self.name,
            batch_size: self.batch_size,
            plugin: &self.plugin,
            uses: &self.uses,
            model: self.model.clone(),
            semaphore: &self.semaphore,
            seed: self.seed,
        };
        match self.asks {
            Asks::Generate => super::generate::run(&cx, records).await,
            Asks::Critique => super::critique::run(&cx, records).await,
            Asks::Refine => super::refine::run(&cx, records).await,
        }
    }
}
