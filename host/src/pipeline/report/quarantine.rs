//! Quarantined records grouped for people: by stage and the shape of their
//! error, with a count and a few examples each, for `stats.json` and the
//! report's quarantine section.
//!
//! Quarantine errors carry record-specific detail (ids, line numbers, byte
//! offsets, a plugin's output), so grouping by exact text would give every
//! record a group of its own. The *shape* of an error is its first line up to
//! the first double quote (what follows quotes the record or the model), with
//! every run of digits written `#`, cut to a readable length: one group per
//! failure mode, with a real message kept as its example.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How many characters of an error make its shape.
const SHAPE_CHARS: usize = 120;
/// Examples (record ids or sources) kept per group.
const EXAMPLES: usize = 3;
/// Groups kept; the rest are counted in one last group.
const MAX_GROUPS: usize = 40;

/// Quarantined records of one stage that failed the same way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuarantineGroup {
    /// The stage (`input` for unreadable lines).
    pub stage: String,
    /// The first error of the group, cut to 300 characters.
    pub error: String,
    /// Records in the group.
    pub count: u64,
    /// Ids (or `file:line` sources) of the first few records.
    pub examples: Vec<String>,
}

/// The shape of an error message (see the module docs).
fn shape(error: &str) -> String {
    let first = error.lines().next().unwrap_or_default();
    let first = first.split('"').next().unwrap_or_default().trim_end_matches([' ', ':', ',']);
    let mut out = String::new();
    let mut in_digits = false;
    for c in first.chars().take(SHAPE_CHARS) {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// Collects quarantine lines (the JSON objects of `quarantine.jsonl`).
#[derive(Debug, Default)]
pub struct QuarantineSummary {
    groups: BTreeMap<(String, String), QuarantineGroup>,
    order: Vec<(String, String)>,
}

impl QuarantineSummary {
    /// Counts one line of a quarantine file; a line that is not an object
    /// with a stage and an error is counted under `?`.
    pub fn add_line(&mut self, line: &str) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let stage = text("stage").unwrap_or_else(|| "?".into());
        let error = text("error").unwrap_or_else(|| "?".into());
        let example = text("record_id").or_else(|| text("source")).unwrap_or_default();
        let key = (stage.clone(), shape(&error));
        let group = self.groups.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            QuarantineGroup { stage, error: error.chars().take(300).collect(), count: 0, examples: Vec::new() }
        });
        group.count += 1;
        if group.examples.len() < EXAMPLES && !example.is_empty() {
            group.examples.push(example);
        }
    }

    /// The groups, largest first (ties in order of first appearance), the
    /// smallest beyond `MAX_GROUPS` merged into one.
    pub fn groups(mut self) -> Vec<QuarantineGroup> {
        let mut groups: Vec<QuarantineGroup> = self.order.iter().filter_map(|key| self.groups.remove(key)).collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        if groups.len() > MAX_GROUPS {
            let rest = groups.split_off(MAX_GROUPS - 1);
            groups.push(QuarantineGroup {
                stage: "(several)".into(),
                error: format!("{} other kinds of error", rest.len()),
                count: rest.iter().map(|g| g.count).sum(),
                examples: Vec::new(),
            });
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_differing_only_in_numbers_share_a_group() {
        let mut summary = QuarantineSummary::default();
        for (id, ms) in [("a", 150), ("b", 150), ("c", 2000)] {
            summary.add_line(&format!(
                r#"{{"stage":"hostile","record_id":"{id}","error":"exceeded its time limit of {ms} ms per call\nguest output"}}"#
            ));
        }
        summary.add_line(r#"{"stage":"input","source":"in.jsonl:7","error":"not valid UTF-8"}"#);
        summary.add_line(r#"{"stage":"input","source":"in.jsonl:8","error":"not valid UTF-8: \"quoted text\""}"#);
        summary.add_line("not json");
        let groups = summary.groups();
        assert_eq!(groups.len(), 3);
        assert_eq!((groups[0].stage.as_str(), groups[0].count), ("hostile", 3));
        assert_eq!(groups[0].examples, ["a", "b", "c"]);
        assert!(groups[0].error.contains("150 ms"), "the example keeps its numbers");
        assert_eq!(groups[1].examples, ["in.jsonl:7", "in.jsonl:8"], "quoted text is not part of the shape");
        assert_eq!(groups[2].stage, "?");
    }
}
