//! Errors in a pipeline file, each pinned to a file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The pipeline file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The stage concerned, if any.
    pub stage: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if let Some(stage) = &self.stage {
            write!(f, "stage `{stage}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in a pipeline file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Turns byte spans of one file's text into diagnostics.
pub(crate) struct SourceMap<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        SourceMap { file, text }
    }

    /// The file's text.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// A diagnostic at the start of `span` (the file's start when unknown).
    pub(crate) fn at(&self, span: Option<Range<usize>>, stage: Option<&str>, message: impl Into<String>) -> Diagnostic {
        let offset = span.map(|s| s.start.min(self.text.len())).unwrap_or(0);
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            stage: stage.map(str::to_string),
            message: message.into(),
            hint: None,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_lines_and_columns() {
        let text = "a = 1\nbé = 2\n  c = 3\n";
        let map = SourceMap::new(Path::new("p.toml"), text);
        let d = map.at(Some(text.find('c').expect("c")..text.len()), Some("s"), "bad");
        assert_eq!((d.line, d.column), (3, 3));
        assert_eq!(d.to_string(), "p.toml:3:3: stage `s`: bad");
        let d = map.at(Some(text.find('=').expect("=") + 7..0), None, "x");
        assert_eq!(d.line, 2);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(did_you_mean("filtr", ["filter", "map"]).as_deref(), Some("did you mean `filter`?"));
        assert_eq!(did_you_mean("zzzzzz", ["filter", "map"]), None);
    }
}
