//! Step 1, per task: the keys of the records that reached a grouping stage.
//!
//! The task reads its previous phase's kept records chunk by chunk, asks the
//! stage for their keys, and appends `(key, position)` to one unsorted file
//! per band and the records' ids (a JSON string per line, in position
//! order) to `ids.jsonl`. Then each band alone is read, sorted and written
//! as `band-BBB.keys`: memory holds one band of one task, never the corpus.
//! `done` (the record count, as JSON) comes last; an interrupted step starts
//! over.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use super::pairs::PairWriter;
use super::{DONE, StagedDirs, StagedError, io, position};
use crate::pipeline::stages::grouping::Grouping;
use crate::pipeline::workdir::{ChunkFile, Manifest, WorkDir};
use crate::record::Record;

/// The sorted keys of band `band` in a task's keys directory.
pub fn band_path(dir: &Path, band: u32) -> PathBuf {
    dir.join(format!("band-{band:03}.keys"))
}

/// The ids of a task's records, in position order.
pub fn ids_path(dir: &Path) -> PathBuf {
    dir.join("ids.jsonl")
}

/// Writes task `rank`'s keys for `stage` into `dir` from the kept records
/// of the phase in `work` (`manifest`); returns how many records it keyed.
pub fn write_keys(
    dirs: &StagedDirs,
    stage: &str,
    grouping: &dyn Grouping,
    work: &WorkDir,
    manifest: &Manifest,
    rank: u32,
) -> Result<u64, StagedError> {
    let dir = &dirs.keys_dir(rank, stage);
    crate::pipeline::workdir::remove_tree(dir)?;
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let bands = grouping.bands();
    let key_bytes = grouping.key_bytes();
    let unsorted: Vec<PathBuf> = (0..bands as u32).map(|b| dir.join(format!("band-{b:03}.unsorted"))).collect();
    let mut writers =
        unsorted.iter().map(|p| PairWriter::create(p, key_bytes)).collect::<Result<Vec<PairWriter>, _>>()?;
    let ids_tmp = dir.join("ids.jsonl.tmp");
    let mut ids = std::io::BufWriter::new(std::fs::File::create(&ids_tmp).map_err(io("cannot create", &ids_tmp))?);
    let mut local = 0u64;
    for chunk in &manifest.chunks {
        let path = work.chunk_path(chunk.index, ChunkFile::Kept.name());
        let text = work.read_chunk_file(chunk.index, ChunkFile::Kept.name())?;
        let records = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str::<Record>(line)
                    .map_err(|e| StagedError::Corrupt { path: path.clone(), message: format!("line {}: {e}", i + 1) })
            })
            .collect::<Result<Vec<Record>, _>>()?;
        let keys =
            grouping.keys(&records).map_err(|message| StagedError::Keys { stage: stage.to_string(), message })?;
        for (record, keys) in records.iter().zip(keys) {
            let at = position(rank, local);
            for (writer, key) in writers.iter_mut().zip(keys) {
                writer.push(key, at)?;
            }
            let id = serde_json::to_string(&record.id)
                .map_err(|e| StagedError::Corrupt { path: path.clone(), message: e.to_string() })?;
            writeln!(ids, "{id}").map_err(io("cannot write", &ids_tmp))?;
            local += 1;
        }
    }
    for writer in writers {
        writer.finish()?;
    }
    let file = ids.into_inner().map_err(|e| StagedError::Io {
        action: "cannot write",
        path: ids_tmp.clone(),
        error: e.into_error(),
    })?;
    file.sync_all().map_err(io("cannot sync", &ids_tmp))?;
    std::fs::rename(&ids_tmp, ids_path(dir)).map_err(io("cannot rename", &ids_tmp))?;
    for (band, path) in unsorted.iter().enumerate() {
        sort_band(path, &band_path(dir, band as u32), key_bytes)?;
    }
    dirs.mark_done(&dir.join(DONE), serde_json::json!({ "records": local }))?;
    Ok(local)
}

/// Sorts one band's entries by key, then position.
fn sort_band(unsorted: &Path, sorted: &Path, key_bytes: usize) -> Result<(), StagedError> {
    let mut bytes = Vec::new();
    std::fs::File::open(unsorted).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io("cannot read", unsorted))?;
    let size = key_bytes + 8;
    let mut entries: Vec<(u128, u64)> = bytes
        .chunks_exact(size)
        .map(|e| {
            let mut key = [0u8; 16];
            key[..key_bytes].copy_from_slice(&e[..key_bytes]);
            let mut at = [0u8; 8];
            at.copy_from_slice(&e[key_bytes..]);
            (u128::from_le_bytes(key), u64::from_le_bytes(at))
        })
        .collect();
    drop(bytes);
    entries.sort_unstable();
    let mut writer = PairWriter::create(sorted, key_bytes)?;
    for (key, at) in entries {
        writer.push(key, at)?;
    }
    writer.finish()?;
    std::fs::remove_file(unsorted).map_err(io("cannot remove", unsorted))
}

/// Reads the ids of task records by index from `ids.jsonl`, for the indices
/// in `wanted` (sorted): one pass, holding only the ids asked for.
pub fn read_ids(dir: &Path, wanted: &[u64]) -> Result<Vec<(u64, String)>, StagedError> {
    let path = ids_path(dir);
    let file = std::fs::File::open(&path).map_err(io("cannot open", &path))?;
    let mut out = Vec::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    for (i, line) in std::io::BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let Some(&&want) = next.peek() else { break };
        if i as u64 != want {
            continue;
        }
        let line = line.map_err(io("cannot read", &path))?;
        let id: String = serde_json::from_str(&line)
            .map_err(|e| StagedError::Corrupt { path: path.clone(), message: format!("line {}: {e}", i + 1) })?;
        out.push((want, id));
        next.next();
    }
    if out.len() != wanted.len() {
        return Err(StagedError::Corrupt { path, message: "has fewer ids than the keys name".into() });
    }
    Ok(out)
}
