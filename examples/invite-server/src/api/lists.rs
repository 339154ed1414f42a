//! Lists: a CSV file of recipients sent one event as one durable job
//! ([`Pipeline::start_list`](calinvite_core::lifecycle::Pipeline::start_list)).
//!
//! An upload is kept in the server's tables and fed to its job in the
//! background, a page per transaction; the request answers at once (202)
//! with the job, and its progress is read as it goes. A process stopped
//! mid-list takes the list up again at its next start, from the rows not
//! yet recorded; the same list uploaded again under the same name sends
//! nothing twice.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{ListJobId, ListProgress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::find_event;
use crate::db::ListRecord;
use crate::extract::{ApiPath, ApiQuery, Caller};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A list and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ListBody {
    /// The job's id.
    pub id: String,
    /// The event sent.
    pub event: String,
    /// The organizer.
    pub organizer: u64,
    /// The list's name (unique per event: the same name resumes the job).
    pub name: String,
    /// `running`, `paused` or `cancelled`.
    pub state: String,
    /// Whether every row of the file has been taken.
    pub all_rows_taken: bool,
    /// Why the file could not be read to its end, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// Its rows by verdict and its invitations by what became of them.
    pub progress: ProgressBody,
}

/// A list's rows by verdict, and what became of the invitations it made.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ProgressBody {
    /// Rows recorded so far.
    pub rows: u64,
    /// Rows that made a new invitation.
    pub invited: u64,
    /// Rows whose address had an invitation to the event already.
    pub already_invited: u64,
    /// Rows repeating an earlier row's address.
    pub duplicates: u64,
    /// Rows with no usable recipient.
    pub invalid: u64,
    /// Rows refused, by reason (`suppressed`, `own-address` …).
    pub refused: BTreeMap<String, u64>,
    /// New invitations a mail server took.
    pub submitted: u64,
    /// New invitations that hard-bounced.
    pub hard_bounced: u64,
    /// New invitations answered.
    pub answered: u64,
}

impl From<&ListProgress> for ProgressBody {
    fn from(p: &ListProgress) -> Self {
        ProgressBody {
            rows: p.rows,
            invited: p.invited,
            already_invited: p.already_invited,
            duplicates: p.duplicates,
            invalid: p.invalid,
            refused: p
                .refused
                .iter()
                .map(|(r, n)| (r.as_str().to_owned(), *n))
                .collect(),
            submitted: p.submitted,
            hard_bounced: p.hard_bounced,
            answered: p.answered,
        }
    }
}

/// The list's name, for an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The list's name: uploading again under the same name resumes the
    /// same job (and sends nothing twice).
    pub name: String,
}

pub(crate) async fn body_of(state: &AppState, rec: &ListRecord) -> ApiResult<ListBody> {
    let progress = state
        .pipeline()
        .list_progress(rec.scope, &ListJobId::new(rec.id.clone()))
        .await?;
    Ok(ListBody {
        id: rec.id.clone(),
        event: rec.code.clone(),
        organizer: rec.scope.organizer.0,
        name: rec.name.clone(),
        state: progress.state.map_or("running", |s| s.keyword()).to_owned(),
        all_rows_taken: rec.fed,
        error: rec.error.clone(),
        created_at: rec.created_at,
        progress: ProgressBody::from(&progress),
    })
}

