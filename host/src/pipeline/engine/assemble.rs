//! Assembling a run's outputs and `stats.json` from committed chunks.
//!
//! A run's outputs are made only of what its work directories committed:
//! kept records from the last phase, rejected and quarantined ones from every
//! phase, in chunk order. A phase may come in several *parts* — the shards of
//! the tasks of a run split over processes or machines (`kiln task`), taken in
//! rank order — and since every task owns a contiguous shard of the input,
//! parts in rank order are chunks in input order: the assembled outputs are
//! byte for byte those of one process, and the counts add up the same way.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::run_error::RunError;
use crate::pipeline::build::Pipeline;
use crate::pipeline::config::OutputFormat;
use crate::pipeline::input::parquet::jsonl_to_parquet;
use crate::pipeline::report::counts::StageStats;
use crate::pipeline::report::quarantine::{QuarantineGroup, QuarantineSummary};
use crate::pipeline::report::stats::RunStats;
use crate::pipeline::workdir::{ChunkFile, Manifest, WorkDir, WorkDirError};
use crate::record::Record;

/// The committed chunks of one phase: one part per task, in rank order (a
/// run in one process has one part).
pub struct PhaseParts {
    /// Each part's work directory and manifest.
    pub parts: Vec<(Arc<WorkDir>, Manifest)>,
    /// The stages the phase ran.
    pub stages: Range<usize>,
    /// Whether its chunks continue the previous phase's one for one (a split
    /// run's phase after a staged dedup, see
    /// [`staged`](super::staged)): its chunks are the same chunks, not more.
    pub continues: bool,
}

impl PhaseParts {
    fn chunks(&self) -> impl Iterator<Item = (&WorkDir, &crate::pipeline::workdir::ChunkEntry)> {
        self.parts.iter().flat_map(|(work, manifest)| manifest.chunks.iter().map(move |c| (work.as_ref(), c)))
    }
}

/// Every phase's chunks in the order their rejected and quarantined records
/// go out: phase by phase, except that a phase continuing the one before is
/// interleaved with it chunk by chunk (part by part), so each chunk's records
/// come stage by stage as in one process.
fn ordered_chunks(phases: &[PhaseParts]) -> Vec<(&WorkDir, u64)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < phases.len() {
        let end = k + 1 + phases[k + 1..].iter().take_while(|p| p.continues).count();
        let group = &phases[k..end];
        for (part, (work, manifest)) in group[0].parts.iter().enumerate() {
            for (i, chunk) in manifest.chunks.iter().enumerate() {
                out.push((work.as_ref(), chunk.index));
                for later in &group[1..] {
                    if let Some((w, c)) = later.parts.get(part).and_then(|(w, m)| Some((w, m.chunks.get(i)?))) {
                        out.push((w.as_ref(), c.index));
                    }
                }
            }
        }
        k = end;
    }
    out
}

/// Whether to write the record outputs or only `stats.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// `kept`, `rejected` and `quarantine` files, `stats.json` and `report.html`.
    Write,
    /// Only `stats.json`: a task's records stay in its work directory until
    /// the tasks are merged (copying them twice would double the disk a
    /// cluster run needs).
    StatsOnly,
}

/// Records in the diversity sample of the kept output.
const DIVERSITY_SAMPLE: u64 = 2000;

