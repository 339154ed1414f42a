//! Operations: liveness, readiness, Prometheus metrics, and the
//! descriptions of problem types. None of them needs a key, and none shows
//! a tenant's data.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::ApiPath;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A health answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// Whether the process runs (it answers).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process runs", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Whether the server can serve: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.db().ping().await?;
    state
        .pipeline()
        .queue_counts()
        .await
        .map_err(|_| ApiError::unavailable("the store does not answer"))?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus metrics: the delivery queue, commands, refusals, answers,
/// deliveries, the worker, inbound SMTP, the relay, and HTTP requests and
/// their latency.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The text exposition format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let scrape = state.scrape().await;
    let mut text = crate::metrics::render(state.http_metrics(), &scrape);
    text.push_str(&state.newcomers().metrics_text().await);
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// What a problem type means (the `type` of a problem answer points here).
#[utoipa::path(
    get,
    path = "/problems/{slug}",
    tag = "operations",
    security(()),
    params(("slug" = String, Path, description = "The problem type, such as validation")),
    responses(
        (status = 200, description = "The problem type, described", body = String, content_type = "text/plain"),
        (status = 404, description = "No such problem type", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn problem_type(ApiPath(slug): ApiPath<String>) -> ApiResult<Response> {
    let (status, title, text) = crate::problem::describe(&slug)
        .ok_or_else(|| ApiError::not_found(format!("problem type {slug}")))?;
    let body = format!("{title} (HTTP {status})\n\n{text}\n");
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}
