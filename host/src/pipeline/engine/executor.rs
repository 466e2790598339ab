//! Running a checked pipeline: a streaming, resumable executor on tokio.
//!
//! The input is cut into chunks of `chunk_size` lines. A reader task parses
//! chunks; one task per stage takes chunks in order and spreads each chunk's
//! batches over up to `concurrency` plugin instances on blocking threads; a
//! committer writes each finished chunk to the work directory and the
//! manifest. Tasks are joined by channels of capacity [`CHANNEL_CHUNKS`], so at
//! most a few chunks per stage are in memory whatever the input's size, and
//! output order is input order. Stateful stages (dedup) see chunks in order.
//! See [`workdir`](crate::pipeline::workdir) for how commits make resumption exactly-once.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::Instrument;

use super::assemble::{PhaseParts, Records};
use super::fingerprint::fingerprint;
pub use super::run_error::RunError;
use super::shard::Shard;
use crate::model::{Model, Usage};
use crate::outcome::{Outcome, Quarantined, Rejected};
use crate::pipeline::build::Pipeline;
use crate::pipeline::input::{InputItem, InputStream, count_lines};
use crate::pipeline::report::counts::{Details, StageStats};
use crate::pipeline::report::progress::{PhaseProgress, ProgressSink, Terminal, WatchedModel};
use crate::pipeline::report::stats::RunStats;
use crate::pipeline::stages::{PhaseCx, PreparedStage, state_role};
use crate::pipeline::workdir::{ChunkEntry, ChunkFile, FinishedPhase, Manifest, WorkDir, WorkDirError, phase_dir};
use crate::record::Record;

/// Chunks buffered between two stages.
pub const CHANNEL_CHUNKS: usize = 2;

/// Options of one invocation.
#[derive(Clone)]
pub struct RunOptions {
    /// Discard the work directory of an earlier run (but its request cache)
    /// instead of resuming it.
    pub fresh: bool,
    /// Neither read nor write the request cache.
    pub no_cache: bool,
    /// Where progress goes (by default: bars on a terminal, log lines otherwise).
    pub progress: Arc<dyn ProgressSink>,
    /// Set to stop the run between chunks ([`RunError::Cancelled`]).
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Run only this task's shard of the input ([`super::shard`]): the
    /// pipeline's work and output directories are then the task's own, and
    /// the output is `stats.json` alone (the records stay in the work
    /// directory for the merge).
    pub shard: Option<Shard>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { fresh: false, no_cache: false, progress: Arc::new(Terminal), cancel: Arc::default(), shard: None }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("fresh", &self.fresh)
            .field("no_cache", &self.no_cache)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Counts and timings.
    pub stats: RunStats,
    /// Where `kept.jsonl`, `rejected.jsonl`, `quarantine.jsonl`, `stats.json` and `report.html` are.
    pub output_dir: PathBuf,
    /// The object-storage prefix they were published to, if any.
    pub published: Option<crate::objects::ObjectUrl>,
}

/// One chunk on its way through the stages.
struct Chunk {
    entry: ChunkEntry,
    records: Vec<Record>,
    rejected: Vec<Rejected>,
    quarantined: Vec<Quarantined>,
    state: Vec<(String, String)>,
}

impl Chunk {
    /// Chunk `index`, starting at line `first_line`, with nothing in it yet.
    fn empty(index: u64, first_line: u64) -> Chunk {
        Chunk {
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
        }
    }
}

/// Runs `pipeline` to completion (resuming an interrupted run unless `fresh`).
pub fn execute(pipeline: Pipeline, options: &RunOptions) -> Result<RunSummary, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Runtime(e.to_string()))?;
    runtime.block_on(run_async(Arc::new(pipeline), options.clone()))
}

