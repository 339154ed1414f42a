//! Pending changes: updates and cancellations held for approval (the
//! approval switch, [D6](calinvite_core::manual::design#d6)), each with
//! the audience it would reach; approved (sent) or rejected (nothing sent).

use axum::Json;
use axum::extract::State;
use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{
    Outcome, PendingChange, PendingChangeId, PendingKind, PendingState, PipelineError, Store as _,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, find_event, scopes, walk_events};
use crate::extract::{ApiPath, ApiQuery, Caller, page_limit};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A change waiting for someone to approve or reject it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PendingBody {
    /// Its id.
    pub id: String,
    /// The event.
    pub event: String,
    /// The organizer.
    pub organizer: u64,
    /// `update`, `cancel` or `cancel-instances`.
    pub kind: String,
    /// For `cancel-instances`: the occurrences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// The SEQUENCE recipients held when it was planned.
    pub base_sequence: u64,
    /// `open`, `approved`, `rejected` or `superseded`.
    pub state: String,
    /// When it was planned.
    pub created_at: DateTime<Utc>,
    /// How many messages it would send.
    pub audience_count: usize,
    /// Who would get what (in the answer for one pending change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<PlannedBody>>,
}

/// One message a pending change would send.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PlannedBody {
    /// The recipient.
    pub address: String,
    /// `update`, `cancellation`, `instance-cancellation` or `invitation`.
    pub message: String,
}

/// What approving or rejecting did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Resolved {
    /// The pending change.
    pub id: String,
    /// Where it stands now: `approved` (its messages are going out),
    /// `rejected`, or `superseded` (a newer change replaced it before).
    pub state: String,
}

/// Query parameters of the pending list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PendingQuery {
    /// Only this organizer's (a domain owner's key).
    pub organizer: Option<u64>,
    /// Events looked at per page, 1 to 200 (default 50): a page holds the
    /// open changes of that many events.
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

pub(crate) fn body(p: &PendingChange, with_audience: bool) -> PendingBody {
    let (kind, instances) = match &p.kind {
        PendingKind::Update => ("update", Vec::new()),
        PendingKind::Cancel => ("cancel", Vec::new()),
        PendingKind::CancelInstances(ids) => (
            "cancel-instances",
            ids.iter()
                .map(|id| match id {
                    calinvite_core::OccurrenceId::At(t) => t.to_rfc3339(),
                    calinvite_core::OccurrenceId::On(d) => d.to_string(),
                })
                .collect(),
        ),
        _ => ("change", Vec::new()),
    };
    PendingBody {
        id: p.id.to_string(),
        event: p.code.to_string(),
        organizer: p.scope.organizer.0,
        kind: kind.to_owned(),
        instances,
        base_sequence: p.base_sequence.get(),
        state: p.state.keyword().to_owned(),
        created_at: p.created_at,
        audience_count: p.recipients.len(),
        audience: with_audience.then(|| {
            p.recipients
                .iter()
                .map(|m| PlannedBody {
                    address: m.address.as_str().to_owned(),
                    message: match m.kind {
                        calinvite_core::MessageKind::Invitation => "invitation",
                        calinvite_core::MessageKind::Update => "update",
                        calinvite_core::MessageKind::Cancellation => "cancellation",
                        _ => "instance-cancellation",
                    }
                    .to_owned(),
                })
                .collect()
        }),
    }
}

/// The open changes across the caller's events.
#[utoipa::path(
    get,
    path = "/v1/pending",
    tag = "pending changes",
    params(PendingQuery),
    responses((status = 200, description = "Open pending changes", body = Page<PendingBody>))
)]
pub(crate) async fn list_pending(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PendingQuery>,
) -> ApiResult<Json<Page<PendingBody>>> {
    let limit = page_limit(q.limit)?;
    let (open, next_cursor) =
        open_pending(&state, &caller, q.organizer, q.cursor.as_deref(), limit).await?;
    let items = open.iter().map(|p| body(p, false)).collect();
    Ok(Json(Page { items, next_cursor }))
}

