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
//! pipeline file stay in `config` and `build`, and what a stage does at run time is here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::Sha256;

use crate::model::{Model, ModelError};
use crate::outcome::Outcome;
use crate::pipeline::config::OnError;
use crate::pipeline::report::counts::ModelCalls;
use crate::pipeline::workdir::{Manifest, WorkDir, WorkDirError};
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
pub mod grouping;
pub mod job;
pub mod keep_if;
pub mod model_backed;
pub mod near_dup;
pub mod plugin_batches;
pub mod prompting;
pub mod refine;
pub mod review_gate;
pub mod train_classifier;
pub mod train_student;

pub use crate::pipeline::config::StageKind;
pub use barrier::{Job, JobReport};
pub use job::{JobCx, JobError};
pub use prompting::ModelUse;

/// A built stage: the settings every kind shares, and what its kind does.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Unique name.
    pub name: String,
    /// What it does, as written in the file.
    pub kind: StageKind,
    /// Records per call.
    pub batch_size: usize,
    /// Parallel instances.
    pub concurrency: usize,
    /// What to do with failing records.
    pub on_error: OnError,
    /// Its kind's runtime.
    pub op: Arc<dyn StageOp>,
}

impl Stage {
    /// Whether the stage needs every record before it acts (and so ends a phase).
    pub fn is_barrier(&self) -> bool {
        self.op.shape() == Shape::Barrier
    }
}

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
    /// What its model calls cost (model-backed stages).
    pub calls: ModelCalls,
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
        self.calls.add(&other.calls);
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
    /// A `review` stage holds records nobody has labelled: the run stops
    /// before their chunk commits ([`review_gate`]).
    #[error("stage `{stage}`: {count} record(s) await review, held in {}; {}", pending.display(), how_to_review(labels.as_deref()))]
    AwaitingReview {
        /// The stage.
        stage: String,
        /// Records held.
        count: usize,
        /// The file they are written to.
        pending: std::path::PathBuf,
        /// The labels file the stage reads (`None`: labels are given by the service).
        labels: Option<std::path::PathBuf>,
    },
    /// The work directory could not be read.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
    /// The async runtime failed.
    #[error("executor: {0}")]
    Runtime(String),
}

fn how_to_review(labels: Option<&Path>) -> String {
    match labels {
        Some(file) => format!(
            "label each by its id in {} (one line each: {{\"id\": \"…\", \"review\": \"accept\"}} or \"reject\") \
             and run again: committed chunks are kept",
            file.display()
        ),
        None => "label them in the review queue and resume the run: committed chunks are kept".into(),
    }
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
    /// The stage being prepared.
    pub stage: &'a Stage,
    /// The pipeline's seed.
    pub seed: u64,
    /// The run's work directory (where earlier phases' jobs saved what they trained).
    pub work_dir: &'a Path,
    /// The phase's work directory.
    pub work: &'a WorkDir,
    /// Its chunks committed so far (by this invocation's predecessors).
    pub manifest: &'a Manifest,
    /// The models this invocation started, by name.
    pub models: &'a BTreeMap<String, Arc<Model>>,
}

