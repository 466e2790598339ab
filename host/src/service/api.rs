//! The HTTP API of `kiln serve` (axum). Every route but `/healthz` needs
//! `Authorization: Bearer TOKEN` and sees only its tenant's runs: another
//! tenant's run answers 404, exactly like a run that does not exist.
//! Errors are JSON (`{"error": "…"}`) with a 4xx status that says whose
//! fault it is; the service's own failures are 500 and logged.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/v1/runs` | multipart: a `pipeline` part (the TOML), one part per uploaded file, its file name the path the pipeline names it by |
//! | GET | `/v1/runs` | the tenant's runs, newest first |
//! | GET | `/v1/runs/{id}` | one run |
//! | POST | `/v1/runs/{id}/cancel` | cancel it |
//! | GET | `/v1/runs/{id}/events` | Server-Sent Events: progress, then the final status |
//! | GET | `/v1/runs/{id}/files/{name}` | `kept.jsonl`, `rejected.jsonl`, `quarantine.jsonl`, `stats.json`, `report.html` |
//! | POST | `/v1/runs/{id}/resume` | queue again a run a spent quota paused, or one that waited for review |
//! | GET | `/v1/runs/{id}/labels` | the records reviewed in the console, labelled (JSONL) |
//! | POST | `/v1/runs/{id}/labels` | label records (JSONL: `{"id": …, "review": "accept"}` or `"reject"`) |
//! | GET | `/v1/runs/{id}/queue` | the records still to review (those a `review` stage holds while the run waits) |
//! | GET | `/v1/usage` | the tenant's quotas, today's usage, its secrets' names |
//!
//! Administrators (tenants added with `--admin`) also have `/v1/admin/…`
//! ([`admin`](super::admin)).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use utoipa::OpenApi;

use super::core::{Service, Upload};
use super::http::{ApiError, ErrorBody, labels_file, output_file};
use super::review::Label;
use super::runs::Run;
use super::tenants::Tenant;

/// The router, with request bodies capped at `max_body_bytes`.
pub fn router(service: Arc<Service>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/v1/runs", post(submit).get(list))
        .route("/v1/runs/{id}", get(show))
        .route("/v1/runs/{id}/cancel", post(cancel))
        .route("/v1/runs/{id}/events", get(events))
        .route("/v1/runs/{id}/files/{name}", get(file))
        .route("/v1/runs/{id}/resume", post(resume))
        .route("/v1/runs/{id}/labels", get(labels).post(add_labels))
        .route("/v1/runs/{id}/queue", get(queue))
        .route("/v1/usage", get(usage))
        .merge(super::admin::routes())
        .merge(super::console::routes())
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint (see `kiln serve --help`)".into()) })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            refuse_large_bodies(request, next, max_body_bytes)
        }))
        .with_state(service)
}

/// A request whose declared `Content-Length` is over the limit is answered
/// 413 at once, before its body is read (a body without one is cut off at
/// the limit while it is read, also with 413).
async fn refuse_large_bodies(request: axum::extract::Request, next: axum::middleware::Next, limit: usize) -> Response {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is {length} bytes, over this service's limit of {limit} (`--max-body-mib`)"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// The OpenAPI description of this API, served at `/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "kiln serve", description = "Many tenants' Kiln pipelines on one machine (docs/service.md)."),
    paths(submit, list, show, cancel, events, file, resume, labels, add_labels, queue, usage,
        super::admin::list_tenants, super::admin::add_tenant, super::admin::change_tenant, super::admin::revoke_tenant,
        super::admin::list_secrets, super::admin::set_secret, super::admin::delete_secret),
    components(schemas(Run, super::runs::Status, super::progress::Progress, ErrorBody, SubmitForm, UsageReport, LabelsAdded,
        super::quotas::Quotas, super::quotas::Usage, Tenant, super::tenants::TenantChanges,
        super::admin::TenantReport, super::admin::AddTenant, super::admin::AddedTenant)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Every route but `/healthz` and this description needs a bearer token.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new("token", Vec::<String>::new())]);
    }
}

/// The parts of a submission (`multipart/form-data`).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct SubmitForm {
    /// The pipeline's TOML.
    pipeline: String,
    /// Each file the pipeline names, as a file part whose file name is the
    /// relative path the pipeline names it by (`data/in.jsonl`).
    #[schema(format = Binary)]
    file: Vec<Vec<u8>>,
}

