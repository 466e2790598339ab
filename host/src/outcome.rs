//! What becomes of a record: kept, rejected with a reason (and the class it
//! is counted under), or quarantined with an error; and applying a
//! record-at-a-time plugin (filter or mapper) to batches with an account of
//! every record.
//!
//! Every input record ends in exactly one [`Outcome`]: kept (possibly
//! rewritten), rejected with the plugin's reason, or quarantined with the error
//! that the plugin raised on it. [`Tally`] counts them; its counts always add up
//! to the input.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plugin::{CallError, Plugin, PluginError, PluginKind, Verdict, wit};
use crate::record::{LineError, Record};

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Kept (a mapper's rewrite, for mappers).
    Kept(Record),
    /// Dropped by a stage, with its reason.
    Rejected(Rejected),
    /// Failed: the plugin trapped, hit a limit or broke the contract on it, or
    /// the input could not be read.
    Quarantined(Quarantined),
}

/// A record a stage dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The record as it reached the stage.
    #[serde(flatten)]
    pub record: Record,
    /// Who dropped it and why.
    pub rejected: Rejection,
}

/// Who dropped a record and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// Stage name.
    pub stage: String,
    /// `plugin@version`.
    pub plugin: String,
    /// The reason, with its detail.
    pub reason: String,
    /// The class it is counted under in the statistics (`duplicate`,
    /// `gopher_short_doc`, `threshold:q:below-min`): the reason without what
    /// is particular to the record.
    pub reason_class: String,
}

impl Rejection {
    /// A rejection by `plugin` (a plugin label or `builtin:…`) of `stage`.
    pub fn new(stage: &str, plugin: impl Into<String>, class: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection { stage: stage.to_string(), plugin: plugin.into(), reason: reason.into(), reason_class: class.into() }
    }

    /// A rejection for a reason a plugin wrote: by the contract in
    /// `wit/README.md`, what follows ` (` or ` of ` is detail, and the text
    /// before it is the class (`too long (5123 chars)` counts as `too long`).
    pub fn by_plugin(stage: &str, plugin: impl Into<String>, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let class = plugin_reason_class(&reason).to_string();
        Rejection::new(stage, plugin, class, reason)
    }
}

/// The class of a plugin's reason (see [`Rejection::by_plugin`]).
pub fn plugin_reason_class(reason: &str) -> &str {
    let end = [reason.find(" of "), reason.find(" (")].into_iter().flatten().min().unwrap_or(reason.len());
    &reason[..end]
}

/// A record (or input line) that could not be processed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    /// Stage name (`input` for unreadable lines).
    pub stage: String,
    /// `plugin@version`, when a plugin failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The record's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// `file:line` of the input.
    pub source: String,
    /// What went wrong.
    pub error: String,
    /// The record, when it was parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// The raw input line, when it could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The model's answer the error is about (a judge's answer that did not
    /// parse, one off the declared schema), at most 4 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Quarantined {
    /// An input line that is not a record.
    pub fn unreadable(error: &LineError, raw: &str) -> Self {
        Quarantined {
            stage: "input".into(),
            plugin: None,
            record_id: None,
            source: format!("{}:{}", error.source_name, error.line),
            error: error.message.clone(),
            record: None,
            line: Some(raw.to_string()),
            answer: None,
        }
    }

    /// A record that `plugin` (a plugin label or `builtin:…`) of `stage` could not process.
    pub fn record(record: Record, stage: &str, plugin: &str, error: String) -> Self {
        Quarantined {
            stage: stage.to_string(),
            plugin: Some(plugin.to_string()),
            record_id: Some(record.id.clone()),
            source: record.lineage.source.clone(),
            error,
            record: Some(record),
            line: None,
            answer: None,
        }
    }

    /// One line for logs: names stage, plugin, record and error.
    pub fn describe(&self) -> String {
        let who = match &self.plugin {
            Some(p) => format!("plugin {p} in stage `{}`", self.stage),
            None => format!("stage `{}`", self.stage),
        };
        let what = match &self.record_id {
            Some(id) => format!("record `{id}` ({})", self.source),
            None => self.source.clone(),
        };
        format!("{who}: {what}: {}", self.error)
    }
}

