//! Running a checked pipeline: a streaming, resumable executor on tokio.
//!
//! The input is cut into chunks of `chunk_size` lines. A reader task parses
//! chunks; one task per stage takes chunks in order and spreads each chunk's
//! batches over up to `concurrency` plugin instances on blocking threads; a
//! committer writes each finished chunk to the work directory and the
//! manifest. Tasks are joined by channels of capacity [`CHANNEL_CHUNKS`], so at
//! most a few chunks per stage are in memory whatever the input's size, and
//! output order is input order. Stateful stages (dedup) see chunks in order.
//! See [`workdir`](super::workdir) for how commits make resumption exactly-once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

use super::config::OutputFormat;
use super::dedup::Dedup;
use super::input::{InputError, InputItem, InputStream, count_lines};
use super::parquet_io::jsonl_to_parquet;
use super::progress::Progress;
use super::prompting::ModelStage;
use super::stats::{RunStats, StageStats};
use super::validate::{Pipeline, StageKind};
use super::workdir::{ChunkEntry, ChunkFile, Manifest, WorkDir, WorkDirError};
use crate::model::{Model, RequestCache, Usage};
use crate::plugin::PluginError;
use crate::record::Record;
use crate::run::{Outcome, Quarantined, Rejected, apply};

/// Chunks buffered between two stages.
pub const CHANNEL_CHUNKS: usize = 2;

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
    /// A stage with `on_error = "fail"` failed on a record.
    #[error(
        "stopping: {0} (the stage has on_error = \"fail\"; committed chunks are kept, so the run resumes from the last one)"
    )]
    StageFailed(String),
    /// The saved state of a stage is unreadable.
    #[error("cannot restore the state of stage `{stage}`: {message}; run with --fresh")]
    State {
        /// The stage.
        stage: String,
        /// Why.
        message: String,
    },
    /// A model cannot serve the run any more (a rejected key, a spent token
    /// budget): the run stops cleanly; committed chunks are kept.
    #[error("stopping: {0}")]
    Model(#[from] crate::model::ModelError),
    /// The request cache cannot be opened.
    #[error(transparent)]
    Cache(#[from] crate::model::CacheError),
    /// The async runtime failed.
    #[error("executor: {0}")]
    Runtime(String),
}

/// Options of one invocation.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Discard the work directory of an earlier run (but its request cache)
    /// instead of resuming it.
    pub fresh: bool,
    /// Neither read nor write the request cache.
    pub no_cache: bool,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Counts and timings.
    pub stats: RunStats,
    /// Where `kept.jsonl`, `rejected.jsonl`, `quarantine.jsonl`, `stats.json` and `report.html` are.
    pub output_dir: PathBuf,
}

/// One chunk on its way through the stages.
struct Chunk {
    entry: ChunkEntry,
    records: Vec<Record>,
    rejected: Vec<Rejected>,
    quarantined: Vec<Quarantined>,
    state: Vec<(String, String)>,
}

