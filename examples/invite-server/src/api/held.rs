//! Invitations from addresses that are not registered organizers yet
//! ([`crate::unregistered`]): the held messages (read-only, never their
//! bytes), starting a registration by sign-in link, and the domain owner's
//! self-registration switch. All of it is the domain owner's: held
//! messages belong to no organizer, so an organizer's key gets 403.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use calinvite_core::lifecycle::{PipelineError, Store as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Page;
use super::organizers::address;
use crate::db::{HeldRecord, result_name};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, bad_cursor, decode_cursor, encode_cursor, page_limit,
};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::unregistered::{NotSent, Released, plain};

/// A held invitation: a calendar message to the ingest mailbox from an
/// address no organizer has, kept until the address registers or it
/// expires.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HeldBody {
    /// Its id.
    pub id: String,
    /// The sender (its From address).
    pub address: String,
    /// The name the sender goes by (its calendar's, else the address's
    /// local part): the organizer's name once it registers.
    pub name: String,
    /// `request` (an invitation or update) or `cancel`.
    pub kind: String,
    /// The event's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// DMARC for its From domain: `pass`, `fail`, `none` … Only a sender
    /// that passed is mailed a sign-in link.
    pub dmarc: String,
    /// SPF for its envelope sender.
    pub spf: String,
    /// Its size, in bytes.
    pub bytes: u64,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// When it is dropped unless its sender registers first.
    pub expires_at: DateTime<Utc>,
}

impl From<&HeldRecord> for HeldBody {
    fn from(h: &HeldRecord) -> Self {
        HeldBody {
            id: h.id.clone(),
            address: h.address.clone(),
            name: h.name.clone(),
            kind: h.kind.clone(),
            summary: h.summary.clone(),
            dmarc: result_name(h.verdict.dmarc).to_owned(),
            spf: result_name(h.verdict.spf).to_owned(),
            bytes: h.bytes,
            received_at: h.received_at,
            expires_at: h.expires_at,
        }
    }
}

/// What a held invitation became when it was released.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReleasedBody {
    /// The held invitation's id.
    pub held: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// `event-created`, `revision-sent`, `pending-approval`, `unchanged`,
    /// `cancelled`, `refused` (`detail` says why), `ignored`, `still-held`.
    pub outcome: String,
    /// The event it made or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Why, for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<&Released> for ReleasedBody {
    fn from(r: &Released) -> Self {
        ReleasedBody {
            held: r.held.clone(),
            summary: r.summary.clone(),
            outcome: r.outcome.to_owned(),
            event: r.event.clone(),
            detail: r.detail.clone(),
        }
    }
}

/// Filters of the held invitations.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeldQuery {
    /// Only those from this address.
    pub address: Option<String>,
    /// Invitations per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// The held invitations of the domain owner, oldest first (a domain
/// owner's key).
#[utoipa::path(
    get,
    path = "/v1/held",
    tag = "held invitations",
    params(HeldQuery),
    responses(
        (status = 200, description = "A page of held invitations", body = Page<HeldBody>),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_held(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<HeldQuery>,
) -> ApiResult<Json<Page<HeldBody>>> {
    let owner = caller.require_owner("the held invitations")?;
    let limit = page_limit(q.limit)?;
    let filter = q
        .address
        .as_deref()
        .map(|a| address("address", a))
        .transpose()?;
    let position = decode_cursor(q.cursor.as_deref())?;
    let after = match position.as_deref() {
        None => None,
        Some(p) => {
            let (t, id) = p.split_once(':').ok_or_else(bad_cursor)?;
            let t = t
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(bad_cursor)?;
            Some((t, id.to_owned()))
        }
    };
    let mut rows = state
        .newcomers()
        .db()
        .held_page(
            owner,
            filter.as_ref().map(|a| a.as_str()),
            after.as_ref().map(|(t, i)| (*t, i.as_str())),
            limit + 1,
        )
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|h| encode_cursor(&format!("{}:{}", h.received_at.timestamp_micros(), h.id)))
        })
        .flatten();
    Ok(Json(Page {
        items: rows.iter().map(HeldBody::from).collect(),
        next_cursor,
    }))
}