impl PhaseCx<'_> {
    /// The state the stage saved with each committed chunk, in chunk order,
    /// read one chunk at a time (a dedup stage's states add up to every key
    /// it has seen: they are never all in memory as text at once).
    pub fn saved_states(&self) -> impl Iterator<Item = Result<String, StageError>> + '_ {
        let stage = &self.stage.name;
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

    /// How a split run runs it as staged jobs, for stages that keep the
    /// first record of each group sharing a key ([`grouping`]).
    fn grouping(&self) -> Option<&dyn grouping::Grouping> {
        None
    }

    /// The job a barrier runs on its phase's records.
    fn job(&self) -> Option<&Job> {
        None
    }

    /// Declared models it uses besides its own `model` (an evaluation's).
    fn model_references(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Earlier stages it reads what they trained from: `(name, kind)`.
    fn references(&self) -> Vec<(&str, StageKind)> {
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

/// What building a stage takes besides its kind: what the checks of the
/// pipeline file produced for it.
pub struct BuildCx<'a> {
    /// The stage's `config` table (a built-in's settings).
    pub config: &'a toml::Table,
    /// The pipeline's seed.
    pub seed: u64,
    /// The pipeline file's directory (benchmark and held-out files are relative to it).
    pub base: &'a Path,
    /// Its loaded plugin, if its kind runs one and it loaded.
    pub plugin: Option<Plugin>,
    /// Its use of a model, for model-backed kinds, if it checked.
    pub model_use: Option<ModelUse>,
    /// Reviewers' labels given in place of `review` stages' labels files.
    pub review_labels: Option<&'a Arc<review_gate::ReviewLabels>>,
    /// The cache directory (built decontamination indexes are kept there).
    pub cache_dir: Option<&'a Path>,
}

/// Builds the runtime side of a stage of `kind`, each kind from its own
/// configuration type: the one place that matches on every kind. `Err` says
/// why the stage's `config` is wrong; `Ok(None)` that a part the kind needs
/// (its plugin, its use of a model) is missing, which its check reported.
pub fn build(kind: StageKind, cx: BuildCx<'_>) -> Result<Option<Arc<dyn StageOp>>, String> {
    use builtin::{Builtin, SampleConfig, ThresholdConfig};
    use model_backed::{Asks, ModelBacked};
    fn parse<T: serde::de::DeserializeOwned>(config: &toml::Table) -> Result<T, String> {
        config.clone().try_into().map_err(|e: toml::de::Error| format!("invalid config: {}", e.message()))
    }
    /// `config` parsed as a `T` and checked by `check`.
    fn checked<T: serde::de::DeserializeOwned>(
        config: &toml::Table,
        check: fn(&T) -> Result<(), String>,
    ) -> Result<T, String> {
        let value = parse(config)?;
        check(&value)?;
        Ok(value)
    }
    let model_backed = |asks, cx: BuildCx<'_>| -> Option<Arc<dyn StageOp>> {
        Some(Arc::new(ModelBacked { asks, plugin: cx.plugin?, uses: cx.model_use? }))
    };
    let job = |job| -> Arc<dyn StageOp> { Arc::new(barrier::Barrier { job }) };
    Ok(match kind {
        StageKind::Filter | StageKind::Map => {
            cx.plugin.map(|plugin| -> Arc<dyn StageOp> { Arc::new(plugin_batches::PluginBatches { plugin }) })
        }
        StageKind::Generate => model_backed(Asks::Generate, cx),
        StageKind::Critique => model_backed(Asks::Critique, cx),
        StageKind::Refine => model_backed(Asks::Refine, cx),
        StageKind::Threshold => Some(Arc::new(Builtin::Threshold(checked(cx.config, ThresholdConfig::check)?))),
        StageKind::Sample => {
            Some(Arc::new(Builtin::Sample { config: checked(cx.config, SampleConfig::check)?, seed: cx.seed }))
        }
        StageKind::Decontaminate => {
            let d = decontaminate::Decontaminator::load(parse(cx.config)?, cx.base, cx.cache_dir)?;
            Some(Arc::new(Builtin::Decontaminate(Arc::new(d))))
        }
        StageKind::Dedup => {
            Some(Arc::new(dedup::DedupStage { config: checked(cx.config, dedup::DedupConfig::check)? }))
        }
        StageKind::Classify => {
            Some(Arc::new(classify::ClassifyStage { config: checked(cx.config, classify::ClassifyConfig::check)? }))
        }
        StageKind::TrainStudent => {
            Some(job(Job::TrainStudent(checked(cx.config, train_student::StudentStageConfig::check)?)))
        }
        StageKind::TrainClassifier => {
            Some(job(Job::TrainClassifier(checked(cx.config, train_classifier::ClassifierStageConfig::check)?)))
        }
        StageKind::Review => {
            Some(Arc::new(review_gate::ReviewGate::load(parse(cx.config)?, cx.base, cx.review_labels)?))
        }
        StageKind::Eval => Some(job(Job::Eval(parse::<evaluate::EvalStageConfig>(cx.config)?.load(cx.base)?))),
    })
}