/// The open changes of a page of `limit` of the caller's events (from
/// `cursor`), and the next page's cursor.
pub(crate) async fn open_pending(
    state: &AppState,
    caller: &Caller,
    organizer: Option<u64>,
    cursor: Option<&str>,
    limit: usize,
) -> ApiResult<(Vec<PendingChange>, Option<String>)> {
    let scopes = scopes(state, caller, organizer).await?;
    let (events, next_cursor) = walk_events(state, &scopes, cursor, limit).await?;
    let store = state.pipeline().store();
    let mut items = Vec::new();
    for e in &events {
        items.extend(
            store
                .open_pending(e.code())
                .await
                .map_err(PipelineError::from)?,
        );
    }
    Ok((items, next_cursor))
}

/// An event's open changes, each with everyone it would reach.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/pending",
    tag = "pending changes",
    params(("code" = String, Path, description = "The event's code")),
    responses((status = 200, description = "The event's open pending changes", body = Vec<PendingBody>))
)]
pub(crate) async fn event_pending(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<PendingBody>>> {
    let event = find_event(&state, &caller, &code).await?;
    let open = state
        .pipeline()
        .open_pending(event.scope(), event.code())
        .await?;
    Ok(Json(open.iter().map(|p| body(p, true)).collect()))
}

pub(crate) async fn find_pending(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<PendingChange> {
    let pid = PendingChangeId::new(id);
    for scope in scopes(state, caller, None).await? {
        if let Some(p) = state
            .pipeline()
            .store()
            .pending(scope, &pid)
            .await
            .map_err(PipelineError::from)?
        {
            return Ok(p);
        }
    }
    Err(ApiError::not_found(format!("pending change {id}")))
}

/// One pending change, with everyone it would reach.
#[utoipa::path(
    get,
    path = "/v1/pending/{id}",
    tag = "pending changes",
    params(("id" = String, Path, description = "The pending change's id")),
    responses((status = 200, description = "The pending change and its audience", body = PendingBody))
)]
pub(crate) async fn get_pending(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PendingBody>> {
    Ok(Json(body(&find_pending(&state, &caller, &id).await?, true)))
}

pub(crate) async fn resolve(
    state: &AppState,
    caller: &Caller,
    id: &str,
    approve: bool,
) -> ApiResult<Resolved> {
    let p = find_pending(state, caller, id).await?;
    let outcome = if approve {
        state.pipeline().approve(p.scope, &p.id).await?
    } else {
        state.pipeline().reject(p.scope, &p.id).await?
    };
    let st = match outcome {
        Outcome::Resolved(_, s) => s,
        Outcome::Refused(r) => return Err(ApiError::refused(&r)),
        _ if approve => PendingState::Approved,
        _ => PendingState::Rejected,
    };
    tracing::info!(pending = %id, state = st.keyword(), by = %caller.key_id, "pending change resolved");
    Ok(Resolved {
        id: id.to_owned(),
        state: st.keyword().to_owned(),
    })
}

/// Approves a pending change: its messages go out (to those it lists who
/// may still get them, and to later joiners the audience rule includes).
#[utoipa::path(
    post,
    path = "/v1/pending/{id}/approve",
    tag = "pending changes",
    params(("id" = String, Path, description = "The pending change's id")),
    responses((status = 200, description = "Where it stands now", body = Resolved))
)]
pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Resolved>> {
    Ok(Json(resolve(&state, &caller, &id, true).await?))
}

/// Rejects a pending change: nothing is sent.
#[utoipa::path(
    post,
    path = "/v1/pending/{id}/reject",
    tag = "pending changes",
    params(("id" = String, Path, description = "The pending change's id")),
    responses((status = 200, description = "Where it stands now", body = Resolved))
)]
pub(crate) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Resolved>> {
    Ok(Json(resolve(&state, &caller, &id, false).await?))
}
