//! The human review queue: people still cull what the critic lets through.
//!
//! A reviewer sees the records a run kept — or, for a run stopped at a
//! `review` stage, the records that stage holds — one at a time, in a fixed
//! pseudo-random order (by the SHA-256 of the record id, so a sample of any
//! size is spread over the whole output and the same for every reviewer),
//! with the judge's scores and rationale beside each, and — for a rewritten
//! record — the original beside the rewrite as a word diff. Each record is
//! accepted or rejected; the last label can be undone. Labels belong to the
//! tenant and are stored in the database.
//!
//! Labels feed back into pipelines: a submission naming the input
//! `reviews/<run id>.jsonl` gets the records reviewed in that run, each with
//! `metadata.review` = 1 (accepted) or 0 (rejected), written into its run
//! directory — the label source of a `train-classifier` stage
//! (`label = "metadata.review"`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::core::Service;
use super::db::{Db, now};
use super::error::ServiceError;
use super::runs::Status;
use super::tenants::Tenant;
use crate::record::Record;

/// Records of a run's output the queue looks at, at most.
pub const MAX_QUEUE: usize = 10_000;

/// A reviewer's verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Good enough to keep.
    Accept,
    /// The critic should not have let it through.
    Reject,
}

impl Label {
    /// `accept` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Accept => "accept",
            Label::Reject => "reject",
        }
    }

    /// Parses `accept` / `reject`.
    pub fn parse(text: &str) -> Result<Label, ServiceError> {
        match text {
            "accept" => Ok(Label::Accept),
            "reject" => Ok(Label::Reject),
            other => {
                Err(ServiceError::BadRequest(format!("label `{}`: give `accept` or `reject`", other.escape_default())))
            }
        }
    }
}

/// One record in front of the reviewer.
#[derive(Debug, Clone)]
pub struct ReviewItem {
    /// The record.
    pub record: Record,
    /// The judges' rationales, by critique stage.
    pub rationales: Vec<(String, String)>,
    /// The text it was rewritten from, for a refined record.
    pub original: Option<String>,
}

/// Where the queue of a run stands.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The next record to review, if any is left.
    pub next: Option<ReviewItem>,
    /// Records labelled so far.
    pub reviewed: usize,
    /// Of them, accepted.
    pub accepted: usize,
    /// Records in the queue.
    pub total: usize,
}

/// The records to review in run directory `run_dir`: those a `review` stage
/// holds if the run waits for review (`held`), else those the run kept.
pub fn queue_file(run_dir: &Path, held: bool) -> PathBuf {
    if held {
        // The stage that stopped the run wrote its file last (a run with
        // rounds has a work directory per round).
        let newest = walkdir::WalkDir::new(run_dir.join("work"))
            .max_depth(8)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file()
                    && e.file_name().to_str().is_some_and(|n| n.ends_with(".pending.jsonl"))
                    && e.path().parent().and_then(Path::file_name).is_some_and(|d| d == "review")
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.into_path())))
            .max();
        if let Some((_, path)) = newest {
            return path;
        }
    }
    run_dir.join("out").join("kept.jsonl")
}

/// The records of `path` (JSONL; none if it is missing) in review order.
pub fn review_order(path: &Path) -> Result<Vec<Record>, ServiceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ServiceError::io(path, e)),
    };
    let mut records: Vec<(Vec<u8>, Record)> = text
        .lines()
        .take(MAX_QUEUE)
        .filter_map(|line| serde_json::from_str::<Record>(line).ok())
        .map(|r| (Sha256::digest(r.id.as_bytes()).to_vec(), r))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(records.into_iter().map(|(_, r)| r).collect())
}

/// The judges' rationales on `record` (`metadata.critique.<stage>.rationale`).
fn rationales(record: &Record) -> Vec<(String, String)> {
    let Some(Value::Object(critiques)) = record.metadata.get("critique") else { return Vec::new() };
    critiques
        .iter()
        .filter_map(|(stage, v)| Some((stage.clone(), v.get("rationale")?.as_str()?.to_string())))
        .filter(|(_, r)| !r.is_empty())
        .collect()
}

/// The texts of the records `ids` in the run's uploaded JSONL inputs (not
/// its work or output directories): the originals of refined records.
fn originals(run_dir: &Path, ids: &HashSet<String>) -> HashMap<String, String> {
    let mut found = HashMap::new();
    if ids.is_empty() {
        return found;
    }
    let files = walkdir::WalkDir::new(run_dir)
        .max_depth(9)
        .into_iter()
        .filter_entry(|e| e.depth() != 1 || !matches!(e.file_name().to_str(), Some("work" | "out")))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "jsonl"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(file.path()) else { continue };
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<Record>(line)
                && ids.contains(&r.id)
            {
                found.insert(r.id, r.text);
            }
        }
    }
    found
}