/// Writes the outputs of `phases` into the pipeline's output directory and
/// returns the run's statistics.
pub fn assemble(
    pipeline: &Pipeline,
    phases: &[PhaseParts],
    reports: Vec<crate::pipeline::stages::JobReport>,
    resumed_chunks: u64,
    elapsed: Duration,
    records: Records,
) -> Result<RunStats, RunError> {
    let out = &pipeline.output_dir;
    let Some(last) = phases.len().checked_sub(1) else {
        return Err(RunError::Runtime("a pipeline has at least one phase".into()));
    };
    let ordered = ordered_chunks(phases);
    if records == Records::Write {
        let kept: Vec<(&WorkDir, u64)> = phases[last].chunks().map(|(w, c)| (w, c.index)).collect();
        for role in ChunkFile::ALL {
            // Kept records are the last phase's; the others are every phase's.
            write_output(pipeline, if role == ChunkFile::Kept { &kept } else { &ordered }, role)?;
        }
    }
    let mut stats = RunStats { pipeline: pipeline.name.clone(), ..Default::default() };
    stats.stages =
        pipeline.stages.iter().map(|s| StageStats { barrier: s.is_barrier(), ..StageStats::new(&s.name) }).collect();
    for (k, phase) in phases.iter().enumerate() {
        for (_, chunk) in phase.chunks() {
            if k == 0 {
                stats.input_lines += chunk.lines;
            }
            stats.unreadable += chunk.unreadable;
            for (total, s) in stats.stages[phase.stages.clone()].iter_mut().zip(&chunk.stages) {
                total.add(s);
            }
            let mut histograms = chunk.histograms.clone();
            if k != last {
                histograms.kept_lengths.clear();
                histograms.scores.clear();
            }
            stats.histograms.add(&histograms);
        }
    }
    stats.jobs = reports;
    stats.rejected = stats.stages.iter().map(StageStats::rejected_total).sum();
    stats.generated = stats.stages.iter().map(|s| s.generated).sum();
    stats.quarantined = stats.unreadable + stats.stages.iter().map(|s| s.quarantined).sum::<u64>();
    stats.kept = stats.stages.last().map_or(stats.input_lines - stats.unreadable, |s| s.kept);
    stats.chunks = phases.iter().filter(|p| !p.continues).map(|p| p.chunks().count() as u64).sum();
    stats.resumed_chunks = resumed_chunks;
    stats.seconds = elapsed.as_secs_f64();
    stats.quarantine = summarise_quarantine(&ordered)?;
    stats.diversity = crate::pipeline::report::diversity::Diversity::measure(&sample_kept(&phases[last], stats.kept)?);
    let bytes = serde_json::to_vec_pretty(&stats).map_err(|e| RunError::Runtime(e.to_string()))?;
    crate::pipeline::workdir::write_atomic(&out.join("stats.json"), &bytes)?;
    if records == Records::Write {
        let html = crate::pipeline::report::html::render(&stats)
            .map_err(|e| RunError::Runtime(format!("cannot draw the report: {e}")))?;
        crate::pipeline::workdir::write_atomic(&out.join("report.html"), html.as_bytes())?;
    }
    Ok(stats)
}

/// Writes one output file (`kept`, `rejected` or `quarantine`) from `parts`.
fn write_output(pipeline: &Pipeline, chunks: &[(&WorkDir, u64)], role: ChunkFile) -> Result<(), RunError> {
    let out = &pipeline.output_dir;
    let jsonl = out.join(format!("{}.jsonl", role.name()));
    match pipeline.output_format {
        OutputFormat::Jsonl => {
            WorkDir::assemble_chunks(chunks, role.name(), &jsonl)?;
        }
        OutputFormat::Parquet => {
            let assembled = pipeline.work_dir.join(format!("assembled-{}.jsonl", role.name()));
            WorkDir::assemble_chunks(chunks, role.name(), &assembled)?;
            let target = out.join(format!("{}.parquet", role.name()));
            let tmp = out.join(format!("{}.parquet.tmp", role.name()));
            jsonl_to_parquet(&assembled, &tmp)
                .map_err(|e| RunError::Runtime(format!("writing {}: {e}", target.display())))?;
            std::fs::rename(&tmp, &target).map_err(|error| {
                RunError::WorkDir(WorkDirError::Io { action: "cannot rename into", path: target.clone(), error })
            })?;
        }
    }
    Ok(())
}

/// The texts of an evenly spaced sample of the kept records.
fn sample_kept(phase: &PhaseParts, kept: u64) -> Result<Vec<String>, RunError> {
    let every = kept.div_ceil(DIVERSITY_SAMPLE).max(1);
    let mut seen = 0u64;
    let mut texts = Vec::new();
    for (work, chunk) in phase.chunks() {
        let data = work.read_chunk_file(chunk.index, ChunkFile::Kept.name())?;
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

/// Every phase's quarantined records, grouped for the report.
fn summarise_quarantine(chunks: &[(&WorkDir, u64)]) -> Result<Vec<QuarantineGroup>, RunError> {
    let mut summary = QuarantineSummary::default();
    for (work, index) in chunks {
        let data = work.read_chunk_file(*index, ChunkFile::Quarantine.name())?;
        data.lines().filter(|l| !l.trim().is_empty()).for_each(|l| summary.add_line(l));
    }
    Ok(summary.groups())
}
