//! Step 3, one job: every record's group, decided as one process would.
//!
//! The edges of every band, merged in order of the later position, give
//! each record that shares a key with an earlier one the positions first to
//! hold its keys. Its group is the earliest group among theirs (the group
//! of a position that is first of its group is its own), which is what the
//! streaming index decides, since positions are the one-process order and
//! groups are ordered by their first record. Memory holds one entry per
//! duplicate and per group with duplicates; records with no earlier key are
//! never held.
//!
//! Each task then gets `decisions-RANK.jsonl`: for each of its records that
//! joined a group, in order, its index, the id of the group's first record
//! (read from the owning task's `ids.jsonl`, in one pass per task, keeping
//! only the ids asked for) and the group's size once it joined.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::pairs::{Merged, PairReader};
use super::{DONE, StagedDirs, StagedError, io, position, split_position, write_file};
use crate::pipeline::stages::grouping::Joined;

/// One decision, as `decisions-RANK.jsonl` holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// The record's index in its task.
    pub record: u64,
    /// Its group.
    #[serde(flatten)]
    pub joined: Joined,
}

/// What the clustering found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterReport {
    /// Records that joined an earlier record's group.
    pub duplicates: u64,
    /// Groups with more than one record.
    pub groups: u64,
}

/// Where the clustering of a stage writes.
fn cluster_dir(dirs: &StagedDirs, stage: &str) -> PathBuf {
    dirs.global_dir(stage).join("cluster")
}

/// The decisions for task `rank`'s records.
pub fn decisions_path(dirs: &StagedDirs, stage: &str, rank: u32) -> PathBuf {
    cluster_dir(dirs, stage).join(format!("decisions-{rank:05}.jsonl"))
}

/// Clusters `stage`, whose keys come in `bands` bands.
pub fn cluster(dirs: &StagedDirs, stage: &str, bands: usize) -> Result<ClusterReport, StagedError> {
    let pending = dirs.bands_pending(stage, bands);
    if !pending.is_empty() {
        let shown: Vec<String> = pending.iter().map(u32::to_string).collect();
        return Err(StagedError::NotReady(format!(
            "band(s) {} of stage `{stage}` are not merged: run `kiln task band` for them first",
            shown.join(",")
        )));
    }
    let global = dirs.global_dir(stage);
    let readers = (0..bands as u32)
        .map(|b| PairReader::open(&super::bands::edges_path(&global, b), 8))
        .collect::<Result<Vec<_>, _>>()?;
    let mut merged = Merged::new(readers)?;
    let dir = cluster_dir(dirs, stage);
    crate::pipeline::workdir::remove_tree(&dir)?;
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let mut groups = Groups::default();
    let mut pending = Pending::new(&dir);
    // The record whose edges are being read, and the earliest group among them so far.
    let mut current: Option<(u64, u64)> = None;
    while let Some((later, first)) = merged.next_pair()? {
        let later = later as u64;
        if let Some((at, group)) = current
            && at != later
        {
            let size = groups.join(at, group);
            pending.push(at, group, size)?;
            current = None;
        }
        let candidate = groups.group_of(first);
        current = Some(match current {
            Some((at, group)) => (at, group.min(candidate)),
            None => (later, candidate),
        });
    }
    if let Some((at, group)) = current {
        let size = groups.join(at, group);
        pending.push(at, group, size)?;
    }
    let report = ClusterReport { duplicates: groups.of.len() as u64, groups: groups.size.len() as u64 };
    let groups: Vec<u64> = groups.size.into_keys().collect();
    let ranks = pending.finish()?;
    write_decisions(dirs, stage, &dir, ranks, groups)?;
    dirs.mark_done(&dir.join(DONE), report)?;
    Ok(report)
}

/// The groups decided so far: the group (its first position) of every
/// record that joined one, and each group's size.
#[derive(Default)]
struct Groups {
    of: HashMap<u64, u64>,
    size: HashMap<u64, u64>,
}

impl Groups {
    /// The group of the record at `at`, decided before (its own when it joined none).
    fn group_of(&self, at: u64) -> u64 {
        self.of.get(&at).copied().unwrap_or(at)
    }

    /// `at` joins `group`; returns the group's size with it.
    fn join(&mut self, at: u64, group: u64) -> u64 {
        self.of.insert(at, group);
        let n = self.size.entry(group).or_insert(1);
        *n += 1;
        *n
    }
}

/// Decisions by position of the group's first, before their ids are known:
/// one file per task, `index<TAB>first position<TAB>size` lines.
struct Pending {
    dir: PathBuf,
    open: Option<(u32, std::io::BufWriter<std::fs::File>)>,
    ranks: Vec<u32>,
}

impl Pending {
    fn new(dir: &Path) -> Pending {
        Pending { dir: dir.to_path_buf(), open: None, ranks: Vec::new() }
    }

