//! The suppression list (addresses no send path may use: unsubscribed,
//! complained, hard-bounced, or added here) and the refusal log (every
//! message and request calinvite turned away, with its reason).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::lifecycle::{PipelineError, Store as _, Suppression, SuppressionReason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, PageQuery, event_code};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, Tenant, decode_cursor, encode_cursor, page_limit,
};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// An address that is never sent to again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SuppressionBody {
    /// The address.
    pub address: String,
    /// `unsubscribed`, `hard-bounce` or `complaint`.
    pub reason: String,
    /// Since when.
    pub at: DateTime<Utc>,
}

impl From<&Suppression> for SuppressionBody {
    fn from(s: &Suppression) -> Self {
        SuppressionBody {
            address: s.address.as_str().to_owned(),
            reason: s.reason.as_str().to_owned(),
            at: s.at,
        }
    }
}

/// Why an address is suppressed by hand.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ManualReason {
    /// The person asked not to be mailed.
    Unsubscribed,
    /// The person reported mail as spam.
    Complaint,
    /// The address does not exist.
    HardBounce,
}

/// An address to suppress.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    /// The address.
    pub address: String,
    /// Why (default `unsubscribed`).
    pub reason: Option<ManualReason>,
}

/// The domain owner's suppression list, in address order (a domain owner's
/// key: the list is the whole owner's).
#[utoipa::path(
    get,
    path = "/v1/suppressions",
    tag = "suppressions",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of suppressed addresses", body = Page<SuppressionBody>),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_suppressions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SuppressionBody>>> {
    let owner = caller.require_owner("the suppression list")?;
    let limit = page_limit(q.limit)?;
    let after = decode_cursor(q.cursor.as_deref())?;
    let mut rows = state
        .db()
        .suppressions(owner, after.as_deref(), limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last().map(|s| encode_cursor(s.address.as_str())))
        .flatten();
    Ok(Json(Page {
        items: rows.iter().map(SuppressionBody::from).collect(),
        next_cursor,
    }))
}

/// Suppresses an address for every future send of the domain owner (a
/// domain owner's key). Suppressing it again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/suppressions",
    tag = "suppressions",
    request_body = NewSuppression,
    responses(
        (status = 201, description = "Suppressed", body = SuppressionBody),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_suppression(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSuppression>,
) -> ApiResult<impl IntoResponse> {
    let owner = caller.require_owner("the suppression list")?;
    let address = super::organizers::address("/address", &new.address)?;
    let reason = match new.reason.unwrap_or(ManualReason::Unsubscribed) {
        ManualReason::Unsubscribed => SuppressionReason::Unsubscribed,
        ManualReason::Complaint => SuppressionReason::Complaint,
        ManualReason::HardBounce => SuppressionReason::HardBounce,
    };
    state
        .pipeline()
        .suppress(owner, address.clone(), reason)
        .await?;
    let stored = state
        .pipeline()
        .store()
        .suppression(owner, &address)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(ApiError::internal)?;
    let location = format!("/v1/suppressions/{}", address.as_str());
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(SuppressionBody::from(&stored)),
    ))
}

/// Whether an address is suppressed (a domain owner's key).
#[utoipa::path(
    get,
    path = "/v1/suppressions/{address}",
    tag = "suppressions",
    params(("address" = String, Path, description = "The address")),
    responses(
        (status = 200, description = "Suppressed, and why", body = SuppressionBody),
        (status = 404, description = "Not suppressed", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_suppression(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(address): ApiPath<String>,
) -> ApiResult<Json<SuppressionBody>> {
    let owner = caller.require_owner("the suppression list")?;
    let not_found = || ApiError::not_found(format!("suppression of {address}"));
    let parsed = calinvite_core::EmailAddress::parse(&address).map_err(|_| not_found())?;
    let s = state
        .pipeline()
        .store()
        .suppression(owner, &parsed)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(not_found)?;
    Ok(Json(SuppressionBody::from(&s)))
}

/// A message or request turned away.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RefusalBody {
    /// When.
    pub at: DateTime<Utc>,
    /// Why: `not-an-organizer`, `authentication-failed`, `suppressed`,
    /// `stale-reply`, `unknown-invitation` …
    pub reason: String,
    /// What, for a person.
    pub detail: String,
    /// The organizer concerned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<u64>,
    /// The event concerned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// Filters of the refusal log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefusalsQuery {
    /// Only refusals about this event.
    pub event: Option<String>,
    /// Refusals per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// The refusal log, oldest first: an organizer's key sees its own; a
/// domain owner's key sees all, those about no organizer (strangers
/// writing to the ingest mailbox) included.
#[utoipa::path(
    get,
    path = "/v1/refusals",
    tag = "suppressions",
    params(RefusalsQuery),
    responses((status = 200, description = "A page of refusals", body = Page<RefusalBody>))
)]
pub(crate) async fn list_refusals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RefusalsQuery>,
) -> ApiResult<Json<Page<RefusalBody>>> {
    let limit = page_limit(q.limit)?;
    let skip: usize = match decode_cursor(q.cursor.as_deref())? {
        Some(c) => c.parse().map_err(|_| crate::extract::bad_cursor())?,
        None => 0,
    };
    let event = q.event.as_deref().map(event_code).transpose()?;
    let scope = match caller.tenant {
        Tenant::Organizer(s) => Some(s),
        Tenant::Owner(_) => None,
    };
    let all = state.pipeline().refusals(caller.owner(), scope).await?;
    let matching: Vec<_> = all
        .iter()
        .filter(|r| event.as_ref().is_none_or(|c| r.code.as_ref() == Some(c)))
        .collect();
    let items: Vec<RefusalBody> = matching
        .iter()
        .skip(skip)
        .take(limit)
        .map(|r| RefusalBody {
            at: r.at,
            reason: r.refusal.reason.as_str().to_owned(),
            detail: r.refusal.detail.clone(),
            organizer: r.organizer.map(|o| o.0),
            event: r.code.as_ref().map(ToString::to_string),
        })
        .collect();
    let next = skip + items.len();
    let next_cursor = (next < matching.len()).then(|| encode_cursor(&next.to_string()));
    Ok(Json(Page { items, next_cursor }))
}
