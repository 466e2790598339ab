//! `review` stages: a gate that holds records until a person has judged them.
//!
//! The mission's sources agree that people must still cull what the critic
//! lets through. A `review` stage passes the records a reviewer accepted,
//! rejects those a reviewer rejected (reason `review:rejected`), and holds the
//! rest: when a chunk reaches the gate with records nobody has labelled, the
//! run stops *before that chunk commits*, with the held records written to
//! `<work_dir>/review/<stage>.pending.jsonl` — the queue a reviewer works
//! through. Running again (with the labels) takes the run up from its last
//! committed chunk, as after any stop: nothing before the gate is paid twice
//! (model answers are in the request cache), nothing after it sees an
//! unreviewed record, and the next chunk with unlabelled records stops it again.
//!
//! Labels come from a JSONL file (`labels`, by default `reviews.jsonl` beside
//! the pipeline file), one object per line with the record's `id` and its
//! `review` — `"accept"`/`"reject"`, `1`/`0` or `true`/`false`, at the top
//! level or in `metadata` (so the labelled records `kiln serve` exports are a
//! labels file as they are). In `kiln serve` the review queue's labels are
//! given to the build instead ([`ReviewLabels`]), and a run that stops at a
//! gate waits for review in the console. Labels are not part of the run's
//! fingerprint: they decide only chunks not yet committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{PhaseCx, PreparedStage, StageError, StageOp, StageOutput};
use crate::outcome::{Outcome, Rejected, Rejection};
use crate::record::Record;

/// Reviewers' verdicts by record id: `true` accepted, `false` rejected.
pub type ReviewLabels = BTreeMap<String, bool>;

/// The labels file a `review` stage reads when none is named.
pub const DEFAULT_LABELS: &str = "reviews.jsonl";

/// `config` of a `review` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// The labels file, relative to the pipeline file.
    #[serde(default = "default_labels")]
    pub labels: PathBuf,
}

fn default_labels() -> PathBuf {
    PathBuf::from(DEFAULT_LABELS)
}

/// A built `review` stage.
#[derive(Debug)]
pub struct ReviewGate {
    /// The verdicts it applies.
    pub labels: Arc<ReviewLabels>,
    /// Where they came from (`None`: given by the service).
    pub labels_file: Option<PathBuf>,
}

impl ReviewGate {
    /// The gate of `config` (files relative to `base`), or with `given`
    /// labels in place of its file.
    pub fn load(config: ReviewConfig, base: &Path, given: Option<&Arc<ReviewLabels>>) -> Result<ReviewGate, String> {
        if let Some(labels) = given {
            return Ok(ReviewGate { labels: labels.clone(), labels_file: None });
        }
        let path = base.join(&config.labels);
        let labels = match std::fs::read_to_string(&path) {
            Ok(text) => {
                parse_labels(&text).map_err(|(line, e)| format!("labels file {}:{line}: {e}", path.display()))?
            }
            // No labels yet: everything waits for review.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ReviewLabels::new(),
            Err(e) => return Err(format!("cannot read the labels file {}: {e}", path.display())),
        };
        Ok(ReviewGate { labels: Arc::new(labels), labels_file: Some(path) })
    }
}

/// Parses a labels file; a bad line is `(line number, why)`.
pub fn parse_labels(text: &str) -> Result<ReviewLabels, (usize, String)> {
    let mut labels = ReviewLabels::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |e: String| (n + 1, e);
        let value: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let id = value.get("id").and_then(Value::as_str).ok_or_else(|| at("no string `id`".into()))?;
        let review = value
            .get("review")
            .or_else(|| value.get("metadata").and_then(|m| m.get("review")))
            .ok_or_else(|| at(format!("record `{id}` has no `review` (give \"accept\" or \"reject\")")))?;
        let accepted = match review {
            Value::Bool(b) => *b,
            Value::String(s) if s == "accept" => true,
            Value::String(s) if s == "reject" => false,
            Value::Number(n) if n.as_f64() == Some(1.0) => true,
            Value::Number(n) if n.as_f64() == Some(0.0) => false,
            other => return Err(at(format!("record `{id}`: `review` is {other}; give \"accept\" or \"reject\""))),
        };
        labels.insert(id.to_string(), accepted);
    }
    Ok(labels)
}

/// Where a `review` stage writes the records it holds.
pub fn pending_path(work_dir: &Path, stage: &str) -> PathBuf {
    work_dir.join("review").join(format!("{stage}.pending.jsonl"))
}

impl StageOp for ReviewGate {
    fn lineage_step(&self, stage: &str) -> Option<String> {
        Some(format!("{stage}=builtin:review"))
    }

    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        let pending = pending_path(cx.work_dir, &cx.stage.name);
        // What an earlier stop held is decided now or held again.
        match std::fs::remove_file(&pending) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StageError::Failed {
                    stage: cx.stage.name.clone(),
                    message: format!("cannot remove {}: {e}", pending.display()),
                });
            }
            _ => {}
        }
        Ok(Arc::new(PreparedGate {
            stage: cx.stage.name.clone(),
            labels: self.labels.clone(),
            labels_file: self.labels_file.clone(),
            pending,
        }))
    }
}

