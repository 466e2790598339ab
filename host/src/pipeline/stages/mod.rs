//! Stages behind one interface: what the engine drives without knowing kinds.
//!
//! Every stage kind is one module here, and each implements [`StageOp`]: it
//! declares its [`Shape`] (records in parallel, in order with state, or a
//! barrier whose job runs on every record of its phase), contributes what
//! changes its outcomes to the run's fingerprint, [`prepares`](StageOp::prepare)
//! for a phase (starting from the state committed chunks saved, loading what
//! earlier phases trained) and then [applies](PreparedStage::apply) to chunk
//! after chunk. The engine (`executor`) only chains prepared stages; [`build`]
//! is the one place that names every kind, so adding a kind touches that
//! function, the kind's own module and the docs — nothing in the engine.
//!
//! The shape follows datatrove's `PipelineStep` (a step transforms a stream;
//! the executor only chains steps) and Vector's `TransformConfig::build` (a
//! checked configuration builds the runtime object): the checks that need the
//! pipeline file stay in `validate`, and what a stage does at run time is here.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::Sha256;

use super::validate::{ModelUse, Pipeline, Stage};
use super::workdir::{Manifest, WorkDir, WorkDirError};
use crate::model::{Model, ModelError};
use crate::outcome::Outcome;
use crate::plugin::{Plugin, PluginError};
use crate::record::Record;

pub mod barrier;
pub mod builtin;
pub mod classify;
pub mod critique;
pub mod decontaminate;
pub mod dedup;
pub mod evaluate;
pub mod generate;
pub mod keep_if;
pub mod model_backed;
pub mod near_dup;
pub mod plugin_batches;
pub mod prompting;
pub mod refine;
pub mod train_classifier;
pub mod train_student;

/// How the engine schedules a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Each record is decided on its own; batches of a chunk run concurrently.
    Parallel,
    /// Records are decided against the ones before them (dedup): chunks in
    /// input order, with state saved beside every committed chunk.
    Ordered,
    /// Needs every record of its phase: records pass through, and its job
    /// (training, evaluation) runs when the phase's stream is done.
    Barrier,
}

/// What a stage made of one chunk.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// One or more outcomes per input record, in input order.
    pub outcomes: Vec<Outcome>,
    /// Stage-specific counters for `stats.json`.
    pub details: BTreeMap<String, i64>,
    /// State to commit with the chunk (ordered stages), restored on resume.
    pub state: Option<String>,
}

impl StageOutput {
    /// Adds `other`'s outcomes and counters after this output's.
    pub fn extend(&mut self, other: StageOutput) {
        self.outcomes.extend(other.outcomes);
        for (k, v) in other.details {
            *self.details.entry(k).or_default() += v;
        }
    }
}

/// How a stage failed as a whole (a failure on one record is an outcome).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A plugin failed as a whole.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A model cannot serve the run any more (a rejected key, a spent token
    /// budget): the run stops cleanly; committed chunks are kept.
    #[error("stopping: {0}")]
    Model(ModelError),
    /// The saved state of a stage is unreadable.
    #[error("cannot restore the state of stage `{stage}`: {message}; run with --fresh")]
    State {
        /// The stage.
        stage: String,
        /// Why.
        message: String,
    },
    /// What an earlier phase trained for the stage cannot be used.
    #[error("stage `{stage}`: {message}")]
    Failed {
        /// The stage.
        stage: String,
        /// Why.
        message: String,
    },
    /// The work directory could not be read.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
    /// The async runtime failed.
    #[error("executor: {0}")]
    Runtime(String),
}

// The model's error is part of the message, not its source: a source would
// be printed a second time after it (`{:#}` prints the chain).
impl From<ModelError> for StageError {
    fn from(e: ModelError) -> Self {
        StageError::Model(e)
    }
}

impl From<tokio::task::JoinError> for StageError {
    fn from(e: tokio::task::JoinError) -> Self {
        StageError::Runtime(e.to_string())
    }
}

/// What a stage may use while it prepares for a phase.
pub struct PhaseCx<'a> {
    /// The pipeline.
    pub pipeline: &'a Arc<Pipeline>,
    /// The stage's position in `pipeline.stages`.
    pub index: usize,
    /// The phase's work directory.
    pub work: &'a WorkDir,
    /// Its chunks committed so far (by this invocation's predecessors).
    pub manifest: &'a Manifest,
    /// The models this invocation started, by name.
    pub models: &'a BTreeMap<String, Arc<Model>>,
}

