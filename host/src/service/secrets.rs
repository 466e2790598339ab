//! Tenants' secrets: the API keys a tenant's pipelines name by
//! `api_key_env`, set by the operator (`kiln tenant secret set`, or the admin
//! API) and never readable back — neither listing nor the API returns a
//! value. A pipeline may name only its tenant's secrets; they reach the model
//! backend through [`Secrets::Given`](crate::model::Secrets), never the
//! process environment.
//!
//! Values are kept in the database as given: whoever can read the database
//! file (or the PostgreSQL role) can read them, as with any service's
//! credentials store; protect it accordingly (docs/service.md).

use std::collections::BTreeMap;

use sqlx::Row;

use super::db::{Db, now};
use super::error::ServiceError;

/// Checks a secret's name: what `api_key_env` may say.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if plain {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "secret name `{}`: use 1 to 64 characters of A-Z, 0-9 and `_`, not starting with a digit (like an environment variable)",
            name.escape_default()
        )))
    }
}

impl Db {
    /// Sets (or replaces) `tenant`'s secret `name`.
    pub async fn set_secret(&self, tenant: &str, name: &str, value: &str) -> Result<(), ServiceError> {
        check_name(name)?;
        if value.trim().is_empty() {
            return Err(ServiceError::BadRequest(format!("secret `{name}`: the value is empty")));
        }
        if self.tenant(tenant).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no tenant `{tenant}`")));
        }
        sqlx::query(
            "INSERT INTO tenant_secrets (tenant, name, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(name)
        .bind(value.trim())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes `tenant`'s secret `name`.
    pub async fn delete_secret(&self, tenant: &str, name: &str) -> Result<(), ServiceError> {
        let done = sqlx::query("DELETE FROM tenant_secrets WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ServiceError::NotFound(format!("tenant `{tenant}` has no secret `{name}`")));
        }
        Ok(())
    }

    /// The names of `tenant`'s secrets (never their values).
    pub async fn secret_names(&self, tenant: &str) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query("SELECT name FROM tenant_secrets WHERE tenant = $1 ORDER BY name")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// `tenant`'s secrets with their values, for building its pipelines only.
    pub(super) async fn secrets(&self, tenant: &str) -> Result<BTreeMap<String, String>, ServiceError> {
        let rows = sqlx::query("SELECT name, value FROM tenant_secrets WHERE tenant = $1")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("value")?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_look_like_environment_variables() {
        for ok in ["OPENAI_API_KEY", "K", "TEAM_A_KEY2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "lower", "2KEY", "A-B", "A B", &"X".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
