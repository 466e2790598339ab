//! Step 2, one job per band: the first position holding each key.
//!
//! Every task's sorted keys of the band are merged (k-way: one entry per
//! task in memory). Within a run of equal keys the first position is the
//! record one process would have seen first; every later position gets an
//! edge `later → first`. The edges, sorted by the later position, are what
//! the clustering reads; a band's memory is its edges (duplicates), never
//! its keys.

use std::path::{Path, PathBuf};

use super::pairs::{Merged, PairReader, PairWriter};
use super::{StagedDirs, StagedError};

/// The edges of band `band` under a stage's global directory.
pub fn edges_path(dir: &Path, band: u32) -> PathBuf {
    dir.join(format!("band-{band:03}.edges"))
}

/// The marker of a merged band.
pub fn done_path(dir: &Path, band: u32) -> PathBuf {
    dir.join(format!("band-{band:03}.done"))
}

/// What merging a band found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BandReport {
    /// Keys read (one per record of every task).
    pub keys: u64,
    /// Positions whose key an earlier position holds.
    pub edges: u64,
}

/// Merges band `band` of `stage` (keys of `key_bytes`) across every task.
pub fn merge_band(dirs: &StagedDirs, stage: &str, key_bytes: usize, band: u32) -> Result<BandReport, StagedError> {
    let mut readers = Vec::new();
    for rank in 0..dirs.world() {
        if !dirs.keys_done(rank, stage) {
            return Err(StagedError::NotReady(format!(
                "task {rank} of {} has not written its keys for stage `{stage}`: run the tasks first",
                dirs.world()
            )));
        }
        readers.push(PairReader::open(&super::keys::band_path(&dirs.keys_dir(rank, stage), band), key_bytes)?);
    }
    let mut merged = Merged::new(readers)?;
    let mut edges: Vec<(u64, u64)> = Vec::new();
    let mut current: Option<(u128, u64)> = None;
    let mut keys = 0u64;
    while let Some((key, at)) = merged.next_pair()? {
        keys += 1;
        match current {
            Some((k, first)) if k == key => edges.push((at, first)),
            _ => current = Some((key, at)),
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let dir = dirs.global_dir(stage);
    std::fs::create_dir_all(&dir).map_err(super::io("cannot create", &dir))?;
    let mut writer = PairWriter::create(&edges_path(&dir, band), 8)?;
    for &(later, first) in &edges {
        writer.push(u128::from(later), first)?;
    }
    writer.finish()?;
    let report = BandReport { keys, edges: edges.len() as u64 };
    dirs.mark_done(&done_path(&dir, band), report)?;
    Ok(report)
}
