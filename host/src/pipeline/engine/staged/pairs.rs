//! The staged steps' binary files: fixed-size entries of a key (8 or 16
//! bytes) and a position (8 bytes), little-endian, written sorted. Fixed
//! sizes keep reading a sequential scan through a large buffer (never the
//! small reads that made object storage slow for datatrove's users) and
//! the files a fraction of JSON's size.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{StagedError, io};

/// Read and write buffers.
const BUFFER: usize = 1 << 20;

/// Writes entries to a temporary file, renamed into place by [`finish`](Self::finish).
pub struct PairWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    key_bytes: usize,
}

impl PairWriter {
    /// A writer of `path` whose keys take `key_bytes` (8 or 16).
    pub fn create(path: &Path, key_bytes: usize) -> Result<PairWriter, StagedError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(io("cannot create", &tmp))?;
        Ok(PairWriter { out: BufWriter::with_capacity(BUFFER, file), tmp, path: path.to_path_buf(), key_bytes })
    }

    /// Appends one entry.
    pub fn push(&mut self, key: u128, position: u64) -> Result<(), StagedError> {
        let key = key.to_le_bytes();
        self.out.write_all(&key[..self.key_bytes]).map_err(io("cannot write", &self.tmp))?;
        self.out.write_all(&position.to_le_bytes()).map_err(io("cannot write", &self.tmp))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn finish(self) -> Result<(), StagedError> {
        let file = self.out.into_inner().map_err(|e| StagedError::Io {
            action: "cannot write",
            path: self.tmp.clone(),
            error: e.into_error(),
        })?;
        file.sync_all().map_err(io("cannot sync", &self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io("cannot rename into", &self.path))
    }
}

/// Reads the entries of a file [`PairWriter`] wrote, in order.
pub struct PairReader {
    input: BufReader<File>,
    path: PathBuf,
    key_bytes: usize,
}

impl PairReader {
    /// A reader of `path`, whose keys take `key_bytes`.
    pub fn open(path: &Path, key_bytes: usize) -> Result<PairReader, StagedError> {
        let file = File::open(path).map_err(io("cannot open", path))?;
        Ok(PairReader { input: BufReader::with_capacity(BUFFER, file), path: path.to_path_buf(), key_bytes })
    }

    /// The next entry, or `None` at the end.
    pub fn next_pair(&mut self) -> Result<Option<(u128, u64)>, StagedError> {
        let mut entry = [0u8; 24];
        let size = self.key_bytes + 8;
        let mut read = 0;
        while read < size {
            match self.input.read(&mut entry[read..size]) {
                Ok(0) if read == 0 => return Ok(None),
                Ok(0) => {
                    return Err(StagedError::Corrupt {
                        path: self.path.clone(),
                        message: "ends inside an entry (a step was interrupted: run it again)".into(),
                    });
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(StagedError::Io { action: "cannot read", path: self.path.clone(), error }),
            }
        }
        let mut key = [0u8; 16];
        key[..self.key_bytes].copy_from_slice(&entry[..self.key_bytes]);
        let mut position = [0u8; 8];
        position.copy_from_slice(&entry[self.key_bytes..size]);
        Ok(Some((u128::from_le_bytes(key), u64::from_le_bytes(position))))
    }
}

/// Merges sorted files into one sorted stream (a k-way merge: one entry
/// per file in memory).
pub struct Merged {
    readers: Vec<PairReader>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u128, u64, usize)>>,
}

impl Merged {
    /// The merge of `readers`.
    pub fn new(mut readers: Vec<PairReader>) -> Result<Merged, StagedError> {
        let mut heap = std::collections::BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some((k, p)) = r.next_pair()? {
                heap.push(std::cmp::Reverse((k, p, i)));
            }
        }
        Ok(Merged { readers, heap })
    }

    /// The smallest entry left.
    pub fn next_pair(&mut self) -> Result<Option<(u128, u64)>, StagedError> {
        let Some(std::cmp::Reverse((k, p, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some((nk, np)) = self.readers[i].next_pair()? {
            self.heap.push(std::cmp::Reverse((nk, np, i)));
        }
        Ok(Some((k, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_merge_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, bytes: usize, entries: &[(u128, u64)]| {
            let path = dir.path().join(name);
            let mut w = PairWriter::create(&path, bytes).expect("create");
            for &(k, p) in entries {
                w.push(k, p).expect("push");
            }
            w.finish().expect("finish");
            path
        };
        let a = write("a", 16, &[(1, 5), (u128::MAX, 1)]);
        let b = write("b", 16, &[(1, 2), (7, 0)]);
        let readers = vec![PairReader::open(&a, 16).expect("a"), PairReader::open(&b, 16).expect("b")];
        let mut merged = Merged::new(readers).expect("merge");
        let mut out = Vec::new();
        while let Some(e) = merged.next_pair().expect("read") {
            out.push(e);
        }
        assert_eq!(out, vec![(1, 2), (1, 5), (7, 0), (u128::MAX, 1)]);
        let short = write("c", 8, &[(3, 4)]);
        std::fs::write(&short, &std::fs::read(&short).expect("read")[..10]).expect("truncate");
        let err = PairReader::open(&short, 8).expect("open").next_pair().expect_err("truncated");
        assert!(err.to_string().contains("ends inside an entry"), "{err}");
    }
}
