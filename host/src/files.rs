//! Reading the files a pipeline names, which are untrusted: only regular
//! files, never more than a cap, and globs that cannot walk a whole disk.
//!
//! A pipeline can name `/dev/zero` as a plugin or `/dev/urandom` as a
//! benchmark; a plain `std::fs::read` would read until memory runs out. Every
//! whole-file read of a pipeline-named file goes through [`read_capped`]
//! (devices, FIFOs and directories are refused, and so is a file over its
//! cap), and every input glob through [`expand_glob`], which stops after
//! [`MAX_GLOB_VISITS`] directory entries with a message saying how to narrow it.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest plugin component read.
pub const MAX_PLUGIN_BYTES: u64 = 256 << 20;
/// Largest JSONL file read whole (benchmarks, seeds, held-out sets).
pub const MAX_DATA_FILE_BYTES: u64 = 1 << 30;
/// Directory entries a glob may visit before it is refused.
pub const MAX_GLOB_VISITS: usize = 1_000_000;

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

/// A glob that cannot be expanded.
#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    /// The pattern is malformed.
    #[error("`{pattern}` is not a valid glob: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// The walk visited too many entries.
    #[error(
        "`{pattern}` walks more than {MAX_GLOB_VISITS} directory entries under {}; narrow it (start it with a directory, e.g. `data/**/*.jsonl`)",
        root.display()
    )]
    TooBroad {
        /// The pattern.
        pattern: String,
        /// Where the walk started.
        root: PathBuf,
    },
}

/// The regular files matching `pattern` (an absolute path or glob with `*`,
/// `?`, `[…]`, `{a,b}` and `**`), sorted. The walk starts at the pattern's
/// longest literal prefix, follows no symbolic links to directories, and
/// stops with [`GlobError::TooBroad`] after [`MAX_GLOB_VISITS`] entries.
pub fn expand_glob(pattern: &Path) -> Result<Vec<PathBuf>, GlobError> {
    let text = pattern.to_string_lossy().into_owned();
    let bad = |message: String| GlobError::Pattern { pattern: text.clone(), message };
    let is_glob = |s: &str| s.contains(['*', '?', '[', '{']);
    let mut root = PathBuf::new();
    let mut rest = Vec::new();
    for part in pattern.components() {
        let literal = match part {
            Component::Normal(s) => !is_glob(&s.to_string_lossy()),
            _ => true,
        };
        if literal && rest.is_empty() {
            root.push(part);
        } else {
            rest.push(part.as_os_str().to_string_lossy().into_owned());
        }
    }
    if rest.is_empty() {
        // No wildcard: the path itself, if it is a regular file.
        return Ok(if pattern.is_file() { vec![pattern.to_path_buf()] } else { Vec::new() });
    }
    let matcher = globset::GlobBuilder::new(&text)
        .literal_separator(true)
        .build()
        .map_err(|e| bad(e.kind().to_string()))?
        .compile_matcher();
    let depth = if rest.iter().any(|p| p.contains("**")) { usize::MAX } else { rest.len() };
    let mut files = Vec::new();
    for (visited, entry) in walkdir::WalkDir::new(&root).follow_links(false).max_depth(depth).into_iter().enumerate() {
        if visited >= MAX_GLOB_VISITS {
            return Err(GlobError::TooBroad { pattern: text, root });
        }
        let Ok(entry) = entry else { continue };
        if matcher.is_match(entry.path()) && entry.path().is_file() {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
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

    #[test]
    fn globs_match_files_sorted_and_recursively() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["a/1.jsonl", "a/b/2.jsonl", "a/b/3.txt", "c.jsonl"] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "{}").expect("write");
        }
        let names = |pattern: &str| -> Vec<String> {
            expand_glob(&dir.path().join(pattern))
                .expect("valid")
                .iter()
                .map(|p| p.strip_prefix(dir.path()).expect("inside").display().to_string())
                .collect()
        };
        assert_eq!(names("**/*.jsonl"), ["a/1.jsonl", "a/b/2.jsonl", "c.jsonl"]);
        assert_eq!(names("a/*.jsonl"), ["a/1.jsonl"]);
        assert_eq!(names("c.jsonl"), ["c.jsonl"]);
        assert!(names("nothing/*.jsonl").is_empty());
        assert!(matches!(expand_glob(&dir.path().join("a/[.jsonl")), Err(GlobError::Pattern { .. })));
    }
}
