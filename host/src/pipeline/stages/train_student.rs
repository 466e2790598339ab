//! The `train-student` stage: trains the character-level student
//! ([`kiln_kernels::student`]) on the texts of every record that reaches it,
//! once per seed, on the kernel device (the GPU when there is one).
//!
//! Records pass through unchanged; the stage is a barrier (see
//! [`phases`](crate::pipeline::engine::phases)). Each seed trains in `models/<stage>/seed-<s>/`
//! of the work directory: `model.safetensors` (the format is documented in
//! `kiln_kernels::student::model`), `optimizer.safetensors` and `curve.json`
//! every `checkpoint_every` steps, and `report.json` when done. A run
//! stopped mid-training resumes from the last checkpoint and draws the same
//! batches it would have; a seed whose report exists is not trained again.
//! Two students given the same `steps × batch` get the same compute
//! whatever the size of their training sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_kernels::student::{CharLm, CharLmConfig, Corpus, CurvePoint, OptimizerState, TrainConfig, Trainer, Vocab};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::job::{JobError, read_json, write_json};
use crate::pipeline::workdir;

/// `config` of a `train-student` stage; every key is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentStageConfig {
    /// Characters of context (default 32).
    pub context: usize,
    /// Embedding width (default 16).
    pub embed: usize,
    /// Hidden layer widths (default `[256]`).
    pub hidden: Vec<usize>,
    /// Optimiser steps (default 2000).
    pub steps: u32,
    /// Predicted characters per step (default 256).
    pub batch: usize,
    /// Peak learning rate (default 0.002).
    pub lr: f32,
    /// The learning rate at the last step as a fraction of `lr` (default 0.1;
    /// 0 decays to zero).
    pub min_lr_ratio: f32,
    /// AdamW weight decay (default 0.01).
    pub weight_decay: f32,
    /// One student per seed (default `[1, 2, 3]`): initialisation and batches.
    pub seeds: Vec<u64>,
    /// Steps between loss read-backs (default 50).
    pub log_every: u32,
    /// Steps between checkpoints (default 500).
    pub checkpoint_every: u32,
}

impl Default for StudentStageConfig {
    /// The model's and the trainer's defaults, three seeds, a checkpoint every 500 steps.
    fn default() -> Self {
        let (model, training) = (CharLmConfig::default(), TrainConfig::default());
        StudentStageConfig {
            context: model.context,
            embed: model.embed,
            hidden: model.hidden,
            steps: training.steps,
            batch: training.batch,
            lr: training.lr,
            min_lr_ratio: training.min_lr_ratio,
            weight_decay: training.weight_decay,
            seeds: vec![1, 2, 3],
            log_every: training.log_every,
            checkpoint_every: 500,
        }
    }
}

impl StudentStageConfig {
    /// The model's sizes.
    pub fn model(&self) -> CharLmConfig {
        CharLmConfig { context: self.context, embed: self.embed, hidden: self.hidden.clone() }
    }

    /// The optimiser's settings.
    pub fn training(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            batch: self.batch,
            lr: self.lr,
            min_lr_ratio: self.min_lr_ratio,
            weight_decay: self.weight_decay,
            log_every: self.log_every,
        }
    }

    /// Checks every number, saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        self.model().check()?;
        self.training().check()?;
        if self.seeds.is_empty() {
            return Err("`seeds` is empty: give at least one seed (three or more for a confidence interval)".into());
        }
        let mut seeds = self.seeds.clone();
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() != self.seeds.len() {
            return Err("`seeds` repeats a seed".into());
        }
        if self.checkpoint_every == 0 {
            return Err("checkpoint_every must be at least 1".into());
        }
        Ok(())
    }
}

/// What training one seed produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Steps trained.
    pub steps: u32,
    /// Characters predicted in training (steps × batch).
    pub tokens: u64,
    /// The loss curve (nats per character).
    pub curve: Vec<CurvePoint>,
    /// Seconds spent training in the invocation(s) that trained it.
    pub seconds: f64,
    /// Characters per second of training.
    pub tokens_per_second: f64,
    /// Where the model is.
    pub checkpoint: PathBuf,
    /// The device it trained on.
    pub device: String,
}

/// `train-student`'s part of `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentReport {
    /// The stage.
    pub stage: String,
    /// Records in the training set.
    pub records: u64,
    /// Characters in the training set (EOS included).
    pub characters: u64,
    /// Vocabulary size.
    pub vocab: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Settings.
    pub config: StudentStageConfig,
    /// One run per seed.
    pub seeds: Vec<SeedRun>,
    /// Digest of training set and settings: a report with another key is stale.
    pub key: String,
}

/// Where seed `seed` of a stage whose job directory is `dir` is trained.
pub fn seed_dir(dir: &Path, seed: u64) -> PathBuf {
    dir.join(format!("seed-{seed}"))
}

/// The final model of seed `seed`.
pub fn model_path(dir: &Path, seed: u64) -> PathBuf {
    seed_dir(dir, seed).join("model.safetensors")
}

