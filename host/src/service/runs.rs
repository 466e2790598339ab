//! Runs in the database: submitted, queued, running, finished.
//!
//! Every query that reads a run takes the tenant: a run of another tenant is
//! not found, exactly like one that never existed.

use serde::Serialize;
use sqlx::Row;

use super::db::{Db, now};
use super::error::ServiceError;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// On a worker.
    Running,
    /// Stopped after a committed chunk because a quota was spent (the
    /// message names it); resumes from there when its tenant asks.
    Paused,
    /// Stopped at a `review` stage before a chunk with records nobody has
    /// labelled: the review queue shows them; resumes when its tenant asks.
    Review,
    /// Finished; its outputs can be fetched.
    Done,
    /// Stopped by an error (the message says which).
    Failed,
    /// Cancelled by its tenant.
    Cancelled,
}

impl Status {
    /// How the API and the database write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Review => "review",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "review" => Status::Review,
            "done" => Status::Done,
            "cancelled" => Status::Cancelled,
            _ => Status::Failed,
        }
    }

    /// Whether the run stopped and waits for its tenant to resume it.
    pub fn is_waiting(self) -> bool {
        matches!(self, Status::Paused | Status::Review)
    }

    /// Whether the run will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    /// Its id (random, unguessable).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Submission order across the service.
    #[serde(skip)]
    pub seq: i64,
    /// The pipeline's name.
    pub pipeline: String,
    /// Where it is.
    pub status: Status,
    /// Why it failed, or what it is doing.
    pub message: Option<String>,
    /// Submitted (seconds since the epoch).
    pub created_at: i64,
    /// Started on a worker.
    pub started_at: Option<i64>,
    /// The order in which runs started on workers, across the service.
    pub start_order: Option<i64>,
    /// Finished.
    pub finished_at: Option<i64>,
    /// Records kept, once done.
    pub kept: Option<i64>,
    /// Records rejected, once done.
    pub rejected: Option<i64>,
    /// Records quarantined, once done.
    pub quarantined: Option<i64>,
}

/// The counts of a finished run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Kept.
    pub kept: u64,
    /// Rejected.
    pub rejected: u64,
    /// Quarantined.
    pub quarantined: u64,
}

/// The columns every query of this table reads (a literal, as sqlx wants SQL to be).
macro_rules! select_run {
    () => {
        "SELECT id, tenant, seq, pipeline, status, message, created_at, started_at, start_order, finished_at, \
                          kept, rejected, quarantined FROM runs"
    };
}

impl Db {
    /// Records a submitted run as queued.
    pub async fn insert_run(&self, id: &str, tenant: &str, pipeline: &str) -> Result<Run, ServiceError> {
        // One statement: a read-then-write transaction would fail under
        // concurrent submissions on SQLite (a stale read snapshot cannot be
        // upgraded to a write, and waiting does not help).
        sqlx::query(
            "INSERT INTO runs (id, tenant, seq, pipeline, status, created_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), $3, 'queued', $4)",
        )
        .bind(id)
        .bind(tenant)
        .bind(pipeline)
        .bind(now())
        .execute(&self.pool)
        .await?;
        self.run(tenant, id).await?.ok_or_else(|| ServiceError::NotFound(format!("run {id} vanished")))
    }

    /// Tenant `tenant`'s run `id`.
    pub async fn run(&self, tenant: &str, id: &str) -> Result<Option<Run>, ServiceError> {
        let row = sqlx::query(concat!(select_run!(), " WHERE tenant = $1 AND id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Tenant `tenant`'s runs, newest first.
    pub async fn runs(&self, tenant: &str) -> Result<Vec<Run>, ServiceError> {
        let rows = sqlx::query(concat!(select_run!(), " WHERE tenant = $1 ORDER BY seq DESC"))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Every queued or running run, in submission order: what a restarted
    /// service takes up again.
    pub async fn unfinished_runs(&self) -> Result<Vec<Run>, ServiceError> {
        let rows = sqlx::query(concat!(select_run!(), " WHERE status IN ('queued', 'running') ORDER BY seq"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// How many of `tenant`'s runs have `status`.
    pub async fn count_runs(&self, tenant: &str, status: Status) -> Result<u64, ServiceError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE tenant = $1 AND status = $2")
            .bind(tenant)
            .bind(status.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// A run starts on a worker.
    pub async fn mark_running(&self, id: &str) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE runs SET status = 'running', started_at = $1, \
             start_order = (SELECT COALESCE(MAX(start_order), 0) + 1 FROM runs) WHERE id = $2 AND status = 'queued'",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A running run stops, for the reason `message` (a spent quota), to be resumed.
    pub async fn pause_run(&self, id: &str, status: Status, message: &str) -> Result<(), ServiceError> {
        sqlx::query("UPDATE runs SET status = $1, message = $2 WHERE id = $3 AND status = 'running'")
            .bind(status.as_str())
            .bind(message)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A paused run of `tenant` (or one waiting for review) is queued again;
    /// false if it was neither.
    pub async fn requeue_paused(&self, tenant: &str, id: &str) -> Result<bool, ServiceError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', message = NULL WHERE tenant = $1 AND id = $2 AND status IN ('paused', 'review')",
        )
        .bind(tenant)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A run ends with `status` (never after it ended: the first end wins).
    pub async fn finish_run(
        &self,
        id: &str,
        status: Status,
        message: Option<&str>,
        outcome: Option<Outcome>,
    ) -> Result<bool, ServiceError> {
        let count = |f: fn(&Outcome) -> u64| outcome.as_ref().map(|o| f(o).min(i64::MAX as u64) as i64);
        let done = sqlx::query(
            "UPDATE runs SET status = $1, message = $2, finished_at = $3, kept = $4, rejected = $5, quarantined = $6 \
             WHERE id = $7 AND status IN ('queued', 'running', 'paused', 'review')",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now())
        .bind(count(|o| o.kept))
        .bind(count(|o| o.rejected))
        .bind(count(|o| o.quarantined))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn run_from_row(row: &sqlx::any::AnyRow) -> Result<Run, ServiceError> {
    Ok(Run {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        seq: row.try_get("seq")?,
        pipeline: row.try_get("pipeline")?,
        status: Status::parse(&row.try_get::<String, _>("status")?),
        message: row.try_get("message")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        start_order: row.try_get("start_order")?,
        finished_at: row.try_get("finished_at")?,
        kept: row.try_get("kept")?,
        rejected: row.try_get("rejected")?,
        quarantined: row.try_get("quarantined")?,
    })
}