pub(crate) async fn find_list(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<ListRecord> {
    state
        .db()
        .list(id)
        .await?
        .filter(|l| caller.sees(l.scope))
        .ok_or_else(|| ApiError::not_found(format!("list {id}")))
}

/// Sends the event to a list: a CSV file (`text/csv`) with a header row
/// naming an address column (`email` or `address`; `name` and `language`
/// are read when present). Answers at once; the rows are taken in the
/// background.
#[utoipa::path(
    post,
    path = "/v1/events/{code}/lists",
    tag = "lists",
    params(("code" = String, Path, description = "The event's code"), UploadQuery),
    request_body(content = String, content_type = "text/csv", description = "The list, with a header row"),
    responses(
        (status = 202, description = "Taken: the rows are being read", body = ListBody,
            headers(("Location" = String, description = "The list's URL"))),
        (status = 409, description = "A list of that name with other rows exists for the event", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    request: Request,
) -> ApiResult<Response> {
    let name = q.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "1 to 200 characters, no control characters",
        ));
    }
    let csv_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| m == "text/csv" || m == "text/plain");
    let event = find_event(&state, &caller, &code).await?;
    let bytes = crate::extract::body(request, state.limits().max_upload).await?;
    if !csv_type {
        return Err(ApiError::unsupported_media_type(
            "the list must be sent as text/csv",
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the list is empty"));
    }
    let record = store_list(&state, &event, &name, &bytes).await?;
    let body = body_of(&state, &record).await?;
    let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/lists/{}", record.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// Keeps list `bytes` (not empty) as list `name` of `event` and starts
/// feeding it in the background: the same rows under the same name find
/// the same job again; other rows under a name taken are a conflict.
pub(crate) async fn store_list(
    state: &AppState,
    event: &calinvite_core::lifecycle::StoredEvent,
    name: &str,
    bytes: &[u8],
) -> ApiResult<ListRecord> {
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let job = state
        .pipeline()
        .start_list(event.scope(), event.code(), name)
        .await?;
    let id = job.id.as_str().to_owned();
    let record = match state.db().list(&id).await? {
        Some(existing) if existing.digest != digest => {
            return Err(ApiError::conflict(format!(
                "the event has a list named {name:?} with other rows; upload this one under another name"
            )));
        }
        Some(existing) => existing,
        None => {
            let record = ListRecord {
                id: id.clone(),
                scope: event.scope(),
                code: event.code().to_string(),
                name: name.to_owned(),
                digest,
                fed: false,
                error: None,
                created_at: state.now(),
            };
            if !state.db().insert_list(&record, bytes).await? {
                // Uploaded at the same moment by another request: the same job.
                state.db().list(&id).await?.ok_or_else(ApiError::internal)?
            } else {
                tracing::info!(list = %id, bytes = bytes.len(), "list uploaded");
                record
            }
        }
    };
    if !record.fed {
        state.feed_list(id.clone());
    }
    Ok(record)
}

/// An event's lists, oldest first.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/lists",
    tag = "lists",
    params(("code" = String, Path, description = "The event's code")),
    responses((status = 200, description = "The event's lists", body = Vec<ListBody>))
)]
pub(crate) async fn event_lists(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<ListBody>>> {
    let event = find_event(&state, &caller, &code).await?;
    let mut out = Vec::new();
    for rec in state.db().lists_of(event.code().as_str()).await? {
        if caller.sees(rec.scope) {
            out.push(body_of(&state, &rec).await?);
        }
    }
    Ok(Json(out))
}

/// A list and its progress.
#[utoipa::path(
    get,
    path = "/v1/lists/{id}",
    tag = "lists",
    params(("id" = String, Path, description = "The list's id")),
    responses((status = 200, description = "The list", body = ListBody))
)]
pub(crate) async fn get_list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ListBody>> {
    let rec = find_list(&state, &caller, &id).await?;
    Ok(Json(body_of(&state, &rec).await?))
}

/// The per-row report: each row's verdict, and where its invitation's
/// message stands and the recipient's answer (CSV, with the header
/// `row,address,verdict,detail,delivery,answer`).
#[utoipa::path(
    get,
    path = "/v1/lists/{id}/rows",
    tag = "lists",
    params(("id" = String, Path, description = "The list's id")),
    responses((status = 200, description = "The rows", body = String, content_type = "text/csv"))
)]
pub(crate) async fn list_rows(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let rec = find_list(&state, &caller, &id).await?;
    let csv = rows_csv(&state, &rec).await?;
    Ok(csv_response(csv, &format!("list-{id}.csv")))
}

/// The per-row report of list `rec`, as CSV.
pub(crate) async fn rows_csv(state: &AppState, rec: &ListRecord) -> ApiResult<String> {
    let mut csv = String::new();
    state
        .pipeline()
        .list_csv(rec.scope, &ListJobId::new(rec.id.clone()), |chunk| {
            csv.push_str(chunk);
        })
        .await?;
    Ok(csv)
}

/// A CSV body, offered as a download named `filename`.
pub(crate) fn csv_response(csv: String, filename: &str) -> Response {
    let mut r = (StatusCode::OK, csv).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let safe: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

pub(crate) async fn move_list(
    state: &AppState,
    caller: &Caller,
    id: &str,
    to: &'static str,
) -> ApiResult<Json<ListBody>> {
    let rec = find_list(state, caller, id).await?;
    let job = ListJobId::new(id);
    let p = state.pipeline();
    match to {
        "pause" => p.pause_list(rec.scope, &job).await?,
        "resume" => p.resume_list(rec.scope, &job).await?,
        _ => p.cancel_list(rec.scope, &job).await?,
    };
    if to == "resume" && !rec.fed {
        state.feed_list(id.to_owned());
    }
    let rec = find_list(state, caller, id).await?;
    Ok(Json(body_of(state, &rec).await?))
}

/// Pauses a list: its queued messages are held and no more rows are taken.
#[utoipa::path(
    post,
    path = "/v1/lists/{id}/pause",
    tag = "lists",
    params(("id" = String, Path, description = "The list's id")),
    responses(
        (status = 200, description = "Paused", body = ListBody),
        (status = 422, description = "The list is cancelled", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ListBody>> {
    move_list(&state, &caller, &id, "pause").await
}

/// Resumes a paused list: its held messages go out and the rest of its
/// rows are taken.
#[utoipa::path(
    post,
    path = "/v1/lists/{id}/resume",
    tag = "lists",
    params(("id" = String, Path, description = "The list's id")),
    responses(
        (status = 200, description = "Running", body = ListBody),
        (status = 422, description = "The list is cancelled", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ListBody>> {
    move_list(&state, &caller, &id, "resume").await
}

/// Cancels a list for good: its messages still queued are never sent
/// (those sent stay sent, and their answers are still recorded).
#[utoipa::path(
    post,
    path = "/v1/lists/{id}/cancel",
    tag = "lists",
    params(("id" = String, Path, description = "The list's id")),
    responses((status = 200, description = "Cancelled", body = ListBody))
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ListBody>> {
    move_list(&state, &caller, &id, "cancel").await
}