impl PhaseCx<'_> {
    /// The stage being prepared.
    pub fn stage(&self) -> &Stage {
        &self.pipeline.stages[self.index]
    }

    /// The state the stage saved with each committed chunk, in chunk order,
    /// read one chunk at a time (a dedup stage's states add up to every key
    /// it has seen: they are never all in memory as text at once).
    pub fn saved_states(&self) -> impl Iterator<Item = Result<String, StageError>> + '_ {
        let stage = &self.stage().name;
        self.manifest.chunks.iter().map(move |chunk| {
            let path = self.work.chunk_path(chunk.index, &state_role(stage));
            std::fs::read_to_string(&path)
                .map_err(|e| StageError::State { stage: stage.clone(), message: format!("{}: {e}", path.display()) })
        })
    }
}

/// The name of the chunk file that holds stage `stage`'s state.
pub fn state_role(stage: &str) -> String {
    format!("state-{stage}")
}

/// What a stage of one kind does at run time (see the module docs).
pub trait StageOp: Send + Sync + std::fmt::Debug {
    /// How the engine schedules it.
    fn shape(&self) -> Shape {
        Shape::Parallel
    }

    /// Adds what changes its outcomes beyond the pipeline file's text (a
    /// plugin's digest, a benchmark's content) to the run's fingerprint.
    fn fingerprint(&self, _hash: &mut Sha256) {}

    /// Its plugin, for stages that run one.
    fn plugin(&self) -> Option<&Plugin> {
        None
    }

    /// How it uses a model, for stages that ask one.
    fn model_use(&self) -> Option<&ModelUse> {
        None
    }

    /// Records it makes from nothing when it comes first (`generate`'s slots).
    fn slots(&self) -> Option<u64> {
        None
    }

    /// The job a barrier runs on its phase's records.
    fn job(&self) -> Option<&super::jobs::Job> {
        None
    }

    /// Earlier stages it reads what they trained from: `(name, kind)`.
    fn references(&self) -> Vec<(&str, &'static str)> {
        Vec::new()
    }

    /// The lineage step recorded on records it keeps, for stages whose
    /// plugin does not write one itself.
    fn lineage_step(&self, _stage: &str) -> Option<String> {
        None
    }

    /// Gets ready for a phase: state restored, models and classifiers bound.
    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError>;
}

/// A stage ready to process the chunks of one phase, in order.
#[async_trait::async_trait]
pub trait PreparedStage: Send + Sync {
    /// Decides every record of one chunk.
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError>;
}

/// What a kind-specific check produced for one stage, before it is built.
pub struct Parts {
    /// The stage's kind.
    pub kind: super::validate::StageKind,
    /// Its loaded plugin, if its kind runs one.
    pub plugin: Option<Plugin>,
    /// Its checked configuration, if its kind is built in.
    pub builtin: Option<super::validate::BuiltinSetup>,
    /// Its use of a model, for model-backed kinds.
    pub model_use: Option<ModelUse>,
}

/// Builds the runtime side of a stage from its checked parts: the one place
/// that matches on every kind. `None` when a part the kind needs is missing
/// (its check reported why).
pub fn build(parts: Parts) -> Option<Arc<dyn StageOp>> {
    use super::validate::{BuiltinSetup, StageKind as K};
    use model_backed::{Asks, ModelBacked};
    let model_backed = |asks, plugin, uses| -> Arc<dyn StageOp> { Arc::new(ModelBacked { asks, plugin, uses }) };
    let Parts { kind, plugin, builtin, model_use } = parts;
    Some(match (kind, builtin) {
        (K::Filter | K::Map, _) => Arc::new(plugin_batches::PluginBatches { plugin: plugin? }),
        (K::Generate, _) => model_backed(Asks::Generate, plugin?, model_use?),
        (K::Critique, _) => model_backed(Asks::Critique, plugin?, model_use?),
        (K::Refine, _) => model_backed(Asks::Refine, plugin?, model_use?),
        (K::Dedup, Some(BuiltinSetup::Dedup(config))) => Arc::new(dedup::DedupStage { config }),
        (K::Threshold | K::Sample | K::Decontaminate, Some(BuiltinSetup::Stateless(b))) => Arc::new(b),
        (K::Classify, Some(BuiltinSetup::Classify(config))) => Arc::new(classify::ClassifyStage { config }),
        (K::TrainClassifier | K::TrainStudent | K::Eval, Some(BuiltinSetup::Job(job))) => {
            Arc::new(barrier::Barrier { job })
        }
        _ => return None,
    })
}
