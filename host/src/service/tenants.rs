//! Tenants: who may use the service, with what quotas.
//!
//! `kiln tenant add|list|revoke` and the API's authentication both go
//! through here. A tenant's token is shown once, when it is created; the
//! database keeps its hash ([`tokens`](super::tokens)).

use serde::Serialize;
use sqlx::Row;

use super::db::{Db, now};
use super::error::ServiceError;
use super::tokens;

/// A tenant as the service knows it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// When it was revoked (seconds since the epoch), if it was.
    pub revoked_at: Option<i64>,
}

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
        "SELECT name, admin, weight, max_running, max_queued, revoked_at FROM tenants"
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
            "INSERT INTO tenants (name, token_hash, admin, weight, max_running, max_queued, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&tenant.name)
        .bind(tokens::hash(&token))
        .bind(i64::from(tenant.admin))
        .bind(i64::from(tenant.weight))
        .bind(i64::from(tenant.max_running))
        .bind(i64::from(tenant.max_queued))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(token)
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
        revoked_at: row.try_get("revoked_at")?,
    })
}
