//! Running a built pipeline: the streaming executor (reader → stages →
//! committer, [`executor`]), the phases a barrier stage cuts a run into and
//! the jobs barriers run ([`phases`], [`jobs`]), the tasks a run can be split
//! into and their merge ([`shard`], [`merge`]), the staged steps that run
//! dedup stages across tasks ([`staged`]), and the assembly of outputs
//! from committed chunks that one-process runs and merges share ([`assemble`])
//! and their publishing to object storage ([`publish`]), and what each
//! process of a run pulls from a work directory kept there ([`remote`]). The engine drives stages
//! through [`StageOp`](crate::pipeline::stages::StageOp) only: it names no
//! stage kind.

pub mod assemble;
pub mod executor;
pub mod fingerprint;
pub mod jobs;
pub mod merge;
pub mod phases;
pub mod publish;
pub mod remote;
pub mod run_error;
pub mod shard;
pub mod staged;

use std::sync::Arc;

use crate::model::RequestCache;
use crate::pipeline::build::Pipeline;
use crate::pipeline::workdir::WorkDir;
use executor::RunError;

/// The pipeline's request cache (one per pipeline, whatever the phase), or
/// `None` when it is `unused` (`--no-cache`, or nothing asks a model).
fn request_cache(pipeline: &Pipeline, unused: bool) -> Result<Option<Arc<RequestCache>>, RunError> {
    if unused {
        return Ok(None);
    }
    Ok(Some(Arc::new(RequestCache::open(&WorkDir::open(&pipeline.work_dir)?.cache_dir())?)))
}
