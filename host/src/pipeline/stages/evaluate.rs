//! The `eval` stage: held-out evaluation of the students that earlier
//! `train-student` stages trained, and of declared models (a teacher) by the
//! same rule, so that students and the model they learned from are compared
//! on the same items.
//!
//! The held-out set is a JSONL file of items `{"prompt", "answer", "text"}`:
//! each student (every seed) completes every prompt greedily, and is right
//! when the text after the last `answer_prefix` of its completion (first
//! line, trimmed) equals `answer`; `text`, a reference solution, is scored
//! for perplexity (per character). Items whose prompt occurs in any evaluated
//! student's training texts are left out and counted, so that the score is
//! on problems no stage trained on. Per student the report gives each seed's
//! accuracy and perplexity and their mean with a 95% confidence interval
//! (Student's t over seeds).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use kiln_kernels::student::{CharLm, Predictor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::job::{JobCx, JobError, read_json, write_json};
use super::train_student::StudentReport;
use crate::model::{Job as ModelJob, Message, Model, ModelSpec, Usage};
use crate::pipeline::workdir::{FinishedPhase, job_dir};

/// `config` of an `eval` stage.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvalStageConfig {
    /// The `train-student` stages whose students to evaluate.
    #[serde(default)]
    pub students: Vec<String>,
    /// Declared models (`[models.<name>]`, e.g. the teacher) to evaluate by
    /// the same rule: each held-out prompt sent as one user message.
    #[serde(default)]
    pub models: Vec<String>,
    /// The held-out JSONL file, relative to the pipeline file.
    pub heldout: String,
    /// What precedes the final answer in a completion (default `Answer:`).
    #[serde(default = "default_answer_prefix")]
    pub answer_prefix: String,
    /// Most characters a student may write per prompt (default 96).
    #[serde(default = "default_max_new")]
    pub max_new: usize,
    /// The held-out items, read when the pipeline is loaded.
    #[serde(skip)]
    pub items: Arc<Vec<HeldOut>>,
}

fn default_answer_prefix() -> String {
    "Answer:".into()
}

fn default_max_new() -> usize {
    96
}

/// One held-out item.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeldOut {
    /// What the student continues.
    pub prompt: String,
    /// The right final answer.
    pub answer: String,
    /// A reference text (prompt and solution) for perplexity.
    #[serde(default)]
    pub text: Option<String>,
    /// Problem classes (`carry`, `borrow`, …): accuracy is also reported per class.
    #[serde(default)]
    pub classes: Vec<String>,
}

impl EvalStageConfig {
    /// Checks the settings and reads the held-out file (relative to `base`).
    pub fn load(mut self, base: &Path) -> Result<EvalStageConfig, String> {
        if self.students.is_empty() && self.models.is_empty() {
            return Err(
                "nothing to evaluate: name `train-student` stages in `students`, or declared models in `models`".into(),
            );
        }
        if self.max_new == 0 || self.answer_prefix.trim().is_empty() {
            return Err("`max_new` must be at least 1 and `answer_prefix` not empty".into());
        }
        let path = base.join(&self.heldout);
        let text = crate::files::read_capped_text(&path, crate::files::MAX_DATA_FILE_BYTES, "a held-out file")
            .map_err(|e| format!("the held-out file: {e}"))?;
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let item: HeldOut = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{}:{}: not a held-out item ({e}); each line must be {{\"prompt\": ..., \"answer\": ..., \"text\": ...}}",
                    path.display(),
                    i + 1
                )
            })?;
            items.push(item);
        }
        if items.is_empty() {
            return Err(format!("the held-out file {} holds no items", path.display()));
        }
        self.items = Arc::new(items);
        Ok(self)
    }
}

/// One seed's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedScore {
    /// The seed.
    pub seed: u64,
    /// Share of held-out items answered right.
    pub accuracy: f64,
    /// exp(mean cross-entropy per character) of the reference texts.
    pub perplexity: Option<f64>,
}

/// A mean over seeds with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The mean.
    pub mean: f64,
    /// Half the width of the 95% interval (0 with one seed).
    pub half_width: f64,
}

