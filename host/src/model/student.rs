//! The `student` backend: a character-level student
//! ([`kiln_kernels::student`]) trained by a `train-student` stage, answering
//! prompts on the kernel device (the GPU when there is one) — so a trained
//! student can be the teacher of the next round.
//!
//! The student is a plain language model, not a chat model: the text it
//! continues is the content of the job's last user message (or of its last
//! message when none is a user's); system messages are ignored. It writes at
//! most `max_tokens` characters (default [`DEFAULT_MAX_TOKENS`]) and stops
//! early at its end-of-text token; a completion is cut at the first of the
//! model's `stop` sequences (which is left out). `temperature` 0 (the
//! default) decodes greedily; above 0 it samples from softmax(logits /
//! temperature).
//!
//! Sample `s` of a prompt at the stage's attempt `a` is drawn from its own
//! random stream, seeded by a digest of (model `seed`, `a`, `s`, prompt), so
//! every answer, greedy or sampled, depends on its prompt, attempt and sample
//! alone, never on the other prompts decoded with it (prompts are decoded in
//! batches of 256 on blocking threads, up to `concurrency` at
//! once). Tokens are counted as characters: the prompt's
//! plus the completion's.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use kiln_kernels::Compute;
use kiln_kernels::student::{CharLm, Predictor};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::spec::{Sampling, StudentSettings, StudentSource};
use super::{Job, Message, Meter, ModelError, Reply, Sample, Usage};

/// Most characters a student writes per completion when `max_tokens` is not set.
pub const DEFAULT_MAX_TOKENS: u32 = 96;

/// Prompts decoded together in one blocking call (several run side by side,
/// up to the model's `concurrency`).
const DECODE_BATCH: usize = 256;

/// A student loaded for a run.
pub struct Student {
    checkpoint: PathBuf,
    sha256: String,
    decoder: Arc<Decoder>,
}

impl std::fmt::Debug for Student {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Student").field("checkpoint", &self.checkpoint).field("sha256", &self.sha256).finish()
    }
}

impl Student {
    /// Loads the checkpoint of `settings` onto the shared kernel device;
    /// `model` names the model in errors.
    pub fn load(model: &str, settings: &StudentSettings) -> Result<Student, ModelError> {
        let path = &settings.checkpoint;
        let fail = |message: String| ModelError::Config { model: model.to_string(), message };
        if !path.is_file() {
            return Err(fail(match &settings.source {
                StudentSource::Stage { stage, seed } => format!(
                    "no student checkpoint at {}: stage `{stage}` has not trained seed {} yet (it must run, and \
                     finish, before the stages that use this model; run the pipeline again to resume it)",
                    path.display(),
                    seed.map_or_else(|| "?".to_string(), |s| s.to_string()),
                ),
                StudentSource::Checkpoint(_) => format!(
                    "checkpoint {} does not exist; train it first with a pipeline that has a train-student stage",
                    path.display()
                ),
            }));
        }
        let sha256 = StudentSettings::digest(path)
            .map_err(|e| fail(format!("cannot read checkpoint {}: {e}", path.display())))?;
        let (lm, _) = CharLm::load(path, None).map_err(|e| fail(e.to_string()))?;
        let compute = crate::compute::shared().map_err(|e| fail(format!("no kernel device: {e}")))?;
        let decoder = Decoder::new(compute, lm)
            .map_err(|e| fail(format!("cannot load checkpoint {} on the device: {e}", path.display())))?;
        tracing::info!(model, checkpoint = %path.display(), sha256 = %&sha256[..12], "student model loaded");
        Ok(Student { checkpoint: path.clone(), sha256, decoder: Arc::new(decoder) })
    }

