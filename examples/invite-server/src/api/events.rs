//! Events: those the organizers' calendars sent to the ingest mailbox, and
//! those made through the API. Listed with their answers, read, created,
//! changed (sent out as an update to the audience the settings say, or held
//! for approval) and cancelled.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::lifecycle::Outcome;
use calinvite_core::{EventDraft, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{EventBody, Page, answer_counts, find_event, scopes, time, walk_events};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, page_limit};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Query parameters of the event list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this organizer's events (a domain owner's key; default: all).
    pub organizer: Option<u64>,
    /// Events per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// An event to make through the API.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// The organizer it is made for: required with a domain owner's key,
    /// the key's own organizer otherwise.
    pub organizer: Option<u64>,
    /// The title.
    pub summary: String,
    /// The description.
    pub description: Option<String>,
    /// The place.
    pub location: Option<String>,
    /// A web page (http or https).
    pub url: Option<String>,
    /// A day (`2026-12-10`, all-day), a local time (`2026-12-10T18:00`) in
    /// `time_zone`, or an instant (`2026-12-10T17:00:00Z`).
    pub start: String,
    /// The end, in the same form (for all-day events, the last day).
    pub end: String,
    /// An IANA zone such as `Europe/Madrid` (default UTC; Windows names work too).
    pub time_zone: Option<String>,
}

/// Changes to an event: the fields given are replaced (an empty text
/// removes a description, a location or a URL).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    /// The title.
    pub summary: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The place.
    pub location: Option<String>,
    /// A web page.
    pub url: Option<String>,
    /// The start (with `end`; both, in the same form as when made).
    pub start: Option<String>,
    /// The end.
    pub end: Option<String>,
    /// The zone of `start` and `end`.
    pub time_zone: Option<String>,
}

/// What a change did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ChangeResult {
    /// `revision-sent` (going out as an update), `pending-approval` (held:
    /// see `pending_change`), `unchanged` (nothing recipients see changed,
    /// so nothing is sent) or `cancelled`.
    pub outcome: String,
    /// The SEQUENCE of the revision going out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The pending change to approve or reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<String>,
    /// The event now.
    pub event: EventBody,
}

fn text(pointer: &str, value: &str, max: usize) -> ApiResult<Text> {
    if value.chars().count() > max {
        return Err(ApiError::field(
            pointer,
            format!("at most {max} characters"),
        ));
    }
    Ok(Text::from(value))
}

/// The caller's events, in organizer then creation order, each with its
/// answers so far.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Page<EventBody>))
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Page<EventBody>>> {
    let limit = page_limit(q.limit)?;
    let scopes = scopes(&state, &caller, q.organizer).await?;
    let (events, next_cursor) = walk_events(&state, &scopes, q.cursor.as_deref(), limit).await?;
    let mut items = Vec::with_capacity(events.len());
    for e in &events {
        items.push(EventBody::new(e, answer_counts(&state, e.code()).await?));
    }
    Ok(Json(Page { items, next_cursor }))
}

/// Makes an event (no organizer calendar involved); invite people to it next.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body = NewEvent,
    responses(
        (status = 201, description = "Made", body = EventBody,
            headers(("Location" = String, description = "The event's URL"))),
        (status = 422, description = "The event is not usable", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewEvent>,
) -> ApiResult<impl IntoResponse> {
    let scope = caller.acting_as(new.organizer)?;
    super::organizers_exist(&state, scope).await?;
    if new.summary.trim().is_empty() {
        return Err(ApiError::field("/summary", "an event needs a title"));
    }
    let schedule = time::parse(&new.start, &new.end, new.time_zone.as_deref())?;
    let mut draft = EventDraft::new(text("/summary", &new.summary, 500)?, schedule);
    if let Some(d) = &new.description {
        draft = draft.description(text("/description", d, 20_000)?);
    }
    if let Some(l) = &new.location {
        draft = draft.location(text("/location", l, 1_000)?);
    }
    if let Some(u) = &new.url {
        if calinvite_core::WebUrl::parse(u).is_err() && !u.trim().is_empty() {
            return Err(ApiError::field("/url", "not an http or https URL"));
        }
        draft = draft.url(u.clone());
    }
    let code = state.pipeline().create_event(scope, draft).await?;
    let event = find_event(&state, &caller, code.as_str()).await?;
    let body = EventBody::new(&event, super::AnswerCounts::default());
    let location = format!("/v1/events/{code}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    ))
}

/// One event, with its answers so far.
#[utoipa::path(
    get,
    path = "/v1/events/{code}",
    tag = "events",
    params(("code" = String, Path, description = "The event's code")),
    responses((status = 200, description = "The event", body = EventBody))
)]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<EventBody>> {
    let event = find_event(&state, &caller, &code).await?;
    let answers = answer_counts(&state, event.code()).await?;
    Ok(Json(EventBody::new(&event, answers)))
}