impl Interval {
    /// Mean and Student's-t 95% interval of `values`.
    pub fn of(values: &[f64]) -> Interval {
        let n = values.len();
        if n == 0 {
            return Interval { mean: f64::NAN, half_width: f64::NAN };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Interval { mean, half_width: 0.0 };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Interval { mean, half_width: t_975(n - 1) * (var / n as f64).sqrt() }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
    match df {
        0 => f64::NAN,
        1..=10 => TABLE[df - 1],
        11..=20 => 2.086,
        21..=30 => 2.042,
        _ => 1.96,
    }
}

/// A completion shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The prompt.
    pub prompt: String,
    /// The right answer.
    pub answer: String,
    /// What the student wrote.
    pub completion: String,
    /// Whether it was right.
    pub correct: bool,
}

/// One student stage's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentScore {
    /// The `train-student` stage.
    pub student: String,
    /// Records it trained on.
    pub training_records: u64,
    /// Characters predicted in training per seed (its compute).
    pub training_tokens: u64,
    /// Per seed.
    pub seeds: Vec<SeedScore>,
    /// Accuracy over seeds.
    pub accuracy: Interval,
    /// Perplexity over seeds.
    pub perplexity: Option<Interval>,
    /// Accuracy per problem class (mean over seeds), for items that name classes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_class: BTreeMap<String, ClassScore>,
    /// The first completions of the first seed.
    pub examples: Vec<Example>,
}

/// Accuracy on the held-out items of one problem class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Items of the class.
    pub items: u64,
    /// Accuracy on them (a student's: mean over seeds with its interval).
    pub accuracy: Interval,
}

/// Per class, the accuracy of each run (seed) of one scorer: `correct[run][item]`.
fn by_class(items: &[&HeldOut], correct: &[Vec<bool>]) -> BTreeMap<String, ClassScore> {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        for class in &item.classes {
            members.entry(class.as_str()).or_default().push(i);
        }
    }
    members
        .into_iter()
        .map(|(class, idx)| {
            let shares: Vec<f64> = correct
                .iter()
                .map(|run| {
                    idx.iter().filter(|&&i| run.get(i).copied().unwrap_or(false)).count() as f64 / idx.len() as f64
                })
                .collect();
            let accuracy = match shares.as_slice() {
                [p] => binomial(*p, idx.len()),
                _ => Interval::of(&shares),
            };
            (class.to_string(), ClassScore { items: idx.len() as u64, accuracy })
        })
        .collect()
}

/// A share `p` of `n` trials with its 95% interval (normal approximation).
fn binomial(p: f64, n: usize) -> Interval {
    Interval { mean: p, half_width: 1.96 * (p * (1.0 - p) / n.max(1) as f64).sqrt() }
}

/// One declared model's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    /// The model's name.
    pub model: String,
    /// Backend, model and sampling, as in lineage.
    pub describe: String,
    /// Share of held-out items answered right, with a 95% interval over
    /// items (normal approximation of the binomial).
    pub accuracy: Interval,
    /// Items whose request failed (counted as wrong).
    pub failed: u64,
    /// Accuracy per problem class, for items that name classes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_class: BTreeMap<String, ClassScore>,
    /// The first completions.
    pub examples: Vec<Example>,
}

/// `eval`'s part of `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The stage.
    pub stage: String,
    /// The held-out file.
    pub heldout: String,
    /// Items evaluated.
    pub items: u64,
    /// Items left out because a student trained on their prompt.
    pub contaminated: u64,
    /// Per student, in the order configured.
    pub students: Vec<StudentScore>,
    /// Per declared model, in the order configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelScore>,
    /// Digest of the inputs: a report with another key is stale.
    pub key: String,
}

/// Items whose completion is shown per student.
const EXAMPLES: usize = 6;

