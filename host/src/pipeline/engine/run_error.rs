//! How a run goes wrong: the one error type of the engine's executor, its
//! merge of tasks and its assembly of outputs (a module of its own so that
//! those modules share it without importing each other).

use crate::pipeline::input::InputError;
use crate::pipeline::stages::StageError;
use crate::pipeline::workdir::WorkDirError;
use crate::plugin::PluginError;

/// How a run went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The work directory or an output could not be written or read.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
    /// An input could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A plugin failed as a whole.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A stage failed as a whole.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The outputs were assembled but could not be put on object storage.
    #[error(
        "cannot publish the outputs to {prefix}: {message} (they are assembled in {}; run again to publish them)",
        dir.display()
    )]
    Publish {
        /// The `s3://` prefix.
        prefix: String,
        /// Where the outputs are.
        dir: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A stage with `on_error = "fail"` failed on a record.
    #[error(
        "stopping: {0} (the stage has on_error = \"fail\"; committed chunks are kept, so the run resumes from the last one)"
    )]
    StageFailed(String),
    /// A model cannot serve the run any more (a rejected key, a spent token
    /// budget): the run stops cleanly; committed chunks are kept.
    #[error("stopping: {0}")]
    Model(crate::model::ModelError),
    /// The request cache cannot be opened.
    #[error(transparent)]
    Cache(#[from] crate::model::CacheError),
    /// A training or evaluation job failed: the run stops; a rerun resumes at
    /// the job (committed records and finished jobs are kept).
    #[error("stopping: {0} (records before the stage are committed; fix the cause and run again to resume here)")]
    Job(crate::pipeline::stages::JobError),
    /// The run was cancelled (`RunOptions::cancel`): it stopped between
    /// chunks; committed chunks are kept, so running it again resumes.
    #[error("cancelled (committed chunks are kept; running it again resumes)")]
    Cancelled,
    /// A task of a split run was given a pipeline with stages that need
    /// the whole corpus.
    #[error(
        "stage(s) {} need every record of the corpus and cannot run in one task of a split run; \
         run the pipeline with `kiln run` (splitting such stages across tasks is not built yet)",
        .0.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    )]
    NotShardable(Vec<String>),
    /// Tasks of a split run have not finished, so they cannot be merged.
    #[error(
        "task(s) {} of {world} have not finished: run them (`kiln task run … --rank R --world {world}`) and merge again",
        .missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    TasksUnfinished {
        /// Their ranks.
        missing: Vec<u32>,
        /// How many tasks the run has.
        world: u32,
    },
    /// A task of a split run reached a grouping stage whose staged steps
    /// (band merges, clustering) have not run: it stopped there, its work
    /// committed; it goes on when run again after them.
    #[error(
        "waiting for the {step} of stage `{stage}` (`kiln task band` for each band, then `kiln task cluster`, or \
         `kiln task job`; `kiln launch` runs them): run the task again after them"
    )]
    AwaitingGlobal {
        /// The stage.
        stage: String,
        /// What it waits for.
        step: &'static str,
    },
    /// A staged step of a split run failed.
    #[error(transparent)]
    Staged(#[from] super::staged::StagedError),
    /// The async runtime failed.
    #[error("executor: {0}")]
    Runtime(String),
}

// The model's and the job's errors are part of the message, not its source:
// a source would be printed a second time after it (`{:#}` prints the chain).
impl From<crate::model::ModelError> for RunError {
    fn from(e: crate::model::ModelError) -> Self {
        RunError::Model(e)
    }
}

impl From<crate::pipeline::stages::JobError> for RunError {
    fn from(e: crate::pipeline::stages::JobError) -> Self {
        RunError::Job(e)
    }
}