async fn change_result(
    state: &AppState,
    caller: &Caller,
    code: &str,
    outcome: Outcome,
) -> ApiResult<ChangeResult> {
    let (name, sequence, pending) = match outcome {
        Outcome::RevisionSent(_, s) => ("revision-sent", Some(s.get()), None),
        Outcome::PendingApproval(_, id) => ("pending-approval", None, Some(id.to_string())),
        Outcome::Unchanged(_) => ("unchanged", None, None),
        Outcome::Cancelled(_) => ("cancelled", None, None),
        Outcome::Refused(r) => return Err(ApiError::refused(&r)),
        other => {
            tracing::error!(outcome = other.label(), "an unexpected outcome of a change");
            return Err(ApiError::internal());
        }
    };
    let event = find_event(state, caller, code).await?;
    let answers = answer_counts(state, event.code()).await?;
    Ok(ChangeResult {
        outcome: name.to_owned(),
        sequence,
        pending_change: pending,
        event: EventBody::new(&event, answers),
    })
}

/// Changes an event. What recipients see goes out as an update to the
/// organizer's update audience — or waits for approval when the approval
/// switch is on; a change recipients cannot see sends nothing.
#[utoipa::path(
    patch,
    path = "/v1/events/{code}",
    tag = "events",
    params(("code" = String, Path, description = "The event's code")),
    request_body = EventPatch,
    responses(
        (status = 200, description = "What the change did", body = ChangeResult),
        (status = 422, description = "Refused (the event is cancelled, say)", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiJson(patch): ApiJson<EventPatch>,
) -> ApiResult<Json<ChangeResult>> {
    let stored = find_event(&state, &caller, &code).await?;
    let current = stored.latest();
    let mut b = current.to_builder();
    if let Some(s) = &patch.summary {
        if s.trim().is_empty() {
            return Err(ApiError::field("/summary", "an event needs a title"));
        }
        b = b.summary(text("/summary", s, 500)?);
    }
    if let Some(d) = &patch.description {
        b = b.description(text("/description", d, 20_000)?);
    }
    if let Some(l) = &patch.location {
        b = b.location(text("/location", l, 1_000)?);
    }
    if let Some(u) = &patch.url {
        if calinvite_core::WebUrl::parse(u).is_err() && !u.trim().is_empty() {
            return Err(ApiError::field("/url", "not an http or https URL"));
        }
        b = b.url(u.clone());
    }
    if patch.start.is_some() || patch.end.is_some() || patch.time_zone.is_some() {
        if current.is_recurring() {
            return Err(ApiError::field(
                "/start",
                "the time of a recurring event is changed from the organizer's calendar",
            ));
        }
        let (start, end, zone) = time::show(current.schedule());
        let start = patch.start.clone().unwrap_or(start);
        let end = patch.end.clone().unwrap_or(end);
        let zone = patch.time_zone.clone().or(zone);
        b = b.schedule(time::parse(&start, &end, zone.as_deref())?);
    }
    let event = b
        .build()
        .map_err(|e| ApiError::bad_request(format!("the changed event is not valid: {e}")))?;
    let outcome = state
        .pipeline()
        .update_event(stored.scope(), stored.code(), event)
        .await?;
    Ok(Json(change_result(&state, &caller, &code, outcome).await?))
}

/// Cancels an event: everyone who received it gets the cancellation (or it
/// waits for approval when the approval switch is on).
#[utoipa::path(
    post,
    path = "/v1/events/{code}/cancel",
    tag = "events",
    params(("code" = String, Path, description = "The event's code")),
    responses(
        (status = 200, description = "What the cancellation did", body = ChangeResult),
        (status = 422, description = "Refused (already cancelled)", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<ChangeResult>> {
    let stored = find_event(&state, &caller, &code).await?;
    let outcome = state
        .pipeline()
        .cancel_event(stored.scope(), stored.code(), None)
        .await?;
    Ok(Json(change_result(&state, &caller, &code, outcome).await?))
}