    fn path(dir: &Path, rank: u32) -> PathBuf {
        dir.join(format!("positions-{rank:05}.tsv"))
    }

    fn push(&mut self, later: u64, group: u64, size: u64) -> Result<(), StagedError> {
        let (rank, index) = split_position(later);
        if self.open.as_ref().map(|(r, _)| *r) != Some(rank) {
            self.close()?;
            let path = Pending::path(&self.dir, rank);
            let file = std::fs::File::create(&path).map_err(io("cannot create", &path))?;
            self.open = Some((rank, std::io::BufWriter::with_capacity(1 << 20, file)));
            self.ranks.push(rank);
        }
        if let Some((rank, out)) = &mut self.open {
            let path = Pending::path(&self.dir, *rank);
            writeln!(out, "{index}\t{group}\t{size}").map_err(io("cannot write", &path))?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), StagedError> {
        if let Some((rank, out)) = self.open.take() {
            let path = Pending::path(&self.dir, rank);
            out.into_inner().map_err(|e| StagedError::Io { action: "cannot write", path, error: e.into_error() })?;
        }
        Ok(())
    }

    /// The ranks that have decisions.
    fn finish(mut self) -> Result<Vec<u32>, StagedError> {
        self.close()?;
        Ok(self.ranks)
    }
}

/// Resolves the groups' first ids and writes every task's decisions.
fn write_decisions(
    dirs: &StagedDirs,
    stage: &str,
    dir: &Path,
    ranks: Vec<u32>,
    groups: Vec<u64>,
) -> Result<(), StagedError> {
    let mut by_rank: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for g in groups {
        let (rank, index) = split_position(g);
        by_rank.entry(rank).or_default().push(index);
    }
    let mut ids: HashMap<u64, String> = HashMap::new();
    for (rank, mut wanted) in by_rank {
        wanted.sort_unstable();
        for (index, id) in super::keys::read_ids(&dirs.keys_dir(rank, stage), &wanted)? {
            ids.insert(position(rank, index), id);
        }
    }
    for rank in 0..dirs.world() {
        let mut out = Vec::new();
        if ranks.contains(&rank) {
            let path = Pending::path(dir, rank);
            let file = std::fs::File::open(&path).map_err(io("cannot open", &path))?;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(io("cannot read", &path))?;
                let corrupt = || StagedError::Corrupt { path: path.clone(), message: format!("bad line `{line}`") };
                let mut fields = line.split('\t').map(str::parse::<u64>);
                let (Some(Ok(record)), Some(Ok(group)), Some(Ok(size))) = (fields.next(), fields.next(), fields.next())
                else {
                    return Err(corrupt());
                };
                let first = ids.get(&group).cloned().ok_or_else(corrupt)?;
                let decision = Decision { record, joined: Joined { first, size } };
                serde_json::to_writer(&mut out, &decision)
                    .map_err(|e| StagedError::Corrupt { path: path.clone(), message: e.to_string() })?;
                out.push(b'\n');
            }
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        }
        write_file(&decisions_path(dirs, stage, rank), &out)?;
    }
    Ok(())
}

/// Task `rank`'s decisions for `stage`, read in record order as they are needed.
pub struct Decisions {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line: usize,
    next: Option<Decision>,
}

impl Decisions {
    /// Opens task `rank`'s decisions for `stage`.
    pub fn open(dirs: &StagedDirs, stage: &str, rank: u32) -> Result<Decisions, StagedError> {
        let path = decisions_path(dirs, stage, rank);
        let file = std::fs::File::open(&path).map_err(io("cannot open", &path))?;
        let mut decisions = Decisions { lines: std::io::BufReader::new(file).lines(), path, line: 0, next: None };
        decisions.advance()?;
        Ok(decisions)
    }

    fn advance(&mut self) -> Result<(), StagedError> {
        self.next = match self.lines.next() {
            None => None,
            Some(line) => {
                self.line += 1;
                let line = line.map_err(io("cannot read", &self.path))?;
                Some(serde_json::from_str(&line).map_err(|e| StagedError::Corrupt {
                    path: self.path.clone(),
                    message: format!("line {}: {e}", self.line),
                })?)
            }
        };
        Ok(())
    }

    /// The decision for record `record` (records are asked for in order;
    /// decisions of records before it are passed over), if it joined a group.
    pub fn take(&mut self, record: u64) -> Result<Option<Joined>, StagedError> {
        while self.next.as_ref().is_some_and(|d| d.record < record) {
            self.advance()?;
        }
        match self.next.take() {
            Some(d) if d.record == record => {
                self.advance()?;
                Ok(Some(d.joined))
            }
            other => {
                self.next = other;
                Ok(None)
            }
        }
    }
}
