//! The web console: server-rendered pages (maud), no JavaScript framework —
//! a few lines of plain script only to bind keys on the review page, whose
//! buttons work without it.
//!
//! A tenant logs in with its token (kept in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/console`, so no other site can post with it), sees its
//! runs with status and progress (pages of running runs refresh themselves),
//! submits a pipeline with its files, opens a run's report and outputs,
//! cancels or resumes it, and reviews the records it kept: `a` accepts, `r`
//! rejects, `u` undoes the last label ([`review`](super::review)).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::core::{Service, Upload};
use super::error::ServiceError;
use super::http::{ApiError, OUTPUT_FILES, labels_file, output_file};
use super::review::{self, Label};
use super::runs::{Run, Status};
use super::tenants::Tenant;

const COOKIE: &str = "kiln_token";

/// The console's routes.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/runs") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/runs", get(runs_page).post(submit))
        .route("/console/runs/{id}", get(run_page))
        .route("/console/runs/{id}/cancel", post(cancel))
        .route("/console/runs/{id}/resume", post(resume))
        .route("/console/runs/{id}/files/{name}", get(file))
        .route("/console/runs/{id}/review", get(review_page).post(label))
        .route("/console/runs/{id}/review/undo", post(undo))
        .route("/console/runs/{id}/labels.jsonl", get(labels))
}

/// A console page's tenant, from the login cookie; without one, the login page.
struct Viewer(Tenant);

/// What a page answers when something is wrong.
enum PageError {
    /// Not logged in: go to the login page.
    Login,
    /// An error page with this status and message.
    Error(StatusCode, String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login => Redirect::to("/console/login").into_response(),
            PageError::Error(status, message) => (
                status,
                page(
                    "Error",
                    None,
                    html! { p.error { (message) } p { a href="/console/runs" { "Back to the runs" } } },
                ),
            )
                .into_response(),
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        let ApiError(status, message) = ApiError::from(e);
        PageError::Error(status, message)
    }
}

impl From<ApiError> for PageError {
    fn from(ApiError(status, message): ApiError) -> Self {
        PageError::Error(status, message)
    }
}

fn token_of(parts: &Parts) -> Option<String> {
    let header = parts.headers.get(header::COOKIE)?.to_str().ok()?;
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

impl FromRequestParts<Arc<Service>> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Viewer, PageError> {
        let token = token_of(parts).ok_or(PageError::Login)?;
        service.db().authenticate(&token).await?.map(Viewer).ok_or(PageError::Login)
    }
}