/// The final answer in `completion`: the first line after the last `prefix`.
pub fn extract(completion: &str, prefix: &str) -> Option<String> {
    let at = completion.rfind(prefix)?;
    let rest = &completion[at + prefix.len()..];
    let line = rest.lines().next().unwrap_or("").trim().trim_end_matches('.').trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// Evaluates every configured student.
pub fn run(cx: &JobCx<'_>, config: &EvalStageConfig) -> Result<EvalReport, JobError> {
    let (stage, compute) = (cx.stage, cx.compute);
    let mut students = Vec::new();
    let mut training_texts = Vec::new();
    for student in &config.students {
        let dir = job_dir(cx.work_dir, student);
        let mut report: StudentReport = read_json(&dir.join("report.json")).ok_or_else(|| {
            JobError::new(
                stage,
                format!("student stage `{student}` has no trained students (no {}/report.json)", dir.display()),
            )
        })?;
        // The checkpoints as this process has them (the report says where they
        // were written, which another machine's scratch copy can have been).
        for run in &mut report.seeds {
            run.checkpoint = super::train_student::model_path(&dir, run.seed);
        }
        training_texts.extend(training_set(stage, student, cx.earlier)?);
        students.push(report);
    }
    let seen = seen_prompts(&config.items, &training_texts).map_err(|e| JobError::new(stage, e))?;
    let clean: Vec<&HeldOut> = config.items.iter().zip(&seen).filter(|(_, seen)| !**seen).map(|(i, _)| i).collect();
    let contaminated = (config.items.len() - clean.len()) as u64;
    if clean.is_empty() {
        return Err(JobError::new(stage, "every held-out prompt occurs in the training data: nothing is held out"));
    }
    let models: Vec<Arc<ModelSpec>> = config
        .models
        .iter()
        .map(|m| cx.models.get(m).cloned().ok_or_else(|| JobError::new(stage, format!("no model named `{m}`"))))
        .collect::<Result<_, _>>()?;
    let key = eval_key(config, &students, &models);
    let report_path = cx.dir().join("report.json");
    if let Some(report) = read_json::<EvalReport>(&report_path).filter(|r| r.key == key) {
        return Ok(report);
    }
    let mut scores = Vec::new();
    for report in &students {
        scores.push(score_student(stage, config, report, &clean, compute)?);
    }
    let mut model_scores = Vec::new();
    for spec in &models {
        model_scores.push(score_model(cx, config, spec, &clean)?);
    }
    let report = EvalReport {
        stage: stage.to_string(),
        heldout: config.heldout.clone(),
        items: clean.len() as u64,
        contaminated,
        students: scores,
        models: model_scores,
        key,
    };
    write_json(stage, &report_path, &report)?;
    Ok(report)
}

/// For each held-out item, whether its (trimmed) prompt occurs in any of
/// `texts`: one Aho-Corasick pass over the texts for all prompts at once, so
/// the cost grows with the training text, not with items × texts.
fn seen_prompts(items: &[HeldOut], texts: &[String]) -> Result<Vec<bool>, String> {
    let prompts: Vec<&str> = items.iter().map(|i| i.prompt.trim()).collect();
    let automaton = AhoCorasick::new(&prompts).map_err(|e| format!("cannot index the held-out prompts: {e}"))?;
    let mut seen = vec![false; prompts.len()];
    for text in texts {
        for m in automaton.find_overlapping_iter(text) {
            seen[m.pattern().as_usize()] = true;
        }
    }
    Ok(seen)
}

/// The texts `student` trained on: the records its phase kept.
fn training_set(stage: &str, student: &str, earlier: &[FinishedPhase]) -> Result<Vec<String>, JobError> {
    // Validation made every name in `students` an earlier train-student stage.
    let Some(phase) = earlier.iter().find(|p| p.barrier.as_deref() == Some(student)) else {
        return Err(JobError::new(stage, format!("`{student}` is not a train-student stage of this pipeline")));
    };
    let records = phase.kept_records().map_err(JobError::work_dir(stage))?;
    Ok(records.into_iter().map(|r| r.text).collect())
}

fn eval_key(config: &EvalStageConfig, students: &[StudentReport], models: &[Arc<ModelSpec>]) -> String {
    let mut h = Sha256::new();
    h.update(config.answer_prefix.as_bytes());
    h.update(config.max_new.to_le_bytes());
    for item in config.items.iter() {
        h.update(item.prompt.as_bytes());
        h.update(item.answer.as_bytes());
        h.update(item.text.as_deref().unwrap_or("").as_bytes());
        for class in &item.classes {
            h.update(class.as_bytes());
        }
    }
    for s in students {
        h.update(s.key.as_bytes());
    }
    for m in models {
        h.update(m.describe().as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

fn score_student(
    stage: &str,
    config: &EvalStageConfig,
    report: &StudentReport,
    items: &[&HeldOut],
    compute: &kiln_kernels::Compute,
) -> Result<StudentScore, JobError> {
    let prompts: Vec<&str> = items.iter().map(|i| i.prompt.as_str()).collect();
    let references: Vec<&str> = items.iter().filter_map(|i| i.text.as_deref()).collect();
    let mut seeds = Vec::new();
    let mut examples = Vec::new();
    let mut correct_by_seed = Vec::new();
    for run in &report.seeds {
        let fail = |e: &dyn std::fmt::Display| {
            JobError::new(stage, format!("student `{}` seed {}: {e}", report.stage, run.seed))
        };
        let (model, _) = CharLm::load(&run.checkpoint, Some(&report.config.model())).map_err(|e| fail(&e))?;
        let predictor = Predictor::new(compute, model).map_err(|e| fail(&e))?;
        let completions = predictor.complete(&prompts, config.max_new, 0.0, &[]).map_err(|e| fail(&e))?;
        let (flags, shown) = grade(config, items, &completions);
        if examples.is_empty() {
            examples = shown;
        }
        let perplexity = if references.is_empty() {
            None
        } else {
            let (ce, _) = predictor.cross_entropy(references.iter().copied()).map_err(|e| fail(&e))?;
            Some(ce.exp())
        };
        seeds.push(SeedScore { seed: run.seed, accuracy: share(&flags), perplexity });
        correct_by_seed.push(flags);
    }
    let accuracy = Interval::of(&seeds.iter().map(|s| s.accuracy).collect::<Vec<_>>());
    let ppl: Vec<f64> = seeds.iter().filter_map(|s| s.perplexity).collect();
    Ok(StudentScore {
        student: report.stage.clone(),
        training_records: report.records,
        training_tokens: report.seeds.first().map_or(0, |s| s.tokens),
        seeds,
        accuracy,
        perplexity: (!ppl.is_empty()).then(|| Interval::of(&ppl)),
        by_class: by_class(items, &correct_by_seed),
        examples,
    })
}

/// Whether each completion is right (the text after the last `answer_prefix`
/// equals the item's answer), and the first few as examples for the report:
/// the one rule for students and models alike.
fn grade(config: &EvalStageConfig, items: &[&HeldOut], completions: &[String]) -> (Vec<bool>, Vec<Example>) {
    let mut examples = Vec::new();
    let correct = items
        .iter()
        .zip(completions)
        .enumerate()
        .map(|(i, (item, completion))| {
            let correct = extract(completion, &config.answer_prefix).as_deref() == Some(item.answer.trim());
            if i < EXAMPLES {
                examples.push(Example {
                    prompt: item.prompt.clone(),
                    answer: item.answer.clone(),
                    completion: completion.clone(),
                    correct,
                });
            }
            correct
        })
        .collect();
    (correct, examples)
}

/// The share of `true` in `flags` (0 when empty).
fn share(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&c| c).count() as f64 / flags.len().max(1) as f64
}

/// Scores a declared model: every held-out prompt as one user message, its
/// completion read by the same rule as a student's.
fn score_model(
    cx: &JobCx<'_>,
    config: &EvalStageConfig,
    spec: &Arc<ModelSpec>,
    items: &[&HeldOut],
) -> Result<ModelScore, JobError> {
    let fail = |e: &dyn std::fmt::Display| JobError::new(cx.stage, format!("model `{}`: {e}", spec.name));
    let model = Model::start(spec.clone(), cx.cache.clone(), Usage::default()).map_err(|e| fail(&e))?;
    let jobs = items
        .iter()
        .enumerate()
        .map(|(i, item)| ModelJob {
            slot: Some(i as u64),
            ..ModelJob::new(vec![Message { role: "user".into(), content: item.prompt.clone() }], 1)
        })
        .collect();
    let runtime = tokio::runtime::Handle::try_current().map_err(|e| fail(&e))?;
    let replies = runtime.block_on(model.complete(jobs));
    let mut failed = 0u64;
    let mut completions = Vec::with_capacity(items.len());
    for (i, reply) in replies.into_iter().enumerate() {
        completions.push(match reply {
            Ok(reply) => reply.samples.into_iter().next().map(|s| s.text).unwrap_or_default(),
            Err(failed_job) if failed_job.error.is_fatal() => return Err(fail(&failed_job.error)),
            Err(failed_job) => {
                failed += 1;
                tracing::warn!(model = %spec.name, "held-out item {}: {}", i + 1, failed_job.error);
                String::new()
            }
        });
    }
    let (flags, examples) = grade(config, items, &completions);
    Ok(ModelScore {
        model: spec.name.clone(),
        describe: spec.describe(),
        accuracy: binomial(share(&flags), items.len()),
        failed,
        by_class: by_class(items, &[flags]),
        examples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_counts_as_seen_wherever_it_occurs_in_a_training_text() {
        let item =
            |prompt: &str| HeldOut { prompt: prompt.into(), answer: String::new(), text: None, classes: Vec::new() };
        let items = [item("What is 12 + 7?"), item("  What is 1 + 1?\n"), item("What is 2 + 2?"), item("is 12")];
        let texts = ["Q: What is 12 + 7?\nA: 19".to_string(), "What is 1 + 1?".to_string()];
        // Overlapping matches count too: "is 12" sits inside the first prompt's match.
        assert_eq!(seen_prompts(&items, &texts).expect("index"), [true, true, false, true]);
        assert_eq!(seen_prompts(&items, &[]).expect("index"), [false; 4]);
    }

    #[test]
    fn accuracy_is_split_by_class_over_runs() {
        let item = |classes: &[&str]| HeldOut {
            prompt: String::new(),
            answer: String::new(),
            text: None,
            classes: classes.iter().map(|c| c.to_string()).collect(),
        };
        let items = [item(&["carry"]), item(&["carry", "borrow"]), item(&[]), item(&["borrow"])];
        let refs: Vec<&HeldOut> = items.iter().collect();
        // Two seeds: the first gets every carry right, the second none.
        let scores = by_class(&refs, &[vec![true, true, false, false], vec![false, false, true, true]]);
        assert_eq!(scores.keys().collect::<Vec<_>>(), ["borrow", "carry"]);
        assert_eq!(scores["carry"].items, 2);
        assert_eq!(scores["carry"].accuracy.mean, 0.5);
        assert!(scores["carry"].accuracy.half_width > 0.0, "an interval over the seeds");
        assert_eq!(scores["borrow"].accuracy.mean, 0.5);
        // One run (a model): a binomial interval over the class's items.
        let one = by_class(&refs, &[vec![true, true, false, false]]);
        assert_eq!((one["carry"].accuracy.mean, one["carry"].accuracy.half_width), (1.0, 0.0));
        assert_eq!(one["borrow"].accuracy.mean, 0.5);
        assert!(by_class(&refs[2..3], &[vec![true]]).is_empty(), "items without classes give no table");
    }

    #[test]
    fn answers_are_read_after_the_last_prefix() {
        assert_eq!(extract("Step 1: 2 + 2 = 4\nAnswer: 4", "Answer:").as_deref(), Some("4"));
        assert_eq!(extract("Answer: 3\nAnswer: 5.\n", "Answer:").as_deref(), Some("5"));
        assert_eq!(extract("no answer", "Answer:"), None);
        assert_eq!(extract("Answer:   \n", "Answer:"), None);
    }

    #[test]
    fn intervals_use_students_t() {
        let i = Interval::of(&[0.5, 0.6, 0.7]);
        assert!((i.mean - 0.6).abs() < 1e-12);
        assert!((i.half_width - 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(Interval::of(&[0.4]).half_width, 0.0);
    }
}
