//! Tasks: one run split into `world` independent tasks, each owning a
//! contiguous shard of the input.
//!
//! The inputs, read as one stream (or the slots of a `generate` stage), are
//! cut into the chunks a one-process run would commit (`chunk_size` items
//! each); task `rank` of `world` owns chunks `[chunks·rank/world,
//! chunks·(rank+1)/world)`. Contiguous, chunk-aligned shards, rather than
//! whole files dealt round-robin as datatrove does, keep two promises: the
//! tasks' outputs concatenated in rank order are the one-process run's
//! outputs byte for byte (within a chunk, rejected records are grouped by
//! stage, so the chunks themselves must be the same), and one huge file is
//! spread over every task instead of restarting from scratch in one. Each task is an ordinary run in its own work
//! directory (`<work_dir>/tasks/<rank>-of-<world>/`), so it commits chunk by
//! chunk and an interrupted task resumes from its last committed chunk; its
//! fingerprint includes the split, so a work directory of another split is
//! never resumed.
//!
//! Stages that need every record of the corpus — dedup, training,
//! evaluation — run as staged steps between the tasks' phases
//! ([`super::staged`]).

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::pipeline::input::{FileCount, Input, InputError, InputStream};
use crate::pipeline::workdir::{WorkDirError, write_shared};

/// Task `rank` of `world`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This task, from 0.
    pub rank: u32,
    /// How many tasks.
    pub world: u32,
}

impl Shard {
    /// Task `rank` of `world`, if `rank < world`.
    pub fn new(rank: u32, world: u32) -> Result<Shard, String> {
        if world == 0 {
            return Err("--world must be at least 1".into());
        }
        if rank >= world {
            return Err(format!("--rank {rank} is not below --world {world} (ranks count from 0)"));
        }
        Ok(Shard { rank, world })
    }

    /// The items of a stream of `total`, in chunks of `chunk_size`, this task owns.
    pub fn range(&self, total: u64, chunk_size: u64) -> Range<u64> {
        let chunk_size = chunk_size.max(1);
        let chunks = total.div_ceil(chunk_size);
        let at = |rank: u32| {
            let chunk = (u128::from(chunks) * u128::from(rank) / u128::from(self.world)) as u64;
            chunk.saturating_mul(chunk_size).min(total)
        };
        at(self.rank)..at(self.rank + 1)
    }

    /// `00002-of-00004`: its directory's name.
    pub fn label(&self) -> String {
        format!("{:05}-of-{:05}", self.rank, self.world)
    }

    /// The task's work directory under the run's `work_dir`.
    pub fn work_dir(&self, work_dir: &Path) -> PathBuf {
        tasks_dir(work_dir).join(self.label())
    }
}

/// Where a run's tasks keep their work directories.
pub fn tasks_dir(work_dir: &Path) -> PathBuf {
    work_dir.join(crate::pipeline::workdir::TASKS_DIR)
}

/// The file a finished task writes last (after its `stats.json`): a task
/// that has it is not run again.
pub const DONE_MARKER: &str = "done";

/// The file in a run's tasks directory holding its inputs' item counts.
const INPUT_COUNTS: &str = "input-counts.json";

/// Why the inputs' counts cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum CountsError {
    /// An input could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The counts could not be kept.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
    /// The inputs are not those the run's tasks were counted over.
    #[error(
        "the inputs changed since this split run counted them ({}): a file or object was added, removed or \
         rewritten. Start the split run over (`kiln launch … --fresh`), or put the inputs back",
        path.display()
    )]
    Changed {
        /// The kept counts.
        path: PathBuf,
    },
}

/// Forgets the inputs' kept counts (a split run started over counts again).
pub fn forget_input_counts(tasks: &Path) -> Result<(), WorkDirError> {
    crate::pipeline::workdir::remove_tree(&tasks.join(INPUT_COUNTS))
}

/// The items of each input file (objects included), in stream order: what
/// a task needs to know where its shard starts and to pass over the files
/// before it without reading them.
///
/// Counting reads every input once; the first task to count keeps the
/// counts in `tasks` (the run's tasks directory, shared by the tasks), keyed
/// by the inputs' identity (each file's path, size and modification time,
/// each object's URL, size and entity tag as its listing saw them), and
/// every other task reads them. Two tasks
/// counting at once both write the same counts (each through a temporary
/// file of its own, renamed into place). The launchers count before they
/// start any task, so that the tasks only read.
pub fn input_counts(inputs: &[Input], tasks: &Path) -> Result<Vec<FileCount>, CountsError> {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Kept {
        key: String,
        counts: Vec<FileCount>,
    }
    let key = inputs_key(inputs)?;
    let path = tasks.join(INPUT_COUNTS);
    if let Some(kept) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Kept>(&b).ok()) {
        if kept.key == key {
            return Ok(kept.counts);
        }
        // Counting again would give this task other shards than the tasks
        // that read the kept counts: records lost or decided twice.
        return Err(CountsError::Changed { path });
    }
    let counts = InputStream::count_per_file(inputs)?;
    let bytes = serde_json::to_vec(&Kept { key, counts: counts.clone() }).unwrap_or_default();
    // Tasks counting at once each write through a temporary file of their own.
    write_shared(&path, &bytes)?;
    Ok(counts)
}

/// The identity of `inputs`: what, changed, makes their counts stale.
fn inputs_key(inputs: &[Input]) -> Result<String, InputError> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for input in inputs {
        for file in &input.files {
            let meta = std::fs::metadata(file).map_err(|error| InputError { path: file.clone(), error })?;
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            hash.update(format!("{}\0{}\0{:?}\n", file.display(), meta.len(), modified).as_bytes());
        }
        for url in &input.objects {
            // The version the listing or HEAD that found it saw: no request more.
            let version = url.current_version().map_err(|e| InputError::object(url, e))?;
            hash.update(format!("{url}\0{version}\n").as_bytes());
        }
    }
    Ok(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_chunk_aligned_cover_everything_once_and_differ_by_at_most_one_chunk() {
        for world in 1..=9u32 {
            for chunk in [1u64, 7, 500] {
                for total in [0u64, 1, 2, 7, 100, 101, 1_000_003] {
                    let ranges: Vec<Range<u64>> =
                        (0..world).map(|r| Shard::new(r, world).expect("shard").range(total, chunk)).collect();
                    assert_eq!(ranges[0].start, 0);
                    assert_eq!(ranges[ranges.len() - 1].end, total);
                    for pair in ranges.windows(2) {
                        assert_eq!(pair[0].end, pair[1].start, "contiguous");
                        assert!(pair[0].end % chunk == 0 || pair[0].end == total, "chunk-aligned");
                    }
                    let sizes: Vec<u64> = ranges.iter().map(|r| r.end - r.start).collect();
                    let (lo, hi) = (sizes.iter().min().copied(), sizes.iter().max().copied());
                    assert!(
                        hi.zip(lo).is_some_and(|(h, l)| h - l <= chunk),
                        "{world} tasks of {total} in chunks of {chunk}: {sizes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_rank_outside_the_world_is_refused() {
        assert!(Shard::new(4, 4).expect_err("rank 4 of 4").contains("ranks count from 0"));
        assert!(Shard::new(0, 0).is_err());
        assert_eq!(Shard::new(2, 4).expect("ok").label(), "00002-of-00004");
    }
}
