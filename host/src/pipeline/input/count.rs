//! Counting the inputs' items once per split run (`kiln::pipeline::engine::shard`
//! keeps the counts): items per file, and for uncompressed JSONL files the
//! byte offset of every [`MARK_EVERY`]-th line, so that a task whose shard
//! starts inside a file seeks there instead of reading the file from its
//! start — the last task of a thousand over one huge file would otherwise
//! read almost all of it before its first item.

use serde::{Deserialize, Serialize};

use super::{Current, Input, InputError, InputStream, ParquetRows};
use crate::pipeline::config::InputFormat;

/// Files counted at once by [`InputStream::count_per_file`].
pub const COUNTING_THREADS: usize = 8;

/// Lines between two marks (a 1 TB file of 1 kB lines keeps 244k marks).
pub const MARK_EVERY: u64 = 4096;

/// Where item `item` (a line, from 0) of a file starts: `byte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The item.
    pub item: u64,
    /// Its first byte's offset in the file.
    pub byte: u64,
}

/// A file's items, and the marks to start reading it part-way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileCount {
    /// Items (lines or rows).
    pub items: u64,
    /// Every [`MARK_EVERY`]-th line's start, in order (uncompressed JSONL files only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
}

impl FileCount {
    /// The last mark at or after the start and not after item `n`.
    pub fn mark_before(&self, n: u64) -> Option<Mark> {
        let at = self.marks.partition_point(|m| m.item <= n);
        at.checked_sub(1).map(|i| self.marks[i])
    }
}

/// Whether a file so named is read as it is stored (not decompressed), so
/// that a line's byte offset in the file is where reading can start.
pub(super) fn markable(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !name.ends_with(".gz") && !name.ends_with(".zst")
}

impl InputStream<'_> {
    /// The items of every file (objects included) of `inputs`, in stream
    /// order, counted without parsing them: up to [`COUNTING_THREADS`] files
    /// at once (counting is bound by reading, which a parallel file system
    /// or object storage serves faster to several readers).
    pub fn count_per_file(inputs: &[Input]) -> Result<Vec<FileCount>, InputError> {
        let files: Vec<(usize, usize)> = inputs
            .iter()
            .enumerate()
            .flat_map(|(i, input)| (0..input.files.len() + input.objects.len()).map(move |f| (i, f)))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, COUNTING_THREADS);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let counted: Vec<std::sync::Mutex<Option<Result<FileCount, InputError>>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads.min(files.len()) {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(input, file)) = files.get(k) else { break };
                        let count = count_file(inputs, input, file);
                        if let Ok(mut slot) = counted[k].lock() {
                            *slot = Some(count);
                        }
                    }
                });
            }
        });
        counted
            .into_iter()
            .map(|slot| {
                slot.into_inner().ok().flatten().unwrap_or_else(|| {
                    Err(InputError {
                        path: std::path::PathBuf::from("(inputs)"),
                        error: std::io::Error::other("a count was lost"),
                    })
                })
            })
            .collect()
    }
}

/// The items of file `file` of input `input`: a Parquet file's or object's
/// rows from its footer, a JSONL file's or object's lines by reading it
/// (with its marks, for an uncompressed file).
fn count_file(inputs: &[Input], input: usize, file: usize) -> Result<FileCount, InputError> {
    let Some(this) = inputs.get(input) else { return Ok(FileCount::default()) };
    if this.format == InputFormat::Parquet {
        let items = match this.files.get(file) {
            Some(path) => ParquetRows::file_rows(path)?,
            None => match this.objects.get(file - this.files.len()) {
                Some(url) => ParquetRows::object_rows(url).map_err(|e| InputError::object(url, e))?,
                None => 0,
            },
        };
        return Ok(FileCount { items, marks: Vec::new() });
    }
    let markable = this.files.get(file).is_some_and(|path| markable(&path.to_string_lossy()));
    let mut stream = InputStream { input, file, ..InputStream::new(inputs) };
    stream.open_next()?;
    let mut count = FileCount::default();
    loop {
        if markable
            && count.items > 0
            && count.items % MARK_EVERY == 0
            && let Some(Current::Lines(open)) = &stream.current
        {
            count.marks.push(Mark { item: count.items, byte: open.lines.consumed() });
        }
        if !stream.skip_in_current()? {
            break;
        }
        count.items += 1;
    }
    // A mark at the very end starts nothing.
    if count.marks.last().is_some_and(|m| m.item == count.items) {
        count.marks.pop();
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_before_an_item_is_the_last_at_or_before_it() {
        let count =
            FileCount { items: 10_000, marks: vec![Mark { item: 4096, byte: 100 }, Mark { item: 8192, byte: 200 }] };
        assert_eq!(count.mark_before(0), None);
        assert_eq!(count.mark_before(4095), None);
        assert_eq!(count.mark_before(4096), Some(Mark { item: 4096, byte: 100 }));
        assert_eq!(count.mark_before(8191), Some(Mark { item: 4096, byte: 100 }));
        assert_eq!(count.mark_before(9999), Some(Mark { item: 8192, byte: 200 }));
        assert!(markable("web/part-0.jsonl") && !markable("web/part-0.JSONL.GZ") && !markable("a.jsonl.zst"));
    }
}