/// A whole page.
fn page(title: &str, tenant: Option<&str>, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · kiln" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/console/runs" { b { "kiln" } }
                    @if let Some(tenant) = tenant {
                        span.who { "tenant " b { (tenant) } }
                        form.inline method="post" action="/console/logout" { button { "Log out" } }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}header{display:flex;gap:1em;\
align-items:center;padding:.6em 1em;background:#f3f0ea;border-bottom:1px solid #ddd}header .who{margin-left:auto}\
main{padding:1em 1.5em;max-width:70em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #eee;\
text-align:left}.error{color:#a00;white-space:pre-wrap}.inline{display:inline}.record{white-space:pre-wrap;border:1px solid #ddd;\
padding:.8em;background:#fcfcfc;max-height:30em;overflow:auto}del{background:#fdd}ins{background:#dfd;text-decoration:none}\
.keys kbd{border:1px solid #aaa;border-radius:3px;padding:0 .3em}.status-done{color:#070}.status-failed{color:#a00}";

async fn login_page() -> Html<String> {
    login_form(None)
}

fn login_form(error: Option<&str>) -> Html<String> {
    page(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(error) = error { p.error { (error) } }
            form method="post" action="/console/login" {
                label { "Token " input type="password" name="token" id="token" autofocus size="60"; }
                " " button id="login" { "Log in" }
            }
            p { "Tokens come from your operator (" code { "kiln tenant add" } ")." }
        },
    )
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(service): State<Arc<Service>>, Form(form): Form<LoginForm>) -> Result<Response, PageError> {
    let token = form.token.trim();
    if service.db().authenticate(token).await?.is_none() {
        return Ok((StatusCode::UNAUTHORIZED, login_form(Some("Unknown or revoked token."))).into_response());
    }
    let cookie = cookie::Cookie::build((COOKIE, token.to_string()))
        .path("/console")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    let mut response = Redirect::to("/console/runs").into_response();
    let value = HeaderValue::from_str(&cookie.to_string()).map_err(|_| {
        PageError::Error(StatusCode::BAD_REQUEST, "the token has characters a cookie cannot hold".into())
    })?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

async fn logout() -> Response {
    let gone = cookie::Cookie::build((COOKIE, "")).path("/console").max_age(cookie::time::Duration::ZERO).build();
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&gone.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn status_cell(run: &Run) -> Markup {
    let status = run.status.as_str();
    html! { span class={ "status-" (status) } id={ "status-" (run.id) } { (status) } }
}

async fn runs_page(State(service): State<Arc<Service>>, Viewer(tenant): Viewer) -> Result<Html<String>, PageError> {
    let runs = service.db().runs(&tenant.name).await?;
    let live = runs.iter().any(|r| !r.status.is_final() && !r.status.is_waiting());
    Ok(page(
        "Runs",
        Some(&tenant.name),
        html! {
            @if live { meta http-equiv="refresh" content="2"; }
            h1 { "Runs" }
            @if runs.is_empty() { p { "No runs yet." } } @else {
                table {
                    tr { th { "run" } th { "pipeline" } th { "status" } th { "progress" } th { "kept" } th { "rejected" } th { "quarantined" } }
                    @for run in &runs {
                        @let progress = service.progress(&tenant, &run.id).map(|rx| *rx.borrow());
                        tr {
                            td { a href={ "/console/runs/" (run.id) } { code { (run.id) } } }
                            td { (run.pipeline) }
                            td { (status_cell(run)) }
                            td { @if let Some(p) = progress { (p.lines) " lines, " (p.chunks) " chunks" } }
                            td { (run.kept.map(|n| n.to_string()).unwrap_or_default()) }
                            td { (run.rejected.map(|n| n.to_string()).unwrap_or_default()) }
                            td { (run.quarantined.map(|n| n.to_string()).unwrap_or_default()) }
                        }
                    }
                }
            }
            h2 { "Submit a run" }
            (submit_form(None))
        },
    ))
}

fn submit_form(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error { pre.error id="submit-error" { (error) } }
        form method="post" action="/console/runs" enctype="multipart/form-data" id="submit" {
            p { label { "Pipeline (TOML) " input type="file" name="pipeline" id="pipeline" accept=".toml"; } }
            p { "Files it names, each under the relative path the pipeline uses:" }
            @for i in 0..4 {
                p {
                    input type="text" name="path" id={ "path" (i) } placeholder="data/in.jsonl" size="30";
                    " " input type="file" name="file" id={ "file" (i) };
                }
            }
            button id="submit-run" { "Submit" }
        }
    }
}

async fn submit(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let bad = |m: String| PageError::Error(StatusCode::BAD_REQUEST, m);
    let (mut pipeline, mut uploads, mut path) = (None, Vec::new(), None::<String>);
    while let Some(field) = multipart.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
        match name.as_str() {
            "pipeline" => {
                pipeline = Some(String::from_utf8(bytes.to_vec()).map_err(|_| bad("the pipeline is not UTF-8".into()))?)
            }
            "path" => path = Some(String::from_utf8_lossy(&bytes).trim().to_string()).filter(|p| !p.is_empty()),
            "file" if !bytes.is_empty() => match path.take() {
                Some(path) => uploads.push(Upload { path, bytes: bytes.to_vec() }),
                None => return Err(bad("give each file the relative path the pipeline names it by".into())),
            },
            _ => {}
        }
    }
    let pipeline = pipeline.filter(|p| !p.trim().is_empty()).ok_or_else(|| bad("choose a pipeline file".into()))?;
    match service.submit(&tenant, &pipeline, uploads).await {
        Ok(run) => Ok(Redirect::to(&format!("/console/runs/{}", run.id)).into_response()),
        Err(e @ (ServiceError::BadRequest(_) | ServiceError::Quota(_))) => {
            let status = if matches!(e, ServiceError::Quota(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            let body = html! { h1 { "Submit a run" } (submit_form(Some(&e.to_string()))) };
            Ok((status, page("Submit", Some(&tenant.name), body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn run_page(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let run = service.run(&tenant, &id).await?;
    let progress = service.progress(&tenant, &id).map(|rx| *rx.borrow());
    let base = format!("/console/runs/{id}");
    Ok(page(
        &run.pipeline,
        Some(&tenant.name),
        html! {
            @if !run.status.is_final() && !run.status.is_waiting() { meta http-equiv="refresh" content="1"; }
            h1 { (run.pipeline) " " small { code { (run.id) } } }
            p { "Status: " (status_cell(&run)) }
            @if let Some(message) = &run.message { p.error id="message" { (message) } }
            @if let Some(p) = progress { p id="progress" { (p.lines) " input lines in " (p.chunks) " chunks committed, " (p.kept) " kept so far" } }
            @if run.status == Status::Review {
                p { a id="review" href={ (base) "/review" } { "Review the records the run holds" } }
            }
            @if run.status == Status::Done {
                p id="counts" { (run.kept.unwrap_or(0)) " kept, " (run.rejected.unwrap_or(0)) " rejected, " (run.quarantined.unwrap_or(0)) " quarantined" }
                p { a id="review" href={ (base) "/review" } { "Review the kept records" } " · " a href={ (base) "/labels.jsonl" } { "labels (JSONL)" } }
                p { "Outputs: " @for (name, _) in OUTPUT_FILES { a href={ (base) "/files/" (name) } { (name) } " " } }
            }
            @if !run.status.is_final() {
                form.inline method="post" action={ (base) "/cancel" } { button id="cancel" { "Cancel" } }
            }
            @if run.status.is_waiting() {
                " " form.inline method="post" action={ (base) "/resume" } { button id="resume" { "Resume" } }
            }
        },
    ))
}

async fn cancel(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    service.cancel(&tenant, &id).await?;
    Ok(Redirect::to(&format!("/console/runs/{id}")))
}

async fn resume(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    service.resume(&tenant, &id).await?;
    Ok(Redirect::to(&format!("/console/runs/{id}")))
}

async fn file(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, PageError> {
    Ok(output_file(&service, &tenant, &id, &name).await?)
}

/// Binds `a`, `r` and `u` to the review page's buttons.
const REVIEW_KEYS: &str = "document.addEventListener('keydown',function(e){if(e.ctrlKey||e.metaKey||e.altKey)return;\
var id={a:'accept',r:'reject',u:'undo'}[e.key];var b=id&&document.getElementById(id);if(b){e.preventDefault();b.click();}});";

async fn review_page(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let run = service.run(&tenant, &id).await?;
    let held = run.status == Status::Review;
    let queue = review::queue(service.db(), &tenant.name, &id, &service.run_dir(&tenant.name, &id), held).await?;
    let base = format!("/console/runs/{id}/review");
    Ok(page(
        "Review",
        Some(&tenant.name),
        html! {
            h1 { "Review " a href={ "/console/runs/" (id) } { (run.pipeline) } }
            @if held { p id="held" { "The run waits at a review stage: these records go on only once labelled." } }
            p id="tally" { (queue.reviewed) " of " (queue.total) " reviewed, " (queue.accepted) " accepted" }
            p.keys { kbd { "a" } " accept · " kbd { "r" } " reject · " kbd { "u" } " undo the last label" }
            @match &queue.next {
                None => {
                    p id="done" { "Nothing left to review." }
                    @if held {
                        form method="post" action={ "/console/runs/" (id) "/resume" } {
                            button id="resume" { "Resume the run" }
                        }
                    }
                },
                Some(item) => {
                    p { "Record " code id="record-id" { (item.record.id) } }
                    @if !item.record.scores.is_empty() {
                        table id="scores" { @for (name, value) in &item.record.scores { tr { th { (name) } td { (format!("{value:.3}")) } } } }
                    }
                    @for (stage, rationale) in &item.rationales { p { b { "Judge (" (stage) "): " } (rationale) } }
                    @if let Some(original) = &item.original {
                        p { b { "Rewrite against the original" } " (" del { "removed" } ", " ins { "added" } ")" }
                        div.record id="diff" {
                            @for (side, words) in review::word_diff(original, &item.record.text) {
                                @match side { -1 => del { (words) }, 1 => ins { (words) }, _ => (words) }
                            }
                        }
                    } @else {
                        div.record id="text" { (item.record.text) }
                    }
                    form.inline method="post" action=(base) {
                        input type="hidden" name="record" value=(item.record.id);
                        button id="accept" name="label" value="accept" { "Accept (a)" }
                        " " button id="reject" name="label" value="reject" { "Reject (r)" }
                    }
                }
            }
            " " form.inline method="post" action={ (base) "/undo" } { button id="undo" { "Undo (u)" } }
            script { (PreEscaped(REVIEW_KEYS)) }
        },
    ))
}

#[derive(serde::Deserialize)]
struct LabelForm {
    record: String,
    label: String,
}

async fn label(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
    Form(form): Form<LabelForm>,
) -> Result<Redirect, PageError> {
    let label = Label::parse(&form.label)?;
    review::label_records(&service, &tenant, &id, &[(form.record, label)]).await?;
    Ok(Redirect::to(&format!("/console/runs/{id}/review")))
}

async fn undo(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    service.run(&tenant, &id).await?;
    service.db().undo_label(&tenant.name, &id).await?;
    Ok(Redirect::to(&format!("/console/runs/{id}/review")))
}

async fn labels(
    State(service): State<Arc<Service>>,
    Viewer(tenant): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    Ok(labels_file(&service, &tenant, &id).await?)
}
