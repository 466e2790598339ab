//! The administrators' part of the API: tenants, their quotas and their
//! secrets, for an operator who would rather not log in to the machine
//! (`kiln tenant …` does the same on it). Only a tenant added with `--admin`
//! may call these; any other gets 403.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/v1/admin/tenants` | every tenant, its quotas and today's usage |
//! | POST | `/v1/admin/tenants` | add one (JSON); its token is in the answer, only there |
//! | PATCH | `/v1/admin/tenants/{name}` | change weight, run counts, quotas (JSON) |
//! | POST | `/v1/admin/tenants/{name}/revoke` | revoke its token |
//! | GET | `/v1/admin/tenants/{name}/secrets` | its secrets' names (never values) |
//! | PUT | `/v1/admin/tenants/{name}/secrets/{secret}` | set one; the body is the value |
//! | DELETE | `/v1/admin/tenants/{name}/secrets/{secret}` | remove one |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};

use super::core::Service;
use super::error::ServiceError;
use super::http::{ApiError, ErrorBody, json_body};
use super::quotas::{Quotas, Usage};
use super::tenants::{DEFAULT_MAX_QUEUED, DEFAULT_MAX_RUNNING, DEFAULT_WEIGHT, NewTenant, Tenant, TenantChanges};

/// The admin routes.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/v1/admin/tenants", get(list_tenants).post(add_tenant))
        .route("/v1/admin/tenants/{name}", patch(change_tenant))
        .route("/v1/admin/tenants/{name}/revoke", post(revoke_tenant))
        .route("/v1/admin/tenants/{name}/secrets", get(list_secrets))
        .route("/v1/admin/tenants/{name}/secrets/{secret}", put(set_secret).delete(delete_secret))
}

/// A tenant allowed to administer the service.
pub struct Admin(pub Tenant);

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Admin, ApiError> {
        let tenant = Tenant::from_request_parts(parts, service).await?;
        if !tenant.admin {
            return Err(ServiceError::Forbidden(format!(
                "tenant `{}` is not an administrator (add one with `kiln tenant add NAME --admin`)",
                tenant.name
            ))
            .into());
        }
        Ok(Admin(tenant))
    }
}

/// A tenant with what it used today.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantReport {
    /// The tenant.
    #[serde(flatten)]
    pub tenant: Tenant,
    /// What it used today (UTC).
    pub today: Usage,
}

#[utoipa::path(get, path = "/v1/admin/tenants",
    responses((status = 200, body = [TenantReport]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_tenants(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<TenantReport>>, ApiError> {
    let mut reports = Vec::new();
    for tenant in service.db().tenants().await? {
        let today = service.db().usage_today(&tenant.name).await?;
        reports.push(TenantReport { tenant, today });
    }
    Ok(Json(reports))
}

/// A tenant to add.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTenant {
    /// Its name (a-z, 0-9, `-`).
    pub name: String,
    /// Whether it administers the service (default false).
    #[serde(default)]
    pub admin: bool,
    /// Share of the workers (default 1).
    pub weight: Option<u32>,
    /// Runs at once (default 2).
    pub max_running: Option<u32>,
    /// Runs waiting (default 100).
    pub max_queued: Option<u32>,
    /// Its other quotas.
    #[serde(default)]
    pub quotas: Quotas,
}

/// A tenant just added, with its token: shown this once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AddedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Its token; only its hash is kept.
    pub token: String,
}

#[utoipa::path(post, path = "/v1/admin/tenants", request_body = AddTenant,
    responses((status = 201, body = AddedTenant), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the name is taken")))]
pub(super) async fn add_tenant(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    body: Result<Json<AddTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<AddedTenant>), ApiError> {
    let add = json_body(body)?;
    let new = NewTenant {
        name: add.name.clone(),
        admin: add.admin,
        weight: add.weight.unwrap_or(DEFAULT_WEIGHT),
        max_running: add.max_running.unwrap_or(DEFAULT_MAX_RUNNING),
        max_queued: add.max_queued.unwrap_or(DEFAULT_MAX_QUEUED),
        quotas: add.quotas,
    };
    let token = service.db().add_tenant(&new).await?;
    let tenant = service.db().tenant(&add.name).await?.ok_or_else(|| ServiceError::NotFound(add.name.clone()))?;
    Ok((StatusCode::CREATED, Json(AddedTenant { tenant, token })))
}

#[utoipa::path(patch, path = "/v1/admin/tenants/{name}", params(("name" = String, Path)), request_body = TenantChanges,
    responses((status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn change_tenant(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(name): Path<String>,
    body: Result<Json<TenantChanges>, JsonRejection>,
) -> Result<Json<Tenant>, ApiError> {
    let changes = json_body(body)?;
    Ok(Json(service.db().update_tenant(&name, &changes).await?))
}

#[utoipa::path(post, path = "/v1/admin/tenants/{name}/revoke", params(("name" = String, Path)),
    responses((status = 204, description = "its token no longer works"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_tenant(
    State(service): State<Arc<Service>>,
    Admin(admin): Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if name == admin.name {
        return Err(ServiceError::Conflict(
            "an administrator cannot revoke itself here; use `kiln tenant revoke`".into(),
        )
        .into());
    }
    service.db().revoke_tenant(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/admin/tenants/{name}/secrets", params(("name" = String, Path)),
    responses((status = 200, body = [String], description = "names only"), (status = 403, body = ErrorBody)))]
pub(super) async fn list_secrets(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(service.db().secret_names(&name).await?))
}

#[utoipa::path(put, path = "/v1/admin/tenants/{name}/secrets/{secret}",
    params(("name" = String, Path), ("secret" = String, Path)), request_body(content = String, content_type = "text/plain"),
    responses((status = 204, description = "set; never shown again"), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn set_secret(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path((name, secret)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let value = std::str::from_utf8(&body)
        .map_err(|_| ServiceError::BadRequest(format!("secret `{secret}`: the value is not UTF-8")))?;
    service.db().set_secret(&name, &secret, value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/admin/tenants/{name}/secrets/{secret}",
    params(("name" = String, Path), ("secret" = String, Path)),
    responses((status = 204, description = "removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_secret(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path((name, secret)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.db().delete_secret(&name, &secret).await?;
    Ok(StatusCode::NO_CONTENT)
}