struct PreparedGate {
    stage: String,
    labels: Arc<ReviewLabels>,
    labels_file: Option<PathBuf>,
    pending: PathBuf,
}

#[async_trait::async_trait]
impl PreparedStage for PreparedGate {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let mut outcomes = Vec::with_capacity(records.len());
        let mut held = Vec::new();
        let (mut accepted, mut rejected) = (0, 0);
        for record in records {
            match self.labels.get(&record.id) {
                Some(true) => {
                    accepted += 1;
                    outcomes.push(Outcome::Kept(record));
                }
                Some(false) => {
                    rejected += 1;
                    let rejection = Rejection::new(&self.stage, "builtin:review", "review:rejected", "review:rejected");
                    outcomes.push(Outcome::Rejected(Rejected { record, rejected: rejection }));
                }
                None => held.push(record),
            }
        }
        if !held.is_empty() {
            let mut text = String::new();
            for record in &held {
                // Records are plain data: serialisation cannot fail.
                if let Ok(line) = serde_json::to_string(record) {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            let written = self.pending.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
                let partial = self.pending.with_extension("jsonl.partial");
                std::fs::write(&partial, text)?;
                std::fs::rename(&partial, &self.pending)
            });
            if let Err(e) = written {
                return Err(StageError::Failed {
                    stage: self.stage.clone(),
                    message: format!("cannot write the records awaiting review to {}: {e}", self.pending.display()),
                });
            }
            return Err(StageError::AwaitingReview {
                stage: self.stage.clone(),
                count: held.len(),
                // Where the reviewer finds it (its object when the work directory is on object storage).
                pending: crate::objects::mirror::shown(&self.pending),
                labels: self.labels_file.clone(),
            });
        }
        let details =
            BTreeMap::from([("review_accepted".to_string(), accepted), ("review_rejected".to_string(), rejected)]);
        Ok(StageOutput { outcomes, details, ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_in_every_form_the_docs_name_and_bad_lines_are_placed() {
        let text = r#"{"id": "a", "review": "accept"}
{"id": "b", "review": "reject"}

{"id": "c", "text": "x", "metadata": {"review": 1}}
{"id": "d", "review": false}
"#;
        let labels = parse_labels(text).expect("labels");
        assert_eq!(labels.get("a"), Some(&true));
        assert_eq!(labels.get("b"), Some(&false));
        assert_eq!(labels.get("c"), Some(&true));
        assert_eq!(labels.get("d"), Some(&false));
        let (line, why) = parse_labels("{\"id\": \"a\", \"review\": 1}\n{\"id\": \"b\", \"review\": \"maybe\"}\n")
            .expect_err("maybe is no label");
        assert_eq!(line, 2);
        assert!(why.contains("`b`") && why.contains("accept"), "{why}");
        assert_eq!(parse_labels("{\"review\": 1}").expect_err("no id").0, 1);
        assert!(parse_labels("{\"id\": \"a\"}").expect_err("no review").1.contains("no `review`"));
    }

    #[test]
    fn a_missing_labels_file_holds_everything_and_given_labels_replace_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ReviewConfig { labels: default_labels() };
        let gate = ReviewGate::load(config.clone(), dir.path(), None).expect("gate");
        assert!(gate.labels.is_empty());
        std::fs::write(dir.path().join(DEFAULT_LABELS), "{\"id\": \"a\", \"review\": 2}\n").expect("write");
        let e = ReviewGate::load(config.clone(), dir.path(), None).expect_err("2 is no label");
        assert!(e.contains("reviews.jsonl:1"), "{e}");
        let given = Arc::new(ReviewLabels::from([("a".to_string(), true)]));
        let gate = ReviewGate::load(config, dir.path(), Some(&given)).expect("given labels");
        assert_eq!(gate.labels.get("a"), Some(&true));
        assert!(gate.labels_file.is_none());
    }

    #[tokio::test]
    async fn the_gate_passes_accepted_rejects_rejected_and_holds_a_chunk_with_unlabelled_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let labels = Arc::new(ReviewLabels::from([("a".to_string(), true), ("b".to_string(), false)]));
        let gate =
            PreparedGate { stage: "gate".into(), labels, labels_file: None, pending: pending_path(dir.path(), "gate") };
        let output = gate.apply(vec![Record::new("a", "x"), Record::new("b", "y")]).await.expect("all labelled");
        assert!(matches!(&output.outcomes[0], Outcome::Kept(r) if r.id == "a"));
        assert!(matches!(&output.outcomes[1], Outcome::Rejected(r) if r.rejected.reason == "review:rejected"));
        let held = gate
            .apply(vec![Record::new("a", "x"), Record::new("c", "z"), Record::new("d", "w")])
            .await
            .expect_err("c and d are unlabelled");
        assert!(matches!(held, StageError::AwaitingReview { count: 2, .. }), "{held}");
        let pending = std::fs::read_to_string(pending_path(dir.path(), "gate")).expect("pending");
        let ids: Vec<String> = pending.lines().map(|l| serde_json::from_str::<Record>(l).expect("record").id).collect();
        assert_eq!(ids, ["c", "d"]);
    }
}
