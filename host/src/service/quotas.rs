//! Per-tenant quotas beyond the run counts, and what each tenant used.
//!
//! Two kinds:
//! - **caps** given to every plugin of the tenant's pipelines when they are
//!   built (`plugin_memory_mib`, `plugin_call_ms`): a stage that asks for
//!   more is refused at validation, defaults are lowered to them;
//! - **budgets** per UTC day (`records_per_day`, `stage_seconds_per_day`,
//!   `run_seconds_per_day`, `tokens_per_day`) and of disk (`disk_mib`).
//!   Usage is recorded at every committed chunk. A submission while a budget
//!   is spent is refused (429, naming it); a running run that spends one is
//!   **paused** after its chunk, with the quota named, and resumes from its
//!   last committed chunk when its tenant asks (`POST /v1/runs/{id}/resume`)
//!   once the quota allows.
//!
//! Stage seconds are the wall-clock seconds the engine spent in the run's
//! stages (plugin calls, kernels, model calls): for sandboxed plugins, which
//! cannot sleep past their deadline, that is their CPU time.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::db::{Db, now};
use super::error::ServiceError;

/// A tenant's quotas; `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Linear memory of one plugin instance, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_memory_mib: Option<u64>,
    /// CPU deadline of one plugin call, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_call_ms: Option<u64>,
    /// Input records read per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_day: Option<u64>,
    /// Seconds spent in stages (plugins, kernels, model calls) per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_seconds_per_day: Option<u64>,
    /// Wall-clock seconds of runs on workers per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_seconds_per_day: Option<u64>,
    /// Model tokens (prompt and completion) paid per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    /// Disk under the tenant's directory (runs, uploads, outputs), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_mib: Option<u64>,
}

/// What a tenant used in one UTC day (or what one chunk adds to it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Input records.
    pub records: u64,
    /// Milliseconds in stages.
    pub stage_ms: u64,
    /// Milliseconds of runs on workers.
    pub wall_ms: u64,
    /// Model tokens.
    pub tokens: u64,
}

impl Usage {
    /// Whether nothing was used.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Both added.
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            records: self.records.saturating_add(other.records),
            stage_ms: self.stage_ms.saturating_add(other.stage_ms),
            wall_ms: self.wall_ms.saturating_add(other.wall_ms),
            tokens: self.tokens.saturating_add(other.tokens),
        }
    }
}

impl Quotas {
    /// Parses the quotas column (or an admin's request).
    pub fn parse(text: &str) -> Result<Quotas, ServiceError> {
        serde_json::from_str(text).map_err(|e| ServiceError::BadRequest(format!("quotas: {e}")))
    }

    /// Sets one quota from `key=value` (`value` a number, or `none`).
    pub fn set(&mut self, assignment: &str) -> Result<(), ServiceError> {
        let bad = |m: String| ServiceError::BadRequest(m);
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| bad(format!("quota `{assignment}`: write it as KEY=VALUE, e.g. records_per_day=100000")))?;
        let value = match value.trim() {
            "none" => None,
            v => Some(
                v.parse::<u64>().map_err(|_| bad(format!("quota `{key}`: `{v}` is not a whole number or `none`")))?,
            ),
        };
        let slot = match key.trim() {
            "plugin_memory_mib" => &mut self.plugin_memory_mib,
            "plugin_call_ms" => &mut self.plugin_call_ms,
            "records_per_day" => &mut self.records_per_day,
            "stage_seconds_per_day" => &mut self.stage_seconds_per_day,
            "run_seconds_per_day" => &mut self.run_seconds_per_day,
            "tokens_per_day" => &mut self.tokens_per_day,
            "disk_mib" => &mut self.disk_mib,
            other => {
                return Err(bad(format!(
                    "no quota `{other}`: the quotas are plugin_memory_mib, plugin_call_ms, records_per_day, \
                     stage_seconds_per_day, run_seconds_per_day, tokens_per_day, disk_mib"
                )));
            }
        };
        *slot = value;
        Ok(())
    }

    /// The caps every plugin of the tenant gets, if any is set.
    pub fn limit_caps(&self) -> Option<kiln_sandbox::PluginLimits> {
        if self.plugin_memory_mib.is_none() && self.plugin_call_ms.is_none() {
            return None;
        }
        let defaults = kiln_sandbox::PluginLimits::default();
        Some(kiln_sandbox::PluginLimits {
            memory_mib: self.plugin_memory_mib.unwrap_or(defaults.memory_mib),
            time_per_call_ms: self.plugin_call_ms.unwrap_or(defaults.time_per_call_ms),
            ..defaults
        })
    }

    /// The first budget that `today` (and `disk_bytes`) has spent, said for
    /// the tenant: which quota, what was used, and what to do.
    pub fn spent(&self, tenant: &str, today: &Usage, disk_bytes: u64) -> Option<String> {
        let budgets = [
            ("records_per_day", self.records_per_day, today.records, "records today"),
            ("stage_seconds_per_day", self.stage_seconds_per_day, today.stage_ms / 1000, "stage seconds today"),
            ("run_seconds_per_day", self.run_seconds_per_day, today.wall_ms / 1000, "run seconds today"),
            ("tokens_per_day", self.tokens_per_day, today.tokens, "model tokens today"),
            ("disk_mib", self.disk_mib, disk_bytes >> 20, "MiB on disk"),
        ];
        budgets.into_iter().find_map(|(quota, limit, used, what)| {
            let limit = limit?;
            (used >= limit).then(|| {
                let wait = if quota == "disk_mib" { "delete old runs" } else { "wait for the next UTC day" };
                format!(
                    "quota `{quota}` of tenant `{tenant}` is spent: {used} {what} (limit {limit}); {wait}, or ask the operator to raise it"
                )
            })
        })
    }
}