    /// The checkpoint's sha256 (hex), as loaded.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// One reply per job, in order; `model` names the model in errors.
    pub async fn complete(
        &self,
        model: &str,
        jobs: &[&Job],
        sampling: &Sampling,
        limit: &Arc<Semaphore>,
        meter: &Meter,
    ) -> Vec<Result<Reply, ModelError>> {
        let max_new = sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize;
        let temperature = sampling.temperature.unwrap_or(0.0) as f32;
        let base = sampling.seed.unwrap_or(0);
        let prompts: Vec<String> = jobs.iter().map(|job| prompt_text(&job.messages)).collect();
        let mut texts: Vec<Vec<Option<String>>> = jobs.iter().map(|job| vec![None; job.samples as usize]).collect();
        let mut errors: Vec<Option<ModelError>> = vec![None; jobs.len()];
        let mut usage = vec![Usage::default(); jobs.len()];
        // Every (job, sample) pair has its own seed, so an answer depends on
        // its prompt, attempt and sample alone, never on its batch-mates.
        let pairs: Vec<(usize, usize, u64)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(i, job)| {
                let prompt = &prompts[i];
                let base = super::slot_seed(base, job.slot);
                (0..job.samples).map(move |s| (i, s as usize, sample_seed(base, job.attempt, s, prompt)))
            })
            .collect();
        let mut batches = Vec::new();
        for group in pairs.chunks(DECODE_BATCH) {
            let members: Vec<(usize, usize)> = group.iter().map(|&(i, s, _)| (i, s)).collect();
            let batch: Vec<String> = members.iter().map(|&(i, _)| prompts[i].clone()).collect();
            let seeds: Vec<u64> = group.iter().map(|&(_, _, seed)| seed).collect();
            let decoder = self.decoder.clone();
            let (model, checkpoint) = (model.to_string(), self.checkpoint.display().to_string());
            batches.push((members, move || {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                decoder.complete(&refs, max_new, temperature, &seeds).map_err(|message| ModelError::Student {
                    model,
                    checkpoint,
                    message,
                })
            }));
        }
        for (members, answers) in super::blocking::run_batches(model, meter, limit, batches).await {
            let answers = match answers {
                Ok(answers) => answers,
                Err(e) => {
                    for &(i, _) in &members {
                        errors[i] = Some(e.clone());
                    }
                    continue;
                }
            };
            for (&(i, s), answer) in members.iter().zip(answers) {
                let text = cut_at_stop(answer, &sampling.stop);
                let spent = Usage {
                    prompt_tokens: prompts[i].chars().count() as u64,
                    completion_tokens: text.chars().count() as u64,
                };
                meter.charge(spent);
                usage[i].add(spent);
                texts[i][s] = Some(text);
            }
        }
        texts
            .into_iter()
            .zip(errors)
            .zip(usage)
            .map(|((texts, error), usage)| {
                if let Some(e) = error {
                    return Err(e);
                }
                let texts: Option<Vec<String>> = texts.into_iter().collect();
                let texts = texts.ok_or_else(|| ModelError::Internal("the student left a sample unanswered".into()))?;
                let requests = texts.len() as u32;
                let samples = texts.into_iter().map(Sample::whole).collect();
                Ok(Reply { samples, usage, requests, ..Reply::default() })
            })
            .collect()
    }
}

/// The student on its device, with a CPU copy made if the GPU fails.
struct Decoder {
    main: Predictor,
    on_gpu: bool,
    gpu_failed: AtomicBool,
    cpu: OnceLock<Result<Predictor, String>>,
}