#[utoipa::path(post, path = "/v1/runs", request_body(content = SubmitForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Run, description = "checked and queued"),
        (status = 400, body = ErrorBody, description = "the pipeline or an upload is wrong: every error, with its line"),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody, description = "over --max-body-mib"),
        (status = 429, body = ErrorBody, description = "over a quota, named")))]
async fn submit(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let mut multipart = multipart.map_err(|r| {
        ApiError(
            r.status(),
            format!(
                "{}: send `multipart/form-data` with a `pipeline` part and one file part per upload",
                r.body_text()
            ),
        )
    })?;
    let mut pipeline = None;
    let mut uploads = Vec::new();
    // A body over the size limit is 413, a malformed one 400: the error says.
    let failed = |what: String, e: axum::extract::multipart::MultipartError| {
        ApiError(e.status(), format!("{what}: {}", e.body_text()))
    };
    while let Some(field) = multipart.next_field().await.map_err(|e| failed("multipart body".into(), e))? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(|e| failed(format!("part `{name}`"), e))?;
        match (name.as_str(), file_name) {
            ("pipeline", _) => {
                let text =
                    String::from_utf8(bytes.to_vec()).map_err(|_| bad("the `pipeline` part is not UTF-8".into()))?;
                pipeline = Some(text);
            }
            (_, Some(path)) => uploads.push(Upload { path, bytes: bytes.to_vec() }),
            (other, None) => {
                return Err(bad(format!(
                    "part `{other}` has no file name: send uploads as files, their file name the path the pipeline names"
                )));
            }
        }
    }
    let pipeline = pipeline
        .ok_or_else(|| bad("no `pipeline` part: send the pipeline's TOML as a part named `pipeline`".into()))?;
    let run = service.submit(&tenant, &pipeline, uploads).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/v1/runs", responses((status = 200, body = [Run], description = "the tenant's runs, newest first"), (status = 401, body = ErrorBody)))]
async fn list(State(service): State<Arc<Service>>, tenant: Tenant) -> Result<Json<Vec<Run>>, ApiError> {
    Ok(Json(service.db().runs(&tenant.name).await?))
}

#[utoipa::path(post, path = "/v1/runs/{id}/resume", params(("id" = String, Path)),
    responses((status = 200, body = Run, description = "queued again; it resumes from its last committed chunk"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "not paused"),
        (status = 429, body = ErrorBody, description = "the quota that paused it is still spent")))]
async fn resume(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.resume(&tenant, &id).await?))
}

#[utoipa::path(get, path = "/v1/runs/{id}/labels", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/x-ndjson",
        description = "the records reviewed in the console, each with `metadata.review` = 1 (accepted) or 0 (rejected)"),
        (status = 404, body = ErrorBody)))]
async fn labels(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    labels_file(&service, &tenant, &id).await
}

#[utoipa::path(post, path = "/v1/runs/{id}/labels", params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "one line per record: `{\"id\": \"…\", \"review\": \"accept\"}` or `\"reject\"` (also 1/0, true/false)"),
    responses((status = 200, body = LabelsAdded), (status = 400, body = ErrorBody, description = "a bad line, named"),
        (status = 404, body = ErrorBody, description = "no such run, or a record not in its queue (nothing is labelled then)")))]
async fn add_labels(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<LabelsAdded>, ApiError> {
    let labels = crate::pipeline::stages::review_gate::parse_labels(&body)
        .map_err(|(line, why)| ApiError(StatusCode::BAD_REQUEST, format!("line {line}: {why}")))?;
    let labels: Vec<(String, Label)> =
        labels.into_iter().map(|(record, yes)| (record, if yes { Label::Accept } else { Label::Reject })).collect();
    super::review::label_records(&service, &tenant, &id, &labels).await?;
    Ok(Json(LabelsAdded { labelled: labels.len() }))
}

/// What labelling did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LabelsAdded {
    /// Records labelled (a label replaces an earlier one).
    pub labelled: usize,
}

#[utoipa::path(get, path = "/v1/runs/{id}/queue", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/x-ndjson",
        description = "the records still to review, in review order: those a `review` stage holds while the run waits, else those it kept"),
        (status = 404, body = ErrorBody)))]
async fn queue(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let records = super::review::unlabelled(&service, &tenant, &id).await?;
    let mut body = String::new();
    for record in records {
        if let Ok(line) = serde_json::to_string(&record) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// A tenant's quotas and what it used today.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// The tenant.
    pub tenant: String,
    /// Its run counts and quotas.
    pub max_running: u32,
    /// Runs it may have waiting.
    pub max_queued: u32,
    /// Its other quotas.
    pub quotas: super::quotas::Quotas,
    /// What it used today (UTC).
    pub today: super::quotas::Usage,
    /// Bytes under its directory.
    pub disk_bytes: u64,
    /// The names of its secrets (`api_key_env` may name them).
    pub secrets: Vec<String>,
}

#[utoipa::path(get, path = "/v1/usage",
    responses((status = 200, body = UsageReport), (status = 401, body = ErrorBody)))]
