//! Phases: how a pipeline with training stages runs.
//!
//! Most stages stream — each chunk passes through them and is committed. A
//! *barrier* stage (`train-classifier`, `train-student`, `eval`) needs every
//! record that reaches it before it can act: it ends a phase. A phase streams
//! its stages over its input, commits its chunks in its own work directory
//! (phase 0 in the pipeline's work directory, phase `k` in `phase-<k>/`, see
//! [`workdir::phase_dir`](crate::pipeline::workdir::phase_dir)), then
//! runs its barrier's job on the records it kept; the next phase streams those
//! same records on. Every phase resumes like a one-phase pipeline, and a job
//! whose results are saved is not run again, so an interrupted run picks up
//! where it stopped.
//!
//! The run's outputs are the last phase's kept records and every phase's
//! rejected and quarantined ones, so the counts still add up:
//! input + generated = kept + rejected + quarantined.

use std::ops::Range;

use crate::pipeline::build::Pipeline;

/// The stage ranges of `pipeline`'s phases, in order: each ends after a
/// barrier stage or at the last stage. A pipeline always has one phase.
pub fn split(pipeline: &Pipeline) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, stage) in pipeline.stages.iter().enumerate() {
        if stage.is_barrier() {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < pipeline.stages.len() || out.is_empty() {
        out.push(start..pipeline.stages.len());
    }
    out
}