impl Decoder {
    fn new(compute: Compute, lm: CharLm) -> Result<Decoder, String> {
        let on_gpu = matches!(compute, Compute::Gpu(_));
        let main = match Predictor::new(&compute, lm.clone()) {
            Ok(p) => p,
            Err(e) if on_gpu => {
                tracing::warn!("cannot load the student on the GPU ({e}); it runs on the CPU");
                return Decoder::new(Compute::Cpu, lm);
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(Decoder { main, on_gpu, gpu_failed: AtomicBool::new(false), cpu: OnceLock::new() })
    }

    /// [`Predictor::complete`] on the device, or on the CPU once the GPU has failed.
    fn complete(
        &self,
        prompts: &[&str],
        max_new: usize,
        temperature: f32,
        seeds: &[u64],
    ) -> Result<Vec<String>, String> {
        if !self.gpu_failed.load(Ordering::Relaxed) {
            match self.main.complete(prompts, max_new, temperature, seeds) {
                Ok(texts) => return Ok(texts),
                Err(e) if self.on_gpu => {
                    tracing::warn!("the student failed on the GPU ({e}); it runs on the CPU from now on");
                    self.gpu_failed.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let cpu = self
            .cpu
            .get_or_init(|| Predictor::new(&Compute::Cpu, self.main.model().clone()).map_err(|e| e.to_string()));
        match cpu {
            Ok(p) => p.complete(prompts, max_new, temperature, seeds).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// The seed of one sample: a digest of the job's seed (the model's, mixed with
/// its slot), the attempt, the sample's index and the prompt.
fn sample_seed(base: u64, attempt: u32, sample: u32, prompt: &str) -> u64 {
    let mut hash = Sha256::new();
    hash.update(base.to_le_bytes());
    hash.update(attempt.to_le_bytes());
    hash.update(sample.to_le_bytes());
    hash.update(prompt.as_bytes());
    hash.finalize()[..8].iter().fold(0u64, |seed, &b| seed << 8 | u64::from(b))
}

/// The text a student continues: the last user message (or the last message).
fn prompt_text(messages: &[Message]) -> String {
    messages.iter().rev().find(|m| m.role == "user").or(messages.last()).map(|m| m.content.clone()).unwrap_or_default()
}

/// `text` up to the first occurrence of any `stop` sequence.
fn cut_at_stop(mut text: String, stop: &[String]) -> String {
    if let Some(end) = stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min() {
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }

    #[test]
    fn the_prompt_is_the_last_user_message() {
        let m = [message("system", "be careful"), message("user", "Question: 1 + 1?"), message("assistant", "2")];
        assert_eq!(prompt_text(&m), "Question: 1 + 1?");
        assert_eq!(prompt_text(&[message("system", "only this")]), "only this");
        assert_eq!(prompt_text(&[]), "");
    }

    #[test]
    fn completions_are_cut_at_the_first_stop_sequence() {
        let stop = vec!["\n\n".to_string(), "Answer".to_string(), String::new()];
        assert_eq!(cut_at_stop("Step 1: 2\nAnswer: 2\n\nmore".into(), &stop), "Step 1: 2\n");
        assert_eq!(cut_at_stop("a\n\nb Answer".into(), &stop), "a");
        assert_eq!(cut_at_stop("no stop".into(), &[]), "no stop");
    }

    #[tokio::test]
    async fn a_saved_student_answers_every_sample_and_counts_characters() {
        use kiln_kernels::student::{CharLmConfig, Vocab};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        let lm = CharLm::init(
            CharLmConfig { context: 4, embed: 3, hidden: vec![8] },
            Vocab::from_texts(["Question: 1 + 1?\nAnswer: 2"]),
            3,
        );
        lm.save(&path, &Default::default()).expect("save");
        let settings = StudentSettings::new(StudentSource::Checkpoint(path.clone()), path.clone());
        let student = Student::load("s", &settings).expect("loads");
        assert_eq!(student.sha256(), StudentSettings::digest(&path).expect("digest"));
        let job = |samples, attempt| Job { attempt, ..Job::new(vec![message("user", "Question: 1 + 1?")], samples) };
        let (a, b) = (job(3, 0), job(1, 1));
        let sampling = Sampling { temperature: Some(1.0), max_tokens: Some(5), seed: Some(7), ..Default::default() };
        let meter = Meter::new(None, Usage::default());
        let limit = Arc::new(Semaphore::new(2));
        let replies = student.complete("s", &[&a, &b], &sampling, &limit, &meter).await;
        let first = replies[0].as_ref().expect("answered");
        let texts: Vec<&str> = first.texts().collect();
        assert_eq!(texts.len(), 3);
        assert!(texts.iter().all(|t| t.chars().count() <= 5), "{texts:?}");
        let chars: u64 = texts.iter().map(|t| t.chars().count() as u64).sum();
        assert_eq!(first.usage, Usage { prompt_tokens: 3 * 16, completion_tokens: chars });
        assert_eq!(replies[1].as_ref().expect("answered").samples.len(), 1);
        // The same prompt, attempt and sample get the same answer.
        let again = student.complete("s", &[&a], &sampling, &limit, &meter).await;
        assert_eq!(again[0].as_ref().expect("answered").samples, first.samples);

        std::fs::write(&path, b"not a checkpoint").expect("overwrite");
        let e = Student::load("s", &settings).expect_err("corrupt");
        assert!(e.to_string().contains("corrupt") && e.to_string().contains("model.safetensors"), "{e}");
        let missing = StudentSettings::new(
            StudentSource::Stage { stage: "student".into(), seed: Some(1) },
            dir.path().join("nope/model.safetensors"),
        );
        let e = Student::load("s", &missing).expect_err("missing");
        assert!(e.to_string().contains("stage `student` has not trained seed 1"), "{e}");
    }
}