/// Counts of outcomes; `input == kept + rejected + quarantined` always.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Records in.
    pub input: u64,
    /// Records kept.
    pub kept: u64,
    /// Records rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Records quarantined.
    pub quarantined: u64,
}

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        self.input += 1;
        match outcome {
            Outcome::Kept(_) => self.kept += 1,
            Outcome::Rejected(r) => *self.rejected.entry(r.rejected.reason.clone()).or_default() += 1,
            Outcome::Quarantined(_) => self.quarantined += 1,
        }
    }

    /// Total rejected over all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Runs `plugin` (a filter or a mapper) over `records`: one outcome per
/// record, in order. Fails only when the plugin as a whole cannot run.
pub fn apply(plugin: &Plugin, records: Vec<Record>) -> Result<Vec<Outcome>, PluginError> {
    let (step, label) = (plugin.step(), plugin.label());
    let quarantine = |record: Record, error: String| {
        Outcome::Quarantined(Quarantined::record(record, plugin.stage(), &label, error))
    };
    let reject = |record: Record, reason: String| {
        Outcome::Rejected(Rejected { record, rejected: Rejection::by_plugin(plugin.stage(), label.clone(), reason) })
    };
    let outcomes = match plugin.info().kind {
        PluginKind::Filter => plugin
            .filter(&records)?
            .into_iter()
            .zip(records)
            .map(|(verdict, mut record)| match verdict {
                Ok(Verdict::Keep) => {
                    record.lineage.steps.push(step.clone());
                    Outcome::Kept(record)
                }
                Ok(Verdict::Drop(reason)) => reject(record, reason.to_string()),
                Err(e) => quarantine(record, e.to_string()),
            })
            .collect(),
        PluginKind::Mapper => plugin
            .transform(&records)?
            .into_iter()
            .zip(records)
            .map(|(mapped, record)| match mapped {
                Ok(wit::Mapped::Keep(out)) => match Record::from_wit(out) {
                    Ok(mut out) => {
                        out.lineage.steps.push(step.clone());
                        Outcome::Kept(out)
                    }
                    Err(e) => quarantine(record, CallError::Contract(e.to_string()).to_string()),
                },
                Ok(wit::Mapped::Drop(reason)) => reject(record, reason),
                Err(e) => quarantine(record, e.to_string()),
            })
            .collect(),
        other => {
            return Err(PluginError::WrongKind {
                plugin: plugin.info().name.clone(),
                path: plugin.path().to_path_buf(),
                actual: other,
                expected: PluginKind::Filter,
                needed_by: format!("stage `{}` (which applies filters and mappers)", plugin.stage()),
            });
        }
    };
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_adds_up() {
        let mut t = Tally::default();
        t.add(&Outcome::Kept(Record::new("a", "")));
        t.add(&Outcome::Rejected(Rejected {
            record: Record::new("b", ""),
            rejected: Rejection::by_plugin("s", "p@1", "r"),
        }));
        let e = LineError { source_name: "f".into(), line: 2, message: "bad".into() };
        t.add(&Outcome::Quarantined(Quarantined::unreadable(&e, "{")));
        assert_eq!(t.input, t.kept + t.rejected_total() + t.quarantined);
        assert_eq!(t.rejected["r"], 1);
    }

    #[test]
    fn a_plugin_reason_is_counted_without_its_detail() {
        assert_eq!(plugin_reason_class("duplicate of r17"), "duplicate");
        assert_eq!(plugin_reason_class("too long (5123 chars)"), "too long");
        assert_eq!(plugin_reason_class("gopher_short_doc"), "gopher_short_doc");
        let r = Rejection::by_plugin("s", "p@1", "too long (5123 chars)");
        assert_eq!((r.reason.as_str(), r.reason_class.as_str()), ("too long (5123 chars)", "too long"));
    }

    #[test]
    fn quarantine_description_names_everything() {
        let q = Quarantined {
            stage: "quality".into(),
            plugin: Some("gopher-quality@0.1.0".into()),
            record_id: Some("r9".into()),
            source: "in.jsonl:9".into(),
            error: "overflowed its stack".into(),
            record: None,
            line: None,
            answer: None,
        };
        assert_eq!(
            q.describe(),
            "plugin gopher-quality@0.1.0 in stage `quality`: record `r9` (in.jsonl:9): overflowed its stack"
        );
    }
}