/// One held invitation (a domain owner's key).
#[utoipa::path(
    get,
    path = "/v1/held/{id}",
    tag = "held invitations",
    params(("id" = String, Path, description = "The held invitation's id")),
    responses(
        (status = 200, description = "The held invitation", body = HeldBody),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_held(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HeldBody>> {
    let owner = caller.require_owner("the held invitations")?;
    let h = state
        .newcomers()
        .db()
        .held_one(owner, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("held invitation {id}")))?;
    Ok(Json(HeldBody::from(&h)))
}

/// Drops a held invitation: it never becomes an event (a domain owner's
/// key).
#[utoipa::path(
    delete,
    path = "/v1/held/{id}",
    tag = "held invitations",
    params(("id" = String, Path, description = "The held invitation's id")),
    responses(
        (status = 204, description = "Dropped"),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn discard_held(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let owner = caller.require_owner("the held invitations")?;
    let n = state.newcomers();
    if !n.db().unhold(owner, &id).await? {
        return Err(ApiError::not_found(format!("held invitation {id}")));
    }
    n.count_discarded();
    tracing::info!(owner = owner.0, held = %id, "held invitation dropped by the domain owner");
    Ok(StatusCode::NO_CONTENT)
}

/// An address to invite to register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegistration {
    /// The address: the sign-in link goes there, and registers it.
    pub address: String,
    /// The organizer's name once registered (default: the name its held
    /// invitations give, else the address's local part).
    pub name: Option<String>,
}

/// A sign-in link on its way.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RegistrationStarted {
    /// The address it was mailed to.
    pub address: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Invitations held for the address now (they become events when it
    /// registers).
    pub held: u64,
}

/// Mails a sign-in link to an address: opening it and pressing "Register"
/// registers the address as an organizer and releases its held
/// invitations (a domain owner's key). One link per address per
/// `[organizers] notice_interval_hours`; it works once, for `link_hours`.
#[utoipa::path(
    post,
    path = "/v1/organizers/registrations",
    tag = "held invitations",
    request_body = NewRegistration,
    responses(
        (status = 202, description = "The link was handed to the outbound transport for the address", body = RegistrationStarted),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "An organizer has that address already", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The address is suppressed", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A link went to that address within the interval", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_registration(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewRegistration>,
) -> ApiResult<impl IntoResponse> {
    let owner = caller.require_owner("inviting an address to register")?;
    let to = address("/address", &new.address)?;
    let o = state
        .pipeline()
        .store()
        .owner(owner)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(|| ApiError::not_found("domain owner"))?;
    if o.serves(&to) {
        return Err(ApiError::field(
            "/address",
            "that is one of calinvite's own mailboxes",
        ));
    }
    let organizers = state
        .pipeline()
        .store()
        .organizers(owner)
        .await
        .map_err(PipelineError::from)?;
    if let Some(o) = organizers.iter().find(|a| a.allows(&to)) {
        return Err(ApiError::conflict(format!(
            "organizer {} sends as {} already",
            o.scope.organizer.0,
            to.as_str()
        )));
    }
    let n = state.newcomers();
    let held = n
        .db()
        .held_page(owner, Some(to.as_str()), None, 200)
        .await?;
    let name = match &new.name {
        Some(given) => {
            let n = plain(given, 200);
            if n.is_empty() {
                return Err(ApiError::field("/name", "a name of 1 to 200 characters"));
            }
            n
        }
        None => held
            .first()
            .map_or_else(|| to.local_part().to_owned(), |h| h.name.clone()),
    };
    match n.send_link(owner, &to, &name, None, "api").await {
        Ok(sent) => {
            tracing::info!(
                owner = owner.0,
                sender_domain = crate::unregistered::domain_of(to.as_str()),
                "sign-in link sent at the domain owner's request"
            );
            Ok((
                StatusCode::ACCEPTED,
                Json(RegistrationStarted {
                    address: to.as_str().to_owned(),
                    expires_at: sent.expires_at,
                    held: held.len() as u64,
                }),
            ))
        }
        Err(NotSent::RateLimited(at)) => Err(ApiError::too_many_requests(match at {
            Some(at) => format!(
                "a sign-in link went to {} at {}; another may go {} hours after it",
                to.as_str(),
                at.to_rfc3339(),
                n.config().notice_interval_hours
            ),
            None => format!(
                "a sign-in link went to {} within the last {} hours",
                to.as_str(),
                n.config().notice_interval_hours
            ),
        })),
        Err(NotSent::Suppressed(detail)) => {
            Err(ApiError::refused(&calinvite_core::lifecycle::Refusal::new(
                calinvite_core::lifecycle::RefusalReason::Suppressed,
                detail,
            )))
        }
        Err(NotSent::NoLinkBase) => Err(ApiError::unavailable(
            "the server knows no public URL to put in a sign-in link",
        )),
        Err(NotSent::Failed(e)) => {
            tracing::warn!(owner = owner.0, error = %e, "a sign-in link could not be sent");
            Err(ApiError::unavailable(
                "the link could not be sent; retry later",
            ))
        }
    }
}

/// How the domain owner takes invitations from addresses not registered
/// yet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// Whether a sender whose held invitation passed DMARC is mailed a
    /// sign-in link that registers it. Off, invitations are still held (for
    /// the owner to register their senders), nobody is mailed, and mailed
    /// links stop working.
    pub self_registration: bool,
    /// How long invitations are held, in hours (the server's setting; 0:
    /// none is held).
    pub hold_hours: u64,
    /// How long a sign-in link works, in hours (the server's setting).
    pub link_hours: u64,
}

/// Changes to [`RegistrationSettings`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationPatch {
    /// Whether senders may register themselves.
    pub self_registration: Option<bool>,
}

async fn settings(
    state: &AppState,
    owner: calinvite_core::lifecycle::OwnerId,
) -> ApiResult<RegistrationSettings> {
    let n = state.newcomers();
    Ok(RegistrationSettings {
        self_registration: n.self_registration(owner).await?,
        hold_hours: n.config().hold_hours,
        link_hours: n.config().link_hours,
    })
}

/// How the domain owner takes invitations from addresses not registered
/// yet (a domain owner's key).
#[utoipa::path(
    get,
    path = "/v1/owner/registration",
    tag = "held invitations",
    responses(
        (status = 200, description = "The settings", body = RegistrationSettings),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_registration(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<RegistrationSettings>> {
    let owner = caller.require_owner("the registration settings")?;
    Ok(Json(settings(&state, owner).await?))
}

/// Switches self-registration on or off (a domain owner's key).
#[utoipa::path(
    patch,
    path = "/v1/owner/registration",
    tag = "held invitations",
    request_body = RegistrationPatch,
    responses(
        (status = 200, description = "The settings, changed", body = RegistrationSettings),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_registration(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<RegistrationPatch>,
) -> ApiResult<Json<RegistrationSettings>> {
    let owner = caller.require_owner("the registration settings")?;
    if let Some(on) = patch.self_registration {
        state
            .newcomers()
            .db()
            .set_self_registration(owner, on)
            .await?;
        tracing::info!(
            owner = owner.0,
            self_registration = on,
            "self-registration switched"
        );
    }
    Ok(Json(settings(&state, owner).await?))
}