async fn run_async(pipeline: Arc<Pipeline>, options: RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    // Held until the run ends: a second run on this work directory is refused.
    let _lock = WorkDir::claim(&pipeline.work_dir, &pipeline.owner())?;
    if options.fresh {
        WorkDir::clear(&pipeline.work_dir)?;
    }
    check_writable(&pipeline.output_dir)?;
    let base = fingerprint(&pipeline);
    // Another split's work directory is never resumed.
    let fingerprint = match options.shard {
        Some(shard) => format!("{base}/task-{}", shard.label()),
        None => base.clone(),
    };
    // In a task of a split run: where the staged steps of the run keep their files.
    let staged = options.shard.map(|shard| {
        let tasks = super::shard::tasks_dir(run_work_dir(&pipeline, options.shard));
        (shard, super::staged::StagedDirs::new(&tasks, shard.world, &base))
    });
    let phases = super::staged::task_phases(&pipeline, options.shard.is_some());
    let mut done: Vec<FinishedPhase> = Vec::new();
    // What the barrier jobs reported, in phase order.
    let mut reports = Vec::new();
    let mut resumed_chunks = 0;
    for (k, task_phase) in phases.iter().enumerate() {
        let stages = task_phase.stages.clone();
        let work = Arc::new(WorkDir::open(&phase_dir(&pipeline.work_dir, k))?);
        let manifest = work.manifest(&fingerprint, pipeline.chunk_size)?;
        resumed_chunks += manifest.chunks.len() as u64;
        if !manifest.chunks.is_empty() && !manifest.finished {
            tracing::info!(
                phase = k,
                chunks = manifest.chunks.len(),
                lines = manifest.lines_done(),
                "resuming an interrupted run"
            );
        }
        let (source, first) = match done.last() {
            None => (PhaseInput::Pipeline, None),
            Some(previous) if task_phase.continues => {
                let first = match &staged {
                    Some(_) if manifest.finished => None,
                    Some((shard, dirs)) => {
                        Some(decided_stage(&pipeline, stages.start, previous, &manifest, *shard, dirs).await?)
                    }
                    None => {
                        let stage = &pipeline.stages[stages.start].name;
                        return Err(RunError::Runtime(format!(
                            "stage `{stage}` continues a phase outside a split run"
                        )));
                    }
                };
                (PhaseInput::Continues { work: previous.work.clone(), manifest: previous.manifest.clone() }, first)
            }
            Some(previous) => match &staged {
                // In a split run, what the barrier's phase kept in every
                // task, cut again on the one-process chunk grid.
                Some((shard, dirs)) => {
                    let parts = dirs.every_task_phase(k - 1, pipeline.chunk_size)?;
                    (PhaseInput::Resharded { parts, shard: *shard }, None)
                }
                None => (PhaseInput::Kept { work: previous.work.clone(), manifest: previous.manifest.clone() }, None),
            },
        };
        let mut manifest = if manifest.finished {
            manifest
        } else {
            process(&pipeline, stages.clone(), &work, manifest, &options, source, first).await?
        };
        let last = k + 1 == phases.len();
        if !last && !manifest.finished {
            manifest.finished = true;
            work.save_manifest(&manifest)?;
        }
        let barrier = task_phase.barrier(&pipeline).map(|s| s.name.clone());
        let phase = FinishedPhase { work, manifest, other_parts: Vec::new(), stages, barrier };
        if let Some(stage) = &phase.barrier {
            let job = match &staged {
                None => {
                    let (p, finished, earlier) = (pipeline.clone(), phase.clone(), done.clone());
                    let no_cache = options.no_cache;
                    tokio::task::spawn_blocking(move || super::jobs::run(&p, &finished, &earlier, no_cache))
                        .await
                        .map_err(|e| RunError::Runtime(e.to_string()))??
                }
                // A split run's job runs once, over every task's records (`kiln task job`).
                Some((shard, dirs)) => {
                    if !dirs.keys_done(shard.rank, stage) {
                        dirs.mark_reached(shard.rank, stage)?;
                    }
                    match dirs.job_report(stage) {
                        Some(report) => report,
                        None => return Err(RunError::AwaitingGlobal { stage: stage.clone(), step: "job" }),
                    }
                }
            };
            reports.push(job);
        }
        done.push(phase);
    }
    let continues: Vec<bool> = phases.iter().map(|p| p.continues).collect();
    let records = if options.shard.is_some() { Records::StatsOnly } else { Records::Write };
    finish(&pipeline, done, &continues, reports, resumed_chunks, started.elapsed(), records)
}

/// Where a phase's records come from.
enum PhaseInput {
    /// The pipeline's inputs, or its `generate` stage.
    Pipeline,
    /// The records the previous phase kept, in new chunks.
    Kept { work: Arc<WorkDir>, manifest: Manifest },
    /// The records the previous phase kept, chunk for chunk (a split run's
    /// phase that starts with a grouping stage, see [`super::staged`]).
    Continues { work: Arc<WorkDir>, manifest: Manifest },
    /// In a split run after a barrier: the records every task's previous
    /// phase kept, in rank order, of which this task owns its shard.
    Resharded { parts: Vec<(Arc<WorkDir>, Manifest)>, shard: Shard },
}