/// The queue of run `run` of `tenant`, whose directory is `run_dir`; `held`:
/// the run waits at a `review` stage.
pub async fn queue(db: &Db, tenant: &str, run: &str, run_dir: &Path, held: bool) -> Result<Queue, ServiceError> {
    let labels = db.labels(tenant, run).await?;
    let dir = run_dir.to_path_buf();
    let order = tokio::task::spawn_blocking(move || review_order(&queue_file(&dir, held)))
        .await
        .map_err(|e| ServiceError::BadRequest(format!("reading the run's output stopped: {e}")))??;
    let reviewed = order.iter().filter(|r| labels.contains_key(&r.id)).count();
    let accepted = order.iter().filter(|r| labels.get(&r.id) == Some(&Label::Accept)).count();
    let total = order.len();
    let next = order.into_iter().find(|r| !labels.contains_key(&r.id));
    let next = match next {
        None => None,
        Some(record) => {
            let parent: HashSet<String> = record.lineage.parent.iter().cloned().collect();
            let dir = run_dir.to_path_buf();
            let mut found = tokio::task::spawn_blocking(move || originals(&dir, &parent)).await.unwrap_or_default();
            let original = record.lineage.parent.as_ref().and_then(|p| found.remove(p));
            Some(ReviewItem { rationales: rationales(&record), original, record })
        }
    };
    Ok(Queue { next, reviewed, accepted, total })
}

/// The records of run `id` of `tenant` to review, in review order, and
/// whether they are held by a `review` stage.
async fn records_to_review(service: &Service, tenant: &Tenant, id: &str) -> Result<(Vec<Record>, bool), ServiceError> {
    let run = service.run(tenant, id).await?;
    let dir = service.run_dir(&tenant.name, id);
    let held = run.status == Status::Review;
    let records = tokio::task::spawn_blocking(move || review_order(&queue_file(&dir, held)))
        .await
        .map_err(|e| ServiceError::BadRequest(format!("reading the run's records stopped: {e}")))??;
    Ok((records, held))
}

/// The records of run `id` of `tenant` nobody has labelled yet, in review order.
pub async fn unlabelled(service: &Service, tenant: &Tenant, id: &str) -> Result<Vec<Record>, ServiceError> {
    let (records, _) = records_to_review(service, tenant, id).await?;
    let labels = service.db().labels(&tenant.name, id).await?;
    Ok(records.into_iter().filter(|r| !labels.contains_key(&r.id)).collect())
}

/// Labels records of run `id` of `tenant`: each must be in the run's queue
/// (what it kept, or what its `review` stage holds while it waits).
pub async fn label_records(
    service: &Service,
    tenant: &Tenant,
    id: &str,
    labels: &[(String, Label)],
) -> Result<(), ServiceError> {
    let (records, held) = records_to_review(service, tenant, id).await?;
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut found = Vec::with_capacity(labels.len());
    for (record, label) in labels {
        let Some(r) = by_id.get(record.as_str()) else {
            let what = if held { "holds" } else { "kept" };
            return Err(ServiceError::NotFound(format!(
                "run {id} {what} no record `{}` to review; nothing was labelled",
                record.escape_default()
            )));
        };
        found.push((*r, *label));
    }
    for (record, label) in found {
        service.db().add_label(&tenant.name, id, record, label).await?;
    }
    Ok(())
}

/// `old` against `new`, word by word: each piece with `-1` (only in old),
/// `0` (both) or `1` (only in new).
pub fn word_diff(old: &str, new: &str) -> Vec<(i8, String)> {
    let diff = similar::TextDiff::from_words(old, new);
    diff.iter_all_changes()
        .map(|change| {
            let side = match change.tag() {
                similar::ChangeTag::Delete => -1,
                similar::ChangeTag::Equal => 0,
                similar::ChangeTag::Insert => 1,
            };
            (side, change.value().to_string())
        })
        .collect()
}

