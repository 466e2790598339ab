//! The `train-classifier` stage: the phi-1 / FineWeb-Edu recipe. A judge
//! (`critique`, e.g. with `fraction` set so that it labels only a sample)
//! puts a label on records; this stage learns it with a hashed n-gram
//! classifier ([`kiln_kernels::classifier`]) on the kernel device, holding
//! out a share of the labelled records to measure agreement with the judge;
//! a later `classify` stage scores every record with it.
//!
//! Records pass through unchanged (the stage is a barrier, see
//! [`phases`](crate::pipeline::engine::phases)); records without the label are not used. The
//! classifier is saved as `models/<stage>/classifier.safetensors` with a
//! `report.json`; a report whose key matches is not trained again.

use std::path::{Path, PathBuf};

use kiln_kernels::classifier::{ClassifierTraining, NgramConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_64;

use super::job::{JobError, read_json, write_json};
use crate::record::Record;

/// `config` of a `train-classifier` stage.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierStageConfig {
    /// Where the label is: `scores.<name>` or `metadata.<key>` (a number or a
    /// boolean). Required: [`check`](Self::check) refuses the empty default.
    pub label: String,
    /// A label at or above this is positive (default 0.5; `true` counts as 1).
    pub positive_at: f64,
    /// Share of labelled records held out to measure agreement (default 0.2).
    pub holdout: f64,
    /// Hash buckets (default 2^18).
    pub buckets: usize,
    /// Embedding width (default 32).
    pub dim: usize,
    /// Longest word n-gram (default 2).
    pub word_ngrams: usize,
    /// Optimiser steps (default 400).
    pub steps: u32,
    /// Documents per step (default 64).
    pub batch: usize,
    /// Learning rate (default 0.01).
    pub lr: f32,
    /// Seed of the split, the initialisation and the batches (default 1).
    pub seed: u64,
}

impl Default for ClassifierStageConfig {
    fn default() -> Self {
        let (ngrams, training) = (NgramConfig::default(), ClassifierTraining::default());
        ClassifierStageConfig {
            label: String::new(),
            positive_at: 0.5,
            holdout: 0.2,
            buckets: ngrams.buckets,
            dim: ngrams.dim,
            word_ngrams: ngrams.word_ngrams,
            steps: training.steps,
            batch: training.batch,
            lr: training.lr,
            seed: training.seed,
        }
    }
}

impl ClassifierStageConfig {
    /// The features and sizes.
    pub fn ngrams(&self) -> NgramConfig {
        NgramConfig { buckets: self.buckets, dim: self.dim, word_ngrams: self.word_ngrams }
    }

    /// Checks every setting, saying what to fix.
    pub fn check(&self) -> Result<(), String> {
        self.ngrams().check()?;
        if self.label.is_empty() {
            return Err("`label` is required: where the judge's label is, `scores.<name>` or `metadata.<key>`".into());
        }
        if !(self.label.starts_with("scores.") || self.label.starts_with("metadata.")) {
            return Err(format!("label `{}` must be `scores.<name>` or `metadata.<key>`", self.label));
        }
        if !(0.0..0.9).contains(&self.holdout) {
            return Err(format!("holdout must be in [0, 0.9), got {}", self.holdout));
        }
        if self.steps == 0 || self.batch == 0 || !(self.lr > 0.0 && self.lr < 10.0) {
            return Err("steps and batch must be at least 1 and lr in (0, 10)".into());
        }
        Ok(())
    }

    /// The record's label, if it has one.
    pub fn label_of(&self, record: &Record) -> Option<bool> {
        let value = if let Some(name) = self.label.strip_prefix("scores.") {
            record.scores.get(name).copied()
        } else {
            let key = self.label.strip_prefix("metadata.")?;
            let mut v = record.metadata.get(key.split('.').next()?)?;
            for part in key.split('.').skip(1) {
                v = v.get(part)?;
            }
            v.as_f64().or_else(|| v.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
        }?;
        value.is_finite().then_some(value >= self.positive_at)
    }
}

/// How well the classifier agrees with the judge on held-out labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Held-out records.
    pub records: u64,
    /// Share where classifier (at 0.5) and judge agree.
    pub accuracy: f64,
    /// Of those the classifier calls positive, the share the judge does.
    pub precision: f64,
    /// Of those the judge calls positive, the share the classifier does.
    pub recall: f64,
    /// Cohen's kappa: agreement beyond chance.
    pub kappa: f64,
    /// Share of held-out records the judge calls positive (the majority baseline is max(p, 1 - p)).
    pub positive_rate: f64,
}

/// `train-classifier`'s part of `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// The stage.
    pub stage: String,
    /// Records that reached the stage.
    pub records: u64,
    /// Of them, records without the label (not used).
    pub unlabelled: u64,
    /// Records trained on.
    pub trained_on: u64,
    /// Agreement on the held-out labelled records.
    pub agreement: Option<Agreement>,
    /// `(step, loss)`.
    pub curve: Vec<(u32, f32)>,
    /// The saved classifier.
    pub checkpoint: PathBuf,
    /// The device it trained on.
    pub device: String,
    /// Seconds spent training.
    pub seconds: f64,
    /// Digest of labelled data and settings.
    pub key: String,
}

/// Where the classifier of a `train-classifier` stage with job directory `dir` is saved.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("classifier.safetensors")
}

