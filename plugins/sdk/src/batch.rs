//! Unpacking a `record-batch` (records packed in columns, see `wit/kiln.wit`)
//! into plain [`Record`]s.
//!
//! The host guarantees well-formed batches; a malformed one (an offset past the
//! end of its column or inside a character) yields empty parts rather than a
//! panic, so a buggy host cannot crash a plugin.

use crate::{Lineage, Record, Score};

/// The columns of a `record-batch`, moved out of the generated bindings.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Packed {
    pub ids: String,
    pub id_ends: Vec<u32>,
    pub texts: String,
    pub text_ends: Vec<u32>,
    pub metadata: String,
    pub metadata_ends: Vec<u32>,
    pub score_names: String,
    pub score_name_ends: Vec<u32>,
    pub score_values: Vec<f64>,
    pub score_ends: Vec<u32>,
    pub sources: String,
    pub source_ends: Vec<u32>,
    pub parents: String,
    pub parent_ends: Vec<u32>,
    pub rounds: Vec<u32>,
    pub steps: String,
    pub step_ends: Vec<u32>,
}

/// Cuts `column` at `ends`: one part per end.
#[doc(hidden)]
pub struct Parts<'a> {
    column: &'a str,
    ends: std::slice::Iter<'a, u32>,
    start: usize,
}

impl<'a> Parts<'a> {
    #[inline]
    pub fn new(column: &'a str, ends: &'a [u32]) -> Self {
        Parts { column, ends: ends.iter(), start: 0 }
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a str;

    // Inline: a text filter takes one part per record, in its plugin's crate.
    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let end = *self.ends.next()? as usize;
        let part = self.column.get(self.start..end).unwrap_or("");
        self.start = end.max(self.start);
        Some(part)
    }

    // One part per end: callers size their output from this.
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for Parts<'_> {}

impl Packed {
    /// The records of the batch, in order.
    pub fn unpack(self) -> Vec<Record> {
        // `text-ends` sets the batch's size; the columns of parts the plugin
        // does not read are empty, and give empty parts.
        let n = self.text_ends.len();
        let mut ids = Parts::new(&self.ids, &self.id_ends);
        let mut texts = Parts::new(&self.texts, &self.text_ends);
        let mut metadata = Parts::new(&self.metadata, &self.metadata_ends);
        let mut names = Parts::new(&self.score_names, &self.score_name_ends);
        let mut values = self.score_values.iter();
        let mut sources = Parts::new(&self.sources, &self.source_ends);
        let mut parents = Parts::new(&self.parents, &self.parent_ends);
        let mut rounds = self.rounds.iter();
        let mut steps = Parts::new(&self.steps, &self.step_ends);
        let mut scores_before = 0usize;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let score_end = self.score_ends.get(i).map_or(scores_before, |e| *e as usize);
            let scores = (scores_before..score_end.max(scores_before))
                .map(|_| Score {
                    name: names.next().unwrap_or("").to_string(),
                    value: values.next().copied().unwrap_or(0.0),
                })
                .collect();
            scores_before = score_end.max(scores_before);
            let parent = parents.next().unwrap_or("");
            out.push(Record {
                id: ids.next().unwrap_or("").to_string(),
                text: texts.next().unwrap_or("").to_string(),
                metadata: metadata.next().unwrap_or("{}").to_string(),
                scores,
                lineage: Lineage {
                    source: sources.next().unwrap_or("").to_string(),
                    parent: (!parent.is_empty()).then(|| parent.to_string()),
                    round: rounds.next().copied().unwrap_or(0),
                    steps: steps.next().unwrap_or("").lines().map(str::to_string).collect(),
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_columns_into_records() {
        let packed = Packed {
            ids: "ab".into(),
            id_ends: vec![1, 2],
            texts: "héllo world".into(),
            text_ends: vec![6, 12],
            metadata: "{}{\"k\":1}".into(),
            metadata_ends: vec![2, 9],
            score_names: "qlen".into(),
            score_name_ends: vec![1, 4],
            score_values: vec![0.5, 3.0],
            score_ends: vec![0, 2],
            sources: "f:1f:2".into(),
            source_ends: vec![3, 6],
            parents: "a".into(),
            parent_ends: vec![0, 1],
            rounds: vec![0, 2],
            steps: "s=p@1\n".into(),
            step_ends: vec![6, 6],
        };
        let r = packed.unpack();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].id.as_str(), r[0].text.as_str()), ("a", "héllo"));
        assert_eq!((r[1].id.as_str(), r[1].text.as_str()), ("b", " world"));
        assert_eq!(r[1].metadata, "{\"k\":1}");
        assert!(r[0].scores.is_empty());
        assert_eq!(r[1].scores, vec![Score { name: "q".into(), value: 0.5 }, Score { name: "len".into(), value: 3.0 }]);
        assert_eq!(r[0].lineage.steps, vec!["s=p@1".to_string()]);
        assert!(r[1].lineage.steps.is_empty());
        assert_eq!((r[0].lineage.parent.as_deref(), r[1].lineage.parent.as_deref()), (None, Some("a")));
        assert_eq!(r[1].lineage.round, 2);
    }

    #[test]
    fn malformed_offsets_give_empty_parts_not_panics() {
        let packed = Packed {
            ids: "é".into(),
            id_ends: vec![1, 99],
            texts: "é".into(),
            text_ends: vec![1, 99],
            ..Default::default()
        };
        let r = packed.unpack();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].id.as_str(), r[0].text.as_str()), ("", ""), "offset inside a character");
        assert_eq!(r[1].metadata, "{}");
    }

    #[test]
    fn a_batch_of_texts_only_unpacks_into_records_with_empty_parts() {
        let packed = Packed { texts: "onetwo".into(), text_ends: vec![3, 6], ..Default::default() };
        let r = packed.unpack();
        assert_eq!(r.len(), 2, "text-ends sets the size");
        assert_eq!((r[1].id.as_str(), r[1].text.as_str(), r[1].metadata.as_str()), ("", "two", "{}"));
        assert!(r[1].scores.is_empty() && r[1].lineage == Lineage::default());
    }
}