impl Db {
    /// Labels `record` of `run` (the label replaces an earlier one).
    pub async fn add_label(&self, tenant: &str, run: &str, record: &Record, label: Label) -> Result<(), ServiceError> {
        let json = serde_json::to_string(record).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        sqlx::query(
            "INSERT INTO review_labels (tenant, run_id, record_id, label, record, created_at, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM review_labels)) \
             ON CONFLICT (tenant, run_id, record_id) DO UPDATE SET label = excluded.label, \
             created_at = excluded.created_at, seq = excluded.seq",
        )
        .bind(tenant)
        .bind(run)
        .bind(&record.id)
        .bind(label.as_str())
        .bind(json)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the latest label of `run`; returns the record id it was on.
    pub async fn undo_label(&self, tenant: &str, run: &str) -> Result<Option<String>, ServiceError> {
        let row = sqlx::query(
            "SELECT record_id FROM review_labels WHERE tenant = $1 AND run_id = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(run)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("record_id")?;
        sqlx::query("DELETE FROM review_labels WHERE tenant = $1 AND run_id = $2 AND record_id = $3")
            .bind(tenant)
            .bind(run)
            .bind(&id)
            .execute(&self.pool)
            .await?;
        Ok(Some(id))
    }

    /// The labels of `run`, by record id.
    pub async fn labels(&self, tenant: &str, run: &str) -> Result<BTreeMap<String, Label>, ServiceError> {
        let rows = sqlx::query("SELECT record_id, label FROM review_labels WHERE tenant = $1 AND run_id = $2")
            .bind(tenant)
            .bind(run)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("record_id")?, Label::parse(&r.try_get::<String, _>("label")?)?))).collect()
    }

    /// The reviewers' verdicts on `run`'s records, as `review` stages apply
    /// them: `true` accepted, `false` rejected.
    pub async fn verdicts(
        &self,
        tenant: &str,
        run: &str,
    ) -> Result<crate::pipeline::stages::review_gate::ReviewLabels, ServiceError> {
        Ok(self.labels(tenant, run).await?.into_iter().map(|(id, label)| (id, label == Label::Accept)).collect())
    }

    /// The records labelled in `run`, as JSONL with `metadata.review` = 1
    /// (accepted) or 0 (rejected), in labelling order.
    pub async fn labelled_jsonl(&self, tenant: &str, run: &str) -> Result<String, ServiceError> {
        let rows =
            sqlx::query("SELECT record, label FROM review_labels WHERE tenant = $1 AND run_id = $2 ORDER BY seq")
                .bind(tenant)
                .bind(run)
                .fetch_all(&self.pool)
                .await?;
        let mut out = String::new();
        for row in rows {
            let text: String = row.try_get("record")?;
            let label = Label::parse(&row.try_get::<String, _>("label")?)?;
            let Ok(mut record) = serde_json::from_str::<Record>(&text) else { continue };
            record.metadata.insert("review".into(), Value::from(u8::from(label == Label::Accept)));
            if let Ok(line) = serde_json::to_string(&record) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_order_is_fixed_and_spread_over_the_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String =
            (0..50).map(|i| format!("{}\n", serde_json::json!({"id": format!("r{i}"), "text": "x"}))).collect();
        std::fs::create_dir(dir.path().join("out")).expect("out");
        std::fs::write(dir.path().join("out/kept.jsonl"), lines).expect("write");
        let file = queue_file(dir.path(), true);
        assert_eq!(file, dir.path().join("out/kept.jsonl"), "nothing held: the kept records");
        let first: Vec<String> = review_order(&file).expect("order").into_iter().map(|r| r.id).collect();
        let again: Vec<String> = review_order(&file).expect("order").into_iter().map(|r| r.id).collect();
        assert_eq!(first, again);
        assert_eq!(first.len(), 50);
        assert_ne!(first[..10], (0..10).map(|i| format!("r{i}")).collect::<Vec<_>>()[..], "not file order");
        assert!(review_order(&dir.path().join("missing")).expect("empty").is_empty());
        std::fs::create_dir_all(dir.path().join("work/phase-0/review")).expect("work");
        std::fs::write(dir.path().join("work/phase-0/review/gate.pending.jsonl"), "").expect("pending");
        assert_eq!(queue_file(dir.path(), true), dir.path().join("work/phase-0/review/gate.pending.jsonl"));
        assert_eq!(queue_file(dir.path(), false), dir.path().join("out/kept.jsonl"));
    }

    #[test]
    fn a_word_diff_marks_what_the_rewrite_removed_and_added() {
        let diff = word_diff("call Alice at 555-0100 today", "call [NAME] at [PHONE] today");
        let removed: String = diff.iter().filter(|(s, _)| *s == -1).map(|(_, w)| w.as_str()).collect();
        let added: String = diff.iter().filter(|(s, _)| *s == 1).map(|(_, w)| w.as_str()).collect();
        assert!(removed.contains("Alice") && removed.contains("555-0100"), "{diff:?}");
        assert!(added.contains("[NAME]") && added.contains("[PHONE]"), "{diff:?}");
        assert!(diff.iter().any(|(s, w)| *s == 0 && w == "today"));
    }

    #[test]
    fn labels_parse_strictly() {
        assert_eq!(Label::parse("accept").expect("ok"), Label::Accept);
        assert!(Label::parse("maybe").is_err());
    }
}
