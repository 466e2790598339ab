//! Running a built pipeline: the streaming executor (reader → stages →
//! committer, [`executor`]), the phases a barrier stage cuts a run into and
//! the jobs barriers run ([`phases`], [`jobs`]). The engine drives stages
//! through [`StageOp`](crate::pipeline::stages::StageOp) only: it names no
//! stage kind.

pub mod executor;
pub mod fingerprint;
pub mod jobs;
pub mod phases;