/// The run's work directory: a task's is `<run work dir>/tasks/<label>`.
fn run_work_dir(pipeline: &Pipeline, shard: Option<Shard>) -> &std::path::Path {
    match shard {
        Some(_) => pipeline.work_dir.parent().and_then(std::path::Path::parent).unwrap_or(&pipeline.work_dir),
        None => &pipeline.work_dir,
    }
}

/// In a task of a split run, the grouping stage `index` that starts a phase,
/// its groups decided by the staged steps: the task writes its keys from the
/// `previous` phase's records if it has not yet, and waits
/// ([`RunError::AwaitingGlobal`]) while the clustering has not run.
async fn decided_stage(
    pipeline: &Arc<Pipeline>,
    index: usize,
    previous: &FinishedPhase,
    manifest: &Manifest,
    shard: Shard,
    dirs: &super::staged::StagedDirs,
) -> Result<Arc<dyn PreparedStage>, RunError> {
    let stage = &pipeline.stages[index];
    if !dirs.keys_done(shard.rank, &stage.name) {
        let (p, work, kept, d) = (pipeline.clone(), previous.work.clone(), previous.manifest.clone(), dirs.clone());
        tokio::task::spawn_blocking(move || {
            let stage = &p.stages[index];
            let grouping =
                stage.op.grouping().ok_or_else(|| RunError::Runtime(format!("`{}` does not group", stage.name)))?;
            let records = super::staged::keys::write_keys(&d, &stage.name, grouping, &work, &kept, shard.rank)?;
            tracing::info!(stage = %stage.name, records, "wrote the keys of this task's records");
            Ok::<(), RunError>(())
        })
        .await
        .map_err(|e| RunError::Runtime(e.to_string()))??;
    }
    if !dirs.cluster_done(&stage.name) {
        return Err(RunError::AwaitingGlobal { stage: stage.name.clone(), step: "band merges and clustering" });
    }
    let decisions = super::staged::cluster::Decisions::open(dirs, &stage.name, shard.rank)?;
    let next = manifest.chunks.iter().filter_map(|c| c.stages.first()).map(|s| s.input).sum();
    Ok(Arc::new(super::staged::decided::Decided::new(&stage.name, stage.op.clone(), decisions, next)))
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
    range: Range<usize>,
    work: &Arc<WorkDir>,
    manifest: Manifest,
    options: &RunOptions,
    input: PhaseInput,
    mut first: Option<Arc<dyn PreparedStage>>,
) -> Result<Manifest, RunError> {
    let models = start_models(pipeline, &range, &manifest, options)?;
    let mut prepared = Vec::new();
    for index in range.clone() {
        // A grouping stage whose groups the staged steps decided.
        if index == range.start
            && let Some(decided) = first.take()
        {
            prepared.push(decided);
            continue;
        }
        let cx = PhaseCx {
            stage: &pipeline.stages[index],
            seed: pipeline.seed,
            // What barrier jobs trained is the run's, not a task's.
            work_dir: run_work_dir(pipeline, options.shard),
            work,
            manifest: &manifest,
            models: &models,
        };
        prepared.push(pipeline.stages[index].op.prepare(&cx)?);
    }
    // A later phase reads the records its predecessor kept.
    let total = match &input {
        PhaseInput::Pipeline => None,
        PhaseInput::Kept { manifest, .. } | PhaseInput::Continues { manifest, .. } => {
            Some(manifest.chunks.iter().map(ChunkEntry::kept).sum::<u64>())
        }
        PhaseInput::Resharded { .. } => None,
    };
    let (first_tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let reader = {
        let pipeline = pipeline.clone();
        let skip = manifest.lines_done();
        let next_index = manifest.chunks.len() as u64;
        let cancel = options.cancel.clone();
        let shard = options.shard;
        tokio::task::spawn_blocking(move || {
            read_chunks(&pipeline, input, Position { skip, index: next_index, shard }, first_tx, &cancel)
        })
    };
    let mut stage_tasks = Vec::new();
    for (i, op) in range.clone().zip(prepared) {
        let (tx, next_rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
        let pipeline = pipeline.clone();
        let mut input = rx;
        stage_tasks.push(tokio::spawn(async move {
            let stage = &pipeline.stages[i];
            while let Some(chunk) = input.recv().await {
                let span = tracing::debug_span!("stage", stage = %stage.name, chunk = chunk.entry.index);
                let chunk = run_stage(&pipeline, i, op.as_ref(), chunk).instrument(span).await?;
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
        let stage_names: Vec<String> = pipeline.stages[range.clone()].iter().map(|s| s.name.clone()).collect();
        let total = options
            .progress
            .wants_total()
            .then(|| match (total, generate_count(pipeline)) {
                (Some(kept), _) => Some(kept),
                // A task's share is not worth a second pass over every input.
                _ if options.shard.is_some() => None,
                (None, Some(count)) if range.start == 0 => Some(count),
                _ => count_lines(&pipeline.inputs),
            })
            .flatten();
        let mut progress = options.progress.phase(&stage_names, total, manifest.lines_done());
        progress.watch(
            models
                .iter()
                .filter(|(_, m)| m.is_remote())
                .map(|(name, m)| WatchedModel { name: name.clone(), activity: m.activity().clone() })
                .collect(),
        );
        let cancel = options.cancel.clone();
        tokio::task::spawn_blocking(move || commit_chunks(&work, manifest, rx, progress, &cancel))
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

/// Starts every model for this invocation, charging each with the tokens that
/// committed chunks already spent on it.
fn start_models(
    pipeline: &Pipeline,
    range: &Range<usize>,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BTreeMap<String, Arc<Model>>, RunError> {
    let used = |name: &str| {
        pipeline.stages[range.clone()].iter().any(|s| s.op.model_use().and_then(|u| u.model.as_deref()) == Some(name))
    };
    let cache = super::request_cache(pipeline, options.no_cache || !pipeline.models.keys().any(|m| used(m)))?;
    let mut models = BTreeMap::new();
    for (name, spec) in pipeline.models.iter().filter(|(name, _)| used(name)) {
        let mut prior = Usage::default();
        for (i, stage) in pipeline.stages.iter().enumerate().filter(|(i, _)| range.contains(i)) {
            if stage.op.model_use().and_then(|u| u.model.as_deref()) != Some(name.as_str()) {
                continue;
            }
            for chunk in &manifest.chunks {
                if let Some(s) = chunk.stages.get(i - range.start) {
                    prior.add(s.details.calls.usage());
                }
            }
        }
        models.insert(name.clone(), Arc::new(Model::start(spec.clone(), cache.clone(), prior)?));
    }
    Ok(models)
}

/// The prompts of a pipeline that starts with `generate`.
fn generate_count(pipeline: &Pipeline) -> Option<u64> {
    pipeline.stages.first()?.op.slots()
}

/// Where a phase's reader starts.
struct Position {
    /// Items its committed chunks hold.
    skip: u64,
    /// The index of its next chunk.
    index: u64,
    /// The task's shard of the pipeline's input, in a split run.
    shard: Option<Shard>,
}

/// Reads the input after the first `skip` lines (of the task's shard) into chunks.
fn read_chunks(
    pipeline: &Pipeline,
    input: PhaseInput,
    at: Position,
    tx: mpsc::Sender<Chunk>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<(), RunError> {
    // A generating pipeline's inputs are empty slots: their lengths say nothing.
    let counts_input = matches!(input, PhaseInput::Pipeline) && generate_count(pipeline).is_none();
    let (mut source, owned) = match input {
        PhaseInput::Pipeline => {
            let (owned, counts) = match (at.shard, generate_count(pipeline)) {
                (None, _) => (0..u64::MAX, None),
                (Some(shard), Some(slots)) => (shard.range(slots, pipeline.chunk_size), None),
                (Some(shard), None) => {
                    let tasks = super::shard::tasks_dir(run_work_dir(pipeline, Some(shard)));
                    let counts = super::shard::input_counts(&pipeline.inputs, &tasks).map_err(|e| match e {
                        super::shard::CountsError::Input(e) => RunError::Input(e),
                        super::shard::CountsError::WorkDir(e) => RunError::WorkDir(e),
                        changed @ super::shard::CountsError::Changed { .. } => RunError::Runtime(changed.to_string()),
                    })?;
                    (shard.range(counts.iter().map(|c| c.items).sum(), pipeline.chunk_size), Some(counts))
                }
            };
            (Source::new(pipeline, counts)?, owned)
        }
        PhaseInput::Kept { work, manifest } => (Source::Kept(KeptRecords::new(vec![(work, manifest)])), 0..u64::MAX),
        PhaseInput::Resharded { parts, shard } => {
            let kept = KeptRecords::new(parts);
            let owned = shard.range(kept.total(), pipeline.chunk_size);
            (Source::Kept(kept), owned)
        }
        PhaseInput::Continues { work, manifest } => return read_continued(&work, &manifest, at, &tx, cancel),
    };
    // Lines are counted from the shard's start: the manifest is the task's own.
    source.skip_lines(owned.start.saturating_add(at.skip))?;
    let mut left = (owned.end - owned.start).saturating_sub(at.skip);
    let mut first_line = at.skip;
    let mut index = at.index;
    loop {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        let mut chunk = Chunk::empty(index, first_line);
        while chunk.entry.lines < pipeline.chunk_size && left > 0 {
            left -= 1;
            match source.next_item()? {
                Some(InputItem::Record(r)) => {
                    if counts_input {
                        chunk.entry.histograms.count_input(&r);
                    }
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
        let last = chunk.entry.lines < pipeline.chunk_size || left == 0;
        if tx.blocking_send(chunk).is_err() || last {
            return Ok(());
        }
    }
}

/// Reads the kept records of the previous phase's chunks after the first
/// `at.index`, one chunk for each of its chunks (an empty one included), so
/// the phase's chunks are the previous phase's, continued.
fn read_continued(
    work: &Arc<WorkDir>,
    manifest: &Manifest,
    at: Position,
    tx: &mpsc::Sender<Chunk>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<(), RunError> {
    let mut first_line = at.skip;
    for (index, previous) in manifest.chunks.iter().enumerate().skip(at.index as usize) {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        let mut kept = KeptRecords {
            chunks: [(work.clone(), previous.index, previous.kept())].into(),
            lines: Vec::new().into_iter(),
            file: String::new(),
            line: 0,
        };
        let mut chunk = Chunk::empty(index as u64, first_line);
        while let Some(item) = kept.next_item()? {
            match item {
                InputItem::Record(r) => chunk.records.push(r),
                InputItem::Unreadable(q) => {
                    chunk.entry.unreadable += 1;
                    chunk.quarantined.push(q);
                }
            }
            chunk.entry.lines += 1;
        }
        first_line += chunk.entry.lines;
        if tx.blocking_send(chunk).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Where records come from: input files, the slots of a `generate` stage,
/// or the records the previous phase kept.
enum Source<'a> {
    Files(InputStream<'a>),
    Slots { stage: &'a str, next: u64, count: u64, width: usize },
    Kept(KeptRecords),
}

/// The kept records of a finished phase (of one or more tasks), read back
/// chunk by chunk.
struct KeptRecords {
    /// The chunks left: work directory, chunk index, records kept.
    chunks: std::collections::VecDeque<(Arc<WorkDir>, u64, u64)>,
    lines: std::vec::IntoIter<String>,
    file: String,
    line: usize,
}

impl KeptRecords {
    fn new(parts: Vec<(Arc<WorkDir>, Manifest)>) -> KeptRecords {
        let chunks = parts
            .iter()
            .flat_map(|(work, manifest)| manifest.chunks.iter().map(move |c| (work.clone(), c.index, c.kept())))
            .collect();
        KeptRecords { chunks, lines: Vec::new().into_iter(), file: String::new(), line: 0 }
    }

    /// Records in the chunks not yet read.
    fn total(&self) -> u64 {
        self.chunks.iter().map(|c| c.2).sum()
    }

    /// Skips `n` records, whole chunks without reading them.
    fn skip(&mut self, mut n: u64) -> Result<(), RunError> {
        while n > 0 && self.lines.len() == 0 {
            match self.chunks.front() {
                Some(&(_, _, kept)) if kept <= n => {
                    n -= kept;
                    self.chunks.pop_front();
                }
                _ => break,
            }
        }
        for _ in 0..n {
            if self.next_item()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn next_item(&mut self) -> Result<Option<InputItem>, RunError> {
        loop {
            if let Some(line) = self.lines.next() {
                self.line += 1;
                return Ok(Some(match serde_json::from_str::<Record>(&line) {
                    Ok(r) => InputItem::Record(r),
                    Err(e) => {
                        let error = crate::record::LineError {
                            source_name: self.file.clone(),
                            line: self.line,
                            message: e.to_string(),
                        };
                        InputItem::Unreadable(Quarantined::unreadable(&error, &line))
                    }
                }));
            }
            let Some((work, index, _)) = self.chunks.pop_front() else {
                return Ok(None);
            };
            let text = work.read_chunk_file(index, ChunkFile::Kept.name())?;
            self.lines = text.lines().map(str::to_string).collect::<Vec<_>>().into_iter();
            self.file = work.chunk_path(index, ChunkFile::Kept.name()).display().to_string();
            self.line = 0;
        }
    }
}

impl<'a> Source<'a> {
    /// The pipeline's items: its generating stage's slots, or its inputs
    /// (whose files hold `counts` items each, when known).
    fn new(
        pipeline: &'a Pipeline,
        counts: Option<Vec<crate::pipeline::input::FileCount>>,
    ) -> Result<Source<'a>, RunError> {
        Ok(match (generate_count(pipeline), pipeline.stages.first()) {
            (Some(count), Some(stage)) => {
                Source::Slots { stage: &stage.name, next: 0, count, width: count.saturating_sub(1).to_string().len() }
            }
            _ => Source::Files(match counts {
                Some(counts) => InputStream::with_counts(&pipeline.inputs, counts),
                None => InputStream::new(&pipeline.inputs),
            }),
        })
    }

    fn skip_lines(&mut self, n: u64) -> Result<(), RunError> {
        match self {
            Source::Files(stream) => Ok(stream.skip_lines(n)?),
            Source::Slots { next, count, .. } => {
                *next = n.min(*count);
                Ok(())
            }
            Source::Kept(kept) => kept.skip(n),
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
                Ok(Some(InputItem::Record(crate::pipeline::stages::generate::slot(stage, *next - 1, *width))))
            }
            Source::Kept(kept) => kept.next_item(),
        }
    }
}

/// Runs one stage over one chunk.
async fn run_stage(
    pipeline: &Pipeline,
    index: usize,
    op: &dyn PreparedStage,
    mut chunk: Chunk,
) -> Result<Chunk, RunError> {
    let stage = &pipeline.stages[index];
    let started = Instant::now();
    let records = std::mem::take(&mut chunk.records);
    let records_in = records.len() as u64;
    let output = op.apply(records).await?;
    if let Some(state) = output.state {
        chunk.state.push((state_role(&stage.name), state));
    }
    // Plugin stages record their step (`stage=plugin@version…`) themselves.
    let builtin_step = stage.op.lineage_step(&stage.name);
    let mut stats = StageStats { input: records_in, ..StageStats::new(&stage.name) };
    for outcome in output.outcomes {
        stats.count(&outcome);
        match outcome {
            Outcome::Kept(mut r) => {
                if let Some(step) = &builtin_step {
                    r.lineage.steps.push(step.clone());
                }
                chunk.records.push(r)
            }
            Outcome::Rejected(r) => chunk.rejected.push(r),
            Outcome::Quarantined(q) if stage.on_error == crate::pipeline::config::OnError::Fail => {
                return Err(RunError::StageFailed(q.describe()));
            }
            Outcome::Quarantined(q) => chunk.quarantined.push(q),
        }
    }
    // A generate stage turns one slot into one or more records.
    stats.generated = stats.extra_outcomes();
    stats.seconds = started.elapsed().as_secs_f64();
    stats.details = Details { calls: output.calls, counters: output.details };
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
///
/// Once the run is cancelled no further chunk is committed, even one already
/// processed: a cancel asked for at a chunk's commit (a spent quota in
/// `kiln serve`) takes effect right after that chunk. A model's answers for a
/// discarded chunk stay in the request cache, so resuming pays for none twice.
fn commit_chunks(
    work: &WorkDir,
    mut manifest: Manifest,
    mut rx: mpsc::Receiver<Chunk>,
    mut progress: Box<dyn PhaseProgress>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Manifest, RunError> {
    while let Some(mut chunk) = rx.blocking_recv() {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
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

/// Assembles the outputs and `stats.json` from the phases (see
/// [`assemble`](super::assemble)), and marks the run finished.
fn finish(
    pipeline: &Pipeline,
    mut phases: Vec<FinishedPhase>,
    continues: &[bool],
    reports: Vec<crate::pipeline::stages::JobReport>,
    resumed_chunks: u64,
    elapsed: Duration,
    records: super::assemble::Records,
) -> Result<RunSummary, RunError> {
    let parts: Vec<PhaseParts> = phases
        .iter()
        .zip(continues)
        .map(|(p, &continues)| PhaseParts {
            parts: vec![(p.work.clone(), p.manifest.clone())],
            stages: p.stages.clone(),
            continues,
        })
        .collect();
    let stats = super::assemble::assemble(pipeline, &parts, reports, resumed_chunks, elapsed, records)?;
    if let Some(phase) = phases.last_mut()
        && !phase.manifest.finished
    {
        phase.manifest.finished = true;
        phase.work.save_manifest(&phase.manifest)?;
    }
    Ok(RunSummary { stats, output_dir: pipeline.output_dir.clone(), published: None })
}