async fn usage(State(service): State<Arc<Service>>, tenant: Tenant) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(UsageReport {
        today: service.db().usage_today(&tenant.name).await?,
        disk_bytes: service.disk_used(&tenant.name).await,
        secrets: service.db().secret_names(&tenant.name).await?,
        tenant: tenant.name,
        max_running: tenant.max_running,
        max_queued: tenant.max_queued,
        quotas: tenant.quotas,
    }))
}

#[utoipa::path(get, path = "/v1/runs/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody, description = "no such run of this tenant")))]
async fn show(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.run(&tenant, &id).await?))
}

#[utoipa::path(post, path = "/v1/runs/{id}/cancel", params(("id" = String, Path)),
    responses((status = 200, body = Run, description = "cancelled, or cancelling between chunks"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "already over")))]
async fn cancel(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(service.cancel(&tenant, &id).await?))
}

#[utoipa::path(get, path = "/v1/runs/{id}/files/{name}",
    params(("id" = String, Path), ("name" = String, Path, description = "kept.jsonl, rejected.jsonl, quarantine.jsonl, stats.json or report.html")),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody)))]
async fn file(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    output_file(&service, &tenant, &id, &name).await
}

#[utoipa::path(get, path = "/v1/runs/{id}/events", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream",
        description = "`progress` events ({run, progress}) while the run changes, then one `end` event"),
        (status = 404, body = ErrorBody)))]
/// Progress while the run is on a worker, then its final state; the stream
/// ends with the run.
async fn events(
    State(service): State<Arc<Service>>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    service.run(&tenant, &id).await?;
    let state = (service, tenant, id, None::<String>, false);
    let stream = futures::stream::unfold(state, |(service, tenant, id, last, done)| async move {
        if done {
            return None;
        }
        loop {
            let run = match service.db().run(&tenant.name, &id).await {
                Ok(Some(run)) => run,
                _ => return None,
            };
            let progress = service.progress(&tenant, &id).map(|rx| *rx.borrow());
            let payload = serde_json::json!({ "run": run, "progress": progress }).to_string();
            let final_state = run.status.is_final();
            if last.as_deref() != Some(payload.as_str()) || final_state {
                let event = Event::default().event(if final_state { "end" } else { "progress" }).data(payload.clone());
                return Some((Ok(event), (service, tenant, id, Some(payload), final_state)));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Ok(Sse::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the router but the two open ones, with its method.
    const ROUTES: [(&str, &str); 18] = [
        ("post", "/v1/runs"),
        ("get", "/v1/runs"),
        ("get", "/v1/runs/{id}"),
        ("post", "/v1/runs/{id}/cancel"),
        ("get", "/v1/runs/{id}/events"),
        ("get", "/v1/runs/{id}/files/{name}"),
        ("post", "/v1/runs/{id}/resume"),
        ("get", "/v1/runs/{id}/labels"),
        ("post", "/v1/runs/{id}/labels"),
        ("get", "/v1/runs/{id}/queue"),
        ("get", "/v1/usage"),
        ("get", "/v1/admin/tenants"),
        ("post", "/v1/admin/tenants"),
        ("patch", "/v1/admin/tenants/{name}"),
        ("post", "/v1/admin/tenants/{name}/revoke"),
        ("get", "/v1/admin/tenants/{name}/secrets"),
        ("put", "/v1/admin/tenants/{name}/secrets/{secret}"),
        ("delete", "/v1/admin/tenants/{name}/secrets/{secret}"),
    ];

    #[test]
    fn the_openapi_description_covers_every_route_and_its_errors() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        assert_eq!(doc["openapi"], "3.1.0");
        for (method, path) in ROUTES {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not described");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|code| code.starts_with('2')), "{method} {path}: no success answer");
            assert!(responses.keys().any(|code| code.starts_with('4')), "{method} {path}: no error answer");
        }
        let described: usize =
            doc["paths"].as_object().expect("paths").values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
        assert_eq!(described, ROUTES.len(), "a described operation that is not routed");
        assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
        assert!(doc["components"]["schemas"]["Run"]["properties"]["status"].is_object());
    }
}
