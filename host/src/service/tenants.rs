//! Tenants: who may use the service, with what quotas.
//!
//! `kiln tenant add|list|revoke` and the API's authentication both go
//! through here. A tenant's token is shown once, when it is created; the
//! database keeps its hash ([`tokens`](super::tokens)).

use serde::Serialize;
use sqlx::Row;

use super::db::{Db, now};
use super::error::ServiceError;
use super::quotas::Quotas;
use super::tokens;

/// A tenant as the service knows it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Its name (`[a-z0-9-]`, 1 to 40 characters).
    pub name: String,
    /// Whether it administers the service.
    pub admin: bool,
    /// Its share of the workers when tenants compete (deficit round robin).
    pub weight: u32,
    /// Runs it may have running at once.
    pub max_running: u32,
    /// Runs it may have waiting.
    pub max_queued: u32,
    /// Its other quotas ([`Quotas`]).
    pub quotas: Quotas,
    /// When it was revoked (seconds since the epoch), if it was.
    pub revoked_at: Option<i64>,
}

/// A new tenant's share of the workers, unless it is given one.
pub const DEFAULT_WEIGHT: u32 = 1;
/// A new tenant's concurrent runs, unless given.
pub const DEFAULT_MAX_RUNNING: u32 = 2;
/// A new tenant's queued runs, unless given.
pub const DEFAULT_MAX_QUEUED: u32 = 100;

/// What `kiln tenant add` sets.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Name.
    pub name: String,
    /// Administrator.
    pub admin: bool,
    /// Weight (at least 1).
    pub weight: u32,
    /// Concurrent runs (at least 1).
    pub max_running: u32,
    /// Queued runs.
    pub max_queued: u32,
    /// The other quotas.
    pub quotas: Quotas,
}

/// What an administrator changes about a tenant (`None`: unchanged).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChanges {
    /// Share of the workers.
    pub weight: Option<u32>,
    /// Concurrent runs.
    pub max_running: Option<u32>,
    /// Queued runs.
    pub max_queued: Option<u32>,
    /// The quotas, replacing all of them.
    pub quotas: Option<Quotas>,
}

/// Checks a tenant name: it names a directory, so it is kept plain.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let plain = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if plain {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "tenant name `{}`: use 1 to 40 characters of a-z, 0-9 and `-`, not starting with `-`",
            name.escape_default()
        )))
    }
}

/// The columns every query of this table reads (a literal, as sqlx wants SQL to be).
macro_rules! select_tenant {
    () => {
        "SELECT name, admin, weight, max_running, max_queued, quotas, revoked_at FROM tenants"
    };
}

impl Db {
    /// Adds a tenant; returns its token, which is not kept anywhere.
    pub async fn add_tenant(&self, tenant: &NewTenant) -> Result<String, ServiceError> {
        check_name(&tenant.name)?;
        if tenant.weight == 0 || tenant.max_running == 0 {
            return Err(ServiceError::BadRequest("weight and max_running must be at least 1".into()));
        }
        let exists = sqlx::query("SELECT name FROM tenants WHERE name = $1")
            .bind(&tenant.name)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_some() {
            return Err(ServiceError::Conflict(format!("tenant `{}` exists", tenant.name)));
        }
        let token = tokens::new_token()?;
        sqlx::query(
            "INSERT INTO tenants (name, token_hash, admin, weight, max_running, max_queued, quotas, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&tenant.name)
        .bind(tokens::hash(&token))
        .bind(i64::from(tenant.admin))
        .bind(i64::from(tenant.weight))
        .bind(i64::from(tenant.max_running))
        .bind(i64::from(tenant.max_queued))
        .bind(quotas_text(&tenant.quotas)?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Changes an active tenant's weight, run counts or quotas.
    pub async fn update_tenant(&self, name: &str, changes: &TenantChanges) -> Result<Tenant, ServiceError> {
        let mut tenant = self
            .tenant(name)
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or_else(|| ServiceError::NotFound(format!("no active tenant `{name}`")))?;
        tenant.weight = changes.weight.unwrap_or(tenant.weight);
        tenant.max_running = changes.max_running.unwrap_or(tenant.max_running);
        tenant.max_queued = changes.max_queued.unwrap_or(tenant.max_queued);
        if let Some(quotas) = &changes.quotas {
            tenant.quotas = quotas.clone();
        }
        if tenant.weight == 0 || tenant.max_running == 0 {
            return Err(ServiceError::BadRequest("weight and max_running must be at least 1".into()));
        }
        sqlx::query("UPDATE tenants SET weight = $1, max_running = $2, max_queued = $3, quotas = $4 WHERE name = $5")
            .bind(i64::from(tenant.weight))
            .bind(i64::from(tenant.max_running))
            .bind(i64::from(tenant.max_queued))
            .bind(quotas_text(&tenant.quotas)?)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(tenant)
    }

    /// Every tenant, revoked ones included, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, ServiceError> {
        let rows = sqlx::query(concat!(select_tenant!(), " ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Revokes a tenant's token: its requests are refused from now on.
    pub async fn revoke_tenant(&self, name: &str) -> Result<(), ServiceError> {
        let done = sqlx::query("UPDATE tenants SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ServiceError::NotFound(format!("no active tenant `{name}`")));
        }
        Ok(())
    }

    /// The active tenant whose token is `token`.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Tenant>, ServiceError> {
        let row = sqlx::query(concat!(select_tenant!(), " WHERE token_hash = $1 AND revoked_at IS NULL"))
            .bind(tokens::hash(token))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// The tenant named `name`.
    pub async fn tenant(&self, name: &str) -> Result<Option<Tenant>, ServiceError> {
        let row =
            sqlx::query(concat!(select_tenant!(), " WHERE name = $1")).bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(tenant_from_row).transpose()
    }
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant, ServiceError> {
    let small = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(Tenant {
        name: row.try_get("name")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
        weight: small(row.try_get("weight")?),
        max_running: small(row.try_get("max_running")?),
        max_queued: small(row.try_get("max_queued")?),
        quotas: Quotas::parse(&row.try_get::<String, _>("quotas")?)?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn quotas_text(quotas: &Quotas) -> Result<String, ServiceError> {
    serde_json::to_string(quotas).map_err(|e| ServiceError::BadRequest(format!("quotas: {e}")))
}
