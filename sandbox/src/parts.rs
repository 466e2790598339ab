//! Which parts of a record a plugin reads besides its text (the contract's
//! `plugin-info.reads`), and so which columns of a `record-batch` the host
//! fills for it: a text filter is sent texts only, not the ids, metadata,
//! scores and lineage it would never look at.

use std::fmt;

use super::bindings::wit;

/// The parts of a record, besides its text, that a plugin reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RecordParts {
    /// The record's id.
    pub id: bool,
    /// Its metadata.
    pub metadata: bool,
    /// Its scores.
    pub scores: bool,
    /// Its lineage.
    pub lineage: bool,
}

impl RecordParts {
    /// Every part.
    pub const ALL: RecordParts = RecordParts { id: true, metadata: true, scores: true, lineage: true };
    /// The text alone.
    pub const TEXT: RecordParts = RecordParts { id: false, metadata: false, scores: false, lineage: false };

    /// The parts a plugin declared.
    pub fn from_wit(flags: wit::RecordParts) -> Self {
        RecordParts {
            id: flags.contains(wit::RecordParts::ID),
            metadata: flags.contains(wit::RecordParts::METADATA),
            scores: flags.contains(wit::RecordParts::SCORES),
            lineage: flags.contains(wit::RecordParts::LINEAGE),
        }
    }
}

impl fmt::Display for RecordParts {
    /// `text, id, metadata` and so on: the text comes first, as every plugin reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")?;
        let parts = [(self.id, "id"), (self.metadata, "metadata"), (self.scores, "scores"), (self.lineage, "lineage")];
        for (_, name) in parts.iter().filter(|(read, _)| *read) {
            write!(f, ", {name}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_parts() {
        assert_eq!(RecordParts::from_wit(wit::RecordParts::all()), RecordParts::ALL);
        assert_eq!(RecordParts::from_wit(wit::RecordParts::empty()), RecordParts::TEXT);
        let some = RecordParts::from_wit(wit::RecordParts::ID | wit::RecordParts::SCORES);
        assert_eq!(some, RecordParts { id: true, scores: true, ..RecordParts::TEXT });
    }

    #[test]
    fn displays_the_parts_read() {
        assert_eq!(RecordParts::ALL.to_string(), "text, id, metadata, scores, lineage");
        assert_eq!(RecordParts::TEXT.to_string(), "text");
        assert_eq!(RecordParts { metadata: true, ..RecordParts::TEXT }.to_string(), "text, metadata");
    }
}
