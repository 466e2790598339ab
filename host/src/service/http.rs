//! What every handler of the API shares: error answers (JSON, with a
//! status that says whose fault it is) and the tenant a request comes from
//! (its bearer token). Kept apart from the routes so that the tenants' API
//! and the administrators' both use it without importing each other.

use std::sync::Arc;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::rejection::JsonRejection;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::core::Service;
use super::error::ServiceError;
use super::tenants::Tenant;

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, and what to do about it.
    pub error: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Database(_)
            | ServiceError::Migration(_)
            | ServiceError::Io { .. }
            | ServiceError::Random(_) => {
                tracing::error!("{e}");
                return ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the service failed; the operator's log says why".into(),
                );
            }
        };
        ApiError(status, e.to_string())
    }
}

impl FromRequestParts<Arc<Service>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Tenant, ApiError> {
        let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, m.to_string());
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer TOKEN` (tokens come from `kiln tenant add`)"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
        service.db().authenticate(token.trim()).await?.ok_or_else(|| unauthorized("unknown or revoked token"))
    }
}

/// A JSON body, or a 4xx saying what is wrong with it.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|r| ApiError(r.status(), r.body_text()))
}

/// The files of a run's output directory a tenant may fetch, with their types.
pub const OUTPUT_FILES: [(&str, &str); 5] = [
    ("kept.jsonl", "application/x-ndjson"),
    ("rejected.jsonl", "application/x-ndjson"),
    ("quarantine.jsonl", "application/x-ndjson"),
    ("stats.json", "application/json"),
    ("report.html", "text/html; charset=utf-8"),
];

/// Output `name` of `tenant`'s run `id`.
pub async fn output_file(service: &Service, tenant: &Tenant, id: &str, name: &str) -> Result<Response, ApiError> {
    service.run(tenant, id).await?;
    let (name, content_type) = OUTPUT_FILES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let names: Vec<&str> = OUTPUT_FILES.iter().map(|(n, _)| *n).collect();
        ApiError(StatusCode::NOT_FOUND, format!("no output `{name}`: outputs are {}", names.join(", ")))
    })?;
    let path = service.run_dir(&tenant.name, id).join("out").join(name);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("run {id} has no `{name}` (yet)")))?;
    Ok(([(header::CONTENT_TYPE, *content_type)], bytes).into_response())
}

/// The records reviewed in `tenant`'s run `id`, labelled, as JSONL.
pub async fn labels_file(service: &Service, tenant: &Tenant, id: &str) -> Result<Response, ApiError> {
    service.run(tenant, id).await?;
    let jsonl = service.db().labelled_jsonl(&tenant.name, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], jsonl).into_response())
}