/// Trains the classifier on the labelled `records`.
pub fn run(
    stage: &str,
    config: &ClassifierStageConfig,
    records: &[Record],
    dir: &Path,
    compute: &kiln_kernels::Compute,
) -> Result<ClassifierReport, JobError> {
    let labelled: Vec<(&Record, bool)> = records.iter().filter_map(|r| Some((r, config.label_of(r)?))).collect();
    if labelled.is_empty() {
        return Err(JobError::new(
            stage,
            format!(
                "none of the {} records that reached this stage has the label `{}`; put a `critique` stage that \
                 sets it before this one",
                records.len(),
                config.label
            ),
        ));
    }
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(config).unwrap_or_default());
    for (r, label) in &labelled {
        h.update(r.id.as_bytes());
        h.update(r.text.as_bytes());
        h.update([u8::from(*label)]);
    }
    let key = hex::encode(&h.finalize()[..16]);
    let report_path = dir.join("report.json");
    if let Some(report) = read_json::<ClassifierReport>(&report_path).filter(|r| r.key == key) {
        return Ok(report);
    }
    let cut = (config.holdout * 1000.0) as u64;
    let held = |r: &Record| (xxh3_64(r.id.as_bytes()) ^ config.seed) % 1000 < cut;
    let ngrams = config.ngrams();
    let train: Vec<(Vec<u32>, bool)> =
        labelled.iter().filter(|(r, _)| !held(r)).map(|(r, l)| (ngrams.features(&r.text), *l)).collect();
    let test: Vec<(&Record, bool)> = labelled.iter().filter(|(r, _)| held(r)).copied().collect();
    let training = ClassifierTraining { steps: config.steps, batch: config.batch, lr: config.lr, seed: config.seed };
    let started = std::time::Instant::now();
    let (model, curve) =
        kiln_kernels::classifier::Classifier::train(compute, ngrams, &train, &training).map_err(|e| {
            JobError::new(stage, format!("{e} (label `{}`, positive at {})", config.label, config.positive_at))
        })?;
    let seconds = started.elapsed().as_secs_f64();
    let agreement = if test.is_empty() {
        None
    } else {
        let texts: Vec<&str> = test.iter().map(|(r, _)| r.text.as_str()).collect();
        let probs = model.predict(compute, &texts).map_err(|e| JobError::new(stage, e.to_string()))?;
        Some(agreement(&probs, &test.iter().map(|t| t.1).collect::<Vec<_>>()))
    };
    let path = checkpoint_path(dir);
    let meta = std::collections::BTreeMap::from([
        ("kiln.stage".to_string(), stage.to_string()),
        ("kiln.label".to_string(), config.label.clone()),
    ]);
    model.save(&path, &meta).map_err(|e| JobError::new(stage, e.to_string()))?;
    // On object storage before the report that names it.
    crate::pipeline::workdir::saved(&path).map_err(JobError::work_dir(stage))?;
    let report = ClassifierReport {
        stage: stage.to_string(),
        records: records.len() as u64,
        unlabelled: (records.len() - labelled.len()) as u64,
        trained_on: train.len() as u64,
        agreement,
        curve,
        // Where a user finds it (its object, when the work directory is on
        // object storage); `classify` loads it by `checkpoint_path`.
        checkpoint: crate::objects::mirror::shown(&path),
        device: compute.describe(),
        seconds,
        key,
    };
    write_json(stage, &report_path, &report)?;
    Ok(report)
}

/// Agreement of predicted probabilities (at 0.5) with `truth`.
pub fn agreement(probs: &[f32], truth: &[bool]) -> Agreement {
    let (mut tp, mut fp, mut tn, mut fn_) = (0f64, 0f64, 0f64, 0f64);
    for (&p, &t) in probs.iter().zip(truth) {
        match (p >= 0.5, t) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    let n = (tp + fp + tn + fn_).max(1.0);
    let accuracy = (tp + tn) / n;
    let expected = ((tp + fp) * (tp + fn_) + (tn + fn_) * (tn + fp)) / (n * n);
    Agreement {
        records: n as u64,
        accuracy,
        precision: if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 },
        recall: if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 },
        kappa: if expected < 1.0 { (accuracy - expected) / (1.0 - expected) } else { 0.0 },
        positive_rate: (tp + fn_) / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_and_kappa() {
        let a = agreement(&[0.9, 0.8, 0.1, 0.2], &[true, false, false, true]);
        assert_eq!(a.accuracy, 0.5);
        assert_eq!(a.kappa, 0.0);
        let perfect = agreement(&[0.9, 0.1], &[true, false]);
        assert_eq!((perfect.accuracy, perfect.kappa, perfect.precision, perfect.recall), (1.0, 1.0, 1.0, 1.0));
    }

    #[test]
    fn labels_come_from_scores_or_metadata() {
        let config: ClassifierStageConfig =
            toml::from_str("label = \"scores.correct\"\npositive_at = 1.0").expect("config");
        let mut r = Record::new("a", "t");
        assert_eq!(config.label_of(&r), None);
        r.scores.insert("correct".into(), 1.0);
        assert_eq!(config.label_of(&r), Some(true));
        let meta: ClassifierStageConfig = toml::from_str("label = \"metadata.judge.good\"").expect("config");
        r.metadata.insert("judge".into(), serde_json::json!({"good": false}));
        assert_eq!(meta.label_of(&r), Some(false));
    }

    #[test]
    fn defaults_fill_everything_but_the_label() {
        let config: ClassifierStageConfig = toml::from_str("label = \"scores.q\"").expect("config");
        assert_eq!(config, ClassifierStageConfig { label: "scores.q".into(), ..ClassifierStageConfig::default() });
        assert!(config.check().is_ok());
        let missing: ClassifierStageConfig = toml::from_str("steps = 10").expect("config");
        let e = missing.check().expect_err("no label");
        assert!(e.contains("`label` is required"), "{e}");
        assert!(toml::from_str::<ClassifierStageConfig>("label = \"scores.q\"\nstep = 3").is_err(), "unknown key");
    }
}