/// One run's hold on its tenant's daily budgets: charged at every committed
/// chunk on the engine's thread, so the run stops right after the chunk that
/// spends a budget (the engine checks its cancel flag between chunks).
/// The quota keeper also stops it, from the database's view (other runs of
/// the tenant, wall time, disk).
pub struct RunBudget {
    tenant: String,
    quotas: Quotas,
    /// The tenant's usage today when the run started, and the run's since.
    used: std::sync::Mutex<Usage>,
    reason: std::sync::Mutex<Option<String>>,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RunBudget {
    /// A budget for a run of `tenant`, which had used `today` when it started.
    pub fn new(
        tenant: &str,
        quotas: &Quotas,
        today: Usage,
        cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> RunBudget {
        RunBudget {
            tenant: tenant.to_string(),
            quotas: quotas.clone(),
            used: std::sync::Mutex::new(today),
            reason: std::sync::Mutex::new(None),
            cancel,
        }
    }

    /// Adds a committed chunk's usage; stops the run if a daily budget is spent.
    pub fn charge(&self, chunk: &Usage) {
        let used = {
            let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *used = used.plus(chunk);
            *used
        };
        if let Some(reason) = self.quotas.spent(&self.tenant, &used, 0) {
            self.stop(reason);
        }
    }

    /// Stops the run after its current chunk, for `reason` (the first one given is kept).
    pub fn stop(&self, reason: String) {
        self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(reason);
        self.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Why the run was stopped, if a quota stopped it.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The tenant's quotas.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// The UTC day of `seconds` since the epoch.
pub fn day_of(seconds: i64) -> i64 {
    seconds.div_euclid(86_400)
}

/// Bytes of the files under `dir` (0 when it does not exist).
pub fn disk_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn wide(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Db {
    /// Adds `usage` to `tenant`'s today.
    pub async fn add_usage(&self, tenant: &str, usage: &Usage) -> Result<(), ServiceError> {
        if usage.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO tenant_usage (tenant, day, records, stage_ms, wall_ms, tokens) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant, day) DO UPDATE SET records = tenant_usage.records + excluded.records, \
             stage_ms = tenant_usage.stage_ms + excluded.stage_ms, wall_ms = tenant_usage.wall_ms + excluded.wall_ms, \
             tokens = tenant_usage.tokens + excluded.tokens",
        )
        .bind(tenant)
        .bind(day_of(now()))
        .bind(wide(usage.records))
        .bind(wide(usage.stage_ms))
        .bind(wide(usage.wall_ms))
        .bind(wide(usage.tokens))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What `tenant` used today (UTC).
    pub async fn usage_today(&self, tenant: &str) -> Result<Usage, ServiceError> {
        let row =
            sqlx::query("SELECT records, stage_ms, wall_ms, tokens FROM tenant_usage WHERE tenant = $1 AND day = $2")
                .bind(tenant)
                .bind(day_of(now()))
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(Usage::default()) };
        let get = |column: &str| -> Result<u64, ServiceError> { Ok(row.try_get::<i64, _>(column)?.max(0) as u64) };
        Ok(Usage {
            records: get("records")?,
            stage_ms: get("stage_ms")?,
            wall_ms: get("wall_ms")?,
            tokens: get("tokens")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_set_by_name_and_parsed_strictly() {
        let mut q = Quotas::default();
        q.set("records_per_day=100").expect("set");
        q.set("plugin_memory_mib = 64").expect("spaces");
        assert_eq!((q.records_per_day, q.plugin_memory_mib), (Some(100), Some(64)));
        q.set("records_per_day=none").expect("unset");
        assert_eq!(q.records_per_day, None);
        assert!(q.set("records=5").expect_err("unknown").to_string().contains("records_per_day"));
        assert!(q.set("disk_mib=lots").is_err());
        assert!(Quotas::parse(r#"{"disk": 1}"#).is_err());
        let text = serde_json::to_string(&q).expect("json");
        assert_eq!(Quotas::parse(&text).expect("round trip"), q);
    }

    #[test]
    fn a_spent_budget_is_named() {
        let q = Quotas { records_per_day: Some(10), disk_mib: Some(1), ..Quotas::default() };
        let fresh = Usage::default();
        assert_eq!(q.spent("a", &fresh, 0), None);
        let busy = Usage { records: 10, ..Usage::default() };
        let message = q.spent("a", &busy, 0).expect("spent");
        assert!(message.contains("quota `records_per_day` of tenant `a`"), "{message}");
        assert!(q.spent("a", &fresh, 2 << 20).expect("disk").contains("disk_mib"));
        assert_eq!(Quotas::default().limit_caps(), None);
        let caps = Quotas { plugin_call_ms: Some(200), ..Quotas::default() }.limit_caps().expect("caps");
        assert_eq!((caps.time_per_call_ms, caps.memory_mib), (200, 256));
    }
}