/// Trains one student per seed on `texts`; `dir` is the stage's job directory.
pub fn run(
    stage: &str,
    config: &StudentStageConfig,
    texts: &[String],
    dir: &Path,
    compute: &kiln_kernels::Compute,
) -> Result<StudentReport, JobError> {
    if texts.is_empty() {
        return Err(JobError::new(
            stage,
            "no record reached this stage, so there is nothing to train on; check the stages before it \
             (stats.json shows where records were rejected)",
        ));
    }
    let key = training_key(config, texts);
    let report_path = dir.join("report.json");
    if let Some(report) = read_json::<StudentReport>(&report_path).filter(|r| r.key == key) {
        return Ok(report);
    }
    let vocab = Vocab::from_texts(texts.iter().map(String::as_str));
    let corpus = Corpus::new(&vocab, texts.iter().map(String::as_str));
    // Seeds train side by side, one per core (each run is mostly one thread).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(config.seeds.len()).max(1);
    let mut seeds = Vec::new();
    for group in config.seeds.chunks(workers) {
        let runs: Vec<Result<SeedRun, JobError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .iter()
                .map(|&seed| {
                    let (key, vocab, corpus) = (&key, &vocab, &corpus);
                    scope.spawn(move || train_seed(stage, config, key, vocab, corpus, seed, dir, compute))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(JobError::new(stage, "a training thread panicked"))))
                .collect()
        });
        for run in runs {
            seeds.push(run?);
        }
    }
    let report = StudentReport {
        stage: stage.to_string(),
        records: texts.len() as u64,
        characters: corpus.len() as u64,
        vocab: vocab.len(),
        parameters: config.model().parameters(vocab.len()),
        config: config.clone(),
        seeds,
        key,
    };
    write_json(stage, &report_path, &report)?;
    Ok(report)
}

/// The digest of the settings and the training texts.
fn training_key(config: &StudentStageConfig, texts: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(config).unwrap_or_default());
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A seed's progress, saved beside its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    key: String,
    step: u32,
    curve: Vec<CurvePoint>,
    seconds: f64,
}

#[allow(clippy::too_many_arguments)]
fn train_seed(
    stage: &str,
    config: &StudentStageConfig,
    key: &str,
    vocab: &Vocab,
    corpus: &Corpus,
    seed: u64,
    dir: &Path,
    compute: &kiln_kernels::Compute,
) -> Result<SeedRun, JobError> {
    let here = seed_dir(dir, seed);
    let (model_file, optimizer_file, progress_file) =
        (here.join("model.safetensors"), here.join("optimizer.safetensors"), here.join("progress.json"));
    let fail = |e: &dyn std::fmt::Display| JobError::new(stage, format!("seed {seed}: {e}"));
    // Resume from the last checkpoint of this very training, if there is one.
    let resumed = read_json::<Progress>(&progress_file).filter(|p| p.key == key).and_then(|p| {
        let (model, _) = CharLm::load(&model_file, Some(&config.model())).ok()?;
        let state = OptimizerState::load(&optimizer_file, &model).ok()?;
        (state.step == p.step && model.vocab == *vocab).then_some((model, state, p))
    });
    let (model, state, mut progress) = match resumed {
        Some((model, state, p)) => {
            tracing::info!(stage, seed, step = p.step, "resuming training from the last checkpoint");
            (model, Some(state), p)
        }
        None => (
            CharLm::init(config.model(), vocab.clone(), seed),
            None,
            Progress { key: key.to_string(), step: 0, curve: Vec::new(), seconds: 0.0 },
        ),
    };
    let first_step = progress.step;
    let mut trainer = Trainer::new(compute, model, config.training(), seed, state).map_err(|e| fail(&e))?;
    let started = Instant::now();
    let prior_seconds = progress.seconds;
    let every = config.checkpoint_every;
    let steps = config.steps;
    trainer
        .train(corpus, |t, point| {
            progress.curve.push(point);
            let step = t.step_count();
            if step.is_multiple_of(every) || step == steps {
                let (model, state) = t.snapshot()?;
                let meta = training_meta(stage, seed, step, config);
                progress.step = step;
                progress.seconds = prior_seconds + started.elapsed().as_secs_f64();
                // The model and the optimizer, then the progress that names
                // their step (each put to object storage when the work
                // directory is there, in that order).
                let saved = model
                    .save(&model_file, &meta)
                    .and_then(|()| state.save(&optimizer_file, &model))
                    .map_err(|e| e.to_string())
                    .and_then(|()| workdir::saved(&model_file).map_err(|e| e.to_string()))
                    .and_then(|()| workdir::saved(&optimizer_file).map_err(|e| e.to_string()))
                    .and_then(|()| serde_json::to_vec(&progress).map_err(|e| e.to_string()))
                    .and_then(|bytes| workdir::write_atomic(&progress_file, &bytes).map_err(|e| e.to_string()));
                if let Err(e) = saved {
                    tracing::warn!(stage, seed, "cannot save a checkpoint: {e}");
                }
            }
            Ok(())
        })
        .map_err(|e| fail(&e))?;
    let seconds = started.elapsed().as_secs_f64();
    let trained = u64::from(steps - first_step) * config.batch as u64;
    Ok(SeedRun {
        seed,
        steps,
        tokens: u64::from(steps) * config.batch as u64,
        curve: progress.curve,
        seconds: prior_seconds + seconds,
        tokens_per_second: trained as f64 / seconds.max(1e-9),
        // Where a user finds it (its object, when the work directory is on
        // object storage); a process loads it from its own copy, by `model_path`.
        checkpoint: crate::objects::mirror::shown(&model_file),
        device: compute.describe(),
    })
}

fn training_meta(
    stage: &str,
    seed: u64,
    step: u32,
    config: &StudentStageConfig,
) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([
        ("kiln.stage".to_string(), stage.to_string()),
        ("kiln.seed".to_string(), seed.to_string()),
        ("kiln.step".to_string(), step.to_string()),
        ("kiln.batch".to_string(), config.batch.to_string()),
        ("kiln.lr".to_string(), config.lr.to_string()),
    ])
}