/// The digest that ties a work directory to one pipeline: its file, its
/// plugins' digests and its chunk size.
pub fn fingerprint(pipeline: &Pipeline) -> String {
    let mut h = Sha256::new();
    h.update(outcome_relevant_source(&pipeline.source).as_bytes());
    for model in pipeline.models.values() {
        if let crate::model::BackendSpec::Wasm(p) = &model.backend {
            h.update(p.info().sha256.as_bytes());
        }
    }
    for stage in &pipeline.stages {
        h.update(stage.name.as_bytes());
        if let Some(p) = &stage.plugin {
            h.update(p.info().sha256.as_bytes());
        }
        if let Some(super::builtin::Builtin::Decontaminate(d)) = &stage.builtin {
            h.update(d.digest().to_le_bytes());
        }
        if let Some(uses) = &stage.model_use {
            for seed in &uses.seeds {
                h.update(seed.id.as_bytes());
                h.update(seed.text.as_bytes());
            }
        }
    }
    h.update(pipeline.chunk_size.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The pipeline file without what cannot change a run's outcome, so that
/// editing it does not orphan the work directory: the models' `token_budget`
/// (raise it and resume after a budget stop).
fn outcome_relevant_source(source: &str) -> String {
    let Ok(mut table) = source.parse::<toml::Table>() else {
        return source.to_string();
    };
    if let Some(toml::Value::Table(models)) = table.get_mut("models") {
        for (_, model) in models.iter_mut() {
            if let toml::Value::Table(model) = model {
                model.remove("token_budget");
            }
        }
    }
    table.to_string()
}

/// Runs `pipeline` to completion (resuming an interrupted run unless `fresh`).
pub fn run(pipeline: Pipeline, options: &RunOptions) -> Result<RunSummary, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    runtime.block_on(run_async(Arc::new(pipeline), options.clone()))
}

async fn run_async(pipeline: Arc<Pipeline>, options: RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    if options.fresh {
        WorkDir::clear(&pipeline.work_dir)?;
    }
    let work = Arc::new(WorkDir::open(&pipeline.work_dir)?);
    check_writable(&pipeline.output_dir)?;
    let manifest = work.manifest(&fingerprint(&pipeline), pipeline.chunk_size)?;
    let resumed_chunks = manifest.chunks.len() as u64;
    if resumed_chunks > 0 && !manifest.finished {
        tracing::info!(chunks = resumed_chunks, lines = manifest.lines_done(), "resuming an interrupted run");
    }
    let manifest = if manifest.finished { manifest } else { process(&pipeline, &work, manifest, &options).await? };
    finish(&pipeline, &work, manifest, resumed_chunks, started.elapsed())
}

/// Fails before any work when the output directory cannot be written.
fn check_writable(dir: &std::path::Path) -> Result<(), RunError> {
    let probe = dir.join(".kiln-write-test");
    let io = |action, source| RunError::WorkDir(WorkDirError::Io { action, path: dir.to_path_buf(), error: source });
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create the output directory", e))?;
    std::fs::write(&probe, b"").map_err(|e| io("cannot write into the output directory", e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Processes every chunk not yet committed; returns the final manifest.
async fn process(
    pipeline: &Arc<Pipeline>,
    work: &Arc<WorkDir>,
    manifest: Manifest,
    options: &RunOptions,
) -> Result<Manifest, RunError> {
    let dedups = restore_state(pipeline, work, &manifest)?;
    let models = Arc::new(start_models(pipeline, work, &manifest, options)?);
    let (first_tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let reader = {
        let pipeline = pipeline.clone();
        let skip = manifest.lines_done();
        let next_index = manifest.chunks.len() as u64;
        tokio::task::spawn_blocking(move || read_chunks(&pipeline, skip, next_index, first_tx))
    };
    let mut stage_tasks = Vec::new();
    for (i, _) in pipeline.stages.iter().enumerate() {
        let (tx, next_rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let pipeline = pipeline.clone();
        let dedup = dedups[i].clone();
        let models = models.clone();
        let mut input = rx;
        stage_tasks.push(tokio::spawn(async move {
            let stage = &pipeline.stages[i];
            let semaphore = Arc::new(Semaphore::new(stage.concurrency));
            while let Some(chunk) = input.recv().await {
                let span = tracing::debug_span!("stage", stage = %stage.name, chunk = chunk.entry.index);
                let chunk = run_stage(&pipeline, i, chunk, &semaphore, &dedup, &models).instrument(span).await?;
                if tx.send(chunk).await.is_err() {
                    break; // the committer stopped; its error is reported
                }
            }
            Ok::<(), RunError>(())
        }));
        rx = next_rx;
    }
    let committer = {
        let work = work.clone();
        let stage_names: Vec<String> = pipeline.stages.iter().map(|s| s.name.clone()).collect();
        let total = std::io::IsTerminal::is_terminal(&std::io::stderr())
            .then(|| match generate_count(pipeline) {
                Some(count) => Some(count),
                None => count_lines(&pipeline.inputs),
            })
            .flatten();
        let progress = Progress::new(&stage_names, total, manifest.lines_done());
        tokio::task::spawn_blocking(move || commit_chunks(&work, manifest, rx, progress))
    };
    let joined =
        |r: Result<Result<(), RunError>, tokio::task::JoinError>| r.map_err(|e| RunError::Runtime(e.to_string()))?;
    // The first error in pipeline order is the cause; later ones are consequences.
    let read = joined(reader.await);
    let mut stages = Ok(());
    for task in stage_tasks {
        let r = joined(task.await);
        if stages.is_ok() {
            stages = r;
        }
    }
    let committed = committer.await.map_err(|e| RunError::Runtime(e.to_string()))?;
    read?;
    stages?;
    committed
}

/// Restores the state of every dedup stage from the committed chunks.
fn restore_state(pipeline: &Pipeline, work: &WorkDir, manifest: &Manifest) -> Result<Vec<Arc<Mutex<Dedup>>>, RunError> {
    let mut out = Vec::new();
    for stage in &pipeline.stages {
        let mut dedup = Dedup::new(stage.dedup.as_ref())
            .map_err(|message| RunError::State { stage: stage.name.clone(), message })?;
        if stage.kind == StageKind::Dedup {
            for chunk in &manifest.chunks {
                let path = work.chunk_path(chunk.index, &state_role(&stage.name));
                let saved = std::fs::read_to_string(&path).map_err(|e| RunError::State {
                    stage: stage.name.clone(),
                    message: format!("{}: {e}", path.display()),
                })?;
                dedup.restore(&saved).map_err(|message| RunError::State { stage: stage.name.clone(), message })?;
            }
        }
        out.push(Arc::new(Mutex::new(dedup)));
    }
    Ok(out)
}

/// Starts every model for this invocation, charging each with the tokens that
/// committed chunks already spent on it.
fn start_models(
    pipeline: &Pipeline,
    work: &WorkDir,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BTreeMap<String, Arc<Model>>, RunError> {
    let cache = if options.no_cache || pipeline.models.is_empty() {
        None
    } else {
        Some(Arc::new(RequestCache::open(&work.cache_dir())?))
    };
    let mut models = BTreeMap::new();
    for (name, spec) in &pipeline.models {
        let mut prior = Usage::default();
        for (i, stage) in pipeline.stages.iter().enumerate() {
            if stage.model_use.as_ref().and_then(|u| u.model.as_deref()) != Some(name.as_str()) {
                continue;
            }
            for chunk in &manifest.chunks {
                if let Some(s) = chunk.stages.get(i) {
                    let get = |k: &str| s.details.get(k).copied().unwrap_or(0).max(0) as u64;
                    prior.add(Usage {
                        prompt_tokens: get("prompt_tokens"),
                        completion_tokens: get("completion_tokens"),
                    });
                }
            }
        }
        models.insert(name.clone(), Arc::new(Model::start(spec.clone(), cache.clone(), prior)?));
    }
    Ok(models)
}

/// The prompts of a pipeline that starts with `generate`.
fn generate_count(pipeline: &Pipeline) -> Option<u64> {
    let first = pipeline.stages.first().filter(|s| s.kind == StageKind::Generate)?;
    first.model_use.as_ref().map(|u| u.count)
}

fn state_role(stage: &str) -> String {
    format!("state-{stage}")
}

/// Reads the input after the first `skip` lines into chunks.
fn read_chunks(pipeline: &Pipeline, skip: u64, mut index: u64, tx: mpsc::Sender<Chunk>) -> Result<(), RunError> {
    let mut source = Source::new(pipeline)?;
    source.skip_lines(skip)?;
    let mut first_line = skip;
    loop {
        let mut chunk = Chunk {
            entry: ChunkEntry {
                index,
                first_line,
                lines: 0,
                unreadable: 0,
                stages: Vec::new(),
                histograms: Default::default(),
            },
            records: Vec::new(),
            rejected: Vec::new(),
            quarantined: Vec::new(),
            state: Vec::new(),
        };
        while chunk.entry.lines < pipeline.chunk_size {
            match source.next_item()? {
                Some(InputItem::Record(r)) => {
                    chunk.entry.histograms.count_input(&r);
                    chunk.records.push(r);
                }
                Some(InputItem::Unreadable(q)) => {
                    chunk.entry.unreadable += 1;
                    chunk.quarantined.push(q);
                }
                None => break,
            }
            chunk.entry.lines += 1;
        }
        if chunk.entry.lines == 0 {
            return Ok(());
        }
        first_line += chunk.entry.lines;
        index += 1;
        let last = chunk.entry.lines < pipeline.chunk_size;
        if tx.blocking_send(chunk).is_err() || last {
            return Ok(());
        }
    }
}

/// Where records come from: input files, or the slots of a `generate` stage.
enum Source<'a> {
    Files(InputStream<'a>),
    Slots { stage: &'a str, next: u64, count: u64, width: usize },
}

impl<'a> Source<'a> {
    fn new(pipeline: &'a Pipeline) -> Result<Source<'a>, RunError> {
        Ok(match (generate_count(pipeline), pipeline.stages.first()) {
            (Some(count), Some(stage)) => {
                Source::Slots { stage: &stage.name, next: 0, count, width: count.saturating_sub(1).to_string().len() }
            }
            _ => Source::Files(InputStream::new(&pipeline.inputs)),
        })
    }

    fn skip_lines(&mut self, n: u64) -> Result<(), RunError> {
        match self {
            Source::Files(stream) => Ok(stream.skip_lines(n)?),
            Source::Slots { next, count, .. } => {
                *next = n.min(*count);
                Ok(())
            }
        }
    }

    fn next_item(&mut self) -> Result<Option<InputItem>, RunError> {
        match self {
            Source::Files(stream) => Ok(stream.next_item()?),
            Source::Slots { stage, next, count, width } => {
                if *next >= *count {
                    return Ok(None);
                }
                *next += 1;
                Ok(Some(InputItem::Record(super::generate::slot(stage, *next - 1, *width))))
            }
        }
    }
}

/// Runs one stage over one chunk.
async fn run_stage(
    pipeline: &Pipeline,
    index: usize,
    mut chunk: Chunk,
    semaphore: &Arc<Semaphore>,
    dedup: &Arc<Mutex<Dedup>>,
    models: &BTreeMap<String, Arc<Model>>,
) -> Result<Chunk, RunError> {
    let stage = &pipeline.stages[index];
    let started = Instant::now();
    let mut details = std::collections::BTreeMap::new();
    let records = std::mem::take(&mut chunk.records);
    let records_in = records.len() as u64;
    let outcomes: Vec<Outcome> = match (&stage.plugin, stage.kind) {
        (Some(plugin), StageKind::Filter | StageKind::Map) => {
            let mut handles = Vec::new();
            let mut records = records.into_iter();
            loop {
                let batch: Vec<Record> = records.by_ref().take(stage.batch_size).collect();
                if batch.is_empty() {
                    break;
                }
                let permit = semaphore.clone().acquire_owned().await.map_err(|e| RunError::Runtime(e.to_string()))?;
                let plugin = plugin.clone();
                handles.push(tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    apply(&plugin, batch)
                }));
            }
            let mut outcomes = Vec::new();
            for handle in handles {
                outcomes.extend(handle.await.map_err(|e| RunError::Runtime(e.to_string()))??);
            }
            outcomes
        }
        (_, StageKind::Dedup) => {
            let dedup = dedup.clone();
            let name = stage.name.clone();
            let (outcomes, added, found) = tokio::task::spawn_blocking(move || {
                dedup.lock().unwrap_or_else(PoisonError::into_inner).apply(&name, records)
            })
            .await
            .map_err(|e| RunError::Runtime(e.to_string()))?;
            chunk.state.push((state_role(&stage.name), added));
            details = found;
            outcomes
        }
        (_, StageKind::Threshold | StageKind::Sample | StageKind::Decontaminate) => {
            // Stateless built-ins: no plugin, no state.
            let Some(builtin) = stage.builtin.clone() else {
                return Err(RunError::Runtime(format!("stage `{}` has no configuration", stage.name)));
            };
            let name = stage.name.clone();
            let (outcomes, found) = tokio::task::spawn_blocking(move || builtin.apply(&name, records))
                .await
                .map_err(|e| RunError::Runtime(e.to_string()))?;
            details = found;
            outcomes
        }
        (Some(plugin), kind @ (StageKind::Generate | StageKind::Critique | StageKind::Refine)) => {
            let Some(uses) = &stage.model_use else {
                return Err(RunError::Runtime(format!("stage `{}` has no model settings", stage.name)));
            };
            let cx = ModelStage {
                stage,
                plugin,
                uses,
                model: uses.model.as_ref().and_then(|m| models.get(m)).cloned(),
                semaphore,
                seed: pipeline.seed,
            };
            let output = match kind {
                StageKind::Generate => super::generate::run(&cx, records).await?,
                StageKind::Critique => super::critique::run(&cx, records).await?,
                _ => super::refine::run(&cx, records).await?,
            };
            details = output.details;
            output.outcomes
        }
        (
            None,
            kind @ (StageKind::Filter | StageKind::Map | StageKind::Generate | StageKind::Critique | StageKind::Refine),
        ) => {
            return Err(RunError::Runtime(format!("stage `{}` of kind {kind:?} has no plugin", stage.name)));
        }
    };
    // Plugin stages record their step (`stage=plugin@version…`) themselves.
    let builtin_step = match stage.kind {
        StageKind::Filter | StageKind::Map | StageKind::Generate | StageKind::Critique | StageKind::Refine => None,
        kind => Some(format!("{}=builtin:{}", stage.name, format!("{kind:?}").to_lowercase())),
    };
    let mut stats = StageStats { input: records_in, ..StageStats::new(&stage.name) };
    for outcome in outcomes {
        stats.count(&outcome);
        match outcome {
            Outcome::Kept(mut r) => {
                if let Some(step) = &builtin_step {
                    r.lineage.steps.push(step.clone());
                }
                chunk.records.push(r)
            }
            Outcome::Rejected(r) => chunk.rejected.push(r),
            Outcome::Quarantined(q) if stage.on_error == super::config::OnError::Fail => {
                return Err(RunError::StageFailed(q.describe()));
            }
            Outcome::Quarantined(q) => chunk.quarantined.push(q),
        }
    }
    // A generate stage turns one slot into one or more records.
    stats.generated = stats.extra_outcomes();
    stats.seconds = started.elapsed().as_secs_f64();
    stats.details = details;
    chunk.entry.stages.push(stats);
    Ok(chunk)
}

fn jsonl<T: serde::Serialize>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        // Records are plain data: serialisation cannot fail.
        if serde_json::to_writer(&mut out, item).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// Commits chunks as they arrive, in order, and reports progress.
fn commit_chunks(
    work: &WorkDir,
    mut manifest: Manifest,
    mut rx: mpsc::Receiver<Chunk>,
    mut progress: Progress,
) -> Result<Manifest, RunError> {
    while let Some(mut chunk) = rx.blocking_recv() {
        let index = chunk.entry.index;
        for r in &chunk.records {
            chunk.entry.histograms.count_kept(r);
        }
        let _span = tracing::debug_span!("commit", chunk = index).entered();
        work.write_chunk_file(index, ChunkFile::Kept.name(), &jsonl(&chunk.records))?;
        work.write_chunk_file(index, ChunkFile::Rejected.name(), &jsonl(&chunk.rejected))?;
        work.write_chunk_file(index, ChunkFile::Quarantine.name(), &jsonl(&chunk.quarantined))?;
        for (role, content) in &chunk.state {
            work.write_chunk_file(index, role, content.as_bytes())?;
        }
        progress.chunk_committed(&chunk.entry);
        manifest.chunks.push(chunk.entry);
        work.save_manifest(&manifest)?;
    }
    progress.finish();
    Ok(manifest)
}

/// Assembles the outputs and `stats.json`, and marks the run finished.
/// Records in the diversity sample of the kept output.
const DIVERSITY_SAMPLE: u64 = 2000;

/// The texts of an evenly spaced sample of the kept records.
fn sample_kept(work: &WorkDir, manifest: &Manifest, kept: u64) -> Result<Vec<String>, RunError> {
    let every = kept.div_ceil(DIVERSITY_SAMPLE).max(1);
    let mut seen = 0u64;
    let mut texts = Vec::new();
    for chunk in &manifest.chunks {
        let path = work.chunk_path(chunk.index, ChunkFile::Kept.name());
        let data = std::fs::read_to_string(&path).map_err(|error| {
            RunError::WorkDir(WorkDirError::Io { action: "cannot read", path: path.clone(), error })
        })?;
        for line in data.lines() {
            if seen.is_multiple_of(every)
                && let Ok(r) = serde_json::from_str::<Record>(line)
            {
                texts.push(r.text);
            }
            seen += 1;
        }
    }
    Ok(texts)
}

fn finish(
    pipeline: &Pipeline,
    work: &WorkDir,
    mut manifest: Manifest,
    resumed_chunks: u64,
    elapsed: Duration,
) -> Result<RunSummary, RunError> {
    let out = &pipeline.output_dir;
    for role in ChunkFile::ALL {
        let jsonl = out.join(format!("{}.jsonl", role.name()));
        match pipeline.output_format {
            OutputFormat::Jsonl => {
                work.assemble(&manifest, role.name(), &jsonl)?;
            }
            OutputFormat::Parquet => {
                let assembled = pipeline.work_dir.join(format!("assembled-{}.jsonl", role.name()));
                work.assemble(&manifest, role.name(), &assembled)?;
                let target = out.join(format!("{}.parquet", role.name()));
                let tmp = out.join(format!("{}.parquet.tmp", role.name()));
                jsonl_to_parquet(&assembled, &tmp)
                    .map_err(|e| RunError::Runtime(format!("writing {}: {e}", target.display())))?;
                std::fs::rename(&tmp, &target).map_err(|error| {
                    RunError::WorkDir(WorkDirError::Io { action: "cannot rename into", path: target.clone(), error })
                })?;
            }
        }
    }
    let mut stats = RunStats { pipeline: pipeline.name.clone(), ..Default::default() };
    stats.stages = pipeline.stages.iter().map(|s| StageStats::new(&s.name)).collect();
    for chunk in &manifest.chunks {
        stats.input_lines += chunk.lines;
        stats.unreadable += chunk.unreadable;
        for (total, s) in stats.stages.iter_mut().zip(&chunk.stages) {
            total.add(s);
        }
        stats.histograms.add(&chunk.histograms);
    }
    stats.rejected = stats.stages.iter().map(StageStats::rejected_total).sum();
    stats.generated = stats.stages.iter().map(|s| s.generated).sum();
    stats.quarantined = stats.unreadable + stats.stages.iter().map(|s| s.quarantined).sum::<u64>();
    stats.kept = stats.stages.last().map_or(stats.input_lines - stats.unreadable, |s| s.kept);
    stats.chunks = manifest.chunks.len() as u64;
    stats.resumed_chunks = resumed_chunks;
    stats.seconds = elapsed.as_secs_f64();
    stats.diversity = super::stats::Diversity::measure(&sample_kept(work, &manifest, stats.kept)?);
    let bytes = serde_json::to_vec_pretty(&stats).map_err(|e| RunError::Runtime(e.to_string()))?;
    super::workdir::write_atomic(&out.join("stats.json"), &bytes)?;
    let html = super::report::render(&stats).map_err(|e| RunError::Runtime(format!("cannot draw the report: {e}")))?;
    super::workdir::write_atomic(&out.join("report.html"), html.as_bytes())?;
    if !manifest.finished {
        manifest.finished = true;
        work.save_manifest(&manifest)?;
    }
    Ok(RunSummary { stats, output_dir: out.clone() })
}
