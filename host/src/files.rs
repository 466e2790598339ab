//! Reading the files a pipeline names, which are untrusted: only regular
//! files, never more than a cap, and globs that cannot walk a whole disk.
//!
//! Whole-file reads go through the sandbox's [`read_capped`] (the one
//! implementation, which plugins are read with too); every input glob goes
//! through [`expand_glob`], which stops after [`MAX_GLOB_VISITS`] directory
//! entries with a message saying how to narrow it.

use std::path::{Component, Path, PathBuf};

pub use kiln_sandbox::files::{
    FileError, MAX_DATA_FILE_BYTES, MAX_PLUGIN_BYTES, check_regular, read_capped, read_capped_text,
};

/// Directory entries a glob may visit before it is refused.
pub const MAX_GLOB_VISITS: usize = 1_000_000;

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
