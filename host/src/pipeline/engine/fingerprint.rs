//! The run's fingerprint: the digest that ties a work directory to one
//! pipeline, so that a resumed run never mixes results of two versions of
//! it. The work directory stores it in its manifest and refuses a mismatch
//! ([`WorkDir::manifest`](crate::pipeline::workdir::WorkDir::manifest)).

use sha2::{Digest, Sha256};

use crate::pipeline::build::Pipeline;

/// The digest that ties a work directory to one pipeline: its file, its
/// plugins' digests and its chunk size.
pub fn fingerprint(pipeline: &Pipeline) -> String {
    let mut h = Sha256::new();
    let barriers: Vec<bool> = pipeline.stages.iter().map(|s| s.is_barrier()).collect();
    h.update(outcome_relevant_source(&pipeline.source, &barriers).as_bytes());
    for model in pipeline.models.values() {
        if let crate::model::BackendSpec::Wasm(p) = &model.backend {
            h.update(p.info().sha256.as_bytes());
        }
    }
    for stage in &pipeline.stages {
        h.update(stage.name.as_bytes());
        stage.op.fingerprint(&mut h);
    }
    h.update(pipeline.chunk_size.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The pipeline file without what cannot change which records a run keeps,
/// so that editing it does not orphan the work directory: the models'
/// `token_budget` (raise it and resume after a budget stop) and the `config`
/// of barrier stages (`train-student`, `train-classifier`, `eval` pass records
/// through unchanged; their jobs key their own results on their settings, so
/// lowering a learning rate after a diverged run retrains without redoing
/// the stages before). `barriers[i]` says whether the file's `i`-th stage is one.
fn outcome_relevant_source(source: &str, barriers: &[bool]) -> String {
    let Ok(mut table) = source.parse::<toml::Table>() else {
        return source.to_string();
    };
    // Rounds run after the stages above them, in work directories of their own.
    table.remove("rounds");
    if let Some(toml::Value::Table(models)) = table.get_mut("models") {
        for (_, model) in models.iter_mut() {
            if let toml::Value::Table(model) = model {
                model.remove("token_budget");
            }
        }
    }
    if let Some(toml::Value::Array(stages)) = table.get_mut("stage") {
        for (stage, barrier) in stages.iter_mut().zip(barriers) {
            if let (toml::Value::Table(stage), true) = (stage, barrier) {
                stage.remove("config");
            }
        }
    }
    table.to_string()
}
