//! Reading untrusted files whole: only regular files, never more than a cap.
//!
//! A pipeline can name `/dev/zero` as a plugin or `/dev/urandom` as a
//! benchmark; a plain `std::fs::read` would read until memory runs out. The
//! sandbox reads every plugin through [`read_capped`] (devices, FIFOs and
//! directories are refused, and so is a file over its cap), and the host
//! reads every other file a pipeline names the same way.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest plugin component read.
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// Largest JSONL file read whole (benchmarks, seeds, held-out sets).
pub const MAX_DATA_FILE_BYTES: u64 = 1 << 30;

/// A named file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Opening or reading failed.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Not a regular file (a device, a FIFO, a socket, a directory).
    #[error("{} is not a regular file (it is {kind}); name a file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than the cap.
    #[error("{} is {size} bytes, over the limit of {limit} bytes for {what}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (or the bytes read before the cap was passed).
        size: u64,
        /// The cap.
        limit: u64,
        /// What the file was to be.
        what: &'static str,
    },
}

/// Fails unless `path` is a regular file (after following symbolic links).
pub fn check_regular(path: &Path) -> Result<std::fs::Metadata, FileError> {
    let meta = std::fs::metadata(path).map_err(|error| FileError::Io { path: path.to_path_buf(), error })?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(meta);
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(FileError::NotRegular { path: path.to_path_buf(), kind })
}

/// The bytes of the regular file `path`, refusing one over `limit` bytes
/// (`what` names the file's role in the message). The cap also binds while
/// reading, should the file grow.
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, FileError> {
    let meta = check_regular(path)?;
    let too_large = |size| FileError::TooLarge { path: path.to_path_buf(), size, limit, what };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let io = |error| FileError::Io { path: path.to_path_buf(), error };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_capped_text(path: &Path, limit: u64, what: &'static str) -> Result<String, FileError> {
    let bytes = read_capped(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| FileError::Io {
        path: path.to_path_buf(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {}", e.utf8_error())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_refused_and_sizes_capped() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20, "a plugin").expect_err("a device");
        assert!(e.to_string().contains("is not a regular file (it is a device)"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.jsonl");
        std::fs::write(&big, vec![b'x'; 2048]).expect("write");
        let e = read_capped(&big, 1024, "a benchmark file").expect_err("too large");
        assert!(e.to_string().contains("2048 bytes, over the limit of 1024 bytes for a benchmark file"), "{e}");
        assert_eq!(read_capped(&big, 4096, "x").expect("fits").len(), 2048);
        assert!(matches!(read_capped(dir.path(), 10, "x"), Err(FileError::NotRegular { kind: "a directory", .. })));
    }
}
